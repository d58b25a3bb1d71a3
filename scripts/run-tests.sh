#!/bin/bash
# Set up the host (idempotent), build, and run every test suite. Ends with "N passed, N failed".
#
#   scripts/run-tests.sh              all suites
#   scripts/run-tests.sh unit e2e     only these suites
#
# Three builds: build-ci (-Werror, optimised) runs every suite; build-asan (AddressSanitizer +
# UndefinedBehaviorSanitizer, -Werror) runs the unit, protocol and fuzz suites again;
# build-tsan (ThreadSanitizer) runs the protocol tests that exercise several workers.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [ "$(id -u)" = 0 ]; then
	scripts/setup-host.sh || { echo "setup-host.sh failed"; echo "0 passed, 1 failed"; exit 1; }
fi

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit protocol interop install fuzz e2e kmod disc)

configure() { # DIR ARGS...
	local dir=$1; shift
	if [ -d "$dir" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

passed=0 failed=0
count() { # LOGDIR: add the results of the last meson test run in it
	local json=$1/meson-logs/testlog.json p f
	[ -f "$json" ] || return 0
	read -r p f < <(python3 - "$json" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r is not None:
        bad += 1   # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, and SKIP (a skip hides a missing prerequisite)
print(ok, bad)
PY
)
	passed=$((passed + p)); failed=$((failed + f))
}

run_suites() { # BUILDDIR SUITE...
	local dir=$1; shift
	local args=() s
	local have
	have=$(meson introspect "$dir" --tests | python3 -c '
import json, sys
print(" ".join(sorted({s.split(":")[-1] for t in json.load(sys.stdin) for s in t["suite"]})))')
	for s in "$@"; do
		case " $have " in *" $s "*) args+=(--suite "$s") ;; esac
	done
	[ ${#args[@]} -gt 0 ] || return 0
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs "${args[@]}"
	count "$dir"
}

build_failed() {
	echo "build of $1 failed"
	failed=$((failed + 1))
}

if configure build-ci -Dwerror=true --buildtype=debugoptimized && ninja -C build-ci; then
	run_suites build-ci "${suites[@]}"
else
	build_failed build-ci
fi

asan_suites=()
for s in "${suites[@]}"; do
	case $s in unit|protocol|fuzz) asan_suites+=("$s") ;; esac
done
if [ ${#asan_suites[@]} -gt 0 ]; then
	if configure build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all && ninja -C build-asan; then
		VHOST_LB_SLOW=3 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
			run_suites build-asan "${asan_suites[@]}"
	else
		build_failed build-asan
	fi
fi

# ThreadSanitizer over the tests whose daemon runs several workers and moves rings between
# them (balancer, multi-queue, reload, fairness, forwarding). liburcu is annotated for TSan in
# vhost-user-lb/core/rcu.h; tests/tsan-suppressions.txt says why each suppression is there.
tsan_tests=()
for s in "${suites[@]}"; do
	[ "$s" = protocol ] && tsan_tests=(protocol-balance protocol-mq protocol-reload protocol-fairness
		protocol-forward)
done
if [ ${#tsan_tests[@]} -gt 0 ]; then
	if configure build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false -Dc_args=-Wno-tsan &&
		ninja -C build-tsan; then
		rm -f build-tsan/meson-logs/testlog.json
		VHOST_LB_SLOW=5 TSAN_OPTIONS="halt_on_error=1 suppressions=$top/tests/tsan-suppressions.txt" \
			meson test -C build-tsan --print-errorlogs "${tsan_tests[@]}"
		count build-tsan
	else
		build_failed build-tsan
	fi
fi

cd "$top"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
