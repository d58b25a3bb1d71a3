// SPDX-License-Identifier: GPL-2.0-or-later
#include "balance/balancer.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

static void tick(struct balancer *b);

static void record(struct balancer *b, const struct dp_port *port, unsigned int vq, int from,
		   int to, enum bal_reason reason)
{
	struct balancer_event *e = &b->history[b->history_next];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*e = (struct balancer_event){
		.time_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec,
		.vq = vq, .from = from, .to = to, .reason = reason,
		.from_cpu = from >= 0 ? b->dp->workers[from].cpu : -1,
		.to_cpu = to >= 0 ? b->dp->workers[to].cpu : -1,
	};
	snprintf(e->port, sizeof(e->port), "%s", port->name);
	snprintf(e->detail, sizeof(e->detail), "%s", reason == BAL_REASON_LOAD ? "" : b->changed_why);
	b->history_next = (b->history_next + 1) % BALANCER_HISTORY;
	if (b->history_len < BALANCER_HISTORY)
		b->history_len++;
}

static void on_soon(struct ev_source *src, void *opaque)
{
	struct balancer *b = opaque;

	evloop_remove(src);
	b->soon = NULL;
	tick(b);
}

/* Context: control thread. Sets the "changed" flag and re-plans as soon as this event ends. */
void balancer_changed(struct balancer *b, const char *why)
{
	if (!b->changed)
		snprintf(b->changed_why, sizeof(b->changed_why), "%s", why);
	b->changed = true;
	if (!b->soon && evloop_add_timer(b->loop, 0, 0, on_soon, b, &b->soon))
		b->soon = NULL;
}

static void dp_changed(void *opaque, const char *why)
{
	balancer_changed(opaque, why);
}

static int worker_on_cpu(struct dp *dp, int cpu)
{
	dp_foreach_worker(dp, w)
		if (w->cpu == cpu)
			return (int)w->id;
	return -1;
}

/*
 * Keeps one worker per CPU we may use: starts workers on CPUs that appeared, marks those on
 * CPUs that went away as retiring (the plan moves their rings off; they stop once empty).
 */
static void sync_workers(struct balancer *b)
{
	cpu_set_t allowed, use;

	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return;
	if (!CPU_EQUAL(&allowed, &b->allowed)) {
		if (CPU_COUNT(&b->allowed))
			balancer_changed(b, "allowed CPUs changed");
		b->allowed = allowed;
	}
	if (b->fixed_cpus) {
		CPU_AND(&use, &b->wanted, &allowed);
		if (!CPU_COUNT(&use)) {
			/* None of the CPUs asked for is ours: run somewhere rather than nowhere. */
			use = allowed;
		}
	} else {
		use = allowed;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		int id;

		if (!CPU_ISSET(cpu, &use))
			continue;
		id = worker_on_cpu(b->dp, cpu);
		if (id >= 0) {
			b->retiring[id] = false;
			continue;
		}
		if (b->dp->nworkers >= DP_MAX_WORKERS)
			break;
		{
			unsigned int nid;

			if (dp_worker_start(b->dp, cpu, &nid) == 0) {
				b->retiring[nid] = false;
				b->worker_last_cycles[nid] = 0;
				log_info("worker %u started on CPU %d", nid, cpu);
				balancer_changed(b, "worker added");
			}
		}
	}
	dp_foreach_worker(b->dp, w) {
		if (!CPU_ISSET(w->cpu, &use) && !b->retiring[w->id]) {
			b->retiring[w->id] = true;
			balancer_changed(b, "CPU removed");
		}
		/* Someone may have re-pinned our threads (taskset -a): put each back on its CPU. */
		if (CPU_ISSET(w->cpu, &use)) {
			cpu_set_t cur;

			if (pthread_getaffinity_np(w->thread, sizeof(cur), &cur) == 0 &&
			    (CPU_COUNT(&cur) != 1 || !CPU_ISSET(w->cpu, &cur)))
				(void)dp_worker_pin(b->dp, w->id, w->cpu);
		}
	}
}

/**
 * balancer_set_cpus() - run workers on @cpus (NULL: every CPU the daemon may use) from now on.
 * Workers on CPUs no longer wanted retire once the next plan has moved their queues away.
 * Context: control thread.
 */
void balancer_set_cpus(struct balancer *b, const int *cpus, unsigned int ncpus)
{
	cpu_set_t want;

	CPU_ZERO(&want);
	for (unsigned int i = 0; cpus && i < ncpus; i++)
		CPU_SET(cpus[i], &want);
	if (b->fixed_cpus == !!cpus && (!cpus || CPU_EQUAL(&want, &b->wanted)))
		return;
	b->fixed_cpus = cpus != NULL;
	b->wanted = want;
	balancer_changed(b, "worker CPUs reconfigured");
	sync_workers(b);
}

static void measure(struct balancer *b, uint64_t elapsed)
{
	struct dp_port_set *set = b->dp->ports;

	for (unsigned int i = 0; set && i < set->n; i++)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2) {
			struct dp_vq *vq = &set->ports[i]->vq[q];
			uint64_t c = __atomic_load_n(&vq->stats.busy_cycles, __ATOMIC_RELAXED);

			uint32_t sample = elapsed ? (uint32_t)MIN((c - vq->bal_last_cycles) * 1000 / elapsed, 1000) : 0;

			/*
			 * Averaged with the previous ticks (half weight each tick): one tick in which
			 * a hot ring's sender was descheduled, or a quiet ring's worker was preempted
			 * mid-drain, must not read as the loads swapping places, or the plan follows
			 * the noise and moves rings back and forth.
			 */
			vq->bal_load = (vq->bal_load + sample) / 2;
			vq->bal_last_cycles = c;
		}
	dp_foreach_worker(b->dp, w) {
		uint64_t c = __atomic_load_n(&w->stats.busy_cycles, __ATOMIC_RELAXED);

		b->worker_load[w->id] = elapsed ? (uint32_t)MIN((c - b->worker_last_cycles[w->id]) * 1000 / elapsed, 1000) : 0;
		b->worker_last_cycles[w->id] = c;
	}
}

static void plan_and_apply(struct balancer *b)
{
	struct dp_port_set *set = b->dp->ports;
	unsigned int nq = 0, nw = 0, nmoves;
	int workers[DP_MAX_WORKERS];
	struct bal_queue *qs;
	struct bal_move moves[64];
	bool replan = b->changed;

	dp_foreach_worker(b->dp, w)
		if (!b->retiring[w->id])
			workers[nw++] = (int)w->id;
	for (unsigned int i = 0; set && i < set->n; i++)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2)
			nq += set->ports[i]->vq[q].ready;
	qs = calloc(nq + 1, sizeof(*qs));
	if (!qs)
		return;
	nq = 0;
	for (unsigned int i = 0; set && i < set->n; i++)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2) {
			const struct dp_vq *vq = &set->ports[i]->vq[q];

			if (vq->ready)
				qs[nq++] = (struct bal_queue){ .key = i << 8 | q, .worker = vq->worker,
							       .load = vq->bal_load };
		}
	nmoves = bal_plan(qs, nq, workers, nw, &b->params, replan, moves, 64);
	if (replan)
		b->replans++;
	for (unsigned int m = 0; m < nmoves; m++) {
		struct dp_port *port = set->ports[moves[m].key >> 8];
		unsigned int q = moves[m].key & 0xff;

		record(b, port, q, moves[m].from, moves[m].to, moves[m].reason);
		log_info("balancer: port '%s' vq=%u worker %d -> %d (%s%s%s)", port->name, q,
			 moves[m].from, moves[m].to, bal_reason_name(moves[m].reason),
			 moves[m].reason == BAL_REASON_LOAD ? "" : ": ",
			 moves[m].reason == BAL_REASON_LOAD ? "" : b->changed_why);
		dp_vq_move(b->dp, port, q, moves[m].to);
		b->moves++;
	}
	free(qs);
	b->changed = false;
	dp_foreach_worker(b->dp, w)
		if (b->retiring[w->id] && w->nqueues == 0) {
			log_info("worker %u on CPU %d stopped (CPU no longer ours)", w->id, w->cpu);
			b->retiring[w->id] = false;
			dp_worker_stop(b->dp, w->id);
		}
}

/*
 * RX steering: weigh each ready RX queue by how many buffers the guest keeps posted there
 * (a queue whose vCPU is busy refills slowly) and cut the weight of one that ran dry, then
 * move idle buckets toward the weights.
 */
static void steer_port(struct balancer *b, struct dp_port *p)
{
	uint32_t mask = __atomic_load_n(&p->rx_ready_mask, __ATOMIC_ACQUIRE);
	uint32_t weight[STEER_MAX_QUEUES] = { 0 };
	bool idle[STEER_BUCKETS];

	if (!mask)
		return;
	for (unsigned int q = 0; q < VU_MAX_QUEUE_PAIRS; q++) {
		struct dp_vq *rxq = &p->vq[2 * q];
		uint64_t drops = __atomic_load_n(&rxq->stats.drops[DP_DROP_NO_BUFFER], __ATOMIC_RELAXED);
		int free_bufs;

		if (!(mask & (1u << q)) || !rxq->ready)
			continue;
		/* Workers move last_avail_idx under the ring's lock meanwhile: a peek. */
		free_bufs = vring_avail_pending_peek(&rxq->ring);
		weight[q] = 1 + (uint32_t)(free_bufs > 0 ? free_bufs : 0) * 1000 / rxq->ring.num;
		if (drops != p->bal_last_no_buffer[q])
			weight[q] = weight[q] / 4 + 1;
		p->bal_last_no_buffer[q] = drops;
	}
	for (unsigned int i = 0; i < STEER_BUCKETS; i++) {
		uint32_t seen = __atomic_load_n(&p->steer_seen[i], __ATOMIC_RELAXED);

		/* Idle: no frame in this tick or the one before. */
		idle[i] = seen != b->dp->tick && seen != b->dp->tick - 1;
	}
	{
		uint8_t next[STEER_BUCKETS];

		memcpy(next, p->steer, sizeof(next));
		p->steer_moves += steer_reweight(next, idle, weight, mask, STEER_BUCKETS);
		for (unsigned int i = 0; i < STEER_BUCKETS; i++)
			if (next[i] != p->steer[i])
				__atomic_store_n(&p->steer[i], next[i], __ATOMIC_RELAXED);
	}
}

static void tick(struct balancer *b)
{
	uint64_t now = dp_cycles();
	struct dp_port_set *set = b->dp->ports;

	b->ticks++;
	__atomic_store_n(&b->dp->tick, b->dp->tick + 1, __ATOMIC_RELAXED);
	for (unsigned int i = 0; set && i < set->n; i++)
		steer_port(b, set->ports[i]);
	sync_workers(b);
	measure(b, b->last_tsc ? now - b->last_tsc : 0);
	b->last_tsc = now;
	plan_and_apply(b);
}

static void on_tick(struct ev_source *src, void *opaque)
{
	(void)src;
	tick(opaque);
}

/**
 * balancer_new() - start the workers and the balancing tick.
 * @cpus: the CPUs asked for with --workers, or NULL for every CPU the daemon may use.
 * Context: control thread.
 */
int balancer_new(struct dp *dp, struct evloop *loop, const int *cpus, unsigned int ncpus,
		 struct balancer **ret)
{
	struct balancer *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->dp = dp;
	b->loop = loop;
	b->params = (struct bal_params){ .hysteresis_pct = 15, .min_gain = 20, .min_busy = 30,
					 .max_moves = 4 };
	if (cpus) {
		b->fixed_cpus = true;
		for (unsigned int i = 0; i < ncpus; i++)
			CPU_SET(cpus[i], &b->wanted);
	}
	sync_workers(b);
	if (!dp->nworkers) {
		free(b);
		return -ENOEXEC;
	}
	b->changed = false;
	r = evloop_add_timer(loop, BALANCER_TICK_MS, BALANCER_TICK_MS, on_tick, b, &b->tick);
	if (r) {
		free(b);
		return r;
	}
	dp->on_change = dp_changed;
	dp->on_change_opaque = b;
	*ret = b;
	return 0;
}

void balancer_free(struct balancer *b)
{
	if (!b)
		return;
	b->dp->on_change = NULL;
	evloop_remove(b->tick);
	evloop_remove(b->soon);
	free(b);
}
