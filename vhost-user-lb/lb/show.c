// SPDX-License-Identifier: GPL-2.0-or-later
/* Text and JSON forms: `vip show`, and parsing of VIP and backend specs for the CLI/config. */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "lb/lb_internal.h"

static const char *const algo_names[LB_ALGO__MAX] = {
	[LB_ALGO_MAGLEV] = "maglev",
	[LB_ALGO_LEAST_LOAD] = "least-load",
	[LB_ALGO_WRR] = "wrr",
};

const char *lb_algo_name(enum lb_algo algo)
{
	return (unsigned int)algo < LB_ALGO__MAX ? algo_names[algo] : "?";
}

/* Return: 0 or -EINVAL. Also accepts "least_load" and "round-robin"/"rr". */
int lb_algo_parse(const char *s, enum lb_algo *ret)
{
	for (unsigned int a = 0; a < LB_ALGO__MAX; a++)
		if (!strcasecmp(s, algo_names[a])) {
			*ret = (enum lb_algo)a;
			return 0;
		}
	if (!strcasecmp(s, "least_load") || !strcasecmp(s, "leastload")) {
		*ret = LB_ALGO_LEAST_LOAD;
		return 0;
	}
	if (!strcasecmp(s, "round-robin") || !strcasecmp(s, "rr")) {
		*ret = LB_ALGO_WRR;
		return 0;
	}
	return -EINVAL;
}

static void fmt_addr(uint32_t addr, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
		 addr & 255);
}

static void fmt_mac(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static void add_counters(struct json_object *o, const struct lb_counters *c)
{
	add_u64(o, "new_flows", c->new_flows);
	add_u64(o, "packets_in", c->pkts_in);
	add_u64(o, "bytes_in", c->bytes_in);
	add_u64(o, "packets_out", c->pkts_out);
	add_u64(o, "bytes_out", c->bytes_out);
}

static void count_state(struct lb_flow *fl, void *arg)
{
	(void)arg;
	fl->be->show_states[lb_flow_state(fl->fn[0].key.proto,
					  __atomic_load_n(&fl->flags, __ATOMIC_RELAXED))]++;
}

static struct json_object *backend_json(const struct lb_vip *vip, struct lb_backend *be)
{
	struct json_object *o = json_object_new_object(), *st = json_object_new_object();
	struct lb_counters c;
	char buf[32];

	fmt_mac(be->mac, buf, sizeof(buf));
	add_str(o, "mac", buf);
	fmt_addr(be->addr, buf, sizeof(buf));
	add_str(o, "address", buf);
	add_u64(o, "port", be->port);
	add_u64(o, "weight", be->weight);
	add_str(o, "state", !__atomic_load_n(&be->up, __ATOMIC_RELAXED) ? "down"
			    : be->weight ? "up" : "drain");
	if (!be->vm_up || !be->link_up)
		add_str(o, "down_because", !be->vm_up ? "vm stopped" : "no guest on its port");
	/* Whether the switch knows which port the backend is behind (its MAC was seen). */
	json_object_object_add(o, "bound", json_object_new_boolean(
		__atomic_load_n(&be->dp_port, __ATOMIC_RELAXED) != NULL));
	add_u64(o, "active_flows", lb_backend_active_flows(be));
	if (vip->algo == LB_ALGO_MAGLEV)
		add_u64(o, "table_entries", be->table_entries);
	add_u64(o, "load_us", __atomic_load_n(&be->load_us, __ATOMIC_RELAXED));
	lb_backend_counters(be, &c);
	add_counters(o, &c);
	for (unsigned int s = 0; s < LB_FS__MAX; s++)
		if (be->show_states[s])
			add_u64(st, lb_flow_state_names[s], be->show_states[s]);
	json_object_object_add(o, "flow_states", st);
	return o;
}

/**
 * lb_show_json() - what `vip show` prints: per VIP its address, algorithm, counters, and its
 * backends with weights, state, flows (active, and by TCP state) and counters.
 * Walks the flow table once for the per-state counts.
 * Context: control thread, RCU read side. Return: a new JSON object (caller puts it), or NULL.
 */
struct json_object *lb_show_json(struct lb *lb)
{
	struct json_object *o = json_object_new_object(), *arr, *drops;
	char buf[64];

	if (!o)
		return NULL;
	for (unsigned int v = 0; v < lb->nvips; v++)
		for (unsigned int b = 0; b < lb->vips[v]->nbes; b++)
			memset(lb->vips[v]->bes[b]->show_states, 0,
			       sizeof(lb->vips[v]->bes[b]->show_states));
	lb_flows_foreach_rcu(&lb->flows, count_state, NULL);

	fmt_mac(lb->vmac, buf, sizeof(buf));
	add_str(o, "vmac", buf);
	add_u64(o, "flows", lb_flow_count(lb));
	add_u64(o, "max_flows", lb->flows.max);
	drops = json_object_new_object();
	for (unsigned int d = 0; d < LB_DROP__MAX; d++)
		add_u64(drops, lb_drop_names[d], lb_drops(lb, (enum lb_drop)d));
	json_object_object_add(o, "drops", drops);
	arr = json_object_new_array();
	for (unsigned int v = 0; v < lb->nvips; v++) {
		struct lb_vip *vip = lb->vips[v];
		struct json_object *vo = json_object_new_object(), *bes = json_object_new_array();
		const char *proto = vip->proto == LB_PROTO_TCP ? "tcp" : "udp";
		struct lb_counters c;
		uint64_t refused, active = 0;
		char addr[16];

		fmt_addr(vip->addr, addr, sizeof(addr));
		snprintf(buf, sizeof(buf), "%s:%u/%s", addr, vip->port, proto);
		add_str(vo, "vip", buf);
		add_str(vo, "address", addr);
		add_u64(vo, "port", vip->port);
		add_str(vo, "proto", proto);
		add_str(vo, "algorithm", lb_algo_name(vip->algo));
		if (vip->algo == LB_ALGO_MAGLEV)
			add_u64(vo, "table_size", vip->table_size);
		for (unsigned int b = 0; b < vip->nbes; b++) {
			json_object_array_add(bes, backend_json(vip, vip->bes[b]));
			active += lb_backend_active_flows(vip->bes[b]);
		}
		lb_vip_counters(vip, &c, &refused);
		add_u64(vo, "active_flows", active);
		add_counters(vo, &c);
		add_u64(vo, "refused", refused);
		json_object_object_add(vo, "backends", bes);
		json_object_array_add(arr, vo);
	}
	json_object_object_add(o, "vips", arr);
	return o;
}

static void set_why(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static int parse_u32(const char *s, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int parse_addr(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = ntohl(a.s_addr);
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		char *end;
		unsigned long v;

		if (!((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f') ||
		      (s[0] >= 'A' && s[0] <= 'F')))
			return -EINVAL;
		v = strtoul(s, &end, 16);
		if (end - s > 2 || v > 255 || *end != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v;
		s = end + 1;
	}
	return 0;
}

/**
 * lb_vip_spec_parse() - "ADDR:PORT[/tcp|/udp][,algo=NAME][,table=PRIME]" (tcp by default).
 * Checks syntax only; lb_vip_add() checks the rest.
 * Context: any thread. Return: 0 or -EINVAL with a reason in @why.
 */
int lb_vip_spec_parse(const char *s, struct lb_vip_spec *ret, char *why, size_t why_len)
{
	char buf[128], *opt, *colon, *slash, *save = NULL;
	struct lb_vip_spec spec = { .proto = LB_PROTO_TCP, .algo = LB_ALGO_MAGLEV };
	uint32_t v;

	if (strlen(s) >= sizeof(buf)) {
		set_why(why, why_len, "VIP spec too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	opt = strchr(buf, ',');
	if (opt)
		*opt++ = '\0';
	slash = strchr(buf, '/');
	if (slash) {
		*slash++ = '\0';
		if (!strcasecmp(slash, "tcp")) {
			spec.proto = LB_PROTO_TCP;
		} else if (!strcasecmp(slash, "udp")) {
			spec.proto = LB_PROTO_UDP;
		} else {
			set_why(why, why_len, "protocol '%s': tcp or udp", slash);
			return -EINVAL;
		}
	}
	colon = strrchr(buf, ':');
	if (!colon) {
		set_why(why, why_len, "VIP '%s' needs ADDR:PORT", buf);
		return -EINVAL;
	}
	*colon++ = '\0';
	if (parse_addr(buf, &spec.addr)) {
		set_why(why, why_len, "'%s' is not an IPv4 address", buf);
		return -EINVAL;
	}
	if (parse_u32(colon, 65535, &v) || !v) {
		set_why(why, why_len, "port '%s': 1..65535", colon);
		return -EINVAL;
	}
	spec.port = (uint16_t)v;
	for (char *kv = opt ? strtok_r(opt, ",", &save) : NULL; kv; kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "algo=", 5)) {
			if (lb_algo_parse(kv + 5, &spec.algo)) {
				set_why(why, why_len, "algorithm '%s': maglev, least-load or wrr", kv + 5);
				return -EINVAL;
			}
		} else if (!strncmp(kv, "table=", 6)) {
			if (parse_u32(kv + 6, LB_MAGLEV_MAX, &spec.table_size) ||
			    spec.table_size < LB_MAGLEV_MIN || !lb_is_prime(spec.table_size)) {
				set_why(why, why_len, "table size '%s': a prime in %u..%u", kv + 6,
					LB_MAGLEV_MIN, LB_MAGLEV_MAX);
				return -EINVAL;
			}
		} else {
			set_why(why, why_len, "unknown VIP option '%s'", kv);
			return -EINVAL;
		}
	}
	*ret = spec;
	return 0;
}

/**
 * lb_backend_spec_parse() - "mac=MAC,ip=ADDR[,port=PORT][,weight=W]" (weight 100 by default).
 * Context: any thread. Return: 0 or -EINVAL with a reason in @why.
 */
int lb_backend_spec_parse(const char *s, struct lb_backend_spec *ret, char *why, size_t why_len)
{
	struct lb_backend_spec spec = { .weight = LB_DEFAULT_WEIGHT };
	char buf[160], *save = NULL;
	bool have_mac = false, have_ip = false;
	uint32_t v;

	if (strlen(s) >= sizeof(buf)) {
		set_why(why, why_len, "backend spec too long");
		return -EINVAL;
	}
	strcpy(buf, s);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "mac=", 4)) {
			if (parse_mac(kv + 4, spec.mac)) {
				set_why(why, why_len, "'%s' is not a MAC address", kv + 4);
				return -EINVAL;
			}
			have_mac = true;
		} else if (!strncmp(kv, "ip=", 3)) {
			if (parse_addr(kv + 3, &spec.addr)) {
				set_why(why, why_len, "'%s' is not an IPv4 address", kv + 3);
				return -EINVAL;
			}
			have_ip = true;
		} else if (!strncmp(kv, "port=", 5)) {
			if (parse_u32(kv + 5, 65535, &v) || !v) {
				set_why(why, why_len, "port '%s': 1..65535", kv + 5);
				return -EINVAL;
			}
			spec.port = (uint16_t)v;
		} else if (!strncmp(kv, "weight=", 7)) {
			if (parse_u32(kv + 7, LB_WEIGHT_MAX, &v)) {
				set_why(why, why_len, "weight '%s': 0..%u", kv + 7, LB_WEIGHT_MAX);
				return -EINVAL;
			}
			spec.weight = (uint16_t)v;
		} else {
			set_why(why, why_len, "unknown backend option '%s'", kv);
			return -EINVAL;
		}
	}
	if (!have_mac || !have_ip) {
		set_why(why, why_len, "a backend needs mac= and ip=");
		return -EINVAL;
	}
	*ret = spec;
	return 0;
}
