"""Pull and push through bothy against a docker-registry behind token auth (the
Bearer challenge, scoped tokens from a token server the tests ship)."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from images_helpers import Registry, bothy, push, write_oci_layout, tar_bytes

HELPERS = os.path.join(os.path.dirname(__file__), "..", "unit", "registry_helpers")
USER, PASSWORD = "alice", "s3cret"


@pytest.fixture
def token_registry(workdir):
    d = os.path.join(workdir, "token")
    os.makedirs(d)
    log = open(os.path.join(d, "log"), "w")
    server = subprocess.Popen(["/usr/bin/python3", os.path.join(HELPERS, "token_server.py"),
                               "--dir", d, "--user", USER, "--password", PASSWORD],
                              stdout=log, stderr=subprocess.STDOUT)
    port_file = os.path.join(d, "port")
    deadline = time.monotonic() + 20
    while not os.path.exists(port_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not os.path.exists(port_file):
        server.kill()
        server.wait()
        pytest.fail("the token server did not start")
    port = int(open(port_file).read())
    reg = Registry(workdir, extra_config=f"""auth:
  token:
    realm: http://127.0.0.1:{port}/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: {d}/cert.pem
""")
    reg.token_url = f"http://127.0.0.1:{port}"
    yield reg
    reg.stop()
    server.terminate()
    server.wait()
    log.close()


def tokens_issued(reg):
    return json.load(urllib.request.urlopen(reg.token_url + "/count"))["count"]


def test_pull_and_push_with_tokens(token_registry, workdir):
    root = os.path.join(workdir, "bothy")
    layout = os.path.join(workdir, "layout")
    write_oci_layout(layout, [(tar_bytes({"etc": None, "etc/x": b"x"}), "gzip")])
    push(layout, "latest", token_registry, "team/app:1", creds=f"{USER}:{PASSWORD}")
    ref = f"{token_registry.host}/team/app:1"
    before = tokens_issued(token_registry)
    # Anonymous pull: challenged, a pull-scoped token, then the image.
    bothy(root, "pull", ref, check=True)
    assert tokens_issued(token_registry) > before
    # Wrong password: a clear error, nothing saved.
    r = bothy(root, "login", "-u", USER, "-p", "wrong", token_registry.host)
    assert r.returncode != 0
    assert not os.path.exists(os.path.join(root, "auth.json")) or \
        token_registry.host not in open(os.path.join(root, "auth.json")).read()
    # Anonymous push is refused (the token grants pull only) ...
    r = bothy(root, "push", ref, f"{token_registry.host}/team/copy:1")
    assert r.returncode != 0 and ("denied" in r.stderr or "authentication" in r.stderr), r.stderr
    # ... and works with credentials.
    bothy(root, "push", "--creds", f"{USER}:{PASSWORD}", ref,
          f"{token_registry.host}/team/copy:1", check=True)
    bothy(os.path.join(workdir, "again"), "pull", f"{token_registry.host}/team/copy:1",
          check=True)
