#!/usr/bin/env bash
# fedpress-netdelay's command line (deploy/testbed/netdelay.cc): --help exits 0,
# every bad input exits 2 with a message naming the problem, before any queue
# is touched (so this runs without root). Skips (77) where the tool is not
# built (no libnetfilter_queue).
set -uo pipefail
BIN=${1:?usage: netdelay_args_test.sh BIN_DIR}
T="$BIN/fedpress-netdelay"
[ -x "$T" ] || { echo "SKIP: $T not built (libnetfilter-queue-dev missing)"; exit 77; }
fail() { echo "FAIL: $1" >&2; exit 1; }

out=$("$T" --help) || fail "--help exited $?"
grep -q -- '--delay-ms MS' <<<"$out" || fail "--help does not describe --delay-ms"

expect2() {  # expect2 PATTERN ARGS...: exit 2, PATTERN in stderr
  local pat=$1 err rc
  shift
  err=$("$T" "$@" 2>&1 >/dev/null)
  rc=$?
  [ "$rc" = 2 ] || fail "'$*' exited $rc, expected 2"
  grep -q -- "$pat" <<<"$err" || fail "'$*': message '$err' lacks '$pat'"
}
expect2 '--delay-ms is required'
expect2 '--delay-ms is required' --queue 3
expect2 '--delay-ms needs a value' --delay-ms
expect2 "got 'abc'" --delay-ms abc
expect2 "got '-1'" --delay-ms=-1
expect2 "0..60000, got '60001'" --delay-ms 60001
expect2 "got '20ms'" --delay-ms 20ms
expect2 "0..65535, got '65536'" --delay-ms 20 --queue 65536
expect2 "--queue-maxlen must be" --delay-ms 20 --queue-maxlen 0
expect2 "--rcvbuf-mb must be" --delay-ms 20 --rcvbuf-mb ''
expect2 "unknown argument '--bypass'" --delay-ms 20 --bypass
expect2 "unknown argument 'extra'" --delay-ms 20 extra
echo "PASS"
