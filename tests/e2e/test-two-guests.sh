#!/bin/bash
# Two QEMU TCG guests on two ports of the real daemon (the daemon listens, QEMU connects):
# each pings the other without loss, each sends the other a TCP stream whose sha256 must
# arrive intact, iperf3 runs both directions, and the daemon's port counters must account for
# at least every frame the guests say they sent and received. Offloads: the guests must see
# tx-checksumming and TSO on (the switch offers CSUM/TSO), and the daemon must have carried
# GSO frames (rx_gso) and passed them on whole (tx_gso). E2E_OFFLOADS=no runs the same with
# `--offloads no` (guests must see them off, no GSO frames), for a before/after iperf3 figure.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PINGS=20
STREAM_KB=4096

e2e_begin two-guests
OFFLOADS=${E2E_OFFLOADS:-yes}
offload_arg=(--offloads "$OFFLOADS")
standin && offload_arg=()
start_daemon --socket-dir "$RUN" --ctl-socket "$CTL" --port a --port b "${offload_arg[@]}"

common=(--script "$E2E_DIR/guest-peer.sh" --param "pings=$PINGS" --param "stream_kb=$STREAM_KB"
	--param iperf=2)
boot_guest a --socket "$RUN/a.sock" --mac 52:54:00:00:00:0a --ip 10.0.0.1/24 \
	--param peer=10.0.0.2 --param role=a "${common[@]}"
boot_guest b --socket "$RUN/b.sock" --mac 52:54:00:00:00:0b --ip 10.0.0.2/24 \
	--param peer=10.0.0.1 --param role=b "${common[@]}"
wait_guests 240 a b

for g in a b; do
	check "guest $g: $(guest_mark $g ping)" \
		all_equal $PINGS "$(guest_field $g ping transmitted)" "$(guest_field $g ping received)"
done
check_stream a b 5001 $((STREAM_KB * 1024))
check_stream b a 5001 $((STREAM_KB * 1024))
for dir in forward reverse; do
	mbps=$(guest_lines a | sed -n "s/^iperf dir=$dir mbps=//p" | tail -n 1)
	check "iperf3 $dir (a $([ $dir = forward ] && echo '->' || echo '<-') b): ${mbps:-none} Mbit/s" \
		awk -v v="${mbps:-0}" 'BEGIN { exit !(v > 0) }'
done
check_port_counters a b
want=$([ "$OFFLOADS" = yes ] && echo on || echo off)
if ! standin; then
	for g in a b; do
		check "guest $g: $(guest_mark $g offloads) (want $want)" all_equal "$want" \
			"$(guest_field $g offloads tx-checksumming)" \
			"$(guest_field $g offloads tcp-segmentation-offload)"
	done
	for g in a b; do
		rx_gso=$(port_stat $g rx_gso)
		tx_gso=$(port_stat $g tx_gso)
		if [ "$OFFLOADS" = yes ]; then
			check "port $g: rx_gso=${rx_gso:-?} tx_gso=${tx_gso:-?} tx_gso_sw=$(port_stat $g tx_gso_sw) (GSO frames carried whole)" \
				at_least_pairs "${rx_gso:-0}" 1 "${tx_gso:-0}" 1
		else
			check "port $g: rx_gso=${rx_gso:-?} (offloads off: none)" all_equal 0 "${rx_gso:-0}"
		fi
	done
fi

e2e_pass
