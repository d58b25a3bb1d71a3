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
 * empty POLL_PARK_AFTER times in a row and for POLL_PARK_AFTER_NS is parked behind them: its
 * kick is armed (the frontend notifies when it adds buffers, as before a sleep) and the loop
 * no longer looks at it. Every POLL_KICKS_EVERY_NS the busy worker asks its epoll set,
 * without waiting, which queues were kicked, and polls those again. A loop therefore costs
 * the same with 2 rings or 256, and the parked ones together cost one epoll_wait() (~100 ns
 * here) per interval: under 1% of the worker. A parked queue's first frame waits up to that
 * interval, and costs its frontend a kick (a guest, an exit): the time a queue must have been
 * quiet keeps queues with steady light traffic polled. A queue without a kick fd is never
 * parked.
 */
#define POLL_PARK_AFTER 256
#define POLL_PARK_AFTER_NS 1000000ull
#define POLL_KICKS_EVERY_NS 20000ull

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

static bool item_live(const struct dp_poll_item *it)
{
	return __atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&it->port->broken, __ATOMIC_RELAXED);
}

/* Return: frames forwarded from @it's queue, with its empty-poll count kept. */
static unsigned int poll_item(struct dp_worker *w, struct dp_poll_item *it, uint64_t now_ns)
{
	struct dp_vq *vq = it->vq;
	uint64_t t0, c, bytes0;
	unsigned int n = 0;

	if (item_live(it) &&
	    /* Only input that is there costs a timestamp and a call. */
	    (!it->port->ops->has_input || it->port->ops->has_input(it->port, vq))) {
		bytes0 = vq->stats.bytes;   /* written by this thread only */
		t0 = dp_cycles();
		n = it->port->ops->drain(w->dp, w->scratch, it->port, vq, it->index,
					 now_ns / 1000000000ull);
		if (n) {
			/* Load is measured where it is spent: the queue whose frames we forwarded. */
			c = MIN(dp_cycles() - t0, drain_max_cycles(n, vq->stats.bytes - bytes0));
			__atomic_store_n(&vq->stats.busy_cycles, vq->stats.busy_cycles + c, __ATOMIC_RELAXED);
			__atomic_store_n(&w->stats.busy_cycles, w->stats.busy_cycles + c, __ATOMIC_RELAXED);
		}
	}
	if (n) {
		it->idle = 0;
		it->input_ns = now_ns;
	} else if (it->idle < POLL_PARK_AFTER)
		it->idle++;
	return n;
}

static void swap_items(struct dp_poll_item *a, struct dp_poll_item *b)
{
	struct dp_poll_item t = *a;

	*a = *b;
	*b = t;
}

/* Return: true when input arrived while the kick was being armed (keep polling it). */
static bool arm_kick(struct dp_poll_item *it)
{
	if (!it->port->ops->arm || !item_live(it) || !it->port->ops->arm(it->port, it->vq))
		return false;
	it->port->ops->disarm(it->port, it->vq);
	return true;
}

static void disarm_kick(struct dp_poll_item *it)
{
	if (it->port->ops->disarm && __atomic_load_n(&it->vq->ready, __ATOMIC_ACQUIRE))
		it->port->ops->disarm(it->port, it->vq);
}

static void set_polled(struct dp_worker *w, const struct dp_poll_list *pl)
{
	__atomic_store_n(&w->stats.polled, pl ? pl->nhot : 0, __ATOMIC_RELAXED);
}

/* Moves polled item @i behind the polled part, armed. Return: false if it has input after all. */
static bool park(struct dp_poll_list *pl, unsigned int i)
{
	struct dp_poll_item *it = &pl->items[i];

	if (!it->kickable || arm_kick(it)) {
		it->idle = 0;
		return false;
	}
	swap_items(it, &pl->items[--pl->nhot]);
	return true;
}

static void unpark(struct dp_worker *w, struct dp_poll_list *pl, unsigned int i, uint64_t now_ns)
{
	struct dp_poll_item *it = &pl->items[i];

	disarm_kick(it);
	it->idle = 0;
	it->input_ns = now_ns;
	swap_items(it, &pl->items[pl->nhot++]);
	__atomic_store_n(&w->stats.parked_kicks, w->stats.parked_kicks + 1, __ATOMIC_RELAXED);
}

/*
 * Takes the epoll events @evs: our wake eventfd is drained (kick fds are edge-triggered and
 * never read: the control thread may already have closed them), a kicked parked ring is
 * polled again.
 */
static void take_events(struct dp_worker *w, struct dp_poll_list *pl,
			const struct epoll_event *evs, int n, uint64_t now_ns)
{
	for (int e = 0; e < n; e++) {
		if (evs[e].data.u64 == DP_WAKE_COOKIE) {
			eventfd_t v;

			(void)eventfd_read(w->wake_fd, &v);
			continue;
		}
		for (unsigned int i = pl ? pl->nhot : 0; pl && i < pl->n; i++)
			if (dp_kick_cookie(pl->items[i].vq) == evs[e].data.u64) {
				unpark(w, pl, i, now_ns);
				break;
			}
	}
	set_polled(w, pl);
}

static unsigned int poll_once(struct dp_worker *w, struct dp_poll_list *pl, uint64_t now_ns)
{
	unsigned int work = 0, nhot = pl->nhot;

	for (unsigned int i = 0; i < pl->nhot;) {
		struct dp_poll_item *it = &pl->items[i];

		work += poll_item(w, it, now_ns);
		if (it->idle < POLL_PARK_AFTER || now_ns - it->input_ns < POLL_PARK_AFTER_NS ||
		    !park(pl, i))
			i++;
		/* else item i is another one now: look at it too */
	}
	if (pl->nhot != nhot)
		set_polled(w, pl);
	return work;
}

/* A busy worker's look at its parked rings: which were kicked. */
static void check_kicks(struct dp_worker *w, struct dp_poll_list *pl, uint64_t now_ns)
{
	struct epoll_event evs[16];
	int n;

	do {
		n = epoll_wait(w->epfd, evs, 16, 0);
		take_events(w, pl, evs, n, now_ns);
	} while (n == 16);
}

/* Return: true when a polled ring got buffers while kicks were being armed (do not sleep). */
static bool arm_polled(struct dp_poll_list *pl)
{
	bool pending = false;

	for (unsigned int i = 0; i < pl->nhot; i++)
		pending |= arm_kick(&pl->items[i]);
	return pending;
}

static void disarm_polled(struct dp_poll_list *pl)
{
	for (unsigned int i = 0; i < pl->nhot; i++)
		disarm_kick(&pl->items[i]);
}

/*
 * Sleeps until a kick or a new list. @gen: the list the loop polls; a ring it had parked and
 * that was kicked is polled again. A new list is left to the loop, which adopts it whole.
 */
static void sleep_until_kick(struct dp_worker *w, int timeout_ms, uint64_t gen)
{
	struct epoll_event evs[16];
	struct dp_poll_list *pl;
	int n;

	__atomic_add_fetch(&w->stats.sleeps, 1, __ATOMIC_RELAXED);
	/* Offline: a worker asleep must not hold up grace periods (so its list may be gone). */
	rcu_thread_offline();
	n = epoll_wait(w->epfd, evs, 16, timeout_ms);
	rcu_thread_online();
	pl = rcu_dereference(w->plist);
	if (pl && pl->gen != gen)
		pl = NULL;
	if (pl)
		disarm_polled(pl);
	take_events(w, pl, evs, n, time_ns_mono());
}

/*
 * A new list polls every ring, and none may still be armed: rings parked in the list before
 * (or by another worker, before a move) would have their frontend kick for nothing.
 */
static uint64_t adopt(struct dp_worker *w, struct dp_poll_list *pl, uint64_t now_ns)
{
	if (!pl) {
		set_polled(w, NULL);
		return 0;
	}
	disarm_polled(pl);
	for (unsigned int i = 0; i < pl->n; i++)
		pl->items[i].input_ns = now_ns;   /* quiet from now on, not since ever */
	set_polled(w, pl);
	return pl->gen;
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
	uint64_t idle_since = 0, kicks_checked = 0, adopted = 0;
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
		if (pl ? pl->gen != adopted : adopted != 0)
			adopted = adopt(w, pl, now);
		/* Read by the control thread (`workers`): a relaxed store, no locked add. */
		__atomic_store_n(&w->stats.loops, w->stats.loops + 1, __ATOMIC_RELAXED);
		work = pl ? poll_once(w, pl, now) : 0;
		if (pl && pl->nhot < pl->n && now - kicks_checked >= POLL_KICKS_EVERY_NS) {
			kicks_checked = now;
			check_kicks(w, pl, now);
		}
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
		if (pl && arm_polled(pl)) {
			disarm_polled(pl);
			continue;
		}
		/* Nobody would make the calls we put off while we sleep. */
		dp_flush_irqs(w->dp, w->scratch, now, true);
		/* A ring without a kick eventfd can only be polled: check it every millisecond. */
		sleep_until_kick(w, pl && pl->has_kickless ? 1 : -1, adopted);
		idle_since = 0;
	}
	dp_flush_irqs(w->dp, w->scratch, time_ns_mono(), true);
	rcu_unregister_thread();
	__atomic_store_n(&w->tid, 0, __ATOMIC_RELEASE);
	return NULL;
}
