"""Mounts with options and propagation, the root filesystem, default devices and /dev
symlinks, masked and read-only paths; checked through /proc/self/mountinfo inside."""
import os
import subprocess

import pytest

from conftest import find_mount, parse_mountinfo, wait_for


def mountinfo(rt, bundle, **kw):
    return parse_mountinfo(rt.run_ok(bundle, ["cat", "/proc/self/mountinfo"], **kw))


def test_default_mounts(rt, bundle):
    mi = mountinfo(rt, bundle)
    assert find_mount(mi, "/proc")["fstype"] == "proc"
    dev = find_mount(mi, "/dev")
    assert dev["fstype"] == "tmpfs" and "nosuid" in dev["opts"]
    assert "mode=755" in dev["superopts"]
    pts = find_mount(mi, "/dev/pts")
    assert pts["fstype"] == "devpts"
    assert {"nosuid", "noexec"} <= pts["opts"]
    assert "ptmxmode=666" in pts["superopts"] and "mode=620" in pts["superopts"]
    shm = find_mount(mi, "/dev/shm")
    assert shm["fstype"] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= shm["opts"]
    assert "size=65536k" in shm["superopts"]
    assert find_mount(mi, "/dev/mqueue")["fstype"] == "mqueue"
    sys_ = find_mount(mi, "/sys")
    assert sys_["fstype"] == "sysfs" and "ro" in sys_["opts"]
    root = find_mount(mi, "/")
    assert "rw" in root["opts"]


def test_readonly_rootfs(rt, bundle):
    bundle.config["root"]["readonly"] = True
    r = rt.run(bundle, ["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo; touch /x"])
    assert r.returncode != 0
    assert "Read-only file system" in r.stderr
    root = parse_mountinfo(r.stdout)[0]
    assert "ro" in root["opts"]
    # tmpfs mounts on top stay writable
    b2 = rt.bundle()
    b2.config["root"]["readonly"] = True
    assert rt.run_ok(b2, ["sh", "-c", "echo x > /dev/shm/x && cat /dev/shm/x"]).strip() == "x"


def test_tmpfs_size_mode(rt, bundle):
    bundle.config["mounts"].append({"destination": "/data/tmp", "type": "tmpfs",
                                    "source": "tmpfs",
                                    "options": ["nosuid", "nodev", "noexec", "size=1m",
                                                "mode=1770"]})
    out = rt.run_ok(bundle, ["sh", "-c", "stat -c %a /data/tmp; cat /proc/self/mountinfo"])
    lines = out.splitlines()
    assert lines[0] == "1770"
    m = find_mount(parse_mountinfo("\n".join(lines[1:])), "/data/tmp")
    assert m["fstype"] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= m["opts"]
    assert "size=1024k" in m["superopts"] and "mode=1770" in m["superopts"]


def test_bind_mount_options(rt, bundle, workdir):
    src = os.path.join(workdir, "hostdata")
    os.makedirs(os.path.join(src, "sub"))
    with open(os.path.join(src, "file"), "w") as f:
        f.write("from-host\n")
    bundle.config["mounts"] += [
        {"destination": "/ro", "type": "bind", "source": src,
         "options": ["bind", "ro", "nosuid", "nodev", "noexec"]},
        {"destination": "/rw", "type": "none", "source": src, "options": ["rbind", "rw"]},
    ]
    r = rt.run(bundle, ["sh", "-c", "cat /ro/file; touch /ro/x; echo t=$?; "
                        "echo new > /rw/created; cat /proc/self/mountinfo"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "from-host"
    assert lines[1] == "t=1"
    mi = parse_mountinfo("\n".join(lines[2:]))
    ro = find_mount(mi, "/ro")
    assert {"ro", "nosuid", "nodev", "noexec"} <= ro["opts"]
    rw = find_mount(mi, "/rw")
    assert "rw" in rw["opts"]
    assert open(os.path.join(src, "created")).read() == "new\n"


def test_bind_mount_file(rt, bundle, workdir):
    src = os.path.join(workdir, "hosts")
    with open(src, "w") as f:
        f.write("10.1.2.3 bound\n")
    bundle.config["mounts"].append({"destination": "/etc/hosts", "type": "bind",
                                    "source": src, "options": ["rbind", "ro"]})
    assert rt.run_ok(bundle, ["cat", "/etc/hosts"]) == "10.1.2.3 bound\n"


def test_mount_destination_created(rt, bundle, workdir):
    bundle.config["mounts"].append({"destination": "/a/b/c", "type": "tmpfs",
                                    "source": "tmpfs", "options": []})
    mi = mountinfo(rt, bundle)
    assert find_mount(mi, "/a/b/c")["fstype"] == "tmpfs"


def test_mount_symlink_escape_stays_inside(rt, bundle, workdir):
    """A destination through a symlink pointing outside resolves inside the rootfs."""
    os.symlink("/../../../../../../tmp/escape-target", os.path.join(bundle.rootfs, "link"))
    bundle.config["mounts"].append({"destination": "/link", "type": "tmpfs",
                                    "source": "tmpfs", "options": []})
    r = rt.run(bundle, ["true"])
    assert not os.path.exists("/tmp/escape-target") or not os.path.ismount("/tmp/escape-target")


@pytest.fixture
def shared_dir(workdir):
    """A host directory that is a shared mount (bind on itself + make-shared)."""
    d = os.path.join(workdir, "shared")
    os.mkdir(d)
    subprocess.run(["mount", "--bind", d, d], check=True)
    subprocess.run(["mount", "--make-shared", d], check=True)
    yield d
    subprocess.run(["umount", "-R", "-l", d])


@pytest.mark.parametrize("prop, expect_seen", [("rslave", True), ("rshared", True),
                                                ("rprivate", False)])
def test_mount_propagation(rt, bundle, shared_dir, prop, expect_seen):
    bundle.config["mounts"].append({"destination": "/shared", "type": "bind",
                                    "source": shared_dir, "options": ["rbind", prop]})
    bundle.linux["rootfsPropagation"] = "slave"
    c = rt.create(bundle, ["sh", "-c", "grep ' /shared ' /proc/self/mountinfo; echo ready; "
                                       "while :; do [ -e /shared/sub/marker ] && "
                                       "echo seen && break; sleep 0.1; done; sleep 1000"],
                  start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    m = parse_mountinfo(c.out.splitlines()[0])[0]
    if prop == "rslave":
        assert any(o.startswith("master:") for o in m["optional"]), m
        assert not any(o.startswith("shared:") for o in m["optional"]), m
    elif prop == "rshared":
        assert any(o.startswith("shared:") for o in m["optional"]), m
    else:
        assert m["optional"] == [], m
    sub = os.path.join(shared_dir, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", sub], check=True)
    open(os.path.join(sub, "marker"), "w").close()
    if expect_seen:
        wait_for(lambda: "seen" in c.out, timeout=5, what="host mount propagated")
    else:
        import time
        time.sleep(0.5)
        assert "seen" not in c.out


def test_default_devices(rt, bundle):
    out = rt.run_ok(bundle, ["sh", "-c", "for d in null zero full random urandom tty; do "
                             "stat -c '%n %F %t %T %a' /dev/$d; done"])
    got = {l.split()[0]: l.split()[1:] for l in out.splitlines()}
    want = {"null": ("1", "3"), "zero": ("1", "5"), "full": ("1", "7"),
            "random": ("1", "8"), "urandom": ("1", "9"), "tty": ("5", "0")}
    for name, (ma, mi) in want.items():
        f = got[f"/dev/{name}"]
        assert f[:3] == ["character", "special", "file"], f
        assert (str(int(f[3], 16)), str(int(f[4], 16))) == (ma, mi), (name, f)
        assert f[5] == "666", (name, f)


def test_default_devices_work(rt, bundle):
    out = rt.run_ok(bundle, ["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c; "
                             "head -c 8 /dev/urandom | wc -c; echo y > /dev/full; echo full=$?"])
    assert out.split() == ["4", "8", "full=1"]


def test_dev_symlinks(rt, bundle):
    out = rt.run_ok(bundle, ["sh", "-c", "for l in fd stdin stdout stderr ptmx core; do "
                             "echo $l $(readlink /dev/$l); done"])
    links = dict((l.split(" ", 1) + [""])[:2] for l in out.splitlines())
    assert links["fd"] == "/proc/self/fd"
    assert links["stdin"] == "/proc/self/fd/0"
    assert links["stdout"] == "/proc/self/fd/1"
    assert links["stderr"] == "/proc/self/fd/2"
    assert links["ptmx"] == "pts/ptmx"


def test_dev_is_private_and_minimal(rt, bundle):
    out = rt.run_ok(bundle, ["ls", "/dev"])
    names = set(out.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
            "ptmx", "fd", "stdin", "stdout", "stderr"} <= names
    assert not ({"sda", "vda", "mem", "kmsg", "loop0"} & names), names


def test_extra_device(rt, bundle):
    bundle.linux["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                "fileMode": 0o640, "uid": 0, "gid": 0}]
    bundle.linux["resources"]["devices"].append({"allow": True, "type": "c", "major": 1,
                                                 "minor": 3, "access": "rwm"})
    out = rt.run_ok(bundle, ["sh", "-c", "stat -c '%F %t %T %a' /dev/mynull; echo hi > /dev/mynull"])
    assert out.split() == ["character", "special", "file", "1", "3", "640"]


def test_masked_paths(rt, bundle):
    # This kernel has no /proc/kcore; check every masked file the host does have.
    files = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list",
                         "/proc/latency_stats", "/proc/sched_debug") if os.path.isfile(p)]
    assert files
    script = "; ".join(f"echo $(wc -c < {p}) $(stat -c '%F %t %T' {p})" for p in files)
    out = rt.run_ok(bundle, ["sh", "-c", script + "; ls /proc/acpi | wc -l; ls /sys/firmware | wc -l"])
    lines = out.splitlines()
    for p, line in zip(files, lines):
        assert line == "0 character special file 1 3", (p, line)   # /dev/null bound over
    assert lines[-2].strip() == "0" and lines[-1].strip() == "0"


def test_masked_nonexistent_path_ignored(rt, bundle):
    bundle.linux["maskedPaths"].append("/proc/no-such-file")
    bundle.linux["readonlyPaths"].append("/proc/no-such-dir")
    assert rt.run_ok(bundle, ["echo", "ok"]) == "ok\n"


def test_masked_dir_is_readonly_tmpfs(rt, bundle):
    mi = mountinfo(rt, bundle)
    m = find_mount(mi, "/sys/firmware")
    assert m["fstype"] == "tmpfs" and "ro" in m["opts"]


def test_readonly_paths(rt, bundle):
    r = rt.run(bundle, ["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid; echo rc=$?; "
                        "cat /proc/self/mountinfo"])
    assert "rc=1" in r.stdout
    assert "Read-only file system" in r.stderr
    mi = parse_mountinfo("\n".join(r.stdout.splitlines()[1:]))
    for p in ("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger"):
        if not os.path.exists(p):   # e.g. no /proc/sysrq-trigger on this kernel
            continue
        m = find_mount(mi, p)
        assert "ro" in m["opts"], p


def test_custom_masked_and_readonly(rt, bundle):
    bundle.linux["maskedPaths"] = ["/etc/passwd", "/home"]
    bundle.linux["readonlyPaths"] = ["/tmp"]
    r = rt.run(bundle, ["sh", "-c", "wc -c < /etc/passwd; ls -A /home | wc -l; touch /tmp/x"])
    assert r.stdout.split()[:2] == ["0", "0"]
    assert r.returncode != 0 and "Read-only" in r.stderr


def test_no_pivot_mounts(rt, bundle):
    mi = mountinfo(rt, bundle, extra=["--no-pivot"])
    assert find_mount(mi, "/proc")["fstype"] == "proc"


def test_cgroup_mount_v1(rt, bundle):
    """The cgroup mount shows the container's own cgroups, read-only."""
    out = rt.run_ok(bundle, ["sh", "-c", "ls /sys/fs/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"])
    names = out.split()
    assert {"memory", "cpu", "pids", "devices"} <= set(names)
