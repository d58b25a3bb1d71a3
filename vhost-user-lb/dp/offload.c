// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checksum and TCP segmentation offloads, virtio 1.2 section 5.1.6.2 (a driver's TX header)
 * and 5.1.6.4 (what a device may put in an RX header).
 *
 * A sender's header is hostile: dp_offload_parse() accepts only what the sender negotiated
 * (NEEDS_CSUM with VIRTIO_NET_F_CSUM, TCPv4/TCPv6 GSO with HOST_TSO4/6), only offsets inside
 * the frame, and for GSO only a frame whose Ethernet, IP and TCP headers agree with the header
 * and the frame length, so the fallbacks below never read or write outside the frame.
 *
 * The fallbacks work on a private linear copy of the frame (the caller's), never on guest
 * memory: a sender cannot change bytes between the sum and the copy, and a receiver's buffers
 * are only written, as for any frame.
 */
#include "dp/offload.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#define ETH_P_IP 0x0800u
#define ETH_P_IPV6 0x86ddu
#define ETH_P_8021Q 0x8100u
#define IPPROTO_TCP_ 6u
#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_CWR 0x80u

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/**
 * dp_csum_add() - add @len bytes at @buf to the one's-complement sum @sum (RFC 1071).
 * @buf must start at an even offset of the summed data (an odd @len is fine at its end).
 * Context: any thread; pure. Return: the sum, not folded, as a host-order number.
 */
uint32_t dp_csum_add(const void *buf, uint32_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t s = 0;

	/* Native-order words: the one's-complement sum commutes with byte swapping (RFC 1071). */
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		s += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;

		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		const uint8_t b[2] = { p[0], 0 };
		uint16_t w;

		memcpy(&w, b, 2);
		s += w;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return sum + be16toh((uint16_t)s);
}

/* Context: any thread; pure. Return: @sum folded to 16 bits (not complemented). */
uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The TCP/IP pseudo-header (RFC 793, RFC 8200 8.1) for a TCP segment of @tcp_len bytes. */
static uint32_t pseudo_sum(const uint8_t *ip, bool v6, uint32_t tcp_len)
{
	uint32_t sum = v6 ? dp_csum_add(ip + 8, 32, 0) : dp_csum_add(ip + 12, 8, 0);

	return sum + IPPROTO_TCP_ + (tcp_len >> 16) + (tcp_len & 0xffff);
}

/* The headers of a TCP GSO frame. Return: 0 with @ret->l3/hdr_len, or -EINVAL. */
static int parse_tcp_headers(const uint8_t *f, uint32_t head_len, uint32_t frame_len, bool v6,
			     struct dp_offload *ret)
{
	uint32_t l3 = 14, l4, thl;
	uint16_t type;

	if (head_len < 14)
		return -EINVAL;
	type = get_be16(f + 12);
	if (type == ETH_P_8021Q) {
		if (head_len < 18)
			return -EINVAL;
		type = get_be16(f + 16);
		l3 = 18;
	}
	if (!v6) {
		const uint8_t *ip = f + l3;
		uint32_t ihl;

		if (type != ETH_P_IP || head_len < l3 + 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5)
			return -EINVAL;
		ihl = (ip[0] & 15u) * 4u;
		/* TCP, not a fragment, and the IP length is the frame's (no padding: GSO frames are big). */
		if (ip[9] != IPPROTO_TCP_ || (get_be16(ip + 6) & 0x3fff) ||
		    l3 + get_be16(ip + 2) != frame_len)
			return -EINVAL;
		l4 = l3 + ihl;
	} else {
		const uint8_t *ip = f + l3;

		/* No extension headers: Linux sends TSO6 frames with TCP right behind. */
		if (type != ETH_P_IPV6 || head_len < l3 + 40 || ip[0] >> 4 != 6 ||
		    ip[6] != IPPROTO_TCP_ || l3 + 40 + get_be16(ip + 4) != frame_len)
			return -EINVAL;
		l4 = l3 + 40;
	}
	if (head_len < l4 + 20 || f[l4 + 12] >> 4 < 5)
		return -EINVAL;
	thl = l4 + (f[l4 + 12] >> 4) * 4u;
	if (head_len < thl || thl > frame_len)
		return -EINVAL;
	ret->l3 = (uint16_t)l3;
	ret->csum_start = (uint16_t)l4;
	ret->hdr_len = (uint16_t)thl;
	return 0;
}

/**
 * dp_offload_parse() - check a sender's virtio-net header that asks for an offload.
 * @vhdr: the header's first 10 bytes (little-endian fields, VERSION_1 or legacy on x86).
 * @frame: the frame's first @head_len bytes (at least min(DP_OFFLOAD_HEAD, @frame_len) for
 *         a GSO frame to be accepted); @frame_len: the whole frame's length.
 * @caps: DP_OFF_* the sender negotiated (VIRTIO_NET_F_CSUM, HOST_TSO4, HOST_TSO6).
 *
 * Accepted (virtio 1.2, 5.1.6.2): flags NEEDS_CSUM only (DATA_VALID is for the device), with
 * csum_start + csum_offset + 2 inside the frame; gso_type NONE, or TCPV4/TCPV6 (no ECN: not
 * offered) together with NEEDS_CSUM pointing at the TCP checksum, gso_size of at least
 * DP_GSO_MIN_SIZE, and headers that agree with the frame; hdr_len (a hint) inside the frame.
 *
 * Context: any thread; pure. Return: 0 with @ret filled, -EOPNOTSUPP for an offload the sender
 * did not negotiate, -EMSGSIZE for a frame over DP_OFFLOAD_MAX_FRAME, -EINVAL otherwise.
 */
int dp_offload_parse(const uint8_t vhdr[10], const uint8_t *frame, uint32_t head_len,
		     uint32_t frame_len, unsigned int caps, struct dp_offload *ret)
{
	const uint8_t flags = vhdr[0], gso = vhdr[1];
	const uint16_t hdr_len = get_le16(vhdr + 2), gso_size = get_le16(vhdr + 4);
	const uint16_t cs = get_le16(vhdr + 6), co = get_le16(vhdr + 8);

	memset(ret, 0, sizeof(*ret));
	if (flags & ~VNET_HDR_F_NEEDS_CSUM)
		return -EINVAL;
	if (frame_len > DP_OFFLOAD_MAX_FRAME)
		return -EMSGSIZE;
	if (hdr_len > frame_len || head_len > frame_len)
		return -EINVAL;
	if (flags & VNET_HDR_F_NEEDS_CSUM) {
		if (!(caps & DP_OFF_CSUM))
			return -EOPNOTSUPP;
		/* 16-bit fields: the sum cannot overflow 32 bits. */
		if (cs < 14 || (uint32_t)cs + co + 2 > frame_len)
			return -EINVAL;
	}
	if (gso == VNET_HDR_GSO_NONE) {
		if (!flags)
			return -EINVAL;
		*ret = (struct dp_offload){ .flags = flags, .csum_start = cs, .csum_offset = co };
		return 0;
	}
	if (gso != VNET_HDR_GSO_TCPV4 && gso != VNET_HDR_GSO_TCPV6)
		return -EOPNOTSUPP;
	if (!(caps & (gso == VNET_HDR_GSO_TCPV4 ? DP_OFF_TSO4 : DP_OFF_TSO6)) ||
	    !(flags & VNET_HDR_F_NEEDS_CSUM))
		return -EOPNOTSUPP;
	if (gso_size < DP_GSO_MIN_SIZE)
		return -EINVAL;
	if (parse_tcp_headers(frame, head_len, frame_len, gso == VNET_HDR_GSO_TCPV6, ret))
		return -EINVAL;
	/* The checksum the sender asks for must be the TCP one, since segments get their own. */
	if (cs != ret->csum_start || co != 16)
		return -EINVAL;
	ret->flags = flags;
	ret->gso_type = gso;
	ret->gso_size = gso_size;
	ret->csum_start = cs;
	ret->csum_offset = co;
	return 0;
}

/**
 * dp_csum_complete() - do what a device does for NEEDS_CSUM: the one's-complement sum of the
 * frame from csum_start to its end, complemented, stored at csum_start + csum_offset (the
 * field holds the pseudo-header sum the sender put there, so it is part of the sum).
 * A result of 0 is stored as 0xffff (as Linux's skb_checksum_help(); UDP needs it).
 * Context: any thread; pure. Return: 0, or -EINVAL when @o does not fit @frame_len.
 */
int dp_csum_complete(uint8_t *frame, uint32_t frame_len, const struct dp_offload *o)
{
	uint16_t v;

	if ((uint32_t)o->csum_start + o->csum_offset + 2 > frame_len)
		return -EINVAL;
	v = (uint16_t)~dp_csum_fold(dp_csum_add(frame + o->csum_start,
						frame_len - o->csum_start, 0));
	put_be16(frame + o->csum_start + o->csum_offset, v ? v : 0xffff);
	return 0;
}

/* Context: any thread; pure. Return: how many segments a GSO frame becomes (at least 1). */
uint32_t dp_gso_count(const struct dp_offload *o, uint32_t frame_len)
{
	uint32_t payload = frame_len - o->hdr_len;

	return payload ? (payload + o->gso_size - 1) / o->gso_size : 1;
}

/**
 * dp_gso_segment() - build segment @i of a GSO frame into @out, as the sender's stack would
 * have sent it without TSO: the headers copied, then IPv4 total length, identification
 * (+@i) and header checksum, or IPv6 payload length; TCP sequence number (+ the bytes of
 * the segments before), FIN and PSH on the last segment only, CWR on the first only, and
 * the TCP checksum computed in full.
 * @frame: the whole frame, as dp_offload_parse() accepted it; @out: room for
 * o->hdr_len + o->gso_size bytes.
 * Context: any thread; pure. Return: the segment's length.
 */
uint32_t dp_gso_segment(const uint8_t *frame, uint32_t frame_len, const struct dp_offload *o,
			uint32_t i, uint8_t *out)
{
	const uint32_t hl = o->hdr_len, l4 = o->csum_start, payload = frame_len - hl;
	const uint32_t off = i * o->gso_size;
	const uint32_t n = payload > off ? (payload - off < o->gso_size ? payload - off : o->gso_size)
					 : 0;
	const bool v6 = o->gso_type == VNET_HDR_GSO_TCPV6;
	const bool last = off + n >= payload;
	const uint32_t len = hl + n;
	uint8_t *ip = out + o->l3, *tcp = out + l4;
	uint32_t sum;

	memcpy(out, frame, hl);
	memcpy(out + hl, frame + hl + off, n);
	if (!v6) {
		const uint32_t ihl = (ip[0] & 15u) * 4u;

		put_be16(ip + 2, (uint16_t)(len - o->l3));
		put_be16(ip + 4, (uint16_t)(get_be16(ip + 4) + i));
		put_be16(ip + 10, 0);
		put_be16(ip + 10, (uint16_t)~dp_csum_fold(dp_csum_add(ip, ihl, 0)));
	} else {
		put_be16(ip + 4, (uint16_t)(len - o->l3 - 40));
	}
	put_be32(tcp + 4, get_be32(tcp + 4) + off);
	if (!last)
		tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	if (i)
		tcp[13] &= (uint8_t)~TCP_CWR;
	put_be16(tcp + 16, 0);
	sum = pseudo_sum(ip, v6, len - l4);
	put_be16(tcp + 16, (uint16_t)~dp_csum_fold(dp_csum_add(tcp, len - l4, sum)));
	return len;
}
