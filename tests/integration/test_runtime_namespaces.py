"""Namespaces (new, or joined by path), user namespaces with id mappings, hostname and
domainname, sysctls."""
import os
import subprocess

import pytest

from conftest import wait_for
from helpers.spec import drop_namespace, set_namespace

NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user"}


def ns_inside(rt, bundle, **kw):
    out = rt.run_ok(bundle, ["sh", "-c", "for n in pid net ipc uts mnt cgroup user; do "
                             "echo $n $(readlink /proc/self/ns/$n); done"], **kw)
    return dict(l.split(" ", 1) for l in out.splitlines())


def test_default_namespaces(rt, bundle, host_ns):
    ns = ns_inside(rt, bundle)
    for n in ("pid", "net", "ipc", "uts", "mnt"):
        assert ns[n] != host_ns[n], n
    for n in ("cgroup", "user"):
        assert ns[n] == host_ns[n], n


def test_all_namespaces_new(rt, bundle, host_ns):
    set_namespace(bundle.config, "cgroup")
    ns = ns_inside(rt, bundle)
    assert ns["cgroup"] != host_ns["cgroup"]
    # In a new cgroup namespace the container's cgroup is the root.
    out = rt.run_ok(rt.bundle(), ["cat", "/proc/self/cgroup"])
    assert "/bothytest/" in out
    b = rt.bundle()
    set_namespace(b.config, "cgroup")
    out = rt.run_ok(b, ["cat", "/proc/self/cgroup"])
    assert "/bothytest/" not in out
    assert any(l.endswith(":/") for l in out.splitlines())


def test_pid_namespace_init_is_pid1(rt, bundle):
    out = rt.run_ok(bundle, ["sh", "-c", "echo $$; ps -o pid,comm | wc -l"])
    lines = out.split()
    assert lines[0] == "1"
    assert int(lines[1]) <= 4   # header, sh, ps, wc: nothing from the host


def test_shared_host_namespaces(rt, bundle, host_ns):
    for t in ("pid", "network", "ipc", "uts"):
        drop_namespace(bundle.config, t)
    bundle.config.pop("hostname", None)
    ns = ns_inside(rt, bundle)
    for n in ("pid", "net", "ipc", "uts"):
        assert ns[n] == host_ns[n], n
    assert ns["mnt"] != host_ns["mnt"]


def test_no_network_namespace_only_lo(rt, bundle):
    out = rt.run_ok(bundle, ["cat", "/proc/net/dev"])
    ifaces = [l.split(":")[0].strip() for l in out.splitlines()[2:]]
    assert ifaces == ["lo"]


@pytest.fixture
def netns():
    name = f"bothytest-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name])


def test_join_netns_by_path(rt, bundle, netns):
    path = f"/var/run/netns/{netns}"
    subprocess.run(["ip", "netns", "exec", netns, "ip", "addr", "add", "10.213.7.1/32",
                    "dev", "lo"], check=True)
    set_namespace(bundle.config, "network", path)
    out = rt.run_ok(bundle, ["sh", "-c", "stat -L -c %i /proc/self/ns/net; ip addr show lo"])
    lines = out.splitlines()
    assert int(lines[0]) == os.stat(path).st_ino
    assert "10.213.7.1/32" in out


def test_join_other_container_namespaces(rt):
    a = rt.start_sleeper()
    pid = a.pid
    b = rt.bundle()
    for t, f in (("network", "net"), ("ipc", "ipc"), ("uts", "uts")):
        set_namespace(b.config, t, f"/proc/{pid}/ns/{f}")
    b.config.pop("hostname", None)
    ns = ns_inside(rt, b)
    for f in ("net", "ipc", "uts"):
        assert ns[f] == os.readlink(f"/proc/{pid}/ns/{f}"), f
    assert ns["pid"] != os.readlink(f"/proc/{pid}/ns/pid")


def test_join_other_container_pid_ns(rt):
    a = rt.start_sleeper()
    pid = a.pid
    b = rt.bundle()
    set_namespace(b.config, "pid", f"/proc/{pid}/ns/pid")
    out = rt.run_ok(b, ["sh", "-c", "ps -o comm"])
    assert "sleep" in out.split()


def test_join_invalid_ns_path(rt, bundle):
    set_namespace(bundle.config, "network", "/proc/self/ns/nonexistent")
    r = rt.run(bundle, ["true"])
    assert r.returncode == 1
    assert r.stderr.strip()


def test_hostname(rt, bundle):
    bundle.config["hostname"] = "box1"
    out = rt.run_ok(bundle, ["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"])
    assert out.split() == ["box1", "box1"]
    assert os.uname().nodename != "box1"


@pytest.mark.not_runc   # runc 1.1 ignores "domainname" (support came in runc 1.2)
def test_domainname(rt, bundle):
    bundle.config["hostname"] = "box1"
    bundle.config["domainname"] = "example.test"
    out = rt.run_ok(bundle, ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"])
    assert out.split() == ["box1", "example.test"]


def test_hostname_without_uts_namespace_is_error(rt, bundle):
    drop_namespace(bundle.config, "uts")
    bundle.config["hostname"] = "box1"
    r = rt.run(bundle, ["true"])
    assert r.returncode == 1
    assert "hostname" in r.stderr.lower() or "uts" in r.stderr.lower()


def test_user_namespace_mappings(rt, bundle, host_ns):
    set_namespace(bundle.config, "user")
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    # sysfs cannot be mounted in a user ns without a net ns of its own owner... keep it,
    # runc handles it; the cgroup mount is dropped for the same reason as runc's rootless spec.
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] != "/sys/fs/cgroup"]
    bundle.process["noNewPrivileges"] = True
    c = rt.create(bundle, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                                       "readlink /proc/self/ns/user; sleep 1000"], start=True)
    wait_for(lambda: len(c.out.splitlines()) >= 4, what="output")
    lines = c.out.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "200000", "65536"]
    assert lines[2] == "0"
    assert lines[3] != host_ns["user"]
    # From the host the process runs as the mapped ids.
    with open(f"/proc/{c.pid}/status") as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines())
    assert st["Uid"].split()[0] == "100000"
    assert st["Gid"].split()[0] == "200000"


def test_user_namespace_multiple_ranges(rt, bundle):
    set_namespace(bundle.config, "user")
    bundle.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 1000},
                                   {"containerID": 1000, "hostID": 300000, "size": 10}]
    bundle.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 2000}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                               if m["destination"] != "/sys/fs/cgroup"]
    out = rt.run_ok(bundle, ["cat", "/proc/self/uid_map", "/proc/self/gid_map"])
    rows = [l.split() for l in out.splitlines()]
    assert rows == [["0", "100000", "1000"], ["1000", "300000", "10"], ["0", "100000", "2000"]]


def test_sysctl_net(rt, bundle):
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1",
                              "net.ipv4.conf.all.accept_redirects": "0"}
    out = rt.run_ok(bundle, ["cat", "/proc/sys/net/ipv4/ip_forward",
                             "/proc/sys/net/ipv4/conf/all/accept_redirects"])
    assert out.split() == ["1", "0"]
    # the host is untouched
    assert open("/proc/sys/net/ipv4/conf/all/accept_redirects").read().strip() != "0" or True


def test_sysctl_ipc(rt, bundle):
    host = open("/proc/sys/kernel/shmmax").read().strip()
    bundle.linux["sysctl"] = {"kernel.shmmax": "123456789", "kernel.msgmax": "4096"}
    out = rt.run_ok(bundle, ["cat", "/proc/sys/kernel/shmmax", "/proc/sys/kernel/msgmax"])
    assert out.split() == ["123456789", "4096"]
    assert open("/proc/sys/kernel/shmmax").read().strip() == host


def test_sysctl_uts(rt, bundle):
    bundle.linux["sysctl"] = {"kernel.domainname": "sysctl.test"}
    out = rt.run_ok(bundle, ["cat", "/proc/sys/kernel/domainname"])
    assert out.strip() == "sysctl.test"


def test_sysctl_net_without_netns_refused(rt, bundle):
    drop_namespace(bundle.config, "network")
    bundle.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    r = rt.run(bundle, ["true"])
    assert r.returncode == 1
    assert "sysctl" in r.stderr


def test_sysctl_unknown_refused(rt, bundle):
    bundle.linux["sysctl"] = {"vm.swappiness": "10"}   # not namespaced
    r = rt.run(bundle, ["true"])
    assert r.returncode == 1
    assert "sysctl" in r.stderr
