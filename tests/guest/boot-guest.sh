#!/bin/bash
# Boot one throw-away QEMU TCG guest whose only NIC is a virtio-net-pci on a vhost-user socket.
#
# Usage: boot-guest.sh --socket PATH [options]
#   --socket PATH    the vhost-user socket
#   --server         QEMU listens on PATH (server=on) and the backend connects to it (a
#                    vhost-user-lb port with mode=client). Default: QEMU connects to a backend
#                    listening on PATH, retrying every second, so the guest may start first and
#                    survives a backend restart.
#   --queues N       queue pairs (default 1); N > 1 turns on mq
#   --smp N          vCPUs (default 1). Linux enables min(queues, vCPUs) pairs at probe time;
#                    `ethtool -L eth0 combined N` in the guest changes that.
#   --mem SIZE       guest RAM (default 256M)
#   --mac MAC        guest MAC (default 52:54:00:00:00:01; give each guest its own)
#   --ip CIDR        address for eth0 (kernel parameter vlb.ip)
#   --param K=V      kernel parameter vlb.K=V, seen by the test script as $VLB_K (repeatable)
#   --script FILE    shell script the guest runs as /test/run.sh once eth0 is up
#   --serial FILE    serial console to FILE (default: this terminal)
#   --image DIR      image from mkguest.sh (default: run tests/guest/mkguest.sh)
#   --name NAME      QEMU's -name
#   --control PATH   a second serial port (the guest's /dev/ttyS1) on a unix socket QEMU listens
#                    on at PATH: the host writes command lines there (see tests/e2e/guest-ctl.sh)
#   --qmp PATH       QMP on a unix socket QEMU listens on at PATH
#   --incoming URI   wait for an incoming migration on URI (QEMU's -incoming) instead of booting;
#                    the rest of the command line must match the source's
#   --stopped        do not run the guest until QMP "cont" (QEMU's -S); with --incoming, the
#                    migrated guest waits, paused, as it arrived
# The guest powers off when its script is done; its console shows the markers documented in
# tests/guest/init. The script execs QEMU, so `boot-guest.sh ... &` gives QEMU's pid in $!.
#
# CPU is scarce on the test machines: QEMU runs under an exclusive flock on
# /tmp/vhost-lb-qemu.lock, unless VHOST_LB_QEMU_LOCKED=1 says the caller already holds it for a
# whole test that boots several guests in parallel. Env QEMU overrides the binary.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK=/tmp/vhost-lb-qemu.lock

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -n 's/^# \{0,1\}//p' >&2
	exit 2
}

sock="" server=0 queues=1 smp=1 mem=256M mac=52:54:00:00:00:01 ip="" script="" serial=""
image="" name=vlb-guest control="" qmp="" incoming="" stopped=0
params=()
while [ $# -gt 0 ]; do
	case "$1" in
	--socket) sock=$2; shift ;;
	--server) server=1 ;;
	--queues) queues=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	--mac) mac=$2; shift ;;
	--ip) ip=$2; shift ;;
	--param) params+=("vlb.$2"); shift ;;
	--script) script=$2; shift ;;
	--serial) serial=$2; shift ;;
	--image) image=$2; shift ;;
	--name) name=$2; shift ;;
	--control) control=$2; shift ;;
	--qmp) qmp=$2; shift ;;
	--incoming) incoming=$2; shift ;;
	--stopped) stopped=1 ;;
	-h | --help) usage ;;
	*) echo "boot-guest.sh: unknown option '$1'" >&2; usage ;;
	esac
	shift
done
[ -n "$sock" ] || usage
case "$queues" in
'' | *[!0-9]* | 0) echo "boot-guest.sh: bad --queues '$queues'" >&2; exit 2 ;;
esac

[ -n "$image" ] || image=$("$HERE/mkguest.sh")
if [ ! -s "$image/vmlinux" ] || [ ! -s "$image/initramfs.cpio" ]; then
	echo "boot-guest.sh: no guest image in '$image'" >&2
	exit 1
fi

initrd=$image/initramfs.cpio
if [ -n "$script" ]; then
	# Linux unpacks concatenated cpio archives into one root: the test script rides on the cached
	# image as a second archive. newc archives are padded to 4 bytes and cpio pads its output to
	# 512-byte blocks, so the second one starts where the kernel looks for a header.
	tmp=$(mktemp -d)
	mkdir "$tmp/test"
	install -m 0755 "$script" "$tmp/test/run.sh"
	(cd "$tmp" && printf 'test\ntest/run.sh\n' | cpio -o -H newc -R 0:0 --quiet) >"$tmp/test.cpio"
	cat "$initrd" "$tmp/test.cpio" >"$tmp/initrd"
	# QEMU opens the initrd by path; hand it our open descriptor of an already deleted file so
	# nothing is left behind however QEMU ends.
	exec 7<"$tmp/initrd"
	rm -rf "$tmp"
	initrd=/dev/fd/7
fi

# no_timer_check: on a loaded host the IO-APIC timer check fails under TCG and panics the guest.
append="console=ttyS0 panic=-1 quiet loglevel=1 no_timer_check"
[ -z "$ip" ] || append="$append vlb.ip=$ip"
[ ${#params[@]} -eq 0 ] || append="$append ${params[*]}"

if [ "$server" = 1 ]; then
	chardev="socket,id=chr0,path=$sock,server=on,wait=off"
else
	chardev="socket,id=chr0,path=$sock,reconnect-ms=1000"
fi
# MSI-X: one vector per virtqueue plus config and control, so each queue gets its own
# interrupt (virtioN-input.M / virtioN-output.M in the guest's /proc/interrupts).
nic="virtio-net-pci,netdev=net0,mac=$mac,vectors=$((2 * queues + 2)),romfile="
if [ "$queues" -gt 1 ]; then
	nic="$nic,mq=on"
fi
if [ -n "$serial" ]; then
	console=(-serial "file:$serial" -monitor none)
else
	console=(-serial mon:stdio)
fi
# A command channel: the serial port after the console, so the guest sees it as ttyS1. QEMU
# drops what the guest writes there while no host side is connected.
[ -z "$control" ] || console+=(-chardev "socket,id=ctl0,path=$control,server=on,wait=off"
	-serial chardev:ctl0)
extra=()
[ -z "$qmp" ] || extra+=(-qmp "unix:$qmp,server=on,wait=off")
[ -z "$incoming" ] || extra+=(-incoming "$incoming")
[ "$stopped" = 0 ] || extra+=(-S)
bios=()
# qboot jumps straight to the kernel; SeaBIOS spends seconds probing under TCG.
[ ! -f /usr/share/qemu/qboot.rom ] || bios=(-bios /usr/share/qemu/qboot.rom)

if [ "${VHOST_LB_QEMU_LOCKED:-0}" != 1 ]; then
	# QEMU inherits the descriptor and so holds the lock until it exits.
	exec 9>"$LOCK"
	flock 9
fi

# Guest RAM must be a shared memfd: the backend maps it, and with share=off QEMU's private
# copy diverges from the backend's view (link up, no packet gets through).
exec "${QEMU:-qemu-system-x86_64}" -name "$name" \
	-accel tcg -machine pc,memory-backend=mem -cpu qemu64 -smp "$smp" -m "$mem" \
	-object "memory-backend-memfd,id=mem,size=$mem,share=on" \
	-nodefaults -no-user-config -display none -no-reboot "${bios[@]}" \
	"${console[@]}" \
	-kernel "$image/vmlinux" -initrd "$initrd" -append "$append" \
	-chardev "$chardev" \
	-netdev "vhost-user,id=net0,chardev=chr0,queues=$queues" \
	-device "$nic" "${extra[@]}"
