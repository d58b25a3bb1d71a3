#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `meson install` into a staging directory: every file we ship is there (binaries, man pages,
# the systemd unit, the sample config, the libvirt hook when the tree has it) and nothing meson
# lists is missing; the installed programs run; the man pages render without a single groff
# warning and document every option, command and config key the code has; the sample config
# passes --check-config; the unit passes `systemd-analyze verify` (when systemd-analyze exists).
#
# Env (set by meson): VHOST_LB_BUILDDIR, VHOST_LB_SRCDIR.
#   CI=true         a missing prerequisite fails instead of skipping
#   VLB_KEEP=1      keep the staging directory
set -euo pipefail

BUILDDIR=${VHOST_LB_BUILDDIR:?VHOST_LB_BUILDDIR is not set (run through meson test)}
SRCDIR=${VHOST_LB_SRCDIR:?VHOST_LB_SRCDIR is not set (run through meson test)}
FAILED=0
N=0

ok() {
	N=$((N + 1))
	echo "ok $N - $*"
}

not_ok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $N - $*"
}

# check DESCRIPTION COMMAND...: runs COMMAND, one result line either way.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

missing() {
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true): missing prerequisite: $*"
		exit 1
	fi
	echo "SKIP: missing prerequisite: $*"
	exit 77
}

for p in meson python3 man groff lexgrog; do
	command -v "$p" >/dev/null || missing "$p (scripts/setup-host.sh installs it)"
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/vulb-install.XXXXXX")
cleanup() {
	if [ "${VLB_KEEP:-}" = 1 ] || [ "$FAILED" -ne 0 ]; then
		echo "# staging directory kept: $STAGE"
	else
		rm -rf "$STAGE"
	fi
}
trap cleanup EXIT
D=$STAGE/root

if ! meson install -C "$BUILDDIR" --destdir "$D" --no-rebuild --quiet >"$STAGE/install.log" 2>&1; then
	cat "$STAGE/install.log"
	not_ok "meson install --destdir"
	exit 1
fi
ok "meson install --destdir $D"

# One introspection (each costs a second or more): the configured directories as meson
# resolved them (absolute, or relative to the prefix), the version, and the install list.
INSTALLED=$STAGE/installed.txt
eval "$(meson introspect "$BUILDDIR" --buildoptions --installed --projectinfo | python3 -c '
import json, os, shlex, sys
info = json.load(sys.stdin)
opts = {o["name"]: o["value"] for o in info["buildoptions"]}
prefix = opts["prefix"]
def d(name):
    return os.path.join(prefix, opts[name])
unitdir = opts.get("systemdunitdir") or os.path.join(prefix, "lib/systemd/system")
for k, v in (("PREFIX", prefix), ("BINDIR", d("bindir")), ("MANDIR", d("mandir")),
             ("SYSCONFDIR", d("sysconfdir")), ("UNITDIR", unitdir),
             ("SOCKET_DIR", opts["socket_dir"]), ("VERSION", info["projectinfo"]["version"])):
    print("%s=%s" % (k, shlex.quote(v)))
with open(sys.argv[1], "w") as f:
    f.write("".join(dst + "\n" for dst in info["installed"].values()))
' "$INSTALLED")"
echo "# prefix $PREFIX, bindir $BINDIR, mandir $MANDIR, sysconfdir $SYSCONFDIR, unitdir $UNITDIR"

MAN8_DAEMON=$MANDIR/man8/vhost-user-lb.8
MAN8_CTL=$MANDIR/man8/vhost-user-lbctl.8
MAN5_CONF=$MANDIR/man5/vhost-user-lb.conf.5
UNIT=$UNITDIR/vhost-user-lb.service
SAMPLE=$SYSCONFDIR/vhost-user-lb/vhost-user-lb.conf.sample
HOOK=$SYSCONFDIR/libvirt/hooks/qemu.d/vhost-user-lb

# --- what we ship is installed --------------------------------------------------------------
for f in "$BINDIR/vhost-user-lb" "$BINDIR/vhost-user-lbctl"; do
	check "installed, executable: $f" test -x "$D$f" -a -f "$D$f"
done
for f in "$MAN8_DAEMON" "$MAN8_CTL" "$MAN5_CONF" "$UNIT" "$SAMPLE"; do
	check "installed: $f" test -s "$D$f"
done
if [ -f "$SRCDIR/libvirt-hooks/vhost-user-lb" ]; then
	check "installed, executable: libvirt hook $HOOK" test -x "$D$HOOK" -a -f "$D$HOOK"
	check "hook identical to the tree's" cmp -s "$SRCDIR/libvirt-hooks/vhost-user-lb" "$D$HOOK"
else
	echo "# the tree has no libvirt-hooks/vhost-user-lb: no hook to install"
	check "no hook installed when the tree has none" test ! -e "$D$HOOK"
fi

# Everything meson says it installs is there (catches a rule that points to the wrong place).
missing_files=""
while read -r f; do
	[ -e "$D$f" ] || [ -L "$D$f" ] || missing_files="$missing_files $f"
done <"$INSTALLED"
check "meson lists $(wc -l <"$INSTALLED") installed files" test -s "$INSTALLED"
check "every file of meson introspect --installed is in the staging dir${missing_files:+ (missing: $missing_files)}" \
	test -z "$missing_files"

# --- the installed programs run -------------------------------------------------------------
out=$("$D$BINDIR/vhost-user-lb" --version 2>&1 || true)
check "installed daemon: --version says '$out'" test "$out" = "vhost-user-lb $VERSION"
out=$("$D$BINDIR/vhost-user-lbctl" --version 2>&1 || true)
check "installed client: --version says '$out'" test "$out" = "vhost-user-lbctl $VERSION"

# --- man pages -----------------------------------------------------------------------------
# Rendered text with hyphenation undone: a word split by groff ends the line with U+2010; a
# line that ends with an explicit '-' (vhost-user-\nlbctl) keeps it.
render() {
	LC_ALL=C.UTF-8 MANWIDTH=200 MAN_KEEP_FORMATTING=0 man -l "$1" 2>/dev/null | col -bx |
		sed -e ':a' -e '/‐$/{N;s/‐\n *//;ba' -e '}' | sed -e ':a' -e '/-$/{N;s/-\n */-/;ba' -e '}' |
		tr -s ' \n' '  '
}

declare -A TEXT=()
for page in "$MAN8_DAEMON" "$MAN8_CTL" "$MAN5_CONF"; do
	f=$D$page
	name=$(basename "$page")
	TEXT[$page]=$(render "$f")
	w=$(groff -man -ww -z "$f" 2>&1 || echo "(groff failed)")
	check "$name: groff -man -ww -z prints no warning${w:+: $w}" test -z "$w"
	w=$(MANWIDTH=80 man --warnings=w -l -Tutf8 "$f" 2>&1 >/dev/null || echo "(man failed)")
	check "$name: man -l renders with no warning${w:+: $w}" test -z "$w"
	w=$(grep -o '@[A-Z_]*@' "$f" | sort -u | tr '\n' ' ' || true)
	check "$name: no placeholder left${w:+: $w}" test -z "$w"
	w=$(lexgrog "$f" 2>&1 || true)
	check "$name: whatis entry ($w)" grep -q ' - ' <<<"$w"
	check "$name: paths follow the configuration ($SOCKET_DIR, $SYSCONFDIR)" \
		grep -qF -e "$SOCKET_DIR" -e "$SYSCONFDIR" <<<"${TEXT[$page]}"
done

# Documentation keeps up with the code: each long option of the daemon's --help, each command
# of the client's --help, and each key config.c accepts must appear in its page.
daemon_text=${TEXT[$MAN8_DAEMON]}
opts=$("$D$BINDIR/vhost-user-lb" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
check "daemon --help lists options" test -n "$opts"
for o in $opts; do
	check "vhost-user-lb(8) documents $o" grep -qF -- "$o" <<<"$daemon_text"
done

ctl_text=${TEXT[$MAN8_CTL]}
# Command lines of the usage text: two-space indent, then lower-case words up to the first
# argument (upper case), option or the two-space gap before the description.
cmds=$("$D$BINDIR/vhost-user-lbctl" --help | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]\)/\1/p' |
	sed 's/  .*//' | awk '{ c = ""; for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++) c = c (c ? " " : "") $i; print c }' |
	sort -u)
check "vhost-user-lbctl --help lists commands" test -n "$cmds"
while read -r c; do
	[ -n "$c" ] || continue
	check "vhost-user-lbctl(8) documents '$c'" grep -qF -- "$c" <<<"$ctl_text"
done <<<"$cmds"
for o in $("$D$BINDIR/vhost-user-lbctl" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	check "vhost-user-lbctl(8) documents $o" grep -qF -- "$o" <<<"$ctl_text"
done

conf_text=${TEXT[$MAN5_CONF]}
# [limits] keys come from core/limits.c's table: { "max-...", ...
keys=$({ grep -ho 'strcmp(key, "[a-z][a-z0-9-]*")' "$SRCDIR"/vhost-user-lb/daemon/config*.c
	grep -ho '{ "max-[a-z-]*"' "$SRCDIR"/vhost-user-lb/core/limits.c; } |
	sed 's/.*"\(.*\)".*/\1/' | sort -u)
check "config.c keys found (strcmp(key, \"...\")); update this test if config.c changed style" \
	test -n "$keys"
for k in $keys; do
	check "vhost-user-lb.conf(5) documents key '$k'" grep -qE -- "(^| )$k = " <<<"$conf_text"
done

# --- the sample config is valid, as shipped and with every example line enabled ------------
out=$("$D$BINDIR/vhost-user-lb" --check-config -c "$D$SAMPLE" 2>&1) && rc=0 || rc=$?
check "sample config as shipped passes --check-config ($out)" test "$rc" = 0
sed -e 's/^#\([a-z-]* = \)/\1/' -e 's/^#\(\[\(port\|vip\|vm\) \)/\1/' "$D$SAMPLE" >"$STAGE/all.conf"
getent group libvirt-qemu >/dev/null || sed -i 's/^group = libvirt-qemu/group = root/' "$STAGE/all.conf"
out=$("$D$BINDIR/vhost-user-lb" --check-config -c "$STAGE/all.conf" 2>&1) && rc=0 || rc=$?
check "sample config with every example enabled passes --check-config ($out)" \
	test "$rc" = 0 -a "$out" = "configuration OK: 3 ports, 2 workers"
# Each key of config.c appears in the sample, so the sample is a complete reference.
for k in $keys; do
	check "sample config shows key '$k'" grep -qE "^#?$k = " "$D$SAMPLE"
done

# --- the systemd unit ----------------------------------------------------------------------
w=$(grep -o '@[A-Z_]*@' "$D$UNIT" | sort -u | tr '\n' ' ' || true)
check "unit: no placeholder left${w:+: $w}" test -z "$w"
check "unit: ExecStart is the installed daemon" grep -qx "ExecStart=$BINDIR/vhost-user-lb" "$D$UNIT"
check "unit: Type=notify" grep -qx 'Type=notify' "$D$UNIT"
check "unit: WatchdogSec set" grep -q '^WatchdogSec=' "$D$UNIT"
# shellcheck disable=SC2016 # $MAINPID is systemd's, not ours
check "unit: reload sends SIGHUP" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$D$UNIT"
check "unit: RuntimeDirectory is the default socket directory" \
	test "/run/$(sed -n 's/^RuntimeDirectory=//p' "$D$UNIT")" = "$SOCKET_DIR"
if command -v systemd-analyze >/dev/null; then
	# verify checks that ExecStart exists and that Documentation= man pages resolve: point both
	# at the staging directory (a copy of the unit; the installed one names the real path).
	mkdir -p "$STAGE/verify"
	sed "s|^ExecStart=$BINDIR/|ExecStart=$D$BINDIR/|" "$D$UNIT" >"$STAGE/verify/vhost-user-lb.service"
	w=$(cd "$STAGE/verify" && MANPATH=$D$MANDIR SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify --generators=no ./vhost-user-lb.service 2>&1) && rc=0 || rc=$?
	check "systemd-analyze verify (rc $rc)${w:+: $w}" test "$rc" = 0 -a -z "$w"
	w=$(systemd-analyze security --offline=yes "$STAGE/verify/vhost-user-lb.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: //p' || true)
	echo "# systemd-analyze security: exposure ${w:-unknown}"
else
	echo "# systemd-analyze not installed: unit not verified"
fi

echo "1..$N"
echo "# $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
