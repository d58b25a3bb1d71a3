#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The real daemon under a stand-in for systemd's notify socket (fake-notify.py, abstract name
# as systemd >= 254 hands out in containers, path otherwise): READY=1 with a STATUS= only
# once the control socket answers; WATCHDOG=1 at about half of $WATCHDOG_USEC; RELOADING=1
# (with MONOTONIC_USEC) then READY=1 around a SIGHUP reload and a `vhost-user-lbctl reload`;
# STOPPING=1 on SIGTERM; every message from the daemon's own pid (NotifyAccess=main).
# Without $NOTIFY_SOCKET the daemon runs exactly as before.
#
# Env (set by meson): VHOST_LB_BIN, VHOST_LB_CTL, VHOST_LB_SRCDIR. CI=true: a missing
# prerequisite fails instead of skipping. VLB_KEEP=1 keeps the run directory.
set -euo pipefail

BIN=${VHOST_LB_BIN:?VHOST_LB_BIN is not set (run through meson test)}
CTL=${VHOST_LB_CTL:?VHOST_LB_CTL is not set (run through meson test)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAILED=0
N=0
DAEMON_PID=""
TIMEOUT_PID=""
FAKE_PID=""

ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

missing() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true): missing prerequisite: $*"
		exit 1
	fi
	echo "SKIP: missing prerequisite: $*"
	exit 77
}
command -v python3 >/dev/null || missing python3

RUN=$(mktemp -d "${TMPDIR:-/tmp}/vulb-notify.XXXXXX")
cleanup() {
	[ -z "$DAEMON_PID" ] || kill "$DAEMON_PID" 2>/dev/null || true
	[ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ "${VLB_KEEP:-}" = 1 ] || [ "$FAILED" -ne 0 ]; then
		echo "# run directory kept: $RUN"
	else
		rm -rf "$RUN"
	fi
}
trap cleanup EXIT

# wait_for SECONDS FILE REGEX: until a line of FILE matches.
wait_for() {
	local deadline=$((SECONDS + $1))
	while [ "$SECONDS" -lt "$deadline" ]; do
		grep -qE -- "$3" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_fake() {
	: >"$RUN/notify.log"
	python3 "$HERE/fake-notify.py" "$1" >"$RUN/notify.log" 2>"$RUN/notify.err" &
	FAKE_PID=$!
	wait_for 10 "$RUN/notify.log" '^listening$' || { cat "$RUN/notify.err"; not_ok "fake notify socket $1"; exit 1; }
}

# start_daemon LOG [ENV=VALUE | -u NAME]...: the daemon under `timeout`. $DAEMON_PID is the
# daemon itself, timeout's child: notify messages carry its pid, and signals go to it directly
# (timeout would turn a SIGHUP into a SIGTERM for its child).
start_daemon() {
	local log=$1 i
	shift
	env "$@" timeout 120 "$BIN" -c "$RUN/vulb.conf" -d "$RUN/sock" -m "$RUN/metrics.sock" 2>"$log" &
	TIMEOUT_PID=$!
	DAEMON_PID=""
	for ((i = 0; i < 100; i++)); do
		DAEMON_PID=$(pgrep -P "$TIMEOUT_PID" || true)
		[ -z "$DAEMON_PID" ] || return 0
		sleep 0.05
	done
	not_ok "daemon started under timeout"
	exit 1
}

stop_daemon() {
	kill -TERM "$DAEMON_PID"
	DAEMON_PID_EXITED=$DAEMON_PID
	wait "$TIMEOUT_PID" && DAEMON_RC=0 || DAEMON_RC=$?
	DAEMON_PID=""
	TIMEOUT_PID=""
}

cat >"$RUN/vulb.conf" <<EOF
[daemon]
log-level = info
[port p1]
EOF

# --- 1: abstract notify socket, watchdog, reloads, stop ------------------------------------
addr="@vulb-test-notify-$$"
start_fake "$addr"
start_daemon "$RUN/daemon.log" NOTIFY_SOCKET="$addr" WATCHDOG_USEC=1000000
wait_for 20 "$RUN/daemon.log" 'ready:' || { cat "$RUN/daemon.log"; not_ok "daemon ready"; exit 1; }
check "READY=1 with a STATUS line" wait_for 5 "$RUN/notify.log" "^[0-9.]+ $DAEMON_PID (.*\|)?READY=1(\|.*)?$"
ready_line=$(grep -E "READY=1" "$RUN/notify.log" | head -n1 || true)
check "STATUS= sent with READY=1 ('${ready_line#* * }')" grep -q 'STATUS=' <<<"$ready_line"
# READY means the control socket answers: it must, right now.
check "control socket answers after READY=1" "$CTL" -s "$RUN/sock/ctl.sock" status

# Watchdog: 1 s interval, pings expected every ~0.5 s. Count them over 3 s.
sleep 3
pings=$(grep -c "^[0-9.]* $DAEMON_PID WATCHDOG=1$" "$RUN/notify.log" || true)
check "WATCHDOG=1 at about twice the watchdog rate ($pings pings in >3 s, want >= 4)" test "$pings" -ge 4
gaps=$(grep "^[0-9.]* $DAEMON_PID WATCHDOG=1$" "$RUN/notify.log" |
	awk 'NR > 1 && $1 - prev > m { m = $1 - prev } { prev = $1 } END { printf "%.3f", m + 0 }' || true)
check "largest gap between pings ${gaps}s < 1 s (the watchdog interval)" \
	awk -v g="$gaps" 'BEGIN { exit !(g > 0 && g < 1.0) }'

before=$(wc -l <"$RUN/notify.log")
kill -HUP "$DAEMON_PID"
wait_for 10 "$RUN/daemon.log" 'reloaded' || true
check "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1" wait_for 5 "$RUN/notify.log" \
	"^[0-9.]+ $DAEMON_PID .*READY=1"
after=$(tail -n +"$((before + 1))" "$RUN/notify.log" | grep -v 'WATCHDOG=1$' | cut -d' ' -f3- | tr '\n' ' ' || true)
check "SIGHUP notifications in order: $after" \
	grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ (.*\|)?READY=1' <<<"$after"

before=$(wc -l <"$RUN/notify.log")
check "vhost-user-lbctl reload succeeds" "$CTL" -s "$RUN/sock/ctl.sock" reload
wait_for 5 "$RUN/notify.log" "^[0-9.]+ $DAEMON_PID .*READY=1" || true
after=$(tail -n +"$((before + 1))" "$RUN/notify.log" | grep -v 'WATCHDOG=1$' | cut -d' ' -f3- | tr '\n' ' ' || true)
check "vhost-user-lbctl reload notifications in order: $after" \
	grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ (.*\|)?READY=1' <<<"$after"

# A reload that fails still ends the RELOADING state (systemd would wait otherwise).
echo "bogus line" >>"$RUN/vulb.conf"
before=$(wc -l <"$RUN/notify.log")
"$CTL" -s "$RUN/sock/ctl.sock" reload >/dev/null 2>&1 && rc=0 || rc=$?
wait_for 5 "$RUN/notify.log" "^[0-9.]+ $DAEMON_PID .*READY=1" || true
after=$(tail -n +"$((before + 1))" "$RUN/notify.log" | grep -v 'WATCHDOG=1$' | cut -d' ' -f3- | tr '\n' ' ' || true)
check "failed reload (rc $rc) still ends with READY=1: $after" \
	grep -qE '^RELOADING=1\|MONOTONIC_USEC=[0-9]+ (.*\|)?READY=1' <<<"$after"

stop_daemon
check "SIGTERM: STOPPING=1 sent" grep -qE "^[0-9.]+ $DAEMON_PID_EXITED (.*\|)?STOPPING=1" "$RUN/notify.log"
check "daemon exits 0 on SIGTERM (rc $DAEMON_RC)" test "$DAEMON_RC" = 0
others=$(awk -v p="$DAEMON_PID_EXITED" '$1 != "listening" && $2 != p' "$RUN/notify.log" | head -n3)
check "every message carries the daemon's pid${others:+ (not: $others)}" test -z "$others"
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=""

# --- 2: path socket, watchdog meant for another process ------------------------------------
sed -i '/^bogus line$/d' "$RUN/vulb.conf"
start_fake "$RUN/notify.sock"
start_daemon "$RUN/daemon2.log" NOTIFY_SOCKET="$RUN/notify.sock" WATCHDOG_USEC=200000 WATCHDOG_PID=1
wait_for 20 "$RUN/daemon2.log" 'ready:' || { cat "$RUN/daemon2.log"; not_ok "daemon ready (2)"; exit 1; }
check "path socket: READY=1" wait_for 5 "$RUN/notify.log" "^[0-9.]+ $DAEMON_PID (.*\|)?READY=1"
sleep 1
check "WATCHDOG_PID of another process: no pings" \
	test "$(grep -c 'WATCHDOG=1' "$RUN/notify.log" || true)" = 0
stop_daemon
check "path socket: STOPPING=1" grep -qE "^[0-9.]+ $DAEMON_PID_EXITED (.*\|)?STOPPING=1" "$RUN/notify.log"
kill "$FAKE_PID" 2>/dev/null || true
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=""

# --- 3: no systemd: nothing changes; a dead notify socket is harmless ----------------------
start_daemon "$RUN/daemon3.log" -u NOTIFY_SOCKET -u WATCHDOG_USEC -u WATCHDOG_PID
check "without NOTIFY_SOCKET: ready" wait_for 20 "$RUN/daemon3.log" 'ready:'
stop_daemon
check "without NOTIFY_SOCKET: clean exit (rc $DAEMON_RC)" test "$DAEMON_RC" = 0
start_daemon "$RUN/daemon4.log" NOTIFY_SOCKET="$RUN/nobody-listens.sock" WATCHDOG_USEC=200000
check "notify socket nobody listens on: still ready" wait_for 20 "$RUN/daemon4.log" 'ready:'
sleep 0.5
check "notify socket nobody listens on: daemon keeps running" kill -0 "$DAEMON_PID"
stop_daemon
check "notify socket nobody listens on: clean exit (rc $DAEMON_RC)" test "$DAEMON_RC" = 0

echo "1..$N"
echo "# $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
