/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test frames: Ethernet/IPv4/UDP (198.18.0.0/15, the benchmarking range) whose payload is a
 * function of (tag, seq, flow, length) only, so a receiver regenerates the expected bytes and
 * compares the whole frame. Flows differ in IP addresses and UDP ports, so a backend that
 * spreads traffic by a flow hash sees different flows.
 */
#ifndef VU_FRAME_H
#define VU_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VU_FRAME_MIN 60		/* 42 bytes of headers + our 16-byte stamp, padded */
#define VU_FRAME_MAX (64u << 10)

struct vu_stamp {
	uint32_t tag;	/* which test / which sender */
	uint32_t seq;
	uint16_t flow;
	uint16_t len;	/* whole frame length, for a quick truncation check */
};

/* Write a @len-byte frame (VU_FRAME_MIN..VU_FRAME_MAX) into @buf. Returns @len or 0. */
size_t vu_frame_build(uint8_t *buf, size_t len, const uint8_t dst[6], const uint8_t src[6],
		      uint32_t tag, uint32_t seq, uint16_t flow);
/* Read the stamp of a frame built above; false if @buf is not one of ours. */
bool vu_frame_stamp(const uint8_t *buf, size_t len, struct vu_stamp *ret);
/*
 * Check @buf is exactly the frame vu_frame_build() makes for its stamp and addresses.
 * On mismatch, fills @why (may be NULL) with the first differing offset.
 */
bool vu_frame_verify(const uint8_t *buf, size_t len, char *why, size_t why_len);
/* A locally administered unicast MAC 02:00:00:00:HI:LO. */
void vu_mac(uint8_t mac[6], uint16_t n);
const char *vu_mac_str(const uint8_t mac[6], char buf[18]);
extern const uint8_t vu_mac_broadcast[6];

#endif
