#!/bin/bash
# Hand-over upgrade under traffic (issue 8): dpdk-testpmd's two virtio-user ports run a closed
# loop of frames through the daemon; a second daemon process takes over with --takeover while
# frames circulate. Passes when the old process exits 0, the new one carries on without any
# frontend reconnecting (testpmd's links never drop, connects stay 1), traffic keeps flowing
# after the hand-over, and the switch loses nothing: every frame taken from a guest was
# delivered (rx_packets = tx_packets over both ports, no drops). Prints the counts.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib-testpmd.sh
. "$HERE/lib-testpmd.sh"

# shellcheck source=tests/lib/skip.sh
. "$HERE/../lib/skip.sh"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed (scripts/setup-host.sh)"
[ -x "${VHOST_LB_BIN:-}" ] || skip "VHOST_LB_BIN not set or not executable"
[ -x "${VHOST_LB_CTL:-}" ] || skip "VHOST_LB_CTL not set or not executable"
[ "$(id -u)" = 0 ] || skip "needs root for DPDK's memory setup"

W=$(mktemp -d /tmp/vlb-handover.XXXXXX)
PFX="vlbh$$"
OLD="" NEW=""
cleanup() {
	local rc=$?
	set +e
	tp_stop fe
	for p in $NEW $OLD; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		echo "--- old daemon log"; tail -n 20 "$W/old.log" 2>/dev/null
		echo "--- new daemon log"; tail -n 20 "$W/new.log" 2>/dev/null
		echo "--- testpmd log"; tail -n 30 "$W/fe.log" 2>/dev/null
	fi
	rm -rf "$W" /var/run/dpdk/"$PFX"* 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
die() {
	echo "FAIL: $*"
	exit 1
}
ctl() {
	timeout 10 "$VHOST_LB_CTL" -s "$W/ctl.sock" "$@"
}
# "rx tx drops connects_total" summed over the ports, from the daemon's JSON.
totals() {
	ctl --json stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(p["rx_packets"] for p in d["ports"]), sum(p["tx_packets"] for p in d["ports"]),
      sum(sum(p["drops"].values()) for p in d["ports"]), sum(p["connects"] for p in d["ports"]))'
}
wait_ready() { # LOG PID
	for ((i = 0; i < 100; i++)); do
		grep -qw ready "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

"$VHOST_LB_BIN" --socket-dir "$W" --ctl-socket "$W/ctl.sock" --port a --port b --libvirt-uri none \
	2>"$W/old.log" &
OLD=$!
wait_ready "$W/old.log" "$OLD" || die "daemon not ready"

mapfile -t CPUS < <(tp_cpus)
# shellcheck disable=SC2046
tp_start fe "$W" dpdk-testpmd --lcores "0@${CPUS[1]:-${CPUS[0]}},1@${CPUS[0]}" --main-lcore 0 \
	--file-prefix="$PFX" --no-pci $(tp_mem_opts 256) \
	--vdev "net_virtio_user0,path=$W/a.sock,mac=02:00:00:00:02:10" \
	--vdev "net_virtio_user1,path=$W/b.sock,mac=02:00:00:00:02:11" \
	-- -i --nb-cores=1 --forward-mode=io --total-num-mbufs=8192 --burst=32 \
	--eth-peer=0,02:00:00:00:02:11 --eth-peer=1,02:00:00:00:02:10
tp_links_up fe 2 30 || die "virtio-user links not up"
tp_cmd fe "start tx_first 4" 'io packet forwarding|already started' 1 30 >/dev/null || die "start"
sleep 1
read -r rx0 tx0 _ _ < <(totals)
[ "$rx0" -gt 1000 ] || die "no traffic before the hand-over ($rx0 frames)"

"$VHOST_LB_BIN" --socket-dir "$W" --ctl-socket "$W/ctl.sock" --takeover --libvirt-uri none \
	2>"$W/new.log" &
NEW=$!
for ((i = 0; i < 100; i++)); do
	kill -0 "$OLD" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$OLD" 2>/dev/null && die "the old daemon did not exit after the hand-over"
set +e
wait "$OLD"
old_rc=$?
set -e
OLD=""
[ "$old_rc" = 0 ] || die "the old daemon exited $old_rc"
grep -q "hand-over done" "$W/old.log" || die "the old daemon did not report a hand-over"
wait_ready "$W/new.log" "$NEW" || die "the new daemon is not ready"

read -r rx1 _ _ _ < <(totals)
sleep 2
read -r rx2 _ _ _ < <(totals)
tp_cmd fe "stop" 'Done\.|not started' 1 30 >/dev/null || die "stop"
sleep 0.5
read -r rx3 tx3 drops3 connects3 < <(totals)
echo "before: $rx0 frames; at hand-over: $rx1; 2 s later: $rx2; end: rx $rx3 tx $tx3 drops $drops3"
echo "frames lost by the switch across the hand-over: $((rx3 - tx3 - drops3)) (dropped: $drops3)"
[ "$rx2" -gt "$((rx1 + 1000))" ] || die "traffic did not continue after the hand-over ($rx1 -> $rx2)"
[ "$rx3" = "$tx3" ] && [ "$drops3" = 0 ] || die "the switch lost or dropped frames ($rx3 in, $tx3 out, $drops3 dropped)"
[ "$connects3" = 2 ] || die "a frontend reconnected ($connects3 connections for 2 ports)"
if grep -qiE 'link.*down|Port [0-9]+: link state change.*down' "$W/fe.log"; then
	die "testpmd saw a link go down"
fi
echo "PASS: hand-over under traffic, no frontend noticed, nothing lost"
