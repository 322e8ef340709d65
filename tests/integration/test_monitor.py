"""bothy-monitor, the per-container supervisor (contract: src/container/monitor.h), and
bothy-init, the container init of `bothy run --init`.

The monitor is driven without the runtime: --bothy is helpers/fake_bothy.py, whose
__start forks a "container" that does what DIR/fake.json says. Every test runs in its own
temporary root and kills what it started (monitor, fake containers) at teardown."""
import ctypes
import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("BOTHY_BUILD") or str(REPO / "build")
MONITOR = os.path.join(BUILD, "bothy-monitor")
INIT = os.path.join(BUILD, "bothy-init")
FAKE = str(REPO / "tests" / "integration" / "helpers" / "fake_bothy.py")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


def sigqueue(pid, sig, value):
    """sigqueue(2) with an int value (union sigval is passed like a pointer on x86-64)."""
    if _libc.sigqueue(pid, sig, value & 0xFFFFFFFF) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def is_fake_container(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"fake_bothy.py" in f.read()
    except OSError:
        return False


class Monitor:
    """One bothy-monitor over a fake container in ROOT/containers/ID."""

    def __init__(self, root, cid, fake, args):
        self.root, self.id = root, cid
        self.dir = os.path.join(root, "containers", cid)
        os.makedirs(self.dir)
        self.write_fake(fake)
        self.argv = [MONITOR, "--dir", self.dir, "--id", cid, "--bothy", FAKE, "--root", root,
                     *[str(a) for a in args]]
        self.proc = None
        self.report = None

    def write_fake(self, fake):
        with open(os.path.join(self.dir, "fake.json"), "w") as f:
            json.dump(fake or {}, f)

    def start(self, timeout=10):
        """Runs the monitor with a pipe on its fd 3; returns the report line."""
        r, w = os.pipe()

        def fd3():
            if w == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(w, 3)

        self.errlog = open(os.path.join(self.root, f"{self.id}.monitor.err"), "w+")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.errlog,
                                     stderr=self.errlog, preexec_fn=fd3, close_fds=False,
                                     start_new_session=True)
        os.close(w)
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([r], [], [], 0.1)
                if ready:
                    chunk = os.read(r, 4096)
                    if not chunk:
                        break
                    data += chunk
        finally:
            os.close(r)
        self.report = data.decode()
        return self.report

    @property
    def pid(self):
        return self.proc.pid

    def status(self):
        try:
            with open(os.path.join(self.dir, "status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def wait_status(self, pred, timeout=10, what="status"):
        return wait_for(lambda: (lambda s: s if s and pred(s) else None)(self.status()),
                        timeout, what=what)

    def wait_exit(self, timeout=15):
        return self.proc.wait(timeout)

    def starts(self):
        """[(monotonic time, pid)] of every __start that started a container."""
        try:
            with open(os.path.join(self.dir, "starts")) as f:
                return [(float(t), int(p)) for t, p in (l.split() for l in f if l.strip())]
        except OSError:
            return []

    def cleaned(self):
        try:
            with open(os.path.join(self.dir, "cleaned")) as f:
                return [json.loads(l) for l in f if l.strip()]
        except OSError:
            return []

    def log_files(self):
        """container.log and its rotated files, oldest first."""
        names = [n for n in os.listdir(self.dir) if n.startswith("container.log")]
        def order(n):
            return -int(n.rsplit(".", 1)[1]) if n != "container.log" else 0
        return [os.path.join(self.dir, n) for n in sorted(names, key=order)]

    def records(self):
        out = []
        for path in self.log_files():
            with open(path, "rb") as f:
                for raw in f.read().splitlines():
                    out.append(json.loads(raw))  # strict: raw control chars would fail
        return out

    def destroy(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
            self.errlog.close()
        for _, pid in self.starts():
            if is_fake_container(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def monitor(workdir):
    if not os.access(MONITOR, os.X_OK):
        pytest.skip(f"{MONITOR} not built")
    made = []

    def make(fake=None, *args, cid=None, start=True):
        m = Monitor(workdir, cid or f"c{len(made) + 1}", fake, args)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    for m in made:
        m.destroy()


def running_pid(m):
    return m.wait_status(lambda s: s["status"] == "running", what="running")["pid"]


# -- start, report, logs, exit --------------------------------------------------------

def test_ok_report_logs_and_exit_status(monitor):
    text = 'quote " backslash \\ tab \t bell \x07 accent \u00e9 end\n'
    m = monitor({"output": [[1, "hello\n"], [2, "oops\n"], [1, text],
                            [1, {"hex": "ff41c0af0a"}]],
                 "exit": 3, "after": 0.3})
    started = m.starts()
    assert len(started) == 1
    assert m.report == f"ok {started[0][1]}\n"
    assert m.wait_exit() == 0
    st = m.status()
    assert st["status"] == "exited" and st["exit_code"] == 3 and st["pid"] == 0
    assert TIME_RE.match(st["finished_at"]) and TIME_RE.match(st["started_at"])
    assert st["finished_at"] >= st["started_at"]
    assert st["restart_count"] == 0 and st["manual_stop"] is False and st["error"] == ""
    assert st["monitor_pid"] == m.pid and st["monitor_start"] > 0
    assert st["health"] == {"status": "none", "failing_streak": 0, "log": []}

    recs = m.records()
    out = [r["log"] for r in recs if r["stream"] == "stdout"]
    err = [r["log"] for r in recs if r["stream"] == "stderr"]
    # invalid UTF-8 (a lone 0xff, an overlong 0xc0 0xaf) becomes U+FFFD; valid text stays
    assert out == ["hello\n", text, "\ufffdA\ufffd\ufffd\n"]
    assert err == ["oops\n"]
    now = time.strftime("%Y-%m-%d", time.gmtime())
    for r in recs:
        assert set(r) == {"log", "stream", "time"}
        assert TIME_RE.match(r["time"]) and r["time"][:10] == now
    # the cleanup helper ran last, after the final status was written
    assert [c["status"] for c in m.cleaned()] == ["exited"]


def test_status_while_running(monitor):
    m = monitor({})
    pid = int(m.report.split()[1])
    st = m.wait_status(lambda s: s["status"] == "running")
    assert st["pid"] == pid
    with open(f"/proc/{pid}/stat") as f:
        assert st["pid_start"] == int(f.read().rsplit(")", 1)[1].split()[19])
    assert st["finished_at"] == "" and TIME_RE.match(st["started_at"])
    assert m.cleaned() == []


def test_long_line_is_split_in_16k_records(monitor):
    line = "".join(chr(ord("a") + i % 26) for i in range(40000)) + "\n"
    m = monitor({"output": [[1, line], [1, "after\n"]], "exit": 0})
    assert m.wait_exit() == 0
    logs = [r["log"] for r in m.records()]
    assert [len(x) for x in logs] == [16384, 16384, 40001 - 2 * 16384, 6]
    assert not logs[0].endswith("\n") and not logs[1].endswith("\n")
    assert "".join(logs[:3]) == line and logs[3] == "after\n"


def test_split_keeps_utf8_sequences_whole(monitor):
    line = "x" * 16383 + "\u00e9" * 10 + "\n"  # 16383 bytes, then 2-byte characters
    m = monitor({"output": [[1, line]], "exit": 0})
    assert m.wait_exit() == 0
    logs = [r["log"] for r in m.records()]
    assert "\ufffd" not in "".join(logs)
    assert "".join(logs) == line and len(logs[0]) == 16383


def test_partial_last_line_is_flushed_at_exit(monitor):
    m = monitor({"output": [[1, "no newline"]], "exit": 0})
    assert m.wait_exit() == 0
    assert [r["log"] for r in m.records()] == ["no newline"]


def test_rotation_caps_files_and_sizes(monitor):
    lines = [f"line {i:04d} " + "y" * 40 + "\n" for i in range(300)]
    m = monitor({"output": [[1, "".join(lines)]], "exit": 0},
                "--log-max-size", 2000, "--log-max-files", 3)
    assert m.wait_exit() == 0
    files = m.log_files()
    assert [os.path.basename(f) for f in files] == \
        ["container.log.2", "container.log.1", "container.log"]
    for f in files:
        assert 0 < os.path.getsize(f) <= 2000
    logs = [r["log"] for r in m.records()]
    # what is kept is the newest lines, in order, with nothing missing in between
    assert logs == lines[-len(logs):]
    assert len(logs) < len(lines) and logs[-1] == lines[-1]


def test_one_log_file_is_truncated(monitor):
    lines = [f"line {i:04d} " + "z" * 40 + "\n" for i in range(100)]
    m = monitor({"output": [[1, "".join(lines)]], "exit": 0},
                "--log-max-size", 1000, "--log-max-files", 1)
    assert m.wait_exit() == 0
    assert [os.path.basename(f) for f in m.log_files()] == ["container.log"]
    assert os.path.getsize(m.log_files()[0]) <= 1000
    assert m.records()[-1]["log"] == lines[-1]


def test_tty_output_is_logged_as_stdout(monitor):
    m = monitor({"output": [[1, "on the terminal\n"]], "exit": 0, "after": 0.2}, "--tty")
    assert m.report.startswith("ok ")
    assert m.wait_exit() == 0
    recs = m.records()
    assert [r["stream"] for r in recs] == ["stdout"]
    assert recs[0]["log"] == "on the terminal\r\n"  # the pty's onlcr
    assert not os.path.exists(os.path.join(m.dir, "console.sock"))


@pytest.mark.parametrize("interactive", [False, True])
def test_stdin(monitor, interactive):
    m = monitor({"read_stdin": True, "exit": 0, "after": 0},
                *(["--interactive"] if interactive else []))
    assert m.wait_exit() == 0
    want = "stdin: blocked\n" if interactive else "stdin: eof\n"
    assert [r["log"] for r in m.records()] == [want]


def test_orphans_are_reaped_and_do_not_count(monitor):
    m = monitor({"orphan": True})
    pid = running_pid(m)

    def zombies():
        out = []
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == m.pid:
                out.append(int(p))
        return out

    # the grandchild exits 0.2 s after the start; it is re-parented to the monitor
    time.sleep(0.5)
    wait_for(lambda: not zombies(), 5, what="the orphan to be reaped")
    st = m.status()
    assert st["status"] == "running" and st["pid"] == pid


def test_helper_gets_only_fds_0_to_3(monitor):
    m = monitor({})
    pid = running_pid(m)
    # (the fake's own report pipe is closed by its child just after the fork)
    wait_for(lambda: sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2], 5,
             what="the container to hold fds 0-2 only")
    fds = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (1, 2)}
    assert all(f.startswith("pipe:") for f in fds) and len(fds) == 2
    # and the monitor's own: its stdio, the pipes, the loop; nothing inherited
    fds = os.listdir(f"/proc/{m.pid}/fd")
    assert len(fds) < 16


# -- restart policies --------------------------------------------------------------

def test_restart_no(monitor):
    m = monitor({"exit": 1})
    assert m.wait_exit() == 0
    assert len(m.starts()) == 1
    st = m.status()
    assert st["status"] == "exited" and st["exit_code"] == 1 and st["restart_count"] == 0


def test_restart_on_failure_respects_max_retries(monitor):
    m = monitor({"exit": 1}, "--restart", "on-failure", "--max-retries", 2)
    assert m.wait_exit(20) == 0
    assert len(m.starts()) == 3
    st = m.status()
    assert st["status"] == "exited" and st["exit_code"] == 1 and st["restart_count"] == 2
    assert len(m.cleaned()) == 1


def test_restart_on_failure_not_after_success(monitor):
    m = monitor({"exit": 0}, "--restart", "on-failure")
    assert m.wait_exit() == 0
    assert len(m.starts()) == 1 and m.status()["exit_code"] == 0


def test_restart_always_backs_off_and_stop_ends_it(monitor):
    m = monitor({"exit": 0}, "--restart", "always")
    wait_for(lambda: len(m.starts()) >= 5, 20, what="5 starts")
    times = [t for t, _ in m.starts()[:5]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 100, 200, 400, 800 ms plus the fake helper's own start-up
    assert gaps[0] >= 0.1
    for a, b in zip(gaps, gaps[1:]):
        assert b > a * 1.4, gaps
    st = m.wait_status(lambda s: s["restart_count"] >= 4)
    assert st["status"] in ("running", "restarting")
    sigqueue(m.pid, signal.SIGUSR1, 1)
    assert m.wait_exit() == 0
    st = m.status()
    assert st["status"] == "exited" and st["manual_stop"] is True
    assert len(m.cleaned()) == 1
    n = len(m.starts())
    time.sleep(0.3)
    assert len(m.starts()) == n  # no restart after the stop


# -- signals -----------------------------------------------------------------------

def test_stop_kills_after_timeout(monitor):
    m = monitor({"ignore_term": True}, "--restart", "always")
    pid = running_pid(m)
    t0 = time.monotonic()
    sigqueue(m.pid, signal.SIGUSR1, 1)
    m.wait_status(lambda s: s["status"] in ("stopping", "exited"))
    assert m.wait_exit() == 0
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 5, elapsed
    st = m.status()
    assert st["exit_code"] == 128 + signal.SIGKILL and st["manual_stop"] is True
    assert st["status"] == "exited" and not proc_state(pid)
    assert len(m.starts()) == 1


def test_plain_kill_uses_default_stop_timeout(monitor):
    # a plain kill() carries no sigqueue value: --stop-timeout applies
    m = monitor({"ignore_term": True}, "--stop-timeout", 1)
    running_pid(m)
    t0 = time.monotonic()
    os.kill(m.pid, signal.SIGUSR1)
    assert m.wait_exit() == 0
    assert 0.9 <= time.monotonic() - t0 < 5
    assert m.status()["exit_code"] == 137 and m.status()["manual_stop"] is True


def test_stop_signal_option(monitor):
    # SIGTERM would exit 5; SIGINT kills the fake (python's KeyboardInterrupt): 99
    m = monitor({"term_exit": 5}, "--stop-signal", int(signal.SIGINT))
    running_pid(m)
    sigqueue(m.pid, signal.SIGUSR1, 10)
    assert m.wait_exit() == 0
    assert m.status()["exit_code"] == 99


def test_stop_with_term(monitor):
    m = monitor({"term_exit": 0})
    running_pid(m)
    t0 = time.monotonic()
    sigqueue(m.pid, signal.SIGUSR1, 30)
    assert m.wait_exit() == 0
    assert time.monotonic() - t0 < 5
    st = m.status()
    assert st["exit_code"] == 0 and st["manual_stop"] is True


def test_kill_delivers_signal_and_marks_manual_stop(monitor):
    m = monitor({}, "--restart", "always")
    pid = running_pid(m)
    sigqueue(m.pid, signal.SIGUSR2, int(signal.SIGTERM))
    assert m.wait_exit() == 0
    st = m.status()
    assert st["exit_code"] == 128 + signal.SIGTERM and st["manual_stop"] is True
    assert not proc_state(pid) and len(m.starts()) == 1


def test_kill_with_a_harmless_signal_then_exit_is_not_restarted(monitor):
    m = monitor({"term_exit": 9}, "--restart", "always")
    pid = running_pid(m)
    sigqueue(m.pid, signal.SIGUSR2, int(signal.SIGWINCH))
    m.wait_status(lambda s: s["manual_stop"] is True)
    assert m.status()["status"] == "running" and proc_state(pid)
    os.kill(pid, signal.SIGTERM)
    assert m.wait_exit() == 0
    assert m.status()["exit_code"] == 9 and len(m.starts()) == 1


def test_sigterm_stops_without_manual_stop(monitor):
    m = monitor({}, "--restart", "always")
    running_pid(m)
    os.kill(m.pid, signal.SIGTERM)
    assert m.wait_exit() == 0
    st = m.status()
    assert st["status"] == "exited" and st["manual_stop"] is False
    assert st["exit_code"] == 128 + signal.SIGTERM and len(m.starts()) == 1
    assert len(m.cleaned()) == 1


# -- failures ----------------------------------------------------------------------

def test_failed_first_start(monitor):
    m = monitor({"start_error": "no such image 'x'"}, "--restart", "always")
    assert m.report == "error no such image 'x'\n"
    assert m.wait_exit() == 1
    st = m.status()
    assert st["status"] == "exited" and st["error"] == "no such image 'x'"
    assert st["pid"] == 0 and TIME_RE.match(st["finished_at"])
    assert len(m.cleaned()) == 1 and m.starts() == []


def test_start_helper_without_report(monitor):
    m = monitor({"start_silent": True})
    assert m.report.startswith("error ") and "status 3" in m.report
    assert m.wait_exit() == 1


def test_missing_bothy_binary(monitor, workdir):
    m = monitor({}, start=False)
    m.argv[m.argv.index("--bothy") + 1] = os.path.join(workdir, "nope")
    assert m.start().startswith("error cannot run ")
    assert m.wait_exit() == 1
    assert "nope" in m.status()["error"]


@pytest.mark.parametrize("args, message", [
    (["--id", "x", "--bothy", "/bin/true"], "--dir is required"),
    (["--dir", "rel", "--id", "x", "--bothy", "/bin/true"], "absolute"),
    (["--dir", "/tmp", "--id", "x", "--bothy", "/bin/true", "--max-retries", "two"],
     "--max-retries"),
    (["--dir", "/tmp", "--id", "x", "--bothy", "/bin/true", "--restart", "sometimes"],
     "sometimes"),
    (["--dir", "/tmp", "--id", "x", "--bothy", "/bin/true", "--frobnicate"], "--frobnicate"),
    (["--dir", "/tmp", "--id", "x", "--bothy", "/bin/true", "--stop-timeout"], "needs a value"),
])
def test_bad_arguments(args, message):
    if not os.access(MONITOR, os.X_OK):
        pytest.skip(f"{MONITOR} not built")
    r = subprocess.run([MONITOR, *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2
    assert message in r.stderr and r.stderr.startswith("bothy-monitor: ")


# -- health checks -------------------------------------------------------------------

def write_health_rc(m, rc):
    with open(os.path.join(m.dir, "health_rc"), "w") as f:
        f.write(str(rc))


def test_health_healthy(monitor):
    m = monitor({}, "--health-interval", 100, "--health-retries", 2)
    st = m.wait_status(lambda s: s["health"]["status"] == "healthy")
    entry = st["health"]["log"][0]
    assert entry["exit_code"] == 0 and entry["output"].startswith("check ")
    assert TIME_RE.match(entry["start"]) and TIME_RE.match(entry["end"])


def test_health_unhealthy_and_log_kept_to_5(monitor):
    m = monitor({}, "--health-interval", 100, "--health-retries", 3, start=False)
    write_health_rc(m, 1)
    m.start()
    st = m.wait_status(lambda s: s["health"]["status"] == "unhealthy")
    assert st["health"]["failing_streak"] >= 3
    st = m.wait_status(lambda s: s["health"]["failing_streak"] >= 7, what="7 checks")
    log = st["health"]["log"]
    assert len(log) == 5
    assert all(e["exit_code"] == 1 for e in log)
    # the newest five, in order
    nums = [int(e["output"].split()[1]) for e in log]
    assert nums == list(range(nums[0], nums[0] + 5)) and nums[0] >= 3
    # policy "no": an unhealthy container is left running
    assert st["status"] == "running" and len(m.starts()) == 1


def test_health_failures_in_start_period_do_not_count(monitor):
    m = monitor({}, "--health-interval", 100, "--health-retries", 1,
                "--health-start-period", 60000, start=False)
    write_health_rc(m, 1)
    m.start()
    st = m.wait_status(lambda s: len(s["health"]["log"]) >= 3, what="3 checks")
    assert st["health"]["status"] == "starting" and st["health"]["failing_streak"] == 0


def test_unhealthy_container_is_restarted(monitor):
    m = monitor({}, "--health-interval", 100, "--health-retries", 2, "--restart", "always",
                "--stop-timeout", 1, start=False)
    write_health_rc(m, 1)
    m.start()
    first = int(m.report.split()[1])
    st = m.wait_status(lambda s: s["restart_count"] >= 1 and s["status"] == "running",
                       what="a restart")
    assert st["pid"] != first and not proc_state(first)
    assert st["manual_stop"] is False and st["exit_code"] == 128 + signal.SIGTERM
    assert len(m.starts()) >= 2
    sigqueue(m.pid, signal.SIGUSR1, 0)
    assert m.wait_exit() == 0


# -- memory --------------------------------------------------------------------------

def test_idle_rss_below_512k(monitor):
    m = monitor({"output": [[1, "hello\n"]]}, "--restart", "always")
    running_pid(m)
    with open(f"/proc/{m.pid}/maps") as f:
        maps = f.read()
    if "libasan" in maps or "ld-linux" in maps:
        pytest.skip("not a static build (sanitizers)")

    def rss():
        with open(f"/proc/{m.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))

    # the monitor gives memory back after a second without events
    kb = wait_for(lambda: (lambda v: v if v < 512 else None)(rss()), 10,
                  what="an idle RSS below 512 kB")
    print(f"idle monitor VmRSS: {kb} kB")
    assert kb < 512


# -- bothy-init ----------------------------------------------------------------------

def run_init(script, timeout=20, **kw):
    if not os.access(INIT, os.X_OK):
        pytest.skip(f"{INIT} not built")
    return subprocess.run(["unshare", "--fork", "--pid", "--mount-proc", INIT, "--", "sh", "-c",
                           script], capture_output=True, text=True, timeout=timeout, **kw)


def test_init_exit_code():
    r = run_init("exit 7")
    assert r.returncode == 7


def test_init_is_pid_1_and_child_runs_in_own_group():
    r = run_init('echo "$$ $(cut -d" " -f5 /proc/self/stat) $(cut -d" " -f5 /proc/1/stat)"')
    pid, child_pgrp, init_pgrp = r.stdout.split()
    assert r.returncode == 0
    assert pid == "2" and child_pgrp != init_pgrp


def test_init_killed_child():
    r = run_init("kill -KILL $$")
    assert r.returncode == 128 + signal.SIGKILL


def test_init_missing_and_not_executable_command():
    if not os.access(INIT, os.X_OK):
        pytest.skip(f"{INIT} not built")
    base = ["unshare", "--fork", "--pid", "--mount-proc", INIT, "--"]
    r = subprocess.run(base + ["/no/such/command"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 127 and "'/no/such/command'" in r.stderr
    r = subprocess.run(base + ["nosuchcommand-xyz"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 127 and "nosuchcommand-xyz" in r.stderr
    r = subprocess.run(base + ["/etc"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 126 and "'/etc'" in r.stderr


def test_init_reaps_orphans():
    # an orphaned grandchild that exits is re-parented to init, which must reap it
    script = """
sh -c 'sleep 0.2 & exit 0'
i=0
while [ $i -lt 100 ]; do
  z=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')
  s=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c '(sleep)')
  [ "$s" = 0 ] && [ "$z" = 0 ] && { echo reaped; exit 0; }
  sleep 0.05; i=$((i+1))
done
cat /proc/[0-9]*/stat; exit 1
"""
    r = run_init(script)
    assert r.returncode == 0 and r.stdout.strip() == "reaped", r.stdout + r.stderr


def test_init_forwards_signals():
    if not os.access(INIT, os.X_OK):
        pytest.skip(f"{INIT} not built")
    p = subprocess.Popen(["unshare", "--fork", "--pid", "--mount-proc", INIT, "--", "sh", "-c",
                          'trap "exit 42" TERM; echo ready; while :; do sleep 0.05; done'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        # bothy-init is unshare's child: pid 1 of the new namespace
        init = wait_for(lambda: open(f"/proc/{p.pid}/task/{p.pid}/children").read().split(),
                        5, what="init's pid")
        os.kill(int(init[0]), signal.SIGTERM)
        assert p.wait(10) == 42
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
