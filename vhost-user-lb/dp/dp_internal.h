/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Datapath internals shared by the worker loop, the forwarding code and other port kinds. */
#ifndef VULB_DP_DP_INTERNAL_H
#define VULB_DP_DP_INTERNAL_H

#include "dp/dp.h"
#include "dp/offload.h"
#include "lb/lb.h"

#define DP_BURST 32
/*
 * Work limit per TX ring per turn, in bytes as well as chains (Linux vhost's lesson from
 * CVE-2019-3900: a guest sending few huge frames costs as much copying as many small ones).
 * A burst ends after the chain that reaches it, so one turn copies at most this much plus one
 * frame. 2 KiB per chain on average, the ratio of Linux vhost-net's 512 KiB per 256 packets;
 * MTU-sized frames still go 32 at a time.
 */
#define DP_BURST_BYTES (64u * 1024)

/*
 * One frame of a burst. The frame itself is in the scratch's tx[] chain of the same index: a
 * guest's TX buffers, or any other memory described the same way (the uplink's read buffers).
 */
struct dp_pkt {
	struct dp_port *dest;
	uint32_t frame_off;        /* where the Ethernet frame starts in the TX chain */
	uint32_t frame_len;
	uint8_t drop;              /* enum dp_drop, or DP_DROP__MAX when not dropped */
	uint8_t head_len;
	uint8_t lb_dirty;          /* bytes of head the load balancer rewrote: they replace the frame's */
	/* A validated checksum/GSO request; vh.flags == 0: none. Before head: the same cache line. */
	struct dp_offload vh;
	uint8_t head[104];         /* first bytes of the frame (LB_HEAD_NEED), for classification */
};

/*
 * What a worker's epoll events carry: 0 for its own wake eventfd, a ring's address for the
 * ring's kick fd. The address is only compared with the rings of the worker's current poll
 * list, never followed: an event taken before a ring was removed can outlive the ring.
 */
#define DP_WAKE_COOKIE 0ull
static inline uint64_t dp_kick_cookie(const struct dp_vq *vq)
{
	return (uintptr_t)vq;
}

#define DP_MAX_PENDING_IRQS 64

struct dp_pending_irq {
	struct dp_port *port;     /* validated against the port set before use */
	uint32_t set_gen;         /* ... unless the set is still this one */
	uint8_t q;
};

/* Per-thread scratch: chains are large, so they live here rather than on the stack. */
struct dp_scratch {
	bool coalesce;            /* false on the control thread: interrupt at once */
	uint64_t call_since_ns;   /* a call eventfd write began then (0: none): see watchdog.c */
	unsigned int npending;
	struct dp_pending_irq pending[DP_MAX_PENDING_IRQS];
	unsigned int worker_id;
	/* One more slot than a burst: frames the switch makes itself (ARP replies for VIPs). */
	struct dp_pkt pkts[DP_BURST + 1];
	struct vring_chain tx[DP_BURST + 1];
	struct lb_verdict lbv;
	unsigned int narp;
	uint8_t arp[DP_BURST][VIRTIO_NET_HDR_LEN_V1 + LB_REPLY_MAX];
	uint8_t arp_len[DP_BURST];
	struct vring_chain rx_cur;
	struct vring_chain rx_first;
	/* Offload fallbacks: a frame made linear, one segment of it, and a chain over either. */
	struct vring_chain lin_chain;
	uint8_t lin[DP_OFFLOAD_MAX_FRAME];
	uint8_t seg[DP_OFFLOAD_MAX_FRAME];
};

void dp_port_break(struct dp *dp, struct dp_port *port, unsigned int vq, const char *why, int err);
uint32_t dp_offload_linearize(struct dp_scratch *s, const struct dp_pkt *p,
			      const struct vring_chain *c);
void dp_flush_irqs(struct dp *dp, struct dp_scratch *s, uint64_t now_ns, bool all);
void dp_switch_burst(struct dp *dp, struct dp_scratch *s, struct dp_port *src, struct dp_vq *in,
		     unsigned int n, uint64_t now_s);
unsigned int dp_drain_tx(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			 struct dp_vq *txq, unsigned int vq_index, uint64_t now_s);

#endif
