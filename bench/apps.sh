#!/bin/sh
# bench/apps.sh: installing the bundled static-site app with its image already built
# (`bothy install static-site`, then `bothy remove` between runs), and the memory of
# bothy's own processes with 5 instances running.
#   bench/apps.sh [--update]   (--update rewrites the apps section of bench/RESULTS.md)
# Env: RUNS (default 10).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
RUNS=${RUNS:-10}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
command -v hyperfine >/dev/null || { echo "apps.sh: hyperfine missing (make deps)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/bothy-bench-apps.XXXXXX)
# mktemp makes it 0700: --userns=auto containers must be able to pass through it.
chmod 755 "$WORK"
B="$BOTHY --root $WORK/bothy"
export BOTHY_CATALOG="$REPO/catalog"
cleanup() {
  for n in $($B ls --format json 2>/dev/null | /usr/bin/python3 -c \
      'import json,sys; print(" ".join(i["Name"] for i in json.load(sys.stdin)))' 2>/dev/null); do
    $B remove "$n" >/dev/null 2>&1 || true
  done
  $B rm -f $($B ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  for m in $(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The Debian base the catalog builds on: the cached debootstrap tree, imported under the
# name `bothy image bootstrap debian` gives it.
$B import "$(sh "$REPO/scripts/debian-rootfs.sh")" localhost/bothy/debian:12 >/dev/null
# The first install builds the image; the measured ones find it built.
$B install -q static-site --name first >/dev/null
$B remove first >/dev/null

hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/install.json" \
  --prepare "$B remove bench >/dev/null 2>&1 || true" \
  -n "bothy install static-site" "$B install -q static-site --name bench" \
  >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; exit 1; }
$B remove bench >/dev/null
addr=$($B install -q static-site --name check | sed -n 's/.*installed: //p')
curl -fsS "$addr" | grep -q "A bothy static site" || { echo "apps.sh: the site does not answer" >&2; exit 1; }
$B remove check >/dev/null

# Five instances; then every process of bothy's (their monitors: nothing else stays).
for i in 1 2 3 4 5; do $B install -q static-site --name "site$i" >/dev/null; done
sleep 3
: >"$WORK/mem.txt"
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *"$WORK/bothy"*) ;;
    *) continue ;;
  esac
  case "$cmd" in
    *bothy-monitor*|*"$BOTHY "*) ;;
    *) continue ;;
  esac
  rss=$(awk '/^VmRSS:/ { print $2 }' "$p/status" 2>/dev/null || echo 0)
  pss=$(awk '/^Pss:/ { print $2 }' "$p/smaps_rollup" 2>/dev/null || echo 0)
  echo "${p#/proc/} $rss $pss $(echo "$cmd" | cut -c1-40)" >>"$WORK/mem.txt"
done

/usr/bin/python3 - "$WORK/install.json" "$WORK/mem.txt" "$UPDATE" "$HERE/RESULTS.md" "$RUNS" <<'PY'
import datetime, json, statistics, sys
data, mem, update, results, runs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
t = statistics.median(json.load(open(data))["results"][0]["times"])
procs = [l.split(None, 3) for l in open(mem) if l.strip()]
rss = sum(int(p[1]) for p in procs)
pss = sum(int(p[2]) for p in procs)
lines = ["| measure | value | target |", "|---|---:|---:|",
         f"| `install static-site`, image built (median) | {t * 1000:.0f} ms | ≤ 1000 ms |",
         f"| bothy processes with 5 instances running | {len(procs)} | |",
         f"| their VmRSS together | {rss / 1024:.2f} MB | ≤ 5 MB |",
         f"| their Pss together | {pss / 1024:.2f} MB | |"]
text = "\n".join(lines)
print(text)
if update:
    section = ("<!-- apps:begin (written by bench/apps.sh --update) -->\n"
               "## Applications: install, and bothy's own memory\n\n"
               f"Measured {datetime.date.today()} by `bench/apps.sh --update`: hyperfine, warmup 1, "
               f"{runs} runs of `bothy install static-site` (the bundled nginx site, its image "
               "built once before), `bothy remove` between runs; then five instances running, "
               "every process of bothy's counted (what is left is one monitor per container).\n\n"
               + text + "\n<!-- apps:end -->")
    old = open(results).read()
    if "<!-- apps:begin" in old:
        a = old.index("<!-- apps:begin"); z = old.index("<!-- apps:end -->") + len("<!-- apps:end -->")
        new = old[:a] + section + old[z:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
