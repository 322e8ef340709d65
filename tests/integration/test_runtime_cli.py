"""The runtime's command line: --version, features, spec, create/start/run, state, list,
global options (--root, --log, --log-format, --debug, --systemd-cgroup) and the create/run
options (-b, --pid-file, --detach, --no-pivot, --no-new-keyring, --preserve-fds)."""
import json
import os
import re
import subprocess

import pytest

from conftest import RUNTIME, assert_nothing_left, pid_alive, wait_for

STATE_KEYS = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_version(runtime_binary):
    for flag in ("--version", "-v"):
        r = subprocess.run([runtime_binary, flag], capture_output=True, text=True)
        assert r.returncode == 0
        lines = r.stdout.splitlines()
        assert re.match(r"^\S+ version \S+", lines[0]), r.stdout
        assert any(re.match(r"^spec: 1\.\d+\.\d+", l) for l in lines), r.stdout


def test_runtime_subcommand_dispatch():
    """`bothy runtime <cmd>` is the same runtime as `bothy-runtime <cmd>`."""
    if os.path.basename(RUNTIME) != "bothy-runtime":
        pytest.skip("only meaningful for bothy")
    bothy = os.path.join(os.path.dirname(RUNTIME), "bothy")
    a = subprocess.run([RUNTIME, "--version"], capture_output=True, text=True)
    b = subprocess.run([bothy, "runtime", "--version"], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0
    assert a.stdout.splitlines()[1:] == b.stdout.splitlines()[1:]


def test_features(rt):
    r = rt.ok("features")
    f = json.loads(r.stdout)
    assert re.match(r"^1\.0\.\d", f["ociVersionMin"])
    assert re.match(r"^1\.\d+\.\d", f["ociVersionMax"])
    for h in ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop"):
        assert h in f["hooks"]
    for o in ("ro", "nosuid", "nodev", "noexec", "bind", "rbind", "rprivate", "rslave"):
        assert o in f["mountOptions"]
    lin = f["linux"]
    for ns in ("cgroup", "ipc", "mount", "network", "pid", "user", "uts"):
        assert ns in lin["namespaces"]
    for cap in ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_KILL"):
        assert cap in lin["capabilities"]
    assert lin["cgroup"]["v1"] is True and lin["cgroup"]["v2"] is True
    assert lin["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in lin["seccomp"]["actions"]
    assert "SCMP_ARCH_X86_64" in lin["seccomp"]["archs"]


def test_spec(rt, workdir):
    d = os.path.join(workdir, "specdir")
    os.mkdir(d)
    r = subprocess.run([rt.binary, "spec"], cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.load(open(os.path.join(d, "config.json")))
    assert s["ociVersion"].startswith("1.")
    assert s["root"]["path"] == "rootfs"
    assert s["process"]["args"] == ["sh"]
    assert s["process"]["terminal"] is True
    assert s["process"]["noNewPrivileges"] is True
    nss = {n["type"] for n in s["linux"]["namespaces"]}
    assert nss >= {"pid", "network", "ipc", "uts", "mount"}
    assert "user" not in nss
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    dests = {m["destination"] for m in s["mounts"]}
    assert dests >= {"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"}
    # A second `spec` refuses to overwrite the file.
    r = subprocess.run([rt.binary, "spec"], cwd=d, capture_output=True, text=True)
    assert r.returncode != 0
    assert "exist" in r.stderr
    # -b writes into the bundle instead of the cwd.
    d2 = os.path.join(workdir, "specdir2")
    os.mkdir(d2)
    r = subprocess.run([rt.binary, "spec", "-b", d2], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(d2, "config.json"))


def test_spec_rootless(rt, workdir):
    d = os.path.join(workdir, "specdir")
    os.mkdir(d)
    r = subprocess.run([rt.binary, "spec", "--rootless"], cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.load(open(os.path.join(d, "config.json")))
    nss = {n["type"] for n in s["linux"]["namespaces"]}
    assert "user" in nss and "network" not in nss
    assert s["linux"]["uidMappings"][0]["containerID"] == 0
    assert s["linux"]["uidMappings"][0]["hostID"] == os.geteuid()
    assert s["linux"]["gidMappings"][0]["hostID"] == os.getegid()
    assert "resources" not in s["linux"] or "devices" not in s["linux"].get("resources", {})


def test_run_exit_code(rt, bundle):
    r = rt.run(bundle, ["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert r.returncode == 42
    assert r.stdout == "out\n"
    assert "err" in r.stderr


def test_run_exit_code_zero_and_signal(rt, bundle):
    assert rt.run(bundle, ["true"]).returncode == 0
    assert rt.run(bundle, ["false"]).returncode == 1
    # Killed by a signal (from outside: init ignores SIGKILL sent from inside its own
    # pid namespace): 128 + signal number, like a shell.
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["sleep", "1000"])
    p = subprocess.Popen([rt.binary, "--root", rt.root, "run", "-b", bundle.path, cid],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: rt.state(cid).get("status") == "running", what="running")
        rt.ok("kill", cid, "KILL")
        assert p.wait(timeout=20) == 137
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_deletes_container(rt, bundle):
    cid = rt.new_id()
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 0, r.stderr
    assert_nothing_left(rt, cid, bundle)


def test_run_stdin_passthrough(rt, bundle):
    r = rt.run(bundle, ["sh", "-c", "read x; echo got:$x"], input="hello\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "got:hello\n"


def test_create_start_state(rt, bundle):
    c = rt.create(bundle, ["sh", "-c", "echo started; sleep 1000"])
    st = c.state()
    assert STATE_KEYS <= set(st), st
    assert st["id"] == c.id
    assert st["status"] == "created"
    assert st["bundle"] == bundle.path
    assert st["rootfs"] == bundle.rootfs
    assert st["ociVersion"].startswith("1.")
    assert RFC3339.match(st["created"]), st["created"]
    assert st["pid"] > 0 and pid_alive(st["pid"])
    # The process waits for `start`: the user program has not run yet.
    assert c.out == ""
    # The state dir is <root>/<id>.
    assert os.path.isdir(os.path.join(rt.root, c.id))
    rt.ok("start", c.id)
    wait_for(lambda: "started" in c.out, what="container output")
    st2 = c.state()
    assert st2["status"] == "running"
    assert st2["pid"] == st["pid"]
    assert st2["created"] == st["created"]


def test_state_stopped(rt, bundle):
    c = rt.create(bundle, ["true"], start=True)
    c.wait_stopped()
    st = c.state()
    assert st["status"] == "stopped"
    assert st["pid"] == 0
    rt.ok("delete", c.id)
    assert_nothing_left(rt, c.id, bundle)


def test_run_detach(rt, bundle):
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["sleep", "1000"])
    r = rt.cmd("run", "-d", "-b", bundle.path, cid, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    assert r.returncode == 0
    st = rt.state(cid)
    assert st["status"] == "running"
    r = rt.cmd("run", "--detach", "-b", bundle.path, rt.new_id(), stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    assert r.returncode == 0


def test_bundle_option_forms(rt, bundle):
    """--bundle, -b, and the default: the current directory."""
    bundle.process["args"] = ["true"]
    for form in (["--bundle", bundle.path], ["-b", bundle.path]):
        cid = rt.new_id()
        bundle.linux["cgroupsPath"] = f"/bothytest/{cid}"
        bundle.write()
        r = rt.cmd("run", *form, cid)
        assert r.returncode == 0, r.stderr
    cid = rt.new_id()
    bundle.linux["cgroupsPath"] = f"/bothytest/{cid}"
    bundle.write()
    r = rt.cmd("run", cid, cwd=bundle.path)
    assert r.returncode == 0, r.stderr


def test_pid_file(rt, bundle, workdir):
    pf = os.path.join(workdir, "init.pid")
    c = rt.create(bundle, ["sleep", "1000"], extra=["--pid-file", pf])
    pid = int(open(pf).read().strip())
    assert pid == c.state()["pid"]
    # runc writes the pid with no trailing newline
    assert open(pf).read() == str(pid)


def test_root_dir_created(runtime_binary, workdir, request):
    from conftest import Runtime
    r = Runtime(runtime_binary, workdir, request.node.name)
    r.root = os.path.join(workdir, "deeper", "state")
    try:
        c = r.create(r.bundle(), ["sleep", "1000"])
        assert os.path.isdir(os.path.join(r.root, c.id))
        lst = json.loads(r.ok("list", "--format", "json").stdout)
        assert [x["id"] for x in lst] == [c.id]
    finally:
        r.cleanup()


def test_list(rt):
    a = rt.start_sleeper()
    b = rt.create(rt.bundle(), ["sleep", "1000"])
    r = rt.ok("list", "--format", "json")
    lst = json.loads(r.stdout)
    by_id = {x["id"]: x for x in lst}
    assert set(by_id) == {a.id, b.id}
    assert by_id[a.id]["status"] == "running"
    assert by_id[b.id]["status"] == "created"
    assert by_id[a.id]["pid"] == a.pid
    assert by_id[a.id]["bundle"] == a.bundle.path
    assert by_id[a.id]["owner"] == "root"
    # table format: a header and one row per container
    r = rt.ok("list")
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "PID", "STATUS", "BUNDLE"]
    assert {l.split()[0] for l in lines[1:]} == {a.id, b.id}
    # -q: ids only
    r = rt.ok("list", "-q")
    assert set(r.stdout.split()) == {a.id, b.id}


def test_list_empty(rt):
    r = rt.ok("list", "--format", "json")
    assert json.loads(r.stdout or "null") in (None, [])


def test_log_file_and_json_format(rt, workdir):
    log = os.path.join(workdir, "rt.log")
    r = rt.cmd("state", "no-such-container", global_args=["--log", log, "--log-format", "json"])
    assert r.returncode == 1
    lines = [l for l in open(log).read().splitlines() if l.strip()]
    assert lines, "nothing logged"
    entries = [json.loads(l) for l in lines]
    err = [e for e in entries if e.get("level") == "error"]
    assert err and "does not exist" in err[-1]["msg"]
    assert "time" in err[-1]


def test_log_format_text(rt, workdir):
    log = os.path.join(workdir, "rt.log")
    r = rt.cmd("state", "no-such-container", global_args=["--log", log, "--log-format", "text"])
    assert r.returncode == 1
    text = open(log).read()
    assert "level=error" in text and "does not exist" in text


def test_debug(rt, bundle, workdir):
    log = os.path.join(workdir, "rt.log")
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["true"])
    r = rt.cmd("run", "-b", bundle.path, cid,
               global_args=["--debug", "--log", log, "--log-format", "json"])
    assert r.returncode == 0, r.stderr
    entries = [json.loads(l) for l in open(log).read().splitlines() if l.strip()]
    assert any(e.get("level") == "debug" for e in entries)


def test_systemd_cgroup_flag_accepted(rt):
    r = rt.cmd("list", global_args=["--systemd-cgroup"])
    assert r.returncode == 0, r.stderr


def test_no_pivot(rt, bundle):
    out = rt.run_ok(bundle, ["sh", "-c", "cat /etc/bothy-test-rootfs; ls /"], extra=["--no-pivot"])
    assert "bin" in out.split()
    assert "-v" in out.splitlines()[0]


def test_new_keyring(rt, workdir):
    b = rt.bundle()
    b.linux["maskedPaths"].remove("/proc/keys")
    cid = rt.new_id()
    out = rt.run_ok(b, ["cat", "/proc/keys"], cid=cid)
    # The container joins a fresh session keyring named after its id.
    assert any(cid in l and "keyring" in l for l in out.splitlines()), out
    b2 = rt.bundle()
    b2.linux["maskedPaths"].remove("/proc/keys")
    cid2 = rt.new_id()
    out2 = rt.run_ok(b2, ["cat", "/proc/keys"], cid=cid2, extra=["--no-new-keyring"])
    assert cid2 not in out2


def test_preserve_fds(rt, bundle, workdir):
    path = os.path.join(workdir, "fd3.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        r = rt.run(bundle, ["sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"],
                   extra=["--preserve-fds", "1"], close_fds=False,
                   preexec_fn=lambda: os.dup2(fd, 3))
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    assert open(path).read() == "via-fd3\n"


def test_no_fd_leak(rt, bundle, workdir):
    """Without --preserve-fds only 0, 1, 2 reach the container."""
    path = os.path.join(workdir, "leak.txt")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        # close_fds=False: every fd of this process reaches the runtime; none may go on.
        r = rt.run(bundle, ["ls", "/proc/self/fd"], close_fds=False,
                   preexec_fn=lambda: os.dup2(fd, 3))
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    # ls itself opens the directory: one extra fd at most.
    fds = sorted(int(x) for x in r.stdout.split())
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4, fds
