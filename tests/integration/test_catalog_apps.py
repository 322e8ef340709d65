"""The bundled catalog, installed for real through `bothy install`: every app builds from
Debian's packages on a Debian base (the cached debootstrap tree, imported under the name
`bothy image bootstrap debian` gives it) and answers with its real content; then
everything is removed and nothing of any instance is left. One bothy root for the module,
so each image is built once."""
import base64
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from images_helpers import BOTHY
from test_apps import scan_for
from test_containers import cleanup_root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, BOTHY_CATALOG=os.path.join(REPO, "catalog"))

# The sanitizer lane builds the same images ten times slower; the app layer's code runs
# under it in test_apps.py.
pytestmark = pytest.mark.skipif("asan" in os.environ.get("BOTHY_BUILD", ""),
                                reason="catalog images are built in the release lane only")


def bothy(root, *args, timeout=1500):
    return subprocess.run([BOTHY, "--root", root, *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def ok(root, *args, timeout=1500):
    r = bothy(root, *args, timeout=timeout)
    assert r.returncode == 0, f"bothy {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def request(url, method="GET", auth=None, headers=None, data=None):
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    if auth:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("catalog"))
    os.chmod(d, 0o755)
    parent = os.path.dirname(d)
    while parent != "/":
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
        parent = os.path.dirname(parent)
    r = os.path.join(d, "bothy")
    # No base image: the first install makes it (test_static_site_makes_its_base_image).
    yield r
    for i in json.loads(bothy(r, "ls", "--format", "json").stdout or "[]"):
        bothy(r, "remove", i["Name"])
    cleanup_root(r)
    subprocess.run(["rm", "-rf", r])
    # Gigabytes of images were written: flush them here, not during the next tests.
    os.sync()


def install(root, app, *extra):
    out = ok(root, "install", app, *extra)
    assert " is installed: http://127.0.0.1:" in out, out
    return out.strip().split(": ", 1)[1]


def test_catalog_lists_five_apps(root):
    out = ok(root, "search")
    for app in ("static-site", "wordpress", "radicale", "cgit", "mediawiki"):
        assert app in out
    assert "every recipe loads" in ok(root, "catalog", "update")
    for app in ("static-site", "wordpress", "radicale", "cgit", "mediawiki"):
        assert "maintainer: bothy maintainers <catalog@bothy.invalid>" in ok(root, "info", app)


def test_static_site_makes_its_base_image(root):
    """The first install of a Debian-based app makes the base image with debootstrap from
    the mirror this machine's apt uses, as `bothy image bootstrap debian` would."""
    assert "localhost/bothy/debian" not in ok(root, "images")
    r = bothy(root, "install", "static-site", "--name", "site", "--set", "site_title=Club Pages")
    assert r.returncode == 0, r.stdout + r.stderr
    # Progress goes to stderr, the result to stdout.
    assert "making the base image localhost/bothy/debian:12 with debootstrap" in r.stderr, r.stderr
    addr = r.stdout.strip().split(": ", 1)[1]
    code, body = request(addr)
    assert code == 200 and "Club Pages" in body
    assert "localhost/bothy/debian" in ok(root, "images")
    # The image names the mirror apt uses here (read at run time, never built in) and
    # keeps no .deb that debootstrap fetched.
    mirror = subprocess.run(["sh", os.path.join(REPO, "scripts", "debian-mirror.sh"),
                             "bookworm"], capture_output=True, text=True,
                            check=True).stdout.strip()
    r = ok(root, "run", "--rm", "--network", "none", "localhost/bothy/debian:12", "sh", "-c",
           "cat /etc/apt/sources.list; echo debs: $(ls /var/cache/apt/archives | grep -c deb$)")
    assert f"deb {mirror} bookworm main" in r and "debs: 0" in r, r
    # A second install does not make it again.
    r = bothy(root, "install", "static-site", "--name", "site2")
    assert r.returncode == 0 and "making the base image" not in r.stderr, r.stderr
    ok(root, "remove", "site2")


def test_wordpress(root):
    addr = install(root, "wordpress", "--name", "blog")
    code, body = request(addr + "wp-admin/install.php")
    assert code == 200 and "WordPress" in body and "Installation" in body


def test_radicale(root):
    addr = install(root, "radicale", "--name", "cal", "--set", "username=alice")
    password = open(os.path.join(root, "etc", "secrets", "cal", "password")).read()
    code, _ = request(addr, "PROPFIND", auth=("alice", password), headers={"Depth": "1"})
    assert code == 207
    code, _ = request(addr, "PROPFIND", headers={"Depth": "0"})
    assert code == 401


def test_cgit(root):
    addr = install(root, "cgit", "--name", "code")
    code, body = request(addr)
    assert code == 200 and "<a href='/demo/'>demo</a>" in body


def test_mediawiki(root):
    addr = install(root, "mediawiki", "--name", "wiki", "--set", "wiki_name=Club Wiki")
    code, body = request(addr + "index.php?title=Main_Page")
    assert code == 200 and "Club Wiki" in body and "MediaWiki" in body


def test_two_wordpress_cannot_reach_each_others_database(root):
    install(root, "wordpress", "--name", "blog2")
    other = json.loads(ok(root, "inspect", "blog-db"))[0]
    ip = next(iter(other["NetworkSettings"]["Networks"].values()))["IPAddress"]
    # blog2's web reaches its own database by name, and not blog's by address.
    own = bothy(root, "exec", "blog2-web", "sh", "-c", "timeout 5 bash -c '</dev/tcp/db/3306'")
    assert own.returncode == 0, own.stderr
    r = bothy(root, "exec", "blog2-web", "sh", "-c", f"timeout 5 bash -c '</dev/tcp/{ip}/3306'")
    assert r.returncode != 0


def test_remove_all_leaves_nothing(root):
    for i in json.loads(ok(root, "ls", "--format", "json")):
        ok(root, "remove", i["Name"])
        assert scan_for(root, i["Name"]) == []
    assert json.loads(ok(root, "ls", "--format", "json")) == []
