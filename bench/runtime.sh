#!/bin/sh
# bench/runtime.sh — OCI runtime `run` of a busybox /bin/true bundle:
# bothy-runtime vs runc vs crun, side by side in one run (DESIGN.md §6).
#
#   bench/runtime.sh            print a markdown table (medians, ratios, peak RSS)
#   bench/runtime.sh --update   ... and rewrite the runtime section of bench/RESULTS.md
#
# Env: BOTHY_RUNTIME (default: <repo>/build/bothy-runtime), RUNS (default 30, min 30),
#      WARMUP (default 3), RSS_RUNS (default 7).
# Needs (installs nothing): root, hyperfine, runc, crun, /usr/bin/time (package `time`),
# unshare + mount (util-linux), python3, /bin/busybox (busybox-static).
#
# crun refuses this host's hybrid cgroup layout (v1 controllers + a cgroup2 mount at
# /sys/fs/cgroup/unified); it works when /sys/fs/cgroup/unified/cgroup.controllers is
# hidden. So every runtime is measured inside one private mount namespace (unshare -m)
# where /dev/null is bind-mounted over that file: same conditions for all three.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
RESULTS="$HERE/RESULTS.md"
BOTHY=${BOTHY_RUNTIME:-$REPO/build/bothy-runtime}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
RSS_RUNS=${RSS_RUNS:-7}
UPDATE=0

case "${1:-}" in
    --update) UPDATE=1 ;;
    --inner) ;;                       # internal: re-executed inside unshare -m
    "") ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
[ "$RUNS" -ge 30 ] || RUNS=30

if [ "${1:-}" != "--inner" ]; then
    [ "$(id -u)" = 0 ] || { echo "runtime.sh: must run as root" >&2; exit 1; }
    missing=""
    for t in hyperfine runc crun unshare mount python3; do
        command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
    done
    [ -x /usr/bin/time ] || missing="$missing /usr/bin/time(package: time)"
    [ -x /bin/busybox ] || missing="$missing /bin/busybox(package: busybox-static)"
    if [ -n "$missing" ]; then
        echo "runtime.sh: missing:$missing (this script installs nothing)" >&2
        exit 1
    fi
    [ -x "$BOTHY" ] || echo "runtime.sh: note: $BOTHY not built; its row will be empty" >&2

    WORK=$(mktemp -d /tmp/bothy-bench-runtime.XXXXXX)
    chmod 755 "$WORK"
    trap 'rm -rf "$WORK"' EXIT INT TERM
    export WORK BOTHY RUNS WARMUP RSS_RUNS
    unshare -m "$0" --inner
    python3 - "$WORK" "$UPDATE" "$RESULTS" "$BOTHY" <<'EOF'
import json, os, statistics, sys, datetime, subprocess
work, update, results, bothy = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
names = ["bothy-runtime", "runc", "crun"]
med, rss = {}, {}
for n in names:
    p = os.path.join(work, f"{n}.json")
    if os.path.exists(p):
        r = json.load(open(p))["results"][0]
        med[n] = statistics.median(r["times"])
    p = os.path.join(work, f"{n}.rss")
    if os.path.exists(p):
        vals = [int(x) for x in open(p).read().split() if x.isdigit()]
        if vals:
            rss[n] = statistics.median(vals)

def ms(n):
    return f"{med[n]*1000:.1f}" if n in med else "—"

def ratio(n, ref):
    return f"{med[n]/med[ref]:.2f}×" if n in med and ref in med else "—"

def kib(n):
    return f"{rss[n]/1024:.1f} MiB" if n in rss else "—"

def ver(cmd):
    try:
        return subprocess.run([cmd, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        return "?"

lines = ["| runtime | median `run` (ms) | vs runc | vs crun | peak RSS (median) |",
         "|---|---:|---:|---:|---:|"]
for n in names:
    lines.append(f"| {n} | {ms(n)} | {ratio(n, 'runc')} | {ratio(n, 'crun')} | {kib(n)} |")
table = "\n".join(lines)
print(table)
if update:
    runs = os.environ.get("RUNS", "30")
    section = f"""<!-- runtime:begin (written by bench/runtime.sh --update) -->
## OCI runtime: `run` of a busybox `/bin/true` bundle

Measured {datetime.date.today().isoformat()} on `{os.uname().nodename}` ({os.cpu_count()} CPUs, kernel {os.uname().release}), by
`bench/runtime.sh --update`: hyperfine, warmup 3, {runs} runs each, a fresh container id per
run, no terminal; all three inside one private mount namespace where
`/sys/fs/cgroup/unified/cgroup.controllers` is hidden (crun refuses this hybrid cgroup
layout otherwise). Peak RSS: `/usr/bin/time -f %M`, median of {os.environ.get("RSS_RUNS", "7")} runs (largest process
of the run, e.g. the runtime or its re-executed init). Versions: {ver("runc")}; {ver("crun")};
bothy-runtime: {ver(bothy) if os.access(bothy, os.X_OK) else "not built yet"}.

Target (DESIGN.md §6): bothy-runtime ≤ crun.

{table}
<!-- runtime:end -->"""
    text = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    b, e = "<!-- runtime:begin", "<!-- runtime:end -->"
    if b in text and e in text:
        i = text.index(b)
        j = text.index(e) + len(e)
        text = text[:i] + section + text[j:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(text)
    print(f"updated {results}", file=sys.stderr)
EOF
    exit 0
fi

# ---- inside the private mount namespace -------------------------------------
mount --make-rprivate /
if [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
    mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers
fi

B="$WORK/bundle"
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp" "$B/rootfs/etc"
cp /bin/busybox "$B/rootfs/bin/busybox"
for a in sh true; do ln -s busybox "$B/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$B/rootfs/etc/passwd"
echo 'root:x:0:' > "$B/rootfs/etc/group"
# runc spec's defaults, no terminal, /bin/true.
(cd "$B" && runc spec)
python3 - "$B/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
EOF

bench_one() {   # name binary
    name=$1; bin=$2
    root="$WORK/root-$name"
    mkdir -p "$root"
    # $$ of the per-run shell gives a unique id; `run` deletes the container at exit.
    cmd="$bin --root $root run -b $B bench-$name-\$\$ </dev/null >/dev/null"
    hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" \
        --export-json "$WORK/$name.json" -n "$name" "$cmd" >&2
    i=0
    : > "$WORK/$name.rss"
    while [ $i -lt "$RSS_RUNS" ]; do
        /usr/bin/time -f %M -a -o "$WORK/$name.rss" \
            "$bin" --root "$root" run -b "$B" "bench-$name-rss-$i" </dev/null >/dev/null
        i=$((i + 1))
    done
}

if [ -x "$BOTHY" ]; then
    bench_one bothy-runtime "$BOTHY" || echo "runtime.sh: bothy-runtime failed" >&2
fi
bench_one runc "$(command -v runc)"
bench_one crun "$(command -v crun)"
