#!/bin/sh
# Test script of the load-balancer e2e guests (busybox sh, /test/run.sh): one client and
# servers behind virtual IPs the switch balances. Parameters (vlb.KEY=VALUE -> $VLB_KEY):
#   VLB_ROLE     server | client
#   VLB_NAME     server: the name its page gives ("served-by=NAME")
#   VLB_PORTS    server: TCP ports httpd serves the page on (comma-separated, default 80)
#   VLB_SERVERS  client: the servers' own addresses (comma-separated); it waits until each
#                serves its page directly before it uses the VIPs
#   VLB_VIPS     client: the virtual IPs (port 80), used in turn
#   VLB_CONNS    client: connections per phase (default 40), one HTTP GET each
#   VLB_GONE     client: the server the host stops after phase 1; phase 2 starts once its
#                own address no longer answers
#   VLB_WAIT     seconds any single wait may take (default 60)
# Markers: "servers reachable", "phase n=N vip=ADDR ok=.. failed=.. NAME=count ...", one per
# VIP and phase; "server gone addr=.."; "httpd ready ports=..". The client tells the first
# server when it is done (nc to port 5000), so that server stays up until then.
ROLE=${VLB_ROLE:?}
WAIT=${VLB_WAIT:-60}
rc=0

mark() { echo "VLB: $* t=$(cut -d' ' -f1 /proc/uptime)"; }
bad() {
	mark "error $*"
	rc=1
}
words() { echo "$1" | tr ',' ' '; }

# http_get ADDR: the page at http://ADDR/ (body only). Not busybox wget: Debian's static
# busybox 1.35 wget segfaults, even on a numeric address; a request through nc does the same.
http_get() {
	printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" | timeout 10 nc -w 5 "$1" 80 2>/dev/null |
		tail -n 1
}

# nc without a terminal ends when its stdin does: give listeners a fifo that never ends.
mkfifo /tmp/never
exec 3<>/tmp/never

if [ "$ROLE" = server ]; then
	mkdir -p /www
	echo "served-by=${VLB_NAME:?}" >/www/index.html
	for p in $(words "${VLB_PORTS:-80}"); do
		httpd -p "$p" -h /www || bad "httpd -p $p failed"
	done
	addr=${VLB_IP%/*}
	# A gratuitous ARP: the switch learns where our MAC is before any client asks.
	arping -U -c 1 -I eth0 "$addr" >/dev/null 2>&1 || true
	mark "httpd ready ports=${VLB_PORTS:-80} addr=$addr"
	# Serve until the client says it is done (or the host stops this VM).
	timeout "$WAIT" nc -l -p 5000 <&3 >/tmp/barrier || bad "the client never said it was done"
	mark "barrier $(cat /tmp/barrier)"
	exit $rc
fi

CONNS=${VLB_CONNS:-40}
SERVERS=$(words "${VLB_SERVERS:?}")
VIPS=$(words "${VLB_VIPS:?}")

for s in $SERVERS; do
	i=0
	until http_get "$s" | grep -q '^served-by='; do
		i=$((i + 1))
		if [ "$i" -ge "$WAIT" ]; then
			mark "error server $s never answered:" \
				"ping says '$(ping -c 1 -W 1 "$s" 2>&1 | tail -n 1)'"
			exit 1
		fi
		usleep 500000
	done
done
mark "servers reachable"

# phase N: CONNS connections, to each VIP in turn, one GET each; counts who answered.
phase() {
	for v in $VIPS; do
		echo >"/tmp/count.$v"
	done
	i=0
	while [ "$i" -lt "$CONNS" ]; do
		for v in $VIPS; do
			[ "$i" -lt "$CONNS" ] || break
			out=$(http_get "$v")
			case "$out" in
			served-by=*) echo "${out#served-by=}" >>"/tmp/count.$v" ;;
			*) echo "FAILED" >>"/tmp/count.$v" ;;
			esac
			i=$((i + 1))
		done
	done
	for v in $VIPS; do
		ok=$(grep -vc -e '^FAILED$' -e '^$' "/tmp/count.$v")
		failed=$(grep -c '^FAILED$' "/tmp/count.$v")
		per=$(grep -v -e '^FAILED$' -e '^$' "/tmp/count.$v" | sort | uniq -c |
			awk '{ printf "%s=%s ", $2, $1 }')
		mark "phase n=$1 vip=$v ok=$ok failed=$failed $per"
		[ "$failed" = 0 ] || bad "phase $1: $failed connections to $v failed"
	done
}

phase 1
if [ -n "${VLB_GONE:-}" ]; then
	# The host stops that server once it sees phase 1 done: wait until it is really gone.
	i=0
	while ping -c 1 -W 1 "$VLB_GONE" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ "$i" -ge $((WAIT * 5)) ]; then
			mark "error $VLB_GONE still answers"
			exit 1
		fi
		usleep 200000
	done
	mark "server gone addr=$VLB_GONE"
	phase 2
fi

first=$(echo "$SERVERS" | cut -d' ' -f1)
n=0
until echo "client done" | nc "$first" 5000; do
	n=$((n + 1))
	[ "$n" -lt 50 ] || break
	usleep 200000
done
exit $rc
