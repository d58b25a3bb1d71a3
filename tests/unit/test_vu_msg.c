// SPDX-License-Identifier: GPL-2.0-or-later
/* Message validation and incremental receive, including malformed and truncated input. */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "proto/vu_msg.h"

static struct vu_msg msg_new(uint32_t req, uint32_t size)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = size;
	return m;
}

static int validate(const struct vu_msg *m)
{
	char why[160];

	return vu_msg_validate(m, why, sizeof(why));
}

static void test_table(void)
{
	struct vu_msg m;

	m = msg_new(VHOST_USER_GET_FEATURES, 0);
	CHECK(validate(&m) == 0, "GET_FEATURES without payload is valid");
	m = msg_new(VHOST_USER_SET_FEATURES, 4);
	CHECK(validate(&m) == -EINVAL, "SET_FEATURES with 4 bytes is rejected");
	m = msg_new(999, 0);
	CHECK(validate(&m) == -EPROTO, "unknown request is rejected");
	m = msg_new(VHOST_USER_GET_FEATURES, 0);
	m.hdr.flags = 2;
	CHECK(validate(&m) == -EPROTO, "wrong protocol version is rejected");
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY_MASK;
	CHECK(validate(&m) == -EPROTO, "a reply sent to the backend is rejected");
	m.hdr.flags = VHOST_USER_VERSION | 0x100;
	CHECK(validate(&m) == -EPROTO, "unknown flag bits are rejected");

	m = msg_new(VHOST_USER_SET_VRING_NUM, 8);
	m.payload.state.index = VU_MAX_VRINGS - 1;
	m.payload.state.num = 256;
	CHECK(validate(&m) == 0, "SET_VRING_NUM on the last ring is valid");
	m.payload.state.index = VU_MAX_VRINGS;
	CHECK(validate(&m) == -EINVAL, "ring index past the limit is rejected");
	m.payload.state.index = 0xffffffffu;
	CHECK(validate(&m) == -EINVAL, "huge ring index is rejected");

	m = msg_new(VHOST_USER_SET_VRING_ADDR, sizeof(struct vu_vring_addr));
	m.payload.addr.index = 40;
	CHECK(validate(&m) == -EINVAL, "SET_VRING_ADDR ring index checked");

	m = msg_new(VHOST_USER_SET_VRING_KICK, 8);
	m.payload.u64 = 3;
	CHECK(validate(&m) == -EINVAL, "SET_VRING_KICK without fd and without NOFD flag is rejected");
	m.payload.u64 = 3 | VHOST_USER_VRING_NOFD_MASK;
	CHECK(validate(&m) == 0, "SET_VRING_KICK with NOFD flag and no fd is valid");
	m.nfds = 1;
	m.fds[0] = -1;
	CHECK(validate(&m) == -EINVAL, "NOFD flag with an fd is rejected");
	m.payload.u64 = 3;
	CHECK(validate(&m) == 0, "SET_VRING_KICK with one fd is valid");
	m.payload.u64 = 3 | (1ull << 40);
	CHECK(validate(&m) == -EINVAL, "reserved bits in the kick payload are rejected");
	m.nfds = 2;
	m.payload.u64 = 3;
	CHECK(validate(&m) == -EINVAL, "two fds for a kick are rejected");

	m = msg_new(VHOST_USER_SET_MEM_TABLE, 8 + 2 * sizeof(struct vu_mem_region));
	m.payload.mem.nregions = 2;
	m.nfds = 2;
	CHECK(validate(&m) == 0, "SET_MEM_TABLE with 2 regions and 2 fds is valid");
	m.nfds = 1;
	CHECK(validate(&m) == -EINVAL, "SET_MEM_TABLE with fewer fds than regions is rejected");
	m.nfds = 2;
	m.payload.mem.nregions = 9;
	CHECK(validate(&m) == -EINVAL, "SET_MEM_TABLE with 9 regions is rejected");
	m.payload.mem.nregions = 0;
	CHECK(validate(&m) == -EINVAL, "SET_MEM_TABLE with 0 regions is rejected");
	m.payload.mem.nregions = 3;
	m.nfds = 3;
	CHECK(validate(&m) == -EINVAL, "SET_MEM_TABLE claiming more regions than its size holds is rejected");

	m = msg_new(VHOST_USER_ADD_MEM_REG, sizeof(struct vu_mem_single));
	CHECK(validate(&m) == -EINVAL, "ADD_MEM_REG without fd is rejected");
	m.nfds = 1;
	CHECK(validate(&m) == 0, "ADD_MEM_REG with one fd is valid");
	CHECK(strcmp(vu_msg_name(VHOST_USER_SET_MEM_TABLE), "SET_MEM_TABLE") == 0, "names come from the table");
}

static int socket_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	return (int)sendmsg(sock, &mh, 0);
}

static void test_receive(void)
{
	struct vu_msg_rx rx;
	struct vu_msg m = msg_new(VHOST_USER_SET_VRING_CALL, 8);
	char why[160];
	int sv[2], fd, r;
	size_t total = sizeof(m.hdr) + 8;

	CHECK(socket_pair(sv) == 0, "socketpair");
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	m.payload.u64 = 1;
	/* Header and fd first, payload later: the receiver must wait, not block or misparse. */
	send_with_fds(sv[0], &m, 5, &fd, 1);
	vu_msg_rx_init(&rx);
	r = vu_msg_rx_step(sv[1], &rx, why, sizeof(why));
	CHECK(r == 0, "partial header: needs more (%d)", r);
	send(sv[0], (char *)&m + 5, total - 5, 0);
	r = vu_msg_rx_step(sv[1], &rx, why, sizeof(why));
	CHECK(r == 1, "whole message received");
	CHECK(rx.msg.nfds == 1 && rx.msg.fds[0] >= 0, "fd arrived with the message");
	CHECK(rx.msg.payload.u64 == 1 && vu_msg_validate(&rx.msg, why, sizeof(why)) == 0,
	      "payload follows the header as on the wire");
	vu_msg_close_fds(&rx.msg);

	/* Oversized payload is refused after the header, before reading it. */
	m = msg_new(VHOST_USER_SET_FEATURES, VU_MSG_MAX_PAYLOAD + 1);
	send(sv[0], &m, sizeof(m.hdr), 0);
	vu_msg_rx_init(&rx);
	r = vu_msg_rx_step(sv[1], &rx, why, sizeof(why));
	CHECK(r == -EMSGSIZE, "oversized payload rejected: %s", why);

	/* Truncated message: EOF in the middle. */
	close(sv[0]);
	close(sv[1]);
	socket_pair(sv);
	m = msg_new(VHOST_USER_SET_FEATURES, 8);
	send(sv[0], &m, sizeof(m.hdr) + 3, 0);
	close(sv[0]);
	vu_msg_rx_init(&rx);
	r = vu_msg_rx_step(sv[1], &rx, why, sizeof(why));
	CHECK(r == -ECONNRESET, "EOF inside a message is an error: %s", why);
	close(sv[1]);

	/* More fds than a message may carry: all closed, message refused. */
	socket_pair(sv);
	{
		int many[12];

		for (int i = 0; i < 12; i++)
			many[i] = fd;
		m = msg_new(VHOST_USER_SET_MEM_TABLE, 8);
		send_with_fds(sv[0], &m, sizeof(m.hdr) + 8, many, 12);
		vu_msg_rx_init(&rx);
		r = vu_msg_rx_step(sv[1], &rx, why, sizeof(why));
		CHECK(r < 0, "12 fds refused: %s", why);
		vu_msg_close_fds(&rx.msg);
	}
	close(sv[0]);
	close(sv[1]);
	close(fd);
}

int main(void)
{
	test_table();
	test_receive();
	return check_done();
}
