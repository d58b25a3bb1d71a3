/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Frames for the load-balancer tests, and checksums computed from scratch (RFC 1071 sums over
 * the whole header and payload), independent of the incremental code under test.
 */
#ifndef VULB_TESTS_LB_FRAMES_H
#define VULB_TESTS_LB_FRAMES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct tf_spec {
	uint8_t dmac[6], smac[6];
	uint16_t vlan;            /* 0: untagged */
	uint32_t saddr, daddr;
	uint8_t proto;            /* 6, 17, or anything (e.g. 1) */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint8_t ihl;              /* 0: 5 (no options) */
	uint16_t frag;            /* flags + offset field as on the wire (host order) */
	uint32_t payload;         /* bytes of payload */
	bool udp_no_csum;
	uint32_t seed;            /* payload and options bytes */
};

static inline uint32_t tf_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static inline void tf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void tf_put32(uint8_t *p, uint32_t v)
{
	tf_put16(p, (uint16_t)(v >> 16));
	tf_put16(p + 2, (uint16_t)v);
}

static inline uint16_t tf_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t tf_get32(const uint8_t *p)
{
	return (uint32_t)tf_get16(p) << 16 | tf_get16(p + 2);
}

/* The 32-bit running sum of 16-bit big-endian words (odd length padded with zero). */
static inline uint32_t tf_sum(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += tf_get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t tf_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum the L4 header should carry: over pseudo-header + segment, field taken as 0. */
static inline uint16_t tf_l4_csum(const uint8_t *ip, const uint8_t *l4, uint32_t l4len,
				  unsigned int csum_off)
{
	uint32_t sum = 0;
	uint8_t pseudo[12];

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = ip[9];
	tf_put16(pseudo + 10, (uint16_t)l4len);
	sum = tf_sum(pseudo, 12, 0);
	sum = tf_sum(l4, csum_off, sum);
	sum = tf_sum(l4 + csum_off + 2, l4len - csum_off - 2, sum);
	return (uint16_t)~tf_fold(sum);
}

static inline uint16_t tf_ip_csum(const uint8_t *ip)
{
	unsigned int ihl = (ip[0] & 15u) * 4u;
	uint32_t sum = tf_sum(ip, 10, 0);

	sum = tf_sum(ip + 12, ihl - 12, sum);
	return (uint16_t)~tf_fold(sum);
}

/* Builds the frame; returns its length. @buf needs 18 + 60 + 20 + payload bytes. */
static inline uint32_t tf_build(uint8_t *buf, const struct tf_spec *s)
{
	uint32_t l3 = s->vlan ? 18 : 14, ihl = (s->ihl ? s->ihl : 5) * 4u, l4len, rnd = s->seed | 1;
	uint8_t *ip = buf + l3, *l4 = ip + ihl;

	memcpy(buf, s->dmac, 6);
	memcpy(buf + 6, s->smac, 6);
	if (s->vlan) {
		tf_put16(buf + 12, 0x8100);
		tf_put16(buf + 14, s->vlan);
	}
	tf_put16(buf + l3 - 2, 0x0800);
	l4len = (s->proto == 6 ? 20 : s->proto == 17 ? 8 : 8) + s->payload;
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	ip[1] = 0;
	tf_put16(ip + 2, (uint16_t)(ihl + l4len));
	tf_put16(ip + 4, (uint16_t)tf_rand(&rnd));
	tf_put16(ip + 6, s->frag);
	ip[8] = 64;
	ip[9] = s->proto;
	tf_put32(ip + 12, s->saddr);
	tf_put32(ip + 16, s->daddr);
	for (uint32_t i = 20; i < ihl; i++)
		ip[i] = (uint8_t)tf_rand(&rnd);
	tf_put16(ip + 10, 0);
	tf_put16(ip + 10, tf_ip_csum(ip));
	memset(l4, 0, s->proto == 6 ? 20 : 8);
	tf_put16(l4, s->sport);
	tf_put16(l4 + 2, s->dport);
	for (uint32_t i = 0; i < s->payload; i++)
		l4[l4len - s->payload + i] = (uint8_t)tf_rand(&rnd);
	if (s->proto == 6) {
		tf_put32(l4 + 4, tf_rand(&rnd));
		tf_put32(l4 + 8, tf_rand(&rnd));
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		tf_put16(l4 + 14, 65535);
		tf_put16(l4 + 16, tf_l4_csum(ip, l4, l4len, 16));
	} else if (s->proto == 17) {
		uint16_t c;

		tf_put16(l4 + 4, (uint16_t)l4len);
		c = tf_l4_csum(ip, l4, l4len, 6);
		tf_put16(l4 + 6, s->udp_no_csum ? 0 : c == 0 ? 0xffff : c);
	}
	return l3 + ihl + l4len;
}

/*
 * Checks a frame's IPv4 header checksum and TCP/UDP checksum against a computation from
 * scratch. 0x0000 and 0xffff are the same one's-complement number, except that UDP sends a
 * computed 0 as 0xffff (RFC 768) and 0 means "no checksum".
 */
static inline bool tf_csums_ok(const uint8_t *f, uint32_t len, bool *ret_udp_none)
{
	uint32_t l3 = tf_get16(f + 12) == 0x8100 ? 18 : 14;
	const uint8_t *ip = f + l3;
	uint32_t ihl = (ip[0] & 15u) * 4u, tot = tf_get16(ip + 2);
	const uint8_t *l4 = ip + ihl;
	uint16_t want, have;

	if (ret_udp_none)
		*ret_udp_none = false;
	if (l3 + tot > len)
		return false;
	want = tf_ip_csum(ip);
	have = tf_get16(ip + 10);
	if (want != have && !((want == 0 || want == 0xffff) && (have == 0 || have == 0xffff)))
		return false;
	if (tf_fold(tf_sum(ip, ihl, 0)) != 0xffff)
		return false;
	if (ip[9] == 6) {
		want = tf_l4_csum(ip, l4, tot - ihl, 16);
		have = tf_get16(l4 + 16);
		return want == have || ((want == 0 || want == 0xffff) && (have == 0 || have == 0xffff));
	}
	if (ip[9] == 17) {
		have = tf_get16(l4 + 6);
		if (have == 0) {
			if (ret_udp_none)
				*ret_udp_none = true;
			return true;
		}
		want = tf_l4_csum(ip, l4, tot - ihl, 6);
		return have == (want == 0 ? 0xffff : want);
	}
	return true;
}

static inline uint32_t tf_arp_request(uint8_t *buf, const uint8_t smac[6], uint16_t vlan,
				      uint32_t spa, uint32_t tpa, uint16_t op)
{
	uint32_t l3 = vlan ? 18 : 14;
	uint8_t *a = buf + l3;

	memset(buf, 0, 60 + 4);
	memset(buf, 0xff, 6);
	memcpy(buf + 6, smac, 6);
	if (vlan) {
		tf_put16(buf + 12, 0x8100);
		tf_put16(buf + 14, vlan);
	}
	tf_put16(buf + l3 - 2, 0x0806);
	tf_put16(a, 1);
	tf_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	tf_put16(a + 6, op);
	memcpy(a + 8, smac, 6);
	tf_put32(a + 14, spa);
	tf_put32(a + 24, tpa);
	return l3 + 46;
}

/* ---- driving lb_process_rcu() the way the datapath does ---- */
#ifdef VULB_LB_LB_H

struct tf_sent {
	enum lb_action action;
	struct lb_verdict v;
	uint8_t frame[18 + 60 + 20 + 64];
	uint32_t len;
};

/*
 * Builds the frame, copies its first @head_cap bytes (the datapath copies 64 today), runs
 * lb_process_rcu() on the copy and writes the dirty bytes back over the frame, as the
 * datapath will when it copies the frame to its destination.
 */
static inline enum lb_action tf_send_head(struct lb *lb, const struct tf_spec *s, uint64_t now_s,
					  uint32_t head_cap, struct tf_sent *out)
{
	uint8_t head[128];
	uint32_t hl;

	out->len = tf_build(out->frame, s);
	hl = out->len < head_cap ? out->len : head_cap;
	memcpy(head, out->frame, hl);
	out->action = lb_process_rcu(lb, 0, head, hl, out->len, 0, now_s, &out->v);
	if (out->action == LB_TO_BACKEND || out->action == LB_TO_CLIENT)
		memcpy(out->frame, head, out->v.head_dirty);
	return out->action;
}

static inline enum lb_action tf_send(struct lb *lb, const struct tf_spec *s, uint64_t now_s,
				     struct tf_sent *out)
{
	return tf_send_head(lb, s, now_s, 64, out);
}

#endif

#endif
