// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A datapath worker: busy-polls the TX rings it owns while there is traffic, and sleeps in
 * epoll on their kick eventfds when there is none, so an idle switch costs no CPU.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "core/log.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"

/* Polling continues this long after the last frame before the worker arms kicks and sleeps. */
#define POLL_BEFORE_SLEEP_NS 200000ull

static unsigned int poll_once(struct dp_worker *w, const struct dp_poll_list *pl, uint64_t now_s)
{
	unsigned int work = 0;

	for (unsigned int i = 0; i < pl->n; i++) {
		const struct dp_poll_item *it = &pl->items[i];
		uint64_t t0 = dp_cycles();
		unsigned int n;

		if (!__atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&it->port->broken, __ATOMIC_RELAXED))
			continue;
		n = dp_drain_tx(w->dp, w->scratch, it->port, it->vq, it->index, now_s);
		if (n) {
			/* Load is measured where it is spent: the ring whose frames we forwarded. */
			uint64_t c = dp_cycles() - t0;

			__atomic_store_n(&it->vq->stats.busy_cycles, it->vq->stats.busy_cycles + c,
					 __ATOMIC_RELAXED);
			__atomic_store_n(&w->stats.busy_cycles, w->stats.busy_cycles + c, __ATOMIC_RELAXED);
			work += n;
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

		if (__atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&it->port->broken, __ATOMIC_RELAXED)) {
			pending |= vring_notify_enable(&it->vq->ring);
			dp_log_used(rcu_dereference(it->port->dlog), it->vq);
		}
	}
	return pending;
}

static void disarm_kicks(const struct dp_poll_list *pl)
{
	for (unsigned int i = 0; i < pl->n; i++) {
		const struct dp_poll_item *it = &pl->items[i];

		if (__atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE)) {
			vring_notify_disable(&it->vq->ring);
			dp_log_used(rcu_dereference(it->port->dlog), it->vq);
		}
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
	pin(w);
	w->scratch->coalesce = true;
	w->scratch->npending = 0;
	rcu_register_thread();
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		const struct dp_poll_list *pl;
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
	return NULL;
}
