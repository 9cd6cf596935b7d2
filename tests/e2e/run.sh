#!/usr/bin/env bash
# Runs the dashboard browser test: a fedpress server (which serves the built
# dashboard itself) and 2 clients on free loopback ports, then
# dashboard.e2e.mjs with the server's admin token.
#
#   tests/e2e/run.sh [BIN_DIR]        (default: build/bin; ctest runs it as e2e_dashboard)
#
# Exit codes: 0 passed, 1 failed, 2 usage/setup error, 77 skipped (no
# chromium, or node_modules missing here or in web/: run `make web`).
# Environment: FEDPRESS_DATA (Fashion-MNIST directory, default
# /usr/share/datasets/fashion-mnist), CHROMIUM (default /usr/bin/chromium),
# KEEP=1 keeps the temp folder with the logs. Screenshots: tests/e2e/artifacts/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$(cd "${1:-$repo/build/bin}" && pwd)"
data="${FEDPRESS_DATA:-/usr/share/datasets/fashion-mnist}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
for b in fedpress-server fedpress-client; do
  [[ -x "$bin/$b" ]] || { echo "run.sh: $bin/$b not found (build it first)" >&2; exit 2; }
done

# Skip (77) only for what `make web` / install-deps provide; never install here.
skip() { echo "run.sh: SKIPPED: $*" >&2; exit 77; }
[[ -x "$chromium" ]] || skip "no chromium at $chromium (apt-get install chromium, or set CHROMIUM)"
command -v node >/dev/null || skip "node is not installed"
[[ -d "$here/node_modules/playwright-core" ]] || skip "tests/e2e/node_modules missing (run: make web)"
if [[ ! -f "$repo/web/dist/index.html" ]]; then
  [[ -d "$repo/web/node_modules" ]] || skip "web/dist not built and web/node_modules missing (run: make web)"
  (cd "$repo/web" && npm run build)
fi

work="$(mktemp -d /tmp/fedpress-e2e.XXXXXX)"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 || "${KEEP:-0}" == 1 ]]; then
    echo "run.sh: logs kept in $work" >&2
    [[ $rc -ne 0 && -f "$work/server.log" ]] && tail -n 30 "$work/server.log" >&2
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

mkdir -p "$work/state"
# The server serves web/dist itself (--web-root), with the API and /api/events on the same origin.
# Loopback only, so plaintext ZeroMQ (--insecure): this test is about the dashboard.
"$bin/fedpress-server" --insecure --db "$work/fp.db" --state-dir "$work/state" \
  --http "127.0.0.1:$http_port" --bind "tcp://127.0.0.1:$zmq_port" \
  --web-root "$repo/web/dist" --test-data "$data" --eval-limit 500 >"$work/server.log" 2>&1 &
pids+=($!)
wait_http "$api/healthz" 30
token="$(cat "$work/state/admin-token")"
[[ ${#token} -eq 64 ]] || { echo "run.sh: no admin token in $work/state/admin-token" >&2; exit 1; }
grep -q 'id="app"' <<<"$(curl -fsS "$api/")" || { echo "run.sh: the server does not serve the dashboard at /" >&2; exit 1; }

for i in 0 1; do
  "$bin/fedpress-client" --insecure --server "tcp://127.0.0.1:$zmq_port" --name "e2e-c$i" \
    --data-dir "$data" --index "$i" --of 2 --limit 2000 >"$work/client$i.log" 2>&1 &
  pids+=($!)
done

echo "run.sh: server and page at $api"
FEDPRESS_URL="$api" FEDPRESS_TOKEN="$token" FEDPRESS_CLIENTS=2 CHROMIUM="$chromium" node "$here/dashboard.e2e.mjs"
