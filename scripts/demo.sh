#!/bin/bash
# vhost-user-lb in one command: install what is missing, build, start the daemon with its
# default configuration, add two ports with vhost-user-lbctl, boot two tiny QEMU guests on them
# that ping each other, and show the switch's live per-port statistics. Everything started here
# is stopped on exit, Ctrl-C included.
#
# Usage: scripts/demo.sh            (as root, from a checkout; no terminal needed)
# Env:   DEMO_SECONDS=60   how long to show statistics once both guests are up
#        BUILD=build       meson build directory (created if missing)
#        DEMO_SKIP_SETUP=1 do not run scripts/setup-host.sh
# Exit status 0 when each guest got replies from the other.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DEMO_SECONDS=${DEMO_SECONDS:-60}
QEMU_LOCK=/tmp/vhost-lb-qemu.lock

RUN=""
DAEMON_PID=""
declare -A GUEST_PID=()

say() {
	printf '\n==> %s\n' "$*"
}

die() {
	echo "demo.sh: $*" >&2
	exit 1
}

cleanup() {
	local rc=$? name pid i
	trap - EXIT INT TERM HUP
	# Best effort from here on: a process that is already gone must not stop the rest.
	set +e
	[ -z "$RUN" ] || say "cleaning up"
	for name in "${!GUEST_PID[@]}"; do
		kill "${GUEST_PID[$name]}" 2>/dev/null || true
	done
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		# The guests are going away anyway; deleting the ports shows the control path once more.
		ctl port del vm1 >/dev/null 2>&1 || true
		ctl port del vm2 >/dev/null 2>&1 || true
	fi
	for pid in "${GUEST_PID[@]}" $DAEMON_PID; do
		if [ "$pid" = "$DAEMON_PID" ]; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$RUN" ]; then
		if [ "$rc" = 0 ] || [ "$rc" = 130 ] || [ "$rc" = 143 ]; then
			rm -rf "$RUN"
		else
			echo "demo.sh: logs kept in $RUN" >&2
		fi
	fi
	exit "$rc"
}

ctl() {
	timeout 10 "$CTL_BIN" "$@"
}

# target_path NAME: the file meson builds for target NAME.
target_path() {
	meson introspect --targets "$BUILD" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == sys.argv[1] and t["type"] == "executable":
        print(t["filename"][0])' "$1"
}

# replies NAME: echo replies the guest has seen so far.
replies() {
	grep -ac 'bytes from' "$RUN/$1.serial" 2>/dev/null || true
}

last_reply() {
	{ grep -a 'bytes from' "$RUN/$1.serial" 2>/dev/null || true; } | tail -n 1 | tr -d '\r'
}

guest_up() {
	grep -aq '^VLB: eth0 up' "$RUN/$1.serial" 2>/dev/null
}

[ "$(id -u)" = 0 ] || die "run as root (it installs packages, and the guests' sockets live in /run)"

if [ "${DEMO_SKIP_SETUP:-0}" != 1 ]; then
	say "scripts/setup-host.sh (installs missing packages; quick when everything is there)"
	"$ROOT/scripts/setup-host.sh"
fi

say "building in $BUILD"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT"
ninja -C "$BUILD"
DAEMON_BIN=$(target_path vhost-user-lb)
CTL_BIN=$(target_path vhost-user-lbctl)
if [ ! -x "$DAEMON_BIN" ] || [ ! -x "$CTL_BIN" ]; then
	die "the build produced no daemon or control client"
fi

# The guest image is shared with the e2e tests (cached in the build directory).
say "guest image (Debian's kernel + a busybox initramfs; built once, then cached)"
IMAGE=$(VHOST_LB_BUILDDIR=$BUILD "$ROOT/tests/guest/mkguest.sh")
echo "$IMAGE"

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
RUN=$(mktemp -d /tmp/vhost-lb-demo.XXXXXX)

# A daemon already serving the default control socket is someone else's: leave it alone.
if ctl status >/dev/null 2>&1; then
	die "a vhost-user-lb daemon already answers on the default control socket; stop it first"
fi

say "starting the daemon with its default configuration: $DAEMON_BIN"
"$DAEMON_BIN" </dev/null >"$RUN/daemon.log" 2>&1 &
DAEMON_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -qw ready "$RUN/daemon.log" && break
	kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$RUN/daemon.log"; die "the daemon exited"; }
	sleep 0.1
done
grep -qw ready "$RUN/daemon.log" || { cat "$RUN/daemon.log"; die "the daemon is not ready after 10 s"; }
sed 's/^/    daemon: /' "$RUN/daemon.log"
ctl status

say "adding two ports"
echo "+ vhost-user-lbctl port add vm1"
ctl port add vm1
echo "+ vhost-user-lbctl port add vm2"
ctl port add vm2
echo "+ vhost-user-lbctl port list"
ctl port list
declare -A SOCK=()
for vm in vm1 vm2; do
	SOCK[$vm]=$(ctl --json port list | python3 -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if p["name"] == sys.argv[1]:
        print(p["path"])' "$vm")
	[ -S "${SOCK[$vm]}" ] || die "port $vm has no socket at '${SOCK[$vm]}'"
done

cat >"$RUN/ping.sh" <<'EOF'
#!/bin/sh
# Runs in each demo guest: ping the other guest until the demo stops us.
echo "VLB: pinging $VLB_PEER"
exec ping -i 0.5 "$VLB_PEER"
EOF

# CPU is shared with other QEMU users of this machine: one QEMU workload at a time.
exec 9>"$QEMU_LOCK"
if ! flock -n 9; then
	say "waiting for $QEMU_LOCK (another QEMU workload runs on this machine)"
	flock 9
fi

say "booting two QEMU guests (TCG, 1 vCPU, 256 MiB each) on the two ports"
boot() { # NAME MAC IP PEER
	VHOST_LB_QEMU_LOCKED=1 "$ROOT/tests/guest/boot-guest.sh" --image "$IMAGE" --name "demo-$1" \
		--socket "${SOCK[$1]}" --mac "$2" --ip "$3/24" --param "peer=$4" \
		--script "$RUN/ping.sh" --serial "$RUN/$1.serial" </dev/null >"$RUN/$1.qemu.log" 2>&1 &
	GUEST_PID[$1]=$!
	echo "    $1: QEMU pid ${GUEST_PID[$1]}, $3, MAC $2, socket ${SOCK[$1]}"
}
boot vm1 52:54:00:00:00:01 10.0.0.1 10.0.0.2
boot vm2 52:54:00:00:00:02 10.0.0.2 10.0.0.1

tty=0
[ -t 1 ] && tty=1
start=$SECONDS
while ! { guest_up vm1 && guest_up vm2; }; do
	for vm in vm1 vm2; do
		kill -0 "${GUEST_PID[$vm]}" 2>/dev/null || {
			cat "$RUN/$vm.qemu.log"
			die "the QEMU of $vm exited"
		}
	done
	[ $((SECONDS - start)) -lt 300 ] || die "the guests did not come up within 300 s"
	sleep 1
	echo "    waiting for the guests to boot ($((SECONDS - start)) s; vm1 $(guest_up vm1 && echo up || echo booting), vm2 $(guest_up vm2 && echo up || echo booting))"
done
say "both guests are up after $((SECONDS - start)) s; statistics for ${DEMO_SECONDS} s (Ctrl-C stops)"

start=$SECONDS
while [ $((SECONDS - start)) -lt "$DEMO_SECONDS" ]; do
	sleep 2
	[ "$tty" = 0 ] || clear
	echo "==== vhost-user-lb demo: $((SECONDS - start))/${DEMO_SECONDS} s ===="
	echo "+ vhost-user-lbctl stats"
	ctl stats || echo "(stats failed)"
	echo
	for vm in vm1 vm2; do
		echo "$vm: $(replies $vm) replies; last: $(last_reply $vm)"
	done
done

say "final statistics"
ctl stats || true
echo "+ vhost-user-lbctl fdb"
ctl fdb || true
r1=$(replies vm1)
r2=$(replies vm2)
echo
echo "vm1 got $r1 replies from vm2, vm2 got $r2 replies from vm1"
if [ "${r1:-0}" -gt 0 ] && [ "${r2:-0}" -gt 0 ]; then
	echo "demo: OK, the two guests talk through vhost-user-lb"
else
	echo "demo: FAILED, the guests did not reach each other" >&2
	exit 1
fi
