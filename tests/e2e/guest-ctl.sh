#!/bin/sh
# Test script run inside the guests of the e2e tests that change something under running
# traffic (test-restart.sh: the daemon is killed, restarted, handed over; test-migrate.sh: the
# guest migrates). Unlike guest-peer.sh it runs until the host says stop, so the host decides
# when the traffic must have crossed the event. The host drives it with command lines on
# /dev/ttyS1 (boot-guest.sh --control):
#   stream PORT   send random data to the peer's PORT over TCP, in paced chunks, until "stop"
#   stats         print the eth0-stats marker now
#   stop          end the stream and the ping, print what they did, power off
# Each command read is acknowledged with a "cmd COMMAND [ARG]" marker (lib.sh guest_send waits
# for it).
# Parameters (kernel command line vlb.KEY=VALUE -> $VLB_KEY):
#   VLB_PEER      the other guest's address (required)
#   VLB_PING      1: ping the peer continuously once it answers, every VLB_INTERVAL seconds
#                 (default 0.2). busybox ping prints each reply ("64 bytes from A: seq=N ...")
#                 on the console, and its summary when stopped; the host reads both.
#   VLB_LISTEN    PORT: receive one TCP stream on PORT (until the sender closes it)
#   VLB_CHUNK_KB  stream chunk size (default 8); VLB_PACE_US pause after each (default 10000)
#   VLB_WAIT      seconds to wait for the peer to answer at all (default 90)
# Markers ("VLB: KEY k=v ... t=UPTIME"):
#   control ready                  ttyS1 is open: commands sent from now on are read
#   listening port=P               the stream listener is up
#   pinging peer=A                 the continuous ping started
#   streaming port=P               the stream started
#   stream-tx port=P bytes=N sha256=H     at stop, what was sent
#   stream-rx port=P bytes=N sha256=H     when the stream ended, what arrived
#   eth0-stats rx_packets=N tx_packets=N carrier_changes=N
PEER=${VLB_PEER:?}
PING=${VLB_PING:-0}
INTERVAL=${VLB_INTERVAL:-0.2}
LISTEN=${VLB_LISTEN:-}
CHUNK_KB=${VLB_CHUNK_KB:-8}
PACE_US=${VLB_PACE_US:-10000}
WAIT=${VLB_WAIT:-90}
rc=0

mark() { echo "VLB: $* t=$(cut -d' ' -f1 /proc/uptime)"; }
bad() {
	mark "error $*"
	rc=1
}

# The host's command lines must not come back at it, and must arrive as lines.
stty -F /dev/ttyS1 -echo icanon 2>/dev/null || bad "stty on /dev/ttyS1 failed"
exec 4</dev/ttyS1 || { mark "error no /dev/ttyS1 (boot-guest.sh --control)"; exit 1; }
mark "control ready"

# nc without a terminal ends when its stdin does: give the listener a fifo that never ends.
mkfifo /tmp/never
exec 3<>/tmp/never
rxpid=""
if [ -n "$LISTEN" ]; then
	nc -l -p "$LISTEN" <&3 >/tmp/rx &
	rxpid=$!
	mark "listening port=$LISTEN"
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

pingpid=""
if [ "$PING" = 1 ]; then
	ping -i "$INTERVAL" "$PEER" &
	pingpid=$!
	mark "pinging peer=$PEER"
fi

streamport="" streampid=""
stream() {
	rm -f /tmp/stop-stream
	# Random chunks, also kept in /tmp/tx so the checksum is of exactly what nc was given.
	(
		while [ ! -e /tmp/stop-stream ]; do
			dd if=/dev/urandom bs=1024 count="$CHUNK_KB" 2>/dev/null
			usleep "$PACE_US"
		done
	) | tee /tmp/tx | nc "$PEER" "$1" &
	streampid=$!
	streamport=$1
	mark "streaming port=$1"
}

eth0_stats() {
	mark "eth0-stats rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets)" \
		"tx_packets=$(cat /sys/class/net/eth0/statistics/tx_packets)" \
		"carrier_changes=$(cat /sys/class/net/eth0/carrier_changes)"
}

while read -r cmd arg <&4; do
	[ -z "$cmd" ] || mark "cmd $cmd${arg:+ $arg}"
	case "$cmd" in
	stream) stream "$arg" ;;
	stats) eth0_stats ;;
	stop) break ;;
	'') ;;
	*) mark "unknown command '$cmd'" ;;
	esac
done

if [ -n "$streampid" ]; then
	touch /tmp/stop-stream
	wait "$streampid" || bad "stream to $PEER:$streamport failed"
	mark "stream-tx port=$streamport bytes=$(wc -c </tmp/tx) sha256=$(sha256sum /tmp/tx | cut -d' ' -f1)"
fi
if [ -n "$pingpid" ]; then
	# SIGINT makes busybox ping print its summary.
	kill -INT "$pingpid"
	wait "$pingpid"
fi
if [ -n "$rxpid" ]; then
	wait "$rxpid" || bad "receiving on port $LISTEN failed"
	mark "stream-rx port=$LISTEN bytes=$(wc -c </tmp/rx) sha256=$(sha256sum /tmp/rx | cut -d' ' -f1)"
fi
eth0_stats
exit $rc
