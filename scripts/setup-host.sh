#!/bin/bash
# Install everything vhost-user-lb needs to build, run and test on Debian 12 (bookworm).
# Idempotent: safe to run again; does nothing that is already done.
#
# QEMU comes from bookworm-backports (10.x): Debian 12's QEMU 7.2 segfaults under TCG when a
# vhost-user virtio-net uses MSI-X, and only QEMU >= 8 emulates igb (SR-IOV VFs for kmod tests).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup-host.sh: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

enable_backports() {
	local f=/etc/apt/sources.list.d/vhost-user-lb-backports.sources uris
	[ -f "$f" ] && return 0
	# Reuse the mirror the machine already uses instead of naming one.
	uris=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
		grep -v security | head -n1)
	[ -n "$uris" ] || uris=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
	[ -n "$uris" ] || { echo "setup-host.sh: cannot find the Debian mirror" >&2; exit 1; }
	cat >"$f" <<EOT
Types: deb
URIs: $uris
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	rm -f /var/lib/apt/vhost-user-lb.updated
}

BUILD_PKGS="meson ninja-build gcc clang llvm pkg-config liburcu-dev libjson-c-dev libmnl-dev
	libxml2-dev libclang-rt-14-dev libfuzzer-14-dev"
# dpdk-testpmd ships in dpdk-dev; its vhost, virtio, null and ring-mempool drivers are only
# Recommends of dpdk, which --no-install-recommends would skip (testpmd then finds no port).
TEST_PKGS="busybox-static linux-image-amd64 linux-headers-amd64 iperf3 ethtool cpio gzip xz-utils
	zstd kmod dpdk dpdk-dev librte-net-vhost23 librte-net-virtio23 librte-net-null23
	librte-mempool-ring23 python3 python3-prometheus-client iproute2 procps psmisc util-linux
	netcat-openbsd man-db binutils jq"
# libvirt-dev comes from backports too: installed from bookworm it pulls libvirt0 9.0, which the
# backports daemon then replaces, and the headers must match the library the module links.
BACKPORTS_PKGS="qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev"

missing() {
	local p out=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"
	done
	echo "$out"
}

enable_backports
# shellcheck disable=SC2086
need=$(missing $BUILD_PKGS $TEST_PKGS)
# shellcheck disable=SC2086
need_bp=$(missing $BACKPORTS_PKGS)
if [ -n "$need$need_bp" ] || ! qemu-system-x86_64 --version 2>/dev/null | grep -q 'version \(9\|[1-9][0-9]\)'; then
	if [ ! -f /var/lib/apt/vhost-user-lb.updated ]; then
		apt-get update -q
		touch /var/lib/apt/vhost-user-lb.updated
	fi
	# shellcheck disable=SC2086
	[ -z "$need" ] || apt-get install -y -q --no-install-recommends $need
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends -t bookworm-backports $BACKPORTS_PKGS
fi

# The libvirt client library, its headers and the daemon must be one version.
lv_versions=$(dpkg-query -W -f='${Version}\n' libvirt0 libvirt-dev libvirt-daemon 2>/dev/null | sort -u)
if [ "$(echo "$lv_versions" | wc -l)" != 1 ]; then
	echo "setup-host.sh: libvirt packages disagree ($(echo "$lv_versions" | tr '\n' ' ')); reinstalling from backports" >&2
	apt-get install -y -q --no-install-recommends -t bookworm-backports libvirt0 libvirt-dev \
		libvirt-daemon libvirt-daemon-system libvirt-clients
fi

# 2 MiB hugepages for DPDK-based tests and benchmarks (the daemon itself does not need them).
want_huge=${VHOST_LB_HUGEPAGES:-512}
if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want_huge" ]; then
	echo "$want_huge" >/proc/sys/vm/nr_hugepages || true
fi
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs none /dev/hugepages || true
echo "setup-host.sh: done"
