/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vu_dev: a virtio-net device driven over vhost-user (virtio 1.2 section 5.1). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_internal.h"

#define VU_MAX_QP 64
#define VU_MAX_SEGS 16
#define REPLY_TIMEOUT_MS 5000
#define ASSEMBLY_MAX (256u << 10)

struct vq_bufs {
	uint64_t *gpa;		/* per descriptor: its data buffer */
	uint8_t **hva;
	uint32_t buf_size;
	uint64_t *ind_gpa;	/* TX: per descriptor an indirect table of VU_MAX_SEGS entries */
	struct vu_desc **ind_hva;
};

struct vu_dev {
	struct vu_dev_opts o;
	char name[48];
	struct vu_conn *c;
	struct vu_mem *mem;
	uint64_t backend_features, features, backend_pfeatures, pfeatures;
	uint64_t queue_num, mem_slots;
	bool negotiated, reply_ack, mrg;
	unsigned nqp;
	size_t hdr_len;
	struct vu_vq *vqs[2 * VU_MAX_QP];
	struct vq_bufs bufs[2 * VU_MAX_QP];
	bool started[2 * VU_MAX_QP];
	bool rx_repost;
	unsigned rr;
	uint8_t *assembly;
	struct vu_dev_stats st;
};

void vu_dev_opts_init(struct vu_dev_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->name = "vu";
	o->features = VU_DEFAULT_FEATURES;
	o->protocol_features = VU_DEFAULT_PROTOCOL_FEATURES;
	o->queue_pairs = 1;
	o->ring_size = 256;
	o->mem_regions = 1;
	o->rx_buf_segs = 1;
	o->tx_buf_size = 9216 + 64;
	o->need_reply = true;
	o->rx_interrupts = true;
	o->set_status = true;
	o->enable_rings = true;
}

int vu_dev_new(struct vu_conn *c, const struct vu_dev_opts *o, struct vu_dev **ret)
{
	struct vu_dev *d;

	if (o->queue_pairs < 1 || o->queue_pairs > VU_MAX_QP || o->rx_buf_segs < 1 ||
	    o->rx_buf_segs > VU_MAX_SEGS || !o->ring_size || o->ring_size < o->rx_buf_segs)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->assembly = malloc(ASSEMBLY_MAX);
	if (!d->assembly) {
		free(d);
		return -ENOMEM;
	}
	d->o = *o;
	snprintf(d->name, sizeof(d->name), "%s", o->name ? o->name : "vu");
	d->o.name = d->name;
	d->c = c;
	vu_conn_set_name(c, d->name);
	d->nqp = o->queue_pairs;
	d->rx_repost = true;
	*ret = d;
	return 0;
}

int vu_dev_connect(const char *path, const struct vu_dev_opts *o, int timeout_ms,
		   struct vu_dev **ret)
{
	struct vu_conn *c;
	int r;

	r = vu_conn_connect(path, timeout_ms, &c);
	if (r < 0) {
		vu_log("%s: connect to '%s': %s", o->name, path, strerror(-r));
		return r;
	}
	r = vu_dev_new(c, o, ret);
	if (r < 0)
		vu_conn_free(c);
	return r;
}

void vu_dev_free(struct vu_dev *d)
{
	unsigned i;

	if (!d)
		return;
	vu_conn_free(d->c);
	for (i = 0; i < 2 * VU_MAX_QP; i++) {
		vu_vq_free(d->vqs[i]);
		free(d->bufs[i].gpa);
		free(d->bufs[i].hva);
		free(d->bufs[i].ind_gpa);
		free(d->bufs[i].ind_hva);
	}
	vu_mem_free(d->mem);
	free(d->assembly);
	free(d);
}

static bool req_has_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_VRING_BASE:
	case VU_GET_QUEUE_NUM:
	case VU_GET_MAX_MEM_SLOTS:
	case VU_GET_STATUS:
	case VU_GET_CONFIG:
		return true;
	default:
		return false;
	}
}

int vu_dev_request(struct vu_dev *d, uint32_t req, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, size_t nfds, void *reply, size_t reply_cap)
{
	bool want = req_has_reply(req), ack = !want && (flags & VU_FLAG_NEED_REPLY);
	struct vu_msg_hdr hdr;
	uint64_t v = 0;
	int r;

	r = vu_conn_send(d->c, req, flags, payload, size, fds, nfds);
	if (r < 0) {
		vu_log("%s: sending %s: %s", d->name, vu_req_name(req), strerror(-r));
		return r;
	}
	if (!want && !ack)
		return 0;
	r = vu_conn_recv(d->c, REPLY_TIMEOUT_MS, &hdr, ack ? (void *)&v : reply,
			 ack ? sizeof(v) : reply_cap);
	if (r < 0) {
		vu_log("%s: no reply to %s: %s", d->name, vu_req_name(req), strerror(-r));
		return r;
	}
	if (hdr.request != req || !(hdr.flags & VU_FLAG_REPLY) ||
	    (hdr.flags & 0x3) != VU_FLAG_VERSION) {
		vu_log("%s: reply to %s has request %u (%s) flags 0x%x", d->name, vu_req_name(req),
		       hdr.request, vu_req_name(hdr.request), hdr.flags);
		return -EPROTO;
	}
	if (ack) {
		if (r != sizeof(uint64_t)) {
			vu_log("%s: ack for %s has %d payload bytes, not 8", d->name,
			       vu_req_name(req), r);
			return -EPROTO;
		}
		if (v) {
			vu_log("%s: backend refused %s (ack value %" PRIu64 ")", d->name,
			       vu_req_name(req), v);
			return -EREMOTEIO;
		}
		return 0;
	}
	return r;
}

static uint32_t set_flags(const struct vu_dev *d)
{
	return d->reply_ack && d->o.need_reply ? VU_FLAG_NEED_REPLY : 0;
}

int vu_dev_get_u64(struct vu_dev *d, uint32_t req, uint64_t *ret)
{
	int r = vu_dev_request(d, req, 0, NULL, 0, NULL, 0, ret, sizeof(*ret));

	if (r < 0)
		return r;
	if (r != sizeof(*ret)) {
		vu_log("%s: reply to %s has %d payload bytes, not 8", d->name, vu_req_name(req), r);
		return -EPROTO;
	}
	return 0;
}

int vu_dev_set_u64(struct vu_dev *d, uint32_t req, uint64_t v)
{
	return vu_dev_request(d, req, set_flags(d), &v, sizeof(v), NULL, 0, NULL, 0);
}

int vu_dev_set_state(struct vu_dev *d, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state s = { .index = index, .num = num };

	return vu_dev_request(d, req, set_flags(d), &s, sizeof(s), NULL, 0, NULL, 0);
}

int vu_dev_negotiate(struct vu_dev *d)
{
	uint64_t want = d->o.features;
	int r;

	r = vu_dev_get_u64(d, VU_GET_FEATURES, &d->backend_features);
	if (r < 0)
		return r;
	if (d->o.require_features && (want & ~d->backend_features)) {
		vu_log("%s: backend features 0x%" PRIx64 " lack wanted 0x%" PRIx64, d->name,
		       d->backend_features, want & ~d->backend_features);
		return -ENOTSUP;
	}
	d->features = want & d->backend_features;
	if (d->features & VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		r = vu_dev_get_u64(d, VU_GET_PROTOCOL_FEATURES, &d->backend_pfeatures);
		if (r < 0)
			return r;
		d->pfeatures = d->o.protocol_features & d->backend_pfeatures;
		/* Sent without NEED_REPLY: REPLY_ACK is not in force before this message. */
		r = vu_dev_request(d, VU_SET_PROTOCOL_FEATURES, 0, &d->pfeatures,
				   sizeof(d->pfeatures), NULL, 0, NULL, 0);
		if (r < 0)
			return r;
		d->reply_ack = d->pfeatures & VU_BIT(VU_PROTO_F_REPLY_ACK);
		if (d->pfeatures & VU_BIT(VU_PROTO_F_MQ)) {
			r = vu_dev_get_u64(d, VU_GET_QUEUE_NUM, &d->queue_num);
			if (r < 0)
				return r;
		}
		if (d->pfeatures & VU_BIT(VU_PROTO_F_CONFIGURE_MEM_SLOTS)) {
			r = vu_dev_get_u64(d, VU_GET_MAX_MEM_SLOTS, &d->mem_slots);
			if (r < 0)
				return r;
		}
	}
	if (d->nqp > 1 && (!(d->features & VU_BIT(VIRTIO_NET_F_MQ)) ||
			   !(d->pfeatures & VU_BIT(VU_PROTO_F_MQ)) || d->queue_num < d->nqp)) {
		vu_log("%s: %u queue pairs wanted; backend: MQ %s, protocol MQ %s, queue num %" PRIu64,
		       d->name, d->nqp, d->features & VU_BIT(VIRTIO_NET_F_MQ) ? "yes" : "no",
		       d->pfeatures & VU_BIT(VU_PROTO_F_MQ) ? "yes" : "no", d->queue_num);
		return -ENOTSUP;
	}
	r = vu_dev_request(d, VU_SET_OWNER, set_flags(d), NULL, 0, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	d->mrg = d->features & VU_BIT(VIRTIO_NET_F_MRG_RXBUF);
	d->hdr_len = (d->features & VU_BIT(VIRTIO_F_VERSION_1)) || d->mrg ? VU_NET_HDR_LEN
									   : VU_NET_HDR_LEN_LEGACY;
	d->negotiated = true;
	return 0;
}

static uint32_t rx_seg_size(const struct vu_dev *d)
{
	uint32_t total = d->o.rx_buf_size;

	if (!total)
		total = d->mrg ? 1536 : 9216 + 64;
	return ((total + d->o.rx_buf_segs - 1) / d->o.rx_buf_segs + 7) & ~7u;
}

static int mem_setup(struct vu_dev *d)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t per_ring = 26 * (size_t)d->o.ring_size + 3 * 4096 + 256;
	size_t rx = (size_t)d->o.ring_size * (rx_seg_size(d) + 64);
	size_t tx = (size_t)d->o.ring_size * (d->o.tx_buf_size + 64 + 16 * VU_MAX_SEGS + 64);
	size_t biggest = d->o.tx_buf_size + 64;
	struct vu_mem_opts mo = { 0 };
	size_t need, per;
	int r;

	need = d->nqp * (2 * per_ring + rx + tx) + (64u << 10);
	if (d->o.mem_size > need)
		need = d->o.mem_size;
	/* Objects never straddle regions, so each region may waste up to one object. */
	per = need / d->o.mem_regions + 2 * biggest + 16 * 4096;
	per = (per + (size_t)page - 1) & ~((size_t)page - 1);
	mo.nregions = d->o.mem_regions;
	mo.region_size = per;
	mo.mmap_offset = d->o.mmap_offset;
	mo.contiguous_gpa = d->o.contiguous_gpa;
	r = vu_mem_new(&mo, &d->mem);
	if (r < 0)
		vu_log("%s: guest memory (%u x %zu bytes): %s", d->name, mo.nregions, per,
		       strerror(-r));
	return r;
}

static int mem_announce(struct vu_dev *d)
{
	unsigned i, n = d->mem->nregions;
	int r;

	if (!d->o.use_add_mem_reg && n <= VU_MEM_BASELINE_REGIONS) {
		struct vu_mem_table t = { .nregions = n };
		int fds[VU_MEM_BASELINE_REGIONS];

		for (i = 0; i < n; i++) {
			vu_mem_region_desc(d->mem, i, &t.regions[i]);
			fds[i] = d->mem->regions[i].fd;
		}
		return vu_dev_request(d, VU_SET_MEM_TABLE, set_flags(d), &t,
				      (uint32_t)(8 + n * sizeof(t.regions[0])), fds, n, NULL, 0);
	}
	if (!(d->pfeatures & VU_BIT(VU_PROTO_F_CONFIGURE_MEM_SLOTS))) {
		vu_log("%s: %u regions need CONFIGURE_MEM_SLOTS, not negotiated", d->name, n);
		return -ENOTSUP;
	}
	for (i = 0; i < n; i++) {
		struct vu_mem_single s = { 0 };
		int fd = d->mem->regions[i].fd;

		vu_mem_region_desc(d->mem, i, &s.region);
		r = vu_dev_request(d, VU_ADD_MEM_REG, set_flags(d), &s, sizeof(s), &fd, 1, NULL, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static int bufs_alloc(struct vu_dev *d, unsigned i)
{
	struct vq_bufs *b = &d->bufs[i];
	bool tx = i & 1;
	unsigned k, n = d->o.ring_size;
	void *p;
	int r;

	b->buf_size = tx ? d->o.tx_buf_size : rx_seg_size(d);
	b->gpa = calloc(n, sizeof(*b->gpa));
	b->hva = calloc(n, sizeof(*b->hva));
	if (!b->gpa || !b->hva)
		return -ENOMEM;
	if (tx) {
		b->ind_gpa = calloc(n, sizeof(*b->ind_gpa));
		b->ind_hva = calloc(n, sizeof(*b->ind_hva));
		if (!b->ind_gpa || !b->ind_hva)
			return -ENOMEM;
	}
	for (k = 0; k < n; k++) {
		r = vu_mem_alloc(d->mem, b->buf_size, 64, &b->gpa[k], &p);
		if (r < 0)
			return r;
		b->hva[k] = p;
		if (tx) {
			r = vu_mem_alloc(d->mem, 16 * VU_MAX_SEGS, 16, &b->ind_gpa[k], &p);
			if (r < 0)
				return r;
			b->ind_hva[k] = p;
		}
	}
	return 0;
}

/* (Re)write the descriptors of the RX chain at @head from our shadow and make it available. */
static void rx_post_chain(struct vu_dev *d, unsigned i, uint16_t head)
{
	struct vu_vq *vq = d->vqs[i];
	struct vq_bufs *b = &d->bufs[i];
	uint16_t k, n = vu_vq_chain_len(vq, head), cur = head;

	for (k = 0; k < n; k++) {
		uint16_t next = vu_vq_next(vq, cur);

		vu_vq_desc_write(vq, cur, b->gpa[cur], b->buf_size,
				 VU_DESC_F_WRITE | (k + 1 < n ? VU_DESC_F_NEXT : 0), next);
		cur = next;
	}
	vu_vq_avail_push(vq, head);
}

static int rx_post_all(struct vu_dev *d, unsigned i, unsigned max)
{
	struct vu_vq *vq = d->vqs[i];
	unsigned segs = d->o.rx_buf_segs, posted = 0;

	while (vu_vq_free_count(vq) >= segs && (!max || posted < max)) {
		int descs[VU_MAX_SEGS];
		unsigned k;

		for (k = 0; k < segs; k++)
			descs[k] = vu_vq_desc_get(vq);
		for (k = 0; k < segs; k++)
			vu_vq_desc_write(vq, (unsigned)descs[k], 0, 0, 0,
					 k + 1 < segs ? (uint16_t)descs[k + 1] : 0);
		vu_vq_set_chain(vq, (uint16_t)descs[0], (uint16_t)segs, segs * d->bufs[i].buf_size);
		rx_post_chain(d, i, (uint16_t)descs[0]);
		posted++;
	}
	return (int)posted;
}

int vu_dev_setup(struct vu_dev *d)
{
	unsigned i, nvq = 2 * d->nqp;
	int r;

	if (!d->negotiated)
		return -EINVAL;
	r = vu_dev_set_u64(d, VU_SET_FEATURES, d->features);
	if (r < 0)
		return r;
	r = mem_setup(d);
	if (r < 0)
		return r;
	r = mem_announce(d);
	if (r < 0)
		return r;
	for (i = 0; i < nvq; i++) {
		struct vu_vq_cfg cfg = {
			.name = d->name,
			.index = i,
			.size = d->o.ring_size,
			.base = d->o.ring_base,
			.event_idx = d->features & VU_BIT(VIRTIO_RING_F_EVENT_IDX),
			.always_kick = d->o.always_kick,
		};
		struct vu_vring_addr a;
		uint64_t u;
		int fd;

		r = vu_vq_new(d->mem, &cfg, &d->vqs[i]);
		if (r < 0) {
			vu_log("%s: ring %u: %s", d->name, i, strerror(-r));
			return r;
		}
		r = bufs_alloc(d, i);
		if (r < 0) {
			vu_log("%s: buffers for ring %u: %s", d->name, i, strerror(-r));
			return r;
		}
		r = vu_dev_set_state(d, VU_SET_VRING_NUM, i, d->o.ring_size);
		if (r < 0)
			return r;
		r = vu_dev_set_state(d, VU_SET_VRING_BASE, i, d->o.ring_base);
		if (r < 0)
			return r;
		vu_vq_addr(d->vqs[i], &a);
		r = vu_dev_request(d, VU_SET_VRING_ADDR, set_flags(d), &a, sizeof(a), NULL, 0,
				   NULL, 0);
		if (r < 0)
			return r;
		if (i & 1) /* TX completions are reaped lazily; calls only when waiting */
			vu_vq_interrupts(d->vqs[i], false);
		else {
			rx_post_all(d, i, d->o.rx_post_max);
			vu_vq_interrupts(d->vqs[i], d->o.rx_interrupts);
		}
		u = i;
		fd = vu_vq_kick_fd(d->vqs[i]);
		r = vu_dev_request(d, VU_SET_VRING_KICK, set_flags(d), &u, sizeof(u), &fd, 1, NULL,
				   0);
		if (r < 0)
			return r;
		fd = vu_vq_call_fd(d->vqs[i]);
		r = vu_dev_request(d, VU_SET_VRING_CALL, set_flags(d), &u, sizeof(u), &fd, 1, NULL,
				   0);
		if (r < 0)
			return r;
		d->started[i] = true;
	}
	if ((d->features & VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) && d->o.enable_rings) {
		for (i = 0; i < nvq; i++) {
			r = vu_dev_set_state(d, VU_SET_VRING_ENABLE, i, 1);
			if (r < 0)
				return r;
		}
	}
	if ((d->pfeatures & VU_BIT(VU_PROTO_F_STATUS)) && d->o.set_status) {
		r = vu_dev_set_u64(d, VU_SET_STATUS,
				   VU_STATUS_ACKNOWLEDGE | VU_STATUS_DRIVER | VU_STATUS_FEATURES_OK |
					   VU_STATUS_DRIVER_OK);
		if (r < 0)
			return r;
	}
	/* Rings start on the first kick (vhost-user "Ring states"): tell RX about its buffers. */
	for (i = 0; i < nvq; i += 2)
		(void)vu_vq_notify(d->vqs[i], true);
	return 0;
}

int vu_dev_start(struct vu_dev *d)
{
	int r = vu_dev_negotiate(d);

	return r < 0 ? r : vu_dev_setup(d);
}

int vu_dev_enable_qp(struct vu_dev *d, unsigned qp, bool enable)
{
	int r;

	if (qp >= d->nqp)
		return -EINVAL;
	r = vu_dev_set_state(d, VU_SET_VRING_ENABLE, 2 * qp, enable);
	if (r < 0)
		return r;
	r = vu_dev_set_state(d, VU_SET_VRING_ENABLE, 2 * qp + 1, enable);
	if (r < 0)
		return r;
	if (enable)
		(void)vu_vq_notify(d->vqs[2 * qp], true);
	return 0;
}

int vu_dev_stop(struct vu_dev *d, uint16_t *ret_bases)
{
	unsigned i;
	int r;

	for (i = 0; i < 2 * d->nqp; i++) {
		struct vu_vring_state s = { .index = i };

		if (!d->started[i])
			continue;
		r = vu_dev_request(d, VU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0, &s, sizeof(s));
		if (r < 0)
			return r;
		if (r != sizeof(s) || s.index != i) {
			vu_log("%s: GET_VRING_BASE %u answered %d bytes for index %u", d->name, i, r,
			       s.index);
			return -EPROTO;
		}
		d->started[i] = false;
		if (ret_bases)
			ret_bases[i] = (uint16_t)s.num;
	}
	return 0;
}

struct vu_conn *vu_dev_conn(struct vu_dev *d)
{
	return d->c;
}

struct vu_mem *vu_dev_mem(struct vu_dev *d)
{
	return d->mem;
}

struct vu_vq *vu_dev_vq(struct vu_dev *d, unsigned index)
{
	return index < 2 * VU_MAX_QP ? d->vqs[index] : NULL;
}

const char *vu_dev_name(const struct vu_dev *d)
{
	return d->name;
}

uint64_t vu_dev_backend_features(const struct vu_dev *d)
{
	return d->backend_features;
}

uint64_t vu_dev_features(const struct vu_dev *d)
{
	return d->features;
}

uint64_t vu_dev_backend_protocol_features(const struct vu_dev *d)
{
	return d->backend_pfeatures;
}

uint64_t vu_dev_protocol_features(const struct vu_dev *d)
{
	return d->pfeatures;
}

uint64_t vu_dev_backend_queue_num(const struct vu_dev *d)
{
	return d->queue_num;
}

uint64_t vu_dev_backend_mem_slots(const struct vu_dev *d)
{
	return d->mem_slots;
}

unsigned vu_dev_queue_pairs(const struct vu_dev *d)
{
	return d->nqp;
}

unsigned vu_dev_rx_capacity(const struct vu_dev *d)
{
	return d->o.ring_size / d->o.rx_buf_segs;
}

size_t vu_dev_rx_buf_size(const struct vu_dev *d)
{
	return (size_t)rx_seg_size(d) * d->o.rx_buf_segs;
}

size_t vu_dev_hdr_len(const struct vu_dev *d)
{
	return d->hdr_len;
}

/* ---- TX ---------------------------------------------------------------------------------- */

static void tx_free_chain(struct vu_vq *vq, uint16_t head)
{
	uint16_t k, n = vu_vq_chain_len(vq, head), cur = head;

	for (k = 0; k < n; k++) {
		uint16_t next = vu_vq_next(vq, cur);

		vu_vq_desc_put(vq, cur);
		cur = next;
	}
	vu_vq_set_chain(vq, head, 0, 0);
}

int vu_dev_tx_reclaim(struct vu_dev *d, unsigned qp)
{
	struct vu_vq *vq;
	struct vu_used_elem e;
	int n = 0, r;

	if (qp >= d->nqp || !(vq = d->vqs[2 * qp + 1]))
		return -EINVAL;
	while ((r = vu_vq_used_pop(vq, &e)) != -EAGAIN) {
		if (r < 0) {
			if (vu_vq_used_pending(vq) > vu_vq_size(vq))
				return r;
			continue;
		}
		tx_free_chain(vq, (uint16_t)e.id);
		n++;
	}
	return n;
}

int vu_dev_send(struct vu_dev *d, unsigned qp, const void *frame, size_t len,
		const struct vu_tx_opts *o, int timeout_ms)
{
	static const struct vu_tx_opts dflt = { .layout = VU_TX_SINGLE };
	int64_t deadline = vu_now_ms() + timeout_ms;
	struct vu_net_hdr hdr = { 0 };
	struct vq_bufs *b;
	struct vu_vq *vq;
	unsigned segs, need, k;
	size_t total, off;
	uint8_t *src;
	int head;

	if (!o)
		o = &dflt;
	if (qp >= d->nqp || !(vq = d->vqs[2 * qp + 1]))
		return -EINVAL;
	b = &d->bufs[2 * qp + 1];
	total = d->hdr_len + len;
	segs = o->layout == VU_TX_SINGLE ? 1 : o->layout == VU_TX_HDR_SPLIT ? 2 : o->segs;
	if (segs < 1 || segs > VU_MAX_SEGS)
		return -EINVAL;
	if (segs > total)
		segs = (unsigned)total;
	if (o->layout == VU_TX_INDIRECT ? total + 8 * segs > b->buf_size
					: (o->layout == VU_TX_SCATTER ? total > segs * (size_t)b->buf_size
								      : len > b->buf_size - d->hdr_len))
		return -EINVAL;
	need = o->layout == VU_TX_INDIRECT ? 1 : segs;
	for (;;) {
		int r = vu_dev_tx_reclaim(d, qp);

		if (r < 0)
			return r;
		if (vu_vq_free_count(vq) >= need)
			break;
		(void)vu_vq_notify(vq, false);
		r = vu_vq_wait(vq, vu_remaining_ms(deadline));
		if (r == -ETIMEDOUT)
			return -EAGAIN;
		if (r < 0)
			return r;
	}
	/* header + frame as one logical stream, then cut as the layout says */
	src = d->assembly;
	if (total > ASSEMBLY_MAX)
		return -EINVAL;
	if (o->hdr) {
		hdr = *o->hdr;
		hdr.num_buffers = 0;
	}
	memcpy(src, &hdr, d->hdr_len);
	memcpy(src + d->hdr_len, frame, len);

	head = vu_vq_desc_get(vq);
	switch (o->layout) {
	case VU_TX_SINGLE:
		memcpy(b->hva[head], src, total);
		vu_vq_desc_write(vq, (unsigned)head, b->gpa[head], (uint32_t)total, 0, 0);
		vu_vq_set_chain(vq, (uint16_t)head, 1, 0);
		break;
	case VU_TX_HDR_SPLIT:
	case VU_TX_SCATTER: {
		int cur = head;

		off = 0;
		for (k = 0; k < segs; k++) {
			size_t piece;
			int next = -1;

			if (o->layout == VU_TX_HDR_SPLIT)
				piece = k == 0 ? d->hdr_len : len;
			else
				piece = (total - off) / (segs - k);
			if (k + 1 < segs)
				next = vu_vq_desc_get(vq);
			memcpy(b->hva[cur], src + off, piece);
			vu_vq_desc_write(vq, (unsigned)cur, b->gpa[cur], (uint32_t)piece,
					 next >= 0 ? VU_DESC_F_NEXT : 0,
					 next >= 0 ? (uint16_t)next : 0);
			off += piece;
			cur = next;
		}
		vu_vq_set_chain(vq, (uint16_t)head, (uint16_t)segs, 0);
		break;
	}
	case VU_TX_INDIRECT: {
		struct vu_desc *table = b->ind_hva[head];
		size_t where = 0;

		off = 0;
		for (k = 0; k < segs; k++) {
			size_t piece = (total - off) / (segs - k);
			struct vu_desc e = {
				.addr = b->gpa[head] + where,
				.len = (uint32_t)piece,
				.flags = k + 1 < segs ? VU_DESC_F_NEXT : 0,
				.next = (uint16_t)(k + 1 < segs ? k + 1 : 0),
			};

			memcpy(b->hva[head] + where, src + off, piece);
			memcpy(&table[k], &e, sizeof(e));
			off += piece;
			where += piece + 8; /* pieces are not adjacent */
		}
		vu_vq_desc_write(vq, (unsigned)head, b->ind_gpa[head],
				 (uint32_t)(segs * sizeof(struct vu_desc)), VU_DESC_F_INDIRECT, 0);
		vu_vq_set_chain(vq, (uint16_t)head, 1, 0);
		break;
	}
	}
	vu_vq_avail_push(vq, (uint16_t)head);
	d->st.tx_frames++;
	d->st.tx_bytes += len;
	if (!o->no_kick)
		(void)vu_vq_notify(vq, false);
	return 0;
}

int vu_dev_tx_flush(struct vu_dev *d, unsigned qp)
{
	if (qp >= d->nqp || !d->vqs[2 * qp + 1])
		return -EINVAL;
	return vu_vq_notify(d->vqs[2 * qp + 1], false);
}

int vu_dev_tx_drain(struct vu_dev *d, unsigned qp, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	struct vu_vq *vq;
	int r;

	if (qp >= d->nqp || !(vq = d->vqs[2 * qp + 1]))
		return -EINVAL;
	for (;;) {
		r = vu_dev_tx_reclaim(d, qp);
		if (r < 0)
			return r;
		if (!vu_vq_inflight(vq))
			return 0;
		r = vu_vq_wait(vq, vu_remaining_ms(deadline));
		if (r < 0) {
			vu_log("%s: TX qp %u: %u buffers still not used after %d ms", d->name, qp,
			       vu_vq_inflight(vq), timeout_ms);
			return r;
		}
	}
}

/* ---- RX ---------------------------------------------------------------------------------- */

void vu_dev_rx_repost(struct vu_dev *d, bool on)
{
	d->rx_repost = on;
}

int vu_dev_rx_refill(struct vu_dev *d, unsigned qp)
{
	int n;

	if (qp >= d->nqp || !d->vqs[2 * qp])
		return -EINVAL;
	n = rx_post_all(d, 2 * qp, 0);
	(void)vu_vq_notify(d->vqs[2 * qp], false);
	return n;
}

/* Copy up to @len bytes of the chain at @head to @dst; returns bytes copied. */
static size_t rx_copy_chain(struct vu_dev *d, unsigned i, uint16_t head, uint32_t len,
			    uint8_t *dst, size_t room)
{
	struct vu_vq *vq = d->vqs[i];
	struct vq_bufs *b = &d->bufs[i];
	uint16_t k, n = vu_vq_chain_len(vq, head), cur = head;
	size_t done = 0;

	for (k = 0; k < n && done < len && done < room; k++) {
		size_t piece = b->buf_size;

		if (piece > len - done)
			piece = len - done;
		if (piece > room - done)
			piece = room - done;
		memcpy(dst + done, b->hva[cur], piece);
		done += piece;
		cur = vu_vq_next(vq, cur);
	}
	return done;
}

static void rx_recycle(struct vu_dev *d, unsigned i, uint16_t head)
{
	struct vu_vq *vq = d->vqs[i];

	if (d->rx_repost) {
		rx_post_chain(d, i, head);
		return;
	}
	/* Keep the chain linked in the shadow; only the slots go back to the free list. */
	{
		uint16_t k, n = vu_vq_chain_len(vq, head), cur = head;

		for (k = 0; k < n; k++) {
			uint16_t next = vu_vq_next(vq, cur);

			vu_vq_desc_put(vq, cur);
			cur = next;
		}
		vu_vq_set_chain(vq, head, 0, 0);
	}
}

static int rx_one(struct vu_dev *d, unsigned qp, void *buf, size_t cap, struct vu_rx_info *info)
{
	unsigned i = 2 * qp, nb, k;
	struct vu_vq *vq = d->vqs[i];
	struct vu_used_elem e;
	struct vu_net_hdr hdr = { 0 };
	size_t total = 0, flen;
	int r, ret = 0;

	r = vu_vq_used_pop(vq, &e);
	if (r < 0)
		return r;
	total = rx_copy_chain(d, i, (uint16_t)e.id, e.len, d->assembly, ASSEMBLY_MAX);
	rx_recycle(d, i, (uint16_t)e.id);
	if (e.len < d->hdr_len) {
		vu_log("%s: RX qp %u: used len %u is shorter than the %zu-byte net header", d->name,
		       qp, e.len, d->hdr_len);
		d->st.hdr_violations++;
		ret = -EPROTO;
		goto out;
	}
	memcpy(&hdr, d->assembly, d->hdr_len);
	nb = d->hdr_len == VU_NET_HDR_LEN ? hdr.num_buffers : 1;
	if (!d->mrg && nb != 1) {
		/* virtio 1.2 5.1.6.4: without MRG_RXBUF num_buffers is 1. DPDK writes 0 there
		 * and Linux ignores the field, so that is counted apart from real violations. */
		if (!d->st.nonmrg_num_buffers++)
			vu_log("%s: RX qp %u: num_buffers %u without MRG_RXBUF (not 1)", d->name,
			       qp, nb);
		nb = 1;
	}
	if (d->mrg && nb == 0) {
		vu_log("%s: RX qp %u: num_buffers 0", d->name, qp);
		d->st.hdr_violations++;
		nb = 1;
	}
	for (k = 1; k < nb; k++) {
		if (!vu_vq_used_pending(vq)) {
			vu_log("%s: RX qp %u: num_buffers %u but only %u used entries published",
			       d->name, qp, nb, k);
			d->st.hdr_violations++;
			ret = -EPROTO;
			goto out;
		}
		r = vu_vq_used_pop(vq, &e);
		if (r < 0) {
			ret = r;
			goto out;
		}
		total += rx_copy_chain(d, i, (uint16_t)e.id, e.len, d->assembly + total,
				       ASSEMBLY_MAX - total);
		rx_recycle(d, i, (uint16_t)e.id);
	}
	if ((hdr.flags & ~3u) || ((hdr.flags & 1) && !(d->features & VU_BIT(VIRTIO_NET_F_GUEST_CSUM))) ||
	    (hdr.gso_type && hdr.gso_type != 1 && hdr.gso_type != 4) ||
	    (hdr.gso_type == 1 && !(d->features & VU_BIT(VIRTIO_NET_F_GUEST_TSO4))) ||
	    (hdr.gso_type == 4 && !(d->features & VU_BIT(VIRTIO_NET_F_GUEST_TSO6)))) {
		/* virtio 1.2 5.1.6.4: checksum/GSO work only as negotiated (GUEST_CSUM, GUEST_TSO*). */
		vu_log("%s: RX qp %u: header flags 0x%x gso_type %u without offload features",
		       d->name, qp, hdr.flags, hdr.gso_type);
		d->st.hdr_violations++;
	}
	flen = total - d->hdr_len;
	memcpy(buf, d->assembly + d->hdr_len, flen < cap ? flen : cap);
	if (info) {
		info->qp = qp;
		info->num_buffers = nb;
		info->hdr = hdr;
	}
	d->st.rx_frames++;
	d->st.rx_bytes += flen;
	ret = flen > cap ? -EMSGSIZE : (int)flen;
out:
	(void)vu_vq_notify(vq, false);
	return ret;
}

int vu_dev_recv(struct vu_dev *d, unsigned qp, void *buf, size_t cap, int timeout_ms,
		struct vu_rx_info *info)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	struct pollfd pfd[VU_MAX_QP];
	unsigned lo, hi, q, k;

	if (qp == VU_ANY_QP) {
		lo = 0;
		hi = d->nqp;
	} else {
		if (qp >= d->nqp || !d->vqs[2 * qp])
			return -EINVAL;
		lo = qp;
		hi = qp + 1;
	}
	for (;;) {
		int r;

		/* round robin so one busy queue cannot hide another */
		for (k = 0; k < hi - lo; k++) {
			q = lo + (d->rr + k) % (hi - lo);
			if (vu_vq_used_pending(d->vqs[2 * q])) {
				d->rr = (d->rr + k + 1) % (hi - lo);
				return rx_one(d, q, buf, cap, info);
			}
		}
		if (!d->o.rx_interrupts) {
			if (!vu_remaining_ms(deadline))
				return -ETIMEDOUT;
			sched_yield();
			continue;
		}
		for (q = lo; q < hi; q++)
			vu_vq_interrupts(d->vqs[2 * q], true);
		/* Pairs with the backend's barrier between used->idx and reading used_event. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		for (q = lo; q < hi; q++)
			if (vu_vq_used_pending(d->vqs[2 * q]))
				break;
		if (q < hi)
			continue;
		for (q = lo; q < hi; q++) {
			pfd[q - lo].fd = vu_vq_call_fd(d->vqs[2 * q]);
			pfd[q - lo].events = POLLIN;
			pfd[q - lo].revents = 0;
		}
		r = poll(pfd, hi - lo, vu_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			for (q = lo; q < hi; q++) {
				if (vu_vq_used_pending(d->vqs[2 * q])) {
					/* Short waits race with a call in flight: not a miss. */
					if (timeout_ms < VU_MISSED_CALL_MS)
						return rx_one(d, q, buf, cap, info);
					vu_vq_count_missed(d->vqs[2 * q]);
					vu_log("%s: RX qp %u: %u used entries but no call for %d ms",
					       d->name, q, vu_vq_used_pending(d->vqs[2 * q]),
					       timeout_ms);
					return rx_one(d, q, buf, cap, info);
				}
			}
			return -ETIMEDOUT;
		}
		for (q = lo; q < hi; q++)
			if (pfd[q - lo].revents)
				(void)vu_vq_take_call(d->vqs[2 * q]);
	}
}

void vu_dev_get_stats(const struct vu_dev *d, struct vu_dev_stats *ret)
{
	unsigned i;

	*ret = d->st;
	for (i = 0; i < 2 * d->nqp; i++) {
		struct vu_vq_stats s;

		if (!d->vqs[i])
			continue;
		vu_vq_get_stats(d->vqs[i], &s);
		ret->bad_used += s.bad_used;
		ret->missed_calls += s.missed_calls;
	}
}
