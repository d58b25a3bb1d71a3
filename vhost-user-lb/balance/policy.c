// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Placement in three steps:
 *   1. orphans (rings whose worker is not usable) go to the least loaded usable worker;
 *   2. on a topology change, a full re-plan: longest-processing-time-first over all rings,
 *      ties kept on the current worker so an idle system does not churn;
 *   3. otherwise, unless the busiest worker is below min_busy, single moves from the busiest
 *      worker to the idlest, each accepted only if it narrows the spread (busiest - idlest)
 *      by hysteresis_pct and min_gain. Moving a
 *      hot ring's neighbours away is what isolates it: moving the hot ring itself would only
 *      move the problem, so it never wins.
 */
#include "balance/policy.h"

#include <stdlib.h>
#include <string.h>

struct state {
	unsigned int nw;
	const int *ids;
	uint64_t load[BAL_MAX_WORKERS];
};

const char *bal_reason_name(enum bal_reason r)
{
	switch (r) {
	case BAL_REASON_LOAD: return "load";
	case BAL_REASON_ORPHAN: return "orphan";
	case BAL_REASON_REPLAN: return "topology";
	}
	return "?";
}

static int slot_of(const struct state *st, int worker)
{
	for (unsigned int i = 0; i < st->nw; i++)
		if (st->ids[i] == worker)
			return (int)i;
	return -1;
}

/* A ring that carries nothing still counts a little, so idle rings spread by number. */
static uint64_t weight(const struct bal_queue *q)
{
	return (uint64_t)q->load * 1000 + 1;
}

static unsigned int least_loaded(const struct state *st, int prefer)
{
	unsigned int best = 0;

	for (unsigned int i = 1; i < st->nw; i++)
		if (st->load[i] < st->load[best] ||
		    (st->load[i] == st->load[best] && st->ids[i] == prefer))
			best = i;
	return best;
}

static void spread(const struct state *st, unsigned int *hi, unsigned int *lo)
{
	*hi = *lo = 0;
	for (unsigned int i = 1; i < st->nw; i++) {
		if (st->load[i] > st->load[*hi])
			*hi = i;
		if (st->load[i] < st->load[*lo])
			*lo = i;
	}
}

static bool add_move(struct bal_move *moves, unsigned int *n, unsigned int max, uint32_t key,
		     int from, int to, enum bal_reason why)
{
	/* A ring moved twice in one plan ends up with one move from its original owner. */
	for (unsigned int i = 0; i < *n; i++)
		if (moves[i].key == key) {
			moves[i].to = to;
			return true;
		}
	if (*n >= max)
		return false;
	moves[(*n)++] = (struct bal_move){ .key = key, .from = from, .to = to, .reason = why };
	return true;
}

static int by_load_desc(const void *a, const void *b)
{
	const struct bal_queue *x = *(const struct bal_queue *const *)a;
	const struct bal_queue *y = *(const struct bal_queue *const *)b;

	if (x->load != y->load)
		return x->load > y->load ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/**
 * bal_plan() - decide which rings move where.
 * @replan: the environment changed (rings or workers came or went): plan from scratch.
 * Return: number of moves written to @moves.
 */
unsigned int bal_plan(const struct bal_queue *queues, unsigned int nqueues, const int *workers,
		      unsigned int nworkers, const struct bal_params *params, bool replan,
		      struct bal_move *moves, unsigned int max_moves)
{
	struct state st = { .nw = nworkers < BAL_MAX_WORKERS ? nworkers : BAL_MAX_WORKERS, .ids = workers };
	const struct bal_queue **sorted;
	int *owner;
	unsigned int n = 0;

	if (!st.nw || !nqueues)
		return 0;
	owner = malloc(sizeof(*owner) * nqueues);
	sorted = malloc(sizeof(*sorted) * nqueues);
	if (!owner || !sorted)
		goto out;
	for (unsigned int i = 0; i < nqueues; i++) {
		owner[i] = slot_of(&st, queues[i].worker);
		sorted[i] = &queues[i];
	}
	qsort(sorted, nqueues, sizeof(*sorted), by_load_desc);

	if (replan) {
		for (unsigned int k = 0; k < nqueues; k++) {
			unsigned int i = (unsigned int)(sorted[k] - queues);
			unsigned int to = least_loaded(&st, queues[i].worker);

			st.load[to] += weight(&queues[i]);
			if (owner[i] != (int)to)
				add_move(moves, &n, max_moves, queues[i].key, queues[i].worker,
					 st.ids[to], owner[i] < 0 ? BAL_REASON_ORPHAN : BAL_REASON_REPLAN);
			owner[i] = (int)to;
		}
		goto out;
	}

	for (unsigned int i = 0; i < nqueues; i++)
		if (owner[i] >= 0)
			st.load[owner[i]] += weight(&queues[i]);
	for (unsigned int k = 0; k < nqueues; k++) {
		unsigned int i = (unsigned int)(sorted[k] - queues);
		unsigned int to;

		if (owner[i] >= 0)
			continue;
		to = least_loaded(&st, -1);
		st.load[to] += weight(&queues[i]);
		owner[i] = (int)to;
		add_move(moves, &n, max_moves, queues[i].key, queues[i].worker, st.ids[to],
			 BAL_REASON_ORPHAN);
	}

	for (unsigned int round = 0; round < params->max_moves && n < max_moves; round++) {
		unsigned int hi, lo, best = nqueues;
		uint64_t old_spread, best_spread;

		spread(&st, &hi, &lo);
		/*
		 * A system this quiet gains nothing from moves, and its loads are mostly noise (a
		 * sender descheduled for a tick): moving then only churns, and hysteresis would keep
		 * the churn.
		 */
		if (hi == lo || st.load[hi] < (uint64_t)params->min_busy * 1000)
			break;
		old_spread = st.load[hi] - st.load[lo];
		best_spread = old_spread;
		for (unsigned int i = 0; i < nqueues; i++) {
			uint64_t w = weight(&queues[i]), s;
			unsigned int a, b;

			if (owner[i] != (int)hi)
				continue;
			st.load[hi] -= w;
			st.load[lo] += w;
			spread(&st, &a, &b);
			s = st.load[a] - st.load[b];
			st.load[hi] += w;
			st.load[lo] -= w;
			if (s < best_spread) {
				best_spread = s;
				best = i;
			}
		}
		if (best == nqueues ||
		    best_spread * 100 > old_spread * (100 - params->hysteresis_pct) ||
		    old_spread - best_spread < (uint64_t)params->min_gain * 1000)
			break;
		st.load[hi] -= weight(&queues[best]);
		st.load[lo] += weight(&queues[best]);
		owner[best] = (int)lo;
		add_move(moves, &n, max_moves, queues[best].key, queues[best].worker, st.ids[lo],
			 BAL_REASON_LOAD);
	}
out:
	/* A ring that moved away and back is not a move. */
	for (unsigned int i = 0; i < n;) {
		if (moves[i].from == moves[i].to) {
			memmove(&moves[i], &moves[i + 1], (n - i - 1) * sizeof(moves[0]));
			n--;
		} else {
			i++;
		}
	}
	free(owner);
	free(sorted);
	return n;
}
