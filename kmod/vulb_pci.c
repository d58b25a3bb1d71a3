// SPDX-License-Identifier: GPL-2.0
/*
 * vulb_pci.c - SR-IOV PFs and VFs: lookup, enumeration, enabling VFs, and
 * VF settings through the PF driver's ndo_set_vf_* operations.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/iommu.h>
#include <linux/netdevice.h>
#include <linux/pci.h>
#include <linux/rtnetlink.h>
#include <net/net_namespace.h>

#include "vulb.h"

/* The PCI function behind a device: a netdev's parent may be a virtio or
 * other bus device whose own parent is the PCI function. */
static struct pci_dev *vulb_pci_parent(struct device *d)
{
	for (; d; d = d->parent) {
		if (dev_is_pci(d))
			return to_pci_dev(d);
	}
	return NULL;
}

/**
 * vulb_pci_by_name() - find a PCI function by address or netdev name
 * @name: "DDDD:BB:DD.F" or a netdev name in the initial netns (checked
 *        with vulb_check_name() by the caller or here)
 *
 * Context: process context, no locks held.
 * Return: the function with a reference held, or ERR_PTR(-ENODEV/-EINVAL).
 */
struct pci_dev *vulb_pci_by_name(const char *name)
{
	unsigned int dom, bus, slot, fn;
	struct pci_dev *pdev = NULL;
	struct net_device *nd;
	int n = 0;

	if (vulb_check_name(name, VULB_NAME_LEN))
		return ERR_PTR(-EINVAL);
	if (sscanf(name, "%x:%x:%x.%x%n", &dom, &bus, &slot, &fn, &n) == 4 &&
	    name[n] == '\0') {
		if (dom > 0xffff || bus > 0xff || slot > 0x1f || fn > 7)
			return ERR_PTR(-EINVAL);
		pdev = pci_get_domain_bus_and_slot(dom, bus, PCI_DEVFN(slot, fn));
		return pdev ? pdev : ERR_PTR(-ENODEV);
	}
	if (!dev_valid_name(name))
		return ERR_PTR(-EINVAL);
	nd = dev_get_by_name(&init_net, name);
	if (!nd)
		return ERR_PTR(-ENODEV);
	pdev = pci_dev_get(vulb_pci_parent(nd->dev.parent));
	dev_put(nd);
	return pdev ? pdev : ERR_PTR(-ENODEV);
}

/**
 * vulb_pf_by_name() - like vulb_pci_by_name(), for an SR-IOV PF
 * @name: see vulb_pci_by_name()
 *
 * Context: process context, no locks held.
 * Return: the PF with a reference held, ERR_PTR(-ENODEV) if there is no
 *         such function, ERR_PTR(-EOPNOTSUPP) if it is not an SR-IOV PF.
 */
struct pci_dev *vulb_pf_by_name(const char *name)
{
	struct pci_dev *pdev = vulb_pci_by_name(name);

	if (!IS_ERR(pdev) && !pdev->is_physfn) {
		pci_dev_put(pdev);
		return ERR_PTR(-EOPNOTSUPP);
	}
	return pdev;
}

/**
 * vulb_vf_of() - VF number @vf of a PF
 * @pf: the PF
 * @vf: VF index
 *
 * pci_iov_virtfn_bus() is not exported, so walk the bus instead.
 *
 * Context: process context, no locks held.
 * Return: the VF with a reference held, ERR_PTR(-ERANGE) if @vf is not
 *         below the enabled VF count, ERR_PTR(-ENODEV) if it vanished.
 */
struct pci_dev *vulb_vf_of(struct pci_dev *pf, u32 vf)
{
	struct pci_dev *p = NULL;

	if (vf >= (u32)pci_num_vf(pf))
		return ERR_PTR(-ERANGE);
	for_each_pci_dev(p) {
		if (p->is_virtfn && pci_physfn(p) == pf &&
		    pci_iov_vf_id(p) == (int)vf)
			return p;	/* for_each_pci_dev holds the reference */
	}
	return ERR_PTR(-ENODEV);
}

static int vulb_count_dev(struct device *dev, void *data)
{
	(*(u32 *)data)++;
	return 0;
}

/**
 * vulb_iommu_group() - IOMMU group of a function and its size
 * @pdev: the function
 * @ndevs: out: devices in the group (0 without a group)
 *
 * Context: process context.
 * Return: the group id, or -ENODEV without an IOMMU group.
 */
int vulb_iommu_group(struct pci_dev *pdev, u32 *ndevs)
{
	struct iommu_group *g = iommu_group_get(&pdev->dev);
	int id;

	*ndevs = 0;
	if (!g)
		return -ENODEV;
	id = iommu_group_id(g);
	iommu_group_for_each_dev(g, ndevs, vulb_count_dev);
	iommu_group_put(g);
	return id;
}

/**
 * vulb_driver_name() - name of the bound driver, "" if none
 * @pdev: the function
 * @buf: out
 * @len: size of @buf
 *
 * Context: any; a racing unbind yields the old or the empty name.
 */
void vulb_driver_name(struct pci_dev *pdev, char *buf, size_t len)
{
	struct device_driver *drv = READ_ONCE(pdev->dev.driver);

	strscpy(buf, drv ? drv->name : "", len);
}

/* First netdev whose parent chain reaches @pdev. Context: RTNL held. */
static struct net_device *vulb_netdev_of_rtnl(struct pci_dev *pdev)
{
	struct net_device *nd;

	ASSERT_RTNL();
	for_each_netdev(&init_net, nd) {
		if (vulb_pci_parent(nd->dev.parent) == pdev)
			return nd;
	}
	return NULL;
}

/* Name and link of a function's netdev; "" if none. Context: no locks. */
static void vulb_netdev_name(struct pci_dev *pdev, char *buf, size_t len,
			     bool *link_up)
{
	struct net_device *nd;

	buf[0] = '\0';
	rcu_read_lock();
	for_each_netdev_rcu(&init_net, nd) {
		if (vulb_pci_parent(nd->dev.parent) == pdev) {
			strscpy(buf, nd->name, len);
			if (link_up)
				*link_up = netif_running(nd) && netif_carrier_ok(nd);
			break;
		}
	}
	rcu_read_unlock();
}

static struct pci_dev *vulb_pf_nth(u32 index, u32 *count)
{
	struct pci_dev *p = NULL, *found = NULL;
	u32 n = 0;

	for_each_pci_dev(p) {
		if (!p->is_physfn)
			continue;
		if (n++ == index)
			found = pci_dev_get(p);
	}
	*count = n;
	return found;
}

long vulb_pf_get(struct vulb_file *file, void *arg)
{
	struct vulb_pf_info *pi = arg;
	struct ethtool_link_ksettings ks;
	struct net_device *nd;
	struct pci_dev *pf;
	u32 ndevs, count = 0;

	if (pi->index == VULB_PF_BY_NAME) {
		pf = vulb_pf_by_name(pi->pf);
		if (IS_ERR(pf))
			return PTR_ERR(pf);
		pci_dev_put(vulb_pf_nth(~0u, &count));
	} else {
		pf = vulb_pf_nth(pi->index, &count);
		if (!pf) {
			pi->count = count;
			return -ERANGE;
		}
	}
	pi->count = count;
	strscpy(pi->pf, pci_name(pf), sizeof(pi->pf));
	pi->total_vfs = pci_sriov_get_totalvfs(pf);
	pi->num_vfs = pci_num_vf(pf);
	pi->numa_node = dev_to_node(&pf->dev);
	pi->iommu_group = vulb_iommu_group(pf, &ndevs);
	if (pi->iommu_group < 0)
		pi->iommu_group = -1;
	pi->vendor = pf->vendor;
	pi->device = pf->device;
	vulb_driver_name(pf, pi->driver, sizeof(pi->driver));

	mutex_lock(&vulb_lock);
	pi->vfs_owned = vulb_owned_on_pf_locked(pf);
	mutex_unlock(&vulb_lock);

	pi->ifname[0] = '\0';
	pi->link_speed = 0;
	rtnl_lock();
	nd = vulb_netdev_of_rtnl(pf);
	if (nd) {
		strscpy(pi->ifname, nd->name, sizeof(pi->ifname));
		if (netif_running(nd) && netif_carrier_ok(nd) &&
		    !__ethtool_get_link_ksettings(nd, &ks) &&
		    ks.base.speed != SPEED_UNKNOWN)
			pi->link_speed = ks.base.speed;
	}
	rtnl_unlock();
	pci_dev_put(pf);
	return 0;
}

long vulb_vf_get(struct vulb_file *file, void *arg)
{
	struct vulb_vf_info *vi = arg;
	const struct net_device_ops *ops;
	struct ifla_vf_info ivi;
	struct vulb_owner *o;
	struct net_device *nd;
	struct pci_dev *pf, *vf;
	bool link_up = false;
	int ret;
	u32 ndevs;

	pf = vulb_pf_by_name(vi->pf);
	if (IS_ERR(pf))
		return PTR_ERR(pf);
	vf = vulb_vf_of(pf, vi->vf);
	if (IS_ERR(vf)) {
		ret = PTR_ERR(vf);
		goto err_put_pf;
	}
	strscpy(vi->pci, pci_name(vf), sizeof(vi->pci));
	vulb_netdev_name(vf, vi->ifname, sizeof(vi->ifname), &link_up);
	vulb_driver_name(vf, vi->driver, sizeof(vi->driver));
	vi->flags = link_up ? VULB_VF_LINK_UP : 0;
	vi->numa_node = dev_to_node(&vf->dev);
	vi->iommu_group = vulb_iommu_group(vf, &ndevs);
	if (vi->iommu_group < 0)
		vi->iommu_group = -1;
	vi->group_devices = ndevs;
	if (ndevs == 1)
		vi->flags |= VULB_VF_ISOLATED;

	memset(vi->vm, 0, sizeof(vi->vm));
	mutex_lock(&vulb_lock);
	o = vulb_owner_find_locked(vf);
	if (o) {
		vi->flags |= VULB_VF_OWNED;
		if (o->file == file)
			vi->flags |= VULB_VF_OWNED_BY_ME;
		strscpy(vi->vm, o->vm, sizeof(vi->vm));
	}
	mutex_unlock(&vulb_lock);

	memset(vi->mac, 0, sizeof(vi->mac));
	vi->vlan = vi->qos = vi->spoofchk = vi->trust = 0;
	vi->min_tx_rate = vi->max_tx_rate = vi->link_state = vi->pad = 0;
	rtnl_lock();
	nd = vulb_netdev_of_rtnl(pf);
	ops = nd ? nd->netdev_ops : NULL;
	/* re-check under RTNL: VFs may have been disabled meanwhile */
	if (ops && ops->ndo_get_vf_config && vi->vf < (u32)pci_num_vf(pf)) {
		/* drivers fill only what they know: preset like rtnetlink */
		memset(&ivi, 0, sizeof(ivi));
		ivi.spoofchk = -1;
		ivi.trusted = -1;
		if (!ops->ndo_get_vf_config(nd, vi->vf, &ivi)) {
			vi->flags |= VULB_VF_HAS_CONFIG;
			memcpy(vi->mac, ivi.mac, ETH_ALEN);
			vi->vlan = ivi.vlan;
			vi->qos = ivi.qos;
			vi->spoofchk = ivi.spoofchk;
			vi->trust = ivi.trusted;
			vi->min_tx_rate = ivi.min_tx_rate;
			vi->max_tx_rate = ivi.max_tx_rate;
			vi->link_state = ivi.linkstate;
		}
	}
	rtnl_unlock();
	ret = 0;
	pci_dev_put(vf);
err_put_pf:
	pci_dev_put(pf);
	return ret;
}

long vulb_sriov_set(struct vulb_file *file, void *arg)
{
	struct vulb_sriov_set *s = arg;
	struct pci_driver *drv;
	struct pci_dev *pf;
	unsigned int owned;
	int cur, ret;

	pf = vulb_pf_by_name(s->pf);
	if (IS_ERR(pf))
		return PTR_ERR(pf);
	if (s->num_vfs > (u32)pci_sriov_get_totalvfs(pf)) {
		ret = -ERANGE;
		goto err_put_pf;
	}
	/* a VM may be using a VF: refuse to pull it away (bus notifier
	 * still cleans up if it is disabled through sysfs) */
	mutex_lock(&vulb_lock);
	owned = vulb_owned_on_pf_locked(pf);
	mutex_unlock(&vulb_lock);
	if (owned) {
		ret = -EBUSY;
		goto err_put_pf;
	}
	/* the same steps as sriov_numvfs_store(): the PF driver owns SR-IOV */
	ret = device_lock_interruptible(&pf->dev);
	if (ret)
		goto err_put_pf;
	drv = pf->driver;
	cur = pci_num_vf(pf);
	if (!drv) {
		ret = -ENOENT;
		goto err_unlock;
	}
	if (!drv->sriov_configure) {
		ret = -EOPNOTSUPP;
		goto err_unlock;
	}
	if ((u32)cur == s->num_vfs) {
		ret = 0;
		goto err_unlock;
	}
	if (cur && s->num_vfs) {
		ret = -EBUSY;	/* like sysfs: go through 0 first */
		goto err_unlock;
	}
	ret = drv->sriov_configure(pf, s->num_vfs);
	if (ret >= 0 && s->num_vfs && (u32)ret != s->num_vfs) {
		pci_warn(pf, "%d VFs requested; driver enabled %d\n",
			 s->num_vfs, ret);
		ret = -EIO;
	}
	if (ret > 0)
		ret = 0;
err_unlock:
	device_unlock(&pf->dev);
err_put_pf:
	pci_dev_put(pf);
	return ret;
}

static int vulb_vf_set_check(const struct vulb_vf_set *s)
{
	if (!s->mask || s->mask & ~VULB_SET_ALL)
		return -EINVAL;
	if (s->mask & VULB_SET_MAC &&
	    ((!is_valid_ether_addr(s->mac) && !is_zero_ether_addr(s->mac)) ||
	     s->mac[6] || s->mac[7]))
		return -EINVAL;
	if (s->mask & VULB_SET_VLAN && (s->vlan > 4094 || s->qos > 7))
		return -EINVAL;
	if (s->mask & VULB_SET_SPOOFCHK && s->spoofchk > 1)
		return -EINVAL;
	if (s->mask & VULB_SET_TRUST && s->trust > 1)
		return -EINVAL;
	if (s->mask & VULB_SET_RATE &&
	    (s->min_tx_rate > INT_MAX || s->max_tx_rate > INT_MAX ||
	     (s->max_tx_rate && s->min_tx_rate > s->max_tx_rate)))
		return -EINVAL;
	return 0;
}

long vulb_vf_set(struct vulb_file *file, void *arg)
{
	struct vulb_vf_set *s = arg;
	const struct net_device_ops *ops;
	struct vulb_owner *o;
	struct net_device *nd;
	struct pci_dev *pf, *vf;
	u8 mac[ETH_ALEN];
	int ret;

	s->failed = 0;
	ret = vulb_vf_set_check(s);
	if (ret)
		return ret;
	pf = vulb_pf_by_name(s->pf);
	if (IS_ERR(pf))
		return PTR_ERR(pf);
	vf = vulb_vf_of(pf, s->vf);
	if (IS_ERR(vf)) {
		ret = PTR_ERR(vf);
		goto err_put_pf;
	}
	/* a VF assigned through another fd belongs to that VM's manager */
	mutex_lock(&vulb_lock);
	o = vulb_owner_find_locked(vf);
	ret = o && o->file != file ? -EBUSY : 0;
	mutex_unlock(&vulb_lock);
	if (ret)
		goto err_put_vf;

	rtnl_lock();
	nd = vulb_netdev_of_rtnl(pf);
	if (!nd) {
		ret = -ENODEV;
		goto err_unlock;
	}
	if (s->vf >= (u32)pci_num_vf(pf)) {
		ret = -ERANGE;
		goto err_unlock;
	}
	ops = nd->netdev_ops;
	if (s->mask & VULB_SET_MAC) {
		s->failed = VULB_SET_MAC;
		memcpy(mac, s->mac, ETH_ALEN);
		ret = ops->ndo_set_vf_mac ?
		      ops->ndo_set_vf_mac(nd, s->vf, mac) : -EOPNOTSUPP;
		if (ret)
			goto err_unlock;
	}
	if (s->mask & VULB_SET_VLAN) {
		s->failed = VULB_SET_VLAN;
		ret = ops->ndo_set_vf_vlan ?
		      ops->ndo_set_vf_vlan(nd, s->vf, s->vlan, s->qos,
					   htons(ETH_P_8021Q)) : -EOPNOTSUPP;
		if (ret)
			goto err_unlock;
	}
	if (s->mask & VULB_SET_SPOOFCHK) {
		s->failed = VULB_SET_SPOOFCHK;
		ret = ops->ndo_set_vf_spoofchk ?
		      ops->ndo_set_vf_spoofchk(nd, s->vf, s->spoofchk) : -EOPNOTSUPP;
		if (ret)
			goto err_unlock;
	}
	if (s->mask & VULB_SET_TRUST) {
		s->failed = VULB_SET_TRUST;
		ret = ops->ndo_set_vf_trust ?
		      ops->ndo_set_vf_trust(nd, s->vf, s->trust) : -EOPNOTSUPP;
		if (ret)
			goto err_unlock;
	}
	if (s->mask & VULB_SET_RATE) {
		s->failed = VULB_SET_RATE;
		ret = ops->ndo_set_vf_rate ?
		      ops->ndo_set_vf_rate(nd, s->vf, s->min_tx_rate,
					   s->max_tx_rate) : -EOPNOTSUPP;
		if (ret)
			goto err_unlock;
	}
	s->failed = 0;
err_unlock:
	rtnl_unlock();
err_put_vf:
	pci_dev_put(vf);
err_put_pf:
	pci_dev_put(pf);
	return ret;
}
