// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Frame heads: parse Ethernet (+ one 802.1Q tag) + IPv4 + TCP/UDP, rewrite addresses and
 * ports with incremental checksum updates, build ARP replies. Pure functions over a buffer
 * the caller owns (the worker's copy of the frame's first bytes), so every guest-controlled
 * length is checked against that buffer before it is used.
 */
#include "lb/lb_internal.h"

/**
 * lb_pkt_parse() - find the headers of a frame and read its addresses and ports.
 * @head: the frame's first @head_len bytes; @frame_len: the whole frame's length.
 *
 * @ret->saddr, daddr and proto are filled as soon as the fixed IPv4 header is in @head, even
 * when an error is returned, so the caller can tell whether a broken frame was meant for a VIP.
 *
 * Context: any thread; pure.
 * Return: enum lb_parse, -EMSGSIZE when the headers do not fit in @head, -EINVAL when an IPv4
 * or L4 header contradicts itself or the frame length.
 */
int lb_pkt_parse(const uint8_t *head, uint32_t head_len, uint32_t frame_len, struct lb_pkt *ret)
{
	uint32_t l3 = 14, ihl, tot, l4min, l4need;
	uint16_t type, frag;

	memset(ret, 0, sizeof(*ret));
	if (head_len < 14 || frame_len < head_len)
		return LB_PARSE_OTHER;
	type = lb_get16(head + 12);
	if (type == LB_ETH_P_8021Q) {
		if (head_len < 18)
			return LB_PARSE_OTHER;
		type = lb_get16(head + 16);
		l3 = 18;
	}
	ret->ethertype = type;
	ret->l3 = (uint16_t)l3;
	if (type == LB_ETH_P_ARP)
		return LB_PARSE_ARP;
	if (type != LB_ETH_P_IP)
		return LB_PARSE_OTHER;
	if (head_len < l3 + 20)
		return -EMSGSIZE;
	ret->proto = head[l3 + 9];
	ret->saddr = lb_get32(head + l3 + 12);
	ret->daddr = lb_get32(head + l3 + 16);
	if (head[l3] >> 4 != 4 || (head[l3] & 15) < 5)
		return -EINVAL;
	ihl = (head[l3] & 15u) * 4u;
	tot = lb_get16(head + l3 + 2);
	if (tot < ihl || l3 + tot > frame_len)
		return -EINVAL;
	frag = lb_get16(head + l3 + 6);
	ret->frag = (frag & 0x3fff) != 0;
	ret->l4 = (uint16_t)(l3 + ihl);
	if ((ret->proto != LB_PROTO_TCP && ret->proto != LB_PROTO_UDP) || (frag & 0x1fff))
		return LB_PARSE_IP_NOPORTS;
	/* We rewrite up to the L4 checksum: TCP's is at 16, UDP's at 6. */
	l4min = ret->proto == LB_PROTO_TCP ? 20 : 8;
	l4need = ret->proto == LB_PROTO_TCP ? 18 : 8;
	if (tot < ihl + l4min)
		return -EINVAL;
	if (head_len < l3 + ihl + l4need)
		return -EMSGSIZE;
	ret->sport = lb_get16(head + ret->l4);
	ret->dport = lb_get16(head + ret->l4 + 2);
	if (ret->proto == LB_PROTO_TCP)
		ret->tcp_flags = head[ret->l4 + 13];
	return LB_PARSE_IP;
}

/**
 * lb_pkt_nat() - rewrite the destination (@dst) or source MAC, IPv4 address and L4 port.
 * @p: what lb_pkt_parse() returned LB_PARSE_IP for, on this @head.
 *
 * The IPv4 header checksum and the TCP/UDP checksum (which covers the addresses through the
 * pseudo-header, and the ports) are updated incrementally, RFC 1624 eqn. 3. When
 * p->csum_at names the L4 checksum (a NEEDS_CSUM frame) that field is a partial sum: see below. A UDP checksum of
 * 0 means "none" and stays 0; a computed 0 is sent as 0xffff (RFC 768).
 *
 * Context: any thread; pure. Return: how many bytes from the start of @head may have changed.
 */
uint32_t lb_pkt_nat(uint8_t *head, const struct lb_pkt *p, bool dst, const uint8_t mac[6],
		    uint32_t addr, uint16_t port)
{
	const uint32_t aoff = p->l3 + (dst ? 16u : 12u), poff = p->l4 + (dst ? 2u : 0u);
	const uint32_t coff = p->l4 + (p->proto == LB_PROTO_TCP ? 16u : 6u);
	const uint32_t old_addr = lb_get32(head + aoff);
	const uint16_t old_port = lb_get16(head + poff);
	const bool partial = p->csum_at && p->csum_at == coff;
	uint16_t l4sum = lb_get16(head + coff);

	memcpy(head + (dst ? 0 : 6), mac, 6);
	if (old_addr != addr) {
		lb_put32(head + aoff, addr);
		lb_put16(head + p->l3 + 10,
			 lb_csum_replace32(lb_get16(head + p->l3 + 10), old_addr, addr));
	}
	if (partial) {
		/*
		 * NEEDS_CSUM (virtio 1.2, 5.1.6.2): the field holds the pseudo-header sum, not
		 * complemented, and the device sums the ports itself. Only the address changes
		 * it: S' = S + ~m + m' = ~replace(~S, m, m'). No UDP "0 means none" here.
		 */
		if (old_addr != addr)
			l4sum = (uint16_t)~lb_csum_replace32((uint16_t)~l4sum, old_addr, addr);
		lb_put16(head + poff, port);
		lb_put16(head + coff, l4sum);
		return coff + 2;
	}
	if (p->proto == LB_PROTO_UDP && l4sum == 0) {
		lb_put16(head + poff, port);
		return coff + 2;
	}
	if (old_addr != addr)
		l4sum = lb_csum_replace32(l4sum, old_addr, addr);
	if (old_port != port) {
		lb_put16(head + poff, port);
		l4sum = lb_csum_replace16(l4sum, old_port, port);
	}
	if (p->proto == LB_PROTO_UDP && l4sum == 0)
		l4sum = 0xffff;
	lb_put16(head + coff, l4sum);
	return coff + 2;
}

/**
 * lb_arp_reply() - answer an ARP request (RFC 826) with @vmac, keeping its 802.1Q tag.
 * @p: lb_pkt_parse() returned LB_PARSE_ARP for it. @ret_tpa: the address asked for, which the
 * caller must check is one we answer for before sending @out.
 *
 * Context: any thread; pure.
 * Return: the reply's length (padded to the Ethernet minimum), -EINVAL when the frame is not
 * an Ethernet/IPv4 ARP request, -ENOSPC when @out_cap is too small.
 */
int lb_arp_reply(const uint8_t *head, uint32_t head_len, const struct lb_pkt *p,
		 const uint8_t vmac[6], uint32_t *ret_tpa, uint8_t *out, uint32_t out_cap)
{
	const uint8_t *a = head + p->l3;
	uint32_t len = p->l3 + 28, padded = MAX(len, p->l3 + 46u);
	uint8_t *r;

	if (head_len < p->l3 + 28u)
		return -EINVAL;
	if (lb_get16(a) != 1 || lb_get16(a + 2) != LB_ETH_P_IP || a[4] != 6 || a[5] != 4 ||
	    lb_get16(a + 6) != 1)
		return -EINVAL;
	if (out_cap < padded)
		return -ENOSPC;
	memset(out, 0, padded);
	memcpy(out, a + 8, 6);                     /* to the requester's hardware address */
	memcpy(out + 6, vmac, 6);
	memcpy(out + 12, head + 12, p->l3 - 12u);  /* ethertype, or VLAN tag + ethertype */
	r = out + p->l3;
	lb_put16(r, 1);
	lb_put16(r + 2, LB_ETH_P_IP);
	r[4] = 6;
	r[5] = 4;
	lb_put16(r + 6, 2);
	memcpy(r + 8, vmac, 6);
	memcpy(r + 14, a + 24, 4);                 /* sender protocol address: the VIP asked for */
	memcpy(r + 18, a + 8, 6);
	memcpy(r + 24, a + 14, 4);
	*ret_tpa = lb_get32(a + 24);
	return (int)padded;
}
