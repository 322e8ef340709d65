"""A terminal through --console-socket: the runtime sends the pty master over
SCM_RIGHTS; the container's output is read through it."""
import os
import termios
import time

import pytest

from conftest import wait_for
from helpers.console import ConsoleReceiver


@pytest.fixture
def console(workdir):
    c = ConsoleReceiver(os.path.join(workdir, "console.sock"))
    yield c
    c.close()


def test_create_with_console_socket(rt, bundle, console):
    bundle.process["terminal"] = True
    c = rt.create(bundle, ["sh", "-c", "tty; echo cols=$(stty size); echo done"],
                  extra=["--console-socket", console.path])
    master = console.wait_master()
    assert os.isatty(master)
    rt.ok("start", c.id)
    out = ConsoleReceiver.read_all(master, until=b"done")
    text = out.decode().replace("\r\n", "\n")
    assert text.splitlines()[0] == "/dev/pts/0", text
    assert "done" in text
    c.wait_stopped()


def test_terminal_is_controlling_tty_and_stdio(rt, bundle, console):
    bundle.process["terminal"] = True
    bundle.process["consoleSize"] = {"height": 33, "width": 111}
    c = rt.create(bundle, ["sh", "-c", "for i in 0 1 2; do readlink /proc/$$/fd/$i; done; "
                           "stty size; "
                           "cat /proc/self/stat | cut -d' ' -f7; echo end"],
                  extra=["--console-socket", console.path])
    master = console.wait_master()
    rt.ok("start", c.id)
    text = ConsoleReceiver.read_all(master, until=b"end").decode().replace("\r\n", "\n")
    lines = text.splitlines()
    assert lines[:3] == ["/dev/pts/0"] * 3, text
    assert lines[3] == "33 111", text
    # tty_nr of /dev/pts/0: major 136, minor 0 -> 136 << 8 = 34816
    assert lines[4] == "34816", text
    c.wait_stopped()


def test_terminal_input(rt, bundle, console):
    bundle.process["terminal"] = True
    c = rt.create(bundle, ["sh", "-c", "read line; echo got:$line"],
                  extra=["--console-socket", console.path])
    master = console.wait_master()
    rt.ok("start", c.id)
    os.write(master, b"hello-pty\n")
    text = ConsoleReceiver.read_all(master, until=b"got:hello-pty").decode()
    assert "got:hello-pty" in text
    c.wait_stopped()


def test_run_detached_with_console_socket(rt, bundle, console):
    bundle.process["terminal"] = True
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["sh", "-c", "echo detached-tty; sleep 1000"])
    r = rt.cmd("run", "-d", "--console-socket", console.path, "-b", bundle.path, cid)
    assert r.returncode == 0, r.stderr
    master = console.wait_master()
    text = ConsoleReceiver.read_all(master, until=b"detached-tty").decode()
    assert "detached-tty" in text
    assert rt.state(cid)["status"] == "running"


def test_terminal_without_console_socket_detached_fails(rt, bundle):
    bundle.process["terminal"] = True
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["true"])
    r = rt.cmd("create", "-b", bundle.path, cid)
    assert r.returncode == 1
    assert "console" in r.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_console_socket_without_terminal_fails(rt, bundle, console):
    cid = rt.new_id()
    rt._prepare(bundle, cid, ["true"])
    r = rt.cmd("create", "--console-socket", console.path, "-b", bundle.path, cid)
    assert r.returncode == 1
    assert "console" in r.stderr or "terminal" in r.stderr


def test_exec_tty_with_console_socket(rt, bundle, workdir):
    c = rt.start_sleeper(bundle)
    cons = ConsoleReceiver(os.path.join(workdir, "exec.sock"))
    try:
        r = rt.exec(c.id, "sh", "-c", "tty; echo exec-end",
                    extra=["-t", "-d", "--console-socket", cons.path])
        assert r.returncode == 0, r.stderr
        master = cons.wait_master()
        text = ConsoleReceiver.read_all(master, until=b"exec-end").decode()
        assert text.splitlines()[0].startswith("/dev/pts/"), text
    finally:
        cons.close()
