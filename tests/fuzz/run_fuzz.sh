#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its committed seed corpus
# and fails on any finding (crash, sanitizer report, leak, timeout, OOM).
#
#   run_fuzz.sh BINARY SEED_DIR SECONDS MAX_LEN
#
# New inputs go to a work corpus next to the binary (fuzz-work/NAME/corpus),
# never into the source tree; findings go to fuzz-work/NAME/artifacts/. To keep
# a reproducer, copy it into SEED_DIR: every later run replays it first.
set -uo pipefail
bin=$1 seeds=$2 seconds=$3 max_len=$4
name=$(basename "$bin")
work=$(dirname "$bin")/../fuzz-work/$name
mkdir -p "$work/corpus" "$work/artifacts"
rm -f "$work"/artifacts/*
dict=$(dirname "$0")/$name.dict
args=(-max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb=2048 -malloc_limit_mb=1024
      -timeout=30 -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/")
[ -f "$dict" ] && args+=(-dict="$dict")
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1"
log=$work/last-run.log
echo "fuzz $name: ${seconds}s from $(ls "$seeds" | wc -l) seeds (log: $log)"
"$bin" "${args[@]}" "$work/corpus" "$seeds" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
corpus=$(ls "$work/corpus" | wc -l)
if [ $rc -ne 0 ] || ls "$work"/artifacts/* >/dev/null 2>&1; then
  echo "fuzz $name: FAILED (exit $rc) after ${runs:-?} runs"
  tail -n 80 "$log"
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "reproduce: $bin $a   (then copy it into $seeds/ once fixed)"
  done
  exit 1
fi
echo "fuzz $name: ${runs:-?} runs, ${cov:-cov: ?} edges, work corpus $corpus inputs, no findings"
