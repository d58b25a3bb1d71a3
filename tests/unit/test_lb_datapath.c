// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lb_process_rcu() end to end on frames, as the datapath will call it: ARP for a VIP, frames
 * that are not ours, a connection to a VIP and its replies (addresses, ports, MACs, checksums
 * from scratch), thousands of flows spread by Maglev, backend removal / drain / down, port
 * mapping, UDP, VLAN, every drop reason, least-load and WRR placement, backends following
 * their ports (lb_backends_refresh()), `vip show` JSON, and the spec parsers.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "check.h"
#include "lb/lb_internal.h"
#include "test_lb_frames.h"

#define VIP 0x0a000064u           /* 10.0.0.100 */
#define CLIENT 0x0a000032u        /* 10.0.0.50 */
#define NFLOWS 30000

static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t cmac[6] = { 0x52, 0x54, 0, 0, 0, 0x32 };
static int port_token[10];          /* stand-ins for struct dp_port */

static struct lb_backend_spec be_spec(unsigned int i, uint16_t port, uint16_t weight)
{
	struct lb_backend_spec b = { .mac = { 0x52, 0x54, 0, 0, 0, (uint8_t)(0x10 + i) },
				     .addr = 0x0a00000bu + i, .port = port, .weight = weight };
	return b;
}

/* Client -> VIP:80 from port @sport. */
static struct tf_spec to_vip(uint32_t vip, uint16_t sport, uint8_t flags)
{
	struct tf_spec s = { .saddr = CLIENT, .daddr = vip, .proto = 6, .sport = sport,
			     .dport = 80, .tcp_flags = flags, .payload = 10, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, cmac, 6);
	return s;
}

/* The reply of backend @i (listening on @bport) to the client's port @cport. */
static struct tf_spec reply_from(unsigned int i, uint16_t bport, uint16_t cport, uint8_t flags)
{
	struct lb_backend_spec b = be_spec(i, 0, 0);
	struct tf_spec s = { .saddr = b.addr, .daddr = CLIENT, .proto = 6, .sport = bport,
			     .dport = cport, .tcp_flags = flags, .payload = 20, .seed = cport };

	memcpy(s.dmac, cmac, 6);
	memcpy(s.smac, b.mac, 6);
	return s;
}

static int which_port(const struct tf_sent *t)
{
	for (int i = 0; i < 10; i++)
		if (t->v.port == &port_token[i])
			return i;
	return -1;
}

static struct lb *make_lb(uint32_t max_flows)
{
	struct lb_config cfg = { .max_flows = max_flows, .hash_seed = { 1, 2 } };
	struct lb *lb = NULL;

	CHECK(lb_new(&cfg, &lb) == 0, "lb_new(max_flows=%u)", max_flows);
	return lb;
}

static void arp(struct lb *lb)
{
	uint8_t req[64];
	struct lb_verdict v;
	uint32_t len = tf_arp_request(req, cmac, 0, CLIENT, VIP, 1);
	const uint8_t *r;

	CHECK(lb_process_rcu(lb, 0, req, len, len, 0, 1, &v) == LB_ARP_REPLY && v.reply_len == 60,
	      "ARP request for the VIP: a 60-byte reply");
	r = v.reply;
	CHECK(!memcmp(r, cmac, 6) && !memcmp(r + 6, vmac, 6) && tf_get16(r + 12) == 0x0806,
	      "ARP reply: to the requester, from the virtual MAC");
	CHECK(tf_get16(r + 20) == 2 && !memcmp(r + 22, vmac, 6) && tf_get32(r + 28) == VIP &&
	      !memcmp(r + 32, cmac, 6) && tf_get32(r + 38) == CLIENT,
	      "ARP reply: is-at virtual MAC for the VIP, to the requester's MAC and address");
	len = tf_arp_request(req, cmac, 42, CLIENT, VIP, 1);
	CHECK(lb_process_rcu(lb, 0, req, len, len, 0, 1, &v) == LB_ARP_REPLY && v.reply_len == 64 &&
	      tf_get16(v.reply + 12) == 0x8100 && tf_get16(v.reply + 14) == 42 &&
	      tf_get16(v.reply + 16) == 0x0806 && tf_get32(v.reply + 32) == VIP,
	      "ARP on VLAN 42: the reply keeps the tag");
	len = tf_arp_request(req, cmac, 0, CLIENT, 0x0a000099, 1);
	CHECK(lb_process_rcu(lb, 0, req, len, len, 0, 1, &v) == LB_PASS, "ARP for another address: pass");
	len = tf_arp_request(req, cmac, 0, CLIENT, VIP, 2);
	CHECK(lb_process_rcu(lb, 0, req, len, len, 0, 1, &v) == LB_PASS, "ARP reply (op 2): pass");
	/* Linux re-checks a cached neighbour with a unicast request to the MAC it knows. */
	len = tf_arp_request(req, cmac, 0, CLIENT, VIP, 1);
	memcpy(req, vmac, 6);
	CHECK(lb_process_rcu(lb, 0, req, len, len, 0, 1, &v) == LB_ARP_REPLY,
	      "unicast ARP request to the virtual MAC: answered");
}

static void not_ours(struct lb *lb)
{
	struct tf_sent t;
	struct tf_spec s = to_vip(0x0a000099, 1000, LB_TCP_SYN);
	uint8_t ipv6[64] = { 0 };
	struct lb_verdict v;

	CHECK(tf_send(lb, &s, 1, &t) == LB_DROP && t.v.drop == LB_DROP_NO_SERVICE,
	      "TCP to the virtual MAC, but not to a VIP: dropped (it would be flooded)");
	memcpy(s.dmac, cmac, 6);
	s.dmac[5] = 0x99;
	CHECK(tf_send(lb, &s, 1, &t) == LB_PASS, "TCP to a non-VIP address: pass");
	s = reply_from(0, 22, 5000, LB_TCP_ACK);
	CHECK(tf_send(lb, &s, 1, &t) == LB_PASS, "a backend's traffic on another port: pass");
	s = reply_from(0, 80, 5000, LB_TCP_ACK);
	CHECK(tf_send(lb, &s, 1, &t) == LB_PASS,
	      "a backend answering from port 80 with no flow (direct traffic): pass");
	memcpy(ipv6, cmac, 6);
	tf_put16(ipv6 + 12, 0x86dd);
	CHECK(lb_process_rcu(lb, 0, ipv6, 64, 64, 0, 1, &v) == LB_PASS, "IPv6: pass");
	CHECK(lb_process_rcu(lb, 0, ipv6, 10, 10, 0, 1, &v) == LB_PASS, "a runt: pass");
}

static void one_connection(struct lb *lb)
{
	struct tf_spec s = to_vip(VIP, 40000, LB_TCP_SYN);
	struct tf_sent t;
	int be;
	struct lb_backend_spec b;

	CHECK(tf_send(lb, &s, 10, &t) == LB_TO_BACKEND, "SYN to the VIP: to a backend");
	be = which_port(&t);
	b = be_spec((unsigned int)(be < 0 ? 0 : be), 0, 0);
	CHECK(be >= 0 && !memcmp(t.frame, b.mac, 6) && tf_get32(t.frame + 30) == b.addr &&
	      tf_get16(t.frame + 36) == 80 && tf_get32(t.frame + 26) == CLIENT &&
	      !memcmp(t.frame + 6, cmac, 6),
	      "SYN: destination MAC and address are backend %d's, source untouched", be);
	CHECK(t.v.head_dirty == 14 + 20 + 18, "head_dirty covers up to the TCP checksum (%u)",
	      t.v.head_dirty);
	CHECK(tf_csums_ok(t.frame, t.len, NULL), "SYN: checksums valid (from scratch)");
	s = reply_from((unsigned int)be, 80, 40000, LB_TCP_SYN | LB_TCP_ACK);
	CHECK(tf_send(lb, &s, 10, &t) == LB_TO_CLIENT && t.v.port == NULL, "SYN-ACK from it: to the client");
	CHECK(!memcmp(t.frame + 6, vmac, 6) && tf_get32(t.frame + 26) == VIP &&
	      tf_get16(t.frame + 34) == 80 && !memcmp(t.frame, cmac, 6) &&
	      tf_get32(t.frame + 30) == CLIENT && tf_get16(t.frame + 36) == 40000,
	      "SYN-ACK: source is the VIP and virtual MAC, destination untouched");
	CHECK(tf_csums_ok(t.frame, t.len, NULL), "SYN-ACK: checksums valid (from scratch)");
	s = to_vip(VIP, 40000, LB_TCP_ACK);
	CHECK(tf_send(lb, &s, 11, &t) == LB_TO_BACKEND && which_port(&t) == be,
	      "ACK: same backend");
	s = reply_from((unsigned int)(be + 1) % 3, 80, 40000, LB_TCP_ACK);
	CHECK(tf_send(lb, &s, 11, &t) == LB_PASS, "the same client port from another backend: pass");
}

struct spread {
	int owner[NFLOWS];
	unsigned int per[4];
};

static void many_flows(struct lb *lb, struct lb_vip *vip, struct lb_backend **bes,
		       struct spread *sp)
{
	unsigned int bad = 0, bad_reply = 0, worst_pct = 0;
	uint32_t before = lb_flow_count(lb);
	struct tf_sent t;

	memset(sp, 0, sizeof(*sp));
	for (unsigned int f = 0; f < NFLOWS; f++) {
		struct tf_spec s = to_vip(VIP, (uint16_t)(1024 + f), LB_TCP_SYN);
		int be;

		if (tf_send(lb, &s, 20, &t) != LB_TO_BACKEND || !tf_csums_ok(t.frame, t.len, NULL)) {
			bad++;
			continue;
		}
		be = which_port(&t);
		sp->owner[f] = be;
		sp->per[be]++;
		s = reply_from((unsigned int)be, 80, (uint16_t)(1024 + f), LB_TCP_SYN | LB_TCP_ACK);
		if (tf_send(lb, &s, 20, &t) != LB_TO_CLIENT || tf_get32(t.frame + 26) != VIP ||
		    !tf_csums_ok(t.frame, t.len, NULL))
			bad_reply++;
	}
	for (int i = 0; i < 3; i++) {
		unsigned int d = sp->per[i] > NFLOWS / 3 ? sp->per[i] - NFLOWS / 3 : NFLOWS / 3 - sp->per[i];

		worst_pct = MAX(worst_pct, d * 1000 / (NFLOWS / 3));
	}
	CHECK(bad == 0 && bad_reply == 0, "%d flows: all to a backend, all replies translated, "
	      "checksums valid", NFLOWS);
	CHECK(worst_pct <= 30, "Maglev spread %u/%u/%u: within 3%% of equal (worst %u.%u%%)",
	      sp->per[0], sp->per[1], sp->per[2], worst_pct / 10, worst_pct % 10);
	CHECK(lb_flow_count(lb) - before == NFLOWS &&
	      lb_backend_active_flows(bes[0]) + lb_backend_active_flows(bes[1]) +
	      lb_backend_active_flows(bes[2]) == lb_flow_count(lb) &&
	      lb_backend_active_flows(bes[0]) >= sp->per[0] &&
	      lb_backend_active_flows(bes[1]) >= sp->per[1] &&
	      lb_backend_active_flows(bes[2]) >= sp->per[2],
	      "flow table holds them all; active flows per backend add up");
	{
		struct lb_counters c;
		uint64_t refused;

		lb_vip_counters(vip, &c, &refused);
		CHECK(c.new_flows == lb_flow_count(lb) && refused == 0 && c.pkts_out >= NFLOWS,
		      "VIP counters: %llu new flows, %llu packets out",
		      (unsigned long long)c.new_flows, (unsigned long long)c.pkts_out);
	}
}

static void remove_backend(struct lb *lb, struct lb_backend **bes, struct spread *sp)
{
	unsigned int moved = 0, wrong = 0, had = sp->per[1];
	struct tf_sent t;

	CHECK(lb_backend_del(lb, bes[1]) == 0, "remove backend 1 (%u flows)", had);
	for (unsigned int f = 0; f < NFLOWS; f++) {
		struct tf_spec s = to_vip(VIP, (uint16_t)(1024 + f), LB_TCP_ACK);
		int be;

		if (tf_send(lb, &s, 30, &t) != LB_TO_BACKEND) {
			wrong++;
			continue;
		}
		be = which_port(&t);
		if (be != sp->owner[f]) {
			moved++;
			if (sp->owner[f] != 1 || be == 1)
				wrong++;
			sp->owner[f] = be;
		}
	}
	CHECK(wrong == 0 && moved == had,
	      "after removal: exactly its %u flows moved (mid-stream pickup), every other flow kept "
	      "its backend (%u wrong)", moved, wrong);
	bes[1] = NULL;
}

static void drain_and_down(struct lb *lb, struct lb_backend **bes, struct spread *sp)
{
	unsigned int kept = 0, to_drained = 0, of2 = 0, flushed;
	struct tf_sent t;

	CHECK(lb_backend_set_weight(lb, bes[2], 0) == 0, "drain backend 2 (weight 0)");
	for (unsigned int f = 0; f < NFLOWS; f++) {
		struct tf_spec s = to_vip(VIP, (uint16_t)(1024 + f), LB_TCP_ACK);

		if (sp->owner[f] != 2)
			continue;
		of2++;
		kept += tf_send(lb, &s, 31, &t) == LB_TO_BACKEND && which_port(&t) == 2;
	}
	for (unsigned int f = 0; f < 2000; f++) {
		struct tf_spec s = to_vip(VIP, (uint16_t)(50000 + f), LB_TCP_SYN);

		to_drained += tf_send(lb, &s, 31, &t) != LB_TO_BACKEND || which_port(&t) == 2;
	}
	CHECK(kept == of2 && of2 > 0, "drained backend keeps its %u existing flows", kept);
	CHECK(to_drained == 0, "drained backend gets none of 2000 new flows");
	CHECK(lb_backend_set_weight(lb, bes[2], 100) == 0, "undrain");

	of2 = lb_backend_active_flows(bes[0]);
	flushed = (unsigned int)lb_backend_set_up(lb, bes[0], false);
	CHECK(flushed == of2 && lb_backend_active_flows(bes[0]) == 0,
	      "backend 0 down: its %u flows deleted", flushed);
	kept = 0;
	for (unsigned int f = 0; f < NFLOWS; f++) {
		struct tf_spec s = to_vip(VIP, (uint16_t)(1024 + f), LB_TCP_ACK);

		kept += tf_send(lb, &s, 32, &t) == LB_TO_BACKEND && which_port(&t) == 2;
	}
	CHECK(kept == NFLOWS, "all %d flows now go to the one backend left", NFLOWS);
	CHECK(lb_backend_set_up(lb, bes[0], true) == 0, "backend 0 up again");
	lb_backend_set_port(lb, bes[2], &port_token[5]);
	{
		struct tf_spec s = to_vip(VIP, 1024, LB_TCP_ACK);

		CHECK(tf_send(lb, &s, 33, &t) == LB_TO_BACKEND && which_port(&t) == 5,
		      "a new port for a backend is used from the next frame");
		CHECK(lb_port_gone(lb, &port_token[5]) == 1 && lb_backend_active_flows(bes[2]) == 0,
		      "port gone: its backend down, flows deleted");
		CHECK(tf_send(lb, &s, 33, &t) == LB_TO_BACKEND && which_port(&t) == 0,
		      "... its flows start over on the backend left");
	}
}

static void mapping_udp_vlan(struct lb *lb)
{
	struct lb_vip_spec vs = { .addr = 0x0a000065, .port = 53, .proto = LB_PROTO_UDP };
	struct lb_backend_spec bs = be_spec(3, 5353, 10);
	struct lb_backend *be;
	struct lb_vip *vip;
	struct tf_sent t;
	struct tf_spec s = { .saddr = CLIENT, .daddr = 0x0a000065, .proto = 17, .sport = 3333,
			     .dport = 53, .payload = 30, .seed = 9, .vlan = 7 };
	bool none;

	CHECK(lb_vip_add(lb, &vs, &vip) == 0 && lb_backend_add(lb, vip, &bs, &be) == 0,
	      "UDP VIP 10.0.0.101:53 with a backend on port 5353");
	lb_backend_set_port(lb, be, &port_token[3]);
	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, cmac, 6);
	CHECK(tf_send(lb, &s, 40, &t) == LB_TO_BACKEND && which_port(&t) == 3 &&
	      tf_get16(t.frame + 12) == 0x8100 && tf_get16(t.frame + 14) == 7 &&
	      tf_get32(t.frame + 18 + 16) == bs.addr && tf_get16(t.frame + 18 + 20 + 2) == 5353 &&
	      tf_csums_ok(t.frame, t.len, NULL) && t.v.head_dirty == 18 + 20 + 8,
	      "tagged UDP to the VIP: port 53 mapped to 5353, tag kept, checksum valid");
	s.udp_no_csum = true;
	s.sport = 3334;
	CHECK(tf_send(lb, &s, 40, &t) == LB_TO_BACKEND && tf_csums_ok(t.frame, t.len, &none) && none,
	      "UDP without checksum: stays without");
	s = (struct tf_spec){ .saddr = bs.addr, .daddr = CLIENT, .proto = 17, .sport = 5353,
			      .dport = 3333, .payload = 12, .seed = 4, .vlan = 7 };
	memcpy(s.smac, bs.mac, 6);
	memcpy(s.dmac, cmac, 6);
	CHECK(tf_send(lb, &s, 40, &t) == LB_TO_CLIENT && tf_get16(t.frame + 18 + 20) == 53 &&
	      tf_get32(t.frame + 18 + 12) == 0x0a000065 && !memcmp(t.frame + 6, vmac, 6) &&
	      tf_csums_ok(t.frame, t.len, NULL),
	      "UDP reply: source port 5353 back to 53, source the VIP");
}

static void drops(struct lb *lb)
{
	struct tf_sent t;
	struct tf_spec s;
	struct lb_vip_spec vs = { .addr = 0x0a000066, .port = 80, .proto = LB_PROTO_TCP };
	struct lb_vip *empty;
	uint64_t before;

#define EXPECT_DROP(spec, why, head, msg)                                                    \
	do {                                                                               \
		before = lb_drops(lb, why);                                                \
		CHECK(tf_send_head(lb, &(spec), 50, head, &t) == LB_DROP && t.v.drop == why && \
		      lb_drops(lb, why) == before + 1, "%s: dropped, %s", msg, lb_drop_names[why]); \
	} while (0)

	s = to_vip(VIP, 2000, LB_TCP_SYN);
	s.frag = 0x2000;
	EXPECT_DROP(s, LB_DROP_FRAGMENT, 64, "first fragment to the VIP");
	s.frag = 0x0020;
	EXPECT_DROP(s, LB_DROP_FRAGMENT, 64, "later fragment to the VIP");
	s = to_vip(VIP, 2000, LB_TCP_SYN);
	s.dport = 443;
	EXPECT_DROP(s, LB_DROP_NO_SERVICE, 64, "VIP address, unserved port");
	s.proto = 1;
	EXPECT_DROP(s, LB_DROP_NO_SERVICE, 64, "ICMP to the VIP");
	s = to_vip(VIP, 2000, LB_TCP_SYN);
	s.ihl = 12;
	EXPECT_DROP(s, LB_DROP_HEAD_SHORT, 64, "IPv4 options past a 64-byte head");
	CHECK(tf_send_head(lb, &s, 50, LB_HEAD_NEED, &t) == LB_TO_BACKEND &&
	      tf_csums_ok(t.frame, t.len, NULL), "... the same frame with a %d-byte head: forwarded",
	      LB_HEAD_NEED);
	s = to_vip(VIP, 2001, LB_TCP_RST);
	EXPECT_DROP(s, LB_DROP_NO_FLOW, 64, "RST without a flow");
	{
		uint8_t f[100], head[64];
		struct lb_verdict v;
		uint32_t len;

		s = to_vip(VIP, 2002, LB_TCP_SYN);
		len = tf_build(f, &s);
		memcpy(head, f, 56);
		before = lb_drops(lb, LB_DROP_MALFORMED);
		/* The frame ends 8 bytes before its IPv4 total length says. */
		CHECK(len == 64 && lb_process_rcu(lb, 3, head, 56, 56, 0, 50, &v) == LB_DROP &&
		      v.drop == LB_DROP_MALFORMED && lb_drops(lb, LB_DROP_MALFORMED) == before + 1,
		      "IPv4 total length past the frame: dropped, malformed");
	}
	CHECK(lb_vip_add(lb, &vs, &empty) == 0, "a VIP without backends");
	s = to_vip(0x0a000066, 2003, LB_TCP_SYN);
	EXPECT_DROP(s, LB_DROP_NO_BACKEND, 64, "new flow to it");
	{
		uint64_t refused;
		struct lb_counters c;

		lb_vip_counters(empty, &c, &refused);
		CHECK(refused == 1, "its refused counter is 1");
	}
	CHECK(lb_vip_del(lb, empty) == 0, "delete it");
	s = to_vip(0x0a000066, 2003, LB_TCP_SYN);
	CHECK(tf_send(lb, &s, 50, &t) == LB_DROP && t.v.drop == LB_DROP_NO_SERVICE,
	      "its address is not a VIP any more: to the virtual MAC, dropped");
	s.dmac[0] = 0x52;
	CHECK(tf_send(lb, &s, 50, &t) == LB_PASS, "... to another MAC: pass");
}

static void conflict(struct lb *lb)
{
	struct lb_vip_spec v1 = { .addr = 0x0a000070, .port = 80, .proto = LB_PROTO_TCP };
	struct lb_vip_spec v2 = { .addr = 0x0a000071, .port = 80, .proto = LB_PROTO_TCP };
	struct lb_backend_spec b = be_spec(6, 0, 100);
	struct lb_vip *a, *c;
	struct tf_sent t;
	struct tf_spec s;

	CHECK(lb_vip_add(lb, &v1, &a) == 0 && lb_vip_add(lb, &v2, &c) == 0 &&
	      lb_backend_add(lb, a, &b, NULL) == 0 && lb_backend_add(lb, c, &b, NULL) == 0,
	      "two VIPs sharing one backend port");
	s = to_vip(0x0a000070, 4000, LB_TCP_SYN);
	CHECK(tf_send(lb, &s, 60, &t) == LB_TO_BACKEND, "client port 4000 to the first");
	s = to_vip(0x0a000071, 4000, LB_TCP_SYN);
	CHECK(tf_send(lb, &s, 60, &t) == LB_DROP && t.v.drop == LB_DROP_CONFLICT,
	      "same client port to the second: the backend-side tuple is taken, conflict");
	s = to_vip(0x0a000071, 4001, LB_TCP_SYN);
	CHECK(tf_send(lb, &s, 60, &t) == LB_TO_BACKEND, "another client port to the second: fine");
	CHECK(lb_vip_del(lb, a) == 0 && lb_vip_del(lb, c) == 0, "delete both");
}

static void algorithms(struct lb *lb)
{
	struct lb_vip_spec vs = { .addr = 0x0a000080, .port = 80, .proto = LB_PROTO_TCP,
				  .algo = LB_ALGO_LEAST_LOAD };
	struct lb_backend *b0, *b1;
	struct lb_backend_spec s0 = be_spec(0, 0, 100), s1 = be_spec(1, 0, 100);
	struct lb_vip *vip;
	unsigned int n0 = 0, n1 = 0, n1_ll;
	struct tf_sent t;

	CHECK(lb_vip_add(lb, &vs, &vip) == 0 && lb_backend_add(lb, vip, &s0, &b0) == 0 &&
	      lb_backend_add(lb, vip, &s1, &b1) == 0, "least-load VIP with two backends");
	lb_backend_set_port(lb, b0, &port_token[0]);
	lb_backend_set_port(lb, b1, &port_token[1]);
	/* Backend 0 drains its queue slowly: 400 frames waiting, 100k frames/s = 4 ms. */
	lb_backend_set_load(b0, lb_load_estimate(400, 100000));
	for (unsigned int f = 0; f < 2000; f++) {
		struct tf_spec s = to_vip(0x0a000080, (uint16_t)(60000 + f), LB_TCP_SYN);

		if (tf_send(lb, &s, 70, &t) == LB_TO_BACKEND) {
			n0 += which_port(&t) == 0;
			n1 += which_port(&t) == 1;
		}
	}
	CHECK(n0 + n1 == 2000 && n0 * 20 < n1, "least-load: the slow backend got %u of 2000 flows, "
	      "the fast one %u", n0, n1);
	n1_ll = n1;
	CHECK(lb_vip_set_algo(lb, vip, LB_ALGO_WRR) == 0 && lb_backend_set_weight(lb, b0, 300) == 0,
	      "switch to WRR, weights 300:100");
	n0 = n1 = 0;
	for (unsigned int f = 0; f < 400; f++) {
		struct tf_spec s = to_vip(0x0a000080, (uint16_t)(62000 + f), LB_TCP_SYN);

		if (tf_send(lb, &s, 70, &t) == LB_TO_BACKEND) {
			n0 += which_port(&t) == 0;
			n1 += which_port(&t) == 1;
		}
	}
	CHECK(n0 == 300 && n1 == 100, "WRR: 300 and 100 of 400 flows (%u, %u)", n0, n1);
	{
		unsigned int same = 0, n = 0;

		for (unsigned int f = 0; f < 2000; f++) {
			struct tf_spec a = to_vip(0x0a000080, (uint16_t)(60000 + f), LB_TCP_ACK);

			if (tf_send(lb, &a, 71, &t) == LB_TO_BACKEND) {
				n++;
				/* With WRR 3:1 a re-placement would put most of them on backend 0. */
				same += which_port(&t) == 1;
			}
		}
		CHECK(n == 2000 && same == n1_ll, "changing the algorithm keeps existing flows "
		      "(%u of the least-load flows still on backend 1)", same);
	}
	CHECK(lb_vip_del(lb, vip) == 0, "delete the least-load VIP");
}

static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* What the fake port table says to lb_backends_refresh(): per backend MAC (last byte). */
struct fake_ports {
	int where[256];              /* port_token index the MAC was learned on, -1: nowhere */
	bool up[10];                  /* per port_token: a guest with a running RX queue */
	uint32_t load_us[10];
	unsigned int calls;
};

static void fake_locate(void *opaque, const uint8_t mac[6], void *bound, struct lb_port_state *ret)
{
	struct fake_ports *fp = opaque;
	int i = fp->where[mac[5]];
	void *port = i >= 0 ? (void *)&port_token[i] : bound;

	fp->calls++;
	ret->port = port;
	for (i = 0; port && i < 10; i++)
		if (port == &port_token[i]) {
			ret->up = fp->up[i];
			ret->load_us = fp->load_us[i];
		}
}

/* Sends SYNs from ports @base.. to @vip; counts where they went (by port token). */
static void syns(struct lb *lb, uint32_t vip, uint16_t base, unsigned int n, unsigned int *per_port,
		 unsigned int *dropped)
{
	struct tf_sent t;

	memset(per_port, 0, 10 * sizeof(*per_port));
	*dropped = 0;
	for (unsigned int f = 0; f < n; f++) {
		struct tf_spec s = to_vip(vip, (uint16_t)(base + f), LB_TCP_SYN);
		int w;

		if (tf_send(lb, &s, 80, &t) != LB_TO_BACKEND) {
			(*dropped)++;
			continue;
		}
		w = which_port(&t);
		if (w >= 0)
			per_port[w]++;
	}
}

/*
 * Backends follow the ports their MACs are behind: bound on first sight, down (out of
 * selection, flows deleted) while the port has no guest, up again when it has one, moved when
 * the MAC moves, and least-load fed with the port's measured load.
 */
static void follow_ports(struct lb *lb)
{
	struct lb_vip_spec vs = { .addr = 0x0a000090, .port = 80, .proto = LB_PROTO_TCP,
				  .algo = LB_ALGO_LEAST_LOAD };
	struct lb_backend_spec s4 = be_spec(4, 0, 100), s5 = be_spec(5, 0, 100);
	static struct fake_ports fp;
	struct lb_backend *b4, *b5;
	unsigned int per[10], dropped, had;
	struct lb_vip *vip;

	CHECK(lb_vip_add(lb, &vs, &vip) == 0 && lb_backend_add(lb, vip, &s4, &b4) == 0 &&
	      lb_backend_add(lb, vip, &s5, &b5) == 0, "least-load VIP 10.0.0.144:80, backends 4 and 5");
	for (unsigned int i = 0; i < 256; i++)
		fp.where[i] = -1;
	/* Ports 0..5 hold the other tests' backends: keep them up. */
	for (unsigned int i = 0; i < 10; i++)
		fp.up[i] = i < 6;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 0 && fp.calls >= 2,
	      "MACs not learned anywhere: nothing changes");
	syns(lb, vs.addr, 1000, 100, per, &dropped);
	CHECK(dropped == 0 && per[6] == 0 && per[7] == 0,
	      "unbound backends still take flows (the switch finds them by MAC)");

	fp.where[s4.mac[5]] = 6;
	fp.where[s5.mac[5]] = 7;
	fp.up[6] = fp.up[7] = true;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 0, "bound to ports 6 and 7, both up");
	syns(lb, vs.addr, 2000, 200, per, &dropped);
	CHECK(dropped == 0 && per[6] == 100 && per[7] == 100,
	      "idle equal backends: 100 and 100 of 200 new flows (%u, %u)", per[6], per[7]);

	had = lb_backend_active_flows(b5);
	fp.up[7] = false;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 1 && lb_backend_active_flows(b5) == 0,
	      "port 7 loses its guest: backend 5 down, its %u flows deleted", had);
	syns(lb, vs.addr, 3000, 200, per, &dropped);
	CHECK(dropped == 0 && per[6] == 200 && per[7] == 0,
	      "every new flow goes to backend 4 (%u, %u)", per[6], per[7]);
	CHECK(lb_backend_set_up(lb, b5, true) == 0 && lb_backend_active_flows(b5) == 0,
	      "discovery saying the VM runs does not bring it back while its port is down");
	syns(lb, vs.addr, 3500, 20, per, &dropped);
	CHECK(per[7] == 0, "still nothing to port 7 (%u)", per[7]);

	fp.up[7] = true;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 1, "port 7 has a guest again: backend 5 up");
	syns(lb, vs.addr, 4000, 100, per, &dropped);
	CHECK(per[7] == 100 && per[6] == 0,
	      "least-load sends the next 100 flows to the empty backend 5 (%u, %u)", per[6], per[7]);
	CHECK(lb_backend_set_up(lb, b5, false) > 0 && lb_backends_refresh(lb, fake_locate, &fp) == 0,
	      "VM stopped: down, and a refresh with its port up keeps it down");
	CHECK(lb_backend_set_up(lb, b5, true) == 0, "VM back");

	/* Equal flows again: 320 on each. Now backend 4's guest drains slowly. */
	syns(lb, vs.addr, 5000, 20, per, &dropped);
	fp.load_us[6] = lb_load_estimate(200, 20000);       /* 10 ms */
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 0, "port 6's guest measured at 10 ms");
	syns(lb, vs.addr, 6000, 1000, per, &dropped);
	CHECK(per[6] < 20 && per[6] + per[7] == 1000,
	      "measured load: the slow backend gets %u of 1000 new flows, the fast one %u",
	      per[6], per[7]);

	fp.where[s4.mac[5]] = 8;
	fp.up[8] = true;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 0, "backend 4's MAC moves to port 8");
	{
		struct tf_sent t;
		unsigned int on8 = 0;

		/* Flows 3000..3199 all went to backend 4 while backend 5 was down. */
		for (unsigned int f = 0; f < 200; f++) {
			struct tf_spec s = to_vip(vs.addr, (uint16_t)(3000 + f), LB_TCP_ACK);

			on8 += tf_send(lb, &s, 81, &t) == LB_TO_BACKEND && which_port(&t) == 8;
		}
		CHECK(on8 == 200, "its established flows follow it to the new port (%u of 200)", on8);
	}
	CHECK(lb_port_gone(lb, &port_token[8]) == 1, "port 8 deleted: backend 4 down");
	fp.where[s4.mac[5]] = -1;
	CHECK(lb_backends_refresh(lb, fake_locate, &fp) == 0, "... and unbound: it stays down");
	syns(lb, vs.addr, 8000, 50, per, &dropped);
	CHECK(per[7] == 50, "all new flows to backend 5 (%u)", per[7]);
	CHECK(lb_vip_del(lb, vip) == 0, "delete the VIP");
}

static void show(struct lb *lb)
{
	struct json_object *o = lb_show_json(lb), *vips, *v0, *bes, *b;
	uint64_t sum = 0;
	size_t n;

	vips = get(o, "vips");
	CHECK(vips && json_object_array_length(vips) == 2, "show: two VIPs");
	v0 = json_object_array_get_idx(vips, 0);
	CHECK(!strcmp(json_object_get_string(get(v0, "vip")), "10.0.0.100:80/tcp") &&
	      !strcmp(json_object_get_string(get(v0, "algorithm")), "maglev") &&
	      json_object_get_int64(get(v0, "table_size")) == 65537,
	      "show: VIP 10.0.0.100:80/tcp, maglev, 65537 entries");
	bes = get(v0, "backends");
	n = bes ? json_object_array_length(bes) : 0;
	for (size_t i = 0; i < n; i++) {
		b = json_object_array_get_idx(bes, i);
		sum += (uint64_t)json_object_get_int64(get(b, "active_flows"));
	}
	b = n ? json_object_array_get_idx(bes, 0) : NULL;
	CHECK(n == 2 && b && !strcmp(json_object_get_string(get(b, "address")), "10.0.0.11") &&
	      !strcmp(json_object_get_string(get(b, "mac")), "52:54:00:00:00:10") &&
	      json_object_get_int64(get(b, "weight")) == 100 && get(b, "table_entries") &&
	      !strcmp(json_object_get_string(get(b, "state")), "up"),
	      "show: backends with address, MAC, weight, state, table entries");
	{
		uint64_t by_state = 0;

		json_object_object_foreach(get(b, "flow_states"), k, val) {
			(void)k;
			by_state += (uint64_t)json_object_get_int64(val);
		}
		CHECK(sum == (uint64_t)json_object_get_int64(get(v0, "active_flows")) && sum > 0 &&
		      by_state == (uint64_t)json_object_get_int64(get(b, "active_flows")),
		      "show: flows per backend (%llu) add up, and by TCP state",
		      (unsigned long long)sum);
	}
	CHECK(json_object_get_int64(get(get(o, "drops"), "conflict")) == 1 &&
	      !strcmp(json_object_get_string(get(o, "vmac")), "02:00:00:00:00:01"),
	      "show: drop counters and the virtual MAC");
	printf("# %s\n", json_object_to_json_string_ext(v0, JSON_C_TO_STRING_PLAIN) + 0);
	json_object_put(o);
}

static void control_errors(struct lb *lb, struct lb_vip *vip)
{
	struct lb_vip_spec vs = { .addr = VIP, .port = 80, .proto = LB_PROTO_TCP };
	struct lb_backend_spec bs = be_spec(0, 0, 100);

	CHECK(lb_vip_add(lb, &vs, NULL) == -EEXIST, "same VIP twice: -EEXIST");
	vs.port = 81;
	vs.table_size = 1023;
	CHECK(lb_vip_add(lb, &vs, NULL) == -EINVAL, "table size not prime: -EINVAL");
	vs.table_size = 0;
	vs.addr = 0x0a00000b;
	CHECK(lb_vip_add(lb, &vs, NULL) == -EADDRINUSE, "a backend's address as VIP: -EADDRINUSE");
	vs.addr = 0xe0000001;
	CHECK(lb_vip_add(lb, &vs, NULL) == -EINVAL, "multicast VIP: -EINVAL");
	CHECK(lb_backend_add(lb, vip, &bs, NULL) == -EEXIST, "same backend twice: -EEXIST");
	bs.addr = VIP;
	bs.mac[5] = 0x77;
	CHECK(lb_backend_add(lb, vip, &bs, NULL) == -EADDRINUSE, "VIP address as backend: -EADDRINUSE");
	bs = be_spec(7, 0, LB_WEIGHT_MAX + 1);
	CHECK(lb_backend_add(lb, vip, &bs, NULL) == -EINVAL, "weight too big: -EINVAL");
	bs = be_spec(7, 0, 1);
	bs.mac[0] = 0x01;
	CHECK(lb_backend_add(lb, vip, &bs, NULL) == -EINVAL, "multicast MAC: -EINVAL");
	CHECK(lb_vip_find(lb, VIP, 80, LB_PROTO_TCP) == vip && !lb_vip_find(lb, VIP, 80, LB_PROTO_UDP),
	      "lb_vip_find");
}

static void parsers(void)
{
	struct lb_vip_spec v;
	struct lb_backend_spec b;
	char why[128];
	enum lb_algo a;

	CHECK(lb_vip_spec_parse("10.0.0.100:80/tcp", &v, why, sizeof(why)) == 0 && v.addr == VIP &&
	      v.port == 80 && v.proto == LB_PROTO_TCP && v.algo == LB_ALGO_MAGLEV && !v.table_size,
	      "parse 10.0.0.100:80/tcp");
	CHECK(lb_vip_spec_parse("10.0.0.100:53/udp,algo=least-load,table=1021", &v, why, sizeof(why)) == 0 &&
	      v.proto == LB_PROTO_UDP && v.algo == LB_ALGO_LEAST_LOAD && v.table_size == 1021,
	      "parse options");
	CHECK(lb_vip_spec_parse("10.0.0.100:0/tcp", &v, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "port"), "port 0 refused: %s", why);
	CHECK(lb_vip_spec_parse("10.0.0.100:80/sctp", &v, why, sizeof(why)) == -EINVAL,
	      "sctp refused: %s", why);
	CHECK(lb_vip_spec_parse("10.0.0.300:80", &v, why, sizeof(why)) == -EINVAL, "bad address: %s", why);
	CHECK(lb_vip_spec_parse("10.0.0.1:80,table=1000", &v, why, sizeof(why)) == -EINVAL,
	      "table not prime: %s", why);
	CHECK(lb_backend_spec_parse("mac=52:54:00:ab:cd:ef,ip=10.0.0.2,port=8080,weight=3", &b, why,
				    sizeof(why)) == 0 && b.mac[3] == 0xab && b.mac[5] == 0xef &&
	      b.addr == 0x0a000002 && b.port == 8080 && b.weight == 3, "parse a backend");
	CHECK(lb_backend_spec_parse("mac=52:54:00:ab:cd:ef,ip=10.0.0.2", &b, why, sizeof(why)) == 0 &&
	      b.weight == LB_DEFAULT_WEIGHT && b.port == 0, "backend defaults");
	CHECK(lb_backend_spec_parse("mac=52:54:00:ab:cd,ip=10.0.0.2", &b, why, sizeof(why)) == -EINVAL,
	      "short MAC refused: %s", why);
	CHECK(lb_backend_spec_parse("ip=10.0.0.2", &b, why, sizeof(why)) == -EINVAL, "MAC required: %s", why);
	CHECK(lb_backend_spec_parse("mac=52:54:00:ab:cd:ef,ip=10.0.0.2,weight=1001", &b, why,
				    sizeof(why)) == -EINVAL, "weight over the maximum: %s", why);
	CHECK(lb_algo_parse("wrr", &a) == 0 && a == LB_ALGO_WRR && lb_algo_parse("x", &a) == -EINVAL &&
	      !strcmp(lb_algo_name(LB_ALGO_LEAST_LOAD), "least-load"), "algorithm names");
}

int main(void)
{
	struct lb_vip_spec vs = { .addr = VIP, .port = 80, .proto = LB_PROTO_TCP };
	static struct spread sp;
	struct lb_backend *bes[3];
	struct lb_vip *vip;
	struct lb *lb;

	rcu_register_thread();
	lb = make_lb(100000);
	{
		struct tf_sent t;
		struct tf_spec s = to_vip(VIP, 1, LB_TCP_SYN);

		CHECK(tf_send(lb, &s, 1, &t) == LB_PASS, "no VIP configured: everything passes");
	}
	CHECK(lb_vip_add(lb, &vs, &vip) == 0, "VIP 10.0.0.100:80/tcp");
	for (unsigned int i = 0; i < 3; i++) {
		struct lb_backend_spec b = be_spec(i, 0, 100);

		CHECK(lb_backend_add(lb, vip, &b, &bes[i]) == 0, "backend %u", i);
		lb_backend_set_port(lb, bes[i], &port_token[i]);
	}
	arp(lb);
	not_ours(lb);
	one_connection(lb);
	many_flows(lb, vip, bes, &sp);
	remove_backend(lb, bes, &sp);
	drain_and_down(lb, bes, &sp);
	mapping_udp_vlan(lb);
	drops(lb);
	conflict(lb);
	algorithms(lb);
	follow_ports(lb);
	show(lb);
	control_errors(lb, vip);
	parsers();
	lb_free(lb);
	rcu_unregister_thread();
	return check_done();
}
