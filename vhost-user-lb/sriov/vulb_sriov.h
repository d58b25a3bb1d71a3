/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vulb_sriov.h - SR-IOV VFs for VMs: list, assign/release with per-VM rates,
 * per-queue IRQ affinity.  One API, two paths:
 *  - "kmod": /dev/vulb (kmod/ in this tree) is there: ownership is kept by
 *    the kernel and dropped when this process closes it (or dies);
 *  - "netlink": the module is not loaded: rtnetlink (libmnl) for VF rates
 *    and settings, sysfs/procfs for VFs and IRQs; ownership is only known
 *    to this process.
 * vulb_sriov_backend() says which one an instance uses.
 *
 * Bandwidth guarantee.  Drivers that implement a minimum VF rate get it
 * directly (mode "native").  igb and others accept only a maximum and refuse
 * min_tx_rate with EINVAL; there the minimum is emulated by capping (mode
 * "capped"): with link speed L, the assigned VFs j on that PF with minima
 * m_j, and U = L - sum(m_j), each VF gets the cap m_j + U/n (or its own
 * maximum if lower; a cap >= L means none).  The caps add up to at most L,
 * so no VF can push another below its minimum, whatever the others send.
 * The price: a VF cannot use more than its share even while its neighbours
 * are idle, and traffic of VFs not assigned through this instance, or of the
 * PF itself, is not limited.  Minima adding up to more than L are refused
 * (ENOSPC).  Rates are restored (no limit) on release and on close.
 *
 * Context: one thread at a time per instance.  Functions return 0 or -errno.
 */
#ifndef VULB_SRIOV_H
#define VULB_SRIOV_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vulb_sriov;

enum vulb_sriov_backend {
	VULB_SRIOV_KMOD,
	VULB_SRIOV_NETLINK,
};

enum vulb_sriov_rate_mode {
	VULB_RATE_NONE,		/* no rate limits on this PF */
	VULB_RATE_NATIVE,	/* the driver enforces min and max */
	VULB_RATE_CAPPED,	/* minimum emulated by capping neighbours */
};

#define VULB_SRIOV_NO_KMOD	(1u << 0)	/* use rtnetlink/sysfs even if the module is there */

struct vulb_sriov_vf {
	char pf[32];			/* PF PCI address */
	char pf_ifname[32];
	unsigned int index;
	char pci[32];
	char ifname[32];		/* "" if the VF has no netdev here */
	char driver[32];
	int numa_node;
	int iommu_group;		/* -1 without IOMMU */
	unsigned int group_devices;
	bool isolated;			/* its IOMMU group holds only this VF */
	char vm[64];			/* owner, "" if free */
	uint8_t mac[6];
	unsigned int vlan, qos;
	int spoofchk, trust;		/* -1 unknown */
	unsigned int min_tx_rate, max_tx_rate;	/* Mbps as the driver reports them */
	unsigned int link_mbps;		/* the PF's link speed, 0 unknown */
	/* Set only for a VF assigned through this instance: */
	bool assigned_here;
	unsigned int want_min, want_max;	/* the VM's rates as asked (Mbps, 0 none) */
	enum vulb_sriov_rate_mode rate_mode;	/* how they are kept on this PF */
};

struct vulb_sriov_irq {
	unsigned int index;		/* MSI/MSI-X vector */
	unsigned int irq;
	char name[32];
	bool managed;			/* only known with the module */
	cpu_set_t affinity, effective;
};

int vulb_sriov_open(unsigned int flags, struct vulb_sriov **ret);
void vulb_sriov_close(struct vulb_sriov *s);
enum vulb_sriov_backend vulb_sriov_backend(const struct vulb_sriov *s);
const char *vulb_sriov_backend_name(const struct vulb_sriov *s);
const char *vulb_sriov_rate_mode_name(enum vulb_sriov_rate_mode m);

/* pf: PCI address or netdev name, NULL for every PF.  *ret is malloc'ed. */
int vulb_sriov_list_vfs(struct vulb_sriov *s, const char *pf,
			struct vulb_sriov_vf **ret, size_t *ret_n);
/* min_mbps/max_mbps: 0 = none.  ret_mode may be NULL. */
int vulb_sriov_assign(struct vulb_sriov *s, const char *pf, unsigned int vf,
		      const char *vm, unsigned int min_mbps, unsigned int max_mbps,
		      enum vulb_sriov_rate_mode *ret_mode);
int vulb_sriov_release(struct vulb_sriov *s, const char *pf, unsigned int vf);
int vulb_sriov_set_rate(struct vulb_sriov *s, const char *pf, unsigned int vf,
			unsigned int min_mbps, unsigned int max_mbps,
			enum vulb_sriov_rate_mode *ret_mode);
/* dev: PCI address or netdev name of any PCI NIC.  *ret is malloc'ed. */
int vulb_sriov_queue_irqs(struct vulb_sriov *s, const char *dev,
			  struct vulb_sriov_irq **ret, size_t *ret_n);
int vulb_sriov_set_irq_affinity(struct vulb_sriov *s, const char *dev,
				unsigned int index, const cpu_set_t *cpus);

#endif /* VULB_SRIOV_H */
