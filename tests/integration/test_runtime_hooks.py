"""Hooks of all six kinds: their order, the state JSON they get on stdin (id, pid,
status, bundle), their args and env, failures, and timeouts."""
import json
import os
import time

import pytest

from conftest import assert_nothing_left, wait_for

KINDS = ["createRuntime", "createContainer", "startContainer", "prestart", "poststart",
         "poststop"]


def hook(logdir, name, extra="", timeout=None):
    """A hook that appends its name to the log and saves its stdin (the state).

    /bin/sh is dash on the host and busybox sh in the container (startContainer hooks
    run inside the container); the log dir is bind-mounted at the same path inside."""
    script = (f"echo {name} >> {logdir}/order; cat > {logdir}/{name}.json; "
              f"echo \"$0 $1 $HOOKVAR\" > {logdir}/{name}.env; {extra}")
    h = {"path": "/bin/sh", "args": ["sh", "-c", script, "arg0", "arg1"],
         "env": ["HOOKVAR=hv-" + name, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
    if timeout is not None:
        h["timeout"] = timeout
    return h


@pytest.fixture
def logdir(workdir):
    d = os.path.join(workdir, "hooklog")
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


def with_hooks(bundle, logdir, kinds=KINDS):
    bundle.config["hooks"] = {k: [hook(logdir, k)] for k in kinds}
    bundle.config["mounts"].append({"destination": logdir, "type": "bind", "source": logdir,
                                    "options": ["rbind", "rw"]})


def order(logdir):
    p = os.path.join(logdir, "order")
    return open(p).read().split() if os.path.exists(p) else []


def state_of(logdir, name):
    return json.load(open(os.path.join(logdir, f"{name}.json")))


def check_state(st, c, pid, bundle, status):
    assert st["id"] == c.id
    assert st["pid"] == pid
    assert st["status"] == status
    assert st["bundle"] == bundle.path
    assert st["ociVersion"].startswith("1.")


def test_hook_order_and_state(rt, bundle, logdir):
    with_hooks(bundle, logdir)
    c = rt.create(bundle, ["sh", "-c", f"echo main >> {logdir}/order; sleep 1000"])
    # create runs prestart, createRuntime, createContainer, in that order (prestart is the
    # deprecated alias of createRuntime; runc runs it first).
    created = order(logdir)
    assert created[:3] == ["prestart", "createRuntime", "createContainer"], created
    assert "startContainer" not in created and "main" not in created
    pid = c.pid
    for k in ("prestart", "createRuntime"):
        check_state(state_of(logdir, k), c, pid, bundle, "creating")
    # createContainer runs in the container's namespaces: runc gives the pid seen there (1).
    st = state_of(logdir, "createContainer")
    check_state(st, c, st["pid"], bundle, "creating")
    assert st["pid"] in (1, pid)
    rt.ok("start", c.id)
    wait_for(lambda: "main" in order(logdir), what="main process")
    wait_for(lambda: "poststart" in order(logdir), what="poststart")
    o = order(logdir)
    assert o.index("startContainer") < o.index("main")
    assert o.index("startContainer") > o.index("createContainer")
    assert o.index("poststart") > o.index("createContainer")
    # startContainer runs inside the container; runc gives it the pid as seen in there (1).
    st = state_of(logdir, "startContainer")
    check_state(st, c, st["pid"], bundle, "created")
    assert st["pid"] in (1, pid)
    assert state_of(logdir, "poststart")["pid"] == pid
    assert "poststop" not in o
    rt.ok("kill", c.id, "KILL")
    c.wait_stopped()
    rt.ok("delete", c.id)
    o = order(logdir)
    assert o[-1] == "poststop"
    st = state_of(logdir, "poststop")
    assert st["id"] == c.id and st["status"] == "stopped" and st["bundle"] == bundle.path
    assert_nothing_left(rt, c.id, bundle, pid)


@pytest.mark.not_runc   # runc 1.1 runs poststart at create time (fixed in runc 1.2)
def test_poststart_after_start(rt, bundle, logdir):
    """The spec: poststart runs after the user process has started, in `start`."""
    with_hooks(bundle, logdir)
    c = rt.create(bundle, ["sh", "-c", f"echo main >> {logdir}/order; sleep 1000"])
    assert order(logdir) == ["prestart", "createRuntime", "createContainer"]
    rt.ok("start", c.id)
    # `start` returns only after poststart has run.
    o = order(logdir)
    assert o[3] == "startContainer" and o[-1] == "poststart" or o[-2:] == ["poststart", "main"]
    check_state(state_of(logdir, "poststart"), c, c.pid, bundle, "running")


def test_hooks_with_run(rt, bundle, logdir):
    with_hooks(bundle, logdir)
    r = rt.run(bundle, ["sh", "-c", f"echo main >> {logdir}/order"])
    assert r.returncode == 0, r.stderr
    o = order(logdir)
    assert o[:3] == ["prestart", "createRuntime", "createContainer"], o
    assert o[-1] == "poststop"
    assert o.index("startContainer") < o.index("main")
    assert sorted(o) == sorted(KINDS + ["main"])


def test_hook_args_and_env(rt, bundle, logdir):
    with_hooks(bundle, logdir, ["createRuntime", "startContainer"])
    assert rt.run(bundle, ["true"]).returncode == 0
    assert open(os.path.join(logdir, "createRuntime.env")).read().split() == \
        ["arg0", "arg1", "hv-createRuntime"]
    assert open(os.path.join(logdir, "startContainer.env")).read().split() == \
        ["arg0", "arg1", "hv-startContainer"]


def test_hook_namespaces(rt, bundle, logdir):
    """createRuntime runs in the runtime's namespaces; startContainer in the container's."""
    with_hooks(bundle, logdir, [])
    bundle.config["hooks"] = {
        k: [{"path": "/bin/sh", "args": ["sh", "-c",
                                        f"readlink /proc/self/ns/mnt > {logdir}/{k}.mnt; "
                                        f"readlink /proc/self/ns/uts > {logdir}/{k}.uts; "
                                        f"hostname > {logdir}/{k}.host"]}]
        for k in ("createRuntime", "createContainer", "startContainer", "poststart")}
    bundle.config["hostname"] = "hookbox"
    cid = rt.new_id()
    assert rt.run(bundle, ["true"], cid=cid).returncode == 0

    def rd(k, what):
        return open(os.path.join(logdir, f"{k}.{what}")).read().strip()
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert rd("createRuntime", "mnt") == host_mnt
    assert rd("poststart", "mnt") == host_mnt
    assert rd("createContainer", "mnt") != host_mnt
    assert rd("startContainer", "mnt") != host_mnt
    assert rd("startContainer", "host") == "hookbox"
    # (runc sets the hostname after createContainer: only the namespace is checked)
    assert rd("createContainer", "uts") != os.readlink("/proc/self/ns/uts")
    assert rd("createRuntime", "host") == os.uname().nodename


def test_multiple_hooks_same_kind_in_order(rt, bundle, logdir):
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo {i} >> {logdir}/order"]}
        for i in range(5)]}
    assert rt.run(bundle, ["true"]).returncode == 0
    assert order(logdir) == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook(rt, bundle, logdir, kind):
    cid = rt.new_id()
    bundle.config["hooks"] = {kind: [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}],
                              "poststop": [hook(logdir, "poststop")]}
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 1
    assert "hook" in r.stderr.lower()
    assert_nothing_left(rt, cid, bundle)


def test_failing_poststart_hook(rt, bundle, logdir):
    """runc: a failing poststart hook fails `start`/`run`; the container is torn down."""
    cid = rt.new_id()
    bundle.config["hooks"] = {"poststart": [{"path": "/bin/false"}]}
    r = rt.run(bundle, ["sleep", "1000"], cid=cid, timeout=30)
    assert r.returncode != 0
    assert_nothing_left(rt, cid, bundle)


def test_failing_poststop_hook_is_only_a_warning(rt, bundle, logdir):
    cid = rt.new_id()
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"},
                                           hook(logdir, "second")]}
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 0, r.stderr
    assert_nothing_left(rt, cid, bundle)


def test_hook_timeout(rt, bundle, logdir):
    cid = rt.new_id()
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    t0 = time.monotonic()
    r = rt.run(bundle, ["true"], cid=cid, timeout=30)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1
    assert "timed out" in r.stderr or "timeout" in r.stderr.lower()
    assert elapsed < 10, elapsed
    assert_nothing_left(rt, cid, bundle)


def test_hook_within_timeout(rt, bundle, logdir):
    bundle.config["hooks"] = {"createRuntime": [hook(logdir, "quick", timeout=5)]}
    assert rt.run(bundle, ["true"]).returncode == 0
    assert order(logdir) == ["quick"]


def test_hook_missing_binary(rt, bundle):
    cid = rt.new_id()
    bundle.config["hooks"] = {"createRuntime": [{"path": "/no/such/hook"}]}
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 1
    assert_nothing_left(rt, cid, bundle)
