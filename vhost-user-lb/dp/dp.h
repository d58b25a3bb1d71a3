/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datapath: ports as workers see them, the worker threads, and the tables the control
 * thread publishes to them.
 *
 * Concurrency contract:
 * - The control thread is the only writer of everything here except counters, ring indices
 *   and the fdb. It publishes with RCU (QSBR) and waits for a grace period before it changes
 *   or frees anything a worker may still use.
 * - A TX ring (guest -> switch) is drained by exactly one worker: the one whose poll list
 *   holds it. An RX ring (switch -> guest) is filled by whichever worker forwards to it, under
 *   that ring's spinlock, taken once per batch.
 * - Workers read dp_vq.ready inside their read-side section before touching a ring; the
 *   control thread clears it and calls synchronize_rcu() before it reconfigures the ring.
 */
#ifndef VULB_DP_DP_H
#define VULB_DP_DP_H

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/rcu.h"
#include "core/util.h"
#include "gmem/dlog.h"
#include "gmem/gmem.h"
#include "proto/vu_proto.h"
#include "balance/steer.h"
#include "sw/fdb.h"
#include "vring/vring.h"

enum dp_drop {
	DP_DROP_NO_BUFFER,   /* to guest: RX ring empty */
	DP_DROP_QUEUE_DOWN,  /* to guest: no RX queue running */
	DP_DROP_TOO_BIG,     /* to guest: does not fit the RX buffer / over MTU */
	DP_DROP_MALFORMED,   /* from guest: runt, bad virtio-net header, chain too long */
	DP_DROP_DISABLED,    /* from guest: sent on a ring the frontend disabled */
	DP_DROP_HAIRPIN,     /* from guest: addressed to a MAC behind its own port */
	DP_DROP_DEST_DOWN,   /* to guest: its port is being reset after an error */
	DP_DROP_LB,          /* from guest: refused by the service load balancer (see vip show) */
	DP_DROP_OFFLOAD,     /* from any port: a checksum/GSO request not negotiated or malformed */
	DP_DROP__MAX,
};

extern const char *const dp_drop_names[DP_DROP__MAX];

struct dp_vq_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t drops[DP_DROP__MAX];
	uint64_t calls;       /* interrupts injected into the guest */
	uint64_t batches;
	uint64_t busy_cycles; /* TX rings: TSC cycles spent forwarding what this ring carried */
	uint64_t gso;         /* input: GSO frames taken in; output: GSO frames passed on whole */
	uint64_t sw_gso;      /* output: GSO frames cut into segments here (receiver lacks TSO) */
	uint64_t sw_csum;     /* output: checksums completed here (receiver lacks GUEST_CSUM) */
};

struct dp_vq {
	/* Datapath state: touched by the draining worker (TX) or under @lock (RX). */
	struct vring ring;
	int call_fd;
	bool ready;
	bool discard;         /* TX ring started but disabled: drain it, forward nothing */
	int lock;
	struct dp_vq_stats stats;
	/* RX interrupt coalescing, under @lock. */
	uint64_t irq_last_ns;      /* when the guest was last interrupted */
	uint64_t irq_deadline_ns;  /* a call put off must happen by then */
	uint32_t irq_frames;       /* frames delivered since that call */
	bool irq_pending;          /* a worker holds a put-off call in its pending list */

	/* Control thread only. */
	int kick_fd;
	int err_fd;
	int epoll_worker;     /* worker whose epoll set holds kick_fd, or -1 */
	int worker;           /* worker that drains it (TX), -1 unassigned */
	uint64_t bal_last_cycles;  /* balancer: busy_cycles at its last tick */
	uint32_t bal_load;         /* balancer: permille of a core, averaged over recent ticks */
	bool num_set, addr_set, kicked, enabled;
	bool used_log;        /* SET_VRING_ADDR asked for used-ring logging at used_log_gpa */
	uint64_t used_log_gpa;
	uint16_t num;
	uint16_t base;
	struct vu_vring_addr addr;
} __cache_aligned;

struct dp;
struct dp_scratch;
struct dp_port;

/*
 * What one kind of port does on the datapath. Every port has input queues (odd vq indices:
 * a guest's TX rings, the uplink's TAP queues) that workers drain through their poll lists,
 * and output queues (even indices) that any worker may deliver to. Vhost-user ports
 * (dp_vring_ops, dp/forward.c) move frames through guest virtqueues; the uplink
 * (uplink/tap.c) through the queues of a TAP device. Everything else (poll lists, the
 * balancer, moves, counters, the fdb) is the same for every kind.
 */
struct dp_port_ops {
	const char *kind;
	/*
	 * Takes up to one burst in through input queue @idx (@vq = &port->vq[idx]) and hands it
	 * to dp_switch_burst(). Context: the worker that owns @vq, RCU read side.
	 * Return: frames taken.
	 */
	unsigned int (*drain)(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			      struct dp_vq *vq, unsigned int idx, uint64_t now_s);
	/*
	 * Whether input queue @vq has something to drain, cheaply (no syscall): the worker skips
	 * drain() otherwise. NULL: not knowable cheaply, drain() is called and finds out.
	 */
	bool (*has_input)(const struct dp_port *port, const struct dp_vq *vq);
	/* Sends frames s->pkts[idx[0..cnt)] out of @dst. Context: any worker, RCU read side. */
	void (*deliver)(struct dp *dp, struct dp_scratch *s, struct dp_port *dst,
			const uint8_t *idx, unsigned int cnt);
	/*
	 * Before the worker sleeps in epoll on kick_fd: ask for a wake-up on @vq, and say
	 * whether input arrived meanwhile (then the worker drains instead of sleeping).
	 * disarm() undoes it once the worker polls again. NULL: kick_fd signals by itself.
	 */
	bool (*arm)(struct dp_port *port, struct dp_vq *vq);
	void (*disarm)(struct dp_port *port, struct dp_vq *vq);
};

extern const struct dp_port_ops dp_vring_ops;

struct dp_port {
	struct rcu_head rcu;
	char name[64];
	const struct dp_port_ops *ops;   /* set before the port is attached, never changed */
	void *priv;                      /* the kind's own state (uplink: struct tap) */
	struct gmem_table *mem;          /* RCU */
	struct dlog *dlog;               /* RCU: set while the frontend migrates (VHOST_F_LOG_ALL) */
	uint32_t hdr_len;                /* 12 (VERSION_1 or MRG_RXBUF) or 10 */
	bool mrg_rxbuf;
	/*
	 * Offloads (DP_OFF_*, dp/offload.h) the port negotiated: what its frames may ask for
	 * (tx: VIRTIO_NET_F_CSUM, HOST_TSO4/6) and what it takes whole (rx: GUEST_CSUM,
	 * GUEST_TSO4/6). Set while its rings are stopped; read by any worker (relaxed).
	 */
	uint8_t offload_tx;
	uint8_t offload_rx;
	uint32_t max_frame;              /* Ethernet frame without FCS */
	uint32_t rx_ready_mask;          /* bit q: RX ring of queue pair q is ready */
	bool broken;                     /* set by a worker that found the guest's rings corrupt */
	uint64_t learn_mac_cache;        /* workers draining its TX rings: last source MAC learned */
	uint64_t learn_time_cache;
	uint64_t fdb_refused;            /* source MACs not learned: the MAC table was full */
	uint64_t flows_refused;          /* new load-balancer flows refused: the flow table was full */
	uint8_t steer[STEER_BUCKETS];    /* flow-hash bucket -> RX queue pair (balancer writes) */
	uint32_t steer_seen[STEER_BUCKETS]; /* dp->tick when a frame last used the bucket */
	uint64_t steer_moves;
	uint64_t bal_last_no_buffer[VU_MAX_QUEUE_PAIRS]; /* balancer: drops at its last tick */
	struct dp_vq vq[VU_MAX_VRINGS];
	void *owner;                     /* the control thread's port object */
};

struct dp_poll_item {
	struct dp_port *port;
	struct dp_vq *vq;
	unsigned int index;
	uint16_t idle;                   /* empty polls in a row */
	uint64_t input_ns;               /* when it last had input (or was last kicked) */
	bool kickable;                   /* its kick fd is in the worker's epoll set */
};

/*
 * Once published, a list is its worker's alone (the control thread reads n only): the worker
 * writes idle, input_ns and nhot, and reorders the items (polled ones first, see worker.c).
 * A new list starts every ring polled again.
 */
struct dp_poll_list {
	struct rcu_head rcu;
	uint64_t gen;                    /* lists are numbered from 1 as they are published */
	unsigned int n;
	unsigned int nhot;               /* items[0, nhot) are polled; the rest wait for a kick */
	bool has_kickless;               /* a ring without kick fd: the worker must not sleep */
	struct dp_poll_item items[];
};

struct dp_port_set {
	struct rcu_head rcu;
	unsigned int n;
	uint32_t gen;                    /* one more in each set published */
	struct dp_port *ports[];
};

struct dp_worker_stats {
	uint64_t loops;
	uint64_t busy_loops;
	uint64_t sleeps;
	uint64_t parked_kicks;           /* a kick brought a parked ring back to polling */
	uint32_t polled;                 /* rings polled every loop (the rest are parked) */
	uint64_t busy_cycles;
};

#define DP_MAX_WORKERS 64

struct lb;

struct dp_worker {
	struct dp *dp;
	unsigned int id;
	int cpu;                         /* -1: not pinned */
	pthread_t thread;
	bool active;                     /* control thread: the slot has a running thread */
	unsigned int nqueues;            /* control thread: TX rings assigned to it */
	int epfd;
	int wake_fd;
	pid_t tid;                       /* set by the worker itself, for the watchdog */
	bool stop;
	struct dp_poll_list *plist;      /* RCU */
	struct dp_scratch *scratch;
	struct dp_worker_stats stats;
} __cache_aligned;

struct dp {
	struct dp_port_set *ports;       /* RCU: every port, for flooding */
	struct fdb *fdb;
	struct lb *lb;                   /* service load balancer; set before workers start */
	bool lb_active;                  /* at least one VIP: workers ask the load balancer */
	bool offloads;                   /* offer checksum/TSO offloads to new ports (config) */
	int event_fd;                    /* workers -> control thread: a port broke */
	unsigned int nworkers;           /* active workers */
	struct dp_worker *workers;       /* DP_MAX_WORKERS slots */
	struct dp_scratch *ctl_scratch;  /* for dp_inject() on the control thread */
	pid_t ctl_tid;                   /* the control thread, for the watchdog */
	pthread_t watchdog;              /* see watchdog.c */
	bool watchdog_running;
	int watchdog_stop_fd;
	uint32_t tick;                   /* balancer ticks, for steering bucket activity */
	uint64_t plist_gen;              /* control thread: the last poll list's gen */
	uint32_t irq_usecs;              /* RX interrupt coalescing: longest delay of a call */
	uint32_t irq_frames;             /* ... and most frames delivered without one */
	/* Told about every change of which rings run (control thread): the balancer re-plans. */
	void (*on_change)(void *opaque, const char *why);
	void *on_change_opaque;
};

int dp_new(struct dp **ret);
void dp_free(struct dp *dp);

/* Interrupts a writer stuck on a call eventfd (watchdog.c); its handler does nothing. */
#define DP_WATCHDOG_SIGNAL SIGURG
int dp_watchdog_start(struct dp *dp);
void dp_watchdog_stop(struct dp *dp);
void dp_call_now(struct dp *dp, struct dp_port *port, unsigned int idx);
int dp_worker_start(struct dp *dp, int cpu, unsigned int *ret_id);
void dp_worker_stop(struct dp *dp, unsigned int id);
int dp_worker_pin(struct dp *dp, unsigned int id, int cpu);
void dp_vq_move(struct dp *dp, struct dp_port *port, unsigned int idx, int to);

int dp_port_new(const char *name, struct dp_port **ret);
void dp_port_reset_rings(struct dp_port *port);
int dp_port_attach(struct dp *dp, struct dp_port *port);
void dp_port_detach(struct dp *dp, struct dp_port *port);
void dp_port_free_rcu(struct dp_port *port);

void dp_vq_quiesce(struct dp *dp, struct dp_port *port, unsigned int idx);
void dp_vq_set_ready(struct dp *dp, struct dp_port *port, unsigned int idx);
void dp_publish_poll_lists(struct dp *dp);

void dp_port_stats(const struct dp_port *port, struct dp_vq_stats *rx_from_guest,
		   struct dp_vq_stats *tx_to_guest);
int dp_inject(struct dp *dp, struct dp_port *from, const uint8_t *frame, uint32_t len);

/* Runs in each worker thread. */
void *dp_worker_main(void *opaque);

#define dp_foreach_worker(dp, w)                                                   \
	for (struct dp_worker *w = (dp)->workers; w < (dp)->workers + DP_MAX_WORKERS; w++) \
		if (w->active)

/* Logs a write to the used ring of @vq (flags, idx, entries, avail_event: a page or two). */
static inline void dp_log_used(struct dlog *l, const struct dp_vq *vq)
{
	if (l && vq->used_log)
		dlog_mark(l, vq->used_log_gpa, vring_used_bytes(vq->ring.num));
}

/* A cheap monotonic cycle count for load accounting (the TSC on x86). */
static inline uint64_t dp_cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	return time_ns_mono();
#endif
}

static inline bool dp_vq_is_tx(unsigned int idx)
{
	return idx & 1;
}

#endif
