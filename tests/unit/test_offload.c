// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checksum and segmentation offloads (dp/offload.c) and the load balancer's rewrite of
 * NEEDS_CSUM frames (lb/pkt.c), against checksums computed here from scratch (RFC 1071, byte
 * by byte) and against reassembly: random TCP/IPv4 and TCP/IPv6 frames, with and without a
 * VLAN tag, IP and TCP options; and the headers a hostile sender may write, each refused.
 */
#include "check.h"
#include "dp/offload.h"
#include "lb/lb_internal.h"
#include "test_lb_frames.h"

#include <string.h>

static uint32_t rnd = 0x9e3779b9;

/* The pseudo-header sum for an L4 segment of @len bytes behind the IP header at @ip. */
static uint32_t ref_pseudo(const uint8_t *ip, bool v6, uint8_t proto, uint32_t len)
{
	uint32_t sum = v6 ? tf_sum(ip + 8, 32, 0) : tf_sum(ip + 12, 8, 0);

	return sum + proto + (len >> 16) + (len & 0xffff);
}

/* A segment's L4 checksum is right when the sum over pseudo-header and segment is 0xffff. */
static bool l4_ok(const uint8_t *ip, bool v6, uint8_t proto, const uint8_t *l4, uint32_t len)
{
	return tf_fold(tf_sum(l4, len, ref_pseudo(ip, v6, proto, len))) == 0xffff;
}

static bool ip4_ok(const uint8_t *ip)
{
	return tf_fold(tf_sum(ip, (ip[0] & 15u) * 4u, 0)) == 0xffff;
}

struct gen {
	bool v6, vlan;
	uint8_t proto;            /* 6 or 17 */
	uint32_t ip_opts, tcp_opts, payload;
};

static uint8_t frame[DP_OFFLOAD_MAX_FRAME], seg[DP_OFFLOAD_MAX_FRAME], re[DP_OFFLOAD_MAX_FRAME];

/*
 * Builds a frame as a Linux sender with offloads hands it over: the L4 checksum field holds
 * the pseudo-header sum (not complemented) over the full L4 length.
 * Return: the frame length; @l3, @l4 set.
 */
static uint32_t build(const struct gen *g, uint32_t *ret_l3, uint32_t *ret_l4)
{
	uint32_t l3 = g->vlan ? 18 : 14, l4, l4len, len, csum_field;
	uint8_t *ip = frame + l3, *t;

	for (int i = 0; i < 12; i++)
		frame[i] = (uint8_t)tf_rand(&rnd);
	frame[0] &= 0xfe;
	if (g->vlan) {
		tf_put16(frame + 12, 0x8100);
		tf_put16(frame + 14, (uint16_t)(tf_rand(&rnd) & 0xfff));
	}
	tf_put16(frame + l3 - 2, g->v6 ? 0x86dd : 0x0800);
	if (!g->v6) {
		l4 = l3 + 20 + g->ip_opts;
	} else {
		l4 = l3 + 40;
	}
	l4len = (g->proto == 6 ? 20 + g->tcp_opts : 8) + g->payload;
	len = l4 + l4len;
	if (!g->v6) {
		ip[0] = (uint8_t)(0x40 | (5 + g->ip_opts / 4));
		ip[1] = 0;
		tf_put16(ip + 2, (uint16_t)(len - l3));
		tf_put16(ip + 4, (uint16_t)tf_rand(&rnd));
		tf_put16(ip + 6, 0x4000);   /* DF */
		ip[8] = 64;
		ip[9] = g->proto;
		for (int i = 12; i < 20; i++)
			ip[i] = (uint8_t)tf_rand(&rnd);
		for (uint32_t i = 0; i < g->ip_opts; i++)
			ip[20 + i] = 1;   /* NOP options */
		tf_put16(ip + 10, 0);
		tf_put16(ip + 10, (uint16_t)~tf_fold(tf_sum(ip, 20 + g->ip_opts, 0)));
	} else {
		tf_put16(ip, 0x6000);
		tf_put16(ip + 2, 0);
		tf_put16(ip + 4, (uint16_t)(len - l3 - 40));
		ip[6] = g->proto;
		ip[7] = 64;
		for (int i = 8; i < 40; i++)
			ip[i] = (uint8_t)tf_rand(&rnd);
	}
	t = frame + l4;
	tf_put16(t, (uint16_t)tf_rand(&rnd));
	tf_put16(t + 2, (uint16_t)tf_rand(&rnd));
	if (g->proto == 6) {
		tf_put16(t + 4, (uint16_t)tf_rand(&rnd));
		tf_put16(t + 6, (uint16_t)tf_rand(&rnd));
		tf_put16(t + 8, (uint16_t)tf_rand(&rnd));
		tf_put16(t + 10, (uint16_t)tf_rand(&rnd));
		t[12] = (uint8_t)((5 + g->tcp_opts / 4) << 4);
		t[13] = 0x18 | 0x01 | 0x80;   /* PSH ACK FIN CWR: FIN/PSH last only, CWR first only */
		tf_put16(t + 14, (uint16_t)tf_rand(&rnd));
		tf_put16(t + 18, 0);
		for (uint32_t i = 0; i < g->tcp_opts; i++)
			t[20 + i] = 1;
		csum_field = 16;
	} else {
		tf_put16(t + 4, (uint16_t)l4len);
		csum_field = 6;
	}
	for (uint32_t i = len - g->payload; i < len; i++)
		frame[i] = (uint8_t)tf_rand(&rnd);
	tf_put16(t + csum_field, tf_fold(ref_pseudo(ip, g->v6, g->proto, l4len)));
	*ret_l3 = l3;
	*ret_l4 = l4;
	return len;
}

static void vhdr_make(uint8_t v[10], uint8_t flags, uint8_t gso, uint16_t hdr_len,
		      uint16_t gso_size, uint16_t cs, uint16_t co)
{
	v[0] = flags;
	v[1] = gso;
	v[2] = (uint8_t)hdr_len;
	v[3] = (uint8_t)(hdr_len >> 8);
	v[4] = (uint8_t)gso_size;
	v[5] = (uint8_t)(gso_size >> 8);
	v[6] = (uint8_t)cs;
	v[7] = (uint8_t)(cs >> 8);
	v[8] = (uint8_t)co;
	v[9] = (uint8_t)(co >> 8);
}

static void test_sum(void)
{
	static uint8_t buf[3000];
	unsigned int bad = 0;

	for (int n = 0; n < 2000; n++) {
		uint32_t len = tf_rand(&rnd) % sizeof(buf), off = (tf_rand(&rnd) % 8) & ~1u, start = tf_rand(&rnd);

		for (uint32_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)tf_rand(&rnd);
		if (off > len)
			off = 0;
		start &= 0xffff;
		if (dp_csum_fold(dp_csum_add(buf + off, len - off, start)) !=
		    tf_fold(tf_sum(buf + off, len - off, start)))
			bad++;
	}
	CHECK(bad == 0, "dp_csum_add() agrees with a byte-wise sum on 2000 random buffers (%u bad)",
	      bad);
}

static void test_gso(void)
{
	unsigned int frames = 0, segs = 0, bad_parse = 0, bad_ip = 0, bad_tcp = 0, bad_seq = 0;
	unsigned int bad_flags = 0, bad_len = 0, bad_data = 0;

	for (int n = 0; n < 400; n++) {
		struct gen g = {
			.v6 = n & 1, .vlan = (n >> 1) & 1, .proto = 6,
			.ip_opts = (n & 1) ? 0 : (tf_rand(&rnd) % 11) * 4, .tcp_opts = (tf_rand(&rnd) % 11) * 4,
			.payload = n < 8 ? (uint32_t)n : tf_rand(&rnd) % 65000,
		};
		uint32_t l3, l4, len, mss, count, got = 0, hl;
		struct dp_offload o;
		uint8_t v[10];
		uint32_t seq0, id0 = 0;

		len = build(&g, &l3, &l4);
		if (len - l3 > 65535 - (g.v6 ? 0 : 0) && !g.v6)
			continue;
		hl = l4 + 20 + g.tcp_opts;
		mss = DP_GSO_MIN_SIZE + tf_rand(&rnd) % 9000;
		vhdr_make(v, VNET_HDR_F_NEEDS_CSUM, g.v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4,
			  (uint16_t)hl, (uint16_t)mss, (uint16_t)l4, 16);
		if (dp_offload_parse(v, frame, len < DP_OFFLOAD_HEAD ? len : DP_OFFLOAD_HEAD, len,
				     DP_OFF_ALL, &o) || o.hdr_len != hl || o.l3 != l3) {
			bad_parse++;
			continue;
		}
		frames++;
		count = dp_gso_count(&o, len);
		seq0 = tf_get32(frame + l4 + 4);
		if (!g.v6)
			id0 = tf_get16(frame + l3 + 4);
		for (uint32_t i = 0; i < count; i++) {
			uint32_t sl = dp_gso_segment(frame, len, &o, i, seg);
			const uint8_t *ip = seg + l3, *t = seg + l4;
			bool last = i + 1 == count;

			segs++;
			if (sl > hl + mss || (!last && sl != hl + mss) || sl < hl)
				bad_len++;
			if (!g.v6 && (!ip4_ok(ip) || tf_get16(ip + 2) != sl - l3 ||
				      tf_get16(ip + 4) != (uint16_t)(id0 + i)))
				bad_ip++;
			if (g.v6 && tf_get16(ip + 4) != sl - l3 - 40)
				bad_ip++;
			if (!l4_ok(ip, g.v6, 6, t, sl - l4))
				bad_tcp++;
			if (tf_get32(t + 4) != seq0 + got)
				bad_seq++;
			if (((t[13] & 0x09) != 0) != last || ((t[13] & 0x80) != 0) != (i == 0) ||
			    !(t[13] & 0x10))
				bad_flags++;
			if (memcmp(seg, frame, l3) || memcmp(t + 20, frame + l4 + 20, g.tcp_opts))
				bad_data++;
			memcpy(re + got, seg + hl, sl - hl);
			got += sl - hl;
		}
		if (got != len - hl || memcmp(re, frame + hl, got))
			bad_data++;
	}
	CHECK(bad_parse == 0, "%u random GSO frames accepted as built (%u refused)", frames, bad_parse);
	CHECK(segs > frames * 3, "... cut into %u segments", segs);
	CHECK(bad_len == 0, "every segment is headers + MSS, the last the rest (%u bad)", bad_len);
	CHECK(bad_ip == 0, "IPv4 length, id, header checksum / IPv6 payload length (%u bad)", bad_ip);
	CHECK(bad_tcp == 0, "every TCP checksum right from scratch (%u bad)", bad_tcp);
	CHECK(bad_seq == 0, "sequence numbers advance by the bytes before (%u bad)", bad_seq);
	CHECK(bad_flags == 0, "FIN/PSH on the last segment only, CWR on the first only (%u bad)",
	      bad_flags);
	CHECK(bad_data == 0, "headers kept, payload reassembles to the original (%u bad)", bad_data);
}

static void test_csum_complete(void)
{
	unsigned int bad = 0, n = 0;

	for (int k = 0; k < 1000; k++) {
		struct gen g = { .v6 = k & 1, .vlan = (k >> 1) & 1, .proto = (k >> 2) & 1 ? 17 : 6,
				 .tcp_opts = (tf_rand(&rnd) % 11) * 4, .payload = tf_rand(&rnd) % 9000 };
		uint32_t l3, l4, len = build(&g, &l3, &l4);
		uint16_t co = g.proto == 6 ? 16 : 6;
		struct dp_offload o;
		uint8_t v[10];

		vhdr_make(v, VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)l4, co);
		if (dp_offload_parse(v, frame, len < DP_OFFLOAD_HEAD ? len : DP_OFFLOAD_HEAD, len,
				     DP_OFF_CSUM, &o) || dp_csum_complete(frame, len, &o)) {
			bad++;
			continue;
		}
		n++;
		if (!l4_ok(frame + l3, g.v6, g.proto, frame + l4, len - l4) ||
		    tf_get16(frame + l4 + co) == 0)
			bad++;
	}
	CHECK(n == 1000 && bad == 0, "NEEDS_CSUM completed: %u TCP/UDP checksums right from scratch "
	      "(%u bad)", n, bad);
}

static void test_hostile(void)
{
	struct gen g = { .proto = 6, .payload = 3000 };
	uint32_t l3, l4, len = build(&g, &l3, &l4);
	const uint16_t hl = (uint16_t)(l4 + 20);
	struct dp_offload o;
	uint8_t v[10];
	struct {
		const char *what;
		uint8_t flags, gso;
		uint16_t hdr_len, gso_size, cs, co;
		unsigned int caps;
		uint32_t len;
		int want;
	} bad[] = {
		{ "DATA_VALID from a sender", 2, 0, 0, 0, 0, 0, DP_OFF_ALL, 0, -EINVAL },
		{ "an undefined flag", 0x81, 0, 0, 0, 34, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "NEEDS_CSUM without CSUM", 1, 0, 0, 0, 34, 16, 0, 0, -EOPNOTSUPP },
		{ "csum field past the end", 1, 0, 0, 0, 34, 3100, DP_OFF_ALL, 0, -EINVAL },
		{ "csum_start past the end", 1, 0, 0, 0, 0xffff, 0xffff, DP_OFF_ALL, 0, -EINVAL },
		{ "csum_start inside Ethernet", 1, 0, 0, 0, 4, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "TSO4 not negotiated", 1, 1, hl, 1448, 34, 16, DP_OFF_CSUM | DP_OFF_TSO6, 0, -EOPNOTSUPP },
		{ "TCPv6 GSO on IPv4", 1, 4, hl, 1448, 34, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "ECN (not offered)", 1, 0x81, hl, 1448, 34, 16, DP_OFF_ALL, 0, -EOPNOTSUPP },
		{ "UDP fragmentation", 1, 3, hl, 1448, 34, 6, DP_OFF_ALL, 0, -EOPNOTSUPP },
		{ "GSO without NEEDS_CSUM", 0, 1, hl, 1448, 0, 0, DP_OFF_ALL, 0, -EOPNOTSUPP },
		{ "gso_size 0", 1, 1, hl, 0, 34, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "gso_size below the minimum", 1, 1, hl, DP_GSO_MIN_SIZE - 1, 34, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "csum_start not the TCP header", 1, 1, hl, 1448, 38, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "csum_offset not TCP's", 1, 1, hl, 1448, 34, 6, DP_OFF_ALL, 0, -EINVAL },
		{ "hdr_len past the end", 1, 1, 0xffff, 1448, 34, 16, DP_OFF_ALL, 0, -EINVAL },
		{ "frame shorter than IP says", 1, 1, hl, 1448, 34, 16, DP_OFF_ALL, 1000, -EINVAL },
		{ "frame over 64 KiB", 1, 1, hl, 1448, 34, 16, DP_OFF_ALL, DP_OFFLOAD_MAX_FRAME + 1, -EMSGSIZE },
		{ "NEEDS_CSUM and no GSO, nothing asked", 0, 0, 0, 0, 0, 0, DP_OFF_ALL, 0, -EINVAL },
	};
	unsigned int fails = 0;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		vhdr_make(v, bad[i].flags, bad[i].gso, bad[i].hdr_len, bad[i].gso_size, bad[i].cs,
			  bad[i].co);
		r = dp_offload_parse(v, frame, 120, bad[i].len ? bad[i].len : len, bad[i].caps, &o);
		if (r != bad[i].want) {
			fails++;
			CHECK(false, "%s: %d, want %d", bad[i].what, r, bad[i].want);
		}
	}
	CHECK(fails == 0, "%zu hostile headers refused with the right error",
	      sizeof(bad) / sizeof(bad[0]));
	/* Headers that lie about the frame: a fragment, an IPv6 extension header, not TCP. */
	vhdr_make(v, 1, 1, hl, 1448, 34, 16);
	CHECK(dp_offload_parse(v, frame, 120, len, DP_OFF_ALL, &o) == 0, "the frame itself is fine");
	frame[l3 + 6] |= 0x20;
	CHECK(dp_offload_parse(v, frame, 120, len, DP_OFF_ALL, &o) == -EINVAL, "MF set: refused");
	frame[l3 + 6] &= (uint8_t)~0x20;
	frame[l3 + 9] = 17;
	CHECK(dp_offload_parse(v, frame, 120, len, DP_OFF_ALL, &o) == -EINVAL, "UDP for TCP GSO: refused");
	frame[l3 + 9] = 6;
	frame[l4 + 12] = 0x40;
	CHECK(dp_offload_parse(v, frame, 120, len, DP_OFF_ALL, &o) == -EINVAL, "TCP doff 4: refused");
	frame[l4 + 12] = 0x50;
	CHECK(dp_offload_parse(v, frame, 40, len, DP_OFF_ALL, &o) == -EINVAL,
	      "headers not all in the bytes read: refused");
	g.v6 = true;
	len = build(&g, &l3, &l4);
	frame[l3 + 6] = 0;   /* hop-by-hop options header */
	vhdr_make(v, 1, 4, (uint16_t)(l4 + 20), 1448, (uint16_t)l4, 16);
	CHECK(dp_offload_parse(v, frame, 120, len, DP_OFF_ALL, &o) == -EINVAL,
	      "IPv6 with an extension header: refused");
}

/* The load balancer's rewrite of a NEEDS_CSUM frame, completed afterwards, is right. */
static void test_lb_partial(void)
{
	unsigned int bad = 0, n = 0;

	for (int k = 0; k < 2000; k++) {
		struct gen g = { .vlan = k & 1, .proto = (k >> 1) & 1 ? 17 : 6,
				 .ip_opts = (tf_rand(&rnd) % 11) * 4, .payload = tf_rand(&rnd) % 2000 };
		uint32_t l3, l4, len = build(&g, &l3, &l4);
		uint16_t co = g.proto == 6 ? 16 : 6;
		uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)k }, v[10];
		struct dp_offload o;
		struct lb_pkt p;

		if (lb_pkt_parse(frame, len < LB_HEAD_NEED ? len : LB_HEAD_NEED, len, &p) !=
		    LB_PARSE_IP) {
			bad++;
			continue;
		}
		p.csum_at = l4 + co;
		(void)lb_pkt_nat(frame, &p, k & 4, mac, tf_rand(&rnd), (uint16_t)tf_rand(&rnd));
		vhdr_make(v, VNET_HDR_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)l4, co);
		if (dp_offload_parse(v, frame, len < 120 ? len : 120, len, DP_OFF_CSUM, &o) ||
		    dp_csum_complete(frame, len, &o)) {
			bad++;
			continue;
		}
		n++;
		if (!ip4_ok(frame + l3) || !l4_ok(frame + l3, false, g.proto, frame + l4, len - l4)) {
			if (getenv("DEBUG"))
				printf("# bad k=%d proto=%u ip=%d\n", k, g.proto, ip4_ok(frame + l3));
			bad++;
		}
	}
	CHECK(n == 2000 && bad == 0, "NAT of NEEDS_CSUM TCP/UDP frames, then completed: every "
	      "checksum right from scratch (%u of 2000 bad)", bad);
}

int main(void)
{
	test_sum();
	test_gso();
	test_csum_complete();
	test_hostile();
	test_lb_partial();
	return check_done();
}
