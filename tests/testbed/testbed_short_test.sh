#!/usr/bin/env bash
# The testbed's CI form (issue 6): deploy/testbed/testbed.sh --short builds
# 2 client namespaces + a server namespace on shaped veth links, runs a dense
# and a compressed 2-round job, and writes its table. Checks the table, that the
# compressed job sent far fewer bytes, that the links' 20 ms one-way delay was
# really applied (netem, or NFQUEUE + fedpress-netdelay where the kernel has no
# netem: the ping RTT host-1 -> server is at least twice the delay), and that
# nothing is left behind.
# Exit 77 (skip) where namespaces cannot be created: the script says why.
set -uo pipefail
BIN=${1:?usage: testbed_short_test.sh BIN_DIR}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/fedpress-testbed-test.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }

before=$(ip netns list 2>/dev/null | grep -c '^fp[0-9a-f]\{4\}-' || true)
delayers_before=$(pgrep -xc fedpress-netdel || true)   # comm: first 15 characters
bash "$REPO/deploy/testbed/testbed.sh" --short --bin "$BIN" --out "$OUT"
rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || fail "testbed.sh exited with $rc"

after=$(ip netns list 2>/dev/null | grep -c '^fp[0-9a-f]\{4\}-' || true)
[ "$after" -le "$before" ] || fail "network namespaces left behind: $(ip netns list | grep '^fp')"
delayers_after=$(pgrep -xc fedpress-netdel || true)
[ "$delayers_after" -le "$delayers_before" ] || fail "fedpress-netdelay processes left behind: $(pgrep -ax fedpress-netdel)"
[ -s "$OUT/testbed.md" ] || fail "no testbed.md"
grep -q 'ZeroMQ CURVE on, clients enrolled' "$OUT/testbed.md" || fail "testbed.md does not say the hosts used CURVE"
grep -q '^| `none` | 2 |' "$OUT/testbed.md" || fail "the dense row (2 rounds) is missing from testbed.md"
grep -q '^| `topk1%-q4` | 2 |' "$OUT/testbed.md" || fail "the topk1%-q4 row (2 rounds) is missing from testbed.md"
grep -Eq 'delay 20 ms each way \((netem|NFQUEUE via fedpress-netdelay)' "$OUT/testbed.md" ||
  fail "testbed.md does not say the 20 ms delay was applied (netem or NFQUEUE): $(grep -m1 -o 'Note: .*' "$OUT/testbed.md")"
grep -q 'Ping host-1 → server' "$OUT/testbed.md" || fail "testbed.md does not give the measured ping RTT"
# Each job's final model was scored on the whole test split (the Δ accuracy column).
for tag in none topk1_-q4; do
  jq -e '.samples == 10000 and .round == 2 and .accuracy > 0.1' "$OUT/final-eval-$tag.json" > /dev/null ||
    fail "final-eval-$tag.json: not a 10,000-image evaluation of round 2: $(cat "$OUT/final-eval-$tag.json" 2>&1)"
done

# The delay is there: a round trip crosses the client's link twice, so the
# minimum RTT is at least 2 x 20 ms; below 3 x, or it was applied twice.
python3 - "$OUT/link-delay.json" <<'PY' || exit 1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["delay_ms"] == 20 and d["via"] in ("netem", "nfqueue"), f"delay not applied: {d}"
rtt = d["ping_rtt"]
assert rtt is not None, f"the ping RTT was not measured (is iputils-ping installed?): {d}"
assert 2 * d["delay_ms"] <= rtt["min_ms"] < 3 * d["delay_ms"], \
    f"ping RTT min {rtt['min_ms']} ms is not within [2, 3) x the {d['delay_ms']} ms one-way delay: {d}"
print(f"ok: delay {d['delay_ms']} ms via {d['via']}, ping RTT min/avg/max "
      f"{rtt['min_ms']}/{rtt['avg_ms']}/{rtt['max_ms']} ms")
PY

# Every round committed with every client, and the compressed job's bytes are
# a small fraction of the dense job's, both ways.
python3 - "$OUT" <<'PY' || exit 1
import json, sys
out = sys.argv[1]
dense = json.load(open(f"{out}/rounds-none.json"))
comp = json.load(open(f"{out}/rounds-topk1_-q4.json"))
for name, rs in (("dense", dense), ("topk1%-q4", comp)):
    assert len(rs) == 2, f"{name}: {len(rs)} rounds committed, expected 2"
    for r in rs:
        assert r["participants"] == 2, f"{name} round {r['round']}: {r['participants']} participants, expected 2"
        assert r["duration_ms"] > 0 and r["accuracy"] is not None, f"{name} round {r['round']}: {r}"
up_d = sum(r["bytes_up_wire"] for r in dense); up_c = sum(r["bytes_up_wire"] for r in comp)
dn_d = sum(r["bytes_down_wire"] for r in dense); dn_c = sum(r["bytes_down_wire"] for r in comp)
assert up_c * 20 < up_d, f"compressed upload {up_c} B is not < 1/20 of dense {up_d} B"
assert dn_c * 8 < dn_d, f"compressed download {dn_c} B is not < 1/8 of dense {dn_d} B"
print(f"ok: up {up_d} -> {up_c} B, down {dn_d} -> {dn_c} B")
PY
echo "PASS"
