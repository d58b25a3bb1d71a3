/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Load balancer internals: the objects behind the opaque handles of lb.h, and the pure pieces
 * (hashing, checksums, header parsing and rewriting, Maglev, least-load, WRR) the unit tests
 * drive directly.
 *
 * Object lifetimes (all freed by the control thread through call_rcu):
 * - struct lb_vip and struct lb_backend live from *_add() to *_del(); workers reach them
 *   through the published struct lb_table and struct lb_vip_tab, and through flows.
 * - struct lb_table (classification sets) and struct lb_vip_tab (a VIP's selection state)
 *   are immutable once published and replaced as a whole.
 * - Flows come from a fixed pool and go back to it after a grace period.
 */
#ifndef VULB_LB_LB_INTERNAL_H
#define VULB_LB_LB_INTERNAL_H

#include <string.h>

#include "core/rcu.h"
#include "core/util.h"
#include "lb/lb.h"

/* ---- hashing ---- */

static inline uint64_t lb_rotl(uint64_t x, unsigned int b)
{
	return (x << b) | (x >> (64 - b));
}

#define LB_SIPROUND(v0, v1, v2, v3)                                                        \
	do {                                                                               \
		v0 += v1; v1 = lb_rotl(v1, 13); v1 ^= v0; v0 = lb_rotl(v0, 32);            \
		v2 += v3; v3 = lb_rotl(v3, 16); v3 ^= v2;                                  \
		v0 += v3; v3 = lb_rotl(v3, 21); v3 ^= v0;                                  \
		v2 += v1; v1 = lb_rotl(v1, 17); v1 ^= v2; v2 = lb_rotl(v2, 32);            \
	} while (0)

/*
 * SipHash-1-3 of two 64-bit words under a 128-bit key. Keyed, because the flow table's keys
 * come from guests: without a secret a guest could aim every flow at one hash chain, or every
 * Maglev lookup at one backend.
 */
static inline uint64_t lb_siphash2(const uint64_t key[2], uint64_t a, uint64_t b)
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ull, v1 = key[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ull, v3 = key[1] ^ 0x7465646279746573ull;
	const uint64_t last = 16ull << 56;

	v3 ^= a; LB_SIPROUND(v0, v1, v2, v3); v0 ^= a;
	v3 ^= b; LB_SIPROUND(v0, v1, v2, v3); v0 ^= b;
	v3 ^= last; LB_SIPROUND(v0, v1, v2, v3); v0 ^= last;
	v2 ^= 0xff;
	LB_SIPROUND(v0, v1, v2, v3);
	LB_SIPROUND(v0, v1, v2, v3);
	LB_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- 5-tuples ---- */

/* As seen in one direction's frames: dir 0 = client -> VIP, dir 1 = backend -> client. */
struct lb_tuple {
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint8_t proto, dir;
	uint16_t zero;
};

static inline uint64_t lb_tuple_word(const struct lb_tuple *t, unsigned int i)
{
	uint64_t w[2];

	memcpy(w, t, sizeof(w));
	return w[i];
}

static inline bool lb_tuple_eq(const struct lb_tuple *a, const struct lb_tuple *b)
{
	return lb_tuple_word(a, 0) == lb_tuple_word(b, 0) && lb_tuple_word(a, 1) == lb_tuple_word(b, 1);
}

static inline uint64_t lb_tuple_hash(const uint64_t key[2], const struct lb_tuple *t)
{
	return lb_siphash2(key, lb_tuple_word(t, 0), lb_tuple_word(t, 1));
}

/* ---- checksums (RFC 1071 sums, RFC 1624 incremental updates) ---- */

static inline uint16_t lb_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t lb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void lb_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void lb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t lb_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing from @from to @to. */
static inline uint16_t lb_csum_replace16(uint16_t hc, uint16_t from, uint16_t to)
{
	uint32_t sum = (uint16_t)~hc + (uint32_t)(uint16_t)~from + to;

	return (uint16_t)~lb_csum_fold(sum);
}

static inline uint16_t lb_csum_replace32(uint16_t hc, uint32_t from, uint32_t to)
{
	uint32_t sum = (uint16_t)~hc + (uint32_t)(uint16_t)~(from >> 16) +
		       (uint32_t)(uint16_t)~from + (to >> 16) + (to & 0xffff);

	return (uint16_t)~lb_csum_fold(sum);
}

/* ---- frames ---- */

#define LB_ETH_P_IP 0x0800
#define LB_ETH_P_ARP 0x0806
#define LB_ETH_P_8021Q 0x8100
#define LB_TCP_FIN 0x01
#define LB_TCP_SYN 0x02
#define LB_TCP_RST 0x04
#define LB_TCP_ACK 0x10

/* Where the parts of a frame head are, and what they say. */
struct lb_pkt {
	uint16_t ethertype;
	uint16_t l3;            /* offset of the IPv4 header (or ARP) */
	uint16_t l4;            /* offset of the TCP/UDP header */
	uint8_t proto;
	uint8_t tcp_flags;
	bool frag;              /* MF set or fragment offset non-zero */
	uint32_t saddr, daddr;
	uint16_t sport, dport;
	uint32_t csum_at;       /* set by the caller: a NEEDS_CSUM field's offset, 0 for none */
};

enum lb_parse {
	LB_PARSE_OTHER,         /* neither IPv4 nor ARP: not ours */
	LB_PARSE_ARP,
	LB_PARSE_IP,            /* IPv4 with addresses; ports valid when proto is TCP/UDP */
	LB_PARSE_IP_NOPORTS,    /* IPv4, but not TCP/UDP, or a non-first fragment */
};

int lb_pkt_parse(const uint8_t *head, uint32_t head_len, uint32_t frame_len, struct lb_pkt *ret);
uint32_t lb_pkt_nat(uint8_t *head, const struct lb_pkt *p, bool dst, const uint8_t mac[6],
		    uint32_t addr, uint16_t port);
int lb_arp_reply(const uint8_t *head, uint32_t head_len, const struct lb_pkt *p,
		 const uint8_t vmac[6], uint32_t *ret_tpa, uint8_t *out, uint32_t out_cap);

/* ---- Maglev ---- */

#define LB_MG_NONE 0xffffu

struct lb_mg_backend {
	uint64_t h1, h2;        /* two hashes of the backend's identity */
	uint32_t weight;        /* 0: not in the table */
};

bool lb_is_prime(uint32_t n);
int lb_maglev_build(const struct lb_mg_backend *be, unsigned int n, uint32_t size,
		    const uint16_t *prev, uint16_t *table);

/* ---- least-load and WRR ---- */

#define LB_LL_BASE_US 100      /* the cost of a flow on an idle backend, in µs of delay */
#define LB_LOAD_MAX_US 10000000u

struct lb_ll_cand {
	uint32_t flows;         /* active flows */
	uint32_t load_us;       /* estimated queueing delay in the backend's RX queues */
	uint32_t weight;        /* 0: not a candidate */
};

int lb_least_load_pick(const struct lb_ll_cand *c, unsigned int n, uint32_t start);
#define LB_WRR_MAX 4096
int lb_wrr_build(const uint32_t *weight, unsigned int n, uint16_t *out, uint32_t cap);

/* ---- objects ---- */

enum lb_flow_state {
	LB_FS_SYN_SENT,
	LB_FS_ESTABLISHED,
	LB_FS_FIN_WAIT,
	LB_FS_CLOSING,
	LB_FS_UDP,
	LB_FS__MAX,
};

struct lb_stats {
	uint64_t new_flows;
	uint64_t pkts_in, bytes_in;
	uint64_t pkts_out, bytes_out;
	uint64_t refused;       /* VIP only: new flows refused (table full, no backend, conflict) */
} __cache_aligned;

struct lb_backend {
	struct rcu_head rcu;
	struct lb_vip *vip;
	uint8_t mac[6];
	uint32_t addr;
	uint16_t port;          /* effective: the mapped port or the VIP's */
	uint16_t port_spec;     /* 0: not mapped */
	uint16_t weight;        /* control thread; workers read the copy in the tab */
	bool up;                /* atomic: vm_up && link_up, what workers go by */
	bool vm_up;             /* control thread: false while discovery says its VM is stopped */
	bool link_up;           /* control thread: false while its port has no guest taking frames */
	void *dp_port;          /* atomic */
	uint32_t load_us;       /* atomic: fed by the control thread */
	uint32_t active_flows;  /* atomic: + by workers on a new flow, - by the control thread */
	uint32_t table_entries; /* control thread: Maglev share, for show */
	uint32_t show_states[LB_FS__MAX]; /* control thread: flows per state while building "vip show" */
	uint64_t h1, h2;
	struct lb_stats stats[LB_STAT_SHARDS];
};

/* A VIP's selection state, immutable once published. */
struct lb_vip_tab {
	struct rcu_head rcu;
	enum lb_algo algo;
	uint32_t nbe;
	struct lb_backend **be;   /* index space of the tables below */
	uint32_t *weight;         /* per backend; 0 when not eligible for new flows */
	uint32_t nelig;
	uint16_t *elig;           /* indices of the eligible ones */
	uint32_t msize;
	uint16_t *maglev;         /* LB_ALGO_MAGLEV: msize entries */
	uint32_t wrr_len;
	uint16_t *wrr;            /* LB_ALGO_WRR */
};

struct lb_vip {
	struct rcu_head rcu;
	struct lb *lb;
	uint32_t addr;
	uint16_t port;
	uint8_t proto;
	enum lb_algo algo;
	uint32_t table_size;
	struct lb_vip_tab *tab;   /* RCU */
	uint32_t wrr_next;        /* atomic */
	/* Control thread only. */
	unsigned int nbes;
	struct lb_backend *bes[LB_MAX_BACKENDS];
	struct lb_counters retired;  /* what removed backends carried */
	struct lb_stats stats[LB_STAT_SHARDS];
};

struct lb_svc_slot {
	uint32_t addr;
	uint16_t port;
	uint8_t proto;
	struct lb_vip *vip;       /* NULL: empty (endpoint sets leave it NULL and use used) */
	bool used;
};

/* Classification sets, immutable once published: open addressing, linear probing. */
struct lb_table {
	struct rcu_head rcu;
	uint32_t nvips;
	uint32_t svc_mask;
	struct lb_svc_slot *svc;  /* (VIP addr, port, proto) -> VIP */
	uint32_t addr_mask;
	uint32_t *addrs;          /* VIP addresses; 0 = empty */
	uint32_t ep_mask;
	struct lb_svc_slot *ep;   /* (backend addr, port, proto): frames from them may be replies */
};

/* ---- flows ---- */

enum lb_flow_flag {
	LB_F_SYN_O = 1 << 0,
	LB_F_SYN_R = 1 << 1,
	LB_F_FIN_O = 1 << 2,
	LB_F_FIN_R = 1 << 3,
	LB_F_RST = 1 << 4,
	LB_F_REPLIED = 1 << 5,
};

extern const char *const lb_flow_state_names[LB_FS__MAX];

/*
 * A pool entry is FREE, CREATING while its creator links its two nodes, LIVE once both are in,
 * DEAD once someone (the creator on a conflict, else the control thread) won the right to
 * unlink it, and FREE again after the grace period. The control thread only unlinks LIVE
 * flows, so it never sees half a flow; only it moves a flow out of LIVE.
 */
enum lb_flow_life {
	LB_LIFE_FREE,
	LB_LIFE_CREATING,
	LB_LIFE_LIVE,
	LB_LIFE_DEAD,
};

struct lb_fnode {
	struct cds_lfht_node node;
	struct lb_tuple key;
};

struct lb_flows;

struct lb_flow {
	struct lb_fnode fn[2];     /* [0] client -> VIP, [1] backend -> client */
	struct lb_vip *vip;
	struct lb_backend *be;
	uint32_t flags;            /* atomic, enum lb_flow_flag */
	uint64_t last_s;           /* atomic */
	uint64_t created_s;
	uint8_t life;              /* atomic, enum lb_flow_life */
	uint32_t next_free;        /* pool link: index + 1, 0 = end */
	struct lb_flows *owner;
	struct rcu_head rcu;
};

struct lb_flows {
	struct cds_lfht *ht;
	uint64_t key[2];
	uint32_t max;
	uint32_t count;            /* atomic: flows in the table */
	uint64_t free_head;        /* atomic: ABA tag << 32 | (index + 1) */
	struct lb_flow *pool;
	struct lb_timeouts to;
	bool pickup;
};

enum lb_flow_state lb_flow_state(uint8_t proto, uint32_t flags);
uint32_t lb_flow_timeout(const struct lb_timeouts *to, enum lb_flow_state st);
uint32_t lb_flow_update_flags(uint32_t old, uint8_t proto, unsigned int dir, uint8_t tcp_flags);

int lb_flows_init(struct lb_flows *f, uint32_t max, const struct lb_timeouts *to, bool pickup,
		  const uint64_t key[2]);
void lb_flows_fini(struct lb_flows *f);
struct lb_flow *lb_flow_lookup_rcu(struct lb_flows *f, const struct lb_tuple *t, uint64_t hash);
void lb_flow_seen_rcu(struct lb_flow *fl, unsigned int dir, uint8_t tcp_flags, uint64_t now_s);

typedef struct lb_backend *(*lb_pick_fn)(void *opaque);
int lb_flow_create_rcu(struct lb_flows *f, const struct lb_tuple *t, uint64_t hash,
		       struct lb_vip *vip, lb_pick_fn pick, void *opaque, uint64_t now_s,
		       struct lb_flow **ret);

typedef bool (*lb_flow_pred_fn)(const struct lb_flow *fl, const void *arg);
unsigned int lb_flows_remove_if(struct lb_flows *f, lb_flow_pred_fn pred, const void *arg);
unsigned int lb_flows_expire_at(struct lb_flows *f, uint64_t now_s);
typedef void (*lb_flow_visit_fn)(struct lb_flow *fl, void *arg);
void lb_flows_foreach_rcu(struct lb_flows *f, lb_flow_visit_fn fn, void *arg);

int lb_vip_publish_from(struct lb_vip *vip, const uint16_t *from);

/* ---- the whole ---- */

struct lb {
	struct lb_table *table;    /* RCU */
	struct lb_flows flows;
	uint8_t vmac[6];
	uint64_t seed[2];
	unsigned int nvips;
	struct lb_vip *vips[LB_MAX_VIPS];
	struct {
		uint64_t drops[LB_DROP__MAX];
	} __cache_aligned shard[LB_STAT_SHARDS];
};

static inline void lb_stat_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

#endif
