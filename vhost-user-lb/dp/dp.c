// SPDX-License-Identifier: GPL-2.0-or-later
/* Datapath set-up and the control thread's side of the publish protocol. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "core/limits.h"
#include "core/log.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"

const char *const dp_drop_names[DP_DROP__MAX] = {
	[DP_DROP_NO_BUFFER] = "no_buffer",
	[DP_DROP_QUEUE_DOWN] = "queue_down",
	[DP_DROP_TOO_BIG] = "too_big",
	[DP_DROP_MALFORMED] = "malformed",
	[DP_DROP_DISABLED] = "ring_disabled",
	[DP_DROP_HAIRPIN] = "hairpin",
	[DP_DROP_DEST_DOWN] = "port_down",
	[DP_DROP_LB] = "lb_refused",
	[DP_DROP_OFFLOAD] = "offload",
};


int dp_new(struct dp **ret)
{
	struct dp *dp = calloc(1, sizeof(*dp));
	int r;

	if (!dp)
		return -ENOMEM;
	dp->event_fd = -1;
	dp->watchdog_stop_fd = -1;
	dp->workers = aligned_alloc(CACHE_LINE, sizeof(*dp->workers) * DP_MAX_WORKERS);
	dp->ctl_scratch = calloc(1, sizeof(*dp->ctl_scratch));
	if (!dp->workers || !dp->ctl_scratch) {
		r = -ENOMEM;
		goto fail;
	}
	memset(dp->workers, 0, sizeof(*dp->workers) * DP_MAX_WORKERS);
	for (unsigned int i = 0; i < DP_MAX_WORKERS; i++) {
		dp->workers[i].epfd = -1;
		dp->workers[i].wake_fd = -1;
	}
	dp->irq_usecs = 50;
	dp->irq_frames = 64;
	dp->offloads = true;
	dp->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dp->event_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = fdb_new(limit_get(LIMIT_FDB_ENTRIES), &dp->fdb);
	if (r)
		goto fail;
	*ret = dp;
	return 0;
fail:
	dp_free(dp);
	return r;
}

static int worker_init(struct dp *dp, struct dp_worker *w, unsigned int id)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = DP_WAKE_COOKIE };

	memset(&w->stats, 0, sizeof(w->stats));
	w->dp = dp;
	w->id = id;
	w->stop = false;
	__atomic_store_n(&w->tid, 0, __ATOMIC_RELAXED);   /* the watchdog reads it */
	w->nqueues = 0;
	if (w->epfd < 0)
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->wake_fd < 0) {
		w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->wake_fd >= 0 && w->epfd >= 0 &&
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
			return -errno;
	}
	/* Atomic: the watchdog thread reads it. */
	if (!w->scratch)
		__atomic_store_n(&w->scratch, calloc(1, sizeof(*w->scratch)), __ATOMIC_RELEASE);
	if (w->epfd < 0 || w->wake_fd < 0)
		return -errno;
	return w->scratch ? 0 : -ENOMEM;
}

/**
 * dp_worker_start() - start a worker pinned to @cpu (-1: not pinned).
 * Context: control thread. Return: 0 with the slot in @ret_id, or -errno.
 */
int dp_worker_start(struct dp *dp, int cpu, unsigned int *ret_id)
{
	for (unsigned int i = 0; i < DP_MAX_WORKERS; i++) {
		struct dp_worker *w = &dp->workers[i];
		int r;

		if (w->active)
			continue;
		r = worker_init(dp, w, i);
		if (r)
			return r;
		w->cpu = cpu;
		w->scratch->worker_id = i;
		r = pthread_create(&w->thread, NULL, dp_worker_main, w);
		if (r)
			return -r;
		__atomic_store_n(&w->active, true, __ATOMIC_RELEASE);
		dp->nworkers++;
		if (ret_id)
			*ret_id = i;
		return 0;
	}
	return -ENOSPC;
}

/* Context: control thread; the worker owns no ring any more (dp_vq_move() them first). */
void dp_worker_stop(struct dp *dp, unsigned int id)
{
	struct dp_worker *w = &dp->workers[id];

	if (!w->active)
		return;
	__atomic_store_n(&w->stop, true, __ATOMIC_RELEASE);
	(void)eventfd_write(w->wake_fd, 1);
	(void)pthread_join(w->thread, NULL);
	__atomic_store_n(&w->active, false, __ATOMIC_RELEASE);
	dp->nworkers--;
	free(w->plist);
	w->plist = NULL;
}

/* Context: control thread. */
int dp_worker_pin(struct dp *dp, unsigned int id, int cpu)
{
	struct dp_worker *w = &dp->workers[id];
	cpu_set_t set;
	int r;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	r = pthread_setaffinity_np(w->thread, sizeof(set), &set);
	if (r)
		return -r;
	/* A worker just started reads it to pin itself (pin()). */
	__atomic_store_n(&w->cpu, cpu, __ATOMIC_RELAXED);
	return 0;
}

/* Context: control thread, after every port was detached. */
void dp_free(struct dp *dp)
{
	if (!dp)
		return;
	dp_watchdog_stop(dp);
	for (unsigned int i = 0; dp->workers && i < DP_MAX_WORKERS; i++) {
		struct dp_worker *w = &dp->workers[i];

		dp_worker_stop(dp, i);
		close_fd(&w->epfd);
		close_fd(&w->wake_fd);
		free(w->scratch);
	}
	free(dp->workers);
	free(dp->ports);
	fdb_free(dp->fdb);
	close_fd(&dp->event_fd);
	free(dp->ctl_scratch);
	free(dp);
}

int dp_port_new(const char *name, struct dp_port **ret)
{
	struct dp_port *p = aligned_alloc(CACHE_LINE, sizeof(*p));

	if (!p)
		return -ENOMEM;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->ops = &dp_vring_ops;
	p->hdr_len = VIRTIO_NET_HDR_LEN_V1;
	p->max_frame = 65535 - VIRTIO_NET_HDR_LEN_V1;
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		p->vq[i].kick_fd = -1;
		p->vq[i].call_fd = -1;
		p->vq[i].err_fd = -1;
		p->vq[i].epoll_worker = -1;
		p->vq[i].worker = -1;
	}
	*ret = p;
	return 0;
}

static void changed(struct dp *dp, const char *why)
{
	if (dp->on_change)
		dp->on_change(dp->on_change_opaque, why);
}

static void publish_port_set(struct dp *dp, struct dp_port *add, const struct dp_port *del)
{
	struct dp_port_set *old = dp->ports, *next;
	unsigned int n = old ? old->n : 0, k = 0;

	next = malloc(sizeof(*next) + sizeof(next->ports[0]) * (n + 1));
	if (!next)
		abort();   /* a few bytes at port add/remove: not worth a half-published state */
	for (unsigned int i = 0; i < n; i++)
		if (old->ports[i] != del)
			next->ports[k++] = old->ports[i];
	if (add)
		next->ports[k++] = add;
	next->n = k;
	next->gen = old ? old->gen + 1 : 1;
	rcu_assign_pointer(dp->ports, next);
	synchronize_rcu();
	free(old);
}

/* Context: control thread. The port receives flooded frames from now on. */
int dp_port_attach(struct dp *dp, struct dp_port *port)
{
	publish_port_set(dp, port, NULL);
	changed(dp, "port added");
	return 0;
}

/**
 * dp_port_detach() - take a port out of the datapath for good.
 * Context: control thread, rings already quiesced. The caller frees the port with
 * dp_port_free_rcu() afterwards.
 */
void dp_port_detach(struct dp *dp, struct dp_port *port)
{
	publish_port_set(dp, NULL, port);
	(void)fdb_flush_port(dp->fdb, port);
	/* Entries pointing at @port are unlinked; after this no reader can still reach it. */
	synchronize_rcu();
	changed(dp, "port removed");
}

static void port_free_cb(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	free(container_of(head, struct dp_port, rcu));
}

void dp_port_free_rcu(struct dp_port *port)
{
	call_rcu(&port->rcu, port_free_cb);
}

static void epoll_forget(struct dp *dp, struct dp_vq *vq)
{
	if (vq->epoll_worker >= 0 && vq->kick_fd >= 0)
		(void)epoll_ctl(dp->workers[vq->epoll_worker].epfd, EPOLL_CTL_DEL, vq->kick_fd, NULL);
	vq->epoll_worker = -1;
}

/**
 * dp_vq_quiesce() - stop workers from touching ring @idx, and wait until none does.
 * Context: control thread. Afterwards the ring, its fds and the port's memory table may be
 * changed freely.
 */
void dp_vq_quiesce(struct dp *dp, struct dp_port *port, unsigned int idx)
{
	struct dp_vq *vq = &port->vq[idx];

	epoll_forget(dp, vq);
	if (!vq->ready)
		return;
	__atomic_store_n(&vq->ready, false, __ATOMIC_RELEASE);
	if (!dp_vq_is_tx(idx))
		__atomic_and_fetch(&port->rx_ready_mask, ~(1u << (idx / 2)), __ATOMIC_RELEASE);
	else
		dp_publish_poll_lists(dp);
	synchronize_rcu();
	/* A ring restarted later resumes here, not where it first started. */
	vq->base = vq->ring.last_avail_idx;
	changed(dp, "queue disabled");
}

static int least_busy_worker(struct dp *dp)
{
	int best = -1;

	dp_foreach_worker(dp, w)
		if (best < 0 || w->nqueues < dp->workers[best].nqueues)
			best = (int)w->id;
	return best;
}

static void assign_worker(struct dp *dp, struct dp_vq *vq, int to)
{
	if (vq->worker >= 0)
		dp->workers[vq->worker].nqueues--;
	vq->worker = to;
	if (to >= 0)
		dp->workers[to].nqueues++;
}

static void epoll_register(struct dp *dp, struct dp_port *port, unsigned int idx)
{
	struct dp_vq *vq = &port->vq[idx];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = dp_kick_cookie(vq) };

	if (vq->kick_fd < 0 || vq->worker < 0)
		return;
	if (epoll_ctl(dp->workers[vq->worker].epfd, EPOLL_CTL_ADD, vq->kick_fd, &ev) == 0)
		vq->epoll_worker = vq->worker;
	else
		log_warn("port '%s' vq=%u: epoll_ctl: %s", port->name, idx, strerror(errno));
}

/**
 * dp_vq_move() - hand TX ring @idx to worker @to without losing, duplicating or reordering.
 * The old owner's list loses the ring first; after a grace period it has finished its last
 * burst, and only then does the new owner's list gain it.
 * Context: control thread.
 */
void dp_vq_move(struct dp *dp, struct dp_port *port, unsigned int idx, int to)
{
	struct dp_vq *vq = &port->vq[idx];

	if (vq->worker == to)
		return;
	if (!vq->ready) {
		assign_worker(dp, vq, to);
		return;
	}
	epoll_forget(dp, vq);
	assign_worker(dp, vq, -1);
	dp_publish_poll_lists(dp);
	synchronize_rcu();
	assign_worker(dp, vq, to);
	epoll_register(dp, port, idx);
	dp_publish_poll_lists(dp);
}

/*
 * Context: control thread; the ring is mapped and started (vring_start()), or for other kinds
 * of port the input queue is open, with its fd in kick_fd.
 */
void dp_vq_set_ready(struct dp *dp, struct dp_port *port, unsigned int idx)
{
	struct dp_vq *vq = &port->vq[idx];

	if (dp_vq_is_tx(idx)) {
		/* A new ring goes to the worker with the fewest; the balancer refines by load. */
		if (vq->worker < 0 || !dp->workers[vq->worker].active)
			assign_worker(dp, vq, least_busy_worker(dp));
		if (port->ops->disarm)
			port->ops->disarm(port, vq);
	} else {
		/*
		 * Only guests have output rings to start (the uplink writes to its TAP fds).
		 * We never wait for RX buffers, so RX kicks would only cost the guest exits.
		 */
		__atomic_store_n(&vq->ring.used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&vq->ready, true, __ATOMIC_RELEASE);
	if (dp_vq_is_tx(idx)) {
		epoll_register(dp, port, idx);
		dp_publish_poll_lists(dp);
	} else {
		__atomic_or_fetch(&port->rx_ready_mask, 1u << (idx / 2), __ATOMIC_RELEASE);
	}
	changed(dp, vq->discard ? "queue disabled" : "queue enabled");
}

static void plist_free_cb(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	free(container_of(head, struct dp_poll_list, rcu));
}

/**
 * dp_publish_poll_lists() - give each worker the list of TX rings it drains.
 * Context: control thread.
 */
void dp_publish_poll_lists(struct dp *dp)
{
	struct dp_port_set *set = dp->ports;
	unsigned int total = 0;

	for (unsigned int i = 0; set && i < set->n; i++)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2)
			total += set->ports[i]->vq[q].ready;
	dp_foreach_worker(dp, wk) {
		unsigned int w = wk->id;
		struct dp_poll_list *pl = malloc(sizeof(*pl) + sizeof(pl->items[0]) * (total + 1));
		struct dp_poll_list *old;

		if (!pl)
			abort();
		pl->n = 0;
		pl->has_kickless = false;
		for (unsigned int i = 0; set && i < set->n; i++) {
			struct dp_port *p = set->ports[i];

			for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2) {
				struct dp_vq *vq = &p->vq[q];

				if (!vq->ready || vq->worker != (int)w)
					continue;
				pl->items[pl->n++] = (struct dp_poll_item){
					.port = p, .vq = vq, .index = q,
					.kickable = vq->epoll_worker == (int)w,
				};
				if (vq->kick_fd < 0)
					pl->has_kickless = true;
			}
		}
		pl->nhot = pl->n;
		pl->gen = ++dp->plist_gen;
		old = rcu_xchg_pointer(&wk->plist, pl);
		if (old)
			call_rcu(&old->rcu, plist_free_cb);
		(void)eventfd_write(wk->wake_fd, 1);
	}
}

static void stats_add(struct dp_vq_stats *sum, const struct dp_vq_stats *s)
{
	sum->packets += __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
	sum->bytes += __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	sum->calls += __atomic_load_n(&s->calls, __ATOMIC_RELAXED);
	sum->batches += __atomic_load_n(&s->batches, __ATOMIC_RELAXED);
	sum->busy_cycles += __atomic_load_n(&s->busy_cycles, __ATOMIC_RELAXED);
	sum->gso += __atomic_load_n(&s->gso, __ATOMIC_RELAXED);
	sum->sw_gso += __atomic_load_n(&s->sw_gso, __ATOMIC_RELAXED);
	sum->sw_csum += __atomic_load_n(&s->sw_csum, __ATOMIC_RELAXED);
	for (unsigned int d = 0; d < DP_DROP__MAX; d++)
		sum->drops[d] += __atomic_load_n(&s->drops[d], __ATOMIC_RELAXED);
}

/* Sums the per-ring counters: from the guest (its TX rings) and to the guest (its RX rings). */
void dp_port_stats(const struct dp_port *port, struct dp_vq_stats *rx_from_guest,
		   struct dp_vq_stats *tx_to_guest)
{
	memset(rx_from_guest, 0, sizeof(*rx_from_guest));
	memset(tx_to_guest, 0, sizeof(*tx_to_guest));
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++)
		stats_add(dp_vq_is_tx(i) ? rx_from_guest : tx_to_guest, &port->vq[i].stats);
}
