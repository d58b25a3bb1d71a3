// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: whole vhost-user conversations (session/session.c) against two real ports of
 * one switch, each with its frontend on a socketpair: every message handler with real fds
 * (memfds for guest memory, eventfds for kicks and calls, a pipe for nonsense), the guest
 * writing its memory while the rings run, the datapath forwarding between the two guests,
 * frontends disconnecting and reconnecting, and the teardown.
 *
 * Input: u8 queue pairs offered (low nibble: port 0, high nibble: port 1; 1 + n each), then
 * operations until the end (op = u8 % 6):
 *   0 MSG       u8 (bit 0: port, bits 1-4: fds), u8 request, u8 flags, u16 size, then
 *               min(size, 600) payload bytes and one u8 per fd choosing it from the pool:
 *               0 memfd 256 KiB, 1 memfd 64 KiB, 2 empty memfd, 3/4 eventfds, 5 a pipe
 *   1 RAW       u8 port, u16 len, len bytes written to the socket as they are
 *   2 MEMWRITE  u8 file (0/1), u32 offset, u8 len, len bytes: the guest writes its memory
 *   3 DRAIN     u8 port: the datapath drains every running TX ring of that port once or twice
 *   4 RECONNECT u8 port: the frontend closes and connects again (a new session)
 *   5 HANGUP    u8 port: the frontend half-closes its end
 * A port whose connection failed, or which the datapath declared broken, is torn down like the
 * daemon does; the next message to it connects again. Oracles besides the sanitizers: every
 * reply is a well-formed reply to a known request; after the final teardown no fd is left
 * open and (LSan, per input) no memory is left allocated.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "core/log.h"
#include "dp/dp_internal.h"
#include "fuzz.h"
#include "guestpool.h"
#include "session/session.h"

#define NPOOL 6
#define NPORTS 2

struct conn {
	struct session s;
	struct dp_port *port;
	int sv[2];           /* [0] the daemon's end, [1] the frontend's */
	bool connected;
	unsigned int qp;
};

static struct dp *dp;
static struct dp_scratch *scratch;
static struct guest_file mem[3];
static int pool[NPOOL];
static struct conn conns[NPORTS];

static void init_once(void)
{
	int p[2];

	log_max_level = LOG_LVL_ERROR;
	rcu_register_thread();
	if (dp_new(&dp))
		abort();
	/*
	 * No MAC learning allocations: a forgotten fdb entry is freed through call_rcu(), which
	 * would leave every input unbalanced for the per-input leak check. Lookups and refusals
	 * still run; fuzz_forward covers the fdb in the datapath.
	 */
	dp->fdb->max_entries = 0;
	scratch = calloc(1, sizeof(*scratch));
	if (!scratch)
		abort();
	scratch->coalesce = true;
	guest_file_make(&mem[0], 256 * 1024);
	guest_file_make(&mem[1], 64 * 1024);
	guest_file_make(&mem[2], 0);
	for (unsigned int i = 0; i < 3; i++)
		pool[i] = mem[i].fd;
	pool[3] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pool[4] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pool[3] < 0 || pool[4] < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	pool[5] = p[0];
	close(p[1]);
	rcu_thread_offline();
}

static void conn_up(struct conn *c)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, c->sv) < 0)
		abort();
	session_init(&c->s, dp, c->port, c->sv[0], c->qp);
	c->connected = true;
}

/* What the daemon does when a connection ends (ports.c conn_close()). */
static void conn_down(struct conn *c)
{
	if (!c->connected)
		return;
	FUZZ_LOG("session: port %s down; rx0 %llu frames\n", c->port->name,
		 (unsigned long long)c->port->vq[0].stats.packets);
	session_teardown(&c->s);
	close(c->sv[0]);
	close(c->sv[1]);
	c->connected = false;
	FUZZ_ASSERT(!session_running(&c->s), "rings still running after teardown");
	FUZZ_ASSERT(!c->port->mem, "guest memory still mapped after teardown");
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++)
		FUZZ_ASSERT(c->port->vq[i].kick_fd < 0 && c->port->vq[i].call_fd < 0 &&
			    c->port->vq[i].err_fd < 0, "vq %u keeps an fd after teardown", i);
}

/* Replies the frontend reads: each must be a whole, well-formed reply. */
static void frontend_read(struct conn *c)
{
	uint8_t buf[8192];
	ssize_t n;

	while ((n = recv(c->sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		size_t off = 0;

		while (off + sizeof(struct vu_msg_hdr) <= (size_t)n) {
			struct vu_msg_hdr h;

			memcpy(&h, buf + off, sizeof(h));
			FUZZ_ASSERT(h.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY_MASK) &&
				    vu_msg_is_known(h.request) && h.size <= VU_MSG_MAX_PAYLOAD,
				    "bad reply: request %u flags 0x%x size %u", h.request, h.flags, h.size);
			off += sizeof(h) + h.size;
		}
		FUZZ_ASSERT(off == (size_t)n, "reply cut in the middle");
	}
}

static void daemon_read(struct conn *c)
{
	int r = session_on_readable(&c->s);

	frontend_read(c);
	FUZZ_LOG("session: port %s: %d\n", c->port->name, r);
	if (r)
		conn_down(c);
}

static int send_fds(int sock, const uint8_t *data, size_t len, const int *fds, unsigned int nfds)
{
	char cbuf[CMSG_SPACE(16 * sizeof(int))];
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void op_msg(struct fz *in)
{
	uint8_t b = fz_u8(in), m[sizeof(struct vu_msg_hdr) + 600];
	struct conn *c = &conns[b & 1];
	unsigned int nfds = (b >> 1) & 15;
	struct vu_msg_hdr h;
	size_t plen;
	int fds[16];

	h.request = fz_u8(in);
	h.flags = fz_u8(in);
	h.size = fz_u16(in);
	plen = MIN(h.size, 600u);
	memcpy(m, &h, sizeof(h));
	(void)fz_bytes(in, m + sizeof(h), plen);
	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = pool[fz_u8(in) % NPOOL];
	FUZZ_LOG("session: port %s: %s (%u) size %u, %u fds\n", c->port->name,
		 vu_msg_name(h.request), h.request, h.size, nfds);
	if (!c->connected)
		conn_up(c);
	(void)send_fds(c->sv[1], m, sizeof(h) + plen, fds, nfds);
	daemon_read(c);
}

static void op_raw(struct fz *in)
{
	struct conn *c = &conns[fz_u8(in) & 1];
	uint8_t buf[1024];
	size_t len = fz_u16(in);

	len = fz_bytes(in, buf, MIN(len, sizeof(buf)));
	if (!c->connected)
		conn_up(c);
	(void)send_fds(c->sv[1], buf, len, NULL, 0);
	daemon_read(c);
}

static void op_drain(struct fz *in)
{
	struct conn *c = &conns[fz_u8(in) & 1];

	for (unsigned int i = 1; i < VU_MAX_VRINGS; i += 2) {
		struct dp_vq *vq = &c->port->vq[i];

		for (unsigned int round = 0; round < 2 && vq->ready && !c->port->broken; round++) {
			unsigned int n = dp_drain_tx(dp, scratch, c->port, vq, i, 1000);

			FUZZ_LOG("session: port %s vq %u: drained %u\n", c->port->name, i, n);
			if (!n)
				break;
		}
	}
	dp_flush_irqs(dp, scratch, UINT64_MAX, true);
	/* ports_handle_broken(): any port whose rings a worker found corrupt is dropped. */
	for (unsigned int k = 0; k < NPORTS; k++)
		if (conns[k].port->broken) {
			FUZZ_LOG("session: port %s broken\n", conns[k].port->name);
			conn_down(&conns[k]);
			conns[k].port->broken = false;
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fz in = { data, size };
	uint8_t qp;

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	rcu_thread_online();
	guest_file_wipe(&mem[0]);
	guest_file_wipe(&mem[1]);
	qp = fz_u8(&in);
	for (unsigned int k = 0; k < NPORTS; k++) {
		struct conn *c = &conns[k];

		memset(c, 0, sizeof(*c));
		if (dp_port_new(k ? "b" : "a", &c->port))
			abort();
		(void)dp_port_attach(dp, c->port);
		c->qp = 1 + (k ? qp >> 4 : qp & 15);
	}
	while (in.n) {
		switch (fz_u8(&in) % 6) {
		case 0:
			op_msg(&in);
			break;
		case 1:
			op_raw(&in);
			break;
		case 2: {
			struct guest_file *f = &mem[fz_u8(&in) & 1];
			uint32_t off = fz_u32(&in);

			guest_file_write(f, off % f->size, &in, fz_u8(&in));
			break;
		}
		case 3:
			op_drain(&in);
			break;
		case 4: {
			struct conn *c = &conns[fz_u8(&in) & 1];

			conn_down(c);
			conn_up(c);
			break;
		}
		default: {
			struct conn *c = &conns[fz_u8(&in) & 1];

			if (c->connected) {
				shutdown(c->sv[1], SHUT_WR);
				daemon_read(c);
			}
			break;
		}
		}
	}
	for (unsigned int k = 0; k < NPORTS; k++) {
		conn_down(&conns[k]);
		dp_port_detach(dp, conns[k].port);
		/* Detached after a grace period: no reader is left, so no call_rcu() needed. */
		free(conns[k].port);
	}
	for (unsigned int i = 3; i < 5; i++)
		(void)eventfd_read(pool[i], &(eventfd_t){ 0 });
	(void)eventfd_read(dp->event_fd, &(eventfd_t){ 0 });
	rcu_thread_offline();
	fuzz_fd_check();
	return 0;
}
