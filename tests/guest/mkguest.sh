#!/bin/bash
# Build, once, the image the e2e tests boot under QEMU TCG, and print its directory on stdout.
#
# The directory holds:
#   vmlinux          Debian's kernel, uncompressed: QEMU boots the ELF through its PVH entry point,
#                    which saves the several seconds TCG spends decompressing a bzImage in the guest
#   initramfs.cpio   busybox (static), virtio_net and its module dependencies, ethtool, iperf3 with
#                    its libraries, and tests/guest/init as /init
#   kver             the kernel release both come from
#
# The kernel is the one the installed linux-image-amd64 package points at: Debian bumps the ABI
# (6.1.0-NN) with every security update, so the release is never written down here.
# Images are cached under VHOST_LB_CACHE (default: $VHOST_LB_BUILDDIR/guest-cache when that is
# set, else /var/cache/vhost-user-lb), keyed on the kernel package version, the versions of the
# other packages copied in, and the hash of this script and of init. VLB_GUEST_REBUILD=1 forces
# a rebuild.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODULES="virtio_net virtio_pci"

die() {
	echo "mkguest.sh: $*" >&2
	exit 1
}

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none
}

# The kernel release (e.g. 6.1.0-56-amd64) behind the linux-image-amd64 metapackage.
kernel_release() {
	local dep
	dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null) ||
		die "linux-image-amd64 is not installed (run scripts/setup-host.sh)"
	dep=$(echo "$dep" | sed 's/[,|]/\n/g' | sed -n 's/^ *linux-image-\([^ ]*\).*/\1/p' | sed -n 1p)
	[ -n "$dep" ] || die "cannot find the kernel package linux-image-amd64 depends on"
	echo "$dep"
}

# Uncompressed ELF vmlinux out of a bzImage, using the boot protocol's header fields rather than
# searching for magic bytes (Documentation/x86/boot.rst: setup_sects at 0x1f1, payload_offset at
# 0x248 and payload_length at 0x24c, relative to the protected-mode code after the setup sectors).
extract_vmlinux() {
	local vz=$1 out=$2 ss off len start magic payload
	ss=$(od -An -tu1 -j $((0x1f1)) -N1 "$vz" | tr -d ' ')
	[ "$ss" != 0 ] || ss=4
	off=$(od -An -tu4 -j $((0x248)) -N4 "$vz" | tr -d ' ')
	len=$(od -An -tu4 -j $((0x24c)) -N4 "$vz" | tr -d ' ')
	[ "$len" -gt 4 ] || die "$vz: no payload in the bzImage header"
	start=$(((ss + 1) * 512 + off))
	magic=$(od -An -tx1 -j "$start" -N6 "$vz" | tr -d ' \n')
	# The build appends the uncompressed size (4 bytes) to the stream: leave it out.
	payload=(dd "if=$vz" bs=64K "iflag=skip_bytes,count_bytes" "skip=$start" "count=$((len - 4))"
		status=none)
	case "$magic" in
	fd377a585a00) "${payload[@]}" | xz -dc >"$out" ;;
	28b52ffd*) "${payload[@]}" | zstd -qdc >"$out" ;;
	1f8b*) "${payload[@]}" | gzip -dc >"$out" ;;
	*) die "$vz: unknown payload compression (magic $magic)" ;;
	esac
	# QEMU only boots an ELF kernel that has the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY = 18).
	readelf -n "$out" | awk '$1 == "Xen" && /0x00000012|PHYS32_ENTRY/ { ok = 1 } END { exit !ok }' ||
		die "$vz: the kernel has no PVH entry point (CONFIG_PVH)"
}

# Modules in load order (dependencies first), as paths under /lib/modules/$kver.
module_order() {
	local kver=$1 m
	local -A seen=()
	visit() {
		local dep
		[ -z "${seen[$1]:-}" ] || return 0
		seen[$1]=1
		for dep in $(modinfo -k "$kver" -F depends "$1" | tr ',' ' '); do
			visit "$dep"
		done
		modinfo -k "$kver" -F filename "$1"
	}
	for m in $MODULES; do
		visit "$m"
	done
}

copy_module() {
	local src=$1 stage=$2 base
	base=$(basename "$src")
	case "$base" in
	*.ko.xz) base=${base%.xz}; xz -dc "$src" >"$stage/lib/modules/$base" ;;
	*.ko.zst) base=${base%.zst}; zstd -qdc "$src" >"$stage/lib/modules/$base" ;;
	*.ko.gz) base=${base%.gz}; gzip -dc "$src" >"$stage/lib/modules/$base" ;;
	*) cp "$src" "$stage/lib/modules/$base" ;;
	esac
	echo "/lib/modules/$base" >>"$stage/etc/modules.order"
}

# A dynamic binary and every library ldd resolves for it, at the same paths as on the host.
copy_with_libs() {
	local bin=$1 stage=$2 lib
	mkdir -p "$stage$(dirname "$bin")"
	cp -L "$bin" "$stage$bin"
	for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
	done
}

build() {
	local kver=$1 dir=$2 stage busybox a f
	busybox=$(command -v busybox) || die "busybox not found (install busybox-static)"
	# The initramfs carries no libc for busybox.
	if ldd "$busybox" >/dev/null 2>&1; then
		die "$busybox is dynamically linked: install busybox-static"
	fi
	[ -f "/boot/vmlinuz-$kver" ] || die "/boot/vmlinuz-$kver is missing"
	[ -d "/lib/modules/$kver" ] || die "/lib/modules/$kver is missing"
	for f in /usr/sbin/ethtool /usr/bin/iperf3; do
		[ -x "$f" ] || die "$f is missing (run scripts/setup-host.sh)"
	done

	stage=$dir/stage
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules,test}
	cp "$busybox" "$stage/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
	done
	: >"$stage/etc/modules.order"
	for f in $(module_order "$kver"); do
		case "$f" in
		"(builtin)" | builtin) ;;
		*) copy_module "$f" "$stage" ;;
		esac
	done
	copy_with_libs /usr/sbin/ethtool "$stage"
	copy_with_libs /usr/bin/iperf3 "$stage"
	echo "root:x:0:0:root:/:/bin/sh" >"$stage/etc/passwd"
	echo "root:x:0:" >"$stage/etc/group"
	echo "127.0.0.1 localhost" >"$stage/etc/hosts"
	install -m 0755 "$HERE/init" "$stage/init"

	# Uncompressed: under TCG, inflating ~20 MB in the guest costs more than QEMU copying it.
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) >"$dir/initramfs.cpio"
	rm -rf "$stage"
	extract_vmlinux "/boot/vmlinuz-$kver" "$dir/vmlinux"
	echo "$kver" >"$dir/kver"
}

main() {
	local kver cache key dir tmp
	kver=$(kernel_release)
	if [ -n "${VHOST_LB_CACHE:-}" ]; then
		cache=$VHOST_LB_CACHE
	elif [ -n "${VHOST_LB_BUILDDIR:-}" ]; then
		cache=$VHOST_LB_BUILDDIR/guest-cache
	else
		cache=/var/cache/vhost-user-lb
	fi
	mkdir -p "$cache"
	key=$({
		echo "$kver"
		for p in linux-image-amd64 "linux-image-$kver" busybox-static ethtool iperf3 libiperf0; do
			echo "$p $(pkg_version "$p")"
		done
		cat "${BASH_SOURCE[0]}" "$HERE/init"
	} | sha256sum | cut -c1-16)
	dir=$cache/guest-$kver-$key

	# Parallel test runs must not build the same image twice or see a half-written one.
	exec 8>"$cache/.lock"
	flock -w 600 8 || die "timed out waiting for $cache/.lock"
	if [ "${VLB_GUEST_REBUILD:-0}" = 1 ]; then
		rm -rf "$dir"
	fi
	if [ ! -s "$dir/vmlinux" ] || [ ! -s "$dir/initramfs.cpio" ]; then
		echo "mkguest.sh: building the guest image for $kver in $dir" >&2
		tmp=$(mktemp -d "$cache/.build.XXXXXX")
		# shellcheck disable=SC2064 # expand now: tmp is local
		trap "rm -rf '$tmp'" EXIT
		build "$kver" "$tmp"
		rm -rf "$dir"
		mv "$tmp" "$dir"
		trap - EXIT
		# Older images only take disk space.
		find "$cache" -mindepth 1 -maxdepth 1 -name 'guest-*' ! -path "$dir" -exec rm -rf {} +
		echo "mkguest.sh: initramfs $(du -h "$dir/initramfs.cpio" | cut -f1)," \
			"vmlinux $(du -h "$dir/vmlinux" | cut -f1)" >&2
	fi
	exec 8>&-
	echo "$dir"
}

main "$@"
