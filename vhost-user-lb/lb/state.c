// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The load balancer's state as JSON, for the hand-over upgrade (daemon/handover.c): every
 * service, its backends in order with their weight and up/down state, its Maglev table as it
 * is (the build is sticky, so a table depends on the order of past changes, which adding
 * today's backends again would not reproduce), and every live flow with its backend. A new process restores the flows before it forwards a frame, so an established
 * flow keeps its backend whatever the selection would pick for it now.
 *
 * The hash key goes along too: it decides which Maglev slot a tuple falls in, so with it a
 * flow the table does not know (a mid-stream pickup, a flow opened meanwhile) still gets the
 * backend the old process would have chosen.
 *
 * Times are CLOCK_MONOTONIC seconds (the workers' clock), which both processes share, so a
 * flow's idle timer carries on where it was.
 *
 * The JSON comes from the old process, which the new one trusts no more than a frontend:
 * every service and backend goes through lb_vip_add()/lb_backend_add()'s checks, and a flow
 * names its service and backend by index, checked against what was restored.
 */
#include "lb/lb_internal.h"

#include <json-c/json.h>
#include <stdlib.h>

#define LB_F_ALL (LB_F_SYN_O | LB_F_SYN_R | LB_F_FIN_O | LB_F_FIN_R | LB_F_RST | LB_F_REPLIED)

static const char hexdig[] = "0123456789abcdef";

/* A Maglev table as text: 4 hex digits per slot. */
static struct json_object *slots_json(const uint16_t *slots, uint32_t n)
{
	struct json_object *o;
	char *s = malloc((size_t)n * 4 + 1);

	if (!s)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		for (unsigned int k = 0; k < 4; k++)
			s[4 * i + k] = hexdig[(slots[i] >> (12 - 4 * k)) & 0xf];
	s[(size_t)n * 4] = '\0';
	o = json_object_new_string(s);
	free(s);
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes @n slots, each LB_MG_NONE or a backend index below @nbes. Return: 0 or -EPROTO. */
static int slots_parse(struct json_object *o, uint32_t n, uint32_t nbes, uint16_t *slots)
{
	const char *s = json_object_get_string(o);

	if (!json_object_is_type(o, json_type_string) ||
	    (size_t)json_object_get_string_len(o) != (size_t)n * 4)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = 0;

		for (unsigned int k = 0; k < 4; k++) {
			int d = hexval(s[4 * i + k]);

			if (d < 0)
				return -EPROTO;
			v = v << 4 | (uint32_t)d;
		}
		if (v != LB_MG_NONE && v >= nbes)
			return -EPROTO;
		slots[i] = (uint16_t)v;
	}
	return 0;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* An unsigned integer field no larger than @max; *@ok goes false (for good) otherwise. */
static uint64_t get_max(struct json_object *o, const char *k, uint64_t max, bool *ok)
{
	struct json_object *v;
	uint64_t u;

	/* json-c reads -1 as 0 through get_uint64: look at the signed value first. */
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0) {
		*ok = false;
		return 0;
	}
	u = json_object_get_uint64(v);
	if (u > max)
		*ok = false;
	return u;
}

static uint64_t get_u64(struct json_object *o, const char *k, bool *ok)
{
	return get_max(o, k, UINT64_MAX, ok);
}

static uint64_t mac_u64(const uint8_t mac[6])
{
	uint64_t w = 0;

	for (unsigned int i = 0; i < 6; i++)
		w = w << 8 | mac[i];
	return w;
}

struct save_ctx {
	struct lb *lb;
	struct json_object *flows;
};

static void save_flow(struct lb_flow *fl, void *arg)
{
	struct save_ctx *c = arg;
	struct json_object *o;
	unsigned int v, b;

	for (v = 0; v < c->lb->nvips && c->lb->vips[v] != fl->vip; v++)
		;
	if (v == c->lb->nvips)
		return;
	for (b = 0; b < fl->vip->nbes && fl->vip->bes[b] != fl->be; b++)
		;
	if (b == fl->vip->nbes)
		return;
	o = json_object_new_object();
	add_u64(o, "vip", v);
	add_u64(o, "backend", b);
	add_u64(o, "addr", fl->fn[0].key.saddr);
	add_u64(o, "port", fl->fn[0].key.sport);
	add_u64(o, "flags", __atomic_load_n(&fl->flags, __ATOMIC_RELAXED));
	add_u64(o, "last_s", __atomic_load_n(&fl->last_s, __ATOMIC_RELAXED));
	add_u64(o, "created_s", fl->created_s);
	json_object_array_add(c->flows, o);
}

/**
 * lb_state_save() - services, backends and flows of @lb, for lb_state_restore() in another
 * process.
 * Context: control thread, RCU read side. For a hand-over, with forwarding stopped (a flow a
 * worker created meanwhile would be missing). With workers forwarding (the checkpoint,
 * daemon/checkpoint.c) it is still safe: only this thread takes flows out of LIVE, so the
 * flows walked stay allocated, their tuple, service and backend were set before they went
 * LIVE and never change, and flags and last-seen time are read atomically.
 * Return: a new JSON object (the caller puts it), or NULL.
 */
struct json_object *lb_state_save(struct lb *lb)
{
	struct json_object *o = json_object_new_object(), *vips = json_object_new_array();
	struct save_ctx c = { .lb = lb, .flows = json_object_new_array() };

	if (!o || !vips || !c.flows) {
		json_object_put(o);
		json_object_put(vips);
		json_object_put(c.flows);
		return NULL;
	}
	for (unsigned int v = 0; v < lb->nvips; v++) {
		const struct lb_vip *vip = lb->vips[v];
		struct json_object *vo = json_object_new_object(), *bes = json_object_new_array();

		add_u64(vo, "addr", vip->addr);
		add_u64(vo, "port", vip->port);
		add_u64(vo, "proto", vip->proto);
		add_u64(vo, "algo", vip->algo);
		add_u64(vo, "table_size", vip->table_size);
		for (unsigned int b = 0; b < vip->nbes; b++) {
			const struct lb_backend *be = vip->bes[b];
			struct json_object *bo = json_object_new_object();

			add_u64(bo, "mac", mac_u64(be->mac));
			add_u64(bo, "addr", be->addr);
			add_u64(bo, "port", be->port_spec);
			add_u64(bo, "weight", be->weight);
			json_object_object_add(bo, "up", json_object_new_boolean(
				__atomic_load_n(&be->up, __ATOMIC_RELAXED)));
			json_object_array_add(bes, bo);
		}
		json_object_object_add(vo, "backends", bes);
		if (vip->algo == LB_ALGO_MAGLEV && vip->tab && vip->tab->maglev)
			json_object_object_add(vo, "maglev", slots_json(vip->tab->maglev, vip->tab->msize));
		json_object_array_add(vips, vo);
	}
	lb_flows_foreach_rcu(&lb->flows, save_flow, &c);
	add_u64(o, "key0", lb->seed[0]);
	add_u64(o, "key1", lb->seed[1]);
	json_object_object_add(o, "vips", vips);
	json_object_object_add(o, "flows", c.flows);
	return o;
}

void lb_backend_ident(const struct lb_backend *be, struct lb_vip_spec *ret_vip,
		      struct lb_backend_spec *ret_be)
{
	*ret_vip = (struct lb_vip_spec){ .addr = be->vip->addr, .port = be->vip->port,
					 .proto = be->vip->proto, .algo = be->vip->algo,
					 .table_size = be->vip->table_size };
	*ret_be = (struct lb_backend_spec){ .addr = be->addr, .port = be->port_spec,
					    .weight = be->weight };
	memcpy(ret_be->mac, be->mac, 6);
}

static struct lb_backend *pick_given(void *opaque)
{
	return opaque;
}

static int restore_vip(struct lb *lb, struct json_object *vo)
{
	struct json_object *bes, *mg;
	struct lb_vip_spec spec = { 0 };
	struct lb_vip *vip;
	bool ok = true;
	uint64_t algo;
	int r;

	spec.addr = (uint32_t)get_max(vo, "addr", UINT32_MAX, &ok);
	spec.port = (uint16_t)get_max(vo, "port", UINT16_MAX, &ok);
	spec.proto = (uint8_t)get_max(vo, "proto", UINT8_MAX, &ok);
	algo = get_max(vo, "algo", LB_ALGO__MAX - 1, &ok);
	spec.table_size = (uint32_t)get_max(vo, "table_size", UINT32_MAX, &ok);
	if (!ok || !json_object_object_get_ex(vo, "backends", &bes) ||
	    !json_object_is_type(bes, json_type_array))
		return -EPROTO;
	spec.algo = (enum lb_algo)algo;
	if (json_object_array_length(bes) > LB_MAX_BACKENDS)
		return -EPROTO;
	r = lb_vip_add(lb, &spec, &vip);
	for (size_t b = 0; !r && b < json_object_array_length(bes); b++) {
		struct json_object *bo = json_object_array_get_idx(bes, b);
		struct lb_backend_spec bs = { 0 };
		uint64_t mac = get_max(bo, "mac", (1ull << 48) - 1, &ok);

		for (unsigned int i = 0; i < 6; i++)
			bs.mac[i] = (uint8_t)(mac >> (40 - 8 * i));
		bs.addr = (uint32_t)get_max(bo, "addr", UINT32_MAX, &ok);
		bs.port = (uint16_t)get_max(bo, "port", UINT16_MAX, &ok);
		bs.weight = (uint16_t)get_max(bo, "weight", LB_WEIGHT_MAX, &ok);
		if (!ok)
			return -EPROTO;
		r = lb_backend_add(lb, vip, &bs, NULL);
	}
	/* Down only once all are in, as the old process had them when it took some down. */
	for (size_t b = 0; !r && b < json_object_array_length(bes); b++) {
		struct json_object *up;

		if (json_object_object_get_ex(json_object_array_get_idx(bes, b), "up", &up) &&
		    !json_object_get_boolean(up))
			r = lb_backend_set_up(lb, vip->bes[b], false);
		r = r > 0 ? 0 : r;   /* it reports the flows it removed: none yet */
	}
	if (!r && vip->algo == LB_ALGO_MAGLEV && json_object_object_get_ex(vo, "maglev", &mg)) {
		uint16_t *slots = malloc(vip->table_size * sizeof(*slots));

		r = slots ? slots_parse(mg, vip->table_size, vip->nbes, slots) : -ENOMEM;
		if (!r)
			r = lb_vip_publish_from(vip, slots);
		free(slots);
	}
	return r;
}

/*
 * Flows whose service or backend is gone, or whose tuple is taken, are skipped: the
 * frames of such a flow are then treated as a new flow's, as they would be after expiry.
 */
static int restore_flow(struct lb *lb, unsigned int vips_before, struct json_object *fo)
{
	struct lb_vip *vip;
	struct lb_backend *be;
	struct lb_tuple t = { 0 };
	struct lb_flow *fl;
	uint64_t v, b, addr, port, flags, last_s, created_s;
	bool ok = true;
	int r;

	v = get_u64(fo, "vip", &ok);
	b = get_u64(fo, "backend", &ok);
	addr = get_max(fo, "addr", UINT32_MAX, &ok);
	port = get_max(fo, "port", UINT16_MAX, &ok);
	flags = get_max(fo, "flags", LB_F_ALL, &ok);
	last_s = get_u64(fo, "last_s", &ok);
	created_s = get_u64(fo, "created_s", &ok);
	if (!ok || v >= lb->nvips - vips_before || (flags & ~(uint64_t)LB_F_ALL))
		return -EPROTO;
	vip = lb->vips[vips_before + v];
	if (b >= vip->nbes)
		return -EPROTO;
	be = vip->bes[b];
	t = (struct lb_tuple){ .saddr = (uint32_t)addr, .daddr = vip->addr, .sport = (uint16_t)port,
			       .dport = vip->port, .proto = vip->proto, .dir = 0 };
	r = lb_flow_create_rcu(&lb->flows, &t, lb_tuple_hash(lb->flows.key, &t), vip, pick_given, be,
			       last_s, &fl);
	if (r)
		return r == 1 ? -EEXIST : r;
	/* Workers are not forwarding yet: nobody else writes these. */
	__atomic_store_n(&fl->flags, (uint32_t)flags, __ATOMIC_RELAXED);
	fl->created_s = created_s;
	return 0;
}

/**
 * lb_state_restore() - add the services, backends and flows lb_state_save() described to
 * @lb. Services that already exist make it fail (-EEXIST): restore into a fresh @lb.
 * Context: control thread, RCU read side, before any worker forwards a frame to a service.
 * Return: 0 or -errno; *@ret_vips (services added, also on failure) and *@ret_flows (flows
 * restored; the others are skipped and *@ret_skipped counts them).
 */
int lb_state_restore(struct lb *lb, struct json_object *o, unsigned int *ret_vips,
		     unsigned int *ret_flows, unsigned int *ret_skipped)
{
	struct json_object *vips, *flows;
	unsigned int before = lb->nvips;
	bool ok = true;
	uint64_t key[2];
	int r = 0;

	*ret_vips = *ret_flows = *ret_skipped = 0;
	if (!json_object_object_get_ex(o, "vips", &vips) || !json_object_is_type(vips, json_type_array) ||
	    !json_object_object_get_ex(o, "flows", &flows) || !json_object_is_type(flows, json_type_array))
		return -EPROTO;
	key[0] = get_u64(o, "key0", &ok);
	key[1] = get_u64(o, "key1", &ok);
	/* The key can change only while no flow is hashed with it. */
	if (ok && (key[0] || key[1]) && !lb->nvips && !__atomic_load_n(&lb->flows.count, __ATOMIC_RELAXED)) {
		memcpy(lb->seed, key, sizeof(key));
		memcpy(lb->flows.key, key, sizeof(key));
	}
	for (size_t i = 0; !r && i < json_object_array_length(vips); i++) {
		unsigned int n = lb->nvips;

		r = restore_vip(lb, json_object_array_get_idx(vips, i));
		*ret_vips += lb->nvips - n;
	}
	if (r)
		return r;
	for (size_t i = 0; i < json_object_array_length(flows); i++) {
		r = restore_flow(lb, before, json_object_array_get_idx(flows, i));
		if (r == -EPROTO)
			return r;
		if (r)
			(*ret_skipped)++;
		else
			(*ret_flows)++;
	}
	return 0;
}
