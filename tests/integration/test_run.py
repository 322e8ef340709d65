"""`bothy run`: a container from an image in the foreground, with docker's flags, its
exit status, and nothing left behind with --rm."""
import json
import os
import subprocess

import pytest

from helpers.rootfs import make_tar
from images_helpers import BOTHY


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True,
                   capture_output=True)
    yield r
    # Its containers, then its networks (bridges and firewall rules are the host's).
    ids = subprocess.run([BOTHY, "--root", r, "ps", "-aq"], capture_output=True,
                         text=True).stdout.split()
    if ids:
        subprocess.run([BOTHY, "--root", r, "rm", "-f", *ids], capture_output=True)
    ls = subprocess.run([BOTHY, "--root", r, "network", "ls", "--format", "json"],
                        capture_output=True, text=True)
    for n in (json.loads(ls.stdout or "[]") if ls.returncode == 0 else []):
        subprocess.run([BOTHY, "--root", r, "network", "rm", n["Name"]], capture_output=True)
    # Whatever a failed test left mounted under the root.
    for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
        mp = line.split()[4]
        if mp.startswith(r):
            subprocess.run(["umount", "-l", mp])


def run(root, *args, timeout=60):
    return subprocess.run([BOTHY, "--root", root, "run", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_output_and_exit_status(root):
    r = run(root, "--rm", "bb:1", "echo", "hello")
    assert r.returncode == 0 and r.stdout == "hello\n", r.stderr
    assert run(root, "--rm", "bb:1", "sh", "-c", "exit 42").returncode == 42
    r = run(root, "--rm", "bb:1", "nosuchcommand")
    assert r.returncode == 127 and "nosuchcommand" in r.stderr
    r = run(root, "--rm", "bb:1", "/etc")
    assert r.returncode == 126, (r.returncode, r.stderr)


def test_rm_leaves_nothing(root):
    run(root, "--rm", "bb:1", "true")
    assert os.listdir(os.path.join(root, "containers")) == []
    assert [d for d in os.listdir(os.path.join(root, "runtime")) if not d.startswith(".")] == []
    assert root not in open("/proc/self/mountinfo").read()
    # The shared layer is untouched by what the container wrote.
    run(root, "--rm", "bb:1", "sh", "-c", "echo x > /root/written")
    layer = os.path.join(root, "layers", os.listdir(os.path.join(root, "layers"))[0])
    assert not os.path.exists(os.path.join(layer, "root", "written"))


def test_flags_seen_inside(root):
    r = run(root, "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", "--hostname",
            "box", "bb:1", "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g) $(hostname)"')
    assert r.stdout.strip() == "bar /tmp 1000:1000 box", r.stderr
    r = run(root, "--rm", "--read-only", "bb:1", "sh", "-c", "touch /x 2>/dev/null || echo ro")
    assert r.stdout.strip() == "ro"
    r = run(root, "--rm", "--memory", "64m", "--pids-limit", "20", "bb:1", "sh", "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert r.stdout.split() == [str(64 * 1024 * 1024), "20"], r.stderr


def test_secure_defaults(root):
    r = run(root, "--rm", "bb:1", "cat", "/proc/self/status")
    status = dict(l.split(":\t", 1) for l in r.stdout.splitlines() if ":\t" in l)
    # docker's default capability set, no_new_privileges, a seccomp filter.
    assert int(status["CapEff"], 16) == 0xa80425fb
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    # By default on bothy's network; with --network none, a namespace with only lo.
    r = run(root, "--rm", "bb:1", "cat", "/proc/net/dev")
    assert "eth0" in r.stdout and "lo" in r.stdout
    r = run(root, "--rm", "--network", "none", "bb:1", "cat", "/proc/net/dev")
    assert "eth0" not in r.stdout and "lo" in r.stdout
    # A denied syscall fails with EPERM even for root with its capabilities.
    r = run(root, "--rm", "bb:1", "sh", "-c", "unshare -n true 2>&1; echo rc=$?")
    assert "rc=0" not in r.stdout


def test_bad_input(root):
    r = run(root, "--rm", "nosuchimage:1", "true")
    assert r.returncode == 125 and "nosuchimage" in r.stderr
    r = run(root, "--rm", "--memory", "1k", "bb:1", "true")
    assert r.returncode == 125 and "memory" in r.stderr
    r = run(root, "--rm", "-u", "nobodyhere", "bb:1", "true")
    assert r.returncode == 125 and "nobodyhere" in r.stderr
    assert os.listdir(os.path.join(root, "containers")) == []


def test_podman_pushes_bothy_pulls_and_runs(workdir):
    """An image podman pushes to a registry, bothy pulls and runs."""
    import shutil

    from images_helpers import Registry
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    reg = Registry(workdir)
    try:
        P = ["podman", "--root", os.path.join(workdir, "podman"), "--runroot",
             os.path.join(workdir, "podman-run"), "--storage-driver", "vfs",
             "--cgroup-manager=cgroupfs", "--events-backend=file"]
        tar = make_tar(os.path.join(workdir, "rootfs.tar"))
        subprocess.run(P + ["import", "-q", tar, "peer/box:1"], check=True, capture_output=True)
        subprocess.run(P + ["push", "-q", "--tls-verify=false", "peer/box:1",
                            f"{reg.host}/peer/box:1"], check=True, capture_output=True,
                       timeout=120)
        root = os.path.join(workdir, "bothy")
        r = subprocess.run([BOTHY, "--root", root, "run", "--rm", "--network", "none",
                            f"{reg.host}/peer/box:1", "sh", "-c",
                            "echo from-podman; ls /bin/busybox"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["from-podman", "/bin/busybox"]
    finally:
        reg.stop()
