# Shared helpers of the benchmark scripts in tests/bench (sourced, not run).
# The caller sets BENCH_NAME (message prefix), PIDS (array of process-group
# leaders it started with setsid), LOGS, API and AUTH (curl header arguments).

# Stops every process group in PIDS: TERM, up to 5 s of grace, then KILL.
# Each child leads its own group, so this also reaches what it started (the
# server's fedpress-model evaluations).
bench_stop_pids() {
  local p
  [ ${#PIDS[@]} -gt 0 ] || return 0
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# Prints two free loopback TCP ports above 20000.
bench_free_ports() {
  python3 - <<'PYEOF'
import random, socket
ports = []
while len(ports) < 2:
    p = random.randint(20001, 60999)
    if p in ports:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
        ports.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*ports)
PYEOF
}

# api METHOD PATH [BODY]: prints the response body, fails on HTTP errors.
api() {
  if [ $# -ge 3 ]; then
    curl -sS -f --max-time 30 -X "$1" "${AUTH[@]}" -H 'Content-Type: application/json' -d "$3" "$API$2"
  else
    curl -sS -f --max-time 30 -X "$1" "${AUTH[@]}" "$API$2"
  fi
}

# bench_fail MESSAGE: says what failed, shows the server log's tail, exits 1.
bench_fail() {
  echo "$BENCH_NAME: $1 (logs: $LOGS)" >&2
  tail -n 20 "$LOGS/server.log" >&2 || true
  exit 1
}
