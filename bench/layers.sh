#!/bin/sh
# bench/layers.sh: 50 running containers from one Debian image keep one copy of its
# layers on disk. Measures the disk used by the layer store and by the containers'
# own directories before and after, and the memory of their 50 monitors.
#   bench/layers.sh [--update]   (--update rewrites the layers section of bench/RESULTS.md)
# Env: N (default 50).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
N=${N:-50}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
WORK=$(mktemp -d /tmp/bothy-bench-layers.XXXXXX)
R="$WORK/bothy"
cleanup() {
  "$BOTHY" --root "$R" rm -f $("$BOTHY" --root "$R" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  "$BOTHY" --root "$R" network rm bothy >/dev/null 2>&1 || true
  for m in $(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

TAR=$(sh "$REPO/scripts/debian-rootfs.sh")
"$BOTHY" --root "$R" import "$TAR" bench/debian:12 >/dev/null
kb() { du -skx "$1" | cut -f1; }
layers0=$(kb "$R/layers")
nlayers0=$(ls "$R/layers" | wc -l)
for i in $(seq "$N"); do
  "$BOTHY" --root "$R" run -d --name "c$i" bench/debian:12 sleep 1000 >/dev/null
done
# Each writes a little, as a real service would.
for i in $(seq "$N"); do
  "$BOTHY" --root "$R" exec "c$i" sh -c 'echo "$HOSTNAME" > /var/tmp/mark' >/dev/null
done
sleep 3 # the monitors go idle
running=$("$BOTHY" --root "$R" ps -q | wc -l)
layers1=$(kb "$R/layers")
nlayers1=$(ls "$R/layers" | wc -l)
containers=$(kb "$R/containers")
rss=0
for i in $(seq "$N"); do
  m=$("$BOTHY" --root "$R" inspect "c$i" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["MonitorPid"])')
  rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' "/proc/$m/status")))
done

/usr/bin/python3 - "$UPDATE" "$HERE/RESULTS.md" "$N" "$running" "$layers0" "$nlayers0" \
  "$layers1" "$nlayers1" "$containers" "$rss" <<'PY'
import datetime, sys
update, results = sys.argv[1] == "1", sys.argv[2]
n, running, l0, nl0, l1, nl1, cont, rss = (int(x) for x in sys.argv[3:])
text = "\n".join([
    "| | before | with the containers running |", "|---|---:|---:|",
    f"| layer store (`du -skx layers/`) | {l0 / 1024:.1f} MiB in {nl0} layer(s) | "
    f"{l1 / 1024:.1f} MiB in {nl1} layer(s) |",
    f"| all {n} containers' own directories (upper layers, config, logs) | 0 | "
    f"{cont / 1024:.1f} MiB ({cont / n:.0f} kB each) |",
    f"| the {n} monitors' resident memory (VmRSS, sum) | | {rss / 1024:.1f} MiB "
    f"({rss / n:.0f} kB each) |",
    "", f"Containers running: {running} of {n}."])
print(text)
if update:
    section = ("<!-- layers:begin (written by bench/layers.sh --update) -->\n"
               f"## {n} containers from one image\n\n"
               f"Measured {datetime.date.today()} by `bench/layers.sh --update`: the Debian "
               f"minbase image (debootstrap), {n} containers started with `run -d ... sleep`, "
               "each then writing a file.\n\n"
               "Target (issue 3): the containers keep one copy of the image's layers on disk.\n\n"
               + text + "\n<!-- layers:end -->")
    old = open(results).read()
    if "<!-- layers:begin" in old:
        a = old.index("<!-- layers:begin")
        z = old.index("<!-- layers:end -->") + len("<!-- layers:end -->")
        new = old[:a] + section + old[z:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
