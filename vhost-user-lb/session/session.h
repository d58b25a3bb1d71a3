/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One vhost-user connection: feature negotiation and the device state the frontend
 * configures, applied to the port's datapath state through the dp publish protocol.
 */
#ifndef VULB_SESSION_SESSION_H
#define VULB_SESSION_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "dp/dp.h"
#include "proto/vu_msg.h"

struct session {
	struct dp *dp;
	struct dp_port *port;
	int sock;
	struct vu_msg_rx rx;
	uint64_t features;           /* acked by the frontend */
	uint64_t protocol_features;
	bool features_set;
	uint8_t status;
	uint16_t mtu;
	unsigned int max_queue_pairs;
	unsigned int max_mem_regions;  /* [limits] max-mem-regions when it connected */
	struct dlog *log;            /* mapped by SET_LOG_BASE; published while LOG_ALL is on */
	int log_fd;                  /* SET_LOG_FD (legacy log eventfd); kept, never written */
	uint64_t log_writes_before;  /* writes logged into logs this session replaced */
	uint64_t rarps;              /* SEND_RARP announces made */
	char log_prefix[96];
};

/* Features we implement; the offloads below come on top when dp->offloads is on. */
#define SESSION_VIRTIO_FEATURES                                                              \
	(BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |                     \
	 BIT_ULL(VIRTIO_RING_F_EVENT_IDX) | BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |           \
	 BIT_ULL(VIRTIO_NET_F_MQ) | BIT_ULL(VIRTIO_NET_F_MTU) | BIT_ULL(VIRTIO_F_IN_ORDER) | \
	 BIT_ULL(VIRTIO_F_ANY_LAYOUT) | BIT_ULL(VHOST_USER_F_PROTOCOL_FEATURES) |            \
	 BIT_ULL(VHOST_F_LOG_ALL))

/*
 * Checksum and TCP segmentation offloads (virtio 1.2, 5.1.3), both ways: frames a guest sends
 * may ask for them (dp/offload.c checks), and frames to a guest that took GUEST_* keep their
 * request; others get it done in software. ECN and UFO are not offered.
 */
#define SESSION_OFFLOAD_FEATURES                                                             \
	(BIT_ULL(VIRTIO_NET_F_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) |                     \
	 BIT_ULL(VIRTIO_NET_F_HOST_TSO4) | BIT_ULL(VIRTIO_NET_F_HOST_TSO6) |                 \
	 BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) | BIT_ULL(VIRTIO_NET_F_GUEST_TSO6))

#define SESSION_PROTOCOL_FEATURES                                                            \
	(BIT_ULL(VHOST_USER_PROTOCOL_F_MQ) | BIT_ULL(VHOST_USER_PROTOCOL_F_REPLY_ACK) |      \
	 BIT_ULL(VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                                \
	 BIT_ULL(VHOST_USER_PROTOCOL_F_STATUS) | BIT_ULL(VHOST_USER_PROTOCOL_F_NET_MTU) |    \
	 BIT_ULL(VHOST_USER_PROTOCOL_F_RARP) | BIT_ULL(VHOST_USER_PROTOCOL_F_LOG_SHMFD))

void session_init(struct session *s, struct dp *dp, struct dp_port *port, int sock,
		  unsigned int max_queue_pairs);
int session_on_readable(struct session *s);
int session_replay(struct session *s, struct vu_msg *msg);
void session_teardown(struct session *s);
bool session_running(const struct session *s);
int session_resume(struct session *s);

#endif
