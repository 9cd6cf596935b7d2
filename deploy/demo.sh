#!/usr/bin/env bash
# The fedpress demo: a server (with its HTTP API/dashboard), 4 client daemons
# on IID shards of Fashion-MNIST, and one CNN job, all on this machine.
# Usage: deploy/demo.sh [BIN_DIR]
# Environment: HTTP_PORT (8080), ZMQ_PORT (7070), CLIENTS (4), ROUNDS (5),
#   STATE (demo-state: wiped at start), DEMO_KEEP (1: keep serving after the
#   job until Ctrl-C; 0: exit when the job is done).
set -euo pipefail

BIN=${1:-build/bin}
HTTP_PORT=${HTTP_PORT:-8080}
ZMQ_PORT=${ZMQ_PORT:-7070}
CLIENTS=${CLIENTS:-4}
ROUNDS=${ROUNDS:-5}
STATE=${STATE:-demo-state}
DEMO_KEEP=${DEMO_KEEP:-1}
[ -t 0 ] || DEMO_KEEP=${DEMO_KEEP_NONINTERACTIVE:-0}

for b in fedpress-server fedpress-client fedpress-model; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b is missing: run 'make build' first" >&2; exit 1; }
done
for p in "$HTTP_PORT" "$ZMQ_PORT"; do
  if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
    echo "demo: port $p is in use (another demo running?). Stop it or set HTTP_PORT / ZMQ_PORT." >&2
    exit 1
  fi
done

rm -rf "$STATE"
mkdir -p "$STATE/logs"
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping ${#PIDS[@]} processes"
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

API="http://127.0.0.1:$HTTP_PORT"
"$BIN/fedpress-server" --db "$STATE/fedpress.db" --state-dir "$STATE" \
  --http "127.0.0.1:$HTTP_PORT" --bind "tcp://127.0.0.1:$ZMQ_PORT" \
  > "$STATE/logs/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  curl -sf "$API/healthz" >/dev/null 2>&1 && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$STATE/logs/server.log"; echo "demo: server failed to start" >&2; exit 1; }
  sleep 0.2
done
TOKEN_FILE="$STATE/admin-token"
for _ in $(seq 1 50); do [ -s "$TOKEN_FILE" ] && break; sleep 0.1; done
TOKEN=$(cat "$TOKEN_FILE")
AUTH=(-H "Authorization: Bearer $TOKEN")
echo "demo: server up — API and dashboard at $API/  (logs in $STATE/logs/)"
echo "demo: admin token in $TOKEN_FILE (send it as 'Authorization: Bearer <token>')"

# Who may connect: the server speaks CURVE (encrypted) and admits enrolled
# clients only. Each client gets its own credential (a key file, mode 0600)
# and pins the server's public key.
SERVER_KEY=$("$BIN/fedpress-server" show-key --state-dir "$STATE" 2>/dev/null)
mkdir -p "$STATE/keys"
for i in $(seq 0 $((CLIENTS - 1))); do
  "$BIN/fedpress-server" enroll --db "$STATE/fedpress.db" --state-dir "$STATE" --name "edge-$i" \
    --out "$STATE/keys/edge-$i.key" >/dev/null 2>>"$STATE/logs/enroll.log" ||
    { cat "$STATE/logs/enroll.log" >&2; echo "demo: enrolling edge-$i failed" >&2; exit 1; }
done
echo "demo: CURVE on (server key $SERVER_KEY); enrolled $CLIENTS clients (keys in $STATE/keys/)"

for i in $(seq 0 $((CLIENTS - 1))); do
  "$BIN/fedpress-client" --server "tcp://127.0.0.1:$ZMQ_PORT" --name "edge-$i" \
    --server-key "$SERVER_KEY" --key-file "$STATE/keys/edge-$i.key" \
    --partition iid --index "$i" --of "$CLIENTS" --threads 1 \
    > "$STATE/logs/edge-$i.log" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 1 150); do
  n=$(curl -sf "${AUTH[@]}" "$API/api/clients" | jq '[.[] | select(.connected)] | length')
  [ "$n" = "$CLIENTS" ] && break
  sleep 0.2
done
echo "demo: $CLIENTS clients connected, each with 1/$CLIENTS of the 60,000 training images"

SPEC=$(jq -n --argjson r "$ROUNDS" --argjson c "$CLIENTS" \
  '{name:"demo: Fashion-MNIST CNN", model:"cnn", rounds:$r, clients_per_round:$c, min_clients:$c,
    local_epochs:1, batch_size:32, lr:0.05, momentum:0.9, round_timeout_s:300, seed:1}')
JOB=$(curl -sf "${AUTH[@]}" -X POST "$API/api/jobs" -H 'Content-Type: application/json' -d "$SPEC" | jq -r .id)
echo "demo: job $JOB started: cnn (206,922 parameters), $ROUNDS rounds of FedAvg"
echo "demo: watch it live at $API/#token=$TOKEN"
echo "demo:   (this job: $API/#/jobs/$JOB?token=$TOKEN)   — press Ctrl-C to stop"
echo
printf '%-7s %9s %8s %8s %11s %11s %8s\n' round accuracy loss clients "up (MB)" "down (MB)" seconds
START=$(date +%s)
shown=0
while :; do
  status=$(curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB" | jq -r .status)
  rounds=$(curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB/rounds")
  count=$(jq length <<<"$rounds")
  while [ "$shown" -lt "$count" ]; do
    jq -r --argjson i "$shown" --argjson n "$ROUNDS" '.[$i] |
      "\(.round)/\($n)\t\(if .accuracy then (.accuracy*100|.*100|round/100|tostring)+"%" else "n/a" end)\t\(if .loss then (.loss*10000|round/10000) else "n/a" end)\t\(.participants)\t\(.bytes_up_wire/1e6*100|round/100)\t\(.bytes_down_wire/1e6*100|round/100)\t\(.duration_ms/100|round/10)"' \
      <<<"$rounds" | awk -F'\t' '{printf "%-7s %9s %8s %8s %11s %11s %8s\n",$1,$2,$3,$4,$5,$6,$7}'
    shown=$((shown + 1))
  done
  case "$status" in completed|failed|cancelled) break ;; esac
  kill -0 "${PIDS[0]}" 2>/dev/null || { echo "demo: the server stopped unexpectedly; see $STATE/logs/server.log" >&2; exit 1; }
  sleep 1
done
END=$(date +%s)
echo
curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB" | jq -r --argjson t "$((END - START))" '
  "demo: job \(.id) \(.status) in \($t) s — final test accuracy \(if .accuracy then (.accuracy*10000|round/100|tostring)+"%" else "n/a" end) after \(.current_round) rounds",
  "demo: \(.totals.participations) client updates, \(.totals.bytes_up_wire/1e6*10|round/10) MB up, \(.totals.bytes_down_wire/1e6*10|round/10) MB down",
  "demo: every round is in \("'"$STATE"'/fedpress.db") (SQLite); the model: curl -H \"Authorization: Bearer $(cat '"$TOKEN_FILE"')\" -o model.pt '"$API"'/api/jobs/\(.id)/model"'
[ "$(curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB" | jq -r .status)" = completed ] || exit 1
if [ "$DEMO_KEEP" = 1 ]; then
  echo "demo: the server and clients keep running for the dashboard at $API/#token=$TOKEN — press Ctrl-C to stop"
  wait "${PIDS[0]}"
fi
