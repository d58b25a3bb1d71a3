// SPDX-License-Identifier: GPL-2.0
/*
 * vulb_irq.c - per-queue MSI/MSI-X vectors of a PCI function: report the
 * vector's IRQ, handler name and (effective) affinity, and move it.
 *
 * The function's device_lock is held throughout, so the driver cannot be
 * unbound (and free its vectors) while we look at them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqdesc.h>
#include <linux/pci.h>

#include "vulb.h"

/* bounds the vector walk; PCI allows at most 2048 MSI-X entries */
#define VULB_MAX_VECTORS	2048

static u32 vulb_nvec(struct pci_dev *pdev)
{
	u32 n = 0;

	if (!pdev->msix_enabled && !pdev->msi_enabled)
		return 0;
	while (n < VULB_MAX_VECTORS && pci_irq_vector(pdev, n) > 0)
		n++;
	return n;
}

static void vulb_mask_out(const struct cpumask *m, __u64 *out)
{
	unsigned int cpu;

	memset(out, 0, VULB_CPUMASK_WORDS * sizeof(*out));
	for_each_cpu(cpu, m) {
		if (cpu < VULB_CPUMASK_WORDS * 64)
			out[cpu / 64] |= 1ULL << (cpu % 64);
	}
}

static void vulb_irq_fill(struct vulb_irq *q, unsigned int irq)
{
	struct irq_data *d = irq_get_irq_data(irq);
	struct irq_desc *desc;
	unsigned long flags;

	q->irq = irq;
	memset(q->name, 0, sizeof(q->name));
	if (!d)
		return;
	q->managed = irqd_affinity_is_managed(d);
	desc = irq_data_to_desc(d);
	/* desc->lock keeps the action (and its name) from being freed */
	raw_spin_lock_irqsave(&desc->lock, flags);
	if (desc->action && desc->action->name)
		strscpy(q->name, desc->action->name, sizeof(q->name));
	vulb_mask_out(irq_data_get_affinity_mask(d), q->cpus);
	vulb_mask_out(irq_data_get_effective_affinity_mask(d), q->effective);
	raw_spin_unlock_irqrestore(&desc->lock, flags);
}

/* Look the function up, lock it and resolve the vector.  Returns the IRQ
 * or -errno; on success the caller unlocks and puts *ret_pdev. */
static int vulb_irq_lookup(struct vulb_irq *q, struct pci_dev **ret_pdev)
{
	struct pci_dev *pdev;
	int irq, ret;

	pdev = vulb_pci_by_name(q->dev);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	ret = device_lock_interruptible(&pdev->dev);
	if (ret)
		goto err_put;
	q->msix = pdev->msix_enabled;
	q->nvec = vulb_nvec(pdev);
	if (q->index >= q->nvec) {
		ret = q->nvec ? -ERANGE : -ENXIO;
		goto err_unlock;
	}
	irq = pci_irq_vector(pdev, q->index);
	if (irq <= 0) {
		ret = -ENXIO;
		goto err_unlock;
	}
	*ret_pdev = pdev;
	return irq;

err_unlock:
	device_unlock(&pdev->dev);
err_put:
	pci_dev_put(pdev);
	return ret;
}

long vulb_irq_get(struct vulb_file *file, void *arg)
{
	struct vulb_irq *q = arg;
	struct pci_dev *pdev;
	int irq;

	irq = vulb_irq_lookup(q, &pdev);
	if (irq < 0)
		return irq;
	vulb_irq_fill(q, irq);
	device_unlock(&pdev->dev);
	pci_dev_put(pdev);
	return 0;
}

long vulb_irq_set(struct vulb_file *file, void *arg)
{
	struct vulb_irq *q = arg;
	cpumask_var_t mask;
	struct irq_data *d;
	struct pci_dev *pdev;
	unsigned int i, cpu;
	int irq, ret;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	for (i = 0; i < VULB_CPUMASK_WORDS * 64; i++) {
		if (!(q->cpus[i / 64] & (1ULL << (i % 64))))
			continue;
		if (i >= nr_cpu_ids) {
			ret = -EINVAL;
			goto err_free;
		}
		cpumask_set_cpu(i, mask);
	}
	/* only online CPUs: an offline target would leave the queue silent */
	cpu = cpumask_first(mask);
	if (cpu >= nr_cpu_ids || !cpumask_subset(mask, cpu_online_mask)) {
		ret = -EINVAL;
		goto err_free;
	}
	irq = vulb_irq_lookup(q, &pdev);
	if (irq < 0) {
		ret = irq;
		goto err_free;
	}
	d = irq_get_irq_data(irq);
	if (!d) {
		ret = -ENXIO;
		goto err_unlock;
	}
	/* the kernel spreads managed vectors itself and would refuse anyway */
	if (irqd_affinity_is_managed(d)) {
		ret = -EPERM;
		goto err_fill;
	}
	ret = irq_set_affinity(irq, mask);
err_fill:
	vulb_irq_fill(q, irq);
err_unlock:
	device_unlock(&pdev->dev);
	pci_dev_put(pdev);
err_free:
	free_cpumask_var(mask);
	return ret;
}
