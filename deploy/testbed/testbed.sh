#!/usr/bin/env bash
# fedpress testbed: one server host and M client hosts as Linux network
# namespaces, joined by veth pairs through a bridge, each client's link shaped
# with tc (uplink, downlink, optional delay and loss). Runs the same federated
# job dense and with each compression preset over those real sockets and
# writes a table: wall time per round, bytes up/down, accuracy.
#
# Usage (as root): deploy/testbed/testbed.sh [options]
#   --bin DIR            fedpress binaries (default: build/bin)
#   --clients M          client hosts (default 4)
#   --rounds R           rounds per job (default 5)
#   --presets "..."      jobs to run (default: "none topk2%-q4 topk1%-q4"; none = dense)
#   --model NAME         mlp | cnn | cnn-large (default cnn)
#   --limit N            first N training images, split over the clients (default 8000)
#   --eval-limit N       server evaluates on the first N test images (default 2000)
#   --up RATE            each client's uplink, tc rate (default 1mbit)
#   --down RATE          each client's downlink (default 10mbit)
#   --delay MS           one-way delay added on each client link, each way (default 40):
#                        netem where the kernel has it, else NFQUEUE (iptables rules +
#                        fedpress-netdelay at the receiving end of each client link)
#   --loss PCT           random packet loss on each client link, both ways (default 0)
#   --drop-round K       in round K, cut every client's link ...
#   --drop-seconds S     ... for S seconds (default 30), mid-round
#   --round-timeout S    job round_timeout_s (default 900)
#   --evaluation MODE    job evaluation: pipelined (default: the next round trains while the
#                        server scores this one) | blocking (scoring is part of every round)
#   --short              CI form: 2 clients, 2 rounds, mlp, 10mbit/50mbit, 20 ms delay,
#                        presets "none topk1%-q4"
#   --out DIR            output directory (default: build/testbed)
# Output in OUT: testbed.md (the table), rounds-<preset>.json, link-delay.json
# (how the delay was applied and the ping RTT measured from host-1), logs/.
# Exit 77 when network namespaces cannot be created here (not root, no netns).
# Everything it creates (namespaces, processes, temp dirs) is removed on exit,
# on Ctrl-C and on TERM.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

BIN="$REPO/build/bin"
CLIENTS=4
ROUNDS=5
PRESETS="none topk2%-q4 topk1%-q4"
MODEL=cnn
LIMIT=8000
EVAL_LIMIT=2000
UP=1mbit
DOWN=10mbit
DELAY_MS=40
LOSS=0
DROP_ROUND=0
DROP_SECONDS=30
ROUND_TIMEOUT=900
EVALUATION=pipelined
OUT="$REPO/build/testbed"
SHORT=0
ARGV=("$@")

usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_val() { [ $# -ge 2 ] || { echo "testbed: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) need_val "$@"; BIN=$2; shift 2 ;;
    --clients) need_val "$@"; CLIENTS=$2; shift 2 ;;
    --rounds) need_val "$@"; ROUNDS=$2; shift 2 ;;
    --presets) need_val "$@"; PRESETS=$2; shift 2 ;;
    --model) need_val "$@"; MODEL=$2; shift 2 ;;
    --limit) need_val "$@"; LIMIT=$2; shift 2 ;;
    --eval-limit) need_val "$@"; EVAL_LIMIT=$2; shift 2 ;;
    --up) need_val "$@"; UP=$2; shift 2 ;;
    --down) need_val "$@"; DOWN=$2; shift 2 ;;
    --delay) need_val "$@"; DELAY_MS=$2; shift 2 ;;
    --loss) need_val "$@"; LOSS=$2; shift 2 ;;
    --drop-round) need_val "$@"; DROP_ROUND=$2; shift 2 ;;
    --drop-seconds) need_val "$@"; DROP_SECONDS=$2; shift 2 ;;
    --round-timeout) need_val "$@"; ROUND_TIMEOUT=$2; shift 2 ;;
    --evaluation) need_val "$@"; EVALUATION=$2; shift 2 ;;
    --out) need_val "$@"; OUT=$2; shift 2 ;;
    --short) SHORT=1; CLIENTS=2; ROUNDS=2; MODEL=mlp; LIMIT=2000; EVAL_LIMIT=1000
             UP=10mbit; DOWN=50mbit; DELAY_MS=20; PRESETS="none topk1%-q4"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "testbed: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in CLIENTS ROUNDS LIMIT EVAL_LIMIT DELAY_MS DROP_ROUND DROP_SECONDS ROUND_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "testbed: ${v,,} must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
case "$EVALUATION" in pipelined|blocking) ;; *) echo "testbed: --evaluation is pipelined or blocking, got '$EVALUATION'" >&2; exit 2 ;; esac
[[ $LOSS =~ ^[0-9]+([.][0-9]+)?$ ]] && python3 -c "import sys; sys.exit(0 if float('$LOSS') < 100 else 1)" ||
  { echo "testbed: --loss is a percentage below 100, got '$LOSS'" >&2; exit 2; }
for r in "$UP" "$DOWN"; do
  [[ $r =~ ^[0-9]+(bit|kbit|mbit|gbit)$ ]] || { echo "testbed: a rate looks like 1mbit or 512kbit, got '$r'" >&2; exit 2; }
done
[ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le 200 ] || { echo "testbed: --clients is 1..200" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] || { echo "testbed: --rounds must be >= 1" >&2; exit 2; }
case "$MODEL" in mlp|cnn|cnn-large) ;; *) echo "testbed: --model is mlp, cnn or cnn-large" >&2; exit 2 ;; esac
[ "$DROP_ROUND" -le "$ROUNDS" ] || { echo "testbed: --drop-round is beyond --rounds" >&2; exit 2; }

skip() { echo "testbed: SKIP: $1" >&2; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces (run as root, e.g. sudo)"
for t in ip tc curl jq python3 setsid; do
  command -v "$t" >/dev/null || { echo "testbed: '$t' is required (deploy/install-deps.sh installs it)" >&2; exit 1; }
done
for b in fedpress-server fedpress-client fedpress-model; do
  [ -x "$BIN/$b" ] || { echo "testbed: $BIN/$b is missing: run 'make build' (or pass --bin)" >&2; exit 1; }
done
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT"/rounds-*.json
mkdir -p "$LOGS"

# ---- naming: unique per run, so two testbeds (or CI and a person) never collide ----
ID=$(printf '%04x' $((RANDOM % 65536)))
NS_SW="fp$ID-sw"
NS_SRV="fp$ID-srv"
ns_client() { echo "fp$ID-c$1"; }
SERVER_IP=10.77.0.1
client_ip() { echo "10.77.0.$((10 + $1))"; }
ZMQ_PORT=7070
HTTP_PORT=8080
API="http://127.0.0.1:$HTTP_PORT"
AUTH=()
PIDS=()
NETDELAY_PIDS=()   # fedpress-netdelay, one per client namespace, for the whole run
NAMESPACES=()
RUN_TMP=""

# ---- cleanup: processes, namespaces (their veths go with them), temp dirs ----
BENCH_NAME=testbed
# shellcheck source=tests/bench/lib.sh
source "$REPO/tests/bench/lib.sh"   # bench_stop_pids: TERM the process groups in PIDS, then KILL
delete_namespaces() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    # Anything still running inside (a process we did not start directly) goes too.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  NAMESPACES=()
}
stop_netdelay() {  # TERM: each accepts what it holds and logs its counters
  bench_stop_pids
  PIDS=("${NETDELAY_PIDS[@]+"${NETDELAY_PIDS[@]}"}")
  NETDELAY_PIDS=()
  bench_stop_pids
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  bench_stop_pids
  stop_netdelay
  delete_namespaces
  [ -z "$RUN_TMP" ] || rm -rf "$RUN_TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "testbed: interrupted, cleaning up" >&2; exit 130' INT TERM

fail() {
  echo "testbed: $1 (logs: $LOGS)" >&2
  # The last lines of every log of the run that failed, so CI output explains it.
  local f
  for f in "${CUR_LOGS:-$LOGS}"/*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $f ----" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---- what this kernel can do ----
HAVE_NETEM=0
probe_ns="fp$ID-probe"
ip netns add "$probe_ns" 2>/dev/null || skip "cannot create network namespaces here ('ip netns add' failed)"
NAMESPACES+=("$probe_ns")
if in_ns "$probe_ns" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then HAVE_NETEM=1; fi
in_ns "$probe_ns" tc qdisc add dev lo root tbf rate 1mbit burst 32kbit latency 400ms 2>/dev/null ||
  in_ns "$probe_ns" tc qdisc replace dev lo root tbf rate 1mbit burst 32kbit latency 400ms 2>/dev/null ||
  skip "this kernel has no tbf qdisc: links cannot be shaped"
# Without netem, the delay goes through NFQUEUE: iptables rules on each client's
# link hand its packets to fedpress-netdelay in that namespace, which holds each
# one DELAY_MS. Probed here: the NFQUEUE target (xt compat under iptables-nft,
# else iptables-legacy) and real-time priority for the tool (chrt), which keeps
# its wake-ups on time while the clients train on every core.
NETDELAY=""
IPT=()
RT=()
why_no_nfqueue=""
if [ "$DELAY_MS" -gt 0 ] && [ "$HAVE_NETEM" = 0 ]; then
  if [ -x "$BIN/fedpress-netdelay" ]; then NETDELAY="$BIN/fedpress-netdelay"
  elif command -v fedpress-netdelay >/dev/null; then NETDELAY=$(command -v fedpress-netdelay)
  else why_no_nfqueue="fedpress-netdelay is not in $BIN (it is built when libnetfilter-queue-dev is installed)"; fi
  if [ -n "$NETDELAY" ]; then
    for ipt in iptables iptables-legacy; do
      command -v "$ipt" >/dev/null || continue
      if in_ns "$probe_ns" "$ipt" -w -t mangle -A POSTROUTING -o lo -j NFQUEUE --queue-num 0 2>/dev/null; then
        IPT=("$ipt" -w); break
      fi
    done
    [ ${#IPT[@]} -gt 0 ] || why_no_nfqueue="iptables with the NFQUEUE target is not available (apt-get install iptables)"
  fi
  if chrt -f 10 true 2>/dev/null; then RT=(chrt -f 10); fi
fi
ip netns del "$probe_ns"
NAMESPACES=()
NOTES=()
DELAY_VIA=none
if [ "$DELAY_MS" -gt 0 ]; then
  if [ "$HAVE_NETEM" = 1 ]; then DELAY_VIA=netem
  elif [ -z "$why_no_nfqueue" ]; then DELAY_VIA=nfqueue
  else
    NOTES+=("delay of ${DELAY_MS} ms NOT applied: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), and $why_no_nfqueue")
    echo "testbed: warning: ${NOTES[-1]}" >&2
    DELAY_MS=0
  fi
fi
LOSS_VIA=none
if [ "$LOSS" != 0 ]; then
  if [ "$HAVE_NETEM" = 1 ]; then LOSS_VIA=netem
  elif command -v nft >/dev/null; then LOSS_VIA=nft
  else echo "testbed: --loss needs netem or nft (apt-get install nftables)" >&2; exit 1; fi
fi

# ---- topology: a switch namespace with a bridge; one veth per host ----
# Shaping, per client i: uplink = egress of the client's eth0 (in its namespace),
# downlink = egress of the bridge port towards it (in the switch namespace).
shape() {  # shape NS DEV RATE
  local ns=$1 dev=$2 rate=$3
  # tbf queue of ~1 s at the rate keeps TCP's window honest without huge bufferbloat.
  local bytes
  bytes=$(python3 -c "
import re; m=re.match(r'(\d+)(bit|kbit|mbit|gbit)$','$rate'); n=int(m[1])*{'bit':1,'kbit':1e3,'mbit':1e6,'gbit':1e9}[m[2]]
print(max(16000,int(n/8)))")
  if [ "$DELAY_VIA" = netem ] || [ "$LOSS_VIA" = netem ]; then
    local netem=()
    [ "$DELAY_VIA" != netem ] || netem+=(delay "${DELAY_MS}ms")
    [ "$LOSS_VIA" != netem ] || netem+=(loss "${LOSS}%")
    in_ns "$ns" tc qdisc add dev "$dev" root handle 1: netem "${netem[@]}"
    in_ns "$ns" tc qdisc add dev "$dev" parent 1:1 handle 10: tbf rate "$rate" burst 32kbit limit "$bytes"
  else
    in_ns "$ns" tc qdisc add dev "$dev" root tbf rate "$rate" burst 32kbit limit "$bytes"
  fi
}
add_loss_nft() {  # add_loss_nft NS: drop LOSS% of packets in and out of eth0
  local ns=$1 pct
  pct=$(python3 -c "print(max(1, round(float('$LOSS') * 100)))")  # per 10,000
  in_ns "$ns" nft -f - <<EOF
table inet fp_loss {
  chain in  { type filter hook input  priority 0; iifname "eth0" numgen random mod 10000 < $pct counter drop; }
  chain out { type filter hook output priority 0; oifname "eth0" numgen random mod 10000 < $pct counter drop; }
}
EOF
}
link_host() {  # link_host NS PORT IP: veth NS:eth0 <-> switch:PORT on the bridge
  local ns=$1 port=$2 ip=$3
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  in_ns "$ns" ip link set lo up
  ip link add "fp$ID$port" type veth peer name "fp${ID}x$port"
  ip link set "fp$ID$port" netns "$NS_SW"
  ip link set "fp${ID}x$port" netns "$ns"
  in_ns "$NS_SW" ip link set "fp$ID$port" name "$port"
  in_ns "$NS_SW" ip link set "$port" master br0 up
  in_ns "$ns" ip link set "fp${ID}x$port" name eth0
  in_ns "$ns" ip addr add "$ip/24" dev eth0
  in_ns "$ns" ip link set eth0 up
}
build_topology() {
  ip netns add "$NS_SW"
  NAMESPACES+=("$NS_SW")
  in_ns "$NS_SW" ip link set lo up
  in_ns "$NS_SW" ip link add br0 type bridge
  in_ns "$NS_SW" ip link set br0 up
  link_host "$NS_SRV" srv "$SERVER_IP"
  local i
  for i in $(seq 1 "$CLIENTS"); do
    link_host "$(ns_client "$i")" "c$i" "$(client_ip "$i")"
    shape "$(ns_client "$i")" eth0 "$UP"
    shape "$NS_SW" "c$i" "$DOWN"
    [ "$LOSS_VIA" != nft ] || add_loss_nft "$(ns_client "$i")"
  done
}
# ---- delay without netem: NFQUEUE ----
# iptables rules hand packets to fedpress-netdelay, which holds each one
# DELAY_MS and lets them go in arrival order. Both directions are delayed where
# they arrive, at the receiving end of the client's link:
#   downlink: in client i's namespace, PREROUTING -i eth0 -> queue i;
#   uplink:   in the server's namespace, PREROUTING -i eth0 (every packet from
#             the clients: nothing else reaches the server's eth0) -> queue 0.
# Not at the client's egress (POSTROUTING -o eth0): a packet held there still
# counts against its TCP socket's small-queue budget (TSQ, a few packets), so
# the sender would stall and a 1 Mbit/s uplink with 40 ms delay carried well
# under 1 Mbit/s; netem avoids that by orphaning the packets it delays, a
# packet that crossed the veth into another namespace is orphaned too. Loopback
# is never touched. A round trip to the server gains 2 x DELAY_MS, as with netem.
# No --queue-bypass: should a tool die, its link drops packets rather than
# carry them undelayed (and run_one fails on its death).
NETDELAY_HOSTS=()
start_netdelay() {
  local i ns name log pid
  for i in $(seq 0 "$CLIENTS"); do
    if [ "$i" = 0 ]; then ns=$NS_SRV name=server; else ns=$(ns_client "$i") name=host-$i; fi
    log="$LOGS/netdelay-$name.log"
    setsid ip netns exec "$ns" "${RT[@]+"${RT[@]}"}" "$NETDELAY" --queue "$i" --delay-ms "$DELAY_MS" > "$log" 2>&1 &
    pid=$!
    NETDELAY_PIDS+=("$pid")
    NETDELAY_HOSTS+=("$name")
    for _ in $(seq 1 50); do
      grep -qx ready "$log" && break
      kill -0 "$pid" 2>/dev/null || { CUR_LOGS=$LOGS; fail "fedpress-netdelay exited at start-up in $ns (see $log)"; }
      sleep 0.1
    done
    grep -qx ready "$log" || { CUR_LOGS=$LOGS; fail "fedpress-netdelay did not bind its queue in $ns within 5 s"; }
  done
}
add_nfqueue_rules() {
  local i
  in_ns "$NS_SRV" "${IPT[@]}" -t mangle -A PREROUTING -i eth0 -j NFQUEUE --queue-num 0
  for i in $(seq 1 "$CLIENTS"); do
    in_ns "$(ns_client "$i")" "${IPT[@]}" -t mangle -A PREROUTING -i eth0 -j NFQUEUE --queue-num "$i"
  done
}
check_netdelay() {
  local k
  for k in "${!NETDELAY_PIDS[@]}"; do
    kill -0 "${NETDELAY_PIDS[$k]}" 2>/dev/null || { CUR_LOGS=$LOGS
      fail "fedpress-netdelay of ${NETDELAY_HOSTS[$k]} died: its link now drops every packet it should delay"; }
  done
}
# ping host-1 -> server, 5 echoes; prints "min avg max" in ms. -U: user-to-user
# time. ping's default RTT ends at the kernel's receive timestamp, taken before
# PREROUTING, so it would not see the downlink's NFQUEUE delay.
ping_rtt() {
  local out
  out=$(in_ns "$(ns_client 1)" ping -U -n -q -c 5 -i 0.2 -W 3 "$SERVER_IP" 2>&1) || true
  printf '%s\n' "$out" >> "$LOGS/ping.log"
  sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\1 \2 \3|p' <<<"$out"
}

set_links() {  # set_links up|down: every client's bridge port
  local i
  for i in $(seq 1 "$CLIENTS"); do in_ns "$NS_SW" ip link set "c$i" "$1"; done
}

# ---- the API, from inside the server host ----
api() {
  if [ $# -ge 3 ]; then
    in_ns "$NS_SRV" curl -sS -f --max-time 30 -X "$1" "${AUTH[@]}" -H 'Content-Type: application/json' -d "$3" "$API$2"
  else
    in_ns "$NS_SRV" curl -sS -f --max-time 30 -X "$1" "${AUTH[@]}" "$API$2"
  fi
}

# ZeroMQ security between the hosts: CURVE, as in production. Each run's
# server gets a fresh keypair and enrolls one credential per client host.
SECURITY_DESC="ZeroMQ CURVE on, clients enrolled"

run_one() {  # run_one PRESET
  local preset=$1 tag state
  tag=$(printf '%s' "$preset" | tr -c 'A-Za-z0-9._-' '_')
  RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fedpress-testbed.XXXXXX")
  state="$RUN_TMP/server"
  mkdir -p "$state" "$LOGS/$tag"
  CUR_LOGS="$LOGS/$tag"
  local server_key i cpids=() cpid
  server_key=$("$BIN/fedpress-server" show-key --db "$state/fedpress.db" --state-dir "$state" 2>>"$LOGS/$tag/enroll.log") ||
    fail "fedpress-server show-key failed"
  mkdir -p "$RUN_TMP/keys"
  for i in $(seq 1 "$CLIENTS"); do
    "$BIN/fedpress-server" enroll --db "$state/fedpress.db" --state-dir "$state" --name "host-$i" \
      --out "$RUN_TMP/keys/host-$i.key" >/dev/null 2>>"$LOGS/$tag/enroll.log" || fail "enrolling host-$i failed"
  done
  setsid ip netns exec "$NS_SRV" "$BIN/fedpress-server" --db "$state/fedpress.db" --state-dir "$state" \
    --http "127.0.0.1:$HTTP_PORT" --bind "tcp://$SERVER_IP:$ZMQ_PORT" --eval-limit "$EVAL_LIMIT" \
    --admin-token-file "$state/admin-token" --client-timeout-s 60 > "$LOGS/$tag/server.log" 2>&1 &
  PIDS+=($!)
  local spid=$! up=0
  for _ in $(seq 1 150); do
    kill -0 "$spid" 2>/dev/null || fail "server exited at start-up (see $LOGS/$tag/server.log)"
    if in_ns "$NS_SRV" curl -s -o /dev/null --max-time 2 "$API/healthz" && [ -s "$state/admin-token" ]; then up=1; break; fi
    sleep 0.2
  done
  [ "$up" = 1 ] || fail "server did not come up within 30 s"
  printf 'Authorization: Bearer %s\n' "$(tr -d '[:space:]' < "$state/admin-token")" > "$RUN_TMP/auth-header"
  chmod 600 "$RUN_TMP/auth-header"
  AUTH=(-H "@$RUN_TMP/auth-header")

  for i in $(seq 1 "$CLIENTS"); do
    setsid ip netns exec "$(ns_client "$i")" "$BIN/fedpress-client" --server "tcp://$SERVER_IP:$ZMQ_PORT" \
      --name "host-$i" --partition iid --index $((i - 1)) --of "$CLIENTS" --seed 1 --limit "$LIMIT" \
      --threads 1 --state-dir "$RUN_TMP/client-$i" \
      --server-key "$server_key" --key-file "$RUN_TMP/keys/host-$i.key" > "$LOGS/$tag/client-$i.log" 2>&1 &
    PIDS+=($!)
    cpids+=($!)
  done
  local n=0
  for _ in $(seq 1 600); do
    n=$(api GET /api/clients 2>/dev/null | jq '[(if type == "array" then . else .clients end)[] | select(.connected)] | length' 2>/dev/null || echo 0)
    [ "$n" -ge "$CLIENTS" ] && break
    kill -0 "$spid" 2>/dev/null || fail "server exited while clients connected"
    for cpid in "${cpids[@]}"; do kill -0 "$cpid" 2>/dev/null || fail "a client exited before connecting"; done
    sleep 0.2
  done
  [ "$n" -ge "$CLIENTS" ] || fail "only $n of $CLIENTS client hosts connected to $SERVER_IP within 120 s (client logs: $LOGS/$tag)"

  local comp spec resp job
  if [ "$preset" = none ]; then comp='{"method":"none"}'; else comp=$(jq -cn --arg p "$preset" '{preset:$p}'); fi
  spec=$(jq -cn --arg name "testbed $preset" --arg model "$MODEL" --argjson r "$ROUNDS" --argjson c "$CLIENTS" \
    --argjson t "$ROUND_TIMEOUT" --arg ev "$EVALUATION" --argjson comp "$comp" --argjson m "$([ "$DROP_ROUND" -gt 0 ] && echo 1 || echo "$CLIENTS")" \
    '{name:$name, model:$model, rounds:$r, clients_per_round:$c, min_clients:$m, local_epochs:1,
      batch_size:32, lr:0.05, momentum:0.9, round_timeout_s:$t, seed:1, compression:$comp, evaluation:$ev}')
  resp=$(in_ns "$NS_SRV" curl -sS --max-time 30 -X POST "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "$spec" -w '\n%{http_code}' "$API/api/jobs") || fail "POST /api/jobs failed"
  [ "$(tail -n 1 <<<"$resp")" = 201 ] || fail "job rejected: $(sed '$d' <<<"$resp")"
  job=$(sed '$d' <<<"$resp" | jq -r .id)

  local start=$SECONDS shown=0 status rounds count limit=$((ROUNDS * ROUND_TIMEOUT + 600)) cutter=""
  # The link cut: as soon as the server has sent round DROP_ROUND's model (its
  # log line), plus 0.3 s, every client link goes down for DROP_SECONDS: the
  # clients are then downloading or training and their updates cannot get
  # through. Watched in the background, so the cut lands in that round even
  # when rounds take a second.
  rm -f "$RUN_TMP/cut-$tag"
  if [ "$DROP_ROUND" -gt 0 ]; then
    (
      while [ $((SECONDS - start)) -lt "$limit" ]; do
        if grep -q "round $DROP_ROUND/$ROUNDS: sent model" "$LOGS/$tag/server.log"; then
          sleep 0.3
          echo "$preset: cutting every client link for ${DROP_SECONDS} s in round $DROP_ROUND"
          set_links down
          sleep "$DROP_SECONDS"
          set_links up
          echo "$preset: links back up"
          touch "$RUN_TMP/cut-$tag"
          exit 0
        fi
        sleep 0.05
      done
    ) &
    cutter=$!
    PIDS+=("$cutter")
  fi
  while :; do
    status=$(api GET "/api/jobs/$job" | jq -r .status) || fail "GET /api/jobs/$job failed"
    rounds=$(api GET "/api/jobs/$job/rounds") || fail "GET /api/jobs/$job/rounds failed"
    count=$(jq length <<<"$rounds")
    while [ "$shown" -lt "$count" ]; do
      jq -r --argjson i "$shown" --argjson n "$ROUNDS" --arg preset "$preset" '.[$i] |
        "\($preset) round \(.round)/\($n): accuracy \(if .accuracy then (.accuracy*10000|round/100|tostring)+"%" else "n/a" end), up \(.bytes_up_wire) B, down \(.bytes_down_wire) B, \(.duration_ms/100|round/10) s"' <<<"$rounds"
      shown=$((shown + 1))
    done
    case "$status" in
      completed) break ;;
      failed|cancelled) fail "job $job $status: $(api GET "/api/jobs/$job" | jq -r .error)" ;;
    esac
    kill -0 "$spid" 2>/dev/null || fail "the server stopped unexpectedly"
    check_netdelay
    [ $((SECONDS - start)) -lt "$limit" ] || fail "job $job not completed after $limit s ($count of $ROUNDS rounds)"
    sleep 1
  done
  if [ -n "$cutter" ]; then
    wait "$cutter" 2>/dev/null || true
    [ -e "$RUN_TMP/cut-$tag" ] || fail "$preset: the links were never cut (no 'round $DROP_ROUND/$ROUNDS: sent model' in $LOGS/$tag/server.log)"
  fi
  echo "$rounds" > "$OUT/rounds-$tag.json"
  # The final model on the whole test split (10,000 images): the per-round
  # evaluations use --eval-limit images, too few to compare within a point.
  "$BIN/fedpress-model" evaluate --checkpoint "$state/job-$job/round-$ROUNDS.ckpt" --threads 2 \
    > "$OUT/final-eval-$tag.json" || fail "cannot evaluate the final model of $preset"
  echo "$preset: final model on the whole test split: $(cat "$OUT/final-eval-$tag.json")"
  if [ "$LOSS_VIA" = nft ]; then  # evidence that the loss was applied: packets dropped so far
    for i in $(seq 1 "$CLIENTS"); do
      echo "host-$i: $(in_ns "$(ns_client "$i")" nft list table inet fp_loss | grep -o 'packets [0-9]*' | tr '\n' ' ')"
    done > "$LOGS/$tag/loss-counters.txt"
    echo "$preset: packets dropped by the loss rules (in, out), cumulative: $(tr '\n' ';' < "$LOGS/$tag/loss-counters.txt")"
  fi
  api GET "/api/jobs/$job" > "$OUT/job-$tag.json"
  bench_stop_pids
  rm -rf "$RUN_TMP"
  RUN_TMP=""
}

echo "testbed: $CLIENTS client hosts, uplink $UP, downlink $DOWN, delay ${DELAY_MS} ms$(
  [ "$DELAY_VIA" = none ] || echo " ($DELAY_VIA)"), loss ${LOSS}%$(
  [ "$DROP_ROUND" = 0 ] || echo ", links cut for ${DROP_SECONDS} s in round $DROP_ROUND"); model $MODEL, $ROUNDS rounds; presets: $PRESETS"
build_topology
# The delay, and the evidence that it is there: ping host-1 -> server (for
# NFQUEUE also before the rules go in).
HAVE_PING=0
command -v ping >/dev/null && HAVE_PING=1
RTT_BEFORE="" RTT=""
if [ "$DELAY_VIA" = nfqueue ]; then
  start_netdelay
  [ "$HAVE_PING" = 0 ] || RTT_BEFORE=$(ping_rtt)
  add_nfqueue_rules
fi
if [ "$HAVE_PING" = 1 ]; then
  RTT=$(ping_rtt)
  [ -n "$RTT" ] || { CUR_LOGS=$LOGS; fail "ping from host-1 to the server ($SERVER_IP) got no reply (see $LOGS/ping.log)"; }
  read -r RTT_MIN RTT_AVG RTT_MAX <<<"$RTT"
  echo "testbed: ping host-1 -> server: rtt min/avg/max $RTT_MIN/$RTT_AVG/$RTT_MAX ms$(
    [ -z "$RTT_BEFORE" ] || echo " (before the NFQUEUE rules: $(cut -d' ' -f2 <<<"$RTT_BEFORE") ms avg)")"
else
  echo "testbed: warning: no ping (apt-get install iputils-ping): the links' round trip is not measured" >&2
fi
case "$DELAY_VIA" in
  netem) DELAY_DESC="delay ${DELAY_MS} ms each way (netem)" ;;
  nfqueue) DELAY_DESC="delay ${DELAY_MS} ms each way (NFQUEUE via fedpress-netdelay, where each client link's packets arrive: the kernel has no netem)" ;;
  *) DELAY_DESC="no added delay" ;;
esac
if [ -n "$RTT" ]; then
  PING_DESC=$(printf 'Ping host-1 → server after setting up the links (5 echoes, user-to-user): RTT min/avg/max %.1f/%.1f/%.1f ms' \
    "$RTT_MIN" "$RTT_AVG" "$RTT_MAX")
  [ -z "$RTT_BEFORE" ] || PING_DESC+=$(printf ' (%.1f ms avg before the NFQUEUE rules)' "$(cut -d' ' -f2 <<<"$RTT_BEFORE")")
else
  PING_DESC="Round trip not measured (no ping)"
fi
jq -n --argjson d "$DELAY_MS" --arg via "$DELAY_VIA" --arg rtt "$RTT" --arg before "$RTT_BEFORE" '
  def ms: split(" ") | {min_ms: (.[0]|tonumber), avg_ms: (.[1]|tonumber), max_ms: (.[2]|tonumber)};
  {delay_ms: $d, via: $via, ping_rtt: (if $rtt == "" then null else ($rtt|ms) end),
   ping_rtt_without_delay: (if $before == "" then null else ($before|ms) end)}' > "$OUT/link-delay.json"
for preset in $PRESETS; do
  run_one "$preset"
done
if [ "$DELAY_VIA" = nfqueue ]; then  # their counters: every packet delayed, none dropped
  check_netdelay
  hosts=("${NETDELAY_HOSTS[@]}")
  stop_netdelay
  for h in "${hosts[@]}"; do
    echo "$h: $(grep -h 'packets delayed' "$LOGS/netdelay-$h.log" | sed 's/^fedpress-netdelay: //')"
  done
fi

# ---- the table ----
CMD="deploy/testbed/testbed.sh"
[ ${#ARGV[@]} -eq 0 ] || CMD+=" $(printf '%q ' "${ARGV[@]}" | sed 's/ $//')"
EVALUATION="$EVALUATION" python3 - "$OUT" "$PRESETS" "$CMD" "$CLIENTS" "$UP" "$DOWN" "$DELAY_DESC" "$LOSS" "$MODEL" "$ROUNDS" \
  "$LIMIT" "$EVAL_LIMIT" "$DROP_ROUND" "$DROP_SECONDS" "$SECURITY_DESC" "$(printf '%s\n' "${NOTES[@]+"${NOTES[@]}"}")" \
  "$PING_DESC" <<'EOF'
import json, os, statistics, sys
(out, presets, cmd, clients, up, down, delay, loss, model, rounds, limit, eval_limit,
 drop_round, drop_s, security, notes, ping) = sys.argv[1:]
rows, dense = [], None
for p in presets.split():
    tag = "".join(c if c.isalnum() or c in "._-" else "_" for c in p)
    rs = json.load(open(f"{out}/rounds-{tag}.json"))
    d = [r["duration_ms"] / 1000 for r in rs]
    row = dict(preset=p, rounds=len(rs), mean=statistics.mean(d), median=statistics.median(d),
               first=d[0], later=statistics.mean(d[1:]) if len(d) > 1 else d[0],
               up=sum(r["bytes_up_wire"] for r in rs), down=sum(r["bytes_down_wire"] for r in rs),
               acc=rs[-1].get("accuracy"), total=sum(d),
               wall=(rs[-1]["finished_ms"] - rs[0]["started_ms"]) / 1000 / len(rs),
               full=json.load(open(f"{out}/final-eval-{tag}.json"))["accuracy"])
    rows.append(row)
    if p == "none":
        dense = row
def mb(b): return f"{b/1e6:.2f} MB"
def acc(a): return "n/a" if a is None else f"{a*100:.2f}%"
lines = ["# Testbed: compression on shaped links", "",
         f"Made by `{cmd}` (as root). {clients} client hosts, each its own network namespace joined to the "
         f"server's through a bridge; each client link shaped with tc: uplink {up}, downlink {down}, "
         f"{delay}, loss {loss}%"
         + (f"; every client link cut for {drop_s} s in round {drop_round}" if drop_round != "0" else "")
         + f". Fashion-MNIST, `{model}`, {rounds} rounds, all clients every round, first {limit} training "
         f"images split IID, {os.environ['EVALUATION']} evaluation on {eval_limit} test images per round and the final model on all 10,000. {security}. {ping}.", ""]
for n in filter(None, notes.split("\n")):
    lines += [f"Note: {n}.", ""]
lines += ["| preset | rounds | mean round | median round | round 1 | rounds 2+ (mean) | total time | "
          "wall per round | up (wire) | down (wire) | final accuracy (eval-limit) | final accuracy (10,000 test images) | "
          "round time vs dense | wall time vs dense | Δ accuracy vs dense (10,000 images) |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    sp = f"{dense['mean']/r['mean']:.1f}× faster" if dense else "n/a"
    wsp = f"{dense['wall']/r['wall']:.1f}× faster" if dense else "n/a"
    da = f"{(r['full']-dense['full'])*100:+.2f}" if dense else "n/a"
    lines.append(f"| `{r['preset']}` | {r['rounds']} | {r['mean']:.1f} s | {r['median']:.1f} s | "
                 f"{r['first']:.1f} s | {r['later']:.1f} s | {r['total']:.0f} s | {r['wall']:.2f} s | {mb(r['up'])} | "
                 f"{mb(r['down'])} | {acc(r['acc'])} | {acc(r['full'])} | {sp} | {wsp} | {da} |")
open(f"{out}/testbed.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "testbed: wrote $OUT/testbed.md"
