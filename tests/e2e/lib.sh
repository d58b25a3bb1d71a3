# shellcheck shell=bash
# Shared by the e2e tests: the real daemon, real QEMU TCG guests (tests/guest), markers.
#
# A test sources this file, calls e2e_begin, starts the daemon, boots guests in parallel with
# boot_guest, waits for them with wait_guests, then judges what the guests printed (guest_mark)
# and what the daemon counted (ctl). Everything it started is stopped on exit; the run directory
# (logs, serial consoles) is kept when the test fails, or always with VLB_KEEP=1.
#
# Env: VHOST_LB_BIN, VHOST_LB_CTL, VHOST_LB_SRCDIR, VHOST_LB_BUILDDIR (set by meson),
#      CI=true        a missing prerequisite fails instead of skipping
#      VLB_KEEP=1     keep the run directory
#      VLB_LOCK_WAIT  seconds to wait for the machine-wide QEMU lock (default 900)
#      VLB_E2E_STANDIN=testpmd   debugging aid for the guest side: dpdk-testpmd (io forwarding)
#                     replaces the daemon, the daemon-specific checks are skipped and the test
#                     exits 77 however it went, so a stand-in run never counts as a pass
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=${VHOST_LB_SRCDIR:-$(cd "$E2E_DIR/../.." && pwd)}
GUEST_DIR=$SRCDIR/tests/guest
QEMU_LOCK=/tmp/vhost-lb-qemu.lock
STANDIN=${VLB_E2E_STANDIN:-}

RUN=""
CTL=""
IMAGE=""
DAEMON_PID=""
STANDIN_FIFO_OPEN=0
declare -A GUEST_PID=()
declare -A GUEST_DONE=()
# Commands e2e_cleanup runs (eval) once the guests and the daemon are gone: a test's own
# resources, such as a network namespace.
E2E_ON_EXIT=()
E2E_OK=0
T0=${EPOCHREALTIME/./}

elapsed() {
	local d=$((${EPOCHREALTIME/./} - T0))
	printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10))
}

log() {
	printf '[%5ss] %s\n' "$(elapsed)" "$*"
}

fail() {
	log "FAIL: $*"
	exit 1
}

# A missing prerequisite skips the test on a developer's machine and fails it under CI.
missing() {
	if [ "${CI:-}" = true ]; then
		log "FAIL (CI=true): missing prerequisite: $*"
		exit 1
	fi
	log "SKIP: missing prerequisite: $*"
	exit 77
}

e2e_require() {
	local p v
	[ "$(id -u)" = 0 ] || missing "root (vhost-user sockets, memfd guests)"
	for p in qemu-system-x86_64 busybox cpio python3 flock timeout readelf modinfo; do
		command -v "$p" >/dev/null || missing "$p (run scripts/setup-host.sh)"
	done
	# QEMU 7.2 crashes under TCG with vhost-user and MSI-X; bookworm-backports has 10.x.
	v=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | sed -n 1p)
	[ "${v:-0}" -ge 8 ] || missing "QEMU >= 8 (have ${v:-?}; scripts/setup-host.sh installs backports)"
	dpkg-query -W linux-image-amd64 >/dev/null 2>&1 || missing "linux-image-amd64"
	if [ "$STANDIN" = testpmd ]; then
		command -v dpdk-testpmd >/dev/null || missing "dpdk-testpmd"
		return 0
	fi
	[ -x "${VHOST_LB_BIN:-}" ] || missing "the daemon (VHOST_LB_BIN='${VHOST_LB_BIN:-}')"
	[ -x "${VHOST_LB_CTL:-}" ] || missing "the control client (VHOST_LB_CTL='${VHOST_LB_CTL:-}')"
}

# e2e_begin NAME: run directory, cleanup trap, the machine-wide QEMU lock, the guest image.
e2e_begin() {
	e2e_require
	RUN=$(mktemp -d "/tmp/vlb-e2e-$1.XXXXXX")
	CTL=$RUN/ctl.sock
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	log "run directory $RUN${STANDIN:+ (STAND-IN backend: $STANDIN)}"
	# One QEMU suite at a time on this machine. Children inherit the descriptor: a QEMU that
	# outlived us still holds the lock, which is what the lock means.
	exec 9>"$QEMU_LOCK"
	if ! flock -n 9; then
		log "waiting for $QEMU_LOCK (another QEMU test is running)"
		flock -w "${VLB_LOCK_WAIT:-900}" 9 || fail "timed out waiting for $QEMU_LOCK"
		log "got $QEMU_LOCK"
	fi
	IMAGE=$("$GUEST_DIR/mkguest.sh") || fail "cannot build the guest image"
	log "guest image $IMAGE (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}

e2e_cleanup() {
	local rc=$? name
	trap - EXIT INT TERM HUP
	# Best effort from here on: a process that is already gone must not stop the rest.
	set +e
	if [ "$rc" = 0 ] && [ "$E2E_OK" != 1 ]; then
		log "FAIL: the test ended without reaching e2e_pass"
		rc=1
	fi
	for name in "${!GUEST_PID[@]}"; do
		kill "${GUEST_PID[$name]}" 2>/dev/null || true
	done
	for name in "${!GUEST_PID[@]}"; do
		reap "${GUEST_PID[$name]}" 5 || true
	done
	if [ -n "$DAEMON_PID" ]; then
		if [ "$STANDIN_FIFO_OPEN" = 1 ]; then
			echo >&8 || true
		else
			kill -TERM "$DAEMON_PID" 2>/dev/null || true
		fi
		reap "$DAEMON_PID" 5 || true
	fi
	for name in "${E2E_ON_EXIT[@]}"; do
		eval "$name" || true
	done
	if [ "$rc" != 0 ] && [ -n "$RUN" ]; then
		dump_logs
	fi
	if [ "$STANDIN" = testpmd ] && [ "$rc" = 0 ]; then
		log "stand-in backend: the guest side passed; exiting 77 since the daemon was not tested"
		rc=77
	fi
	if [ -n "$RUN" ]; then
		if [ "$rc" = 0 ] && [ "${VLB_KEEP:-0}" != 1 ]; then
			rm -rf "$RUN"
		else
			log "logs kept in $RUN"
		fi
	fi
	exit "$rc"
}

# reap PID SECS: wait for a process we started to exit, SIGKILL it after SECS.
reap() {
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

dump_logs() {
	local f
	for f in "$RUN"/*.serial; do
		[ -e "$f" ] || continue
		echo "----- $(basename "$f") (last 40 lines) -----"
		tail -n 40 "$f" | tr -d '\r'
	done
	for f in "$RUN"/*.qemu.log "$RUN/daemon.log" "$RUN/testpmd.log" "$RUN"/*.host.log; do
		[ -s "$f" ] || continue
		echo "----- $(basename "$f") (last 30 lines) -----"
		tail -n 30 "$f"
	done
}

# wait_for SECS DESCRIPTION COMMAND...: poll COMMAND every 0.1 s until it succeeds; the limit
# is wall time, as each poll may itself take a while on a loaded machine.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
	until "$@"; do
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
		sleep 0.1
	done
}

daemon_alive() {
	[ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null
}

daemon_ready() {
	daemon_alive || fail "the daemon exited during start-up"
	grep -qw ready "$RUN/daemon.log"
}

# start_daemon ARGS...: the real daemon (VHOST_LB_BIN) with ARGS; waits for its "ready".
start_daemon() {
	if [ "$STANDIN" = testpmd ]; then
		start_testpmd "$@"
		return
	fi
	log "daemon: $(basename "$VHOST_LB_BIN") $*"
	"$VHOST_LB_BIN" "$@" </dev/null >"$RUN/daemon.log" 2>&1 9>&- &
	DAEMON_PID=$!
	wait_for 20 "the daemon to print 'ready'" daemon_ready
	log "daemon ready (pid $DAEMON_PID)"
}

# stop_daemon: SIGTERM, then judge how it ended. A crash anywhere in the test fails it.
stop_daemon() {
	local st=0
	[ -n "$DAEMON_PID" ] || return 0
	if [ "$STANDIN" = testpmd ]; then
		if [ "$STANDIN_FIFO_OPEN" = 1 ]; then
			# A line on testpmd's stdin stops it and makes it print its port statistics.
			echo >&8 || true
			exec 8>&-
			STANDIN_FIFO_OPEN=0
		fi
		reap "$DAEMON_PID" 5 || true
		DAEMON_PID=""
		return 0
	fi
	if ! daemon_alive; then
		wait "$DAEMON_PID" || st=$?
		DAEMON_PID=""
		fail "the daemon died during the test (exit status $st)"
	fi
	kill -TERM "$DAEMON_PID"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -9 "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
		DAEMON_PID=""
		fail "the daemon did not exit within 10 s of SIGTERM"
	fi
	wait "$DAEMON_PID" || st=$?
	DAEMON_PID=""
	case "$st" in
	0 | 143) log "daemon stopped (exit status $st)" ;;
	*) fail "the daemon ended with status $st on SIGTERM" ;;
	esac
}

# Stand-in backend: one net_vhost vdev per --port spec, io forwarding between port 0 and 1.
start_testpmd() {
	local vdevs=() socks=() n=0 q=1 spec name path client prefix
	while [ $# -gt 0 ]; do
		case "$1" in
		--port)
			spec=$2
			shift
			name=${spec%%,*} path=$RUN/$name.sock client=""
			case ",$spec," in *,path=*) path=${spec#*path=} path=${path%%,*} ;; esac
			case ",$spec," in *,mode=client,*) client=",client=1" ;; *) socks+=("$path") ;; esac
			case ",$spec," in *,queues=*) q=${spec#*queues=} q=${q%%,*} ;; esac
			vdevs+=(--vdev "net_vhost$n,iface=$path,queues=$q$client")
			n=$((n + 1))
			;;
		--socket-dir | --ctl-socket) shift ;;
		esac
		shift
	done
	prefix=vlb-e2e-$(basename "$RUN")
	mkfifo "$RUN/testpmd.stdin"
	# testpmd without a terminal stops when its stdin ends: hold the fifo open.
	exec 8<>"$RUN/testpmd.stdin"
	STANDIN_FIFO_OPEN=1
	log "STAND-IN: dpdk-testpmd ${vdevs[*]}"
	stdbuf -oL dpdk-testpmd -l 0,1 --no-pci --no-huge -m 256 --no-shconf --no-telemetry \
		--file-prefix="$prefix" "${vdevs[@]}" -- --forward-mode=io --auto-start \
		--rxq="$q" --txq="$q" --nb-cores=1 --total-num-mbufs=16384 \
		<"$RUN/testpmd.stdin" >"$RUN/testpmd.log" 2>&1 9>&- &
	DAEMON_PID=$!
	wait_for 20 "testpmd's sockets" sockets_exist "${socks[@]}"
}

sockets_exist() {
	local s
	daemon_alive || fail "the backend exited during start-up"
	for s in "$@"; do
		[ -S "$s" ] || return 1
	done
}

standin() {
	[ -n "$STANDIN" ]
}

# ctl ARGS...: the control client against this test's daemon.
ctl() {
	timeout 10 "$VHOST_LB_CTL" -s "$CTL" "$@"
}

# boot_guest NAME BOOT-GUEST-ARGS...: start a guest in the background (serial in RUN/NAME.serial).
boot_guest() {
	local name=$1
	shift
	VHOST_LB_QEMU_LOCKED=1 "$GUEST_DIR/boot-guest.sh" --image "$IMAGE" --name "vlb-e2e-$name" \
		--serial "$RUN/$name.serial" "$@" </dev/null >"$RUN/$name.qemu.log" 2>&1 &
	GUEST_PID[$name]=$!
	GUEST_DONE[$name]=""
	log "guest $name: QEMU pid ${GUEST_PID[$name]} ($*)"
}

# guest_lines NAME: the guest's markers, without the "VLB: " prefix and the uptime suffix.
guest_lines() {
	[ -e "$RUN/$1.serial" ] || return 0
	tr -d '\r' <"$RUN/$1.serial" | sed -n 's/^VLB: \(.*\) t=[0-9.]*$/\1/p'
}

# guest_mark NAME KEY: the rest of the last marker line "KEY rest" (empty if none).
guest_mark() {
	guest_lines "$1" | sed -n "s/^$2 //p" | tail -n 1
}

# guest_field NAME KEY FIELD: value of FIELD=value in the last "KEY ..." marker.
guest_field() {
	guest_mark "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p" | tail -n 1
}

# wait_guests SECS NAME...: wait until every guest ran its test script and powered off.
# Fails fast when a test script fails or a QEMU exits without its guest having powered off.
wait_guests() {
	local secs=$1 deadline name pid rc shown err
	shift
	deadline=$((${EPOCHREALTIME/./} + secs * 1000000))
	declare -A shown_up=()
	while :; do
		local running=0
		for name in "$@"; do
			pid=${GUEST_PID[$name]}
			if [ -z "${shown_up[$name]:-}" ] && guest_lines "$name" | grep -q '^eth0 up'; then
				shown_up[$name]=1
				log "guest $name: $(guest_lines "$name" | grep '^eth0 up' | tail -n 1)"
			fi
			err=$(guest_mark "$name" error)
			[ -z "$err" ] || fail "guest $name: $err"
			rc=$(guest_mark "$name" "test" | sed -n 's/^rc=//p')
			if [ -n "$rc" ] && [ "$rc" != 0 ]; then
				fail "guest $name: its test script failed (rc=$rc)"
			fi
			if [ -z "${GUEST_DONE[$name]}" ] && guest_lines "$name" | grep -q '^poweroff'; then
				GUEST_DONE[$name]=${EPOCHREALTIME/./}
				log "guest $name: powered off ($(guest_mark "$name" poweroff))"
			fi
			if kill -0 "$pid" 2>/dev/null; then
				running=1
				# A guest can hang in its poweroff path under TCG; its work is done anyway.
				shown=${GUEST_DONE[$name]}
				if [ -n "$shown" ] && [ $((${EPOCHREALTIME/./} - shown)) -gt 10000000 ]; then
					log "guest $name: QEMU still running 10 s after poweroff, killing it"
					kill "$pid" 2>/dev/null || true
				fi
			elif [ -z "${GUEST_DONE[$name]}" ]; then
				rc=0
				wait "$pid" || rc=$?
				fail "guest $name: QEMU exited with status $rc before the guest powered off"
			fi
		done
		[ "$running" = 1 ] || break
		if ! standin && ! daemon_alive; then
			fail "the daemon died while the guests were running"
		fi
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "guests $* still running after ${secs}s"
		sleep 0.2
	done
	for name in "$@"; do
		wait "${GUEST_PID[$name]}" 2>/dev/null || true
		unset "GUEST_PID[$name]"
	done
}

# check DESCRIPTION COMMAND...: one assertion, logged either way.
check() {
	local what=$1
	shift
	if "$@"; then
		log "ok: $what"
	else
		fail "$what"
	fi
}

# stream_field GUEST stream-tx|stream-rx PORT FIELD: FIELD of that guest's stream marker.
stream_field() {
	guest_lines "$1" | sed -n "s/^$2 port=$3 //p" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$4=//p"
}

# check_stream FROM TO PORT BYTES: what FROM sent to TO:PORT arrived whole and unchanged.
check_stream() {
	local from=$1 to=$2 port=$3 bytes=$4 txsum rxsum txb rxb
	txsum=$(stream_field "$from" stream-tx "$port" sha256)
	rxsum=$(stream_field "$to" stream-rx "$port" sha256)
	txb=$(stream_field "$from" stream-tx "$port" bytes)
	rxb=$(stream_field "$to" stream-rx "$port" bytes)
	check "TCP stream $from -> $to:$port: sent ${txb:-nothing}, received ${rxb:-nothing} bytes, sha256 ${txsum:0:12}.. / ${rxsum:0:12}.." \
		all_equal "$bytes" "${txb:-x}" "${rxb:-y}" -- "${txsum:-x}" "${rxsum:-y}"
}

# all_equal A B... [-- C D...]: each group's words are all the same.
all_equal() {
	local first="" w
	for w in "$@"; do
		if [ "$w" = -- ]; then
			first=""
		elif [ -z "$first" ]; then
			first=$w
		elif [ "$w" != "$first" ]; then
			return 1
		fi
	done
}

# at_least_pairs A1 B1 A2 B2...: every An >= Bn (integers).
at_least_pairs() {
	while [ $# -ge 2 ]; do
		at_least "$1" "$2" || return 1
		shift 2
	done
}

# at_least A B: integers, A >= B.
at_least() {
	[[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]
}

# stats_snapshot: the daemon's counters (`stats --json`) into RUN/stats.json, and flattened into
# RUN/stats.txt as "PORT KEY VALUE" lines: the port's scalar fields, and "rx.qN" / "tx.qN" for
# queue pair N's packets in each direction. The queue "index" is the virtqueue index, so pair N
# is virtqueues 2N (receiveq, dir tx) and 2N+1 (transmitq, dir rx) (virtio 1.2, 5.1.2).
stats_snapshot() {
	ctl --json stats >"$RUN/stats.json" || fail "vhost-user-lbctl stats failed"
	python3 - "$RUN/stats.json" >"$RUN/stats.txt" <<'PY' || fail "cannot parse the stats JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
for port in doc["ports"]:
    name = port["name"]
    for key, value in port.items():
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            print(name, key, value)
    for q in port.get("queues", []):
        print(name, "%s.q%d" % (q["dir"], q["index"] // 2), q["packets"])
PY
}

# port_stat NAME KEY: KEY of port NAME in the last snapshot (empty if absent).
port_stat() {
	awk -v p="$1" -v k="$2" '$1 == p && $2 == k { print $3 }' "$RUN/stats.txt"
}

# check_port_counters NAME...: the daemon saw at least every frame each guest counted on its eth0
# (the guests take their numbers before their last few frames).
check_port_counters() {
	local g rx tx grx gtx
	if standin; then
		log "STAND-IN: daemon port counters not checked"
		return 0
	fi
	stats_snapshot
	for g in "$@"; do
		rx=$(port_stat "$g" rx_packets)
		tx=$(port_stat "$g" tx_packets)
		gtx=$(guest_field "$g" eth0-stats tx_packets)
		grx=$(guest_field "$g" eth0-stats rx_packets)
		check "port $g: daemon rx_packets=${rx:-?} >= guest tx_packets=${gtx:-?}, daemon tx_packets=${tx:-?} >= guest rx_packets=${grx:-?}" \
			at_least_pairs "$rx" "$gtx" "$tx" "$grx" "$gtx" 1
	done
}

# check_queue_counters NQ NAME...: on every port, queue pairs 0..NQ-1 each carried frames in
# both directions.
check_queue_counters() {
	local nq=$1 g dir q counts n
	shift
	if standin; then
		log "STAND-IN: daemon queue counters not checked"
		return 0
	fi
	stats_snapshot
	for g in "$@"; do
		for dir in rx tx; do
			counts=$(awk -v p="$g" -v d="$dir" '$1 == p && index($2, d ".q") == 1 {
				printf "%s=%s ", substr($2, length(d) + 3), $3 }' "$RUN/stats.txt")
			for ((q = 0; q < nq; q++)); do
				n=$(port_stat "$g" "$dir.q$q")
				check "port $g: $dir queue $q carried ${n:-no} packets (all $dir queues: ${counts:-none})" \
					at_least "${n:-x}" 1
			done
		done
	done
}

e2e_pass() {
	stop_daemon
	E2E_OK=1
	log "PASS"
}

# guest_send NAME LINE: one command line to guest NAME's control port (boot_guest ... --control
# RUN/NAME.ctl, guest script guest-ctl.sh); returns once the guest acknowledged it on its console
# ("cmd LINE" in RUN/NAME.serial).
guest_send() {
	log "guest $1: <- '$2'"
	python3 - "$RUN/$1.ctl" "$RUN/$1.serial" "$2" <<'PY' || fail "guest $1 did not take '$2'"
import re, socket, sys, time
path, serial, line = sys.argv[1:]
want = re.compile(r"^VLB: cmd %s t=[0-9.]+\r?$" % re.escape(line))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
s.sendall(line.encode() + b"\n")
# Stay connected until the guest has read the line: QEMU stops reading from a closed peer.
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    with open(serial, errors="replace") as f:
        if any(want.match(l) for l in f):
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
}

# guest_stats NAME: have guest NAME print a fresh eth0-stats marker (guest-ctl.sh "stats") and
# wait for it, so guest_field NAME eth0-stats ... reads the new one.
guest_stats() {
	local n
	n=$(guest_lines "$1" | grep -c '^eth0-stats ' || true)
	guest_send "$1" stats
	wait_for 30 "guest $1's eth0-stats" stats_marks_above "$1" "$n"
}

stats_marks_above() {
	[ "$(guest_lines "$1" | grep -c '^eth0-stats ' || true)" -gt "$2" ]
}

# wait_mark SECS NAME KEY: wait until guest NAME printed a "KEY ..." marker.
wait_mark() {
	wait_for "$1" "guest $2 to print '$3'" has_mark "$2" "$3"
}

has_mark() {
	guest_lines "$1" | grep -q "^$2\( \|$\)"
}

# pong_max NAME...: the highest ping sequence number that got a reply, over the guests' consoles
# (busybox ping prints "64 bytes from ADDR: seq=N ttl=T time=X ms" per reply); -1 if none.
pong_max() {
	local n
	n=$(for g in "$@"; do tr -d '\r' <"$RUN/$g.serial"; done |
		sed -n 's/^[0-9]* bytes from [^ ]*: seq=\([0-9]*\) .*/\1/p' | sort -n | tail -n 1)
	echo "${n:--1}"
}

# replies_at_least SEQ NAME...: every guest NAME got a reply to request SEQ or a later one.
replies_at_least() {
	local seq=$1 g
	shift
	for g in "$@"; do
		[ "$(pong_max "$g")" -ge "$seq" ] || return 1
	done
}

# ping_phases "NAME..." B1 B2...: what one continuous ping printed over the consoles NAME...
# (one guest's, or a migrated guest's two), split into phases at the sequence numbers B1 B2...
# (phase 0: seq <= B1, phase 1: B1 < seq <= B2, ..., the last: up to the end). Prints
#   summary transmitted=T received=R duplicates=D
#   phase=I from=S to=E lost=L longest_gap=G
# lost counts the sequence numbers without any reply, longest_gap the longest run of them. The
# last request sent may be in flight when ping is stopped: it is left out.
ping_phases() {
	local names=$1 files=() g
	shift
	for g in $names; do
		files+=("$RUN/$g.serial")
	done
	python3 - "${files[*]}" "$@" <<'PY'
import re, sys
files, bounds = sys.argv[1].split(), [int(b) for b in sys.argv[2:]]
replies, tx, rx, dup = {}, None, None, 0
for f in files:
    for line in open(f, errors="replace"):
        m = re.search(r"bytes from [^ ]*: seq=(\d+) ", line)
        if m:
            replies[int(m[1])] = replies.get(int(m[1]), 0) + 1
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received(?:, (\d+) duplicates)?", line)
        if m:
            tx, rx, dup = int(m[1]), int(m[2]), int(m[3] or 0)
if tx is None:
    sys.exit("no ping summary on %s" % " ".join(files))
print("summary transmitted=%d received=%d duplicates=%d seqs_with_dups=%d"
      % (tx, rx, dup, sum(1 for n in replies.values() if n > 1)))
edges = [-1] + bounds + [tx - 2]
for i in range(len(edges) - 1):
    lo, hi = edges[i] + 1, edges[i + 1]
    lost = gap = run = 0
    for s in range(lo, hi + 1):
        if s in replies:
            run = 0
        else:
            lost += 1
            run += 1
            gap = max(gap, run)
    print("phase=%d from=%d to=%d lost=%d longest_gap=%d" % (i, lo, hi, lost, gap))
PY
}

# phase_field "REPORT" I FIELD / summary_field "REPORT" FIELD: values out of ping_phases' output.
phase_field() {
	echo "$1" | sed -n "s/^phase=$2 .*\<$3=\([0-9]*\).*/\1/p"
}

summary_field() {
	echo "$1" | sed -n "s/^summary .*\<$2=\([0-9]*\).*/\1/p"
}

# qmp SOCKET COMMAND [ARGUMENTS-JSON]: one QMP command; prints its "return" value as JSON.
qmp() {
	python3 - "$@" <<'PY'
import json, socket, sys
path, cmd = sys.argv[1], sys.argv[2]
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(path)
f = s.makefile("rwb")
def reply():
    while True:
        line = f.readline()
        if not line:
            sys.exit("QMP: connection closed")
        msg = json.loads(line)
        if "return" in msg or "error" in msg:
            return msg
json.loads(f.readline())   # greeting
f.write(b'{"execute":"qmp_capabilities"}\n'); f.flush()
reply()
req = {"execute": cmd}
if args is not None:
    req["arguments"] = args
f.write(json.dumps(req).encode() + b"\n"); f.flush()
msg = reply()
if "error" in msg:
    sys.exit("QMP %s: %s" % (cmd, msg["error"].get("desc")))
print(json.dumps(msg["return"]))
PY
}
