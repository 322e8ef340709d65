"""A console-socket receiver: the runtime connects to an AF_UNIX socket and sends the
pty master over SCM_RIGHTS (as runc's --console-socket does)."""
import os
import select
import socket
import threading
import time


class ConsoleReceiver:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.masters = []          # fds received, in order
        self.messages = []         # the message bytes that came with them
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
                except OSError:
                    continue
                with self._cond:
                    self.masters.extend(fds)
                    self.messages.append(msg)
                    self._cond.notify_all()

    def wait_master(self, index=0, timeout=10):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.masters) <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no pty master received on console socket")
                self._cond.wait(left)
            return self.masters[index]

    @staticmethod
    def read_all(fd, timeout=10, until=None):
        """Read from a pty master until EIO/EOF (slave closed), `until` seen, or timeout."""
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if not r:
                if until is not None and until in out:
                    break
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:   # EIO: every slave fd closed
                break
            if not data:
                break
            out += data
            if until is not None and until in out:
                break
        return out

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(timeout=2)
        for fd in self.masters:
            try:
                os.close(fd)
            except OSError:
                pass
        self.masters = []
        try:
            os.unlink(self.path)
        except OSError:
            pass
