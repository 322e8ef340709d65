"""Build (and cache) a busybox root filesystem offline from Debian's busybox-static.

The cache lives outside the clone, under /var/cache/bothy-tests/, keyed by the sha256
of the busybox binary and BUILDER_VERSION, so a new busybox or a change to this builder
produces a new cache entry.  Tests never use the cached tree directly: they copy it.
"""
import hashlib
import os
import shutil
import subprocess
import tempfile

BUILDER_VERSION = "3"
BUSYBOX = os.environ.get("BOTHY_TEST_BUSYBOX", "/bin/busybox")
CACHE_DIR = os.environ.get("BOTHY_TEST_CACHE", "/var/cache/bothy-tests")

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
wheel:x:10:
tty:x:5:
audio:x:29:
user:x:1000:
nogroup:x:65534:
"""


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key():
    return f"{_sha256(BUSYBOX)[:16]}-v{BUILDER_VERSION}"


def _build(dest):
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
              "tmp", "root", "home/user", "var/tmp", "run", "mnt"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    os.chmod(os.path.join(dest, "var/tmp"), 0o1777)
    os.chown(os.path.join(dest, "home/user"), 1000, 1000)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin/busybox"))
    os.chmod(os.path.join(dest, "bin/busybox"), 0o755)
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        if a == "busybox" or "/" in a:
            continue
        link = os.path.join(dest, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(dest, "etc/passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(dest, "etc/group"), "w") as f:
        f.write(GROUP)
    with open(os.path.join(dest, "etc/hostname"), "w") as f:
        f.write("busybox\n")
    with open(os.path.join(dest, "etc/hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n")
    # A marker so tests can tell the rootfs apart from the host.
    with open(os.path.join(dest, "etc/bothy-test-rootfs"), "w") as f:
        f.write(cache_key() + "\n")


def cached_rootfs():
    """Return the path of the cached rootfs, building it once (atomically)."""
    path = os.path.join(CACHE_DIR, "rootfs-" + cache_key())
    if os.path.isdir(path):
        return path
    os.makedirs(CACHE_DIR, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".rootfs-", dir=CACHE_DIR)
    os.chmod(tmp, 0o755)
    try:
        _build(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not os.path.isdir(path):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def copy_rootfs(dest):
    """A fresh, private copy (the container may write to it)."""
    subprocess.run(["cp", "-a", cached_rootfs(), dest], check=True)
    return dest


def make_tar(dest_tar):
    """A tar of the rootfs (for `podman import`, image archives)."""
    src = cached_rootfs()
    subprocess.run(["tar", "--numeric-owner", "-C", src, "-cf", dest_tar, "."], check=True)
    return dest_tar
