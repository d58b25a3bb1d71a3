// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Flows: the TCP state machine (pure), idle timeouts per state on a fake clock, the table-full
 * behaviour, workers racing to create the same flow (they must agree on one backend), and a
 * stress run of workers forwarding while the control thread expires flows and changes
 * backends (run it under ASan/TSan-like tools to catch a use after free).
 */
#include <pthread.h>
#include <stdio.h>

#include "check.h"
#include "lb/lb_internal.h"
#include "test_lb_frames.h"

#define VIP 0x0a000064u
#define CLIENT 0x0a000032u

static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t cmac[6] = { 0x52, 0x54, 0, 0, 0, 0x32 };

static struct lb_backend_spec be_spec(unsigned int i)
{
	struct lb_backend_spec b = { .mac = { 0x52, 0x54, 0, 0, 1, (uint8_t)i },
				     .addr = 0x0a000100u + i, .weight = 100 };
	return b;
}

static struct tf_spec c2v(uint8_t proto, uint16_t sport, uint8_t flags)
{
	struct tf_spec s = { .saddr = CLIENT, .daddr = VIP, .proto = proto, .sport = sport,
			     .dport = 80, .tcp_flags = flags, .payload = 4, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, cmac, 6);
	return s;
}

static struct tf_spec b2c(uint8_t proto, uint32_t be_addr, uint16_t cport, uint8_t flags)
{
	struct tf_spec s = { .saddr = be_addr, .daddr = CLIENT, .proto = proto, .sport = 80,
			     .dport = cport, .tcp_flags = flags, .payload = 4, .seed = cport };

	memcpy(s.dmac, cmac, 6);
	return s;
}

/* ---- pure state machine ---- */

struct step {
	unsigned int dir;
	uint8_t flags;
	enum lb_flow_state want;
};

static const struct {
	const char *what;
	unsigned int n;
	struct step s[6];
} sequences[] = {
	{ "handshake", 3, { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
			    { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
			    { 0, LB_TCP_ACK, LB_FS_ESTABLISHED } } },
	{ "client closes first", 5, { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
				      { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
				      { 0, LB_TCP_FIN | LB_TCP_ACK, LB_FS_FIN_WAIT },
				      { 1, LB_TCP_ACK, LB_FS_FIN_WAIT },
				      { 1, LB_TCP_FIN | LB_TCP_ACK, LB_FS_CLOSING } } },
	{ "server closes first", 4, { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
				      { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
				      { 1, LB_TCP_FIN | LB_TCP_ACK, LB_FS_FIN_WAIT },
				      { 0, LB_TCP_FIN | LB_TCP_ACK, LB_FS_CLOSING } } },
	{ "RST from the server", 3, { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
				      { 1, LB_TCP_RST | LB_TCP_ACK, LB_FS_CLOSING },
				      { 0, LB_TCP_ACK, LB_FS_CLOSING } } },
	{ "RST from the client mid-stream", 3, { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
						 { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
						 { 0, LB_TCP_RST, LB_FS_CLOSING } } },
	{ "port reused after close: a new SYN starts over", 6,
	  { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
	    { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
	    { 0, LB_TCP_FIN, LB_FS_FIN_WAIT },
	    { 1, LB_TCP_FIN, LB_FS_CLOSING },
	    { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
	    { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED } } },
	{ "a SYN retransmit does not reset an open flow", 3,
	  { { 0, LB_TCP_SYN, LB_FS_SYN_SENT },
	    { 1, LB_TCP_SYN | LB_TCP_ACK, LB_FS_ESTABLISHED },
	    { 0, LB_TCP_SYN, LB_FS_ESTABLISHED } } },
	{ "mid-stream pickup: established once the backend answers", 2,
	  { { 0, LB_TCP_ACK, LB_FS_SYN_SENT }, { 1, LB_TCP_ACK, LB_FS_ESTABLISHED } } },
};

static void state_machine(void)
{
	for (size_t k = 0; k < ARRAY_SIZE(sequences); k++) {
		uint32_t flags = 0;
		unsigned int bad = 0;

		for (unsigned int i = 0; i < sequences[k].n; i++) {
			const struct step *st = &sequences[k].s[i];

			flags = lb_flow_update_flags(flags, LB_PROTO_TCP, st->dir, st->flags);
			if (lb_flow_state(LB_PROTO_TCP, flags) != st->want && !bad)
				bad = i + 1;
		}
		CHECK(!bad, "TCP: %s%s", sequences[k].what, bad ? " (wrong at a step)" : "");
	}
	CHECK(lb_flow_state(LB_PROTO_UDP, lb_flow_update_flags(0, LB_PROTO_UDP, 0, 0xff)) == LB_FS_UDP,
	      "UDP: flags in the payload byte mean nothing");
}

/* ---- timeouts on a fake clock ---- */

static struct lb *setup(uint32_t max_flows, struct lb_vip **ret_vip, struct lb_backend **bes,
			unsigned int nbe, enum lb_algo algo, uint8_t proto)
{
	struct lb_config cfg = { .max_flows = max_flows, .hash_seed = { 5, 6 } };
	struct lb_vip_spec vs = { .addr = VIP, .port = 80, .proto = proto, .algo = algo };
	struct lb *lb;

	if (lb_new(&cfg, &lb))
		return NULL;
	if (lb_vip_add(lb, &vs, ret_vip))
		return NULL;
	for (unsigned int i = 0; i < nbe; i++) {
		struct lb_backend_spec b = be_spec(i);

		if (lb_backend_add(lb, *ret_vip, &b, &bes[i]))
			return NULL;
	}
	return lb;
}

/* Sends one frame in direction @dir of flow @sport at time @now; returns the action. */
static enum lb_action frame(struct lb *lb, uint8_t proto, unsigned int dir, uint16_t sport,
			    uint8_t flags, uint32_t be_addr, uint64_t now)
{
	struct tf_sent t;
	struct tf_spec s = dir ? b2c(proto, be_addr, sport, flags) : c2v(proto, sport, flags);

	return tf_send(lb, &s, now, &t);
}

/* Kept at idle == timeout, gone at timeout + 1. Returns true when that held. */
static bool expires_after(struct lb *lb, uint64_t last, uint32_t timeout)
{
	uint32_t n = lb_flow_count(lb);

	if (lb_flows_expire(lb, last + timeout) != 0 || lb_flow_count(lb) != n)
		return false;
	return lb_flows_expire(lb, last + timeout + 1) == 1 && lb_flow_count(lb) == n - 1;
}

static void timeouts(void)
{
	struct lb_backend *bes[1];
	struct lb_vip *vip;
	struct lb *lb = setup(64, &vip, bes, 1, LB_ALGO_MAGLEV, LB_PROTO_TCP);
	const uint32_t be = be_spec(0).addr;
	const uint64_t t0 = 1000;

	CHECK(lb != NULL, "one TCP VIP, one backend");
	CHECK(frame(lb, 6, 0, 1, LB_TCP_SYN, be, t0) == LB_TO_BACKEND && lb_flow_count(lb) == 1,
	      "SYN: a flow");
	CHECK(lb_flows_expire(lb, t0 - 5) == 0, "a clock behind the flow's never expires it");
	CHECK(expires_after(lb, t0, 30), "unanswered SYN: expires after 30 s idle");

	CHECK(frame(lb, 6, 0, 2, LB_TCP_SYN, be, t0) == LB_TO_BACKEND &&
	      frame(lb, 6, 1, 2, LB_TCP_SYN | LB_TCP_ACK, be, t0 + 1) == LB_TO_CLIENT &&
	      frame(lb, 6, 0, 2, LB_TCP_ACK, be, t0 + 2) == LB_TO_BACKEND, "handshake");
	CHECK(lb_flows_expire(lb, t0 + 2 + 200) == 0 &&
	      frame(lb, 6, 0, 2, LB_TCP_ACK, be, t0 + 202) == LB_TO_BACKEND,
	      "established, 200 s idle: kept; traffic refreshes it");
	CHECK(expires_after(lb, t0 + 202, 300), "established: expires after 300 s idle");

	CHECK(frame(lb, 6, 0, 3, LB_TCP_SYN, be, t0) == LB_TO_BACKEND &&
	      frame(lb, 6, 1, 3, LB_TCP_SYN | LB_TCP_ACK, be, t0) == LB_TO_CLIENT &&
	      frame(lb, 6, 0, 3, LB_TCP_FIN | LB_TCP_ACK, be, t0 + 5) == LB_TO_BACKEND,
	      "client FIN");
	CHECK(expires_after(lb, t0 + 5, 120), "half closed: expires after 120 s idle");

	CHECK(frame(lb, 6, 0, 4, LB_TCP_SYN, be, t0) == LB_TO_BACKEND &&
	      frame(lb, 6, 1, 4, LB_TCP_SYN | LB_TCP_ACK, be, t0) == LB_TO_CLIENT &&
	      frame(lb, 6, 0, 4, LB_TCP_FIN | LB_TCP_ACK, be, t0 + 5) == LB_TO_BACKEND &&
	      frame(lb, 6, 1, 4, LB_TCP_FIN | LB_TCP_ACK, be, t0 + 6) == LB_TO_CLIENT,
	      "FIN both ways");
	CHECK(expires_after(lb, t0 + 6, 10), "closing: expires after 10 s idle");

	CHECK(frame(lb, 6, 0, 5, LB_TCP_SYN, be, t0) == LB_TO_BACKEND &&
	      frame(lb, 6, 1, 5, LB_TCP_SYN | LB_TCP_ACK, be, t0) == LB_TO_CLIENT &&
	      frame(lb, 6, 1, 5, LB_TCP_RST, be, t0 + 7) == LB_TO_CLIENT, "RST from the backend");
	CHECK(expires_after(lb, t0 + 7, 10), "after RST: expires after 10 s idle");
	CHECK(lb_backend_active_flows(bes[0]) == 0, "no active flows left");
	lb_free(lb);

	lb = setup(64, &vip, bes, 1, LB_ALGO_MAGLEV, LB_PROTO_UDP);
	CHECK(lb && frame(lb, 17, 0, 9, 0, be, t0) == LB_TO_BACKEND &&
	      frame(lb, 17, 1, 9, 0, be, t0 + 3) == LB_TO_CLIENT, "UDP flow, answered");
	CHECK(expires_after(lb, t0 + 3, 30), "UDP: expires after 30 s idle");
	lb_free(lb);

	{
		struct lb_config cfg = { .hash_seed = { 5, 6 },
					 .timeouts = { .tcp_established = 7, .udp = 3 } };

		CHECK(lb_new(&cfg, &lb) == 0 && lb->flows.to.tcp_established == 7 &&
		      lb->flows.to.udp == 3 && lb->flows.to.tcp_closing == 10,
		      "configured timeouts, defaults for the rest");
		lb_free(lb);
	}
}

/* ---- table full ---- */

static void table_full(void)
{
	struct lb_backend *bes[2];
	struct lb_vip *vip;
	struct lb *lb = setup(16, &vip, bes, 2, LB_ALGO_MAGLEV, LB_PROTO_TCP);
	int owner[16];
	unsigned int ok = 0, same = 0;
	uint64_t refused;
	struct lb_counters c;

	CHECK(lb != NULL, "flow table with room for 16");
	for (uint16_t f = 0; f < 16; f++) {
		struct tf_sent t;
		struct tf_spec s = c2v(6, (uint16_t)(100 + f), LB_TCP_SYN);

		ok += tf_send(lb, &s, 10, &t) == LB_TO_BACKEND;
		owner[f] = tf_get32(t.frame + 30) == be_spec(0).addr ? 0 : 1;
	}
	CHECK(ok == 16 && lb_flow_count(lb) == 16, "16 flows fill it");
	for (uint16_t f = 0; f < 100; f++)
		ok += frame(lb, 6, 0, (uint16_t)(500 + f), LB_TCP_SYN, 0, 11) == LB_TO_BACKEND;
	lb_vip_counters(vip, &c, &refused);
	CHECK(ok == 16 && lb_drops(lb, LB_DROP_TABLE_FULL) == 100 && refused == 100,
	      "100 more new flows refused: table_full counter 100, VIP refused 100");
	for (uint16_t f = 0; f < 16; f++) {
		struct tf_sent t;
		struct tf_spec s = c2v(6, (uint16_t)(100 + f), LB_TCP_ACK);

		same += tf_send(lb, &s, 12, &t) == LB_TO_BACKEND &&
			(tf_get32(t.frame + 30) == be_spec(0).addr ? 0 : 1) == owner[f];
	}
	CHECK(same == 16, "the 16 existing flows are unaffected");
	CHECK(frame(lb, 6, 1, 100, LB_TCP_SYN | LB_TCP_ACK, be_spec((unsigned int)owner[0]).addr, 12) ==
	      LB_TO_CLIENT, "... and their replies still translated");
	CHECK(lb_flows_expire(lb, 12 + 31) == 15 && lb_flow_count(lb) == 1,
	      "15 expire (the answered one is established)");
	rcu_barrier();  /* their entries return to the pool after a grace period */
	ok = 0;
	for (uint16_t f = 0; f < 20; f++)
		ok += frame(lb, 6, 0, (uint16_t)(700 + f), LB_TCP_SYN, 0, 50) == LB_TO_BACKEND;
	CHECK(ok == 15 && lb_flow_count(lb) == 16, "after expiry: room for exactly 15 new flows (%u)", ok);
	lb_free(lb);
}

/* ---- workers racing on the same new flows ---- */

#define RACERS 4
#define RACE_FLOWS 256
#define RACE_ROUNDS 40

struct racer {
	struct lb *lb;
	pthread_barrier_t *bar;
	unsigned int id;
	uint16_t base;
	uint32_t got[RACE_FLOWS];
	unsigned int fails;
	const char *last_fail;
};

static void *race_main(void *opaque)
{
	struct racer *r = opaque;

	rcu_register_thread();
	rcu_thread_offline();
	pthread_barrier_wait(r->bar);
	rcu_thread_online();
	for (unsigned int k = 0; k < RACE_FLOWS; k++) {
		/* Racers 0 and 1 walk in step (they meet on every new flow); 2 and 3 from elsewhere. */
		unsigned int f = (k + (r->id / 2) * 97) % RACE_FLOWS;
		struct tf_spec s = c2v(6, (uint16_t)(r->base + f), LB_TCP_SYN);
		uint8_t buf[128], head[64];
		struct lb_verdict v;
		uint32_t len = tf_build(buf, &s);

		memcpy(head, buf, MIN(len, 64u));
		if (lb_process_rcu(r->lb, r->id, head, MIN(len, 64u), len, 0, 100, &v) != LB_TO_BACKEND) {
			r->last_fail = v.action == LB_DROP ? lb_drop_names[v.drop] : "not dropped";
			r->fails++;
		}
		r->got[f] = tf_get32(head + 30);
		if (k % 32 == 0)
			rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

static void race(void)
{
	struct lb_backend *bes[4];
	struct lb_vip *vip;
	/* WRR: each pick advances a shared counter, so racers placing the same flow pick
	 * different backends; add_unique must make them all use the winner's. */
	/* A worker that loses a creation race holds a pool entry for a moment: room for them. */
	struct lb *lb = setup(RACE_FLOWS * RACE_ROUNDS + RACERS, &vip, bes, 4, LB_ALGO_WRR,
			      LB_PROTO_TCP);
	static struct racer r[RACERS];
	unsigned int disagree = 0, fails = 0, wrong_count = 0, used[4] = { 0 };
	const char *why = "";
	pthread_t th[RACERS];
	pthread_barrier_t bar;

	CHECK(lb != NULL, "WRR VIP with 4 backends for the race");
	for (unsigned int round = 0; round < RACE_ROUNDS; round++) {
		uint32_t sum = 0;

		pthread_barrier_init(&bar, NULL, RACERS);
		for (unsigned int i = 0; i < RACERS; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i] = (struct racer){ .lb = lb, .bar = &bar, .id = i,
					       .base = (uint16_t)(1000 + round * RACE_FLOWS) };
			pthread_create(&th[i], NULL, race_main, &r[i]);
		}
		rcu_thread_offline();   /* the main thread must not hold up the racers' grace periods */
		for (unsigned int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		rcu_thread_online();
		pthread_barrier_destroy(&bar);
		for (unsigned int i = 0; i < RACERS; i++) {
			fails += r[i].fails;
			if (r[i].fails)
				why = r[i].last_fail;
		}
		for (unsigned int f = 0; f < RACE_FLOWS; f++) {
			for (unsigned int i = 1; i < RACERS; i++)
				disagree += r[i].got[f] != r[0].got[f];
			/* A backend's address, not the VIP: the frame really was rewritten. */
			disagree += r[0].got[f] < be_spec(0).addr || r[0].got[f] > be_spec(3).addr;
			used[r[0].got[f] & 3]++;
		}
		for (unsigned int b = 0; b < 4; b++)
			sum += lb_backend_active_flows(bes[b]);
		wrong_count += lb_flow_count(lb) != (round + 1) * RACE_FLOWS || sum != lb_flow_count(lb);
	}
	CHECK(fails == 0, "%d racers x %d new flows x %d rounds: every frame forwarded (%u not: %s)",
	      RACERS, RACE_FLOWS, RACE_ROUNDS, fails, why);
	CHECK(disagree == 0, "racers always agree on the backend of a flow (%u disagreements)",
	      disagree);
	/* Every pick advances the WRR counter: picks beyond the flows made are lost races. */
	printf("# %u picks for %u flows: %u creations lost the race to another worker\n",
	       vip->wrr_next, RACE_FLOWS * RACE_ROUNDS, vip->wrr_next - RACE_FLOWS * RACE_ROUNDS);
	CHECK(used[0] && used[1] && used[2] && used[3],
	      "flows went to all 4 backends (%u/%u/%u/%u)", used[0], used[1], used[2], used[3]);
	CHECK(wrong_count == 0, "one flow per 5-tuple; active flows add up (%u bad rounds)",
	      wrong_count);
	lb_free(lb);
}

/* ---- workers forwarding while the control thread changes things ---- */

struct stresser {
	struct lb *lb;
	unsigned int id;
	bool *stop;
	uint64_t *now;
	unsigned long frames, forwarded;
};

static void *stress_main(void *opaque)
{
	struct stresser *s = opaque;
	uint32_t rnd = 0x9876 + s->id;

	rcu_register_thread();
	while (!__atomic_load_n(s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = __atomic_load_n(s->now, __ATOMIC_RELAXED);
		uint16_t port = (uint16_t)(2000 + tf_rand(&rnd) % 3000);
		unsigned int b = tf_rand(&rnd) % 6, dir = tf_rand(&rnd) & 1;
		uint8_t flags = (uint8_t)(tf_rand(&rnd) % 8 == 0 ? LB_TCP_FIN : LB_TCP_ACK);

		if (dir == 0 && tf_rand(&rnd) % 4 == 0)
			flags = LB_TCP_SYN;
		s->forwarded += frame(s->lb, 6, dir, port, flags, be_spec(b).addr, now) != LB_DROP;
		s->frames++;
		if (s->frames % 16 == 0)
			rcu_quiescent_state();
	}
	rcu_unregister_thread();
	return NULL;
}

struct tally {
	uint32_t flows;
};

static void count_flow(struct lb_flow *fl, void *arg)
{
	(void)fl;
	((struct tally *)arg)->flows++;
}

static void stress(void)
{
	struct lb_backend *bes[6] = { 0 };
	struct lb_vip *vip;
	struct lb *lb = setup(2048, &vip, bes, 6, LB_ALGO_MAGLEV, LB_PROTO_TCP);
	static struct stresser st[2];
	pthread_t th[2];
	bool stop = false;
	uint64_t now = 100, t_end = time_ns_mono() + 1500000000ull;
	unsigned int ops = 0, expired = 0;
	uint32_t rnd = 77;

	CHECK(lb != NULL, "stress: 6 backends, 2048 flows max");
	for (unsigned int i = 0; i < 2; i++) {
		st[i] = (struct stresser){ .lb = lb, .id = i, .stop = &stop, .now = &now };
		pthread_create(&th[i], NULL, stress_main, &st[i]);
	}
	while (time_ns_mono() < t_end) {
		unsigned int b = tf_rand(&rnd) % 6;
		struct lb_backend_spec spec = be_spec(b);

		switch (tf_rand(&rnd) % 6) {
		case 0:
			if (bes[b] && lb_backend_del(lb, bes[b]) == 0)
				bes[b] = NULL;
			else if (!bes[b])
				(void)lb_backend_add(lb, vip, &spec, &bes[b]);
			break;
		case 1:
			if (bes[b])
				(void)lb_backend_set_up(lb, bes[b], tf_rand(&rnd) & 1);
			break;
		case 2:
			if (bes[b])
				(void)lb_backend_set_weight(lb, bes[b], (uint16_t)(tf_rand(&rnd) % 3 * 50));
			break;
		case 3:
			(void)lb_vip_set_algo(lb, vip, (enum lb_algo)(tf_rand(&rnd) % LB_ALGO__MAX));
			break;
		default:
			__atomic_store_n(&now, now + 7, __ATOMIC_RELAXED);
			expired += lb_flows_expire(lb, now);
			break;
		}
		ops++;
		/* QSBR: the control thread announces quiescent states too, as its event loop does. */
		rcu_quiescent_state();
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	rcu_thread_offline();
	for (unsigned int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rcu_thread_online();
	{
		struct tally t = { 0 };
		uint32_t active = 0;

		lb_flows_foreach_rcu(&lb->flows, count_flow, &t);
		for (unsigned int b = 0; b < 6; b++)
			if (bes[b])
				active += lb_backend_active_flows(bes[b]);
		CHECK(ops > 50 && st[0].forwarded > 1000 && st[1].forwarded > 1000,
		      "stress: %u control changes (%u flows expired) under %lu + %lu frames "
		      "(%lu + %lu forwarded)", ops, expired, st[0].frames, st[1].frames,
		      st[0].forwarded, st[1].forwarded);
		CHECK(t.flows == lb_flow_count(lb) && active == t.flows,
		      "stress: flows counted (%u) = in the table (%u) = active over backends (%u)",
		      lb_flow_count(lb), t.flows, active);
	}
	lb_free(lb);
}

int main(void)
{
	rcu_register_thread();
	state_machine();
	timeouts();
	table_full();
	race();
	stress();
	rcu_unregister_thread();
	return check_done();
}
