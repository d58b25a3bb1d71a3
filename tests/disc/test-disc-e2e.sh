#!/bin/bash
# shellcheck disable=SC2015 # "check && pass || fail": pass always succeeds
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: a real libvirtd started here (root, no systemd: under tests/disc/reaper.c), our
# hook installed as /etc/libvirt/hooks/qemu.d/vhost-user-lb, a TCG domain whose vhost-user NIC
# (QEMU client mode) attaches to a port the hook asked the daemon for, and disc-watch (the disc
# module) following libvirt:
#   E1 start: the hook creates the port before QEMU starts; the VM enters the registry with its
#      socket, MAC, queues, vCPUs and pinning; the guest's NIC passes traffic through the port
#   E2 libvirtd restarted: disconnected -> reconnected, full resync, VM still there, no
#      spurious stop/start
#   E3 libvirtd stopped, QEMU killed behind its back, libvirtd started: the resync drops the VM
#   E4 start again, destroy: the VM leaves the registry; the hook's release removes the port
#   E5 strict hook, daemon absent: the start is refused cleanly, nothing enters the registry
#
# The port backend: the real daemon ($VHOST_LB_BIN --socket-dir DIR) when it is built, else
# tests/disc/fake-ctl.py serving the control protocol with dpdk-testpmd's vhost PMD per port.
set -euo pipefail

SRC=${VHOST_LB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/disc/lib.sh
. "$SRC/tests/disc/lib.sh"

disc_prereqs
[ -x "${DISC_WATCH:-}" ] && [ -x "${DISC_REAPER:-}" ] || disc_skip "DISC_WATCH/DISC_REAPER not built (run through meson test)"
if disc_libvirtd_alive; then
	disc_skip "a libvirtd not started by this test is running (pid $(cat /run/libvirtd.pid)); it would be restarted"
fi
BACKEND=fake
if [ -x "${VHOST_LB_BIN:-}" ] && "$VHOST_LB_BIN" --help 2>&1 | grep -q -- --socket-dir; then
	BACKEND=daemon
elif ! command -v dpdk-testpmd >/dev/null; then
	disc_skip "neither the daemon (VHOST_LB_BIN) nor dpdk-testpmd is available as a port backend"
fi

# one QEMU test suite at a time on this machine
exec 9>/tmp/vhost-lb-qemu.lock
disc_log "waiting for /tmp/vhost-lb-qemu.lock"
flock -w 1200 9 || { echo "could not take /tmp/vhost-lb-qemu.lock within 1200 s"; exit 1; }
disc_log "lock taken"
trap 'exit 143' TERM INT	# so that the EXIT trap cleans up when meson times us out

DISC_WORK=$(mktemp -d /tmp/disc-e2e.XXXXXX)
chmod 0755 "$DISC_WORK"	# QEMU (libvirt-qemu) reads kernel/initrd and reaches the socket dir
T=$DISC_WORK
SD=$T/sock
install -d -m 0755 "$SD"
NAME=disc-e2e-vm
UUID=5f1d3c8a-7b2e-4c1d-9a8b-d15ce2e00001
SOCK=$SD/$NAME.sock
HOOK_DST=/etc/libvirt/hooks/qemu.d/vhost-user-lb
HOOK_CONF=/etc/vhost-user-lb/hook.conf
V="virsh -q -c qemu:///system"
WATCH_PID='' BACKEND_PID=''
FAILS=0
pass() { disc_log "PASS: $*"; }
fail() { disc_log "FAIL: $*"; FAILS=$((FAILS + 1)); }

cleanup() {
	set +e
	if disc_libvirtd_alive; then
		$V destroy "$NAME" >/dev/null 2>&1
		$V undefine "$NAME" >/dev/null 2>&1
	fi
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
	disc_libvirtd_stop
	disc_virtlogd_stop
	[ -n "$BACKEND_PID" ] && kill "$BACKEND_PID" 2>/dev/null && wait "$BACKEND_PID" 2>/dev/null
	for f in "$HOOK_DST" "$HOOK_CONF"; do
		rm -f "$f"
		[ -e "$T/backup/$(basename "$f")" ] && cp -p "$T/backup/$(basename "$f")" "$f"
	done
	rmdir /etc/libvirt/hooks/qemu.d 2>/dev/null
	rmdir /etc/vhost-user-lb 2>/dev/null
	if [ "$FAILS" != 0 ] || [ -n "${KEEP:-}" ]; then
		echo "logs kept in $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# lines of FILE after line START matching ERE, waited for up to TIMEOUT_S
wait_after() {
	local end=$((SECONDS + $4))
	while [ "$SECONDS" -le "$end" ]; do
		tail -n +"$(($2 + 1))" "$1" | grep -qE "$3" && return 0
		sleep 0.05
	done
	return 1
}
lines() { wc -l <"$1"; }

disc_log "backend: $BACKEND; work dir $T; kernel $KVER"
disc_build_guest

# hook + its configuration (strict: a start without the daemon must be refused)
mkdir -p "$T/backup" /etc/libvirt/hooks/qemu.d /etc/vhost-user-lb
for f in "$HOOK_DST" "$HOOK_CONF"; do [ -e "$f" ] && cp -p "$f" "$T/backup/"; done
install -m 0755 "$SRC/libvirt-hooks/vhost-user-lb" "$HOOK_DST"
printf 'socket_dir=%s\nstrict=1\ntimeout_ms=3000\n' "$SD" >"$HOOK_CONF"

start_backend() {
	if [ "$BACKEND" = daemon ]; then
		"$VHOST_LB_BIN" --socket-dir "$SD" >"$T/backend.log" 2>&1 &
		BACKEND_PID=$!
		disc_wait_for "$T/backend.log" '(^| )ready(:|$)' 20
		# The guest ARPs for 10.99.0.1: as a VIP of the switch's load balancer it is answered
		# by the switch itself, so the guest gets traffic back with no other guest.
		"$VHOST_LB_CTL" -s "$SD/ctl.sock" vip add 10.99.0.1:80/tcp
	else
		python3 "$SRC/tests/disc/fake-ctl.py" --ctl "$SD/ctl.sock" --log "$T/req.log" \
			--backend testpmd >"$T/backend.log" 2>&1 &
		BACKEND_PID=$!
		disc_wait_for "$T/backend.log" 'fake-ctl ready' 20
	fi
}
stop_backend() {
	kill "$BACKEND_PID" 2>/dev/null || true
	wait "$BACKEND_PID" 2>/dev/null || true
	BACKEND_PID=
	rm -f "$SD/ctl.sock"
}
start_backend

# hooks are read when libvirtd starts, so it starts after the hook is in place
disc_libvirtd_start
disc_log "libvirtd $(virsh -c qemu:///system version 2>/dev/null | sed -n 's/.*running hypervisor: //p;s/.*libvirt //p' | tr '\n' ' ')"

"$DISC_WATCH" -u qemu:///system >"$T/watch.log" 2>&1 &
WATCH_PID=$!
disc_wait_for "$T/watch.log" '^CHANGE connected' 30 && pass "disc connected to qemu:///system" ||
	{ fail "disc did not connect"; cat "$T/watch.log"; exit 1; }

sed -e "s|@NAME@|$NAME|" -e "s|@UUID@|$UUID|" -e "s|@KERNEL@|$T/vmlinux|" \
	-e "s|@INITRD@|$T/initramfs.gz|" -e "s|@SOCK@|$SOCK|" -e "s|@CONSOLE@|$T/console.log|" \
	-e "s|@MAC@|52:54:00:d1:5c:01|" "$SRC/tests/disc/e2e-domain.xml.in" >"$T/domain.xml"
$V define "$T/domain.xml" >/dev/null

qemu_pid() { cat "/run/libvirt/qemu/$NAME.pid" 2>/dev/null; }

# ---- E1: start
L=$(lines "$T/watch.log")
t0=$(date +%s%N)
if ! $V start "$NAME" >"$T/start.out" 2>&1; then
	fail "E1 virsh start: $(cat "$T/start.out")"
	tail -20 "$T/libvirtd.log" "/var/log/libvirt/qemu/$NAME.log" 2>/dev/null
	exit 1
fi
disc_log "E1 virsh start took $((($(date +%s%N) - t0) / 1000000)) ms"
wait_after "$T/watch.log" "$L" "^CHANGE vm-started vm='$NAME'" 20 && pass "E1 registry: vm-started for $NAME" ||
	fail "E1 no vm-started"
wait_after "$T/watch.log" "$L" "^SOCK path=$SOCK vm='$NAME'" 5 && pass "E1 registry maps $SOCK -> $NAME" ||
	fail "E1 socket not mapped"
vmline=$(tail -n +"$((L + 1))" "$T/watch.log" | grep "^VM name='$NAME'" | tail -1)
echo "    $vmline"
case "$vmline" in
*"state=running active=1 vcpus=2/2 pins=0:0;1:1 iface=$SOCK,client,52:54:00:d1:5c:01,q2"*)
	pass "E1 registry entry: state, vCPUs, pinning, socket, mode, MAC, queues from the live XML" ;;
*) fail "E1 registry entry: $vmline" ;;
esac
qp=$(qemu_pid)
# the command line libvirt generated, for docs/ (vhost-user chardev/netdev/device and memory)
tr '\0' '\n' <"/proc/$qp/cmdline" | awk 'prev ~ /^-/ { print prev, $0 } { prev = $0 }' |
	grep -E 'memfd|charnet|hostnet|^-machine|^-kernel' | sed 's/^/    qemu: /' || true
if [ "$BACKEND" = fake ]; then
	# the port exists (with QEMU-usable ownership) before QEMU's process was created
	added=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["req"].get("cmd") == "port-added" and r["req"].get("name") == sys.argv[2]:
        print(r["t"], r["exists"], r["mode"], r["gid"]); break
' "$T/req.log" "$NAME")
	qstart=$(awk -v hz="$(getconf CLK_TCK)" '{print $22 / hz}' "/proc/$qp/stat")
	read -r tadd exists mode gid <<<"$added"
	if [ "$exists" = True ] && [ "$mode" = 0o660 ] && [ "$gid" = "$(getent group libvirt-qemu | cut -d: -f3)" ] &&
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$tadd" "$qstart"; then
		pass "E1 hook: port socket created (group libvirt-qemu, 0660) at t=${tadd}s, QEMU pid $qp started at t=${qstart}s"
	else
		fail "E1 hook ordering/ownership: added='$added' qemu_start=$qstart"
	fi
else
	"$VHOST_LB_CTL" -s "$SD/ctl.sock" port list | tee "$T/ports.txt"
	grep -q "$NAME" "$T/ports.txt" && pass "E1 hook: daemon has port $NAME" || fail "E1 daemon has no port $NAME"
fi
# traffic through the port (guest ARPs; the backend answers or loops them back)
if disc_wait_for "$T/console.log" 'tick [0-9]+ tx=[1-9][0-9]* rx=[1-9]' 180; then
	pass "E1 guest NIC passes traffic: $(grep -m1 'eth0' "$T/console.log" | sed 's/DISC-GUEST: //'); $(grep tick "$T/console.log" | tail -1 | sed 's/DISC-GUEST: //')"
else
	fail "E1 no guest traffic within 180 s: $(tail -3 "$T/console.log" 2>/dev/null)"
fi
if [ "$BACKEND" = daemon ]; then
	# The daemon's own view: the port names its VM, and `vms` maps the VM to the port.
	if "$VHOST_LB_CTL" -s "$SD/ctl.sock" --json stats "$NAME" | python3 -c '
import json, sys
p = json.load(sys.stdin)["ports"][0]
sys.exit(0 if p.get("vm") == sys.argv[1] else 1)' "$NAME"; then
		pass "E1 daemon: port $NAME belongs to VM $NAME"
	else
		fail "E1 daemon: port $NAME does not name its VM"
	fi
	if "$VHOST_LB_CTL" -s "$SD/ctl.sock" --json vms | python3 -c '
import json, sys
vms = {v["name"]: v for v in json.load(sys.stdin)["vms"]}
v = vms.get(sys.argv[1])
sys.exit(0 if v and v["state"] == "running" and any(i.get("port") == sys.argv[1] for i in v["interfaces"]) else 1)' "$NAME"; then
		pass "E1 daemon: vhost-user-lbctl vms lists $NAME running, with its port"
	else
		fail "E1 daemon: vhost-user-lbctl vms does not list $NAME with its port"
	fi
fi

# ---- E2: libvirtd restart while the VM runs
L=$(lines "$T/watch.log")
disc_libvirtd_stop
wait_after "$T/watch.log" "$L" '^CHANGE disconnected' 20 && pass "E2 libvirtd stopped -> disconnected (close callback)" ||
	fail "E2 no disconnect seen"
wait_after "$T/watch.log" "$L" '^REG .* connected=0 vms=1' 5 && pass "E2 registry keeps the running VM while libvirt is away" ||
	fail "E2 registry after disconnect"
disc_libvirtd_start
wait_after "$T/watch.log" "$L" '^CHANGE connected' 30 && pass "E2 reconnected after libvirtd restart" ||
	fail "E2 no reconnect"
wait_after "$T/watch.log" "$L" '^REG .* connected=1 vms=1' 5 &&
	tail -n +"$((L + 1))" "$T/watch.log" | grep -q "^SOCK path=$SOCK vm='$NAME'" &&
	pass "E2 resync: $NAME still registered with its socket" || fail "E2 resync content"
if tail -n +"$((L + 1))" "$T/watch.log" | grep -qE "^CHANGE vm-(stopped|started|removed|added)"; then
	fail "E2 spurious changes on resync: $(tail -n +"$((L + 1))" "$T/watch.log" | grep ^CHANGE | tr '\n' ' ')"
else
	pass "E2 resync produced no spurious start/stop"
fi
[ "$($V domstate "$NAME")" = running ] && pass "E2 VM survived the restart" || fail "E2 VM not running"

# ---- E3: the VM dies while libvirtd is down; the resync must notice
L=$(lines "$T/watch.log")
qp=$(qemu_pid)
disc_libvirtd_stop
wait_after "$T/watch.log" "$L" '^CHANGE disconnected' 20 || fail "E3 no disconnect"
kill -KILL "$qp"
for _ in $(seq 100); do [ -d "/proc/$qp" ] || break; sleep 0.05; done
disc_libvirtd_start
wait_after "$T/watch.log" "$L" "^CHANGE vm-stopped vm='$NAME'" 30 &&
	wait_after "$T/watch.log" "$L" "^REG .* connected=1 vms=0" 5 &&
	pass "E3 VM killed while libvirtd was down: gone from the registry after reconnect" ||
	fail "E3 resync after kill: $(tail -n +"$((L + 1))" "$T/watch.log" | grep -E '^(CHANGE|REG)' | tr '\n' ' ')"

# ---- E4: start again, then destroy
if [ "$BACKEND" = fake ]; then
	# the release hook of E3 removed the port; nothing may be left behind
	[ ! -e "$SOCK" ] && pass "E3 release hook removed the port of the killed VM" || fail "E3 port left after release"
fi
L=$(lines "$T/watch.log")
$V start "$NAME" >/dev/null
wait_after "$T/watch.log" "$L" "^CHANGE vm-started vm='$NAME'" 20 || fail "E4 no vm-started"
be_state() { # the state of the VM's load-balancer backend in vip show
	"$VHOST_LB_CTL" -s "$SD/ctl.sock" --json vip show | python3 -c '
import json, sys
for v in json.load(sys.stdin)["lb"]["vips"]:
    for b in v["backends"]:
        if b.get("address") == "10.99.0.2" or b.get("ip") == "10.99.0.2":
            print(b["state"])'
}
if [ "$BACKEND" = daemon ]; then
	# A backend named by VM (its MAC comes from discovery) goes down the moment the VM stops.
	"$VHOST_LB_CTL" -s "$SD/ctl.sock" vip backend add 10.99.0.1:80/tcp ip=10.99.0.2 --vm "$NAME" ||
		fail "E4 backend by VM name refused"
	[ "$(be_state)" = up ] && pass "E4 load-balancer backend for VM $NAME is up" ||
		fail "E4 backend state '$(be_state)' while the VM runs"
fi
L=$(lines "$T/watch.log")
$V destroy "$NAME" >/dev/null
t_destroy=$(date +%s%N)
if wait_after "$T/watch.log" "$L" "^CHANGE vm-removed vm='$NAME'" 10; then
	pass "E4 destroy: $NAME left the registry ($(tail -n +"$((L + 1))" "$T/watch.log" | grep -m1 "^CHANGE vm-stopped" | sed 's/.*event_to_publish_us=/event->publish /') us)"
else
	fail "E4 no vm-removed after destroy"
fi
tail -n +"$((L + 1))" "$T/watch.log" | grep -q "^SOCK path=$SOCK" && fail "E4 socket still mapped" || pass "E4 socket no longer mapped"
for _ in $(seq 100); do [ -e "$SOCK" ] || break; sleep 0.05; done
if [ "$BACKEND" = fake ]; then
	[ ! -e "$SOCK" ] && grep -q '"cmd": "port-del", "name": "'"$NAME"'"' "$T/req.log" &&
		pass "E4 release hook removed port $NAME" || fail "E4 port not removed on release"
fi
: "$t_destroy"
if [ "$BACKEND" = daemon ]; then
	for _ in $(seq 40); do [ "$(be_state)" = down ] && break; sleep 0.05; done
	[ "$(be_state)" = down ] && pass "E4 the stopped VM's load-balancer backend is down" ||
		fail "E4 backend state '$(be_state)' after the VM stopped"
fi

# ---- E5: strict hook, daemon absent
stop_backend
L=$(lines "$T/watch.log")
if $V start "$NAME" >"$T/start5.out" 2>&1; then
	fail "E5 start succeeded without the daemon in strict mode"
else
	grep -q "refusing to start" "$T/start5.out" &&
		pass "E5 strict, no daemon: start refused: $(grep -o 'Hook script execution failed.*' "$T/start5.out" | cut -c1-200)" ||
		fail "E5 unexpected error: $(cat "$T/start5.out")"
fi
sleep 1	# a start event would arrive within ms; give it a second to prove it does not
tail -n +"$((L + 1))" "$T/watch.log" | grep -q "^CHANGE vm-" && fail "E5 registry changed" ||
	pass "E5 no registry change for the refused start"
[ "$($V domstate "$NAME")" = "shut off" ] && pass "E5 domain stays shut off" || fail "E5 domain state"

disc_log "watch changes: $(grep -c '^CHANGE' "$T/watch.log"), event->publish (us): $(grep -o 'event_to_publish_us=[0-9.]*' "$T/watch.log" | cut -d= -f2 | grep -v '^0.0$' | sort -n | tr '\n' ' ')"
if [ "$FAILS" != 0 ]; then
	disc_log "RESULT: $FAILS failure(s)"
	exit 1
fi
disc_log "RESULT: all passed"
