// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Virtual-IP services on the control thread: the vip-* control commands, flow expiry, and
 * backends that follow their guests.
 *
 * A backend may be named by VM: its MAC is then taken from the VM's vhostuser interface
 * (discovery), and when discovery says that VM stopped, the backend is taken down at once
 * (no new flows; its flows are dropped), and up again when the VM comes back.
 *
 * Every backend, however named, also follows its port: every LB_TICK_MS (and at once when a
 * frontend disconnects) each backend is bound to the port its MAC was learned on, taken down
 * while that port has no guest with a running RX queue (QEMU killed, the guest's driver
 * stopped) and up again once it has, and given that guest's measured RX load for least-load
 * (lb_rx_meter_sample(): its backlog and what it drains while behind, read from its rings'
 * indices).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "ctl/ctl_internal.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "disc/disc.h"
#include "lb/lb.h"

#define MAX_VM_BACKENDS 1024
#define LB_TICK_MS 100

/* Backends named by VM, so discovery events can find them. */
struct vm_backend {
	char vm[64];
	struct lb_backend *be;
};

static struct vm_backend vm_backends[MAX_VM_BACKENDS];
static unsigned int n_vm_backends;

static void on_expire(struct ev_source *src, void *opaque)
{
	struct daemon *d = opaque;

	(void)src;
	(void)lb_flows_expire(d->lb, time_ns_mono() / 1000000000ull);
}

/* A guest is there and takes frames: connected, with at least one RX queue running. */
static bool port_takes_frames(const struct port *p)
{
	return p->connected && __atomic_load_n(&p->dp->rx_ready_mask, __ATOMIC_ACQUIRE) != 0;
}

/*
 * One sample of @p's RX queues: the guest's backlog and drain rate, as a queueing delay.
 * Context: control thread: rings only start and stop here, so a ready ring's avail ring stays
 * mapped while we read it; workers move last_avail_idx and the counters meanwhile (atomics).
 */
static void port_sample(struct port *p, uint32_t interval_ms)
{
	uint32_t mask = __atomic_load_n(&p->dp->rx_ready_mask, __ATOMIC_ACQUIRE);
	struct lb_rx_reading sum = { 0 };
	bool any = false;

	for (unsigned int q = 0; q < VU_MAX_QUEUE_PAIRS; q++) {
		struct dp_vq *rxq = &p->dp->vq[2 * q];
		struct lb_rx_reading r;
		struct lb_rx_sample s;

		if (!p->connected || !(mask & (1u << q)) || !rxq->ready) {
			p->lb_rx[q].primed = false;
			continue;
		}
		s = (struct lb_rx_sample){
			.posted = __atomic_load_n(&rxq->ring.avail->idx, __ATOMIC_ACQUIRE),
			.taken = __atomic_load_n(&rxq->ring.last_avail_idx, __ATOMIC_RELAXED),
			.num = rxq->ring.num,
			.has_unacked = rxq->ring.event_idx,
			.delivered = __atomic_load_n(&rxq->stats.packets, __ATOMIC_RELAXED),
			.no_buffer = __atomic_load_n(&rxq->stats.drops[DP_DROP_NO_BUFFER], __ATOMIC_RELAXED),
		};
		if (s.has_unacked) {
			/* used_event sits after the avail ring's entries (virtio 1.2, 2.7.10). */
			uint16_t used = __atomic_load_n(&rxq->ring.used->idx, __ATOMIC_RELAXED);
			uint16_t ev = __atomic_load_n(&rxq->ring.avail->ring[rxq->ring.num],
						      __ATOMIC_RELAXED);

			s.unacked = (uint16_t)(used - ev);
		}
		lb_rx_meter_sample(&p->lb_rx[q], &s, &r);
		lb_rx_reading_add(&sum, &r);
		any = true;
	}
	if (!any) {
		p->lb_rxl = (struct lb_rx_load){ 0 };
		p->lb_load_us = 0;
		return;
	}
	p->lb_load_us = lb_rx_load_update(&p->lb_rxl, &sum, interval_ms);
}

/* lb_locate_fn: the port a backend's MAC was last seen on (else the one it has), and its state. */
static void locate(void *opaque, const uint8_t mac[6], void *bound, struct lb_port_state *ret)
{
	struct daemon *d = opaque;
	struct dp_port *dp = fdb_lookup_rcu(d->dp->fdb, fdb_mac_from_bytes(mac));
	const struct port *p;

	if (!dp)
		dp = bound;
	if (!dp || !dp->owner) {
		ret->port = NULL;
		return;
	}
	p = dp->owner;
	*ret = (struct lb_port_state){ .port = dp, .up = port_takes_frames(p), .load_us = p->lb_load_us };
}

static void refresh(struct daemon *d, const struct port *why)
{
	unsigned int n = lb_backends_refresh(d->lb, locate, d);

	if (!n)
		return;
	if (why)
		log_info("port '%s': frontend gone: %u load-balancer backend(s) down", why->spec.name, n);
	else
		log_info("load balancer: %u backend(s) went up or down with their ports", n);
}

static void on_tick(struct ev_source *src, void *opaque)
{
	static uint64_t last_ns;
	struct daemon *d = opaque;
	uint64_t now = time_ns_mono();
	uint32_t ms = last_ns ? (uint32_t)MIN((now - last_ns) / 1000000, 60000ull) : LB_TICK_MS;

	(void)src;
	last_ns = now;
	/* Sampled even with no VIP, so a VIP added later starts from fresh readings. */
	for (struct port *p = d->ports; p; p = p->next)
		port_sample(p, ms ? ms : 1);
	if (__atomic_load_n(&d->dp->lb_active, __ATOMIC_RELAXED))
		refresh(d, NULL);
}

/**
 * services_port_changed() - port @p's frontend went away: backends behind it leave new-flow
 * selection now rather than at the next tick (they come back on the tick that finds a guest
 * running there again).
 * Context: control thread.
 */
void services_port_changed(struct daemon *d, const struct port *p)
{
	if (d->lb && __atomic_load_n(&d->dp->lb_active, __ATOMIC_RELAXED))
		refresh(d, p);
}

/* Context: control thread, before the workers start (they read dp->lb without a barrier). */
int services_start(struct daemon *d, uint32_t max_flows)
{
	struct lb_config cfg = { .max_flows = max_flows };
	int r = lb_new(&cfg, &d->lb);

	if (r)
		return r;
	d->dp->lb = d->lb;
	r = evloop_add_timer(d->loop, 1000, 1000, on_expire, d, NULL);
	return r ? r : evloop_add_timer(d->loop, LB_TICK_MS, LB_TICK_MS, on_tick, d, NULL);
}

/* Context: control thread, after the workers stopped. */
void services_stop(struct daemon *d)
{
	lb_free(d->lb);
	d->lb = NULL;
}

static void forget_backend(const struct lb_backend *be)
{
	for (unsigned int i = 0; i < n_vm_backends; i++)
		if (vm_backends[i].be == be) {
			vm_backends[i] = vm_backends[--n_vm_backends];
			return;
		}
}

/* Discovery says @vm_name started (up) or stopped (down). Context: control thread. */
void services_vm_changed(struct daemon *d, const char *vm_name, bool up)
{
	for (unsigned int i = 0; d->lb && i < n_vm_backends; i++)
		if (strcmp(vm_backends[i].vm, vm_name) == 0) {
			(void)lb_backend_set_up(d->lb, vm_backends[i].be, up);
			log_info("VM '%s' %s: its load-balancer backend is %s", vm_name,
				 up ? "started" : "stopped", up ? "up again" : "down");
		}
}

/* Called before a port is freed: flows steered to it must not outlive it. */
void services_port_gone(struct daemon *d, struct dp_port *port)
{
	if (d->lb)
		(void)lb_port_gone(d->lb, port);
}

static struct lb_vip *find_vip(struct daemon *d, struct json_object *req, char *err, size_t len)
{
	const char *text = ctl_get_str(req, "vip");
	struct lb_vip_spec spec;
	struct lb_vip *vip;

	if (!text) {
		snprintf(err, len, "needs \"vip\" (ADDR:PORT/PROTO)");
		return NULL;
	}
	if (lb_vip_spec_parse(text, &spec, err, len))
		return NULL;
	vip = lb_vip_find(d->lb, spec.addr, spec.port, spec.proto);
	if (!vip)
		snprintf(err, len, "no VIP %s", text);
	return vip;
}

static void set_active(struct daemon *d, int delta)
{
	static int nvips;

	nvips += delta;
	__atomic_store_n(&d->dp->lb_active, nvips > 0, __ATOMIC_RELEASE);
}

static int vip_add(struct daemon *d, const char *text, const char *algo, char *err, size_t len)
{
	struct lb_vip_spec spec;
	struct lb_vip *vip;
	int r;

	if (lb_vip_spec_parse(text, &spec, err, len))
		return -EINVAL;
	if (algo && *algo && lb_algo_parse(algo, &spec.algo)) {
		snprintf(err, len, "unknown algorithm '%s' (maglev, least-load, wrr)", algo);
		return -EINVAL;
	}
	r = lb_vip_add(d->lb, &spec, &vip);
	if (r) {
		snprintf(err, len, "vip add %s: %s", text, strerror(-r));
		return r;
	}
	set_active(d, 1);
	log_info("VIP %s added (%s)", text, lb_algo_name(spec.algo));
	return 0;
}

struct json_object *ctl_cmd_vip_add(struct daemon *d, struct json_object *req)
{
	const char *text = ctl_get_str(req, "vip");
	char err[160];

	if (!text)
		return ctl_error_reply("vip-add needs \"vip\" (ADDR:PORT/PROTO[,algo=...])");
	if (vip_add(d, text, ctl_get_str(req, "algo"), err, sizeof(err)))
		return ctl_error_reply("%s", err);
	return ctl_ok_reply();
}

struct json_object *ctl_cmd_vip_del(struct daemon *d, struct json_object *req)
{
	char err[160];
	struct lb_vip *vip = find_vip(d, req, err, sizeof(err));
	int r;

	if (!vip)
		return ctl_error_reply("%s", err);
	r = lb_vip_del(d->lb, vip);
	if (r)
		return ctl_error_reply("vip del: %s", strerror(-r));
	set_active(d, -1);
	return ctl_ok_reply();
}

/* MAC of @vm's first vhostuser interface (or the one on @port), from discovery. */
static int vm_mac(struct daemon *d, const char *vm, uint8_t mac[6], char *err, size_t len)
{
	const struct disc_registry *reg = d->disc ? disc_snapshot_rcu(d->disc) : NULL;
	const struct disc_vm *v = reg ? disc_registry_find_name(reg, vm) : NULL;
	unsigned int m[6];

	if (!v) {
		snprintf(err, len, "no VM '%s' known to discovery%s", vm, d->disc ? "" : " (discovery is off)");
		return -ENOENT;
	}
	for (size_t i = 0; i < v->n_ifaces; i++)
		if (sscanf(v->ifaces[i].mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
			for (int k = 0; k < 6; k++)
				mac[k] = (uint8_t)m[k];
			return 0;
		}
	snprintf(err, len, "VM '%s' has no vhostuser interface with a MAC", vm);
	return -ENOENT;
}

static int backend_add(struct daemon *d, struct lb_vip *vip, const char *text, const char *vm,
		       char *err, size_t len)
{
	struct lb_backend_spec spec;
	struct lb_backend *be;
	int r;

	if (vm && *vm && !strstr(text, "mac=")) {
		uint8_t mac[6];
		char full[256];

		if (vm_mac(d, vm, mac, err, len))
			return -ENOENT;
		snprintf(full, sizeof(full), "mac=%02x:%02x:%02x:%02x:%02x:%02x,%s", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5], text);
		r = lb_backend_spec_parse(full, &spec, err, len);
	} else {
		r = lb_backend_spec_parse(text, &spec, err, len);
	}
	if (r)
		return -EINVAL;
	be = lb_backend_find(vip, spec.mac, spec.addr);
	if (be)
		return lb_backend_set_weight(d->lb, be, spec.weight);
	r = lb_backend_add(d->lb, vip, &spec, &be);
	if (r) {
		snprintf(err, len, "backend add: %s", strerror(-r));
		return r;
	}
	if (vm && *vm && n_vm_backends < MAX_VM_BACKENDS) {
		const struct disc_vm *v = d->disc ? disc_registry_find_name(disc_snapshot_rcu(d->disc), vm) : NULL;

		snprintf(vm_backends[n_vm_backends].vm, sizeof(vm_backends[0].vm), "%s", vm);
		vm_backends[n_vm_backends++].be = be;
		if (v && !v->active)
			(void)lb_backend_set_up(d->lb, be, false);
	}
	return 0;
}

struct json_object *ctl_cmd_vip_backend_add(struct daemon *d, struct json_object *req)
{
	const char *text = ctl_get_str(req, "backend");
	char err[160];
	struct lb_vip *vip = find_vip(d, req, err, sizeof(err));

	if (!vip)
		return ctl_error_reply("%s", err);
	if (!text)
		return ctl_error_reply("vip-backend-add needs \"backend\" (mac=..,ip=..[,port=..][,weight=..]; "
				       "with \"vm\" the MAC may be left out)");
	if (backend_add(d, vip, text, ctl_get_str(req, "vm"), err, sizeof(err)))
		return ctl_error_reply("%s", err);
	return ctl_ok_reply();
}

static struct lb_backend *find_backend(struct daemon *d, struct json_object *req, char *err, size_t len)
{
	const char *text = ctl_get_str(req, "backend");
	struct lb_vip *vip = find_vip(d, req, err, len);
	struct lb_backend_spec spec;
	struct lb_backend *be;

	if (!vip)
		return NULL;
	if (!text) {
		snprintf(err, len, "needs \"backend\" (mac=..,ip=..)");
		return NULL;
	}
	if (lb_backend_spec_parse(text, &spec, err, len))
		return NULL;
	be = lb_backend_find(vip, spec.mac, spec.addr);
	if (!be)
		snprintf(err, len, "no backend %s", text);
	return be;
}

struct json_object *ctl_cmd_vip_backend_del(struct daemon *d, struct json_object *req)
{
	char err[160];
	struct lb_backend *be = find_backend(d, req, err, sizeof(err));

	if (!be)
		return ctl_error_reply("%s", err);
	forget_backend(be);
	if (lb_backend_del(d->lb, be))
		return ctl_error_reply("backend del failed");
	return ctl_ok_reply();
}

struct json_object *ctl_cmd_vip_weight(struct daemon *d, struct json_object *req)
{
	struct json_object *w;
	char err[160];
	struct lb_backend *be = find_backend(d, req, err, sizeof(err));
	int r;

	if (!be)
		return ctl_error_reply("%s", err);
	if (!json_object_object_get_ex(req, "weight", &w) || json_object_get_int(w) < 0 ||
	    json_object_get_int(w) > LB_WEIGHT_MAX)
		return ctl_error_reply("\"weight\" must be 0..%d", LB_WEIGHT_MAX);
	r = lb_backend_set_weight(d->lb, be, (uint16_t)json_object_get_int(w));
	return r ? ctl_error_reply("weight: %s", strerror(-r)) : ctl_ok_reply();
}

/* In `vip show`, "vm" on each backend that follows a VM. */
static void show_vms(struct json_object *lb)
{
	struct json_object *vips;

	if (!json_object_object_get_ex(lb, "vips", &vips))
		return;
	for (unsigned int i = 0; i < n_vm_backends; i++) {
		struct lb_backend_spec bs;
		struct lb_vip_spec vs;
		char vip[40], mac[18], addr[16];

		lb_backend_ident(vm_backends[i].be, &vs, &bs);
		snprintf(vip, sizeof(vip), "%u.%u.%u.%u:%u/%s", vs.addr >> 24, (vs.addr >> 16) & 0xff,
			 (vs.addr >> 8) & 0xff, vs.addr & 0xff, vs.port,
			 vs.proto == LB_PROTO_TCP ? "tcp" : "udp");
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", bs.mac[0], bs.mac[1],
			 bs.mac[2], bs.mac[3], bs.mac[4], bs.mac[5]);
		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", bs.addr >> 24, (bs.addr >> 16) & 0xff,
			 (bs.addr >> 8) & 0xff, bs.addr & 0xff);
		for (size_t v = 0; v < json_object_array_length(vips); v++) {
			struct json_object *vo = json_object_array_get_idx(vips, v), *s, *bes;

			if (!json_object_object_get_ex(vo, "vip", &s) || strcmp(json_object_get_string(s), vip) ||
			    !json_object_object_get_ex(vo, "backends", &bes))
				continue;
			for (size_t b = 0; b < json_object_array_length(bes); b++) {
				struct json_object *bo = json_object_array_get_idx(bes, b), *m, *a;

				if (json_object_object_get_ex(bo, "mac", &m) && json_object_object_get_ex(bo, "address", &a) &&
				    !strcasecmp(json_object_get_string(m), mac) && !strcmp(json_object_get_string(a), addr))
					json_object_object_add(bo, "vm", json_object_new_string(vm_backends[i].vm));
			}
		}
	}
}

struct json_object *ctl_cmd_vip_show(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply(), *lb = lb_show_json(d->lb);

	(void)req;
	if (lb) {
		show_vms(lb);
		json_object_object_add(lb, "checkpoint", checkpoint_json(d));
	}
	json_object_object_add(o, "lb", lb);
	return o;
}

/**
 * services_handover_save() - every service, backend and flow, for the process taking over.
 * Context: control thread, forwarding stopped. Return: new JSON object, or NULL.
 */
struct json_object *services_handover_save(struct daemon *d)
{
	struct json_object *o = lb_state_save(d->lb), *arr;

	if (!o)
		return NULL;
	/* Which backends follow a VM: discovery takes them down and up with it. */
	arr = json_object_new_array();
	for (unsigned int i = 0; i < n_vm_backends; i++) {
		struct json_object *e = json_object_new_object();
		struct lb_backend_spec bs;
		struct lb_vip_spec vs;
		uint64_t mac = 0;

		lb_backend_ident(vm_backends[i].be, &vs, &bs);
		for (unsigned int k = 0; k < 6; k++)
			mac = mac << 8 | bs.mac[k];
		json_object_object_add(e, "vm", json_object_new_string(vm_backends[i].vm));
		json_object_object_add(e, "vip_addr", json_object_new_uint64(vs.addr));
		json_object_object_add(e, "vip_port", json_object_new_uint64(vs.port));
		json_object_object_add(e, "proto", json_object_new_uint64(vs.proto));
		json_object_object_add(e, "mac", json_object_new_uint64(mac));
		json_object_object_add(e, "addr", json_object_new_uint64(bs.addr));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "vm_backends", arr);
	return o;
}

static uint64_t vmb_u64(struct json_object *o, const char *k, uint64_t max, bool *ok)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0 || json_object_get_uint64(v) > max) {
		*ok = false;
		return 0;
	}
	return json_object_get_uint64(v);
}

/* Links backends restored by lb_state_restore() to their VMs again; unknown ones are skipped. */
static void restore_vm_backends(struct daemon *d, struct json_object *arr)
{
	for (size_t i = 0; json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *vm;
		struct lb_vip *vip;
		struct lb_backend *be;
		uint8_t mac[6];
		bool ok = true;
		uint64_t m;
		uint32_t vaddr = (uint32_t)vmb_u64(e, "vip_addr", UINT32_MAX, &ok);
		uint16_t vport = (uint16_t)vmb_u64(e, "vip_port", UINT16_MAX, &ok);
		uint8_t proto = (uint8_t)vmb_u64(e, "proto", UINT8_MAX, &ok);
		uint32_t addr = (uint32_t)vmb_u64(e, "addr", UINT32_MAX, &ok);

		m = vmb_u64(e, "mac", (1ull << 48) - 1, &ok);
		if (!ok || !json_object_object_get_ex(e, "vm", &vm) ||
		    !json_object_is_type(vm, json_type_string) ||
		    (size_t)json_object_get_string_len(vm) >= sizeof(vm_backends[0].vm) ||
		    n_vm_backends == MAX_VM_BACKENDS)
			continue;
		for (unsigned int k = 0; k < 6; k++)
			mac[k] = (uint8_t)(m >> (40 - 8 * k));
		vip = lb_vip_find(d->lb, vaddr, vport, proto);
		be = vip ? lb_backend_find(vip, mac, addr) : NULL;
		if (!be)
			continue;
		snprintf(vm_backends[n_vm_backends].vm, sizeof(vm_backends[0].vm), "%s",
			 json_object_get_string(vm));
		vm_backends[n_vm_backends++].be = be;
	}
}

/* lb_state_restore(), then the backends that follow a VM. */
static int restore_state(struct daemon *d, struct json_object *o, unsigned int *ret_vips,
			 unsigned int *ret_flows, unsigned int *ret_skipped)
{
	int r = lb_state_restore(d->lb, o, ret_vips, ret_flows, ret_skipped);
	struct json_object *vmb;

	for (unsigned int i = 0; i < *ret_vips; i++)
		set_active(d, 1);
	if (r)
		return r;
	if (json_object_object_get_ex(o, "vm_backends", &vmb))
		restore_vm_backends(d, vmb);
	return 0;
}

/**
 * services_handover_restore() - the services, backends and flows of the process we take over
 * from, and which backends follow a VM.
 * Context: control thread, before forwarding starts. Return: 0 or -errno.
 */
int services_handover_restore(struct daemon *d, struct json_object *o)
{
	unsigned int nvips, nflows, skipped;
	int r = restore_state(d, o, &nvips, &nflows, &skipped);

	if (r)
		return r;
	log_info("hand-over: %u services, %u flows taken over%s", nvips, nflows,
		 skipped ? " (some flows skipped: their tuple was taken)" : "");
	return 0;
}

/**
 * services_checkpoint_restore() - the same from a checkpoint a previous process wrote
 * (daemon/checkpoint.c), all or nothing: when it fails, the services it restored so far are
 * removed again, so a damaged file leaves a clean start.
 * Context: control thread, at start, before any port is added. Return: 0 or -errno, with
 * the services and flows restored in *@ret_vips and *@ret_flows.
 */
int services_checkpoint_restore(struct daemon *d, struct json_object *o, unsigned int *ret_vips,
				unsigned int *ret_flows)
{
	unsigned int skipped;
	int r = restore_state(d, o, ret_vips, ret_flows, &skipped);

	if (r) {
		set_active(d, -(int)lb_vips_clear(d->lb));
		n_vm_backends = 0;
		*ret_vips = *ret_flows = 0;
	}
	return r;
}

/* VIPs the config file declared at the last start or reload: a reload removes those it lost. */
static struct config_vip *cfg_vips;
static unsigned int n_cfg_vips;

static struct lb_vip *vip_by_text(struct daemon *d, const char *text)
{
	struct lb_vip_spec spec;
	char err[128];

	if (lb_vip_spec_parse(text, &spec, err, sizeof(err)))
		return NULL;
	return lb_vip_find(d->lb, spec.addr, spec.port, spec.proto);
}

static const struct config_vip *cfg_find(const struct config_vip *list, unsigned int n, const char *spec)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(list[i].spec, spec) == 0)
			return &list[i];
	return NULL;
}

static void drop_missing_backends(struct daemon *d, struct lb_vip *vip, const struct config_vip *old,
				  const struct config_vip *want)
{
	for (unsigned int k = 0; old && k < old->nbackends; k++) {
		struct lb_backend_spec o;
		bool kept = false;
		char err[128];

		if (lb_backend_spec_parse(old->backends[k].spec, &o, err, sizeof(err)))
			continue;
		for (unsigned int j = 0; j < want->nbackends && !kept; j++) {
			struct lb_backend_spec n;

			kept = !lb_backend_spec_parse(want->backends[j].spec, &n, err, sizeof(err)) &&
			       !memcmp(n.mac, o.mac, 6) && n.addr == o.addr;
		}
		if (!kept) {
			struct lb_backend *be = lb_backend_find(vip, o.mac, o.addr);

			if (be) {
				forget_backend(be);
				(void)lb_backend_del(d->lb, be);
			}
		}
	}
}

/**
 * services_apply_config() - make the config file's [vip] sections true: add what is new,
 * remove what the file no longer declares (VIPs and backends), update weights. Services
 * added through the control socket are left alone.
 * Context: control thread. Return: 0, or the first error (logged; the rest is still applied).
 */
int services_apply_config(struct daemon *d, const struct config *c)
{
	struct config_vip *keep;
	int first = 0;

	for (unsigned int i = 0; i < n_cfg_vips; i++)
		if (!cfg_find(c->vips, c->nvips, cfg_vips[i].spec)) {
			struct lb_vip *vip = vip_by_text(d, cfg_vips[i].spec);

			if (vip && lb_vip_del(d->lb, vip) == 0) {
				set_active(d, -1);
				log_info("VIP %s removed (no longer in the config file)", cfg_vips[i].spec);
			}
		}
	for (unsigned int i = 0; i < c->nvips; i++) {
		const struct config_vip *want = &c->vips[i];
		struct lb_vip *vip = vip_by_text(d, want->spec);
		char err[192];
		int r = 0;

		if (!vip) {
			r = vip_add(d, want->spec, want->algo, err, sizeof(err));
			vip = r ? NULL : vip_by_text(d, want->spec);
		} else {
			drop_missing_backends(d, vip, cfg_find(cfg_vips, n_cfg_vips, want->spec), want);
		}
		for (unsigned int k = 0; vip && !r && k < want->nbackends; k++)
			r = backend_add(d, vip, want->backends[k].spec, want->backends[k].vm, err, sizeof(err));
		if (r) {
			log_error("config [vip %s]: %s", want->spec, err);
			first = first ? first : r;
		}
	}
	keep = c->nvips ? malloc(sizeof(*keep) * c->nvips) : NULL;
	if (keep)
		memcpy(keep, c->vips, sizeof(*keep) * c->nvips);
	free(cfg_vips);
	cfg_vips = keep;
	n_cfg_vips = keep ? c->nvips : 0;
	return first;
}
