/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmod-uapi.h - ioctl ABI of the vhost-user-lb kernel helper (/dev/vulb).
 *
 * Versioning: every argument struct starts with "__u32 size", set by the
 * caller to sizeof() of the struct it was compiled against.  The ioctl
 * numbers do not encode the size, so one number serves all versions:
 *  - size < VULB_SIZE_*_VER0 (or > 4096)  -> EINVAL (E2BIG above 4096)
 *  - size < what the module knows          -> the missing tail reads as
 *    zero; the module writes back only "size" bytes (an old caller never
 *    sees bytes past its struct)
 *  - size > what the module knows          -> the unknown tail must be all
 *    zero, else E2BIG (a newer caller asking for something this module
 *    cannot do is refused, never silently ignored)
 * New fields are only ever appended, and a zero value keeps the old meaning.
 * VULB_IOC_VERSION reports VULB_ABI_VERSION and the sizes the module knows.
 *
 * Strings (pf, dev, vm) are NUL-terminated inside their arrays; an
 * unterminated string is EINVAL.  A PF or device is named by its PCI
 * address ("0000:01:00.0") or by its netdev name in the initial netns.
 *
 * Privileges: opening needs CAP_NET_ADMIN; every ioctl that changes state
 * checks CAP_NET_ADMIN again (an fd handed to an unprivileged process can
 * still read, not change).
 */
#ifndef VHOST_USER_LB_KMOD_UAPI_H
#define VHOST_USER_LB_KMOD_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VULB_DEVICE_NAME	"vulb"
#define VULB_ABI_VERSION	1
#define VULB_IOC_MAGIC		0xB7
#define VULB_MAX_ARG_SIZE	4096

#define VULB_NAME_LEN		32	/* PCI address or netdev name */
#define VULB_VM_LEN		64	/* [A-Za-z0-9._:-]+ */
#define VULB_DRIVER_LEN		32
#define VULB_IRQ_NAME_LEN	32
#define VULB_CPUMASK_WORDS	4	/* CPUs 0..255 */

/* VULB_IOC_VERSION (read only) */
struct vulb_version {
	__u32 size;
	__u32 abi_version;		/* out: VULB_ABI_VERSION of the module */
	__u32 nr_cpu_ids;		/* out: highest possible CPU + 1 */
	__u32 n_sizes;			/* out: entries used in sizes[] */
	__u32 sizes[16];		/* out: sizeof() each struct, by _IOC_NR */
};
#define VULB_SIZE_VERSION_VER0	16

/* VULB_IOC_PF_GET: index-based enumeration of SR-IOV capable PFs */
struct vulb_pf_info {
	__u32 size;
	__u32 index;			/* in: 0..count-1 (or ~0: look up by pf) */
	char pf[VULB_NAME_LEN];		/* in if index == ~0, else out: PCI address */
	__u32 count;			/* out: number of SR-IOV PFs */
	__u32 total_vfs;		/* out: pci_sriov_get_totalvfs() */
	__u32 num_vfs;			/* out: pci_num_vf() */
	__s32 numa_node;		/* out: -1 if none */
	__s32 iommu_group;		/* out: -1 if none */
	__u16 vendor, device;		/* out */
	char ifname[VULB_NAME_LEN];	/* out: "" if no netdev */
	char driver[VULB_DRIVER_LEN];	/* out: "" if unbound */
	/* ABI 1 tail */
	__u32 vfs_owned;		/* out: VFs assigned through this module */
	__u32 link_speed;		/* out: Mbps of the PF netdev, 0 unknown */
};
#define VULB_PF_BY_NAME		0xffffffffu
#define VULB_SIZE_PF_INFO_VER0	__builtin_offsetof(struct vulb_pf_info, vfs_owned)

/* VULB_IOC_VF_GET */
#define VULB_VF_ISOLATED	(1u << 0)	/* IOMMU group holds only this VF */
#define VULB_VF_OWNED		(1u << 1)	/* assigned to a VM */
#define VULB_VF_OWNED_BY_ME	(1u << 2)	/* ... through this fd */
#define VULB_VF_HAS_CONFIG	(1u << 3)	/* PF reported ndo_get_vf_config */
#define VULB_VF_LINK_UP		(1u << 4)	/* VF netdev up with carrier */
struct vulb_vf_info {
	__u32 size;
	__u32 vf;			/* in: VF index on the PF */
	char pf[VULB_NAME_LEN];		/* in */
	char pci[VULB_NAME_LEN];	/* out: VF PCI address */
	char ifname[VULB_NAME_LEN];	/* out: VF netdev in this host, "" if none */
	char driver[VULB_DRIVER_LEN];	/* out: "" if unbound */
	__u32 flags;			/* out: VULB_VF_* */
	__s32 numa_node;		/* out */
	__s32 iommu_group;		/* out: -1 if no IOMMU group */
	__u32 group_devices;		/* out: devices in that group */
	char vm[VULB_VM_LEN];		/* out: owner, "" if free */
	/* ABI 1 tail: the PF's view (ndo_get_vf_config) */
	__u8 mac[8];			/* 6 used */
	__u32 vlan, qos;
	__u32 spoofchk, trust;
	__u32 min_tx_rate, max_tx_rate;	/* Mbps, 0 = none */
	__u32 link_state;		/* IFLA_VF_LINK_STATE_* */
	__u32 pad;
};
#define VULB_SIZE_VF_INFO_VER0	__builtin_offsetof(struct vulb_vf_info, mac)

/* VULB_IOC_SRIOV_SET: through the PF driver's sriov_configure, like sysfs */
struct vulb_sriov_set {
	__u32 size;
	__u32 num_vfs;			/* in: 0 disables; EBUSY while VFs are owned */
	char pf[VULB_NAME_LEN];		/* in */
};
#define VULB_SIZE_SRIOV_SET_VER0 sizeof(struct vulb_sriov_set)

/* VULB_IOC_VF_ASSIGN / VULB_IOC_VF_RELEASE */
#define VULB_ASSIGN_REQUIRE_ISOLATED	(1u << 0)	/* EXDEV if group shared */
#define VULB_RELEASE_FORCE		(1u << 0)	/* any owner (CAP_SYS_ADMIN) */
struct vulb_vf_assign {
	__u32 size;
	__u32 vf;			/* in */
	char pf[VULB_NAME_LEN];		/* in */
	char vm[VULB_VM_LEN];		/* in: assign: the VM; release: must match unless FORCE */
	__u32 flags;			/* in: VULB_ASSIGN_* / VULB_RELEASE_* */
	__u32 pad;
};
#define VULB_SIZE_VF_ASSIGN_VER0 sizeof(struct vulb_vf_assign)

/* VULB_IOC_VF_SET: ndo_set_vf_* on the PF under RTNL, in the order listed */
#define VULB_SET_MAC		(1u << 0)
#define VULB_SET_VLAN		(1u << 1)	/* vlan + qos, 802.1Q */
#define VULB_SET_SPOOFCHK	(1u << 2)
#define VULB_SET_TRUST		(1u << 3)
#define VULB_SET_RATE		(1u << 4)	/* min_tx_rate + max_tx_rate */
#define VULB_SET_ALL		0x1fu
struct vulb_vf_set {
	__u32 size;
	__u32 vf;			/* in */
	char pf[VULB_NAME_LEN];		/* in */
	__u32 mask;			/* in: VULB_SET_*; unknown bits EINVAL */
	__u32 failed;			/* out: the VULB_SET_* bit that failed, 0 if none */
	__u8 mac[8];			/* 6 used; unicast or zero */
	__u32 vlan, qos;		/* vlan < 4095, qos < 8 */
	__u32 spoofchk, trust;		/* 0 or 1 */
	__u32 min_tx_rate, max_tx_rate;	/* Mbps */
};
#define VULB_SIZE_VF_SET_VER0	sizeof(struct vulb_vf_set)

/* VULB_IOC_IRQ_GET / VULB_IOC_IRQ_SET: one MSI/MSI-X vector of any PCI device */
struct vulb_irq {
	__u32 size;
	__u32 index;			/* in: vector index (pci_irq_vector) */
	char dev[VULB_NAME_LEN];	/* in */
	__u32 nvec;			/* out: vectors the driver allocated */
	__u32 irq;			/* out: Linux IRQ number */
	__u32 managed;			/* out: kernel-managed affinity (cannot be set) */
	__u32 msix;			/* out: 1 MSI-X, 0 MSI */
	char name[VULB_IRQ_NAME_LEN];	/* out: first handler's name, e.g. "eth0-TxRx-0" */
	__u64 cpus[VULB_CPUMASK_WORDS];	/* IRQ_SET in: online CPUs; out: affinity */
	__u64 effective[VULB_CPUMASK_WORDS];	/* out: effective affinity */
};
#define VULB_SIZE_IRQ_VER0	sizeof(struct vulb_irq)

/* read(): whole events; poll() POLLIN when one is queued.  Each fd has its
 * own queue of 64; on overflow the oldest are dropped and counted. */
#define VULB_EV_ASSIGNED	1
#define VULB_EV_RELEASED	2	/* reason: VULB_REL_* */
#define VULB_EV_LINK		3	/* a VF's (or, vf == ~0, a PF's) netdev link */
#define VULB_REL_EXPLICIT	1
#define VULB_REL_CLOSE		2	/* the owner's fd was closed */
#define VULB_REL_REMOVED	3	/* the VF disappeared (SR-IOV disabled) */
struct vulb_event {
	__u32 size;			/* sizeof(struct vulb_event) */
	__u32 type;
	__u64 seq;			/* global, increasing */
	__u32 dropped;			/* events lost on this fd before this one */
	__u32 vf;			/* VF index, ~0 for a PF */
	__u32 reason;			/* RELEASED: VULB_REL_* */
	__u32 link_up;			/* LINK: 1 up with carrier, 0 down */
	char pf[VULB_NAME_LEN];		/* PF PCI address */
	char ifname[VULB_NAME_LEN];	/* LINK: netdev */
	char vm[VULB_VM_LEN];		/* ASSIGNED / RELEASED */
};

#define VULB_IOC_VERSION	_IO(VULB_IOC_MAGIC, 0)
#define VULB_IOC_PF_GET		_IO(VULB_IOC_MAGIC, 1)
#define VULB_IOC_VF_GET		_IO(VULB_IOC_MAGIC, 2)
#define VULB_IOC_SRIOV_SET	_IO(VULB_IOC_MAGIC, 3)
#define VULB_IOC_VF_ASSIGN	_IO(VULB_IOC_MAGIC, 4)
#define VULB_IOC_VF_RELEASE	_IO(VULB_IOC_MAGIC, 5)
#define VULB_IOC_VF_SET		_IO(VULB_IOC_MAGIC, 6)
#define VULB_IOC_IRQ_GET	_IO(VULB_IOC_MAGIC, 7)
#define VULB_IOC_IRQ_SET	_IO(VULB_IOC_MAGIC, 8)
#define VULB_IOC_NR_MAX		8

#endif /* VHOST_USER_LB_KMOD_UAPI_H */
