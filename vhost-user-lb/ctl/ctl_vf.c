// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Control commands for SR-IOV VFs (vf-list, vf-assign, vf-release, vf-rate, vf-irq,
 * vf-irq-set): thin JSON wrappers over the sriov library, which uses the kernel helper
 * (/dev/vulb) when it is loaded and rtnetlink/sysfs otherwise; every answer says which.
 * The library instance stays open for the daemon's life: with the kernel helper, VF ownership
 * is tied to that open fd and released when the daemon goes.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl_internal.h"
#include "daemon/daemon.h"
#include "sriov/vulb_sriov.h"

static struct vulb_sriov *sriov;

static int sriov_get(struct vulb_sriov **ret)
{
	int r = 0;

	if (!sriov)
		r = vulb_sriov_open(0, &sriov);
	*ret = sriov;
	return r;
}

void ctl_vf_close(void)
{
	vulb_sriov_close(sriov);
	sriov = NULL;
}

static struct json_object *vf_reply(struct vulb_sriov *s)
{
	struct json_object *o = ctl_ok_reply();

	json_object_object_add(o, "backend", json_object_new_string(vulb_sriov_backend_name(s)));
	return o;
}

static void mac_text(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

struct json_object *ctl_cmd_vf_list(struct daemon *d, struct json_object *req)
{
	struct vulb_sriov_vf *vfs = NULL;
	struct vulb_sriov *s;
	struct json_object *o, *arr;
	size_t n = 0;
	int r;

	(void)d;
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_list_vfs(s, ctl_get_str(req, "pf"), &vfs, &n);
	if (r)
		return ctl_error_reply("vf list: %s", strerror(-r));
	o = vf_reply(s);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		char mac[18];

		json_object_object_add(e, "pf", json_object_new_string(vfs[i].pf));
		json_object_object_add(e, "pf_ifname", json_object_new_string(vfs[i].pf_ifname));
		json_object_object_add(e, "vf", json_object_new_int((int)vfs[i].index));
		json_object_object_add(e, "pci", json_object_new_string(vfs[i].pci));
		json_object_object_add(e, "ifname", json_object_new_string(vfs[i].ifname));
		json_object_object_add(e, "driver", json_object_new_string(vfs[i].driver));
		json_object_object_add(e, "numa_node", json_object_new_int(vfs[i].numa_node));
		json_object_object_add(e, "iommu_group", json_object_new_int(vfs[i].iommu_group));
		json_object_object_add(e, "isolated", json_object_new_boolean(vfs[i].isolated));
		json_object_object_add(e, "vm", json_object_new_string(vfs[i].vm));
		mac_text(vfs[i].mac, mac);
		json_object_object_add(e, "mac", json_object_new_string(mac));
		json_object_object_add(e, "min_tx_rate", json_object_new_int((int)vfs[i].min_tx_rate));
		json_object_object_add(e, "max_tx_rate", json_object_new_int((int)vfs[i].max_tx_rate));
		json_object_array_add(arr, e);
	}
	free(vfs);
	json_object_object_add(o, "vfs", arr);
	return o;
}

static bool vf_args(struct json_object *req, const char **pf, unsigned int *vf)
{
	struct json_object *v;

	*pf = ctl_get_str(req, "pf");
	if (!*pf || !json_object_object_get_ex(req, "vf", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int(v) < 0)
		return false;
	*vf = (unsigned int)json_object_get_int(v);
	return true;
}

static unsigned int rate_arg(struct json_object *req, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(req, key, &v) && json_object_get_int(v) > 0
		       ? (unsigned int)json_object_get_int(v) : 0;
}

static struct json_object *with_mode(struct vulb_sriov *s, enum vulb_sriov_rate_mode mode)
{
	struct json_object *o = vf_reply(s);

	json_object_object_add(o, "rate_mode", json_object_new_string(vulb_sriov_rate_mode_name(mode)));
	return o;
}

struct json_object *ctl_cmd_vf_assign(struct daemon *d, struct json_object *req)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	const char *pf, *vm = ctl_get_str(req, "vm");
	struct vulb_sriov *s;
	unsigned int vf;
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf) || !vm)
		return ctl_error_reply("vf-assign needs \"pf\", \"vf\" and \"vm\"");
	{
		unsigned int min = rate_arg(req, "min_mbps"), max = rate_arg(req, "max_mbps");
		const struct config_vm *cv = config_vm_find(vm);

		/* Rates not given on the command line come from the VM's [vm] section. */
		if (cv && !min && !max) {
			min = cv->vf_min_mbps;
			max = cv->vf_max_mbps;
		}
		r = sriov_get(&s);
		if (!r)
			r = vulb_sriov_assign(s, pf, vf, vm, min, max, &mode);
	}
	if (r)
		return ctl_error_reply("vf assign %s/%u to '%s': %s", pf, vf, vm, strerror(-r));
	return with_mode(s, mode);
}

struct json_object *ctl_cmd_vf_release(struct daemon *d, struct json_object *req)
{
	struct vulb_sriov *s;
	const char *pf;
	unsigned int vf;
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf))
		return ctl_error_reply("vf-release needs \"pf\" and \"vf\"");
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_release(s, pf, vf);
	if (r)
		return ctl_error_reply("vf release %s/%u: %s", pf, vf, strerror(-r));
	return vf_reply(s);
}

struct json_object *ctl_cmd_vf_rate(struct daemon *d, struct json_object *req)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	struct vulb_sriov *s;
	const char *pf;
	unsigned int vf;
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf))
		return ctl_error_reply("vf-rate needs \"pf\" and \"vf\"");
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_set_rate(s, pf, vf, rate_arg(req, "min_mbps"), rate_arg(req, "max_mbps"), &mode);
	if (r)
		return ctl_error_reply("vf rate %s/%u: %s", pf, vf, strerror(-r));
	return with_mode(s, mode);
}

static void cpus_text(const cpu_set_t *set, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && n + 8 < len; c++)
		if (CPU_ISSET(c, set))
			n += (size_t)snprintf(out + n, len - n, "%s%d", n ? "," : "", c);
}

struct json_object *ctl_cmd_vf_irq(struct daemon *d, struct json_object *req)
{
	const char *dev = ctl_get_str(req, "dev");
	struct vulb_sriov_irq *irqs = NULL;
	struct vulb_sriov *s;
	struct json_object *o, *arr;
	size_t n = 0;
	int r;

	(void)d;
	if (!dev)
		return ctl_error_reply("vf-irq needs \"dev\"");
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_queue_irqs(s, dev, &irqs, &n);
	if (r)
		return ctl_error_reply("queue IRQs of %s: %s", dev, strerror(-r));
	o = vf_reply(s);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		char cpus[256];

		json_object_object_add(e, "index", json_object_new_int((int)irqs[i].index));
		json_object_object_add(e, "irq", json_object_new_int((int)irqs[i].irq));
		json_object_object_add(e, "name", json_object_new_string(irqs[i].name));
		cpus_text(&irqs[i].affinity, cpus, sizeof(cpus));
		json_object_object_add(e, "affinity", json_object_new_string(cpus));
		cpus_text(&irqs[i].effective, cpus, sizeof(cpus));
		json_object_object_add(e, "effective", json_object_new_string(cpus));
		json_object_array_add(arr, e);
	}
	free(irqs);
	json_object_object_add(o, "irqs", arr);
	return o;
}

struct json_object *ctl_cmd_vf_irq_set(struct daemon *d, struct json_object *req)
{
	const char *dev = ctl_get_str(req, "dev"), *cpus = ctl_get_str(req, "cpus");
	struct json_object *v;
	struct vulb_sriov *s;
	int list[CPU_SETSIZE];
	unsigned int n;
	cpu_set_t set;
	int r;

	(void)d;
	if (!dev || !cpus || !json_object_object_get_ex(req, "index", &v))
		return ctl_error_reply("vf-irq-set needs \"dev\", \"index\" and \"cpus\"");
	if (config_parse_cpulist(cpus, list, CPU_SETSIZE, &n))
		return ctl_error_reply("cpus '%s' is not a CPU list like 0-1,3", cpus);
	CPU_ZERO(&set);
	for (unsigned int i = 0; i < n; i++)
		CPU_SET(list[i], &set);
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_set_irq_affinity(s, dev, (unsigned int)json_object_get_int(v), &set);
	if (r)
		return ctl_error_reply("IRQ affinity of %s vector %d: %s", dev, json_object_get_int(v),
				       strerror(-r));
	return vf_reply(s);
}
