// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sriov-test - drive the vulb_sriov library from a test, one instance for a
 * whole sequence (the later CLI is "vhost-user-lbctl vf ...").
 *
 *   sriov-test CMD ARGS [, [! ERRNAME] CMD ARGS]...
 *   CMD: backend | list [PF] | assign PF VF VM MIN MAX | release PF VF |
 *        rate PF VF MIN MAX | show | irqs DEV | irq-set DEV IDX CPULIST |
 *        system SHELLCMD
 * Exit status 0 when every command returned what it was expected to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vulb_sriov.h"

static char last_pf[64];

static const struct { int e; const char *n; } errnames[] = {
#define E(x) { x, #x }
	E(EPERM), E(ENOENT), E(EIO), E(ENXIO), E(EBUSY), E(ENODEV), E(EINVAL),
	E(ERANGE), E(EOPNOTSUPP), E(ENOSPC), E(ENOLINK), E(EACCES),
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

static void cpus_str(const cpu_set_t *set, char *out, size_t len)
{
	size_t n = 0;
	int i;

	out[0] = '\0';
	for (i = 0; i < CPU_SETSIZE && n < len - 8; i++)
		if (CPU_ISSET(i, set))
			n += snprintf(out + n, len - n, "%s%d", n ? "," : "", i);
}

static int cmd_list(struct vulb_sriov *s, const char *pf, bool show)
{
	struct vulb_sriov_vf *v;
	size_t n, i;
	int r = vulb_sriov_list_vfs(s, pf, &v, &n);

	if (r)
		return r;
	if (show)
		printf("show pf=%s", pf);
	for (i = 0; i < n; i++) {
		if (show) {
			printf(" vf%u_max=%u", v[i].index, v[i].max_tx_rate);
			continue;
		}
		printf("vf pf=%s index=%u pci=%s ifname=%s driver=%s numa=%d group=%d group_devices=%u isolated=%d vm=%s mac=%02x:%02x:%02x:%02x:%02x:%02x vlan=%u spoofchk=%d trust=%d min=%u max=%u\n",
		       v[i].pf, v[i].index, v[i].pci, v[i].ifname, v[i].driver,
		       v[i].numa_node, v[i].iommu_group, v[i].group_devices,
		       v[i].isolated, v[i].vm, v[i].mac[0], v[i].mac[1], v[i].mac[2],
		       v[i].mac[3], v[i].mac[4], v[i].mac[5], v[i].vlan,
		       v[i].spoofchk, v[i].trust, v[i].min_tx_rate, v[i].max_tx_rate);
	}
	if (show)
		printf(" end\n");
	free(v);
	return 0;
}

static int cmd_irqs(struct vulb_sriov *s, const char *dev)
{
	struct vulb_sriov_irq *q;
	char a[256], e[256];
	size_t n, i;
	int r = vulb_sriov_queue_irqs(s, dev, &q, &n);

	if (r)
		return r;
	for (i = 0; i < n; i++) {
		cpus_str(&q[i].affinity, a, sizeof(a));
		cpus_str(&q[i].effective, e, sizeof(e));
		printf("irq index=%u irq=%u name=%s managed=%d affinity=%s effective=%s\n",
		       q[i].index, q[i].irq, q[i].name, q[i].managed, a, e);
	}
	free(q);
	return 0;
}

static int run(struct vulb_sriov *s, char **av, int ac)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	const char *c = av[0];
	int r;

	if (!strcmp(c, "backend") && ac == 1) {
		printf("backend=%s\n", vulb_sriov_backend_name(s));
		return 0;
	}
	if (!strcmp(c, "list") && ac <= 2)
		return cmd_list(s, ac == 2 ? av[1] : NULL, false);
	if (!strcmp(c, "show") && ac == 1)
		return cmd_list(s, last_pf, true);
	if ((!strcmp(c, "assign") && ac == 6) || (!strcmp(c, "rate") && ac == 5)) {
		bool asg = c[0] == 'a';
		unsigned int vf = strtoul(av[2], NULL, 0);
		unsigned int min = strtoul(av[asg ? 4 : 3], NULL, 0);
		unsigned int max = strtoul(av[asg ? 5 : 4], NULL, 0);

		snprintf(last_pf, sizeof(last_pf), "%s", av[1]);
		r = asg ? vulb_sriov_assign(s, av[1], vf, av[3], min, max, &mode) :
			  vulb_sriov_set_rate(s, av[1], vf, min, max, &mode);
		if (!r)
			printf("%s pf=%s vf=%u min=%u max=%u mode=%s\n", c, av[1], vf,
			       min, max, vulb_sriov_rate_mode_name(mode));
		return r;
	}
	if (!strcmp(c, "release") && ac == 3)
		return vulb_sriov_release(s, av[1], strtoul(av[2], NULL, 0));
	if (!strcmp(c, "irqs") && ac == 2)
		return cmd_irqs(s, av[1]);
	if (!strcmp(c, "irq-set") && ac == 4) {
		cpu_set_t set;
		char *p = av[3];

		CPU_ZERO(&set);
		while (*p) {
			long cpu = strtol(p, &p, 10);

			if (cpu < 0 || cpu >= CPU_SETSIZE)
				return -EINVAL;
			CPU_SET(cpu, &set);
			if (*p == ',')
				p++;
			else if (*p)
				return -EINVAL;
		}
		return vulb_sriov_set_irq_affinity(s, av[1], strtoul(av[2], NULL, 0), &set);
	}
	if (!strcmp(c, "system") && ac == 2)
		return system(av[1]) ? -EIO : 0;
	fprintf(stderr, "sriov-test: bad command '%s' (%d args)\n", c, ac);
	exit(2);
}

int main(int argc, char **argv)
{
	struct vulb_sriov *s;
	int i = 1, bad = 0, r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: sriov-test [! ERRNAME] CMD ARGS [, ...]\n");
		return 2;
	}
	r = vulb_sriov_open(0, &s);
	if (r) {
		printf("vulb_sriov_open: %s\n", ename(-r));
		return 1;
	}
	while (i < argc) {
		int want = 0, j;

		if (!strcmp(argv[i], "!") && i + 2 < argc) {
			want = -eparse(argv[i + 1]);
			i += 2;
		}
		for (j = i; j < argc && strcmp(argv[j], ","); j++)
			;
		r = run(s, argv + i, j - i);
		if (r == want) {
			printf("%s: %s%s\n", argv[i], r ? "failed as expected " : "ok",
			       r ? ename(-r) : "");
		} else {
			printf("%s: got %s want %s\n", argv[i], r ? ename(-r) : "0",
			       want ? ename(-want) : "0");
			bad++;
		}
		i = j + 1;
	}
	vulb_sriov_close(s);
	return bad ? 1 : 0;
}
