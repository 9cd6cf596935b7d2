#!/usr/bin/env bash
# Server memory under a hostile flood: starts fedpress-server on loopback,
# runs fedpress-flood against it (REGISTER/HEARTBEAT from one identity, a
# stream of fresh identities with REGISTER/HEARTBEAT/garbage, oversized
# frames, from several 127.x source addresses), samples the server's RSS every
# few seconds, and prints first / peak / last RSS with the drop counters from
# /metrics. A benchmark, not a test: nothing here is part of `make test`.
#
#   tests/bench/flood_memory.sh [--bin build/bin] [--seconds 600] [--every 5]
#                               [--sources 4] [--out DIR] [-- extra server flags]
# Output: DIR/rss.csv (seconds, rss_kb, fedpress clients, dropped), DIR/*.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=build/bin SECONDS_TOTAL=600 EVERY=5 SOURCES=4 OUT=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --seconds) SECONDS_TOTAL=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --sources) SOURCES=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN=$(cd "$BIN" && pwd)
BENCH_NAME=flood_memory
# shellcheck source=lib.sh
source "$here/lib.sh"
OUT=${OUT:-$(mktemp -d /tmp/fedpress-flood.XXXXXX)}
mkdir -p "$OUT"
LOGS=$OUT
PIDS=()
trap bench_stop_pids EXIT
read -r HTTP ZMQ < <(bench_free_ports)
ulimit -n 65536 2>/dev/null || true  # the flood opens and closes many connections

setsid "$BIN/fedpress-server" --insecure --db "$OUT/state/fedpress.db" --state-dir "$OUT/state" \
  --bind "tcp://127.0.0.1:$ZMQ" --http "127.0.0.1:$HTTP" --model-tool /bin/true --log-level warn \
  "${EXTRA[@]}" >"$OUT/server.out" 2>"$OUT/server.log" &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 1 100); do grep -q '^READY' "$OUT/server.out" 2>/dev/null && break; sleep 0.2; done
grep -q '^READY' "$OUT/server.out" || bench_fail "server did not start"
API="http://127.0.0.1:$HTTP"
AUTH=(-H "Authorization: Bearer $(cat "$OUT/state/admin-token")")

setsid "$BIN/fedpress-flood" --endpoint "tcp://127.0.0.1:$ZMQ" --seconds "$SECONDS_TOTAL" \
  --sources "$SOURCES" >"$OUT/flood.log" 2>&1 &
FLOOD=$!
PIDS+=("$FLOOD")

metric() { sed -n "s/^$1 //p" <<<"$2" | head -1; }
echo "seconds,rss_kb,clients_connected,dropped_peer,dropped_source,dropped_queue" >"$OUT/rss.csv"
start=$(date +%s)
while kill -0 "$FLOOD" 2>/dev/null; do
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$SERVER/status" 2>/dev/null) || bench_fail "server died"
  m=$(api GET /metrics 2>/dev/null || true)
  echo "$(( $(date +%s) - start )),$rss,$(metric fedpress_clients_connected "$m"),$(metric 'fedpress_flood_dropped_total{limit="peer"}' "$m"),$(metric 'fedpress_flood_dropped_total{limit="source"}' "$m"),$(metric 'fedpress_inbound_dropped_total{reason="queue_full"}' "$m")" >>"$OUT/rss.csv"
  sleep "$EVERY"
done
wait "$FLOOD" || bench_fail "fedpress-flood failed: $(tail -n 3 "$OUT/flood.log")"
kill -0 "$SERVER" 2>/dev/null || bench_fail "server died during the flood"
api GET /healthz >/dev/null || bench_fail "server does not answer after the flood"
cat "$OUT/flood.log"
awk -F, 'NR==2{first=$2} NR>1{if($2>peak)peak=$2; last=$2; n++; row=$0}
  END{printf "server RSS over %d samples: first %.1f MiB, peak %.1f MiB, last %.1f MiB\nlast sample: %s\n",
      n, first/1024, peak/1024, last/1024, row}' "$OUT/rss.csv"
echo "details: $OUT/rss.csv"
