#!/bin/sh
# README's first command ends here: run a busybox container through
# bothy-runtime and show what it prints.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
runtime="$top/$build/bothy-runtime"
work=$(mktemp -d /tmp/bothy-demo.XXXXXX)
id="demo-$$"
cleanup() {
  "$runtime" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
sh "$top/scripts/busybox-rootfs.sh" "$work/rootfs"
"$runtime" spec --bundle "$work"
# A non-interactive process that shows where it runs.
/usr/bin/python3 - "$work/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname): pid $$, uid $(id -u), $(grep -c . /proc/self/mountinfo) mounts\"; "
    "echo \"capabilities: $(grep CapEff /proc/self/status)\""]
json.dump(c, open(p, "w"), indent=2)
PY
echo "\$ bothy-runtime run --bundle $work $id"
"$runtime" run --bundle "$work" "$id"
