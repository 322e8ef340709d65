#!/bin/sh
# bench/pull.sh: pull + unpack from a docker-registry on 127.0.0.1, side by side in
# one run: bothy pull vs podman pull vs skopeo copy (into an oci: directory).
#   images: a Debian minbase (debootstrap from the configured mirror, ~95 MB gzip)
#           and one of 4 x 25 MB random layers;
#   plus:   bothy pulling an image that is already present (one manifest round trip).
#
#   bench/pull.sh            print a markdown table
#   bench/pull.sh --update   ... and rewrite the pull section of bench/RESULTS.md
# Env: RUNS (default 5). Needs root, docker-registry, skopeo, podman, hyperfine,
# debootstrap (make deps installs them).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
RUNS=${RUNS:-5}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
for t in docker-registry skopeo podman hyperfine python3; do
  command -v "$t" >/dev/null || { echo "pull.sh: $t missing (make deps)" >&2; exit 1; }
done
[ -x "$BOTHY" ] || { echo "pull.sh: $BOTHY not built" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bothy-bench-pull.XXXXXX)
REG_PID=
cleanup() {
  if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

debian_tar=$(sh "$REPO/scripts/debian-rootfs.sh")
cache=${BOTHY_CACHE:-/var/cache/bothy}/bench
mkdir -p "$cache"

# OCI layouts, cached by their inputs.
REPO="$REPO" /usr/bin/python3 - "$debian_tar" "$cache" <<'PY'
import hashlib, os, random, sys
sys.path.insert(0, os.path.join(os.environ["REPO"], "tests", "integration"))
from images_helpers import write_oci_layout
tar, cache = sys.argv[1], sys.argv[2]
st = os.stat(tar)
key = hashlib.sha256(f"{tar} {st.st_size} {st.st_mtime} v1".encode()).hexdigest()[:16]
deb = os.path.join(cache, f"layout-debian-{key}")
if not os.path.exists(os.path.join(deb, "index.json")):
    write_oci_layout(deb + ".tmp", [(open(tar, "rb").read(), "gzip")], tag="latest")
    os.rename(deb + ".tmp", deb)
rnd = os.path.join(cache, "layout-random-4x25-v1")
if not os.path.exists(os.path.join(rnd, "index.json")):
    import io, tarfile
    layers = []
    rng = random.Random(42)
    for i in range(4):
        data = rng.randbytes(25 * 1000 * 1000)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            ti = tarfile.TarInfo(f"data/{i}.bin")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        layers.append((buf.getvalue(), "gzip"))
    write_oci_layout(rnd + ".tmp", layers, tag="latest")
    os.rename(rnd + ".tmp", rnd)
open(os.path.join(cache, "current"), "w").write(f"{deb}\n{rnd}\n")
PY
DEB_LAYOUT=$(sed -n 1p "$cache/current")
RND_LAYOUT=$(sed -n 2p "$cache/current")

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REG
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for i in $(seq 100); do
  /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://$REG/v2/')" 2>/dev/null && break
  sleep 0.1
done
for l in debian:"$DEB_LAYOUT" random:"$RND_LAYOUT"; do
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:${l#*:}:latest" \
    "docker://$REG/bench/${l%%:*}:latest"
done

P="podman --root $WORK/podman --runroot $WORK/podman-run --storage-driver vfs --cgroup-manager=cgroupfs --events-backend=file"
for img in debian random; do
  hyperfine --runs "$RUNS" --export-json "$WORK/$img.json" \
    -n bothy --prepare "rm -rf $WORK/bothy" "$BOTHY --root $WORK/bothy pull --quiet $REG/bench/$img:latest" \
    -n podman --prepare "$P rmi -a -f >/dev/null 2>&1; rm -rf $WORK/podman $WORK/podman-run" \
      "$P pull -q --tls-verify=false $REG/bench/$img:latest" \
    -n skopeo --prepare "rm -rf $WORK/oci" \
      "skopeo --insecure-policy copy --quiet --src-tls-verify=false docker://$REG/bench/$img:latest oci:$WORK/oci:x" \
    --show-output >"$WORK/$img.log" 2>&1 || { tail -30 "$WORK/$img.log"; exit 1; }
done
# Already present: a second pull is one manifest request.
"$BOTHY" --root "$WORK/bothy2" pull --quiet "$REG/bench/debian:latest" >/dev/null
hyperfine --style basic --warmup 2 --runs 20 --export-json "$WORK/present.json" \
  -n bothy-present "$BOTHY --root $WORK/bothy2 pull --quiet $REG/bench/debian:latest" \
  -n bothy-images "$BOTHY --root $WORK/bothy2 images --quiet" >"$WORK/present.log" 2>&1 ||
  { cat "$WORK/present.log"; exit 1; }

/usr/bin/python3 - "$WORK" "$UPDATE" "$HERE/RESULTS.md" "$REG" <<'PY'
import datetime, json, os, statistics, sys
work, update, results = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
def med(name):
    return {r["command"]: statistics.median(r["times"]) for r in
            json.load(open(os.path.join(work, name)))["results"]}
rows = []
for img, label in (("debian", "Debian bookworm minbase (1 layer, ~93 MB gzip)"),
                   ("random", "4 x 25 MB random layers")):
    m = med(img + ".json")
    rows.append(f"| {label} | {m['bothy']:.2f} s | {m['podman']:.2f} s | {m['skopeo']:.2f} s "
                f"| {m['bothy'] / m['podman']:.2f}x |")
p = med("present.json")
table = ["| image | bothy pull | podman pull | skopeo copy (oci:) | bothy / podman |",
         "|---|---:|---:|---:|---:|"] + rows
table.append("")
table.append(f"Already present: `bothy pull` {p['bothy-present'] * 1000:.1f} ms "
             f"(one manifest round trip), against {p['bothy-images'] * 1000:.1f} ms for a local "
             f"`bothy images`: {1000 * (p['bothy-present'] - p['bothy-images']):.1f} ms more.")
text = "\n".join(table)
print(text)
if update:
    section = ("<!-- pull:begin (written by bench/pull.sh --update) -->\n"
               "## Pull + unpack from a local registry\n\n"
               f"Measured {datetime.date.today()} by `bench/pull.sh --update`: a docker-registry on "
               "127.0.0.1 (filesystem storage), hyperfine medians of "
               f"{len(json.load(open(os.path.join(work, 'debian.json')))['results'][0]['times'])} runs, "
               "each from an empty store (podman: vfs driver, private root; skopeo: into an "
               "oci: directory, no unpacking).\n\nTarget (DESIGN.md §6): bothy at most a third of "
               "podman.\n\n" + text + "\n<!-- pull:end -->")
    old = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    if "<!-- pull:begin" in old:
        a = old.index("<!-- pull:begin"); b = old.index("<!-- pull:end -->") + len("<!-- pull:end -->")
        new = old[:a] + section + old[b:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
