#!/bin/sh
# A short libFuzzer pass over every harness (make check runs it). Each harness
# starts from its seed corpus in tests/fuzz/corpus/NAME and runs for
# FUZZ_SECONDS (default 20). A crash fails the run and leaves the input in
# build-fuzz/; turn it into a regression test (a seed file) once fixed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${FUZZ_SECONDS:-20}
if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang is missing (make deps installs it)" >&2
  exit 1
fi
if [ ! -f build-fuzz/build.ninja ]; then
  # The library is instrumented too (coverage for libFuzzer, ASan and UBSan
  # checks), not only the harnesses.
  CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debug \
    -Dc_args=-fsanitize=fuzzer-no-link,address,undefined \
    -Dc_link_args=-fsanitize=address,undefined >/dev/null
fi
harnesses=$(sed -n "s/^foreach f : \[\(.*\)\]/\1/p" tests/fuzz/meson.build | tr -d "',")
if ! ninja -C build-fuzz $(for h in $harnesses; do printf 'tests/fuzz/fuzz_%s ' $h; done) \
     >build-fuzz/ninja.log 2>&1; then
  echo "fuzz FAILED: the harnesses do not build"
  grep -E "error|FAILED" build-fuzz/ninja.log | head -20
  exit 1
fi
rc=0
for h in $harnesses; do
  out=build-fuzz/fuzz-$h
  rm -rf "$out" && mkdir -p "$out"
  # A copy of the seeds: libFuzzer writes new inputs into its first corpus dir.
  cp tests/fuzz/corpus/$h/* "$out/"
  if build-fuzz/tests/fuzz/fuzz_$h -max_total_time="$secs" -rss_limit_mb=1024 \
       -artifact_prefix=build-fuzz/crash-$h- "$out" >build-fuzz/fuzz-$h.log 2>&1; then
    echo "fuzz ok $h ($(grep -c . build-fuzz/fuzz-$h.log) log lines)"
  else
    echo "fuzz FAILED $h"
    tail -30 build-fuzz/fuzz-$h.log
    rc=1
  fi
done
exit $rc
