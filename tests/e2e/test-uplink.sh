#!/bin/bash
# The uplink to the host network: the daemon creates its TAP device (--uplink, 2 queues), the
# test moves it into a network namespace of its own (the daemon's fds keep working there) and
# gives it 10.0.5.254/24; one QEMU TCG guest (10.0.5.1) on a vhost-user port is the other end.
# Passes when the guest pings the namespace and the namespace pings the guest without loss, a
# TCP stream each way (busybox nc, random data) arrives with the sender's sha256, iperf3 runs
# both ways, the TAP shows the flags and offloads docs/usage.md documents (checksum and TSO on,
# GSO frames carried both ways), and the daemon's
# counters account for every frame the guest saw, with no frame of the uplink dropped.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PINGS=20
STREAM_KB=4096
GUEST_IP=10.0.5.1
HOST_IP=10.0.5.254
NS=vlb-e2e-uplink-$$
TAP=vlbup$$

command -v ip >/dev/null || missing "iproute2 (ip)"
command -v ethtool >/dev/null || missing "ethtool"
command -v iperf3 >/dev/null || missing "iperf3"
[ -c /dev/net/tun ] || missing "/dev/net/tun"

e2e_begin uplink

ns() {
	ip netns exec "$NS" "$@"
}

# The namespace's side of tests/e2e/guest-peer.sh (role b): listeners first, then, once the
# guest reached us, ping it, send it our stream, and release its barrier. Results go to
# RUN/host.marks as "KEY k=v ..." lines, like the guest's markers.
host_peer() {
	local n out tx rx
	mark() { echo "$*" >>"$RUN/host.marks"; }
	# nc without a terminal ends when its stdin does: give listeners a fifo that never ends.
	mkfifo "$RUN/never"
	exec 7<>"$RUN/never"
	ns timeout 240 busybox nc -l -p 5001 <&7 >"$RUN/host-rx.bin" &
	local rx_pid=$!
	ns timeout 240 busybox nc -l -p 5000 <&7 >"$RUN/host-barrier" &
	local barrier_pid=$!
	ns iperf3 -s -D --pidfile "$RUN/iperf3.pid" --logfile "$RUN/iperf3.host.log"
	dd if=/dev/urandom of="$RUN/host-tx.bin" bs=1024 count="$STREAM_KB" 2>/dev/null
	mark "ready"
	# The guest says when it reached us; until then its eth0 may not even be up.
	n=0
	until guest_lines a | grep -q '^peer reachable'; do
		n=$((n + 1))
		[ "$n" -lt 2400 ] || { mark "error guest never reached us"; return 1; }
		sleep 0.1
	done
	out=$(ns busybox ping -c "$PINGS" -i 0.2 -W 2 "$GUEST_IP" || true)
	tx=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
	rx=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	mark "ping transmitted=${tx:-0} received=${rx:-0}"
	n=0
	# The guest's listener may not be up yet: a refused connect sent nothing.
	until ns busybox nc "$GUEST_IP" 5001 <"$RUN/host-tx.bin"; do
		n=$((n + 1))
		[ "$n" -lt 50 ] || { mark "error cannot send to $GUEST_IP:5001"; return 1; }
		sleep 0.2
	done
	mark "stream-tx port=5001 bytes=$(wc -c <"$RUN/host-tx.bin")" \
		"sha256=$(sha256sum "$RUN/host-tx.bin" | cut -d' ' -f1)"
	wait "$rx_pid" || mark "error receiving the guest's stream failed or timed out"
	mark "stream-rx port=5001 bytes=$(wc -c <"$RUN/host-rx.bin")" \
		"sha256=$(sha256sum "$RUN/host-rx.bin" | cut -d' ' -f1)"
	wait "$barrier_pid" || true
	n=0
	until echo "b done" | ns busybox nc "$GUEST_IP" 5000; do
		n=$((n + 1))
		[ "$n" -lt 50 ] || break
		sleep 0.2
	done
	mark "done barrier=$(cat "$RUN/host-barrier")"
}

host_mark() {
	sed -n "s/^$1 //p" "$RUN/host.marks" 2>/dev/null | tail -n 1
}

host_field() {
	host_mark "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -n 1
}

start_daemon --socket-dir "$RUN" --ctl-socket "$CTL" --port a --uplink "up0,tap=$TAP,queues=2"

# The TAP leaves the root namespace; the daemon's queue fds go on working in the new one.
ip netns add "$NS"
E2E_ON_EXIT+=("[ ! -s '$RUN/iperf3.pid' ] || kill \$(cat '$RUN/iperf3.pid') 2>/dev/null" "ip netns del '$NS'")
ip link set "$TAP" netns "$NS"
ns ip link set lo up
ns ip addr add "$HOST_IP/24" dev "$TAP"
ns ip link set "$TAP" up
log "TAP $TAP in namespace $NS: $(ns ip -br addr show dev "$TAP")"

flags=$(ns cat "/sys/class/net/$TAP/tun_flags")
# IFF_TAP 0x2 | IFF_MULTI_QUEUE 0x100 | IFF_NO_PI 0x1000 | IFF_VNET_HDR 0x4000
check "TAP flags $flags: TAP, multi-queue, no PI, virtio-net header" \
	test $((flags & 0x5103)) = $((0x5102))
check "TAP queues: $(ns ls "/sys/class/net/$TAP/queues" | tr '\n' ' ')" \
	test "$(ns ls "/sys/class/net/$TAP/queues" | grep -c '^rx-')" = 2
ns ethtool -k "$TAP" >"$RUN/ethtool-k.txt"
for feature in tx-checksumming tcp-segmentation-offload; do
	check "TAP $(grep "^$feature:" "$RUN/ethtool-k.txt") (TUNSETOFFLOAD CSUM|TSO4|TSO6)" \
		grep -q "^$feature: on" "$RUN/ethtool-k.txt"
done

host_peer >"$RUN/peer.host.log" 2>&1 &
HOST_PID=$!
boot_guest a --socket "$RUN/a.sock" --mac 52:54:00:00:05:01 --ip "$GUEST_IP/24" \
	--param peer=$HOST_IP --param role=a --param pings=$PINGS --param stream_kb=$STREAM_KB \
	--param iperf=2 --script "$E2E_DIR/guest-peer.sh"
wait_guests 240 a
wait "$HOST_PID" || fail "the namespace's side failed: $(host_mark error)"
[ -z "$(host_mark error)" ] || fail "the namespace's side: $(host_mark error)"

check "guest -> namespace: $(guest_mark a ping)" \
	all_equal $PINGS "$(guest_field a ping transmitted)" "$(guest_field a ping received)"
check "namespace -> guest: $(host_mark ping)" \
	all_equal $PINGS "$(host_field ping transmitted)" "$(host_field ping received)"
bytes=$((STREAM_KB * 1024))
check "TCP guest -> namespace: sent $(stream_field a stream-tx 5001 bytes), received $(host_field stream-rx bytes), sha256 $(stream_field a stream-tx 5001 sha256 | cut -c1-12).. / $(host_field stream-rx sha256 | cut -c1-12).." \
	all_equal $bytes "$(stream_field a stream-tx 5001 bytes)" "$(host_field stream-rx bytes)" -- \
	"$(stream_field a stream-tx 5001 sha256)" "$(host_field stream-rx sha256)"
check "TCP namespace -> guest: sent $(host_field stream-tx bytes), received $(stream_field a stream-rx 5001 bytes), sha256 $(host_field stream-tx sha256 | cut -c1-12).. / $(stream_field a stream-rx 5001 sha256 | cut -c1-12).." \
	all_equal $bytes "$(host_field stream-tx bytes)" "$(stream_field a stream-rx 5001 bytes)" -- \
	"$(host_field stream-tx sha256)" "$(stream_field a stream-rx 5001 sha256)"
for dir in forward reverse; do
	mbps=$(guest_lines a | sed -n "s/^iperf dir=$dir mbps=//p" | tail -n 1)
	check "iperf3 $dir (guest $([ $dir = forward ] && echo '->' || echo '<-') namespace): ${mbps:-none} Mbit/s" \
		awk -v v="${mbps:-0}" 'BEGIN { exit !(v > 0) }'
done

check "guest: $(guest_mark a offloads)" all_equal on \
	"$(guest_field a offloads tx-checksumming)" "$(guest_field a offloads tcp-segmentation-offload)"

# Every frame the guest sent went to the uplink (its only peer), every frame it got came from it.
check_port_counters a
stats_snapshot
# TSO both ways: the namespace's stack hands the TAP 64 KiB frames, so does the guest.
check "uplink up0: GSO frames read from the TAP rx_gso=$(port_stat up0 rx_gso), written whole tx_gso=$(port_stat up0 tx_gso), segmented tx_gso_sw=$(port_stat up0 tx_gso_sw)" \
	at_least_pairs "$(port_stat up0 rx_gso)" 1 "$(port_stat up0 tx_gso)" 1
gtx=$(guest_field a eth0-stats tx_packets)
grx=$(guest_field a eth0-stats rx_packets)
check "uplink up0: $(port_stat up0 tx_packets) frames written to the TAP >= guest sent $gtx, $(port_stat up0 rx_packets) read >= guest received $grx" \
	at_least_pairs "$(port_stat up0 tx_packets)" "$gtx" "$(port_stat up0 rx_packets)" "$grx"
drops=$(python3 -c 'import json, sys
p = [p for p in json.load(open(sys.argv[1]))["ports"] if p["name"] == "up0"][0]
print(" ".join("%s=%d" % kv for kv in p["drops"].items() if kv[1]) or "none")' "$RUN/stats.json")
check "uplink up0: no frame dropped (drops: $drops)" test "$drops" = none
for q in 1 3; do
	log "uplink up0 vq$q (TAP queue $((q / 2)) -> switch): $(awk -v k="rx.q$((q / 2))" '$1 == "up0" && $2 == k { print $3 }' "$RUN/stats.txt") frames"
done

e2e_pass
