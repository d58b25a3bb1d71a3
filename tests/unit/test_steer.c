// SPDX-License-Identifier: GPL-2.0-or-later
/* RX steering table: even spread, weights, only idle buckets move, orphans always move. */
#include <string.h>

#include "balance/steer.h"
#include "check.h"

static unsigned int count(const uint8_t *t, uint8_t q)
{
	unsigned int n = 0;

	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		n += t[b] == q;
	return n;
}

int main(void)
{
	uint8_t t[STEER_BUCKETS], before[STEER_BUCKETS];
	uint32_t w[STEER_MAX_QUEUES] = { 0 };
	unsigned int target[STEER_MAX_QUEUES];
	bool idle[STEER_BUCKETS];
	unsigned int moved, active_moved = 0;

	steer_spread_evenly(t, 0xf);
	CHECK(count(t, 0) == 32 && count(t, 3) == 32, "even spread over 4 queues");

	w[0] = 300; w[1] = 100;
	steer_targets(w, 0x3, target);
	CHECK(target[0] == 96 && target[1] == 32, "targets follow weights 3:1 (%u, %u)", target[0], target[1]);

	/* Queue 1 drains slower: weights 1:3 against an even table, half the buckets active. */
	steer_spread_evenly(t, 0x3);
	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		idle[b] = (b / 2) % 2;
	memcpy(before, t, sizeof(t));
	w[0] = 100; w[1] = 300;
	moved = steer_reweight(t, idle, w, 0x3, STEER_BUCKETS);
	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		active_moved += !idle[b] && t[b] != before[b];
	CHECK(moved == 32 && count(t, 1) == 96, "32 idle buckets moved toward the faster queue (%u, q1=%u)",
	      moved, count(t, 1));
	CHECK(active_moved == 0, "no active bucket moved: running flows keep their queue");

	/* Nothing idle: nothing moves, however skewed. */
	memset(idle, 0, sizeof(idle));
	w[0] = 1000; w[1] = 1;
	CHECK(steer_reweight(t, idle, w, 0x3, STEER_BUCKETS) == 0, "no idle bucket: no move");

	/* Queue 1 disabled: its buckets are orphans and move even while active. */
	moved = steer_reweight(t, idle, w, 0x1, STEER_BUCKETS);
	CHECK(count(t, 0) == STEER_BUCKETS, "orphans of a stopped queue all move (%u moved)", moved);

	/* A queue enabled later gets only idle buckets. */
	for (unsigned int b = 0; b < STEER_BUCKETS; b++)
		idle[b] = b < 64;
	w[0] = 100; w[1] = 100;
	moved = steer_reweight(t, idle, w, 0x3, 8);
	CHECK(moved == 8 && count(t, 1) == 8, "max_moves honoured (%u)", moved);
	return check_done();
}
