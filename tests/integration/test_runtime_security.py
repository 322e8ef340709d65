"""The runtime binary cannot be overwritten from a container (CVE-2019-5736): the
process that enters a container runs from a sealed memfd copy, not from the file
on disk."""
import os


def test_runtime_runs_from_sealed_copy(rt, bundle, workdir):
    """A createRuntime hook's parent is the runtime while it sets the container up:
    its /proc/PID/exe must be an anonymous copy that nobody can open for writing."""
    out = os.path.join(workdir, "exe.txt")
    script = (f"readlink /proc/$PPID/exe > {out}; "
              f"if (: >> /proc/$PPID/exe) 2>/dev/null; then echo WRITABLE >> {out}; "
              f"else echo refused >> {out}; fi")
    bundle.config["hooks"] = {"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", script],
         "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]}
    rt.run_ok(bundle, ["true"])
    link, verdict = open(out).read().split("\n")[:2]
    assert "memfd:" in link, link
    assert os.path.realpath(rt.binary) not in link
    assert verdict == "refused"


def test_exec_runs_from_sealed_copy(rt, bundle, workdir):
    """Same for `exec`, the case the CVE used: while the exec'd process runs, the
    runtime that launched it (its parent, waiting) is a sealed copy."""
    c = rt.create(bundle, ["sleep", "1000"], start=True)
    r = rt.exec(c.id, "sh", "-c", "readlink /proc/$PPID/exe 2>&1; "
                "(: >> /proc/$PPID/exe) 2>/dev/null && echo WRITABLE || echo refused")
    assert r.returncode == 0, r.stderr
    # Inside the pid namespace the runtime is not visible at all: $PPID is 0.
    assert "WRITABLE" not in r.stdout
