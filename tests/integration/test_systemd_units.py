"""`bothy systemd generate`: the units bothy_systemd_unit() writes load in systemd.

The unit text comes from tests/unit/gen_unit (built with the unit tests: it prints
bothy_systemd_unit() for its options), and `systemd-analyze verify` (Debian's `systemd`
package) loads it the way systemd would.  No systemd runs as PID 1 here: `verify` needs
none, it starts a private manager in test mode that reads the unit files.  `--man=no`
skips the man-page check (no Documentation= here), `--generators=no` keeps the host's
generators out.  The ExecStart binary must exist and be executable: it is the built
bothy.

Build directory: $BOTHY_BUILD, default <repo>/build.
"""
import os
import shlex
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("BOTHY_BUILD") or os.path.join(REPO, "build"))
BOTHY = os.path.join(BUILD, "bothy")
GEN_UNIT = os.path.join(BUILD, "tests", "unit", "gen_unit")
UNIT = "bothy-test.service"


@pytest.fixture(scope="module")
def tools():
    for path in (BOTHY, GEN_UNIT):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} not built (ninja -C {BUILD})")
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze not found: apt-get install systemd (make deps)")


@pytest.fixture
def unitdir():
    d = tempfile.mkdtemp(prefix="bothy-units-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def generate(bothy=BOTHY, **opts):
    args = [GEN_UNIT, "--bothy", bothy]
    for key, value in opts.items():
        if value is not None:
            args += ["--" + key.replace("_", "-"), str(value)]
    r = subprocess.run(args, capture_output=True, text=True, check=True)
    return r.stdout


def verify(unitdir, text, debug=False):
    path = os.path.join(unitdir, UNIT)
    with open(path, "w") as f:
        f.write(text)
    env = dict(os.environ)
    env["SYSTEMD_LOG_LEVEL"] = "debug" if debug else "info"
    env["SYSTEMD_LOG_COLOR"] = "0"
    return subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", path],
                          capture_output=True, text=True, env=env, timeout=60)


def about_unit(r, unitdir):
    """verify's lines about our unit (warnings name the unit or its file)."""
    return [line for line in (r.stdout + r.stderr).splitlines()
            if UNIT in line or unitdir in line]


CASES = {
    "no": dict(name="blog", restart="no"),
    "always": dict(name="blog", restart="always"),
    "unless-stopped": dict(name="blog", restart="unless-stopped", stop_timeout=30),
    "on-failure": dict(name="blog", restart="on-failure"),
    "on-failure-3": dict(name="blog", restart="on-failure", max_retries=3),
    "root": dict(name="web", restart="always", root="/srv/bothy"),
    "root-spaces": dict(name="web", restart="always", root="/var/lib/my bothy root"),
    "odd-name": dict(name="it's \"x\" $HOME 100% a\\b; c", restart="on-failure", max_retries=1,
                     root="/tmp/a;b", description="the 100% blog"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unit_verifies(tools, unitdir, case):
    text = generate(**CASES[case])
    r = verify(unitdir, text)
    assert r.returncode == 0, f"systemd-analyze verify failed:\n{r.stderr}\n---\n{text}"
    assert about_unit(r, unitdir) == [], f"warnings about the unit:\n{r.stderr}\n---\n{text}"


def test_verify_catches_errors(tools, unitdir):
    """The check can fail: a missing ExecStart binary and an unknown key are reported."""
    text = generate(bothy="/nonexistent/bothy", name="blog", restart="always")
    r = verify(unitdir, text)
    assert r.returncode != 0
    assert any("/nonexistent/bothy" in line for line in about_unit(r, unitdir))
    r = verify(unitdir, generate(name="blog") + "[Service]\nBogusKey=1\n")
    assert any("BogusKey" in line for line in about_unit(r, unitdir))


def exec_lines(r):
    """ExecStart/ExecStop as systemd parsed them, from verify's debug dump of the unit
    ("Command Line: ..." in the order of the unit's settings).  systemd prints them with
    shell quoting, a literal "$" as "\\$" (which shlex leaves as it is inside double
    quotes); "$" stays "$$" until the command runs ("$$" then is "$")."""
    return [[w.replace("\\$", "$") for w in shlex.split(line.split("Command Line:", 1)[1])]
            for line in (r.stdout + r.stderr).splitlines() if "Command Line:" in line]


@pytest.mark.parametrize("case", ["root-spaces", "odd-name"])
def test_exec_argv(tools, unitdir, case):
    opts = CASES[case]
    r = verify(unitdir, generate(**opts), debug=True)
    assert r.returncode == 0, r.stderr
    lines = exec_lines(r)
    if not lines:
        pytest.skip("this systemd-analyze does not dump command lines at debug level")
    root = ["--root", opts["root"].replace("$", "$$")] if opts.get("root") else []
    name = opts["name"].replace("$", "$$")
    assert lines == [[BOTHY, *root, "start", "--attach", name],
                     [BOTHY, *root, "stop", "-t", str(opts.get("stop_timeout", 10)), name]]
