#!/bin/bash
# Benchmark vhost-user-lb against DPDK's vhost backend (issue 3) and print a short table.
#
# Traffic: one dpdk-testpmd process (the frontend) with two virtio-user ports, S0 and S1, and a
# null port, its forwarding lcore on FE_CPU. A closed loop: INFLIGHT frames (real Eth/IPv4/UDP,
# testpmd's txonly template) are put into S0, addressed to S1's MAC; whatever arrives on S1 is
# sent into S0 again. The rate on S1 is the backend's S0->S1 forwarding rate.
# Backends, each with its worker on BK_CPU:
#   ours: vhost-user-lb --workers BK_CPU, ports a (S0) and b (S1)
#   ref:  dpdk-testpmd with two vhost PMD ports, io forwarding, one forwarding lcore
# They run alternately, ours then ref, PAIRS times; every run is a fresh backend and frontend.
# Within a pair both are up at once, and each full-load window (64 B, 1518 B) is a duel: cut
# into SLICES slices that alternate between the two sides, the side not measuring stopped with
# SIGSTOP. This machine's speed changes between windows seconds to a minute apart
# (docs/performance.md), and a ratio should compare the two backends over the same stretch of
# it. So is the 25% window, against full-load slices of the same loop (the quota lifted), the
# quota steered slice by slice towards 25% of the full-load slice before it. --sequential runs
# all of ours' windows, then all of ref's, each in one piece (runs A-G in the docs).
#
# Per run: backend CPU with links up and no traffic (IDLE s); 64 B at full load; 64 B at about
# 25% load; 1518 B at full load. 25% load: the frontend process is put in a CPU cgroup with a
# quota of 25% of a core (period 20 ms), so it sends bursts for 5 ms and is silent for 15 ms.
# Backend CPU is read from /proc/PID/task/*/schedstat (every thread of the backend process).
#
# usage: bench/run.sh [--quick] [--sequential] [--pairs N] [--out DIR] [--ours BIN] [--standin] [--force]
#   --quick    1 pair, short windows of 3 slices, no quota calibration: under a minute
#   --pairs N  pairs of runs (default 5)
#   --sequential  within a pair, all of ours' windows, then all of ref's (no duels)
#   --out DIR  results directory (default bench/results/<date>-<time>[-quick])
#   --ours BIN the daemon (default $VHOST_LB_BIN, else build/vhost-user-lb/vhost-user-lb)
#   --standin  run the DPDK reference in the "ours" slot too (to test the harness itself)
#   --against BIN  put another build of the daemon in the reference slot: an A/B of a change
#              (before/after figures for a commit message); the targets are then meaningless
#   --force    run even if QEMU is running (figures will be noisy); the harness holds
#              /tmp/vhost-lb-qemu.lock (the QEMU suites' lock) for the whole run
# Ours also runs the 64 B loop twice more: with its 2 ports, then with 62 more ports of 4
# queue pairs each, connected and idle (bench/idle-ports), for the cost of watching many rings.
# env: FE_CPU (default 0), BK_CPU (default 1), IDLE, WARMUP, DURATION (seconds), INFLIGHT,
#      SLICES (a duel's slices per side, default 5), SETTLE (s after a side resumes, 0.2),
#      MANY_PORTS (default 64, 0 skips), MANY_QPS (default 4), VHOST_LB_IDLE_PORTS
# Output: table on stdout; runs.csv, slices.csv (duels), summary.json, memcpy.txt, run.log (the
# notes on stderr), logs/ in the results directory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
# shellcheck source=tests/interop/lib-testpmd.sh
. "$SRC/tests/interop/lib-testpmd.sh"

QUICK=0 SEQUENTIAL=0 PAIRS="" OUT="" OURS_BIN="" OURS_CTL="" IDLE_PORTS_BIN="" STANDIN=0 FORCE=0 AGAINST_BIN=""
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1; shift ;;
	--sequential) SEQUENTIAL=1; shift ;;
	--pairs) PAIRS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--ours) OURS_BIN=$2; shift 2 ;;
	--standin) STANDIN=1; shift ;;
	--against) AGAINST_BIN=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
	esac
done

if [ "$QUICK" = 1 ]; then
	: "${PAIRS:=1}" "${IDLE:=1}" "${WARMUP:=0.5}" "${DURATION:=1.5}" "${CALIB_STEPS:=0}" "${SLICES:=3}" "${SETTLE:=0.1}"
else
	: "${PAIRS:=5}" "${IDLE:=10}" "${WARMUP:=2}" "${DURATION:=10}" "${CALIB_STEPS:=2}" "${SLICES:=5}" "${SETTLE:=0.2}"
fi
FE_CPU=${FE_CPU:-0}
BK_CPU=${BK_CPU:-1}
INFLIGHT=${INFLIGHT:-6}          # bursts of 32 frames in the loop; below the 256-entry rings
MANY_PORTS=${MANY_PORTS:-64}     # the many-ports figure: ports in all (2 with traffic) ...
MANY_QPS=${MANY_QPS:-4}          # ... and queue pairs on each idle one; MANY_PORTS=0 skips it
LOAD_PCT=25
CG_PERIOD_US=20000

die() { echo "run.sh: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd missing (scripts/setup-host.sh)"
command -v python3 >/dev/null || die "python3 missing"
[ "$(id -u)" = 0 ] || die "needs root (DPDK memory, cgroups)"
if [ "$STANDIN" = 0 ]; then
	[ -n "$OURS_BIN" ] || OURS_BIN=${VHOST_LB_BIN:-$SRC/build/vhost-user-lb/vhost-user-lb}
	[ -x "$OURS_BIN" ] || die "daemon '$OURS_BIN' not found: build it (meson setup build && ninja -C build), pass --ours BIN, or --standin"
	OURS_CTL=${VHOST_LB_CTL:-$(dirname "$OURS_BIN")/vhost-user-lbctl}
	IDLE_PORTS_BIN=${VHOST_LB_IDLE_PORTS:-$(dirname "$OURS_BIN")/../bench/idle-ports}
	[ -x "$IDLE_PORTS_BIN" ] || note "no $IDLE_PORTS_BIN (ninja -C build): the many-ports figure is skipped"
fi
# QEMU test suites hold this lock around every guest boot: holding it keeps them off our cores.
exec {LOCKFD}>/tmp/vhost-lb-qemu.lock
if flock -n "$LOCKFD"; then
	:
elif [ "$QUICK" = 1 ]; then
	note "WARNING: a QEMU test holds /tmp/vhost-lb-qemu.lock; quick run goes on, figures will be noisy"
else
	note "waiting for the QEMU test lock (/tmp/vhost-lb-qemu.lock)"
	flock -w 1800 "$LOCKFD" || die "QEMU test lock still held after 30 min"
fi
if pgrep -f qemu-system >/dev/null; then
	[ "$FORCE" = 1 ] || [ "$QUICK" = 1 ] || die "QEMU is running (another test suite): the cores are not quiet; wait, or --force"
	note "WARNING: QEMU is running; figures will be noisy"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
[ -n "$OUT" ] || OUT=$HERE/results/$STAMP$([ "$QUICK" = 1 ] && echo -quick || true)
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
# the notes (every window's and slice's raw figures) are kept with the results
exec 2> >(tee "$OUT/run.log" >&2)
# sockets and FIFOs live outside the results: unix socket paths are limited to 108 bytes
RUN=$(mktemp -d /tmp/vlb-bench.XXXXXX)
PFX=vlbb$$
CG="" CG_ROOT=""
# The side (ours or ref) the functions below act on: use_side sets these.
FE="" BKNAME="" BKPID="" BKKIND=""
declare -A SIDE_BKPID=() SIDE_BKKIND=()
use_side() {  # KIND
	FE=fe-$1 BKNAME=bk-$1 BKPID=${SIDE_BKPID[$1]:-} BKKIND=${SIDE_BKKIND[$1]:-}
}

cleanup() {
	local k
	set +e
	for k in ours ref; do
		use_side "$k"
		side_resume
		tp_stop "$FE"
		stop_backend
	done
	[ -z "$CG" ] || rmdir "$CG" 2>/dev/null
	rm -rf "$RUN" /var/run/dpdk/"$PFX"* 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- measurement primitives
# sched_sum PID: sets SR (ns on CPU) and SW (ns runnable but waiting) summed over all threads.
sched_sum() {
	local t a b
	SR=0 SW=0
	for t in /proc/"$1"/task/*/schedstat; do
		read -r a b _ <"$t" 2>/dev/null || continue
		SR=$((SR + a)) SW=$((SW + b))
	done
}

# snap: frontend port counters and both processes' CPU at one moment: the middle of the stats
# command's round trip (on a loaded machine testpmd's answer can lag by a scheduler slice).
snap() {
	local t0 t1 st
	t0=${EPOCHREALTIME/./}
	sched_sum "$BKPID"; S_BKR=$SR S_BKW=$SW
	sched_sum "${TP_PID[$FE]}"; S_FEW=$SW
	st=$(tp_port_stats "$FE" 3) || die "frontend stats failed"
	t1=${EPOCHREALTIME/./}
	S_T=$(((t0 + t1) / 2))
	read -r S_TX0 S_RX1 S_RX1B < <(awk '$1 == 0 {tx0 = $4} $1 == 1 {rx1 = $2; rb = $3} END {printf "%.0f %.0f %.0f\n", tx0, rx1, rb}' <<<"$st")
}

# A window's raw deltas: W_T (us) W_TX W_RX W_RB W_BKR W_BKW W_FEW, summed over its slices.
w_reset() { W_T=0 W_TX=0 W_RX=0 W_RB=0 W_BKR=0 W_BKW=0 W_FEW=0; }
w_add() {  # SECONDS: measure for that long and add to the W_ sums
	local a_t a_tx a_rx a_rb a_bkr a_bkw a_few
	snap
	a_t=$S_T a_tx=$S_TX0 a_rx=$S_RX1 a_rb=$S_RX1B a_bkr=$S_BKR a_bkw=$S_BKW a_few=$S_FEW
	sleep "$1"
	snap
	W_T=$((W_T + S_T - a_t)) W_TX=$((W_TX + S_TX0 - a_tx)) W_RX=$((W_RX + S_RX1 - a_rx))
	W_RB=$((W_RB + S_RX1B - a_rb)) W_BKR=$((W_BKR + S_BKR - a_bkr))
	W_BKW=$((W_BKW + S_BKW - a_bkw)) W_FEW=$((W_FEW + S_FEW - a_few))
}
# w_figures NAME: prints "mpps gbps drop ns_per_pkt bk_cores bk_wait fe_wait" from the W_ sums
w_figures() {
	awk -v dt="$W_T" -v tx="$W_TX" -v rx="$W_RX" -v rb="$W_RB" -v bkr="$W_BKR" -v bkw="$W_BKW" \
		-v few="$W_FEW" 'BEGIN {
		us = dt; ns = dt * 1000
		printf "%.4f %.3f %.6f %.1f %.3f %.3f %.3f\n", rx / us, rb * 8 / ns, tx ? (tx - rx) / tx : 0,
			rx ? bkr / rx : 0, bkr / ns, bkw / ns, few / ns }'
	note "$1: $(awk -v dt="$W_T" -v rx="$W_RX" 'BEGIN {printf "%d frames received on S1 in %.3f s", rx, dt / 1e6}')"
}
# window NAME SECONDS: measure one stretch; prints as w_figures
window() {
	w_reset
	w_add "$2"
	w_figures "$1"
}

# idle SECONDS: backend CPU (cores) with links up and no traffic.
idle_cpu() {
	local r0 t0 t1
	sched_sum "$BKPID"; r0=$SR
	t0=${EPOCHREALTIME/./}
	sleep "$1"
	sched_sum "$BKPID"
	t1=${EPOCHREALTIME/./}
	awk -v r=$((SR - r0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.4f\n", r / (t * 1000)}'
}

# ---------------------------------------------------------------- 25% load: a CPU quota
cg_setup() {
	local base
	if [ -w /sys/fs/cgroup/cpu ] && [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		base=/sys/fs/cgroup/cpu
		CG=$base/vlb-bench-$$
		mkdir "$CG"
		echo "$CG_PERIOD_US" >"$CG/cpu.cfs_period_us"
		echo $((CG_PERIOD_US * LOAD_PCT / 100)) >"$CG/cpu.cfs_quota_us"
	elif [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
		base=/sys/fs/cgroup
		grep -qw cpu "$base/cgroup.subtree_control" || echo +cpu >"$base/cgroup.subtree_control"
		CG=$base/vlb-bench-$$
		mkdir "$CG"
		echo "$((CG_PERIOD_US * LOAD_PCT / 100)) $CG_PERIOD_US" >"$CG/cpu.max"
	else
		note "no writable CPU cgroup controller: the ${LOAD_PCT}% load figure is skipped"
		return 0
	fi
	CG_ROOT=$base
}
cg_quota() {  # PERCENT of one core
	local us=$((CG_PERIOD_US * $1 / 100))
	[ "$us" -ge 1000 ] || us=1000    # the kernel's minimum quota
	if [ -e "$CG/cpu.cfs_quota_us" ]; then echo "$us" >"$CG/cpu.cfs_quota_us"; else echo "$us $CG_PERIOD_US" >"$CG/cpu.max"; fi
}
cg_throttle() {  # on|off PID
	[ -n "$CG" ] || return 1
	if [ "$1" = on ]; then echo "$2" >"$CG/cgroup.procs"; else echo "$2" >"$CG_ROOT/cgroup.procs"; fi
}

# ---------------------------------------------------------------- memory
# bench_mem_opts NAME: testpmd memory options for one process, hugepages only. tp_mem_opts
# falls back to 4 KiB pages when hugepages run short (other tests hold them), and a frontend
# on 4 KiB pages costs a backend a TLB miss per buffer: up to 4x the CPU per 64 B frame here,
# which would make runs incomparable. So we add the pages we lack, and refuse to measure on
# 4 KiB pages unless --quick.
bench_mem_opts() {
	local want=$((256 + 64)) free size_kb total opts
	size_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
	free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	if [ $((free * size_kb / 1024)) -lt "$want" ]; then
		total=$(cat /proc/sys/vm/nr_hugepages)
		echo $((total + want * 1024 / size_kb - free)) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	opts=$(tp_mem_opts 256)
	case $opts in
	*--no-huge*)
		if [ "$QUICK" != 1 ]; then
			echo "run.sh: $1: no hugepages for testpmd (4 KiB pages would skew the figures)" >&2
			return 1
		fi
		note "WARNING: $1 on 4 KiB pages (no hugepages free): figures not comparable" ;;
	*) ;;
	esac
	echo "$opts"
}

# ---------------------------------------------------------------- backends
start_backend() {  # KIND DIR: KIND is ours|ref; sockets DIR/s0.sock DIR/s1.sock
	local kind=$1 d=$2 i mem bin=$OURS_BIN
	[ "$kind" = ref ] && [ -n "$AGAINST_BIN" ] && bin=$AGAINST_BIN
	if { [ "$kind" = ref ] && [ -z "$AGAINST_BIN" ]; } || [ "$STANDIN" = 1 ]; then
		mem=$(bench_mem_opts "reference backend") || exit 1
		# shellcheck disable=SC2046
		tp_start "$BKNAME" "$d" dpdk-testpmd --lcores "0@$FE_CPU,1@$BK_CPU" --main-lcore 0 \
			--file-prefix="${PFX}$BKNAME" --no-pci $mem \
			--vdev "net_vhost0,iface=$d/s0.sock,queues=1" \
			--vdev "net_vhost1,iface=$d/s1.sock,queues=1" \
			-- -i --nb-cores=1 --forward-mode=io --rxq=1 --txq=1 --total-num-mbufs=16384
		BKPID=${TP_PID[$BKNAME]}
		BKKIND=testpmd
	else
		"$bin" --socket-dir "$d" --ctl-socket "$d/ctl.sock" \
			--port "a,path=$d/s0.sock,queues=1" --port "b,path=$d/s1.sock,queues=1" \
			--workers "$BK_CPU" --log-level warn 2>"$d/$BKNAME.log" &
		BKPID=$!
		BKKIND=daemon
	fi
	SIDE_BKPID[$kind]=$BKPID SIDE_BKKIND[$kind]=$BKKIND
	for ((i = 0; i < 300; i++)); do
		[ -S "$d/s0.sock" ] && [ -S "$d/s1.sock" ] && break
		kill -0 "$BKPID" 2>/dev/null || die "$kind backend exited at start (log: $d/$BKNAME.log)"
		sleep 0.1
	done
	if [ ! -S "$d/s0.sock" ] || [ ! -S "$d/s1.sock" ]; then
		die "$kind backend made no sockets in 30 s"
	fi
	[ "$BKKIND" = testpmd ] && tp_send "$BKNAME" "start"
	return 0
}
stop_backend() {
	local i
	[ -n "$BKPID" ] || return 0
	if [ "$BKKIND" = testpmd ]; then
		tp_stop "$BKNAME"
	else
		kill -TERM "$BKPID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do kill -0 "$BKPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$BKPID" 2>/dev/null || true
		wait "$BKPID" 2>/dev/null || true
	fi
	BKPID=""
	SIDE_BKPID[${FE#fe-}]=""
	return 0
}

# ---------------------------------------------------------------- frontend and the loop
MAC0=02:00:00:00:02:10
MAC1=02:00:00:00:02:11
start_frontend() {  # DIR
	local d=$1 mem
	mem=$(bench_mem_opts frontend) || exit 1
	# The main lcore only answers our stats commands; beside its own busy poller it would answer
	# a scheduler slice late and blur the measurement window, on BK_CPU it answers at once.
	# shellcheck disable=SC2046
	tp_start "$FE" "$d" dpdk-testpmd --lcores "0@$BK_CPU,1@$FE_CPU" --main-lcore 0 \
		--file-prefix="${PFX}$FE" --no-pci $mem \
		--vdev "net_virtio_user0,path=$d/s0.sock,mac=$MAC0,queues=1,queue_size=256" \
		--vdev "net_virtio_user1,path=$d/s1.sock,mac=$MAC1,queues=1,queue_size=256" \
		--vdev "net_null0,no-rx=1" \
		-- -i --nb-cores=1 --forward-mode=io --total-num-mbufs=32768 --burst=32 --txpkts=64 \
		--eth-peer=0,$MAC1 --eth-peer=1,$MAC0 --port-topology=chained --portlist=0,2 --no-flush-rx
	tp_links_up "$FE" 2 30 || { tp_log_has_errors "$FE"; die "virtio-user links not up (log: $d/$FE.log)"; }
	if tp_log_has_errors "$FE"; then die "virtio-user setup error (log: $d/$FE.log)"; fi
}
fwd() {  # start|stop
	if [ "$1" = start ]; then
		tp_cmd "$FE" "start" 'io packet forwarding|already started' 1 10 >/dev/null || die "frontend start failed"
	else
		tp_cmd "$FE" "stop" 'Done\.|not started' 1 10 >/dev/null || die "frontend stop failed"
	fi
}
# Ports: 0 = S0, 1 = S1, 2 = null (never receives). Chained topology, port list order:
#   "1 2":   RX S1 -> TX null, RX null -> TX S1: "start tx_first" sends from S1 only (to MAC0),
#            so a learning switch learns MAC1 on b and later frames to MAC1 are unicast.
#   "0 2":   RX S0 -> TX null, null -> TX S0: "start tx_first" seeds S0 only.
#   "1 0 2": RX S1 -> TX S0 closes the loop; RX S0 -> null drains anything sent back to S0.
# --no-flush-rx keeps seeded frames waiting in S1's ring across the restarts.
learn() {
	tp_send "$FE" "set portlist 1,2"
	tp_cmd "$FE" "start tx_first 1" 'io packet forwarding|already started' 1 10 >/dev/null || die "learn failed"
	sleep 0.2
	fwd stop
}
seed_loop() {  # SIZE
	tp_send "$FE" "set txpkts $1"
	tp_send "$FE" "set portlist 0,2"
	tp_cmd "$FE" "start tx_first $INFLIGHT" 'io packet forwarding|already started' 1 10 >/dev/null || die "seed failed"
	sleep 0.2
	fwd stop
	tp_send "$FE" "set portlist 1,0,2"
	fwd start
}
drain_loop() {
	fwd stop
	tp_send "$FE" "set portlist 1,2"
	fwd start
	sleep 0.5
	fwd stop
}

# ---------------------------------------------------------------- one run
CSV=$OUT/runs.csv
SLICES_CSV=$OUT/slices.csv   # each slice's figures, the speed probed before it; duel: backends|load
echo "pair,duel,size,load,slice,backend,xcore_ns,mpps,ns_pkt" >"$SLICES_CSV"
echo "pair,backend,idle_cores,mpps64,drop64,ns_pkt64,bk_cores64,bk_wait64,fe_wait64,mpps25,load25,ns_pkt25,bk_cores25,bk_wait25,gbps1518,mpps1518,drop1518,ns_pkt1518,bk_cores1518,bk_wait1518,fe_wait1518,mpps64many,ns_pkt64many,bk_wait64many,xcore_ns,xcore64,xcore25,xcore1518,xcore64many,mpps64near,ns_pkt64near,xcore64near,mpps64beside25,ns_pkt64beside25" >"$CSV"

# many_ports_window PAIR LABEL DIR: the 64 B loop again with MANY_PORTS - 2 more ports of
# MANY_QPS queue pairs each added at run time and held by connected idle frontends
# (bench/idle-ports), so the worker has every one of their rings to watch. Ours only: the
# figure is priced against our own 2-port run (issue 3, target 5). Called with the loop
# seeded and stopped; prints the window's figures and the speed probed right before it.
many_ports_window() {
	local pair=$1 label=$2 d=$3 n=$((MANY_PORTS - 2)) i line="" r xs
	for ((i = 0; i < n; i++)); do
		"$OURS_CTL" -s "$d/ctl.sock" port add "m$i" --path "$d/m$i.sock" --queues "$MANY_QPS" >/dev/null ||
			die "port add m$i failed"
	done
	mkfifo "$d/idle.in"
	"$IDLE_PORTS_BIN" "$d" m "$n" "$MANY_QPS" <"$d/idle.in" >"$d/idle.out" 2>"$d/idle.log" &
	local ipid=$!
	exec {IDLE_FD}>"$d/idle.in"
	for ((i = 0; i < 300; i++)); do
		[ ! -s "$d/idle.out" ] || read -r line <"$d/idle.out" || true
		[ "$line" = "ready $n" ] && break
		kill -0 "$ipid" 2>/dev/null || die "idle-ports exited (log: $d/idle.log)"
		sleep 0.1
	done
	[ "$line" = "ready $n" ] || die "idle frontends not ready in 30 s (log: $d/idle.log)"
	xs=$(speed_now)
	fwd start
	sleep "$WARMUP"
	r=$(window "pair $pair $label 64B, $MANY_PORTS ports x $MANY_QPS queue pairs" "$DURATION")
	exec {IDLE_FD}>&-
	wait "$ipid" 2>/dev/null || true
	for ((i = 0; i < n; i++)); do
		"$OURS_CTL" -s "$d/ctl.sock" port del "m$i" >/dev/null || true
	done
	echo "$r ${xs:-na}"
}

# speed_now: the machine's speed right before one of our windows (xcore-probe), taken with the
# loop stopped, so that both CPUs are free: our worker sleeps when no frame comes. The
# reference's lcore spins on BK_CPU whatever the traffic, so its windows get "na". Targets 4
# and 5 compare two of our windows a minute apart, and the speed can change in between.
speed_now() {
	if [ "$BKKIND" = testpmd ]; then echo na; return; fi
	sleep 0.01   # our worker polls 200 us after the last frame before it sleeps
	"$RUN/xcore-probe" "$FE_CPU" "$BK_CPU" | sed -n 's/^xcore_ns=//p'
}

# ---------------------------------------------------------------- one run, in stages
# A run of one side (ours or ref) is: run_up (backend, frontend, idle CPU, learning), its
# full-load windows at 64 B and 1518 B, run_25 (64 B at ~25% load), run_many (ours only) and
# run_down (stop everything, write its CSV row). Its figures are kept in R[KIND.key] between
# stages.
#
# By default both sides are up at once and their full-load windows are duels: each side's
# window is cut into SLICES slices and the slices alternate between the sides (ours ref, ref
# ours, ours ref, ...), the side not measuring stopped with SIGSTOP, its loop frozen in flight.
# This machine's speed changes between windows seconds to a minute apart
# (docs/performance.md); in a duel both sides sample the same stretch of it. With --sequential
# each side runs all of its windows alone: ours', then ref's.
declare -A R=()

side_freeze() {  # stop the side where it is: its loop goes on from there when resumed
	[ -n "$BKPID" ] || return 0
	kill -STOP "${TP_PID[$FE]:-}" "$BKPID" 2>/dev/null || true
}
side_pause() {  # stop the side's traffic, then the side
	[ -n "$BKPID" ] || return 0
	fwd stop
	side_freeze
}
side_resume() {
	[ -n "$BKPID" ] || return 0
	kill -CONT "$BKPID" 2>/dev/null || true
	[ -z "${TP_PID[$FE]:-}" ] || kill -CONT "${TP_PID[$FE]}" 2>/dev/null || true
}

run_up() {  # PAIR KIND
	local pair=$1 kind=$2 label=$2 d xcore idle
	[ "$kind" = ours ] && [ "$STANDIN" = 1 ] && label=ours-standin
	d=$RUN/p$pair-$kind
	mkdir -p "$d"
	# The machine's speed for this run (bench/xcore-probe.c), while both CPUs are still free.
	xcore=$("$RUN/xcore-probe" "$FE_CPU" "$BK_CPU" | sed -n 's/^xcore_ns=//p')
	note "pair $pair $label: a cache line moves between the CPUs in ${xcore} ns"
	start_backend "$kind" "$d"
	start_frontend "$d"
	idle=$(idle_cpu "$IDLE")
	note "pair $pair $label: idle backend ${idle} cores over ${IDLE} s"
	learn
	# a record that the switch learned MAC1 on b, so the loop below is unicast, not flooding
	if [ "$BKKIND" = daemon ] && [ -x "$OURS_CTL" ]; then
		timeout 10 "$OURS_CTL" -s "$d/ctl.sock" fdb >"$d/fdb.log" 2>&1 || true
	fi
	R[$kind.label]=$label R[$kind.d]=$d R[$kind.xcore]=${xcore:-na} R[$kind.idle]=$idle
	R[$kind.r25]="na na na na na na na" R[$kind.xs25]=na R[$kind.r25full]="na na na na na na na"
	R[$kind.rnear]="na na na na na na na" R[$kind.xsnear]=na
	R[$kind.rmany]="na na na na na na na" R[$kind.xsmany]=na
}

run_full() {  # PAIR KIND SIZE: this side's full-load window of SIZE, alone (--sequential)
	local pair=$1 kind=$2 size=$3
	R[$kind.xs$size]=$(speed_now)
	seed_loop "$size"
	sleep "$WARMUP"
	R[$kind.r$size]=$(window "pair $pair ${R[$kind.label]} ${size}B" "$DURATION")
	drain_loop
}

# A way of running one side in alternate(): "SIDE:full" (its loop unthrottled) or "SIDE:25"
# (its frontend held to the CPU quota calibrated by run_25).
way_on() {  # WAY: select its side, set its load, resume it
	use_side "${1%%:*}"
	if [ "${1#*:}" = 25 ]; then cg_throttle on "${TP_PID[$FE]}"; else cg_throttle off "${TP_PID[$FE]}" || true; fi
	side_resume
}

# alternate PAIR SIZE WAY_A WAY_B: SLICES slices of each way, in the order A B, B A, A B, ...
# (every side frozen on entry and on return). The speed is probed before each pair of slices,
# with everything stopped. Each way's sums go to R[WAY.w], its probes to R[WAY.xslices], each
# slice's figures to slices.csv.
alternate() {
	local pair=$1 size=$2 a=$3 b=$4 s xs order w slice t0 rx0 bkr0 mpps nspp what=backends
	[ "${a%%:*}" != "${b%%:*}" ] || what=load
	slice=$(awk -v d="$DURATION" -v n="$SLICES" 'BEGIN {printf "%.3f", d / n}')
	R[$a.w]="0 0 0 0 0 0 0" R[$b.w]="0 0 0 0 0 0 0" R[$a.xslices]="" R[$b.xslices]=""
	for ((s = 0; s < SLICES; s++)); do
		order="$a $b"
		[ $((s % 2)) = 0 ] || order="$b $a"
		xs=$("$RUN/xcore-probe" "$FE_CPU" "$BK_CPU" | sed -n 's/^xcore_ns=//p')
		for w in $order; do
			way_on "$w"
			sleep "$SETTLE"
			read -r W_T W_TX W_RX W_RB W_BKR W_BKW W_FEW <<<"${R[$w.w]}"
			t0=$W_T rx0=$W_RX bkr0=$W_BKR
			w_add "$slice"
			R[$w.w]="$W_T $W_TX $W_RX $W_RB $W_BKR $W_BKW $W_FEW"
			R[$w.xslices]+="$xs "
			side_freeze
			read -r mpps nspp < <(awk -v dt=$((W_T - t0)) -v rx=$((W_RX - rx0)) -v bkr=$((W_BKR - bkr0)) \
				'BEGIN {printf "%.4f %.1f\n", rx / dt, rx ? bkr / rx : 0}')
			echo "$pair,$what,$size,${w#*:},$((s + 1)),${R[${w%%:*}.label]},$xs,$mpps,$nspp" >>"$SLICES_CSV"
			note "pair $pair ${R[${w%%:*}.label]} ${size}B ${w#*:} slice $((s + 1)) (probe $xs ns):" \
				"$mpps Mpps, $nspp ns/pkt"
			[ "$what" != load ] || steer_quota "${w#*:}" "$mpps"
		done
	done
}

way_figures() {  # WAY NAME: that way's figures (as w_figures) from its slices
	read -r W_T W_TX W_RX W_RB W_BKR W_BKW W_FEW <<<"${R[$1.w]}"
	w_figures "$2, $SLICES slices (speed probed before each: ${R[$1.xslices]% })"
}
way_speed() {  # WAY: the median of the speeds probed before its slices
	tr ' ' '\n' <<<"${R[$1.xslices]}" | sed '/^$/d' | sort -g |
		awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : "na"}'
}

duel() {  # PAIR SIZE: both sides' full-load windows of SIZE, in alternating slices
	local pair=$1 size=$2 k
	for k in ours ref; do
		use_side "$k"
		side_resume
		seed_loop "$size"
		sleep "$WARMUP"
		side_freeze
	done
	alternate "$pair" "$size" ours:full ref:full
	for k in ours ref; do
		use_side "$k"
		side_resume
		R[$k.r$size]=$(way_figures "$k:full" "pair $pair ${R[$k.label]} ${size}B")
		R[$k.xs$size]=$(way_speed "$k:full")
		drain_loop
		side_pause
	done
}

# steer_quota LOAD MPPS, after a slice of a load duel: a full-load slice's rate is the peak
# the next 25% slice aims at; after a 25% slice, the quota (Q25) is steered towards LOAD_PCT
# of that peak. The frontend's rate under a quota drifts with the machine's speed.
steer_quota() {
	if [ "$1" = full ]; then PEAK25=$2; return 0; fi
	Q25=$(next_quota "$Q25" "$2" "$PEAK25")
	cg_quota "$Q25"
}
# next_quota QUOTA MPPS PEAK: the quota (% of a core) that would have made MPPS LOAD_PCT% of
# PEAK, taking the rate as proportional to the quota near the point measured
next_quota() {
	awk -v q="$1" -v r="$2" -v peak="$3" -v want="$LOAD_PCT" 'BEGIN {
		n = (r > 0) ? q * want / 100 * peak / r : q; if (n > 100) n = 100; if (n < 5) n = 5
		printf "%d\n", n + 0.5 }'
}

# run_25 PAIR KIND: 64 B at about LOAD_PCT% of this side's own 64 B peak. Unless --sequential,
# its slices alternate with slices at full load (the quota lifted) in the same loop: target 4
# compares the two, and they must share the machine's speed; the quota is steered slice by
# slice towards LOAD_PCT of the full-load slice before (steer_quota).
run_25() {
	local pair=$1 kind=$2 label=${R[$2.label]} peak q k
	peak=${R[$kind.r64]%% *}
	[ "$SEQUENTIAL" = 0 ] || R[$kind.xs25]=$(speed_now)
	seed_loop 64
	if cg_throttle on "${TP_PID[$FE]}"; then
		# The frontend's rate is not proportional to its quota (it shares the machine, and
		# ring effects), so steer the quota towards LOAD_PCT of the peak first.
		q=$LOAD_PCT
		for ((k = 0; k < CALIB_STEPS; k++)); do
			cg_quota "$q"
			sleep 0.5
			q=$(next_quota "$q" "$(window "pair $pair $label calibrate quota ${q}%" 1 | cut -d' ' -f1)" "$peak")
		done
		cg_quota "$q"
		sleep "$WARMUP"
		if [ "$SEQUENTIAL" = 1 ]; then
			R[$kind.r25]=$(window "pair $pair $label 64B@${LOAD_PCT}% (quota ${q}%)" "$DURATION")
		else
			side_freeze
			Q25=$q PEAK25=$peak
			alternate "$pair" 64 "$kind:25" "$kind:full"
			side_resume
			R[$kind.r25]=$(way_figures "$kind:25" "pair $pair $label 64B@${LOAD_PCT}% (quota ${q}% steered to ${Q25}%)")
			R[$kind.r25full]=$(way_figures "$kind:full" "pair $pair $label 64B at full load, beside it")
			R[$kind.xs25]=$(way_speed "$kind:25")
		fi
		cg_throttle off "${TP_PID[$FE]}"
	fi
	drain_loop
}

# Last, so that it cannot touch the standard figures: in a first full run 4 of the 7 1518 B
# windows that followed it ran in the machine's slow mode, against 1 of 12 in quick runs
# without it. Its 2-port figure is measured right before it, in the same loop: the speed of
# this machine changes between windows a minute apart (docs/performance.md).
run_many() {  # PAIR KIND
	local pair=$1 kind=$2 label=${R[$2.label]} r
	[ "$BKKIND" = daemon ] && [ "$MANY_PORTS" -gt 2 ] && [ -x "$IDLE_PORTS_BIN" ] || return 0
	R[$kind.xsnear]=$(speed_now)
	seed_loop 64
	sleep "$WARMUP"
	R[$kind.rnear]=$(window "pair $pair $label 64B, 2 ports, before the $MANY_PORTS-port window" "$DURATION")
	fwd stop
	r=$(many_ports_window "$pair" "$label" "${R[$kind.d]}")
	R[$kind.xsmany]=${r##* }
	R[$kind.rmany]=${r% *}
}

run_down() {  # PAIR KIND
	local pair=$1 kind=$2 label=${R[$2.label]} d=${R[$2.d]} f
	fwd stop
	tp_stop "$FE"
	stop_backend
	for f in "$d"/*.log "$d"/*.cmd; do
		[ ! -e "$f" ] || cp "$f" "$OUT/logs/p$pair-$label-$(basename "$f")"
	done
	python3 - "$pair" "$label" "${R[$kind.idle]}" "${R[$kind.r64]}" "${R[$kind.r25]}" \
		"${R[$kind.r1518]}" "${R[$kind.rmany]}" "${R[$kind.xcore]}" "${R[$kind.xs64]:-na}" \
		"${R[$kind.xs25]}" "${R[$kind.xs1518]:-na}" "${R[$kind.xsmany]}" "${R[$kind.rnear]}" \
		"${R[$kind.xsnear]}" "${R[$kind.r25full]}" >>"$CSV" <<'EOF'
import sys
pair, label, idle, r64, r25, r1518, rmany, xcore = sys.argv[1:9]
speeds = sys.argv[9:13]
a, b, c, m, n = r64.split(), r25.split(), r1518.split(), rmany.split(), sys.argv[13].split()
f = sys.argv[15].split()
# window: mpps gbps drop ns_per_pkt bk_cores bk_wait fe_wait
# the load reached: against the full-load slices beside the 25% ones, else the 64 B window
full = f[0] if f[0] != "na" else a[0]
load = "%.3f" % (float(b[0]) / float(full)) if b[0] != "na" and float(full) > 0 else "na"
print(",".join([pair, label, idle, a[0], a[2], a[3], a[4], a[5], a[6],
                b[0], load, b[3], b[4], b[5],
                c[1], c[0], c[2], c[3], c[4], c[5], c[6], m[0], m[3], m[5], xcore] + speeds +
               [n[0], n[3], sys.argv[14], f[0], f[3]]))
EOF
	awk -F, 'END {printf "pair %s %-12s 64B %7.3f Mpps %6.1f ns/pkt | %s%% load %s Mpps %s ns/pkt | 1518B %6.2f Gbit/s | idle %s cores\n", $1, $2, $4, $6, '"$LOAD_PCT"', $10, $12, $15, $3}' "$CSV"
}

one_pair() {  # PAIR
	local p=$1 k
	if [ "$SEQUENTIAL" = 1 ]; then
		for k in ours ref; do
			use_side "$k"
			run_up "$p" "$k"
			run_full "$p" "$k" 64
			run_25 "$p" "$k"
			run_full "$p" "$k" 1518
			run_many "$p" "$k"
			run_down "$p" "$k"
		done
		return 0
	fi
	for k in ours ref; do
		use_side "$k"
		run_up "$p" "$k"
		side_pause
	done
	duel "$p" 64
	for k in ours ref; do
		use_side "$k"
		side_resume
		run_25 "$p" "$k"
		side_pause
	done
	duel "$p" 1518
	for k in ours ref; do
		use_side "$k"
		side_resume
		run_many "$p" "$k"
		run_down "$p" "$k"
	done
}

# ---------------------------------------------------------------- main
{
	echo "date: $(date -Is)"
	echo "host: $(uname -n) kernel $(uname -r)"
	echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) CPUs online"
	echo "dpdk-testpmd: $(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || echo unknown)"
	echo "command: bench/run.sh ${ARGS[*]}"
	echo "ours: ${OURS_BIN:-standin}$([ -n "$OURS_BIN" ] && git -C "$(dirname "$OURS_BIN")" describe --always --dirty 2>/dev/null | sed 's/^/ at /')"
	[ -z "$AGAINST_BIN" ] || echo "against (in the reference slot): $AGAINST_BIN$(git -C "$(dirname "$AGAINST_BIN")" describe --always --dirty 2>/dev/null | sed 's/^/ at /')"
	if [ "$SEQUENTIAL" = 1 ]; then echo "windows: sequential (ours' windows, then ref's)"
	else echo "windows: duels of $SLICES slices a side, ${SETTLE} s to settle after a side resumes"; fi
	echo "fe_cpu=$FE_CPU bk_cpu=$BK_CPU pairs=$PAIRS idle_s=$IDLE warmup_s=$WARMUP duration_s=$DURATION inflight=$((INFLIGHT * 32)) load=${LOAD_PCT}% (cfs quota, period ${CG_PERIOD_US} us)"
} | tee "$OUT/machine.txt" | sed 's/^/# /' >&2

cc -O2 -std=gnu11 -Wall -Wextra -o "$RUN/memcpy-bench" "$HERE/memcpy-bench.c"
cc -O2 -std=gnu11 -Wall -Wextra -pthread -o "$RUN/xcore-probe" "$HERE/xcore-probe.c"
MC_ARGS=()
[ "$QUICK" = 1 ] && MC_ARGS=(--quick)
taskset -c "$BK_CPU" "$RUN/memcpy-bench" "${MC_ARGS[@]}" >"$OUT/memcpy.txt"
cg_setup

for ((p = 1; p <= PAIRS; p++)); do
	one_pair "$p"
done

python3 "$HERE/summarize.py" "$OUT" | tee "$OUT/table.txt"
echo "results: $OUT"
