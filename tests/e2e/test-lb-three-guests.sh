#!/bin/bash
# Service load balancing with three QEMU TCG guests on the real daemon (issue 6): a client and
# two servers, each server running busybox httpd with a page that names it. Two virtual IPs
# with backends by MAC and IP:
#   10.0.0.100:80/tcp  Maglev (the default), backends on port 80, added with
#                      `vhost-user-lbctl vip add` / `vip backend add`
#   10.0.0.101:80/tcp  least-load, backends on port 8080 (the port is rewritten too), from a
#                      [vip] section of the config file the daemon starts with
# Phase 1: the client opens CONNS connections (an HTTP GET through busybox nc), alternating VIPs: every one
# must succeed and both servers must serve on each VIP. Then the host kills server s2's QEMU:
# its port loses its frontend and the daemon must take both its backends out of selection at
# once (its flows deleted). Phase 2: CONNS more connections, all of which must succeed and
# be served by s1. The daemon's per-backend counters must agree with what the client saw.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

CONNS=40
VIP1=10.0.0.100
VIP2=10.0.0.101
S1_MAC=52:54:00:00:06:11
S2_MAC=52:54:00:00:06:12

if standin; then
	log "SKIP: the load balancer is the daemon's own: there is no stand-in for it"
	exit 77
fi

# vip_json: `vip show` as JSON; backend_field VIP ADDR FIELD: one backend's field.
vip_json() {
	ctl --json vip show >"$RUN/vip.json" || fail "vhost-user-lbctl vip show failed"
}

backend_field() {
	python3 - "$RUN/vip.json" "$1" "$2" "$3" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
lb = doc.get("lb", doc)
for vip in lb["vips"]:
    if vip["address"] != sys.argv[2]:
        continue
    for be in vip["backends"]:
        if be["address"] == sys.argv[3]:
            print(str(be.get(sys.argv[4], "")).lower())
PY
}

e2e_begin lb-three-guests
cat >"$RUN/vhost-user-lb.conf" <<EOF
[vip $VIP2:80/tcp]
algo = least-load
backend = mac=$S1_MAC,ip=10.0.0.11,port=8080
backend = mac=$S2_MAC,ip=10.0.0.12,port=8080
EOF
start_daemon --config "$RUN/vhost-user-lb.conf" --socket-dir "$RUN" --ctl-socket "$CTL" \
	--libvirt-uri none --port c --port s1 --port s2

ctl vip add "$VIP1:80/tcp" >/dev/null
ctl vip backend add "$VIP1:80/tcp" "mac=$S1_MAC,ip=10.0.0.11" >/dev/null
ctl vip backend add "$VIP1:80/tcp" "mac=$S2_MAC,ip=10.0.0.12" >/dev/null
vip_json
p1=$(backend_field $VIP2 10.0.0.11 port) p2=$(backend_field $VIP2 10.0.0.12 port)
check "the config file's VIP $VIP2:80/tcp is there, backends on ports ${p1:-none} and ${p2:-none}" \
	all_equal 8080 "${p1:-x}" "${p2:-y}"
log "VIPs $VIP1:80 (maglev, from vhost-user-lbctl) and $VIP2:80 (least-load, from the config" \
	"file, backends on 8080), backends s1 and s2"

boot_guest s1 --socket "$RUN/s1.sock" --mac "$S1_MAC" --ip 10.0.0.11/24 \
	--script "$E2E_DIR/guest-lb.sh" --param role=server --param name=s1 --param ports=80,8080 --param wait=600
boot_guest s2 --socket "$RUN/s2.sock" --mac "$S2_MAC" --ip 10.0.0.12/24 \
	--script "$E2E_DIR/guest-lb.sh" --param role=server --param name=s2 --param ports=80,8080 --param wait=600
boot_guest c --socket "$RUN/c.sock" --mac 52:54:00:00:06:01 --ip 10.0.0.1/24 \
	--script "$E2E_DIR/guest-lb.sh" --param role=client --param servers=10.0.0.11,10.0.0.12 \
	--param vips=$VIP1,$VIP2 --param conns=$CONNS --param gone=10.0.0.12

# Fails fast if a guest reported an error or its QEMU died, like wait_guests does.
guests_healthy() {
	local name err
	for name in "$@"; do
		err=$(guest_mark "$name" error)
		[ -z "$err" ] || fail "guest $name: $err"
		kill -0 "${GUEST_PID[$name]}" 2>/dev/null || fail "guest $name: QEMU exited"
	done
	daemon_alive || fail "the daemon died"
}

phase1_done() {
	guests_healthy c s1 s2
	[ "$(guest_lines c | grep -c '^phase n=1 ')" -ge 2 ]
}

s2_down() {
	vip_json
	[ "$(backend_field $VIP1 10.0.0.12 state)" = down ] &&
		[ "$(backend_field $VIP2 10.0.0.12 state)" = down ]
}

wait_for 400 "the client's phase 1" phase1_done
log "phase 1: $(guest_lines c | grep '^phase n=1 ' | tr '\n' ';')"
vip_json
log "least-load's measured loads: s1 $(backend_field $VIP2 10.0.0.11 load_us) us," \
	"s2 $(backend_field $VIP2 10.0.0.12 load_us) us"

log "stopping server s2 (SIGKILL to its QEMU, pid ${GUEST_PID[s2]}, as if it crashed)"
kill -KILL "${GUEST_PID[s2]}"
reap "${GUEST_PID[s2]}" 5
unset "GUEST_PID[s2]"
wait_for 5 "s2's backends to go down" s2_down
log "s2's backends are down ($(backend_field $VIP1 10.0.0.12 down_because))," \
	"active flows $(backend_field $VIP1 10.0.0.12 active_flows)/$(backend_field $VIP2 10.0.0.12 active_flows)"
s2_new_down=$(($(backend_field $VIP1 10.0.0.12 new_flows) + $(backend_field $VIP2 10.0.0.12 new_flows)))
s1_new_down=$(($(backend_field $VIP1 10.0.0.11 new_flows) + $(backend_field $VIP2 10.0.0.11 new_flows)))

wait_guests 400 c s1

# phase_field N VIP FIELD: FIELD of the client's marker for phase N on VIP.
phase_field() {
	guest_lines c | sed -n "s/^phase n=$1 vip=$2 //p" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

half=$((CONNS / 2))
for v in $VIP1 $VIP2; do
	check "phase 1, $v: ${half} connections, $(phase_field 1 "$v" ok) answered, $(phase_field 1 "$v" failed) failed" \
		all_equal "$half" "$(phase_field 1 "$v" ok)" -- 0 "$(phase_field 1 "$v" failed)"
	check "phase 1, $v: both servers served (s1 $(phase_field 1 "$v" s1), s2 $(phase_field 1 "$v" s2))" \
		at_least_pairs "$(phase_field 1 "$v" s1)" 1 "$(phase_field 1 "$v" s2)" 1
done
check "the client saw s2 gone: $(guest_mark c 'server gone')" test -n "$(guest_mark c 'server gone')"
for v in $VIP1 $VIP2; do
	ok=$(phase_field 2 "$v" ok) failed=$(phase_field 2 "$v" failed)
	by1=$(phase_field 2 "$v" s1) by2=$(phase_field 2 "$v" s2)
	check "phase 2, $v: ${half} connections, all answered by s1 (ok ${ok:-?}, failed ${failed:-?}, s1 ${by1:-0}, s2 ${by2:-0})" \
		all_equal "$half" "${ok:-x}" "${by1:-0}" -- 0 "${failed:-x}" "${by2:-0}"
done

vip_json
s2_new=$(($(backend_field $VIP1 10.0.0.12 new_flows) + $(backend_field $VIP2 10.0.0.12 new_flows)))
s1_new=$(($(backend_field $VIP1 10.0.0.11 new_flows) + $(backend_field $VIP2 10.0.0.11 new_flows)))
check "daemon: no new flow for s2 once it was down ($s2_new_down then $s2_new)" all_equal "$s2_new_down" "$s2_new"
check "daemon: s1 took at least the $CONNS phase-2 flows ($s1_new_down then $s1_new)" \
	at_least "$((s1_new - s1_new_down))" "$CONNS"
check "daemon: s2's backends still down ($(backend_field $VIP1 10.0.0.12 state), $(backend_field $VIP2 10.0.0.12 state))" \
	all_equal down "$(backend_field $VIP1 10.0.0.12 state)" "$(backend_field $VIP2 10.0.0.12 state)"

e2e_pass
