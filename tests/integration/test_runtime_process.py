"""The process section of the spec, checked from inside the container: env, cwd, user and
additional gids, umask, rlimits, oom_score_adj, no_new_privileges, capabilities (all five
sets), seccomp."""
import pytest

from conftest import parse_status

CAP_BITS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5,
            "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
            "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18,
            "CAP_SYS_ADMIN": 21, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29}


def mask(*caps):
    m = 0
    for c in caps:
        m |= 1 << CAP_BITS[c]
    return m


def status_of(rt, bundle, **kw):
    return parse_status(rt.run_ok(bundle, ["cat", "/proc/self/status"], **kw))


def test_env(rt, bundle):
    bundle.process["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY=", "HOME=/root"]
    out = rt.run_ok(bundle, ["env"])
    env = dict(l.split("=", 1) for l in out.splitlines())
    assert env["FOO"] == "bar baz"
    assert env["EMPTY"] == ""
    assert env["PATH"] == "/bin"
    # nothing from the runtime's own environment leaks in
    assert "PYTEST_CURRENT_TEST" not in env and "BOTHY_RUNTIME" not in env


def test_cwd(rt, bundle):
    bundle.process["cwd"] = "/tmp"
    assert rt.run_ok(bundle, ["pwd"]).strip() == "/tmp"


def test_cwd_created_if_missing(rt, bundle):
    bundle.process["cwd"] = "/does/not/exist"
    assert rt.run_ok(bundle, ["pwd"]).strip() == "/does/not/exist"


def test_user_and_additional_gids(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 29]}
    out = rt.run_ok(bundle, ["id"]).strip()
    assert out.startswith("uid=1000(user) gid=1000(user)")
    groups = out.split("groups=")[1]
    assert "10(wheel)" in groups and "29(audio)" in groups
    st = status_of(rt, bundle)
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1000"] * 4
    assert set(st["Groups"].split()) == {"10", "29"}


def test_user_without_passwd_entry(rt, bundle):
    bundle.process["user"] = {"uid": 4242, "gid": 4343}
    st = status_of(rt, bundle)
    assert st["Uid"].split()[0] == "4242"
    assert st["Gid"].split()[0] == "4343"
    assert st["Groups"] == ""


def test_umask(rt, bundle):
    bundle.process["user"]["umask"] = 0o027
    assert rt.run_ok(bundle, ["sh", "-c", "umask"]).strip() == "0027"
    b2 = rt.bundle()
    b2.process["user"]["umask"] = 0o077
    out = rt.run_ok(b2, ["sh", "-c", "touch /tmp/f && stat -c %a /tmp/f"]).strip()
    assert out == "600"


def test_default_umask(rt, bundle):
    assert rt.run_ok(bundle, ["sh", "-c", "umask"]).strip() == "0022"


def _limits(text):
    res = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        # "Max open files            512                  4096                 files"
        name = " ".join(p for p in parts if not (p.isdigit() or p == "unlimited"))
        nums = [p for p in parts if p.isdigit() or p == "unlimited"]
        res[name.rsplit(" ", 1)[0] if name.endswith(("files", "processes", "bytes", "seconds", "signals", "locks", "us")) else name] = nums[:2]
    return res


def test_rlimits(rt, bundle):
    bundle.process["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 4096},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
    ]
    lim = _limits(rt.run_ok(bundle, ["cat", "/proc/self/limits"]))
    assert lim["Max open files"] == ["512", "4096"]
    assert lim["Max processes"] == ["300", "400"]
    assert lim["Max core file size"] == ["0", "0"]
    assert lim["Max msgqueue size"] == ["4096", "8192"]
    out = rt.run_ok(rt.bundle(), ["sh", "-c", "ulimit -n"])  # spec default 1024
    assert out.strip() == "1024"


def test_rlimit_nofile_at_host_hard_limit(rt, bundle):
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = min(hard, 20000)
    bundle.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]
    lim = _limits(rt.run_ok(bundle, ["cat", "/proc/self/limits"]))
    assert lim["Max open files"] == [str(hard), str(hard)]


def test_oom_score_adj(rt, bundle):
    bundle.process["oomScoreAdj"] = 500
    assert rt.run_ok(bundle, ["cat", "/proc/self/oom_score_adj"]).strip() == "500"
    b2 = rt.bundle()
    # Lowering below the runtime's own value needs CAP_SYS_RESOURCE (absent here).
    b2.process["oomScoreAdj"] = 1000
    assert rt.run_ok(b2, ["cat", "/proc/self/oom_score_adj"]).strip() == "1000"


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(rt, bundle, nnp):
    bundle.process["noNewPrivileges"] = nnp
    assert status_of(rt, bundle)["NoNewPrivs"] == ("1" if nnp else "0")


def test_default_capabilities(rt, bundle):
    st = status_of(rt, bundle)
    m = mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert int(st["CapBnd"], 16) == m
    assert int(st["CapEff"], 16) == m
    assert int(st["CapPrm"], 16) == m


CAPS_ROOT = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SETUID"],
    "effective": ["CAP_CHOWN", "CAP_KILL"],
    "permitted": ["CAP_CHOWN", "CAP_KILL"],
    "inheritable": ["CAP_KILL"],
    "ambient": [],
}


def test_capabilities_root_nnp(rt, bundle):
    """uid 0 with no_new_privileges: execve gains nothing, so permitted/effective stay
    as given; bounding and inheritable as given."""
    bundle.process["capabilities"] = CAPS_ROOT
    st = status_of(rt, bundle)
    assert int(st["CapBnd"], 16) == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SETUID")
    assert int(st["CapInh"], 16) == mask("CAP_KILL")
    assert int(st["CapAmb"], 16) == 0
    assert int(st["CapPrm"], 16) == mask("CAP_CHOWN", "CAP_KILL")
    assert int(st["CapEff"], 16) == mask("CAP_CHOWN", "CAP_KILL")


def test_capabilities_root_without_nnp(rt, bundle):
    """uid 0 without no_new_privileges: execve of a root process gives permitted =
    effective = bounding | inheritable (the kernel's rules for root)."""
    bundle.process["capabilities"] = CAPS_ROOT
    bundle.process["noNewPrivileges"] = False
    st = status_of(rt, bundle)
    assert int(st["CapBnd"], 16) == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SETUID")
    assert int(st["CapInh"], 16) == mask("CAP_KILL")
    assert int(st["CapPrm"], 16) == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SETUID")
    assert int(st["CapEff"], 16) == int(st["CapPrm"], 16)


def test_capabilities_nonroot_all_five_sets(rt, bundle):
    """uid 1000: only ambient caps survive execve into effective/permitted."""
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "inheritable": ["CAP_KILL", "CAP_NET_ADMIN"],
        "ambient": ["CAP_KILL", "CAP_NET_ADMIN"],
    }
    st = status_of(rt, bundle)
    assert int(st["CapBnd"], 16) == mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN", "CAP_NET_RAW")
    assert int(st["CapInh"], 16) == mask("CAP_KILL", "CAP_NET_ADMIN")
    assert int(st["CapAmb"], 16) == mask("CAP_KILL", "CAP_NET_ADMIN")
    assert int(st["CapPrm"], 16) == mask("CAP_KILL", "CAP_NET_ADMIN")
    assert int(st["CapEff"], 16) == mask("CAP_KILL", "CAP_NET_ADMIN")


def test_capabilities_nonroot_no_ambient(rt, bundle):
    bundle.process["user"] = {"uid": 1000, "gid": 1000}
    bundle.process["capabilities"] = {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"],
                                      "permitted": ["CAP_CHOWN"]}
    st = status_of(rt, bundle)
    assert int(st["CapBnd"], 16) == mask("CAP_CHOWN")
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0


def test_capability_effect(rt, bundle):
    """Without CAP_CHOWN root cannot chown a file it does not own... nor anything."""
    bundle.process["capabilities"] = {k: ["CAP_KILL"] for k in
                                      ("bounding", "effective", "permitted")}
    r = rt.run(bundle, ["sh", "-c", "touch /tmp/x && chown 1000 /tmp/x"])
    assert r.returncode != 0
    assert "Operation not permitted" in r.stderr
    b2 = rt.bundle()
    b2.process["capabilities"] = {k: ["CAP_CHOWN"] for k in
                                  ("bounding", "effective", "permitted")}
    out = rt.run_ok(b2, ["sh", "-c", "touch /tmp/x && chown 1000 /tmp/x && stat -c %u /tmp/x"])
    assert out.strip() == "1000"


def _seccomp(rules, default="SCMP_ACT_ALLOW"):
    return {"defaultAction": default,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": rules}


def test_seccomp_errno(rt, bundle):
    bundle.linux["seccomp"] = _seccomp([{"names": ["mkdir", "mkdirat"],
                                         "action": "SCMP_ACT_ERRNO", "errnoRet": 1}])
    r = rt.run(bundle, ["sh", "-c", "mkdir /tmp/d; echo rc=$?; touch /tmp/f; echo t=$?"])
    assert r.returncode == 0, r.stderr
    assert "rc=1" in r.stdout and "t=0" in r.stdout
    assert "Operation not permitted" in r.stderr


def test_seccomp_chosen_errno(rt, bundle):
    bundle.linux["seccomp"] = _seccomp([{"names": ["mkdir", "mkdirat"],
                                         "action": "SCMP_ACT_ERRNO", "errnoRet": 13}])
    r = rt.run(bundle, ["mkdir", "/tmp/d"])
    assert r.returncode == 1
    assert "Permission denied" in r.stderr


def test_seccomp_args(rt, bundle):
    """Block chmod only when the mode is 0777 (argument comparison)."""
    bundle.linux["seccomp"] = _seccomp([
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
        {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
    ])
    r = rt.run(bundle, ["sh", "-c", "touch /tmp/f; chmod 755 /tmp/f; echo a=$?; "
                        "chmod 777 /tmp/f; echo b=$?; stat -c %a /tmp/f"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["a=0", "b=1", "755"]


def test_seccomp_in_status(rt, bundle):
    bundle.linux["seccomp"] = _seccomp([{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    st = status_of(rt, bundle)
    assert st["Seccomp"] == "2"
    assert parse_status(rt.run_ok(rt.bundle(), ["cat", "/proc/self/status"]))["Seccomp"] == "0"
