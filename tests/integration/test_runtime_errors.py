"""Error cases (issue point 5): non-zero exit like runc's (1), a clear message on stderr,
and nothing left behind: no state dir, cgroup, mount or process."""
import json
import os
import shutil

import pytest

from conftest import assert_nothing_left, mounts_under


def _created_nothing(rt, cid, bundle):
    assert_nothing_left(rt, cid, bundle)
    assert os.listdir(rt.root) == [], os.listdir(rt.root)


def test_invalid_json(rt, bundle):
    cid = rt.new_id()
    with open(os.path.join(bundle.path, "config.json"), "w") as f:
        f.write("{bad json")
    r = rt.cmd("create", "-b", bundle.path, cid)
    assert r.returncode == 1
    assert r.stderr.strip()
    _created_nothing(rt, cid, bundle)


def test_config_missing_rootfs(rt, bundle):
    cid = rt.new_id()
    bundle.config["root"]["path"] = "no-such-rootfs"
    bundle.write()
    r = rt.cmd("create", "-b", bundle.path, cid)
    assert r.returncode == 1
    assert "rootfs" in r.stderr
    _created_nothing(rt, cid, bundle)


def test_config_missing_process_binary(rt, bundle):
    cid = rt.new_id()
    r = rt.run(bundle, ["/no/such/binary"], cid=cid)
    assert r.returncode != 0
    assert "/no/such/binary" in r.stderr
    _created_nothing(rt, cid, bundle)


def test_config_not_found(rt, bundle):
    cid = rt.new_id()
    r = rt.cmd("create", "-b", bundle.path, cid)   # config.json never written
    assert r.returncode == 1
    assert "config.json" in r.stderr
    _created_nothing(rt, cid, bundle)


def test_missing_bundle(rt, workdir):
    cid = rt.new_id()
    r = rt.cmd("create", "-b", os.path.join(workdir, "nonexistent"), cid)
    assert r.returncode == 1
    assert "nonexistent" in r.stderr
    assert os.listdir(rt.root) == []


def test_invalid_mount_type(rt, bundle):
    cid = rt.new_id()
    bundle.config["mounts"].append({"destination": "/mnt", "type": "nosuchfs",
                                    "source": "none"})
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 1
    assert r.stderr.strip()
    _created_nothing(rt, cid, bundle)


def test_unknown_global_option(rt):
    r = rt.cmd("--no-such-option", "list")
    assert r.returncode == 1
    assert "no-such-option" in r.stderr


def test_unknown_command_option(rt, bundle):
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["true"])
    r = rt.cmd("run", "--no-such-option", "-b", bundle.path, cid)
    assert r.returncode == 1
    assert "no-such-option" in r.stderr
    _created_nothing(rt, cid, bundle)


def test_unknown_command(rt):
    r = rt.cmd("no-such-command")
    assert r.returncode != 0   # runc 1.1: 3 (urfave/cli "No help topic")
    assert "no-such-command" in r.stderr


def test_missing_id(rt):
    for cmd in ("state", "start", "delete", "kill", "create", "run", "ps", "exec", "pause"):
        r = rt.cmd(cmd)
        assert r.returncode == 1, (cmd, r)
        assert r.stderr.strip(), cmd


def test_duplicate_id(rt):
    c = rt.start_sleeper()
    b2 = rt.bundle()
    b2.process["args"] = ["sleep", "1000"]
    b2.linux["cgroupsPath"] = "/bothytest/" + c.id + "-dup"
    b2.write()
    r = rt.cmd("create", "-b", b2.path, c.id)
    assert r.returncode == 1
    assert "already exists" in r.stderr
    # The first container is untouched.
    st = c.state()
    assert st["status"] == "running" and st["bundle"] == c.bundle.path
    assert mounts_under(b2.path) == []


def test_nonexistent_container(rt):
    for args in (["state"], ["start"], ["kill"], ["delete"], ["pause"], ["resume"],
                 ["ps"], ["exec"]):
        r = rt.cmd(*args, "no-such-container", *(["true"] if args == ["exec"] else []))
        # runc: 1 for everything, except exec which fails with 255
        assert r.returncode == (255 if args == ["exec"] else 1), (args, r)
        assert "does not exist" in r.stderr, (args, r.stderr)


def test_kill_stopped(rt, bundle):
    c = rt.create(bundle, ["true"], start=True)
    c.wait_stopped()
    r = rt.cmd("kill", c.id, "TERM")
    assert r.returncode == 1
    assert "not running" in r.stderr
    assert c.state()["status"] == "stopped"


def test_kill_unknown_signal(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.cmd("kill", c.id, "NOSUCHSIG")
    assert r.returncode == 1
    assert "NOSUCHSIG" in r.stderr
    assert c.state()["status"] == "running"


def test_delete_running_without_force(rt, bundle):
    c = rt.start_sleeper(bundle)
    r = rt.cmd("delete", c.id)
    assert r.returncode == 1
    assert "not stopped" in r.stderr and "running" in r.stderr
    assert c.state()["status"] == "running"
    assert os.path.isdir(os.path.join(rt.root, c.id))


def test_invalid_id(rt, bundle):
    for bad in ("../escape", "a/b", ""):
        r = rt.cmd("create", "-b", bundle.path, bad)
        assert r.returncode == 1, bad
    assert not os.path.exists(os.path.join(os.path.dirname(rt.root), "escape"))


def test_failed_hook_leaves_nothing(rt, bundle):
    cid = rt.new_id()
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    r = rt.run(bundle, ["true"], cid=cid)
    assert r.returncode == 1
    assert "hook" in r.stderr.lower()
    _created_nothing(rt, cid, bundle)


def test_start_failure_of_exec_reports_name(rt, bundle):
    """A process that cannot be exec'ed: run fails with the name on stderr."""
    cid = rt.new_id()
    r = rt.run(bundle, ["no-such-command-in-path"], cid=cid)
    assert r.returncode != 0
    assert "no-such-command-in-path" in r.stderr
    _created_nothing(rt, cid, bundle)


def test_exec_in_stopped_container(rt, bundle):
    c = rt.create(bundle, ["true"], start=True)
    c.wait_stopped()
    r = rt.exec(c.id, "true")
    assert r.returncode == 255
    assert "stopped" in r.stderr
