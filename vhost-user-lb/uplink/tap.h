/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The uplink: a port of the switch whose other side is the host's network stack, through a
 * multi-queue TAP device (one fd per queue). Frames the host sends out of the TAP enter the
 * switch like a guest's; frames the switch sends to the uplink (unknown unicast, broadcast,
 * MACs learned on it) are written to the TAP.
 *
 * Offloads: none. TUNSETOFFLOAD is given 0, so the kernel completes checksums and segments
 * GSO packets before it hands them to the TAP; each frame we read is whole and carries a
 * virtio-net header (TUNSETVNETHDRSZ 12, the virtio 1.x layout) that says so. A header that
 * asks for a checksum or segmentation anyway is dropped and counted ("offload"). Frames we
 * write get an all-zero header: guests negotiate no offloads either, so their frames are
 * complete too. Passing offloads through is future work (docs/status.md, issue 10).
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
};

extern const struct dp_port_ops tap_ops;

int tap_open(const char *ifname, unsigned int nqueues, struct tap **ret, char *why,
	     size_t why_len);
int tap_adopt(const char *ifname, const int *fds, unsigned int nfds, struct tap **ret);
void tap_free(struct tap *t);
bool tap_ifname_valid(const char *ifname);

void tap_port_bind(struct dp_port *port, struct tap *t);
void tap_port_start(struct dp *dp, struct dp_port *port);
void tap_port_stop(struct dp *dp, struct dp_port *port);

#endif
