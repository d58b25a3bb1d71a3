// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Header rewriting: random TCP/UDP frames (VLAN or not, IPv4 options, payload sizes), rewritten
 * on a copy of their head the way the datapath does it, merged back with head_dirty, then
 * every checksum recomputed from scratch. Also the parser's refusals and RFC 1624 edge cases.
 */
#include "check.h"
#include "lb/lb_internal.h"
#include "test_lb_frames.h"

#define NPKTS 50000

static uint32_t rnd = 0x12345678;

static void random_spec(struct tf_spec *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 6; i++) {
		s->dmac[i] = (uint8_t)tf_rand(&rnd);
		s->smac[i] = (uint8_t)tf_rand(&rnd);
	}
	s->vlan = (tf_rand(&rnd) & 1) ? (uint16_t)(tf_rand(&rnd) & 0x0fff) | 1 : 0;
	s->saddr = tf_rand(&rnd);
	s->daddr = tf_rand(&rnd);
	s->proto = (tf_rand(&rnd) & 1) ? 6 : 17;
	s->sport = (uint16_t)tf_rand(&rnd);
	s->dport = (uint16_t)tf_rand(&rnd);
	s->tcp_flags = (uint8_t)tf_rand(&rnd);
	s->ihl = (uint8_t)(5 + tf_rand(&rnd) % 11);
	s->payload = tf_rand(&rnd) % 300;
	s->udp_no_csum = s->proto == 17 && tf_rand(&rnd) % 8 == 0;
	s->seed = tf_rand(&rnd);
}

/* Returns true when every byte that changed lies below head_dirty, and the rest is intact. */
static bool rewrite_like_datapath(uint8_t *frame, uint32_t len, bool dst, const uint8_t mac[6],
				  uint32_t addr, uint16_t port, struct lb_pkt *p, int *ret_parse)
{
	uint8_t head[LB_HEAD_NEED], before[LB_HEAD_NEED];
	uint32_t hl = MIN(len, (uint32_t)LB_HEAD_NEED), dirty;

	memcpy(head, frame, hl);
	memcpy(before, head, hl);
	*ret_parse = lb_pkt_parse(head, hl, len, p);
	if (*ret_parse != LB_PARSE_IP)
		return false;
	dirty = lb_pkt_nat(head, p, dst, mac, addr, port);
	if (dirty > hl)
		return false;
	for (uint32_t i = dirty; i < hl; i++)
		if (head[i] != before[i])
			return false;
	memcpy(frame, head, dirty);
	return true;
}

static void random_rewrites(void)
{
	static uint8_t frame[18 + 60 + 20 + 300];
	unsigned int bad_csum = 0, bad_dirty = 0, bad_fields = 0, udp_none_kept = 0, udp_none = 0;
	unsigned int tcp = 0, udp = 0, vlan = 0, opts = 0, port_same = 0;
	unsigned int checker_tries = 0, checker_missed = 0;

	for (unsigned int n = 0; n < NPKTS; n++) {
		struct tf_spec s;
		struct lb_pkt p;
		uint8_t mac[6];
		uint32_t len, addr = tf_rand(&rnd);
		uint16_t port = (uint16_t)tf_rand(&rnd);
		bool dst = tf_rand(&rnd) & 1, none_after;
		int parsed;

		random_spec(&s);
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)tf_rand(&rnd);
		if (n % 5 == 0) {  /* a port that stays while the address changes, and vice versa */
			port = dst ? s.dport : s.sport;
			port_same++;
		} else if (n % 7 == 0) {
			addr = dst ? s.daddr : s.saddr;
		}
		len = tf_build(frame, &s);
		tcp += s.proto == 6;
		udp += s.proto == 17;
		vlan += s.vlan != 0;
		opts += s.ihl > 5;
		if (!rewrite_like_datapath(frame, len, dst, mac, addr, port, &p, &parsed)) {
			/* Options that push the L4 checksum past LB_HEAD_NEED cannot happen: 98 covers 60. */
			bad_dirty++;
			continue;
		}
		if (!tf_csums_ok(frame, len, &none_after))
			bad_csum++;
		/* The checker itself must catch a single flipped bit in the headers. */
		if (n % 100 == 0 && !none_after) {
			uint32_t at = p.l3 + 12 + tf_rand(&rnd) % 8;
			uint8_t bit = (uint8_t)(1u << (tf_rand(&rnd) % 8));

			frame[at] ^= bit;
			checker_missed += tf_csums_ok(frame, len, NULL);
			frame[at] ^= bit;
			checker_tries++;
		}
		if (s.udp_no_csum) {
			udp_none++;
			udp_none_kept += none_after;
		}
		if (memcmp(frame + (dst ? 0 : 6), mac, 6) ||
		    tf_get32(frame + p.l3 + (dst ? 16 : 12)) != addr ||
		    tf_get16(frame + p.l4 + (dst ? 2 : 0)) != port)
			bad_fields++;
	}
	CHECK(tcp > NPKTS / 3 && udp > NPKTS / 3 && vlan > NPKTS / 3 && opts > NPKTS / 2,
	      "mix: %u TCP, %u UDP, %u tagged, %u with IPv4 options", tcp, udp, vlan, opts);
	CHECK(bad_dirty == 0, "%d frames: only bytes below head_dirty change (%u bad)", NPKTS, bad_dirty);
	CHECK(bad_csum == 0, "%d frames: IPv4 and TCP/UDP checksums equal a from-scratch computation "
	      "(%u bad)", NPKTS, bad_csum);
	CHECK(bad_fields == 0, "%d frames: MAC, address and port are the new ones (%u bad)", NPKTS,
	      bad_fields);
	CHECK(checker_tries > 400 && checker_missed == 0,
	      "control: the from-scratch checker rejects %u frames with a flipped address bit",
	      checker_tries);
	CHECK(udp_none > 100 && udp_none_kept == udp_none, "UDP checksum 0 stays 0 (%u of %u)",
	      udp_none_kept, udp_none);
}

/* A rewrite whose correct UDP checksum is 0 must send 0xffff (RFC 768). */
static void udp_computed_zero(void)
{
	static uint8_t frame[200];
	const uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
	struct tf_spec s = { .saddr = 0x0a000001, .daddr = 0x0a000064, .proto = 17, .sport = 1234,
			     .dport = 53, .payload = 10, .seed = 7 };
	const uint32_t new_addr = 0x0a000002;
	uint32_t len, sum, l4;
	struct lb_pkt p;
	int parsed;

	/* Build it as it will look after the rewrite, with the payload's last word chosen so the
	 * sum is 0xffff (checksum 0); then put the old destination back with a correct checksum. */
	s.daddr = new_addr;
	len = tf_build(frame, &s);
	l4 = 14 + 20;
	tf_put16(frame + len - 2, 0);
	tf_put16(frame + l4 + 6, 0);
	{
		uint8_t pseudo[12];

		memcpy(pseudo, frame + 14 + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 17;
		tf_put16(pseudo + 10, (uint16_t)(len - l4));
		sum = tf_fold(tf_sum(frame + l4, len - l4, tf_sum(pseudo, 12, 0)));
	}
	tf_put16(frame + len - 2, (uint16_t)~sum);
	CHECK(tf_l4_csum(frame + 14, frame + l4, len - l4, 6) == 0, "crafted: correct checksum is 0");
	tf_put32(frame + 14 + 16, 0x0a000064);
	tf_put16(frame + 14 + 10, 0);
	tf_put16(frame + 14 + 10, tf_ip_csum(frame + 14));
	tf_put16(frame + l4 + 6, tf_l4_csum(frame + 14, frame + l4, len - l4, 6));
	CHECK(tf_csums_ok(frame, len, NULL), "crafted: valid before the rewrite");
	CHECK(rewrite_like_datapath(frame, len, true, mac, new_addr, 53, &p, &parsed),
	      "rewritten");
	CHECK(tf_get16(frame + l4 + 6) == 0xffff && tf_csums_ok(frame, len, NULL),
	      "computed 0 is sent as 0xffff (%#x)", tf_get16(frame + l4 + 6));
}

static void rfc1624_cases(void)
{
	/* RFC 1624 section 4's example: HC 0xdd2f, m 0x5555 -> 0x3285; expected HC' 0x0000. */
	CHECK(lb_csum_replace16(0xdd2f, 0x5555, 0x3285) == 0x0000,
	      "RFC 1624 example gives 0x0000 (eqn. 3), not eqn. 2's 0xffff (%#x)",
	      lb_csum_replace16(0xdd2f, 0x5555, 0x3285));
	CHECK(lb_csum_replace32(0x1234, 0x0a000001, 0x0a000001) == 0x1234, "no change, same checksum");
	for (int i = 0; i < 1000; i++) {
		uint8_t hdr[20];
		uint32_t from, to;

		for (int k = 0; k < 20; k++)
			hdr[k] = (uint8_t)tf_rand(&rnd);
		hdr[0] = 0x45;
		tf_put16(hdr + 10, 0);
		tf_put16(hdr + 10, tf_ip_csum(hdr));
		from = tf_get32(hdr + 16);
		to = tf_rand(&rnd);
		tf_put32(hdr + 16, to);
		tf_put16(hdr + 10, lb_csum_replace32(tf_get16(hdr + 10), from, to));
		if (tf_fold(tf_sum(hdr, 20, 0)) != 0xffff) {
			CHECK(false, "32-bit replace keeps random IPv4 headers valid (failed at %d)", i);
			return;
		}
	}
	CHECK(true, "32-bit replace keeps 1000 random IPv4 headers valid");
}

static void parse_refusals(void)
{
	static uint8_t frame[200];
	struct tf_spec s = { .saddr = 0x0a000001, .daddr = 0x0a000064, .proto = 6, .sport = 1,
			     .dport = 80, .tcp_flags = LB_TCP_SYN };
	struct lb_pkt p;
	uint32_t len = tf_build(frame, &s);

	CHECK(lb_pkt_parse(frame, len, len, &p) == LB_PARSE_IP && p.l3 == 14 && p.l4 == 34 &&
	      p.sport == 1 && p.dport == 80 && p.tcp_flags == LB_TCP_SYN && !p.frag, "TCP SYN parsed");
	CHECK(lb_pkt_parse(frame, 51, len, &p) == -EMSGSIZE && p.daddr == 0x0a000064,
	      "head ending before the TCP checksum: -EMSGSIZE, addresses still read");
	CHECK(lb_pkt_parse(frame, len, len - 1, &p) == LB_PARSE_OTHER, "head longer than frame: not ours");
	CHECK(lb_pkt_parse(frame, 40, 40, &p) == -EINVAL, "IPv4 total length past the frame: -EINVAL");
	frame[14] = 0x44;
	CHECK(lb_pkt_parse(frame, len, len, &p) == -EINVAL, "IHL 4: -EINVAL");
	frame[14] = 0x65;
	CHECK(lb_pkt_parse(frame, len, len, &p) == -EINVAL, "IP version 6 in an IPv4 frame: -EINVAL");
	s.ihl = 15;
	len = tf_build(frame, &s);
	CHECK(lb_pkt_parse(frame, 64, len, &p) == -EMSGSIZE, "60-byte IPv4 header in a 64-byte head");
	CHECK(len == 94 && lb_pkt_parse(frame, len, len, &p) == LB_PARSE_IP && p.l4 == 74,
	      "... fits in LB_HEAD_NEED bytes");
	s.ihl = 0;
	s.frag = 0x2000;   /* MF */
	len = tf_build(frame, &s);
	CHECK(lb_pkt_parse(frame, len, len, &p) == LB_PARSE_IP && p.frag, "first fragment: ports, frag");
	s.frag = 0x0010;
	len = tf_build(frame, &s);
	CHECK(lb_pkt_parse(frame, len, len, &p) == LB_PARSE_IP_NOPORTS && p.frag,
	      "later fragment: no ports");
	s.frag = 0;
	s.proto = 1;
	len = tf_build(frame, &s);
	CHECK(lb_pkt_parse(frame, len, len, &p) == LB_PARSE_IP_NOPORTS, "ICMP: no ports");
	tf_put16(frame + 12, 0x86dd);
	CHECK(lb_pkt_parse(frame, len, len, &p) == LB_PARSE_OTHER, "IPv6: not ours");
}

int main(void)
{
	random_rewrites();
	udp_computed_zero();
	rfc1624_cases();
	parse_refusals();
	return check_done();
}
