/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checksum and TCP segmentation offloads (virtio 1.2, 5.1.6 "Device Operation"): the checks
 * on a virtio-net header that asks for them, and the software fallbacks for a receiver that
 * did not negotiate them. Pure functions over buffers the caller owns.
 */
#ifndef VULB_DP_OFFLOAD_H
#define VULB_DP_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

/* virtio 1.2, 5.1.6: struct virtio_net_hdr flags and gso_type. */
#define VNET_HDR_F_NEEDS_CSUM 1u
#define VNET_HDR_F_DATA_VALID 2u
#define VNET_HDR_GSO_NONE 0u
#define VNET_HDR_GSO_TCPV4 1u
#define VNET_HDR_GSO_TCPV6 4u
#define VNET_HDR_GSO_ECN 0x80u

/* What a port may send (TX caps) or can take (RX caps). */
#define DP_OFF_CSUM 1u
#define DP_OFF_TSO4 2u
#define DP_OFF_TSO6 4u
#define DP_OFF_ALL (DP_OFF_CSUM | DP_OFF_TSO4 | DP_OFF_TSO6)

/*
 * The largest frame a GSO or checksum-offload header may come with: an IPv6 payload of 65535
 * bytes behind a 40-byte IPv6 header and an Ethernet header with one VLAN tag, rounded up.
 */
#define DP_OFFLOAD_MAX_FRAME (65536u + 64u)
/* Linux's TCP_MIN_SND_MSS: smaller MSS only multiply the segments a frame turns into. */
#define DP_GSO_MIN_SIZE 48u
/* Headers read to validate a GSO frame: Ethernet + VLAN, IPv4 with options, TCP with options. */
#define DP_OFFLOAD_HEAD 160u

/* A validated offload request (header fields in host order). flags == 0: none. */
struct dp_offload {
	uint8_t flags;          /* VNET_HDR_F_NEEDS_CSUM or 0 */
	uint8_t gso_type;       /* VNET_HDR_GSO_NONE, _TCPV4 or _TCPV6 */
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t hdr_len;       /* GSO: Ethernet + IP + TCP headers, computed; else 0 */
	uint16_t l3;            /* GSO: where the IP header starts */
};

/* The RX caps a frame needs for its header to be passed through unchanged. */
static inline unsigned int dp_offload_needs(const struct dp_offload *o)
{
	if (o->gso_type == VNET_HDR_GSO_TCPV4)
		return DP_OFF_CSUM | DP_OFF_TSO4;
	if (o->gso_type == VNET_HDR_GSO_TCPV6)
		return DP_OFF_CSUM | DP_OFF_TSO6;
	return DP_OFF_CSUM;
}

int dp_offload_parse(const uint8_t vhdr[10], const uint8_t *frame, uint32_t head_len,
		     uint32_t frame_len, unsigned int caps, struct dp_offload *ret);
uint32_t dp_csum_add(const void *buf, uint32_t len, uint32_t sum);
uint16_t dp_csum_fold(uint32_t sum);
int dp_csum_complete(uint8_t *frame, uint32_t frame_len, const struct dp_offload *o);
uint32_t dp_gso_count(const struct dp_offload *o, uint32_t frame_len);
uint32_t dp_gso_segment(const uint8_t *frame, uint32_t frame_len, const struct dp_offload *o,
			uint32_t i, uint8_t *out);

#endif
