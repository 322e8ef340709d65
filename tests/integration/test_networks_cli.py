"""Networks: `bothy network create/ls/inspect/rm/prune` end to end, checked in the
inventory (ROOT/bothy.db, tables of the "net" migration), and bad input that creates
nothing. Only the records for now: no bridge is made."""
import json
import os
import re
import sqlite3
import subprocess

import pytest

from images_helpers import BOTHY, bothy


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    yield r
    # Bridges and firewall rules are the host's: remove this root's networks.
    ls = bothy(r, "network", "ls", "--format", "json")
    for n in json.loads(ls.stdout or "[]") if ls.returncode == 0 else []:
        bothy(r, "network", "rm", n["Name"])


def rows(root, sql, args=()):
    db = sqlite3.connect(os.path.join(root, "bothy.db"), timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def network_names(root):
    """The names in the database (no command in between that could add the default)."""
    if not os.path.exists(os.path.join(root, "bothy.db")):
        return []
    try:
        return [r[0] for r in rows(root, "SELECT name FROM networks ORDER BY name")]
    except sqlite3.OperationalError:  # no tables yet
        return []


def bothy_input(root, stdin, *args):
    return subprocess.run([BOTHY, "--root", root, *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def add_endpoint(root, network, cid, ip):
    """An endpoint as `bothy run --network` will record it (schema in src/net/ipam.c)."""
    db = sqlite3.connect(os.path.join(root, "bothy.db"), timeout=30)
    with db:
        db.execute("INSERT INTO endpoints (network, container, ip, mac) VALUES (?, ?, ?, ?)",
                   (network, cid, ip, "02:42:0a:59:01:02"))
    db.close()


def test_create_ls_inspect_rm(root):
    r = bothy(root, "network", "create", "--label", "app=blog", "--label", "tier=", "front",
              check=True)
    nid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", nid)
    # The default network exists from the first network command on, with the first /24.
    assert network_names(root) == ["bothy", "front"]

    out = bothy(root, "network", "ls", check=True).stdout.splitlines()
    assert out[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SUBNET", "SCOPE"]
    listed = {line.split()[1]: line.split() for line in out[1:]}
    assert listed["front"] == [nid[:12], "front", "bridge", "10.89.1.0/24", "local"]
    assert listed["bothy"][3] == "10.89.0.0/24"
    quiet = bothy(root, "network", "ls", "-q", check=True).stdout.split()
    assert sorted(quiet) == sorted([nid[:12], listed["bothy"][0]])

    [n] = json.loads(bothy(root, "network", "inspect", "front", check=True).stdout)
    assert n["Name"] == "front"
    assert n["Id"] == nid
    assert n["Driver"] == "bridge"
    assert n["Scope"] == "local"
    assert n["Internal"] is False
    assert n["IPAM"]["Config"] == [{"Subnet": "10.89.1.0/24", "Gateway": "10.89.1.1"}]
    assert n["Options"] == {"bridge": "bothy" + nid[:8]}
    assert n["Containers"] == {}
    assert n["Labels"] == {"app": "blog", "tier": ""}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", n["Created"])
    # By id and by id prefix too; ls --format json holds the same objects.
    for ref in (nid, nid[:5]):
        assert json.loads(bothy(root, "network", "inspect", ref, check=True).stdout) == [n]
    listing = json.loads(bothy(root, "network", "ls", "--format", "json", check=True).stdout)
    assert [x for x in listing if x["Name"] == "front"] == [n]

    [d] = json.loads(bothy(root, "network", "inspect", "bothy", check=True).stdout)
    assert d["Options"] == {"bridge": "bothy0"}
    assert d["IPAM"]["Config"] == [{"Subnet": "10.89.0.0/24", "Gateway": "10.89.0.1"}]

    r = bothy(root, "network", "rm", "front", check=True)
    assert r.stdout == "front\n"
    assert network_names(root) == ["bothy"]
    r = bothy(root, "network", "inspect", "front")
    assert r.returncode == 1
    assert 'network "front" not found' in r.stderr
    assert json.loads(r.stdout) == []


def test_create_options(root):
    nid = bothy(root, "network", "create", "--subnet", "172.28.0.0/16", "--gateway",
                "172.28.5.254", "--internal", "back", check=True).stdout.strip()
    [n] = json.loads(bothy(root, "network", "inspect", "back", check=True).stdout)
    assert n["Id"] == nid
    assert n["Internal"] is True
    assert n["IPAM"]["Config"] == [{"Subnet": "172.28.0.0/16", "Gateway": "172.28.5.254"}]
    assert rows(root, "SELECT subnet, gateway, internal, bridge FROM networks WHERE name = ?",
                ("back",)) == [("172.28.0.0/16", "172.28.5.254", 1, "bothy" + nid[:8])]
    # Automatic subnets go on after the ones taken.
    bothy(root, "network", "create", "a", check=True)
    bothy(root, "network", "create", "b", check=True)
    subnets = dict(rows(root, "SELECT name, subnet FROM networks"))
    assert subnets == {"bothy": "10.89.0.0/24", "back": "172.28.0.0/16", "a": "10.89.1.0/24",
                       "b": "10.89.2.0/24"}


def test_inspect_containers(root):
    bothy(root, "network", "create", "--subnet", "10.77.0.0/24", "web", check=True)
    cid = "c0ffee" + "0" * 58
    add_endpoint(root, "web", cid, "10.77.0.2")
    [n] = json.loads(bothy(root, "network", "inspect", "web", check=True).stdout)
    c = n["Containers"][cid]
    assert c["IPv4Address"] == "10.77.0.2/24"
    assert c["MacAddress"] == "02:42:0a:59:01:02"
    # In use: prune keeps it.
    r = bothy(root, "network", "prune", "-f", check=True)
    assert "web" not in r.stdout
    assert network_names(root) == ["bothy", "web"]
    # This endpoint's container does not exist (a crash between two removals): rm
    # repairs that and removes the network. (In use by a real container: test_network.py.)
    bothy(root, "network", "rm", "web", check=True)
    assert network_names(root) == ["bothy"]


@pytest.mark.parametrize("args,message", [
    (["--subnet", "10.89.3.1/24", "x"],
     'invalid subnet "10.89.3.1/24": host bits are set (did you mean 10.89.3.0/24?)'),
    (["--subnet", "10.89.3.0", "x"], 'invalid subnet "10.89.3.0": not an IPv4 network'),
    (["--subnet", "10.89.3.0/31", "x"],
     'invalid subnet "10.89.3.0/31": the prefix length must be between 8 and 30'),
    (["--subnet", "fd00::/64", "x"], 'invalid subnet "fd00::/64": only IPv4 subnets'),
    (["--subnet", "10.60.0.0/24", "--gateway", "10.61.0.1", "x"],
     'invalid gateway "10.61.0.1": not inside the subnet 10.60.0.0/24'),
    (["--subnet", "10.60.0.0/24", "--gateway", "10.60.0.255", "x"],
     'invalid gateway "10.60.0.255": the broadcast address'),
    (["--gateway", "10.60.0.1", "x"], 'invalid gateway "10.60.0.1": a gateway needs a subnet'),
    (["-bad"], "network create: unknown option"),
    (["bad/name"], 'invalid network name "bad/name"'),
    (["--driver", "overlay", "x"], "unknown driver 'overlay'"),
    ([], "usage: bothy network create"),
    (["a", "b"], "usage: bothy network create"),
])
def test_create_bad_input(root, args, message):
    bothy(root, "network", "create", "--subnet", "10.50.0.0/16", "taken", check=True)
    before = network_names(root)
    r = bothy(root, "network", "create", *args)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr
    assert r.stdout == ""
    assert network_names(root) == before


def test_create_conflicts(root):
    bothy(root, "network", "create", "--subnet", "10.50.0.0/16", "taken", check=True)
    before = rows(root, "SELECT * FROM networks ORDER BY name")
    for args, message in [
        (["--subnet", "10.50.7.0/24", "x"], 'subnet 10.50.7.0/24 overlaps network "taken"'),
        (["--subnet", "10.0.0.0/8", "x"], 'subnet 10.0.0.0/8 overlaps network "'),  # taken or bothy
        (["--subnet", "10.89.0.0/24", "x"], 'subnet 10.89.0.0/24 overlaps network "bothy"'),
        (["taken"], 'network "taken" already exists'),
        (["--subnet", "10.51.0.0/16", "taken"], 'network "taken" already exists'),
        (["bothy"], 'network "bothy" already exists'),
    ]:
        r = bothy(root, "network", "create", *args)
        assert r.returncode == 1, args
        assert message in r.stderr, (args, r.stderr)
        assert rows(root, "SELECT * FROM networks ORDER BY name") == before


def test_unknown_networks(root):
    for cmd in (["inspect", "nope"], ["rm", "nope"]):
        r = bothy(root, "network", *cmd)
        assert r.returncode == 1
        assert 'network "nope" not found' in r.stderr
    # rm -f: a missing one is fine (docker).
    assert bothy(root, "network", "rm", "-f", "nope").returncode == 0
    # Several at once: what exists is done, the exit code says something was not.
    bothy(root, "network", "create", "one", check=True)
    r = bothy(root, "network", "rm", "nope", "one")
    assert r.returncode == 1
    assert r.stdout == "one\n"
    assert network_names(root) == ["bothy"]
    r = bothy(root, "network", "frobnicate")
    assert r.returncode == 1
    assert "unknown network command 'frobnicate'" in r.stderr


def test_default_is_made_again_when_needed(root):
    bothy(root, "network", "ls", check=True)
    assert network_names(root) == ["bothy"]
    # Unused, it can go (with its bridge); the next network command makes it again.
    bothy(root, "network", "rm", "bothy", check=True)
    bothy(root, "network", "ls", check=True)
    assert network_names(root) == ["bothy"]


def test_prune(root):
    for name in ("p1", "p2", "used"):
        bothy(root, "network", "create", name, check=True)
    add_endpoint(root, "used", "ab" * 32, "10.89.3.2")
    # Without -f it asks; anything but yes keeps everything.
    r = bothy_input(root, "n\n", "network", "prune")
    assert r.returncode == 0
    assert "Are you sure" in r.stderr
    assert network_names(root) == ["bothy", "p1", "p2", "used"]

    r = bothy(root, "network", "prune", "-f", check=True)
    assert r.stdout.splitlines() == ["Deleted Networks:", "p1", "p2"]
    assert network_names(root) == ["bothy", "used"]
    # Nothing left to prune: nothing said.
    assert bothy(root, "network", "prune", "-f", check=True).stdout == ""
