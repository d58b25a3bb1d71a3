// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vulbk - drive /dev/vulb from the guest test, one fd for a whole sequence.
 *
 *   vulbk CMD ARGS [, CMD ARGS]...        run commands on one open fd
 *   vulbk ! ERRNAME CMD ARGS [, ...]      expect CMD to fail with ERRNAME
 *
 * Commands print key=value lines the guest script compares with sysfs,
 * procfs and iproute2.  "badinput PF" and "unpriv PF" run the malformed
 * and unprivileged calls themselves and print TAP-style ok/not ok lines.
 * Exit status: 0 when every command did what it was expected to.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <vhost-user-lb/kmod-uapi.h>

#define DEV_PATH "/dev/" VULB_DEVICE_NAME

static int nfail;

static const struct { int e; const char *n; } errnames[] = {
#define E(x) { x, #x }
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY),
	E(EEXIST), E(EXDEV), E(ENODEV), E(EINVAL), E(ENOTTY), E(ERANGE),
	E(EOPNOTSUPP), E(ENOSPC),
#undef E
};

static const char *ename(int e)
{
	static char buf[16];
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].e == e)
			return errnames[i].n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static int eparse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (!strcmp(errnames[i].n, s))
			return errnames[i].e;
	fprintf(stderr, "unknown errno name %s\n", s);
	exit(2);
}

static void fmt_mask(const __u64 *m, char *out, size_t len)
{
	int i, start = -1, n = 0;

	out[0] = '\0';
	for (i = 0; i <= VULB_CPUMASK_WORDS * 64; i++) {
		int set = i < VULB_CPUMASK_WORDS * 64 && (m[i / 64] >> (i % 64)) & 1;

		if (set && start < 0)
			start = i;
		if (!set && start >= 0) {
			n += snprintf(out + n, len - n, "%s%d", n ? "," : "", start);
			if (i - 1 > start)
				n += snprintf(out + n, len - n, "-%d", i - 1);
			start = -1;
		}
	}
}

static int parse_cpus(const char *s, __u64 *m)
{
	char *end;

	memset(m, 0, VULB_CPUMASK_WORDS * sizeof(*m));
	while (*s) {
		long a = strtol(s, &end, 10), b;

		if (end == s || a < 0 || a >= VULB_CPUMASK_WORDS * 64)
			return -1;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= VULB_CPUMASK_WORDS * 64)
				return -1;
		}
		for (; a <= b; a++)
			m[a / 64] |= 1ULL << (a % 64);
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return 0;
}

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static void setname(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

static int get_vf(int fd, const char *pf, unsigned int vf, struct vulb_vf_info *vi)
{
	memset(vi, 0, sizeof(*vi));
	vi->size = sizeof(*vi);
	vi->vf = vf;
	setname(vi->pf, sizeof(vi->pf), pf);
	return xioctl(fd, VULB_IOC_VF_GET, vi);
}

static void print_vf(const struct vulb_vf_info *vi)
{
	const __u8 *m = vi->mac;

	printf("vf index=%u pci=%s ifname=%s driver=%s numa=%d group=%d group_devices=%u isolated=%d owned=%d mine=%d vm=%s link_up=%d mac=%02x:%02x:%02x:%02x:%02x:%02x vlan=%u qos=%u spoofchk=%u trust=%u min=%u max=%u link_state=%u\n",
	       vi->vf, vi->pci, vi->ifname, vi->driver, vi->numa_node,
	       vi->iommu_group, vi->group_devices,
	       !!(vi->flags & VULB_VF_ISOLATED), !!(vi->flags & VULB_VF_OWNED),
	       !!(vi->flags & VULB_VF_OWNED_BY_ME), vi->vm,
	       !!(vi->flags & VULB_VF_LINK_UP), m[0], m[1], m[2], m[3], m[4], m[5],
	       vi->vlan, vi->qos, vi->spoofchk, vi->trust, vi->min_tx_rate,
	       vi->max_tx_rate, vi->link_state);
}

static int cmd_version(int fd)
{
	struct vulb_version v = { .size = sizeof(v) };
	unsigned int i;
	int ret = xioctl(fd, VULB_IOC_VERSION, &v);

	if (ret)
		return ret;
	printf("version abi=%u nr_cpu_ids=%u event_size=%zu n_sizes=%u sizes=",
	       v.abi_version, v.nr_cpu_ids, sizeof(struct vulb_event), v.n_sizes);
	for (i = 0; i < v.n_sizes && i < 16; i++)
		printf("%s%u", i ? "," : "", v.sizes[i]);
	printf("\n");
	return 0;
}

static void print_pf(const struct vulb_pf_info *p)
{
	printf("pf index=%u count=%u pci=%s ifname=%s driver=%s numa=%d group=%d total=%u num=%u vendor=%04x device=%04x owned=%u speed=%u\n",
	       p->index, p->count, p->pf, p->ifname, p->driver, p->numa_node,
	       p->iommu_group, p->total_vfs, p->num_vfs, p->vendor, p->device,
	       p->vfs_owned, p->link_speed);
}

static int cmd_pfs(int fd)
{
	struct vulb_pf_info p;
	unsigned int i;
	int ret;

	for (i = 0;; i++) {
		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.index = i;
		ret = xioctl(fd, VULB_IOC_PF_GET, &p);
		if (ret == -ERANGE && i == p.count)
			return 0;	/* end of the list */
		if (ret)
			return ret;
		print_pf(&p);
	}
}

static int cmd_pf(int fd, const char *pf)
{
	struct vulb_pf_info p = { .size = sizeof(p), .index = VULB_PF_BY_NAME };
	int ret;

	setname(p.pf, sizeof(p.pf), pf);
	ret = xioctl(fd, VULB_IOC_PF_GET, &p);
	if (!ret)
		print_pf(&p);
	return ret;
}

static int cmd_vfs(int fd, const char *pf)
{
	struct vulb_vf_info vi;
	unsigned int i;
	int ret;

	for (i = 0;; i++) {
		ret = get_vf(fd, pf, i, &vi);
		if (ret == -ERANGE && i > 0)
			return 0;
		if (ret)
			return ret;
		print_vf(&vi);
	}
}

static int cmd_assign(int fd, unsigned long ioc, const char *pf, const char *vf,
		      const char *vm, const char *flags)
{
	struct vulb_vf_assign a = { .size = sizeof(a) };

	a.vf = strtoul(vf, NULL, 0);
	setname(a.pf, sizeof(a.pf), pf);
	setname(a.vm, sizeof(a.vm), vm ? vm : "");
	if (flags && !strcmp(flags, "isolated"))
		a.flags = VULB_ASSIGN_REQUIRE_ISOLATED;
	else if (flags && !strcmp(flags, "force"))
		a.flags = VULB_RELEASE_FORCE;
	return xioctl(fd, ioc, &a);
}

static int cmd_set(int fd, const char *pf, const char *vf, char **kv, int n)
{
	struct vulb_vf_set s = { .size = sizeof(s) };
	unsigned int m[6];
	int i, ret;

	s.vf = strtoul(vf, NULL, 0);
	setname(s.pf, sizeof(s.pf), pf);
	for (i = 0; i < n; i++) {
		char *v = strchr(kv[i], '=');

		if (!v)
			return -EINVAL;
		*v++ = '\0';
		if (!strcmp(kv[i], "mac")) {
			if (sscanf(v, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2],
				   &m[3], &m[4], &m[5]) != 6)
				return -EINVAL;
			for (ret = 0; ret < 6; ret++)
				s.mac[ret] = m[ret];
			s.mask |= VULB_SET_MAC;
		} else if (!strcmp(kv[i], "vlan")) {
			s.vlan = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_VLAN;
		} else if (!strcmp(kv[i], "qos")) {
			s.qos = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_VLAN;
		} else if (!strcmp(kv[i], "spoofchk")) {
			s.spoofchk = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_SPOOFCHK;
		} else if (!strcmp(kv[i], "trust")) {
			s.trust = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_TRUST;
		} else if (!strcmp(kv[i], "min")) {
			s.min_tx_rate = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_RATE;
		} else if (!strcmp(kv[i], "max")) {
			s.max_tx_rate = strtoul(v, NULL, 0);
			s.mask |= VULB_SET_RATE;
		} else if (!strcmp(kv[i], "rawmask")) {
			s.mask = strtoul(v, NULL, 0);
		} else {
			return -EINVAL;
		}
	}
	ret = xioctl(fd, VULB_IOC_VF_SET, &s);
	if (ret)
		printf("set failed_bit=0x%x\n", s.failed);
	return ret;
}

static void print_irq(const struct vulb_irq *q)
{
	char a[128], e[128];

	fmt_mask(q->cpus, a, sizeof(a));
	fmt_mask(q->effective, e, sizeof(e));
	printf("irq dev=%s index=%u nvec=%u irq=%u msix=%u managed=%u name=%s affinity=%s effective=%s\n",
	       q->dev, q->index, q->nvec, q->irq, q->msix, q->managed, q->name, a, e);
}

static int cmd_irqs(int fd, const char *dev)
{
	struct vulb_irq q;
	unsigned int i;
	int ret;

	for (i = 0;; i++) {
		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.index = i;
		setname(q.dev, sizeof(q.dev), dev);
		ret = xioctl(fd, VULB_IOC_IRQ_GET, &q);
		if (ret == -ERANGE && i == q.nvec && i > 0)
			return 0;
		if (ret)
			return ret;
		print_irq(&q);
	}
}

static int cmd_irq_set(int fd, const char *dev, const char *idx, const char *cpus)
{
	struct vulb_irq q = { .size = sizeof(q) };
	int ret;

	q.index = strtoul(idx, NULL, 0);
	setname(q.dev, sizeof(q.dev), dev);
	if (parse_cpus(cpus, q.cpus))
		return -EINVAL;
	ret = xioctl(fd, VULB_IOC_IRQ_SET, &q);
	if (!ret)
		print_irq(&q);
	return ret;
}

static int cmd_events(int fd, const char *max_s, const char *ms_s)
{
	int max = atoi(max_s), got = 0;
	long ms = atol(ms_s);
	struct timespec t0, t;
	struct vulb_event ev[8];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < max) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;
		int i;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 +
			     (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = read(fd, ev, sizeof(ev));
		if (n < 0)
			return -errno;
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]); i++, got++) {
			const struct vulb_event *e = &ev[i];

			printf("event seq=%llu type=%s pf=%s vf=%d vm=%s reason=%u ifname=%s link_up=%u dropped=%u size=%u\n",
			       (unsigned long long)e->seq,
			       e->type == VULB_EV_ASSIGNED ? "assigned" :
			       e->type == VULB_EV_RELEASED ? "released" :
			       e->type == VULB_EV_LINK ? "link" : "?",
			       e->pf, (int)e->vf, e->vm, e->reason, e->ifname,
			       e->link_up, e->dropped, e->size);
			fflush(stdout);
		}
	}
	printf("events got=%d\n", got);
	return 0;
}

/* Run one ioctl on a raw buffer of "len" bytes, "size" in its first field. */
static int raw(int fd, unsigned long cmd, void *buf, __u32 size)
{
	memcpy(buf, &size, sizeof(size));
	return xioctl(fd, cmd, buf);
}

#define CHECK(desc, expr, want) do { \
	int r_ = (expr); \
	if (r_ == (want)) \
		printf("ok - %s: %s\n", desc, r_ ? ename(-r_) : "0"); \
	else { \
		printf("not ok - %s: got %s want %s\n", desc, \
		       r_ ? ename(-r_) : "0", (want) ? ename(-(want)) : "0"); \
		nfail++; \
	} \
} while (0)

static int cmd_badinput(int fd, const char *pf, const char *nonpf)
{
	union {
		struct vulb_vf_info vi;
		struct vulb_pf_info pi;
		struct vulb_vf_set s;
		struct vulb_vf_assign a;
		struct vulb_irq q;
		struct vulb_sriov_set ss;
		unsigned char b[8192];
	} u;
	struct vulb_event ev;
	const size_t vsz = sizeof(struct vulb_vf_info);
	int fl;

	/* framing */
	memset(&u, 0, sizeof(u));
	CHECK("size 0", raw(fd, VULB_IOC_VERSION, &u, 0), -EINVAL);
	CHECK("size VER0-1", raw(fd, VULB_IOC_VF_GET, &u, VULB_SIZE_VF_INFO_VER0 - 1), -EINVAL);
	CHECK("size 4097", raw(fd, VULB_IOC_VF_GET, &u, 4097), -E2BIG);
	CHECK("size 0xffffffff", raw(fd, VULB_IOC_VF_GET, &u, 0xffffffffu), -E2BIG);
	CHECK("unknown ioctl nr", xioctl(fd, _IO(VULB_IOC_MAGIC, VULB_IOC_NR_MAX + 1), &u), -ENOTTY);
	CHECK("size-encoded ioctl number", xioctl(fd, _IOWR(VULB_IOC_MAGIC, 2, struct vulb_vf_info), &u), -ENOTTY);
	CHECK("other magic", xioctl(fd, _IO('T', 2), &u), -ENOTTY);
	CHECK("NULL argument", xioctl(fd, VULB_IOC_VF_GET, NULL), -EFAULT);
	CHECK("wild pointer argument", xioctl(fd, VULB_IOC_VF_GET, (void *)16), -EFAULT);

	/* new caller, old module: zero tail accepted, non-zero tail refused */
	memset(&u, 0, sizeof(u));
	setname(u.vi.pf, sizeof(u.vi.pf), pf);
	CHECK("VF_GET size+64, zero tail (newer caller)", raw(fd, VULB_IOC_VF_GET, &u, vsz + 64), 0);
	u.b[vsz + 63] = 1;
	CHECK("VF_GET size+64, non-zero tail", raw(fd, VULB_IOC_VF_GET, &u, vsz + 64), -E2BIG);
	/* old caller: only VER0 bytes are read and written */
	memset(&u, 0xa5, sizeof(u));
	memset(&u, 0, VULB_SIZE_VF_INFO_VER0);
	setname(u.vi.pf, sizeof(u.vi.pf), pf);
	CHECK("VF_GET at VER0 size (older caller)", raw(fd, VULB_IOC_VF_GET, &u, VULB_SIZE_VF_INFO_VER0), 0);
	CHECK("older caller: nothing written past its struct",
	      u.b[VULB_SIZE_VF_INFO_VER0] == 0xa5 && u.b[vsz - 1] == 0xa5 ? 0 : -EIO, 0);
	CHECK("older caller: VER0 fields filled", u.vi.pci[0] ? 0 : -EIO, 0);
	memset(&u, 0, sizeof(u));
	u.pi.index = VULB_PF_BY_NAME;
	setname(u.pi.pf, sizeof(u.pi.pf), pf);
	CHECK("PF_GET at VER0 size", raw(fd, VULB_IOC_PF_GET, &u, VULB_SIZE_PF_INFO_VER0), 0);

	/* names */
	memset(&u, 0, sizeof(u));
	setname(u.vi.pf, sizeof(u.vi.pf), "nosuchpf0");
	CHECK("unknown PF netdev", raw(fd, VULB_IOC_VF_GET, &u, vsz), -ENODEV);
	setname(u.vi.pf, sizeof(u.vi.pf), "0000:ff:1f.7");
	CHECK("unknown PF address", raw(fd, VULB_IOC_VF_GET, &u, vsz), -ENODEV);
	setname(u.vi.pf, sizeof(u.vi.pf), "0000:00:20.0");
	CHECK("PCI address out of range", raw(fd, VULB_IOC_VF_GET, &u, vsz), -EINVAL);
	setname(u.vi.pf, sizeof(u.vi.pf), nonpf);
	CHECK("device without SR-IOV", raw(fd, VULB_IOC_VF_GET, &u, vsz), -EOPNOTSUPP);
	setname(u.vi.pf, sizeof(u.vi.pf), "eth0 x");
	CHECK("name with a space", raw(fd, VULB_IOC_VF_GET, &u, vsz), -EINVAL);
	setname(u.vi.pf, sizeof(u.vi.pf), "");
	CHECK("empty name", raw(fd, VULB_IOC_VF_GET, &u, vsz), -EINVAL);
	memset(u.vi.pf, 'a', sizeof(u.vi.pf));
	CHECK("unterminated name", raw(fd, VULB_IOC_VF_GET, &u, vsz), -EINVAL);

	/* indices */
	memset(&u, 0, sizeof(u));
	setname(u.vi.pf, sizeof(u.vi.pf), pf);
	u.vi.vf = 7;
	CHECK("VF index 7 (> num_vfs)", raw(fd, VULB_IOC_VF_GET, &u, vsz), -ERANGE);
	u.vi.vf = 0xffffffffu;
	CHECK("VF index ~0", raw(fd, VULB_IOC_VF_GET, &u, vsz), -ERANGE);
	memset(&u, 0, sizeof(u));
	u.pi.index = 1000;
	CHECK("PF index 1000", raw(fd, VULB_IOC_PF_GET, &u, sizeof(u.pi)), -ERANGE);
	memset(&u, 0, sizeof(u));
	setname(u.ss.pf, sizeof(u.ss.pf), pf);
	u.ss.num_vfs = 1000;
	CHECK("SRIOV_SET 1000 VFs", raw(fd, VULB_IOC_SRIOV_SET, &u, sizeof(u.ss)), -ERANGE);

	/* VF_SET values */
#define SET(desc, field_stmt, want) do { \
	memset(&u, 0, sizeof(u)); \
	setname(u.s.pf, sizeof(u.s.pf), pf); \
	field_stmt; \
	CHECK(desc, raw(fd, VULB_IOC_VF_SET, &u, sizeof(u.s)), want); \
} while (0)
	SET("VF_SET empty mask", (void)0, -EINVAL);
	SET("VF_SET unknown mask bit", u.s.mask = 1u << 20, -EINVAL);
	SET("VF_SET vlan 4095", (u.s.mask = VULB_SET_VLAN, u.s.vlan = 4095), -EINVAL);
	SET("VF_SET qos 8", (u.s.mask = VULB_SET_VLAN, u.s.qos = 8), -EINVAL);
	SET("VF_SET multicast mac", (u.s.mask = VULB_SET_MAC, u.s.mac[0] = 1), -EINVAL);
	SET("VF_SET mac pad bytes", (u.s.mask = VULB_SET_MAC, u.s.mac[0] = 2, u.s.mac[7] = 1), -EINVAL);
	SET("VF_SET spoofchk 2", (u.s.mask = VULB_SET_SPOOFCHK, u.s.spoofchk = 2), -EINVAL);
	SET("VF_SET trust 7", (u.s.mask = VULB_SET_TRUST, u.s.trust = 7), -EINVAL);
	SET("VF_SET min > max", (u.s.mask = VULB_SET_RATE, u.s.min_tx_rate = 20, u.s.max_tx_rate = 10), -EINVAL);
	SET("VF_SET rate > INT_MAX", (u.s.mask = VULB_SET_RATE, u.s.max_tx_rate = 0x80000000u), -EINVAL);
	SET("VF_SET VF index 99", (u.s.mask = VULB_SET_TRUST, u.s.vf = 99), -ERANGE);

	/* assignment */
#define ASSIGN(desc, ioc, stmt, want) do { \
	memset(&u, 0, sizeof(u)); \
	setname(u.a.pf, sizeof(u.a.pf), pf); \
	setname(u.a.vm, sizeof(u.a.vm), "vm-ok"); \
	stmt; \
	CHECK(desc, raw(fd, ioc, &u, sizeof(u.a)), want); \
} while (0)
	ASSIGN("ASSIGN empty vm", VULB_IOC_VF_ASSIGN, u.a.vm[0] = 0, -EINVAL);
	ASSIGN("ASSIGN vm with '/'", VULB_IOC_VF_ASSIGN, setname(u.a.vm, sizeof(u.a.vm), "a/b"), -EINVAL);
	ASSIGN("ASSIGN unterminated vm", VULB_IOC_VF_ASSIGN, memset(u.a.vm, 'v', sizeof(u.a.vm)), -EINVAL);
	ASSIGN("ASSIGN unknown flag", VULB_IOC_VF_ASSIGN, u.a.flags = 1u << 9, -EINVAL);
	ASSIGN("ASSIGN pad set", VULB_IOC_VF_ASSIGN, u.a.pad = 1, -EINVAL);
	ASSIGN("ASSIGN VF 50", VULB_IOC_VF_ASSIGN, u.a.vf = 50, -ERANGE);
	ASSIGN("RELEASE a free VF", VULB_IOC_VF_RELEASE, (void)0, -ENOENT);

	/* IRQs */
	memset(&u, 0, sizeof(u));
	setname(u.q.dev, sizeof(u.q.dev), pf);
	u.q.index = 5000;
	CHECK("IRQ_GET vector 5000", raw(fd, VULB_IOC_IRQ_GET, &u, sizeof(u.q)), -ERANGE);
	u.q.index = 0;
	CHECK("IRQ_SET empty cpu mask", raw(fd, VULB_IOC_IRQ_SET, &u, sizeof(u.q)), -EINVAL);
	u.q.cpus[3] = 1ULL << 63;
	CHECK("IRQ_SET cpu 255", raw(fd, VULB_IOC_IRQ_SET, &u, sizeof(u.q)), -EINVAL);
	u.q.cpus[3] = 0;
	u.q.cpus[0] = 1ULL << 63;
	CHECK("IRQ_SET cpu 63 (not online)", raw(fd, VULB_IOC_IRQ_SET, &u, sizeof(u.q)), -EINVAL);

	/* events */
	CHECK("read() shorter than an event", read(fd, &ev, sizeof(ev) - 1) < 0 ? -errno : 0, -EINVAL);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (read(fd, &ev, sizeof(ev)) > 0)
		;	/* drain what earlier steps queued */
	CHECK("non-blocking read() of an empty queue", read(fd, &ev, sizeof(ev)) < 0 ? -errno : 0, -EAGAIN);
	fcntl(fd, F_SETFL, fl);
	CHECK("write() is not supported", write(fd, &ev, sizeof(ev)) < 0 ? -errno : 0, -EINVAL);
	printf("badinput failures=%d\n", nfail);
	return nfail ? -EIO : 0;
}

/* Drop to nobody keeping the root-opened fd: reads work, changes do not. */
static int cmd_unpriv(int fd, const char *pf)
{
	struct vulb_vf_info vi;
	int fd2, want;

	if (setgid(65534) || setuid(65534))
		return -errno;
	CHECK("nobody: VF_GET on an inherited fd", get_vf(fd, pf, 0, &vi), 0);
	CHECK("nobody: ASSIGN on an inherited fd",
	      cmd_assign(fd, VULB_IOC_VF_ASSIGN, pf, "0", "evil", NULL), -EPERM);
	CHECK("nobody: VF_SET", cmd_set(fd, pf, "0", (char *[]){ (char[]){ "trust=1" } }, 1), -EPERM);
	CHECK("nobody: IRQ_SET", cmd_irq_set(fd, pf, "0", "0"), -EPERM);
	/* 0600 root: EACCES; made world-writable by the test: CAP_NET_ADMIN */
	want = access(DEV_PATH, R_OK | W_OK) ? -EACCES : -EPERM;
	fd2 = open(DEV_PATH, O_RDWR);
	CHECK("nobody: open(/dev/vulb)", fd2 < 0 ? -errno : 0, want);
	printf("unpriv failures=%d\n", nfail);
	return nfail ? -EIO : 0;
}

static int cmd_hold(void)
{
	printf("hold: holding the fd until killed\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static int run(int fd, char **av, int ac)
{
	const char *c = av[0];

	if (!strcmp(c, "version") && ac == 1)
		return cmd_version(fd);
	if (!strcmp(c, "pfs") && ac == 1)
		return cmd_pfs(fd);
	if (!strcmp(c, "pf") && ac == 2)
		return cmd_pf(fd, av[1]);
	if (!strcmp(c, "vfs") && ac == 2)
		return cmd_vfs(fd, av[1]);
	if (!strcmp(c, "vf") && ac == 3) {
		struct vulb_vf_info vi;
		int ret = get_vf(fd, av[1], strtoul(av[2], NULL, 0), &vi);

		if (!ret)
			print_vf(&vi);
		return ret;
	}
	if (!strcmp(c, "sriov") && ac == 3) {
		struct vulb_sriov_set s = { .size = sizeof(s) };

		s.num_vfs = strtoul(av[2], NULL, 0);
		setname(s.pf, sizeof(s.pf), av[1]);
		return xioctl(fd, VULB_IOC_SRIOV_SET, &s);
	}
	if (!strcmp(c, "assign") && (ac == 4 || ac == 5))
		return cmd_assign(fd, VULB_IOC_VF_ASSIGN, av[1], av[2], av[3], ac == 5 ? av[4] : NULL);
	if (!strcmp(c, "release") && ac >= 3 && ac <= 5)
		return cmd_assign(fd, VULB_IOC_VF_RELEASE, av[1], av[2], ac >= 4 ? av[3] : "", ac == 5 ? av[4] : NULL);
	if (!strcmp(c, "set") && ac >= 4)
		return cmd_set(fd, av[1], av[2], av + 3, ac - 3);
	if (!strcmp(c, "irqs") && ac == 2)
		return cmd_irqs(fd, av[1]);
	if (!strcmp(c, "irq-set") && ac == 4)
		return cmd_irq_set(fd, av[1], av[2], av[3]);
	if (!strcmp(c, "events") && ac == 3)
		return cmd_events(fd, av[1], av[2]);
	if (!strcmp(c, "badinput") && ac == 3)
		return cmd_badinput(fd, av[1], av[2]);
	if (!strcmp(c, "unpriv") && ac == 2)
		return cmd_unpriv(fd, av[1]);
	if (!strcmp(c, "hold") && ac == 1)
		return cmd_hold();
	if (!strcmp(c, "sleep") && ac == 2)
		return usleep(atoi(av[1]) * 1000) ? -errno : 0;
	fprintf(stderr, "vulbk: bad command '%s' (%d args)\n", c, ac);
	exit(2);
}

int main(int argc, char **argv)
{
	int fd, i = 1, bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: vulbk [! ERRNO] CMD ARGS [, ...]\n");
		return 2;
	}
	fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("open %s: %s\n", DEV_PATH, ename(errno));
		return 1;
	}
	while (i < argc) {
		int want = 0, j, ret;

		if (!strcmp(argv[i], "!") && i + 2 < argc) {
			want = -eparse(argv[i + 1]);
			i += 2;
		}
		for (j = i; j < argc && strcmp(argv[j], ","); j++)
			;
		ret = run(fd, argv + i, j - i);
		if (ret == want) {
			printf("%s: %s%s\n", argv[i], ret ? "failed as expected " : "ok",
			       ret ? ename(-ret) : "");
		} else {
			printf("%s: got %s want %s\n", argv[i], ret ? ename(-ret) : "0",
			       want ? ename(-want) : "0");
			bad++;
		}
		i = j + 1;
	}
	close(fd);
	return bad ? 1 : 0;
}
