/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The uplink: a port of the switch whose other side is the host's network stack, through a
 * multi-queue TAP device (one fd per queue). Frames the host sends out of the TAP enter the
 * switch like a guest's; frames the switch sends to the uplink (unknown unicast, broadcast,
 * MACs learned on it) are written to the TAP.
 *
 * Offloads (unless turned off, `offloads = no`): TUNSETOFFLOAD CSUM|TSO4|TSO6, so the kernel
 * hands us TCP frames up to 64 KiB with NEEDS_CSUM/GSO in their virtio-net header (12 bytes,
 * TUNSETVNETHDRSZ, the virtio 1.x layout), checked like a guest's (dp/offload.c); frames we
 * write keep such a request (the kernel finishes it, or its receivers do). With offloads off
 * the kernel completes every frame first, a header asking for work is dropped ("offload"),
 * and frames with a request from a guest are completed or segmented before being written.
 */
#ifndef VULB_UPLINK_TAP_H
#define VULB_UPLINK_TAP_H

#include <net/if.h>
#include <stddef.h>

#include "dp/dp.h"

struct tap {
	char ifname[IFNAMSIZ];
	unsigned int nqueues;
	int fd[VU_MAX_QUEUE_PAIRS];          /* non-blocking, one per queue */
	uint8_t *buf[VU_MAX_QUEUE_PAIRS];    /* a burst of read slots per queue, for its owner */
	unsigned int offloads;               /* DP_OFF_* set with TUNSETOFFLOAD */
};

extern const struct dp_port_ops tap_ops;

int tap_open(const char *ifname, unsigned int nqueues, bool offloads, struct tap **ret,
	     char *why, size_t why_len);
int tap_adopt(const char *ifname, const int *fds, unsigned int nfds, bool offloads,
	      struct tap **ret);
void tap_free(struct tap *t);
bool tap_ifname_valid(const char *ifname);

void tap_port_bind(struct dp_port *port, struct tap *t);
void tap_port_start(struct dp *dp, struct dp_port *port);
void tap_port_stop(struct dp *dp, struct dp_port *port);

#endif
