// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the frame parsing and rewriting of the service load balancer: lb/pkt.c
 * (lb_pkt_parse(), lb_pkt_nat(), lb_arp_reply()) directly, and lb_process_rcu() (lb/lb.c,
 * flow.c, maglev.c, policy.c) on a load balancer with three services: TCP 10.0.0.100:80
 * (Maglev), UDP 10.0.0.100:53 (least-load), TCP 10.0.0.101:443 (WRR, a backend shared with
 * the first service, one backend with another port, one drained). The switch's own frame
 * parsing in dp/forward.c (header checks, flow hash, and the load balancer's verdicts on the
 * datapath) is fuzz_forward's.
 *
 * Input (little-endian), frames until the end:
 *   u8 op         bits 0-1: 0 = the pkt.c functions directly, else lb_process_rcu();
 *                 bit 2: lb_pkt_nat() rewrites the destination (else the source);
 *                 bits 3-7: seconds added to the clock (flows age, lb_flows_expire runs)
 *   u8 head_len   bytes of the frame head (at most 128), then u16 extra: the frame is
 *                 head_len + extra bytes long (the rest is not in the head, as on the datapath)
 *   head_len bytes
 *   direct mode: 6 bytes MAC, u32 address, u16 port for lb_pkt_nat()
 *
 * Oracles besides the sanitizers (every head is its own allocation of exactly head_len bytes,
 * so ASan sees any read past it):
 * - lb_pkt_parse() returns a documented value; for LB_PARSE_IP the headers it reports lie in
 *   the head; parsing is deterministic;
 * - lb_pkt_nat() writes nothing past the bytes it reports, and keeps a valid IPv4 header
 *   checksum valid, and a valid TCP/UDP checksum valid when the whole segment is in the head
 *   (computed from scratch here, not with the code under test); a UDP checksum of 0 stays 0;
 *   re-parsing the result finds the new address and port;
 * - lb_arp_reply() fits its buffer and answers the requester from the virtual MAC;
 * - lb_process_rcu(): a documented verdict; head_dirty within the head; a rewritten frame
 *   keeps valid checksums valid (same rules); a backend verdict names one of our ports or
 *   none; an ARP reply fits LB_REPLY_MAX;
 * - no fd leaks; flows expire completely at the end of each input (no state carried over but
 *   per-backend round-robin positions), with a periodic leak check.
 */
#include "fuzz.h"
#include "lb/lb_internal.h"

#define HEAD_MAX 128

static struct lb *lb;
static int port_token[4];

static void settle(void)
{
	rcu_barrier();
}

static void init_once(void)
{
	static const struct {
		uint32_t addr;
		uint16_t port;
		uint8_t proto;
		enum lb_algo algo;
	} vips[3] = {
		{ 0x0a000064, 80, LB_PROTO_TCP, LB_ALGO_MAGLEV },
		{ 0x0a000064, 53, LB_PROTO_UDP, LB_ALGO_LEAST_LOAD },
		{ 0x0a000065, 443, LB_PROTO_TCP, LB_ALGO_WRR },
	};
	static const struct {
		unsigned int vip;
		uint32_t addr;
		uint16_t port, weight;
		int token;
	} bes[] = {
		{ 0, 0x0a00000b, 8080, 100, 0 },
		{ 0, 0x0a00000c, 0, 50, 1 },
		{ 0, 0x0a00000d, 0, 0, 2 },      /* drained */
		{ 1, 0x0a000015, 0, 100, 3 },
		{ 1, 0x0a000016, 5353, 100, -1 }, /* no port known yet */
		{ 2, 0x0a00000b, 8443, 100, 0 },  /* also behind the first service */
		{ 2, 0x0a00001f, 0, 300, 1 },
	};
	struct lb_config cfg = { .max_flows = 64, .hash_seed = { 7, 9 } };
	struct lb_vip *v[3];

	rcu_register_thread();
	if (lb_new(&cfg, &lb))
		abort();
	for (unsigned int i = 0; i < 3; i++) {
		struct lb_vip_spec s = { .addr = vips[i].addr, .port = vips[i].port,
					 .proto = vips[i].proto, .algo = vips[i].algo,
					 .table_size = LB_MAGLEV_MIN };

		if (lb_vip_add(lb, &s, &v[i]))
			abort();
	}
	for (unsigned int i = 0; i < sizeof(bes) / sizeof(bes[0]); i++) {
		struct lb_backend_spec s = { .mac = { 0x52, 0x54, 0, 0, 0, (uint8_t)(0x10 + i) },
					     .addr = bes[i].addr, .port = bes[i].port,
					     .weight = bes[i].weight };
		struct lb_backend *be;

		if (lb_backend_add(lb, v[bes[i].vip], &s, &be))
			abort();
		if (bes[i].token >= 0)
			lb_backend_set_port(lb, be, &port_token[bes[i].token]);
	}
	rcu_thread_offline();
}

/* Ones' complement sum of @len bytes at @p, big-endian words (RFC 1071). */
static uint64_t sum16(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint64_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint64_t)p[len - 1] << 8;
	return s;
}

static bool sum_ok(uint64_t s)
{
	return s % 0xffff == 0;
}

static bool ip_csum_ok(const uint8_t *h, const struct lb_pkt *p)
{
	return sum_ok(sum16(h + p->l3, (size_t)(h[p->l3] & 15) * 4));
}

/*
 * Whether the TCP/UDP checksum can be checked from the head (the whole, unfragmented segment
 * is in it, with consistent lengths), and whether it is valid. *checkable false: no opinion.
 */
static bool l4_csum_ok(const uint8_t *h, uint32_t head_len, const struct lb_pkt *p, bool *checkable)
{
	uint32_t ihl = (h[p->l3] & 15u) * 4u, tot = lb_get16(h + p->l3 + 2), seg = tot - ihl;
	uint64_t s;

	*checkable = false;
	if (p->frag || p->l3 + tot > head_len || tot < ihl)
		return false;
	if (p->proto == LB_PROTO_UDP) {
		if (seg < 8 || lb_get16(h + p->l4 + 4) != seg)
			return false;
		if (lb_get16(h + p->l4 + 6) == 0)
			return false;   /* no checksum */
	} else if (seg < 20) {
		return false;
	}
	*checkable = true;
	s = sum16(h + p->l3 + 12, 8) + p->proto + seg + sum16(h + p->l4, seg);
	return sum_ok(s);
}

/* The checksum oracles for a head rewritten from @before to @after. */
static void check_rewrite(const uint8_t *before, const uint8_t *after, uint32_t head_len,
			  uint32_t frame_len, const char *what)
{
	struct lb_pkt pb, pa;
	bool cb, ca;

	if (lb_pkt_parse(before, head_len, frame_len, &pb) != LB_PARSE_IP)
		return;
	FUZZ_ASSERT(lb_pkt_parse(after, head_len, frame_len, &pa) == LB_PARSE_IP,
		    "%s: a rewritten IPv4 frame no longer parses", what);
	FUZZ_ASSERT(pa.l3 == pb.l3 && pa.l4 == pb.l4 && pa.proto == pb.proto,
		    "%s: the rewrite moved the headers", what);
	if (ip_csum_ok(before, &pb))
		FUZZ_ASSERT(ip_csum_ok(after, &pa), "%s: IPv4 header checksum broken by the rewrite",
			    what);
	if (l4_csum_ok(before, head_len, &pb, &cb) && cb) {
		bool ok = l4_csum_ok(after, head_len, &pa, &ca);

		FUZZ_ASSERT(ca && ok, "%s: %s checksum broken by the rewrite", what,
			    pb.proto == LB_PROTO_TCP ? "TCP" : "UDP");
	}
	if (pb.proto == LB_PROTO_UDP && !pb.frag && lb_get16(before + pb.l4 + 6) == 0)
		FUZZ_ASSERT(lb_get16(after + pa.l4 + 6) == 0, "%s: UDP checksum 0 was changed", what);
}

static void direct(struct fz *in, uint8_t op, const uint8_t *head, uint32_t head_len,
		   uint32_t frame_len)
{
	uint8_t copy[HEAD_MAX], mac[6];
	struct lb_pkt p, p2;
	uint32_t addr, n;
	uint16_t port;
	int r;

	fz_bytes(in, mac, 6);
	addr = fz_u32(in);
	port = fz_u16(in);
	r = lb_pkt_parse(head, head_len, frame_len, &p);
	FUZZ_LOG("pkt: parse %u/%u bytes: %d\n", head_len, frame_len, r);
	FUZZ_ASSERT(r == LB_PARSE_OTHER || r == LB_PARSE_ARP || r == LB_PARSE_IP ||
		    r == LB_PARSE_IP_NOPORTS || r == -EMSGSIZE || r == -EINVAL, "parse returned %d", r);
	FUZZ_ASSERT(lb_pkt_parse(head, head_len, frame_len, &p2) == r &&
		    !memcmp(&p, &p2, sizeof(p)), "parse is not deterministic");
	if (r == LB_PARSE_ARP && head_len) {
		uint8_t out[LB_REPLY_MAX];
		uint32_t tpa = 0;
		int len = lb_arp_reply(head, head_len, &p, mac, &tpa, out, sizeof(out));

		FUZZ_ASSERT(len == -EINVAL || len == -ENOSPC || (len >= 42 && len <= (int)sizeof(out)),
			    "ARP reply length %d", len);
		if (len > 0) {
			FUZZ_ASSERT(!memcmp(out, head + p.l3 + 8, 6), "ARP reply not to the requester");
			FUZZ_ASSERT(!memcmp(out + 6, mac, 6), "ARP reply not from the given MAC");
		}
	}
	if (r != LB_PARSE_IP)
		return;
	FUZZ_ASSERT(p.l3 == 14 || p.l3 == 18, "l3 at %u", p.l3);
	FUZZ_ASSERT(p.l4 >= p.l3 + 20u && p.l4 + (p.proto == LB_PROTO_TCP ? 18u : 8u) <= head_len,
		    "L4 header at %u (proto %u) not inside the %u-byte head", p.l4, p.proto, head_len);
	memcpy(copy, head, head_len);
	n = lb_pkt_nat(copy, &p, op & 4, mac, addr, port);
	FUZZ_ASSERT(n <= head_len, "NAT reports %u bytes changed of a %u-byte head", n, head_len);
	FUZZ_ASSERT(!memcmp(copy + n, head + n, head_len - n), "NAT wrote past the %u bytes it reports", n);
	check_rewrite(head, copy, head_len, frame_len, "lb_pkt_nat");
	FUZZ_ASSERT(lb_pkt_parse(copy, head_len, frame_len, &p2) == LB_PARSE_IP, "reparse");
	FUZZ_ASSERT((op & 4 ? p2.daddr : p2.saddr) == addr && (op & 4 ? p2.dport : p2.sport) == port,
		    "NAT did not write address %08x port %u", addr, port);
}

static void through_lb(const uint8_t *head, uint8_t *work, uint32_t head_len, uint32_t frame_len,
		       uint64_t now)
{
	struct lb_verdict v;
	enum lb_action a;

	memcpy(work, head, head_len);
	a = lb_process_rcu(lb, 0, work, head_len, frame_len, 0, now, &v);
	FUZZ_LOG("pkt: lb verdict %d (drop %d), dirty %u\n", a, a == LB_DROP ? (int)v.drop : -1,
		 a == LB_TO_BACKEND || a == LB_TO_CLIENT ? v.head_dirty : 0);
	switch (a) {
	case LB_PASS:
		FUZZ_ASSERT(!memcmp(work, head, head_len), "a passed frame was changed");
		break;
	case LB_TO_BACKEND:
		FUZZ_ASSERT(!v.port || v.port == &port_token[0] || v.port == &port_token[1] ||
			    v.port == &port_token[2] || v.port == &port_token[3], "unknown port %p", v.port);
		/* fall through */
	case LB_TO_CLIENT:
		FUZZ_ASSERT(v.head_dirty <= head_len, "dirty %u of %u", v.head_dirty, head_len);
		FUZZ_ASSERT(!memcmp(work + v.head_dirty, head + v.head_dirty, head_len - v.head_dirty),
			    "bytes changed past head_dirty");
		check_rewrite(head, work, head_len, frame_len, "lb_process_rcu");
		break;
	case LB_ARP_REPLY:
		FUZZ_ASSERT(v.reply_len >= 42 && v.reply_len <= LB_REPLY_MAX, "reply of %u", v.reply_len);
		break;
	case LB_DROP:
		FUZZ_ASSERT(v.drop < LB_DROP__MAX, "drop reason %d", v.drop);
		break;
	default:
		FUZZ_ASSERT(false, "verdict %d", a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fz in = { data, size };
	uint64_t now = 1000;

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	rcu_thread_online();
	while (in.n) {
		uint8_t op = fz_u8(&in);
		uint32_t head_len = fz_u8(&in) % (HEAD_MAX + 1), extra = fz_u16(&in);
		uint8_t *head = malloc(head_len ? head_len : 1), *work = malloc(head_len ? head_len : 1);

		if (!head || !work)
			abort();
		fz_bytes(&in, head, head_len);
		now += op >> 3;
		if (op & 3) {
			through_lb(head, work, head_len, head_len + extra, now);
			if (op >> 3 == 31)
				(void)lb_flows_expire(lb, now);
		} else {
			direct(&in, op, head, head_len, head_len + extra);
		}
		free(head);
		free(work);
	}
	/* Every flow times out: the next input starts from an empty table. */
	(void)lb_flows_expire(lb, now + 100000);
	FUZZ_ASSERT(lb_flow_count(lb) == 0, "%u flows left after expiry", lb_flow_count(lb));
	rcu_thread_offline();
	fuzz_periodic_leak_check(500, settle);
	fuzz_fd_check();
	return 0;
}
