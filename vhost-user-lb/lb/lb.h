/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service load balancer: virtual IPs (address, L4 port, TCP or UDP) served by backends
 * (guests on this switch, named by MAC and IPv4 address). A new flow to a VIP gets a backend
 * (Maglev, least-load or weighted round robin) and keeps it for its whole life through a
 * connection-tracking table; its frames get the backend's MAC, address (and port) as
 * destination, and the backend's replies get the VIP's address, port and virtual MAC as source.
 * ARP requests for a VIP are answered by the switch with the virtual MAC.
 *
 * How the datapath calls it (one call per frame, inside the worker's QSBR read side):
 *
 *	struct lb_verdict v;
 *
 *	switch (lb_process_rcu(lb, worker_id, head, head_len, frame_len, csum_at, now_s, &v)) {
 *	case LB_PASS:       // not ours: switch the frame as usual
 *	case LB_TO_BACKEND: // head rewritten: deliver to v.port (NULL: look the new dst MAC up)
 *	case LB_TO_CLIENT:  // head rewritten: switch as usual (destination MAC unchanged)
 *		then copy the frame, and write head[0 .. v.head_dirty) over its first bytes
 *	case LB_ARP_REPLY:  // deliver v.reply (v.reply_len bytes) to the sender's port only
 *	case LB_DROP:       // count v.drop; the frame goes nowhere
 *	}
 *
 * And the control thread: lb_new() at start (workers get the pointer before they start);
 * lb_flows_expire(now_s) about once a second, on the workers' clock; lb_backends_refresh()
 * on a short tick and whenever a port's guest leaves (binds each backend to the port its MAC
 * is behind, takes backends down while that port has no running guest, and feeds least-load
 * with the guest's measured RX load from lb_rx_meter_sample() and lb_rx_load_update());
 * lb_port_gone() before a port is freed, or lb_backend_set_up(false) when discovery says a
 * backend's VM stopped; lb_state_save() and lb_state_restore() carry everything, flows included,
 * over a hand-over; lb_show_json() for `vip show`; lb_free() after the workers stopped.
 *
 * @head is the worker's own copy of the frame's first bytes: it is rewritten in place, never
 * the guest's buffer. LB_HEAD_NEED bytes cover every header we parse (VLAN tag, IPv4 with
 * options, TCP up to its checksum); a shorter copy works for frames whose headers fit and
 * drops the others toward a VIP with LB_DROP_HEAD_SHORT.
 *
 * Checksums: frames carry full checksums (no offload is negotiated); rewriting updates the IPv4
 * header checksum and the TCP/UDP checksum incrementally (RFC 1624). A UDP checksum of 0
 * ("none") stays 0.
 *
 * Threads: everything named _rcu runs on any registered RCU thread inside its read side
 * (workers); everything else is for the control thread only, which is the single writer.
 * Readers see immutable snapshots; the control thread frees old ones with call_rcu, and waits
 * for a grace period (synchronize_rcu) before it deletes the flows of a backend or VIP it took
 * away, so a worker can never create a flow to a backend that is being removed.
 *
 * Limits: at most LB_MAX_VIPS services, LB_MAX_BACKENDS backends per service, and max_flows
 * flows; flow entries come from a pool allocated at lb_new(), so the datapath never allocates
 * and a guest opening connections cannot make us use more memory.
 *
 * VIPs are matched on address, port and protocol whatever the frame's destination MAC and VLAN
 * tag (the tag is kept). Frames to the virtual MAC that are not for a service are dropped
 * (nobody owns that MAC: they would be flooded).
 *
 * Not supported (dropped toward a VIP, counted): IP fragments, IPv6 VIPs, IPv4 options that
 * push the L4 header past the copied head. A backend connecting to its own VIP (hairpin) only
 * works when another backend serves it: there is no source NAT.
 */
#ifndef VULB_LB_LB_H
#define VULB_LB_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define LB_MAX_VIPS 256
#define LB_MAX_BACKENDS 256           /* per VIP */
#define LB_MAX_FLOWS_LIMIT (1u << 22) /* the largest max_flows accepted */
#define LB_DEFAULT_MAX_FLOWS 65536
#define LB_WEIGHT_MAX 1000
#define LB_DEFAULT_WEIGHT 100
#define LB_MAGLEV_DEFAULT 65537       /* prime table sizes only */
#define LB_MAGLEV_MIN 1021
#define LB_MAGLEV_MAX 65537
#define LB_STAT_SHARDS 16             /* counters are split by worker to keep cache lines apart */
#define LB_HEAD_NEED 98               /* Ethernet + 802.1Q + IPv4 with options + TCP to csum */
#define LB_REPLY_MAX 64

enum lb_proto {
	LB_PROTO_TCP = 6,
	LB_PROTO_UDP = 17,
};

enum lb_algo {
	LB_ALGO_MAGLEV,      /* consistent hashing: minimal disruption when backends change */
	LB_ALGO_LEAST_LOAD,  /* least (active flows x queueing delay) / weight */
	LB_ALGO_WRR,         /* weighted round robin, smooth */
	LB_ALGO__MAX,
};

enum lb_action {
	LB_PASS,        /* not load-balancer traffic: switch the frame unchanged */
	LB_TO_BACKEND,  /* to a VIP: header rewritten toward the backend, deliver to ret->port */
	LB_TO_CLIENT,   /* a backend's reply: source rewritten to the VIP, switch it as usual */
	LB_ARP_REPLY,   /* an ARP request for a VIP: send ret->reply back to the sender's port */
	LB_DROP,        /* ret->drop says why */
};

enum lb_drop {
	LB_DROP_NO_SERVICE,   /* to a VIP address (or the virtual MAC), but not to a service */
	LB_DROP_NO_BACKEND,   /* new flow, but no backend takes new flows (drained or down) */
	LB_DROP_TABLE_FULL,   /* new flow refused: the flow table is full */
	LB_DROP_CONFLICT,     /* the backend-side 5-tuple already belongs to another flow */
	LB_DROP_BACKEND_DOWN, /* the flow's backend was just taken down */
	LB_DROP_NO_FLOW,      /* TCP RST (or non-SYN with pickup off) that matches no flow */
	LB_DROP_FRAGMENT,     /* IP fragment to a VIP (or of a reply): not supported */
	LB_DROP_MALFORMED,    /* IPv4/TCP/UDP header inconsistent with itself or the frame */
	LB_DROP_HEAD_SHORT,   /* the headers do not fit in the copied head */
	LB_DROP__MAX,
};

extern const char *const lb_drop_names[LB_DROP__MAX];

struct lb_verdict {
	enum lb_action action;
	enum lb_drop drop;      /* LB_DROP */
	void *port;             /* LB_TO_BACKEND: as given to lb_backend_set_port(), may be NULL */
	uint32_t head_dirty;    /* LB_TO_*: bytes of the head, from its start, that changed */
	uint32_t reply_len;     /* LB_ARP_REPLY */
	uint8_t reply[LB_REPLY_MAX];
};

/* Idle timeouts in seconds; 0 in a config means the default given here. */
struct lb_timeouts {
	uint32_t tcp_syn;         /* 30: no reply seen yet (also mid-stream pickups) */
	uint32_t tcp_established; /* 300 */
	uint32_t tcp_fin;         /* 120: FIN from one side */
	uint32_t tcp_closing;     /* 10: FIN from both sides, or RST */
	uint32_t udp;             /* 30 */
};

struct lb_config {
	uint32_t max_flows;        /* 0: LB_DEFAULT_MAX_FLOWS; pool memory ~ 128 bytes each */
	uint8_t vmac[6];           /* answered for every VIP; all zero: 02:00:00:00:00:01 */
	struct lb_timeouts timeouts;
	bool no_tcp_pickup;        /* refuse TCP flows that do not start with a SYN */
	uint64_t hash_seed[2];     /* flow hash key; all zero: random */
};

/* Addresses are IPv4 in host byte order (10.0.0.1 == 0x0a000001), ports in host order. */
struct lb_vip_spec {
	uint32_t addr;
	uint16_t port;
	uint8_t proto;             /* enum lb_proto */
	enum lb_algo algo;
	uint32_t table_size;       /* Maglev: a prime in [LB_MAGLEV_MIN, LB_MAGLEV_MAX]; 0: default */
};

struct lb_backend_spec {
	uint8_t mac[6];
	uint32_t addr;
	uint16_t port;             /* 0: the VIP's port */
	uint16_t weight;           /* 0..LB_WEIGHT_MAX; 0 drains: no new flows, existing ones kept */
};

/* What lb_backends_refresh() is told about the port a backend is behind. */
struct lb_port_state {
	void *port;                /* NULL: none known (the backend is left as it is) */
	bool up;                   /* a guest is there and takes frames (an RX queue runs) */
	uint32_t load_us;          /* its estimated RX queueing delay (lb_rx_load_update()) */
};

typedef void (*lb_locate_fn)(void *opaque, const uint8_t mac[6], void *bound,
			     struct lb_port_state *ret);

/*
 * One guest RX queue as the switch sees it on a sampling tick: the guest posts buffers (its
 * avail idx), the switch takes them to deliver frames (its next avail index), and frames that
 * found no buffer are dropped. lb_rx_meter_sample() keeps one struct lb_rx_meter per queue.
 */
struct lb_rx_sample {
	uint16_t posted;           /* the guest's avail->idx */
	uint16_t taken;            /* the switch's next avail index */
	uint16_t num;              /* ring size */
	bool has_unacked;          /* EVENT_IDX: @unacked below means something */
	uint16_t unacked;          /* used idx - the guest's used_event: what it has not said
				    * it processed (virtio 1.2, 2.7.10) */
	uint64_t delivered;        /* frames delivered into the ring, cumulative */
	uint64_t no_buffer;        /* frames dropped for want of a buffer, cumulative */
};

struct lb_rx_meter {
	uint64_t delivered, no_buffer;  /* at the previous sample */
	uint16_t posted;
	uint16_t full;             /* buffers the guest keeps posted once it has caught up */
	uint16_t backlog;          /* full - free at the previous sample */
	uint16_t quiet;            /* samples in a row with nothing delivered, posted or dropped */
	bool primed;
};

#define LB_RX_SETTLE 10            /* quiet samples after which "full" follows the guest down */

/* What one sample says; the caller adds up those of a guest's queues. */
struct lb_rx_reading {
	uint32_t backlog;          /* frames waiting for the guest now, + dropped */
	uint32_t drained;          /* frames it took since the previous sample */
	uint32_t late;             /* frames already waiting at the previous sample and still
				    * waiting: they have waited a whole interval */
	uint32_t dropped;          /* frames dropped since the previous sample: no buffer */
};

/* A guest's drain capacity and stall time across samples (all its RX queues together). */
struct lb_rx_load {
	uint32_t rate;             /* frames per second it takes when it has work, smoothed */
	uint32_t stalled_ms;       /* how long it has been behind and taken nothing */
};

struct lb_counters {
	uint64_t new_flows;
	uint64_t pkts_in, bytes_in;    /* client -> VIP -> backend */
	uint64_t pkts_out, bytes_out;  /* backend -> client, as the VIP */
};

struct lb;
struct lb_vip;
struct lb_backend;

int lb_new(const struct lb_config *cfg, struct lb **ret);
void lb_free(struct lb *lb);

int lb_vip_add(struct lb *lb, const struct lb_vip_spec *spec, struct lb_vip **ret);
int lb_vip_del(struct lb *lb, struct lb_vip *vip);
unsigned int lb_vips_clear(struct lb *lb);
struct lb_vip *lb_vip_find(struct lb *lb, uint32_t addr, uint16_t port, uint8_t proto);
int lb_vip_set_algo(struct lb *lb, struct lb_vip *vip, enum lb_algo algo);

int lb_backend_add(struct lb *lb, struct lb_vip *vip, const struct lb_backend_spec *spec,
		   struct lb_backend **ret);
int lb_backend_del(struct lb *lb, struct lb_backend *be);
struct lb_backend *lb_backend_find(struct lb_vip *vip, const uint8_t mac[6], uint32_t addr);
int lb_backend_set_weight(struct lb *lb, struct lb_backend *be, uint16_t weight);
int lb_backend_set_up(struct lb *lb, struct lb_backend *be, bool up);
void lb_backend_set_port(struct lb *lb, struct lb_backend *be, void *port);
unsigned int lb_port_gone(struct lb *lb, void *port);
unsigned int lb_backends_refresh(struct lb *lb, lb_locate_fn locate, void *opaque);
void lb_backend_set_load(struct lb_backend *be, uint32_t load_us);
uint32_t lb_load_estimate(uint32_t rx_backlog, uint32_t drain_per_s);
void lb_rx_meter_sample(struct lb_rx_meter *m, const struct lb_rx_sample *s,
			struct lb_rx_reading *ret);
void lb_rx_reading_add(struct lb_rx_reading *sum, const struct lb_rx_reading *r);
uint32_t lb_rx_load_update(struct lb_rx_load *l, const struct lb_rx_reading *r,
			   uint32_t interval_ms);

void lb_backend_counters(const struct lb_backend *be, struct lb_counters *ret);
uint32_t lb_backend_active_flows(const struct lb_backend *be);
void lb_vip_counters(const struct lb_vip *vip, struct lb_counters *ret, uint64_t *ret_refused);
uint32_t lb_flow_count(const struct lb *lb);
uint64_t lb_drops(const struct lb *lb, enum lb_drop why);

unsigned int lb_flows_expire(struct lb *lb, uint64_t now_s);

enum lb_action lb_process_rcu(struct lb *lb, unsigned int worker, uint8_t *head, uint32_t head_len,
			      uint32_t frame_len, uint32_t csum_at, uint64_t now_s,
			      struct lb_verdict *ret);

struct json_object *lb_show_json(struct lb *lb);

/* Who @be is: its service (address, port, protocol) and its MAC and address. Control thread. */
void lb_backend_ident(const struct lb_backend *be, struct lb_vip_spec *ret_vip,
		      struct lb_backend_spec *ret_be);

/* Hand-over (lb/state.c): services, backends and flows to JSON and back, across processes. */
struct json_object *lb_state_save(struct lb *lb);
int lb_state_restore(struct lb *lb, struct json_object *o, unsigned int *ret_vips,
		     unsigned int *ret_flows, unsigned int *ret_skipped);

/* Text forms for the control CLI and the config file. */
const char *lb_algo_name(enum lb_algo algo);
int lb_algo_parse(const char *s, enum lb_algo *ret);
int lb_vip_spec_parse(const char *s, struct lb_vip_spec *ret, char *why, size_t why_len);
int lb_backend_spec_parse(const char *s, struct lb_backend_spec *ret, char *why, size_t why_len);

#endif
