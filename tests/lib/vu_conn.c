/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vu_conn: one vhost-user unix socket, frontend side. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_internal.h"

struct vu_conn {
	int fd;
	char name[64];
	unsigned sent;		/* messages sent by vu_conn_send() */
	unsigned limit;		/* fault injection: refuse to send more than this (0: no limit) */
};

#define REQ(r) [VU_##r] = #r
static const char *const req_names[] = {
	REQ(GET_FEATURES), REQ(SET_FEATURES), REQ(SET_OWNER), REQ(RESET_OWNER),
	REQ(SET_MEM_TABLE), REQ(SET_LOG_BASE), REQ(SET_LOG_FD), REQ(SET_VRING_NUM),
	REQ(SET_VRING_ADDR), REQ(SET_VRING_BASE), REQ(GET_VRING_BASE), REQ(SET_VRING_KICK),
	REQ(SET_VRING_CALL), REQ(SET_VRING_ERR), REQ(GET_PROTOCOL_FEATURES),
	REQ(SET_PROTOCOL_FEATURES), REQ(GET_QUEUE_NUM), REQ(SET_VRING_ENABLE), REQ(SEND_RARP),
	REQ(NET_SET_MTU), REQ(SET_BACKEND_REQ_FD), REQ(IOTLB_MSG), REQ(SET_VRING_ENDIAN),
	REQ(GET_CONFIG), REQ(SET_CONFIG), REQ(RESET_DEVICE), REQ(VRING_KICK),
	REQ(GET_MAX_MEM_SLOTS), REQ(ADD_MEM_REG), REQ(REM_MEM_REG), REQ(SET_STATUS),
	REQ(GET_STATUS),
};
#undef REQ

const char *vu_req_name(uint32_t req)
{
	if (req < sizeof(req_names) / sizeof(req_names[0]) && req_names[req])
		return req_names[req];
	return "UNKNOWN";
}

int64_t vu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vu_remaining_ms(int64_t deadline)
{
	int64_t left = deadline - vu_now_ms();

	if (left < 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

static struct vu_conn *conn_wrap(int fd, const char *name)
{
	struct vu_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

int vu_conn_connect(const char *path, int timeout_ms, struct vu_conn **ret)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	struct sockaddr_un sun;
	int r, fd;

	r = fill_sun(&sun, path);
	if (r < 0)
		return r;
	/* The backend may still be starting: retry on "not there yet" until the deadline. */
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		r = -errno;
		close(fd);
		if ((r != -ENOENT && r != -ECONNREFUSED) || vu_now_ms() >= deadline)
			return r;
		(void)poll(NULL, 0, 10);
	}
	*ret = conn_wrap(fd, path);
	if (!*ret) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

int vu_listen(const char *path)
{
	struct sockaddr_un sun;
	int r, fd;

	r = fill_sun(&sun, path);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 4) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int vu_conn_accept(int lfd, int timeout_ms, struct vu_conn **ret)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int r, fd;

	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = conn_wrap(fd, "accepted");
	if (!*ret) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

void vu_conn_free(struct vu_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int vu_conn_fd(const struct vu_conn *c)
{
	return c->fd;
}

void vu_conn_set_name(struct vu_conn *c, const char *name)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
}

const char *vu_conn_name(const struct vu_conn *c)
{
	return c->name;
}

int vu_conn_send_raw(struct vu_conn *c, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 64)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len) {
		/* A stream socket may take part of it; the fds went with the first byte. */
		const char *p = (const char *)buf + n;
		size_t left = len - (size_t)n;

		while (left) {
			n = send(c->fd, p, left, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			p += n;
			left -= (size_t)n;
		}
	}
	return 0;
}

int vu_conn_send(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload,
		 uint32_t size, const int *fds, size_t nfds)
{
	struct vu_msg_hdr hdr = { .request = req, .flags = VU_FLAG_VERSION | flags, .size = size };
	uint8_t *buf;
	int r;

	if (c->limit && c->sent >= c->limit)
		return -ECANCELED;
	buf = malloc(sizeof(hdr) + size);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	r = vu_conn_send_raw(c, buf, sizeof(hdr) + size, fds, nfds);
	free(buf);
	if (r == 0)
		c->sent++;
	return r;
}

void vu_conn_set_send_limit(struct vu_conn *c, unsigned n)
{
	c->limit = n;
}

unsigned vu_conn_sent(const struct vu_conn *c)
{
	return c->sent;
}

/* Read exactly @len bytes before @deadline; fds that arrive are closed (replies carry none). */
static int read_full(struct vu_conn *c, void *buf, size_t len, int64_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 16)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				     .msg_controllen = sizeof(cbuf.buf) };
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct cmsghdr *cm;
		ssize_t n;
		int r;

		r = poll(&pfd, 1, vu_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				size_t k, nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fd;

				for (k = 0; k < nfd; k++) {
					memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
					close(fd);
				}
			}
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int vu_conn_recv(struct vu_conn *c, int timeout_ms, struct vu_msg_hdr *hdr, void *payload,
		 size_t cap)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	uint8_t *tmp;
	int r;

	r = read_full(c, hdr, sizeof(*hdr), deadline);
	if (r < 0)
		return r;
	if (hdr->size > VU_MAX_PAYLOAD) {
		vu_log("%s: reply to %s announces %u payload bytes", c->name,
		       vu_req_name(hdr->request), hdr->size);
		return -EPROTO;
	}
	tmp = malloc(hdr->size ? hdr->size : 1);
	if (!tmp)
		return -ENOMEM;
	r = read_full(c, tmp, hdr->size, deadline);
	if (r == 0) {
		memcpy(payload, tmp, hdr->size < cap ? hdr->size : cap);
		r = (int)hdr->size;
	}
	free(tmp);
	return r;
}

int vu_conn_wait_closed(struct vu_conn *c, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	uint8_t buf[256];

	/* Drain whatever the backend still says (e.g. a NEED_REPLY ack) until EOF. */
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int r;

		r = poll(&pfd, 1, vu_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}
