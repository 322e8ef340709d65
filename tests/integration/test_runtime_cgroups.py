"""cgroup resources read back from the host's cgroupfs (this host: v1 controllers at
/sys/fs/cgroup/<ctrl>, cgroup2 at /sys/fs/cgroup/unified with hugetlb only), and their
removal at delete.  cgroupsPath is absolute: /bothytest/<id>."""
import os

import pytest

from conftest import assert_nothing_left, cgroup_dirs, v1_path, wait_for


def read(ctrl, cid, name):
    with open(os.path.join(v1_path(ctrl, cid), name)) as f:
        return f.read().strip()


def test_cgroup_path_and_membership(rt, bundle):
    c = rt.start_sleeper(bundle)
    for ctrl in ("memory", "cpu", "pids", "devices", "freezer", "cpuset", "blkio"):
        procs = read(ctrl, c.id, "cgroup.procs").split()
        assert str(c.pid) in procs, ctrl
    out = rt.exec_ok(c.id, "cat", "/proc/self/cgroup")
    assert f"memory:/bothytest/{c.id}" in out


def test_relative_cgroups_path(rt, bundle):
    """No cgroupsPath: runc puts the container under /<id> in every controller."""
    cid = rt.new_id()
    bundle.linux["cgroupsPath"] = f"bothytest/{cid}"   # relative: below the runtime's own
    c = rt.create(bundle, ["sleep", "1000"], cid=cid)
    own = open("/proc/self/cgroup").read()
    pids_base = [l.split(":", 2)[2] for l in own.splitlines() if l.split(":")[1] == "pids"][0]
    p = os.path.join("/sys/fs/cgroup/pids", pids_base.lstrip("/"), "bothytest", cid)
    assert os.path.isdir(p)
    assert str(c.pid) in open(os.path.join(p, "cgroup.procs")).read().split()


def test_memory(rt, bundle):
    bundle.linux["resources"]["memory"] = {"limit": 64 << 20, "reservation": 32 << 20,
                                           "swap": 128 << 20, "swappiness": 10}
    c = rt.create(bundle, ["sleep", "1000"])
    assert int(read("memory", c.id, "memory.limit_in_bytes")) == 64 << 20
    assert int(read("memory", c.id, "memory.soft_limit_in_bytes")) == 32 << 20
    if os.path.exists(os.path.join(v1_path("memory", c.id), "memory.memsw.limit_in_bytes")):
        assert int(read("memory", c.id, "memory.memsw.limit_in_bytes")) == 128 << 20
    assert read("memory", c.id, "memory.swappiness") == "10"
    # seen from inside through the cgroup mount
    rt.ok("start", c.id)
    out = rt.exec_ok(c.id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert int(out) == 64 << 20


def test_memory_limit_enforced(rt, bundle):
    bundle.linux["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    # Fill a tmpfs-free 64 MiB in the shell's memory: the OOM killer ends the container.
    r = rt.run(bundle, ["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"])
    assert "survived" not in r.stdout
    assert r.returncode != 0


def test_cpu(rt, bundle):
    bundle.linux["resources"]["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}
    c = rt.create(bundle, ["sleep", "1000"])
    assert read("cpu", c.id, "cpu.shares") == "512"
    assert read("cpu", c.id, "cpu.cfs_quota_us") == "50000"
    assert read("cpu", c.id, "cpu.cfs_period_us") == "100000"


def test_cpuset(rt, bundle):
    bundle.linux["resources"]["cpu"] = {"cpus": "0", "mems": "0"}
    c = rt.create(bundle, ["sleep", "1000"])
    assert read("cpuset", c.id, "cpuset.cpus") == "0"
    assert read("cpuset", c.id, "cpuset.mems") == "0"
    rt.ok("start", c.id)
    st = rt.exec_ok(c.id, "cat", "/proc/self/status")
    assert "Cpus_allowed_list:\t0\n" in st


def test_pids(rt, bundle):
    bundle.linux["resources"]["pids"] = {"limit": 10}
    c = rt.create(bundle, ["sleep", "1000"])
    assert read("pids", c.id, "pids.max") == "10"


def test_pids_limit_enforced(rt, bundle):
    bundle.linux["resources"]["pids"] = {"limit": 5}
    r = rt.run(bundle, ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait; echo done"],
               timeout=30)
    assert "can't fork" in r.stderr or "Resource temporarily unavailable" in r.stderr, r.stderr


def test_blkio_weight(rt, bundle):
    if not os.path.exists("/sys/fs/cgroup/blkio/blkio.weight") and \
            not os.path.exists("/sys/fs/cgroup/blkio/blkio.bfq.weight"):
        pytest.skip("no blkio.weight on this kernel (no CFQ/BFQ)")
    bundle.linux["resources"]["blockIO"] = {"weight": 500}
    c = rt.create(bundle, ["sleep", "1000"])
    f = "blkio.weight" if os.path.exists(os.path.join(v1_path("blkio", c.id), "blkio.weight")) \
        else "blkio.bfq.weight"
    assert read("blkio", c.id, f).split()[-1] == "500"


def test_devices_deny_then_allow(rt, bundle):
    bundle.linux["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 4, "minor": 64, "access": "rw"},
    ]
    c = rt.create(bundle, ["sleep", "1000"])
    lst = read("devices", c.id, "devices.list").splitlines()
    assert "c 4:64 rw" in lst
    assert "a *:* rwm" not in lst
    rt.ok("start", c.id)
    # A block device node can be made (runc allows "m" on all) but not opened.
    r = rt.exec(c.id, "sh", "-c", "mknod /tmp/vda b 254 0 && head -c 1 /tmp/vda",
                extra=["--cap", "CAP_MKNOD"])
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


def test_devices_allow_all(rt, bundle):
    bundle.linux["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
    c = rt.create(bundle, ["sleep", "1000"])
    assert read("devices", c.id, "devices.list").splitlines() == ["a *:* rwm"]


def test_default_devices_allowed(rt, bundle):
    c = rt.create(bundle, ["sleep", "1000"])
    lst = read("devices", c.id, "devices.list").splitlines()
    for d in ("c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
              "c 5:2 rwm", "c 136:* rwm"):
        assert d in lst, (d, lst)


def test_cgroups_removed_on_delete(rt, bundle):
    bundle.linux["resources"]["memory"] = {"limit": 64 << 20}
    bundle.linux["resources"]["pids"] = {"limit": 50}
    c = rt.start_sleeper(bundle)
    pid = c.pid
    before = cgroup_dirs(c.id)
    assert any("/memory/" in d for d in before) and any("/pids/" in d for d in before)
    rt.ok("delete", "--force", c.id)
    assert_nothing_left(rt, c.id, bundle, pid)


def test_cgroups_removed_after_run(rt, bundle):
    cid = rt.new_id()
    bundle.linux["resources"]["memory"] = {"limit": 64 << 20}
    assert rt.run(bundle, ["true"], cid=cid).returncode == 0
    assert cgroup_dirs(cid) == []


def test_invalid_resource_fails_cleanly(rt, bundle):
    cid = rt.new_id()
    bundle.linux["resources"]["cpu"] = {"cpus": "999"}
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 1
    assert "cpuset" in r.stderr
    assert_nothing_left(rt, cid, bundle)
