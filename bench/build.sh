#!/bin/sh
# bench/build.sh: building a small Containerfile (FROM busybox, ENV, 2x RUN, COPY, WORKDIR,
# CMD), side by side in one run: bothy vs `buildah build --layers` vs `podman build
# --layers`. Three cases: cold (no cache), warm (everything cached) and one changed COPY
# input (the steps from the COPY on run again).
#   bench/build.sh [--update]   (--update rewrites the build section of bench/RESULTS.md)
# Env: RUNS (default 20), DRIVER (podman/buildah storage driver, default overlay).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
RUNS=${RUNS:-20}
DRIVER=${DRIVER:-overlay}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
for t in podman buildah hyperfine; do
  command -v "$t" >/dev/null || { echo "build.sh: $t missing (make deps)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/bothy-bench-build.XXXXXX)
cleanup() {
  if [ -n "${S:-}" ]; then buildah $S rm --all >/dev/null 2>&1 || true; fi
  for m in $(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

sh "$REPO/scripts/busybox-rootfs.sh" "$WORK/rootfs"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$BOTHY" --root "$WORK/bothy" import "$WORK/rootfs.tar" bench/busybox:1 >/dev/null
# podman and buildah share one store, as they do on a real machine.
S="--root $WORK/containers --runroot $WORK/containers-run --storage-driver $DRIVER"
P="podman $S --cgroup-manager=cgroupfs --events-backend=file --runtime runc"
$P import -q "$WORK/rootfs.tar" localhost/bench/busybox:1 >/dev/null

mkdir -p "$WORK/ctx"
cat >"$WORK/ctx/Containerfile" <<'EOF'
FROM bench/busybox:1
ENV APP_HOME=/app GREETING=hello
RUN mkdir -p /app/data && echo "$GREETING" > /app/greeting
RUN adduser -D -H -u 1001 app 2>/dev/null || echo "app:x:1001:1001::/app:/bin/sh" >> /etc/passwd
COPY app.sh /app/app.sh
WORKDIR /app
CMD ["/bin/sh", "/app/app.sh"]
EOF
printf '#!/bin/sh\necho "$GREETING from app"\n' >"$WORK/ctx/app.sh"
# podman and buildah name the local image with localhost/.
sed 's|^FROM bench/busybox:1|FROM localhost/bench/busybox:1|' "$WORK/ctx/Containerfile" \
  >"$WORK/ctx/Containerfile.peer"

B_BOTHY="$BOTHY --root $WORK/bothy build -q -t bench/app:1"
B_BUILDAH="buildah $S build --layers -q --runtime runc -f $WORK/ctx/Containerfile.peer -t bench/app:1"
B_PODMAN="$P build --layers -q --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 -f $WORK/ctx/Containerfile.peer -t bench/app:2"
# The changed input: a new app.sh each run.
CHANGE="sh -c 'printf \"#!/bin/sh\\necho changed %s\\n\" \$(date +%s%N) > $WORK/ctx/app.sh'"

# Sanity: every tool builds it, and bothy's image runs.
C=$WORK/ctx
$B_BOTHY $C >/dev/null
$B_BUILDAH $C >/dev/null
$B_PODMAN $C >/dev/null
out=$("$BOTHY" --root "$WORK/bothy" run --rm --network none bench/app:1)
[ "$out" = "hello from app" ] || { echo "build.sh: the image does not run: $out" >&2; exit 1; }

hf() {
  name=$1; shift
  hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$WORK/$name.json" "$@" \
    >"$WORK/$name.log" 2>&1 || { cat "$WORK/$name.log"; exit 1; }
}
hf warm -n bothy "$B_BOTHY $C" -n buildah "$B_BUILDAH $C" -n podman "$B_PODMAN $C"
hf cold -n bothy "$B_BOTHY --no-cache $C" -n buildah "$B_BUILDAH --no-cache $C" \
  -n podman "$B_PODMAN --no-cache $C"
hf changed --prepare "$CHANGE" -n bothy "$B_BOTHY $C" -n buildah "$B_BUILDAH $C" \
  -n podman "$B_PODMAN $C"

/usr/bin/python3 - "$WORK" "$UPDATE" "$HERE/RESULTS.md" "$RUNS" "$DRIVER" <<'PY'
import datetime, json, statistics, sys
work, update, results, runs, driver = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], sys.argv[5]
cases = [("warm", "warm cache (nothing changed)"), ("cold", "cold (--no-cache)"),
         ("changed", "one COPY input changed")]
lines = ["| case | bothy | buildah | podman | buildah / bothy | podman / bothy |",
         "|---|---:|---:|---:|---:|---:|"]
for key, label in cases:
    med = {r["command"]: statistics.median(r["times"])
           for r in json.load(open(f"{work}/{key}.json"))["results"]}
    b = med["bothy"]
    lines.append(f"| {label} | {b * 1000:.1f} ms | {med['buildah'] * 1000:.0f} ms | "
                 f"{med['podman'] * 1000:.0f} ms | {med['buildah'] / b:.1f}x | "
                 f"{med['podman'] / b:.1f}x |")
text = "\n".join(lines)
print(text)
if update:
    section = ("<!-- build:begin (written by bench/build.sh --update) -->\n"
               "## `build` of a small Containerfile\n\n"
               f"Measured {datetime.date.today()} by `bench/build.sh --update`: hyperfine, warmup 2, "
               f"{runs} runs each; FROM busybox, ENV, 2x RUN, COPY, WORKDIR, CMD; buildah and "
               f"podman with `--layers`, the {driver} storage driver, one shared store; medians.\n\n"
               "Targets (issue 6): a warm rebuild ≤ 50 ms and ≥ 10x faster than buildah; a cold "
               "build at most half of buildah's time.\n\n" + text + "\n<!-- build:end -->")
    old = open(results).read()
    if "<!-- build:begin" in old:
        a = old.index("<!-- build:begin"); z = old.index("<!-- build:end -->") + len("<!-- build:end -->")
        new = old[:a] + section + old[z:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
