// SPDX-License-Identifier: GPL-2.0-or-later
/* Least-load choice (table-driven, then placement simulations) and the WRR schedule. */
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
	wrr();
	return check_done();
}
