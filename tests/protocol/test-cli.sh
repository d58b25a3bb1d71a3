#!/bin/bash
# vhost-user-lbctl, every subcommand, in both output forms (issue 10): against a real daemon
# started with a config file, each command runs once as a table and once with --json. The table
# must carry the command's own heading (or its documented one-line answer), the JSON must parse
# (python3's json) with "ok" as expected and the keys scripts rely on; commands that must fail
# here (no SR-IOV device on this host) must fail the same way in both forms: exit status 1, the
# daemon's reason on stderr, or {"ok": false, "error": ...}.
set -euo pipefail

BIN=${VHOST_LB_BIN:?} CTL=${VHOST_LB_CTL:?}
DIR=$(mktemp -d /tmp/vlb-cli.XXXXXX)
PID=""
passed=0 failed=0

cleanup() {
	[ -z "$PID" ] || { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
	rm -rf "$DIR"
}
trap cleanup EXIT

ok() { echo "ok - $*"; passed=$((passed + 1)); }
bad() { echo "not ok - $*"; failed=$((failed + 1)); }

cat >"$DIR/conf" <<EOF
[daemon]
socket-dir = $DIR
libvirt-uri = none
workers = 0
log-level = warn
[port a]
[port b]
queues = 2
[vip 10.9.9.9:80/tcp]
algo = maglev
backend = mac=02:00:00:00:00:0b,ip=10.9.9.11
EOF
"$BIN" -c "$DIR/conf" >"$DIR/log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -S "$DIR/ctl.sock" ] && break; sleep 0.05; done
[ -S "$DIR/ctl.sock" ] || { cat "$DIR/log"; echo "daemon did not start"; exit 1; }

# table WANT_OK PATTERN -- ARGS...: the table form of one command
table() {
	local want=$1 pattern=$2 out err rc=0
	shift 3
	out=$("$CTL" -s "$DIR/ctl.sock" "$@" 2>"$DIR/err") || rc=$?
	err=$(cat "$DIR/err")
	if [ "$want" = true ]; then
		if [ "$rc" = 0 ] && grep -Eq -- "$pattern" <<<"$out"; then
			ok "table: $*"
		else
			bad "table: $* (exit $rc, stderr '$err', no /$pattern/ in:)"; echo "$out" | sed 's/^/#   /'
		fi
	elif [ "$rc" = 1 ] && [ -n "$err" ] && [ -z "$out" ]; then
		ok "table: $* fails: $err"
	else
		bad "table: $* should fail with a reason (exit $rc, stderr '$err', stdout '$out')"
	fi
}
# json WANT_OK KEYS -- ARGS...: the --json form of one command
json() {
	local want=$1 keys=$2 out rc=0
	shift 3
	out=$("$CTL" -s "$DIR/ctl.sock" -j "$@" 2>"$DIR/err") || rc=$?
	if /usr/bin/python3 "$DIR/judge.py" "$want" "$keys" "$rc" <<<"$out" 2>"$DIR/err"; then
		ok "json: $*"
	else
		bad "json: $* ($(cat "$DIR/err"))"
	fi
}
# check WANT_OK PATTERN KEYS -- ARGS...: both forms of a command that changes nothing
check() {
	local want=$1 pattern=$2 keys=$3
	shift 4
	table "$want" "$pattern" -- "$@"
	json "$want" "$keys" -- "$@"
}
# The JSON judge: parses stdin, "ok" as wanted, the exit status agreeing, the keys present.
cat >"$DIR/judge.py" <<'PY'
import json, sys
want, keys, rc = sys.argv[1] == "true", sys.argv[2].split(), int(sys.argv[3])
reply = json.loads(sys.stdin.read())
if not isinstance(reply, dict) or reply.get("ok") is not want:
    sys.exit("ok is %r, wanted %r" % (reply.get("ok") if isinstance(reply, dict) else reply, want))
if rc != (0 if want else 1):
    sys.exit("exit status %d with ok %r" % (rc, want))
missing = [k for k in keys if k not in reply]
if missing:
    sys.exit("keys missing: %s" % " ".join(missing))
PY

VIP=10.9.9.9:80/tcp
BE=mac=02:00:00:00:00:0c,ip=10.9.9.12
BE2=mac=02:00:00:00:00:0d,ip=10.9.9.13

check true 'vhost-user-lb [0-9.]+, up' 'version uptime_s ports workers limits' -- status
check true '^PORT +MODE +STATE' 'ports' -- port list
check true '^PORT +STATE +RX_PKTS' 'ports' -- stats
check true '^PORT +STATE +RX_PKTS' 'ports' -- stats a
check true '^MAC +PORT +AGE' 'entries' -- fdb
check true '^WORKER +CPU +LOAD' 'workers' -- workers
check true '^PORT +VQ +WORKER' 'queues moves' -- placement
check true 'VM +STATE +VCPUS' 'discovery vms' -- vms
# Commands that change something: the table form on one object, --json on another.
table true '^$' -- port add c --queues 2
json true '' -- port add d --queues 2
check true '^d +server +listening +2 ' 'ports' -- port list
table true '^$' -- port del c
json true '' -- port del d
check false '' 'error' -- port del c
check true '^$' '' -- reload
check true '^VIP 10\.9\.9\.9:80/tcp +maglev' 'lb' -- vip show
table true '^$' -- vip add 10.9.9.10:53/udp --algo wrr
json true '' -- vip add 10.9.9.10:54/udp --algo least-load
check false '' 'error' -- vip add 10.9.9.10:53/udp
table true '^$' -- vip backend add $VIP $BE
json true '' -- vip backend add $VIP $BE2
table true '^$' -- vip weight $VIP $BE 0
json true '' -- vip weight $VIP $BE2 7
check true ' 0 drain ' 'lb' -- vip show
check true ' 7 up ' 'lb' -- vip show
table true '^$' -- vip backend del $VIP $BE
json true '' -- vip backend del $VIP $BE2
check false '' 'error' -- vip backend del $VIP $BE
table true '^$' -- vip del 10.9.9.10:53/udp
json true '' -- vip del 10.9.9.10:54/udp
check false '' 'error' -- vip del 10.9.9.10:53/udp
check true '^PF +VF +PCI' 'backend vfs' -- vf list
check false '' 'error' -- vf assign 0000:00:00.0 0 vm1
check false '' 'error' -- vf release 0000:00:00.0 0
check false '' 'error' -- vf rate 0000:00:00.0 0 --max 100
check false '' 'error' -- vf irq no-such-dev
check false '' 'error' -- vf irq no-such-dev 0 0

# stats --watch: a live view that redraws every interval until interrupted.
timeout -s INT 2.5 "$CTL" -s "$DIR/ctl.sock" stats --watch 1 >"$DIR/watch" 2>&1 || true
n=$(grep -c 'port statistics, every' "$DIR/watch" || true)
if [ "$n" -ge 2 ]; then ok "table: stats --watch 1 redrew $n times"; else bad "stats --watch 1 drew $n frames"; fi

# The per-VIP and per-backend metrics of the config's VIP, read by prometheus_client's parser
# (tests/ops/scrape-metrics.py: one "NAME LABELS VALUE" line per sample).
if /usr/bin/python3 "$VHOST_LB_SRCDIR/tests/ops/scrape-metrics.py" "$DIR/metrics.sock" \
	>"$DIR/samples" 2>"$DIR/err"; then
	vip=$(grep -c '^vulb_vip_flows .*vip=10\.9\.9\.9:80/tcp' "$DIR/samples" || true)
	be=$(grep -c '^vulb_backend_up .*backend=10\.9\.9\.11:80\b.* 1\.0$' "$DIR/samples" || true)
	if [ "$vip" = 1 ] && [ "$be" = 1 ]; then
		ok "metrics: per-VIP and per-backend families parse, with the config's VIP and backend"
	else
		bad "metrics: $vip vulb_vip_flows samples for the VIP, $be vulb_backend_up = 1 for the backend"
	fi
else
	bad "metrics: $(cat "$DIR/err")"
fi

kill -0 "$PID" 2>/dev/null && ok "daemon alive after every command" || bad "daemon died"
echo "# $passed passed, $failed failed"
[ "$failed" = 0 ]
