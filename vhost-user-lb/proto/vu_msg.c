// SPDX-License-Identifier: GPL-2.0-or-later
#include "proto/vu_msg.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"

enum ring_arg {
	RING_NONE,
	RING_STATE,   /* payload.state.index */
	RING_ADDR,    /* payload.addr.index */
	RING_U64,     /* low byte of payload.u64, with the no-fd flag */
};

struct vu_req_info {
	const char *name;
	uint16_t min_size;
	uint16_t max_size;
	uint8_t min_fds;
	uint8_t max_fds;
	uint8_t ring;
};

#define REQ(r, lo, hi, fmin, fmax, ring_arg)                                            \
	[VHOST_USER_##r] = { .name = #r, .min_size = (lo), .max_size = (hi),          \
			     .min_fds = (fmin), .max_fds = (fmax), .ring = (ring_arg) }

/*
 * Every request a frontend may send us. Sizes follow the payload layouts of the spec; a few
 * frontends pad "no payload" requests with a u64, so those accept 0 or 8 bytes.
 */
static const struct vu_req_info req_table[VHOST_USER_REQUEST_MAX] = {
	REQ(GET_FEATURES, 0, 8, 0, 0, RING_NONE),
	REQ(SET_FEATURES, 8, 8, 0, 0, RING_NONE),
	REQ(SET_OWNER, 0, 8, 0, 0, RING_NONE),
	REQ(RESET_OWNER, 0, 8, 0, 0, RING_NONE),
	REQ(SET_MEM_TABLE, 8 + sizeof(struct vu_mem_region), sizeof(struct vu_mem_table), 1,
	    VHOST_MEMORY_BASELINE_NREGIONS, RING_NONE),
	REQ(SET_LOG_BASE, sizeof(struct vu_log), sizeof(struct vu_log), 1, 1, RING_NONE),
	REQ(SET_LOG_FD, 0, 8, 1, 1, RING_NONE),
	REQ(SET_VRING_NUM, 8, 8, 0, 0, RING_STATE),
	REQ(SET_VRING_ADDR, sizeof(struct vu_vring_addr), sizeof(struct vu_vring_addr), 0, 0,
	    RING_ADDR),
	REQ(SET_VRING_BASE, 8, 8, 0, 0, RING_STATE),
	REQ(GET_VRING_BASE, 8, 8, 0, 0, RING_STATE),
	REQ(SET_VRING_KICK, 8, 8, 0, 1, RING_U64),
	REQ(SET_VRING_CALL, 8, 8, 0, 1, RING_U64),
	REQ(SET_VRING_ERR, 8, 8, 0, 1, RING_U64),
	REQ(GET_PROTOCOL_FEATURES, 0, 8, 0, 0, RING_NONE),
	REQ(SET_PROTOCOL_FEATURES, 8, 8, 0, 0, RING_NONE),
	REQ(GET_QUEUE_NUM, 0, 8, 0, 0, RING_NONE),
	REQ(SET_VRING_ENABLE, 8, 8, 0, 0, RING_STATE),
	REQ(SEND_RARP, 8, 8, 0, 0, RING_NONE),
	REQ(NET_SET_MTU, 8, 8, 0, 0, RING_NONE),
	REQ(SET_BACKEND_REQ_FD, 0, 8, 1, 1, RING_NONE),
	REQ(IOTLB_MSG, 0, VU_MSG_MAX_PAYLOAD, 0, 0, RING_NONE),
	REQ(SET_VRING_ENDIAN, 8, 8, 0, 0, RING_STATE),
	REQ(GET_CONFIG, 12, VU_MSG_MAX_PAYLOAD, 0, 0, RING_NONE),
	REQ(SET_CONFIG, 12, VU_MSG_MAX_PAYLOAD, 0, 0, RING_NONE),
	REQ(RESET_DEVICE, 0, 8, 0, 0, RING_NONE),
	REQ(GET_MAX_MEM_SLOTS, 0, 8, 0, 0, RING_NONE),
	REQ(ADD_MEM_REG, sizeof(struct vu_mem_single), sizeof(struct vu_mem_single), 1, 1, RING_NONE),
	REQ(REM_MEM_REG, sizeof(struct vu_mem_single), sizeof(struct vu_mem_single), 0, 1, RING_NONE),
	REQ(SET_STATUS, 8, 8, 0, 0, RING_NONE),
	REQ(GET_STATUS, 0, 8, 0, 0, RING_NONE),
};

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

bool vu_msg_is_known(uint32_t request)
{
	return request < VHOST_USER_REQUEST_MAX && req_table[request].name;
}

const char *vu_msg_name(uint32_t request)
{
	return vu_msg_is_known(request) ? req_table[request].name : "UNKNOWN";
}

void vu_msg_rx_init(struct vu_msg_rx *rx)
{
	memset(&rx->msg.hdr, 0, sizeof(rx->msg.hdr));
	rx->msg.nfds = 0;
	rx->got = 0;
}

void vu_msg_close_fds(struct vu_msg *msg)
{
	for (unsigned int i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			(void)close(msg->fds[i]);
	msg->nfds = 0;
}

static int take_fds(struct msghdr *mh, struct vu_msg *msg, char *why, size_t why_len)
{
	int r = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (msg->nfds < VU_MSG_MAX_FDS) {
				msg->fds[msg->nfds++] = fd;
			} else {
				(void)close(fd);
				r = -EBADMSG;
			}
		}
	}
	if (r)
		WHY("more than %d file descriptors", VU_MSG_MAX_FDS);
	return r;
}

/**
 * vu_msg_rx_step() - read what is available of the current message.
 * Reads only the bytes of this message, so the next message's fds stay in the socket.
 * Context: control thread; @sock is non-blocking.
 * Return: 1 when a whole message is in @rx->msg, 0 when more bytes are needed, -ECONNRESET on
 * EOF, other -errno on errors (reason in @why).
 */
int vu_msg_rx_step(int sock, struct vu_msg_rx *rx, char *why, size_t why_len)
{
	const size_t hdr = sizeof(struct vu_msg_hdr);

	for (;;) {
		char cbuf[CMSG_SPACE(VU_MSG_MAX_FDS * sizeof(int))];
		size_t want = rx->got < hdr ? hdr : hdr + rx->msg.hdr.size;
		struct iovec iov = {
			.iov_base = (uint8_t *)&rx->msg + rx->got,
			.iov_len = want - rx->got,
		};
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		ssize_t n;
		int r;

		if (rx->got == want)
			return 1;
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			WHY("recvmsg: %s", strerror(errno));
			return -errno;
		}
		r = take_fds(&mh, &rx->msg, why, why_len);
		if (r)
			return r;
		if (mh.msg_flags & MSG_CTRUNC) {
			WHY("control data truncated (too many fds)");
			return -EBADMSG;
		}
		if (n == 0) {
			WHY("connection closed%s", rx->got ? " in the middle of a message" : "");
			return -ECONNRESET;
		}
		rx->got += (size_t)n;
		if (rx->got == hdr && rx->msg.hdr.size > VU_MSG_MAX_PAYLOAD) {
			WHY("%s: payload of %u bytes (limit %d)", vu_msg_name(rx->msg.hdr.request),
			    rx->msg.hdr.size, VU_MSG_MAX_PAYLOAD);
			return -EMSGSIZE;
		}
	}
}

/**
 * vu_msg_validate() - check a whole message against the request table.
 * Pure: no I/O, no state. Return: 0, or -EINVAL/-EPROTO with the reason in @why.
 */
int vu_msg_validate(const struct vu_msg *msg, char *why, size_t why_len)
{
	const struct vu_msg_hdr *h = &msg->hdr;
	const struct vu_req_info *info;
	int ring;

	if (!vu_msg_is_known(h->request)) {
		WHY("unknown request %u", h->request);
		return -EPROTO;
	}
	info = &req_table[h->request];
	if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    (h->flags & VHOST_USER_REPLY_MASK) ||
	    (h->flags & ~(VHOST_USER_VERSION_MASK | VHOST_USER_NEED_REPLY_MASK))) {
		WHY("%s: bad flags 0x%x", info->name, h->flags);
		return -EPROTO;
	}
	if (h->size < info->min_size || h->size > info->max_size) {
		WHY("%s: payload of %u bytes, expected %u..%u", info->name, h->size, info->min_size,
		    info->max_size);
		return -EINVAL;
	}
	if (msg->nfds < info->min_fds || msg->nfds > info->max_fds) {
		WHY("%s: %u file descriptors, expected %u..%u", info->name, msg->nfds, info->min_fds,
		    info->max_fds);
		return -EINVAL;
	}
	if (h->request == VHOST_USER_SET_MEM_TABLE) {
		uint32_t n = msg->payload.mem.nregions;

		if (n == 0 || n > VHOST_MEMORY_BASELINE_NREGIONS ||
		    h->size < 8 + n * sizeof(struct vu_mem_region) || msg->nfds != n) {
			WHY("SET_MEM_TABLE: %u regions with %u fds in %u bytes", n, msg->nfds, h->size);
			return -EINVAL;
		}
	}
	if (info->ring == RING_U64) {
		uint64_t v = msg->payload.u64;
		bool nofd = v & VHOST_USER_VRING_NOFD_MASK;

		if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
			WHY("%s: reserved bits set in 0x%llx", info->name, (unsigned long long)v);
			return -EINVAL;
		}
		if (nofd != (msg->nfds == 0)) {
			WHY("%s: no-fd flag %d with %u fds", info->name, nofd, msg->nfds);
			return -EINVAL;
		}
	}
	ring = vu_msg_ring_index(msg);
	if (info->ring != RING_NONE && (ring < 0 || ring >= VU_MAX_VRINGS)) {
		WHY("%s: ring index %d out of range (limit %d)", info->name, ring, VU_MAX_VRINGS);
		return -EINVAL;
	}
	return 0;
}

int vu_msg_ring_index(const struct vu_msg *msg)
{
	uint64_t idx;

	if (!vu_msg_is_known(msg->hdr.request))
		return -1;
	switch (req_table[msg->hdr.request].ring) {
	case RING_STATE:
		idx = msg->payload.state.index;
		break;
	case RING_ADDR:
		idx = msg->payload.addr.index;
		break;
	case RING_U64:
		idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;
		break;
	default:
		return -1;
	}
	return idx > VU_MAX_VRINGS ? VU_MAX_VRINGS : (int)idx;
}

/**
 * vu_msg_send_reply() - send @msg back as the reply to itself, with @payload_size bytes.
 * Context: control thread. Return: 0 or -errno.
 */
int vu_msg_send_reply(int sock, struct vu_msg *msg, uint32_t payload_size)
{
	size_t len = sizeof(msg->hdr) + payload_size;
	ssize_t n;

	msg->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	msg->hdr.size = payload_size;
	do {
		n = send(sock, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}
