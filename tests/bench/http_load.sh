#!/usr/bin/env bash
# HTTP load versus training (issue 4, "Load"): does serving the REST API under
# load slow the job down? One fresh fedpress-server and N fedpress-client
# processes on loopback run the same job spec several times in a row: without
# HTTP load (A) and with `wrk` hammering GET /api/jobs/{id}/rounds for the whole
# job (B), in the order A B B A (--pairs 2) or A B (--pairs 1). Reports wrk's
# requests/s and latency percentiles and compares the rounds' duration_ms
# (round 1 excluded: model-tool warm-up) between A and B: the target is a
# degradation of at most 10 %.
#
# Usage: tests/bench/http_load.sh [--bin DIR] [--clients 4] [--rounds 8] [--model cnn]
#          [--limit 8000] [--eval-limit 0] [--threads 2] [--connections 32]
#          [--pairs 2] [--pin split|edge|none] [--out DIR]
#
#   --threads/--connections   wrk's -t and -c
#   --limit/--eval-limit      the clients' and the server's options (first N images)
#   --pin split               (default with >= 2 CPUs) wrk on the last CPU, the server
#                             and clients on the others, in A and B alike
#   --pin edge                the deployment's shape: clients on the first CPU (as if on
#                             their own devices), the server and wrk (at nice 19, standing
#                             in for remote browsers) on the last; none: no pinning
# Output in OUT (default build/bench/http_load): http_load.md (the table printed at
# the end), rounds-<run>.json, wrk-<run>.txt and logs/ (server and client logs).
# Everything started is stopped on exit, Ctrl-C or TERM. See tests/bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

BIN="$REPO/build/bin"
CLIENTS=4
ROUNDS=8
MODEL=cnn
LIMIT=8000
EVAL_LIMIT=0
WRK_THREADS=2
WRK_CONNS=32
PAIRS=2
PIN=auto
OUT="$REPO/build/bench/http_load"
TARGET_PCT=10

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_val() { [ $# -ge 2 ] || { echo "http_load: $1 needs a value" >&2; exit 2; }; }
ARGV=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_val "$@"; BIN=$2; shift 2 ;;
    --clients) need_val "$@"; CLIENTS=$2; shift 2 ;;
    --rounds) need_val "$@"; ROUNDS=$2; shift 2 ;;
    --model) need_val "$@"; MODEL=$2; shift 2 ;;
    --limit) need_val "$@"; LIMIT=$2; shift 2 ;;
    --eval-limit) need_val "$@"; EVAL_LIMIT=$2; shift 2 ;;
    --threads) need_val "$@"; WRK_THREADS=$2; shift 2 ;;
    --connections) need_val "$@"; WRK_CONNS=$2; shift 2 ;;
    --pairs) need_val "$@"; PAIRS=$2; shift 2 ;;
    --pin) need_val "$@"; PIN=$2; shift 2 ;;
    --out) need_val "$@"; OUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "http_load: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in CLIENTS ROUNDS LIMIT EVAL_LIMIT WRK_THREADS WRK_CONNS PAIRS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "http_load: ${v,,} must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
[ "$CLIENTS" -ge 1 ] && [ "$ROUNDS" -ge 2 ] && [ "$WRK_THREADS" -ge 1 ] && [ "$WRK_CONNS" -ge "$WRK_THREADS" ] ||
  { echo "http_load: need --clients >= 1, --rounds >= 2 (round 1 is not compared), 1 <= --threads <= --connections" >&2; exit 2; }
case "$PAIRS" in 1|2) ;; *) echo "http_load: --pairs is 1 (A B) or 2 (A B B A)" >&2; exit 2 ;; esac
case "$MODEL" in mlp|cnn|cnn-large) ;; *) echo "http_load: --model is mlp, cnn or cnn-large" >&2; exit 2 ;; esac
case "$PIN" in auto|split|edge|none) ;; *) echo "http_load: --pin is split, edge or none" >&2; exit 2 ;; esac

for b in fedpress-server fedpress-client fedpress-model; do
  [ -x "$BIN/$b" ] || { echo "http_load: $BIN/$b is missing: run 'make build' (or pass --bin)" >&2; exit 1; }
done
for t in curl jq python3 wrk setsid; do
  command -v "$t" >/dev/null || { echo "http_load: '$t' is required (wrk: apt-get install wrk, or deploy/install-deps.sh)" >&2; exit 1; }
done
# The help text is captured first: `--help | grep -q` under pipefail fails at
# random when grep exits early and the server dies of SIGPIPE.
SERVER_HELP=$("$BIN/fedpress-server" --help 2>/dev/null || true)
grep -q -- '--admin-token-file' <<<"$SERVER_HELP" ||
  { echo "http_load: $BIN/fedpress-server has no --admin-token-file (an older build): pass --bin of a current build" >&2; exit 1; }
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT"/rounds-*.json "$OUT"/wrk-*.txt
mkdir -p "$LOGS"

# CPU placement. split: wrk alone on the last CPU we may use, the server (and its
# evaluation child) and the clients on the others, in every run, so that wrk's own
# CPU time is not taken from the job and A and B differ only by the HTTP load.
CPUS=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')
NCPU=$(awk -F, '{print NF}' <<<"$CPUS")
SERVER_PIN=()
CLIENT_PIN=()
WRK_PIN=()
if [ "$PIN" = auto ]; then
  if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then PIN="split"; else PIN="none"; fi
fi
if [ "$PIN" = split ]; then
  [ "$NCPU" -ge 2 ] || { echo "http_load: --pin split needs at least 2 CPUs (have $CPUS)" >&2; exit 2; }
  command -v taskset >/dev/null || { echo "http_load: --pin split needs taskset (util-linux)" >&2; exit 1; }
  WRK_CPU=${CPUS##*,}
  JOB_CPUS=${CPUS%,*}
  SERVER_PIN=(taskset -c "$JOB_CPUS")
  CLIENT_PIN=(taskset -c "$JOB_CPUS")
  WRK_PIN=(taskset -c "$WRK_CPU")
  PIN_DESC="split: server and clients on CPU $JOB_CPUS, wrk on CPU $WRK_CPU (in every run)"
elif [ "$PIN" = edge ]; then
  [ "$NCPU" -ge 2 ] || { echo "http_load: --pin edge needs at least 2 CPUs (have $CPUS)" >&2; exit 2; }
  command -v taskset >/dev/null || { echo "http_load: --pin edge needs taskset (util-linux)" >&2; exit 1; }
  SRV_CPU=${CPUS##*,}
  CLI_CPUS=${CPUS%,*}
  SERVER_PIN=(taskset -c "$SRV_CPU")
  CLIENT_PIN=(taskset -c "$CLI_CPUS")
  WRK_PIN=(taskset -c "$SRV_CPU" nice -n 19)
  PIN_DESC="edge: clients on CPU $CLI_CPUS (their own devices), the server and wrk (nice 19) on CPU $SRV_CPU (in every run)"
else
  PIN_DESC="none: server, clients and wrk share CPUs $CPUS"
fi

# ---- process bookkeeping: everything started here is stopped on exit ----
PIDS=()
BENCH_NAME=http_load
# shellcheck source=tests/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
WRK_PID=""
RUN_TMP=""
stop_all() {
  local p
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; WRK_PID=""; fi
  bench_stop_pids
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  [ -z "$RUN_TMP" ] || rm -rf "$RUN_TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "http_load: interrupted, stopping everything" >&2; exit 130' INT TERM

fail() { bench_fail "$1"; }

# Two free loopback TCP ports above 20000.
read -r HTTP_PORT ZMQ_PORT < <(bench_free_ports)
API="http://127.0.0.1:$HTTP_PORT"
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fedpress-http-load.XXXXXX")
STATE="$RUN_TMP/server"
mkdir -p "$STATE"

# Loopback only: plaintext ZeroMQ (--insecure), as in accuracy_vs_bytes.sh.
SEC=()
! grep -q -- '--insecure' <<<"$SERVER_HELP" || SEC=(--insecure)
setsid "${SERVER_PIN[@]}" "$BIN/fedpress-server" "${SEC[@]}" --db "$STATE/fedpress.db" --state-dir "$STATE" \
  --http "127.0.0.1:$HTTP_PORT" --bind "tcp://127.0.0.1:$ZMQ_PORT" --eval-limit "$EVAL_LIMIT" \
  --admin-token-file "$STATE/admin-token" > "$LOGS/server.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
up=0
for _ in $(seq 1 150); do
  kill -0 "$SPID" 2>/dev/null || fail "server exited at start-up"
  if curl -s -o /dev/null --max-time 2 "$API/healthz" && [ -s "$STATE/admin-token" ]; then up=1; break; fi
  sleep 0.2
done
[ "$up" = 1 ] || fail "server did not come up on $API within 30 s"
# The token stays off command lines: curl reads the header from a 0600 file
# (-H @FILE), wrk gets it from a 0600 Lua file that only sets a header (no
# request() function, so wrk still sends one pre-built request, no Lua per request).
TOKEN=$(tr -d '[:space:]' < "$STATE/admin-token")
( umask 077
  printf 'Authorization: Bearer %s\n' "$TOKEN" > "$RUN_TMP/auth-header"
  printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" > "$RUN_TMP/auth.lua" )
unset TOKEN
AUTH=(-H "@$RUN_TMP/auth-header")

for i in $(seq 0 $((CLIENTS - 1))); do
  setsid "${CLIENT_PIN[@]}" "$BIN/fedpress-client" "${SEC[@]}" --server "tcp://127.0.0.1:$ZMQ_PORT" --name "load-$i" \
    --partition iid --index "$i" --of "$CLIENTS" --limit "$LIMIT" --threads 1 \
    --state-dir "$RUN_TMP/client-$i" > "$LOGS/client-$i.log" 2>&1 &
  PIDS+=($!)
done
n=0
for _ in $(seq 1 600); do   # up to 120 s
  n=$(api GET /api/clients 2>/dev/null | jq '[.[] | select(.connected)] | length' 2>/dev/null || echo 0)
  [ "$n" -ge "$CLIENTS" ] && break
  kill -0 "$SPID" 2>/dev/null || fail "server exited while clients connected"
  sleep 0.2
done
[ "$n" -ge "$CLIENTS" ] || fail "only $n of $CLIENTS clients connected within 120 s"

SPEC_BASE=$(jq -cn --arg m "$MODEL" --argjson r "$ROUNDS" --argjson c "$CLIENTS" \
  '{model:$m, rounds:$r, clients_per_round:$c, min_clients:$c, local_epochs:1, batch_size:32,
    lr:0.05, momentum:0.9, round_timeout_s:120, seed:1}')
JOB_TIMEOUT=$((ROUNDS * 120 + 120))
RUNS_TSV="$RUN_TMP/runs.tsv"   # run, load (0/1), job id, wall s, wrk covered the job (1/0/-), server CPU s
: > "$RUNS_TSV"
A_WALL=""

# CPU seconds used so far by the server and its waited-for children (evaluations).
CLK_TCK=$(getconf CLK_TCK)
server_cpu() { sed 's/.*) //' "/proc/$SPID/stat" | awk -v hz="$CLK_TCK" '{ printf "%.2f", ($12 + $13 + $14 + $15) / hz }'; }
elapsed() { awk -v s="$1" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.3f", n - s }'; }  # seconds since $1

# run_job NAME LOAD(0|1): creates the job, with LOAD starts wrk right after it,
# waits for `completed`, then stops wrk with SIGINT (wrk stops its threads and
# prints its full summary for the time it actually ran).
run_job() {
  local run=$1 load=$2 spec resp job start status cur shown=0 covered=-
  spec=$(jq -c --arg n "http_load $run" '. + {name:$n}' <<<"$SPEC_BASE")
  resp=$(curl -sS --max-time 30 -X POST "${AUTH[@]}" -H 'Content-Type: application/json' -d "$spec" \
    -w '\n%{http_code}' "$API/api/jobs") || fail "POST /api/jobs failed"
  [ "$(tail -n 1 <<<"$resp")" = 201 ] || fail "job rejected: $(sed '$d' <<<"$resp")"
  job=$(sed '$d' <<<"$resp" | jq -r .id)
  start=$EPOCHREALTIME
  local cpu0
  cpu0=$(server_cpu)
  if [ "$load" = 1 ]; then
    # A duration well past the job's expected end (3 × job A's wall time + 60 s): only a
    # bound; normally the job completes first and wrk is stopped then.
    local dur
    dur=$(awk -v a="$A_WALL" 'BEGIN { printf "%d", 3 * a + 61 }')
    "${WRK_PIN[@]}" wrk -t "$WRK_THREADS" -c "$WRK_CONNS" -d "${dur}s" --timeout 10s --latency \
      -s "$RUN_TMP/auth.lua" "$API/api/jobs/$job/rounds" > "$OUT/wrk-$run.txt" 2>&1 &
    WRK_PID=$!
    covered=1
  fi
  while :; do
    status=$(api GET "/api/jobs/$job" | jq -r '"\(.status) \(.current_round)"') || fail "GET /api/jobs/$job failed"
    cur=${status#* }
    status=${status% *}
    if [ "$cur" -gt "$shown" ]; then
      printf 'http_load: %s (job %s%s): round %s/%s committed at %.1f s\n' "$run" "$job" \
        "$([ "$load" = 1 ] && echo ', under load')" "$cur" "$ROUNDS" "$(elapsed "$start")"
      shown=$cur
    fi
    case "$status" in
      completed) break ;;
      failed|cancelled) fail "job $job $status: $(api GET "/api/jobs/$job" | jq -r .error)" ;;
    esac
    kill -0 "$SPID" 2>/dev/null || fail "the server stopped unexpectedly"
    if [ "$load" = 1 ] && [ "$covered" = 1 ] && ! kill -0 "$WRK_PID" 2>/dev/null; then
      covered=0
      echo "http_load: warning: wrk ended before job $job completed: the load did not cover the whole job" >&2
    fi
    awk -v e="$(elapsed "$start")" -v t="$JOB_TIMEOUT" 'BEGIN { exit !(e < t) }' ||
      fail "job $job not completed after ${JOB_TIMEOUT} s ($cur of $ROUNDS rounds)"
    sleep 0.5
  done
  local wall cpu
  wall=$(elapsed "$start")
  cpu=$(awk -v a="$cpu0" -v b="$(server_cpu)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$load" = 1 ]; then
    if kill -0 "$WRK_PID" 2>/dev/null; then kill -INT "$WRK_PID" 2>/dev/null || true; else covered=0; fi
    wait "$WRK_PID" 2>/dev/null || true
    WRK_PID=""
    grep -q '^Requests/sec:' "$OUT/wrk-$run.txt" || fail "wrk printed no summary: $(head -c 500 "$OUT/wrk-$run.txt")"
  fi
  api GET "/api/jobs/$job/rounds" > "$OUT/rounds-$run.json" || fail "GET /api/jobs/$job/rounds failed"
  [ "$load" = 1 ] || [ -n "$A_WALL" ] || A_WALL=$wall
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$load" "$job" "$wall" "$covered" "$cpu" >> "$RUNS_TSV"
  printf 'http_load: %s (job %s) completed in %.1f s\n' "$run" "$job" "$wall"
  sleep 2   # let the clients and the server settle before the next job
}

echo "http_load: $CLIENTS clients, $MODEL, $ROUNDS rounds, --limit $LIMIT; wrk -t $WRK_THREADS -c $WRK_CONNS; pin $PIN_DESC"
echo "http_load: server $API, output in $OUT"
run_job A1 0
run_job B1 1
if [ "$PAIRS" = 2 ]; then
  run_job B2 1
  run_job A2 0
fi

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
ARGS_TEXT="${ARGV[*]}" MODEL="$MODEL" CLIENTS="$CLIENTS" LIMIT="$LIMIT" ROUNDS="$ROUNDS" \
EVAL_LIMIT="$EVAL_LIMIT" WRK_THREADS="$WRK_THREADS" WRK_CONNS="$WRK_CONNS" PIN_DESC="$PIN_DESC" \
NCPU="$NCPU" LOADAVG="$LOADAVG" BIN="$BIN" \
python3 - "$RUNS_TSV" "$OUT" "$TARGET_PCT" <<'EOF'
import json, os, re, statistics, sys
E = os.environ
runs_tsv, out, target = sys.argv[1], sys.argv[2], float(sys.argv[3])
runs = []
for line in open(runs_tsv):
    run, load, job, wall, covered, cpu = line.rstrip("\n").split("\t")
    rounds = json.load(open(f"{out}/rounds-{run}.json"))
    d = [r["duration_ms"] for r in rounds if r["round"] > 1]
    runs.append(dict(run=run, load=load == "1", job=job, wall=float(wall), covered=covered, cpu=float(cpu),
                     d=d, all_d=[r["duration_ms"] for r in rounds], size=len(json.dumps(rounds))))

def ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

def parse_wrk(path):
    t = open(path).read()
    w = {}
    m = re.search(r"Latency Distribution\s+50%\s+([\d.]+)(us|ms|s|m)\s+75%\s+([\d.]+)(us|ms|s|m)\s+"
                  r"90%\s+([\d.]+)(us|ms|s|m)\s+99%\s+([\d.]+)(us|ms|s|m)", t)
    w["p50"], w["p75"], w["p90"], w["p99"] = (ms(m.group(i), m.group(i + 1)) for i in (1, 3, 5, 7))
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)\s+([\d.]+)(us|ms|s|m)", t)
    w["avg"], w["max"] = ms(m.group(1), m.group(2)), ms(m.group(5), m.group(6))
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+\w+) read", t)
    w["requests"], w["secs"], w["read"] = int(m.group(1)), ms(m.group(2), m.group(3)) / 1e3, m.group(4)
    w["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    w["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    w["sockerr"] = sum(map(int, m.groups())) if m else 0
    w["sockerr_text"] = m.group(0).replace("Socket errors: ", "") if m else "none"
    return w

def mean(x): return statistics.fmean(x) if x else float("nan")
def med(x): return statistics.median(x) if x else float("nan")
def pct(a, b): return (b - a) / a * 100.0

L = []
p = L.append
p("# HTTP load versus round time")
p("")
p("Command: `" + ("tests/bench/http_load.sh " + E["ARGS_TEXT"]).strip() + "`")
p("")
p(f"Setting: {E['MODEL']}, {E['CLIENTS']} clients (`--threads 1`, `--limit {E['LIMIT']}`), {E['ROUNDS']} rounds, "
  f"all clients every round; server `--eval-limit {E['EVAL_LIMIT']}`; wrk `-t {E['WRK_THREADS']} -c {E['WRK_CONNS']} --latency` "
  "on `GET /api/jobs/{id}/rounds` with the admin token, from job creation to job completion; "
  f"CPU pinning {E['PIN_DESC']}; {E['NCPU']} CPUs, load average at the end {E['LOADAVG']}; binaries `{E['BIN']}`.")
p("")
p("## HTTP load (runs B)")
p("")
p("| run | job | wrk time s | requests | requests/s | avg ms | p50 ms | p90 ms | p99 ms | max ms | non-2xx/3xx | socket errors | load covered the job |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
valid, notes = True, []
for r in runs:
    if not r["load"]:
        continue
    w = parse_wrk(f"{out}/wrk-{r['run']}.txt")
    r["wrk"] = w
    p(f"| {r['run']} | {r['job']} | {w['secs']:.1f} | {w['requests']} | {w['rps']:.0f} | {w['avg']:.2f} | {w['p50']:.2f} | "
      f"{w['p90']:.2f} | {w['p99']:.2f} | {w['max']:.1f} | {w['non2xx']} | {w['sockerr_text']} | "
      f"{'yes' if r['covered'] == '1' else 'NO'} |")
    if w["non2xx"]:
        valid = False; notes.append(f"{r['run']}: {w['non2xx']} responses were not 2xx/3xx")
    if w["sockerr"]:
        valid = False; notes.append(f"{r['run']}: socket errors ({w['sockerr_text']})")
    if r["covered"] != "1":
        valid = False; notes.append(f"{r['run']}: wrk ended before the job did")
p("")
p(f"Response size: the rounds list grows during a job, up to {max(r['size'] for r in runs)} bytes of JSON after {len(runs[0]['all_d'])} rounds.")
p("")
p(f"## Round duration (`duration_ms`, rounds 2 to {E['ROUNDS']})")
p("")
p("| run | HTTP load | job | job wall s | server CPU s | round 1 ms | mean ms | median ms | min ms | max ms |")
p("|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    p(f"| {r['run']} | {'wrk' if r['load'] else 'none'} | {r['job']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['all_d'][0]} | {mean(r['d']):.0f} | "
      f"{med(r['d']):.0f} | {min(r['d'])} | {max(r['d'])} |")
p("")
A = [r for r in runs if not r["load"]]
B = [r for r in runs if r["load"]]
pairs = [(a, b) for a, b in zip(A, B)]
p("| comparison | A mean ms | B mean ms | mean change | A median ms | B median ms | median change |")
p("|---|---|---|---|---|---|---|")
for a, b in pairs:
    p(f"| {b['run']} vs {a['run']} | {mean(a['d']):.0f} | {mean(b['d']):.0f} | {pct(mean(a['d']), mean(b['d'])):+.1f} % | "
      f"{med(a['d']):.0f} | {med(b['d']):.0f} | {pct(med(a['d']), med(b['d'])):+.1f} % |")
ad = [x for r in A for x in r["d"]]
bd = [x for r in B for x in r["d"]]
deg = pct(mean(ad), mean(bd))
if len(pairs) > 1:
    p(f"| **all B vs all A** | {mean(ad):.0f} | {mean(bd):.0f} | **{deg:+.1f} %** | {med(ad):.0f} | {med(bd):.0f} | {pct(med(ad), med(bd)):+.1f} % |")
    p(f"| noise: A2 vs A1 (no load either) | {mean(A[0]['d']):.0f} | {mean(A[1]['d']):.0f} | {pct(mean(A[0]['d']), mean(A[1]['d'])):+.1f} % | "
      f"{med(A[0]['d']):.0f} | {med(A[1]['d']):.0f} | {pct(med(A[0]['d']), med(A[1]['d'])):+.1f} % |")
    p(f"| noise: B2 vs B1 (load in both) | {mean(B[0]['d']):.0f} | {mean(B[1]['d']):.0f} | {pct(mean(B[0]['d']), mean(B[1]['d'])):+.1f} % | "
      f"{med(B[0]['d']):.0f} | {med(B[1]['d']):.0f} | {pct(med(B[0]['d']), med(B[1]['d'])):+.1f} % |")
p("")
if not valid:
    verdict = "FAIL (invalid load: " + "; ".join(notes) + ")"
elif deg <= target:
    verdict = f"PASS: mean round duration under load {deg:+.1f} % (target: at most +{target:g} %)"
else:
    verdict = f"FAIL: mean round duration under load {deg:+.1f} % (target: at most +{target:g} %)"
p(f"**Verdict: {verdict}**")
text = "\n".join(L) + "\n"
open(f"{out}/http_load.md", "w").write(text)
print()
print(text, end="")
EOF
echo "http_load: wrote $OUT/http_load.md"
