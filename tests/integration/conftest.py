"""Fixtures for bothy's black-box integration tests.

The runtime under test is $BOTHY_RUNTIME (default: <repo>/build/bothy-runtime).  Every
test is written and validated against runc first (BOTHY_RUNTIME=/usr/bin/runc), so that
the same tests then hold bothy-runtime to runc's behaviour.

Run as root with Debian's pytest:
    /usr/bin/python3 -m pytest tests/integration
    BOTHY_RUNTIME=/usr/bin/runc /usr/bin/python3 -m pytest tests/integration

Isolation: each test gets a private work dir (0755, under /tmp) holding its bundles and
its `--root` state dir; containers get unique ids and cgroupsPath /bothytest/<id>.  At
teardown every container the test created is `delete --force`d, its cgroup dirs are
removed, anything mounted under the work dir is unmounted, and the work dir is removed.
Nothing else is touched.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers.rootfs import cached_rootfs, copy_rootfs  # noqa: E402
from helpers.spec import default_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RUNTIME = os.environ.get("BOTHY_RUNTIME", str(REPO / "build" / "bothy-runtime"))
CGROUP_ROOT = "/sys/fs/cgroup"
CG_PREFIX = "bothytest"
CONTAINER_TIMEOUT = 60


def runtime_is_runc():
    return os.path.basename(os.path.realpath(RUNTIME)).startswith("runc")


def cgroup_mounts():
    """Directories under /sys/fs/cgroup that are cgroup (v1 or v2) mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype = fields[sep + 1]
            mp = fields[4]
            if fstype in ("cgroup", "cgroup2") and mp.startswith(CGROUP_ROOT + "/"):
                out.append(mp)
    return out


def cgroup_dirs(cid):
    """Every existing cgroup directory for container `cid` (cgroupsPath /bothytest/cid)."""
    return [os.path.join(m, CG_PREFIX, cid) for m in cgroup_mounts()
            if os.path.isdir(os.path.join(m, CG_PREFIX, cid))]


def v1_path(controller, cid):
    return os.path.join(CGROUP_ROOT, controller, CG_PREFIX, cid)


def _rmdir_tree(path):
    """rmdir a cgroup tree bottom-up (cgroupfs dirs can only be rmdir'ed)."""
    if not os.path.isdir(path):
        return
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def mounts_under(prefix):
    """Mount points (host view) at or below `prefix`."""
    res = []
    prefix = prefix.rstrip("/")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix + "/"):
                res.append(mp)
    return res


def pids_in_cgroup_path(cg_path):
    """Host pids whose (any v1 controller) cgroup is `cg_path` or below it."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cgroup") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":", 2)
                    if len(parts) == 3 and (parts[2] == cg_path or parts[2].startswith(cg_path + "/")):
                        pids.append(int(p))
                        break
        except OSError:
            continue
    return pids


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    # A zombie still has a /proc entry; treat it as gone (it has exited).
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def parse_status(text):
    """Parse /proc/<pid>/status output into a dict."""
    d = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            d[k.strip()] = v.strip()
    return d


def parse_mountinfo(text):
    """List of dicts: mountpoint, root, opts (set), optional (list), fstype, source, superopts."""
    res = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10:
            continue
        sep = f.index("-")
        res.append({
            "root": f[3], "mountpoint": f[4].replace("\\040", " "),
            "opts": set(f[5].split(",")), "optional": f[6:sep],
            "fstype": f[sep + 1], "source": f[sep + 2],
            "superopts": set(f[sep + 3].split(",")) if len(f) > sep + 3 else set(),
        })
    return res


def find_mount(mounts, mountpoint):
    """The last (top-most) mount on `mountpoint`."""
    found = [m for m in mounts if m["mountpoint"] == mountpoint]
    assert found, f"{mountpoint} not mounted; have {[m['mountpoint'] for m in mounts]}"
    return found[-1]


class Bundle:
    def __init__(self, path, args=None):
        self.path = str(path)
        self.rootfs = os.path.join(self.path, "rootfs")
        os.makedirs(self.path)
        os.chmod(self.path, 0o755)
        copy_rootfs(self.rootfs)
        self.config = default_spec(args)

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config["linux"]

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)


class Container:
    def __init__(self, rt, cid, bundle, out, err, result):
        self.rt, self.id, self.bundle = rt, cid, bundle
        self.out_path, self.err_path = out, err
        self.result = result

    @property
    def out(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    @property
    def err(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def state(self):
        return self.rt.state(self.id)

    @property
    def pid(self):
        return self.state()["pid"]

    def wait_stopped(self, timeout=10):
        wait_for(lambda: self.rt.state(self.id).get("status") == "stopped", timeout,
                 what=f"{self.id} to stop")


class Runtime:
    """Drives the runtime under test with a private --root; tracks containers for cleanup."""

    def __init__(self, binary, workdir, test_name):
        self.binary = binary
        self.workdir = workdir
        self.root = os.path.join(workdir, "state")
        self.ids = []
        self._n = 0
        self._tag = re.sub(r"[^A-Za-z0-9]+", "-", test_name).strip("-")[-40:].strip("-")

    # -- ids and bundles -------------------------------------------------------
    def new_id(self, tag=None):
        self._n += 1
        cid = f"{tag or self._tag}-{os.getpid()}-{self._n}"
        self.ids.append(cid)
        return cid

    def bundle(self, args=None, name=None):
        self._n += 1
        return Bundle(os.path.join(self.workdir, name or f"bundle{self._n}"), args)

    def _prepare(self, bundle, cid, args):
        if args is not None:
            bundle.process["args"] = list(args)
        bundle.linux.setdefault("cgroupsPath", f"/{CG_PREFIX}/{cid}")
        bundle.write()

    # -- raw invocation --------------------------------------------------------
    def cmd(self, *args, global_args=(), timeout=CONTAINER_TIMEOUT, input=None, **kw):
        argv = [self.binary, "--root", self.root, *global_args, *[str(a) for a in args]]
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        if input is None and "stdin" not in kw:
            kw["stdin"] = subprocess.DEVNULL
        return subprocess.run(argv, timeout=timeout, input=input, text=True, **kw)

    def ok(self, *args, **kw):
        r = self.cmd(*args, **kw)
        assert r.returncode == 0, f"{args} failed rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        return r

    # -- common flows ----------------------------------------------------------
    def run(self, bundle, args=None, cid=None, extra=(), **kw):
        """`run` in the foreground, capturing the container's stdout/stderr."""
        cid = cid or self.new_id()
        self._prepare(bundle, cid, args)
        return self.cmd("run", "-b", bundle.path, *extra, cid, **kw)

    def run_ok(self, bundle, args=None, **kw):
        r = self.run(bundle, args, **kw)
        assert r.returncode == 0, f"run failed rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        return r.stdout

    def create(self, bundle, args=None, cid=None, extra=(), start=False, check=True,
               global_args=(), **kw):
        """`create` (and optionally `start`); the container's stdio goes to files."""
        cid = cid or self.new_id()
        self._prepare(bundle, cid, args)
        out = os.path.join(self.workdir, f"{cid}.out")
        err = os.path.join(self.workdir, f"{cid}.err")
        with open(out, "w") as fo, open(err, "w") as fe:
            r = self.cmd("create", "-b", bundle.path, *extra, cid, stdout=fo, stderr=fe,
                         global_args=global_args, **kw)
        c = Container(self, cid, bundle, out, err, r)
        if check:
            assert r.returncode == 0, f"create failed rc={r.returncode}: {c.err}"
        if start:
            self.ok("start", cid)
        return c

    def start_sleeper(self, bundle=None, args=("sleep", "1000"), **kw):
        bundle = bundle or self.bundle()
        return self.create(bundle, list(args), start=True, **kw)

    def state(self, cid):
        r = self.cmd("state", cid)
        if r.returncode != 0:
            return {}
        return json.loads(r.stdout)

    def exec(self, cid, *args, extra=(), **kw):
        return self.cmd("exec", *extra, cid, *args, **kw)

    def exec_ok(self, cid, *args, extra=(), **kw):
        r = self.exec(cid, *args, extra=extra, **kw)
        assert r.returncode == 0, f"exec failed rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
        return r.stdout

    # -- teardown --------------------------------------------------------------
    def cleanup(self):
        for cid in self.ids:
            try:
                self.cmd("delete", "--force", cid, timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for cid in self.ids:
            for m in cgroup_mounts():
                p = os.path.join(m, CG_PREFIX, cid)
                if os.path.isdir(p):
                    # Only our own container's processes can be in here; they must go.
                    wait_for_empty_cgroup(p)
                    _rmdir_tree(p)
        for m in cgroup_mounts():
            try:
                os.rmdir(os.path.join(m, CG_PREFIX))
            except OSError:
                pass


def wait_for_empty_cgroup(path, timeout=5):
    procs = os.path.join(path, "cgroup.procs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(procs) as f:
                if not f.read().strip():
                    return
        except OSError:
            return
        time.sleep(0.05)


def assert_nothing_left(rt, cid, bundle=None, pid=None):
    """No state dir, no cgroup, no mount under the bundle, no process left."""
    assert not os.path.exists(os.path.join(rt.root, cid)), \
        f"state dir {rt.root}/{cid} left behind: {os.listdir(os.path.join(rt.root, cid))}"
    assert cgroup_dirs(cid) == [], f"cgroups left behind: {cgroup_dirs(cid)}"
    if bundle is not None:
        assert mounts_under(bundle.path) == [], f"mounts left: {mounts_under(bundle.path)}"
    left = pids_in_cgroup_path(f"/{CG_PREFIX}/{cid}")
    assert left == [], f"processes left in /{CG_PREFIX}/{cid}: {left}"
    if pid:
        assert not pid_alive(pid), f"container process {pid} still alive"
    assert rt.state(cid) == {}, "state still reports the container"


@pytest.fixture(scope="session")
def runtime_binary():
    if not (os.path.isfile(RUNTIME) and os.access(RUNTIME, os.X_OK)):
        pytest.exit(f"runtime under test not found: {RUNTIME} (build it, or set BOTHY_RUNTIME)",
                    returncode=2)
    if os.geteuid() != 0:
        pytest.exit("integration tests must run as root", returncode=2)
    cached_rootfs()
    return RUNTIME


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="bothy-it-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    for mp in sorted(mounts_under(d), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def rt(runtime_binary, workdir, request):
    r = Runtime(runtime_binary, workdir, request.node.name)
    os.makedirs(r.root, mode=0o700)
    yield r
    r.cleanup()


@pytest.fixture
def bundle(rt):
    return rt.bundle()


@pytest.fixture
def host_ns():
    return {n: os.readlink(f"/proc/self/ns/{n}") for n in os.listdir("/proc/self/ns")}


def pytest_configure(config):
    config.addinivalue_line("markers", "not_runc: relies on behaviour runc does not have")
    config.addinivalue_line("markers", "peers: drives podman / containerd with the runtime")


def pytest_collection_modifyitems(config, items):
    if not runtime_is_runc():
        return
    skip = pytest.mark.skip(reason="runc 1.1 does not do this (bothy does)")
    for item in items:
        if "not_runc" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"runtime under test: {RUNTIME}"
