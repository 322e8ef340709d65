#!/bin/sh
# README's first command ends here: bothy's main job. Makes the Debian base image (once,
# with debootstrap from this machine's Debian mirror), installs the bundled static-site
# app as the instance "demo-site", prints its address and what it answers there.
# Run again, it finds the instance and shows it.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bothy="$top/$build/bothy"
export BOTHY_CATALOG="$top/catalog"
echo "\$ bothy image bootstrap debian"
"$bothy" image bootstrap debian
if "$bothy" status demo-site >/dev/null 2>&1; then
  echo "\$ bothy status demo-site"
  "$bothy" status demo-site
  addr=$("$bothy" status demo-site --format json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["Address"])')
else
  echo "\$ bothy install static-site --name demo-site"
  out=$("$bothy" install static-site --name demo-site)
  echo "$out"
  addr=${out##*installed: }
fi
echo "\$ curl $addr"
curl -fsS "$addr" | sed -n 's:.*<h1>\(.*\)</h1>.*:\1:p'
echo "(bothy ls lists it; bothy remove demo-site removes it and everything it owns)"
