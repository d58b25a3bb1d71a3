/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RX steering: frames to a multi-queue guest are spread over its RX queues by flow hash
 * through an indirection table of STEER_BUCKETS entries. The table is reweighted toward the
 * queues the guest drains faster; only buckets no frame used recently move, so a running
 * flow keeps its queue and its order. Pure functions; the balancer feeds them measurements.
 */
#ifndef VULB_BALANCE_STEER_H
#define VULB_BALANCE_STEER_H

#include <stdbool.h>
#include <stdint.h>

#define STEER_BUCKETS 128
#define STEER_MAX_QUEUES 16

void steer_spread_evenly(uint8_t table[STEER_BUCKETS], uint32_t ready_mask);
unsigned int steer_reweight(uint8_t table[STEER_BUCKETS], const bool idle[STEER_BUCKETS],
			    const uint32_t weight[STEER_MAX_QUEUES], uint32_t ready_mask,
			    unsigned int max_moves);
void steer_targets(const uint32_t weight[STEER_MAX_QUEUES], uint32_t ready_mask,
		   unsigned int target[STEER_MAX_QUEUES]);

#endif
