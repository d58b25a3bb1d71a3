// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vulb_sriov.c - the common layer: backend choice, name resolution through
 * sysfs, the bookkeeping of assigned VFs and the rate policy (see
 * vulb_sriov.h for the guarantee by capping).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include <vhost-user-lb/kmod-uapi.h>

#include "vulb_sriov_int.h"

#define SYS_PCI "/sys/bus/pci/devices"

int vulb_read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int vulb_read_int(const char *path, long *val)
{
	char buf[64], *end;
	int r = vulb_read_str(path, buf, sizeof(buf));

	if (r)
		return r;
	errno = 0;
	*val = strtol(buf, &end, 0);
	return errno || end == buf ? -EINVAL : 0;
}

static bool is_pci_addr(const char *s)
{
	unsigned int d, b, sl, f;
	int n = 0;

	return sscanf(s, "%4x:%2x:%2x.%1x%n", &d, &b, &sl, &f, &n) == 4 &&
	       s[n] == '\0' && n == 12;
}

static bool valid_name(const char *s, size_t max)
{
	size_t i, n = strnlen(s, max);

	if (n == 0 || n == max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i]))
			return false;
	return true;
}

/* PCI function behind a PCI address or netdev (virtio: the parent's parent). */
int vulb_pci_of(const char *name, char *pci, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;

	if (!name || !valid_name(name, 32))
		return -EINVAL;
	if (is_pci_addr(name)) {
		snprintf(path, sizeof(path), SYS_PCI "/%s", name);
		if (access(path, F_OK))
			return -ENODEV;
		snprintf(pci, len, "%s", name);
		return 0;
	}
	snprintf(path, sizeof(path), "/sys/class/net/%s/device", name);
	if (!realpath(path, real))
		return -ENODEV;
	while ((slash = strrchr(real, '/')) && slash != real) {
		if (is_pci_addr(slash + 1)) {
			snprintf(pci, len, "%s", slash + 1);
			return 0;
		}
		*slash = '\0';
	}
	return -ENODEV;
}

/* Copy a name, cut to fit: sysfs names we keep are short. */
static void copy_name(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void first_entry(const char *dir, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.') {
			copy_name(out, len, e->d_name);
			break;
		}
	}
	closedir(d);
}

static int pf_resolve(const char *name, struct vulb_pf *pf)
{
	char path[PATH_MAX];
	long v;
	int r;

	memset(pf, 0, sizeof(*pf));
	r = vulb_pci_of(name, pf->pci, sizeof(pf->pci));
	if (r)
		return r;
	snprintf(path, sizeof(path), SYS_PCI "/%s/sriov_totalvfs", pf->pci);
	if (access(path, F_OK))
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), SYS_PCI "/%s/sriov_numvfs", pf->pci);
	r = vulb_read_int(path, &v);
	if (r)
		return r;
	pf->num_vfs = v;
	snprintf(path, sizeof(path), SYS_PCI "/%s/net", pf->pci);
	first_entry(path, pf->ifname, sizeof(pf->ifname));
	return 0;
}

static void link_base(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	const char *b;

	out[0] = '\0';
	if (n <= 0)
		return;
	buf[n] = '\0';
	b = strrchr(buf, '/');
	copy_name(out, len, b ? b + 1 : buf);
}

void vulb_sysfs_vf(const struct vulb_pf *pf, unsigned int i, struct vulb_sriov_vf *v)
{
	char path[PATH_MAX], grp[32];
	long n;
	DIR *d;
	struct dirent *e;

	memset(v, 0, sizeof(*v));
	snprintf(v->pf, sizeof(v->pf), "%s", pf->pci);
	snprintf(v->pf_ifname, sizeof(v->pf_ifname), "%s", pf->ifname);
	v->index = i;
	v->spoofchk = v->trust = -1;
	snprintf(path, sizeof(path), SYS_PCI "/%s/virtfn%u", pf->pci, i);
	link_base(path, v->pci, sizeof(v->pci));
	snprintf(path, sizeof(path), SYS_PCI "/%s/net", v->pci);
	first_entry(path, v->ifname, sizeof(v->ifname));
	snprintf(path, sizeof(path), SYS_PCI "/%s/driver", v->pci);
	link_base(path, v->driver, sizeof(v->driver));
	snprintf(path, sizeof(path), SYS_PCI "/%s/numa_node", v->pci);
	v->numa_node = vulb_read_int(path, &n) ? -1 : (int)n;
	snprintf(path, sizeof(path), SYS_PCI "/%s/iommu_group", v->pci);
	link_base(path, grp, sizeof(grp));
	v->iommu_group = grp[0] ? atoi(grp) : -1;
	if (grp[0]) {
		snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/devices", grp);
		d = opendir(path);
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				v->group_devices++;
		if (d)
			closedir(d);
	}
	v->isolated = v->group_devices == 1;
}

static int parse_cpulist(const char *s, cpu_set_t *set)
{
	char *end;

	CPU_ZERO(set);
	while (*s) {
		long a = strtol(s, &end, 10), b;

		if (end == s || a < 0 || a >= CPU_SETSIZE)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= CPU_SETSIZE)
				return -EINVAL;
		}
		for (; a <= b; a++)
			CPU_SET(a, set);
		if (*end && *end != ',' && *end != '\n')
			return -EINVAL;
		s = *end ? end + 1 : end;
	}
	return 0;
}

int vulb_cpus_check(const cpu_set_t *cpus)
{
	char buf[256];
	cpu_set_t online, both;

	if (CPU_COUNT(cpus) == 0)
		return -EINVAL;
	if (vulb_read_str("/sys/devices/system/cpu/online", buf, sizeof(buf)) ||
	    parse_cpulist(buf, &online))
		return -EIO;
	CPU_AND(&both, cpus, &online);
	return CPU_EQUAL(&both, cpus) ? 0 : -EINVAL;
}

static int cmp_uint(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return x < y ? -1 : x > y;
}

static void irq_name(unsigned int irq, char *out, size_t len)
{
	FILE *f = fopen("/proc/interrupts", "re");
	char line[1024];

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char *p = line, *last;

		while (*p == ' ')
			p++;
		if (strtoul(p, &last, 10) != irq || *last != ':')
			continue;
		line[strcspn(line, "\n")] = '\0';
		last = strrchr(line, ' ');
		snprintf(out, len, "%s", last ? last + 1 : "");
		break;
	}
	if (f)
		fclose(f);
}

/* Vectors in msi_irqs order: the kernel allocates a device's vectors in
 * ascending IRQ numbers, so the n-th number is vector n. */
int vulb_sysfs_irqs(const char *pci, struct vulb_sriov_irq **ret, size_t *ret_n)
{
	char path[PATH_MAX], buf[512];
	unsigned int irqs[2048];
	struct vulb_sriov_irq *out;
	size_t n = 0, i;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), SYS_PCI "/%s/msi_irqs", pci);
	d = opendir(path);
	if (!d && errno != ENOENT)
		return -errno;
	if (!d) {		/* no MSI/MSI-X in use */
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	while ((e = readdir(d)) && n < 2048)
		if (isdigit((unsigned char)e->d_name[0]))
			irqs[n++] = strtoul(e->d_name, NULL, 10);
	closedir(d);
	qsort(irqs, n, sizeof(irqs[0]), cmp_uint);
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		out[i].index = i;
		out[i].irq = irqs[i];
		irq_name(irqs[i], out[i].name, sizeof(out[i].name));
		snprintf(path, sizeof(path), "/proc/irq/%u/smp_affinity_list", irqs[i]);
		if (!vulb_read_str(path, buf, sizeof(buf)))
			parse_cpulist(buf, &out[i].affinity);
		snprintf(path, sizeof(path), "/proc/irq/%u/effective_affinity_list", irqs[i]);
		if (!vulb_read_str(path, buf, sizeof(buf)))
			parse_cpulist(buf, &out[i].effective);
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

int vulb_sriov_open(unsigned int flags, struct vulb_sriov **ret)
{
	struct vulb_sriov *s = calloc(1, sizeof(*s));
	const char *force = getenv("VULB_SRIOV_BACKEND");
	int r;

	if (!s)
		return -ENOMEM;
	s->fd = -1;
	if (force && !strcmp(force, "netlink"))
		flags |= VULB_SRIOV_NO_KMOD;
	if (!(flags & VULB_SRIOV_NO_KMOD))
		s->fd = open("/dev/" VULB_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (s->fd >= 0) {
		s->ops = &vulb_sriov_kmod_ops;
		s->backend = VULB_SRIOV_KMOD;
	} else {
		s->ops = &vulb_sriov_nl_ops;
		s->backend = VULB_SRIOV_NETLINK;
	}
	/* rtnetlink is needed by the fallback only, but cheap to keep */
	r = vulb_nl_open(s);
	if (r && s->backend == VULB_SRIOV_NETLINK) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

enum vulb_sriov_backend vulb_sriov_backend(const struct vulb_sriov *s)
{
	return s->backend;
}

const char *vulb_sriov_backend_name(const struct vulb_sriov *s)
{
	return s->ops->name;
}

const char *vulb_sriov_rate_mode_name(enum vulb_sriov_rate_mode m)
{
	return m == VULB_RATE_NATIVE ? "native" : m == VULB_RATE_CAPPED ? "capped" : "none";
}

static struct vulb_asg **asg_find(struct vulb_sriov *s, const char *pf, unsigned int vf)
{
	struct vulb_asg **p;

	for (p = &s->asg; *p; p = &(*p)->next)
		if ((*p)->vf == vf && !strcmp((*p)->pf, pf))
			return p;
	return NULL;
}

/* Apply the rate policy to every VF of @pf assigned through @s. */
static int apply_rates(struct vulb_sriov *s, const struct vulb_pf *pf,
		       enum vulb_sriov_rate_mode *ret_mode)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	unsigned long sum = 0, n = 0, spare;
	struct vulb_asg *a, *probe = NULL;
	char path[PATH_MAX];
	long speed;
	int r;

	for (a = s->asg; a; a = a->next) {
		if (strcmp(a->pf, pf->pci))
			continue;
		n++;
		sum += a->min;
		if (a->min && !probe)
			probe = a;
		if (a->max && mode == VULB_RATE_NONE)
			mode = VULB_RATE_NATIVE;
	}
	if (probe) {
		/* does the driver enforce a minimum itself? */
		r = s->ops->set_rate(s, pf, probe->vf, probe->min, probe->max);
		if (!r)
			mode = VULB_RATE_NATIVE;
		else if ((r == -EINVAL || r == -EOPNOTSUPP) &&
			 !s->ops->set_rate(s, pf, probe->vf, 0, probe->max))
			mode = VULB_RATE_CAPPED;
		else
			return r;
	}
	if (mode == VULB_RATE_CAPPED) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/speed", pf->ifname);
		if (!pf->ifname[0] || vulb_read_int(path, &speed) || speed <= 0)
			return -ENOLINK;	/* no link speed, no guarantee */
		if (sum > (unsigned long)speed)
			return -ENOSPC;
		spare = (speed - sum) / n;
		for (a = s->asg; a; a = a->next) {
			unsigned long cap;

			if (strcmp(a->pf, pf->pci))
				continue;
			cap = a->min + spare;
			if (a->max && a->max < cap)
				cap = a->max;
			if (cap >= (unsigned long)speed)
				cap = 0;	/* the whole link: no cap */
			r = s->ops->set_rate(s, pf, a->vf, 0, cap);
			if (r)
				return r;
		}
	} else {
		for (a = s->asg; a; a = a->next) {
			if (strcmp(a->pf, pf->pci))
				continue;
			r = s->ops->set_rate(s, pf, a->vf, a->min, a->max);
			if (r)
				return r;
		}
	}
	for (a = s->asg; a; a = a->next)
		if (!strcmp(a->pf, pf->pci))
			a->mode = mode;
	if (ret_mode)
		*ret_mode = mode;
	return 0;
}

static int pf_vf(const char *name, unsigned int vf, struct vulb_pf *pf)
{
	int r = pf_resolve(name, pf);

	if (r)
		return r;
	return vf < pf->num_vfs ? 0 : -ERANGE;
}

int vulb_sriov_assign(struct vulb_sriov *s, const char *pfname, unsigned int vf,
		      const char *vm, unsigned int min_mbps, unsigned int max_mbps,
		      enum vulb_sriov_rate_mode *ret_mode)
{
	struct vulb_asg *a, **p;
	struct vulb_pf pf;
	int r;

	if (!vm || !valid_name(vm, 64) || (max_mbps && min_mbps > max_mbps))
		return -EINVAL;
	r = pf_vf(pfname, vf, &pf);
	if (r)
		return r;
	p = asg_find(s, pf.pci, vf);
	if (p)
		return strcmp((*p)->vm, vm) ? -EBUSY :
		       vulb_sriov_set_rate(s, pfname, vf, min_mbps, max_mbps, ret_mode);
	r = s->ops->assign(s, &pf, vf, vm);
	if (r)
		return r;
	a = calloc(1, sizeof(*a));
	if (!a) {
		r = -ENOMEM;
		goto err_release;
	}
	snprintf(a->pf, sizeof(a->pf), "%s", pf.pci);
	snprintf(a->vm, sizeof(a->vm), "%s", vm);
	a->vf = vf;
	a->min = min_mbps;
	a->max = max_mbps;
	a->next = s->asg;
	s->asg = a;
	r = apply_rates(s, &pf, ret_mode);
	if (!r)
		return 0;
	/* undo: the neighbours get back the caps they had before */
	s->asg = a->next;
	free(a);
	(void)s->ops->set_rate(s, &pf, vf, 0, 0);
	(void)apply_rates(s, &pf, NULL);
err_release:
	(void)s->ops->release(s, &pf, vf);
	return r;
}

int vulb_sriov_release(struct vulb_sriov *s, const char *pfname, unsigned int vf)
{
	struct vulb_asg **p, *a;
	struct vulb_pf pf;
	int r;

	r = pf_vf(pfname, vf, &pf);
	if (r)
		return r;
	p = asg_find(s, pf.pci, vf);
	r = s->ops->release(s, &pf, vf);
	if (!p)
		return r ? r : -ENOENT;
	a = *p;
	*p = a->next;
	free(a);
	(void)s->ops->set_rate(s, &pf, vf, 0, 0);
	(void)apply_rates(s, &pf, NULL);
	return r;
}

int vulb_sriov_set_rate(struct vulb_sriov *s, const char *pfname, unsigned int vf,
			unsigned int min_mbps, unsigned int max_mbps,
			enum vulb_sriov_rate_mode *ret_mode)
{
	unsigned int omin, omax;
	struct vulb_asg **p;
	struct vulb_pf pf;
	int r;

	if (max_mbps && min_mbps > max_mbps)
		return -EINVAL;
	r = pf_vf(pfname, vf, &pf);
	if (r)
		return r;
	p = asg_find(s, pf.pci, vf);
	if (!p) {
		/* not ours to balance: straight to the driver */
		r = s->ops->set_rate(s, &pf, vf, min_mbps, max_mbps);
		if (!r && ret_mode)
			*ret_mode = min_mbps || max_mbps ? VULB_RATE_NATIVE : VULB_RATE_NONE;
		return r;
	}
	omin = (*p)->min;
	omax = (*p)->max;
	(*p)->min = min_mbps;
	(*p)->max = max_mbps;
	r = apply_rates(s, &pf, ret_mode);
	if (r) {
		(*p)->min = omin;
		(*p)->max = omax;
		(void)apply_rates(s, &pf, NULL);
	}
	return r;
}

int vulb_sriov_list_vfs(struct vulb_sriov *s, const char *pfname,
			struct vulb_sriov_vf **ret, size_t *ret_n)
{
	struct vulb_sriov_vf *out = NULL, *tmp;
	char path[PATH_MAX];
	struct vulb_asg **p;
	long speed;
	struct dirent *e;
	struct vulb_pf pf;
	size_t n = 0, i;
	DIR *d = NULL;
	int r = 0;

	if (!pfname) {
		d = opendir(SYS_PCI);
		if (!d)
			return -errno;
	}
	for (;;) {
		const char *name = pfname;

		if (d) {
			e = readdir(d);
			if (!e)
				break;
			if (e->d_name[0] == '.')
				continue;
			name = e->d_name;
		}
		r = pf_resolve(name, &pf);
		if (r == -EOPNOTSUPP && d)
			continue;
		if (r)
			goto err;
		tmp = realloc(out, (n + pf.num_vfs + 1) * sizeof(*out));
		if (!tmp) {
			r = -ENOMEM;
			goto err;
		}
		out = tmp;
		r = s->ops->list(s, &pf, out + n, pf.num_vfs);
		if (r)
			goto err;
		snprintf(path, sizeof(path), "/sys/class/net/%s/speed", pf.ifname);
		if (!pf.ifname[0] || vulb_read_int(path, &speed) || speed <= 0)
			speed = 0;	/* no link, or no netdev */
		for (i = 0; i < pf.num_vfs; i++) {
			struct vulb_sriov_vf *v = &out[n + i];

			v->link_mbps = (unsigned int)speed;
			p = asg_find(s, pf.pci, i);
			if (!p)
				continue;
			/* the netlink path knows owners only from this instance */
			if (s->backend == VULB_SRIOV_NETLINK)
				snprintf(v->vm, sizeof(v->vm), "%s", (*p)->vm);
			v->assigned_here = true;
			v->want_min = (*p)->min;
			v->want_max = (*p)->max;
			v->rate_mode = (*p)->mode;
		}
		n += pf.num_vfs;
		if (!d)
			break;
	}
	if (d)
		closedir(d);
	*ret = out;
	*ret_n = n;
	return 0;
err:
	if (d)
		closedir(d);
	free(out);
	return r;
}

int vulb_sriov_queue_irqs(struct vulb_sriov *s, const char *dev,
			  struct vulb_sriov_irq **ret, size_t *ret_n)
{
	char pci[32];
	int r = vulb_pci_of(dev, pci, sizeof(pci));

	return r ? r : s->ops->irqs(s, pci, ret, ret_n);
}

int vulb_sriov_set_irq_affinity(struct vulb_sriov *s, const char *dev,
				unsigned int index, const cpu_set_t *cpus)
{
	char pci[32];
	int r = vulb_pci_of(dev, pci, sizeof(pci));

	if (r)
		return r;
	r = vulb_cpus_check(cpus);
	return r ? r : s->ops->set_irq(s, pci, index, cpus);
}

void vulb_sriov_close(struct vulb_sriov *s)
{
	struct vulb_pf pf;

	if (!s)
		return;
	while (s->asg) {
		struct vulb_asg *a = s->asg;

		s->asg = a->next;
		if (!pf_resolve(a->pf, &pf)) {
			(void)s->ops->release(s, &pf, a->vf);
			(void)s->ops->set_rate(s, &pf, a->vf, 0, 0);
		}
		free(a);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s);
}
