#!/usr/bin/env bash
# Runs the ctest suite of a sanitizer build (FEDPRESS_SANITIZE=ON) and fails
# on any sanitizer report from any process: the tests themselves and the
# server, client and model processes they start (whose exit status a test may
# not look at). Reports go to BUILD/sanitizer-reports/ and are printed.
# The browser test (label e2e) is left out: it exercises the dashboard's
# JavaScript, not our C++.
#
#   tests/sanitizer/run.sh BUILD_DIR [ctest args...]
set -uo pipefail
build=$(cd "$1" && pwd); shift
reports=$build/sanitizer-reports
rm -rf "$reports"; mkdir -p "$reports"
# Options of tests/sanitizer/default_options.cc apply; these add where reports go.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$reports/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$reports/ubsan"
# Processes under ASan are slower: integration tests get the longer timeout.
start=$(date +%s)
(cd "$build" && ctest -LE e2e --output-on-failure --timeout 1800 "$@")
rc=$?
found=0
for f in "$reports"/*; do
  [ -s "$f" ] || continue
  found=1
  echo "=== sanitizer report $(basename "$f") ==="
  head -n 120 "$f"
done
echo "sanitizer suite: $(( $(date +%s) - start )) s, ctest exit $rc, reports: $([ $found -eq 1 ] && echo FOUND || echo none)"
[ $rc -eq 0 ] && [ $found -eq 0 ]
