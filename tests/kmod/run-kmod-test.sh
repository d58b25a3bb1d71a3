#!/bin/bash
# run-kmod-test.sh - build vulb.ko against Debian's kernel headers, check its
# symbols, build the guest programs, and run tests/kmod/guest/kmodtest.sh in a
# QEMU TCG guest that boots Debian's own kernel (q35, intel-iommu with
# interrupt remapping, an igb SR-IOV PF, a 4-queue virtio-net).  The guest also
# runs the daemon and vhost-user-lbctl from the build directory (with their
# shared libraries) for the `vf` commands, without and then with the module.
# Passes only when the guest prints its PASS marker.
#
#   env: VHOST_LB_SRCDIR, VHOST_LB_BUILDDIR (set by meson), CI=true (a missing
#        prerequisite fails instead of skipping), PHASES (kmod,lib-fallback,
#        lib-kmod,daemon-fallback,daemon-kmod), TIMEOUT (s, default 300), SMP (2)
# The vmlinux, the module, the programs and the initramfs are cached under
# $VHOST_LB_BUILDDIR/kmod-test and rebuilt only when an input changes.
set -euo pipefail

SRC=${VHOST_LB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
B=${VHOST_LB_BUILDDIR:-$SRC/build}/kmod-test
PHASES=${PHASES:-kmod,lib-fallback,lib-kmod,daemon-fallback,daemon-kmod}
BUILD=${VHOST_LB_BUILDDIR:-$SRC/build}
TIMEOUT=${TIMEOUT:-300}
SMP=${SMP:-2}
MARK='==VULBKMOD== RESULT='

skip() {
	if [ "${CI:-}" = true ]; then echo "run-kmod-test: FAIL (missing under CI): $*"; exit 1; fi
	echo "run-kmod-test: SKIP: $*"; exit 77
}
die() { echo "run-kmod-test: FAIL: $*"; exit 1; }
us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
secs() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

# --- prerequisites --------------------------------------------------------
# The ABI version comes from what linux-headers-amd64 depends on today.
KVER=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
	sed -n 's/.*linux-headers-\([^ ,]*-amd64\).*/\1/p') || true
[ -n "$KVER" ] || skip "linux-headers-amd64 is not installed"
KDIR=/usr/src/linux-headers-$KVER
MODDIR=/lib/modules/$KVER
for f in "$KDIR/Module.symvers" "/boot/vmlinuz-$KVER" "$MODDIR/modules.dep" /bin/busybox; do
	[ -e "$f" ] || skip "$f missing (linux-image-amd64, linux-headers-amd64, busybox-static)"
done
for p in qemu-system-x86_64 gcc make flock unshare cpio gzip xz timeout nm modinfo jq; do
	command -v $p >/dev/null || skip "$p not found"
done
qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"' || skip "QEMU without -device igb (need QEMU >= 8)"
[ -e /usr/include/libmnl/libmnl.h ] || skip "libmnl-dev missing"
[ "$(id -u)" = 0 ] || skip "needs root (taps inside unshare -n)"
if [[ $PHASES == *daemon* ]]; then
	for f in vhost-user-lb vhost-user-lbctl; do
		[ -x "$BUILD/vhost-user-lb/$f" ] || skip "$BUILD/vhost-user-lb/$f not built"
	done
fi
unshare -n true 2>/dev/null || skip "unshare -n not permitted"

mkdir -p "$B"
T0=$(us)

# --- module ---------------------------------------------------------------
# Build in a copy so the source tree stays free of Kbuild output.
rm -rf "$B/src"; mkdir -p "$B/src/include/vhost-user-lb"
cp -r "$SRC/kmod" "$B/src/kmod"
cp "$SRC/include/vhost-user-lb/kmod-uapi.h" "$B/src/include/vhost-user-lb/"
make -C "$B/src/kmod" clean KDIR="$KDIR" >/dev/null 2>&1 || true
if ! make -C "$KDIR" M="$B/src/kmod" W=1 modules >"$B/kbuild.log" 2>&1; then
	cat "$B/kbuild.log"; die "module build failed"
fi
KO=$B/src/kmod/vulb.ko
# modpost: an unexported symbol is "undefined!", a GPL-only one used by a
# non-GPL module is "GPL-incompatible"; both are errors we refuse.
if grep -E 'undefined!|GPL-incompatible|warning:|error:' "$B/kbuild.log"; then
	die "module build produced warnings or modpost errors (see above)"
fi
[ "$(modinfo -F license "$KO")" = GPL ] || die "module license is not GPL"
[ "$(modinfo -F vermagic "$KO" | cut -d' ' -f1)" = "$KVER" ] || die "vermagic is not $KVER"
nsym=0
for s in $(nm -u "$KO" | awk '{print $2}'); do
	awk -v s="$s" '$2 == s { f = 1 } END { exit !f }' "$KDIR/Module.symvers" ||
		die "vulb.ko needs '$s', which $KVER does not export"
	nsym=$((nsym + 1))
done
echo "ok - vulb.ko built against $KVER; all $nsym undefined symbols are in Module.symvers; license GPL"
# The check above must be able to fail: a probe module that uses an unexported
# symbol (pci_iov_virtfn_bus) and, under a non-GPL license, a GPL-only one.
N=$B/probe; rm -rf "$N"; mkdir -p "$N"
cat >"$N/probe.c" <<'EOC'
#include <linux/module.h>
#include <linux/pci.h>
extern int pci_iov_virtfn_bus(struct pci_dev *dev, int id);
static int __init probe_init(void)
{
	return pci_iov_virtfn_bus(NULL, 0) + pci_num_vf(NULL);
}
module_init(probe_init);
MODULE_LICENSE("Proprietary");
EOC
echo 'obj-m := probe.o' >"$N/Makefile"
make -C "$KDIR" M="$N" modules >"$N/build.log" 2>&1 || true
grep -q '"pci_iov_virtfn_bus" .*undefined!' "$N/build.log" ||
	die "symbol check probe: modpost did not flag an unexported symbol"
grep -q "GPL-incompatible module probe.ko uses GPL-only symbol 'pci_num_vf'" "$N/build.log" ||
	die "symbol check probe: modpost did not flag a GPL-only symbol"
echo "ok - the symbol check catches an unexported and a GPL-only symbol (probe module)"

# --- guest programs -------------------------------------------------------
CFLAGS=(-O2 -Wall -Wextra -Werror -Wno-sign-compare -Wno-missing-field-initializers -D_GNU_SOURCE -I"$SRC/include")
gcc -static "${CFLAGS[@]}" -o "$B/vulbk" "$SRC/tests/kmod/vulbk.c"
# libmnl has no static archive in Debian: this one is dynamic, its libraries go along
S=$SRC/vhost-user-lb/sriov
if [[ $PHASES == *lib* ]]; then
	gcc "${CFLAGS[@]}" -I"$S" -o "$B/vulb-sriov-test" "$S"/vulb_sriov*.c "$S/sriov-test.c" -lmnl
else
	rm -f "$B/vulb-sriov-test"
fi
echo "ok - guest programs built"

# --- kernel and initramfs (cached) ----------------------------------------
VMLINUX=$B/vmlinux-$KVER
if [ ! -s "$VMLINUX" ]; then
	# PVH boot of the plain ELF saves the guest ~7 s of XZ decompression under TCG
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1)
	[ -n "$off" ] || die "no XZ stream in /boot/vmlinuz-$KVER"
	tail -c +$((off + 1)) "/boot/vmlinuz-$KVER" | xz -dcq >"$VMLINUX.tmp" 2>/dev/null || true
	readelf -h "$VMLINUX.tmp" >/dev/null 2>&1 || die "extracted vmlinux is not an ELF file"
	mv "$VMLINUX.tmp" "$VMLINUX"
fi
IMG=$B/initramfs.cpio.gz
DAEMONS=()
[[ $PHASES != *daemon* ]] || DAEMONS=("$BUILD/vhost-user-lb/vhost-user-lb" "$BUILD/vhost-user-lb/vhost-user-lbctl")
key=$(cat "$KO" "$B"/vulb[k-]* "${DAEMONS[@]}" "$SRC/tests/kmod/guest/"* \
	"$SRC/tests/kmod/run-kmod-test.sh" /bin/busybox | sha256sum | cut -d' ' -f1)
if [ ! -s "$IMG" ] || [ "$(cat "$B/initramfs.key" 2>/dev/null)" != "$key" ]; then
	R=$B/root
	rm -rf "$R"
	mkdir -p "$R"/{bin,sbin,usr/bin,proc,sys,dev,tmp,etc,lib/modules/extra,"$MODDIR"}
	cp /bin/busybox "$R/bin/"
	for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
	copy_dyn() {	# host binary, path in the image: with its shared libraries
		install -D -m755 "$1" "$R$2"
		ldd "$1" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r l; do
			install -D -m755 "$(readlink -f "$l")" "$R$l"
		done
	}
	rm -f "$R/bin/ip"
	copy_dyn "$(command -v ip)" /sbin/ip
	copy_dyn "$(command -v lspci)" /usr/bin/lspci
	[ ! -e "$B/vulb-sriov-test" ] || copy_dyn "$B/vulb-sriov-test" /bin/vulb-sriov-test
	# The daemon as built, with its shared libraries (libvirt's bring most of the size; VM
	# discovery is off in the guest, but the dynamic linker wants them all).
	for f in "${DAEMONS[@]}"; do copy_dyn "$f" "/usr/bin/${f##*/}"; done
	[ ${#DAEMONS[@]} = 0 ] || copy_dyn "$(command -v jq)" /usr/bin/jq
	install -m755 "$B/vulbk" "$R/bin/vulbk"
	install -m644 "$KO" "$R/lib/modules/extra/vulb.ko"
	echo 'nobody:x:65534:65534:nobody:/:/bin/false' >"$R/etc/passwd"
	declare -A want=()
	add_mod() {	# module and its modules.dep closure
		local line path dep
		line=$(grep -E "/${1}\.ko(\.xz)?:" "$MODDIR/modules.dep" | head -1) || die "no module $1"
		path=${line%%:*}
		[ -n "${want[$path]:-}" ] && return 0
		want[$path]=1
		for dep in ${line#*:}; do dep=${dep##*/}; add_mod "${dep%%.ko*}"; done
	}
	for m in igb igbvf virtio_pci virtio_net; do add_mod $m; done
	for p in "${!want[@]}"; do install -D -m644 "$MODDIR/$p" "$R$MODDIR/$p"; done
	for p in "${!want[@]}"; do grep -E "^$p:" "$MODDIR/modules.dep"; done >"$R$MODDIR/modules.dep"
	install -m755 "$SRC/tests/kmod/guest/init" "$R/init"
	install -m755 "$SRC/tests/kmod/guest/kmodtest.sh" "$R/kmodtest.sh"
	(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$IMG"
	echo "$key" >"$B/initramfs.key"
	echo "ok - initramfs built ($(du -h "$IMG" | cut -f1))"
else
	echo "ok - initramfs cached"
fi
T1=$(us)

# --- boot -----------------------------------------------------------------
APPEND="console=ttyS0 panic=-1 edd=off no_timer_check quiet intel_iommu=on vulb.phases=$PHASES"
# shellcheck disable=SC2054 # QEMU option values contain commas
QEMU=(qemu-system-x86_64 -accel tcg -machine q35 -cpu max -m 768 -smp "$SMP"
	-nodefaults -display none -serial stdio -no-reboot
	-kernel "$VMLINUX" -initrd "$IMG" -append "$APPEND"
	-device intel-iommu,intremap=on
	-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1
	-device igb,bus=rp1,netdev=n1,mac=52:54:00:12:34:56
	-netdev tap,id=n1,ifname=vulbt0,script=no,downscript=no,vhost=off
	-device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2
	-device virtio-net-pci,bus=rp2,netdev=n2,mq=on,vectors=10,mac=52:54:00:12:34:57,romfile=
	-netdev tap,id=n2,ifname=vulbq0,script=no,downscript=no,queues=4,vhost=off)
LOG=$B/guest.log
# The taps live in a private network namespace: the host's network is never touched.
# shellcheck disable=SC2016 # expanded by the inner shells
CMD=(flock /tmp/vhost-lb-qemu.lock sh -c 'echo "# qemu lock acquired"; exec "$@"' sh
	unshare -n -- sh -c 'ip link set lo up &&
	ip tuntap add dev vulbt0 mode tap && ip link set vulbt0 up &&
	ip tuntap add dev vulbq0 mode tap multi_queue &&
	ip addr add 10.77.0.1/24 dev vulbq0 && ip link set vulbq0 up &&
	exec timeout -k 5 "$0" "$@"' "$TIMEOUT" "${QEMU[@]}")
echo "# ${CMD[*]}" >"$LOG"
TW=$(us) TQ=$TW TL=$TW tinit="" tres=""
while IFS= read -r line; do
	[ "$line" = "# qemu lock acquired" ] && { TQ=$(us); TL=$TQ; }
	dt=$(($(us) - TQ))
	printf '%4d.%02d %s\n' $((dt / 1000000)) $((dt % 1000000 / 10000)) "$line" >>"$LOG"
	case $line in
	*"== vulb guest init"*) tinit=$dt ;;
	*"$MARK"*) tres=$dt ;;
	esac
	case $line in "ok "* | "not ok "* | "=== "* | *"$MARK"* | *"Kernel panic"*) echo "$line" ;; esac
done < <("${CMD[@]}" </dev/null 2>&1; echo "# qemu exit status $?")
TE=$(us)
at() { if [ -n "$1" ]; then echo "$(secs "$1")s"; else echo none; fi; }
echo "# timing: build+initramfs $(secs $((T1 - T0)))s, waited $(secs $((TL - TW)))s for the QEMU lock;" \
	"from QEMU start: guest init $(at "$tinit"), result $(at "$tres"), exit $(secs $((TE - TQ)))s" | tee -a "$LOG"
echo "# log: $LOG"
if grep -aq "${MARK}PASS" "$LOG"; then echo "run-kmod-test: PASS"; exit 0; fi
grep -a -E 'not ok|Kernel panic|BUG|Oops|qemu exit' "$LOG" | tail -30 || true
die "no PASS marker from the guest"
