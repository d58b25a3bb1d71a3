#!/bin/sh
# Test script run inside each e2e guest (busybox sh) as /test/run.sh. Both guests run it: it is
# symmetric, each one sends to and receives from its peer, and the host compares what the two
# print. Parameters come from the kernel command line (vlb.KEY=VALUE -> $VLB_KEY):
#   VLB_PEER      the other guest's address (required)
#   VLB_ROLE      a | b: a runs the iperf3 client (both directions with -R), b the server
#   VLB_PINGS     pings once the peer answers (default 10); every one must come back
#   VLB_STREAM_KB size of each TCP stream sent to the peer with nc (default 0 = none); the
#                 receiver prints the sha256 of what arrived, the sender of what it sent
#   VLB_STREAMS   parallel streams (default 1); stream i is pinned to vCPU i mod ncpu, so with
#                 more vCPUs the sends leave through different TX queues (XPS maps vCPU i to
#                 queue i)
#   VLB_QUEUES    queue pairs to enable with ethtool -L before anything else (default: leave)
#   VLB_IPERF     seconds of iperf3 per direction (default 0 = none)
#   VLB_WAIT      seconds any single wait may take (default 90)
# Markers (besides the ones from /init): "VLB: KEY k=v ..." lines; see the e2e tests for which.
# Exit status: non-zero when something failed that this guest can see by itself.

PEER=${VLB_PEER:?}
ROLE=${VLB_ROLE:-a}
PINGS=${VLB_PINGS:-10}
STREAM_KB=${VLB_STREAM_KB:-0}
STREAMS=${VLB_STREAMS:-1}
QUEUES=${VLB_QUEUES:-}
IPERF=${VLB_IPERF:-0}
WAIT=${VLB_WAIT:-90}
NCPU=$(grep -c ^processor /proc/cpuinfo)
rc=0

mark() { echo "VLB: $* t=$(cut -d' ' -f1 /proc/uptime)"; }
bad() {
	mark "error $*"
	rc=1
}

# nc without a terminal ends when its stdin does: give listeners a fifo that never ends.
mkfifo /tmp/never
exec 3<>/tmp/never
listen() { # PORT OUTFILE
	timeout "$WAIT" nc -l -p "$1" <&3 >"$2"
}

if [ -n "$QUEUES" ]; then
	ethtool -L eth0 combined "$QUEUES" || bad "ethtool -L eth0 combined $QUEUES failed"
fi
# What virtio-net made of the features the switch offered: "on" once CSUM/HOST_TSO4 were taken.
offload() { ethtool -k eth0 | awk -v k="$1:" '$1 == k { print $2 }'; }
mark "offloads tx-checksumming=$(offload tx-checksumming)" \
	"tcp-segmentation-offload=$(offload tcp-segmentation-offload)"
mark "channels combined=$(ethtool -l eth0 | awk '/^Combined:/ { v = $2 } END { print v }')" \
	"txqueues=$(find /sys/class/net/eth0/queues -name "tx-*" | wc -l) ncpu=$NCPU"

# Listeners first, so the peer finds them by the time it can reach us.
i=1
while [ "$i" -le "$STREAMS" ] && [ "$STREAM_KB" -gt 0 ]; do
	listen $((5000 + i)) "/tmp/rx.$i" &
	eval "rxpid_$i=\$!"
	i=$((i + 1))
done
listen 5000 /tmp/barrier &
barrier_pid=$!
if [ "$ROLE" = b ] && [ "$IPERF" -gt 0 ]; then
	iperf3 -s -D --logfile /tmp/iperf3-server.log
fi

i=0
until ping -c 1 -W 1 "$PEER" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -ge "$WAIT" ]; then
		mark "peer unreachable tries=$i"
		exit 1
	fi
done
mark "peer reachable failed_tries=$i"

out=$(ping -c "$PINGS" -i 0.2 -W 2 "$PEER")
echo "$out" | tail -n 2
tx=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
rx=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
mark "ping peer=$PEER count=$PINGS transmitted=${tx:-0} received=${rx:-0}"
[ "${rx:-0}" = "$PINGS" ] || bad "ping lost packets"

# Parallel TCP streams, each from its own vCPU, with a checksum of the data at both ends: with
# checksum offload the guests trust the switch, so TCP alone would not catch a corrupted byte.
if [ "$STREAM_KB" -gt 0 ]; then
	i=1
	while [ "$i" -le "$STREAMS" ]; do
		dd if=/dev/urandom of="/tmp/tx.$i" bs=1024 count="$STREAM_KB" 2>/dev/null
		i=$((i + 1))
	done
	i=1
	while [ "$i" -le "$STREAMS" ]; do
		(
			cpu=$(((i - 1) % NCPU))
			n=0
			# The peer's listener may not be up yet: a refused connect sent nothing.
			until taskset $((1 << cpu)) nc "$PEER" $((5000 + i)) <"/tmp/tx.$i"; do
				n=$((n + 1))
				[ "$n" -lt 50 ] || exit 1
				usleep 200000
			done
			mark "stream-tx port=$((5000 + i)) cpu=$cpu bytes=$(wc -c <"/tmp/tx.$i")" \
				"sha256=$(sha256sum "/tmp/tx.$i" | cut -d' ' -f1)"
		) &
		eval "txpid_$i=\$!"
		i=$((i + 1))
	done
	i=1
	while [ "$i" -le "$STREAMS" ]; do
		eval "wait \$txpid_$i" || bad "stream $i: cannot send to $PEER:$((5000 + i))"
		eval "wait \$rxpid_$i" || bad "stream $i: receive failed or timed out"
		mark "stream-rx port=$((5000 + i)) bytes=$(wc -c <"/tmp/rx.$i")" \
			"sha256=$(sha256sum "/tmp/rx.$i" | cut -d' ' -f1)"
		i=$((i + 1))
	done
fi

if [ "$ROLE" = a ] && [ "$IPERF" -gt 0 ]; then
	for dir in forward reverse; do
		flag=""
		[ "$dir" = forward ] || flag=-R
		n=0
		until iperf3 -c "$PEER" -t "$IPERF" -f m $flag >/tmp/iperf3.out 2>&1; do
			n=$((n + 1))
			if [ "$n" -ge 10 ]; then
				cat /tmp/iperf3.out
				bad "iperf3 $dir failed"
				break
			fi
			sleep 1
		done
		mbps=$(awk '/receiver/ { for (f = 1; f < NF; f++) if ($(f + 1) == "Mbits/sec") v = $f } END { print v }' /tmp/iperf3.out)
		mark "iperf dir=$dir mbps=${mbps:-0}"
	done
fi

# Per-queue interrupts, summed over vCPUs: "irq virtio0-input.0=N ...".
irqs=$(awk 'NR == 1 { ncpu = NF; next }
	/virtio/ { s = 0; for (f = 2; f <= ncpu + 1; f++) s += $f; printf "%s=%d ", $NF, s }' /proc/interrupts)
mark "irq $irqs"
mark "eth0-stats rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets)" \
	"tx_packets=$(cat /sys/class/net/eth0/statistics/tx_packets)"

# Stay up until the peer is done too, or its last streams and replies would go nowhere.
n=0
until echo "$ROLE done" | nc "$PEER" 5000; do
	n=$((n + 1))
	[ "$n" -lt 50 ] || break
	usleep 200000
done
wait "$barrier_pid"
mark "barrier peer=$(cat /tmp/barrier)"
exit $rc
