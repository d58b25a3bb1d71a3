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
 *
 * Where the delay comes from (lb_rx_meter_sample(), lb_rx_load_update()): the guest's own RX
 * rings, read from indices the switch already has, so nothing is added to the datapath.
 * Frames waiting for the guest are bounded two ways: a driver keeps its ring stocked with
 * empty buffers and gives each one back (a new avail entry) after taking the frame in it, so
 * the buffers missing from its usual stock bound them; with EVENT_IDX it also writes, when it
 * has caught up and wants an interrupt again, how far it has processed (used_event), so the
 * used entries past that bound them too. Neither alone is exact: Linux refills lazily (up to
 * half a NAPI budget of buffers stay out while it is idle), and used_event is stale while a
 * driver polls. The smaller is the estimate. A guest is behind only when frames it had at
 * one sample are still there at the next (or it ran out of buffers): then it had work the
 * whole interval and what it took is its capacity.
 *
 * A guest writes its own indices: it can make itself look slower or faster than it is, and
 * so draw fewer or more new flows, which it could as well by draining slower or faster.
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

/**
 * lb_rx_meter_sample() - take one sample of a guest RX queue.
 * @m: this queue's state; zero it (or clear primed) whenever the ring (re)starts.
 * @s: the queue now. @s->posted and @s->unacked come from the guest: anything is possible;
 *     a ring claiming more free buffers than it has counts as having none, and an unacked
 *     count over the ring size is ignored (a driver that polls parks used_event far away).
 * @ret: backlog: frames waiting for the guest (the buffers missing from its usual stock, or
 *     the used entries it has not acknowledged if fewer), plus the frames dropped since the
 *     last sample for want of a buffer; drained: frames it took since the last sample
 *     (delivered, less what the backlog grew by); late: the part of the previous backlog
 *     still waiting (the ring is FIFO: what it took came off the old end), counted only when
 *     frames were delivered or dropped since, so a quiet guest that keeps buffers back is not
 *     read as stuck; dropped.
 *
 * The usual stock ("full") is the most free buffers seen; after LB_RX_SETTLE quiet samples
 * it follows the guest down, so a driver that keeps fewer buffers posted is not read as
 * loaded for ever. Never with no buffer free: a guest that posts none takes nothing.
 *
 * Context: any thread; pure but for @m.
 */
void lb_rx_meter_sample(struct lb_rx_meter *m, const struct lb_rx_sample *s,
			struct lb_rx_reading *ret)
{
	uint16_t free_now = (uint16_t)(s->posted - s->taken), backlog;
	uint64_t delivered, dropped, drained = 0;
	bool active;
	int64_t grew;

	*ret = (struct lb_rx_reading){ 0 };
	if (free_now > s->num)
		free_now = 0;
	if (!m->primed) {
		*m = (struct lb_rx_meter){ .delivered = s->delivered, .no_buffer = s->no_buffer,
					   .posted = s->posted, .full = free_now, .primed = true };
		return;
	}
	/* Counters only grow while a ring runs; a smaller value means they were reset. */
	delivered = s->delivered >= m->delivered ? s->delivered - m->delivered : 0;
	dropped = s->no_buffer >= m->no_buffer ? s->no_buffer - m->no_buffer : 0;
	active = delivered || dropped || s->posted != m->posted;
	if (active)
		m->quiet = 0;
	else if (m->quiet < LB_RX_SETTLE)
		m->quiet++;
	if (free_now > m->full || (m->quiet >= LB_RX_SETTLE && free_now > 0))
		m->full = free_now;
	backlog = (uint16_t)(m->full - free_now);
	if (s->has_unacked && s->unacked <= s->num)
		backlog = MIN(backlog, s->unacked);
	grew = (int64_t)backlog - m->backlog;
	/* Quiet: the backlog can only have moved because "full" settled, not by draining. */
	if (active && (int64_t)delivered > grew)
		drained = (uint64_t)((int64_t)delivered - grew);
	dropped = MIN(dropped, (uint64_t)UINT32_MAX - UINT16_MAX);
	ret->backlog = (uint32_t)(backlog + dropped);
	ret->drained = (uint32_t)MIN(drained, (uint64_t)UINT32_MAX);
	ret->dropped = (uint32_t)dropped;
	if (delivered || dropped)
		ret->late = (uint32_t)MIN(m->backlog > drained ? m->backlog - drained : 0,
					  (uint64_t)backlog);
	m->delivered = s->delivered;
	m->no_buffer = s->no_buffer;
	m->posted = s->posted;
	m->backlog = backlog;
}

/* Adds @r to @sum, saturating. Context: any thread; pure. */
void lb_rx_reading_add(struct lb_rx_reading *sum, const struct lb_rx_reading *r)
{
	sum->backlog = (uint32_t)MIN((uint64_t)sum->backlog + r->backlog, (uint64_t)UINT32_MAX);
	sum->drained = (uint32_t)MIN((uint64_t)sum->drained + r->drained, (uint64_t)UINT32_MAX);
	sum->late = (uint32_t)MIN((uint64_t)sum->late + r->late, (uint64_t)UINT32_MAX);
	sum->dropped = (uint32_t)MIN((uint64_t)sum->dropped + r->dropped, (uint64_t)UINT32_MAX);
}

/**
 * lb_rx_load_update() - a guest's queueing delay from one reading of all its RX queues.
 * @l: the guest's state (zeroed at first).
 * @r: the sum of its queues' readings (lb_rx_meter_sample()).
 * @interval_ms: time since the previous sample (> 0).
 *
 * A guest that took everything that was waiting at the previous sample, and never ran out of
 * buffers, keeps up: whatever waits now arrived since and says nothing about it (delay 0).
 * One that did not (late frames, or drops) had work the whole interval, so what it took is
 * what it can take: its capacity, smoothed (half the old, half the new). Its delay is then
 * the backlog over that capacity; at least the interval, if frames waited that long; and,
 * while it takes nothing at all, the whole time it has been stalled. Up to LB_LOAD_MAX_US.
 *
 * Context: any thread; pure but for @l. Return: microseconds, at most LB_LOAD_MAX_US.
 */
uint32_t lb_rx_load_update(struct lb_rx_load *l, const struct lb_rx_reading *r,
			   uint32_t interval_ms)
{
	uint64_t cap, us;

	if (!interval_ms)
		interval_ms = 1;
	if (!r->late && !r->dropped) {
		l->stalled_ms = 0;
		return 0;
	}
	cap = MIN((uint64_t)r->drained * 1000u / interval_ms, (uint64_t)UINT32_MAX);
	l->rate = l->rate ? (uint32_t)(((uint64_t)l->rate + cap) / 2) : (uint32_t)cap;
	if (r->drained)
		l->stalled_ms = 0;
	else
		l->stalled_ms = (uint32_t)MIN((uint64_t)l->stalled_ms + interval_ms,
					      (uint64_t)LB_LOAD_MAX_US / 1000);
	us = (uint64_t)l->stalled_ms * 1000;
	if (r->late)
		us = MAX(us, (uint64_t)interval_ms * 1000);
	if (l->rate)
		us = MAX(us, (uint64_t)lb_load_estimate(r->backlog, l->rate));
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
