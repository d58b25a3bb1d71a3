#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each for a
# given time or number of executions, merging inputs that found new coverage back into
# tests/fuzz/corpus/TARGET (replayed by `meson test --suite fuzz`). See docs/fuzzing.md.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/fuzz.sh [OPTION]... [TARGET]...
  -t, --time SECONDS   run each target this long (default 60)
  -r, --runs N         run each target for N executions instead of a time
  -b, --build-dir DIR  clang build directory (default build-fuzz)
  -j, --jobs N         parallel libFuzzer processes per target (default 1)
  -m, --max-len N      longest input libFuzzer makes (default: its own, up to 4096); the slow
                       targets run several requests per input, so a shorter limit runs more
      --no-merge       do not merge new inputs back into tests/fuzz/corpus
      --no-skip-known  do not steer around the known bugs listed in docs/fuzzing.md
      --seeds          regenerate the seed inputs (corpus/TARGET/seed-*) and exit
  -h, --help           this text
Targets: fuzz_vu_msg fuzz_vring fuzz_forward fuzz_ctl fuzz_session fuzz_pkt (default: all).
Crashes are written to BUILD/fuzz-artifacts/TARGET/; the script exits 1 if there is any.
Each run is logged to BUILD/fuzz-runs.log (date, target, executions, result).
USAGE
}

src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build-fuzz"
time_s=60
runs=""
jobs=1
max_len=""
merge=1
skip_known=1
seeds=0
targets=()
all_targets=(fuzz_vu_msg fuzz_vring fuzz_forward fuzz_ctl fuzz_session fuzz_pkt)

while [ $# -gt 0 ]; do
	case "$1" in
	-t | --time) time_s="$2"; shift 2 ;;
	-r | --runs) runs="$2"; shift 2 ;;
	-b | --build-dir) build=$(realpath -m "$2"); shift 2 ;;
	-j | --jobs) jobs="$2"; shift 2 ;;
	-m | --max-len) max_len="$2"; shift 2 ;;
	--no-merge) merge=0; shift ;;
	--no-skip-known) skip_known=0; shift ;;
	--seeds) seeds=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if [ ! -f "$build/build.ninja" ]; then
	command -v clang >/dev/null || { echo "fuzz.sh: clang is not installed" >&2; exit 1; }
	CC=clang meson setup "$build" "$src" -Dfuzzing=true >/dev/null
fi
ninja -C "$build" >/dev/null

if [ "$seeds" = 1 ]; then
	"$build/tests/fuzz/fuzz_gen_seeds" "$src/tests/fuzz/corpus"
	echo "seeds written to $src/tests/fuzz/corpus"
	exit 0
fi

# fuzz_ctl creates its sockets under $TMPDIR; a short private one, removed afterwards.
tmp=$(mktemp -d /tmp/vulb-fz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export TMPDIR="$tmp"
if [ "$skip_known" = 1 ]; then
	export VULB_FUZZ_SKIP_KNOWN=1
fi
# Leaks are checked per input by libFuzzer (LSan) and at exit. A smaller quarantine than
# ASan's 256 MB: every leak check scans it, and fuzz_pkt fell from 11,000 to 4,600 inputs/s
# as it filled; 32 MB still holds thousands of inputs' frees for use-after-free detection.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1:quarantine_size_mb=32}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
for t in "${targets[@]}"; do
	bin="$build/tests/fuzz/$t"
	corpus="$src/tests/fuzz/corpus/$t"
	work="$build/fuzz-work/$t"
	art="$build/fuzz-artifacts/$t"
	[ -x "$bin" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
	mkdir -p "$work" "$art" "$corpus"
	limit=(-max_total_time="$time_s")
	wall=$((time_s + 600))
	if [ -n "$runs" ]; then
		limit=(-runs="$runs")
		wall=$((7 * 24 * 3600))
	fi
	extra=()
	# Ports and flows are freed through call_rcu(): every input would look unbalanced and
	# trigger a full LSan scan (~30 ms). These targets check for leaks every 500-2000 inputs
	# themselves instead (fuzz_periodic_leak_check()).
	case $t in fuzz_ctl | fuzz_pkt) extra=(-detect_leaks=0) ;; esac
	[ -n "$max_len" ] && extra+=(-max_len="$max_len")
	par=()
	[ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")
	log="$build/fuzz-work/$t.log"
	rm -f "$work"/../fuzz-[0-9]*.log
	echo "== $t: ${limit[*]} ${par[*]}"
	rc=0
	# Absolute paths: the targets never chdir, but libFuzzer writes into these while running.
	(cd "$work/.." && timeout --kill-after=30 "$wall" \
		"$bin" "${limit[@]}" "${par[@]}" "${extra[@]}" -timeout=20 -print_final_stats=1 \
		-close_fd_mask=2 -artifact_prefix="$art/" "$work" "$corpus") >"$log" 2>&1 || rc=$?
	# With --jobs, each worker logs to fuzz-N.log in the directory libFuzzer ran in, and the
	# parent's log repeats their final stats: count the workers' logs only.
	if [ "$jobs" -gt 1 ]; then
		logs=("$work"/../fuzz-[0-9]*.log)
	else
		logs=("$log")
	fi
	execs=$(awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}' "${logs[@]}")
	speed=$(awk '/stat::average_exec_per_sec/ {s += $2} END {print s + 0}' "${logs[@]}")
	# slow-unit-* files are only reports (a periodic leak check may land on any input).
	if [ "$rc" != 0 ] || [ -n "$(find "$art" -type f ! -name 'slow-unit-*' -print -quit)" ]; then
		result="CRASH (rc $rc, see $art and $log)"
		failed=1
	else
		result=ok
	fi
	echo "$t: $execs executions (${speed}/s): $result"
	printf '%s %s executions=%s result=%s\n' "$(date -u +%FT%TZ)" "$t" "$execs" "$result" \
		>>"$build/fuzz-runs.log"
	if [ "$merge" = 1 ] && [ "$rc" = 0 ]; then
		before=$(find "$corpus" -type f | wc -l)
		"$bin" -merge=1 "$corpus" "$work" >"$build/fuzz-work/$t.merge.log" 2>&1
		echo "$t: corpus $before -> $(find "$corpus" -type f | wc -l) files"
	fi
done
exit "$failed"
