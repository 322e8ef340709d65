#!/bin/sh
# Prints the path of a tar of a Debian minbase root filesystem, building it
# with debootstrap from the configured mirror on first use. Cached outside
# the clone, keyed by suite, variant, architecture and mirror.
# usage: debian-rootfs.sh [SUITE]
set -eu
suite=${1:-bookworm}
top=$(cd "$(dirname "$0")/.." && pwd)
mirror=$(sh "$top/scripts/debian-mirror.sh" "$suite")
arch=$(dpkg --print-architecture)
key=$(printf '%s %s %s %s v1' "$suite" minbase "$arch" "$mirror" | sha256sum | cut -c1-16)
cache=${BOTHY_CACHE:-/var/cache/bothy}/debian
out="$cache/$suite-minbase-$arch-$key.tar"
if [ ! -f "$out" ]; then
  command -v debootstrap >/dev/null || { echo "debian-rootfs: debootstrap missing (make deps)" >&2; exit 1; }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT INT TERM
  debootstrap --variant=minbase "$suite" "$tmp/rootfs" "$mirror" >"$tmp/log" 2>&1 ||
    { tail -20 "$tmp/log" >&2; exit 1; }
  # Reproducible enough for a cache: numeric owners, no device nodes.
  tar --numeric-owner --exclude='./dev/*' -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$out"
fi
echo "$out"
