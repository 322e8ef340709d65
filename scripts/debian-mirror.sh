#!/bin/sh
# Prints the Debian mirror this machine's apt uses for the main archive (never
# written into the repo: read from the apt sources at run time).
set -eu
suite=${1:-bookworm}
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  awk -v suite="$suite" '
    /^$/ { if (uri != "" && suites ~ ("(^| )" suite "( |$)") && types ~ /deb( |$)/) { print uri; exit 0 }
           uri = ""; suites = ""; types = "" }
    /^URIs:/ { uri = $2 }
    /^Suites:/ { $1 = ""; suites = $0 " " }
    /^Types:/ { $1 = ""; types = $0 " " }
    END { if (uri != "" && suites ~ ("(^| )" suite "( |$)")) print uri }
  ' "$f" | head -1
done | head -1 | grep . && exit 0
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' "$f"
done | head -1 | grep . && exit 0
echo "debian-mirror: no apt source for '$suite' found" >&2
exit 1
