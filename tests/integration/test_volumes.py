"""Named volumes: `bothy volume create/ls/inspect/rm/prune` end to end, checked on disk
(ROOT/volumes/NAME/_data, docker's layout) and in the inventory, and bad input that
creates nothing."""
import json
import os
import re
import sqlite3
import subprocess

import pytest

from images_helpers import BOTHY, bothy


@pytest.fixture
def root(workdir):
    return os.path.join(workdir, "bothy")


def vol_dir(root, name):
    return os.path.join(root, "volumes", name)


def entries(root):
    """What ROOT/volumes holds (nothing at all if it does not exist)."""
    d = os.path.join(root, "volumes")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def names(root):
    return bothy(root, "volume", "ls", "-q", check=True).stdout.split()


def add_container_using(root, cid, volume):
    """A container record that uses `volume`. No bothy command makes one without running
    a container, so the test writes the rows the inventory would (its schema is in
    src/container/inventory.c)."""
    db = sqlite3.connect(os.path.join(root, "bothy.db"), timeout=30)
    with db:
        db.execute("INSERT INTO containers (id, name, created, state) VALUES (?, ?, ?, ?)",
                   (cid, "user-" + cid[:6], "2026-01-01T00:00:00.000000000Z", "created"))
        db.execute("INSERT INTO container_volumes (container, volume) VALUES (?, ?)",
                   (cid, volume))
    db.close()


def test_create_ls_inspect_rm(root):
    r = bothy(root, "volume", "create", "--label", "app=blog", "--label", "tier=", "data",
              check=True)
    assert r.stdout == "data\n"
    data = os.path.join(vol_dir(root, "data"), "_data")
    assert os.path.isdir(data)
    assert oct(os.stat(data).st_mode & 0o7777) == "0o755"
    assert entries(root) == ["data"]

    out = bothy(root, "volume", "ls", check=True).stdout.splitlines()
    assert out[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert out[1].split() == ["local", "data"]
    assert names(root) == ["data"]

    [v] = json.loads(bothy(root, "volume", "inspect", "data", check=True).stdout)
    assert v["Name"] == "data"
    assert v["Driver"] == "local"
    assert v["Scope"] == "local"
    assert v["Mountpoint"] == data
    assert v["Labels"] == {"app": "blog", "tier": ""}
    assert v["UsedBy"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", v["CreatedAt"])
    assert json.loads(bothy(root, "volume", "ls", "--format", "json", check=True).stdout) == [v]

    # Creating it again is not an error: the same volume, its data kept.
    with open(os.path.join(data, "keep"), "w") as f:
        f.write("x")
    r = bothy(root, "volume", "create", "data", check=True)
    assert r.stdout == "data\n"
    assert os.path.exists(os.path.join(data, "keep"))
    assert json.loads(bothy(root, "volume", "inspect", "data", check=True).stdout) == [v]

    r = bothy(root, "volume", "rm", "data", check=True)
    assert r.stdout == "data\n"
    assert entries(root) == []
    assert names(root) == []


def test_several_at_once_and_partial_failure(root):
    for n in ("aa", "bb", "cc"):
        bothy(root, "volume", "create", n, check=True)
    # inspect: what exists, and a non-zero exit for what does not.
    r = bothy(root, "volume", "inspect", "aa", "nope", "cc")
    assert r.returncode == 1
    assert [v["Name"] for v in json.loads(r.stdout)] == ["aa", "cc"]
    assert "no such volume: nope" in r.stderr
    # rm: removes what it can, fails for the rest.
    r = bothy(root, "volume", "rm", "aa", "nope", "bb")
    assert r.returncode == 1
    assert r.stdout.split() == ["aa", "bb"]
    assert "no such volume: nope" in r.stderr
    assert names(root) == ["cc"]
    assert entries(root) == ["cc"]
    # -f: a missing volume is fine.
    r = bothy(root, "volume", "rm", "-f", "nope", "cc")
    assert r.returncode == 0, r.stderr
    assert entries(root) == []


def test_anonymous_and_prune(root):
    anon = bothy(root, "volume", "create", check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", anon)
    bothy(root, "volume", "create", "named", check=True)
    with open(os.path.join(vol_dir(root, anon), "_data", "f"), "wb") as f:
        f.write(b"\0" * 5000)

    # Without -f it asks; anything but yes keeps everything.
    r = subprocess.run([BOTHY, "--root", root, "volume", "prune"], input="n\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "Are you sure" in r.stderr
    assert sorted(names(root)) == sorted([anon, "named"])

    # Default: anonymous volumes only (docker >= 23).
    r = bothy(root, "volume", "prune", "-f", check=True)
    assert r.stdout.splitlines()[:2] == ["Deleted Volumes:", anon]
    assert "Total reclaimed space: 5 kB" in r.stdout
    assert names(root) == ["named"]
    assert entries(root) == ["named"]

    # -a: every unused volume; agreed to on stdin.
    r = subprocess.run([BOTHY, "--root", root, "volume", "prune", "-a"], input="y\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "named" in r.stdout.splitlines()
    assert names(root) == []
    assert entries(root) == []

    r = bothy(root, "volume", "prune", "-a", "-f", check=True)
    assert "Deleted Volumes" not in r.stdout
    assert "Total reclaimed space: 0 B" in r.stdout


def test_volume_in_use(root):
    bothy(root, "volume", "create", "data", check=True)
    anon = bothy(root, "volume", "create", check=True).stdout.strip()
    cid = "0123456789ab" + "c" * 52
    add_container_using(root, cid, "data")
    add_container_using(root, "f" * 64, anon)

    [v] = json.loads(bothy(root, "volume", "inspect", "data", check=True).stdout)
    assert v["UsedBy"] == [cid]
    for args in (["rm", "data"], ["rm", "-f", "data"]):
        r = bothy(root, "volume", *args)
        assert r.returncode == 1
        assert "volume data is in use by container 0123456789ab" in r.stderr
    # Neither prune takes a used volume.
    bothy(root, "volume", "prune", "-a", "-f", check=True)
    assert sorted(names(root)) == sorted(["data", anon])
    assert os.path.isdir(os.path.join(vol_dir(root, "data"), "_data"))
    assert os.path.isdir(os.path.join(vol_dir(root, anon), "_data"))


@pytest.mark.parametrize("bad", ["x", "-bad", "_bad", ".hidden", "a/b", "../escape", "bad name",
                                 "b@d", "a" * 256])
def test_invalid_name_creates_nothing(root, bad):
    r = bothy(root, "volume", "create", "--", bad)
    assert r.returncode == 1
    assert f'invalid volume name "{bad}"' in r.stderr
    assert "[a-zA-Z0-9][a-zA-Z0-9_.-]" in r.stderr
    assert r.stdout == ""
    assert entries(root) == []
    assert names(root) == []
    assert not os.path.exists(os.path.join(root, "escape"))


def test_bad_usage(root):
    cases = [
        (["volume"], "usage: bothy volume"),
        (["volume", "frobnicate"], "unknown volume command 'frobnicate'"),
        (["volume", "create", "--label", "=v", "data"], "invalid label '=v'"),
        (["volume", "create", "--driver", "nfs", "data"], "unknown driver 'nfs'"),
        (["volume", "create", "aa", "bb"], "usage: bothy volume create"),
        (["volume", "create", "--nope"], "unknown option or missing value: '--nope'"),
        (["volume", "create", "-bad"], "unknown option or missing value: '-b'"),
        (["volume", "create", "--label"], "unknown option or missing value: '--label'"),
        (["volume", "ls", "--format", "yaml"], "--format takes table or json"),
        (["volume", "rm"], "usage: bothy volume rm"),
        (["volume", "rm", "nope"], "no such volume: nope"),
        (["volume", "inspect"], "usage: bothy volume inspect"),
        (["volume", "prune", "extra"], "usage: bothy volume prune"),
    ]
    for args, msg in cases:
        r = bothy(root, *args)
        assert r.returncode == 1, args
        assert msg in r.stderr, (args, r.stderr)
    assert entries(root) == []
    r = bothy(root, "volume", "help", check=True)
    assert "prune" in r.stdout


def test_concurrent_creates(root):
    """Many processes creating the same and different volumes at once: one record and
    one directory each, no leftovers."""
    procs = [subprocess.Popen([BOTHY, "--root", root, "volume", "create",
                               "same" if i % 2 else f"v{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(20)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    want = sorted(["same"] + [f"v{i}" for i in range(0, 20, 2)])
    assert sorted(names(root)) == want
    assert entries(root) == want
