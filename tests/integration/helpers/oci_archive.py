"""Write an OCI image archive (oci-layout tar) of a rootfs tar, in pure Python, so the
containerd test needs neither a registry nor another image tool."""
import hashlib
import io
import json
import tarfile
import time


def _blob(tf, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    ti = tarfile.TarInfo("blobs/sha256/" + digest.split(":", 1)[1])
    ti.size = len(data)
    ti.mtime = int(time.time())
    tf.addfile(ti, io.BytesIO(data))
    return digest, len(data)


def write_oci_archive(rootfs_tar, dest, name="docker.io/library/bothy-busybox:test",
                      arch="amd64"):
    layer = open(rootfs_tar, "rb").read()
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "bothy tests: busybox-static rootfs"}],
    }
    with tarfile.open(dest, "w") as tf:
        ldig, lsize = _blob(tf, layer)
        cdig, csize = _blob(tf, json.dumps(config).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cdig, "size": csize},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": ldig, "size": lsize}],
        }
        mdig, msize = _blob(tf, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": mdig, "size": msize,
                           "platform": {"architecture": arch, "os": "linux"},
                           "annotations": {"io.containerd.image.name": name,
                                           "org.opencontainers.image.ref.name":
                                               name.rsplit(":", 1)[1]}}],
        }
        for fname, data in (("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
                            ("index.json", json.dumps(index).encode())):
            ti = tarfile.TarInfo(fname)
            ti.size = len(data)
            ti.mtime = int(time.time())
            tf.addfile(ti, io.BytesIO(data))
    return name
