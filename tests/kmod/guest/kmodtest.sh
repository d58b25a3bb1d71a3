#!/bin/sh
# kmodtest.sh - runs inside the TCG guest (busybox ash).  Every result of
# vulb.ko or of the vulb_sriov library is compared with what sysfs, procfs or
# iproute2 say.  TAP-style lines; the exit status is the number of failures.
# shellcheck disable=SC2086,SC2012,SC2016 # names here are ethN and PCI addresses (no spaces); busybox has no find -printf; sh -c strings expand inside
N=0 FAILS=0
ok()   { N=$((N+1)); echo "ok $N - $*"; }
nok()  { N=$((N+1)); FAILS=$((FAILS+1)); echo "not ok $N - $*"; }
note() { echo "# $*"; }
check() { d=$1; shift; if "$@" >/tmp/out 2>&1; then ok "$d"; else nok "$d (rc=$?)"; cat /tmp/out; fi; }
# eq DESC ACTUAL EXPECTED
eq() { if [ "$2" = "$3" ]; then ok "$1 [$2]"; else nok "$1: got '$2' want '$3'"; fi; }
# kv LINE KEY: value of " KEY=value" in a key=value line
kv() { echo "$1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
# run a vulbk sequence; its output goes to /tmp/vk and stdout
vk() { timeout 30 vulbk "$@" >/tmp/vk 2>&1; r=$?; cat /tmp/vk; return $r; }
IP=/sbin/ip	# iproute2: busybox's ip applet has no "vf" keyword
NCPU=$(nproc)
drv_of() { basename "$(readlink -f "/sys/class/net/$1/device/driver")"; }
nic_by_drv() { for n in /sys/class/net/*; do [ "$(drv_of "${n##*/}")" = "$1" ] && echo "${n##*/}"; done; }
wait_for() { i=0; while [ $i -lt 50 ]; do sh -c "$1" && return 0; sleep 0.2; i=$((i+1)); done; return 1; }
grp_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
vf_bdf() { basename "$(readlink -f "$P/virtfn$1")"; }
vf_net() { ls "$P/virtfn$1/net" 2>/dev/null | head -1; }
MOD=/lib/modules/extra/vulb.ko

echo "=== setup: igb PF, igbvf, multi-queue virtio-net"
for m in igb igbvf virtio_pci virtio_net; do modprobe $m || nok "modprobe $m"; done
wait_for '[ -n "$(ls /sys/bus/pci/drivers/igb/ | grep :)" ]'
PF=$(nic_by_drv igb | head -1)
VNIC=$(nic_by_drv virtio_net | head -1)
P=/sys/class/net/$PF/device
PFBDF=$(basename "$(readlink -f "$P")")
VBDF=$(basename "$(readlink -f "/sys/class/net/$VNIC/device/..")")
note "PF=$PF ($PFBDF) virtio=$VNIC ($VBDF) cpus=$NCPU"
check "igb PF netdev found" test -n "$PF"
check "virtio-net netdev found" test -n "$VNIC"
$IP link set "$PF" up
$IP link set lo up
$IP addr add 10.77.0.2/24 dev "$VNIC"; $IP link set "$VNIC" up
wait_for "[ \"\$(cat /sys/class/net/$PF/carrier 2>/dev/null)\" = 1 ]"
check "PF has carrier" test "$(cat /sys/class/net/$PF/carrier)" = 1
check "IOMMU with interrupt remapping" sh -c "dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping'"

PHASES=$(sed -n 's/.*vulb.phases=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
PHASES=${PHASES:-kmod lib-fallback lib-kmod daemon-fallback daemon-kmod}
T=$((NCPU-1))
for phase in $PHASES; do
case $phase in
kmod)
echo "=== kmod: load"
check "insmod vulb.ko" insmod $MOD
eq "/dev/vulb mode" "$(stat -c %a /dev/vulb)" 600
vk version; V=$(grep '^version' /tmp/vk)
eq "ABI version" "$(kv "$V" abi)" 1
eq "nr_cpu_ids" "$(kv "$V" nr_cpu_ids)" "$NCPU"

echo "=== kmod: enable VFs through the PF driver"
check "SRIOV_SET $PF 2" vk sriov "$PF" 2
eq "sysfs sriov_numvfs" "$(cat $P/sriov_numvfs)" 2
eq "lspci: 2 igbvf functions" "$(lspci -n | grep -c 8086:10ca)" 2
check "SRIOV_SET 2 -> 3 refused (go through 0, like sysfs)" vk ! EBUSY sriov "$PF" 3
check "SRIOV_SET 2 -> 2 is a no-op" vk sriov "$PF" 2
wait_for "[ -n \"\$(ls $P/virtfn1/net 2>/dev/null)\" ]"
# igb resets the PF when it enables VFs: wait until the link is back
wait_for "[ \"\$(cat /sys/class/net/$PF/carrier 2>/dev/null)\" = 1 ]"

echo "=== kmod: enumerate PFs"
vk pfs; L=$(grep '^pf ' /tmp/vk)
eq "one SR-IOV PF" "$(echo "$L" | grep -c .)" 1
eq "PF address" "$(kv "$L" pci)" "$PFBDF"
eq "PF netdev" "$(kv "$L" ifname)" "$PF"
eq "PF driver" "$(kv "$L" driver)" igb
eq "PF total VFs = sysfs sriov_totalvfs" "$(kv "$L" total)" "$(cat $P/sriov_totalvfs)"
eq "PF VFs = sysfs sriov_numvfs" "$(kv "$L" num)" "$(cat $P/sriov_numvfs)"
eq "PF NUMA node = sysfs" "$(kv "$L" numa)" "$(cat $P/numa_node)"
eq "PF IOMMU group = sysfs" "$(kv "$L" group)" "$(grp_of "$PFBDF")"
eq "PF link speed = sysfs" "$(kv "$L" speed)" "$(cat /sys/class/net/$PF/speed)"
eq "PF vendor:device = sysfs" "$(kv "$L" vendor):$(kv "$L" device)" "$(sed 's/0x//' $P/vendor):$(sed 's/0x//' $P/device)"
vk pf "$PFBDF"; eq "PF by address = PF by index" "$(grep '^pf ' /tmp/vk | sed 's/index=[0-9]* //')" "$(echo "$L" | sed 's/index=[0-9]* //')"

echo "=== kmod: enumerate VFs"
vk vfs "$PF"
eq "two VFs listed" "$(grep -c '^vf ' /tmp/vk)" 2
for i in 0 1; do
	L=$(grep "^vf index=$i " /tmp/vk); B=$(vf_bdf $i); G=$(grp_of "$B")
	GN=$(ls /sys/kernel/iommu_groups/$G/devices | wc -l)
	eq "VF $i address = sysfs virtfn$i" "$(kv "$L" pci)" "$B"
	eq "VF $i netdev = sysfs" "$(kv "$L" ifname)" "$(vf_net $i)"
	eq "VF $i driver = sysfs" "$(kv "$L" driver)" "$(basename "$(readlink -f /sys/bus/pci/devices/$B/driver)")"
	eq "VF $i NUMA node = sysfs" "$(kv "$L" numa)" "$(cat /sys/bus/pci/devices/$B/numa_node)"
	eq "VF $i IOMMU group = sysfs" "$(kv "$L" group)" "$G"
	eq "VF $i group size = /sys/kernel/iommu_groups" "$(kv "$L" group_devices)" "$GN"
	eq "VF $i isolated flag = (group size 1)" "$(kv "$L" isolated)" "$([ "$GN" = 1 ] && echo 1 || echo 0)"
done

echo "=== kmod: VF settings through ndo_set_vf_* (cross-checked with ip link)"
check "VF_SET vf 0 mac/vlan/qos/spoofchk/trust/max" vk set "$PF" 0 mac=02:00:00:00:00:a0 vlan=100 qos=3 spoofchk=0 trust=1 max=100
S=$($IP link show "$PF" | grep 'vf 0 '); echo "$S"
check "ip link: vf 0 settings" sh -c "echo '$S' | grep -q 'link/ether 02:00:00:00:00:a0.*vlan 100, qos 3.*max_tx_rate 100Mbps.*spoof checking off.*trust on'"
vk vf "$PF" 0; L=$(grep '^vf ' /tmp/vk)
eq "VF_GET reads back mac" "$(kv "$L" mac)" 02:00:00:00:00:a0
eq "VF_GET vlan/qos/spoofchk/trust/max" "$(kv "$L" vlan)/$(kv "$L" qos)/$(kv "$L" spoofchk)/$(kv "$L" trust)/$(kv "$L" max)" 100/3/0/1/100
check "VF_SET vf 1 spoofchk on, trust off, max 50" vk set "$PF" 1 spoofchk=1 trust=0 max=50
check "ip link: vf 1 settings" sh -c "$IP link show $PF | grep 'vf 1 ' | grep -q 'max_tx_rate 50Mbps.*spoof checking on.*trust off'"
check "VF_SET min_tx_rate on igb: EINVAL from the driver" vk ! EINVAL set "$PF" 1 min=10 max=50
eq "  ... and the failing step is reported (RATE=0x10)" "$(sed -n 's/set failed_bit=//p' /tmp/vk)" 0x10
check "VF_SET vlan 0 clears the VLAN" vk set "$PF" 0 vlan=0 qos=0
check "ip link: vf 0 has no VLAN" sh -c "! $IP link show $PF | grep 'vf 0 ' | grep -q 'vlan 100'"

echo "=== kmod: ownership and events"
vulbk events 100 60000 >/tmp/ev 2>&1 &
EVPID=$!
sleep 0.3
vulbk assign "$PF" 0 vmA isolated , hold >/tmp/hold 2>&1 &
HOLD=$!
check "holder assigned VF 0 to vmA" wait_for "grep -q '^hold:' /tmp/hold"
vk vf "$PF" 0; L=$(grep '^vf ' /tmp/vk)
eq "VF 0 owner seen from another fd" "$(kv "$L" owned)/$(kv "$L" mine)/$(kv "$L" vm)" 1/0/vmA
check "ASSIGN the owned VF 0 to vmB: EBUSY" vk ! EBUSY assign "$PF" 0 vmB
check "RELEASE from a non-owner fd: EPERM" vk ! EPERM release "$PF" 0 vmA
check "VF_SET on a VF owned by another fd: EBUSY" vk ! EBUSY set "$PF" 0 trust=0
check "SRIOV_SET 0 while a VF is owned: EBUSY" vk ! EBUSY sriov "$PF" 0
vk pf "$PF"; eq "PF reports 1 owned VF" "$(kv "$(grep '^pf ' /tmp/vk)" owned)" 1
kill $HOLD; wait $HOLD 2>/dev/null
check "owner fd closed -> VF 0 free" sh -c "vulbk vf $PF 0 | grep -q ' owned=0 .* vm= '"
check "one fd: assign, idempotent re-assign, read, release" vk assign "$PF" 1 vmB , assign "$PF" 1 vmB , vf "$PF" 1 , release "$PF" 1 vmB , vf "$PF" 1
eq "  owned by me while assigned" "$(grep '^vf ' /tmp/vk | head -1 | sed 's/.* owned=\([01]\) mine=\([01]\) vm=\([^ ]*\).*/\1\2\3/')" 11vmB
eq "  free after release" "$(grep '^vf ' /tmp/vk | tail -1 | sed 's/.* owned=\([01]\) mine=\([01]\) vm=\([^ ]*\).*/\1\2\3/')" 00
check "RELEASE with the wrong VM name: ESRCH" vk assign "$PF" 1 vmC , ! ESRCH release "$PF" 1 vmX
vulbk assign "$PF" 0 vmD , hold >/tmp/hold 2>&1 &
HOLD=$!
wait_for "grep -q '^hold:' /tmp/hold"
check "RELEASE force by CAP_SYS_ADMIN" vk release "$PF" 0 vmD force
kill $HOLD; wait $HOLD 2>/dev/null
VF1=$(vf_net 1)
$IP link set "$VF1" up; sleep 1; $IP link set "$VF1" down
vulbk assign "$PF" 1 vmE , hold >/tmp/hold 2>&1 &
HOLD=$!
wait_for "grep -q '^hold:' /tmp/hold"
check "SR-IOV disabled behind our back (sysfs)" sh -c "echo 0 > $P/sriov_numvfs"
check "VF_GET of the vanished VF 1: ERANGE" vk ! ERANGE vf "$PF" 1
kill $HOLD; wait $HOLD 2>/dev/null
sleep 0.5
kill $EVPID; wait $EVPID 2>/dev/null
cat /tmp/ev
check "event: assigned vmA to VF 0" grep -q "type=assigned pf=$PFBDF vf=0 vm=vmA reason=0" /tmp/ev
check "event: released vmA, reason close (2)" grep -q "type=released pf=$PFBDF vf=0 vm=vmA reason=2" /tmp/ev
check "event: assigned + released vmB, reason explicit (1)" sh -c "grep -q 'type=assigned pf=$PFBDF vf=1 vm=vmB' /tmp/ev && grep -q 'type=released pf=$PFBDF vf=1 vm=vmB reason=1' /tmp/ev"
check "event: vmC released when its fd closed" grep -q "type=released pf=$PFBDF vf=1 vm=vmC reason=2" /tmp/ev
check "event: vmD force-released (explicit)" grep -q "type=released pf=$PFBDF vf=0 vm=vmD reason=1" /tmp/ev
check "event: vmE released, reason VF removed (3)" grep -q "type=released pf=$PFBDF vf=1 vm=vmE reason=3" /tmp/ev
check "event: VF 1 link ($VF1) went down" grep -q "type=link pf=$PFBDF vf=1 .*ifname=$VF1 link_up=0" /tmp/ev
check "events: none dropped, size = struct" sh -c "! grep -q 'dropped=[1-9]' /tmp/ev && ! grep '^event' /tmp/ev | grep -vq 'size=$(kv "$V" event_size)'"
check "events: sequence numbers increase" sh -c "grep '^event' /tmp/ev | sed 's/.*seq=\([0-9]*\).*/\1/' | sort -n -c"
check "re-enable 2 VFs through the module" vk sriov "$PF" 2
eq "sysfs sriov_numvfs" "$(cat $P/sriov_numvfs)" 2

echo "=== kmod: per-queue MSI-X IRQs and affinity"
for D in "$PF" "$VNIC"; do
	B=$(basename "$(readlink -f /sys/class/net/$D/device)"); [ "$D" = "$VNIC" ] && B=$VBDF
	vk irqs "$D"
	MSI=$(ls /sys/bus/pci/devices/$B/msi_irqs | sort -n | tr '\n' ' ')
	eq "$D: vectors = sysfs msi_irqs count" "$(grep -c '^irq ' /tmp/vk)" "$(echo $MSI | wc -w)"
	eq "$D: IRQ numbers = sysfs msi_irqs" "$(grep '^irq ' /tmp/vk | sed 's/.* irq=\([0-9]*\) .*/\1/' | sort -n | tr '\n' ' ')" "$MSI"
	bad=0
	while read -r L; do
		q=$(kv "$L" irq)
		[ "$(kv "$L" name)" = "$(grep "^ *$q:" /proc/interrupts | awk '{print $NF}')" ] || { bad=1; note "name mismatch irq $q"; }
		[ "$(kv "$L" affinity)" = "$(cat /proc/irq/$q/smp_affinity_list)" ] || { bad=1; note "affinity mismatch irq $q"; }
		[ "$(kv "$L" effective)" = "$(cat /proc/irq/$q/effective_affinity_list)" ] || { bad=1; note "effective mismatch irq $q"; }
	done <<EOF
$(grep '^irq ' /tmp/vk)
EOF
	eq "$D: names/affinity/effective = /proc/interrupts, /proc/irq" $bad 0
done
grep -E 'CPU|virtio|eth' /proc/interrupts
NV=$(vulbk irqs "$VNIC" | grep -c '^irq ')
eq "virtio-net: 2*4 queue vectors + config" "$NV" 9
i=1; bad=0
while [ $i -lt "$NV" ]; do
	L=$(vulbk irq-set "$VNIC" $i $T | grep '^irq '); q=$(kv "$L" irq)
	[ "$(kv "$L" affinity)/$(kv "$L" effective)" = "$T/$T" ] || bad=1
	[ "$(cat /proc/irq/$q/smp_affinity_list)/$(cat /proc/irq/$q/effective_affinity_list)" = "$T/$T" ] || bad=1
	i=$((i+1))
done
eq "virtio-net: every queue vector moved to CPU $T (ioctl result = /proc/irq)" $bad 0
cnt() { grep -E "virtio[0-9]+-(input|output)" /proc/interrupts | awk -v c=$(($1+2)) '{s+=$c} END{print s+0}'; }
b4=$(cnt $T); o4=$(cnt 0)
check "ping through virtio-net (tap peer in the host netns)" ping -c 4 -i 0.2 -W 2 10.77.0.1
note "queue interrupts CPU$T $b4 -> $(cnt $T), CPU0 $o4 -> $(cnt 0)"
check "queue interrupts arrive on CPU $T" test "$(cnt $T)" -gt "$b4"
eq "no queue interrupts on CPU 0 after the move" "$(cnt 0)" "$o4"
L=$(vulbk irq-set "$PF" 1 0-$T | grep '^irq '); q=$(kv "$L" irq)
eq "igb PF vector 1 -> CPUs 0-$T, /proc/irq agrees" "$(cat /proc/irq/$q/smp_affinity_list)" "0-$T"

echo "=== kmod: bad input"
check "malformed calls get errors" vk badinput "$PF" "$VBDF"
grep -E '^(not )?ok' /tmp/vk | sed 's/^/  /'
check "unprivileged (nobody, fd inherited, node 0600)" vk unpriv "$PF"
grep -E '^(not )?ok' /tmp/vk | sed 's/^/  /'
chmod 666 /dev/vulb
check "unprivileged (nobody, node 0666: capability check)" vk unpriv "$PF"
grep -E '^(not )?ok' /tmp/vk | sed 's/^/  /'
chmod 600 /dev/vulb
check "rmmod vulb (no fd, no owner left)" rmmod vulb
;;
lib-fallback|lib-kmod)
echo "=== $phase: vulb_sriov library"
if [ $phase = lib-kmod ]; then insmod $MOD; BE=kmod; else BE=netlink; fi
[ "$(cat $P/sriov_numvfs)" = 2 ] || { echo 0 > $P/sriov_numvfs; echo 2 > $P/sriov_numvfs; }
wait_for "[ -n \"\$(ls $P/virtfn1/net 2>/dev/null)\" ]"
SPEED=$(cat /sys/class/net/$PF/speed)
sriov_test() { timeout 30 vulb-sriov-test "$@" >/tmp/st 2>&1; r=$?; cat /tmp/st; return $r; }
check "library: backend is $BE" sh -c "timeout 30 vulb-sriov-test backend | grep -qx 'backend=$BE'"
sriov_test list "$PF"
for i in 0 1; do
	L=$(grep "^vf pf=$PFBDF index=$i " /tmp/st); B=$(vf_bdf $i)
	eq "$BE: VF $i address/netdev/driver/group = sysfs" "$(kv "$L" pci)/$(kv "$L" ifname)/$(kv "$L" driver)/$(kv "$L" group)" "$B/$(vf_net $i)/igbvf/$(grp_of "$B")"
	R=$($IP link show $PF | sed -n "s/.*vf $i .*max_tx_rate \([0-9]*\)Mbps.*/\1/p")
	eq "$BE: VF $i max rate = ip link" "$(kv "$L" max)" "${R:-0}"
done
check "$BE: assign VF 0 (min 300) + VF 1 (min 200) on a $SPEED Mbps PF, then release VF 1" \
	sriov_test assign "$PF" 0 vmA 300 0 , assign "$PF" 1 vmB 200 0 , show , release "$PF" 1 , show
# guarantee by capping: cap_i = min_i + (speed - sum of minima) / n
U=$((SPEED - 500))
eq "$BE: minimum emulated by capping (mode)" "$(sed -n 's/^assign .* mode=\([a-z]*\).*/\1/p' /tmp/st | head -1)" capped
eq "$BE: after both: VF 0 cap = ip link" "$(sed -n 's/^show.* vf0_max=\([0-9]*\) .*/\1/p' /tmp/st | head -1)" $((300 + U / 2))
eq "$BE: after both: VF 1 cap" "$(sed -n 's/^show.* vf1_max=\([0-9]*\).*/\1/p' /tmp/st | head -1)" $((200 + U / 2))
eq "$BE: after release: VF 0 uncapped (alone: min 300 + all spare = link)" "$(sed -n 's/^show.* vf0_max=\([0-9]*\) .*/\1/p' /tmp/st | tail -1)" 0
eq "$BE: after release: VF 1 uncapped" "$(sed -n 's/^show.* vf1_max=\([0-9]*\).*/\1/p' /tmp/st | tail -1)" 0
check "$BE: minima above the link speed refused (ENOSPC)" sriov_test assign "$PF" 0 vmA $SPEED 0 , ! ENOSPC assign "$PF" 1 vmB 1 0
check "$BE: max rate only" sriov_test assign "$PF" 1 vmB 0 70 , rate "$PF" 1 0 80 , system "$IP link show $PF >/tmp/ipl"
eq "$BE: VF 1 max 80 = ip link" "$(sed -n 's/.*vf 1 .*max_tx_rate \([0-9]*\)Mbps.*/\1/p' /tmp/ipl)" 80
eq "$BE: released at exit: VF 1 uncapped again" "$($IP link show $PF | grep -c 'vf 1 .*max_tx_rate')" 0
sriov_test irqs "$VNIC"
L=$(grep '^irq ' /tmp/st | sed -n 2p); q=$(kv "$L" irq)
eq "$BE: queue vector 1 name = /proc/interrupts" "$(kv "$L" name)" "$(grep "^ *$q:" /proc/interrupts | awk '{print $NF}')"
eq "$BE: queue vector count = sysfs msi_irqs" "$(grep -c '^irq ' /tmp/st)" "$(ls /sys/bus/pci/devices/$VBDF/msi_irqs | wc -l)"
check "$BE: set queue vector 1 -> CPU 0" sriov_test irq-set "$VNIC" 1 0
eq "$BE: /proc/irq/$q affinity/effective" "$(cat /proc/irq/$q/smp_affinity_list)/$(cat /proc/irq/$q/effective_affinity_list)" 0/0
check "$BE: set queue vector 1 -> CPU $T" sriov_test irq-set "$VNIC" 1 $T
eq "$BE: /proc/irq/$q affinity" "$(cat /proc/irq/$q/smp_affinity_list)" $T
check "$BE: bad input" sriov_test ! ERANGE rate "$PF" 9 0 10 , ! ENODEV rate nosuchpf 0 0 10 , ! ERANGE irq-set "$VNIC" 99 0 , ! EINVAL irq-set "$VNIC" 1 63
[ $phase = lib-kmod ] && check "rmmod vulb" rmmod vulb
;;
daemon-fallback|daemon-kmod)
# The real daemon and vhost-user-lbctl: VF rates from [vm] sections, assign/rate/release/irq,
# each answer checked against ip link, sysfs and /proc/irq; the CLI must name the path it used.
if [ $phase = daemon-kmod ]; then
	[ -e /dev/vulb ] || insmod $MOD
	BE=kmod
else
	[ -e /dev/vulb ] && rmmod vulb
	BE=netlink
fi
echo "=== $phase: vhost-user-lb daemon, vhost-user-lbctl vf (expect via $BE)"
[ "$(cat $P/sriov_numvfs)" = 2 ] || { echo 0 > $P/sriov_numvfs; echo 2 > $P/sriov_numvfs; }
wait_for "[ -n \"\$(ls $P/virtfn1/net 2>/dev/null)\" ]"
# igb resets the PF when VFs are enabled: rates need its link (speed) back
check "$BE: PF link up with a speed" wait_for "[ \"\$(cat /sys/class/net/$PF/carrier 2>/dev/null)\" = 1 ] && [ \"\$(cat /sys/class/net/$PF/speed)\" -gt 0 ]"
SPEED=$(cat /sys/class/net/$PF/speed)
M=c0; [ $BE = kmod ] && M=b0	# new MACs each phase: the MAC check must see them
for i in 0 1; do
	$IP link set "$PF" vf $i max_tx_rate 0
	$IP link set "$PF" vf $i mac 02:00:00:00:0$i:$M
done
D=/tmp/vulbd; rm -rf $D; mkdir -p $D
# vmA: a guarantee only; vmB: a guarantee and a limit
cat >$D/vulb.conf <<EOC
[daemon]
socket-dir = $D
[vm vmA]
vf-min-rate = 300
[vm vmB]
vf-min-rate = 200
vf-max-rate = 400
EOC
vhost-user-lb -c $D/vulb.conf --libvirt-uri none >$D/log 2>&1 &
DPID=$!
check "$BE: daemon ready" wait_for "grep -q 'vhost-user-lb info: ready' $D/log"
# lbctl ARGS: output in /tmp/cl (and on the console)
lbctl() { timeout 20 vhost-user-lbctl -s $D/ctl.sock "$@" >/tmp/cl 2>&1; r=$?; cat /tmp/cl; return $r; }
# lbc DESC ARGS: a check that runs vhost-user-lbctl ARGS and shows its output in the log
lbc() { d=$1; shift; if lbctl "$@" >/dev/null; then ok "$d"; else nok "$d (rc=$?)"; fi; sed 's/^/    | /' /tmp/cl; }
# refused DESC WHY ARGS: vhost-user-lbctl ARGS must fail, saying WHY
refused() { d=$1; w=$2; shift 2; if ! lbctl "$@" >/dev/null && grep -q "$w" /tmp/cl; then ok "$d"; else nok "$d"; fi; sed 's/^/    | /' /tmp/cl; }
ipmax() { R=$($IP link show "$PF" | sed -n "s/.*vf $1 .*max_tx_rate \([0-9]*\)Mbps.*/\1/p"); echo "${R:-0}"; }
ipmac() { $IP link show "$PF" | sed -n "s/.*vf $1 .*link\/ether \([0-9a-f:]*\).*/\1/p"; }
# cpus FILE: a kernel CPU list ("0-2,5") as the daemon writes it ("0,1,2,5")
cpus() { tr , '\n' <"$1" | while IFS=- read -r a z; do seq "$a" "${z:-$a}"; done | tr '\n' , | sed 's/,$//'; }
# cap MIN MAX SUM_OF_MINIMA N: the documented rule (vulb_sriov.h), 0 = no cap
cap() { c=$(($1 + (SPEED - $3) / $4)); [ "$2" != 0 ] && [ "$2" -lt $c ] && c=$2; [ $c -ge "$SPEED" ] && c=0; echo $c; }
# rates VF0 VF1: both VFs' max_tx_rate in ip link and in `vf list -j`
rates() {
	lbctl -j vf list "$PF" >/dev/null
	eq "$BE: $2: ip link max_tx_rate vf0/vf1" "$(ipmax 0)/$(ipmax 1)" "$3/$4"
	eq "$BE: $2: vf list -j max_tx_rate = ip link" "$(jq -r '[.vfs[].max_tx_rate]|join("/")' /tmp/cl)" "$(ipmax 0)/$(ipmax 1)"
	[ -n "$1" ] && eq "$BE: $2: vf list -j VM rates (vm:min/max:from)" \
		"$(jq -r '[.vfs[]|if .assigned_here then "\(.vm):\(.min_mbps)/\(.max_mbps):\(.rates_from)" else "-" end]|join(" ")' /tmp/cl)" "$1"
}

lbctl vf list
check "$BE: vf list says which path: via $BE" grep -q "(via $BE)" /tmp/cl
lbctl -j vf list
eq "$BE: vf list -j backend" "$(jq -r .backend /tmp/cl)" $BE
eq "$BE: vf list -j: the PF's 2 VFs" "$(jq "[.vfs[]|select(.pf==\"$PFBDF\")]|length" /tmp/cl)" 2
for i in 0 1; do
	B=$(vf_bdf $i); G=$(grp_of "$B"); GN=$(ls /sys/kernel/iommu_groups/$G/devices | wc -l)
	eq "$BE: vf list -j VF $i pci/ifname/driver/group/isolated = sysfs" \
		"$(jq -r ".vfs[$i]|\"\(.pci)/\(.ifname)/\(.driver)/\(.iommu_group)/\(.isolated)\"" /tmp/cl)" \
		"$B/$(vf_net $i)/igbvf/$G/$([ "$GN" = 1 ] && echo true || echo false)"
	eq "$BE: vf list -j VF $i mac = ip link" "$(jq -r ".vfs[$i].mac" /tmp/cl)" "$(ipmac $i)"
	eq "$BE: vf list -j VF $i max_tx_rate = ip link" "$(jq -r ".vfs[$i].max_tx_rate" /tmp/cl)" "$(ipmax $i)"
done

echo "=== $phase: VF rates from [vm] sections; minima kept by capping the neighbours (link $SPEED Mbit/s)"
lbc "$BE: vf assign $PF 0 vmA (no rates given)" vf assign "$PF" 0 vmA
check "$BE: assign output: via $BE, rates from the [vm] section" grep -q "assigned to vmA (via $BE); rates from its \[vm\] section: min 300, max - Mbit/s" /tmp/cl
check "$BE: assign output: igb has no minimum, so rates are capped" grep -q "capped: its driver has no minimum TX rate" /tmp/cl
rates "vmA:300/0:config -" "vmA alone (300 + all the spare = the link: no cap)" "$(cap 300 0 300 1)" 0
if [ $BE = kmod ]; then
	L=$(vulbk vf "$PF" 0 | grep '^vf ')
	eq "$BE: the kernel records vmA as VF 0's owner (daemon's fd)" "$(kv "$L" owned)/$(kv "$L" mine)/$(kv "$L" vm)" 1/0/vmA
fi
lbc "$BE: vf assign $PF 1 vmB (no rates given)" vf assign "$PF" 1 vmB
check "$BE: output: vmB's rates from its [vm] section" grep -q "assigned to vmB (via $BE); rates from its \[vm\] section: min 200, max 400 Mbit/s" /tmp/cl
check "$BE: output: the capping rule with the numbers" grep -q "capped at its minimum + (link $SPEED - sum of minima 500) / 2 VFs" /tmp/cl
C0=$(cap 300 0 500 2); C1=$(cap 200 400 500 2)
check "$BE: output: vmA's VF 0 now capped at $C0 because of vmB's minimum" grep -Eq "^ +0 +vmA +300 +- +config +-> $C0\$" /tmp/cl
check "$BE: output: vmB's VF 1 at its own max $C1" grep -Eq "^ +1 +vmB +200 +400 +config +-> $C1\$" /tmp/cl
rates "vmA:300/0:config vmB:200/400:config" "vmA+vmB from the config" $C0 $C1
lbc "$BE: vf list (text)" vf list
check "$BE: vf list: each VM's rates, and how they are kept" sh -c "grep -Eq ' vmA .* 550  300/-,config\$' /tmp/cl && grep -Eq ' vmB .* 400  200/400,config\$' /tmp/cl && grep -q 'capped: its driver has no minimum TX rate' /tmp/cl"
refused "$BE: VF 0 to another VM: refused" "assigned to another VM" vf assign "$PF" 0 vmZ
refused "$BE: a VF that does not exist: refused" "no such VF on this PF" vf assign "$PF" 7 vmZ

lbc "$BE: vf release $PF 1" vf release "$PF" 1
check "$BE: release output" grep -q "VF 1 of $PFBDF ($PF) released, its rate limits removed (via $BE)" /tmp/cl
rates "vmA:300/0:config -" "vmB's VF released: vmA uncapped again" "$(cap 300 0 300 1)" 0
eq "$BE: vf list -j: VF 1 has no VM" "$(jq -r '.vfs[1].vm' /tmp/cl)" ""

lbc "$BE: vf assign $PF 1 vmB --min 100 --max 300 (command line wins)" vf assign "$PF" 1 vmB --min 100 --max 300
check "$BE: output: rates from the command line" grep -q "rates from the command line: min 100, max 300 Mbit/s" /tmp/cl
rates "vmA:300/0:config vmB:100/300:command" "explicit rates" "$(cap 300 0 400 2)" "$(cap 100 300 400 2)"
lbc "$BE: vf rate $PF 1 --min 250" vf rate "$PF" 1 --min 250
check "$BE: rate output: via $BE, capped" sh -c "grep -q 'VF 1 of $PFBDF ($PF) rates set (via $BE); rates from the command line: min 250, max -' /tmp/cl && grep -q 'capped:' /tmp/cl"
rates "vmA:300/0:config vmB:250/0:command" "vf rate" "$(cap 300 0 550 2)" "$(cap 250 0 550 2)"
refused "$BE: vf rate with minima above the link: refused" "add up to more than its link speed" vf rate "$PF" 1 --min "$SPEED"
rates "" "after the refused rate: unchanged" "$(cap 300 0 550 2)" "$(cap 250 0 550 2)"

echo "=== $phase: reload: VFs with [vm] rates follow the file, command-line rates stay"
sed -i 's/vf-min-rate = 300/vf-min-rate = 400/; /vf-max-rate = 400/d' $D/vulb.conf
lbc "$BE: vhost-user-lbctl reload" reload
check "$BE: daemon log: VF 0 of vmA re-rated" grep -q "reload: VF $PFBDF/0 of VM 'vmA': min 400 max 0 Mbit/s (its \[vm\] section), rates capped" $D/log
rates "vmA:400/0:config vmB:250/0:command" "after reload (vmA min 300 -> 400)" "$(cap 400 0 650 2)" "$(cap 250 0 650 2)"

echo "=== $phase: queue IRQs through the daemon"
lbctl vf irq "$VNIC"
check "$BE: vf irq says which path: via $BE" grep -q "(via $BE)" /tmp/cl
lbctl -j vf irq "$VNIC"
eq "$BE: vf irq -j: IRQs = sysfs msi_irqs" "$(jq -r '[.irqs[].irq]|sort|map(tostring)|join(" ")' /tmp/cl)" "$(ls /sys/bus/pci/devices/$VBDF/msi_irqs | sort -n | tr '\n' ' ' | sed 's/ $//')"
bad=0
for q in $(jq -r '.irqs[].irq' /tmp/cl); do
	[ "$(jq -r ".irqs[]|select(.irq==$q)|\"\(.affinity)/\(.effective)/\(.name)\"" /tmp/cl)" = \
	  "$(cpus /proc/irq/$q/smp_affinity_list)/$(cpus /proc/irq/$q/effective_affinity_list)/$(grep "^ *$q:" /proc/interrupts | awk '{print $NF}')" ] || { bad=1; note "irq $q differs"; }
done
eq "$BE: vf irq -j: affinity/effective/name = /proc/irq, /proc/interrupts" $bad 0
q=$(jq -r '.irqs[1].irq' /tmp/cl)
lbc "$BE: vf irq $VNIC 1 0" vf irq "$VNIC" 1 0
check "$BE: irq-set output: via $BE, affinity 0" grep -q "^vector 1 (IRQ $q, .*): affinity 0, effective 0 (via $BE)" /tmp/cl
eq "$BE: /proc/irq/$q affinity/effective" "$(cat /proc/irq/$q/smp_affinity_list)/$(cat /proc/irq/$q/effective_affinity_list)" 0/0
lbc "$BE: vf irq $VNIC 1 $T" vf irq "$VNIC" 1 $T
eq "$BE: /proc/irq/$q affinity" "$(cat /proc/irq/$q/smp_affinity_list)" $T
refused "$BE: vf irq on a vector that does not exist: refused" "no such vector" vf irq "$VNIC" 99 0

echo "=== $phase: daemon stops: its VFs are released and their rates removed"
kill $DPID; wait $DPID
eq "$BE: daemon exit status on SIGTERM" $? 0
eq "$BE: ip link max_tx_rate vf0/vf1 after the daemon" "$(ipmax 0)/$(ipmax 1)" 0/0
if [ $BE = kmod ]; then
	L=$(vulbk vf "$PF" 0 | grep '^vf ')
	eq "$BE: VF 0 free in the kernel" "$(kv "$L" owned)/$(kv "$L" vm)" 0/
	check "rmmod vulb (the daemon's fd is closed)" rmmod vulb
fi
grep -E 'error|warn' $D/log | grep -v 'vhost-user-lb info' | sed 's/^/# daemon: /'
;;
esac
done

echo "=== dmesg"
dmesg | grep -E 'vulb|Oops|WARNING|BUG|Call Trace' | tail -20
check "dmesg: no oops, BUG or WARNING" sh -c "! dmesg | grep -qE 'Oops|WARNING:|BUG:|Call Trace|general protection'"
echo "# $N checks, $FAILS failures"
exit $FAILS
