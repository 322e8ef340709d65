"""Unmodified peers driving the runtime under test (issue point 7):

- podman runs a container end to end with --runtime pointing at the runtime (private
  --root/--runroot/--tmpdir, cgroupfs manager, file events, vfs storage, no network;
  the image is a `podman import` of the busybox rootfs tar: no registry here).
- containerd (started here with a private config: root, state, grpc/ttrpc sockets in a
  tmp dir) runs `ctr run --rm --runc-binary $RUNTIME IMAGE ID echo hello`; the image is
  an OCI archive written in Python and imported with `ctr images import`.

A wrapper script in front of the runtime logs each invocation, so the tests prove that
the peer really called the runtime under test.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import RUNTIME, CG_PREFIX, _rmdir_tree, cgroup_mounts, wait_for
from helpers.oci_archive import write_oci_archive
from helpers.rootfs import make_tar

pytestmark = pytest.mark.peers


@pytest.fixture
def wrapped_runtime(workdir, runtime_binary):
    log = os.path.join(workdir, "runtime-calls.log")
    path = os.path.join(workdir, "runtime-wrapper")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\necho "$*" >> {log}\nexec {runtime_binary} "$@"\n')
    os.chmod(path, 0o755)
    return path, log


def calls(log):
    return open(log).read().splitlines() if os.path.exists(log) else []


def _remove_cgroup_tree(rel, timeout=10):
    """rmdir a cgroup tree in every hierarchy; peers (conmon, shims) may still be leaving
    it, so retry for a while."""
    deadline = time.monotonic() + timeout
    while True:
        left = [os.path.join(m, rel.lstrip("/")) for m in cgroup_mounts()]
        left = [p for p in left if os.path.isdir(p)]
        for p in left:
            _rmdir_tree(p)
        if not any(os.path.isdir(p) for p in left) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


# ---------------------------------------------------------------------------- podman

@pytest.fixture
def podman(workdir, wrapped_runtime):
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    wrapper, log = wrapped_runtime
    base = os.path.join(workdir, "podman")
    os.makedirs(base)
    cgparent = f"/{CG_PREFIX}/podman-{os.getpid()}"
    common = ["podman", "--root", f"{base}/root", "--runroot", f"{base}/runroot",
              "--tmpdir", f"{base}/tmp", "--storage-driver", "vfs",
              "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", wrapper]

    def pm(*args, timeout=120, **kw):
        return subprocess.run(common + list(args), capture_output=True, text=True,
                              timeout=timeout, **kw)

    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    r = pm("import", tar, "localhost/bothy-busybox:test")
    assert r.returncode == 0, r.stderr
    pm.run_args = ["run", "--network", "none", "--cgroup-parent", cgparent,
                   "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    pm.log = log
    yield pm
    pm("rm", "--all", "--force", "--time", "0")
    pm("system", "reset", "--force")   # only this private root/runroot
    _remove_cgroup_tree(cgparent)
    for m in cgroup_mounts():
        try:
            os.rmdir(os.path.join(m, CG_PREFIX))
        except OSError:
            pass


def test_podman_run(podman):
    r = podman(*podman.run_args, "--rm", "localhost/bothy-busybox:test",
               "sh", "-c", "echo hello from podman; cat /etc/bothy-test-rootfs >/dev/null; id -u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["hello from podman", "0"]
    c = calls(podman.log)
    assert any(l.split()[-3:-1] == ["create", "--bundle"] or " create " in f" {l} " for l in c), c
    assert any(" start " in f" {l} " for l in c), c
    assert any(" delete " in f" {l} " for l in c), c


def test_podman_exit_code(podman):
    r = podman(*podman.run_args, "--rm", "localhost/bothy-busybox:test", "sh", "-c", "exit 42")
    assert r.returncode == 42, r.stderr


def test_podman_detached_exec_stop(podman):
    name = f"bothy-peer-{os.getpid()}"
    r = podman(*podman.run_args, "-d", "--name", name, "localhost/bothy-busybox:test",
               "sleep", "1000")
    assert r.returncode == 0, r.stderr
    r = podman("exec", name, "sh", "-c", "echo in-exec; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "in-exec"
    r = podman("inspect", "--format", "{{.State.Status}}", name)
    assert r.stdout.strip() == "running"
    r = podman("stop", "--time", "1", name)
    assert r.returncode == 0, r.stderr
    r = podman("inspect", "--format", "{{.State.Status}}", name)
    assert r.stdout.strip() in ("exited", "stopped")
    r = podman("rm", name)
    assert r.returncode == 0, r.stderr
    c = calls(podman.log)
    assert any(" exec " in f" {l} " for l in c), c
    assert any(" kill " in f" {l} " for l in c), c


def test_podman_tty(podman):
    # -t without -i: podman hands a console socket to the runtime.
    r = podman(*podman.run_args, "--rm", "-t", "localhost/bothy-busybox:test", "tty")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("/dev/pts/")
    assert any("--console-socket" in l for l in calls(podman.log))


# ------------------------------------------------------------------------ containerd

@pytest.fixture
def containerd(workdir, wrapped_runtime):
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    wrapper, log = wrapped_runtime
    base = os.path.join(workdir, "ctrd")
    os.makedirs(base)
    sock = os.path.join(base, "containerd.sock")
    cfg = os.path.join(base, "config.toml")
    with open(cfg, "w") as f:
        f.write(f'''version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{base}/debug.sock"
[metrics]
  address = ""
''')
    # containerd 1.6 puts shim sockets in /run/containerd/s regardless of config.
    run_dir_existed = os.path.exists("/run/containerd")
    logf = open(os.path.join(base, "containerd.log"), "w")
    proc = subprocess.Popen(["containerd", "--config", cfg], stdout=logf, stderr=logf,
                            stdin=subprocess.DEVNULL)
    ns = f"bothytest{os.getpid()}"

    def ctr(*args, timeout=120):
        return subprocess.run(["ctr", "--address", sock, "--namespace", ns, *args],
                              capture_output=True, text=True, timeout=timeout)

    try:
        wait_for(lambda: proc.poll() is not None or
                 ctr("version", timeout=10).returncode == 0, timeout=20,
                 what="containerd to answer")
        assert proc.poll() is None, open(logf.name).read()
        img = write_oci_archive(make_tar(os.path.join(base, "rootfs.tar")),
                                os.path.join(base, "image.tar"))
        r = ctr("images", "import", os.path.join(base, "image.tar"))
        assert r.returncode == 0, r.stderr
        ctr.image = img
        ctr.log = log
        ctr.run_args = ["run", "--rm", "--fifo-dir", f"{base}/fifo",
                        "--runc-binary", wrapper, "--runc-root", f"{base}/runc-root"]
        ctr.cgroup = lambda cid: f"/{CG_PREFIX}/{cid}"
        ctr.ids = []
        yield ctr
    finally:
        for cid in getattr(ctr, "ids", []):
            ctr("tasks", "kill", "-s", "KILL", cid, timeout=20)
            ctr("tasks", "delete", "-f", cid, timeout=20)
            ctr("containers", "delete", cid, timeout=20)
            _remove_cgroup_tree(f"/{CG_PREFIX}/{cid}")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
        # shims started by this containerd (their -address names our socket) exit with
        # their task; give them a moment, then stop any left (they are ours).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            shims = _shims_of(sock)
            if not shims:
                break
            time.sleep(0.1)
        for pid in _shims_of(sock):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for m in cgroup_mounts():
            try:
                os.rmdir(os.path.join(m, CG_PREFIX))
            except OSError:
                pass
        if not run_dir_existed:
            subprocess.run(["find", "/run/containerd", "-depth", "-type", "d", "-empty",
                            "-delete"], stderr=subprocess.DEVNULL)


def _shims_of(sock):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in cmd:
            pids.append(int(p))
    return pids


def test_containerd_ctr_run(containerd):
    cid = f"bothy-ctr-{os.getpid()}"
    containerd.ids.append(cid)
    r = containerd(*containerd.run_args, "--cgroup", containerd.cgroup(cid),
                   containerd.image, cid, "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r", "") == "hello\n"
    c = calls(containerd.log)
    assert any(" create " in f" {l} " for l in c), c
    assert any(" start " in f" {l} " for l in c), c
    assert any(" delete " in f" {l} " for l in c), c
    r = containerd("containers", "ls", "-q")
    assert cid not in r.stdout.split()


def test_containerd_exit_code(containerd):
    cid = f"bothy-ctr-exit-{os.getpid()}"
    containerd.ids.append(cid)
    r = containerd(*containerd.run_args, "--cgroup", containerd.cgroup(cid),
                   containerd.image, cid, "sh", "-c", "exit 42")
    assert r.returncode == 42, r.stderr


def test_containerd_detached_exec_kill(containerd):
    cid = f"bothy-ctr-d-{os.getpid()}"
    containerd.ids.append(cid)
    args = [a for a in containerd.run_args if a != "--rm"]
    r = containerd(*args, "-d", "--cgroup", containerd.cgroup(cid), containerd.image, cid,
                   "sleep", "1000")
    assert r.returncode == 0, r.stderr
    r = containerd("tasks", "exec", "--exec-id", "e1", "--fifo-dir",
                   os.path.dirname(containerd.log) + "/ctrd/fifo", cid, "sh", "-c",
                   "echo from-exec")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "from-exec"
    r = containerd("tasks", "ls")
    assert any(l.split()[:1] == [cid] and "RUNNING" in l for l in r.stdout.splitlines()), r.stdout
    r = containerd("tasks", "kill", "-s", "KILL", cid)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: "STOPPED" in containerd("tasks", "ls").stdout, what="task stopped")
    assert containerd("tasks", "delete", cid).returncode == 0
    assert containerd("containers", "delete", cid).returncode == 0
    c = calls(containerd.log)
    assert any(" exec " in f" {l} " for l in c), c
    assert any(" kill " in f" {l} " for l in c), c
