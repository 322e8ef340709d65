"""`bothy build`: every instruction, multi-stage, the cache across invocations, ignore files,
reproducible digests across roots, RUN mounts and secrets, bad input, and real builds on
Debian (apt-get from the configured mirror, gcc in one stage and busybox in the next)."""
import io
import json
import os
import subprocess
import tarfile

import pytest

from helpers.rootfs import make_tar
from images_helpers import BOTHY, registry  # noqa: F401

from test_containers import cleanup_root


def bothy(root, *args, timeout=300, input=None, env=None):
    return subprocess.run([BOTHY, "--root", root, *args], capture_output=True, text=True,
                          timeout=timeout, input=input, env=env)


def ok(root, *args, timeout=300, env=None):
    r = bothy(root, *args, timeout=timeout, env=env)
    assert r.returncode == 0, f"bothy {' '.join(args)}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def build(root, ctx, *args, timeout=600, env=None):
    return ok(root, "build", *args, ctx, timeout=timeout, env=env)


def build_q(root, ctx, *args, **kw):
    out = build(root, ctx, "-q", *args, **kw).strip()
    assert len(out) == 71 and out.startswith("sha256:"), out
    return out


def config(root, image):
    return json.loads(ok(root, "inspect", "--type", "image", image))["Config"]


def run(root, image, *cmd):
    return ok(root, "run", "--rm", "--network", "none", image, *cmd)


def write(ctx, files):
    for name, content in files.items():
        p = os.path.join(ctx, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(p, mode) as f:
            f.write(content)


def cache_entries(root):
    d = os.path.join(root, "build-cache")
    return sorted(e for e in os.listdir(d) if e != "mounts") if os.path.isdir(d) else []


def image_refs(root):
    return {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m["digest"]
            for m in json.load(open(os.path.join(root, "store", "index.json")))["manifests"]}


@pytest.fixture
def root(workdir):
    r = os.path.join(workdir, "bothy")
    tar = make_tar(os.path.join(workdir, "rootfs.tar"))
    subprocess.run([BOTHY, "--root", r, "import", tar, "bb:1"], check=True, capture_output=True)
    yield r
    cleanup_root(r)
    # Nothing of a build may stay mounted or running.
    assert not [l for l in open("/proc/self/mountinfo") if r in l.split()[4]]


@pytest.fixture
def ctx(workdir):
    d = os.path.join(workdir, "ctx")
    os.makedirs(d)
    return d


# ---- instructions --------------------------------------------------------------------------

def test_instructions(root, ctx):
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        data = b"from the archive\n"
        ti = tarfile.TarInfo("sub/inner.txt")
        ti.size, ti.uid, ti.gid, ti.mode = len(data), 7, 8, 0o640
        tf.addfile(ti, io.BytesIO(data))
    write(ctx, {
        "Containerfile": """\
# escape=\\
ARG BASE=bb:1
FROM ${BASE}
ARG GREETING
ARG WHO=world
ENV A=1 \\
    B="two words"
ENV C=${A}-${GREETING:-hello}-${WHO:+set}
LABEL org.example.name="bothy test" version=1
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=4 CMD test -f /etc/passwd
WORKDIR /app
WORKDIR sub
COPY a.txt ./
COPY --chown=user:wheel --chmod=0600 b.txt /owned/b.txt
COPY *.md /docs/
COPY dir/ /copied/
COPY <<EOF /app/heredoc.txt
greeting is ${WHO}
EOF
ADD arch.tar.gz /extracted/
RUN echo "$A $B $C $GREETING" > /env.txt && pwd > /pwd.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
RUN <<EOT
echo heredoc script > /script.txt
id -u >> /script.txt
EOT
SHELL ["/bin/sh", "-ec"]
RUN cat > /cat.txt <<EOT
line one
EOT
USER user
RUN id -u > /tmp/uid.txt
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo", "entry"]
CMD ["arg"]
""",
        "a.txt": "file a\n",
        "b.txt": "file b\n",
        "one.md": "1\n",
        "two.md": "2\n",
        "dir/x/y.txt": "deep\n",
        "arch.tar.gz": tgz.getvalue(),
    })
    out = build(root, ctx, "-t", "built:1", "--build-arg", "GREETING=hey")
    assert "STEP 1/" in out and "COMMIT" in out
    c = config(root, "built:1")
    cc = c["config"]
    env = dict(e.split("=", 1) for e in cc["Env"])
    assert env["A"] == "1" and env["B"] == "two words" and env["C"] == "1-hey-set"
    assert cc["Labels"] == {"org.example.name": "bothy test", "version": "1"}
    assert set(cc["ExposedPorts"]) == {"80/tcp", "53/udp"}
    assert set(cc["Volumes"]) == {"/data"}
    assert cc["StopSignal"] == "SIGQUIT"
    assert cc["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /etc/passwd"]
    assert cc["Healthcheck"]["Interval"] == 5_000_000_000 and cc["Healthcheck"]["Retries"] == 4
    assert cc["WorkingDir"] == "/app/sub"
    assert cc["User"] == "user"
    assert cc["Shell"] == ["/bin/sh", "-ec"]
    assert cc["OnBuild"] == ["RUN echo triggered"]
    assert cc["Entrypoint"] == ["/bin/echo", "entry"] and cc["Cmd"] == ["arg"]
    # One layer per RUN, COPY, ADD and new WORKDIR; the rest only in history.
    hist = c["history"]
    assert sum(1 for h in hist if not h.get("empty_layer")) == len(c["rootfs"]["diff_ids"])

    assert run(root, "built:1") == "entry arg\n"
    show = lambda p: run(root, "-u", "0", "--entrypoint", "cat", "built:1", p)  # noqa: E731
    assert show("/env.txt") == "1 two words 1-hey-set hey\n"
    assert show("/pwd.txt") == "/app/sub\n"
    assert show("/exec.txt") == "exec form\n"
    assert show("/script.txt") == "heredoc script\n0\n"
    assert show("/cat.txt") == "line one\n"
    assert show("/tmp/uid.txt") == "1000\n"
    assert show("/app/sub/a.txt") == "file a\n"
    assert show("/app/heredoc.txt") == "greeting is world\n"
    assert show("/docs/one.md") == "1\n" and show("/docs/two.md") == "2\n"
    assert show("/copied/x/y.txt") == "deep\n"
    assert show("/extracted/sub/inner.txt") == "from the archive\n"
    ls = run(root, "-u", "0", "--entrypoint", "ls", "built:1", "-ln", "/owned/b.txt", "/app/sub/a.txt",
             "/extracted/sub/inner.txt")
    lines = {l.split()[-1]: l.split() for l in ls.splitlines()}
    assert lines["/owned/b.txt"][0] == "-rw-------" and lines["/owned/b.txt"][2:4] == ["1000", "10"]
    assert lines["/app/sub/a.txt"][2:4] == ["0", "0"]
    assert lines["/extracted/sub/inner.txt"][0] == "-rw-r-----"
    assert lines["/extracted/sub/inner.txt"][2:4] == ["7", "8"]
    # The runtime's mount points (/etc/hosts, /proc, ...) are not in any layer.
    for d in c["rootfs"]["diff_ids"]:
        path = os.path.join(root, "store", "blobs", "sha256", d.split(":")[1])
        names = tarfile.open(path).getnames()
        assert not [n for n in names if n.rstrip("/") in ("etc/hosts", "etc/resolv.conf",
                                                           "etc/hostname", "proc", "sys", "dev")]


def test_entrypoint_shell_form_and_cmd_reset(root, ctx):
    write(ctx, {"Containerfile": "FROM bb:1\nCMD [\"base\"]\n",
                "Dockerfile.2": "FROM base:1\nENTRYPOINT echo from shell\n"})
    build(root, ctx, "-t", "base:1")
    build(root, ctx, "-f", os.path.join(ctx, "Dockerfile.2"), "-t", "child:1")
    cc = config(root, "child:1")["config"]
    assert cc["Entrypoint"] == ["/bin/sh", "-c", "echo from shell"]
    assert "Cmd" not in cc or cc["Cmd"] is None  # an inherited CMD is reset


def test_multi_stage_and_target(root, ctx):
    write(ctx, {"Containerfile": """\
FROM bb:1 AS one
RUN echo built in one > /one.txt
FROM scratch AS empty
COPY --from=one /one.txt /copied.txt
FROM bb:1 AS final
COPY --from=one /one.txt /from-one.txt
COPY --from=empty /copied.txt /from-empty.txt
COPY --from=bb:1 /etc/passwd /passwd.copy
RUN cat /from-one.txt /from-empty.txt > /both.txt
FROM bb:1 AS unused
RUN exit 3
"""})
    # The last stage fails: without --target it is built; with it, it is not.
    r = bothy(root, "build", "-t", "ms:1", ctx)
    assert r.returncode != 0 and "exit code 3" in r.stderr
    build(root, ctx, "-t", "ms:1", "--target", "final")
    assert run(root, "ms:1", "cat", "/both.txt") == "built in one\nbuilt in one\n"
    assert "root:x:0:0" in run(root, "ms:1", "cat", "/passwd.copy")
    # A scratch stage on its own: only the copied file.
    build(root, ctx, "-t", "empty:1", "--target", "empty")
    c = config(root, "empty:1")
    assert len(c["rootfs"]["diff_ids"]) == 1
    r = bothy(root, "build", "--target", "nope", ctx)
    assert r.returncode != 0 and 'target stage "nope" could not be found' in r.stderr


# ---- the cache -----------------------------------------------------------------------------

SMALL = """\
FROM bb:1
ENV GREETING=hello
RUN echo one > /one.txt
RUN echo two > /two.txt
COPY app.txt /app/
WORKDIR /app
COPY other.txt /app/
RUN cat /app/app.txt /app/other.txt > /app/both.txt
CMD ["cat", "/app/both.txt"]
"""


def test_cache_hits_and_misses(root, ctx):
    write(ctx, {"Containerfile": SMALL, "app.txt": "app\n", "other.txt": "other\n"})
    out1 = build(root, ctx, "-t", "c:1")
    assert "Using cache" not in out1
    d1 = image_refs(root)["docker.io/library/c:1"]
    out2 = build(root, ctx, "-t", "c:2")
    # Every layer step is a hit the second time, and the image is the same.
    assert out2.count("Using cache") == 6, out2
    assert image_refs(root)["docker.io/library/c:2"] == d1
    assert run(root, "c:2") == "app\nother\n"
    # Touching a file changes nothing; changing the second copied file invalidates
    # only the steps from that COPY on.
    os.utime(os.path.join(ctx, "app.txt"), (1, 1))
    assert build(root, ctx, "-t", "c:3").count("Using cache") == 6
    write(ctx, {"other.txt": "changed\n"})
    out4 = build(root, ctx, "-t", "c:4")
    steps = [l for l in out4.splitlines() if l.startswith("STEP") or "Using cache" in l]
    hits = [steps[i - 1] for i, l in enumerate(steps) if "Using cache" in l]
    assert [h.split(": ", 1)[1] for h in hits] == [
        "RUN echo one > /one.txt", "RUN echo two > /two.txt", "COPY app.txt /app/",
        "WORKDIR /app"], out4
    assert run(root, "c:4") == "app\nchanged\n"
    # A changed build arg in scope invalidates RUN; --no-cache runs everything.
    out5 = build(root, ctx, "-t", "c:5", "--no-cache")
    assert "Using cache" not in out5
    # Prune drops the cache with what no image needs.
    n = len(cache_entries(root))
    assert n > 0
    ok(root, "rmi", "c:1", "c:2", "c:3", "c:4", "c:5")
    p = ok(root, "prune")
    assert f"removed {n} build cache entries" in p
    assert cache_entries(root) == []
    assert "Using cache" not in build(root, ctx, "-t", "c:6")


def test_build_arg_changes_run_key(root, ctx):
    write(ctx, {"Containerfile": "FROM bb:1\nARG V=1\nRUN echo $V > /v\n"})
    build(root, ctx, "-t", "a:1")
    assert "Using cache" in build(root, ctx, "-t", "a:1")
    out = build(root, ctx, "-t", "a:2", "--build-arg", "V=2")
    assert "Using cache" not in out
    assert run(root, "a:2", "cat", "/v") == "2\n"


# ---- ignore files --------------------------------------------------------------------------

def test_ignore_file(root, ctx):
    write(ctx, {
        "Containerfile": "FROM bb:1\nCOPY . /ctx/\n",
        ".dockerignore": "*.log\nsecret/\n**/*.tmp\n!keep.log\n",
        "a.txt": "a\n", "debug.log": "x\n", "keep.log": "kept\n",
        "secret/key": "k\n", "deep/er/x.tmp": "t\n", "deep/er/y.txt": "y\n",
    })
    build(root, ctx, "-t", "ig:1")
    found = sorted(run(root, "ig:1", "find", "/ctx", "-type", "f").split())
    assert found == ["/ctx/.dockerignore", "/ctx/Containerfile", "/ctx/a.txt",
                     "/ctx/deep/er/y.txt", "/ctx/keep.log"]
    # A change to an ignored file does not invalidate the COPY.
    write(ctx, {"debug.log": "changed\n"})
    assert "Using cache" in build(root, ctx, "-t", "ig:1")
    # .containerignore wins over .dockerignore.
    write(ctx, {".containerignore": "a.txt\n"})
    build(root, ctx, "-t", "ig:2")
    found = run(root, "ig:2", "find", "/ctx", "-type", "f").split()
    assert "/ctx/a.txt" not in found and "/ctx/debug.log" in found


# ---- reproducible --------------------------------------------------------------------------

def test_reproducible_across_roots(root, ctx, workdir):
    write(ctx, {"Containerfile": SMALL, "app.txt": "app\n", "other.txt": "other\n"})
    other = os.path.join(workdir, "other-root")
    # The same base image on both roots (an import records the time it was made): moved
    # as an oci-archive, which keeps its blobs and so its digest.
    archive = os.path.join(workdir, "bb.oci.tar")
    ok(root, "save", "--format", "oci-archive", "-o", archive, "bb:1")
    subprocess.run([BOTHY, "--root", other, "load", "-i", archive], check=True,
                   capture_output=True)
    try:
        # The two roots' base images must be identical for the digests to match.
        assert image_refs(root)["docker.io/library/bb:1"] == \
            image_refs(other)["docker.io/library/bb:1"]
        d1 = build_q(root, ctx, "--timestamp", "1700000000", "-t", "r:1")
        os.utime(os.path.join(ctx, "app.txt"), (12345, 12345))
        d2 = build_q(other, ctx, "--timestamp", "1700000000", "-t", "r:1")
        assert d1 == d2
        env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
        assert build_q(other, ctx, "--no-cache", env=env) == d1
        c = config(root, "r:1")
        assert c["created"] == "2023-11-14T22:13:20Z"
        assert {h["created"] for h in c["history"][-8:]} == {"2023-11-14T22:13:20Z"}
        layer = c["rootfs"]["diff_ids"][-1].split(":")[1]
        with tarfile.open(os.path.join(root, "store", "blobs", "sha256", layer)) as tf:
            for m in tf.getmembers():
                assert m.mtime == 1700000000 and m.uname == "" and m.gname == ""
        # Without a timestamp, a second build differs in time only.
        assert build_q(root, ctx, "--no-cache") != d1
    finally:
        cleanup_root(other)


# ---- RUN mounts and secrets ----------------------------------------------------------------

def test_run_mounts_and_secret(root, ctx, workdir):
    secret = os.path.join(workdir, "token")
    with open(secret, "w") as f:
        f.write("s3cret")
    write(ctx, {"Containerfile": """\
FROM bb:1
RUN --mount=type=cache,target=/cache echo x >> /cache/runs && wc -l < /cache/runs > /count
RUN --mount=type=secret,id=tok,required cat /run/secrets/tok > /dev/null && test -s /run/secrets/tok && echo ok > /secret-ok
RUN --mount=type=secret,id=tok,target=/tok,required=true test "$(cat /tok)" = s3cret
RUN --mount=type=bind,source=data,target=/src cp /src/f.txt /bound.txt
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test -f /scratch/x
RUN --network=none test "$(ls /sys/class/net)" = lo
""", "data/f.txt": "bound\n"})
    build(root, ctx, "-t", "m:1", "--secret", f"id=tok,src={secret}")
    assert run(root, "m:1", "cat", "/count").strip() == "1"
    assert run(root, "m:1", "cat", "/secret-ok") == "ok\n"
    assert run(root, "m:1", "cat", "/bound.txt") == "bound\n"
    # The secret never lands in a layer, nor do the mount points.
    out = run(root, "m:1", "sh", "-c", "ls /run/secrets /tok /scratch /cache /src 2>&1; true")
    assert "s3cret" not in out
    for d in config(root, "m:1")["rootfs"]["diff_ids"]:
        blob = open(os.path.join(root, "store", "blobs", "sha256", d.split(":")[1]), "rb").read()
        assert b"s3cret" not in blob
    # The cache mount keeps its content between builds.
    build(root, ctx, "-t", "m:2", "--no-cache", "--secret", f"id=tok,src={secret}")
    assert run(root, "m:2", "cat", "/count").strip() == "2"
    # A required secret that was not given.
    r = bothy(root, "build", "-t", "m:3", "--no-cache", ctx)
    assert r.returncode != 0 and 'secret "tok" is required' in r.stderr


# ---- output and formats --------------------------------------------------------------------

def test_quiet_and_docker_format(root, ctx):
    write(ctx, {"Containerfile": "FROM bb:1\nRUN echo hi\n"})
    r = bothy(root, "build", "-q", "--format", "docker", "-t", "d:1", ctx)
    assert r.returncode == 0 and r.stdout.count("\n") == 1 and r.stdout.startswith("sha256:")
    digest = r.stdout.strip()
    m = json.load(open(os.path.join(root, "store", "blobs", "sha256", digest.split(":")[1])))
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    out = build(root, ctx, "-t", "d:2")
    assert "STEP 2/2: RUN echo hi" in out and "hi\n" in out


# ---- bad input -----------------------------------------------------------------------------

def state_of(root):
    layers = sorted(os.listdir(os.path.join(root, "layers")))
    blobs = sorted(os.listdir(os.path.join(root, "store", "blobs", "sha256")))
    return layers, blobs, image_refs(root), cache_entries(root)


@pytest.mark.parametrize("cf,files,want", [
    ("FROM bb:1\nFORM x\n", {}, "Containerfile:2: unknown instruction: FORM"),
    ("FROM bb:1\nCOPY missing.txt /x\n", {}, "Containerfile:2"),
    ("FROM bb:1\nCOPY ../outside /x\n", {}, "outside the build context"),
    ("FROM bb:1\nCOPY link /x\n", {"@link": "/etc/passwd"}, "outside the build context"),
    ("FROM nosuch.invalid/image:1\n", {}, "nosuch.invalid/image"),
    ("FROM bb:1\nRUN echo before; echo failing >&2; exit 7\n", {}, "exit code 7"),
    ("FROM bb:1\nCOPY a b c\n", {"a": "1", "b": "2"}, "Containerfile:2"),
])
def test_bad_input(root, ctx, cf, files, want):
    write(ctx, {"Containerfile": cf})
    for name, content in files.items():
        if name.startswith("@"):
            os.symlink(content, os.path.join(ctx, name[1:]))
        else:
            write(ctx, {name: content})
    before = state_of(root)
    r = bothy(root, "build", "-t", "bad:1", ctx)
    assert r.returncode != 0
    assert want in r.stderr, r.stderr
    assert state_of(root) == before
    assert not os.listdir(os.path.join(root, "build"))


def test_failing_run_shows_last_lines(root, ctx):
    write(ctx, {"Containerfile": "FROM bb:1\nRUN echo good > /g\n"
                                 "RUN for i in 1 2 3; do echo line$i; done; exit 9\n"})
    r = bothy(root, "build", "-t", "f:1", ctx)
    assert r.returncode != 0
    assert "Containerfile:3" in r.stderr and "exit code 9" in r.stderr
    assert "line3" in r.stderr
    # The step before it was cached; the failing one was not, and no tag was set.
    assert len(cache_entries(root)) == 1
    assert "docker.io/library/f:1" not in image_refs(root)


def test_no_context(root, workdir):
    r = bothy(root, "build", os.path.join(workdir, "nope"))
    assert r.returncode != 0 and "nope" in r.stderr
    d = os.path.join(workdir, "empty")
    os.makedirs(d)
    r = bothy(root, "build", d)
    assert r.returncode != 0 and "no Containerfile or Dockerfile" in r.stderr


# ---- Debian: apt-get from the mirror, gcc, multi-stage --------------------------------------

@pytest.fixture
def debian(root):
    tar = subprocess.run(["sh", os.path.join(os.path.dirname(__file__), "..", "..", "scripts",
                                             "debian-rootfs.sh")],
                         capture_output=True, text=True, timeout=1800)
    if tar.returncode != 0:
        pytest.fail(f"no Debian image: {tar.stderr}")
    ok(root, "import", tar.stdout.strip(), "debian:12", timeout=600)
    return "debian:12"


def test_debian_gcc_multi_stage(root, ctx, debian):
    write(ctx, {
        "Containerfile": """\
FROM debian:12 AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o hello hello.c
FROM bb:1
COPY --from=build /src/hello /usr/local/bin/hello
CMD ["hello"]
""",
        "hello.c": '#include <stdio.h>\nint main(void){puts("hello from gcc");return 0;}\n',
    })
    build(root, ctx, "-t", "hello:1", "--network", "host", timeout=1500)
    assert run(root, "hello:1") == "hello from gcc\n"
    c = config(root, "hello:1")
    assert len(c["rootfs"]["diff_ids"]) == len(config(root, "bb:1")["rootfs"]["diff_ids"]) + 1


def test_killed_build_is_cleaned_up_by_the_next(root, ctx):
    import signal
    import time
    write(ctx, {"Containerfile": "FROM bb:1\nRUN echo started; sleep 60\n"})
    p = subprocess.Popen([BOTHY, "--root", root, "build", "-t", "k:1", ctx],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # Wait until the RUN has started: its output comes through.
        deadline = time.monotonic() + 60
        for line in p.stdout:
            if line.strip() == "started" or time.monotonic() > deadline:
                break
        builds = os.path.join(root, "build")
        assert os.listdir(builds)
        assert [l for l in open("/proc/self/mountinfo") if builds in l.split()[4]]
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # The next build finds the dead one's directory unlocked: its container is killed,
    # its mounts go, its directory too.
    write(ctx, {"Containerfile": "FROM bb:1\nRUN echo second > /s\n"})
    build(root, ctx, "-t", "k:2")
    assert os.listdir(os.path.join(root, "build")) == []
    assert not [l for l in open("/proc/self/mountinfo") if root in l.split()[4]]
    assert not os.listdir(os.path.join(root, "runtime")) or \
        all(not d.startswith("build-") for d in os.listdir(os.path.join(root, "runtime")))


def test_onbuild_triggers_run_in_the_child(root, ctx):
    write(ctx, {"Containerfile": "FROM bb:1\nONBUILD COPY marker.txt /from-trigger.txt\n"
                                 "ONBUILD RUN echo triggered > /onbuild.txt\n",
                "Dockerfile.child": "FROM parent:1\nRUN cat /onbuild.txt /from-trigger.txt > /both\n",
                "marker.txt": "child context\n"})
    build(root, ctx, "-t", "parent:1")
    # The parent itself did not run them.
    assert bothy(root, "run", "--rm", "parent:1", "test", "-e", "/onbuild.txt").returncode == 1
    out = build(root, ctx, "-f", os.path.join(ctx, "Dockerfile.child"), "-t", "child:1")
    assert "RUN echo triggered > /onbuild.txt" in out
    assert run(root, "child:1", "cat", "/both") == "triggered\nchild context\n"
    # Triggers run once: the child image does not carry them on.
    assert not config(root, "child:1")["config"].get("OnBuild")


def test_add_url(root, ctx, workdir):
    import functools
    import hashlib
    import http.server
    import threading
    srv_dir = os.path.join(workdir, "www")
    os.makedirs(srv_dir)
    with open(os.path.join(srv_dir, "file.txt"), "w") as f:
        f.write("served\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=srv_dir)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/file.txt"
        digest = "sha256:" + hashlib.sha256(b"served\n").hexdigest()
        write(ctx, {"Containerfile": f"FROM bb:1\nADD --checksum={digest} {url} /dl/\n"
                                     f"ADD {url} /renamed.txt\n"})
        build(root, ctx, "-t", "u:1")
        assert run(root, "u:1", "cat", "/dl/file.txt") == "served\n"
        ls = run(root, "u:1", "ls", "-l", "/renamed.txt")
        assert ls.startswith("-rw-------")
        # Same content: cached; new content: fetched into a new layer.
        assert build(root, ctx, "-t", "u:1").count("Using cache") == 2
        with open(os.path.join(srv_dir, "file.txt"), "w") as f:
            f.write("changed\n")
        r = bothy(root, "build", "-t", "u:2", ctx)
        assert r.returncode != 0 and "checksum mismatch" in r.stderr and "Containerfile:2" in r.stderr
        write(ctx, {"Containerfile": f"FROM bb:1\nADD {url} /dl/\n"})
        build(root, ctx, "-t", "u:3")
        assert run(root, "u:3", "cat", "/dl/file.txt") == "changed\n"
        # A URL that does not answer 200.
        write(ctx, {"Containerfile": f"FROM bb:1\nADD {url}.missing /x\n"})
        r = bothy(root, "build", "-t", "u:4", ctx)
        assert r.returncode != 0 and "404" in r.stderr, r.stderr
        write(ctx, {"Containerfile": f"FROM bb:1\nCOPY {url} /x\n"})
        r = bothy(root, "build", "-t", "u:4", ctx)
        assert r.returncode != 0 and "needs ADD" in r.stderr
    finally:
        srv.shutdown()


def test_base_image_pulled_and_label_and_backtick_escape(root, ctx, workdir, registry):
    # bb:1 goes to a registry on 127.0.0.1; a fresh root builds FROM it and pulls it.
    ref = f"{registry.host}/tests/bb:1"
    ok(root, "push", "bb:1", ref)
    other = os.path.join(workdir, "fresh-root")
    try:
        write(ctx, {"Containerfile": f"# escape=`\nFROM {ref}\nRUN echo one `\n two > /x\n"})
        out = build(other, ctx, "-t", "p:1", "--label", "made.by=bothy", "--label", "empty=")
        assert "Pulling" in out
        assert run(other, "p:1", "cat", "/x") == "one two\n"
        assert config(other, "p:1")["config"]["Labels"] == {"made.by": "bothy", "empty": ""}
        # The base is present now: no pull; --pull fetches it again, here unchanged.
        assert "Pulling" not in build(other, ctx, "-t", "p:1")
        out = build(other, ctx, "-t", "p:1", "--pull")
        assert "Pulling" in out and out.count("Using cache") == 1
    finally:
        cleanup_root(other)
