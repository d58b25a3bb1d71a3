// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Backend choice for least-load and weighted round robin: pure functions over a snapshot.
 *
 * Least-load cost of a backend = (active flows + 1) * (LB_LL_BASE_US + queueing delay) / weight.
 * The delay is what the guest itself shows: frames waiting in its RX queues divided by how fast
 * it takes them (lb_load_estimate()). A backend that drains slowly looks as if each of its
 * flows weighed more, so it gets fewer new ones; an idle one costs LB_LL_BASE_US per flow, so
 * among idle backends the choice is least-connections by weight. The "+ 1" counts the flow
 * being placed, so an idle weight-1 backend and a weight-2 one with one flow cost the same.
 */
#include "lb/lb_internal.h"

/**
 * lb_load_estimate() - a backend's queueing delay from its RX backlog and drain rate.
 * @rx_backlog: frames delivered to the guest's RX rings that it has not taken yet.
 * @drain_per_s: frames per second it took over the last measurement interval.
 *
 * Context: any thread; pure. Return: microseconds, at most LB_LOAD_MAX_US; a guest with a
 * backlog that takes nothing counts as LB_LOAD_MAX_US.
 */
uint32_t lb_load_estimate(uint32_t rx_backlog, uint32_t drain_per_s)
{
	uint64_t us;

	if (!rx_backlog)
		return 0;
	if (!drain_per_s)
		return LB_LOAD_MAX_US;
	us = (uint64_t)rx_backlog * 1000000u / drain_per_s;
	return (uint32_t)MIN(us, (uint64_t)LB_LOAD_MAX_US);
}

static unsigned __int128 ll_cost(const struct lb_ll_cand *c)
{
	return (unsigned __int128)((uint64_t)c->flows + 1) *
	       (LB_LL_BASE_US + MIN(c->load_us, LB_LOAD_MAX_US));
}

/**
 * lb_least_load_pick() - the candidate with the least cost per unit of weight.
 * @start: where the scan begins (e.g. the flow hash): among equal costs the first one met
 *         from there wins, so ties spread over backends yet the answer is a pure function of
 *         the inputs.
 *
 * Context: any thread; pure. Return: an index into @c, or -ENOENT when no candidate has weight.
 */
int lb_least_load_pick(const struct lb_ll_cand *c, unsigned int n, uint32_t start)
{
	int best = -ENOENT;

	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = (unsigned int)((start + (uint64_t)k) % n);

		if (!c[i].weight)
			continue;
		/* cost_i / w_i < cost_b / w_b, without division; 128 bits cannot overflow. */
		if (best < 0 ||
		    ll_cost(&c[i]) * c[best].weight < ll_cost(&c[best]) * c[i].weight)
			best = (int)i;
	}
	return best;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/**
 * lb_wrr_build() - a weighted round-robin schedule, interleaved ("smooth": each step picks
 * the backend furthest behind its share, so a weight-5 backend's turns are spread out, not
 * bunched).
 * @weight: @n weights, 0 = not scheduled. @out: up to @cap backend indices.
 *
 * Weights are divided by their greatest common divisor; if the schedule would still be
 * longer than @cap they are scaled down (each non-zero weight stays at least 1).
 *
 * Context: any thread; pure. Return: the schedule's length (0 when no weight is non-zero),
 * or -EINVAL.
 */
int lb_wrr_build(const uint32_t *weight, unsigned int n, uint16_t *out, uint32_t cap)
{
	uint32_t w[LB_MAX_BACKENDS], g = 0;
	int64_t cur[LB_MAX_BACKENDS] = { 0 };
	uint64_t total = 0;

	if (n > LB_MAX_BACKENDS || cap < n || cap == 0)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		g = gcd32(g, weight[i]);
	if (!g)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		w[i] = weight[i] / g;
		total += w[i];
	}
	if (total > cap) {
		uint64_t t = total;

		total = 0;
		for (unsigned int i = 0; i < n; i++) {
			if (w[i])
				w[i] = (uint32_t)MAX(1u, (uint64_t)w[i] * (cap - n) / t);
			total += w[i];
		}
	}
	for (uint64_t k = 0; k < total; k++) {
		unsigned int best = n;

		for (unsigned int i = 0; i < n; i++) {
			if (!w[i])
				continue;
			cur[i] += w[i];
			if (best == n || cur[i] > cur[best])
				best = i;
		}
		cur[best] -= (int64_t)total;
		out[k] = (uint16_t)best;
	}
	return (int)total;
}
