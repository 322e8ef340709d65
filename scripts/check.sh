#!/bin/sh
# `make check`: build, then run every suite; the last line sums them all:
# "N passed, N failed". Runs the unit and integration suites twice: on the
# release build and on an ASan+UBSan build.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
passed=0
failed=0
status=0
log=$(mktemp /tmp/bothy-check.XXXXXX)
PYTHON=${PYTHON:-/usr/bin/python3}

add_counts() { # $1 passed $2 failed
  passed=$((passed + $1))
  failed=$((failed + $2))
}

run_unit() { # $1 build dir; counts the cmocka subtests, not the executables
  echo "== unit tests ($1)"
  meson test -C "$1" --print-errorlogs >"$log" 2>&1
  rc=$?
  cat "$log"
  ok=$(sed -n 's/.* \([0-9][0-9]*\) subtests passed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  ko=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  add_counts "$ok" $(( ${ko:-0} + ${to:-0} ))
  if [ $rc -ne 0 ] && [ "${ko:-0}" = 0 ] && [ "${to:-0}" = 0 ]; then add_counts 0 1; fi
}

run_integration() { # $1 build dir, $2 label
  echo "== integration tests ($2)"
  BOTHY_BUILD="$top/$1" BOTHY_RUNTIME="$top/$1/bothy-runtime" "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration \
    -o junit_family=xunit2 >"$log" 2>&1
  rc=$?
  cat "$log"
  line=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1)
  p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p; s/^\([0-9][0-9]*\) passed.*/\1/p' | head -1)
  f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) failed.*/\1/p; s/^\([0-9][0-9]*\) failed.*/\1/p' | head -1)
  e=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) error.*/\1/p' | head -1)
  add_counts "${p:-0}" $(( ${f:-0} + ${e:-0} ))
  # pytest: 5 means no tests collected; anything else non-zero without a
  # failure count is a crash of the runner itself.
  if [ $rc -ne 0 ] && [ $rc -ne 5 ] && [ -z "$f$e" ]; then add_counts 0 1; fi
}

if ! make -s build >"$log" 2>&1; then
  cat "$log"
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
if ! make -s build-asan >"$log" 2>&1; then
  cat "$log"
  echo "ASan build failed"
  add_counts 0 1
fi

echo "== format (clang-format --dry-run)"
if clang-format --dry-run --Werror $(git ls-files '*.c' '*.h') >"$log" 2>&1; then
  add_counts 1 0
else
  head -20 "$log"
  echo "format: run 'make format'"
  add_counts 0 1
fi

run_unit build
[ -x build-asan/bothy ] && run_unit build-asan
run_integration build release
if [ -x build-asan/bothy ]; then
  export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  run_integration build-asan "ASan+UBSan"
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ -x scripts/fuzz.sh ]; then
  echo "== fuzz (short)"
  if sh scripts/fuzz.sh >"$log" 2>&1; then
    add_counts "$(grep -c '^fuzz ok' "$log")" 0
  else
    cat "$log"
    add_counts "$(grep -c '^fuzz ok' "$log")" 1
  fi
  tail -5 "$log"
fi
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
