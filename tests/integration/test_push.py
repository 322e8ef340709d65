"""Push, login and logout against a real docker-registry on 127.0.0.1: what bothy
pushes is checked with skopeo and podman (digests, layers, bytes on the registry's
disk), blobs already there are skipped, chunked uploads work, failures leave no tag,
and credentials saved by `bothy login` (ROOT/auth.json, 0600) are used by push."""
import base64
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from helpers.rootfs import make_tar
from images_helpers import (BOTHY, Registry, bothy, push, registry,  # noqa: F401
                            tar_bytes, write_oci_layout)

USER, PASSWORD = "alice", "s3cret pass:word"


@pytest.fixture
def root(workdir):
    return os.path.join(workdir, "bothy")


def make_image(workdir, name="src", extra=b"x" * 30000):
    """A two-layer image (busybox gzip, plus an uncompressed data layer big enough
    for several 4 KiB chunks) in an OCI layout. Returns (layout, layer digests)."""
    tarpath = make_tar(os.path.join(workdir, name + "-rootfs.tar"))
    layout = os.path.join(workdir, "layout-" + name)
    data = tar_bytes({"data": None, "data/blob": extra})
    _, layers = write_oci_layout(layout, [(open(tarpath, "rb").read(), "gzip"), (data, "none")])
    return layout, layers


def pulled(registry, root, workdir, name="tests/src:1", creds=None, **kw):
    """An image pushed to the registry with skopeo and pulled by bothy.
    Returns (reference, manifest digest, layer digests)."""
    layout, _ = make_image(workdir, **kw)
    push(layout, "latest", registry, name, creds=creds)
    ref = f"{registry.host}/{name}"
    args = ["pull"] + (["--creds", creds] if creds else []) + [ref]
    out = bothy(root, *args, check=True).stdout
    digest = out.split("Digest: ")[1].strip()
    # As the registry has them: skopeo compresses the uncompressed layer on the way.
    info = json.loads(skopeo_inspect(ref, creds).stdout)
    assert info["Digest"] == digest
    return ref, digest, info["Layers"]


def skopeo_inspect(ref, creds=None):
    cmd = ["skopeo", "inspect", "--tls-verify=false"]
    if creds:
        cmd += ["--creds", creds]
    return subprocess.run(cmd + [f"docker://{ref}"], capture_output=True, text=True, timeout=60)


def skopeo_fetch(ref, dest, creds=None):
    """Copies ref to an oci: layout with skopeo; returns its manifest."""
    cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]
    if creds:
        cmd += ["--src-creds", creds]
    subprocess.run(cmd + [f"docker://{ref}", f"oci:{dest}:t"], check=True, timeout=120)
    index = json.load(open(os.path.join(dest, "index.json")))
    md = index["manifests"][0]["digest"]
    return md, json.load(open(os.path.join(dest, "blobs", "sha256", md.split(":")[1])))


def sha256_file(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def test_push_under_another_name(registry, root, workdir):
    src, digest, layers = pulled(registry, root, workdir)
    dest = f"{registry.host}/tests/other:2"
    r = bothy(root, "push", src, dest, check=True)
    # The manifest went up byte for byte: same digest as pulled.
    assert r.stdout.strip().endswith(f"Digest: {digest}")
    # Same registry, another repository: the blobs are mounted, not uploaded.
    for d in layers:
        assert f"Copying blob {d} done (mounted from tests/src)" in r.stdout
    info = json.loads(skopeo_inspect(dest).stdout)
    assert info["Digest"] == digest
    assert info["Layers"] == layers
    md, manifest = skopeo_fetch(dest, os.path.join(workdir, "fetched"))
    assert md == digest
    assert [l["digest"] for l in manifest["layers"]] == layers
    for l in manifest["layers"] + [manifest["config"]]:
        path = os.path.join(workdir, "fetched", "blobs", "sha256", l["digest"].split(":")[1])
        assert sha256_file(path) == l["digest"]


def test_push_default_destination_and_quiet(registry, root, workdir):
    src, digest, _ = pulled(registry, root, workdir)
    # Without DEST, the image's own name: everything is there already.
    r = bothy(root, "push", src, check=True)
    assert r.stdout.count("skipped: already exists") == 3  # two layers and the config
    r = bothy(root, "push", "--quiet", src, f"{registry.host}/tests/quiet:1", check=True)
    assert r.stdout == digest + "\n"
    assert json.loads(skopeo_inspect(f"{registry.host}/tests/quiet:1").stdout)["Digest"] == digest


def test_second_push_skips_blobs(registry, root, workdir):
    src, digest, layers = pulled(registry, root, workdir)
    dest = f"{registry.host}/tests/again:1"
    bothy(root, "push", src, dest, check=True)
    r = bothy(root, "push", src, dest, check=True)
    for d in layers:
        assert f"Copying blob {d} skipped: already exists" in r.stdout
    assert "Copying config sha256:" in r.stdout and r.stdout.count("already exists") == 3
    assert "done" not in r.stdout


def upload_requests(reg, method):
    """The registry's access log lines for blob upload requests of a method."""
    with open(os.path.join(reg.dir, "log")) as f:
        return [l for l in f if f'"{method} /v2/' in l and "/blobs/uploads/" in l]


def test_push_to_another_registry_monolithic_and_chunked(registry, root, workdir):
    src, digest, layers = pulled(registry, root, workdir)
    other = Registry(os.path.join(workdir, "r2"))
    try:
        # Monolithic (the default): POST then one PUT per blob, no PATCH.
        r = bothy(root, "push", src, f"{other.host}/tests/mono:1", check=True)
        for d in layers:
            assert f"Copying blob {d} done\n" in r.stdout
        assert upload_requests(other, "PATCH") == []
        # Chunked: every byte arrives, in pieces of 4096 bytes.
        r = bothy(root, "push", "--chunk-size", "4096", src, f"{other.host}/tests/chunked:1",
                  check=True)
        assert r.stdout.strip().endswith(f"Digest: {digest}")
        sizes = [os.path.getsize(other.blob_path(d)) for d in layers]
        assert len(upload_requests(other, "PATCH")) >= sum((s + 4095) // 4096 for s in sizes)
        for d in layers:
            assert sha256_file(other.blob_path(d)) == d
        md, manifest = skopeo_fetch(f"{other.host}/tests/chunked:1", os.path.join(workdir, "f"))
        assert md == digest and [l["digest"] for l in manifest["layers"]] == layers
    finally:
        other.stop()


def podman(proot, *args):
    return subprocess.run(
        ["podman", "--root", os.path.join(proot, "root"), "--runroot",
         os.path.join(proot, "runroot"), "--cgroup-manager=cgroupfs", "--events-backend=file",
         "--storage-driver", "vfs", *args],
        capture_output=True, text=True, timeout=180)


def test_podman_pulls_what_bothy_pushed(registry, root, workdir):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    proot = os.path.join(workdir, "podman")
    info = podman(proot, "info")
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here: {info.stderr.strip()[-300:]}")
    src, digest, _ = pulled(registry, root, workdir)
    dest = f"{registry.host}/tests/forpodman:1"
    bothy(root, "push", src, dest, check=True)
    r = podman(proot, "pull", "--tls-verify=false", dest)
    assert r.returncode == 0, r.stderr
    r = podman(proot, "image", "inspect", dest)
    assert r.returncode == 0, r.stderr
    img = json.loads(r.stdout)[0]
    assert img["Digest"] == digest
    # The config's diff_ids, as podman unpacked and hashed the layers.
    cfg = json.loads(bothy(root, "inspect", src, check=True).stdout)
    assert img["RootFS"]["Layers"] == cfg["RootFS"]["Layers"]


def test_push_unknown_image(registry, root, workdir):
    r = bothy(root, "push", "nosuch:1", f"{registry.host}/tests/nosuch:1")
    assert r.returncode == 1
    assert "pushing 'nosuch:1'" in r.stderr and "is not known here" in r.stderr
    assert skopeo_inspect(f"{registry.host}/tests/nosuch:1").returncode != 0
    r = bothy(root, "push", "--chunk-size", "0", "nosuch:1")
    assert r.returncode == 1 and "--chunk-size" in r.stderr


def test_failed_push_leaves_no_tag(registry, root, workdir):
    src, digest, layers = pulled(registry, root, workdir)
    other = Registry(os.path.join(workdir, "r2"))
    try:
        # A local layer blob that no longer matches its digest: the registry
        # refuses the upload, and the manifest is never sent.
        blob = os.path.join(root, "store", "blobs", "sha256", layers[1].split(":")[1])
        data = bytearray(open(blob, "rb").read())
        data[-1] ^= 1
        open(blob, "wb").write(bytes(data))
        r = bothy(root, "push", src, f"{other.host}/tests/broken:1")
        assert r.returncode == 1
        assert f"pushing '{src}' to '{other.host}/tests/broken:1'" in r.stderr
        assert other.host in r.stderr and layers[1] in r.stderr
        assert skopeo_inspect(f"{other.host}/tests/broken:1").returncode != 0
    finally:
        other.stop()


def htpasswd_line(user, password):
    if shutil.which("htpasswd"):
        return subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                              capture_output=True, text=True).stdout.strip()
    pytest.skip("htpasswd (apache2-utils) is not installed: distribution needs bcrypt")


@pytest.fixture
def auth_registry(workdir):
    d = os.path.join(workdir, "authreg")
    os.makedirs(d)
    path = os.path.join(d, "htpasswd")
    with open(path, "w") as f:
        f.write(htpasswd_line(USER, PASSWORD) + "\n")
    r = Registry(d, extra_config=f"auth:\n  htpasswd:\n    realm: test\n    path: {path}\n")
    yield r
    r.stop()


def login(root, host, password, user=USER):
    return subprocess.run([BOTHY, "--root", root, "login", "--username", user,
                           "--password-stdin", host],
                          input=password + "\n", capture_output=True, text=True, timeout=60)


def test_login_push_logout(auth_registry, root, workdir):
    reg = auth_registry
    creds = f"{USER}:{PASSWORD}"
    src, digest, layers = pulled(reg, root, workdir, creds=creds)
    dest = f"{reg.host}/tests/authed:1"
    authfile = os.path.join(root, "auth.json")

    # No credentials: refused, naming the registry, and no tag appears.
    r = bothy(root, "push", src, dest)
    assert r.returncode == 1
    assert "authentication required" in r.stderr and reg.host in r.stderr
    assert skopeo_inspect(dest, creds).returncode != 0

    # A wrong password: refused, and nothing is written.
    r = login(root, reg.host, "wrong")
    assert r.returncode == 1
    assert "wrong username or password" in r.stderr and PASSWORD not in r.stderr
    assert not os.path.exists(authfile)

    # The right one: saved in docker's format, mode 0600.
    r = login(root, reg.host, PASSWORD)
    assert r.returncode == 0, r.stderr
    assert "Login Succeeded" in r.stdout
    assert os.stat(authfile).st_mode & 0o7777 == 0o600
    saved = json.load(open(authfile))
    assert base64.b64decode(saved["auths"][reg.host]["auth"]).decode() == creds

    # Push uses the saved credentials.
    r = bothy(root, "push", src, dest, check=True)
    assert r.stdout.strip().endswith(f"Digest: {digest}")
    info = json.loads(skopeo_inspect(dest, creds).stdout)
    assert info["Digest"] == digest and info["Layers"] == layers

    # --creds still wins over the saved ones.
    r = bothy(root, "push", "--creds", f"{USER}:bad", src, dest)
    assert r.returncode == 1 and "authentication required" in r.stderr

    # Logout removes the entry (and only it); push is refused again.
    r = bothy(root, "logout", reg.host, check=True)
    assert reg.host in r.stdout
    assert json.load(open(authfile))["auths"] == {}
    assert os.stat(authfile).st_mode & 0o7777 == 0o600
    r = bothy(root, "push", src, f"{reg.host}/tests/authed:2")
    assert r.returncode == 1 and "authentication required" in r.stderr
    r = bothy(root, "logout", reg.host)
    assert r.returncode == 1 and "not logged in" in r.stderr


def test_pull_uses_saved_credentials(auth_registry, root, workdir):
    reg = auth_registry
    layout, _ = make_image(workdir)
    push(layout, "latest", reg, "tests/private:1", creds=f"{USER}:{PASSWORD}")
    ref = f"{reg.host}/tests/private:1"
    r = bothy(root, "pull", ref)
    assert r.returncode == 1 and "authentication required" in r.stderr
    assert login(root, reg.host, PASSWORD).returncode == 0
    bothy(root, "pull", ref, check=True)


def test_login_errors(registry, root, workdir):
    # A registry without auth accepts anyone: saved, as podman does.
    r = login(root, f"http://{registry.host}/", "pw", user="bob")
    assert r.returncode == 0, r.stderr
    saved = json.load(open(os.path.join(root, "auth.json")))
    assert list(saved["auths"]) == [registry.host]
    # Nothing listening: an error naming the host, nothing saved.
    dead = "127.0.0.1:1"
    r = login(root, dead, "pw")
    assert r.returncode == 1 and dead in r.stderr
    assert dead not in json.load(open(os.path.join(root, "auth.json")))["auths"]
    # A corrupt credentials file is reported, not overwritten.
    with open(os.path.join(root, "auth.json"), "w") as f:
        f.write("{not json")
    r = bothy(root, "logout", registry.host)
    assert r.returncode == 1 and "auth.json" in r.stderr and "invalid JSON" in r.stderr
    assert open(os.path.join(root, "auth.json")).read() == "{not json"
