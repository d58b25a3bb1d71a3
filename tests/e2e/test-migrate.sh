#!/bin/bash
# Live migration of a guest on vhost-user-lb ports (issue 8): guest a migrates from one QEMU
# (port a) to another on this host (port a2, started with -incoming), driven over QMP, while
# guest b pings it every 0.2 s and streams random data to it over TCP (guest-ctl.sh).
# Passes when the migration completes, b's ping resumes within a bounded number of lost
# replies (printed per phase), no request is answered twice, what a received during and after
# the migration is intact (sha256 of the whole stream at both ends), the daemon logged dirty
# pages for the source (LOG_ALL + SET_LOG_BASE, and writes actually marked) and announced the
# guest's MAC from the destination (SEND_RARP), and b's frames follow a to its new port.
#
# The destination is started paused (-S), so at the switchover the source (stopped for good)
# and the destination (not started yet) must hold the same guest memory, byte for byte: a page
# the switch wrote after the migration sent it, and did not log, would differ, and so would one
# it wrote after the source stopped its rings. The comparison keeps a paused for about two
# seconds: the ping figures include that pause.
# What this cannot show: a switch that logs nothing passes here too (tried: 0 pages differ).
# Linux builds its skbs inside the RX buffers it receives big frames into (skb_shared_info at
# the buffer's end) and copies small ones out, so a's own CPU rewrites, and QEMU tracks, nearly
# every RX page the switch writes; which pages the switch marks is what the unit tests
# (test_dlog) check, and the counters below show the marking ran during the migration.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# From the source stopping to the destination's RARP moving a's MAC: the downtime, plus the
# destination's device start. A few seconds under TCG on a loaded machine.
MAX_LOST=${VLB_MAX_LOST_MIGRATE:-50}
INTERVAL=0.2
MAC_A=52:54:00:00:04:0a
MEM_MB=256

e2e_begin migrate
if standin; then
	missing "the daemon's migration counters (no stand-in for this test)"
fi

# migration_stat PORT FIELD: FIELD of the port's "migration" object in `stats --json`.
migration_stat() {
	ctl --json stats | python3 -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if p["name"] == sys.argv[1]:
        v = p.get("migration", {}).get(sys.argv[2], "")
        print(str(v).lower())' "$1" "$2"
}

# mac_port MAC: the port the daemon's MAC table has MAC on.
mac_port() {
	ctl --json stats | python3 -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if sys.argv[1] in [m if isinstance(m, str) else m.get("mac") for m in p.get("macs", [])]:
        print(p["name"])' "$1"
}

migration_status() {
	qmp "$RUN/a.qmp" query-migrate | python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", "none"))'
}

migration_done() {
	local st
	st=$(migration_status) || fail "query-migrate failed"
	case "$st" in
	completed) return 0 ;;
	failed | cancelled) fail "migration $st: $(qmp "$RUN/a.qmp" query-migrate)" ;;
	esac
	return 1
}

replied_after() {
	[ "$(pong_max b)" -gt "$1" ]
}

start_daemon --socket-dir "$RUN" --ctl-socket "$CTL" --libvirt-uri none --port a --port a2 --port b

# The destination's command line is the source's, plus -incoming: same devices, same memory.
guest_a=(--mem "${MEM_MB}M" --mac "$MAC_A" --ip 10.0.4.1/24 --param peer=10.0.4.2 --param listen=5001
	--script "$E2E_DIR/guest-ctl.sh")
boot_guest a --socket "$RUN/a.sock" --control "$RUN/a.ctl" --qmp "$RUN/a.qmp" "${guest_a[@]}"
boot_guest b --socket "$RUN/b.sock" --control "$RUN/b.ctl" --mac 52:54:00:00:04:0b \
	--ip 10.0.4.2/24 --param peer=10.0.4.1 --param ping=1 --param "interval=$INTERVAL" \
	--script "$E2E_DIR/guest-ctl.sh"
boot_guest a2 --socket "$RUN/a2.sock" --control "$RUN/a2.ctl" --qmp "$RUN/a2.qmp" \
	--incoming "unix:$RUN/migrate.sock" --stopped "${guest_a[@]}"
wait_mark 240 a listening
wait_mark 240 b pinging
wait_for 60 "b to have 10 replies" replies_at_least 10 b
check "a's MAC is on port a before the migration" all_equal a "$(mac_port $MAC_A)"
guest_send b "stream 5001"
wait_mark 30 b streaming
wait_for 60 "the stream to be under way" replies_at_least 15 b

# ---- migrate ----
wait_for 30 "the destination's QMP socket" test -S "$RUN/a2.qmp"
dst_status() {
	qmp "$RUN/a2.qmp" query-status | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'
}
check "the destination waits for the migration ($(dst_status))" all_equal inmigrate "$(dst_status)"
qmp "$RUN/a.qmp" migrate-set-parameters '{"max-bandwidth": 1073741824, "downtime-limit": 300}' >/dev/null ||
	fail "migrate-set-parameters"
s1=$(pong_max b)
t_mig=${EPOCHREALTIME/./}
qmp "$RUN/a.qmp" migrate "{\"uri\": \"unix:$RUN/migrate.sock\"}" >/dev/null || fail "migrate"
log "migration started (b's last reply seq=$s1)"
# While it runs, the source's port must be logging what the switch writes into a's memory.
logging_seen=no
deadline=$((${EPOCHREALTIME/./} + 180000000))
until migration_done; do
	[ "$(migration_stat a logging)" != true ] || logging_seen=yes
	[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "migration not completed after 180 s: $(qmp "$RUN/a.qmp" query-migrate)"
	sleep 0.2
done
s2=$(pong_max b)
info=$(qmp "$RUN/a.qmp" query-migrate)
log "migration completed in $(((${EPOCHREALTIME/./} - t_mig) / 1000)) ms (b's last reply seq=$s2): $(echo "$info" | python3 -c '
import json, sys
m = json.load(sys.stdin); r = m.get("ram", {})
print("total_time=%sms downtime=%sms setup=%sms transferred=%sMiB dirty_sync_count=%s"
      % (m.get("total-time"), m.get("downtime"), m.get("setup-time"),
         r.get("transferred", 0) >> 20, r.get("dirty-sync-count")))')"
writes=$(migration_stat a logged_writes)
log "source port a: dirty log of $(migration_stat a log_bytes) bytes, $writes writes logged, $(migration_stat a log_out_of_range) out of range; seen logging while migrating: $logging_seen"
check "the daemon logged dirty pages on the source port while it migrated" \
	all_equal "$logging_seen" yes
check "the daemon marked writes in the dirty log ($writes)" at_least "${writes:-0}" 1
check "no write fell outside the log" all_equal 0 "$(migration_stat a log_out_of_range)"
check "the daemon saw the source's LOG_ALL" grep -q "dirty-page logging on" "$RUN/daemon.log"
check "the daemon mapped the source's log (SET_LOG_BASE)" grep -q "dirty log: [0-9]* bytes" "$RUN/daemon.log"

# ---- the same memory on both sides ----
dst_arrived() {
	[ "$(dst_status)" != inmigrate ]
}
wait_for 30 "the destination to have the whole guest" dst_arrived
check "the destination holds the guest, paused ($(dst_status))" all_equal paused "$(dst_status)"
t_cmp=${EPOCHREALTIME/./}
for side in a a2; do
	qmp "$RUN/$side.qmp" pmemsave "{\"val\": 0, \"size\": $((MEM_MB << 20)), \"filename\": \"$RUN/$side.mem\"}" >/dev/null ||
		fail "pmemsave on $side"
done
differ=$(python3 - "$RUN/a.mem" "$RUN/a2.mem" <<'PY'
import sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
bad = []
page = 0
while True:
    x, y = a.read(1 << 20), b.read(1 << 20)
    if not x and not y:
        break
    if x != y:
        for off in range(0, max(len(x), len(y)), 4096):
            if x[off:off + 4096] != y[off:off + 4096]:
                bad.append(page + off)
    page += 1 << 20
print(len(bad), " ".join("0x%x" % g for g in bad[:8]))
PY
)
rm -f "$RUN/a.mem" "$RUN/a2.mem"
log "guest memory compared in $(((${EPOCHREALTIME/./} - t_cmp) / 1000)) ms: ${differ%% *} of $((MEM_MB << 8)) pages differ ${differ#* }"
check "source and destination hold the same guest memory at the switchover" all_equal 0 "${differ%% *}"
qmp "$RUN/a2.qmp" cont >/dev/null || fail "cont on the destination"
check "the destination is running" all_equal running "$(dst_status)"

wait_for 60 "b to get a reply from a on the destination" replied_after "$s2"
log "ping resumed $(((${EPOCHREALTIME/./} - t_mig) / 1000)) ms after the migration started"
rarp_seen() {
	at_least "$(migration_stat a2 rarp_announces)" 1
}
wait_for 30 "the destination's RARP" rarp_seen
check "the daemon announced a's MAC from the destination (SEND_RARP)" \
	grep -qi "announcing $MAC_A (SEND_RARP)" "$RUN/daemon.log"
check "a's MAC moved to port a2" all_equal a2 "$(mac_port $MAC_A)"
wait_for 60 "10 more replies" replies_at_least $((s2 + 10)) b

# The source is paused for good: quit it.
qmp "$RUN/a.qmp" quit >/dev/null || true
reap "${GUEST_PID[a]}" 10
unset "GUEST_PID[a]"

guest_send b stop
wait_mark 60 b stream-tx
guest_send a2 stop
wait_guests 120 a2 b

check_stream b a2 5001 "$(stream_field b stream-tx 5001 bytes)"
check "the stream carried data through the migration ($(stream_field a2 stream-rx 5001 bytes) bytes)" \
	at_least "$(stream_field a2 stream-rx 5001 bytes)" 100000
rep=$(ping_phases b "$s1" "$s2")
log "b's ping to a: $(echo "$rep" | tr '\n' ';')"
lost=$(($(phase_field "$rep" 1 lost) + $(phase_field "$rep" 2 lost)))
log "lost replies: before $(phase_field "$rep" 0 lost), while migrating $(phase_field "$rep" 1 lost), after it completed $(phase_field "$rep" 2 lost); longest outage ~$(awk -v a="$(phase_field "$rep" 1 longest_gap)" -v b="$(phase_field "$rep" 2 longest_gap)" -v i=$INTERVAL 'BEGIN { printf "%.1f", (a > b ? a : b) * i }') s"
check "no reply lost before the migration" all_equal 0 "$(phase_field "$rep" 0 lost)"
check "at most $MAX_LOST replies lost across the migration ($lost)" at_least "$MAX_LOST" "$lost"
check "no request answered twice (duplicates=$(summary_field "$rep" duplicates))" \
	all_equal 0 "$(summary_field "$rep" duplicates)" "$(summary_field "$rep" seqs_with_dups)"

e2e_pass
