#!/bin/bash
# Interop: DPDK's virtio-user PMD (dpdk-testpmd, a frontend nobody here wrote) on two ports of
# the daemon, traffic both ways through the switch, then the counters of both sides must agree
# exactly: testpmd's TX on one port = the daemon's rx_packets/rx_bytes of that port, the
# daemon's tx_packets/tx_bytes of the other port = testpmd's RX there, and at this light load
# every frame sent arrives.
#
# usage: testpmd-switch.sh [--queues N] [--mem huge|nohuge]
# env:   VHOST_LB_BIN, VHOST_LB_CTL (set by meson), CI=true turns a missing tool into a failure.
set -euo pipefail

QUEUES=1
MEM=auto
while [ $# -gt 0 ]; do
	case $1 in
	--queues) QUEUES=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	*) echo "usage: $0 [--queues N] [--mem huge|nohuge]" >&2; exit 2 ;;
	esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib-testpmd.sh
. "$HERE/lib-testpmd.sh"

# shellcheck source=tests/lib/skip.sh
. "$HERE/../lib/skip.sh"
command -v dpdk-testpmd >/dev/null || skip "dpdk-testpmd not installed (scripts/setup-host.sh)"
command -v python3 >/dev/null || skip "python3 not installed"
[ -x "${VHOST_LB_BIN:-}" ] || skip "VHOST_LB_BIN not set or not executable"
[ -x "${VHOST_LB_CTL:-}" ] || skip "VHOST_LB_CTL not set or not executable"
[ "$(id -u)" = 0 ] || skip "needs root for DPDK's memory setup"

case $MEM in
auto) FE_MEM=$(tp_mem_opts 256) ;;
huge)
	FE_MEM=$(tp_mem_opts 256)
	case $FE_MEM in --no-huge*) skip "not enough free hugepages for --mem huge" ;; esac
	;;
nohuge) FE_MEM="--no-huge -m 256" ;;
*) echo "bad --mem $MEM" >&2; exit 2 ;;
esac

W=$(mktemp -d /tmp/vlb-interop.XXXXXX)
DPID=""
PFX="vlbi$$"
MAC0=02:00:00:00:01:10
MAC1=02:00:00:00:01:11
FAILED=0

cleanup() {
	local rc=$?
	set +e
	tp_stop fe
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		kill -TERM "$DPID"
		for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DPID" 2>/dev/null
	fi
	[ -z "$DPID" ] || wait "$DPID" 2>/dev/null
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		echo "--- daemon log (tail)"; tail -n 40 "$W/daemon.log" 2>/dev/null
		echo "--- testpmd log (tail)"; tail -n 60 "$W/fe.log" 2>/dev/null
	fi
	rm -rf "$W" /var/run/dpdk/"$PFX"* 2>/dev/null
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "FAIL: $*"
	exit 1
}

# ---------------------------------------------------------------- daemon
"$VHOST_LB_BIN" --socket-dir "$W" --ctl-socket "$W/ctl.sock" --port a --port b \
	--log-level info 2>"$W/daemon.log" &
DPID=$!
for ((i = 0; i < 100; i++)); do
	grep -qw ready "$W/daemon.log" && break
	kill -0 "$DPID" 2>/dev/null || die "daemon exited before ready"
	sleep 0.1
done
grep -qw ready "$W/daemon.log" || die "daemon not ready after 10 s"
if [ ! -S "$W/a.sock" ] || [ ! -S "$W/b.sock" ]; then
	die "daemon did not create a.sock and b.sock"
fi

ctl() {
	timeout 10 "$VHOST_LB_CTL" -s "$W/ctl.sock" "$@"
}

# daemon_stats: "name rx_packets rx_bytes tx_packets tx_bytes state active_rx_queues
# active_tx_queues qsum_ok drops" per port, from the JSON stats. active_*_queues counts queues
# that carried packets in that direction (switch view: rx = from the guest); qsum_ok says the
# per-queue packets add up to the port totals.
daemon_stats() {
	ctl --json stats | python3 -c '
import json, sys
d = json.load(sys.stdin)
if not d.get("ok"):
    sys.exit("stats failed: %r" % d)
for p in d["ports"]:
    qs = p.get("queues", [])
    act = {"rx": 0, "tx": 0}
    tot = {"rx": 0, "tx": 0}
    for q in qs:
        if q.get("packets", 0) > 0 and q.get("dir") in act:
            act[q["dir"]] += 1
        if q.get("dir") in tot:
            tot[q["dir"]] += q.get("packets", 0)
    ok = int(tot["rx"] == p["rx_packets"] and tot["tx"] == p["tx_packets"])
    drops = sum(p.get("drops", {}).values()) if isinstance(p.get("drops"), dict) else p.get("drops", 0)
    print(p["name"], p["rx_packets"], p["rx_bytes"], p["tx_packets"], p["tx_bytes"],
          p["state"], act["rx"], act["tx"], ok, drops)
'
}

# ---------------------------------------------------------------- frontend
# The forwarding lcore busy-polls; testpmd answers our commands from the main lcore, which
# answers in milliseconds on a CPU of its own but in seconds when it shares the poller's.
mapfile -t CPUS < <(tp_cpus)
FWD_CPU=${CPUS[0]}
MAIN_CPU=${CPUS[1]:-$FWD_CPU}
VU="queues=$QUEUES"
# virtio-user handles multiqueue through an emulated control queue, which turns the guest's
# VIRTIO_NET_CTRL_MQ command into SET_VRING_ENABLE messages for the backend.
[ "$QUEUES" -gt 1 ] && VU="$VU,cq=1"
# shellcheck disable=SC2086
tp_start fe "$W" dpdk-testpmd --lcores "0@$MAIN_CPU,1@$FWD_CPU" --main-lcore 0 --file-prefix="$PFX" \
	--no-pci $FE_MEM \
	--vdev "net_virtio_user0,path=$W/a.sock,mac=$MAC0,$VU" \
	--vdev "net_virtio_user1,path=$W/b.sock,mac=$MAC1,$VU" \
	-- -i --nb-cores=1 --rxq="$QUEUES" --txq="$QUEUES" --forward-mode=rxonly \
	--total-num-mbufs=8192 --burst=32 --txpkts=64 \
	--eth-peer=0,$MAC1 --eth-peer=1,$MAC0

tp_links_up fe 2 30 || { tp_log_has_errors fe; die "virtio-user links not up in 30 s"; }
if tp_log_has_errors fe; then
	die "testpmd reported a virtio-user setup error (memory options: $FE_MEM)"
fi
echo "testpmd up: queues=$QUEUES memory='$FE_MEM'"

states=$(daemon_stats | awk '{print $1 "=" $6}' | sort | tr '\n' ' ')
[ "$states" = "a=running b=running " ] || die "daemon port states: $states (want both running)"

# ---------------------------------------------------------------- traffic
# settle: wait until testpmd's and the daemon's counters stop moving, and every frame testpmd
# sent has arrived on the other port (nothing should be lost at this load), up to 10 s.
settle() {
	local prev="" cur i
	for ((i = 0; i < 50; i++)); do
		cur="$(tp_port_stats fe 2 | tr '\n' ' ')|$(daemon_stats | cut -d' ' -f1-5 | tr '\n' ' ')"
		[ "$cur" = "$prev" ] && all_arrived "$cur" && return 0
		prev=$cur
		sleep 0.2
	done
	return 0
}
all_arrived() {  # "0 rxp rxb txp txb 1 rxp rxb txp txb |..."
	local -a f
	read -ra f <<<"${1%%|*}"
	[ "${f[1]}" = "${f[8]}" ] && [ "${f[6]}" = "${f[3]}" ]
}

# round NAME TXPKTS DST0 DST1 BURSTS: both ports send BURSTS bursts of 32 frames per queue of
# TXPKTS bytes; port 0 to DST0, port 1 to DST1. testpmd's rxonly engine keeps draining both.
round() {
	local name=$1 len=$2 dst0=$3 dst1=$4 bursts=$5
	tp_send fe "set txpkts $len"
	tp_send fe "set eth-peer 0 $dst0"
	tp_send fe "set eth-peer 1 $dst1"
	tp_cmd fe "start tx_first $bursts" 'rxonly packet forwarding|Packet forwarding already started' 1 30 \
		>/dev/null || die "$name: testpmd did not start forwarding"
	settle
	tp_cmd fe "stop" 'Done\.|Packet forwarding not started' 1 30 >/dev/null || die "$name: stop failed"
	check "$name"
}

# check NAME: the comparison this test is about.
check() {
	local name=$1 fe_s dm_s
	fe_s=$(tp_port_stats fe 2)
	dm_s=$(daemon_stats)
	echo "[$name] testpmd (port rx_pkts rx_bytes tx_pkts tx_bytes):"
	printf '    %s\n' "${fe_s//$'\n'/$'\n    '}"
	echo "[$name] daemon (port rx_pkts rx_bytes tx_pkts tx_bytes state rxq_used txq_used qsum_ok drops):"
	printf '    %s\n' "${dm_s//$'\n'/$'\n    '}"
	python3 - "$name" "$QUEUES" "$fe_s" "$dm_s" <<'EOF' || FAILED=1
import sys
name, queues, fe_s, dm_s = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
fe = {int(l.split()[0]): list(map(int, l.split()[1:5])) for l in fe_s.splitlines()}
dm = {l.split()[0]: l.split()[1:] for l in dm_s.splitlines()}
bad = []
def eq(what, a, b):
    if a != b:
        bad.append("%s: %d != %d" % (what, a, b))
for port, dname, other in ((0, "a", 1), (1, "b", 0)):
    rxp, rxb, txp, txb = fe[port]
    d = dm[dname]
    eq("testpmd port %d TX packets vs daemon %s rx_packets" % (port, dname), txp, int(d[0]))
    eq("testpmd port %d TX bytes vs daemon %s rx_bytes" % (port, dname), txb, int(d[1]))
    eq("testpmd port %d RX packets vs daemon %s tx_packets" % (port, dname), rxp, int(d[2]))
    eq("testpmd port %d RX bytes vs daemon %s tx_bytes" % (port, dname), rxb, int(d[3]))
    eq("frames sent on port %d vs received on port %d" % (other, port), fe[other][2], rxp)
    if txp == 0:
        bad.append("testpmd port %d sent nothing" % port)
    if d[7] != "1":
        bad.append("daemon %s: per-queue packets do not add up to the port totals" % dname)
    if queues > 1 and int(d[5]) < queues:
        bad.append("daemon %s: only %s of %d guest TX queues carried frames" % (dname, d[5], queues))
    if queues > 1 and int(d[6]) < 1:
        bad.append("daemon %s: no guest RX queue carried frames" % dname)
for b in bad:
    print("FAIL [%s] %s" % (name, b))
if not bad:
    print("ok [%s] counters agree" % name)
sys.exit(1 if bad else 0)
EOF
}

round unicast-64 64 "$MAC1" "$MAC0" 4
# the switch must have learned each testpmd port's MAC on the daemon port it is attached to
fdb=$(ctl --json fdb | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s@%s" % (e["mac"].lower(), e["port"]) for e in d["entries"])))')
echo "fdb: $fdb"
[ "$fdb" = "$MAC0@a $MAC1@b" ] || die "fdb is '$fdb', want '$MAC0@a $MAC1@b'"
round unicast-1518 1518 "$MAC1" "$MAC0" 4
round broadcast-60 60 ff:ff:ff:ff:ff:ff ff:ff:ff:ff:ff:ff 2

if tp_log_has_errors fe; then
	die "testpmd logged a virtio-user error during the run"
fi
kill -0 "$DPID" 2>/dev/null || die "daemon died"
[ "$FAILED" = 0 ] || die "counters disagree (see above)"
echo "PASS: queues=$QUEUES memory='$FE_MEM'"
