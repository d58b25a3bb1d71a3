# shellcheck shell=bash
# skip REASON: a test's prerequisite is missing. Outside CI the test is skipped (meson's exit
# 77); under CI (CI=true) that is a failure, since CI sets up everything the tests need and a
# skip would hide what is missing.
skip() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL: missing prerequisite under CI: $*"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}
