// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A datapath worker: busy-polls the input queues it owns (guests' TX rings, the uplink's TAP
 * queues) while there is traffic, and sleeps in epoll on their kick fds (a ring's kick
 * eventfd, a TAP queue's fd) when there is none, so an idle switch costs no CPU.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"

/* Polling continues this long after the last frame before the worker arms kicks and sleeps. */
#define POLL_BEFORE_SLEEP_NS 200000ull

/*
 * A worker that carries traffic for a few queues must not spend its loop looking at hundreds
 * of idle ones (64 ports x 4 queue pairs is 256 TX rings; a TAP queue costs a read() each
 * look). Its list is kept in two parts: items[0, nhot) are polled every loop; a queue found
 * empty POLL_COLD_AFTER times in a row is swapped behind them, into the cold part, of which
 * each loop looks at one slice, so that every cold queue is looked at once every
 * POLL_COLD_STRIDE loops; one that has frames is swapped back into the hot part. The loop
 * therefore touches only the hot queues and a slice, never the whole list. While the worker
 * is busy a cold queue's first frame waits at most POLL_COLD_STRIDE loops, a few tens of
 * microseconds; when every queue is idle the worker sleeps on their kicks as before.
 */
#define POLL_COLD_AFTER 256
#define POLL_COLD_STRIDE 16

/*
 * The most a drain of @frames frames carrying @bytes bytes costs a worker that keeps its CPU:
 * far above what any takes (a few hundred cycles a small frame, a syscall a frame for a TAP,
 * a few cycles a byte for software segmentation and checksums). A drain that lasted longer was
 * preempted (workers share cores with vCPUs and everything else), and the time it spent off
 * the CPU is not that ring's load: counted, it made the balancer move a quiet ring for a tick
 * as if it were hot.
 */
static inline uint64_t drain_max_cycles(unsigned int frames, uint64_t bytes)
{
	return 20000ull * (frames + 1) + 8 * bytes;
}

/* Return: frames forwarded from @it's queue, with its empty-poll count kept. */
static unsigned int poll_item(struct dp_worker *w, struct dp_poll_item *it, uint64_t now_s)
{
	struct dp_vq *vq = it->vq;
	uint64_t t0, c, bytes0;
	unsigned int n = 0;

	if (__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE) &&
	    !__atomic_load_n(&it->port->broken, __ATOMIC_RELAXED) &&
	    /* Only input that is there costs a timestamp and a call. */
	    (!it->port->ops->has_input || it->port->ops->has_input(it->port, vq))) {
		bytes0 = vq->stats.bytes;   /* written by this thread only */
		t0 = dp_cycles();
		n = it->port->ops->drain(w->dp, w->scratch, it->port, vq, it->index, now_s);
		if (n) {
			/* Load is measured where it is spent: the queue whose frames we forwarded. */
			c = MIN(dp_cycles() - t0, drain_max_cycles(n, vq->stats.bytes - bytes0));
			__atomic_store_n(&vq->stats.busy_cycles, vq->stats.busy_cycles + c, __ATOMIC_RELAXED);
			__atomic_store_n(&w->stats.busy_cycles, w->stats.busy_cycles + c, __ATOMIC_RELAXED);
		}
	}
	if (n)
		it->idle = 0;
	else if (it->idle < POLL_COLD_AFTER)
		it->idle++;
	return n;
}

static void swap_items(struct dp_poll_item *a, struct dp_poll_item *b)
{
	struct dp_poll_item t = *a;

	*a = *b;
	*b = t;
}

static unsigned int poll_once(struct dp_worker *w, struct dp_poll_list *pl, uint64_t now_s)
{
	unsigned int work = 0, ncold, slice;

	for (unsigned int i = 0; i < pl->nhot;) {
		work += poll_item(w, &pl->items[i], now_s);
		if (pl->items[i].idle >= POLL_COLD_AFTER)
			swap_items(&pl->items[i], &pl->items[--pl->nhot]);   /* look at i again */
		else
			i++;
	}
	ncold = pl->n - pl->nhot;
	slice = (ncold + POLL_COLD_STRIDE - 1) / POLL_COLD_STRIDE;
	for (unsigned int k = 0; k < slice && pl->nhot < pl->n; k++) {
		struct dp_poll_item *it;
		unsigned int n;

		if (pl->cold_next < pl->nhot || pl->cold_next >= pl->n)
			pl->cold_next = pl->nhot;
		it = &pl->items[pl->cold_next++];
		n = poll_item(w, it, now_s);
		if (n) {
			work += n;
			swap_items(it, &pl->items[pl->nhot++]);
		}
	}
	return work;
}

/* Return: true when a ring got buffers while kicks were being armed (do not sleep). */
static bool arm_kicks(const struct dp_poll_list *pl)
{
	bool pending = false;

	for (unsigned int i = 0; i < pl->n; i++) {
		const struct dp_poll_item *it = &pl->items[i];

		if (it->port->ops->arm && __atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&it->port->broken, __ATOMIC_RELAXED))
			pending |= it->port->ops->arm(it->port, it->vq);
	}
	return pending;
}

static void disarm_kicks(const struct dp_poll_list *pl)
{
	for (unsigned int i = 0; i < pl->n; i++) {
		const struct dp_poll_item *it = &pl->items[i];

		if (it->port->ops->disarm && __atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE))
			it->port->ops->disarm(it->port, it->vq);
	}
}

static void sleep_until_kick(struct dp_worker *w, int timeout_ms)
{
	struct epoll_event evs[16];
	int n;

	__atomic_add_fetch(&w->stats.sleeps, 1, __ATOMIC_RELAXED);
	/* Offline: a worker asleep must not hold up grace periods. */
	rcu_thread_offline();
	n = epoll_wait(w->epfd, evs, 16, timeout_ms);
	rcu_thread_online();
	/*
	 * Kick eventfds are edge-triggered and never read (their fds may already be closed by
	 * the control thread); only our own wake eventfd is drained.
	 */
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == 0) {
			eventfd_t v;

			(void)eventfd_read(w->wake_fd, &v);
		}
}

static void pin(struct dp_worker *w)
{
	int cpu = __atomic_load_n(&w->cpu, __ATOMIC_RELAXED);   /* dp_worker_pin() may move it */
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		log_warn("worker %u: cannot pin to CPU %d", w->id, cpu);
}

/**
 * dp_worker_main() - the worker thread.
 * Context: its own thread; a registered QSBR reader, quiescent once per loop.
 */
void *dp_worker_main(void *opaque)
{
	struct dp_worker *w = opaque;
	uint64_t idle_since = 0;
	char name[16];

	snprintf(name, sizeof(name), "vulb-worker%u", w->id);
	(void)pthread_setname_np(pthread_self(), name);
	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	pin(w);
	w->scratch->coalesce = true;
	w->scratch->npending = 0;
	rcu_register_thread();
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct dp_poll_list *pl;
		uint64_t now = time_ns_mono();
		unsigned int work;

		rcu_quiescent_state();
		pl = rcu_dereference(w->plist);
		/* Read by the control thread (`workers`): a relaxed store, no locked add. */
		__atomic_store_n(&w->stats.loops, w->stats.loops + 1, __ATOMIC_RELAXED);
		work = pl ? poll_once(w, pl, now / 1000000000ull) : 0;
		if (w->scratch->npending)
			dp_flush_irqs(w->dp, w->scratch, now, false);
		if (work) {
			__atomic_store_n(&w->stats.busy_loops, w->stats.busy_loops + 1, __ATOMIC_RELAXED);
			idle_since = 0;
			continue;
		}
		if (!idle_since)
			idle_since = now;
		if (now - idle_since < POLL_BEFORE_SLEEP_NS)
			continue;
		if (pl && arm_kicks(pl)) {
			disarm_kicks(pl);
			continue;
		}
		/* Nobody would make the calls we put off while we sleep. */
		dp_flush_irqs(w->dp, w->scratch, now, true);
		/* A ring without a kick eventfd can only be polled: check it every millisecond. */
		sleep_until_kick(w, pl && pl->has_kickless ? 1 : -1);
		pl = rcu_dereference(w->plist);
		if (pl)
			disarm_kicks(pl);
		idle_since = 0;
	}
	dp_flush_irqs(w->dp, w->scratch, time_ns_mono(), true);
	rcu_unregister_thread();
	__atomic_store_n(&w->tid, 0, __ATOMIC_RELEASE);
	return NULL;
}
