#!/bin/sh
# bench/run.sh: `run --rm IMAGE true`, end to end, side by side in one run:
# bothy vs podman vs docker (a private dockerd, if docker.io is installed) vs
# `runc run` of a bundle. Every container has no network (--network none).
#   bench/run.sh [--update]   (--update rewrites the run section of bench/RESULTS.md)
# Env: RUNS (default 30).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
RUNS=${RUNS:-30}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
for t in podman runc hyperfine; do
  command -v "$t" >/dev/null || { echo "run.sh: $t missing (make deps)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/bothy-bench-run.XXXXXX)
DOCKERD_PID=
cleanup() {
  "$BOTHY" --root "$WORK/bothy" rm -f $("$BOTHY" --root "$WORK/bothy" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  "$BOTHY" --root "$WORK/bothy" network rm bothy >/dev/null 2>&1 || true
  if [ -n "${P:-}" ]; then $P rm -f -t 0 -a >/dev/null 2>&1 || true; fi
  if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true; fi
  for m in $(awk -v w="$WORK" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

sh "$REPO/scripts/busybox-rootfs.sh" "$WORK/rootfs"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$BOTHY" --root "$WORK/bothy" import "$WORK/rootfs.tar" bench/busybox:1 >/dev/null
P="podman --root $WORK/podman --runroot $WORK/podman-run --storage-driver vfs --cgroup-manager=cgroupfs --events-backend=file --runtime runc"
$P import -q "$WORK/rootfs.tar" bench/busybox:1 >/dev/null
mkdir -p "$WORK/bundle" && cp -a "$WORK/rootfs" "$WORK/bundle/rootfs"
(cd "$WORK/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json)

set -- -n bothy "$BOTHY --root $WORK/bothy run --rm --network none bench/busybox:1 true" \
  -n podman "$P run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 bench/busybox:1 true" \
  -n "runc run (bundle)" "runc --root $WORK/runc run -b $WORK/bundle b\$\$"
if command -v dockerd >/dev/null && [ -x /usr/bin/docker ]; then
  dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$WORK/docker" \
    --exec-root "$WORK/docker-run" -H "unix://$WORK/docker.sock" --pidfile "$WORK/docker.pid" \
    >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  D="/usr/bin/docker -H unix://$WORK/docker.sock"
  for i in $(seq 100); do $D info >/dev/null 2>&1 && break; sleep 0.2; done
  if $D import "$WORK/rootfs.tar" bench/busybox:1 >/dev/null 2>&1; then
    set -- "$@" -n docker "$D run --rm --network none bench/busybox:1 true"
  fi
fi
hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/run.json" "$@" \
  >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }

# Idle memory of what watches a detached container: bothy's monitor vs podman's conmon.
# N containers each, then the resident set (VmRSS) and proportional set (Pss) of each
# watcher once it has been idle for 3 s.
N=${N:-5}
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
pss() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
: >"$WORK/mem.txt"
for i in $(seq "$N"); do
  "$BOTHY" --root "$WORK/bothy" run -d --name "idle$i" bench/busybox:1 sleep 1000 >/dev/null
  $P run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --name "idle$i" bench/busybox:1 sleep 1000 >/dev/null
done
sleep 3
for i in $(seq "$N"); do
  m=$("$BOTHY" --root "$WORK/bothy" inspect "idle$i" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["MonitorPid"])')
  c=$($P inspect --format '{{.State.ConmonPid}}' "idle$i")
  echo "bothy-monitor $(rss "$m") $(pss "$m")" >>"$WORK/mem.txt"
  echo "conmon $(rss "$c") $(pss "$c")" >>"$WORK/mem.txt"
done
"$BOTHY" --root "$WORK/bothy" rm -f $(seq -f idle%g "$N") >/dev/null
$P rm -f -t 0 $(seq -f idle%g "$N") >/dev/null 2>&1
# With no container left, nothing of bothy stays resident.
LEFT=$(pgrep -f "bothy-monitor --dir $WORK/" | wc -l)
echo "left $LEFT" >>"$WORK/mem.txt"

/usr/bin/python3 - "$WORK/run.json" "$UPDATE" "$HERE/RESULTS.md" "$RUNS" "$WORK/mem.txt" "$N" <<'PY'
import datetime, json, os, statistics, sys
data, update, results, runs = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
mem, n = sys.argv[5], sys.argv[6]
med = {r["command"]: statistics.median(r["times"]) for r in json.load(open(data))["results"]}
b = med["bothy"]
lines = ["| command | median | vs bothy |", "|---|---:|---:|"]
for name, t in med.items():
    lines.append(f"| {name} | {t * 1000:.1f} ms | {t / b:.1f}x |")
rows = {}
left = "?"
for line in open(mem):
    f = line.split()
    if f[0] == "left":
        left = f[1]
    else:
        rows.setdefault(f[0], []).append((int(f[1]), int(f[2])))
lines += ["", f"Idle memory of the process that watches one detached container ({n} containers "
          "each, idle 3 s; median):", "",
          "| watcher | VmRSS | Pss |", "|---|---:|---:|"]
for name, v in rows.items():
    lines.append(f"| {name} | {statistics.median(r for r, _ in v):.0f} kB | "
                 f"{statistics.median(p for _, p in v):.0f} kB |")
lines += ["", f"bothy processes left once every container was removed: {left}."]
text = "\n".join(lines)
print(text)
if update:
    section = ("<!-- run:begin (written by bench/run.sh --update) -->\n"
               "## `run --rm IMAGE true`, end to end\n\n"
               f"Measured {datetime.date.today()} by `bench/run.sh --update`: hyperfine, warmup 3, "
               f"{runs} runs, a busybox image imported into each tool, no network for any of "
               "them; podman with the vfs driver and runc, docker with a private dockerd.\n\n"
               "Targets (DESIGN.md §6): bothy ≤ 15 ms and ≥ 25x faster than podman; an idle "
               "monitor ≤ 0.5 MB, no bothy process resident when no container runs.\n\n"
               + text + "\n<!-- run:end -->")
    old = open(results).read()
    if "<!-- run:begin" in old:
        a = old.index("<!-- run:begin"); z = old.index("<!-- run:end -->") + len("<!-- run:end -->")
        new = old[:a] + section + old[z:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
