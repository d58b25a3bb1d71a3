// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Maglev lookup tables (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, section 3.4): each backend has a permutation of the table's slots,
 * offset = h1 mod M, skip = h2 mod (M - 1) + 1 with M prime; backends take turns claiming
 * their next preferred free slot until the table is full. A flow's slot is its hash mod M.
 *
 * Two changes to the paper's fill:
 * - Weights are quotas: a backend's share is M * w / sum(w), rounded by largest remainder,
 *   so shares are exact to one entry; turns come in proportion to weight (credit per round).
 * - Stickiness: a rebuild starts from the previous table. Entries of backends still present
 *   stay where they are unless their owner is above its new quota, in which case it gives up
 *   its least preferred ones (the end of its permutation). Only freed slots are refilled. So
 *   removing a backend moves exactly its own entries and no others, and adding one moves only
 *   the entries the newcomer takes. The paper's fill moves a few percent of surviving
 *   entries on every change; with a flow table in front that would be harmless for
 *   established flows, but it would move TCP flows picked up mid-stream after an expiry.
 * With no previous table the result is the paper's table (with weights).
 */
#include "lb/lb_internal.h"

#include <stdlib.h>

/* Context: any thread; pure. */
bool lb_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

struct mg_work {
	uint32_t quota, count, next, offset, skip, credit;
};

/*
 * Quotas by largest remainder: floor(M * w / W), then one more for the largest remainders,
 * first to backends that already hold more than their floor (w->count, from the previous
 * table): rounding in their favour spares them giving back an entry, so a removal does not
 * move a survivor's entry because of rounding alone.
 */
static void quotas(const struct lb_mg_backend *be, unsigned int n, uint32_t size,
		   struct mg_work *w)
{
	uint64_t total = 0;
	uint32_t given = 0;

	for (unsigned int i = 0; i < n; i++)
		total += be[i].weight;
	for (unsigned int i = 0; i < n; i++) {
		w[i].quota = (uint32_t)((uint64_t)size * be[i].weight / total);
		given += w[i].quota;
	}
	while (given < size) {
		unsigned int best = n;
		uint64_t best_key = 0;

		for (unsigned int i = 0; i < n; i++) {
			uint64_t key = (uint64_t)size * be[i].weight % total;

			/* Each backend gets at most one extra entry: its remainder is then spent. */
			if (!be[i].weight || (uint64_t)w[i].quota * total > (uint64_t)size * be[i].weight)
				continue;
			if (w[i].count > w[i].quota)
				key += total;   /* above any plain remainder, which is < total */
			if (best == n || key > best_key) {
				best = i;
				best_key = key;
			}
		}
		w[best].quota++;
		given++;
	}
}

/**
 * lb_maglev_build() - fill a Maglev table.
 * @be: @n backends (n <= LB_MG_NONE); a weight of 0 keeps a backend out of the table.
 * @size: a prime table size, at least the number of backends with weight.
 * @prev: NULL, or the previous table translated into this @be index space (LB_MG_NONE where
 *        the old owner is gone).
 * @table: @size entries out: backend index per slot, all LB_MG_NONE when no backend has weight.
 *
 * Context: control thread (allocates scratch); pure otherwise. Deterministic.
 * Return: 0, -EINVAL on a bad size, -ENOMEM.
 */
int lb_maglev_build(const struct lb_mg_backend *be, unsigned int n, uint32_t size,
		    const uint16_t *prev, uint16_t *table)
{
	struct mg_work *w;
	unsigned int nw = 0;
	uint32_t filled = 0, wmax = 0;

	if (size < 2 || !lb_is_prime(size) || n >= LB_MG_NONE)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++)
		if (be[i].weight) {
			nw++;
			wmax = MAX(wmax, be[i].weight);
		}
	for (uint32_t s = 0; s < size; s++)
		table[s] = LB_MG_NONE;
	if (!nw)
		return 0;
	if (nw > size)
		return -EINVAL;
	w = calloc(n, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		w[i].offset = (uint32_t)(be[i].h1 % size);
		w[i].skip = (uint32_t)(be[i].h2 % (size - 1) + 1);
	}
	if (prev) {
		for (uint32_t s = 0; s < size; s++) {
			uint16_t b = prev[s];

			if (b < n && be[b].weight) {
				table[s] = b;
				w[b].count++;
			}
		}
	}
	quotas(be, n, size, w);
	if (prev) {
		/* Above quota: give back the least preferred slots, walking the permutation back. */
		for (unsigned int i = 0; i < n; i++) {
			uint32_t s = (uint32_t)((w[i].offset + (uint64_t)(size - 1) * w[i].skip) % size);

			while (w[i].count > w[i].quota) {
				if (table[s] == i) {
					table[s] = LB_MG_NONE;
					w[i].count--;
				}
				s = s >= w[i].skip ? s - w[i].skip : s + size - w[i].skip;
			}
		}
	}
	for (unsigned int i = 0; i < n; i++)
		filled += w[i].count;
	/*
	 * Turns in proportion to weight. Every backend below quota still finds a free slot on its
	 * permutation (free slots exist while filled < size, and a permutation visits every slot),
	 * and its cursor only moves forward, so the walk is at most size steps per backend.
	 */
	while (filled < size) {
		for (unsigned int i = 0; i < n && filled < size; i++) {
			struct mg_work *x = &w[i];

			if (!be[i].weight || x->count >= x->quota)
				continue;
			x->credit += be[i].weight;
			while (x->credit >= wmax && x->count < x->quota) {
				uint32_t s;

				x->credit -= wmax;
				do {
					s = (uint32_t)((x->offset + (uint64_t)x->next * x->skip) % size);
					x->next++;
				} while (table[s] != LB_MG_NONE);
				table[s] = (uint16_t)i;
				x->count++;
				filled++;
			}
		}
	}
	free(w);
	return 0;
}
