#!/usr/bin/env bash
# Backup and restore, done the way docs/operations.md tells an operator to:
#   1. a real server (CURVE, two enrolled clients) runs a 6-round mlp job;
#   2. while it runs: online backup of the database with `sqlite3 .backup`,
#      then a copy of job-*/, server.key and admin-token; the backup is
#      checked (integrity_check, the last round's checkpoint is in the copy);
#   3. the job finishes; the server and clients stop; the state directory is
#      lost (deleted);
#   4. restore into a fresh state directory at the same path, start a server
#      on it: same CURVE key, the job served with exactly the backup's
#      rounds, resumed at the next round;
#   5. the unchanged clients (pinned to the restored server key) reconnect
#      and the job completes with rounds 1..N, the backed-up ones unchanged
#      and the redone ones scoring as in the original run;
#   6. the same backup restored, unchanged, to another path (the rounds table
#      still names the old one): the job resumes there too.
# Env: FEDPRESS_BIN_DIR (set by ctest); FEDPRESS_DATA_DIR (Fashion-MNIST);
# KEEP=1 keeps the temporary directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${FEDPRESS_BIN_DIR:?}
DATA=${FEDPRESS_DATA_DIR:-/usr/share/datasets/fashion-mnist}
for tool in curl jq sqlite3; do command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }; done
[ -e "$DATA/train-images-idx3-ubyte.gz" ] || [ -e "$DATA/train-images-idx3-ubyte" ] \
  || { echo "SKIP: no Fashion-MNIST in $DATA (dataset-fashion-mnist)"; exit 77; }
ROUNDS=6

T=$(mktemp -d)
S="$T/state"          # the server's state directory (database inside, as in the packaged layout)
DB="$S/fedpress.db"
B="$T/backup"         # where the backup goes
SERVER_PID="" CLIENT_PIDS=()
stop_pid() {          # SIGTERM, wait up to 10 s, then SIGKILL
  local p=$1
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
stop_all() {
  for p in "${CLIENT_PIDS[@]}"; do stop_pid "$p"; done
  CLIENT_PIDS=()
  stop_pid "$SERVER_PID"
  SERVER_PID=""
}
cleanup() {
  stop_all
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
dump_logs() { for f in "$T"/*.log; do echo "--- $f"; tail -n 40 "$f"; done; }
die() { dump_logs; fail "$*"; }

# Starts a server on $S; sets SERVER_PID, API, CURVE_KEY, ZMQ. $1: log name.
start_server() {
  local log="$T/$1.log"
  "$BIN/fedpress-server" --db "$DB" --state-dir "$S" --bind "tcp://127.0.0.1:*" --http 127.0.0.1:0 \
    --eval-limit 300 --test-data "$DATA" > "$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    grep -q '^READY ' "$log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited at start ($log)"
    sleep 0.1
  done
  grep -q '^READY ' "$log" || die "server not ready after 30 s ($log)"
  ZMQ=$(sed -n -E 's/^READY zmq=([^ ]+) http=.*/\1/p' "$log")
  API="http://127.0.0.1:$(sed -n -E 's/^READY .*http=([0-9]+).*/\1/p' "$log")"
  CURVE_KEY=$(sed -n -E 's/^READY .*curve=([^ ]+).*/\1/p' "$log")
}
# Starts the two clients against $ZMQ (key files pin the server key).
start_clients() {
  for i in 0 1; do
    "$BIN/fedpress-client" --server "$ZMQ" --key-file "$T/client-$i/client.key" --state-dir "$T/client-$i" \
      --index "$i" --of 2 --limit 1200 --data-dir "$DATA" >> "$T/client-$i.log" 2>&1 &
    CLIENT_PIDS+=($!)
  done
}
api() { local path=$1; shift; curl -sf -H "Authorization: Bearer $(cat "$S/admin-token")" "$@" "$API$path"; }
job_field() { api "/api/jobs/$JOB" | jq -r ".$1" 2>/dev/null || true; }
wait_connected() {
  local n=0
  for _ in $(seq 1 300); do   # ~60 s
    n=$(api /api/clients | jq '[.[] | select(.connected)] | length' 2>/dev/null || echo 0)
    [ "$n" = 2 ] && return 0
    for p in "${CLIENT_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || die "a client exited"; done
    sleep 0.2
  done
  die "$n of 2 clients connected to $ZMQ"
}
wait_completed() {
  local status=""
  for _ in $(seq 1 1500); do  # ~5 minutes
    status=$(job_field status)
    case "$status" in completed|failed|cancelled) break ;; esac
    kill -0 "$SERVER_PID" 2>/dev/null || die "server died during the job"
    sleep 0.2
  done
  [ "$status" = completed ] || die "job status '$status', expected completed: $(api "/api/jobs/$JOB")"
}
# The fields of the rounds table that a restore must carry over unchanged.
ROUND_FIELDS='{round, attempts, participants, samples, started_ms, finished_ms, accuracy}'
# Rounds as in the backup: the same, except that an accuracy the backup did not
# have yet (pipelined evaluation still running when it was taken) may be there now.
AS_IN_BACKUP='def as_in($b): [to_entries[] | .value as $r | $b[.key] as $o
  | if $o != null and $o.accuracy == null then ($r | .accuracy = null) else $r end];'

# 1. Server keypair (first, so that the enrolled key files pin it), two
#    enrolled clients, the server, a job.
"$BIN/fedpress-server" --db "$DB" --state-dir "$S" show-key > "$T/server-key.out" 2> "$T/enroll.log" \
  || { cat "$T/enroll.log"; fail "show-key"; }
for i in 0 1; do
  "$BIN/fedpress-server" --db "$DB" --state-dir "$S" enroll --name "backup-$i" \
    --out "$T/client-$i/client.key" >> "$T/enroll.log" 2>&1 || { cat "$T/enroll.log"; fail "enroll backup-$i"; }
done
start_server server
start_clients
wait_connected
SPEC="{\"name\":\"backup test\",\"model\":\"mlp\",\"rounds\":$ROUNDS,\"clients_per_round\":2,\"min_clients\":2,
       \"local_epochs\":1,\"batch_size\":32,\"round_timeout_s\":120,\"seed\":7}"
JOB=$(api /api/jobs -X POST -H 'Content-Type: application/json' -d "$SPEC" | jq -r .id)
[ -n "$JOB" ] && [ "$JOB" != null ] || die "job not created"
pass "server up (CURVE key $CURVE_KEY), 2 enrolled clients, job $JOB ($ROUNDS rounds)"

# 2. Online backup once round 1 is committed, while the job runs.
for _ in $(seq 1 1500); do
  [ "$(job_field current_round)" -ge 1 ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "server died during the job"
  sleep 0.2
done
[ "$(job_field current_round)" -ge 1 ] || die "round 1 not committed after ~5 minutes"
K=0 ok=0
for attempt in 1 2 3 4 5; do
  rm -rf "$B"; mkdir -p "$B"
  # The operations.md procedure: the database first, then the files.
  sqlite3 "$DB" ".backup '$B/fedpress.db'"
  cp -a "$S"/job-* "$S/server.key" "$S/admin-token" "$B/"
  [ "$(sqlite3 "$B/fedpress.db" 'PRAGMA integrity_check')" = ok ] || die "backup fails PRAGMA integrity_check"
  K=$(sqlite3 "$B/fedpress.db" "SELECT current_round FROM jobs WHERE id = $JOB")
  # Every running job's last committed checkpoint must be in the copy.
  missing=$(sqlite3 "$B/fedpress.db" "SELECT r.checkpoint FROM jobs j JOIN rounds r
      ON r.job_id = j.id AND r.round = j.current_round WHERE j.status = 'running'" |
    while read -r ckpt; do [ -f "$B/${ckpt#"$S"/}" ] || echo "$ckpt"; done)
  if [ -z "$missing" ]; then ok=1; break; fi
  echo "backup attempt $attempt: checkpoint deleted before it was copied ($missing): again"
done
[ "$ok" = 1 ] || die "no consistent backup in 5 attempts"
status=$(sqlite3 "$B/fedpress.db" "SELECT status FROM jobs WHERE id = $JOB")
[ "$status" = running ] && [ "$K" -ge 1 ] && [ "$K" -lt "$ROUNDS" ] \
  || die "backup has job $JOB '$status' at round $K: expected running, 1 <= round < $ROUNDS"
n=$(sqlite3 "$B/fedpress.db" "SELECT count(*) FROM rounds WHERE job_id = $JOB")
[ "$n" = "$K" ] || die "backup has $n round rows for current_round $K"
sqlite3 -json "$B/fedpress.db" "SELECT * FROM rounds WHERE job_id = $JOB ORDER BY round" \
  | jq -S "[.[] | $ROUND_FIELDS]" > "$T/backup-rounds.json"
pass "online backup during the job: integrity ok, job running at round $K of $ROUNDS, its checkpoint copied (attempt $attempt)"

# 3. The job goes on and finishes; then everything stops and the state is lost.
wait_completed
api "/api/jobs/$JOB/rounds" | jq -S "[.[] | $ROUND_FIELDS]" > "$T/original-rounds.json"
[ "$(jq length "$T/original-rounds.json")" = "$ROUNDS" ] || die "original run: not $ROUNDS rounds"
stop_all
rm -rf "$S"
pass "original job completed ($ROUNDS rounds); server stopped, state directory deleted"

# 4. Restore into a fresh state directory at the same path, start the server.
install -d -m 0700 "$S"
cp "$B/fedpress.db" "$DB"          # no -wal/-shm next to it: none are in a fresh directory
cp -a "$B"/job-* "$B/server.key" "$B/admin-token" "$S/"
OLD_KEY=$CURVE_KEY
start_server restored
[ "$OLD_KEY" = "$(cat "$T/server-key.out")" ] || die "server key $OLD_KEY is not the one show-key printed"
[ "$CURVE_KEY" = "$OLD_KEY" ] || die "restored server has CURVE key $CURVE_KEY, not the backed-up $OLD_KEY"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$API/healthz")" = 200 ] || die "restored server: /healthz not 200"
# No client is connected yet, so nothing can have moved since the backup.
[ "$(job_field status)" = running ] || die "restored job status $(job_field status), expected running"
[ "$(job_field current_round)" = "$K" ] || die "restored job at round $(job_field current_round), expected $K"
api "/api/jobs/$JOB/rounds" | jq -S "[.[] | $ROUND_FIELDS]" > "$T/restored-rounds.json"
jq -e --slurpfile b "$T/backup-rounds.json" "$AS_IN_BACKUP"' length > 0 and as_in($b[0]) == $b[0]' "$T/restored-rounds.json" > /dev/null \
  || die "restored /rounds differs from the backup's rounds table: $(cat "$T/restored-rounds.json") vs $(cat "$T/backup-rounds.json")"
for _ in $(seq 1 100); do grep -q "resuming from round $((K + 1)) of $ROUNDS" "$T/restored.log" && break; sleep 0.1; done
grep -q "resuming from round $((K + 1)) of $ROUNDS" "$T/restored.log" || die "restored server did not resume at round $((K + 1))"
pass "restored server: same CURVE key, job $JOB running with exactly the backup's $K rounds, resuming at round $((K + 1))"

# 5. The same clients (key files unchanged) reconnect and the job completes.
start_clients
wait_connected
wait_completed
api "/api/jobs/$JOB/rounds" | jq -S "[.[] | $ROUND_FIELDS]" > "$T/final-rounds.json"
jq -e --argjson n "$ROUNDS" '[.[].round] == [range(1; $n + 1)]' "$T/final-rounds.json" > /dev/null \
  || die "restored job: rounds are not 1..$ROUNDS exactly once: $(jq -c '[.[].round]' "$T/final-rounds.json")"
jq -e --slurpfile b "$T/backup-rounds.json" --argjson k "$K" "$AS_IN_BACKUP"' .[0:$k] | as_in($b[0]) == $b[0]' "$T/final-rounds.json" > /dev/null \
  || die "restored job changed a backed-up round"
jq -e 'all(.[]; .accuracy != null)' "$T/final-rounds.json" > /dev/null \
  || die "restored job: a round has no accuracy (an interrupted evaluation was not redone): $(cat "$T/final-rounds.json")"
jq -e 'all(.[]; .participants == 2 and .accuracy > 0.1)' "$T/final-rounds.json" > /dev/null \
  || die "restored job has a round without 2 participants or a plausible accuracy: $(cat "$T/final-rounds.json")"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || die "restored database fails PRAGMA integrity_check"
[ -s "$S/job-$JOB/round-$ROUNDS.ckpt" ] || die "no checkpoint of the last round in the restored state"
# Both clients train every round with seeds from (job seed, round, client):
# resumed from the right model, the rounds redone after the restore score as
# in the original run (up to summation order; the fault tests allow 0.02).
jq -e --slurpfile o "$T/original-rounds.json" \
  '[., $o[0]] | transpose | all(.[]; (.[0].accuracy - .[1].accuracy) | fabs <= 0.02)' "$T/final-rounds.json" > /dev/null \
  || die "restored run's accuracies differ from the original run's: $(jq -c '[.[].accuracy]' "$T/final-rounds.json") vs $(jq -c '[.[].accuracy]' "$T/original-rounds.json")"
acc=$(jq -r '.[-1].accuracy' "$T/final-rounds.json")
orig=$(jq -r '.[-1].accuracy' "$T/original-rounds.json")
stop_all
pass "clients reconnected to the restored server; job completed rounds $((K + 1))..$ROUNDS, rounds 1..$K unchanged; final accuracy $acc (original run: $orig)"

# 6. Restore to another path, as is: the rounds table names checkpoints by the
#    path the server was started with, but the server finds them under its own
#    --state-dir.
S="$T/elsewhere/state" DB="$T/elsewhere/state/fedpress.db"
install -d -m 0700 "$S"
cp "$B/fedpress.db" "$DB"
cp -a "$B"/job-* "$B/server.key" "$B/admin-token" "$S/"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM rounds WHERE checkpoint LIKE '$S/%'")" = 0 ] \
  || die "the backup already names the new path: the relocation is not tested"
start_server relocated
for _ in $(seq 1 100); do grep -q "resuming from round $((K + 1)) of $ROUNDS" "$T/relocated.log" && break; sleep 0.1; done
grep -q "resuming from round $((K + 1)) of $ROUNDS" "$T/relocated.log" || die "relocated server did not resume at round $((K + 1))"
[ "$(job_field status)" = running ] || die "relocated job status $(job_field status), expected running"
api "/api/jobs/$JOB/rounds" | jq -S "[.[] | $ROUND_FIELDS]" > "$T/relocated-rounds.json"
jq -e --slurpfile b "$T/backup-rounds.json" "$AS_IN_BACKUP"' as_in($b[0]) == $b[0]' "$T/relocated-rounds.json" > /dev/null \
  || die "relocated /rounds differs from the backup's rounds table"
pass "restored to another path (recorded checkpoint paths left as they were): job running with the backup's $K rounds, resuming at round $((K + 1))"
echo "deploy_backup_restore: all checks passed"
