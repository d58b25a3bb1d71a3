// SPDX-License-Identifier: GPL-2.0
/*
 * vulb_main.c - the /dev/vulb misc device of the vhost-user-lb kernel helper:
 * open/close, the ioctl framing (size-prefixed, versioned structs), VF
 * ownership and the event queue read with read()/poll().
 *
 * Security model: the device node is 0600 root and open() needs
 * CAP_NET_ADMIN; ioctls that change state check CAP_NET_ADMIN again, so an
 * fd passed to an unprivileged process only reads.  Every argument is copied
 * into a kernel buffer whose size the module chose, and every string, index
 * and flag is checked on that copy before anything else happens.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "vulb.h"

DEFINE_MUTEX(vulb_lock);			/* vulb_owners */
static LIST_HEAD(vulb_owners);
static DEFINE_SPINLOCK(vulb_ev_lock);		/* vulb_files and their queues */
static LIST_HEAD(vulb_files);
static atomic64_t vulb_seq = ATOMIC64_INIT(0);

/**
 * vulb_check_name() - check a NUL-terminated name inside a fixed array
 * @s: the array (a kernel copy)
 * @len: its size
 *
 * Names are PCI addresses, netdev names or VM names: [A-Za-z0-9._:-]+.
 *
 * Context: any.
 * Return: 0, or -EINVAL if empty, unterminated or with another character.
 */
int vulb_check_name(const char *s, size_t len)
{
	size_t n = strnlen(s, len);
	size_t i;

	if (n == 0 || n == len)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isalnum(s[i]) && !strchr("._:-", s[i]))
			return -EINVAL;
	}
	return 0;
}

/**
 * vulb_emit() - queue an event on every open file and wake its readers
 * @ev: the event; size and seq are filled in here
 *
 * Context: process context, any locks but vulb_ev_lock.
 */
void vulb_emit(const struct vulb_event *ev)
{
	struct vulb_file *f;
	struct vulb_event e = *ev;
	unsigned long flags;

	e.size = sizeof(e);
	spin_lock_irqsave(&vulb_ev_lock, flags);
	e.seq = atomic64_inc_return(&vulb_seq);
	list_for_each_entry(f, &vulb_files, node) {
		unsigned int slot;

		if (f->count == VULB_EV_QUEUE) {
			/* drop the oldest: a reader wants the current state */
			f->head = (f->head + 1) % VULB_EV_QUEUE;
			f->count--;
			f->dropped++;
		}
		slot = (f->head + f->count) % VULB_EV_QUEUE;
		f->ev[slot] = e;
		f->ev[slot].dropped = f->dropped;
		f->dropped = 0;
		f->count++;
		wake_up_interruptible(&f->wq);
	}
	spin_unlock_irqrestore(&vulb_ev_lock, flags);
}

static void vulb_emit_owner(const struct vulb_owner *o, u32 type, u32 reason)
{
	struct vulb_event ev = {
		.type = type,
		.reason = reason,
	};
	struct pci_dev *pf = pci_physfn(o->vf);

	ev.vf = pci_iov_vf_id(o->vf);
	strscpy(ev.pf, pci_name(pf), sizeof(ev.pf));
	strscpy(ev.vm, o->vm, sizeof(ev.vm));
	vulb_emit(&ev);
}

/**
 * vulb_owner_find_locked() - the owner record of a VF
 * @vf: the VF
 *
 * Context: vulb_lock held.
 * Return: the record or NULL if the VF is free.
 */
struct vulb_owner *vulb_owner_find_locked(struct pci_dev *vf)
{
	struct vulb_owner *o;

	lockdep_assert_held(&vulb_lock);
	list_for_each_entry(o, &vulb_owners, node) {
		if (o->vf == vf)
			return o;
	}
	return NULL;
}

/**
 * vulb_owned_on_pf_locked() - how many VFs of a PF are assigned
 * @pf: the PF
 *
 * Context: vulb_lock held.
 * Return: the count.
 */
unsigned int vulb_owned_on_pf_locked(struct pci_dev *pf)
{
	struct vulb_owner *o;
	unsigned int n = 0;

	lockdep_assert_held(&vulb_lock);
	list_for_each_entry(o, &vulb_owners, node) {
		if (pci_physfn(o->vf) == pf)
			n++;
	}
	return n;
}

static void vulb_owner_free_locked(struct vulb_owner *o, u32 reason)
{
	list_del(&o->node);
	vulb_emit_owner(o, VULB_EV_RELEASED, reason);
	pci_dev_put(o->vf);
	kfree(o);
}

static long vulb_version(struct vulb_file *vf, void *arg);

static long vulb_vf_assign(struct vulb_file *file, void *arg)
{
	struct vulb_vf_assign *a = arg;
	struct vulb_owner *o, *nw;
	struct pci_dev *pf, *vf;
	u32 ndevs = 0;
	long ret;

	if (a->flags & ~VULB_ASSIGN_REQUIRE_ISOLATED || a->pad)
		return -EINVAL;
	ret = vulb_check_name(a->vm, sizeof(a->vm));
	if (ret)
		return ret;
	pf = vulb_pf_by_name(a->pf);
	if (IS_ERR(pf))
		return PTR_ERR(pf);
	vf = vulb_vf_of(pf, a->vf);
	if (IS_ERR(vf)) {
		ret = PTR_ERR(vf);
		goto err_put_pf;
	}
	if (a->flags & VULB_ASSIGN_REQUIRE_ISOLATED &&
	    (vulb_iommu_group(vf, &ndevs) < 0 || ndevs != 1)) {
		ret = -EXDEV;
		goto err_put_vf;
	}
	nw = kzalloc(sizeof(*nw), GFP_KERNEL);
	if (!nw) {
		ret = -ENOMEM;
		goto err_put_vf;
	}
	mutex_lock(&vulb_lock);
	o = vulb_owner_find_locked(vf);
	if (o) {
		/* the same owner asking again is not an error */
		ret = (o->file == file && !strcmp(o->vm, a->vm)) ? 0 : -EBUSY;
		mutex_unlock(&vulb_lock);
		kfree(nw);
		goto err_put_vf;
	}
	nw->vf = vf;			/* the record keeps this reference */
	nw->file = file;
	strscpy(nw->vm, a->vm, sizeof(nw->vm));
	list_add_tail(&nw->node, &vulb_owners);
	vulb_emit_owner(nw, VULB_EV_ASSIGNED, 0);
	mutex_unlock(&vulb_lock);
	pci_dev_put(pf);
	return 0;

err_put_vf:
	pci_dev_put(vf);
err_put_pf:
	pci_dev_put(pf);
	return ret;
}

static long vulb_vf_release(struct vulb_file *file, void *arg)
{
	struct vulb_vf_assign *a = arg;
	struct vulb_owner *o;
	struct pci_dev *pf, *vf;
	long ret;

	if (a->flags & ~VULB_RELEASE_FORCE || a->pad)
		return -EINVAL;
	if (a->vm[0]) {
		ret = vulb_check_name(a->vm, sizeof(a->vm));
		if (ret)
			return ret;
	}
	if (a->flags & VULB_RELEASE_FORCE && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	pf = vulb_pf_by_name(a->pf);
	if (IS_ERR(pf))
		return PTR_ERR(pf);
	vf = vulb_vf_of(pf, a->vf);
	if (IS_ERR(vf)) {
		ret = PTR_ERR(vf);
		goto err_put_pf;
	}
	mutex_lock(&vulb_lock);
	o = vulb_owner_find_locked(vf);
	if (!o)
		ret = -ENOENT;
	else if (o->file != file && !(a->flags & VULB_RELEASE_FORCE))
		ret = -EPERM;
	else if (a->vm[0] && strcmp(o->vm, a->vm))
		ret = -ESRCH;
	else
		ret = 0;
	if (!ret)
		vulb_owner_free_locked(o, VULB_REL_EXPLICIT);
	mutex_unlock(&vulb_lock);
	pci_dev_put(vf);
err_put_pf:
	pci_dev_put(pf);
	return ret;
}

struct vulb_cmd {
	const char *name;
	size_t ksize;		/* what this module knows */
	size_t min_size;	/* the oldest layout it accepts (VER0) */
	bool admin;		/* changes state: CAP_NET_ADMIN at call time */
	long (*fn)(struct vulb_file *file, void *arg);
};

#define CMD(nr, n, type, ver0, adm) [nr] = { .name = #n, \
	.ksize = sizeof(struct type), .min_size = (ver0), .admin = (adm), \
	.fn = vulb_##n }

static const struct vulb_cmd vulb_cmds[VULB_IOC_NR_MAX + 1] = {
	CMD(0, version, vulb_version, VULB_SIZE_VERSION_VER0, false),
	CMD(1, pf_get, vulb_pf_info, VULB_SIZE_PF_INFO_VER0, false),
	CMD(2, vf_get, vulb_vf_info, VULB_SIZE_VF_INFO_VER0, false),
	CMD(3, sriov_set, vulb_sriov_set, VULB_SIZE_SRIOV_SET_VER0, true),
	CMD(4, vf_assign, vulb_vf_assign, VULB_SIZE_VF_ASSIGN_VER0, true),
	CMD(5, vf_release, vulb_vf_assign, VULB_SIZE_VF_ASSIGN_VER0, true),
	CMD(6, vf_set, vulb_vf_set, VULB_SIZE_VF_SET_VER0, true),
	CMD(7, irq_get, vulb_irq, VULB_SIZE_IRQ_VER0, false),
	CMD(8, irq_set, vulb_irq, VULB_SIZE_IRQ_VER0, true),
};

/* big enough for every argument struct */
union vulb_arg {
	struct vulb_version version;
	struct vulb_pf_info pf;
	struct vulb_vf_info vf;
	struct vulb_sriov_set sriov;
	struct vulb_vf_assign assign;
	struct vulb_vf_set set;
	struct vulb_irq irq;
};

static long vulb_version(struct vulb_file *file, void *arg)
{
	struct vulb_version *v = arg;
	unsigned int i;

	v->abi_version = VULB_ABI_VERSION;
	v->nr_cpu_ids = nr_cpu_ids;
	v->n_sizes = ARRAY_SIZE(vulb_cmds);
	for (i = 0; i < ARRAY_SIZE(vulb_cmds); i++)
		v->sizes[i] = vulb_cmds[i].ksize;
	return 0;
}

static long vulb_ioctl(struct file *filp, unsigned int cmd, unsigned long uarg)
{
	struct vulb_file *file = filp->private_data;
	void __user *up = (void __user *)uarg;
	const struct vulb_cmd *c;
	union vulb_arg *karg;
	u32 usize;
	long ret;

	/* one number per command: the size travels in the struct instead */
	if (_IOC_TYPE(cmd) != VULB_IOC_MAGIC || _IOC_NR(cmd) > VULB_IOC_NR_MAX ||
	    cmd != _IO(VULB_IOC_MAGIC, _IOC_NR(cmd)))
		return -ENOTTY;
	c = &vulb_cmds[_IOC_NR(cmd)];
	BUILD_BUG_ON(sizeof(union vulb_arg) > VULB_MAX_ARG_SIZE);
	if (c->admin && !capable(CAP_NET_ADMIN))
		return -EPERM;
	if (get_user(usize, (u32 __user *)up))
		return -EFAULT;
	if (usize > VULB_MAX_ARG_SIZE)
		return -E2BIG;
	if (usize < c->min_size)
		return -EINVAL;
	karg = kzalloc(sizeof(*karg), GFP_KERNEL);
	if (!karg)
		return -ENOMEM;
	ret = copy_struct_from_user(karg, c->ksize, up, usize);
	if (ret)
		goto out_free;
	ret = c->fn(file, karg);
	/* outputs (also "failed" of VF_SET) go back even on error, but
	 * never more than the caller's struct holds */
	if (copy_to_user(up, karg, min_t(size_t, usize, c->ksize)))
		ret = -EFAULT;
out_free:
	kfree(karg);
	return ret;
}

static int vulb_open(struct inode *inode, struct file *filp)
{
	struct vulb_file *file;
	unsigned long flags;

	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	file = kvzalloc(sizeof(*file), GFP_KERNEL);
	if (!file)
		return -ENOMEM;
	init_waitqueue_head(&file->wq);
	spin_lock_irqsave(&vulb_ev_lock, flags);
	list_add_tail(&file->node, &vulb_files);
	spin_unlock_irqrestore(&vulb_ev_lock, flags);
	filp->private_data = file;
	return nonseekable_open(inode, filp);
}

static int vulb_release(struct inode *inode, struct file *filp)
{
	struct vulb_file *file = filp->private_data;
	struct vulb_owner *o, *tmp;
	unsigned long flags;

	spin_lock_irqsave(&vulb_ev_lock, flags);
	list_del(&file->node);
	spin_unlock_irqrestore(&vulb_ev_lock, flags);

	mutex_lock(&vulb_lock);
	list_for_each_entry_safe(o, tmp, &vulb_owners, node) {
		if (o->file == file)
			vulb_owner_free_locked(o, VULB_REL_CLOSE);
	}
	mutex_unlock(&vulb_lock);
	kvfree(file);
	return 0;
}

static ssize_t vulb_read(struct file *filp, char __user *buf, size_t len,
			 loff_t *off)
{
	struct vulb_file *file = filp->private_data;
	const size_t esz = sizeof(struct vulb_event);
	struct vulb_event ev;
	unsigned long flags;
	size_t done = 0;
	int ret;

	if (len < esz)
		return -EINVAL;
	while (done + esz <= len) {
		spin_lock_irqsave(&vulb_ev_lock, flags);
		if (!file->count) {
			spin_unlock_irqrestore(&vulb_ev_lock, flags);
			if (done)
				break;
			if (filp->f_flags & O_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(file->wq,
						       READ_ONCE(file->count));
			if (ret)
				return ret;
			continue;
		}
		ev = file->ev[file->head];
		file->head = (file->head + 1) % VULB_EV_QUEUE;
		file->count--;
		spin_unlock_irqrestore(&vulb_ev_lock, flags);
		if (copy_to_user(buf + done, &ev, esz))
			return done ? done : -EFAULT;
		done += esz;
	}
	return done;
}

static __poll_t vulb_poll(struct file *filp, poll_table *wait)
{
	struct vulb_file *file = filp->private_data;

	poll_wait(filp, &file->wq, wait);
	return READ_ONCE(file->count) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations vulb_fops = {
	.owner = THIS_MODULE,
	.open = vulb_open,
	.release = vulb_release,
	.read = vulb_read,
	.poll = vulb_poll,
	.unlocked_ioctl = vulb_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice vulb_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = VULB_DEVICE_NAME,
	.fops = &vulb_fops,
	.mode = 0600,
};

/* VF and PF link changes, for whoever reads the device. */
static int vulb_netdev_event(struct notifier_block *nb, unsigned long what,
			     void *ptr)
{
	struct net_device *nd = netdev_notifier_info_to_dev(ptr);
	struct vulb_event ev = { .type = VULB_EV_LINK };
	struct device *parent = nd->dev.parent;
	struct pci_dev *pdev, *pf;

	if (what != NETDEV_UP && what != NETDEV_DOWN && what != NETDEV_CHANGE)
		return NOTIFY_DONE;
	if (!parent || !dev_is_pci(parent))
		return NOTIFY_DONE;
	pdev = to_pci_dev(parent);
	if (pdev->is_virtfn) {
		pf = pci_physfn(pdev);
		ev.vf = pci_iov_vf_id(pdev);
	} else if (pdev->is_physfn) {
		pf = pdev;
		ev.vf = ~0u;
	} else {
		return NOTIFY_DONE;
	}
	ev.link_up = netif_running(nd) && netif_carrier_ok(nd);
	strscpy(ev.pf, pci_name(pf), sizeof(ev.pf));
	strscpy(ev.ifname, nd->name, sizeof(ev.ifname));
	vulb_emit(&ev);
	return NOTIFY_DONE;
}

static struct notifier_block vulb_netdev_nb = {
	.notifier_call = vulb_netdev_event,
};

/* A VF that goes away (SR-IOV disabled behind our back) loses its owner. */
static int vulb_pci_event(struct notifier_block *nb, unsigned long what,
			  void *data)
{
	struct device *dev = data;
	struct vulb_owner *o;

	if (what != BUS_NOTIFY_DEL_DEVICE)
		return NOTIFY_DONE;
	mutex_lock(&vulb_lock);
	o = vulb_owner_find_locked(to_pci_dev(dev));
	if (o)
		vulb_owner_free_locked(o, VULB_REL_REMOVED);
	mutex_unlock(&vulb_lock);
	return NOTIFY_DONE;
}

static struct notifier_block vulb_pci_nb = {
	.notifier_call = vulb_pci_event,
};

static int __init vulb_init(void)
{
	int ret;

	ret = bus_register_notifier(&pci_bus_type, &vulb_pci_nb);
	if (ret)
		return ret;
	ret = register_netdevice_notifier(&vulb_netdev_nb);
	if (ret)
		goto err_bus;
	ret = misc_register(&vulb_misc);
	if (ret)
		goto err_netdev;
	pr_info("ABI %d ready on /dev/%s\n", VULB_ABI_VERSION, VULB_DEVICE_NAME);
	return 0;

err_netdev:
	unregister_netdevice_notifier(&vulb_netdev_nb);
err_bus:
	bus_unregister_notifier(&pci_bus_type, &vulb_pci_nb);
	return ret;
}

static void __exit vulb_exit(void)
{
	/* every fd is closed (each holds a module reference): no owners left */
	misc_deregister(&vulb_misc);
	unregister_netdevice_notifier(&vulb_netdev_nb);
	bus_unregister_notifier(&pci_bus_type, &vulb_pci_nb);
	WARN_ON(!list_empty(&vulb_owners));
}

module_init(vulb_init);
module_exit(vulb_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("vhost-user-lb project");
MODULE_DESCRIPTION("vhost-user-lb helper: SR-IOV VF assignment, VF rates, queue IRQ affinity");
