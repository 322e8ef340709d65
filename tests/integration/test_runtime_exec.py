"""exec: args or -p process.json; -d, --cwd, --env/-e, --user, --cap, --no-new-privs,
--preserve-fds, --pid-file; exit codes; it joins the container's namespaces and cgroup."""
import json
import os
import subprocess

from conftest import parse_status, pids_in_cgroup_path, wait_for
from test_runtime_process import mask


def test_exec_args_and_exit_code(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.exec(c.id, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n" and "err" in r.stderr


def test_exec_joins_namespaces_and_cgroup(rt, bundle):
    c = rt.start_sleeper(bundle)
    out = rt.exec_ok(c.id, "sh", "-c", "for n in pid net ipc uts mnt; do readlink "
                     "/proc/self/ns/$n; done; cat /proc/self/cgroup; hostname")
    lines = out.splitlines()
    for i, n in enumerate(("pid", "net", "ipc", "uts", "mnt")):
        assert lines[i] == os.readlink(f"/proc/{c.pid}/ns/{n}"), n
    assert f"memory:/bothytest/{c.id}" in out
    assert lines[-1] == "bothytest"


def test_exec_inherits_process_spec(rt, bundle):
    bundle.process["env"] = ["PATH=/bin", "FROMSPEC=1"]
    bundle.process["cwd"] = "/tmp"
    c = rt.start_sleeper(bundle)
    out = rt.exec_ok(c.id, "sh", "-c", "pwd; echo $FROMSPEC")
    assert out.split() == ["/tmp", "1"]


def test_exec_cwd_env_user(rt, bundle):
    c = rt.start_sleeper(bundle)
    out = rt.exec_ok(c.id, "sh", "-c", "pwd; echo $A $B; id -u; id -g",
                     extra=["--cwd", "/home", "--env", "A=1", "--env", "B=two",
                            "--user", "1000:1000"])
    assert out.split() == ["/home", "1", "two", "1000", "1000"]
    # short forms (runc refuses mixing -e and --env in one command line)
    out = rt.exec_ok(c.id, "sh", "-c", "echo $A $B; id -u; id -g",
                     extra=["-e", "A=x", "-e", "B=y", "-u", "1000"])
    assert out.split() == ["x", "y", "1000", "0"]


def test_exec_additional_gids(rt, bundle):
    c = rt.start_sleeper(bundle)
    out = rt.exec_ok(c.id, "cat", "/proc/self/status",
                     extra=["--user", "1000:1000", "--additional-gids", "10",
                            "--additional-gids", "29"])
    assert set(parse_status(out)["Groups"].split()) == {"10", "29"}


def test_exec_cap(rt, bundle):
    c = rt.start_sleeper(bundle)
    base = int(parse_status(rt.exec_ok(c.id, "cat", "/proc/self/status"))["CapEff"], 16)
    st = parse_status(rt.exec_ok(c.id, "cat", "/proc/self/status",
                                 extra=["--cap", "CAP_NET_ADMIN", "--cap", "CAP_CHOWN"]))
    assert int(st["CapEff"], 16) == base | mask("CAP_NET_ADMIN", "CAP_CHOWN")
    assert int(st["CapBnd"], 16) & mask("CAP_NET_ADMIN", "CAP_CHOWN")


def test_exec_no_new_privs(rt, bundle):
    bundle.process["noNewPrivileges"] = False
    c = rt.start_sleeper(bundle)
    assert parse_status(rt.exec_ok(c.id, "cat", "/proc/self/status"))["NoNewPrivs"] == "0"
    st = parse_status(rt.exec_ok(c.id, "cat", "/proc/self/status", extra=["--no-new-privs"]))
    assert st["NoNewPrivs"] == "1"


def test_exec_process_json(rt, bundle, workdir):
    c = rt.start_sleeper(bundle)
    proc = {"terminal": False, "user": {"uid": 1000, "gid": 1000},
            "args": ["sh", "-c", "pwd; echo $X; id -u; exit 3"],
            "env": ["PATH=/bin", "X=from-json"], "cwd": "/tmp",
            "capabilities": {k: ["CAP_KILL"] for k in
                             ("bounding", "effective", "permitted")},
            "noNewPrivileges": True}
    p = os.path.join(workdir, "process.json")
    with open(p, "w") as f:
        json.dump(proc, f)
    r = rt.exec(c.id, extra=["-p", p])
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["/tmp", "from-json", "1000"]
    r = rt.exec(c.id, extra=["--process", p])
    assert r.returncode == 3


def test_exec_detach_and_pid_file(rt, bundle, workdir):
    c = rt.start_sleeper(bundle)
    pf = os.path.join(workdir, "exec.pid")
    r = rt.exec(c.id, "sleep", "999", extra=["-d", "--pid-file", pf],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert r.returncode == 0
    pid = int(open(pf).read())
    assert pid in pids_in_cgroup_path(f"/bothytest/{c.id}")
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[:2] == ["sleep", "999"]
    pids = json.loads(rt.ok("ps", "--format", "json", c.id).stdout)
    assert pid in pids


def test_exec_preserve_fds(rt, bundle, workdir):
    c = rt.start_sleeper(bundle)
    path = os.path.join(workdir, "fd3")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        r = rt.exec(c.id, "sh", "-c", "echo exec-fd3 >&3", extra=["--preserve-fds", "1"],
                    close_fds=False, preexec_fn=lambda: os.dup2(fd, 3))
    finally:
        os.close(fd)
    assert r.returncode == 0, r.stderr
    assert open(path).read() == "exec-fd3\n"


def test_exec_in_created_container(rt, bundle):
    """runc allows exec into a created (not yet started) container."""
    c = rt.create(bundle, ["sleep", "1000"])
    r = rt.exec(c.id, "echo", "hi")
    assert r.returncode == 0 and r.stdout == "hi\n"


def test_exec_paused_container_fails(rt, bundle):
    c = rt.start_sleeper(bundle)
    rt.ok("pause", c.id)
    r = rt.exec(c.id, "true", timeout=20)
    assert r.returncode == 255
    assert "paused" in r.stderr
    rt.ok("resume", c.id)


def test_exec_missing_binary(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.exec(c.id, "/no/such")
    assert r.returncode == 255
    assert "/no/such" in r.stderr
    assert c.state()["status"] == "running"


def test_exec_stdin(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.exec(c.id, "cat", input="piped-in\n")
    assert r.returncode == 0 and r.stdout == "piped-in\n"


def test_exec_process_gone_after_exit(rt, bundle):
    c = rt.start_sleeper(bundle)
    rt.exec_ok(c.id, "true")
    wait_for(lambda: len(pids_in_cgroup_path(f"/bothytest/{c.id}")) == 1, what="only init")
