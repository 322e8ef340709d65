"""Lifecycle: kill (names, numbers, --all), pause/resume, ps, delete (--force), and that
delete leaves nothing behind (state dir, cgroups, processes)."""
import json
import os
import subprocess

import pytest

from conftest import (assert_nothing_left, cgroup_dirs, pid_alive, pids_in_cgroup_path,
                      v1_path, wait_for)

# The init traps TERM and reports it through its stdout file before exiting 0.
TRAP_TERM = ["sh", "-c", "trap 'echo got-TERM; exit 0' TERM; echo ready; "
             "while :; do sleep 0.1; done"]


@pytest.mark.parametrize("sig", ["SIGTERM", "TERM", "15"])
def test_kill_signal_forms(rt, bundle, sig):
    c = rt.create(bundle, TRAP_TERM, start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    pid = c.pid
    rt.ok("kill", c.id, sig)
    c.wait_stopped()
    assert "got-TERM" in c.out
    assert not pid_alive(pid)


def test_kill_default_is_term(rt, bundle):
    c = rt.create(bundle, TRAP_TERM, start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    rt.ok("kill", c.id)
    c.wait_stopped()
    assert "got-TERM" in c.out


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_sigkill(rt, bundle, sig):
    c = rt.start_sleeper(bundle)
    rt.ok("kill", c.id, sig)
    c.wait_stopped()


def test_kill_usr1_number_and_name(rt, bundle):
    c = rt.create(bundle, ["sh", "-c", "trap 'echo usr1' USR1; trap 'echo usr2' USR2; "
                           "echo ready; while :; do sleep 0.1; done"], start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    rt.ok("kill", c.id, "USR1")
    wait_for(lambda: "usr1" in c.out, what="usr1")
    rt.ok("kill", c.id, "12")
    wait_for(lambda: "usr2" in c.out, what="usr2")
    assert c.state()["status"] == "running"


def test_kill_created_container(rt, bundle):
    c = rt.create(bundle, ["sleep", "1000"])
    rt.ok("kill", c.id, "KILL")
    c.wait_stopped()


def test_kill_all(rt, bundle):
    # Share the host pid namespace so killing init would not take the children with it.
    bundle.linux["namespaces"] = [n for n in bundle.linux["namespaces"] if n["type"] != "pid"]
    c = rt.create(bundle, ["sh", "-c", "sleep 1000 & sleep 1000 & echo ready; wait"],
                  start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    cg = f"/bothytest/{c.id}"
    wait_for(lambda: len(pids_in_cgroup_path(cg)) == 3, what="3 processes")
    rt.ok("kill", "--all", c.id, "KILL")
    wait_for(lambda: pids_in_cgroup_path(cg) == [], what="all processes gone")
    c.wait_stopped()


def test_pause_resume(rt, bundle):
    c = rt.create(bundle, ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; "
                           "sleep 0.05; done"], start=True)
    freezer = os.path.join(v1_path("freezer", c.id), "freezer.state")
    rt.ok("pause", c.id)
    assert c.state()["status"] == "paused"
    assert open(freezer).read().strip() == "FROZEN"
    n1 = open(os.path.join(bundle.rootfs, "tmp/n")).read()
    import time
    time.sleep(0.3)
    assert open(os.path.join(bundle.rootfs, "tmp/n")).read() == n1
    lst = json.loads(rt.ok("list", "--format", "json").stdout)
    assert lst[0]["status"] == "paused"
    rt.ok("resume", c.id)
    assert c.state()["status"] == "running"
    assert open(freezer).read().strip() == "THAWED"
    wait_for(lambda: open(os.path.join(bundle.rootfs, "tmp/n")).read() != n1,
             what="progress after resume")


def test_pause_resume_errors(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.cmd("resume", c.id)            # running, not paused
    assert r.returncode == 1
    assert "not paused" in r.stderr
    rt.ok("kill", c.id, "KILL")
    c.wait_stopped()
    r = rt.cmd("pause", c.id)             # stopped
    assert r.returncode == 1
    assert "not running" in r.stderr
    r = rt.cmd("resume", c.id)
    assert r.returncode == 1
    assert "not paused" in r.stderr


def test_pause_created(rt, bundle):
    """runc 1.1 lets a created container be paused (and resumed back to created)."""
    c = rt.create(bundle, ["sleep", "1000"])
    rt.ok("pause", c.id)
    assert c.state()["status"] == "paused"
    rt.ok("resume", c.id)
    assert c.state()["status"] == "created"


def test_delete_paused_force(rt, bundle):
    c = rt.start_sleeper(bundle)
    pid = c.pid
    rt.ok("pause", c.id)
    rt.ok("delete", "--force", c.id)
    assert_nothing_left(rt, c.id, bundle, pid)


def test_ps(rt, bundle):
    c = rt.create(bundle, ["sh", "-c", "sleep 1000 & echo ready; wait"], start=True)
    wait_for(lambda: "ready" in c.out, what="ready")
    init = c.pid
    wait_for(lambda: len(pids_in_cgroup_path(f"/bothytest/{c.id}")) == 2, what="2 procs")
    pids = json.loads(rt.ok("ps", "--format", "json", c.id).stdout)
    assert isinstance(pids, list)
    assert init in pids and len(pids) == 2
    assert set(pids) == set(pids_in_cgroup_path(f"/bothytest/{c.id}"))
    table = rt.ok("ps", c.id).stdout.splitlines()
    assert "PID" in table[0].split()
    assert len(table) == 3
    assert any("sleep 1000" in l for l in table[1:])


def test_ps_table_ps_options(rt, bundle):
    c = rt.start_sleeper(bundle)
    out = rt.ok("ps", c.id, "-o", "pid,comm").stdout.splitlines()
    assert out[0].split() == ["PID", "COMMAND"]
    assert out[1].split() == [str(c.pid), "sleep"]


def test_delete_stopped(rt, bundle):
    c = rt.create(bundle, ["true"], start=True)
    c.wait_stopped()
    assert cgroup_dirs(c.id), "cgroup should exist until delete"
    rt.ok("delete", c.id)
    assert_nothing_left(rt, c.id, bundle)


def test_delete_force_running(rt, bundle):
    c = rt.create(bundle, ["sh", "-c", "sleep 1000 & sleep 1000"], start=True)
    pid = c.pid
    assert cgroup_dirs(c.id)
    rt.ok("delete", "--force", c.id)
    assert_nothing_left(rt, c.id, bundle, pid)


def test_delete_created(rt, bundle):
    """runc deletes a created (not started) container without --force: it kills init."""
    c = rt.create(bundle, ["sleep", "1000"])
    pid = c.pid
    rt.ok("delete", c.id)
    assert_nothing_left(rt, c.id, bundle, pid)


def test_delete_force_nonexistent(rt):
    r = rt.cmd("delete", "--force", "no-such-container")
    assert r.returncode == 0


def test_start_twice(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.cmd("start", c.id)
    assert r.returncode == 1
    assert "already running" in r.stderr


def test_start_stopped(rt, bundle):
    c = rt.create(bundle, ["true"], start=True)
    c.wait_stopped()
    r = rt.cmd("start", c.id)
    assert r.returncode == 1
    assert "stopped" in r.stderr


def test_many_containers_one_root(rt):
    cs = [rt.start_sleeper() for _ in range(3)]
    lst = json.loads(rt.ok("list", "--format", "json").stdout)
    assert {x["id"] for x in lst} == {c.id for c in cs}
    for c in cs:
        rt.ok("delete", "-f", c.id)
    assert json.loads(rt.ok("list", "--format", "json").stdout or "null") in (None, [])
    for c in cs:
        assert_nothing_left(rt, c.id)
