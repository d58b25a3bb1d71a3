// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vhost-user message handlers (QEMU docs/interop/vhost-user.rst, "Front-end message types").
 *
 * Messages reach a handler only after vu_msg_validate() checked their shape. Handlers check
 * meaning (ring sizes, addresses, features) and report failure with -errno; a failure ends
 * the connection, except -ENOTSUP for a well-formed request we do not implement, which is
 * answered with an error when the frontend asked for a reply.
 */
#include "session/session.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "dp/offload.h"
#include "gmem/guard.h"

typedef int (*handler_fn)(struct session *s, struct vu_msg *msg, bool *reply);

#define slog(lvl, s, fmt, ...) log_write(lvl, "%s " fmt, (s)->log_prefix, ##__VA_ARGS__)

void session_init(struct session *s, struct dp *dp, struct dp_port *port, int sock,
		  unsigned int max_queue_pairs)
{
	memset(s, 0, sizeof(*s));
	s->dp = dp;
	s->port = port;
	s->sock = sock;
	s->max_queue_pairs = MIN(max_queue_pairs ? max_queue_pairs : 1, VU_MAX_QUEUE_PAIRS);
	/* Read once: GET_MAX_MEM_SLOTS tells the frontend, and a reload must not move it. */
	s->max_mem_regions = MIN(limit_get(LIMIT_MEM_REGIONS), VU_MAX_MEM_SLOTS);
	s->log_fd = -1;
	snprintf(s->log_prefix, sizeof(s->log_prefix), "port '%s'", port->name);
	vu_msg_rx_init(&s->rx);
}

static bool has_feature(const struct session *s, int bit)
{
	return s->features & BIT_ULL(bit);
}

static bool has_protocol_feature(const struct session *s, int bit)
{
	return s->protocol_features & BIT_ULL(bit);
}

/*
 * Without VHOST_USER_F_PROTOCOL_FEATURES a ring runs once it has been kicked; with it, it
 * also waits for SET_VRING_ENABLE (spec: "Ring states").
 */
static bool vq_enabled(const struct session *s, const struct dp_vq *vq)
{
	return has_feature(s, VHOST_USER_F_PROTOCOL_FEATURES) ? vq->enabled : true;
}

/*
 * A started ring runs even while disabled if it is a TX ring: the spec ("Ring states") wants
 * its frames processed and discarded, while a disabled RX ring gets no new frames.
 */
static bool vq_should_run(const struct session *s, const struct dp_vq *vq, unsigned int idx)
{
	if (!(s->port->mem && vq->num_set && vq->addr_set && vq->kicked))
		return false;
	return dp_vq_is_tx(idx) || vq_enabled(s, vq);
}

/* Starts ring @idx when everything it needs is there. Context: control thread, ring quiesced. */
static int vq_refresh(struct session *s, unsigned int idx)
{
	struct dp_vq *vq = &s->port->vq[idx];
	char why[160];
	int r;

	if (vq->ready || !vq_should_run(s, vq, idx))
		return 0;
	if (idx / 2 >= s->max_queue_pairs) {
		limit_hit(LIMIT_QUEUE_PAIRS, "%s: vq=%u is beyond the %u queue pairs offered",
			  s->log_prefix, idx, s->max_queue_pairs);
		return -EINVAL;
	}
	r = vring_map(&vq->ring, s->port->mem, vq->num, vq->addr.desc_user_addr,
		      vq->addr.avail_user_addr, vq->addr.used_user_addr, why, sizeof(why));
	if (r) {
		slog(LOG_LVL_ERROR, s, "vq=%u: %s", idx, why);
		return r;
	}
	vring_start(&vq->ring, vq->base, has_feature(s, VIRTIO_RING_F_EVENT_IDX),
		    has_feature(s, VIRTIO_RING_F_INDIRECT_DESC));
	vq->discard = !vq_enabled(s, vq);
	dp_vq_set_ready(s->dp, s->port, idx);
	slog(LOG_LVL_DEBUG, s, "vq=%u running (size %u, base %u)", idx, vq->num, vq->base);
	return 0;
}

static int refresh_all(struct session *s)
{
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		int r = vq_refresh(s, i);

		if (r)
			return r;
	}
	return 0;
}

static void quiesce_all(struct session *s)
{
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++)
		dp_vq_quiesce(s->dp, s->port, i);
}

static uint64_t offered_features(const struct session *s)
{
	return SESSION_VIRTIO_FEATURES | (s->dp->offloads ? SESSION_OFFLOAD_FEATURES : 0);
}

/*
 * What the guest negotiated, as the datapath uses it (virtio 1.2, 5.1.3.1: TSO needs the
 * matching checksum feature, so TSO without it is not used).
 */
static void set_port_offloads(struct session *s)
{
	unsigned int tx = 0, rx = 0;

	if (has_feature(s, VIRTIO_NET_F_CSUM)) {
		tx |= DP_OFF_CSUM;
		tx |= has_feature(s, VIRTIO_NET_F_HOST_TSO4) ? DP_OFF_TSO4 : 0;
		tx |= has_feature(s, VIRTIO_NET_F_HOST_TSO6) ? DP_OFF_TSO6 : 0;
	}
	if (has_feature(s, VIRTIO_NET_F_GUEST_CSUM)) {
		rx |= DP_OFF_CSUM;
		rx |= has_feature(s, VIRTIO_NET_F_GUEST_TSO4) ? DP_OFF_TSO4 : 0;
		rx |= has_feature(s, VIRTIO_NET_F_GUEST_TSO6) ? DP_OFF_TSO6 : 0;
	}
	__atomic_store_n(&s->port->offload_tx, (uint8_t)tx, __ATOMIC_RELAXED);
	__atomic_store_n(&s->port->offload_rx, (uint8_t)rx, __ATOMIC_RELAXED);
}

static int h_get_features(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)s;
	msg->payload.u64 = offered_features(s);
	msg->hdr.size = 8;
	*reply = true;
	return 0;
}

static void dlog_free_cb(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	dlog_free(container_of(head, struct dlog, rcu));
}

/* Workers log while the frontend migrates: LOG_ALL negotiated and a log handed over. */
static void publish_dlog(struct session *s)
{
	struct dlog *want = has_feature(s, VHOST_F_LOG_ALL) ? s->log : NULL;

	if (s->port->dlog != want)
		rcu_assign_pointer(s->port->dlog, want);
}

/* Replaces the mapped log; the old one is freed once no worker can be writing to it. */
static void set_log(struct session *s, struct dlog *next)
{
	struct dlog *old = s->log;

	s->log = next;
	publish_dlog(s);
	/* A worker may still add a few to the old count: this figure is for people, not logic. */
	if (old)
		s->log_writes_before += __atomic_load_n(&old->writes, __ATOMIC_RELAXED);
	if (old)
		call_rcu(&old->rcu, dlog_free_cb);
}

static int h_set_log_base(struct session *s, struct vu_msg *msg, bool *reply)
{
	struct dlog *l;
	char why[160];
	int r;

	r = dlog_map(&msg->payload.log, msg->fds[0], &l, why, sizeof(why));
	if (r) {
		slog(LOG_LVL_ERROR, s, "SET_LOG_BASE: %s", why);
		return r;
	}
	msg->fds[0] = -1;
	/* Workers write the bitmap: a frontend cutting its file must not take them down. */
	if (!l->shrink_sealed && gmem_guard_active()) {
		l->guard = gmem_guard_add(l->mmap_base, l->mmap_len, &s->port->broken);
		if (l->guard < 0) {
			r = l->guard;
			l->guard = -1;
			dlog_free(l);
			slog(LOG_LVL_ERROR, s, "SET_LOG_BASE: log not sealed against shrinking and no "
			     "SIGBUS guard slot left");
			return r;
		}
	}
	set_log(s, l);
	slog(LOG_LVL_INFO, s, "dirty log: %llu bytes (covers %llu MiB of guest memory)",
	     (unsigned long long)l->size, (unsigned long long)(l->size * 8 * 4096 >> 20));
	/* QEMU waits for an (empty) reply when it hands the log over as a shared fd. */
	msg->hdr.size = 0;
	*reply = true;
	return 0;
}

static int h_set_log_fd(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)reply;
	close_fd(&s->log_fd);
	s->log_fd = msg->fds[0];
	msg->fds[0] = -1;
	return 0;
}

static int h_set_features(struct session *s, struct vu_msg *msg, bool *reply)
{
	uint64_t f = msg->payload.u64;

	(void)reply;
	if (f & ~offered_features(s)) {
		slog(LOG_LVL_ERROR, s, "SET_FEATURES 0x%llx: bits 0x%llx were not offered",
		     (unsigned long long)f, (unsigned long long)(f & ~offered_features(s)));
		return -EINVAL;
	}
	/* Features change how rings are read: stop them, they restart with the new ones. */
	quiesce_all(s);
	s->features = f;
	s->features_set = true;
	s->port->mrg_rxbuf = has_feature(s, VIRTIO_NET_F_MRG_RXBUF);
	s->port->hdr_len = (has_feature(s, VIRTIO_F_VERSION_1) || s->port->mrg_rxbuf)
				   ? VIRTIO_NET_HDR_LEN_V1 : VIRTIO_NET_HDR_LEN_LEGACY;
	set_port_offloads(s);
	publish_dlog(s);
	if (has_feature(s, VHOST_F_LOG_ALL))
		slog(LOG_LVL_INFO, s, "migration: dirty-page logging on%s", s->log ? "" : " (no log yet)");
	return refresh_all(s);
}

static int h_get_protocol_features(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)s;
	msg->payload.u64 = SESSION_PROTOCOL_FEATURES;
	msg->hdr.size = 8;
	*reply = true;
	return 0;
}

static int h_set_protocol_features(struct session *s, struct vu_msg *msg, bool *reply)
{
	uint64_t f = msg->payload.u64;

	(void)reply;
	if (f & ~SESSION_PROTOCOL_FEATURES) {
		slog(LOG_LVL_ERROR, s, "SET_PROTOCOL_FEATURES 0x%llx: not offered",
		     (unsigned long long)f);
		return -EINVAL;
	}
	s->protocol_features = f;
	return 0;
}

static int h_nop(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)s;
	(void)msg;
	(void)reply;
	return 0;
}

static void reset_device(struct session *s)
{
	struct dp_port *port = s->port;

	quiesce_all(s);
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		struct dp_vq *vq = &port->vq[i];

		close_fd(&vq->kick_fd);
		close_fd(&vq->call_fd);
		close_fd(&vq->err_fd);
		vq->num_set = vq->addr_set = vq->kicked = vq->enabled = false;
		vq->base = 0;
		dp_vq_move(s->dp, port, i, -1);
		memset(&vq->ring, 0, sizeof(vq->ring));
	}
	if (port->mem) {
		struct gmem_table *old = port->mem;

		rcu_assign_pointer(port->mem, NULL);
		synchronize_rcu();
		gmem_table_free(old, true);
	}
	s->features = 0;
	s->features_set = false;
	set_port_offloads(s);
	s->status = 0;
	set_log(s, NULL);
	close_fd(&s->log_fd);
}

static int h_reset_owner(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)msg;
	(void)reply;
	reset_device(s);
	return 0;
}

/* Publishes @next as the port's memory and restarts the rings on it. */
static int swap_mem(struct session *s, struct gmem_table *next, bool unmap_old)
{
	struct gmem_table *old = s->port->mem;

	quiesce_all(s);
	rcu_assign_pointer(s->port->mem, next);
	synchronize_rcu();
	gmem_table_free(old, unmap_old);
	return refresh_all(s);
}

/*
 * A region whose file the frontend could still shrink gets the SIGBUS guard, so a later
 * ftruncate() breaks this port only (gmem_region_guard()).
 */
static int guard_region(struct session *s, struct gmem_region *reg, char *why, size_t why_len)
{
	int r = gmem_region_guard(reg, &s->port->broken);

	if (r)
		snprintf(why, why_len, "file not sealed against shrinking (F_SEAL_SHRINK) and no "
			 "SIGBUS guard slot left: %s", strerror(-r));
	return r;
}

static unsigned int count_unsealed(const struct gmem_table *t)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < t->nregions; i++)
		n += !t->regions[i].shrink_sealed;
	return n;
}

static int h_set_mem_table(struct session *s, struct vu_msg *msg, bool *reply)
{
	const struct vu_mem_table *mt = &msg->payload.mem;
	struct gmem_table *t;
	char why[160];
	int r;

	(void)reply;
	if (mt->nregions > s->max_mem_regions) {
		limit_hit(LIMIT_MEM_REGIONS, "%s: SET_MEM_TABLE with %u regions", s->log_prefix,
			  mt->nregions);
		return -E2BIG;
	}
	r = gmem_table_new(&t);
	if (r)
		return r;
	for (unsigned int i = 0; i < mt->nregions; i++) {
		struct gmem_region reg;

		r = gmem_region_map(&mt->regions[i], msg->fds[i], &reg, why, sizeof(why));
		if (r == 0) {
			msg->fds[i] = -1;   /* the region owns it now */
			r = guard_region(s, &reg, why, sizeof(why));
			if (r == 0)
				r = gmem_table_add(t, &reg, why, sizeof(why));
			if (r)
				gmem_region_unmap(&reg);
		}
		if (r) {
			slog(LOG_LVL_ERROR, s, "SET_MEM_TABLE region %u: %s", i, why);
			gmem_table_free(t, true);
			return r;
		}
	}
	slog(LOG_LVL_INFO, s, "memory table: %u regions (%u not sealed against shrinking: "
	     "SIGBUS-guarded)", t->nregions, count_unsealed(t));
	return swap_mem(s, t, true);
}

static int h_get_max_mem_slots(struct session *s, struct vu_msg *msg, bool *reply)
{
	msg->payload.u64 = s->max_mem_regions;
	msg->hdr.size = 8;
	*reply = true;
	return 0;
}

static int h_add_mem_reg(struct session *s, struct vu_msg *msg, bool *reply)
{
	struct gmem_table *t;
	struct gmem_region reg;
	char why[160];
	int r;

	(void)reply;
	if (s->port->mem && s->port->mem->nregions >= s->max_mem_regions) {
		limit_hit(LIMIT_MEM_REGIONS, "%s: ADD_MEM_REG of region %u", s->log_prefix,
			  s->port->mem->nregions + 1);
		return -E2BIG;
	}
	t = s->port->mem ? gmem_table_clone(s->port->mem) : calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = gmem_region_map(&msg->payload.mem_single.region, msg->fds[0], &reg, why, sizeof(why));
	if (r == 0) {
		msg->fds[0] = -1;
		r = guard_region(s, &reg, why, sizeof(why));
		if (r == 0)
			r = gmem_table_add(t, &reg, why, sizeof(why));
		if (r)
			gmem_region_unmap(&reg);
	}
	if (r) {
		slog(LOG_LVL_ERROR, s, "ADD_MEM_REG: %s", why);
		gmem_table_free(t, false);
		return r;
	}
	/* The clone shares the old regions' mappings: free the old table, keep its maps. */
	return swap_mem(s, t, false);
}

static int h_rem_mem_reg(struct session *s, struct vu_msg *msg, bool *reply)
{
	struct gmem_region gone;
	struct gmem_table *t;
	int r;

	(void)reply;
	if (!s->port->mem)
		return -EINVAL;
	t = gmem_table_clone(s->port->mem);
	if (!t)
		return -ENOMEM;
	r = gmem_table_remove(t, &msg->payload.mem_single.region, &gone);
	if (r) {
		slog(LOG_LVL_ERROR, s, "REM_MEM_REG: no region at gpa 0x%llx",
		     (unsigned long long)msg->payload.mem_single.region.guest_phys_addr);
		gmem_table_free(t, false);
		return r;
	}
	r = swap_mem(s, t, false);
	gmem_region_unmap(&gone);
	return r;
}

static int h_set_vring_num(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.state.index, num = msg->payload.state.num;
	struct dp_vq *vq = &s->port->vq[idx];

	(void)reply;
	if (num == 0 || num > VRING_MAX_SIZE || (num & (num - 1))) {
		slog(LOG_LVL_ERROR, s, "vq=%u: SET_VRING_NUM %u is not a power of 2 up to %u", idx, num,
		     VRING_MAX_SIZE);
		return -EINVAL;
	}
	dp_vq_quiesce(s->dp, s->port, idx);
	vq->num = (uint16_t)num;
	vq->num_set = true;
	return vq_refresh(s, idx);
}

static int h_set_vring_addr(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.addr.index;
	struct dp_vq *vq = &s->port->vq[idx];

	(void)reply;
	if (msg->payload.addr.flags & ~(1u << VHOST_VRING_F_LOG)) {
		slog(LOG_LVL_ERROR, s, "vq=%u: unknown SET_VRING_ADDR flags 0x%x", idx,
		     msg->payload.addr.flags);
		return -EINVAL;
	}
	dp_vq_quiesce(s->dp, s->port, idx);
	vq->addr = msg->payload.addr;
	vq->addr_set = true;
	vq->used_log = msg->payload.addr.flags & (1u << VHOST_VRING_F_LOG);
	vq->used_log_gpa = msg->payload.addr.log_guest_addr;
	return vq_refresh(s, idx);
}

static int h_set_vring_base(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.state.index;
	struct dp_vq *vq = &s->port->vq[idx];

	(void)reply;
	if (msg->payload.state.num > 0xffff) {
		slog(LOG_LVL_ERROR, s, "vq=%u: SET_VRING_BASE %u out of range", idx,
		     msg->payload.state.num);
		return -EINVAL;
	}
	dp_vq_quiesce(s->dp, s->port, idx);
	vq->base = (uint16_t)msg->payload.state.num;
	return vq_refresh(s, idx);
}

static int h_get_vring_base(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.state.index;
	struct dp_vq *vq = &s->port->vq[idx];

	/* The spec makes GET_VRING_BASE stop the ring; it restarts with a new kick. */
	dp_vq_quiesce(s->dp, s->port, idx);
	if (vq->ring.desc)
		vq->base = vq->ring.last_avail_idx;
	vq->kicked = false;
	close_fd(&vq->kick_fd);
	msg->payload.state.num = vq->base;
	msg->hdr.size = sizeof(msg->payload.state);
	*reply = true;
	return 0;
}

/*
 * Kick, call and error fds must be eventfds (vhost-user spec, "Communication"). Anything else
 * is refused: a pipe, socket or FIFO handed over as a call fd would block the worker that
 * interrupts the guest once nobody reads it, and every port that worker serves would stop.
 * An eventfd is an anonymous inode (no file type in st_mode) that /proc names
 * "anon_inode:[eventfd]"; when /proc is not mounted the file-type check alone still keeps out
 * everything a write can block on for long.
 */
static int check_eventfd(struct session *s, unsigned int idx, int fd, const char *what)
{
	char path[64], name[32];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != 0)
		goto refuse;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	if (n >= 0) {
		name[n] = '\0';
		if (strcmp(name, "anon_inode:[eventfd]") != 0)
			goto refuse;
	}
	return 0;
refuse:
	slog(LOG_LVL_ERROR, s, "vq=%u: %s fd is not an eventfd", idx, what);
	return -EINVAL;
}

static int take_vring_fd(struct session *s, struct vu_msg *msg, int *slot, const char *what)
{
	unsigned int idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;

	if (msg->nfds && check_eventfd(s, idx, msg->fds[0], what))
		return -EINVAL;
	dp_vq_quiesce(s->dp, s->port, idx);
	close_fd(slot);
	if (msg->nfds) {
		*slot = msg->fds[0];
		msg->fds[0] = -1;
	}
	return 0;
}

static int h_set_vring_kick(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;

	(void)reply;
	if (take_vring_fd(s, msg, &s->port->vq[idx].kick_fd, "kick"))
		return -EINVAL;
	s->port->vq[idx].kicked = true;
	return vq_refresh(s, idx);
}

static int h_set_vring_call(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;

	(void)reply;
	if (take_vring_fd(s, msg, &s->port->vq[idx].call_fd, "call"))
		return -EINVAL;
	/*
	 * Workers write interrupts into it: with a full counter (a frontend that stops reading
	 * and filled it) a blocking write would sleep for ever in a worker. Non-blocking, such a
	 * write fails with EAGAIN, and the guest has an interrupt pending anyway. QEMU creates its
	 * eventfds non-blocking already; the flag is shared with the frontend's copy.
	 */
	if (s->port->vq[idx].call_fd >= 0) {
		int fl = fcntl(s->port->vq[idx].call_fd, F_GETFL);

		if (fl < 0 || fcntl(s->port->vq[idx].call_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			slog(LOG_LVL_ERROR, s, "vq=%u: call fd: cannot make it non-blocking: %s", idx,
			     strerror(errno));
			return -EINVAL;
		}
	}
	return vq_refresh(s, idx);
}

static int h_set_vring_err(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.u64 & VHOST_USER_VRING_IDX_MASK;

	(void)reply;
	if (take_vring_fd(s, msg, &s->port->vq[idx].err_fd, "error"))
		return -EINVAL;
	return vq_refresh(s, idx);
}

static int h_get_queue_num(struct session *s, struct vu_msg *msg, bool *reply)
{
	msg->payload.u64 = s->max_queue_pairs;
	msg->hdr.size = 8;
	*reply = true;
	return 0;
}

static int h_set_vring_enable(struct session *s, struct vu_msg *msg, bool *reply)
{
	unsigned int idx = msg->payload.state.index, on = msg->payload.state.num;
	struct dp_vq *vq = &s->port->vq[idx];

	(void)reply;
	if (on > 1) {
		slog(LOG_LVL_ERROR, s, "vq=%u: SET_VRING_ENABLE %u", idx, on);
		return -EINVAL;
	}
	dp_vq_quiesce(s->dp, s->port, idx);
	vq->enabled = on;
	slog(LOG_LVL_DEBUG, s, "vq=%u %s", idx, on ? "enabled" : "disabled");
	return vq_refresh(s, idx);
}

/* Builds a RARP announce from @mac (RFC 903), so other ports' switches relearn it. */
static int h_send_rarp(struct session *s, struct vu_msg *msg, bool *reply)
{
	uint8_t f[60] = { 0 };
	const uint8_t *mac = msg->payload.raw;

	(void)reply;
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x80;
	f[13] = 0x35;             /* RARP */
	f[14] = 0x00;
	f[15] = 0x01;             /* Ethernet */
	f[16] = 0x08;
	f[17] = 0x00;             /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	f[21] = 3;                /* reverse request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 32, mac, 6);
	fdb_learn_rcu(s->dp->fdb, fdb_mac_from_bytes(mac), s->port, time_ns_mono() / 1000000000ull);
	s->rarps++;
	slog(LOG_LVL_INFO, s, "announcing %02x:%02x:%02x:%02x:%02x:%02x (SEND_RARP)", mac[0], mac[1],
	     mac[2], mac[3], mac[4], mac[5]);
	return dp_inject(s->dp, s->port, f, sizeof(f));
}

static int h_net_set_mtu(struct session *s, struct vu_msg *msg, bool *reply)
{
	uint64_t mtu = msg->payload.u64;

	(void)reply;
	if (mtu < 68 || mtu > 65535 - 18) {
		slog(LOG_LVL_ERROR, s, "NET_SET_MTU %llu out of range", (unsigned long long)mtu);
		return -EINVAL;
	}
	s->mtu = (uint16_t)mtu;
	return 0;
}

static int h_set_status(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)reply;
	if (msg->payload.u64 > 0xff)
		return -EINVAL;
	s->status = (uint8_t)msg->payload.u64;
	return 0;
}

static int h_get_status(struct session *s, struct vu_msg *msg, bool *reply)
{
	msg->payload.u64 = s->status;
	msg->hdr.size = 8;
	*reply = true;
	return 0;
}

static int h_unsupported(struct session *s, struct vu_msg *msg, bool *reply)
{
	(void)s;
	(void)msg;
	(void)reply;
	return -ENOTSUP;
}

static const handler_fn handlers[VHOST_USER_REQUEST_MAX] = {
	[VHOST_USER_GET_FEATURES] = h_get_features,
	[VHOST_USER_SET_FEATURES] = h_set_features,
	[VHOST_USER_SET_OWNER] = h_nop,
	[VHOST_USER_RESET_OWNER] = h_reset_owner,
	[VHOST_USER_RESET_DEVICE] = h_reset_owner,
	[VHOST_USER_SET_MEM_TABLE] = h_set_mem_table,
	[VHOST_USER_SET_VRING_NUM] = h_set_vring_num,
	[VHOST_USER_SET_VRING_ADDR] = h_set_vring_addr,
	[VHOST_USER_SET_VRING_BASE] = h_set_vring_base,
	[VHOST_USER_GET_VRING_BASE] = h_get_vring_base,
	[VHOST_USER_SET_VRING_KICK] = h_set_vring_kick,
	[VHOST_USER_SET_VRING_CALL] = h_set_vring_call,
	[VHOST_USER_SET_VRING_ERR] = h_set_vring_err,
	[VHOST_USER_GET_PROTOCOL_FEATURES] = h_get_protocol_features,
	[VHOST_USER_SET_PROTOCOL_FEATURES] = h_set_protocol_features,
	[VHOST_USER_GET_QUEUE_NUM] = h_get_queue_num,
	[VHOST_USER_SET_VRING_ENABLE] = h_set_vring_enable,
	[VHOST_USER_SEND_RARP] = h_send_rarp,
	[VHOST_USER_NET_SET_MTU] = h_net_set_mtu,
	[VHOST_USER_GET_MAX_MEM_SLOTS] = h_get_max_mem_slots,
	[VHOST_USER_ADD_MEM_REG] = h_add_mem_reg,
	[VHOST_USER_REM_MEM_REG] = h_rem_mem_reg,
	[VHOST_USER_SET_STATUS] = h_set_status,
	[VHOST_USER_GET_STATUS] = h_get_status,
	[VHOST_USER_SET_LOG_BASE] = h_set_log_base,
	[VHOST_USER_SET_LOG_FD] = h_set_log_fd,
	[VHOST_USER_SET_BACKEND_REQ_FD] = h_unsupported,
	[VHOST_USER_IOTLB_MSG] = h_unsupported,
	[VHOST_USER_SET_VRING_ENDIAN] = h_unsupported,
	[VHOST_USER_GET_CONFIG] = h_unsupported,
	[VHOST_USER_SET_CONFIG] = h_unsupported,
};

/*
 * Replies are sent without blocking (the control thread serves every port): a frontend that
 * asks for replies and never reads them fills its socket, and loses its connection.
 */
static void log_reply_failed(struct session *s, uint32_t req, int err)
{
	slog(LOG_LVL_ERROR, s, "cannot reply to %s: %s%s", vu_msg_name(req), strerror(-err),
	     err == -EAGAIN ? " (the frontend does not read its replies)" : "");
}

static int dispatch(struct session *s, struct vu_msg *msg)
{
	uint32_t req = msg->hdr.request;
	bool need_ack = (msg->hdr.flags & VHOST_USER_NEED_REPLY_MASK) &&
			has_protocol_feature(s, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	bool reply = false;
	char why[160];
	int r;

	r = vu_msg_validate(msg, why, sizeof(why));
	if (r) {
		slog(LOG_LVL_ERROR, s, "invalid message: %s", why);
		return r;
	}
	slog(LOG_LVL_DEBUG, s, "%s", vu_msg_name(req));
	r = handlers[req] ? handlers[req](s, msg, &reply) : -ENOTSUP;
	if (r == -ENOTSUP)
		slog(LOG_LVL_WARN, s, "%s is not supported", vu_msg_name(req));
	if (reply && r == 0) {
		r = vu_msg_send_reply(s->sock, msg, msg->hdr.size);
		if (r)
			log_reply_failed(s, req, r);
		return r;
	}
	if (need_ack) {
		int sr;

		msg->payload.u64 = r ? 1 : 0;
		sr = vu_msg_send_reply(s->sock, msg, 8);
		if (sr) {
			log_reply_failed(s, req, sr);
			return sr;
		}
	}
	return r == -ENOTSUP ? 0 : r;
}

/**
 * session_replay() - apply a message we built ourselves (state handed over by a previous
 * daemon process) through the same validation and handlers, without answering the frontend.
 * Context: control thread. Takes the message's fds. Return: 0 or -errno.
 */
int session_replay(struct session *s, struct vu_msg *msg)
{
	bool reply = false;
	char why[160];
	int r;

	msg->hdr.flags = VHOST_USER_VERSION;
	r = vu_msg_validate(msg, why, sizeof(why));
	if (r) {
		slog(LOG_LVL_ERROR, s, "handed-over state: %s", why);
	} else {
		r = handlers[msg->hdr.request] ? handlers[msg->hdr.request](s, msg, &reply) : -ENOTSUP;
	}
	vu_msg_close_fds(msg);
	return r;
}

/**
 * session_on_readable() - process what the frontend sent.
 * Context: control thread. Return: 0 to keep the connection, -errno to drop it.
 */
int session_on_readable(struct session *s)
{
	for (;;) {
		char why[160];
		int r = vu_msg_rx_step(s->sock, &s->rx, why, sizeof(why));

		if (r == 0)
			return 0;
		if (r < 0) {
			if (r == -ECONNRESET)
				slog(LOG_LVL_INFO, s, "frontend disconnected");
			else
				slog(LOG_LVL_ERROR, s, "receive: %s", why);
			vu_msg_close_fds(&s->rx.msg);
			return r;
		}
		r = dispatch(s, &s->rx.msg);
		vu_msg_close_fds(&s->rx.msg);
		vu_msg_rx_init(&s->rx);
		if (r)
			return r;
	}
}

/* Context: control thread. Stops the rings and frees everything the frontend gave us. */
void session_teardown(struct session *s)
{
	vu_msg_close_fds(&s->rx.msg);   /* fds of a message only half received */
	reset_device(s);
	__atomic_store_n(&s->port->broken, false, __ATOMIC_RELEASE);
}

/* Restarts every ring that can run (after a hand-over that did not happen). */
int session_resume(struct session *s)
{
	return refresh_all(s);
}

bool session_running(const struct session *s)
{
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++)
		if (s->port->vq[i].ready)
			return true;
	return false;
}
