// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Least-load choice (table-driven, then placement simulations), the RX meter that measures a
 * guest's load from its ring indices, the two combined (guests simulated ring by ring), and
 * the WRR schedule.
 */
#include "check.h"
#include "lb/lb_internal.h"

struct ll_case {
	const char *what;
	unsigned int n;
	struct lb_ll_cand c[4];
	uint32_t start;
	int want;
};

static const struct ll_case ll_cases[] = {
	{ "all idle, equal: the scan start wins", 3, { { 0, 0, 1 }, { 0, 0, 1 }, { 0, 0, 1 } }, 0, 0 },
	{ "all idle, equal, start 2", 3, { { 0, 0, 1 }, { 0, 0, 1 }, { 0, 0, 1 } }, 2, 2 },
	{ "start wraps modulo n", 3, { { 0, 0, 1 }, { 0, 0, 1 }, { 0, 0, 1 } }, 7, 1 },
	{ "fewest flows", 3, { { 5, 0, 1 }, { 2, 0, 1 }, { 3, 0, 1 } }, 0, 1 },
	{ "weight 2 with 3 flows beats weight 1 with 1 flow (4/2 = 2 = 2/1: tie, scan order)", 2,
	  { { 3, 0, 2 }, { 1, 0, 1 } }, 0, 0 },
	{ "... same tie, scan from 1", 2, { { 3, 0, 2 }, { 1, 0, 1 } }, 1, 1 },
	{ "weight 3 with 3 flows beats weight 1 with 1 flow (4/3 < 2)", 2,
	  { { 3, 0, 3 }, { 1, 0, 1 } }, 1, 0 },
	{ "queueing delay outweighs fewer flows", 2, { { 0, 5000, 1 }, { 10, 0, 1 } }, 0, 1 },
	{ "a small delay does not (1 x 200 < 11 x 100)", 2, { { 0, 100, 1 }, { 10, 0, 1 } }, 1, 0 },
	{ "weight 0 is never chosen", 3, { { 0, 0, 0 }, { 9, 9, 1 }, { 0, 0, 0 } }, 0, 1 },
	{ "nobody has weight", 2, { { 0, 0, 0 }, { 0, 0, 0 } }, 0, -ENOENT },
	{ "delay is capped: a stuck guest and a slow one compare by flows", 2,
	  { { 1, 0xffffffffu, 1 }, { 0, LB_LOAD_MAX_US, 1 } }, 0, 1 },
	{ "huge counts do not overflow", 2, { { 0xffffffffu, LB_LOAD_MAX_US, 1000 },
					      { 0xfffffffeu, LB_LOAD_MAX_US, 1 } }, 1, 0 },
};

static void least_load_table(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(ll_cases); i++) {
		const struct ll_case *c = &ll_cases[i];
		int got = lb_least_load_pick(c->c, c->n, c->start);

		CHECK(got == c->want, "least-load: %s (got %d, want %d)", c->what, got, c->want);
	}
}

static void load_estimate(void)
{
	CHECK(lb_load_estimate(0, 0) == 0, "no backlog: no delay");
	CHECK(lb_load_estimate(100, 100000) == 1000, "100 frames at 100k/s: 1 ms");
	CHECK(lb_load_estimate(5, 0) == LB_LOAD_MAX_US, "backlog but not draining: the cap");
	CHECK(lb_load_estimate(0xffffffffu, 1) == LB_LOAD_MAX_US, "huge backlog: the cap");
}

/* Places @nflows one after the other, each raising its backend's flow count. */
static void place(struct lb_ll_cand *c, unsigned int n, unsigned int nflows, uint32_t *got)
{
	uint32_t h = 0x1234567;

	for (unsigned int i = 0; i < n; i++)
		got[i] = 0;
	for (unsigned int f = 0; f < nflows; f++) {
		int i;

		h = h * 1103515245u + 12345u;
		i = lb_least_load_pick(c, n, h >> 8);
		got[i]++;
		c[i].flows++;
	}
}

static void simulations(void)
{
	struct lb_ll_cand c[3];
	uint32_t got[3];

	/* Equal idle backends: least connections keeps them level. */
	memset(c, 0, sizeof(c));
	for (int i = 0; i < 3; i++)
		c[i].weight = 1;
	place(c, 3, 3000, got);
	CHECK(got[0] == 1000 && got[1] == 1000 && got[2] == 1000, "3 idle backends: 1000 flows each");

	/* Weights 1:3 split 1:3. */
	memset(c, 0, sizeof(c));
	c[0].weight = 1;
	c[1].weight = 3;
	place(c, 2, 4000, got);
	CHECK(got[0] >= 999 && got[0] <= 1001 && got[1] >= 2999 && got[1] <= 3001,
	      "weights 1:3: %u and %u flows", got[0], got[1]);

	/* A slow backend (2 ms queueing delay) next to an idle one gets ~1/21 of the flows. */
	memset(c, 0, sizeof(c));
	c[0] = (struct lb_ll_cand){ .weight = 1, .load_us = lb_load_estimate(200, 100000) };
	c[1] = (struct lb_ll_cand){ .weight = 1 };
	place(c, 2, 2100, got);
	CHECK(got[0] < got[1] / 10 && got[0] > 0,
	      "slow backend (%u us delay): %u flows, fast one %u", c[0].load_us, got[0], got[1]);

	/* Same inputs, same answer. */
	c[0] = (struct lb_ll_cand){ 7, 300, 2 };
	c[1] = (struct lb_ll_cand){ 3, 900, 1 };
	c[2] = (struct lb_ll_cand){ 4, 0, 1 };
	{
		int a = lb_least_load_pick(c, 3, 42), b = lb_least_load_pick(c, 3, 42);

		CHECK(a == b && a == 2, "deterministic: %d", a);
	}
}

static struct lb_rx_sample rxs(uint16_t posted, uint16_t taken, uint64_t delivered, uint64_t drops)
{
	return (struct lb_rx_sample){ .posted = posted, .taken = taken, .num = 256,
				      .delivered = delivered, .no_buffer = drops };
}

static bool reading_is(const struct lb_rx_reading *r, uint32_t backlog, uint32_t drained,
		       uint32_t late, uint32_t dropped)
{
	return r->backlog == backlog && r->drained == drained && r->late == late &&
	       r->dropped == dropped;
}

#define RD(r) (r).backlog, (r).drained, (r).late, (r).dropped

static void rx_meter(void)
{
	struct lb_rx_meter m = { 0 };
	struct lb_rx_reading r;
	struct lb_rx_sample s;
	bool ok = true;

	s = rxs(256, 0, 0, 0);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 0, 0, 0, 0) && m.full == 256, "first sample: a full ring, nothing to say");
	s = rxs(296, 100, 100, 0);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 60, 40, 0, 0),
	      "100 delivered, 40 given back: backlog 60, drained 40 (%u %u %u %u)", RD(r));
	s = rxs(356, 100, 100, 0);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 0, 60, 0, 0), "it catches up: drained 60, nothing late (%u %u %u %u)",
	      RD(r));
	s = rxs(356, 356, 356, 50);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 306, 0, 0, 50),
	      "ring ran dry: 256 waiting + 50 dropped, nothing drained (%u %u %u %u)", RD(r));
	for (int i = 0; i < 3 * LB_RX_SETTLE; i++) {
		lb_rx_meter_sample(&m, &s, &r);
		ok &= reading_is(&r, 256, 0, 0, 0);
	}
	CHECK(ok, "a guest that posts no buffer never settles (256 waiting), but with no new frame "
	      "nothing is late (%u %u %u %u)", RD(r));
	s = rxs(356, 356, 356, 60);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 266, 0, 256, 10),
	      "10 more frames dropped: the 256 waiting are late (%u %u %u %u)", RD(r));
	s = rxs(356 + 200, 356, 356, 60);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 56, 200, 0, 0),
	      "it takes 200 and stops: 56 still waiting, none late without new frames (%u %u %u %u)",
	      RD(r));
	for (int i = 0; i < LB_RX_SETTLE; i++)
		lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 0, 0, 0, 0) && m.full == 200,
	      "%d quiet samples: 200 posted is its usual stock now (%u %u %u %u)", LB_RX_SETTLE, RD(r));
	s = rxs(556, 556 - 300, 356, 50);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(r.backlog == 200, "a guest claiming 300 free buffers in a 256 ring counts as none free (%u)",
	      r.backlog);

	/* EVENT_IDX: the used entries it has not acknowledged bound the backlog too. */
	m = (struct lb_rx_meter){ 0 };
	s = rxs(256, 0, 0, 0);
	lb_rx_meter_sample(&m, &s, &r);
	s = rxs(256 + 10, 40, 40, 0);           /* 40 delivered, 10 buffers back: 30 missing */
	s.has_unacked = true;
	s.unacked = 0;                          /* ... but it says it processed all 40 */
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 0, 40, 0, 0), "lazy refill, all acknowledged: nothing waits (%u %u %u %u)",
	      RD(r));
	s = rxs(256 + 10, 80, 80, 0);
	s.has_unacked = true;
	s.unacked = 25;
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 25, 15, 0, 0), "25 unacknowledged, 70 missing: 25 wait (%u %u %u %u)", RD(r));
	s = rxs(256 + 10, 90, 90, 0);
	s.has_unacked = true;
	s.unacked = 0x8000;                     /* a polling driver parks used_event far away */
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 80, 0, 25, 0),
	      "an unacked count past the ring size is ignored: 80 missing, the 25 late (%u %u %u %u)",
	      RD(r));

	/* Indices wrap at 65536; counters start over when the ring restarts (m re-primed). */
	m = (struct lb_rx_meter){ 0 };
	s = rxs(65500, 65500 - 256, 1000, 0);
	lb_rx_meter_sample(&m, &s, &r);
	s = rxs((uint16_t)(65500 + 30), (uint16_t)(65500 - 256 + 50), 1050, 0);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(reading_is(&r, 20, 30, 0, 0), "across the index wrap: backlog 20, drained 30 (%u %u %u %u)",
	      RD(r));
	s = rxs((uint16_t)(65500 + 30), (uint16_t)(65500 - 256 + 50), 7, 0);
	lb_rx_meter_sample(&m, &s, &r);
	CHECK(r.drained == 0 && r.backlog == 20,
	      "a counter that went back is not read as 2^64 frames (%u %u %u %u)", RD(r));
}

static void rx_load(void)
{
	struct lb_rx_load l = { 0 };
	struct lb_rx_reading r = { 0 };
	uint32_t us;
	bool ok = true;

	CHECK(lb_rx_load_update(&l, &r, 100) == 0, "nothing waiting: no delay");
	r = (struct lb_rx_reading){ .backlog = 100, .drained = 1000 };
	CHECK(lb_rx_load_update(&l, &r, 100) == 0 && l.rate == 0,
	      "100 waiting that all came since the last sample: it keeps up, no delay");
	r = (struct lb_rx_reading){ .backlog = 100, .drained = 1000, .late = 10 };
	us = lb_rx_load_update(&l, &r, 100);
	CHECK(l.rate == 10000 && us == 100000,
	      "10 frames waited a whole 100 ms interval: capacity 10k/s, delay 100 ms (%u)", us);
	r = (struct lb_rx_reading){ .backlog = 100, .drained = 3000, .dropped = 20 };
	us = lb_rx_load_update(&l, &r, 100);
	CHECK(l.rate == 20000 && us == 5000,
	      "ring full (drops): capacity (10k + 30k) / 2 = 20k/s, 100 waiting = 5 ms (%u)", us);
	r = (struct lb_rx_reading){ .backlog = 100, .late = 100 };
	us = lb_rx_load_update(&l, &r, 100);
	CHECK(l.rate == 10000 && us == 100000, "it takes nothing for an interval: 100 ms (%u)", us);
	us = lb_rx_load_update(&l, &r, 100);
	CHECK(us == 200000, "two intervals: 200 ms (%u)", us);
	for (int i = 0; i < 200; i++) {
		us = lb_rx_load_update(&l, &r, 100);
		ok &= us <= LB_LOAD_MAX_US;
	}
	CHECK(ok && us == LB_LOAD_MAX_US, "a guest that stays stuck reaches the cap (%u)", us);
	r = (struct lb_rx_reading){ .drained = 50 };
	us = lb_rx_load_update(&l, &r, 100);
	CHECK(us == 0 && l.stalled_ms == 0, "it catches up: no delay, the stall is forgotten");
	l = (struct lb_rx_load){ 0 };
	r = (struct lb_rx_reading){ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX };
	us = lb_rx_load_update(&l, &r, 1);
	CHECK(us <= LB_LOAD_MAX_US, "huge numbers stay within the cap (%u)", us);
	{
		struct lb_rx_reading sum = { 1, 2, 3, 4 };

		lb_rx_reading_add(&sum, &r);
		CHECK(reading_is(&sum, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX),
		      "queues' readings add up without wrapping");
	}
}

/* A guest's RX ring as its driver keeps it, for the simulation below. */
struct sim_guest {
	uint16_t posted, taken;     /* avail idx, and the switch's next avail index */
	uint32_t waiting;           /* frames delivered it has not taken yet */
	uint64_t delivered, drops;
	uint32_t per_tick;          /* frames it takes per tick */
	struct lb_rx_meter m;
	struct lb_rx_load l;
};

/*
 * Least-load fed by the measured load: every 100 ms tick 50 new flows are placed, then every
 * flow sends one frame to its guest, each guest takes what it can, and the meter reads the
 * rings. Return: flows placed on each guest.
 */
static void sim_measured(uint32_t fast_rate, uint32_t slow_rate, uint32_t *got)
{
	struct sim_guest g[2] = { { .posted = 256, .per_tick = fast_rate },
				  { .posted = 256, .per_tick = slow_rate } };
	struct lb_ll_cand c[2] = { { .weight = 1 }, { .weight = 1 } };
	struct lb_rx_reading r;
	uint32_t h = 99;

	got[0] = got[1] = 0;
	for (int i = 0; i < 2; i++) {
		/* The meter starts with the ring, before any traffic. */
		struct lb_rx_sample smp = { .posted = 256, .num = 256 };

		lb_rx_meter_sample(&g[i].m, &smp, &r);
	}
	for (int tick = 0; tick < 60; tick++) {
		for (int f = 0; f < 50; f++) {
			int i;

			h = h * 1103515245u + 12345u;
			i = lb_least_load_pick(c, 2, h >> 8);
			got[i]++;
			c[i].flows++;
		}
		for (int i = 0; i < 2; i++) {
			struct sim_guest *s = &g[i];
			struct lb_rx_sample smp;

			/* Frames arrive and the guest takes them in 10 steps a tick, as a ring
			 * much smaller than a tick's traffic needs. */
			for (int step = 0; step < 10; step++) {
				uint32_t free_bufs = (uint16_t)(s->posted - s->taken), n, put, took;

				n = c[i].flows / 10 + (step < (int)(c[i].flows % 10));
				put = MIN(n, free_bufs);
				s->taken = (uint16_t)(s->taken + put);
				s->delivered += put;
				s->drops += n - put;
				s->waiting += put;
				took = MIN(s->waiting, s->per_tick / 10);
				s->waiting -= took;
				s->posted = (uint16_t)(s->posted + took);
			}
			smp = (struct lb_rx_sample){ .posted = s->posted, .taken = s->taken, .num = 256,
						     .delivered = s->delivered, .no_buffer = s->drops };
			lb_rx_meter_sample(&s->m, &smp, &r);
			c[i].load_us = lb_rx_load_update(&s->l, &r, 100);
		}
	}
}

static void measured_least_load(void)
{
	uint32_t got[2];

	sim_measured(4000, 4000, got);
	CHECK(got[0] == 1500 && got[1] == 1500, "two guests that keep up: 1500 flows each (%u, %u)",
	      got[0], got[1]);
	sim_measured(4000, 100, got);
	/*
	 * It is judged behind once frames have waited a whole tick, so it takes flows until its
	 * backlog is a tick's worth of frames (100) deep: about 200 flows, where active flows
	 * alone would have given it 1500.
	 */
	CHECK(got[1] >= 100 && got[1] <= 250 && got[0] + got[1] == 3000,
	      "a guest taking 100 frames a tick (1 per flow per tick) ends with %u flows, the fast "
	      "one %u", got[1], got[0]);
	sim_measured(4000, 0, got);
	CHECK(got[1] <= 60, "a guest that takes nothing gets about two ticks' share, until its "
	      "frames have waited a whole tick (%u)", got[1]);
}

static void wrr(void)
{
	uint16_t out[LB_WRR_MAX];
	uint32_t w3[3] = { 5, 1, 1 }, cnt[3] = { 0 }, w2[2] = { 200, 100 }, w0[3] = { 0, 4, 0 };
	static uint32_t big[LB_MAX_BACKENDS];
	unsigned int run = 0, max_run = 0;
	int len;

	len = lb_wrr_build(w3, 3, out, LB_WRR_MAX);
	for (int i = 0; i < len; i++) {
		cnt[out[i]]++;
		run = i && out[i] == out[i - 1] ? run + 1 : 1;
		max_run = MAX(max_run, run);
	}
	CHECK(len == 7 && cnt[0] == 5 && cnt[1] == 1 && cnt[2] == 1, "weights 5:1:1: 7 turns, 5/1/1");
	CHECK(max_run <= 2, "smooth: the heavy backend never takes more than 2 turns in a row (%u)",
	      max_run);
	len = lb_wrr_build(w2, 2, out, LB_WRR_MAX);
	CHECK(len == 3 && (out[0] == 0) + (out[1] == 0) + (out[2] == 0) == 2,
	      "weights 200:100 reduce by their gcd to 3 turns");
	len = lb_wrr_build(w0, 3, out, LB_WRR_MAX);
	CHECK(len == 1 && out[0] == 1, "zero weights take no turns");
	w0[1] = 0;
	CHECK(lb_wrr_build(w0, 3, out, LB_WRR_MAX) == 0, "no weight at all: empty schedule");
	for (unsigned int i = 0; i < LB_MAX_BACKENDS; i++)
		big[i] = i % 2 ? 1000 : 999;
	len = lb_wrr_build(big, LB_MAX_BACKENDS, out, LB_WRR_MAX);
	memset(cnt, 0, sizeof(cnt));
	{
		uint32_t per[LB_MAX_BACKENDS] = { 0 };
		bool all = true;

		for (int i = 0; i < len; i++)
			per[out[i]]++;
		for (unsigned int i = 0; i < LB_MAX_BACKENDS; i++)
			all &= per[i] >= 1;
		CHECK(len > 0 && len <= LB_WRR_MAX && all,
		      "256 backends of weight ~1000: scaled to %d turns, every backend has one", len);
	}
}

int main(void)
{
	least_load_table();
	load_estimate();
	simulations();
	rx_meter();
	rx_load();
	measured_least_load();
	wrr();
	return check_done();
}
