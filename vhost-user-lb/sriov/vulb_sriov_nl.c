// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vulb_sriov_nl.c - the fallback without the module: VF settings through
 * rtnetlink (IFLA_VFINFO_LIST, as iproute2 does), VFs and IRQs through sysfs
 * and procfs.  Ownership lives only in the calling process.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "vulb_sriov_int.h"

int vulb_nl_open(struct vulb_sriov *s)
{
	/* a lost answer must not hang the daemon's control thread */
	struct timeval tv = { .tv_sec = 5 };

	s->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!s->nl)
		return -errno;
	if (setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(s->nl);
		s->nl = NULL;
		return r;
	}
	s->seq = time(NULL);
	return 0;
}

/* Send one request, run @cb over the answer; -errno of an error ACK. */
static int nl_talk(struct vulb_sriov *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[65536];
	unsigned int portid = mnl_socket_get_portid(s->nl);
	ssize_t n;
	int r;

	nlh->nlmsg_seq = ++s->seq;
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		r = mnl_cb_run(buf, n, nlh->nlmsg_seq, portid, cb, data);
		if (r < 0)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

struct vf_parse {
	struct vulb_sriov_vf *out;
	unsigned int n;
};

static void parse_vf_info(const struct nlattr *info, struct vf_parse *p)
{
	const struct nlattr *a;
	struct vulb_sriov_vf *v = NULL;

	mnl_attr_for_each_nested(a, info) {
		const void *pl = mnl_attr_get_payload(a);
		unsigned int type = mnl_attr_get_type(a);
		__u32 vf;

		/* the structs we read start with __u32 vf; others (e.g.
		 * IFLA_VF_BROADCAST) do not */
		if ((type != IFLA_VF_MAC && type != IFLA_VF_VLAN &&
		     type != IFLA_VF_RATE && type != IFLA_VF_SPOOFCHK &&
		     type != IFLA_VF_TRUST) ||
		    mnl_attr_get_payload_len(a) < sizeof(__u32))
			continue;
		vf = *(const __u32 *)pl;
		if (vf >= p->n)
			continue;
		v = &p->out[vf];
		switch (type) {
		case IFLA_VF_MAC:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_mac))
				memcpy(v->mac, ((const struct ifla_vf_mac *)pl)->mac, 6);
			break;
		case IFLA_VF_VLAN:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_vlan)) {
				v->vlan = ((const struct ifla_vf_vlan *)pl)->vlan;
				v->qos = ((const struct ifla_vf_vlan *)pl)->qos;
			}
			break;
		case IFLA_VF_RATE:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_rate)) {
				v->min_tx_rate = ((const struct ifla_vf_rate *)pl)->min_tx_rate;
				v->max_tx_rate = ((const struct ifla_vf_rate *)pl)->max_tx_rate;
			}
			break;
		case IFLA_VF_SPOOFCHK:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_spoofchk))
				v->spoofchk = (int)((const struct ifla_vf_spoofchk *)pl)->setting;
			break;
		case IFLA_VF_TRUST:
			if (mnl_attr_get_payload_len(a) >= sizeof(struct ifla_vf_trust))
				v->trust = (int)((const struct ifla_vf_trust *)pl)->setting;
			break;
		}
	}
}

static int getlink_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *a, *vfi;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
		if (mnl_attr_get_type(a) != IFLA_VFINFO_LIST)
			continue;
		mnl_attr_for_each_nested(vfi, a)
			if (mnl_attr_get_type(vfi) == IFLA_VF_INFO)
				parse_vf_info(vfi, data);
	}
	return MNL_CB_OK;
}

static int nl_list(struct vulb_sriov *s, const struct vulb_pf *pf,
		   struct vulb_sriov_vf *out, unsigned int n)
{
	char buf[8192];
	struct vf_parse p = { .out = out, .n = n };
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int i, idx;

	for (i = 0; i < n; i++)
		vulb_sysfs_vf(pf, i, &out[i]);
	if (!pf->ifname[0] || !n)
		return 0;
	idx = if_nametoindex(pf->ifname);
	if (!idx)
		return -ENODEV;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	/* the ACK after the one RTM_NEWLINK ends the exchange */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = idx;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_VF);
	return nl_talk(s, nlh, getlink_cb, &p);
}

static int nl_assign(struct vulb_sriov *s, const struct vulb_pf *pf,
		     unsigned int vf, const char *vm)
{
	(void)s; (void)pf; (void)vf; (void)vm;
	return 0;	/* recorded by the common layer, in this process only */
}

static int nl_release(struct vulb_sriov *s, const struct vulb_pf *pf, unsigned int vf)
{
	(void)s; (void)pf; (void)vf;
	return 0;
}

static int nl_set_rate(struct vulb_sriov *s, const struct vulb_pf *pf,
		       unsigned int vf, unsigned int min, unsigned int max)
{
	char buf[8192];
	struct ifla_vf_rate rate = { .vf = vf, .min_tx_rate = min, .max_tx_rate = max };
	struct nlattr *list, *info;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int idx;

	if (!pf->ifname[0] || !(idx = if_nametoindex(pf->ifname)))
		return -ENODEV;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_SETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = idx;
	list = mnl_attr_nest_start(nlh, IFLA_VFINFO_LIST);
	info = mnl_attr_nest_start(nlh, IFLA_VF_INFO);
	mnl_attr_put(nlh, IFLA_VF_RATE, sizeof(rate), &rate);
	mnl_attr_nest_end(nlh, info);
	mnl_attr_nest_end(nlh, list);
	errno = 0;
	return nl_talk(s, nlh, NULL, NULL);
}

static int nl_irqs(struct vulb_sriov *s, const char *pci,
		   struct vulb_sriov_irq **ret, size_t *ret_n)
{
	(void)s;
	return vulb_sysfs_irqs(pci, ret, ret_n);
}

static int nl_set_irq(struct vulb_sriov *s, const char *pci, unsigned int index,
		      const cpu_set_t *cpus)
{
	struct vulb_sriov_irq *v;
	char path[64], list[1024];
	size_t n, len = 0;
	unsigned int i;
	ssize_t w;
	int r, fd;

	(void)s;
	r = vulb_sysfs_irqs(pci, &v, &n);
	if (r)
		return r;
	if (index >= n) {
		free(v);
		return n ? -ERANGE : -ENXIO;
	}
	snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", v[index].irq);
	free(v);
	for (i = 0; i < CPU_SETSIZE && len < sizeof(list) - 16; i++)
		if (CPU_ISSET(i, cpus))
			len += snprintf(list + len, sizeof(list) - len, "%s%u", len ? "," : "", i);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w = write(fd, list, len);
	r = w < 0 ? -errno : 0;
	close(fd);
	return r == -EIO ? -EPERM : r;	/* EIO: a kernel-managed vector */
}

const struct vulb_sriov_ops vulb_sriov_nl_ops = {
	.name = "netlink",
	.list = nl_list,
	.assign = nl_assign,
	.release = nl_release,
	.set_rate = nl_set_rate,
	.irqs = nl_irqs,
	.set_irq = nl_set_irq,
};
