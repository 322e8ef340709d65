"""Applications: a catalog, install, ls/status, settings and secrets, config changes that
recreate only what changed, history/diff/revert/apply of the git-kept instance files,
isolation between instances, remove leaving nothing, and failing installs leaving nothing.
The apps here are busybox-based (tests/integration/apps) so that they install in a moment;
test_catalog_apps.py installs the bundled Debian-based catalog."""
import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from helpers.rootfs import make_tar
from images_helpers import BOTHY
from test_containers import cleanup_root

APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")


def bothy(root, *args, timeout=300):
    return subprocess.run([BOTHY, "--root", root, *args], capture_output=True, text=True,
                          timeout=timeout)


def ok(root, *args, timeout=300):
    r = bothy(root, *args, timeout=timeout)
    assert r.returncode == 0, f"bothy {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def status(root, name):
    return json.loads(ok(root, "status", name, "--format", "json"))


def service(st, name):
    return next(s for s in st["Services"] if s["Service"] == name)


def git(root, *args):
    return subprocess.run(["git", "-C", os.path.join(root, "etc"), *args], capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True, capture_output=True)
    ok(r, "catalog", "add", "tests", APPS)
    yield r
    for line in bothy(r, "ls", "--format", "json").stdout and json.loads(
            bothy(r, "ls", "--format", "json").stdout or "[]") or []:
        bothy(r, "remove", line["Name"])
    cleanup_root(r)


def install(root, app, name, *extra):
    out = ok(root, "install", app, "--name", name, *extra)
    assert f"{name} is installed: http://127.0.0.1:" in out, out
    return out.strip().split(": ", 1)[1]


def test_catalog_search_info(root):
    out = ok(root, "catalog", "ls")
    assert "tests" in out and APPS in out
    assert "demo" in ok(root, "search") and "demo" in ok(root, "search", "small")
    assert "demo" not in ok(root, "search", "nothing-like-it")
    info = ok(root, "info", "demo")
    assert "bothy tests <tests@bothy.invalid>" in info and "db_password" in info
    assert "web, port 80" in info
    r = bothy(root, "info", "nope")
    assert r.returncode != 0 and "unknown app 'nope'" in r.stderr
    assert "every recipe loads" in ok(root, "catalog", "update")


def test_install_lifecycle(root):
    addr = install(root, "demo", "one")
    code, body = get(addr)
    assert code == 200 and body == "<h1>Hello</h1>\n"
    # Only the web service publishes, and only on 127.0.0.1.
    port = int(addr.rsplit(":", 1)[1].strip("/"))
    ps = json.loads(ok(root, "ps", "--format", "json"))
    published = [c["Ports"] for c in ps if c.get("Ports")]
    assert published == [f"127.0.0.1:{port}->80/tcp"], ps

    ls = json.loads(ok(root, "ls", "--format", "json"))
    assert [(i["Name"], i["App"], i["State"]) for i in ls] == [("one", "demo", "running")]
    st = status(root, "one")
    assert st["Settings"]["title"] == "Hello" and st["Settings"]["db_password"] == "********"
    assert {s["Service"] for s in st["Services"]} == {"db", "web"}
    assert not st["Modified"]

    # The secret: a 0600 file outside the history; in the container as env and as a file.
    sdir = os.path.join(root, "etc", "secrets", "one")
    assert oct(os.stat(sdir).st_mode & 0o777) == "0o700"
    sfile = os.path.join(sdir, "db_password")
    assert oct(os.stat(sfile).st_mode & 0o777) == "0o600"
    secret = open(sfile).read()
    assert len(secret) == 24 and secret.isalnum()
    assert ok(root, "exec", "one-db", "cat", "/run/secrets/db_password") == secret
    assert ok(root, "exec", "one-db", "sh", "-c", "echo $PASSWORD").strip() == secret
    assert secret not in git(root, "log", "-p")
    assert "instances/one.ini" in git(root, "ls-files")
    assert git(root, "log", "-1", "--format=%s").strip() == "bothy install demo --name one"
    # The web service reaches its database by the service's name.
    assert ok(root, "exec", "one-web", "sh", "-c", "nc db 5432 </dev/null").strip() == \
        "hello from the db"

    # A config change recreates only the services it touches.
    db_id = service(status(root, "one"), "db")["Id"]
    web_id = service(status(root, "one"), "web")["Id"]
    out = ok(root, "config", "one", "title=Changed")
    assert "recreated web" in out and "recreated db" not in out
    st = status(root, "one")
    assert service(st, "db")["Id"] == db_id and service(st, "web")["Id"] != web_id
    assert get(addr) == (200, "<h1>Changed</h1>\n")
    assert ok(root, "config", "one") .count("db_password=********") == 1
    # A bad value changes nothing.
    r = bothy(root, "config", "one", "title=not/allowed")
    assert r.returncode != 0 and "title" in r.stderr
    r = bothy(root, "config", "one", "nosuch=1")
    assert r.returncode != 0 and "nosuch" in r.stderr
    assert get(addr) == (200, "<h1>Changed</h1>\n")

    # History, diff, revert.
    hist = ok(root, "history", "one").splitlines()
    assert len(hist) == 2 and "bothy config one title=Changed" in hist[0]
    assert "bothy install demo --name one" in hist[1]
    d = ok(root, "diff", "one", "HEAD~1")
    assert "-title=Hello" in d and "+title=Changed" in d
    out = ok(root, "revert", "one", "HEAD~1")
    assert "recreated web" in out
    assert get(addr) == (200, "<h1>Hello</h1>\n")
    assert len(ok(root, "history", "one").splitlines()) == 3

    # A hand edit: seen, shown, applied.
    path = os.path.join(root, "etc", "instances", "one.ini")
    text = open(path).read().replace("title=Hello", "title=By hand")
    open(path, "w").write(text)
    assert status(root, "one")["Modified"]
    assert "+title=By hand" in ok(root, "diff", "one")
    assert "recreated web" in ok(root, "apply", "one")
    assert get(addr) == (200, "<h1>By hand</h1>\n")
    assert not status(root, "one")["Modified"]

    # stop/start/restart and logs of the instance.
    ok(root, "stop", "one")
    assert status(root, "one")["State"] == "stopped"
    ok(root, "start", "one")
    assert status(root, "one")["State"] == "running"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if get(addr)[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    logs = ok(root, "logs", "one")
    assert "==> db <==" in logs and "==> web <==" in logs
    ok(root, "logs", "one", "web")


def test_two_instances_are_isolated(root):
    install(root, "demo", "one", "--set", "greeting=from one")
    install(root, "demo", "two", "--set", "greeting=from two")
    assert ok(root, "exec", "one-web", "sh", "-c", "nc db 5432 </dev/null").strip() == "from one"
    assert ok(root, "exec", "two-web", "sh", "-c", "nc db 5432 </dev/null").strip() == "from two"
    other = json.loads(ok(root, "inspect", "two-db"))[0]
    ip = next(iter(other["NetworkSettings"]["Networks"].values()))["IPAddress"]
    r = bothy(root, "exec", "one-web", "sh", "-c", f"timeout 3 nc {ip} 5432 </dev/null")
    assert r.returncode != 0 and "from two" not in r.stdout
    # Different secrets.
    a = open(os.path.join(root, "etc", "secrets", "one", "db_password")).read()
    b = open(os.path.join(root, "etc", "secrets", "two", "db_password")).read()
    assert a != b
    r = bothy(root, "install", "demo", "--name", "one")
    assert r.returncode != 0 and "exists already" in r.stderr


def scan_for(root, name):
    """Every trace of an instance: paths, inventory rows, firewall, links."""
    found = []
    # What bothy names after the instance sits at the top of these directories (not
    # inside containers' files, where an app may well have a "blog-…" of its own).
    for d in ("volumes", "netns", "etc/instances", "etc/secrets"):
        p = os.path.join(root, d)
        if os.path.isdir(p):
            for n in os.listdir(p):
                if n.startswith(f"{name}-") or n == name or n == f"{name}.ini":
                    found.append(os.path.join(p, n))
    dump = subprocess.run(["sqlite3", os.path.join(root, "bothy.db"), ".dump"],
                          capture_output=True, text=True).stdout
    # "app-blog" is not "app-blog2": names end where a name's characters do.
    net = re.compile(rf"app-{re.escape(name)}(?![a-z0-9-])")
    found += [l for l in dump.splitlines() if f"'{name}-" in l or net.search(l)
              or f'"{name}"' in l]
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    found += [l for l in ruleset.splitlines() if net.search(l)]
    for c in json.loads(bothy(root, "ps", "-a", "--format", "json").stdout or "[]"):
        names = c.get("Names") or c.get("Name") or ""
        names = names if isinstance(names, list) else [names]
        found += [n for n in names if n.lstrip("/").startswith(f"{name}-")]
    return found


def test_remove_leaves_nothing(root):
    install(root, "demo", "gone")
    assert scan_for(root, "gone")
    out = ok(root, "remove", "gone")
    for what in ("container gone-db", "container gone-web", "network app-gone",
                 "volume gone-data", "volume gone-secrets", "config",
                 "image docker.io/bothy-app/demo-web:1.0"):
        assert f"removed {what}" in out, out
    assert scan_for(root, "gone") == []
    assert "bothy remove gone" in git(root, "log", "-1", "--format=%s")
    r = bothy(root, "remove", "gone")
    assert r.returncode != 0 and "no instance called 'gone'" in r.stderr
    assert ok(root, "doctor") .strip() == "nothing to repair"


def test_remove_keep_data(root):
    install(root, "demo", "kept")
    out = ok(root, "remove", "kept", "--keep-data")
    assert "volume kept-data" not in out
    assert os.path.isdir(os.path.join(root, "volumes", "kept-data"))
    # doctor sees the leftover and removes it when asked.
    r = bothy(root, "doctor")
    assert r.returncode == 1 and "instance kept is gone" in r.stdout
    ok(root, "doctor", "--fix")
    assert not os.path.isdir(os.path.join(root, "volumes", "kept-data"))


def test_bad_input_leaves_nothing(root):
    before = subprocess.run(["ls", "-R", os.path.join(root, "etc")], capture_output=True,
                            text=True).stdout
    for args, want in [
        (("install", "nosuch"), "unknown app 'nosuch'"),
        (("install", "demo", "--set", "title=bad/title"), "title"),
        (("install", "demo", "--set", "unknown=1"), "unknown"),
        (("install", "demo", "--name", "Bad_Name"), "invalid instance name"),
        (("install", "demo", "--set", "noequals"), "KEY=VALUE"),
    ]:
        r = bothy(root, *args)
        assert r.returncode != 0 and want in r.stderr, (args, r.stderr)
    assert json.loads(ok(root, "ls", "--format", "json")) == []
    after = subprocess.run(["ls", "-R", os.path.join(root, "etc")], capture_output=True,
                           text=True).stdout
    assert before == after


def test_never_healthy_install_is_undone(root):
    r = bothy(root, "install", "broken", "--timeout", "3")
    assert r.returncode != 0
    assert "service app did not become healthy" in r.stderr
    assert "cannot reach the database" in r.stderr  # its last log lines
    assert json.loads(ok(root, "ls", "--format", "json")) == []
    assert scan_for(root, "broken") == []
    # --keep-failed keeps it for a look.
    r = bothy(root, "install", "broken", "--timeout", "2", "--keep-failed")
    assert r.returncode != 0
    assert bothy(root, "inspect", "broken-app").returncode == 0
    ok(root, "rm", "-f", "broken-app")


def test_port_conflict_changes_nothing(root):
    addr = install(root, "demo", "pc")
    web_id = service(status(root, "pc"), "web")["Id"]
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        path = os.path.join(root, "etc", "instances", "pc.ini")
        text = open(path).read()
        old = addr.rsplit(":", 1)[1].strip("/")
        open(path, "w").write(text.replace(f"WebPort={old}", f"WebPort={port}"))
        r = bothy(root, "apply", "pc")
        assert r.returncode != 0 and f"port 127.0.0.1:{port} is in use" in r.stderr, r.stderr
        # Nothing was taken down: the same container answers where it did.
        assert service(status(root, "pc"), "web")["Id"] == web_id
        assert get(addr) == (200, "<h1>Hello</h1>\n")
    finally:
        taken.close()


def test_doctor_finds_what_lies_below(root):
    """Stray directories, rows that hold an address or a port for a container that does
    not exist, and a layer nothing uses: doctor names each, --fix repairs each, and what
    the instance uses is left alone."""
    import sqlite3
    addr = install(root, "demo", "doc")
    ghost = "f" * 64
    os.makedirs(os.path.join(root, "containers", "e" * 64, "upper"))
    os.makedirs(os.path.join(root, "volumes", "strayvol", "_data"))
    layer = os.path.join(root, "layers", "d" * 64)
    os.makedirs(os.path.join(layer, "usr"))
    with open(os.path.join(layer, "usr", "junk"), "wb") as f:
        f.write(b"x" * 300000)
    db = sqlite3.connect(os.path.join(root, "bothy.db"))
    db.execute("INSERT INTO endpoints (network, container, ip, mac) VALUES (?, ?, ?, ?)",
               ("app-doc", ghost, "10.250.250.250", "02:00:00:00:00:01"))
    db.execute("INSERT INTO ports (container, host_ip, host_port, proto, ctr_port) "
               "VALUES (?, '127.0.0.1', 1, 'tcp', 80)", (ghost,))
    db.commit()
    db.close()
    wants = ["container directory eeeeeeeeeeee has no inventory row",
             "volume directory strayvol has no inventory row",
             "the address on network app-doc 10.250.250.250 is held for container ffffffffffff",
             "the host port 127.0.0.1:1/tcp is held for container ffffffffffff",
             "layer sha256:dddddddddddd (0.3 MiB) is used by no image, container or build "
             "cache entry"]
    r = bothy(root, "doctor")
    assert r.returncode == 1, r.stdout + r.stderr
    for w in wants:
        assert w in r.stdout, (w, r.stdout)
    assert "doc" not in r.stdout.replace("app-doc", "")  # the instance itself is fine
    out = ok(root, "doctor", "--fix")
    for w in wants:
        assert w in out, (w, out)
    assert out.count(": removed") == 3 and out.count(": released") == 2, out
    assert not os.path.exists(layer)
    assert not os.path.exists(os.path.join(root, "containers", "e" * 64))
    assert not os.path.exists(os.path.join(root, "volumes", "strayvol"))
    dump = subprocess.run(["sqlite3", os.path.join(root, "bothy.db"), ".dump"],
                          capture_output=True, text=True).stdout
    assert ghost not in dump
    assert ok(root, "doctor").strip() == "nothing to repair"
    # What the instance uses is all still there: it restarts and answers.
    ok(root, "restart", "doc")
    assert get(addr) == (200, "<h1>Hello</h1>\n")


def test_bad_recipes_and_missing_settings(root, workdir):
    cat = os.path.join(workdir, "cat")
    os.makedirs(os.path.join(cat, "needs"))
    os.makedirs(os.path.join(cat, "typo"))
    with open(os.path.join(cat, "needs", "Containerfile"), "w") as f:
        f.write("FROM bb:1\n")
    with open(os.path.join(cat, "needs", "recipe.ini"), "w") as f:
        f.write("[App]\nName=needs\nVersion=1\nSummary=Needs an address\n"
                "Maintainer=bothy tests <tests@bothy.invalid>\n\n"
                "[Setting admin_email]\nDescription=Who to write to\nRequired=yes\n\n"
                "[Service app]\nBuild=Containerfile\nWeb=80\n"
                "Environment=ADMIN=${admin_email}\nCommand=sleep 1000\n")
    with open(os.path.join(cat, "typo", "recipe.ini"), "w") as f:
        f.write("[App]\nName=typo\nVersion=1\nSummary=A typo\n"
                "Maintainer=bothy tests <tests@bothy.invalid>\n\n"
                "[Service app]\nImage=bb:1\nWeb=80\nHealth=true\nMemroy=64m\n")
    index = ("[App needs]\nPath=needs/recipe.ini\nVersion=1\nSummary=Needs an address\n\n"
             "[App typo]\nPath=typo/recipe.ini\nVersion=1\nSummary=A typo\n")
    with open(os.path.join(cat, "index.ini"), "w") as f:
        f.write(index)
    before = git(root, "log", "--format=%H")
    # A catalog with a broken recipe is not added; the error names file and line.
    r = bothy(root, "catalog", "add", "mine", cat)
    assert r.returncode != 0
    assert re.search(r"typo/recipe\.ini:11: .*Memroy", r.stderr), r.stderr
    assert "mine" not in ok(root, "catalog", "ls")
    assert git(root, "log", "--format=%H") == before
    # Without the broken one, it is; a required setting left out stops the install.
    with open(os.path.join(cat, "index.ini"), "w") as f:
        f.write(index.split("\n\n")[0] + "\n")
    ok(root, "catalog", "add", "mine", cat)
    before = git(root, "log", "--format=%H")
    r = bothy(root, "install", "needs")
    assert r.returncode != 0
    assert "setting 'admin_email': required, and no value given" in r.stderr, r.stderr
    assert json.loads(ok(root, "ls", "--format", "json")) == []
    assert scan_for(root, "needs") == []
    assert git(root, "log", "--format=%H") == before
