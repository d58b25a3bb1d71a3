/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vulb_sriov_int.h - between the common layer and the two backends. */
#ifndef VULB_SRIOV_INT_H
#define VULB_SRIOV_INT_H

#include "vulb_sriov.h"

/* A PF as sysfs names it (both backends resolve names the same way). */
struct vulb_pf {
	char pci[32];
	char ifname[32];	/* "" if the PF has no netdev */
	unsigned int num_vfs;
};

/* A VF assigned through this instance. */
struct vulb_asg {
	struct vulb_asg *next;
	char pf[32];
	unsigned int vf;
	char vm[64];
	unsigned int min, max;
	enum vulb_sriov_rate_mode mode;	/* set by the last rate policy run */
};

struct vulb_sriov_ops {
	const char *name;
	int (*list)(struct vulb_sriov *s, const struct vulb_pf *pf,
		    struct vulb_sriov_vf *out, unsigned int n);
	int (*assign)(struct vulb_sriov *s, const struct vulb_pf *pf,
		      unsigned int vf, const char *vm);
	int (*release)(struct vulb_sriov *s, const struct vulb_pf *pf, unsigned int vf);
	int (*set_rate)(struct vulb_sriov *s, const struct vulb_pf *pf,
			unsigned int vf, unsigned int min, unsigned int max);
	int (*irqs)(struct vulb_sriov *s, const char *pci,
		    struct vulb_sriov_irq **ret, size_t *ret_n);
	int (*set_irq)(struct vulb_sriov *s, const char *pci, unsigned int index,
		       const cpu_set_t *cpus);
};

struct vulb_sriov {
	const struct vulb_sriov_ops *ops;
	enum vulb_sriov_backend backend;
	int fd;				/* /dev/vulb (kmod) */
	struct mnl_socket *nl;		/* rtnetlink (netlink) */
	unsigned int seq;
	struct vulb_asg *asg;
};

extern const struct vulb_sriov_ops vulb_sriov_kmod_ops;
extern const struct vulb_sriov_ops vulb_sriov_nl_ops;

/* helpers in vulb_sriov.c */
int vulb_read_str(const char *path, char *buf, size_t len);
int vulb_read_int(const char *path, long *val);
int vulb_pci_of(const char *name, char *pci, size_t len);
int vulb_cpus_check(const cpu_set_t *cpus);
void vulb_sysfs_vf(const struct vulb_pf *pf, unsigned int i, struct vulb_sriov_vf *v);
int vulb_sysfs_irqs(const char *pci, struct vulb_sriov_irq **ret, size_t *ret_n);
int vulb_nl_open(struct vulb_sriov *s);

#endif /* VULB_SRIOV_INT_H */
