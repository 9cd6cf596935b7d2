#!/usr/bin/env bash
# The testbed's link cut in CI form (issue 6): 2 client namespaces, a dense
# 2-round mlp job on 1 Mbit/s uplinks (a 0.8 MB update takes ~6.5 s to
# upload, so the cut surely falls inside the round), and in round 2 every
# client link goes down for 16 s, longer than the clients' 13 s silence
# limit, so each client gives up its connection and registers again on a new
# one once the links are back. Checks that round 2 still finished in its
# first attempt with both clients (the server kept their places and sent
# their task again: nothing in flight was lost), that the cut really fell
# inside round 2, and that nothing is left behind.
# Exit 77 (skip) where namespaces cannot be created: the script says why.
set -uo pipefail
BIN=${1:?usage: testbed_cut_test.sh BIN_DIR}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/fedpress-testbed-cut.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
fail() { echo "FAIL: $1" >&2; exit 1; }
CUT_S=16

before=$(ip netns list 2>/dev/null | grep -c '^fp[0-9a-f]\{4\}-' || true)
bash "$REPO/deploy/testbed/testbed.sh" --bin "$BIN" --out "$OUT" --clients 2 --rounds 2 --model mlp \
  --limit 2000 --eval-limit 500 --up 1mbit --down 50mbit --delay 0 \
  --drop-round 2 --drop-seconds "$CUT_S" --presets none
rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || fail "testbed.sh exited with $rc"

after=$(ip netns list 2>/dev/null | grep -c '^fp[0-9a-f]\{4\}-' || true)
[ "$after" -le "$before" ] || fail "network namespaces left behind: $(ip netns list | grep '^fp')"
grep -q "every client link cut for $CUT_S s in round 2" "$OUT/testbed.md" || fail "testbed.md does not report the cut"
log="$OUT/logs/none/server.log"
[ -s "$log" ] || fail "no server log at $log"
for h in host-1 host-2; do
  grep -q "round 2: client $h reconnected and keeps its place" "$log" ||
    fail "$h did not come back into round 2 on a new connection: $(grep -E "$h|round 2" "$log" | tail -n 20)"
done

python3 - "$OUT/rounds-none.json" "$CUT_S" <<'PY' || exit 1
import json, sys
rounds = json.load(open(sys.argv[1]))
cut_ms = int(sys.argv[2]) * 1000
assert len(rounds) == 2, f"{len(rounds)} rounds committed, expected 2"
for r in rounds:
    assert r["participants"] == 2 and r["timeouts"] == 0, f"round {r['round']}: {r}"
r2 = rounds[1]
# The cut fell inside round 2 (it lasted cut_ms), and the round was not retried.
assert r2["duration_ms"] >= cut_ms, f"round 2 took {r2['duration_ms']} ms: the cut was not inside it: {r2}"
assert r2["attempts"] == 1, f"round 2 was retried ({r2['attempts']} attempts): the clients lost their places: {r2}"
print(f"ok: round 2 took {r2['duration_ms']} ms across a {cut_ms} ms cut, 1 attempt, 2 participants")
PY
echo "PASS"
