#!/bin/bash
# The benchmark harness itself (issue 3): `bench/run.sh --quick` against the real daemon and
# DPDK's vhost PMD. Passes when it produces every figure the targets need, and when every
# slice of every duel forwarded frames: a side that did not come back from SIGSTOP, or a loop
# lost across a freeze, shows as a slice with no frames. Speed and the targets' verdicts are
# not asserted here (a benchmark's business, not a test's); only that they were measured.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

# shellcheck source=tests/lib/skip.sh
. "$HERE/../lib/skip.sh"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed (scripts/setup-host.sh)"
[ -x "${VHOST_LB_BIN:-}" ] || skip "VHOST_LB_BIN not set or not executable"
[ -x "${VHOST_LB_IDLE_PORTS:-}" ] || skip "VHOST_LB_IDLE_PORTS not set or not executable"
[ "$(id -u)" = 0 ] || skip "needs root for DPDK's memory setup and CPU cgroups"

OUT=$(mktemp -d /tmp/vlb-bench-quick.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

"$SRC/bench/run.sh" --quick --out "$OUT" >"$OUT/stdout" 2>"$OUT/stderr" || {
	tail -20 "$OUT/stderr"
	echo "FAIL: bench/run.sh --quick exited $?"
	exit 1
}
cat "$OUT/stdout"

python3 - "$OUT" <<'EOF'
import csv, json, os, sys

out = sys.argv[1]
fail = []
runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
if sorted(r["backend"] for r in runs) != ["ours", "ref"]:
    fail.append("runs.csv: want one run of ours and one of ref, got %s" % [r["backend"] for r in runs])
need = {"ours": ["mpps64", "gbps1518", "ns_pkt64", "ns_pkt1518", "idle_cores", "ns_pkt25",
                 "ns_pkt64beside25", "ns_pkt64near", "ns_pkt64many"],
        "ref": ["mpps64", "gbps1518", "ns_pkt64", "idle_cores", "ns_pkt25"]}
for r in runs:
    for k in need.get(r["backend"], []):
        try:
            float(r[k])
        except ValueError:
            fail.append("runs.csv: %s has no %s (%r)" % (r["backend"], k, r[k]))
    if r["backend"] == "ours" and float(r["mpps64"] or 0) <= 0:
        fail.append("ours forwarded nothing at 64 B")

slices = list(csv.DictReader(open(os.path.join(out, "slices.csv"))))
want = {("backends", "64"): 6, ("backends", "1518"): 6, ("load", "64"): 12}
got = {}
for s in slices:
    got[(s["duel"], s["size"])] = got.get((s["duel"], s["size"]), 0) + 1
    if float(s["mpps"]) <= 0:
        fail.append("slice with no frames: %s" % s)
if got != want:
    fail.append("slices.csv: want %s slices, got %s" % (want, got))

targets = json.load(open(os.path.join(out, "summary.json"))).get("targets", {})
main = [t for t in targets if not t.startswith(" ")]
if len(main) != 5:
    fail.append("summary.json: want 5 targets, got %s" % main)
for name in main:
    if targets[name]["value"] is None:
        fail.append("target not measured: %s" % name)

for f in fail:
    print("FAIL:", f)
print("runs %d, slices %d, targets measured %d of 5" % (len(runs), len(slices),
      sum(targets[t]["value"] is not None for t in main)))
sys.exit(1 if fail else 0)
EOF
echo "PASS: bench/run.sh --quick measured every figure, every slice forwarded frames"
