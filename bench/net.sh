#!/bin/sh
# bench/net.sh: what bridge networking costs.
#  - container start (`run --rm IMAGE true`) on bothy's bridge vs --network none;
#  - HTTP throughput and connections/s (wrk, bounded duration) to a busybox httpd in a
#    container through a port published on 127.0.0.1, through the bridge (the
#    container's address), and with --network host.
#   bench/net.sh [--update]   (--update rewrites the net section of bench/RESULTS.md)
# Env: RUNS (default 30), SECS (wrk duration per case, default 5).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BOTHY=${BOTHY:-$REPO/build/bothy}
RUNS=${RUNS:-30}
SECS=${SECS:-5}
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
for t in hyperfine wrk; do
  command -v "$t" >/dev/null || { echo "net.sh: $t missing (make deps)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/bothy-bench-net.XXXXXX)
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

sh "$REPO/scripts/busybox-rootfs.sh" "$WORK/rootfs"
mkdir -p "$WORK/rootfs/www"
# A small page (connections/s: one connection per request, busybox httpd does not
# keep connections alive) and a large one (throughput: bytes/s).
head -c 16384 /dev/zero | tr '\0' x >"$WORK/rootfs/www/index.html"
head -c 4194304 /dev/zero | tr '\0' y >"$WORK/rootfs/www/big.html"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
"$BOTHY" --root "$R" import "$WORK/rootfs.tar" bench/busybox:1 >/dev/null

# 1. Start cost.
"$BOTHY" --root "$R" run --rm bench/busybox:1 true # the default network exists from here on
hyperfine --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/start.json" \
  -n bridge "$BOTHY --root $R run --rm bench/busybox:1 true" \
  -n none "$BOTHY --root $R run --rm --network none bench/busybox:1 true" >"$WORK/start.log" 2>&1 ||
  { cat "$WORK/start.log"; exit 1; }

# 2. Throughput. The ports are free ones.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HP=$(free_port)
HOSTP=$(free_port)
"$BOTHY" --root "$R" run -d --name pub -p "$HP:8080" bench/busybox:1 httpd -f -p 8080 -h /www >/dev/null
"$BOTHY" --root "$R" run -d --name hostnet --network host bench/busybox:1 httpd -f -p "127.0.0.1:$HOSTP" -h /www >/dev/null
IP=$("$BOTHY" --root "$R" inspect pub | /usr/bin/python3 -c 'import json,sys; print(next(iter(json.load(sys.stdin)[0]["NetworkSettings"]["Networks"].values()))["IPAddress"])')
up() { /usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null; }
for i in $(seq 50); do
  up "http://127.0.0.1:$HP/" && up "http://127.0.0.1:$HOSTP/" && break
  sleep 0.1
done
bench() { wrk -t 2 -c 16 -d "${SECS}s" --latency "$1" 2>&1; }
for page in index big; do
  bench "http://127.0.0.1:$HP/$page.html" >"$WORK/wrk-published-$page.txt"
  bench "http://$IP:8080/$page.html" >"$WORK/wrk-bridge-$page.txt"
  bench "http://127.0.0.1:$HOSTP/$page.html" >"$WORK/wrk-host-$page.txt"
done

/usr/bin/python3 - "$WORK" "$UPDATE" "$HERE/RESULTS.md" "$RUNS" "$SECS" <<'PY'
import datetime, json, re, statistics, sys
work, update, results, runs, secs = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4], sys.argv[5]
med = {r["command"]: statistics.median(r["times"]) for r in json.load(open(f"{work}/start.json"))["results"]}
def wrk(name):
    t = open(f"{work}/wrk-{name}.txt").read()
    if "Requests/sec" not in t:
        raise SystemExit(f"wrk {name}: {t}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", t)
    mult = {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
    return rps, float(tr.group(1)) * mult
lines = ["| start (`run --rm IMAGE true`) | median |", "|---|---:|",
         f"| --network none | {med['none'] * 1000:.1f} ms |",
         f"| bothy's bridge (default) | {med['bridge'] * 1000:.1f} ms |",
         f"| bridge cost | {(med['bridge'] - med['none']) * 1000:+.1f} ms |"]
for page, title, unit in (("index", "connections/s: 16 KiB page, a connection per request",
                           "requests/s"),
                          ("big", "throughput: 4 MiB page", "MiB/s")):
    host = wrk(f"host-{page}")
    lines += ["", f"| {title} (wrk -t2 -c16) | requests/s | MiB/s | vs host networking |",
              "|---|---:|---:|---:|"]
    for name, label in (("host", "--network host"),
                        ("published", "published port on 127.0.0.1"),
                        ("bridge", "the container's bridge address")):
        rps, mib = wrk(f"{name}-{page}")
        ratio = (rps / host[0]) if page == "index" else (mib / host[1])
        lines.append(f"| {label} | {rps:.0f} | {mib:.1f} | {ratio * 100:.0f} % |")
text = "\n".join(lines)
print(text)
if update:
    section = ("<!-- net:begin (written by bench/net.sh --update) -->\n"
               "## Bridge networking\n\n"
               f"Measured {datetime.date.today()} by `bench/net.sh --update`: hyperfine, warmup 3, "
               f"{runs} runs; wrk {secs} s per case against busybox httpd in a container.\n\n"
               "Targets (issue 5): bridge networking adds ≤ 5 ms to a start; published-port "
               "throughput ≥ 90 % of host networking.\n\n" + text + "\n<!-- net:end -->")
    old = open(results).read()
    if "<!-- net:begin" in old:
        a = old.index("<!-- net:begin"); z = old.index("<!-- net:end -->") + len("<!-- net:end -->")
        new = old[:a] + section + old[z:]
    else:
        new = old.rstrip("\n") + "\n\n" + section + "\n"
    open(results, "w").write(new)
    print("updated", results)
PY
