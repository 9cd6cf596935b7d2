#!/usr/bin/env bash
# Runs the dashboard browser test by hand: a fedpress server and 2 clients on
# free loopback ports, the built dashboard, then dashboard.e2e.mjs.
#
#   tests/e2e/run.sh [BIN_DIR]        (default: build/bin)
#
# Environment: FEDPRESS_TOKEN (admin token, if the server requires one),
# FEDPRESS_DATA (Fashion-MNIST directory, default /usr/share/datasets/fashion-mnist),
# KEEP=1 keeps the temp folder with the logs.
#
# Serving the page: if the server answers GET / with the dashboard (it serves
# web/dist itself once that lands), the test talks to it directly. Until then
# this script runs `vite preview` on web/dist with /api (and the /api/events
# WebSocket) proxied to the server — see web/vite.config.ts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$(cd "${1:-$repo/build/bin}" && pwd)"
data="${FEDPRESS_DATA:-/usr/share/datasets/fashion-mnist}"
for b in fedpress-server fedpress-client; do
  [[ -x "$bin/$b" ]] || { echo "run.sh: $bin/$b not found (build it first)" >&2; exit 2; }
done

work="$(mktemp -d /tmp/fedpress-e2e.XXXXXX)"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 || "${KEEP:-0}" == 1 ]]; then
    echo "run.sh: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
wait_http() {  # URL SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not answer within $2 s" >&2
  return 1
}

http_port="$(free_port)"
zmq_port="$(free_port)"
api="http://127.0.0.1:$http_port"

# Dependencies (offline-safe when already installed).
if [[ ! -d "$here/node_modules/playwright-core" ]]; then (cd "$here" && npm ci --no-audit --no-fund); fi
if [[ ! -f "$repo/web/dist/index.html" ]]; then
  (cd "$repo/web" && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run build)
fi

mkdir -p "$work/state"
"$bin/fedpress-server" --db "$work/fp.db" --state-dir "$work/state" \
  --http "127.0.0.1:$http_port" --bind "tcp://127.0.0.1:$zmq_port" \
  --test-data "$data" --eval-limit 500 >"$work/server.log" 2>&1 &
pids+=($!)
wait_http "$api/healthz" 30
for i in 0 1; do
  "$bin/fedpress-client" --server "tcp://127.0.0.1:$zmq_port" --name "e2e-c$i" \
    --data-dir "$data" --index "$i" --of 2 --limit 2000 >"$work/client$i.log" 2>&1 &
  pids+=($!)
done

if curl -fsS "$api/" 2>/dev/null | grep -q 'id="app"'; then
  url="$api"
else
  web_port="$(free_port)"
  (cd "$repo/web" && FEDPRESS_API="$api" exec node node_modules/vite/bin/vite.js preview --port "$web_port" --strictPort \
    >"$work/preview.log" 2>&1) &
  pids+=($!)
  url="http://127.0.0.1:$web_port"
  wait_http "$url/" 30
fi

echo "run.sh: server $api, page $url"
FEDPRESS_URL="$url" FEDPRESS_CLIENTS=2 node "$here/dashboard.e2e.mjs"
