// SPDX-License-Identifier: GPL-2.0-or-later
/* vulb_sriov_kmod.c - the backend that uses /dev/vulb (kmod/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <vhost-user-lb/kmod-uapi.h>

#include "vulb_sriov_int.h"

static int k_ioctl(struct vulb_sriov *s, unsigned long cmd, void *arg)
{
	return ioctl(s->fd, cmd, arg) < 0 ? -errno : 0;
}

static int k_list(struct vulb_sriov *s, const struct vulb_pf *pf,
		  struct vulb_sriov_vf *out, unsigned int n)
{
	struct vulb_vf_info vi;
	unsigned int i;
	int r;

	for (i = 0; i < n; i++) {
		struct vulb_sriov_vf *v = &out[i];

		memset(&vi, 0, sizeof(vi));
		vi.size = sizeof(vi);
		vi.vf = i;
		snprintf(vi.pf, sizeof(vi.pf), "%s", pf->pci);
		r = k_ioctl(s, VULB_IOC_VF_GET, &vi);
		if (r)
			return r;
		memset(v, 0, sizeof(*v));
		snprintf(v->pf, sizeof(v->pf), "%s", pf->pci);
		snprintf(v->pf_ifname, sizeof(v->pf_ifname), "%s", pf->ifname);
		v->index = i;
		snprintf(v->pci, sizeof(v->pci), "%s", vi.pci);
		snprintf(v->ifname, sizeof(v->ifname), "%s", vi.ifname);
		snprintf(v->driver, sizeof(v->driver), "%s", vi.driver);
		snprintf(v->vm, sizeof(v->vm), "%s", vi.vm);
		v->numa_node = vi.numa_node;
		v->iommu_group = vi.iommu_group;
		v->group_devices = vi.group_devices;
		v->isolated = vi.flags & VULB_VF_ISOLATED;
		memcpy(v->mac, vi.mac, 6);
		v->vlan = vi.vlan;
		v->qos = vi.qos;
		v->spoofchk = vi.flags & VULB_VF_HAS_CONFIG ? (int)vi.spoofchk : -1;
		v->trust = vi.flags & VULB_VF_HAS_CONFIG ? (int)vi.trust : -1;
		v->min_tx_rate = vi.min_tx_rate;
		v->max_tx_rate = vi.max_tx_rate;
	}
	return 0;
}

static int k_assign_ioc(struct vulb_sriov *s, unsigned long cmd,
			const struct vulb_pf *pf, unsigned int vf, const char *vm)
{
	struct vulb_vf_assign a = { .size = sizeof(a), .vf = vf };

	snprintf(a.pf, sizeof(a.pf), "%s", pf->pci);
	snprintf(a.vm, sizeof(a.vm), "%s", vm);
	return k_ioctl(s, cmd, &a);
}

static int k_assign(struct vulb_sriov *s, const struct vulb_pf *pf,
		    unsigned int vf, const char *vm)
{
	return k_assign_ioc(s, VULB_IOC_VF_ASSIGN, pf, vf, vm);
}

static int k_release(struct vulb_sriov *s, const struct vulb_pf *pf, unsigned int vf)
{
	return k_assign_ioc(s, VULB_IOC_VF_RELEASE, pf, vf, "");
}

static int k_set_rate(struct vulb_sriov *s, const struct vulb_pf *pf,
		      unsigned int vf, unsigned int min, unsigned int max)
{
	struct vulb_vf_set v = {
		.size = sizeof(v), .vf = vf, .mask = VULB_SET_RATE,
		.min_tx_rate = min, .max_tx_rate = max,
	};

	snprintf(v.pf, sizeof(v.pf), "%s", pf->pci);
	return k_ioctl(s, VULB_IOC_VF_SET, &v);
}

static void mask_in(const __u64 *m, cpu_set_t *set)
{
	unsigned int i;

	CPU_ZERO(set);
	for (i = 0; i < VULB_CPUMASK_WORDS * 64 && i < CPU_SETSIZE; i++)
		if (m[i / 64] >> (i % 64) & 1)
			CPU_SET(i, set);
}

static void fill_irq(const struct vulb_irq *q, struct vulb_sriov_irq *o)
{
	o->index = q->index;
	o->irq = q->irq;
	o->managed = q->managed;
	snprintf(o->name, sizeof(o->name), "%s", q->name);
	mask_in(q->cpus, &o->affinity);
	mask_in(q->effective, &o->effective);
}

static int k_irqs(struct vulb_sriov *s, const char *pci,
		  struct vulb_sriov_irq **ret, size_t *ret_n)
{
	struct vulb_sriov_irq *out = NULL, *tmp;
	struct vulb_irq q;
	unsigned int i;
	int r;

	for (i = 0;; i++) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.index = i;
		snprintf(q.dev, sizeof(q.dev), "%s", pci);
		r = k_ioctl(s, VULB_IOC_IRQ_GET, &q);
		if ((r == -ERANGE && i == q.nvec) || (r == -ENXIO && i == 0))
			break;	/* past the last vector, or none at all */
		if (r)
			goto err;
		tmp = realloc(out, (i + 1) * sizeof(*out));
		if (!tmp) {
			r = -ENOMEM;
			goto err;
		}
		out = tmp;
		fill_irq(&q, &out[i]);
	}
	*ret = out;
	*ret_n = i;
	return 0;
err:
	free(out);
	return r;
}

static int k_set_irq(struct vulb_sriov *s, const char *pci, unsigned int index,
		     const cpu_set_t *cpus)
{
	struct vulb_irq q = { .size = sizeof(q), .index = index };
	unsigned int i;

	snprintf(q.dev, sizeof(q.dev), "%s", pci);
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, cpus))
			continue;
		if (i >= VULB_CPUMASK_WORDS * 64)
			return -EINVAL;
		q.cpus[i / 64] |= 1ULL << (i % 64);
	}
	return k_ioctl(s, VULB_IOC_IRQ_SET, &q);
}

const struct vulb_sriov_ops vulb_sriov_kmod_ops = {
	.name = "kmod",
	.list = k_list,
	.assign = k_assign,
	.release = k_release,
	.set_rate = k_set_rate,
	.irqs = k_irqs,
	.set_irq = k_set_irq,
};
