# shellcheck shell=bash
# Drive dpdk-testpmd instances interactively (sourced by tests/interop and bench/).
#
# testpmd quits when its stdin reaches EOF, so each instance reads a FIFO that we also hold
# open read-write on a file descriptor: the FIFO never sees EOF until we close it. Its output
# goes to a log file through stdbuf, because testpmd's stdio is block-buffered into a file and
# an answer we wait for could otherwise sit in its buffer for ever.
#
# Instances are named; state lives in the associative arrays below.

declare -gA TP_PID=() TP_FD=() TP_LOG=()

# Print EAL memory options that virtio-user can share with a vhost-user backend on this host.
# Hugepages with one segment file per memory type keep the frontend within the 8 memory
# regions of vhost-user; DPDK's default layout and --in-memory alone pass more and fail with
# "Too many memory regions" while the link still comes up. Without enough free hugepages,
# --no-huge works (one anonymous memfd region).
# $1: MiB wanted (default 256).
tp_mem_opts() {
	local mb=${1:-256} free_pages size_kb
	free_pages=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
	size_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
	if mountpoint -q /dev/hugepages 2>/dev/null && [ -n "$free_pages" ] &&
		[ $((free_pages * size_kb / 1024)) -ge $((mb + 64)) ]; then
		echo "--in-memory --single-file-segments -m $mb"
	else
		echo "--no-huge -m $mb"
	fi
}

# CPUs this process may run on, one per line: EAL refuses lcores outside our affinity.
tp_cpus() {
	awk '/^Cpus_allowed_list:/ {
		n = split($2, r, ",")
		for (i = 1; i <= n; i++) {
			if (split(r[i], b, "-") == 2) { for (c = b[1]; c <= b[2]; c++) print c } else print r[i]
		}
	}' /proc/self/status
}

# tp_start NAME DIR CMD... : start CMD with stdin on DIR/NAME.in, output in DIR/NAME.log.
tp_start() {
	local name=$1 dir=$2 fd
	shift 2
	mkfifo "$dir/$name.in"
	exec {fd}<>"$dir/$name.in"
	TP_FD[$name]=$fd
	TP_LOG[$name]=$dir/$name.log
	echo "$*" >"$dir/$name.cmd"
	stdbuf -oL -eL "$@" <"$dir/$name.in" >"${TP_LOG[$name]}" 2>&1 &
	TP_PID[$name]=$!
}

tp_alive() {
	[ -n "${TP_PID[$1]:-}" ] && kill -0 "${TP_PID[$1]}" 2>/dev/null
}

tp_send() {
	echo "$2" >&"${TP_FD[$1]}"
}

# tp_cmd NAME COMMAND REGEX COUNT [TIMEOUT_S]: send COMMAND and print the output it caused
# once REGEX has matched COUNT lines of it. Returns 1 on timeout or if testpmd died.
tp_cmd() {
	local name=$1 cmd=$2 re=$3 count=$4 tmo=${5:-30} log off new deadline
	log=${TP_LOG[$name]}
	off=$(stat -c %s "$log")
	tp_send "$name" "$cmd"
	deadline=$((SECONDS + tmo))
	while :; do
		new=$(tail -c +$((off + 1)) "$log")
		if [ "$(grep -cE "$re" <<<"$new")" -ge "$count" ]; then
			printf '%s\n' "$new"
			return 0
		fi
		tp_alive "$name" || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# tp_port_stats NAME NPORTS: print "port rx_packets rx_bytes tx_packets tx_bytes" per port,
# read from testpmd's ethdev counters ("show port stats all").
tp_port_stats() {
	tp_cmd "$1" "show port stats all" '^ *Tx-pps:' "$2" 10 | awk '
		/NIC statistics for port/ { p = $(NF - 1) }
		/RX-packets:/ { rxp[p] = $2; rxb[p] = $6 }
		/TX-packets:/ { txp[p] = $2; txb[p] = $6; seen[p] = 1 }
		END { for (p in seen) print p, rxp[p], rxb[p], txp[p], txb[p] }' | sort -n
}

# tp_links_up NAME NPORTS TIMEOUT_S: wait until the first NPORTS ports report link up.
tp_links_up() {
	local name=$1 n=$2 deadline=$((SECONDS + $3)) up
	while :; do
		up=$(tp_cmd "$name" "show port summary all" '^[0-9]+ +([0-9A-Fa-f]{2}:){5}' "$n" 5 |
			awk -v n="$n" '$1 ~ /^[0-9]+$/ && $1 < n && $5 == "up" {u++} END {print u + 0}') || up=0
		[ "$up" -ge "$n" ] && return 0
		tp_alive "$name" || return 1
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# A silent failure mode of virtio-user: the link comes up and TX counters rise, but the
# backend could not map our memory. Print the offending line, return 0 if found.
tp_log_has_errors() {
	grep -m3 -E 'Too many memory regions|Failed to (start|set|get|prepare)|virtio_user_dev_init fails|Cannot (init|create|allocate)|EAL: Error' \
		"${TP_LOG[$1]}"
}

# tp_stop NAME: ask testpmd to quit, then TERM, then KILL (our own child only).
tp_stop() {
	local name=$1 pid=${TP_PID[$1]:-} fd=${TP_FD[$1]:-} i
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		tp_send "$name" "stop" 2>/dev/null || true
		tp_send "$name" "quit" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$pid" 2>/dev/null && sleep 0.5
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	[ -z "$fd" ] || exec {fd}>&-
	TP_PID[$name]=
}
