#!/usr/bin/env bash
# Accuracy versus bytes on real data (issue 3): for each compression preset, a
# fresh fedpress-server and N fedpress-client processes on loopback train the
# `cnn` on Fashion-MNIST; the per-round test accuracy and byte counts from
# GET /api/jobs/{id}/rounds go into a CSV, then a summary table and an SVG plot
# of test accuracy against cumulative upload bytes.
#
# Usage: tests/bench/accuracy_vs_bytes.sh [--bin DIR] [--clients 20] [--per-round 10]
#          [--rounds 30] [--partition "iid dirichlet:0.5"] [--presets "none q8 topk1%-q4 fedzip stc"]
#          [--limit N] [--eval-limit N] [--seed 1] [--lr 0.05] [--round-timeout S]
#          [--job-timeout S] [--out DIR]
#
# --partition takes one partition or a space-separated list. Output in OUT
# (default build/bench/accuracy_vs_bytes):
#   accuracy_vs_bytes.csv           one row per (partition, preset, round); rows of the
#                                   (partition, preset) pairs run now replace older ones,
#                                   so the IID and Dirichlet runs can share one OUT
#   summary.md                      one table per partition in the CSV
#   accuracy_vs_upload_<part>.svg   test accuracy vs cumulative upload bytes (log x)
#   logs/<part>-<preset>/           server and client logs of each run
# Everything started is stopped on exit, Ctrl-C or TERM. See tests/bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

BIN="$REPO/build/bin"
CLIENTS=20
PER_ROUND=10
ROUNDS=30
PARTITIONS="iid"
PRESETS="none q8 topk1%-q4 fedzip stc"
LIMIT=0
EVAL_LIMIT=0
SEED=1
LR=0.05
ROUND_TIMEOUT=600
JOB_TIMEOUT=0
OUT="$REPO/build/bench/accuracy_vs_bytes"

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_val() { [ $# -ge 2 ] || { echo "accuracy_vs_bytes: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_val "$@"; BIN=$2; shift 2 ;;
    --clients) need_val "$@"; CLIENTS=$2; shift 2 ;;
    --per-round) need_val "$@"; PER_ROUND=$2; shift 2 ;;
    --rounds) need_val "$@"; ROUNDS=$2; shift 2 ;;
    --partition|--partitions) need_val "$@"; PARTITIONS=$2; shift 2 ;;
    --presets) need_val "$@"; PRESETS=$2; shift 2 ;;
    --limit) need_val "$@"; LIMIT=$2; shift 2 ;;
    --eval-limit) need_val "$@"; EVAL_LIMIT=$2; shift 2 ;;
    --seed) need_val "$@"; SEED=$2; shift 2 ;;
    --lr) need_val "$@"; LR=$2; shift 2 ;;
    --round-timeout) need_val "$@"; ROUND_TIMEOUT=$2; shift 2 ;;
    --job-timeout) need_val "$@"; JOB_TIMEOUT=$2; shift 2 ;;
    --out) need_val "$@"; OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "accuracy_vs_bytes: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in CLIENTS PER_ROUND ROUNDS LIMIT EVAL_LIMIT SEED ROUND_TIMEOUT JOB_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "accuracy_vs_bytes: --${v,,} must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
[ "$CLIENTS" -ge 1 ] && [ "$PER_ROUND" -ge 1 ] && [ "$PER_ROUND" -le "$CLIENTS" ] && [ "$ROUNDS" -ge 1 ] ||
  { echo "accuracy_vs_bytes: need 1 <= --per-round <= --clients and --rounds >= 1" >&2; exit 2; }
# Bounded wait per job: every round may take up to its timeout, plus start-up.
[ "$JOB_TIMEOUT" -gt 0 ] || JOB_TIMEOUT=$((ROUNDS * ROUND_TIMEOUT + 300))

for b in fedpress-server fedpress-client fedpress-model; do
  [ -x "$BIN/$b" ] || { echo "accuracy_vs_bytes: $BIN/$b is missing: run 'make build' (or pass --bin)" >&2; exit 1; }
done
for t in curl jq python3; do
  command -v "$t" >/dev/null || { echo "accuracy_vs_bytes: '$t' is required" >&2; exit 1; }
done
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CSV="$OUT/accuracy_vs_bytes.csv"
HEADER="partition,preset,round,accuracy,loss,bytes_up_raw,bytes_up_wire,bytes_down_raw,bytes_down_wire,cum_up_wire,cum_down_wire,duration_ms"
# The command that reproduces one partition's rows (written to runs.tsv, shown in summary.md).
command_for() {
  local c="tests/bench/accuracy_vs_bytes.sh --clients $CLIENTS --per-round $PER_ROUND --rounds $ROUNDS --partition $1 --presets \"$PRESETS\""
  [ "$LIMIT" = 0 ] || c+=" --limit $LIMIT"
  [ "$EVAL_LIMIT" = 0 ] || c+=" --eval-limit $EVAL_LIMIT"
  [ "$SEED" = 1 ] || c+=" --seed $SEED"
  [ "$LR" = 0.05 ] || c+=" --lr $LR"
  [ "$ROUND_TIMEOUT" = 600 ] || c+=" --round-timeout $ROUND_TIMEOUT"
  echo "$c"
}

# Does this server write an admin token (authenticated API)? Then every request carries it.
# (Help captured first: `--help | grep -q` under pipefail fails at random on SIGPIPE.)
SERVER_HELP=$("$BIN/fedpress-server" --help 2>/dev/null || true)
AUTH_FLAG=0
! grep -q -- '--admin-token-file' <<<"$SERVER_HELP" || AUTH_FLAG=1
# Loopback only: plaintext ZeroMQ (--insecure) keeps the byte counts and
# timings comparable across builds; builds before CURVE have no such flag.
SEC=()
! grep -q -- '--insecure' <<<"$SERVER_HELP" || SEC=(--insecure)

# ---- process bookkeeping: everything started here is stopped on exit ----
BENCH_NAME=accuracy_vs_bytes
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PIDS=()
RUN_TMP=""
stop_all() { bench_stop_pids; }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  [ -z "$RUN_TMP" ] || rm -rf "$RUN_TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "accuracy_vs_bytes: interrupted, stopping everything" >&2; exit 130' INT TERM

# Two free loopback TCP ports above 20000.
free_ports() { bench_free_ports; }

AUTH=()

fail_run() { bench_fail "$1"; }

# Remove earlier rows of the (partition, preset) pairs about to be run.
if [ -s "$CSV" ] && [ "$(head -n 1 "$CSV")" = "$HEADER" ]; then
  python3 - "$CSV" "$PARTITIONS" "$PRESETS" <<'EOF'
import csv, sys
path, parts, presets = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
with open(path, newline="") as f:
    rows = list(csv.reader(f))
keep = [rows[0]] + [r for r in rows[1:] if not (r[0] in parts and r[1] in presets)]
with open(path, "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(keep)
EOF
else
  echo "$HEADER" > "$CSV"
fi

run_one() {  # run_one PARTITION PRESET
  local part=$1 preset=$2 tag
  tag=$(printf '%s-%s' "$part" "$preset" | tr -c 'A-Za-z0-9._-' '_')
  LOGS="$OUT/logs/$tag"
  rm -rf "$LOGS"
  mkdir -p "$LOGS"
  RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fedpress-bench.XXXXXX")
  local state="$RUN_TMP/server" ports http zmq
  mkdir -p "$state"
  read -r http zmq < <(free_ports)
  API="http://127.0.0.1:$http"
  AUTH=()

  local sargs=(--db "$state/fedpress.db" --state-dir "$state" --http "127.0.0.1:$http"
               --bind "tcp://127.0.0.1:$zmq" --eval-limit "$EVAL_LIMIT")
  [ "$AUTH_FLAG" = 0 ] || sargs+=(--admin-token-file "$state/admin-token")
  setsid "$BIN/fedpress-server" "${sargs[@]}" "${SEC[@]}" > "$LOGS/server.log" 2>&1 &
  PIDS+=($!)
  local spid=$!
  local up=0
  for _ in $(seq 1 150); do
    kill -0 "$spid" 2>/dev/null || fail_run "server exited at start-up"
    if curl -s -o /dev/null --max-time 2 "$API/healthz"; then
      if [ "$AUTH_FLAG" = 0 ] || [ -s "$state/admin-token" ]; then up=1; break; fi
    fi
    sleep 0.2
  done
  [ "$up" = 1 ] || fail_run "server did not come up on $API within 30 s"
  if [ "$AUTH_FLAG" = 1 ]; then
    # Header from a file (curl -H @FILE): the token stays off command lines.
    printf 'Authorization: Bearer %s\n' "$(tr -d '[:space:]' < "$state/admin-token")" > "$RUN_TMP/auth-header"
    chmod 600 "$RUN_TMP/auth-header"
    AUTH=(-H "@$RUN_TMP/auth-header")
  fi

  local i
  for i in $(seq 0 $((CLIENTS - 1))); do
    setsid "$BIN/fedpress-client" --server "tcp://127.0.0.1:$zmq" --name "bench-$i" "${SEC[@]}" \
      --partition "$part" --index "$i" --of "$CLIENTS" --seed "$SEED" --limit "$LIMIT" \
      --threads 1 --state-dir "$RUN_TMP/client-$i" \
      > "$LOGS/client-$i.log" 2>&1 &
    PIDS+=($!)
  done
  local n=0
  for _ in $(seq 1 600); do   # up to 120 s: 20 clients each load the training set
    n=$(api GET /api/clients 2>/dev/null | jq '[.[] | select(.connected)] | length' 2>/dev/null || echo 0)
    [ "$n" -ge "$CLIENTS" ] && break
    kill -0 "$spid" 2>/dev/null || fail_run "server exited while clients connected"
    sleep 0.2
  done
  [ "$n" -ge "$CLIENTS" ] || fail_run "only $n of $CLIENTS clients connected within 120 s"

  local comp spec job
  if [ "$preset" = none ]; then comp='{"method":"none"}'; else comp=$(jq -cn --arg p "$preset" '{preset:$p}'); fi
  spec=$(jq -cn --arg name "bench $part $preset" --argjson r "$ROUNDS" --argjson c "$PER_ROUND" \
    --argjson seed "$SEED" --argjson lr "$LR" --argjson t "$ROUND_TIMEOUT" --argjson comp "$comp" \
    '{name:$name, model:"cnn", rounds:$r, clients_per_round:$c, min_clients:$c, local_epochs:1,
      batch_size:32, lr:$lr, momentum:0.9, round_timeout_s:$t, seed:$seed, compression:$comp}')
  local resp
  resp=$(curl -sS --max-time 30 -X POST "${AUTH[@]}" -H 'Content-Type: application/json' -d "$spec" \
    -w '\n%{http_code}' "$API/api/jobs") || fail_run "POST /api/jobs failed"
  [ "$(tail -n 1 <<<"$resp")" = 201 ] || fail_run "job rejected: $(sed '$d' <<<"$resp")"
  job=$(sed '$d' <<<"$resp" | jq -r .id)

  local start=$SECONDS shown=0 status rounds count
  while :; do
    status=$(api GET "/api/jobs/$job" | jq -r .status) || fail_run "GET /api/jobs/$job failed"
    rounds=$(api GET "/api/jobs/$job/rounds") || fail_run "GET /api/jobs/$job/rounds failed"
    count=$(jq length <<<"$rounds")
    while [ "$shown" -lt "$count" ]; do
      jq -r --argjson i "$shown" --argjson n "$ROUNDS" --arg part "$part" --arg preset "$preset" '
        def f(x): if x == null then "n/a" else (x*10000|round/10000) end;
        [.[:$i+1][] | .bytes_up_wire] as $u | .[$i] |
        "\($part) \($preset) round \(.round)/\($n): accuracy \(if .accuracy then (.accuracy*10000|round/100|tostring)+"%" else "n/a" end), loss \(f(.loss)), up \(.bytes_up_wire) B (cum \($u|add) B), down \(.bytes_down_wire) B, \(.duration_ms/100|round/10) s"' \
        <<<"$rounds"
      shown=$((shown + 1))
    done
    case "$status" in
      completed) break ;;
      failed|cancelled) fail_run "job $job $status: $(api GET "/api/jobs/$job" | jq -r .error)" ;;
    esac
    kill -0 "$spid" 2>/dev/null || fail_run "the server stopped unexpectedly"
    [ $((SECONDS - start)) -lt "$JOB_TIMEOUT" ] ||
      fail_run "job $job not completed after ${JOB_TIMEOUT} s ($count of $ROUNDS rounds)"
    sleep 1
  done

  jq -r --arg part "$part" --arg preset "$preset" '
    def n(x): if x == null then "" else x end;
    foreach .[] as $r ({cu: 0, cd: 0, r: null};
      {cu: (.cu + $r.bytes_up_wire), cd: (.cd + $r.bytes_down_wire), r: $r};
      [$part, $preset, .r.round, n(.r.accuracy), n(.r.loss), .r.bytes_up_raw, .r.bytes_up_wire,
       .r.bytes_down_raw, .r.bytes_down_wire, .cu, .cd, .r.duration_ms] | @csv)' <<<"$rounds" |
    tr -d '"' >> "$CSV"
  api GET "/api/jobs/$job" | jq -r --arg part "$part" --arg preset "$preset" --argjson t "$((SECONDS - start))" '
    "\($part) \($preset): done in \($t) s, final accuracy \(if .accuracy then (.accuracy*10000|round/100|tostring)+"%" else "n/a" end), \(.totals.bytes_up_wire) B up, \(.totals.bytes_down_wire) B down"'

  stop_all
  rm -rf "$RUN_TMP"
  RUN_TMP=""
}

echo "accuracy_vs_bytes: $CLIENTS clients, $PER_ROUND per round, $ROUNDS rounds; partitions: $PARTITIONS; presets: $PRESETS"
echo "accuracy_vs_bytes: output in $OUT$([ "$AUTH_FLAG" = 1 ] && echo ' (server with admin token)')"
# runs.tsv: partition, setting, command — what made each partition's rows (for summary.md).
RUNS="$OUT/runs.tsv"
SETTING="Fashion-MNIST, cnn, $CLIENTS clients, $PER_ROUND per round, $ROUNDS rounds"
[ "$LIMIT" = 0 ] || SETTING+=", first $LIMIT training images"
[ "$EVAL_LIMIT" = 0 ] || SETTING+=", test accuracy on $EVAL_LIMIT images"
for part in $PARTITIONS; do
  for preset in $PRESETS; do
    run_one "$part" "$preset"
  done
  touch "$RUNS"
  { awk -F'\t' -v p="$part" '$1 != p' "$RUNS"
    printf '%s\t%s\t%s\n' "$part" "$SETTING" "$(command_for "$part")"
  } > "$RUNS.new"
  mv "$RUNS.new" "$RUNS"
done

python3 "$HERE/plot_accuracy_vs_bytes.py" "$CSV" --out-dir "$OUT" --summary "$OUT/summary.md" \
  --runs "$RUNS"
echo "accuracy_vs_bytes: wrote $CSV, $OUT/summary.md and $(ls "$OUT"/accuracy_vs_upload_*.svg | tr '\n' ' ')"
