"""Image archives: `bothy save` and `bothy load` in docker-archive and oci-archive form,
`bothy import` of a rootfs tarball; round trips through bothy, skopeo and podman; and
bad archives that leave the stores as they were."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

import pytest

from helpers.rootfs import make_tar
from images_helpers import BOTHY, bothy, push, registry, tar_bytes, tree, write_oci_layout  # noqa: F401

REF_NAME = "org.opencontainers.image.ref.name"


@pytest.fixture
def root(workdir):
    return os.path.join(workdir, "bothy")


@pytest.fixture
def rootfs_tar(workdir):
    return make_tar(os.path.join(workdir, "rootfs.tar"))


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def store_blob(root, digest):
    return os.path.join(root, "store", "blobs", "sha256", digest.split(":", 1)[1])


def index_entry(root, ref):
    idx = json.load(open(os.path.join(root, "store", "index.json")))
    for m in idx["manifests"]:
        if m.get("annotations", {}).get(REF_NAME) == ref:
            return m
    raise AssertionError(f"{ref} not in {idx}")


def image_info(root, ref):
    """(manifest digest, config digest, diff_ids) of ref in root's store."""
    m = index_entry(root, ref)
    manifest = json.load(open(store_blob(root, m["digest"])))
    cfg = json.load(open(store_blob(root, manifest["config"]["digest"])))
    return m["digest"], manifest["config"]["digest"], cfg["rootfs"]["diff_ids"]


def assert_unpacked(root, diff_id):
    layer = os.path.join(root, "layers", diff_id.split(":", 1)[1])
    assert os.path.isfile(os.path.join(layer, "bin", "busybox"))
    assert os.readlink(os.path.join(layer, "bin", "sh")) == "busybox"


def write_tar(path, members, compress=False):
    """members: [(name, bytes | None (dir) | ("symlink", target) | ("hardlink", target))]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, content in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if content is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(content, tuple):
                ti.type = tarfile.SYMTYPE if content[0] == "symlink" else tarfile.LNKTYPE
                ti.linkname = content[1]
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(content), 0o644
                tf.addfile(ti, io.BytesIO(content))
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)
    return path


def config_for(diff_ids, **extra):
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids},
           "history": [{"created_by": "bothy tests"} for _ in diff_ids]}
    cfg.update(extra)
    return json.dumps(cfg).encode()


def docker_members(layers, tags, layer_name="{hex}/layer.tar", diff_ids=None):
    """The members of a docker-archive of one image (layers: list of tar bytes)."""
    ids = diff_ids or [sha(l) for l in layers]
    cfg = config_for(ids)
    members, names = [], []
    for data in layers:
        name = layer_name.format(hex=hashlib.sha256(data).hexdigest())
        if "/" in name:
            members.append((name.rsplit("/", 1)[0] + "/", None))
        members.append((name, data))
        names.append(name)
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    members.append((cfg_name, cfg))
    manifest = [{"Config": cfg_name, "RepoTags": tags, "Layers": names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return members, sha(cfg)


def oci_members(layout):
    """The members of an oci-archive of an OCI layout directory."""
    members = []
    for dirpath, dirnames, filenames in sorted(os.walk(layout)):
        for n in sorted(filenames):
            p = os.path.join(dirpath, n)
            members.append((os.path.relpath(p, layout), open(p, "rb").read()))
    return members


def busybox_image(root, rootfs_tar, ref="localhost/tests/busybox:1"):
    r = bothy(root, "import", rootfs_tar, ref, check=True)
    return r.stdout.strip()


# ---- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_import_save_load_round_trip(root, workdir, rootfs_tar, fmt):
    ref = "docker.io/library/bbimport:1"
    digest = busybox_image(root, rootfs_tar, "bbimport:1")
    md, cd, diff_ids = image_info(root, ref)
    assert md == digest and len(diff_ids) == 1
    assert diff_ids[0] == sha(open(rootfs_tar, "rb").read())
    cfg = json.load(open(store_blob(root, cd)))
    assert cfg["os"] == "linux" and cfg["architecture"]
    assert cfg["history"][0]["created_by"] == "bothy import"

    out = os.path.join(workdir, "saved.tar")
    bothy(root, "save", "--format", fmt, "-o", out, "bbimport:1", check=True)
    root2 = os.path.join(workdir, "other")
    r = bothy(root2, "load", "-i", out, check=True)
    assert r.stdout == f"Loaded image: {ref}\n"
    md2, cd2, diff_ids2 = image_info(root2, ref)
    assert cd2 == cd and diff_ids2 == diff_ids
    assert md2 == md  # an uncompressed one-layer image comes back as it was
    assert_unpacked(root2, diff_ids[0])


def busybox_layout(workdir, rootfs_tar):
    layout = os.path.join(workdir, "layout")
    md, _ = write_oci_layout(layout, [(open(rootfs_tar, "rb").read(), "gzip")])
    return layout, md


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_pull_save_load_round_trip(registry, root, workdir, rootfs_tar, fmt):
    layout, md = busybox_layout(workdir, rootfs_tar)
    push(layout, "latest", registry, "tests/busybox:latest")
    ref = f"{registry.host}/tests/busybox:latest"
    bothy(root, "pull", ref, check=True)
    _, cd, diff_ids = image_info(root, ref)

    out = os.path.join(workdir, "saved.tar")
    bothy(root, "save", "--format", fmt, "-o", out, ref, check=True)
    with tarfile.open(out) as tf:
        names = tf.getnames()
        if fmt == "docker-archive":
            # The layer is the uncompressed tar: its sha256 is the diff_id.
            manifest = json.load(tf.extractfile("manifest.json"))
            assert manifest[0]["RepoTags"] == [ref]
            layer = tf.extractfile(manifest[0]["Layers"][0]).read()
            assert sha(layer) == diff_ids[0]
            assert manifest[0]["Config"] == cd.split(":", 1)[1] + ".json"
        else:
            index = json.load(tf.extractfile("index.json"))
            assert index["manifests"][0]["annotations"][REF_NAME] == ref
            assert "oci-layout" in names
    root2 = os.path.join(workdir, "other")
    r = bothy(root2, "load", "-i", out, check=True)
    assert r.stdout == f"Loaded image: {ref}\n"
    md2, cd2, diff_ids2 = image_info(root2, ref)
    assert cd2 == cd and diff_ids2 == diff_ids
    if fmt == "oci-archive":
        assert md2 == md  # the blobs as they were: same manifest
    assert_unpacked(root2, diff_ids[0])
    # The loaded store is still an OCI layout skopeo reads.
    subprocess.run(["skopeo", "inspect", f"oci:{root2}/store:{ref}"], check=True,
                   capture_output=True)


def test_save_several_images_and_names(root, workdir, rootfs_tar):
    busybox_image(root, rootfs_tar, "one:1")
    bothy(root, "tag", "one:1", "one:2", check=True)
    small = write_tar(os.path.join(workdir, "small.tar"), [("etc/", None), ("etc/x", b"x")])
    bothy(root, "import", small, "small:1", check=True)
    for fmt in ("docker-archive", "oci-archive"):
        out = os.path.join(workdir, f"all-{fmt}.tar")
        bothy(root, "save", "--format", fmt, "-o", out, "one:1", "one:2", "small:1", check=True)
        root2 = os.path.join(workdir, f"other-{fmt}")
        r = bothy(root2, "load", "-i", out, check=True)
        assert sorted(r.stdout.splitlines()) == [
            "Loaded image: docker.io/library/one:1", "Loaded image: docker.io/library/one:2",
            "Loaded image: docker.io/library/small:1"]
        assert image_info(root2, "docker.io/library/one:1") == \
            image_info(root, "docker.io/library/one:1")
        # Each blob once.
        with tarfile.open(out) as tf:
            names = [n for n in tf.getnames() if not n.endswith("/")]
            assert len(names) == len(set(names))


def test_save_to_stdout_load_from_stdin_gzip(root, workdir, rootfs_tar):
    busybox_image(root, rootfs_tar, "bb:1")
    out = os.path.join(workdir, "saved.tar.gz")
    with open(out, "wb") as f:
        save = subprocess.Popen([BOTHY, "--root", root, "save", "bb:1"], stdout=subprocess.PIPE)
        gz = subprocess.run(["gzip", "-c"], stdin=save.stdout, stdout=f)
        save.stdout.close()
        assert save.wait() == 0 and gz.returncode == 0
    root2 = os.path.join(workdir, "other")
    with open(out, "rb") as f:
        r = subprocess.run([BOTHY, "--root", root2, "load"], stdin=f, capture_output=True,
                           text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Loaded image: docker.io/library/bb:1\n"
    assert image_info(root2, "docker.io/library/bb:1") == image_info(root, "docker.io/library/bb:1")


def test_save_is_atomic(root, workdir, rootfs_tar):
    busybox_image(root, rootfs_tar, "bb:1")
    out = os.path.join(workdir, "out", "saved.tar")
    os.makedirs(os.path.dirname(out))
    with open(out, "w") as f:
        f.write("old content")
    r = bothy(root, "save", "-o", out, "bb:1", "nosuch:1")
    assert r.returncode != 0 and "nosuch" in r.stderr
    assert open(out).read() == "old content"
    # A store whose layer blob went missing fails halfway through the archive.
    _, _, diff_ids = image_info(root, "docker.io/library/bb:1")
    blob = store_blob(root, diff_ids[0])
    os.rename(blob, blob + ".away")
    r = bothy(root, "save", "-o", out, "bb:1")
    assert r.returncode != 0
    assert open(out).read() == "old content"
    assert os.listdir(os.path.dirname(out)) == ["saved.tar"]
    os.rename(blob + ".away", blob)
    bothy(root, "save", "-o", out, "bb:1", check=True)
    assert tarfile.is_tarfile(out)
    assert os.listdir(os.path.dirname(out)) == ["saved.tar"]


def test_save_refuses_unknown_format_and_terminal(root, workdir, rootfs_tar):
    busybox_image(root, rootfs_tar, "bb:1")
    r = bothy(root, "save", "--format", "zip", "-o", os.path.join(workdir, "x"), "bb:1")
    assert r.returncode != 0 and "zip" in r.stderr
    assert not os.path.exists(os.path.join(workdir, "x"))


def test_import_stdin_compressed_without_name(root, workdir, rootfs_tar):
    data = gzip.compress(open(rootfs_tar, "rb").read())
    r = subprocess.run([BOTHY, "--root", root, "import", "-"], input=data, capture_output=True)
    assert r.returncode == 0, r.stderr
    digest = r.stdout.decode().strip()
    assert digest.startswith("sha256:") and len(digest) == 71
    # Kept under its digest: found by it, not by any name.
    info = json.loads(bothy(root, "inspect", digest, check=True).stdout)
    assert info["RootFS"]["Layers"] == [sha(open(rootfs_tar, "rb").read())]
    assert_unpacked(root, info["RootFS"]["Layers"][0])
    # The layer is stored uncompressed.
    manifest = json.load(open(store_blob(root, digest)))
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    # Naming it afterwards leaves one entry per name, none for the digest again.
    again = subprocess.run([BOTHY, "--root", root, "import", "-", "bb:2"], input=data,
                           capture_output=True)
    assert again.returncode == 0, again.stderr


def test_import_bad_input_leaves_nothing(root, workdir):
    bothy(root, "images", check=True)
    before = tree(root)
    bad = os.path.join(workdir, "bad.tar")
    with open(bad, "wb") as f:
        f.write(b"this is not a tarball\n" * 100)
    r = bothy(root, "import", bad, "bad:1")
    assert r.returncode != 0 and bad in r.stderr
    assert tree(root) == before
    r = bothy(root, "import", os.path.join(workdir, "missing.tar"))
    assert r.returncode != 0 and "missing.tar" in r.stderr
    r = bothy(root, "import", bad, "Bad Name")
    assert r.returncode != 0
    assert tree(root) == before


# ---- other tools' archives, and other tools reading ours ----------------------------


def test_skopeo_reads_bothy_archives(root, workdir, rootfs_tar):
    busybox_image(root, rootfs_tar, "bb:1")
    _, cd, diff_ids = image_info(root, "docker.io/library/bb:1")
    d = os.path.join(workdir, "saved-docker.tar")
    o = os.path.join(workdir, "saved-oci.tar")
    bothy(root, "save", "-o", d, "bb:1", check=True)
    bothy(root, "save", "--format", "oci-archive", "-o", o, "bb:1", check=True)
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{d}"], check=True,
                                     capture_output=True, text=True).stdout)
    assert info["Layers"] == diff_ids
    cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"docker-archive:{d}"],
                                    check=True, capture_output=True, text=True).stdout)
    assert cfg["rootfs"]["diff_ids"] == diff_ids
    dest = os.path.join(workdir, "copied")
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", f"oci-archive:{o}",
                    f"oci:{dest}:bb"], check=True, capture_output=True)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet",
                    f"oci-archive:{o}:docker.io/library/bb:1", f"oci:{dest}:named"], check=True,
                   capture_output=True)
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", f"docker-archive:{d}",
                    f"oci:{dest}:fromdocker"], check=True, capture_output=True)
    raw = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci:{dest}:bb"], check=True,
                                    capture_output=True, text=True).stdout)
    assert raw["config"]["digest"] == cd


def test_load_skopeo_archives(root, workdir, rootfs_tar):
    layout, md = busybox_layout(workdir, rootfs_tar)
    d = os.path.join(workdir, "sk-docker.tar")
    o = os.path.join(workdir, "sk-oci.tar")
    for dest in (f"docker-archive:{d}:skopeo/bb:dock", f"oci-archive:{o}:quay.io/skopeo/bb:oci"):
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", f"oci:{layout}:latest",
                        dest], check=True, capture_output=True)
    r = bothy(root, "load", "-i", d, check=True)
    assert r.stdout == "Loaded image: docker.io/skopeo/bb:dock\n"
    r = bothy(root, "load", "-i", o, check=True)
    assert r.stdout == "Loaded image: quay.io/skopeo/bb:oci\n"
    cfg_digest = json.load(open(os.path.join(layout, "blobs", "sha256",
                                             md.split(":", 1)[1])))["config"]["digest"]
    for ref in ("docker.io/skopeo/bb:dock", "quay.io/skopeo/bb:oci"):
        _, cd, diff_ids = image_info(root, ref)
        assert cd == cfg_digest
        assert_unpacked(root, diff_ids[0])
    # Both share the one unpacked layer.
    assert len(os.listdir(os.path.join(root, "layers"))) == 1


def podman(workdir, *args):
    base = ["podman", "--root", os.path.join(workdir, "podman-root"), "--runroot",
            os.path.join(workdir, "podman-run"), "--storage-driver", "vfs",
            "--cgroup-manager=cgroupfs", "--events-backend=file"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=180)


@pytest.fixture
def podman_ok(workdir):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    r = podman(workdir, "images")
    if r.returncode != 0:
        pytest.skip(f"podman does not work here: {r.stderr.strip()}")
    yield
    podman(workdir, "system", "reset", "--force")


def test_podman_archives_both_ways(root, workdir, rootfs_tar, podman_ok):
    r = podman(workdir, "import", rootfs_tar, "localhost/pod/bb:1")
    assert r.returncode == 0, r.stderr
    pd = os.path.join(workdir, "podman-docker.tar")
    po = os.path.join(workdir, "podman-oci.tar")
    for args in (["-o", pd], ["--format", "oci-archive", "-o", po]):
        r = podman(workdir, "save", *args, "localhost/pod/bb:1")
        assert r.returncode == 0, r.stderr
    r = bothy(root, "load", "-i", pd, check=True)
    assert r.stdout == "Loaded image: localhost/pod/bb:1\n"
    _, cd, diff_ids = image_info(root, "localhost/pod/bb:1")
    assert_unpacked(root, diff_ids[0])
    root2 = os.path.join(workdir, "other")
    r = bothy(root2, "load", "-i", po, check=True)
    assert r.stdout == "Loaded image: localhost/pod/bb:1\n"
    assert image_info(root2, "localhost/pod/bb:1")[1] == cd
    # And podman loads what bothy saves, under the same name.
    bothy(root, "tag", "localhost/pod/bb:1", "localhost/pod/bb:back", check=True)
    for fmt in ("docker-archive", "oci-archive"):
        out = os.path.join(workdir, f"bothy-{fmt}.tar")
        bothy(root, "save", "--format", fmt, "-o", out, "localhost/pod/bb:back", check=True)
        r = podman(workdir, "load", "-i", out)
        assert r.returncode == 0, r.stderr
        assert "localhost/pod/bb:back" in r.stdout
        r = podman(workdir, "image", "inspect", "--format", "{{.Digest}} {{.Id}}",
                   "localhost/pod/bb:back")
        assert r.returncode == 0 and cd.split(":", 1)[1] in r.stdout
        podman(workdir, "rmi", "localhost/pod/bb:back")


def test_load_docker25_layout(root, workdir, rootfs_tar):
    """docker 25+ writes manifest.json naming blobs/sha256/<hex> and an index.json."""
    layer = open(rootfs_tar, "rb").read()
    members, cd = docker_members([layer], ["dock/er:25"], layer_name="blobs/sha256/{hex}")
    cfg = dict(members)[cd.split(":", 1)[1] + ".json"]
    members = [(n, c) for n, c in members if not n.endswith(".json") or n == "manifest.json"]
    members.append(("blobs/sha256/" + cd.split(":", 1)[1], cfg))
    manifest = json.loads(dict(members)["manifest.json"])
    manifest[0]["Config"] = "blobs/sha256/" + cd.split(":", 1)[1]
    members = [(n, c) for n, c in members if n != "manifest.json"]
    members += [("index.json", b'{"schemaVersion":2,"manifests":[]}'),
                ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                ("manifest.json", json.dumps(manifest).encode())]
    path = write_tar(os.path.join(workdir, "d25.tar"), [("blobs/", None), ("blobs/sha256/", None)]
                     + members)
    r = bothy(root, "load", "-i", path, check=True)
    assert r.stdout == "Loaded image: docker.io/dock/er:25\n"
    _, cd2, diff_ids = image_info(root, "docker.io/dock/er:25")
    assert cd2 == cd
    assert_unpacked(root, diff_ids[0])


def test_load_docker_archive_shared_layer_symlink_and_untagged(root, workdir):
    """docker before 25 links a layer two images share; an image saved by ID has no tags."""
    base = tar_bytes({"etc/": None, "etc/base": b"base"})
    members, cd = docker_members([base], None, layer_name="aaaa/layer.tar")
    members = [(n, c) for n, c in members if n != "manifest.json"]
    members += [("bbbb/", None), ("bbbb/layer.tar", ("symlink", "../aaaa/layer.tar")),
                ("cccc/", None), ("cccc/layer.tar", ("hardlink", "aaaa/layer.tar"))]
    manifest = [{"Config": cd.split(":", 1)[1] + ".json", "RepoTags": None,
                 "Layers": ["aaaa/layer.tar"]},
                {"Config": cd.split(":", 1)[1] + ".json", "RepoTags": ["x:1"],
                 "Layers": ["bbbb/layer.tar"]},
                {"Config": cd.split(":", 1)[1] + ".json", "RepoTags": ["x:2"],
                 "Layers": ["cccc/layer.tar"]}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    path = write_tar(os.path.join(workdir, "shared.tar"), members, compress=True)
    r = bothy(root, "load", "-i", path, check=True)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Loaded image: docker.io/library/x:1",
                         "Loaded image: docker.io/library/x:2"]
    assert lines[2].startswith("Loaded image ID: sha256:")
    # The same image is named x:1 and x:2, so it is not kept under its digest as well.
    idx = json.load(open(os.path.join(root, "store", "index.json")))
    assert [m["annotations"][REF_NAME] for m in idx["manifests"]] == [
        "docker.io/library/x:1", "docker.io/library/x:2"]
    assert image_info(root, "docker.io/library/x:1")[1] == cd
    assert image_info(root, "docker.io/library/x:2")[1] == cd


def test_load_docker_archive_with_compressed_layer(root, workdir, rootfs_tar):
    """A layer file may be gzip-compressed; it is stored uncompressed, named by its diff_id."""
    busybox = open(rootfs_tar, "rb").read()
    members, cd = docker_members([busybox], ["gz:1"])
    members = [(n, gzip.compress(c) if n.endswith("layer.tar") else c) for n, c in members]
    path = write_tar(os.path.join(workdir, "gz.tar"), members)
    bothy(root, "load", "-i", path, check=True)
    _, cd2, diff_ids = image_info(root, "docker.io/library/gz:1")
    assert cd2 == cd and diff_ids == [sha(busybox)]
    assert open(store_blob(root, diff_ids[0]), "rb").read() == busybox
    assert_unpacked(root, diff_ids[0])


def test_load_oci_archive_with_nested_index(root, workdir, rootfs_tar):
    layout, md = busybox_layout(workdir, rootfs_tar)
    mbytes = open(os.path.join(layout, "blobs", "sha256", md.split(":", 1)[1]), "rb").read()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    nested = json.dumps({"schemaVersion": 2,
                         "mediaType": "application/vnd.oci.image.index.v1+json",
                         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                        "digest": md, "size": len(mbytes),
                                        "platform": {"os": "linux", "architecture": arch}}]})
    nd = sha(nested.encode())
    with open(os.path.join(layout, "blobs", "sha256", nd.split(":", 1)[1]), "w") as f:
        f.write(nested)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd,
             "size": len(nested), "annotations": {REF_NAME: "multi/arch:1"}}]}, f)
    path = write_tar(os.path.join(workdir, "multi.tar"), oci_members(layout))
    r = bothy(root, "load", "-i", path, check=True)
    assert r.stdout == "Loaded image: docker.io/multi/arch:1\n"
    assert image_info(root, "docker.io/multi/arch:1")[0] == md


# ---- bad archives ---------------------------------------------------------------


def layer_with_device():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("dev/evil")
        ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
        tf.addfile(ti)
    return buf.getvalue()


def bad_archives(workdir, rootfs_tar):
    good_layer = tar_bytes({"etc/": None, "etc/good": b"good"})
    busybox = open(rootfs_tar, "rb").read()
    out = {}

    out["not-an-archive"] = (b"\x00garbage that is no tar" * 1000, "not a tar archive")
    out["empty"] = (b"", "the archive is empty")

    members, _ = docker_members([good_layer], ["bad:1"])
    out["missing-layer"] = ([m for m in members if not m[0].endswith("layer.tar")], "missing")

    members, _ = docker_members([busybox, good_layer], ["bad:1"],
                                diff_ids=[sha(busybox), sha(b"other")])
    out["diff-id-mismatch"] = (members, "does not match")

    members, _ = docker_members([good_layer], ["bad:1"])
    out["traversal"] = ([("../../escaped", b"x")] + members, "path traversal")
    out["absolute"] = ([("/tmp/escaped-absolute", b"x")] + members, "absolute")
    out["symlink-escape"] = ([("evil", ("symlink", "../../../etc"))] + members, "outside")

    members, _ = docker_members([good_layer, layer_with_device()], ["bad:1"])
    out["hostile-layer"] = (members, "dev/evil")

    # OCI: a layer blob whose content is not its digest.
    layout = os.path.join(workdir, "bad-layout")
    md, layer_digests = write_oci_layout(layout, [(busybox, "gzip"), (good_layer, "none")],
                                         tag="bad:1")
    members = oci_members(layout)
    tampered = "blobs/sha256/" + layer_digests[1].split(":", 1)[1]
    members = [(n, good_layer.replace(b"good", b"evil") if n == tampered else c)
               for n, c in members]
    out["oci-digest-mismatch"] = (members, layer_digests[1].split(":", 1)[1])

    # OCI: blobs all fine, but the config's diff_ids are not the layers'.
    layout = os.path.join(workdir, "bad-layout-2")
    write_oci_layout(layout, [(good_layer, "gzip")], tag="bad:2",
                     config_extra={"rootfs": {"type": "layers", "diff_ids": [sha(b"x")]}})
    out["oci-diff-id-mismatch"] = (oci_members(layout), "the image config says " + sha(b"x"))
    return out


BAD = ["not-an-archive", "empty", "missing-layer", "diff-id-mismatch", "traversal", "absolute",
       "symlink-escape", "hostile-layer", "oci-digest-mismatch", "oci-diff-id-mismatch"]


@pytest.mark.parametrize("case", BAD)
def test_bad_archive_leaves_stores_as_they_were(root, workdir, rootfs_tar, case):
    # Something already there, which the failed load must not disturb.
    busybox_image(root, rootfs_tar, "keep:1")
    before = tree(root)
    index_before = open(os.path.join(root, "store", "index.json")).read()
    content, expect = bad_archives(workdir, rootfs_tar)[case]
    path = os.path.join(workdir, f"{case}.tar")
    if isinstance(content, bytes):
        with open(path, "wb") as f:
            f.write(content)
    else:
        write_tar(path, content)
    r = bothy(root, "load", "-i", path)
    assert r.returncode == 1, r.stdout
    assert f"loading '{path}'" in r.stderr and expect in r.stderr, r.stderr
    assert r.stdout == ""
    assert tree(root) == before
    assert open(os.path.join(root, "store", "index.json")).read() == index_before
    assert not os.path.exists("/tmp/escaped-absolute")
    assert not any(n.startswith("escaped") for n in os.listdir(workdir))


def test_bad_archive_after_a_good_image_loads_nothing(root, workdir, rootfs_tar):
    """Two images, the second bad: the first is not named, its blobs are taken back."""
    bothy(root, "images", check=True)
    before = tree(root)
    busybox = open(rootfs_tar, "rb").read()
    good, _ = docker_members([busybox], ["good:1"])
    bad, _ = docker_members([b"not a tar at all" * 64], ["bad:1"])
    manifest = json.loads(dict(good)["manifest.json"]) + json.loads(dict(bad)["manifest.json"])
    members = [m for m in good + bad if m[0] != "manifest.json"]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    path = write_tar(os.path.join(workdir, "half.tar"), members)
    r = bothy(root, "load", "-i", path)
    assert r.returncode == 1 and "half.tar" in r.stderr
    assert tree(root) == before


# ---- docker itself (Debian's docker.io, a private dockerd) ----------------------------

DOCKER = "/usr/bin/docker"


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


@pytest.fixture
def dockerd(workdir):
    """A dockerd of our own: private data root, exec root and socket, no bridge, no
    iptables; stopped (and its containerd with it) by pid at teardown."""
    if not shutil.which("dockerd") or not os.path.exists(DOCKER):
        pytest.skip("docker.io (dockerd and /usr/bin/docker) is not installed")
    d = os.path.join(workdir, "docker")
    os.makedirs(d)
    sock = f"unix://{d}/sock"
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
                             "--data-root", f"{d}/data", "--exec-root", f"{d}/exec",
                             "--pidfile", f"{d}/pid", "-H", sock, "--storage-driver", "vfs"],
                            stdout=log, stderr=subprocess.STDOUT)

    def docker(*args):
        return subprocess.run([DOCKER, "-H", sock, *args], capture_output=True, text=True,
                              timeout=120)

    try:
        deadline = time.monotonic() + 30
        while docker("version").returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip("dockerd does not start here: " +
                            open(os.path.join(d, "log")).read()[-500:])
            time.sleep(0.2)
        yield docker
    finally:
        children = _children(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in children:  # its containerd, should dockerd not have stopped it
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        log.close()


def test_docker_archives_both_ways(root, workdir, rootfs_tar, dockerd):
    r = dockerd("import", rootfs_tar, "dk/bb:1")
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    assert dockerd("tag", "dk/bb:1", "dk/bb:2").returncode == 0
    saved = os.path.join(workdir, "docker-save.tar")
    r = dockerd("save", "-o", saved, "dk/bb:1", "dk/bb:2")
    assert r.returncode == 0, r.stderr
    r = bothy(root, "load", "-i", saved, check=True)
    assert sorted(r.stdout.splitlines()) == ["Loaded image: docker.io/dk/bb:1",
                                             "Loaded image: docker.io/dk/bb:2"]
    _, cd, diff_ids = image_info(root, "docker.io/dk/bb:1")
    assert cd == image_id  # docker's image ID is the config digest, kept
    assert diff_ids == [sha(open(rootfs_tar, "rb").read())]
    assert_unpacked(root, diff_ids[0])
    # And docker loads what bothy saves, as the same image.
    assert dockerd("rmi", "dk/bb:1", "dk/bb:2").returncode == 0
    back = os.path.join(workdir, "bothy-save.tar")
    bothy(root, "save", "-o", back, "dk/bb:1", check=True)
    r = dockerd("load", "-i", back)
    assert r.returncode == 0, r.stderr
    assert "Loaded image: dk/bb:1" in r.stdout
    r = dockerd("inspect", "--format", "{{.Id}}", "dk/bb:1")
    assert r.stdout.strip() == cd
