// SPDX-License-Identifier: GPL-2.0-or-later
#include "balance/steer.h"

#include <string.h>

/* Buckets go round-robin over the ready queues. Used when the set of ready queues changes. */
void steer_spread_evenly(uint8_t table[STEER_BUCKETS], uint32_t ready_mask)
{
	uint8_t ready[STEER_MAX_QUEUES];
	unsigned int n = 0;

	for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++)
		if (ready_mask & (1u << q))
			ready[n++] = (uint8_t)q;
	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		table[b] = n ? ready[b % n] : 0;
}

/* How many buckets each ready queue should own, proportional to its weight (largest remainder). */
void steer_targets(const uint32_t weight[STEER_MAX_QUEUES], uint32_t ready_mask,
		   unsigned int target[STEER_MAX_QUEUES])
{
	uint64_t sum = 0, rem[STEER_MAX_QUEUES] = { 0 };
	unsigned int given = 0;

	memset(target, 0, sizeof(target[0]) * STEER_MAX_QUEUES);
	for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++)
		if (ready_mask & (1u << q))
			sum += weight[q] ? weight[q] : 1;
	if (!sum)
		return;
	for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++) {
		uint64_t w, share;

		if (!(ready_mask & (1u << q)))
			continue;
		w = weight[q] ? weight[q] : 1;
		share = w * STEER_BUCKETS;
		target[q] = (unsigned int)(share / sum);
		rem[q] = share % sum;
		given += target[q];
	}
	while (given < STEER_BUCKETS) {
		unsigned int best = STEER_MAX_QUEUES;

		for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++)
			if ((ready_mask & (1u << q)) && (best == STEER_MAX_QUEUES || rem[q] > rem[best]))
				best = q;
		target[best]++;
		rem[best] = 0;
		given++;
	}
}

/**
 * steer_reweight() - move idle buckets from queues above their share to queues below it.
 * A bucket pointing at a queue that is not ready moves whatever its activity: its flows
 * have nowhere to go anyway.
 * Return: buckets moved.
 */
unsigned int steer_reweight(uint8_t table[STEER_BUCKETS], const bool idle[STEER_BUCKETS],
			    const uint32_t weight[STEER_MAX_QUEUES], uint32_t ready_mask,
			    unsigned int max_moves)
{
	unsigned int target[STEER_MAX_QUEUES], count[STEER_MAX_QUEUES] = { 0 }, moved = 0;

	if (!ready_mask)
		return 0;
	steer_targets(weight, ready_mask, target);
	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		if (table[b] < STEER_MAX_QUEUES && (ready_mask & (1u << table[b])))
			count[table[b]]++;
	for (unsigned int b = 0; b < STEER_BUCKETS; b++) {
		unsigned int from = table[b], to = STEER_MAX_QUEUES;
		bool orphan = from >= STEER_MAX_QUEUES || !(ready_mask & (1u << from));

		if (!orphan && (!idle[b] || count[from] <= target[from] || moved >= max_moves))
			continue;
		for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++)
			if ((ready_mask & (1u << q)) && count[q] < target[q] &&
			    (to == STEER_MAX_QUEUES || target[q] - count[q] > target[to] - count[to]))
				to = q;
		if (to == STEER_MAX_QUEUES) {
			if (!orphan)
				continue;
			/* Every queue has its share: put the orphan on the least loaded one. */
			for (unsigned int q = 0; q < STEER_MAX_QUEUES; q++)
				if ((ready_mask & (1u << q)) && (to == STEER_MAX_QUEUES || count[q] < count[to]))
					to = q;
		}
		if (!orphan)
			count[from]--;
		count[to]++;
		table[b] = (uint8_t)to;
		moved++;
	}
	return moved;
}
