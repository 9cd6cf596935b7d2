#!/usr/bin/env bash
# Install test: `cmake --install` into a temporary prefix, check the layout,
# then start the INSTALLED fedpress-server and fedpress-client (with the
# installed example configs, overridden on the command line where a test needs
# other paths or ports) and run one round of a small mlp job. The server must
# find fedpress-model and the dashboard in the install tree, and apply every
# migration (they are embedded in the binary; the .sql files are installed
# for reference and counted here).
# Env: FEDPRESS_BUILD_DIR, FEDPRESS_SOURCE_DIR (set by ctest).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BUILD=${FEDPRESS_BUILD_DIR:?}
SRC=${FEDPRESS_SOURCE_DIR:?}
DATA=${FEDPRESS_DATA_DIR:-/usr/share/datasets/fashion-mnist}
for tool in curl jq; do command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }; done
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || [ -e "$DATA/train-images-idx3-ubyte" ] \
  || { echo "SKIP: no Fashion-MNIST in $DATA (dataset-fashion-mnist)"; exit 77; }

T=$(mktemp -d)
P="$T/prefix"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
dump_logs() { for f in "$T"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; }

# 1. Install.
cmake --install "$BUILD" --prefix "$P" > "$T/install.out" 2>&1 || { cat "$T/install.out"; fail "cmake --install"; }
for f in bin/fedpress-server bin/fedpress-client bin/fedpress-model; do
  [ -x "$P/$f" ] || fail "$f not installed"
done
for f in lib/systemd/system/fedpress-server.service lib/systemd/system/fedpress-client.service \
         lib/systemd/system/fedpress-client@.service lib/sysusers.d/fedpress.conf \
         etc/fedpress/server.toml etc/fedpress/client.toml share/doc/fedpress/deploy.md; do
  [ -s "$P/$f" ] || fail "$f not installed"
done
grep -qx "ExecStart=$P/bin/fedpress-server --config $P/etc/fedpress/server.toml" \
  "$P/lib/systemd/system/fedpress-server.service" || fail "server unit does not point into the prefix"
grep -qx "ExecStart=$P/bin/fedpress-client --config $P/etc/fedpress/client.toml" \
  "$P/lib/systemd/system/fedpress-client.service" || fail "client unit does not point into the prefix"
if grep -q '@FP_' "$P"/lib/systemd/system/*; then fail "unsubstituted @FP_...@ in a unit"; fi
n_sql_src=$(ls "$SRC"/migrations/*.sql | wc -l)
n_sql=$(ls "$P"/share/fedpress/migrations/*.sql | wc -l)
[ "$n_sql" = "$n_sql_src" ] || fail "$n_sql of $n_sql_src migrations installed"
WEB_BUILT=0
if [ -f "$SRC/web/dist/index.html" ]; then
  WEB_BUILT=1
  cmp -s "$SRC/web/dist/index.html" "$P/share/fedpress/web/index.html" || fail "dashboard not installed"
else
  echo "NOTE: web/dist not built (make web): the dashboard checks are skipped"
fi
pass "install layout under $P"

# An edited config is kept on reinstall; the new example goes next to it.
echo "# edited by the administrator" >> "$P/etc/fedpress/server.toml"
cmake --install "$BUILD" --prefix "$P" > "$T/install2.out" 2>&1 || { cat "$T/install2.out"; fail "second install"; }
tail -n 1 "$P/etc/fedpress/server.toml" | grep -q "edited by the administrator" || fail "edited config overwritten"
[ -f "$P/etc/fedpress/server.toml.new" ] || fail "no server.toml.new next to the edited config"
pass "reinstall keeps an edited config (server.toml.new)"

# The units, if systemd-analyze is here (no running systemd needed).
if command -v systemd-analyze >/dev/null; then
  for u in fedpress-server.service fedpress-client.service fedpress-client@.service; do
    unit="$P/lib/systemd/system/$u"
    [ "$u" = fedpress-client@.service ] && { cp "$unit" "$T/fedpress-client@t.service"; unit="$T/fedpress-client@t.service"; }
    systemd-analyze verify "$unit" > "$T/verify.out" 2>&1 || { cat "$T/verify.out"; fail "systemd-analyze verify $u"; }
    # Unknown keys are only warnings for systemd: fail on them here.
    if grep -Ei "unknown (key|section)|invalid|failed to parse|ignoring" "$T/verify.out"; then
      fail "systemd-analyze verify $u: warnings"
    fi
    exposure=$(systemd-analyze security --offline=true "$unit" 2>/dev/null \
      | sed -n -E 's/.*Overall exposure level for .*: ([0-9.]+) .*/\1/p')
    [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.5) }' \
      || fail "$u: systemd-analyze security exposure '$exposure' (hardening options lost?)"
  done
  pass "systemd-analyze verify: units parse, ExecStart binaries exist; security exposure $exposure"
fi

# 2. Run the installed server from the install tree (config from the
#    installed example; test paths and ports on the command line), with the
#    default security: CURVE, and a client enrolled as docs/deploy.md says.
cd "$T"   # nothing may come from the build tree's working directory
SERVER_PATHS=(--config "$P/etc/fedpress/server.toml" --db "$T/state/fedpress.db" --state-dir "$T/state")
"$P/bin/fedpress-server" "${SERVER_PATHS[@]}" show-key > "$T/server-key.out" 2> "$T/enroll.log" \
  || { cat "$T/enroll.log"; fail "show-key"; }
"$P/bin/fedpress-server" "${SERVER_PATHS[@]}" enroll --name install-test --out "$T/client-state/client.key" \
  >> "$T/enroll.log" 2>&1 || { cat "$T/enroll.log"; fail "enroll"; }
grep -qxF "server-key = $(cat "$T/server-key.out")" "$T/client-state/client.key" \
  || fail "the enrolled key file does not pin the server's key"
[ "$(stat -c %a "$T/client-state/client.key")" = 600 ] || fail "client key file is not mode 0600"
pass "server keypair made, client enrolled (key file in the client's state dir)"
"$P/bin/fedpress-server" "${SERVER_PATHS[@]}" \
  --bind "tcp://127.0.0.1:*" --http 127.0.0.1:0 --eval-limit 500 --test-data "$DATA" \
  > "$T/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  grep -q '^READY ' "$T/server.log" && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { dump_logs; fail "installed server exited"; }
  sleep 0.1
done
grep -q '^READY ' "$T/server.log" || { dump_logs; fail "installed server not ready"; }
ZMQ=$(sed -n -E 's/^READY zmq=([^ ]+) http=.*/\1/p' "$T/server.log")
HTTP_PORT=$(sed -n -E 's/^READY .*http=([0-9]+).*/\1/p' "$T/server.log")
API="http://127.0.0.1:$HTTP_PORT"
AUTH=(-H "Authorization: Bearer $(cat "$T/state/admin-token")")

version=$(sed -n -E 's/.*\(schema version ([0-9]+)\).*/\1/p' "$T/server.log" | head -n 1)
[ "$version" = "$n_sql" ] || { dump_logs; fail "schema version '$version', expected $n_sql (installed migrations)"; }
if [ "$WEB_BUILT" = 1 ]; then
  grep -qE "dashboard from $P/(bin/\.\./)?share/fedpress/web" "$T/server.log" \
    || { dump_logs; fail "server did not serve the dashboard from the install tree"; }
  curl -sf "$API/" > "$T/index.html" || fail "GET /"
  cmp -s "$T/index.html" "$P/share/fedpress/web/index.html" || fail "GET / is not the installed index.html"
fi
pass "installed server up: schema v$version, dashboard from the install tree"

# 3. One installed client, with the installed client.toml plus overrides.
"$P/bin/fedpress-client" --config "$P/etc/fedpress/client.toml" \
  --server "$ZMQ" --state-dir "$T/client-state" --key-file "$T/client-state/client.key" \
  --limit 600 --data-dir "$DATA" \
  > "$T/client.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 300); do
  n=$(curl -sf "${AUTH[@]}" "$API/api/clients" | jq '[.[] | select(.connected)] | length' 2>/dev/null || echo 0)
  [ "$n" = 1 ] && break
  kill -0 "${PIDS[1]}" 2>/dev/null || { dump_logs; fail "installed client exited"; }
  sleep 0.2
done
[ "$n" = 1 ] || { dump_logs; fail "client did not connect"; }

SPEC='{"name":"install test","model":"mlp","rounds":1,"clients_per_round":1,"min_clients":1,
       "local_epochs":1,"batch_size":32,"round_timeout_s":300,"seed":3}'
JOB=$(curl -sf "${AUTH[@]}" -X POST "$API/api/jobs" -H 'Content-Type: application/json' -d "$SPEC" | jq -r .id)
[ -n "$JOB" ] && [ "$JOB" != null ] || fail "job not created"
status=""
for _ in $(seq 1 1500); do   # at most ~5 minutes
  status=$(curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB" | jq -r .status)
  case "$status" in completed|failed|cancelled) break ;; esac
  kill -0 "${PIDS[0]}" 2>/dev/null || { dump_logs; fail "server died during the job"; }
  sleep 0.2
done
[ "$status" = completed ] || { dump_logs; fail "job status '$status', expected completed"; }
curl -sf "${AUTH[@]}" "$API/api/jobs/$JOB/rounds" > "$T/rounds.json"
[ "$(jq 'length' "$T/rounds.json")" = 1 ] || fail "expected 1 round: $(cat "$T/rounds.json")"
acc=$(jq -r '.[0].accuracy' "$T/rounds.json")
# The accuracy comes from the installed fedpress-model evaluating the round.
jq -e '.[0].accuracy > 0.1 and .[0].accuracy <= 1' "$T/rounds.json" > /dev/null \
  || { dump_logs; fail "round has no plausible accuracy (evaluation by the installed fedpress-model): $acc"; }
[ -s "$T/state/job-$JOB/model.pt" ] || fail "no exported model.pt"
pass "one round by the installed server and client: accuracy $acc"
echo "deploy_install: all checks passed"
