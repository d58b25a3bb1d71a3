// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The load balancer's hand-over state (lb/state.c): saved from one balancer and restored into
 * a fresh one (another hash key, as a new process has), every flow keeps its backend and its
 * TCP state, new tuples get the backend the old balancer would have picked, down and drained
 * backends stay so, the Maglev table is the same table; and state from a hostile or broken sender is refused (indices out of
 * range, unknown flag bits, unknown algorithm, a service that exists already) without
 * leaving a half-made flow.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "check.h"
#include "lb/lb_internal.h"
#include "test_lb_frames.h"

#define VIP 0x0a000064u
#define CLIENT 0x0a000032u
#define NFLOWS 200

static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t cmac[6] = { 0x52, 0x54, 0, 0, 0, 0x32 };

static struct lb *make_lb(uint64_t seed)
{
	struct lb_config cfg = { .max_flows = 1024, .hash_seed = { seed, seed + 1 } };
	struct lb *lb;

	return lb_new(&cfg, &lb) ? NULL : lb;
}

/* A client frame of flow @sport; returns the backend address it was sent to (0: not sent). */
static uint32_t client_frame(struct lb *lb, uint16_t sport, uint8_t flags, uint64_t now)
{
	struct tf_spec s = { .saddr = CLIENT, .daddr = VIP, .proto = 6, .sport = sport, .dport = 80,
			     .tcp_flags = flags, .payload = 4, .seed = sport };
	uint8_t buf[128];
	struct lb_verdict v;
	uint32_t len;

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, cmac, 6);
	len = tf_build(buf, &s);
	if (lb_process_rcu(lb, 0, buf, len, len, 0, now, &v) != LB_TO_BACKEND)
		return 0;
	return tf_get32(buf + 30);
}

/* A round trip through text, as the hand-over sends it. */
static struct json_object *save_text(struct lb *lb)
{
	struct json_object *o = lb_state_save(lb), *back;

	back = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return back;
}

static struct lb *populated(struct lb_backend **bes)
{
	struct lb_vip_spec vs = { .addr = VIP, .port = 80, .proto = 6, .algo = LB_ALGO_MAGLEV };
	struct lb *lb = make_lb(11);
	struct lb_vip *vip;

	if (!lb || lb_vip_add(lb, &vs, &vip))
		return NULL;
	for (unsigned int i = 0; i < 4; i++) {
		struct lb_backend_spec b = { .mac = { 0x52, 0x54, 0, 0, 1, (uint8_t)i },
					     .addr = 0x0a000100u + i, .weight = i == 3 ? 50 : 100 };

		if (lb_backend_add(lb, vip, &b, &bes[i]))
			return NULL;
	}
	return lb;
}

static void test_round_trip(void)
{
	struct lb_backend *bes[4];
	struct lb *a = populated(bes), *b = make_lb(99);
	uint32_t before[NFLOWS], fresh[NFLOWS];
	unsigned int nvips, nflows, skipped, moved = 0, fresh_moved = 0, to_down = 0;
	struct json_object *st;
	struct lb_vip *vip;
	int r;

	CHECK(a && b, "two balancers");
	if (!a || !b)
		return;
	for (unsigned int i = 0; i < NFLOWS; i++)
		before[i] = client_frame(a, (uint16_t)(1000 + i), LB_TCP_SYN, 100);
	/* Established: the backends answered the first half (state must survive). */
	for (unsigned int i = 0; i < NFLOWS / 2; i++) {
		struct lb_flow *fl;
		struct lb_tuple t = { .saddr = CLIENT, .daddr = VIP, .sport = (uint16_t)(1000 + i),
				      .dport = 80, .proto = 6 };

		fl = lb_flow_lookup_rcu(&a->flows, &t, lb_tuple_hash(a->flows.key, &t));
		if (fl)
			lb_flow_seen_rcu(fl, 1, LB_TCP_SYN | LB_TCP_ACK, 100);
	}
	/* Backend 0 goes down afterwards: its flows are removed, it takes no new one. */
	CHECK(lb_backend_set_up(a, bes[0], false) >= 0, "backend 0 down");
	for (unsigned int i = 0; i < NFLOWS; i++)
		fresh[i] = client_frame(a, (uint16_t)(30000 + i), LB_TCP_SYN, 101);

	st = save_text(a);
	r = lb_state_restore(b, st, &nvips, &nflows, &skipped);
	CHECK(r == 0 && nvips == 1 && nflows == lb_flow_count(a) && skipped == 0,
	      "restored: %d, %u services, %u of %u flows, %u skipped", r, nvips, nflows,
	      lb_flow_count(a), skipped);
	CHECK(lb_flow_count(b) == lb_flow_count(a), "same flow count (%u)", lb_flow_count(b));
	vip = lb_vip_find(b, VIP, 80, 6);
	CHECK(vip && vip->nbes == 4 && !vip->bes[0]->up && vip->bes[3]->weight == 50 &&
	      vip->bes[1]->up, "backends in order, backend 0 down, backend 3 at weight 50");
	for (unsigned int i = 0; i < NFLOWS; i++) {
		uint32_t now = client_frame(b, (uint16_t)(1000 + i), LB_TCP_ACK, 102);

		if (before[i] == 0x0a000100u)
			to_down += now == before[i];
		else
			moved += now != before[i];
		fresh_moved += client_frame(b, (uint16_t)(30000 + i), LB_TCP_ACK, 102) != fresh[i];
	}
	CHECK(moved == 0, "every flow keeps its backend (%u moved)", moved);
	CHECK(to_down == 0, "none goes to the backend that is down (%u)", to_down);
	CHECK(fresh_moved == 0, "flows opened after the change too (%u moved)", fresh_moved);
	{
		struct lb_tuple t = { .saddr = CLIENT, .daddr = VIP, .sport = 1001, .dport = 80, .proto = 6 };
		struct lb_flow *fa = lb_flow_lookup_rcu(&a->flows, &t, lb_tuple_hash(a->flows.key, &t));
		struct lb_flow *fb = lb_flow_lookup_rcu(&b->flows, &t, lb_tuple_hash(b->flows.key, &t));

		CHECK(fa && fb && fb->flags == fa->flags && fb->created_s == fa->created_s &&
		      lb_flow_state(6, fb->flags) == LB_FS_ESTABLISHED,
		      "TCP state and creation time carried (established)");
	}
	/* New tuples: the hash key went along, so the same Maglev slot, the same backend. */
	{
		unsigned int same = 0;

		for (unsigned int i = 0; i < 100; i++)
			same += client_frame(a, (uint16_t)(50000 + i), LB_TCP_SYN, 103) ==
				client_frame(b, (uint16_t)(50000 + i), LB_TCP_SYN, 103);
		CHECK(same == 100, "new flows pick what the old balancer would pick (%u of 100)", same);
	}
	/* Restoring twice: the service exists already. */
	r = lb_state_restore(b, st, &nvips, &nflows, &skipped);
	CHECK(r == -EEXIST, "a second restore is refused (%d)", r);
	json_object_put(st);
	lb_free(a);
	lb_free(b);
}

/* Restores @text into a fresh balancer; returns the result, *@ret_flows the flows made. */
static int restore_text(const char *text, uint32_t *ret_flows)
{
	struct json_object *o = json_tokener_parse(text);
	struct lb *lb = make_lb(3);
	unsigned int nvips, nflows, skipped;
	int r = -EINVAL;

	if (o && lb)
		r = lb_state_restore(lb, o, &nvips, &nflows, &skipped);
	*ret_flows = lb ? lb_flow_count(lb) : 0;
	json_object_put(o);
	lb_free(lb);
	return r;
}

#define ONE_VIP "\"vips\":[{\"addr\":167772260,\"port\":80,\"proto\":6,\"algo\":0,\"table_size\":0," \
		"\"backends\":[{\"mac\":90520730730753,\"addr\":167772416,\"port\":0,\"weight\":100,\"up\":true}]}]"

static void test_hostile(void)
{
	static const struct {
		const char *what, *text;
		int want;
		uint32_t flows;
	} cases[] = {
		{ "a good flow", "{" ONE_VIP ",\"flows\":[{\"vip\":0,\"backend\":0,\"addr\":1,\"port\":2,"
		  "\"flags\":32,\"last_s\":5,\"created_s\":4}]}", 0, 1 },
		{ "no vips", "{\"flows\":[]}", -EPROTO, 0 },
		{ "no flows", "{" ONE_VIP "}", -EPROTO, 0 },
		{ "vips not an array", "{\"vips\":7,\"flows\":[]}", -EPROTO, 0 },
		{ "service index out of range", "{" ONE_VIP ",\"flows\":[{\"vip\":1,\"backend\":0,"
		  "\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "huge service index", "{" ONE_VIP ",\"flows\":[{\"vip\":-1,\"backend\":0,"
		  "\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "backend index out of range", "{" ONE_VIP ",\"flows\":[{\"vip\":0,\"backend\":1,"
		  "\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "unknown flag bits", "{" ONE_VIP ",\"flows\":[{\"vip\":0,\"backend\":0,"
		  "\"addr\":1,\"port\":2,\"flags\":4096,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "port out of range", "{" ONE_VIP ",\"flows\":[{\"vip\":0,\"backend\":0,"
		  "\"addr\":1,\"port\":70000,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "a field missing", "{" ONE_VIP ",\"flows\":[{\"vip\":0,\"backend\":0,"
		  "\"addr\":1,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "a string for a number", "{" ONE_VIP ",\"flows\":[{\"vip\":\"0\",\"backend\":0,"
		  "\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4}]}", -EPROTO, 0 },
		{ "unknown algorithm", "{\"vips\":[{\"addr\":167772260,\"port\":80,\"proto\":6,\"algo\":9,"
		  "\"table_size\":0,\"backends\":[]}],\"flows\":[]}", -EPROTO, 0 },
		{ "a weight out of range", "{\"vips\":[{\"addr\":167772260,\"port\":80,\"proto\":6,\"algo\":0,"
		  "\"table_size\":0,\"backends\":[{\"mac\":90520730730753,\"addr\":167772416,\"port\":0,"
		  "\"weight\":5000,\"up\":true}]}],\"flows\":[]}", -EPROTO, 0 },
		{ "a bad VIP (protocol 1)", "{\"vips\":[{\"addr\":167772260,\"port\":80,\"proto\":1,\"algo\":0,"
		  "\"table_size\":0,\"backends\":[]}],\"flows\":[]}", -EINVAL, 0 },
		{ "the same flow twice: one made, one skipped", "{" ONE_VIP ",\"flows\":["
		  "{\"vip\":0,\"backend\":0,\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4},"
		  "{\"vip\":0,\"backend\":0,\"addr\":1,\"port\":2,\"flags\":0,\"last_s\":5,\"created_s\":4}]}",
		  0, 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t flows = 0;
		int r = restore_text(cases[i].text, &flows);

		CHECK(r == cases[i].want && flows == cases[i].flows, "%s: %d (want %d), %u flows",
		      cases[i].what, r, cases[i].want, flows);
	}
}

/* A Maglev table of 1021 slots, all to backend 0, with slot 7 set to @bad (NULL: none). */
static void test_maglev_text(void)
{
	static const struct {
		const char *what, *slot7;
		int want;
	} cases[] = {
		{ "a whole table", "0000", 0 },
		{ "a slot of no backend (LB_MG_NONE)", "ffff", 0 },
		{ "a slot naming a backend that does not exist", "0001", -EPROTO },
		{ "a slot that is not hex", "00g0", -EPROTO },
		{ "upper case", "FFFF", -EPROTO },
		{ "a table one slot short", "", -EPROTO },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = malloc(1021 * 4 + 1024), *p = text;
		uint32_t flows;
		int r;

		p += sprintf(p, "{\"vips\":[{\"addr\":167772260,\"port\":80,\"proto\":6,\"algo\":0,"
			     "\"table_size\":1021,\"backends\":[{\"mac\":90520730730753,"
			     "\"addr\":167772416,\"port\":0,\"weight\":100,\"up\":true}],\"maglev\":\"");
		for (unsigned int s = 0; s < 1021; s++)
			p += sprintf(p, "%s", s == 7 ? cases[i].slot7 : "0000");
		sprintf(p, "\"}],\"flows\":[{\"vip\":0,\"backend\":0,\"addr\":1,\"port\":2,"
			"\"flags\":0,\"last_s\":5,\"created_s\":4}]}");
		r = restore_text(text, &flows);
		CHECK(r == cases[i].want && flows == (r ? 0u : 1u), "Maglev table: %s: %d (want %d)",
		      cases[i].what, r, cases[i].want);
		free(text);
	}
}

int main(void)
{
	rcu_register_thread();
	test_round_trip();
	test_hostile();
	test_maglev_text();
	rcu_unregister_thread();
	return check_done();
}
