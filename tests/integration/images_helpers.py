"""Shared by the image tests: a docker-registry on 127.0.0.1, OCI images built in
Python and pushed to it with skopeo, and the bothy binary under test."""
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import urllib.request

import pytest

BOTHY = os.path.join(os.environ.get("BOTHY_BUILD") or
                     os.path.join(os.path.dirname(__file__), "..", "..", "build"), "bothy")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    """docker-registry (Debian's distribution 2.8) with filesystem storage."""

    def __init__(self, workdir, extra_config=""):
        self.dir = os.path.join(workdir, "registry")
        os.makedirs(self.dir)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {self.dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
{extra_config}""")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # 401: up, with auth
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.dir, "data", "docker", "registry", "v2", "blobs", "sha256",
                            hexd[:2], hexd, "data")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def tar_bytes(files):
    """files: {path: bytes or None for a dir, or ("symlink", target)} -> tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, content in files.items():
            ti = tarfile.TarInfo(path)
            ti.mtime = 1700000000
            if content is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tf.addfile(ti)
            elif isinstance(content, tuple):
                ti.type = tarfile.SYMTYPE
                ti.linkname = content[1]
                tf.addfile(ti)
            else:
                ti.size = len(content)
                ti.mode = 0o755 if path.startswith("bin/") else 0o644
                tf.addfile(ti, io.BytesIO(content))
    return buf.getvalue()


def write_oci_layout(dest, layers, tag="latest", config_extra=None):
    """layers: list of (tar bytes, "gzip"|"none"). Returns (manifest digest, layer digests)."""
    os.makedirs(os.path.join(dest, "blobs", "sha256"), exist_ok=True)

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(dest, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)

    descs, diff_ids = [], []
    for data, comp in layers:
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
        if comp == "gzip":
            body = gzip.compress(data, mtime=0)
            mt = "application/vnd.oci.image.layer.v1.tar+gzip"
        else:
            body = data
            mt = "application/vnd.oci.image.layer.v1.tar"
        d, n = blob(body)
        descs.append({"mediaType": mt, "digest": d, "size": n})
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created_by": "bothy tests"} for _ in layers]}
    config.update(config_extra or {})
    cd, cn = blob(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cd, "size": cn},
                "layers": descs}
    md, mn = blob(json.dumps(manifest).encode())
    with open(os.path.join(dest, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(dest, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
             "size": mn, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    return md, [d["digest"] for d in descs]


def push(layout, tag, registry, name, creds=None):
    cmd = ["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--quiet"]
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout}:{tag}", f"docker://{registry.host}/{name}"]
    subprocess.run(cmd, check=True, timeout=120)


def bothy(root, *args, check=False, timeout=120):
    r = subprocess.run([BOTHY, "--root", root, *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, f"bothy {' '.join(args)}: rc={r.returncode}\n{r.stderr}"
    return r


def tree(path):
    """Every path below path, relative (a snapshot to compare before/after)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), path))
    return out


@pytest.fixture
def registry(workdir):
    r = Registry(workdir)
    yield r
    r.stop()
