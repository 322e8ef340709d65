"""Containers through their life without a daemon: `run -d` under a per-container monitor,
ps/logs/inspect/stop/start/restart/kill/rm/wait/exec/top/stats, restart policies, health
checks, log rotation, the inventory under concurrent commands, and repairs after kill -9."""
import glob
import json
import os
import signal
import subprocess
import time

import pytest

from helpers.rootfs import make_tar
from images_helpers import BOTHY, tar_bytes, write_oci_layout

HEX = set("0123456789abcdef")


def bothy(root, *args, timeout=60, input=None):
    return subprocess.run([BOTHY, "--root", root, *args], capture_output=True, text=True,
                          timeout=timeout, input=input)


def ok(root, *args, timeout=60):
    r = bothy(root, *args, timeout=timeout)
    assert r.returncode == 0, f"bothy {' '.join(args)}: rc={r.returncode}\n{r.stderr}"
    return r.stdout


def inspect(root, name):
    return json.loads(ok(root, "inspect", "--type", "container", name))[0]


def until(cond, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


def state(root, name):
    return inspect(root, name)["State"]


def cleanup_root(r):
    """Kill whatever a failed test left running under root r (only our own processes)."""
    subprocess.run([BOTHY, "--root", r, "rm", "-f", "--", *[
        line for line in bothy(r, "ps", "-aq").stdout.split()]], capture_output=True, timeout=120)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(r.encode()) for a in cmd) and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for st in glob.glob(os.path.join(r, "runtime", "*", "state.json")):
        try:
            pid = json.load(open(st))["pid"]
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
    # Its networks (bridges and firewall rules are the host's).
    ls = bothy(r, "network", "ls", "--format", "json")
    for n in (json.loads(ls.stdout or "[]") if ls.returncode == 0 else []):
        bothy(r, "network", "rm", n["Name"])
    for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
        mp = line.split()[4]
        if mp.startswith(r):
            subprocess.run(["umount", "-l", mp])
    for d in glob.glob(os.path.join(r, "containers", "*")):
        cid = os.path.basename(d)
        for cg in glob.glob(f"/sys/fs/cgroup/*/bothy/{cid}"):
            try:
                os.rmdir(cg)
            except OSError:
                pass


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True,
                   capture_output=True)
    yield r
    cleanup_root(r)


def run_d(root, *args):
    out = ok(root, "run", "-d", *args).strip()
    assert len(out) == 64 and set(out) <= HEX, out
    return out


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---- the basic life ---------------------------------------------------------------------


def test_detached_lifecycle(root):
    cid = run_d(root, "--name", "web", "bb:1", "sh", "-c",
                "echo hello; echo oops >&2; exec sleep 1000")
    st = until(lambda: (lambda s: s if s["Running"] else None)(state(root, "web")),
               what="running")
    assert alive(st["Pid"])
    # ps shows it, by name, with a short id.
    out = ok(root, "ps")
    assert "web" in out and cid[:12] in out and "Up" in out
    assert ok(root, "ps", "-q").split() == [cid[:12]]
    js = json.loads(ok(root, "ps", "--format", "json"))
    assert js[0]["Names"] == ["web"] and js[0]["State"] == "running"
    # Output went to the log, by stream.
    until(lambda: "oops" in bothy(root, "logs", "web").stderr, what="log")
    r = bothy(root, "logs", "web")
    assert r.stdout == "hello\n" and r.stderr == "oops\n"
    log = open(inspect(root, "web")["LogPath"]).read().splitlines()
    recs = [json.loads(l) for l in log]
    assert {(x["stream"], x["log"]) for x in recs} == {("stdout", "hello\n"), ("stderr", "oops\n")}
    assert all(x["time"].endswith("Z") for x in recs)
    # A monitor holds it, in its own session; no daemon.
    mon = inspect(root, "web")["MonitorPid"]
    assert mon > 0 and alive(mon)
    assert os.getsid(mon) != os.getsid(0)
    # Stop: SIGTERM (sleep as pid 1 ignores it), then SIGKILL after the timeout.
    t0 = time.monotonic()
    assert ok(root, "stop", "-t", "1", "web").strip() == "web"
    assert time.monotonic() - t0 < 8
    st = state(root, "web")
    assert st["Status"] == "exited" and st["ExitCode"] == 137 and not st["Running"]
    assert not alive(mon)
    assert "Exited (137)" in ok(root, "ps", "-a")
    assert ok(root, "ps", "-q") == ""
    # The rootfs is unmounted and the runtime's state gone while it is stopped.
    assert os.path.join(root, "containers", cid, "rootfs") not in open("/proc/self/mountinfo").read()
    assert not os.path.exists(os.path.join(root, "runtime", cid))
    # Start again: same container, its upper layer kept.
    ok(root, "start", "web")
    until(lambda: state(root, "web")["Running"], what="restarted")
    assert bothy(root, "logs", "web").stdout == "hello\nhello\n"
    # rm of a running container needs -f.
    r = bothy(root, "rm", "web")
    assert r.returncode != 0 and "running" in r.stderr
    ok(root, "rm", "-f", "web")
    assert ok(root, "ps", "-aq") == ""
    assert os.listdir(os.path.join(root, "containers")) == []
    assert [d for d in os.listdir(os.path.join(root, "runtime")) if not d.startswith(".")] == []
    assert root not in open("/proc/self/mountinfo").read()
    assert not glob.glob(f"/sys/fs/cgroup/*/bothy/{cid}")


def test_attached_run_keeps_record(root):
    r = bothy(root, "run", "--name", "once", "bb:1", "sh", "-c", "echo out; exit 3")
    assert r.returncode == 3 and r.stdout == "out\n"
    st = state(root, "once")
    assert st["Status"] == "exited" and st["ExitCode"] == 3
    assert "Exited (3)" in ok(root, "ps", "-a")
    # --rm: nothing kept.
    r = bothy(root, "run", "--rm", "--name", "gone", "bb:1", "true")
    assert r.returncode == 0
    assert "gone" not in ok(root, "ps", "-a")
    ok(root, "rm", "once")


def test_create_then_start_and_wait(root):
    cid = ok(root, "create", "--name", "c1", "bb:1", "sh", "-c", "exit 7").strip()
    assert len(cid) == 64
    assert state(root, "c1")["Status"] == "created"
    assert "Created" in ok(root, "ps", "-a")
    ok(root, "start", "c1")
    assert ok(root, "wait", "c1").strip() == "7"
    assert state(root, "c1")["ExitCode"] == 7


def test_name_in_use_and_bad_input_leave_nothing(root):
    run_d(root, "--name", "dup", "bb:1", "sleep", "100")
    before = sorted(os.listdir(os.path.join(root, "containers")))
    r = bothy(root, "run", "-d", "--name", "dup", "bb:1", "true")
    assert r.returncode == 125 and "already in use" in r.stderr and "dup" in r.stderr
    for args in (["nosuchimage:1", "true"], ["--memory", "1k", "bb:1", "true"],
                 ["--restart", "sometimes", "bb:1", "true"], ["--cpus", "lots", "bb:1", "true"],
                 ["--name", "bad name!", "bb:1", "true"],
                 ["-v", "/nonexistent/dir:/x", "bb:1", "true"],
                 ["--health-interval", "soon", "bb:1", "true"]):
        r = bothy(root, "run", "-d", *args)
        assert r.returncode == 125, (args, r.returncode, r.stderr)
        assert r.stderr.strip(), args
    assert sorted(os.listdir(os.path.join(root, "containers"))) == before
    assert len(ok(root, "ps", "-aq").split()) == 1
    # Not found / not executable, as docker: 127 / 126, attached and detached.
    assert bothy(root, "run", "--rm", "bb:1", "nosuchcmd").returncode == 127
    assert bothy(root, "run", "--rm", "bb:1", "/etc").returncode == 126
    r = bothy(root, "run", "-d", "--rm", "bb:1", "nosuchcmd")
    assert r.returncode == 127 and "nosuchcmd" in r.stderr, r.stderr
    r = bothy(root, "run", "-d", "--rm", "--entrypoint", "/etc/passwd", "bb:1")
    assert r.returncode == 126, r.stderr
    assert len(ok(root, "ps", "-aq").split()) == 1
    r = bothy(root, "stop", "nosuch")
    assert r.returncode != 0 and "no such container" in r.stderr


# ---- restart policies and health ---------------------------------------------------------


def test_restart_on_failure_limit(root):
    run_d(root, "--name", "crash", "--restart", "on-failure:2", "bb:1", "sh", "-c", "exit 3")
    until(lambda: (lambda s: s["Status"] == "exited" and inspect(root, "crash")["MonitorPid"] == 0)(
        state(root, "crash")), timeout=20, what="give up")
    d = inspect(root, "crash")
    assert d["RestartCount"] == 2 and d["State"]["ExitCode"] == 3
    # A clean exit is not restarted by on-failure.
    run_d(root, "--name", "clean", "--restart", "on-failure", "bb:1", "true")
    until(lambda: inspect(root, "clean")["MonitorPid"] == 0, what="monitor exit")
    assert inspect(root, "clean")["RestartCount"] == 0


def test_restart_always_with_backoff_and_stop(root):
    run_d(root, "--name", "loop", "--restart", "always", "bb:1", "sh", "-c", "exit 1")
    until(lambda: inspect(root, "loop")["RestartCount"] >= 3, timeout=20, what="restarts")
    # Backoff: restarts get slower; the count does not explode.
    time.sleep(1)
    n = inspect(root, "loop")["RestartCount"]
    assert n < 12, n
    ok(root, "stop", "loop")
    d = inspect(root, "loop")
    assert d["State"]["Status"] == "exited" and d["MonitorPid"] == 0
    n = d["RestartCount"]
    time.sleep(0.5)
    assert inspect(root, "loop")["RestartCount"] == n


def test_kill_is_not_restarted(root):
    run_d(root, "--name", "k", "--restart", "always", "bb:1", "sleep", "1000")
    until(lambda: state(root, "k")["Running"], what="running")
    ok(root, "kill", "k")
    until(lambda: inspect(root, "k")["MonitorPid"] == 0, what="monitor exit")
    st = state(root, "k")
    assert st["Status"] == "exited" and st["ExitCode"] == 137
    # A signal that does not end it leaves it running.
    run_d(root, "--name", "h", "bb:1", "sh", "-c",
          "trap 'echo got-hup' HUP; while true; do sleep 0.05; done")
    until(lambda: state(root, "h")["Running"], what="running")
    ok(root, "kill", "-s", "HUP", "h")
    until(lambda: "got-hup" in bothy(root, "logs", "h").stdout, what="trap")
    assert state(root, "h")["Running"]


def test_unhealthy_container_is_restarted(root):
    run_d(root, "--name", "sick", "--restart", "always", "--health-cmd", "test -f /tmp/ok",
          "--health-interval", "200ms", "--health-retries", "2", "--health-timeout", "2s",
          "bb:1", "sleep", "1000")
    until(lambda: inspect(root, "sick")["RestartCount"] >= 1, timeout=30, what="restart")
    d = inspect(root, "sick")
    log = d["State"]["Health"]["Log"]
    assert log and log[-1]["ExitCode"] != 0 and len(log) <= 5
    # Healthy when the check passes.
    run_d(root, "--name", "fine", "--health-cmd", "true", "--health-interval", "200ms", "bb:1",
          "sleep", "1000")
    until(lambda: state(root, "fine").get("Health", {}).get("Status") == "healthy",
          timeout=20, what="healthy")
    assert "(healthy)" in ok(root, "ps")


# ---- logs -------------------------------------------------------------------------------


def test_log_rotation_and_tail(root):
    cid = run_d(root, "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2",
                "bb:1", "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done")
    ok(root, "wait", "chatty")
    until(lambda: inspect(root, "chatty")["MonitorPid"] == 0, what="monitor exit")
    d = os.path.join(root, "containers", cid)
    logs = sorted(f for f in os.listdir(d) if f.startswith("container.log"))
    assert logs == ["container.log", "container.log.1"], logs
    for f in logs:
        assert os.path.getsize(os.path.join(d, f)) <= 2048 + 200
    out = bothy(root, "logs", "--tail", "3", "chatty").stdout
    assert out == "line397\nline398\nline399\n"
    # What is kept is the end, in order, nothing twice.
    lines = bothy(root, "logs", "chatty").stdout.split()
    nums = [int(x[4:]) for x in lines]
    assert nums == list(range(nums[0], 400)) and nums[0] > 0


def test_logs_follow_and_timestamps(root):
    run_d(root, "--name", "slow", "bb:1", "sh", "-c",
          "for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done")
    r = bothy(root, "logs", "-f", "-t", "slow", timeout=30)
    lines = r.stdout.splitlines()
    assert [l.split(" ", 1)[1] for l in lines] == [f"tick{i}" for i in range(1, 6)]
    assert all(l.split(" ", 1)[0].endswith("Z") for l in lines)
    assert bothy(root, "logs", "--since", "1h", "slow").stdout.count("tick") == 5
    assert bothy(root, "logs", "--since", "2099-01-01T00:00:00Z", "slow").stdout == ""
    assert bothy(root, "logs", "--since", "yesterday-ish", "slow").returncode != 0


def test_tty_and_interactive_detached(root):
    run_d(root, "--name", "tty", "-t", "bb:1", "sh", "-c", "tty; sleep 1000")
    until(lambda: "/dev/pts/" in bothy(root, "logs", "tty").stdout, what="tty output")
    run_d(root, "--name", "in", "-i", "bb:1", "sh", "-c", "read x; echo got $x")
    time.sleep(0.5)
    # -i keeps stdin open: read blocks rather than seeing end of file.
    assert state(root, "in")["Running"]


# ---- exec, top, stats ---------------------------------------------------------------------


def test_exec_top_stats(root):
    run_d(root, "--name", "box", "--hostname", "boxy", "bb:1", "sleep", "1000")
    until(lambda: state(root, "box")["Running"], what="running")
    r = bothy(root, "exec", "box", "cat", "/etc/hostname")
    assert r.returncode == 0 and r.stdout == "boxy\n"
    r = bothy(root, "exec", "-e", "A=b", "-w", "/tmp", "-u", "user", "box", "sh", "-c",
              'echo "$A $(pwd) $(id -u)"')
    assert r.stdout.strip() == "b /tmp 1000", r.stderr
    assert bothy(root, "exec", "box", "sh", "-c", "exit 5").returncode == 5
    assert bothy(root, "exec", "box", "nosuchcmd").returncode == 127
    r = bothy(root, "exec", "-i", "box", "cat", input="through stdin\n")
    assert r.stdout == "through stdin\n"
    top = ok(root, "top", "box")
    assert "sleep 1000" in top and "PID" in top
    stats = json.loads(ok(root, "stats", "--no-stream", "--format", "json", "box"))
    assert stats[0]["Name"] == "box" and stats[0]["PIDs"] >= 1 and stats[0]["MemUsage"] > 0
    ok(root, "stop", "-t", "0", "box")
    r = bothy(root, "exec", "box", "true")
    assert r.returncode != 0 and "not running" in r.stderr


# ---- flags seen from inside -----------------------------------------------------------------


def test_flags_inside(root, workdir):
    envf = os.path.join(workdir, "env")
    with open(envf, "w") as f:
        f.write("# comment\nFROMFILE=yes\n\nOTHER=x y\n")
    r = bothy(root, "run", "--rm", "--env-file", envf, "--cap-drop", "ALL", "--cap-add",
              "NET_BIND_SERVICE", "--cpus", "1.5", "bb:1", "sh", "-c",
              'echo "$FROMFILE|$OTHER"; grep CapEff /proc/self/status; '
              'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us')
    lines = r.stdout.splitlines()
    assert lines[0] == "yes|x y", r.stderr
    assert int(lines[1].split()[1], 16) == 1 << 10  # CAP_NET_BIND_SERVICE only
    assert lines[2:] == ["150000", "100000"]
    # --init: pid 1 is the init, which reaps orphans and forwards signals.
    r = bothy(root, "run", "--rm", "--init", "bb:1", "sh", "-c",
              "cat /proc/1/cmdline | tr '\\0' ' '; echo; (sleep 0.1 &) ; sleep 0.5; "
              "ps -o stat,comm | grep -c '^Z' || true")
    assert r.stdout.startswith("/dev/init -- sh"), r.stdout
    assert r.stdout.splitlines()[-1] == "0"
    # --stop-signal and --stop-timeout.
    run_d(root, "--name", "sig", "--stop-signal", "USR1", "--stop-timeout", "1", "bb:1", "sh",
          "-c", "trap 'echo got-usr1; exit 0' USR1; while true; do sleep 0.05; done")
    until(lambda: state(root, "sig")["Running"], what="running")
    ok(root, "stop", "sig")
    assert "got-usr1" in bothy(root, "logs", "sig").stdout
    assert state(root, "sig")["ExitCode"] == 0
    # Labels and the restart policy show in inspect.
    ok(root, "create", "--name", "lab", "--label", "app=blog", "--restart", "unless-stopped",
       "bb:1", "true")
    d = inspect(root, "lab")
    assert d["Config"]["Labels"] == {"app": "blog"}
    assert d["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"


def test_volumes_binds_tmpfs(root, workdir):
    host = os.path.join(workdir, "hostdir")
    os.makedirs(host)
    with open(os.path.join(host, "f"), "w") as f:
        f.write("from host")
    ok(root, "run", "--rm", "-v", "data:/data", "bb:1", "sh", "-c", "echo kept > /data/x")
    r = bothy(root, "run", "--rm", "-v", "data:/data:ro", "-v", f"{host}:/mnt/h:ro",
              "--tmpfs", "/scratch:size=1m", "--mount", f"type=bind,src={host},dst=/b",
              "bb:1", "sh", "-c",
              "cat /data/x /mnt/h/f; echo; touch /data/y 2>/dev/null || echo ro-vol; "
              "touch /mnt/h/z 2>/dev/null || echo ro-bind; grep ' /scratch ' /proc/mounts; "
              "echo w > /b/written")
    out = r.stdout.splitlines()
    assert out[0] == "kept" and out[1] == "from host", r.stderr
    assert "ro-vol" in out and "ro-bind" in out
    assert any(l.startswith("tmpfs /scratch tmpfs") and "size=1024k" in l for l in out), out
    assert open(os.path.join(host, "written")).read() == "w\n"
    vols = json.loads(ok(root, "volume", "inspect", "data"))
    assert vols[0]["Name"] == "data"
    # A volume in use cannot be removed.
    run_d(root, "--name", "user", "-v", "data:/data", "bb:1", "sleep", "1000")
    r = bothy(root, "volume", "rm", "data")
    assert r.returncode != 0 and "in use" in r.stderr
    ok(root, "rm", "-f", "user")
    ok(root, "volume", "rm", "data")
    # An anonymous volume goes with its --rm container.
    before = set(os.listdir(os.path.join(root, "volumes")))
    ok(root, "run", "--rm", "-v", "/anon", "bb:1", "sh", "-c", "echo x > /anon/f")
    assert set(os.listdir(os.path.join(root, "volumes"))) == before


def test_image_config_is_used(root, workdir):
    layout = os.path.join(workdir, "layout")
    base = open(make_tar(os.path.join(workdir, "base.tar")), "rb").read()
    extra = tar_bytes({"app/data/seed": b"seeded\n"})
    write_oci_layout(layout, [(base, "none"), (extra, "gzip")], tag="cfg", config_extra={
        "config": {"Env": ["PATH=/bin:/usr/bin", "GREETING=hi"], "Entrypoint": ["sh", "-c"],
                   "Cmd": ["echo $GREETING from $(pwd) as $(id -un); cat /app/data/seed"],
                   "WorkingDir": "/tmp", "User": "user", "Volumes": {"/app/data": {}},
                   "StopSignal": "SIGUSR2",
                   "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 200000000,
                                   "Retries": 2}}})
    archive = os.path.join(workdir, "cfg.tar")
    subprocess.run(["tar", "-C", layout, "-cf", archive, "."], check=True)
    ok(root, "load", "-i", archive)
    r = bothy(root, "run", "--rm", "cfg")
    assert r.stdout == "hi from /tmp as user\nseeded\n", r.stderr
    ok(root, "create", "--name", "cfgc", "cfg")
    d = inspect(root, "cfgc")
    assert d["Config"]["StopSignal"] == signal.SIGUSR2
    assert d["Config"]["Healthcheck"]["test"] == ["CMD-SHELL", "true"]
    assert any(m["Destination"] == "/app/data" and m["Type"] == "volume" for m in d["Mounts"])


# ---- many at once, and crashes ------------------------------------------------------------


def test_thirty_concurrent_runs(root):
    procs = [subprocess.Popen([BOTHY, "--root", root, "run", "-d", "--name", f"c{i}", "bb:1",
                               "sleep", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(30)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    ids = {o[0].strip() for o in outs}
    assert len(ids) == 30
    js = json.loads(ok(root, "ps", "--format", "json"))
    assert {c["Id"] for c in js} == ids
    assert sorted(c["Names"][0] for c in js) == sorted(f"c{i}" for i in range(30))
    assert all(c["State"] == "running" and alive(c["Pid"]) for c in js)
    assert sorted(os.listdir(os.path.join(root, "containers"))) == sorted(ids)
    # Each monitor is small; nothing else stays resident.
    for c in js[:5]:
        mon = inspect(root, c["Id"])["MonitorPid"]
        assert rss_kb(mon) <= 1024, rss_kb(mon)
    procs = [subprocess.Popen([BOTHY, "--root", root, "rm", "-f", f"c{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(30)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    assert ok(root, "ps", "-aq") == ""
    assert os.listdir(os.path.join(root, "containers")) == []


def test_killed_monitor_never_loses_the_container(root):
    cid = run_d(root, "--name", "orphan", "bb:1", "sleep", "1000")
    d = inspect(root, "orphan")
    mon, pid = d["MonitorPid"], d["State"]["Pid"]
    os.kill(mon, signal.SIGKILL)
    until(lambda: not alive(mon), what="monitor dead")
    # What really runs is shown, and can still be stopped.
    st = state(root, "orphan")
    assert st["Running"] and st["Pid"] == pid
    assert "orphan" in ok(root, "ps")
    ok(root, "stop", "-t", "0", "orphan")
    assert not alive(pid)
    assert state(root, "orphan")["Status"] == "exited"
    assert not os.path.exists(os.path.join(root, "runtime", cid))
    # Monitor and container both killed: the next command repairs the stale state.
    run_d(root, "--name", "both", "bb:1", "sleep", "1000")
    d = inspect(root, "both")
    os.kill(d["MonitorPid"], signal.SIGKILL)
    os.kill(d["State"]["Pid"], signal.SIGKILL)
    until(lambda: not alive(d["State"]["Pid"]), what="container dead")
    st = state(root, "both")
    assert st["Status"] == "exited" and not st["Running"]
    assert not os.path.exists(os.path.join(root, "runtime", d["Id"]))
    assert os.path.join(root, "containers", d["Id"], "rootfs") not in \
        open("/proc/self/mountinfo").read()
    ok(root, "start", "both")
    until(lambda: state(root, "both")["Running"], what="running again")


def test_cli_killed_midway_is_repaired(root):
    # Kill `run -d` at different moments; afterwards every record is whole or gone.
    for delay in (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08):
        p = subprocess.Popen([BOTHY, "--root", root, "run", "-d", "bb:1", "sleep", "1000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
    time.sleep(0.3)
    js = json.loads(ok(root, "ps", "-a", "--format", "json"))
    ids = {c["Id"] for c in js}
    dirs = {d for d in os.listdir(os.path.join(root, "containers")) if not d.startswith(".")}
    assert dirs == ids
    for c in js:
        assert c["State"] in ("running", "created", "exited"), c
    # Everything left can be removed.
    for c in js:
        ok(root, "rm", "-f", c["Id"])
    assert os.listdir(os.path.join(root, "containers")) == []


def test_boot_restarts_by_policy(root):
    run_d(root, "--name", "always", "--restart", "always", "bb:1", "sleep", "1000")
    run_d(root, "--name", "unless", "--restart", "unless-stopped", "bb:1", "sleep", "1000")
    run_d(root, "--name", "stopped", "--restart", "unless-stopped", "bb:1", "sleep", "1000")
    run_d(root, "--name", "never", "bb:1", "sleep", "1000")
    run_d(root, "--name", "onfail", "--restart", "on-failure", "bb:1", "sleep", "1000")
    ok(root, "stop", "-t", "0", "stopped")
    # "Reboot": every monitor and container dies at once.
    for n in ("always", "unless", "never", "onfail"):
        d = inspect(root, n)
        os.kill(d["MonitorPid"], signal.SIGKILL)
        os.kill(d["State"]["Pid"], signal.SIGKILL)
    until(lambda: not any(state(root, n)["Running"] for n in ("always", "unless", "never")),
          what="all dead")
    out = ok(root, "boot")
    assert "started 3 containers" in out, out
    for n, want in (("always", True), ("unless", True), ("onfail", True), ("stopped", False),
                    ("never", False)):
        assert state(root, n)["Running"] == want, n


def test_systemd_generate(root):
    ok(root, "create", "--name", "svc", "--restart", "always", "--stop-timeout", "7", "bb:1",
       "sleep", "1000")
    unit = ok(root, "systemd", "generate", "svc")
    assert "Type=notify" in unit and "Restart=always" in unit
    assert f"--root {root} start --attach svc" in unit
    assert "stop -t 7 svc" in unit
    assert bothy(root, "systemd", "generate", "nosuch").returncode != 0


def test_userns_auto(root):
    r = bothy(root, "run", "--rm", "--userns=auto", "bb:1", "sh", "-c",
              "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /x; stat -c %u /x")
    lines = r.stdout.split("\n")
    assert lines[0] == "0", r.stderr
    inside, start, size = (int(x) for x in lines[1].split())
    assert inside == 0 and start >= 1 << 30 and size == 65536
    # The image's files are root's inside, without a chowned copy of the layer.
    assert lines[2] == "0" and lines[3] == "0"
    layers = os.path.join(root, "layers")
    before = sorted(os.listdir(layers))
    a = run_d(root, "--name", "ua", "--userns=auto", "-v", "uvol:/data", "bb:1", "sh", "-c",
              "touch /made /data/file; exec sleep 1000")
    b = run_d(root, "--name", "ub", "--userns=auto", "bb:1", "sleep", "1000")
    until(lambda: state(root, "ua")["Running"] and state(root, "ub")["Running"], what="running")
    until(lambda: os.path.exists(os.path.join(root, "containers", a, "upper", "made")),
          what="file made")
    maps = []
    for n in ("ua", "ub"):
        pid = state(root, n)["Pid"]
        maps.append(int(open(f"/proc/{pid}/uid_map").read().split()[1]))
        # On the host the container's root is an unprivileged id of its own.
        uid = [l for l in open(f"/proc/{pid}/status") if l.startswith("Uid:")][0].split()[1]
        assert int(uid) == maps[-1]
    assert abs(maps[0] - maps[1]) >= 65536
    assert os.stat(os.path.join(root, "containers", a, "upper", "made")).st_uid == maps[0]
    # A volume keeps the container's own ids on disk (it is mounted idmapped).
    vol = os.path.join(root, "volumes", "uvol", "_data", "file")
    assert os.stat(vol).st_uid == 0
    assert sorted(os.listdir(layers)) == before
    for l in before:
        assert os.stat(os.path.join(layers, l, "bin", "busybox")).st_uid == 0
    ok(root, "rm", "-f", "ua", "ub")
    assert a not in open("/proc/self/mountinfo").read()
    # --userns=auto and the host's network do not go together.
    r = bothy(root, "run", "--rm", "--userns=auto", "--network", "host", "bb:1", "true")
    assert r.returncode == 125 and "userns" in r.stderr


def test_userns_auto_below_a_closed_directory(workdir):
    """A root below a directory others cannot search: the private user ids could not reach
    the container's files. The error names that directory, and nothing is created."""
    closed = os.path.join(workdir, "closed")
    os.mkdir(closed, 0o700)
    r = os.path.join(closed, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True, capture_output=True)
    try:
        for detach in ((), ("-d",)):
            res = bothy(r, "run", *detach, "--name", "u", "--userns=auto", "-v", "uv:/data",
                        "bb:1", "sleep", "100")
            assert res.returncode == 125, res.stderr
            assert f"'{closed}' (mode 0700) is not searchable by others" in res.stderr, res.stderr
            assert ok(r, "ps", "-a", "-q").strip() == ""
            assert ok(r, "volume", "ls", "-q").strip() == ""
            ctrs = os.path.join(r, "containers")
            assert not os.path.isdir(ctrs) or os.listdir(ctrs) == []
        # Opened up, the same command works.
        os.chmod(closed, 0o711)
        ok(r, "run", "--rm", "--userns=auto", "bb:1", "true")
    finally:
        cleanup_root(r)


def test_images_in_use_are_kept(root):
    ok(root, "create", "--name", "keep", "bb:1", "sh", "-c", "echo still here")
    r = bothy(root, "rmi", "bb:1")
    assert r.returncode != 0 and "conflict" in r.stderr
    ok(root, "rmi", "-f", "bb:1")
    ok(root, "prune")
    # What the container needs is still there: it runs.
    ok(root, "start", "keep")
    assert ok(root, "wait", "keep").strip() == "0"
    assert bothy(root, "logs", "keep").stdout == "still here\n"
    ok(root, "rm", "keep")
    out = ok(root, "prune")
    assert "layer sha256:" in out
    assert os.listdir(os.path.join(root, "layers")) == []


def test_start_attach_notifies_systemd(root, workdir):
    import socket
    ok(root, "create", "--name", "unit", "bb:1", "sh", "-c", "echo up; exec sleep 1000")
    path = os.path.join(workdir, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    p = subprocess.Popen([BOTHY, "--root", root, "start", "--attach", "unit"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "NOTIFY_SOCKET": path})
    try:
        msg = s.recv(4096).decode()
        assert "READY=1" in msg and f"MAINPID={p.pid}" in msg, msg
        until(lambda: state(root, "unit")["Running"], what="running")
        # ExecStop of the generated unit.
        ok(root, "stop", "-t", "1", "unit")
        out, err = p.communicate(timeout=30)
        assert out == "up\n"
        assert p.returncode == 137, (p.returncode, err)
        assert state(root, "unit")["Status"] == "exited"
    finally:
        if p.poll() is None:
            p.kill()
        s.close()


def test_security_opts_and_entrypoint(root, workdir):
    def status_of(*args):
        r = bothy(root, "run", "--rm", *args, "bb:1", "cat", "/proc/self/status")
        return dict(l.split(":\t", 1) for l in r.stdout.splitlines() if ":\t" in l)
    assert status_of()["Seccomp"].strip() == "2"
    assert status_of("--security-opt", "seccomp=unconfined")["Seccomp"].strip() == "0"
    assert status_of("--security-opt", "no-new-privileges:false")["NoNewPrivs"].strip() == "0"
    assert status_of()["NoNewPrivs"].strip() == "1"
    # A profile of one's own, in docker's format: mkdir is refused, the rest allowed.
    prof = os.path.join(workdir, "profile.json")
    with open(prof, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}, f)
    r = bothy(root, "run", "--rm", "--security-opt", f"seccomp={prof}", "bb:1", "sh", "-c",
              "mkdir /tmp/d 2>&1; echo rc=$?; echo ok > /tmp/f && cat /tmp/f")
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stdout and "ok" in r.stdout
    r = bothy(root, "run", "--rm", "--security-opt", "seccomp=/nonexistent.json", "bb:1", "true")
    assert r.returncode == 125 and "nonexistent.json" in r.stderr
    # --entrypoint replaces the image's; the arguments follow it.
    r = bothy(root, "run", "--rm", "--entrypoint", "/bin/echo", "bb:1", "a", "b")
    assert r.stdout == "a b\n"


@pytest.fixture
def debian(root):
    tar = subprocess.run(["sh", os.path.join(os.path.dirname(__file__), "..", "..", "scripts",
                                             "debian-rootfs.sh")],
                         capture_output=True, text=True, timeout=1800)
    if tar.returncode != 0:
        pytest.fail(f"no Debian image: {tar.stderr}")
    ok(root, "import", tar.stdout.strip(), "debian:12", timeout=600)
    return "debian:12"


def test_debian_container(root, debian):
    # A user by name from Debian's own /etc/passwd, with its groups.
    r = bothy(root, "run", "--rm", "-u", "www-data", debian, "id")
    assert r.stdout.startswith("uid=33(www-data) gid=33(www-data)"), r.stderr
    cid = run_d(root, "--name", "deb", "--restart", "on-failure", "--health-cmd",
                "test -s /etc/debian_version", "--health-interval", "300ms", debian,
                "bash", "-c", "echo $BASH_VERSION; exec sleep 1000")
    until(lambda: state(root, "deb").get("Health", {}).get("Status") == "healthy",
          timeout=30, what="healthy")
    r = bothy(root, "exec", "deb", "bash", "-c", "cat /etc/debian_version; ls /proc/1/exe -l")
    assert r.stdout.split()[0].startswith("12"), r.stdout
    assert bothy(root, "logs", "deb").stdout.startswith("5.")
    ok(root, "rm", "-f", "deb")
    assert not os.path.exists(os.path.join(root, "containers", cid))
