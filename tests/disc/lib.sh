# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers for the disc e2e test and the disc latency benchmark: a tiny TCG guest, and a real
# libvirtd run by hand (these machines have no systemd as PID 1).
#
# Callers set DISC_WORK (a scratch directory, readable by libvirt-qemu) before using them.

disc_skip() {
	echo "SKIP: $*"
	if [ "${CI:-}" = true ]; then
		echo "(CI=true: a missing prerequisite is a failure)"
		exit 1
	fi
	exit 77
}

disc_log() { echo "[$(date +%H:%M:%S.%3N)] $*"; }

# wait_for FILE ERE TIMEOUT_S: until a line of FILE matches (polls the file, not the system;
# a wall-clock deadline, since a loaded machine stretches every iteration)
disc_wait_for() {
	local end=$((SECONDS + $3))
	while [ "$SECONDS" -le "$end" ]; do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# The kernel ABI Debian currently installs (never hard-coded: it changes with updates).
disc_kver() {
	dpkg-query -W -f='${Depends}\n' linux-image-amd64 2>/dev/null |
		sed -n 's/.*linux-image-\([0-9][^ ,]*\).*/\1/p' | head -n1
}

disc_prereqs() {
	[ "$(id -u)" = 0 ] || disc_skip "needs root (runs libvirtd)"
	local p
	for p in libvirtd virtlogd virsh qemu-system-x86_64 xz cpio gzip python3 flock timeout; do
		command -v "$p" >/dev/null || disc_skip "$p missing (scripts/setup-host.sh)"
	done
	[ -x /bin/busybox ] || disc_skip "busybox-static missing"
	KVER=$(disc_kver)
	if [ -z "$KVER" ] || [ ! -f "/boot/vmlinuz-$KVER" ] || [ ! -d "/lib/modules/$KVER" ]; then
		disc_skip "linux-image-amd64 kernel/modules missing"
	fi
	getent group libvirt-qemu >/dev/null || disc_skip "group libvirt-qemu missing"
}

# Uncompressed ELF vmlinux (booted through PVH: saves seconds of in-guest XZ under TCG) and a
# busybox initramfs with the virtio-net modules; the guest prints markers on ttyS0.
disc_build_guest() {
	local w=$DISC_WORK/initramfs.d off m
	off=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.find(b"\xfd7zXZ\x00"))' \
		"/boot/vmlinuz-$KVER")
	[ "$off" -ge 0 ] || { echo "no XZ payload in /boot/vmlinuz-$KVER"; return 1; }
	tail -c +$((off + 1)) "/boot/vmlinuz-$KVER" | xz -dc 2>/dev/null >"$DISC_WORK/vmlinux" || true
	head -c 4 "$DISC_WORK/vmlinux" | grep -q ELF || { echo "vmlinux extraction failed"; return 1; }
	rm -rf "$w"
	mkdir -p "$w/bin" "$w/proc" "$w/sys" "$w/dev" "$w/lib/modules"
	cp /bin/busybox "$w/bin/busybox"
	for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover \
		net_failover virtio_net; do
		f=$(find "/lib/modules/$KVER/kernel" -name "$m.ko*" | head -n1)
		[ -n "$f" ] || { echo "module $m not found"; return 1; }
		case "$f" in
		*.xz) xz -dc "$f" >"$w/lib/modules/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$w/lib/modules/$m.ko" ;;
		*) cp "$f" "$w/lib/modules/$m.ko" ;;
		esac
	done
	cat >"$w/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "DISC-GUEST: up, $(nproc) cpus"
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
	insmod /lib/modules/$m.ko 2>/dev/null
done
for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0
echo "DISC-GUEST: eth0 $(cat /sys/class/net/eth0/address) queues $(ls /sys/class/net/eth0/queues | tr '\n' ' ')"
i=0
while true; do
	i=$((i + 1))
	arping -c 1 -w 1 -I eth0 10.99.0.1 >/dev/null 2>&1
	echo "DISC-GUEST: tick $i tx=$(cat /sys/class/net/eth0/statistics/tx_packets) rx=$(cat /sys/class/net/eth0/statistics/rx_packets)"
	sleep 1
done
EOF
	chmod +x "$w/init"
	(cd "$w" && find . | cpio -o -H newc --quiet | gzip -1) >"$DISC_WORK/initramfs.gz"
	chmod 0644 "$DISC_WORK/vmlinux" "$DISC_WORK/initramfs.gz"
}

# libvirtd in the foreground under our subreaper, logging into DISC_WORK.
# Sets LIBVIRTD_STARTED_VIRTLOGD=1 when it had to start virtlogd.
disc_libvirtd_alive() {
	[ -s /run/libvirtd.pid ] && [ "$(cat "/proc/$(cat /run/libvirtd.pid)/comm" 2>/dev/null)" = libvirtd ]
}

disc_libvirtd_start() {
	if ! { [ -s /run/virtlogd.pid ] && [ -d "/proc/$(cat /run/virtlogd.pid)" ]; }; then
		virtlogd -d
		LIBVIRTD_STARTED_VIRTLOGD=1
		for _ in $(seq 100); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.05; done
	fi
	rm -f /run/libvirtd.pid
	LIBVIRT_LOG_OUTPUTS="1:file:$DISC_WORK/libvirtd.log" LIBVIRT_LOG_FILTERS="1:util.hook 1:qemu.qemu_process 3:*" \
		setsid "$DISC_REAPER" /usr/sbin/libvirtd </dev/null >>"$DISC_WORK/libvirtd.stderr" 2>&1 &
	for _ in $(seq 300); do
		virsh -q -c qemu:///system version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "libvirtd did not come up"; tail -20 "$DISC_WORK/libvirtd.stderr"
	return 1
}

disc_libvirtd_stop() {
	local p
	disc_libvirtd_alive || return 0
	p=$(cat /run/libvirtd.pid)
	kill -TERM "$p"
	for _ in $(seq 300); do [ -d "/proc/$p" ] || return 0; sleep 0.05; done
	kill -KILL "$p" 2>/dev/null || true
}

disc_virtlogd_stop() {
	if [ "${LIBVIRTD_STARTED_VIRTLOGD:-0}" = 1 ] && [ -s /run/virtlogd.pid ]; then
		kill -TERM "$(cat /run/virtlogd.pid)" 2>/dev/null || true
	fi
}
