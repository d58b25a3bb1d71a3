/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balancer on the control thread: a tick pipeline (measure -> detect environment change
 * -> plan with the pure policy -> apply through dp_vq_move()), plus the worker set, which
 * follows the CPUs the daemon may run on.
 */
#ifndef VULB_BALANCE_BALANCER_H
#define VULB_BALANCE_BALANCER_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "balance/policy.h"
#include "core/evloop.h"
#include "dp/dp.h"

#define BALANCER_TICK_MS 100
#define BALANCER_HISTORY 64

struct balancer_event {
	uint64_t time_ns;          /* CLOCK_REALTIME */
	char port[64];
	unsigned int vq;
	int from, to;              /* worker ids, -1 none */
	int from_cpu, to_cpu;
	enum bal_reason reason;
	char detail[48];           /* what changed, for topology re-plans */
};

struct balancer {
	struct dp *dp;
	struct evloop *loop;
	struct ev_source *tick;
	struct ev_source *soon;        /* one-shot: re-plan right after an environment change */
	struct bal_params params;
	bool fixed_cpus;               /* --workers given: those CPUs (within the allowed set) */
	cpu_set_t wanted;              /* with fixed_cpus: the list given */
	cpu_set_t allowed;             /* the daemon's affinity at the last check */
	bool changed;
	char changed_why[48];
	uint64_t last_tsc;
	uint64_t worker_last_cycles[DP_MAX_WORKERS];
	uint32_t worker_load[DP_MAX_WORKERS];   /* permille, last tick */
	bool retiring[DP_MAX_WORKERS];
	struct balancer_event history[BALANCER_HISTORY];
	unsigned int history_len, history_next;
	uint64_t ticks, replans, moves;
};

int balancer_new(struct dp *dp, struct evloop *loop, const int *cpus, unsigned int ncpus,
		 struct balancer **ret);
void balancer_free(struct balancer *b);
void balancer_changed(struct balancer *b, const char *why);
void balancer_set_cpus(struct balancer *b, const int *cpus, unsigned int ncpus);

#endif
