#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Event -> registry latency of the disc module against a real libvirtd and QEMU (TCG), next to
# what a 1 s polling loop sees: >= 20 start/destroy cycles of a small domain started paused
# (no guest CPU burnt; the QEMU process and libvirt's work are the same as for a booting VM).
#
#   bench/disc-latency.sh [BUILD_DIR] [CYCLES] [POLL_S]      (root; defaults: build 20 1)
#
# Uses a running libvirtd if there is one, else starts one itself (under disc-reaper) and
# stops it again. Also runs the same cycles against libvirt's in-process test driver, which
# shows the module's own cost without libvirtd and QEMU in the path.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
CYCLES=${2:-20}
POLL=${3:-1}
BIN=${DISC_LATENCY:-$BUILD/tests/disc/disc-latency}
DISC_REAPER=${DISC_REAPER:-$BUILD/tests/disc/disc-reaper}
# shellcheck source=tests/disc/lib.sh
. "$SRC/tests/disc/lib.sh"

if [ ! -x "$BIN" ] || [ ! -x "$DISC_REAPER" ]; then
	echo "build first: meson setup build && ninja -C build"
	exit 1
fi
disc_prereqs

DISC_WORK=$(mktemp -d /tmp/disc-bench.XXXXXX)
chmod 0755 "$DISC_WORK"
OWN_LIBVIRTD=0
cleanup() {
	set +e
	if [ "$OWN_LIBVIRTD" = 1 ]; then
		disc_libvirtd_stop
		disc_virtlogd_stop
	fi
	rm -rf "$DISC_WORK"
}
trap cleanup EXIT

cp "/boot/vmlinuz-$KVER" "$DISC_WORK/vmlinuz"	# libvirt chowns what it boots: use a copy
chmod 0644 "$DISC_WORK/vmlinuz"
cat >"$DISC_WORK/bench.xml" <<XML
<domain type='qemu'>
  <name>disc-bench-vm</name>
  <uuid>5f1d3c8a-7b2e-4c1d-9a8b-d15ce2eb0001</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$DISC_WORK/vmlinuz</kernel>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <memballoon model='none'/>
  </devices>
</domain>
XML
cat >"$DISC_WORK/test.xml" <<XML
<domain type='test'><name>disc-bench-td</name><uuid>5f1d3c8a-7b2e-4c1d-9a8b-d15ce2eb0002</uuid>
<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
XML

echo "== libvirt test driver (in process, no daemon): the module's own cost"
timeout 300 "$BIN" -u test:///default -x "$DISC_WORK/test.xml" -n "$CYCLES" -p "$POLL" | sed -n '/^results/,$p'

if ! disc_libvirtd_alive; then
	disc_libvirtd_start
	OWN_LIBVIRTD=1
fi
echo "== qemu:///system: libvirtd $(libvirtd --version | awk '{print $NF}'), $(qemu-system-x86_64 --version | head -1)"
exec 9>/tmp/vhost-lb-qemu.lock
flock -w 900 9
timeout 900 "$BIN" -u qemu:///system -x "$DISC_WORK/bench.xml" -n "$CYCLES" -p "$POLL" -P
