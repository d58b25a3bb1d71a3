/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vulb.h - internals shared by the vhost-user-lb kernel helper's files.
 *
 * Lock order: rtnl_lock and device_lock are never taken while vulb_lock is
 * held, and vulb_lock is never taken under either of them, except by the
 * PCI bus notifier (device removal), which only touches the owner list.
 * vulb_ev_lock (a spinlock) nests inside everything.
 */
#ifndef VULB_H
#define VULB_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/wait.h>

#include <vhost-user-lb/kmod-uapi.h>

#define VULB_EV_QUEUE	64

/* One per open file; also the identity of an owner. */
struct vulb_file {
	struct list_head node;		/* in vulb_files, under vulb_ev_lock */
	wait_queue_head_t wq;
	unsigned int head, count;	/* ring of events, under vulb_ev_lock */
	u32 dropped;
	struct vulb_event ev[VULB_EV_QUEUE];
};

/* A VF assigned to a VM; holds a reference on the VF's pci_dev. */
struct vulb_owner {
	struct list_head node;		/* in vulb_owners, under vulb_lock */
	struct pci_dev *vf;
	struct vulb_file *file;
	char vm[VULB_VM_LEN];
};

extern struct mutex vulb_lock;

/* vulb_pci.c */
struct pci_dev *vulb_pci_by_name(const char *name);
struct pci_dev *vulb_pf_by_name(const char *name);
struct pci_dev *vulb_vf_of(struct pci_dev *pf, u32 vf);
int vulb_iommu_group(struct pci_dev *pdev, u32 *ndevs);
void vulb_driver_name(struct pci_dev *pdev, char *buf, size_t len);
long vulb_pf_get(struct vulb_file *vf, void *arg);
long vulb_vf_get(struct vulb_file *vf, void *arg);
long vulb_sriov_set(struct vulb_file *vf, void *arg);
long vulb_vf_set(struct vulb_file *vf, void *arg);

/* vulb_irq.c */
long vulb_irq_get(struct vulb_file *vf, void *arg);
long vulb_irq_set(struct vulb_file *vf, void *arg);

/* vulb_main.c */
int vulb_check_name(const char *s, size_t len);
struct vulb_owner *vulb_owner_find_locked(struct pci_dev *vf);
unsigned int vulb_owned_on_pf_locked(struct pci_dev *pf);
void vulb_emit(const struct vulb_event *ev);

#endif /* VULB_H */
