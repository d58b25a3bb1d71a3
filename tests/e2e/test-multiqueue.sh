#!/bin/bash
# Two 2-vCPU guests with two queue pairs each (mq, one MSI-X vector per virtqueue). Each guest
# enables both pairs (ethtool -L eth0 combined 2) and sends eight TCP streams, pinned to its
# vCPUs in turn, so its transmissions leave through both TX queues. Passes when every stream arrives
# intact, the daemon's per-queue counters show traffic on both queue pairs in both directions,
# and each guest took interrupts on both of its RX queues (virtio0-input.0 and .1).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

QUEUES=2
# Frames to a guest are spread over its RX queues by flow hash: with 8 streams each way the
# chance that every flow hashes to one queue is 2/2^9, with 2 it would be one in four.
STREAMS=8
STREAM_KB=512

e2e_begin multiqueue
start_daemon --socket-dir "$RUN" --ctl-socket "$CTL" --port "a,queues=$QUEUES" --port "b,queues=$QUEUES"

common=(--queues "$QUEUES" --smp "$QUEUES" --script "$E2E_DIR/guest-peer.sh" --param "queues=$QUEUES"
	--param "streams=$STREAMS" --param "stream_kb=$STREAM_KB" --param pings=10)
boot_guest a --socket "$RUN/a.sock" --mac 52:54:00:00:01:0a --ip 10.0.1.1/24 \
	--param peer=10.0.1.2 --param role=a "${common[@]}"
boot_guest b --socket "$RUN/b.sock" --mac 52:54:00:00:01:0b --ip 10.0.1.2/24 \
	--param peer=10.0.1.1 --param role=b "${common[@]}"
wait_guests 300 a b

for g in a b; do
	check "guest $g: $(guest_mark $g channels)" \
		all_equal $QUEUES "$(guest_field $g channels combined)" "$(guest_field $g channels txqueues)"
	check "guest $g: $(guest_mark $g ping)" \
		all_equal 10 "$(guest_field $g ping transmitted)" "$(guest_field $g ping received)"
done
for ((i = 1; i <= STREAMS; i++)); do
	check_stream a b $((5000 + i)) $((STREAM_KB * 1024))
	check_stream b a $((5000 + i)) $((STREAM_KB * 1024))
done
# A separate, non-zero interrupt line per RX queue: the guest got MSI-X vectors per queue and
# the daemon signalled each queue's own call eventfd.
for g in a b; do
	for ((q = 0; q < QUEUES; q++)); do
		n=$(guest_field $g irq "virtio0-input.$q")
		check "guest $g: /proc/interrupts virtio0-input.$q = ${n:-missing}" at_least "${n:-x}" 1
	done
done
check_queue_counters $QUEUES a b
check_port_counters a b

e2e_pass
