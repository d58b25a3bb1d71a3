// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Wire format, old -> new, on the control connection after the new process's
 * {"cmd":"handover"} line:
 *   u64 length, then that many bytes of JSON (ports, their sessions, counters, fdb, and the
 *   load balancer's services and flows under "lb", optional for older senders),
 *   then the fds in batches, each batch one sendmsg of one byte with up to 200 fds.
 * The JSON names fds by their position in that sequence. Then new -> old: "ok\n".
 *
 * The new process rebuilds each session by replaying the messages that configured it
 * (features, memory regions, rings) through session_replay(), so handed-over state goes
 * through exactly the validation a frontend's messages go through.
 */
#include "daemon/handover.h"

#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <json-c/json.h>

#include "core/log.h"
#include "ctl/ctl.h"
#include "daemon/daemon.h"
#include "uplink/tap.h"

#define HANDOVER_VERSION 1
#define FDS_PER_BATCH 200
#define MAX_HANDOVER_FDS 65536
#define MAX_HANDOVER_JSON (64u << 20)

struct fdlist {
	int *fds;
	unsigned int n, cap;
};

static int fd_add(struct fdlist *l, int fd)
{
	if (fd < 0)
		return -1;
	if (l->n == l->cap) {
		unsigned int cap = l->cap ? l->cap * 2 : 64;
		int *n = realloc(l->fds, cap * sizeof(*n));

		if (!n)
			return -1;
		l->fds = n;
		l->cap = cap;
	}
	l->fds[l->n] = fd;
	return (int)l->n++;
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_int(struct json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_int(v));
}

static struct json_object *stats_json(const struct dp_vq_stats *st)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_array();

	add_u64(o, "packets", st->packets);
	add_u64(o, "bytes", st->bytes);
	add_u64(o, "calls", st->calls);
	add_u64(o, "batches", st->batches);
	add_u64(o, "gso", st->gso);
	add_u64(o, "sw_gso", st->sw_gso);
	add_u64(o, "sw_csum", st->sw_csum);
	for (unsigned int i = 0; i < DP_DROP__MAX; i++)
		json_object_array_add(d, json_object_new_uint64(st->drops[i]));
	json_object_object_add(o, "drops", d);
	return o;
}

static struct json_object *session_json(struct port *p, struct fdlist *fds, const bool *was_ready)
{
	struct session *s = &p->session;
	struct json_object *o = json_object_new_object(), *regions = json_object_new_array();
	struct json_object *rings = json_object_new_array();
	const struct gmem_table *mem = p->dp->mem;

	add_u64(o, "features", s->features);
	add_int(o, "features_set", s->features_set);
	add_u64(o, "protocol_features", s->protocol_features);
	add_u64(o, "status", s->status);
	add_u64(o, "mtu", s->mtu);
	for (unsigned int i = 0; mem && i < mem->nregions; i++) {
		const struct gmem_region *r = &mem->regions[i];
		struct json_object *e = json_object_new_object();

		add_u64(e, "gpa", r->gpa);
		add_u64(e, "size", r->size);
		add_u64(e, "qva", r->qva);
		add_u64(e, "offset", r->mmap_offset);
		add_int(e, "fd", fd_add(fds, r->fd));
		json_object_array_add(regions, e);
	}
	json_object_object_add(o, "regions", regions);
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		const struct dp_vq *vq = &p->dp->vq[i];
		struct json_object *e = json_object_new_object();

		add_u64(e, "index", i);
		add_int(e, "num_set", vq->num_set);
		add_u64(e, "num", vq->num);
		add_int(e, "addr_set", vq->addr_set);
		add_u64(e, "flags", vq->addr.flags);
		add_u64(e, "desc", vq->addr.desc_user_addr);
		add_u64(e, "avail", vq->addr.avail_user_addr);
		add_u64(e, "used", vq->addr.used_user_addr);
		add_u64(e, "log", vq->addr.log_guest_addr);
		/* A running ring resumes where it stopped, not where it started. */
		add_u64(e, "base", was_ready[i] ? vq->ring.last_avail_idx : vq->base);
		add_int(e, "kicked", vq->kicked);
		add_int(e, "enabled", vq->enabled);
		add_int(e, "kick_fd", fd_add(fds, vq->kick_fd));
		add_int(e, "call_fd", fd_add(fds, vq->call_fd));
		add_int(e, "err_fd", fd_add(fds, vq->err_fd));
		json_object_object_add(e, "stats", stats_json(&vq->stats));
		json_object_array_add(rings, e);
	}
	json_object_object_add(o, "rings", rings);
	return o;
}

static void collect_fdb(const struct fdb_entry *e, void *opaque)
{
	struct json_object *arr = opaque, *o = json_object_new_object();
	const struct dp_port *port = __atomic_load_n(&e->port, __ATOMIC_RELAXED);

	add_u64(o, "mac", e->mac);
	json_object_object_add(o, "port", json_object_new_string(port->name));
	json_object_array_add(arr, o);
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || poll(&pfd, 1, 5000) <= 0)
				return -errno;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_fds(int sock, const int *fds, unsigned int n)
{
	for (unsigned int off = 0; off < n; off += FDS_PER_BATCH) {
		unsigned int k = MIN(n - off, FDS_PER_BATCH);
		char cbuf[CMSG_SPACE(FDS_PER_BATCH * sizeof(int))];
		char byte = 'F';
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = CMSG_SPACE(k * sizeof(int)) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		ssize_t r;

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(c), fds + off, k * sizeof(int));
		do {
			r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			struct pollfd pfd = { .fd = sock, .events = POLLOUT };

			if (errno == EAGAIN && poll(&pfd, 1, 5000) > 0) {
				off -= FDS_PER_BATCH;
				continue;
			}
			return -errno;
		}
	}
	return 0;
}

static void resume_all(struct daemon *d)
{
	for (struct port *p = d->ports; p; p = p->next)
		if (p->tap && !p->was_broken)
			tap_port_start(d->dp, p->dp);
		else if (p->connected)
			(void)session_resume(&p->session);
}

/* An uplink: its TAP's queues travel as fds, so the device and its link never go down. */
static struct json_object *tap_json(struct port *p, struct fdlist *fds)
{
	struct json_object *o = json_object_new_object(), *qfds = json_object_new_array();
	struct json_object *stats = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(p->spec.name));
	json_object_object_add(o, "type", json_object_new_string("tap"));
	json_object_object_add(o, "tap", json_object_new_string(p->spec.ifname));
	add_u64(o, "queues", p->spec.queues);
	add_u64(o, "broken", p->broken_count);
	for (unsigned int q = 0; q < p->tap->nqueues; q++)
		json_object_array_add(qfds, json_object_new_int(fd_add(fds, p->tap->fd[q])));
	json_object_object_add(o, "tap_fds", qfds);
	for (unsigned int i = 0; i < 2 * p->tap->nqueues; i++)
		json_object_array_add(stats, stats_json(&p->dp->vq[i].stats));
	json_object_object_add(o, "stats", stats);
	return o;
}

/**
 * handover_give() - hand every port to the process on control connection @fd.
 * Context: control thread. Return: 0 when the new process took over (the caller exits),
 * -errno when it did not (forwarding has resumed).
 */
int handover_give(struct daemon *d, int fd)
{
	struct json_object *root = json_object_new_object(), *ports = json_object_new_array();
	struct json_object *fdb = json_object_new_array();
	struct fdlist fds = { 0 };
	char ack[4] = { 0 };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	const char *text;
	uint64_t len;
	int r = 0;

	for (struct port *p = d->ports; p; p = p->next)
		if (p->connected && p->dp->dlog) {
			log_error("hand-over refused: port '%s' is migrating", p->spec.name);
			json_object_put(root);
			json_object_put(ports);
			json_object_put(fdb);
			return -EBUSY;
		}
	log_info("hand-over: stopping forwarding and sending %u ports", d->nports);
	/*
	 * Every TX ring first, so no frame is in flight anywhere; only then the RX rings. Stopping
	 * port by port would drop what one port's TX still forwards into another's stopped RX.
	 */
	for (unsigned int pass = 0; pass < 2; pass++)
		for (struct port *p = d->ports; p; p = p->next)
			for (unsigned int i = pass ? 0 : 1; i < VU_MAX_VRINGS; i += 2) {
				p->was_ready[i] = p->dp->vq[i].ready;
				dp_vq_quiesce(d->dp, p->dp, i);
			}
	add_u64(root, "version", HANDOVER_VERSION);
	add_int(root, "ctl_fd", fd_add(&fds, ctl_server_fd(d->ctl)));
	for (struct port *p = d->ports; p; p = p->next) {
		struct json_object *o;

		if (p->tap) {
			/* A broken uplink has nothing to hand over: the new process opens it anew. */
			if (!p->was_broken)
				json_object_array_add(ports, tap_json(p, &fds));
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(p->spec.name));
		json_object_object_add(o, "path", json_object_new_string(p->spec.path));
		add_int(o, "mode", p->spec.mode);
		add_u64(o, "queues", p->spec.queues);
		add_int(o, "group", (int)p->spec.group);
		add_u64(o, "perm", p->spec.perm);
		add_int(o, "listen_fd", fd_add(&fds, p->listen_fd));
		add_int(o, "conn_fd", p->connected ? fd_add(&fds, p->conn_fd) : -1);
		add_u64(o, "connects", p->connects);
		add_u64(o, "broken", p->broken_count);
		if (p->connected)
			json_object_object_add(o, "session", session_json(p, &fds, p->was_ready));
		json_object_array_add(ports, o);
	}
	json_object_object_add(root, "ports", ports);
	fdb_foreach_rcu(d->dp->fdb, collect_fdb, fdb);
	json_object_object_add(root, "fdb", fdb);
	/* Taken while nothing forwards, so no flow is created after it. */
	if (d->lb)
		json_object_object_add(root, "lb", services_handover_save(d));
	add_u64(root, "nfds", fds.n);

	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	len = strlen(text);
	r = send_all(fd, &len, sizeof(len));
	if (!r)
		r = send_all(fd, text, len);
	if (!r)
		r = send_fds(fd, fds.fds, fds.n);
	/* The new process answers once it has rebuilt every port. */
	if (!r && (poll(&pfd, 1, 30000) <= 0 || recv(fd, ack, 3, MSG_WAITALL) != 3 ||
		   memcmp(ack, "ok\n", 3) != 0))
		r = -EPROTO;
	json_object_put(root);
	free(fds.fds);
	if (r) {
		log_error("hand-over failed (%s): resuming", strerror(-r));
		resume_all(d);
		return r;
	}
	log_info("hand-over done: the new process runs the ports; exiting");
	d->handed_over = true;
	evloop_quit(d->loop);
	return 0;
}

static int recv_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_fds(int sock, int *fds, unsigned int n)
{
	unsigned int got = 0;

	while (got < n) {
		char cbuf[CMSG_SPACE(FDS_PER_BATCH * sizeof(int))], byte;
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

		if (r <= 0 || (mh.msg_flags & MSG_CTRUNC))
			return -EPROTO;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			unsigned int k = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || got + k > n)
				return -EPROTO;
			memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
			got += k;
		}
	}
	return 0;
}

static uint64_t ju64(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_uint64(v) : 0;
}

static int jint(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : -1;
}

/* Takes fd number @i out of the received array, so whatever is left is closed at the end. */
static int take(int *fds, unsigned int n, int i)
{
	int fd;

	if (i < 0 || (unsigned int)i >= n)
		return -1;
	fd = fds[i];
	fds[i] = -1;
	return fd;
}

static struct vu_msg msg_u64(uint32_t req, uint64_t v)
{
	struct vu_msg m = { .hdr = { .request = req, .size = 8 } };

	m.payload.u64 = v;
	return m;
}

static struct vu_msg msg_state(uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_msg m = { .hdr = { .request = req, .size = sizeof(struct vu_vring_state) } };

	m.payload.state.index = index;
	m.payload.state.num = num;
	return m;
}

static int replay_fd(struct session *s, uint32_t req, unsigned int idx, int fd)
{
	struct vu_msg m = msg_u64(req, idx | (fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0));

	if (fd >= 0) {
		m.fds[0] = fd;
		m.nfds = 1;
	}
	return session_replay(s, &m);
}

static void restore_stats(struct dp_vq_stats *st, struct json_object *o)
{
	struct json_object *d;

	st->packets = ju64(o, "packets");
	st->bytes = ju64(o, "bytes");
	st->calls = ju64(o, "calls");
	st->batches = ju64(o, "batches");
	st->gso = ju64(o, "gso");
	st->sw_gso = ju64(o, "sw_gso");
	st->sw_csum = ju64(o, "sw_csum");
	if (json_object_object_get_ex(o, "drops", &d))
		for (unsigned int i = 0; i < DP_DROP__MAX && i < json_object_array_length(d); i++)
			st->drops[i] = json_object_get_uint64(json_object_array_get_idx(d, i));
}

/*
 * Pass 0 rebuilds everything but starting TX rings (and uplink queues); pass 1 starts them
 * (their kicks), once every port's RX rings are back: a TX ring started earlier would forward into ports not yet
 * restored and drop what it took.
 */
static int restore_tx_kicks(struct port *p, struct json_object *so, int *fds, unsigned int nfds)
{
	struct json_object *rings;
	int r = 0;

	if (!json_object_object_get_ex(so, "rings", &rings))
		return 0;
	for (size_t i = 0; !r && i < json_object_array_length(rings); i++) {
		struct json_object *e = json_object_array_get_idx(rings, i);
		unsigned int idx = (unsigned int)ju64(e, "index");
		int kick;

		if (idx >= VU_MAX_VRINGS || !dp_vq_is_tx(idx))
			continue;
		kick = take(fds, nfds, jint(e, "kick_fd"));
		if (jint(e, "kicked") == 1)
			r = replay_fd(&p->session, VHOST_USER_SET_VRING_KICK, idx, kick);
		else if (kick >= 0)
			close(kick);
		if (!r && p->dp->vq[idx].ready)
			dp_call_now(p->d->dp, p->dp, idx);
	}
	return r;
}

static int restore_session(struct port *p, struct json_object *so, int *fds, unsigned int nfds)
{
	struct session *s = &p->session;
	struct json_object *regions, *rings;
	struct vu_msg m;
	int r = 0;

	if (ju64(so, "features") || jint(so, "features_set") == 1) {
		m = msg_u64(VHOST_USER_SET_PROTOCOL_FEATURES, ju64(so, "protocol_features"));
		r = session_replay(s, &m);
		m = msg_u64(VHOST_USER_SET_FEATURES, ju64(so, "features"));
		r = r ? r : session_replay(s, &m);
	}
	if (!r && ju64(so, "mtu")) {
		m = msg_u64(VHOST_USER_NET_SET_MTU, ju64(so, "mtu"));
		r = session_replay(s, &m);
	}
	m = msg_u64(VHOST_USER_SET_STATUS, ju64(so, "status"));
	r = r ? r : session_replay(s, &m);
	if (!r && json_object_object_get_ex(so, "regions", &regions)) {
		for (size_t i = 0; !r && i < json_object_array_length(regions); i++) {
			struct json_object *e = json_object_array_get_idx(regions, i);

			m = (struct vu_msg){ .hdr = { .request = VHOST_USER_ADD_MEM_REG,
						      .size = sizeof(struct vu_mem_single) } };
			m.payload.mem_single.region = (struct vu_mem_region){
				.guest_phys_addr = ju64(e, "gpa"), .memory_size = ju64(e, "size"),
				.userspace_addr = ju64(e, "qva"), .mmap_offset = ju64(e, "offset"),
			};
			m.fds[0] = take(fds, nfds, jint(e, "fd"));
			m.nfds = m.fds[0] >= 0;
			r = session_replay(s, &m);
		}
	}
	if (r || !json_object_object_get_ex(so, "rings", &rings))
		return r;
	for (size_t i = 0; !r && i < json_object_array_length(rings); i++) {
		struct json_object *e = json_object_array_get_idx(rings, i);
		unsigned int idx = (unsigned int)ju64(e, "index");
		int kick, call, err;
		struct json_object *st;

		if (idx >= VU_MAX_VRINGS) {
			r = -EINVAL;
			break;
		}
		/* TX kicks wait for pass 1 (restore_tx_kicks()). */
		kick = dp_vq_is_tx(idx) ? -1 : take(fds, nfds, jint(e, "kick_fd"));
		call = take(fds, nfds, jint(e, "call_fd"));
		err = take(fds, nfds, jint(e, "err_fd"));
		if (json_object_object_get_ex(e, "stats", &st))
			restore_stats(&p->dp->vq[idx].stats, st);
		if (jint(e, "num_set") == 1) {
			m = msg_state(VHOST_USER_SET_VRING_NUM, idx, (uint32_t)ju64(e, "num"));
			r = session_replay(s, &m);
		}
		m = msg_state(VHOST_USER_SET_VRING_BASE, idx, (uint32_t)ju64(e, "base"));
		r = r ? r : session_replay(s, &m);
		if (!r && jint(e, "addr_set") == 1) {
			m = (struct vu_msg){ .hdr = { .request = VHOST_USER_SET_VRING_ADDR,
						      .size = sizeof(struct vu_vring_addr) } };
			m.payload.addr = (struct vu_vring_addr){
				.index = idx, .flags = (uint32_t)ju64(e, "flags"),
				.desc_user_addr = ju64(e, "desc"), .avail_user_addr = ju64(e, "avail"),
				.used_user_addr = ju64(e, "used"), .log_guest_addr = ju64(e, "log"),
			};
			r = session_replay(s, &m);
		}
		if (!r && (call >= 0 || jint(e, "kicked") == 1))
			r = replay_fd(s, VHOST_USER_SET_VRING_CALL, idx, call);
		else if (call >= 0)
			close(call);
		if (!r && err >= 0)
			r = replay_fd(s, VHOST_USER_SET_VRING_ERR, idx, err);
		else if (err >= 0)
			close(err);
		if (!r && jint(e, "enabled") == 1) {
			m = msg_state(VHOST_USER_SET_VRING_ENABLE, idx, 1);
			r = session_replay(s, &m);
		}
		if (!r && jint(e, "kicked") == 1 && !dp_vq_is_tx(idx))
			r = replay_fd(s, VHOST_USER_SET_VRING_KICK, idx, kick);
		else if (kick >= 0)
			close(kick);
		/* A call the old process had put off is gone with it: one spurious call is harmless. */
		if (!r && p->dp->vq[idx].ready)
			dp_call_now(p->d->dp, p->dp, idx);
	}
	return r;
}

static int restore_tap(struct daemon *d, struct json_object *o, struct port_spec *spec, int *fds,
		       unsigned int nfds)
{
	struct json_object *v, *qfds, *stats;
	int qfd[VU_MAX_QUEUE_PAIRS];
	unsigned int n;
	struct port *p;
	char why[128];
	int r;

	spec->type = PORT_TYPE_TAP;
	spec->queues = (unsigned int)ju64(o, "queues");
	if (!json_object_object_get_ex(o, "tap", &v) ||
	    strlen(json_object_get_string(v)) > PORT_IFNAME_MAX ||
	    !json_object_object_get_ex(o, "tap_fds", &qfds) ||
	    !json_object_is_type(qfds, json_type_array))
		return -EPROTO;
	strcpy(spec->ifname, json_object_get_string(v));
	n = (unsigned int)json_object_array_length(qfds);
	if (port_spec_finish(spec, why, sizeof(why)) || n != spec->queues)
		return -EPROTO;
	for (unsigned int q = 0; q < n; q++)
		qfd[q] = take(fds, nfds, json_object_get_int(json_object_array_get_idx(qfds, q)));
	for (unsigned int q = 0; q < n; q++)
		if (qfd[q] < 0) {
			r = -EPROTO;
			goto fail;
		}
	r = port_restore_tap(d, spec, qfd, n, &p);
	if (r)
		goto fail;
	p->broken_count = ju64(o, "broken");
	if (json_object_object_get_ex(o, "stats", &stats))
		for (unsigned int i = 0; i < 2 * n && i < json_object_array_length(stats); i++)
			restore_stats(&p->dp->vq[i].stats, json_object_array_get_idx(stats, i));
	log_info("port '%s': uplink TAP %s taken over (%u queues)", spec->name, spec->ifname, n);
	return 0;
fail:
	for (unsigned int q = 0; q < n; q++)
		if (qfd[q] >= 0)
			close(qfd[q]);
	return r;
}

static int restore(struct daemon *d, struct json_object *root, int *fds, unsigned int nfds,
		   int *ret_ctl_fd)
{
	struct json_object *ports, *fdb, *lb;
	uint64_t now_s = time_ns_mono() / 1000000000ull;

	if (ju64(root, "version") != HANDOVER_VERSION ||
	    !json_object_object_get_ex(root, "ports", &ports))
		return -EPROTO;
	*ret_ctl_fd = take(fds, nfds, jint(root, "ctl_fd"));
	/*
	 * Flows before ports: once a port's TX ring runs, a frame of an established flow that
	 * found no flow would get a backend from today's tables, perhaps another one.
	 */
	if (d->lb && json_object_object_get_ex(root, "lb", &lb)) {
		int r = services_handover_restore(d, lb);

		if (r) {
			log_error("cannot take over the load balancer's state: %s", strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < json_object_array_length(ports); i++) {
		struct json_object *o = json_object_array_get_idx(ports, i), *v, *so;
		struct port_spec spec = { .group = (gid_t)-1 };
		struct port *p;
		int r;

		if (!json_object_object_get_ex(o, "name", &v) ||
		    strlen(json_object_get_string(v)) > PORT_NAME_MAX)
			return -EPROTO;
		strcpy(spec.name, json_object_get_string(v));
		if (json_object_object_get_ex(o, "type", &v) &&
		    strcmp(json_object_get_string(v), "tap") == 0) {
			r = restore_tap(d, o, &spec, fds, nfds);
			if (r)
				return r;
			continue;
		}
		if (!json_object_object_get_ex(o, "path", &v) ||
		    strlen(json_object_get_string(v)) >= sizeof(spec.path))
			return -EPROTO;
		strcpy(spec.path, json_object_get_string(v));
		spec.mode = jint(o, "mode") == PORT_MODE_CLIENT ? PORT_MODE_CLIENT : PORT_MODE_SERVER;
		spec.queues = (unsigned int)ju64(o, "queues");
		if (spec.queues < 1 || spec.queues > VU_MAX_QUEUE_PAIRS)
			return -EPROTO;
		spec.group = (gid_t)jint(o, "group");
		spec.perm = (mode_t)ju64(o, "perm");
		r = port_restore(d, &spec, take(fds, nfds, jint(o, "listen_fd")),
				 take(fds, nfds, jint(o, "conn_fd")), &p);
		if (r)
			return r;
		p->connects = ju64(o, "connects");
		p->broken_count = ju64(o, "broken");
		if (p->connected && json_object_object_get_ex(o, "session", &so)) {
			r = restore_session(p, so, fds, nfds);
			if (r) {
				log_error("port '%s': cannot rebuild the handed-over session: %s",
					  spec.name, strerror(-r));
				return r;
			}
		}
		log_info("port '%s': taken over%s", spec.name, p->connected ? " with its frontend" : "");
	}
	for (size_t i = 0; i < json_object_array_length(ports); i++) {
		struct json_object *o = json_object_array_get_idx(ports, i), *v, *so;
		struct port *p;
		int r;

		if (!json_object_object_get_ex(o, "name", &v) || !(p = port_find(d, json_object_get_string(v))))
			continue;
		if (p->tap) {
			tap_port_start(d->dp, p->dp);
			continue;
		}
		if (!p->connected || !json_object_object_get_ex(o, "session", &so))
			continue;
		r = restore_tx_kicks(p, so, fds, nfds);
		if (r)
			return r;
	}
	if (json_object_object_get_ex(root, "fdb", &fdb))
		for (size_t i = 0; i < json_object_array_length(fdb); i++) {
			struct json_object *e = json_object_array_get_idx(fdb, i), *v;
			struct port *p;

			if (json_object_object_get_ex(e, "port", &v) &&
			    (p = port_find(d, json_object_get_string(v))))
				fdb_learn_rcu(d->dp->fdb, ju64(e, "mac"), p->dp, now_s);
		}
	return 0;
}

/**
 * handover_take() - become the daemon: take the ports of the one at @ctl_path.
 * Context: control thread, before the event loop runs. @ret_ctl_fd gets the control socket's
 * listening fd. Return: 0 or -errno (the old process then resumes on its own).
 */
int handover_take(struct daemon *d, const char *ctl_path, int *ret_ctl_fd)
{
	static const char req[] = "{\"cmd\":\"handover\"}\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct json_object *root = NULL;
	int sock, r, *fds = NULL;
	uint64_t len, nfds;
	char *text = NULL;

	if (strlen(ctl_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, ctl_path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send_all(sock, req, strlen(req))) {
		r = -errno;
		goto out;
	}
	r = recv_exact(sock, &len, sizeof(len));
	if (r)
		goto out;
	if (len == 0 || len > MAX_HANDOVER_JSON) {
		r = -EPROTO;
		goto out;
	}
	text = malloc(len + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	r = recv_exact(sock, text, len);
	if (r)
		goto out;
	text[len] = '\0';
	root = json_tokener_parse(text);
	nfds = root ? ju64(root, "nfds") : 0;
	if (!root || nfds > MAX_HANDOVER_FDS) {
		r = -EPROTO;
		goto out;
	}
	fds = malloc(sizeof(int) * (nfds + 1));
	if (!fds) {
		r = -ENOMEM;
		goto out;
	}
	r = recv_fds(sock, fds, (unsigned int)nfds);
	if (r)
		goto out;
	r = restore(d, root, fds, (unsigned int)nfds, ret_ctl_fd);
	for (uint64_t i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!r)
		r = send_all(sock, "ok\n", 3);
out:
	if (r)
		log_error("hand-over from %s failed: %s", ctl_path, strerror(-r));
	json_object_put(root);
	free(text);
	free(fds);
	close(sock);
	return r;
}
