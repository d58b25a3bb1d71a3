/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Queue placement policy: a pure function from a snapshot of measured loads and the set of
 * usable workers to a plan of moves. No I/O, no globals: table-driven tests feed it snapshots.
 *
 * Loads are in permille of one core (busy cycles / elapsed cycles over the last interval).
 */
#ifndef VULB_BALANCE_POLICY_H
#define VULB_BALANCE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

struct bal_queue {
	uint32_t key;        /* caller's identifier of the ring */
	int worker;          /* current owner, -1 none */
	uint32_t load;       /* permille of a core */
};

struct bal_params {
	unsigned int hysteresis_pct; /* a move must shrink the load spread by this much ... */
	uint32_t min_gain;           /* ... and by at least this many permille */
	uint32_t min_busy;           /* no load moves while the busiest worker is below this (permille) */
	unsigned int max_moves;      /* per plan */
};

enum bal_reason {
	BAL_REASON_LOAD,      /* the spread between workers narrows enough */
	BAL_REASON_ORPHAN,    /* the ring had no usable worker (new, or its CPU went away) */
	BAL_REASON_REPLAN,    /* full re-plan after a topology change */
};

struct bal_move {
	uint32_t key;
	int from, to;
	enum bal_reason reason;
};

#define BAL_MAX_WORKERS 64

unsigned int bal_plan(const struct bal_queue *queues, unsigned int nqueues, const int *workers,
		      unsigned int nworkers, const struct bal_params *params, bool replan,
		      struct bal_move *moves, unsigned int max_moves);
const char *bal_reason_name(enum bal_reason r);

#endif
