// SPDX-License-Identifier: GPL-2.0-or-later
/* The placement policy over snapshots: hysteresis, isolation of a hot ring, re-plans, orphans. */
#include <string.h>

#include "balance/policy.h"
#include "check.h"

#define MAX_OF3(a, b, c) ((a) > (b) ? ((a) > (c) ? (a) : (c)) : ((b) > (c) ? (b) : (c)))

static const struct bal_params params = { .hysteresis_pct = 15, .min_gain = 20, .min_busy = 30,
					  .max_moves = 4 };

/* Applies moves to a snapshot, as the balancer would, so tests can iterate ticks. */
static void apply(struct bal_queue *qs, unsigned int n, const struct bal_move *m, unsigned int nm)
{
	for (unsigned int i = 0; i < nm; i++)
		for (unsigned int k = 0; k < n; k++)
			if (qs[k].key == m[i].key)
				qs[k].worker = m[i].to;
}

static uint32_t worker_load(const struct bal_queue *qs, unsigned int n, int w)
{
	uint32_t l = 0;

	for (unsigned int i = 0; i < n; i++)
		if (qs[i].worker == w)
			l += qs[i].load;
	return l;
}

struct table_case {
	const char *name;
	unsigned int nq;
	struct bal_queue q[8];
	bool replan;
	unsigned int want_moves;
};

static void test_table(void)
{
	static const int w2[] = { 0, 1 };
	static const struct table_case cases[] = {
		{ "balanced: no move", 2, { { 1, 0, 300 }, { 2, 1, 300 } }, false, 0 },
		{ "small skew under hysteresis: no move", 3,
		  { { 1, 0, 300 }, { 2, 0, 40 }, { 3, 1, 310 } }, false, 0 },
		{ "all idle: no move", 4, { { 1, 0, 0 }, { 2, 0, 0 }, { 3, 1, 0 }, { 4, 1, 5 } }, false, 0 },
		{ "gain below min_gain: no move", 2, { { 1, 0, 12 }, { 2, 0, 8 } }, false, 0 },
		{ "clear skew: one move", 2, { { 1, 0, 400 }, { 2, 0, 400 } }, false, 1 },
		{ "single hot ring alone: no move", 1, { { 1, 0, 900 } }, false, 0 },
		{ "replan with idle rings spreads by count", 4,
		  { { 1, 0, 0 }, { 2, 0, 0 }, { 3, 0, 0 }, { 4, 0, 0 } }, true, 2 },
		{ "orphan gets a worker", 2, { { 1, 0, 100 }, { 2, 7, 100 } }, false, 1 },
		{ "quiet system (busiest under min_busy): no move", 3,
		  { { 1, 0, 14 }, { 2, 0, 14 }, { 3, 1, 0 } }, false, 0 },
		{ "the same skew just above min_busy: one move", 3,
		  { { 1, 0, 16 }, { 2, 0, 16 }, { 3, 1, 0 } }, false, 1 },
	};

	for (unsigned int c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct bal_move m[16];
		unsigned int n = bal_plan(cases[c].q, cases[c].nq, w2, 2, &params, cases[c].replan, m, 16);

		CHECK(n == cases[c].want_moves, "%s (%u moves, want %u)", cases[c].name, n, cases[c].want_moves);
	}
}

static void test_isolate_hot(void)
{
	static const int w2[] = { 0, 1 };
	struct bal_queue qs[] = {
		{ 1, 0, 600 }, { 2, 0, 60 }, { 3, 0, 60 }, { 4, 0, 60 }, { 5, 1, 50 },
	};
	unsigned int n = sizeof(qs) / sizeof(qs[0]), ticks = 0;

	for (; ticks < 10; ticks++) {
		struct bal_move m[16];
		unsigned int nm = bal_plan(qs, n, w2, 2, &params, false, m, 16);

		if (!nm)
			break;
		apply(qs, n, m, nm);
	}
	CHECK(worker_load(qs, n, qs[0].worker) == 600, "the hot ring ends up alone on its worker (w0=%u w1=%u)",
	      worker_load(qs, n, 0), worker_load(qs, n, 1));
	CHECK(ticks <= 5, "within %u ticks (<= 500 ms)", ticks);
}

static void test_spread_narrows(void)
{
	static const int w3[] = { 0, 1, 2 };
	struct bal_queue qs[8];
	unsigned int before, after;

	for (unsigned int i = 0; i < 8; i++)
		qs[i] = (struct bal_queue){ i + 1, 0, (uint32_t)(50 + 20 * i) };
	before = worker_load(qs, 8, 0);
	for (int t = 0; t < 10; t++) {
		struct bal_move m[16];
		unsigned int nm = bal_plan(qs, 8, w3, 3, &params, false, m, 16);

		if (!nm)
			break;
		apply(qs, 8, m, nm);
	}
	after = MAX_OF3(worker_load(qs, 8, 0), worker_load(qs, 8, 1), worker_load(qs, 8, 2));
	CHECK(after < before / 2, "busiest worker drops from %u to %u permille", before, after);
}

static void test_topology(void)
{
	static const int only1[] = { 1 };
	static const int three[] = { 0, 1, 2 };
	struct bal_queue qs[] = { { 1, 0, 200 }, { 2, 0, 100 }, { 3, 1, 100 } };
	struct bal_move m[16];
	unsigned int nm;

	/* CPU of worker 0 went away: its rings move to worker 1, reason orphan. */
	nm = bal_plan(qs, 3, only1, 1, &params, true, m, 16);
	CHECK(nm == 2 && m[0].to == 1 && m[1].to == 1 && m[0].reason == BAL_REASON_ORPHAN,
	      "rings of a removed worker move to the remaining one");

	/* A worker was added: the re-plan uses it at once, even below hysteresis. */
	nm = bal_plan(qs, 3, three, 3, &params, true, m, 16);
	apply(qs, 3, m, nm);
	CHECK(nm >= 1 && worker_load(qs, 3, 2) > 0, "re-plan puts load on the new worker");
	CHECK(worker_load(qs, 3, 0) == 200 || worker_load(qs, 3, 1) == 200 || worker_load(qs, 3, 2) == 200,
	      "the biggest ring keeps a worker to itself");
	nm = bal_plan(qs, 3, three, 3, &params, true, m, 16);
	CHECK(nm == 0, "re-planning a balanced placement moves nothing");
}

int main(void)
{
	test_table();
	test_isolate_hot();
	test_spread_narrows();
	test_topology();
	return check_done();
}
