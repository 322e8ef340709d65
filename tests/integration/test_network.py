"""Networking with real traffic: bothy's default bridge, named networks, isolation between
them, --internal, names in /etc/hosts, published ports reached from the host and from a
network namespace acting as an outside client, and that nothing stays behind."""
import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from test_containers import (BOTHY, bothy, cleanup_root, inspect, ok, run_d, state, until)
from helpers.rootfs import make_tar

WWW = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def nft_rules():
    r = subprocess.run(["nft", "-j", "list", "table", "inet", "bothy"], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return []
    return [x["rule"] for x in json.loads(r.stdout)["nftables"] if "rule" in x]


def links():
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True, capture_output=True)
    yield r
    cleanup_root(r)
    # Networks this root made (the default one too), with their bridges and rules.
    for n in json.loads(bothy(r, "network", "ls", "--format", "json").stdout or "[]"):
        bothy(r, "network", "rm", n["Name"])


def ip_of(root, name):
    d = inspect(root, name)
    nets = d.get("NetworkSettings", {}).get("Networks", {})
    return next(iter(nets.values()))["IPAddress"]


def wget(root, name, url, timeout=3):
    # (busybox 1.35's wget -T crashes: the time limit comes from timeout(1).)
    return bothy(root, "exec", name, "timeout", str(timeout), "wget", "-q", "-O", "-", url,
                 timeout=30)


def test_default_bridge_and_names(root):
    run_d(root, "--name", "web", "--hostname", "web", "bb:1", "sh", "-c", WWW)
    run_d(root, "--name", "client", "bb:1", "sleep", "1000")
    until(lambda: state(root, "web")["Running"] and state(root, "client")["Running"],
          what="running")
    r = bothy(root, "exec", "client", "ip", "-o", "-4", "addr", "show", "eth0")
    assert "10." in r.stdout, r.stdout + r.stderr
    # By name, through /etc/hosts kept current.
    until(lambda: wget(root, "client", "http://web:8080/").stdout == "hello-from-web\n",
          timeout=10, what="web reachable by name")
    hosts = bothy(root, "exec", "client", "cat", "/etc/hosts").stdout
    assert "web" in hosts
    # The host reaches the container on its bridge address.
    ip = ip_of(root, "web")
    assert urllib.request.urlopen(f"http://{ip}:8080/", timeout=5).read() == b"hello-from-web\n"
    # A stopped container drops out of its peers' hosts files.
    ok(root, "stop", "-t", "0", "web")
    until(lambda: "web" not in bothy(root, "exec", "client", "cat", "/etc/hosts").stdout,
          what="hosts updated")


def test_networks_are_isolated(root):
    ok(root, "network", "create", "neta")
    ok(root, "network", "create", "netb")
    run_d(root, "--name", "a", "--network", "neta", "--network-alias", "svc", "bb:1", "sh", "-c",
          WWW)
    run_d(root, "--name", "a2", "--network", "neta", "bb:1", "sleep", "1000")
    run_d(root, "--name", "b", "--network", "netb", "bb:1", "sh", "-c", WWW)
    for n in ("a", "a2", "b"):
        until(lambda: state(root, n)["Running"], what=f"{n} running")
    # Same network: by name and alias.
    until(lambda: wget(root, "a2", "http://a:8080/").returncode == 0, timeout=10, what="a")
    assert wget(root, "a2", "http://svc:8080/").stdout.startswith("hello")
    # Different networks: no way through, in either direction, not even by address.
    ip_a, ip_b = ip_of(root, "a"), ip_of(root, "b")
    assert wget(root, "b", f"http://{ip_a}:8080/", timeout=2).returncode != 0
    assert wget(root, "a2", f"http://{ip_b}:8080/", timeout=2).returncode != 0
    # In use: a network with containers is not removed.
    r = bothy(root, "network", "rm", "neta")
    assert r.returncode != 0 and "active endpoints" in r.stderr
    bridge = json.loads(ok(root, "network", "inspect", "neta"))[0]["Options"]["bridge"]
    ids = [inspect(root, n)["Id"] for n in ("a", "a2", "b")]
    ok(root, "rm", "-f", "a", "a2", "b")
    # No veth of theirs is left ("vb" + the first 8 hex digits of the id): the kernel
    # removes them with their namespace, from a work queue.
    until(lambda: not any(f"vb{i[:8]}" in links() for i in ids), what="veths gone")
    ok(root, "network", "rm", "neta", "netb")
    assert bridge not in links()
    assert not any("net:neta" in json.dumps(r) for r in nft_rules())


def test_internal_network_has_no_way_out(root):
    ok(root, "network", "create", "--internal", "inside")
    run_d(root, "--name", "i", "--network", "inside", "bb:1", "sleep", "1000")
    until(lambda: state(root, "i")["Running"], what="running")
    routes = bothy(root, "exec", "i", "ip", "route").stdout
    assert "default" not in routes, routes
    # Nothing outside its subnet answers: the host's own address is unreachable.
    host_ip = subprocess.run(["ip", "-o", "-4", "route", "get", "1.1.1.1"], capture_output=True,
                             text=True).stdout.split("src")[1].split()[0]
    r = wget(root, "i", f"http://{host_ip}:9/", timeout=2)
    assert r.returncode != 0


def test_published_ports(root, workdir):
    hp = free_port()
    run_d(root, "--name", "pub", "--hostname", "pub", "-p", f"{hp}:8080", "bb:1", "sh", "-c", WWW)
    until(lambda: state(root, "pub")["Running"], what="running")
    # The default address is 127.0.0.1: reachable from the host itself.
    body = until(lambda: _get(f"http://127.0.0.1:{hp}/"), timeout=10, what="published port")
    assert body == b"hello-from-pub\n"
    assert f"127.0.0.1:{hp}->8080/tcp" in ok(root, "ps")
    assert json.loads(ok(root, "ps", "--format", "json"))[0]["Ports"] == \
        f"127.0.0.1:{hp}->8080/tcp"
    # Held: nothing else on the host can take the port while the container runs.
    s = socket.socket()
    with pytest.raises(OSError):
        s.bind(("127.0.0.1", hp))
    s.close()
    # Another container cannot publish the same port.
    r = bothy(root, "run", "-d", "-p", f"{hp}:80", "bb:1", "true")
    assert r.returncode == 125 and "in use" in r.stderr
    # A port something else already holds: a clear error, nothing created.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    before = ok(root, "ps", "-aq")
    r = bothy(root, "run", "-d", "-p", f"{port}:80", "bb:1", "true")
    assert r.returncode == 125 and f"{port}" in r.stderr and "in use" in r.stderr
    assert ok(root, "ps", "-aq") == before
    taken.close()
    for bad in ("abc", "70000:80", "1-3:80-81", "127.0.0.1:x:80", "80/sctp"):
        r = bothy(root, "run", "-d", "-p", bad, "bb:1", "true")
        assert r.returncode == 125, bad
    ok(root, "rm", "-f", "pub")
    assert not any("ctr:" in json.dumps(x) for x in nft_rules())
    s = socket.socket()
    s.bind(("127.0.0.1", hp))  # free again
    s.close()


def _get(url):
    try:
        return urllib.request.urlopen(url, timeout=2).read()
    except OSError:
        return None


def test_published_port_from_outside_namespace(root, workdir):
    """A client in a network namespace of its own, connected to the host by a veth,
    reaches a port published on the host's side of that veth."""
    tag = f"{os.getpid() % 10000:04d}"
    ns, host_if, ns_if = f"bcli{tag}", f"bch{tag}", f"bcn{tag}"
    octet = 100 + os.getpid() % 100
    host_ip, client_ip = f"10.251.{octet}.1", f"10.251.{octet}.2"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
                       check=True)
        subprocess.run(["ip", "link", "set", ns_if, "netns", ns], check=True)
        subprocess.run(["ip", "addr", "add", f"{host_ip}/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{client_ip}/30", "dev", ns_if],
                       check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", ns_if, "up"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        hp = free_port()
        run_d(root, "--name", "outside", "--hostname", "outside", "-p",
              f"{host_ip}:{hp}:8080", "bb:1", "sh", "-c", WWW)
        until(lambda: state(root, "outside")["Running"], what="running")

        def fetch():
            r = subprocess.run(["ip", "netns", "exec", ns, "busybox", "timeout", "2", "busybox",
                                "wget", "-q", "-O", "-", f"http://{host_ip}:{hp}/"],
                               capture_output=True, text=True, timeout=20)
            return r.stdout if r.returncode == 0 else None
        assert until(fetch, timeout=15, what="from outside") == "hello-from-outside\n"
        ok(root, "rm", "-f", "outside")
        assert fetch() is None
    finally:
        subprocess.run(["ip", "link", "del", host_if], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def test_container_network_mode_and_bad_input(root):
    run_d(root, "--name", "main", "bb:1", "sh", "-c", WWW)
    until(lambda: state(root, "main")["Running"], what="running")
    run_d(root, "--name", "side", "--network", "container:main", "bb:1", "sleep", "1000")
    until(lambda: state(root, "side")["Running"], what="running")
    until(lambda: wget(root, "side", "http://127.0.0.1:8080/").returncode == 0, timeout=10,
          what="shared namespace")
    r = bothy(root, "run", "-d", "--network", "nosuchnet", "bb:1", "true")
    assert r.returncode == 125 and "nosuchnet" in r.stderr
    r = bothy(root, "network", "create", "--subnet", "10.89.300.0/24", "badnet")
    assert r.returncode != 0
    r = bothy(root, "network", "create", "--subnet", "10.77.0.0/24", "n1")
    assert r.returncode == 0
    r = bothy(root, "network", "create", "--subnet", "10.77.0.128/25", "n2")
    assert r.returncode != 0 and "overlaps" in r.stderr
    names = [n["Name"] for n in json.loads(ok(root, "network", "ls", "--format", "json"))]
    assert "badnet" not in names and "n2" not in names


def test_crash_leaves_state_the_next_command_repairs(root):
    hp = free_port()
    cid = run_d(root, "--name", "crashy", "-p", f"{hp}:8080", "bb:1", "sh", "-c", WWW)
    d = inspect(root, "crashy")
    os.kill(d["MonitorPid"], 9)
    os.kill(d["State"]["Pid"], 9)
    until(lambda: not state(root, "crashy")["Running"], what="dead")
    # ps repaired it: no namespace, no forwarding left.
    assert not os.path.exists(os.path.join(root, "netns", cid))
    assert not any(f"ctr:{cid}" in json.dumps(x) for x in nft_rules())
    ok(root, "start", "crashy")
    assert until(lambda: _get(f"http://127.0.0.1:{hp}/"), timeout=10, what="back") \
        .startswith(b"hello")


def test_connect_and_disconnect(root):
    ok(root, "network", "create", "front")
    ok(root, "network", "create", "back")
    run_d(root, "--name", "db", "--network", "back", "bb:1", "sh", "-c", WWW)
    run_d(root, "--name", "app", "--network", "front", "bb:1", "sleep", "1000")
    until(lambda: state(root, "db")["Running"] and state(root, "app")["Running"], what="running")
    assert wget(root, "app", "http://db:8080/", timeout=2).returncode != 0
    # Connected to the second network while it runs: a second interface, the name resolves.
    ok(root, "network", "connect", "--alias", "shop", "back", "app")
    assert "eth1" in bothy(root, "exec", "app", "ip", "-o", "link").stdout
    until(lambda: wget(root, "app", "http://db:8080/").returncode == 0, timeout=10,
          what="db reachable")
    # Its alias on that network names it for the others there.
    assert "shop" in bothy(root, "exec", "db", "cat", "/etc/hosts").stdout
    assert set(inspect(root, "app")["NetworkSettings"]["Networks"]) == {"front", "back"}
    r = bothy(root, "network", "connect", "back", "app")
    assert r.returncode != 0 and "already" in r.stderr
    ok(root, "network", "disconnect", "back", "app")
    assert "eth1" not in bothy(root, "exec", "app", "ip", "-o", "link").stdout
    assert wget(root, "app", f"http://{ip_of(root, 'db')}:8080/", timeout=2).returncode != 0
    r = bothy(root, "network", "disconnect", "back", "app")
    assert r.returncode != 0 and "not on network" in r.stderr
