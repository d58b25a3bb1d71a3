/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Receiving, validating and answering vhost-user messages.
 *
 * Security model: the frontend is not trusted. Every message is checked here against one table
 * (payload size, number of fds, ring index, region count) before any handler sees it, so
 * handlers can rely on the shape of what they get; semantic checks stay in the handlers.
 */
#ifndef VULB_PROTO_VU_MSG_H
#define VULB_PROTO_VU_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/vu_proto.h"

/* Incremental receive state: a message may arrive in pieces on a non-blocking socket. */
struct vu_msg_rx {
	struct vu_msg msg;
	size_t got;       /* bytes of header + payload received so far */
};

void vu_msg_rx_init(struct vu_msg_rx *rx);
int vu_msg_rx_step(int sock, struct vu_msg_rx *rx, char *why, size_t why_len);
void vu_msg_close_fds(struct vu_msg *msg);

int vu_msg_validate(const struct vu_msg *msg, char *why, size_t why_len);
const char *vu_msg_name(uint32_t request);
bool vu_msg_is_known(uint32_t request);
/* Ring index a validated message refers to, or -1 when it names none. */
int vu_msg_ring_index(const struct vu_msg *msg);

int vu_msg_send_reply(int sock, struct vu_msg *msg, uint32_t payload_size);

#endif
