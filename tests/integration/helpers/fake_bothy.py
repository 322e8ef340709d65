#!/usr/bin/python3
"""A stand-in for `bothy` that test_monitor.py hands to bothy-monitor with --bothy: it
implements the hidden helpers of monitor.h without a runtime.

    fake_bothy.py --root ROOT __start ID [--console-socket PATH]
    fake_bothy.py --root ROOT __cleanup ID
    fake_bothy.py --root ROOT __health ID

DIR is ROOT/containers/ID, as for the real bothy. What the fake container does is read
from DIR/fake.json at each start (all keys optional):
    start_error   "msg": report "error msg" on fd 3 and exit 1 (nothing starts)
    start_silent  true: exit 3 without reporting anything
    output        [[fd, "text"] or [fd, {"hex": "ff0a"}], ...] written at start
    orphan        true: leave a grandchild that exits 0.2 s later (re-parented to the
                  monitor, which must reap it without taking it for the container)
    read_stdin    true: print "stdin: eof" or "stdin: blocked" (nothing within 0.3 s)
    exit          N: exit with N `after` seconds (default 0); absent: run until signalled
    ignore_term   true: SIGTERM is ignored
    term_exit     N: exit with N on SIGTERM
Every start appends "MONOTONIC PID" to DIR/starts. __cleanup appends the status.json it
sees to DIR/cleaned. __health appends a line to DIR/health_calls, prints "check N" and
exits with the number in DIR/health_rc (default 0).
"""
import array
import json
import os
import select
import signal
import socket
import sys
import time


def container(cfg, tty_slave):
    """The container's init: runs in the forked child."""
    if tty_slave is not None:
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(tty_slave, fd)
        os.close(tty_slave)
    for fd, data in cfg.get("output", []):
        data = bytes.fromhex(data["hex"]) if isinstance(data, dict) else data.encode()
        while data:
            data = data[os.write(fd, data):]
    if cfg.get("read_stdin"):
        r, _, _ = select.select([0], [], [], 0.3)
        state = "eof" if r and os.read(0, 1) == b"" else ("data" if r else "blocked")
        os.write(1, f"stdin: {state}\n".encode())
    if cfg.get("orphan"):
        if os.fork() == 0:
            if os.fork() == 0:
                time.sleep(0.2)
                os._exit(0)
            os._exit(0)
        os.wait()
    if "exit" in cfg:
        time.sleep(cfg.get("after", 0))
        os._exit(cfg["exit"])
    while True:
        signal.pause()


def send_fd(path, fd):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendmsg([b"/dev/pts/fake"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", [fd]))])


def start(d, args):
    with open(os.path.join(d, "fake.json")) as f:
        cfg = json.load(f)
    report = os.fdopen(3, "w")
    if "start_error" in cfg:
        report.write(f"error {cfg['start_error']}\n")
        report.close()
        return 1
    if cfg.get("start_silent"):
        return 3
    master = slave = None
    if "--console-socket" in args:
        master, slave = os.openpty()
        send_fd(args[args.index("--console-socket") + 1], master)
        os.close(master)
    # Before the fork: the container has its dispositions from its first instant, so a
    # stop that follows the report at once cannot come too early.
    if cfg.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "term_exit" in cfg:
        code = cfg["term_exit"]
        signal.signal(signal.SIGTERM, lambda *_: os._exit(code))
    # CPython forgets a signal that lands between fork() and its after-fork hook: keep
    # them pending until the child is ready (the stop may follow the report at once).
    caught = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, caught)
    pid = os.fork()
    if pid == 0:
        try:
            report.close()  # the container must not hold the report pipe
            signal.pthread_sigmask(signal.SIG_UNBLOCK, caught)
            container(cfg, slave)
        finally:
            os._exit(99)
    if slave is not None:
        os.close(slave)
    with open(os.path.join(d, "starts"), "a") as f:
        f.write(f"{time.monotonic()} {pid}\n")
    report.write(f"{pid}\n")
    report.close()
    return 0  # the child is re-parented to the monitor (its subreaper)


def cleanup(d):
    try:
        with open(os.path.join(d, "status.json")) as f:
            status = f.read()
    except OSError:
        status = "{}"
    with open(os.path.join(d, "cleaned"), "a") as f:
        f.write(status.strip() + "\n")
    return 0


def health(d):
    with open(os.path.join(d, "health_calls"), "a+") as f:
        f.write("x\n")
        f.seek(0)
        n = len(f.read().splitlines())
    try:
        with open(os.path.join(d, "health_rc")) as f:
            rc = int(f.read().strip() or 0)
    except OSError:
        rc = 0
    print(f"check {n}", flush=True)
    return rc


def main(argv):
    args = list(argv)
    root = None
    if args[:1] == ["--root"]:
        root = args[1]
        args = args[2:]
    verb, cid, rest = args[0], args[1], args[2:]
    d = os.path.join(root, "containers", cid)
    if verb == "__start":
        return start(d, rest)
    if verb == "__cleanup":
        return cleanup(d)
    if verb == "__health":
        return health(d)
    print(f"fake_bothy: unknown command {verb}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
