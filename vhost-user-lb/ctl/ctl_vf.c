// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Control commands for SR-IOV VFs (vf-list, vf-assign, vf-release, vf-rate, vf-irq,
 * vf-irq-set): JSON wrappers over the sriov library, which uses the kernel helper
 * (/dev/vulb) when it is loaded and rtnetlink/sysfs otherwise; every answer says which.
 * The library instance stays open for the daemon's life: with the kernel helper, VF ownership
 * is tied to that open fd and released when the daemon goes.
 *
 * Rates.  `vf assign` without rates gives the VF the rates of the VM's [vm NAME] section;
 * such VFs are remembered here and follow the section when the file is reloaded (a section
 * gone means no rates).  Rates given on the command line, at assign or with `vf rate`, are
 * the operator's: a reload leaves them alone.  Answers that change rates list every VF the
 * daemon holds on the PF with the rate each ended up with, because on a PF without a native
 * minimum (igb) one VF's guarantee is kept by capping its neighbours (vulb_sriov.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ctl/ctl.h"
#include "ctl/ctl_internal.h"
#include "daemon/daemon.h"
#include "sriov/vulb_sriov.h"

static struct vulb_sriov *sriov;

/* A VF whose rates come from its VM's [vm] section (control thread only). */
struct cfg_rated {
	struct cfg_rated *next;
	char pf[32];			/* PCI address */
	unsigned int vf;
	char vm[64];
	unsigned int min, max;		/* as last applied */
};

static struct cfg_rated *cfg_rated;

static struct cfg_rated **cfg_find(const char *pf, unsigned int vf)
{
	struct cfg_rated **p;

	for (p = &cfg_rated; *p; p = &(*p)->next)
		if ((*p)->vf == vf && strcmp((*p)->pf, pf) == 0)
			return p;
	return NULL;
}

static void cfg_forget(const char *pf, unsigned int vf)
{
	struct cfg_rated **p = cfg_find(pf, vf), *e;

	if (!p)
		return;
	e = *p;
	*p = e->next;
	free(e);
}

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
	while (cfg_rated)
		cfg_forget(cfg_rated->pf, cfg_rated->vf);
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

static struct json_object *vf_json(const struct vulb_sriov_vf *v)
{
	struct json_object *e = json_object_new_object();
	char mac[18];

	json_object_object_add(e, "pf", json_object_new_string(v->pf));
	json_object_object_add(e, "pf_ifname", json_object_new_string(v->pf_ifname));
	json_object_object_add(e, "vf", json_object_new_int((int)v->index));
	json_object_object_add(e, "pci", json_object_new_string(v->pci));
	json_object_object_add(e, "ifname", json_object_new_string(v->ifname));
	json_object_object_add(e, "driver", json_object_new_string(v->driver));
	json_object_object_add(e, "numa_node", json_object_new_int(v->numa_node));
	json_object_object_add(e, "iommu_group", json_object_new_int(v->iommu_group));
	json_object_object_add(e, "isolated", json_object_new_boolean(v->isolated));
	json_object_object_add(e, "vm", json_object_new_string(v->vm));
	mac_text(v->mac, mac);
	json_object_object_add(e, "mac", json_object_new_string(mac));
	json_object_object_add(e, "min_tx_rate", json_object_new_int((int)v->min_tx_rate));
	json_object_object_add(e, "max_tx_rate", json_object_new_int((int)v->max_tx_rate));
	json_object_object_add(e, "link_mbps", json_object_new_int((int)v->link_mbps));
	json_object_object_add(e, "assigned_here", json_object_new_boolean(v->assigned_here));
	if (v->assigned_here) {
		json_object_object_add(e, "min_mbps", json_object_new_int((int)v->want_min));
		json_object_object_add(e, "max_mbps", json_object_new_int((int)v->want_max));
		json_object_object_add(e, "rate_mode",
				       json_object_new_string(vulb_sriov_rate_mode_name(v->rate_mode)));
		json_object_object_add(e, "rates_from",
				       json_object_new_string(cfg_find(v->pf, v->index) ? "config" : "command"));
	}
	return e;
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
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, vf_json(&vfs[i]));
	free(vfs);
	json_object_object_add(o, "vfs", arr);
	return o;
}

static bool vf_args(struct json_object *req, const char **pf, unsigned int *vf)
{
	struct json_object *v;

	*pf = ctl_get_str(req, "pf");
	if (!*pf || !json_object_object_get_ex(req, "vf", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_int64(v) > 65535)
		return false;
	*vf = (unsigned int)json_object_get_int64(v);
	return true;
}

/*
 * Reads "min_mbps" and "max_mbps" (absent: 0 = none).
 * Return: true if either was given; -EINVAL in *err for a value that is not 0..max.
 */
static bool rate_args(struct json_object *req, unsigned int *min, unsigned int *max, int *err)
{
	static const char *const keys[2] = { "min_mbps", "max_mbps" };
	unsigned int *out[2] = { min, max };
	bool given = false;

	*err = 0;
	for (int i = 0; i < 2; i++) {
		struct json_object *v;
		int64_t n;

		*out[i] = 0;
		if (!json_object_object_get_ex(req, keys[i], &v))
			continue;
		given = true;
		n = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || n < 0 || n > CONFIG_MAX_RATE_MBPS)
			*err = -EINVAL;
		else
			*out[i] = (unsigned int)n;
	}
	return given;
}

/* strerror() for the errors of VF calls, whose names say less than they mean here. */
static const char *vf_error(int r)
{
	switch (r) {
	case -ENOSPC:
		return "the minimum rates of the PF's VFs would add up to more than its link speed";
	case -ENOLINK:
		return "the PF has no link speed, so a minimum rate cannot be kept by capping";
	case -EBUSY:
		return "the VF is assigned to another VM";
	case -ERANGE:
		return "no such VF on this PF";
	case -ENODEV:
		return "no such PF";
	case -EOPNOTSUPP:
		return "not an SR-IOV physical function";
	default:
		return strerror(-r);
	}
}

/*
 * Adds to @o the PF's address and the VFs this daemon holds on it, with the rate each ended
 * up with: after a change on a PF that caps, that is what changed for the neighbours too.
 */
static void add_pf_state(struct vulb_sriov *s, struct json_object *o, const char *pf)
{
	struct vulb_sriov_vf *vfs = NULL;
	struct json_object *arr = json_object_new_array();
	size_t n = 0;

	if (!vulb_sriov_list_vfs(s, pf, &vfs, &n) && n) {
		json_object_object_add(o, "pf_pci", json_object_new_string(vfs[0].pf));
		json_object_object_add(o, "pf_ifname", json_object_new_string(vfs[0].pf_ifname));
		json_object_object_add(o, "link_mbps", json_object_new_int((int)vfs[0].link_mbps));
	}
	for (size_t i = 0; i < n; i++)
		if (vfs[i].assigned_here)
			json_object_array_add(arr, vf_json(&vfs[i]));
	free(vfs);
	json_object_object_add(o, "pf_vfs", arr);
}

/* The PF's PCI address (what cfg_rated keys on), from a name the library accepted. */
static int pf_address(struct vulb_sriov *s, const char *pf, char *out, size_t len)
{
	struct vulb_sriov_vf *vfs = NULL;
	size_t n = 0;
	int r = vulb_sriov_list_vfs(s, pf, &vfs, &n);

	if (!r && !n)
		r = -ENODEV;
	if (!r)
		snprintf(out, len, "%s", vfs[0].pf);
	free(vfs);
	return r;
}

static struct json_object *rate_reply(struct vulb_sriov *s, enum vulb_sriov_rate_mode mode,
				      const char *pf, unsigned int vf, unsigned int min,
				      unsigned int max, const char *from)
{
	struct json_object *o = vf_reply(s);

	json_object_object_add(o, "vf", json_object_new_int((int)vf));
	json_object_object_add(o, "rate_mode", json_object_new_string(vulb_sriov_rate_mode_name(mode)));
	json_object_object_add(o, "min_mbps", json_object_new_int((int)min));
	json_object_object_add(o, "max_mbps", json_object_new_int((int)max));
	json_object_object_add(o, "rates_from", json_object_new_string(from));
	add_pf_state(s, o, pf);
	return o;
}

struct json_object *ctl_cmd_vf_assign(struct daemon *d, struct json_object *req)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	const char *pf, *vm = ctl_get_str(req, "vm"), *from;
	const struct config_vm *cv;
	unsigned int vf, min, max;
	struct vulb_sriov *s;
	struct json_object *o;
	char pci[32];
	bool given;
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf) || !vm)
		return ctl_error_reply("vf-assign needs \"pf\", \"vf\" and \"vm\"");
	given = rate_args(req, &min, &max, &r);
	if (r)
		return ctl_error_reply("vf-assign: rates are Mbit/s from 0 to %u", CONFIG_MAX_RATE_MBPS);
	cv = config_vm_find(vm);
	if (given) {
		from = "command";
	} else if (cv) {
		/* Rates not given on the command line come from the VM's [vm] section. */
		min = cv->vf_min_mbps;
		max = cv->vf_max_mbps;
		from = "config";
	} else {
		from = "none";
	}
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_assign(s, pf, vf, vm, min, max, &mode);
	if (r)
		return ctl_error_reply("vf assign %s/%u to '%s' (min %u, max %u Mbit/s): %s", pf, vf, vm,
				       min, max, vf_error(r));
	if (!pf_address(s, pf, pci, sizeof(pci))) {
		struct cfg_rated **p = cfg_find(pci, vf), *e = p ? *p : NULL;

		if (strcmp(from, "config") != 0) {
			cfg_forget(pci, vf);
		} else if (e || (e = calloc(1, sizeof(*e)))) {
			if (!p) {
				snprintf(e->pf, sizeof(e->pf), "%s", pci);
				e->vf = vf;
				e->next = cfg_rated;
				cfg_rated = e;
			}
			snprintf(e->vm, sizeof(e->vm), "%s", vm);
			e->min = min;
			e->max = max;
		}
	}
	o = rate_reply(s, mode, pf, vf, min, max, from);
	json_object_object_add(o, "vm", json_object_new_string(vm));
	return o;
}

struct json_object *ctl_cmd_vf_release(struct daemon *d, struct json_object *req)
{
	struct vulb_sriov *s;
	struct json_object *o;
	const char *pf;
	unsigned int vf;
	char pci[32];
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf))
		return ctl_error_reply("vf-release needs \"pf\" and \"vf\"");
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_release(s, pf, vf);
	if ((!r || r == -ENOENT) && !pf_address(s, pf, pci, sizeof(pci)))
		cfg_forget(pci, vf);
	if (r)
		return ctl_error_reply("vf release %s/%u: %s", pf, vf,
				       r == -ENOENT ? "not assigned through this daemon" : vf_error(r));
	o = vf_reply(s);
	json_object_object_add(o, "vf", json_object_new_int((int)vf));
	add_pf_state(s, o, pf);
	return o;
}

struct json_object *ctl_cmd_vf_rate(struct daemon *d, struct json_object *req)
{
	enum vulb_sriov_rate_mode mode = VULB_RATE_NONE;
	unsigned int vf, min, max;
	struct vulb_sriov *s;
	const char *pf;
	char pci[32];
	int r;

	(void)d;
	if (!vf_args(req, &pf, &vf))
		return ctl_error_reply("vf-rate needs \"pf\" and \"vf\"");
	(void)rate_args(req, &min, &max, &r);
	if (r)
		return ctl_error_reply("vf-rate: rates are Mbit/s from 0 to %u", CONFIG_MAX_RATE_MBPS);
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_set_rate(s, pf, vf, min, max, &mode);
	if (r)
		return ctl_error_reply("vf rate %s/%u (min %u, max %u Mbit/s): %s", pf, vf, min, max,
				       vf_error(r));
	/* the operator's rates now: a reload no longer touches them */
	if (!pf_address(s, pf, pci, sizeof(pci)))
		cfg_forget(pci, vf);
	return rate_reply(s, mode, pf, vf, min, max, "command");
}

/**
 * ctl_vf_config_changed() - VFs assigned with their VM's [vm] rates take the new ones.
 * Called after a reload installed the new [vm] sections; a VM whose section is gone gets
 * no rates.  Failures are logged and leave the VF with its old rates.
 * Context: control thread.
 */
void ctl_vf_config_changed(void)
{
	for (struct cfg_rated *e = cfg_rated; e && sriov; e = e->next) {
		const struct config_vm *cv = config_vm_find(e->vm);
		unsigned int min = cv ? cv->vf_min_mbps : 0, max = cv ? cv->vf_max_mbps : 0;
		enum vulb_sriov_rate_mode mode;
		int r;

		if (min == e->min && max == e->max)
			continue;
		r = vulb_sriov_set_rate(sriov, e->pf, e->vf, min, max, &mode);
		if (r) {
			log_error("reload: VF %s/%u of VM '%s' keeps min %u max %u Mbit/s, "
				  "the new min %u max %u failed: %s", e->pf, e->vf, e->vm, e->min, e->max,
				  min, max, vf_error(r));
			continue;
		}
		log_info("reload: VF %s/%u of VM '%s': min %u max %u Mbit/s (%s), rates %s", e->pf, e->vf,
			 e->vm, min, max, cv ? "its [vm] section" : "no [vm] section any more",
			 vulb_sriov_rate_mode_name(mode));
		e->min = min;
		e->max = max;
	}
}

static void cpus_text(const cpu_set_t *set, char *out, size_t len)
{
	size_t n = 0;

	out[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE && n + 8 < len; c++)
		if (CPU_ISSET(c, set))
			n += (size_t)snprintf(out + n, len - n, "%s%d", n ? "," : "", c);
}

static struct json_object *irq_json(const struct vulb_sriov_irq *q)
{
	struct json_object *e = json_object_new_object();
	char cpus[256];

	json_object_object_add(e, "index", json_object_new_int((int)q->index));
	json_object_object_add(e, "irq", json_object_new_int((int)q->irq));
	json_object_object_add(e, "name", json_object_new_string(q->name));
	cpus_text(&q->affinity, cpus, sizeof(cpus));
	json_object_object_add(e, "affinity", json_object_new_string(cpus));
	cpus_text(&q->effective, cpus, sizeof(cpus));
	json_object_object_add(e, "effective", json_object_new_string(cpus));
	return e;
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
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, irq_json(&irqs[i]));
	free(irqs);
	json_object_object_add(o, "irqs", arr);
	return o;
}

struct json_object *ctl_cmd_vf_irq_set(struct daemon *d, struct json_object *req)
{
	const char *dev = ctl_get_str(req, "dev"), *cpus = ctl_get_str(req, "cpus");
	struct vulb_sriov_irq *irqs = NULL;
	struct json_object *v, *o;
	struct vulb_sriov *s;
	int list[CPU_SETSIZE];
	unsigned int n, index;
	size_t nirqs = 0;
	cpu_set_t set;
	int r;

	(void)d;
	if (!dev || !cpus || !json_object_object_get_ex(req, "index", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
	    json_object_get_int64(v) > 65535)
		return ctl_error_reply("vf-irq-set needs \"dev\", \"index\" (0-65535) and \"cpus\"");
	index = (unsigned int)json_object_get_int64(v);
	if (config_parse_cpulist(cpus, list, CPU_SETSIZE, &n))
		return ctl_error_reply("cpus '%s' is not a CPU list like 0-1,3", cpus);
	CPU_ZERO(&set);
	for (unsigned int i = 0; i < n; i++)
		CPU_SET(list[i], &set);
	r = sriov_get(&s);
	if (!r)
		r = vulb_sriov_set_irq_affinity(s, dev, index, &set);
	if (r)
		return ctl_error_reply("IRQ affinity of %s vector %u: %s", dev, index,
				       r == -ERANGE ? "no such vector" :
				       r == -EINVAL ? "a CPU in the list is not online" : strerror(-r));
	o = vf_reply(s);
	/* what the kernel made of it: the effective affinity may be narrower than asked */
	if (!vulb_sriov_queue_irqs(s, dev, &irqs, &nirqs))
		for (size_t i = 0; i < nirqs; i++)
			if (irqs[i].index == index)
				json_object_object_add(o, "vector", irq_json(&irqs[i]));
	free(irqs);
	return o;
}
