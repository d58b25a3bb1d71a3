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
#include <stdbool.h>
#include <stdint.h>

#include "core/rcu.h"
#include "core/util.h"
#include "gmem/gmem.h"
#include "proto/vu_proto.h"
#include "sw/fdb.h"
#include "vring/vring.h"

enum dp_drop {
	DP_DROP_NO_BUFFER,   /* to guest: RX ring empty */
	DP_DROP_QUEUE_DOWN,  /* to guest: no RX queue running */
	DP_DROP_TOO_BIG,     /* to guest: does not fit the RX buffer / over MTU */
	DP_DROP_MALFORMED,   /* from guest: runt, bad virtio-net header, chain too long */
	DP_DROP__MAX,
};

extern const char *const dp_drop_names[DP_DROP__MAX];

struct dp_vq_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t drops[DP_DROP__MAX];
	uint64_t calls;       /* interrupts injected into the guest */
	uint64_t batches;
};

struct dp_vq {
	/* Datapath state: touched by the draining worker (TX) or under @lock (RX). */
	struct vring ring;
	int call_fd;
	bool ready;
	int lock;
	struct dp_vq_stats stats;

	/* Control thread only. */
	int kick_fd;
	int err_fd;
	int epoll_worker;     /* worker whose epoll set holds kick_fd, or -1 */
	int worker;           /* worker that drains it (TX), -1 unassigned */
	bool num_set, addr_set, kicked, enabled;
	uint16_t num;
	uint16_t base;
	struct vu_vring_addr addr;
} __cache_aligned;

struct dp_port {
	struct rcu_head rcu;
	char name[64];
	struct gmem_table *mem;          /* RCU */
	uint32_t hdr_len;                /* 12 (VERSION_1 or MRG_RXBUF) or 10 */
	bool mrg_rxbuf;
	uint32_t max_frame;              /* Ethernet frame without FCS */
	uint32_t rx_ready_mask;          /* bit q: RX ring of queue pair q is ready */
	bool broken;                     /* set by a worker that found the guest's rings corrupt */
	uint64_t learn_mac_cache;        /* worker-local: last source MAC learned */
	uint64_t learn_time_cache;
	struct dp_vq vq[VU_MAX_VRINGS];
	void *owner;                     /* the control thread's port object */
};

struct dp_poll_item {
	struct dp_port *port;
	struct dp_vq *vq;
	unsigned int index;
};

struct dp_poll_list {
	struct rcu_head rcu;
	unsigned int n;
	bool has_kickless;               /* a ring without kick fd: the worker must not sleep */
	struct dp_poll_item items[];
};

struct dp_port_set {
	struct rcu_head rcu;
	unsigned int n;
	struct dp_port *ports[];
};

struct dp_worker_stats {
	uint64_t loops;
	uint64_t busy_loops;
	uint64_t sleeps;
	uint64_t busy_ns;
};

struct dp;
struct dp_scratch;

struct dp_worker {
	struct dp *dp;
	unsigned int id;
	int cpu;                         /* -1: not pinned */
	pthread_t thread;
	bool running;
	int epfd;
	int wake_fd;
	bool stop;
	struct dp_poll_list *plist;      /* RCU */
	struct dp_scratch *scratch;
	struct dp_worker_stats stats;
} __cache_aligned;

struct dp {
	struct dp_port_set *ports;       /* RCU: every port, for flooding */
	struct fdb *fdb;
	int event_fd;                    /* workers -> control thread: a port broke */
	unsigned int nworkers;
	struct dp_worker *workers;
	unsigned int next_worker;
	struct dp_scratch *ctl_scratch;  /* for dp_inject() on the control thread */
};

int dp_new(unsigned int nworkers, const int *cpus, struct dp **ret);
int dp_start(struct dp *dp);
void dp_free(struct dp *dp);

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

static inline bool dp_vq_is_tx(unsigned int idx)
{
	return idx & 1;
}

#endif
