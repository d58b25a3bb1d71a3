#!/bin/bash
# The daemon as the vhost-user client: both QEMUs listen (chardev server=on) and the daemon
# connects to them. Port a comes from the command line (--port a,path=P,mode=client) and its
# QEMU starts only once the daemon reports the port 'connecting', so the daemon has to retry;
# port b is added at run time with
# `vhost-user-lbctl port add b --path P --client` once its QEMU is listening. Passes when the
# daemon reports both client ports running and the guests ping each other without loss.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

PINGS=20

e2e_begin client-mode

# port_state NAME: "STATE MODE" of port NAME as `port list` reports it.
port_state() {
	ctl --json port list | python3 -c '
import json, sys
for p in json.load(sys.stdin).get("ports", []):
    if p.get("name") == sys.argv[1]:
        print(p.get("state"), p.get("mode"))' "$1"
}

port_is() {
	[ "$(port_state "$1")" = "$2" ]
}

if standin; then
	start_daemon --port "a,path=$RUN/qa.sock,mode=client" --port "b,path=$RUN/qb.sock,mode=client"
else
	start_daemon --socket-dir "$RUN" --ctl-socket "$CTL" --port "a,path=$RUN/qa.sock,mode=client"
fi

common=(--server --script "$E2E_DIR/guest-peer.sh" --param "pings=$PINGS")
if ! standin; then
	# Port a's frontend does not exist yet: the daemon must keep retrying until it does.
	wait_for 20 "port a to report 'connecting client'" port_is a "connecting client"
	log "ok: port a is 'connecting' while its QEMU does not exist"
fi
boot_guest a --socket "$RUN/qa.sock" --mac 52:54:00:00:02:0a --ip 10.0.2.1/24 \
	--param peer=10.0.2.2 --param role=a "${common[@]}"
boot_guest b --socket "$RUN/qb.sock" --mac 52:54:00:00:02:0b --ip 10.0.2.2/24 \
	--param peer=10.0.2.1 --param role=b "${common[@]}"

if ! standin; then
	wait_for 60 "QEMU b to listen on $RUN/qb.sock" test -S "$RUN/qb.sock"
	check "port add b --client" ctl port add b --path "$RUN/qb.sock" --client
	log "port list: $(ctl port list | tr '\n' ' ')"
	wait_for 180 "port a to be running" port_is a "running client"
	wait_for 60 "port b to be running" port_is b "running client"
	log "ok: both ports running in client mode: $(ctl port list | tr '\n' ' ')"
fi
wait_guests 240 a b

for g in a b; do
	check "guest $g: $(guest_mark $g ping)" \
		all_equal $PINGS "$(guest_field $g ping transmitted)" "$(guest_field $g ping received)"
done
check_port_counters a b

e2e_pass
