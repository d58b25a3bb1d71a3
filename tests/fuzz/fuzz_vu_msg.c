// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the vhost-user receive path and validator (proto/vu_msg.c) over a real
 * socketpair, with file descriptors.
 *
 * Input: a stream of chunks, each written with one sendmsg():
 *   u8  ctl   bits 0-3: fds attached to this chunk (0..15; more than 8 per message must be
 *             refused), bit 4: half-close the frontend's end after it, bit 5: write the next
 *             chunk before the backend reads (several chunks may coalesce)
 *   u16 len   little-endian, then len bytes (clipped to what is left)
 * The backend reads with vu_msg_rx_step() exactly like a session does; every complete message
 * goes through vu_msg_validate() and the checks below; an error ends the connection.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "proto/vu_msg.h"

#define NPOOL 3
static int pool[NPOOL];

static void init_once(void)
{
	int p[2];

	pool[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pool[1] = memfd_create("fuzz-vu-msg", MFD_CLOEXEC);
	if (pool[0] < 0 || pool[1] < 0 || pipe2(p, O_CLOEXEC) < 0 || ftruncate(pool[1], 4096) < 0)
		abort();
	pool[2] = p[0];
	close(p[1]);
}

static int send_chunk(int sock, const uint8_t *data, size_t len, unsigned int nfds)
{
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		for (unsigned int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &pool[i % NPOOL], sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* What a handler may rely on once vu_msg_validate() said yes. */
static void check_valid(const struct vu_msg *m)
{
	int ring = vu_msg_ring_index(m);

	FUZZ_ASSERT(vu_msg_is_known(m->hdr.request), "request %u", m->hdr.request);
	FUZZ_ASSERT(ring < VU_MAX_VRINGS, "ring %d", ring);
	FUZZ_ASSERT(m->nfds <= VU_MSG_MAX_FDS, "nfds %u", m->nfds);
	FUZZ_ASSERT(!(m->hdr.flags & VHOST_USER_REPLY_MASK), "flags 0x%x", m->hdr.flags);
	switch (m->hdr.request) {
	case VHOST_USER_SET_MEM_TABLE:
		FUZZ_ASSERT(m->payload.mem.nregions >= 1 &&
			    m->payload.mem.nregions <= VHOST_MEMORY_BASELINE_NREGIONS &&
			    m->payload.mem.nregions == m->nfds &&
			    m->hdr.size >= 8 + m->nfds * sizeof(struct vu_mem_region),
			    "mem table %u regions %u fds %u bytes", m->payload.mem.nregions, m->nfds,
			    m->hdr.size);
		break;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		FUZZ_ASSERT(m->hdr.size == 8 && m->payload.state.index < VU_MAX_VRINGS, "state");
		break;
	case VHOST_USER_SET_VRING_ADDR:
		FUZZ_ASSERT(m->hdr.size == sizeof(struct vu_vring_addr) &&
			    m->payload.addr.index < VU_MAX_VRINGS, "addr");
		break;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		FUZZ_ASSERT(m->hdr.size == 8 && m->nfds <= 1 &&
			    (m->payload.u64 & VHOST_USER_VRING_IDX_MASK) < VU_MAX_VRINGS &&
			    !(m->payload.u64 & ~0x1ffull) &&
			    !!(m->payload.u64 & VHOST_USER_VRING_NOFD_MASK) == (m->nfds == 0),
			    "vring fd message 0x%llx with %u fds", (unsigned long long)m->payload.u64,
			    m->nfds);
		break;
	case VHOST_USER_ADD_MEM_REG:
		FUZZ_ASSERT(m->nfds == 1 && m->hdr.size == sizeof(struct vu_mem_single), "add reg");
		break;
	default:
		break;
	}
}

/* Return: false once the connection is over. */
static bool backend_read(int sock, struct vu_msg_rx *rx)
{
	for (;;) {
		char why[160];
		int r = vu_msg_rx_step(sock, rx, why, sizeof(why));

		FUZZ_ASSERT(rx->msg.nfds <= VU_MSG_MAX_FDS, "nfds %u", rx->msg.nfds);
		if (r == 0)
			return true;
		if (r < 0) {
			FUZZ_ASSERT(why[0], "error %d without a reason", r);
			vu_msg_close_fds(&rx->msg);
			return false;
		}
		FUZZ_ASSERT(r == 1, "rx_step returned %d", r);
		FUZZ_ASSERT(rx->got == sizeof(rx->msg.hdr) + rx->msg.hdr.size &&
			    rx->msg.hdr.size <= VU_MSG_MAX_PAYLOAD,
			    "got %zu for a %u-byte payload", rx->got, rx->msg.hdr.size);
		(void)vu_msg_name(rx->msg.hdr.request);
		if (vu_msg_validate(&rx->msg, why, sizeof(why)) == 0)
			check_valid(&rx->msg);
		else
			FUZZ_ASSERT(why[0], "rejected without a reason");
		vu_msg_close_fds(&rx->msg);
		vu_msg_rx_init(rx);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fz in = { data, size };
	struct vu_msg_rx rx;
	bool open = true, wr_open = true;
	int sv[2];

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	vu_msg_rx_init(&rx);
	while (open && in.n) {
		uint8_t ctl = fz_u8(&in);
		size_t len = fz_u16(&in);

		if (len > in.n)
			len = in.n;
		if (wr_open)
			(void)send_chunk(sv[1], in.p, len, ctl & 15);
		in.p += len;
		in.n -= len;
		if (ctl & 16) {
			shutdown(sv[1], SHUT_WR);
			wr_open = false;
		}
		if (!(ctl & 32))
			open = backend_read(sv[0], &rx);
	}
	if (open) {
		shutdown(sv[1], SHUT_WR);
		open = backend_read(sv[0], &rx);
		FUZZ_ASSERT(!open, "EOF did not end the connection");
	}
	close(sv[0]);
	close(sv[1]);
	fuzz_fd_check();
	return 0;
}
