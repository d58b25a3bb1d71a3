/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "vu_frame.h"

#define ETH_LEN 14
#define IP_LEN 20
#define UDP_LEN 8
#define HDRS (ETH_LEN + IP_LEN + UDP_LEN)
#define MAGIC 0x564c4231u /* "VLB1" */

const uint8_t vu_mac_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

void vu_mac(uint8_t mac[6], uint16_t n)
{
	mac[0] = 0x02;
	mac[1] = mac[2] = mac[3] = 0;
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

const char *vu_mac_str(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint8_t pattern(uint32_t seq, size_t off)
{
	uint32_t x = seq * 2654435761u + (uint32_t)off * 40503u;

	return (uint8_t)(x >> 13);
}

size_t vu_frame_build(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6],
		      uint32_t tag, uint32_t seq, uint16_t flow)
{
	size_t ip_total = len - ETH_LEN, i;
	uint8_t *ip = buf + ETH_LEN, *udp = ip + IP_LEN, *pl = udp + UDP_LEN;

	if (len < VU_FRAME_MIN || len > VU_FRAME_MAX)
		return 0;
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	put16(buf + 12, 0x0800);
	if (ip_total > 0xffff)
		ip_total = 0xffff; /* jumbo beyond IPv4: the length field saturates, still ours */
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)ip_total);
	put16(ip + 4, (uint16_t)seq);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 17;
	put16(ip + 10, 0);
	ip[12] = 198;
	ip[13] = 18;
	ip[14] = (uint8_t)(flow >> 8);
	ip[15] = (uint8_t)flow;
	ip[16] = 198;
	ip[17] = 19;
	ip[18] = (uint8_t)(tag >> 8);
	ip[19] = (uint8_t)tag;
	put16(ip + 10, ip_csum(ip, IP_LEN));
	put16(udp, (uint16_t)(1024 + flow));
	put16(udp + 2, 9);
	put16(udp + 4, (uint16_t)(ip_total - IP_LEN));
	put16(udp + 6, 0); /* no UDP checksum: allowed for IPv4 */
	put32(pl, MAGIC);
	put32(pl + 4, tag);
	put32(pl + 8, seq);
	put16(pl + 12, flow);
	put16(pl + 14, (uint16_t)len);
	for (i = HDRS + 16; i < len; i++)
		buf[i] = pattern(seq, i);
	return len;
}

bool vu_frame_stamp(const uint8_t *buf, size_t len, struct vu_stamp *ret)
{
	const uint8_t *pl = buf + HDRS;

	if (len < HDRS + 16 || get16(buf + 12) != 0x0800 || get32(pl) != MAGIC)
		return false;
	ret->tag = get32(pl + 4);
	ret->seq = get32(pl + 8);
	ret->flow = get16(pl + 12);
	ret->len = get16(pl + 14);
	return true;
}

bool vu_frame_verify(const uint8_t *buf, size_t len, char *why, size_t why_len)
{
	static __thread uint8_t ref[VU_FRAME_MAX];
	struct vu_stamp s;
	size_t i;

	if (!vu_frame_stamp(buf, len, &s)) {
		if (why)
			snprintf(why, why_len, "not a test frame (len %zu)", len);
		return false;
	}
	if ((uint16_t)len != s.len) {
		if (why)
			snprintf(why, why_len, "length %zu, sent as %u", len, s.len);
		return false;
	}
	vu_frame_build(ref, len, buf, buf + 6, s.tag, s.seq, s.flow);
	for (i = 0; i < len; i++) {
		if (buf[i] != ref[i]) {
			if (why)
				snprintf(why, why_len, "byte %zu is 0x%02x, sent 0x%02x (len %zu)", i,
					 buf[i], ref[i], len);
			return false;
		}
	}
	return true;
}
