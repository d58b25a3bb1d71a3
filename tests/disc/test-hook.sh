#!/bin/bash
# shellcheck disable=SC2015 # "check && pass || fail": pass always succeeds
# SPDX-License-Identifier: GPL-2.0-or-later
# The libvirt hook (libvirt-hooks/vhost-user-lb) run as libvirtd runs it (argv + XML on stdin),
# against tests/disc/fake-ctl.py as the daemon's control socket: which requests it sends, with
# which fields, what it does when the daemon is absent / refusing / hanging, and how fast it is.
# The same hook under a real libvirtd is in test-disc-e2e.sh.
set -euo pipefail

SRC=${VHOST_LB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
HOOK=$SRC/libvirt-hooks/vhost-user-lb
FAKE=$SRC/tests/disc/fake-ctl.py

# shellcheck source=tests/lib/skip.sh
. "$SRC/tests/lib/skip.sh"
command -v python3 >/dev/null || skip "python3 missing"

T=$(mktemp -d /tmp/disc-hook.XXXXXX)
FAKE_PID=
cleanup() {
	if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

SD=$T/sock
mkdir -p "$SD"
export VHOST_LB_HOOK_CONF=$T/hook.conf
write_conf() { # write_conf [extra lines...]
	{
		echo "socket_dir=$SD"
		echo "timeout_ms=400"
		printf '%s\n' "$@"
	} >"$VHOST_LB_HOOK_CONF"
}
write_conf

cat >"$T/dom.xml" <<EOF
<domain type='qemu'>
  <name>hookvm</name>
  <uuid>0d6c5c8e-1111-4a4a-9b9b-00000000aa01</uuid>
  <devices>
    <interface type='vhostuser'>
      <mac address='52:54:00:aa:00:01'/>
      <source type='unix' path='$SD/hookvm-0.sock' mode='client'/>
      <model type='virtio'/>
      <driver queues='2'/>
    </interface>
    <interface type='vhostuser'>
      <mac address='52:54:00:aa:00:02'/>
      <source type='unix' path='$SD/hookvm-1.sock' mode='server'/>
      <model type='virtio'/>
    </interface>
    <interface type='vhostuser'>
      <mac address='52:54:00:aa:00:03'/>
      <source type='unix' path='$T/elsewhere.sock' mode='client'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'><source network='default'/></interface>
  </devices>
</domain>
EOF

start_fake() { # start_fake [fake-ctl options]
	rm -f "$T/req.log"
	python3 "$FAKE" --ctl "$SD/ctl.sock" --log "$T/req.log" "$@" >"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 100); do grep -q ready "$T/fake.out" 2>/dev/null && return 0; sleep 0.05; done
	echo "fake-ctl did not start"; cat "$T/fake.out"; exit 1
}
stop_fake() {
	kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=
}
run_hook() { # run_hook OP SUBOP -> sets RC, ERR, MS
	local t0 t1
	t0=$(date +%s%N)
	set +e
	"$HOOK" hookvm "$1" "$2" - <"$T/dom.xml" 2>"$T/hook.err"
	RC=$?
	set -e
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
	ERR=$(cat "$T/hook.err")
}
reqs() { # reqs CMD -> the request lines of that command
	python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["req"].get("cmd") == sys.argv[2]:
        print(json.dumps(r["req"], sort_keys=True))
' "$T/req.log" "$1" 2>/dev/null || true
}

# 1. ops the hook does not act on: exit 0, no contact
start_fake
for op in "start begin" "started begin" "stopped end" "migrate begin" "restore begin"; do
	# shellcheck disable=SC2086
	run_hook $op
	[ "$RC" = 0 ] || fail "op '$op' exit $RC"
done
[ ! -s "$T/req.log" ] && pass "start/started/stopped/migrate/restore: exit 0, daemon not contacted" \
	|| fail "irrelevant ops contacted the daemon: $(cat "$T/req.log")"

# 2. prepare: one port-add per interface in our directory, with owner fields for server mode
run_hook prepare begin
if [ "$RC" = 0 ]; then pass "prepare exit 0 (${MS} ms)"; else fail "prepare exit $RC: $ERR"; fi
adds=$(reqs port-add)
want0='{"cmd": "port-add", "group": "libvirt-qemu", "mode": "server", "name": "hookvm-0", "path": "'$SD'/hookvm-0.sock", "perm": "0660", "queues": 2}'
want1='{"cmd": "port-add", "mode": "client", "name": "hookvm-1", "path": "'$SD'/hookvm-1.sock", "queues": 1}'
if [ "$(echo "$adds" | sed -n 1p)" = "$want0" ] && [ "$(echo "$adds" | sed -n 2p)" = "$want1" ] &&
	[ "$(echo "$adds" | wc -l)" = 2 ]; then
	pass "prepare sent exactly: $want0 / $want1 (socket outside the dir and type=network ignored)"
else
	fail "prepare requests: $adds"
fi
if [ -S "$SD/hookvm-0.sock" ]; then
	st=$(stat -c '%G %a' "$SD/hookvm-0.sock")
	if [ "$(id -u)" = 0 ] && getent group libvirt-qemu >/dev/null; then
		[ "$st" = "libvirt-qemu 660" ] && pass "socket exists when the hook returns: $st" || fail "socket owner/perm: $st"
	else
		pass "socket exists when the hook returns ($st; not root, group not checked)"
	fi
else
	fail "no socket $SD/hookvm-0.sock after prepare"
fi

# 3. prepare again (e.g. ports given on the daemon's command line): nothing added twice
before=$(reqs port-add | wc -l)
run_hook prepare begin
after=$(reqs port-add | wc -l)
[ "$RC" = 0 ] && [ "$before" = "$after" ] && pass "existing ports are not added again" \
	|| fail "second prepare: rc=$RC adds $before -> $after"

# 4. reconnect after a libvirtd restart: same as prepare, never fails
run_hook reconnect begin
[ "$RC" = 0 ] && pass "reconnect begin exit 0" || fail "reconnect exit $RC"

# 5. release: port-del for each of our ports
run_hook release end
dels=$(reqs port-del)
if [ "$RC" = 0 ] && [ "$(echo "$dels" | wc -l)" = 2 ] && echo "$dels" | grep -q '"name": "hookvm-0"' &&
	echo "$dels" | grep -q '"name": "hookvm-1"'; then
	pass "release removed hookvm-0 and hookvm-1"
else
	fail "release: rc=$RC dels=$dels"
fi
[ ! -e "$SD/hookvm-0.sock" ] && pass "socket gone after release" || fail "socket left after release"

# 6. speed: median of 11 prepare+release runs against a live daemon
times=()
for _ in $(seq 11); do
	run_hook prepare begin; times+=("$MS")
	run_hook release end
done
base=()
for _ in $(seq 11); do
	t0=$(date +%s%N); /usr/bin/python3 -IS -c pass; t1=$(date +%s%N); base+=($(((t1 - t0) / 1000000)))
done
med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 6p)
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
bmed=$(printf '%s\n' "${base[@]}" | sort -n | sed -n 6p)
echo "INFO: hook prepare wall time (python start + port-list + 2 port-add): median ${med} ms, max ${max} ms;" \
	"bare interpreter (/usr/bin/python3 -IS -c pass): median ${bmed} ms; load: $(cut -d' ' -f1-3 /proc/loadavg)"
# The target is < 100 ms on an idle host; a loaded 2-core machine stretches interpreter start-up
# and the fake server's answers, so the test only guards against waiting (timeouts, retries).
if [ "$med" -lt 1000 ]; then
	pass "prepare median ${med} ms (< 1000 ms: no waiting; target < 100 ms on an idle host)"
else
	fail "prepare median ${med} ms: the hook waits for something"
fi

# 7. daemon refuses the port: the start is refused, strict or not
stop_fake
start_fake --refuse
run_hook prepare begin
[ "$RC" = 1 ] && echo "$ERR" | grep -q "refused: refused by test" && pass "refused port-add -> exit 1: $ERR" \
	|| fail "refused: rc=$RC err=$ERR"
stop_fake

# 8. daemon absent: non-strict starts anyway, strict refuses with a clear message
rm -f "$SD/ctl.sock"
run_hook prepare begin
[ "$RC" = 0 ] && echo "$ERR" | grep -q "starting anyway" && pass "absent daemon, non-strict: exit 0 in ${MS} ms ($ERR)" \
	|| fail "absent non-strict: rc=$RC err=$ERR"
write_conf "strict=1"
run_hook prepare begin
[ "$RC" = 1 ] && echo "$ERR" | grep -q "refusing to start" && pass "absent daemon, strict (hook.conf): exit 1 in ${MS} ms ($ERR)" \
	|| fail "absent strict: rc=$RC err=$ERR"
run_hook release end
[ "$RC" = 0 ] && pass "absent daemon, release still exit 0" || fail "release without daemon: rc=$RC"
write_conf
VHOST_LB_HOOK_STRICT=1 run_hook prepare begin
[ "$RC" = 1 ] && pass "strict via VHOST_LB_HOOK_STRICT=1: exit 1" || fail "env strict: rc=$RC"

# 9. daemon hanging: bounded by timeout_ms (400) either way
start_fake --hang
run_hook prepare begin
[ "$RC" = 0 ] && [ "$MS" -lt 2000 ] && pass "hanging daemon, non-strict: exit 0 after ${MS} ms" \
	|| fail "hang non-strict: rc=$RC ms=$MS err=$ERR"
write_conf "strict=yes"
run_hook prepare begin
[ "$RC" = 1 ] && [ "$MS" -lt 2000 ] && pass "hanging daemon, strict: exit 1 after ${MS} ms" \
	|| fail "hang strict: rc=$RC ms=$MS err=$ERR"
stop_fake

# 10. broken XML on prepare refuses the start rather than guessing
write_conf
echo '<domain><devices>' >"$T/dom.xml"
run_hook prepare begin
[ "$RC" = 1 ] && pass "unparsable XML on prepare -> exit 1" || fail "bad XML: rc=$RC"

if [ "$FAILS" != 0 ]; then
	echo "RESULT: $FAILS failure(s)"
	exit 1
fi
echo "RESULT: all passed"
