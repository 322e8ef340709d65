"""Images: pull from a real docker-registry on 127.0.0.1 (pushed to with skopeo),
layers unpacked once and shared, the content store an OCI layout other tools read,
and bad input that leaves the stores as they were."""
import json
import os
import subprocess

import pytest

from helpers.rootfs import make_tar
from images_helpers import bothy, push, registry, tar_bytes, tree, write_oci_layout  # noqa: F401


@pytest.fixture
def root(workdir):
    return os.path.join(workdir, "bothy")


def busybox_layout(workdir, tag="latest"):
    tarpath = make_tar(os.path.join(workdir, "rootfs.tar"))
    layout = os.path.join(workdir, "layout-" + tag)
    md, _ = write_oci_layout(layout, [(open(tarpath, "rb").read(), "gzip")], tag=tag)
    return layout, md


def test_pull_busybox_and_list(registry, root, workdir):
    layout, md = busybox_layout(workdir)
    push(layout, "latest", registry, "tests/busybox:latest")
    ref = f"{registry.host}/tests/busybox:latest"
    r = bothy(root, "pull", ref, check=True)
    assert "Digest: sha256:" in r.stdout
    # The layer is unpacked once, under its diff_id, with the busybox tree in it.
    layers = os.listdir(os.path.join(root, "layers"))
    assert len(layers) == 1 and len(layers[0]) == 64
    layer = os.path.join(root, "layers", layers[0])
    assert os.path.isfile(os.path.join(layer, "bin", "busybox"))
    assert os.readlink(os.path.join(layer, "bin", "sh")) == "busybox"
    # `images` lists it, as table and as JSON.
    out = bothy(root, "images", check=True).stdout
    assert f"{registry.host}/tests/busybox" in out and "latest" in out
    js = json.loads(bothy(root, "images", "--format", "json", check=True).stdout)
    assert js[0]["ref"] == ref
    # The store is an OCI layout that skopeo and umoci read.
    store = os.path.join(root, "store")
    subprocess.run(["skopeo", "inspect", f"oci:{store}:{ref}"], check=True, capture_output=True)
    ls = subprocess.run(["umoci", "ls", "--layout", store], check=True, capture_output=True,
                        text=True).stdout
    assert ref in ls


def test_pull_again_fetches_nothing(registry, root, workdir):
    layout, _ = busybox_layout(workdir)
    push(layout, "latest", registry, "tests/busybox:latest")
    ref = f"{registry.host}/tests/busybox:latest"
    bothy(root, "pull", ref, check=True)
    layer_dir = os.path.join(root, "layers", os.listdir(os.path.join(root, "layers"))[0])
    ino = os.stat(layer_dir).st_ino
    before = tree(os.path.join(root, "store"))
    # Break the registry's copy of the layer: a second pull must not need it.
    blobs = [l for l in json.load(open(os.path.join(layout, "index.json")))["manifests"]]
    manifest = json.load(open(os.path.join(layout, "blobs", "sha256",
                                           blobs[0]["digest"].split(":")[1])))
    os.remove(registry.blob_path(manifest["layers"][0]["digest"]))
    bothy(root, "pull", ref, check=True)
    assert os.stat(layer_dir).st_ino == ino
    assert tree(os.path.join(root, "store")) == before


def test_multi_layer_whiteouts(registry, root, workdir):
    base = tar_bytes({"etc": None, "etc/a": b"a", "etc/b": b"b", "bin": None,
                      "bin/tool": b"#!/bin/sh\n"})
    top = tar_bytes({"etc": None, "etc/.wh.b": b"", "etc/c": b"c"})
    extra = tar_bytes({"data": None, "data/x": b"x" * 100000})
    layout = os.path.join(workdir, "layout")
    write_oci_layout(layout, [(base, "gzip"), (top, "none"), (extra, "gzip")])
    push(layout, "latest", registry, "tests/multi:1")
    bothy(root, "pull", f"{registry.host}/tests/multi:1", check=True)
    dirs = {d: set(os.listdir(os.path.join(root, "layers", d)))
            for d in os.listdir(os.path.join(root, "layers"))}
    assert len(dirs) == 3
    # The whiteout became overlayfs's: a 0:0 character device named b.
    tops = [d for d, names in dirs.items() if names == {"etc"} and
            os.path.exists(os.path.join(root, "layers", d, "etc", "c"))]
    assert len(tops) == 1
    st = os.lstat(os.path.join(root, "layers", tops[0], "etc", "b"))
    import stat
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_inspect_and_tag_and_rmi(registry, root, workdir):
    layout, _ = busybox_layout(workdir)
    push(layout, "latest", registry, "tests/busybox:latest")
    ref = f"{registry.host}/tests/busybox:latest"
    bothy(root, "pull", ref, check=True)
    info = json.loads(bothy(root, "inspect", ref, check=True).stdout)
    assert info["Config"]["config"]["Cmd"] == ["sh"]
    assert len(info["RootFS"]["Layers"]) == 1
    bothy(root, "tag", ref, "mine/box:v1", check=True)
    info2 = json.loads(bothy(root, "inspect", "mine/box:v1", check=True).stdout)
    assert info2["Digest"] == info["Digest"]
    # A prefix of the digest finds it too.
    short = info["Digest"].split(":")[1][:12]
    assert json.loads(bothy(root, "inspect", short, check=True).stdout)["Digest"] == info["Digest"]
    bothy(root, "rmi", "mine/box:v1", check=True)
    r = bothy(root, "inspect", "mine/box:v1")
    assert r.returncode != 0 and "is not known here" in r.stderr


def test_missing_tag_is_a_clear_error(registry, root):
    before = tree(root) if os.path.exists(root) else set()
    r = bothy(root, "pull", f"{registry.host}/tests/nothing:here")
    assert r.returncode == 1
    assert "tests/nothing" in r.stderr and ("404" in r.stderr or "unknown" in r.stderr.lower())
    js = json.loads(bothy(root, "images", "--format", "json", check=True).stdout)
    assert js == []
    del before


def test_corrupt_blob_leaves_stores_unchanged(registry, root, workdir):
    layout, _ = busybox_layout(workdir)
    push(layout, "latest", registry, "tests/busybox:latest")
    # Prepare the stores (empty) and snapshot them.
    bothy(root, "images", check=True)
    before_store = tree(os.path.join(root, "store"))
    index = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
    manifest = json.load(open(os.path.join(layout, "blobs", "sha256",
                                           index["digest"].split(":")[1])))
    path = registry.blob_path(manifest["layers"][0]["digest"])
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xff
    open(path, "wb").write(bytes(data))
    r = bothy(root, "pull", f"{registry.host}/tests/busybox:latest")
    assert r.returncode == 1
    assert manifest["layers"][0]["digest"] in r.stderr or "digest" in r.stderr.lower() or \
        "gzip" in r.stderr.lower() or "layer" in r.stderr.lower()
    assert tree(os.path.join(root, "store")) == before_store
    assert os.listdir(os.path.join(root, "layers")) == []
    assert json.loads(bothy(root, "images", "--format", "json", check=True).stdout) == []


def _hardlink_out_tar():
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("etc/shadow-copy")
        ti.type = tarfile.LNKTYPE
        ti.linkname = "../../../../etc/shadow"
        tf.addfile(ti)
    return buf.getvalue()


@pytest.mark.parametrize("bad", ["diff_id", "hardlink"])
def test_bad_second_layer_leaves_stores_unchanged(registry, root, workdir, bad):
    # The layer blobs are whole and match their digests; the second one's
    # content is refused (another diff_id than the config's, or a hard link out
    # of the layer) after its blob was already verified and stored: nothing of
    # the pull may stay, neither that blob nor the first layer.
    good = tar_bytes({"a": b"first layer\n"})
    second = tar_bytes({"b": b"second layer\n"}) if bad == "diff_id" else _hardlink_out_tar()
    layout = os.path.join(workdir, "layout-bad")
    extra = None
    if bad == "diff_id":
        import hashlib
        extra = {"rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(good).hexdigest(),
            "sha256:" + hashlib.sha256(b"something else").hexdigest()]}}
    write_oci_layout(layout, [(good, "gzip"), (second, "gzip")], tag="bad", config_extra=extra)
    push(layout, "bad", registry, "tests/bad:bad")
    bothy(root, "images", check=True)
    before_store = tree(os.path.join(root, "store"))
    r = bothy(root, "pull", f"{registry.host}/tests/bad:bad")
    assert r.returncode == 1
    assert ("the image config says" if bad == "diff_id" else "hard link") in r.stderr
    assert tree(os.path.join(root, "store")) == before_store
    assert os.listdir(os.path.join(root, "layers")) == []


def test_bad_references(root):
    for bad in ["Busybox", "app:", "app@sha256:short", "a b"]:
        r = bothy(root, "pull", bad)
        assert r.returncode == 1, bad
        assert "invalid reference" in r.stderr, r.stderr


def test_prune_keeps_what_images_need(registry, root, workdir):
    shared = tar_bytes({"etc": None, "etc/shared": b"s"})
    only_a = tar_bytes({"a": None, "a/file": b"a"})
    only_b = tar_bytes({"b": None, "b/file": b"b"})
    la, lb = os.path.join(workdir, "la"), os.path.join(workdir, "lb")
    write_oci_layout(la, [(shared, "gzip"), (only_a, "gzip")])
    write_oci_layout(lb, [(shared, "gzip"), (only_b, "gzip")])
    push(la, "latest", registry, "tests/a:1")
    push(lb, "latest", registry, "tests/b:1")
    bothy(root, "pull", f"{registry.host}/tests/a:1", check=True)
    bothy(root, "pull", f"{registry.host}/tests/b:1", check=True)
    assert len(os.listdir(os.path.join(root, "layers"))) == 3
    # Nothing is unreferenced yet.
    assert "0 removed" in bothy(root, "prune", check=True).stdout
    bothy(root, "rmi", f"{registry.host}/tests/a:1", check=True)
    out = bothy(root, "prune", check=True).stdout
    # a's own layer, its blob, config and manifest go; the shared layer stays.
    assert "4 removed" in out, out
    assert len(os.listdir(os.path.join(root, "layers"))) == 2
    info = json.loads(bothy(root, "inspect", f"{registry.host}/tests/b:1", check=True).stdout)
    assert len(info["RootFS"]["Layers"]) == 2
    subprocess.run(["skopeo", "inspect", f"oci:{os.path.join(root, 'store')}:"
                    f"{registry.host}/tests/b:1"], check=True, capture_output=True)
    # history lists both layers of b.
    hist = bothy(root, "history", f"{registry.host}/tests/b:1", check=True).stdout
    assert hist.count("bothy tests") == 2


def test_registries_conf_mirrors(registry, root, workdir):
    layout = os.path.join(workdir, "layout")
    write_oci_layout(layout, [(tar_bytes({"etc": None, "etc/m": b"m"}), "gzip")])
    # The mirror holds docker.io's library/app; Docker Hub itself is unreachable here.
    push(layout, "latest", registry, "library/app:1")
    os.makedirs(os.path.join(root, "etc"))
    conf = os.path.join(root, "etc", "registries.conf")
    with open(conf, "w") as f:
        f.write(f"[docker.io]\nmirror = 127.0.0.1:1\nmirror = {registry.host}\n")
    bothy(root, "pull", "app:1", check=True)
    js = json.loads(bothy(root, "images", "--format", "json", check=True).stdout)
    assert [i["ref"] for i in js] == ["docker.io/library/app:1"]
    # A mistake in the file is an error that names it and the line.
    with open(conf, "w") as f:
        f.write(f"[docker.io]\nmirror = {registry.host}\nmirrors = typo\n")
    r = bothy(root, "pull", "app:1")
    assert r.returncode == 1 and f"{conf}:3" in r.stderr and "mirrors" in r.stderr, r.stderr


def test_progress_on_a_terminal_only(registry, root, workdir):
    layout = os.path.join(workdir, "layout")
    write_oci_layout(layout, [(tar_bytes({"data": None, "data/x": os.urandom(2_000_000)}),
                               "gzip")])
    push(layout, "latest", registry, "tests/big:1")
    ref = f"{registry.host}/tests/big:1"
    from images_helpers import BOTHY
    typescript = os.path.join(workdir, "typescript")
    subprocess.run(["script", "-qec", f"{BOTHY} --root {root} pull {ref}", typescript],
                   check=True, capture_output=True, timeout=120)
    shown = open(typescript, errors="replace").read()
    assert "fetching 1 layer [" in shown and "Digest: sha256:" in shown
    # Not on a pipe: only the result.
    bothy(root, "rmi", ref, check=True)
    bothy(root, "prune", check=True)
    out = bothy(root, "pull", ref, check=True).stdout
    assert "fetching" not in out and out.startswith(ref)
