#!/usr/bin/env bash
# Scale benchmark (issue 6, "A thousand clients"): one real fedpress-server
# against fedpress-loadgen playing N clients (real protocol, replayed
# compressed updates, no training), for each N in --counts. Per N: a fresh
# server; N clients connect; the server's idle RSS is sampled; then one job
# (every client in every round: clients_per_round = min_clients = N) runs
# --rounds rounds of --model at --preset. Reported per N: time for all N to
# register, server RSS (base, idle with N clients, peak VmHWM), idle RSS per
# connected client, server CPU time (utime+stime of the server process,
# without its fedpress-model children) and wall time per round, the
# coordinator's aggregation time per round (decode + accumulate of every
# update + apply, from the server log), the evaluation CPU (children), the
# load generator's CPU during the job (is it the bottleneck?) and the client
# messages the server dropped on arrival (/metrics).
#
# Usage: tests/bench/scale.sh [--bin DIR] [--counts "100 1000 5000"] [--rounds 3]
#          [--model cnn-large] [--preset topk1%-q8] [--train-ms 0-5000]
#          [--eval-limit 1000] [--idle-s 10] [--out docs/bench/scale.md]
#
#   --train-ms   simulated training time of each client per round (uniform MIN-MAX ms):
#                spreads the uploads as real training would (0 = all at once)
# Output: the table in --out (markdown, with the command and settings) and the
# logs in BIN/../bench/scale/. Everything started is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

BIN="$REPO/build/bin"
COUNTS="100 1000 5000"
ROUNDS=3
MODEL=cnn-large
PRESET='topk1%-q8'
TRAIN_MS=0-5000
EVAL_LIMIT=1000
IDLE_S=10
OUT="$REPO/docs/bench/scale.md"
WORK=""

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_val() { [ $# -ge 2 ] || { echo "scale.sh: $1 needs a value" >&2; exit 2; }; }
ARGV=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_val "$@"; BIN=$2; shift 2 ;;
    --counts) need_val "$@"; COUNTS=$2; shift 2 ;;
    --rounds) need_val "$@"; ROUNDS=$2; shift 2 ;;
    --model) need_val "$@"; MODEL=$2; shift 2 ;;
    --preset) need_val "$@"; PRESET=$2; shift 2 ;;
    --train-ms) need_val "$@"; TRAIN_MS=$2; shift 2 ;;
    --eval-limit) need_val "$@"; EVAL_LIMIT=$2; shift 2 ;;
    --idle-s) need_val "$@"; IDLE_S=$2; shift 2 ;;
    --out) need_val "$@"; OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scale.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for b in fedpress-server fedpress-loadgen fedpress-model; do
  [ -x "$BIN/$b" ] || { echo "scale.sh: $BIN/$b not found (build it, or --bin DIR)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "scale.sh: needs jq" >&2; exit 2; }
[ -n "$WORK" ] || WORK="$(cd "$BIN/.." && pwd)/bench/scale"   # logs next to the binaries' build

BENCH_NAME=scale.sh
PIDS=()
API=""
AUTH=()
mkdir -p "$WORK"
LOGS="$WORK"
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
trap 'bench_stop_pids' EXIT
trap 'exit 130' INT TERM

# Security flags, where this build has them (CURVE on by default elsewhere).
SERVER_SEC=()
SERVER_HELP=$("$BIN/fedpress-server" --help 2>&1 || true)
case "$SERVER_HELP" in *--insecure*) SERVER_SEC=(--insecure) ;; esac
# Per-source rate limits count every loadgen client as one source (one
# address, no credential): lift them, or N clients' heartbeats look like a flood.
case "$SERVER_HELP" in *--source-rate*) SERVER_SEC+=(--source-rate 1000000 --source-burst 1000000) ;; esac

HZ=$(getconf CLK_TCK)
# utime+stime (own) and cutime+cstime (waited-for children) of a pid, in seconds.
cpu_own() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$HZ" '{printf "%.2f", ($12 + $13) / hz}'; }
cpu_children() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}'; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mb() { awk -v x="$1" 'BEGIN {printf "%.1f", x / 1024}'; }

ROWS=()
for N in $COUNTS; do
  echo "scale.sh: N=$N"
  run="$WORK/n$N"
  rm -rf "$run"
  mkdir -p "$run/state"
  LOGS="$run"
  read -r ZMQ_PORT HTTP_PORT < <(bench_free_ports)
  setsid "$BIN/fedpress-server" --db "$run/state/fedpress.db" --state-dir "$run/state" \
    --bind "tcp://127.0.0.1:$ZMQ_PORT" --http "127.0.0.1:$HTTP_PORT" --eval-limit "$EVAL_LIMIT" \
    --max-clients $((N + 100)) --admin-token-file "$run/state/admin-token" "${SERVER_SEC[@]}" \
    > "$run/server.log" 2>&1 &
  SERVER=$!
  PIDS+=("$SERVER")
  for _ in $(seq 1 300); do
    grep -q '^READY' "$run/server.log" 2>/dev/null && [ -s "$run/state/admin-token" ] && break
    kill -0 "$SERVER" 2>/dev/null || bench_fail "server exited"
    sleep 0.1
  done
  grep -q '^READY' "$run/server.log" || bench_fail "server not ready"
  API="http://127.0.0.1:$HTTP_PORT"
  AUTH=(-H "Authorization: Bearer $(tr -d '[:space:]' < "$run/state/admin-token")")
  sleep 2
  base_kb=$(kb "$SERVER" VmRSS)

  t0=$(date +%s.%N)
  setsid "$BIN/fedpress-loadgen" --server "tcp://127.0.0.1:$ZMQ_PORT" --insecure --clients "$N" \
    --train-ms "$TRAIN_MS" --stats-every-s 10 > "$run/loadgen.log" 2>&1 &
  GEN=$!
  PIDS+=("$GEN")
  connected=0
  for _ in $(seq 1 1200); do
    connected=$(api GET '/api/clients?limit=1&status=connected' 2>/dev/null | jq '.total' 2>/dev/null || echo 0)
    [ "$connected" = "$N" ] && break
    kill -0 "$GEN" 2>/dev/null || bench_fail "loadgen exited"
    sleep 0.5
  done
  [ "$connected" = "$N" ] || bench_fail "only $connected of $N clients registered"
  reg_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  idle_cpu0=$(cpu_own "$SERVER")
  sleep "$IDLE_S"
  idle_cpu1=$(cpu_own "$SERVER")
  idle_kb=$(kb "$SERVER" VmRSS)
  per_client_kb=$(awk -v a="$idle_kb" -v b="$base_kb" -v n="$N" 'BEGIN {printf "%.1f", (a - b) / n}')
  idle_cpu_pct=$(awk -v a="$idle_cpu0" -v b="$idle_cpu1" -v s="$IDLE_S" 'BEGIN {printf "%.1f", 100 * (b - a) / s}')

  cpu0=$(cpu_own "$SERVER")
  ccpu0=$(cpu_children "$SERVER")
  gcpu0=$(cpu_own "$GEN")
  job_t0=$(date +%s.%N)
  spec=$(jq -nc --arg m "$MODEL" --arg p "$PRESET" --argjson n "$N" --argjson r "$ROUNDS" \
    '{name: "scale", model: $m, rounds: $r, clients_per_round: $n, min_clients: $n,
      round_timeout_s: 1800, compression: {preset: $p}, seed: 1}')
  id=$(api POST /api/jobs "$spec" | jq -r .id)
  [ -n "$id" ] && [ "$id" != null ] || bench_fail "cannot create the job"
  status=""
  for _ in $(seq 1 7200); do
    status=$(api GET "/api/jobs/$id" | jq -r .status)
    case "$status" in completed|failed|cancelled) break ;; esac
    kill -0 "$SERVER" 2>/dev/null || bench_fail "server died"
    sleep 0.5
  done
  [ "$status" = completed ] || bench_fail "job ended $status"
  cpu1=$(cpu_own "$SERVER")
  ccpu1=$(cpu_children "$SERVER")
  gcpu1=$(cpu_own "$GEN")
  gen_pct=$(awk -v a="$gcpu0" -v b="$gcpu1" -v t0="$job_t0" -v t1="$(date +%s.%N)" 'BEGIN {printf "%.0f", 100 * (b - a) / (t1 - t0)}')
  hwm_kb=$(kb "$SERVER" VmHWM)
  api GET "/api/jobs/$id/rounds" > "$run/rounds.json"
  # Client messages the server dropped on arrival (queue bounds): a dropped
  # UPDATE leaves its round waiting for the deadline.
  dropped=$( (api GET /metrics || true) | awk '/^fedpress_inbound_dropped_total\{reason="queue_full"\}/ {print $2}')
  kill -TERM -- "-$GEN" 2>/dev/null || true
  wait "$GEN" 2>/dev/null || true
  bench_stop_pids

  # Per round: wall (duration_ms, includes evaluation), participants, and the
  # server's aggregation lines.
  read -r wall_s parts up_kb < <(jq -r '[ (map(.duration_ms) | add / length / 1000),
      (map(.participants) | add / length), (map(.bytes_up_wire / .participants) | add / length / 1000) ]
      | map(tostring) | join(" ")' "$run/rounds.json")
  read -r agg_ms collect_s < <(grep -o 'aggregated [0-9]* updates in [0-9.]* ms.*, [0-9]* ms after the round started' \
      "$run/server.log" | awk '{agg += $5; split($0, a, ", "); n2 = split(a[length(a)], b, " "); col += b[1]; k++}
      END {if (k) printf "%.1f %.1f\n", agg / k, col / k / 1000; else print "n/a n/a"}')
  cpu_round=$(awk -v a="$cpu0" -v b="$cpu1" -v r="$ROUNDS" 'BEGIN {printf "%.2f", (b - a) / r}')
  eval_round=$(awk -v a="$ccpu0" -v b="$ccpu1" -v r="$ROUNDS" 'BEGIN {printf "%.2f", (b - a) / r}')
  stats=$(grep -o 'STATS .*' "$run/loadgen.log" | tail -1 | cut -c7-)
  failures=$(echo "${stats:-{\}}" | jq -r '(.task_failures // "?")')
  ROWS+=("| $N | $reg_s | $(mb "$base_kb") | $(mb "$idle_kb") | $per_client_kb | $idle_cpu_pct | $(mb "$hwm_kb") | $(printf '%.0f' "$parts") | $(printf '%.1f' "$up_kb") | $cpu_round | $(printf '%.1f' "$wall_s") | $collect_s | $agg_ms | $eval_round | $gen_pct | ${dropped:-?} | $failures |")
  echo "scale.sh: ${ROWS[-1]}"
done

mkdir -p "$(dirname "$OUT")"
{
  echo "# Scale: one server, N simulated clients"
  echo
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "server and load generator on the same machine (loopback)."
  echo
  echo "Command: \`tests/bench/scale.sh ${ARGV[*]}\`"
  echo
  echo "Settings: model \`$MODEL\`, compression preset \`$PRESET\`, $ROUNDS rounds, every connected client in"
  echo "every round (clients_per_round = min_clients = N), simulated training time $TRAIN_MS ms per client"
  echo "and round, server \`--eval-limit $EVAL_LIMIT\`, one \`fedpress-loadgen\` process (1 socket thread)."
  echo
  echo "| clients | register all (s) | base RSS (MB) | idle RSS (MB) | idle KB/client | idle CPU (%) | peak RSS (MB) | updates/round | KB/update | server CPU s/round | wall s/round | collect s/round | aggregation ms/round | eval CPU s/round | loadgen CPU (%) | dropped msgs | loadgen task failures |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${ROWS[@]}"; do echo "$r"; done
  echo
  echo "Columns: *base RSS* before any client; *idle RSS* with N clients registered and heartbeating;"
  echo "*idle KB/client* = (idle − base) / N; *idle CPU* = server CPU while idle with N clients;"
  echo "*peak RSS* = VmHWM over the whole run; *server CPU s/round* = utime+stime of the server"
  echo "process during the job / rounds (its fedpress-model evaluations are in *eval CPU*);"
  echo "*wall s/round* = the rounds' duration_ms (TRAIN sent → committed; the job's evaluation is pipelined, so not included);"
  echo "*collect s/round* = round start → all updates aggregated; *aggregation ms/round* = the"
  echo "coordinator's time in the strategy's Add (decode + accumulate) for every update plus the"
  echo "final apply (server log); *loadgen CPU* = the load generator's CPU during the job / job wall"
  echo "time (100% = one core: it is then the bottleneck); *dropped msgs* = client messages the server"
  echo "dropped on arrival because its inbound queue was full (fedpress_inbound_dropped_total)."
} > "$OUT"
echo "scale.sh: table written to $OUT"
cat "$OUT"
