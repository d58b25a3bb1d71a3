// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The forwarding path: drain a guest's TX ring, decide each frame's destination from the
 * fdb, and copy it once, straight from the sender's TX buffer into the receiver's RX buffer.
 * No mbufs, no allocation, no locks but the RX ring's spinlock once per batch, no syscall but
 * the eventfd write that interrupts a guest.
 */
#include <endian.h>
#include <sys/eventfd.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"

#define DEST_FLOOD ((struct dp_port *)1)
#define DEST_NONE ((struct dp_port *)0)

static inline void stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

void dp_port_break(struct dp *dp, struct dp_port *port, unsigned int vq, const char *why, int err)
{
	if (__atomic_exchange_n(&port->broken, true, __ATOMIC_ACQ_REL))
		return;
	log_ratelimited(LOG_LVL_ERROR, "port '%s' vq=%u: %s (%s): stopping this port", port->name,
			vq, why, strerror(-err));
	(void)eventfd_write(dp->event_fd, 1);
}

/*
 * Interrupts the guest. The write is announced in the scratch so that the watchdog can
 * interrupt it if the frontend made the eventfd blocking again and filled it (watchdog.c);
 * it then fails with EINTR and only this port stops.
 * Context: a worker or the control thread, RCU read side (nobody can close @fd meanwhile).
 */
static void call_guest(struct dp *dp, struct dp_scratch *s, struct dp_port *port, unsigned int vq,
		       int fd)
{
	const uint64_t one = 1;
	ssize_t n;

	if (fd < 0 || __atomic_load_n(&port->broken, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&s->call_since_ns, time_ns_mono(), __ATOMIC_RELEASE);
	n = write(fd, &one, sizeof(one));
	__atomic_store_n(&s->call_since_ns, 0, __ATOMIC_RELEASE);
	if (unlikely(n < 0 && errno == EINTR))
		dp_port_break(dp, port, vq, "its call eventfd blocks (the frontend made it blocking and full)",
			      -EWOULDBLOCK);
}

/**
 * dp_call_now() - interrupt the guest of ring @idx of @port at once, if it has a call eventfd.
 * Context: control thread, RCU read side.
 */
void dp_call_now(struct dp *dp, struct dp_port *port, unsigned int idx)
{
	call_guest(dp, dp->ctl_scratch, port, idx, port->vq[idx].call_fd);
}

static void spin_lock(int *lock)
{
	while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(lock, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static void spin_unlock(int *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/*
 * memcpy for frame bytes. Most frames are small, and glibc's memcpy for a length known only at
 * run time costs a call and a size dispatch that are a good part of a 64 B frame's budget:
 * up to 128 bytes are copied with fixed-size (so inlined) overlapping moves instead.
 */
static inline void copy_frame_bytes(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	if (n >= 16 && n <= 32) {
		memcpy(dst, src, 16);
		memcpy(dst + n - 16, src + n - 16, 16);
	} else if (n > 32 && n <= 64) {
		memcpy(dst, src, 32);
		memcpy(dst + n - 32, src + n - 32, 32);
	} else if (n > 64 && n <= 128) {
		memcpy(dst, src, 64);
		memcpy(dst + n - 64, src + n - 64, 64);
	} else {
		memcpy(dst, src, n);
	}
}

/* Copies @len bytes from @src at @soff to @dst at @doff; both are mapped guest chains. */
static void chain_copy(const struct vring_chain *dst, uint32_t doff, const struct vring_chain *src,
		       uint32_t soff, uint32_t len)
{
	unsigned int di = 0, si = 0;

	/* The common case, one buffer each side: the callers checked both lengths. */
	if (likely(dst->nsegs == 1 && src->nsegs == 1)) {
		copy_frame_bytes(dst->seg[0].hva + doff, src->seg[0].hva + soff, len);
		return;
	}
	while (di < dst->nsegs && doff >= dst->seg[di].len)
		doff -= dst->seg[di++].len;
	while (si < src->nsegs && soff >= src->seg[si].len)
		soff -= src->seg[si++].len;
	while (len && di < dst->nsegs && si < src->nsegs) {
		uint32_t n = MIN(MIN(dst->seg[di].len - doff, src->seg[si].len - soff), len);

		copy_frame_bytes(dst->seg[di].hva + doff, src->seg[si].hva + soff, n);
		len -= n;
		doff += n;
		soff += n;
		if (doff == dst->seg[di].len) {
			di++;
			doff = 0;
		}
		if (soff == src->seg[si].len) {
			si++;
			soff = 0;
		}
	}
}

/* Flow hash for RX queue choice: addresses and ports of IPv4 TCP/UDP, else the MACs. */
static uint32_t flow_hash(const struct dp_pkt *p)
{
	const uint8_t *h = p->head;
	uint32_t x;
	uint16_t type;
	unsigned int l3 = 14;

	memcpy(&x, h + 2, 4);
	x ^= (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
	type = (uint16_t)(h[12] << 8 | h[13]);
	if (type == 0x8100 && p->head_len >= 18) {
		type = (uint16_t)(h[16] << 8 | h[17]);
		l3 = 18;
	}
	if (type == 0x0800 && p->head_len >= l3 + 20) {
		const uint8_t *ip = h + l3;
		unsigned int ihl = (ip[0] & 15u) * 4u;
		uint32_t a, b;

		memcpy(&a, ip + 12, 4);
		memcpy(&b, ip + 16, 4);
		x = a ^ b;
		/* Ports only for unfragmented TCP/UDP, so all fragments of a datagram agree. */
		if ((ip[9] == 6 || ip[9] == 17) && !(ip[6] & 0x3f) && !ip[7] &&
		    p->head_len >= l3 + ihl + 4) {
			uint32_t ports;

			memcpy(&ports, ip + ihl, 4);
			x ^= ports;
		}
	}
	x *= 0x9e3779b1u;
	return x ^ (x >> 15);
}

/*
 * Puts one frame into @vr: one chain, or several with MRG_RXBUF. On failure every chain taken
 * is given back (the used entries are not published yet, so rolling the indices back is safe).
 * Return: 0, -ENOBUFS (ring empty), -EMSGSIZE (does not fit), or a ring error.
 */
static void log_chain(struct dlog *l, const struct vring_chain *c, uint32_t len)
{
	for (unsigned int i = 0; i < c->nsegs && len; i++) {
		uint32_t n = MIN(c->seg[i].len, len);

		dlog_mark(l, c->seg[i].gpa, n);
		len -= n;
	}
}

static int rx_put_one(struct dp_scratch *s, struct dp_port *dst, struct vring *vr,
		      const struct gmem_table *mem, struct dlog *dl, int *avail, const struct dp_pkt *p,
		      const struct vring_chain *src, const struct dp_offload *vh)
{
	const uint32_t hdr_len = dst->hdr_len;
	const uint16_t saved_avail = vr->last_avail_idx, saved_used = vr->last_used_idx;
	const int saved_count = *avail;
	struct vring_chain *cur = &s->rx_cur, *first = &s->rx_first;
	struct virtio_net_hdr_v1 hdr = { 0 };
	uint8_t *hdr_at = NULL;     /* where the header goes when it fits the first segment */
	uint32_t done = 0;
	unsigned int nbufs = 0;     /* not uint16_t: a 16-bit spill reloaded wider stalls */
	int r;

	do {
		uint32_t off = nbufs ? 0 : hdr_len, n;

		if (*avail == 0) {
			r = -ENOBUFS;
			goto rollback;
		}
		r = vring_pop(vr, mem, true, cur);
		(*avail)--;
		if (r)
			goto rollback;
		if (cur->len < off) {
			r = -EMSGSIZE;
			goto rollback;
		}
		n = MIN(cur->len - off, p->frame_len - done);
		if (!dst->mrg_rxbuf && n < p->frame_len) {
			r = -EMSGSIZE;
			goto rollback;
		}
		chain_copy(cur, off, src, p->frame_off + done, n);
		/* The load balancer rewrote the first bytes: ours replace the sender's. */
		if (unlikely(done < p->lb_dirty))
			(void)vring_chain_write(cur, off, p->head + done, MIN(p->lb_dirty - done, n));
		vring_used_put(vr, cur->head, off + n);
		if (unlikely(dl))
			log_chain(dl, cur, off + n);
		if (nbufs == 0) {
			if (likely(cur->seg[0].len >= hdr_len)) {
				hdr_at = cur->seg[0].hva;
			} else {
				first->nsegs = cur->nsegs;
				memcpy(first->seg, cur->seg, cur->nsegs * sizeof(cur->seg[0]));
			}
		}
		done += n;
		nbufs++;
	} while (done < p->frame_len);

	if (likely(hdr_at && hdr_len == VIRTIO_NET_HDR_LEN_V1 && !vh)) {
		/*
		 * Two plain stores: a header built in a struct (a 16-bit field store, then a wider
		 * load to copy it) stalls on store forwarding, once per frame.
		 * Only when the buffer does not hold this header already: a guest that forwards
		 * leaves our header in place (DPDK's virtio driver writes its TX header only where
		 * it differs), and not storing keeps the line shared instead of moving it to our
		 * CPU and back to the guest's, a move per frame that costs most when cores are far.
		 */
		const uint32_t tail = htole32((uint32_t)nbufs << 16);   /* csum_offset, num_buffers */
		uint64_t was_head;
		uint32_t was_tail;

		memcpy(&was_head, hdr_at, 8);
		memcpy(&was_tail, hdr_at + 8, 4);
		if (was_head != 0 || was_tail != tail) {
			const uint64_t zero = 0;

			memcpy(hdr_at, &zero, 8);
			memcpy(hdr_at + 8, &tail, 4);
		}
	} else {
		hdr.num_buffers = htole16((uint16_t)nbufs);
		if (unlikely(vh)) {
			/* Passed through: the receiver negotiated what it asks for (5.1.6.4). */
			hdr.flags = vh->flags;
			hdr.gso_type = vh->gso_type;
			hdr.hdr_len = htole16(vh->hdr_len);
			hdr.gso_size = htole16(vh->gso_size);
			hdr.csum_start = htole16(vh->csum_start);
			hdr.csum_offset = htole16(vh->csum_offset);
		}
		if (hdr_at)
			memcpy(hdr_at, &hdr, hdr_len);
		else
			(void)vring_chain_write(first, 0, &hdr, hdr_len);
	}
	return 0;

rollback:
	__atomic_store_n(&vr->last_avail_idx, saved_avail, __ATOMIC_RELAXED);
	vr->last_used_idx = saved_used;
	*avail = saved_count;
	return r;
}

/* Context: @rxq->lock held. Commits the call; the caller writes the eventfd after unlocking. */
static bool irq_fire(struct dp_vq *rxq, uint64_t now)
{
	vring_call_done(&rxq->ring);
	rxq->irq_last_ns = now;
	rxq->irq_frames = 0;
	rxq->irq_pending = false;
	stat_add(&rxq->stats.calls, 1);
	return true;
}

/*
 * Interrupt coalescing (like ethtool's rx-usecs/rx-frames, adaptive): a guest that has not
 * been interrupted for irq_usecs gets its call at once, so a quiet guest is never delayed; a
 * busy one gets at most one call per irq_usecs, or per irq_frames frames. A call put off is
 * owned by the worker that put it off and flushed by its deadline (dp_flush_irqs()).
 * Context: @rxq->lock held. Return: true when the caller must write the call eventfd.
 */
static bool irq_decide(struct dp *dp, struct dp_scratch *s, struct dp_port *dst, struct dp_vq *rxq,
		       unsigned int q)
{
	uint64_t now, window = (uint64_t)dp->irq_usecs * 1000;
	const struct dp_port_set *set;

	if (!vring_need_call_peek(&rxq->ring))
		return false;
	now = time_ns_mono();
	if (!s->coalesce || now - rxq->irq_last_ns >= window || rxq->irq_frames >= dp->irq_frames)
		return irq_fire(rxq, now);
	if (rxq->irq_pending)
		return false;
	if (s->npending == DP_MAX_PENDING_IRQS)
		return irq_fire(rxq, now);
	rxq->irq_pending = true;
	rxq->irq_deadline_ns = rxq->irq_last_ns + window;
	set = rcu_dereference(dp->ports);   /* dst came from this set */
	s->pending[s->npending++] = (struct dp_pending_irq){ .port = dst, .q = (uint8_t)q,
							     .set_gen = set ? set->gen : 0 };
	return false;
}

static bool port_in_set(const struct dp_port_set *set, const struct dp_port *port)
{
	for (unsigned int i = 0; set && i < set->n; i++)
		if (set->ports[i] == port)
			return true;
	return false;
}

/**
 * dp_flush_irqs() - make the calls this thread put off, once due (or all of them).
 * Context: the worker that owns @s, RCU read side. A pending entry names a port only by
 * pointer: it is used only if that port is still in the published set, so a port removed
 * since is never touched.
 */
void dp_flush_irqs(struct dp *dp, struct dp_scratch *s, uint64_t now_ns, bool all)
{
	const struct dp_port_set *set = rcu_dereference(dp->ports);
	unsigned int keep = 0;

	for (unsigned int i = 0; i < s->npending; i++) {
		struct dp_pending_irq *p = &s->pending[i];
		struct dp_vq *rxq;
		bool call = false;

		/* Checked against the set only when it changed since: a look per port is dear. */
		if (!(set && p->set_gen == set->gen) && !port_in_set(set, p->port))
			continue;
		rxq = &p->port->vq[2 * p->q];
		spin_lock(&rxq->lock);
		if (!rxq->irq_pending || !__atomic_load_n(&rxq->ready, __ATOMIC_ACQUIRE)) {
			rxq->irq_pending = false;
		} else if (all || now_ns >= rxq->irq_deadline_ns) {
			if (vring_need_call_peek(&rxq->ring))
				call = irq_fire(rxq, now_ns);
			rxq->irq_pending = false;
		} else {
			s->pending[keep++] = *p;
		}
		spin_unlock(&rxq->lock);
		if (call)
			call_guest(dp, s, p->port, 2 * p->q, rxq->call_fd);
	}
	s->npending = keep;
}

/* Counts the outcome of rx_put_one(). Return: 0, or the ring error that breaks the port. */
static inline int rx_account(int r, uint32_t len, uint64_t *delivered, uint64_t *bytes,
			     uint64_t *drops)
{
	if (likely(r == 0)) {
		(*delivered)++;
		*bytes += len;
	} else if (r == -ENOBUFS) {
		drops[DP_DROP_NO_BUFFER]++;
	} else if (r == -EMSGSIZE) {
		drops[DP_DROP_TOO_BIG]++;
	} else {
		return r;
	}
	return 0;
}

/**
 * dp_offload_linearize() - copy a frame that asks for an offload into s->lin (the load
 * balancer's rewritten bytes replacing the sender's) and check its request again on that
 * copy: the sender's memory may have changed since classify() read it.
 * Context: a worker (or the control thread) with its own @s. Return: the frame's length, or
 * 0 when the copy no longer matches the request.
 */
uint32_t dp_offload_linearize(struct dp_scratch *s, const struct dp_pkt *p,
			      const struct vring_chain *c)
{
	const struct dp_offload *o = &p->vh;
	uint8_t vhdr[10];
	struct dp_offload again;
	uint32_t len = vring_chain_read(c, p->frame_off, s->lin, p->frame_len);

	if (len != p->frame_len)
		return 0;
	if (p->lb_dirty)
		memcpy(s->lin, p->head, MIN((uint32_t)p->lb_dirty, len));
	vhdr[0] = o->flags;
	vhdr[1] = o->gso_type;
	memcpy(vhdr + 2, &(uint16_t){ htole16(o->hdr_len) }, 2);
	memcpy(vhdr + 4, &(uint16_t){ htole16(o->gso_size) }, 2);
	memcpy(vhdr + 6, &(uint16_t){ htole16(o->csum_start) }, 2);
	memcpy(vhdr + 8, &(uint16_t){ htole16(o->csum_offset) }, 2);
	if (dp_offload_parse(vhdr, s->lin, MIN(len, DP_OFFLOAD_HEAD), len, DP_OFF_ALL, &again) ||
	    memcmp(&again, o, sizeof(again)))
		return 0;
	return len;
}

/* Puts the linear frame @buf (@len bytes, no offload) into @vr. */
static int rx_put_linear(struct dp_scratch *s, struct dp_port *dst, struct vring *vr,
			 const struct gmem_table *mem, struct dlog *dl, int *avail, uint8_t *buf,
			 uint32_t len)
{
	struct dp_pkt tmp = { .frame_off = 0, .frame_len = len };

	s->lin_chain.nsegs = 1;
	s->lin_chain.len = len;
	s->lin_chain.seg[0] = (struct vring_seg){ .hva = buf, .len = len };
	return rx_put_one(s, dst, vr, mem, dl, avail, &tmp, &s->lin_chain, NULL);
}

/*
 * A frame asking for a checksum or GSO: its header passed on when @dst negotiated what it
 * asks for, else the checksum completed or the frame cut into segments here, each segment
 * a frame of its own (virtio 1.2, 5.1.6.4: a device sets NEEDS_CSUM or gso_type only if the
 * driver negotiated GUEST_CSUM or GUEST_TSO4/6).
 * Context: @rxq->lock held. Return: 0, or the ring error that breaks the port.
 */
static int rx_put_offload(struct dp_scratch *s, struct dp_port *dst, struct dp_vq *rxq,
			  const struct gmem_table *mem, struct dlog *dl, int *avail,
			  const struct dp_pkt *p, const struct vring_chain *src,
			  uint64_t *delivered, uint64_t *bytes, uint64_t *drops)
{
	const unsigned int need = dp_offload_needs(&p->vh);
	struct vring *vr = &rxq->ring;
	uint32_t len, nseg;
	int r;

	if ((__atomic_load_n(&dst->offload_rx, __ATOMIC_RELAXED) & need) == need) {
		r = rx_put_one(s, dst, vr, mem, dl, avail, p, src, &p->vh);
		if (r == 0 && p->vh.gso_type)
			stat_add(&rxq->stats.gso, 1);
		return rx_account(r, p->frame_len, delivered, bytes, drops);
	}
	len = dp_offload_linearize(s, p, src);
	if (!len) {
		drops[DP_DROP_OFFLOAD]++;
		return 0;
	}
	if (!p->vh.gso_type) {
		(void)dp_csum_complete(s->lin, len, &p->vh);
		stat_add(&rxq->stats.sw_csum, 1);
		r = rx_put_linear(s, dst, vr, mem, dl, avail, s->lin, len);
		return rx_account(r, len, delivered, bytes, drops);
	}
	stat_add(&rxq->stats.sw_gso, 1);
	nseg = dp_gso_count(&p->vh, len);
	for (uint32_t i = 0; i < nseg; i++) {
		uint32_t n = dp_gso_segment(s->lin, len, &p->vh, i, s->seg);

		r = rx_account(rx_put_linear(s, dst, vr, mem, dl, avail, s->seg, n), n, delivered,
			       bytes, drops);
		if (r)
			return r;
	}
	return 0;
}

/* Delivers frames @idx[0..cnt) of the burst to RX ring @q of @dst. */
static void rx_put_batch(struct dp *dp, struct dp_scratch *s, struct dp_port *dst, unsigned int q,
			 const uint8_t *idx, unsigned int cnt)
{
	struct dp_vq *rxq = &dst->vq[2 * q];
	struct vring *vr = &rxq->ring;
	const struct gmem_table *mem;
	struct dlog *dl;
	uint64_t bytes = 0, delivered = 0, drops[DP_DROP__MAX] = { 0 };
	bool call = false;
	int avail;

	spin_lock(&rxq->lock);
	if (!__atomic_load_n(&rxq->ready, __ATOMIC_ACQUIRE)) {
		spin_unlock(&rxq->lock);
		__atomic_add_fetch(&dst->vq[0].stats.drops[DP_DROP_QUEUE_DOWN], cnt, __ATOMIC_RELAXED);
		return;
	}
	mem = rcu_dereference(dst->mem);
	dl = rcu_dereference(dst->dlog);
	avail = vring_avail_pending(vr);
	if (avail < 0) {
		spin_unlock(&rxq->lock);
		dp_port_break(dp, dst, 2 * q, "RX avail index ran ahead of the ring", -EINVAL);
		return;
	}
	vring_prefetch_bufs(vr, mem, MIN(cnt, (unsigned int)avail), dst->hdr_len);
	for (unsigned int i = 0; i < cnt; i++) {
		const struct dp_pkt *p = &s->pkts[idx[i]];
		int r;

		if (unlikely(p->vh.flags)) {
			r = rx_put_offload(s, dst, rxq, mem, dl, &avail, p, &s->tx[idx[i]], &delivered,
					   &bytes, drops);
		} else {
			r = rx_put_one(s, dst, vr, mem, dl, &avail, p, &s->tx[idx[i]], NULL);
			r = rx_account(r, p->frame_len, &delivered, &bytes, drops);
		}
		if (unlikely(r)) {
			spin_unlock(&rxq->lock);
			dp_port_break(dp, dst, 2 * q, "invalid RX descriptor chain", r);
			return;
		}
	}
	if (delivered) {
		vring_used_publish(vr);
		dp_log_used(dl, rxq);
		stat_add(&rxq->stats.packets, delivered);
		stat_add(&rxq->stats.bytes, bytes);
		stat_add(&rxq->stats.batches, 1);
		rxq->irq_frames += (uint32_t)delivered;
		call = irq_decide(dp, s, dst, rxq, q);
	}
	for (unsigned int d = 0; d < DP_DROP__MAX; d++)
		if (drops[d])
			stat_add(&rxq->stats.drops[d], drops[d]);
	spin_unlock(&rxq->lock);
	/* Still inside the read-side section: the control thread cannot close call_fd yet. */
	if (call)
		call_guest(dp, s, dst, 2 * q, rxq->call_fd);
}

static unsigned int nth_set_bit(uint32_t mask, unsigned int n)
{
	while (n--)
		mask &= mask - 1;
	return (unsigned int)__builtin_ctz(mask);
}

/* Delivers frames @idx[0..cnt) to guest @dst, spread over its ready RX queues by flow hash. */
static void vring_deliver(struct dp *dp, struct dp_scratch *s, struct dp_port *dst,
			  const uint8_t *idx, unsigned int cnt)
{
	uint32_t mask = __atomic_load_n(&dst->rx_ready_mask, __ATOMIC_ACQUIRE);
	uint32_t tick = __atomic_load_n(&dp->tick, __ATOMIC_RELAXED);
	unsigned int nq, start = 0;
	uint8_t q[DP_BURST], sorted[DP_BURST];

	if (!mask) {
		__atomic_add_fetch(&dst->vq[0].stats.drops[DP_DROP_QUEUE_DOWN], cnt, __ATOMIC_RELAXED);
		return;
	}
	nq = (unsigned int)__builtin_popcount(mask);
	if (nq == 1) {
		rx_put_batch(dp, s, dst, (unsigned int)__builtin_ctz(mask), idx, cnt);
		return;
	}
	for (unsigned int i = 0; i < cnt; i++) {
		uint32_t h = flow_hash(&s->pkts[idx[i]]);
		unsigned int b = h % STEER_BUCKETS;
		uint8_t want = __atomic_load_n(&dst->steer[b], __ATOMIC_RELAXED);

		/* A bucket whose queue just stopped falls back until the balancer moves it. */
		q[i] = (want < VU_MAX_QUEUE_PAIRS && (mask & (1u << want)))
			       ? want : (uint8_t)nth_set_bit(mask, h % nq);
		if (__atomic_load_n(&dst->steer_seen[b], __ATOMIC_RELAXED) != tick)
			__atomic_store_n(&dst->steer_seen[b], tick, __ATOMIC_RELAXED);
	}
	/* One batch per queue; frames of one flow share a queue, so their order is kept. */
	while (start < cnt) {
		unsigned int n = 0;
		uint8_t cur = q[start];

		for (unsigned int i = start; i < cnt; i++)
			if (q[i] == cur) {
				sorted[n++] = idx[i];
				q[i] = 0xff;
			}
		rx_put_batch(dp, s, dst, cur, sorted, n);
		while (start < cnt && q[start] == 0xff)
			start++;
	}
}

/* Delivers frames @idx[0..cnt) to @dst, whatever its kind, unless it is being reset. */
static void port_deliver(struct dp *dp, struct dp_scratch *s, struct dp_port *dst,
			 const uint8_t *idx, unsigned int cnt)
{
	if (__atomic_load_n(&dst->broken, __ATOMIC_RELAXED)) {
		__atomic_add_fetch(&dst->vq[0].stats.drops[DP_DROP_DEST_DOWN], cnt, __ATOMIC_RELAXED);
		return;
	}
	dst->ops->deliver(dp, s, dst, idx, cnt);
}

/* Reads the virtio-net header and the first bytes of the frame; picks the destination. */
/* The last destination looked up in this burst: most bursts carry one or few flows. */
struct dest_cache {
	uint64_t mac;
	struct dp_port *port;
	bool valid;
};

/* Queues an ARP reply the load balancer built, for the sender's port. */
static void queue_arp_reply(struct dp_scratch *s, const struct lb_verdict *v)
{
	if (s->narp == DP_BURST || v->reply_len > LB_REPLY_MAX)
		return;
	memset(s->arp[s->narp], 0, VIRTIO_NET_HDR_LEN_V1);
	memcpy(s->arp[s->narp] + VIRTIO_NET_HDR_LEN_V1, v->reply, v->reply_len);
	s->arp_len[s->narp++] = (uint8_t)v->reply_len;
}

/*
 * The service load balancer's verdict on one frame. Return: true when it decided the frame's
 * destination (or fate) itself, false when the frame is switched as usual.
 */
static bool lb_classify(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			struct dp_pkt *p, uint64_t now_s)
{
	struct lb_verdict *v = &s->lbv;
	struct dp_port *d;

	uint32_t csum_at = p->vh.flags ? (uint32_t)p->vh.csum_start + p->vh.csum_offset : 0;

	switch (lb_process_rcu(dp->lb, s->worker_id, p->head, p->head_len, p->frame_len, csum_at,
			       now_s, v)) {
	case LB_PASS:
		return false;
	case LB_TO_CLIENT:
		p->lb_dirty = (uint8_t)v->head_dirty;
		return false;
	case LB_TO_BACKEND:
		p->lb_dirty = (uint8_t)v->head_dirty;
		d = v->port ? v->port : fdb_lookup_rcu(dp->fdb, fdb_mac_from_bytes(p->head));
		p->dest = d ? d : DEST_FLOOD;
		if (d == src) {
			p->dest = DEST_NONE;
			p->drop = DP_DROP_HAIRPIN;
		}
		return true;
	case LB_ARP_REPLY:
		queue_arp_reply(s, v);
		p->dest = DEST_NONE;
		return true;
	case LB_DROP:
	default:
		if (unlikely(v->drop == LB_DROP_TABLE_FULL))
			__atomic_add_fetch(&src->flows_refused, 1, __ATOMIC_RELAXED);
		p->dest = DEST_NONE;
		p->drop = DP_DROP_LB;
		return true;
	}
}

/*
 * The sender's header asks for a checksum or GSO: check it against what the port negotiated
 * (dp_offload_parse()). Out of line: the common header (all zero) never comes here.
 * Return: true when the frame goes on, with p->vh set; false with p->drop set.
 */
static __attribute__((noinline)) bool offload_check(struct dp_port *src, struct dp_pkt *p,
						    const struct vring_chain *c)
{
	uint8_t vhdr[10], head[DP_OFFLOAD_HEAD];
	uint32_t n;

	if (vring_chain_read(c, 0, vhdr, sizeof(vhdr)) != sizeof(vhdr)) {
		p->drop = DP_DROP_MALFORMED;
		return false;
	}
	n = vring_chain_read(c, p->frame_off, head, MIN(p->frame_len, DP_OFFLOAD_HEAD));
	if (dp_offload_parse(vhdr, head, n, p->frame_len,
			     __atomic_load_n(&src->offload_tx, __ATOMIC_RELAXED), &p->vh)) {
		p->vh.flags = 0;
		p->drop = DP_DROP_OFFLOAD;
		return false;
	}
	return true;
}

static void classify(struct dp *dp, struct dp_scratch *s, struct dp_port *src, struct dp_pkt *p,
		     const struct vring_chain *c, uint64_t now_s, struct dest_cache *dc)
{
	uint8_t hdr[VIRTIO_NET_HDR_LEN_V1];
	uint64_t smac, dmac;
	uint32_t want;

	p->dest = DEST_NONE;
	p->lb_dirty = 0;
	if (c->len < src->hdr_len + 14) {
		p->drop = DP_DROP_MALFORMED;
		return;
	}
	p->frame_off = src->hdr_len;
	p->frame_len = c->len - src->hdr_len;
	want = MIN(p->frame_len, (uint32_t)sizeof(p->head));
	if (likely(c->seg[0].len >= src->hdr_len + want)) {
		/* Only the flags and gso_type bytes are checked; the rest of the header is unused. */
		memcpy(hdr, c->seg[0].hva, 2);
		/* A run-time length here becomes "rep movs", slow to start on short copies. */
		copy_frame_bytes(p->head, c->seg[0].hva + src->hdr_len, want);
		p->head_len = (uint8_t)want;
	} else {
		(void)vring_chain_read(c, 0, hdr, src->hdr_len);
		p->head_len = (uint8_t)vring_chain_read(c, src->hdr_len, p->head, sizeof(p->head));
	}
	p->vh.flags = 0;
	if (unlikely(hdr[0] | hdr[1])) {
		if (!offload_check(src, p, c))
			return;
	} else if (unlikely(p->frame_len > src->max_frame)) {
		p->drop = DP_DROP_MALFORMED;
		return;
	}
	dmac = fdb_mac_from_bytes(p->head);
	smac = fdb_mac_from_bytes(p->head + 6);
	/*
	 * The cache is per port, and the TX rings of a multi-queue port are drained by several
	 * workers at once: relaxed atomics (a stale pair only costs one more fdb_learn_rcu()).
	 */
	if (!(p->head[6] & 1) &&
	    (smac != __atomic_load_n(&src->learn_mac_cache, __ATOMIC_RELAXED) ||
	     now_s != __atomic_load_n(&src->learn_time_cache, __ATOMIC_RELAXED))) {
		/* Full: counted against the port that tried, so the log can name it. */
		if (unlikely(!fdb_learn_rcu(dp->fdb, smac, src, now_s)))
			__atomic_add_fetch(&src->fdb_refused, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&src->learn_mac_cache, smac, __ATOMIC_RELAXED);
		__atomic_store_n(&src->learn_time_cache, now_s, __ATOMIC_RELAXED);
	}
	p->drop = DP_DROP__MAX;
	if (__atomic_load_n(&dp->lb_active, __ATOMIC_RELAXED) && lb_classify(dp, s, src, p, now_s))
		return;
	if (p->head[0] & 1) {
		p->dest = DEST_FLOOD;
	} else {
		struct dp_port *d;

		if (dc->valid && dc->mac == dmac) {
			d = dc->port;
		} else {
			d = fdb_lookup_rcu(dp->fdb, dmac);
			*dc = (struct dest_cache){ .mac = dmac, .port = d, .valid = true };
		}
		p->dest = d ? d : DEST_FLOOD;
		if (d == src) {
			/* Hairpin: the destination is behind the sender, which already has it. */
			p->dest = DEST_NONE;
			p->drop = DP_DROP_HAIRPIN;
		}
	}
}

static void forward_burst(struct dp *dp, struct dp_scratch *s, struct dp_port *src, unsigned int n)
{
	unsigned int i = 0;

	while (i < n) {
		struct dp_port *dest = s->pkts[i].dest;
		uint8_t idx[DP_BURST];
		unsigned int cnt = 0, j = i;

		/* A run of consecutive frames to the same destination is one batch. */
		while (j < n && s->pkts[j].dest == dest)
			idx[cnt++] = (uint8_t)j++;
		if (dest == DEST_FLOOD) {
			struct dp_port_set *set = rcu_dereference(dp->ports);

			for (unsigned int k = 0; set && k < set->n; k++)
				if (set->ports[k] != src)
					port_deliver(dp, s, set->ports[k], idx, cnt);
		} else if (dest != DEST_NONE) {
			port_deliver(dp, s, dest, idx, cnt);
		}
		i = j;
	}
}

/* ARP replies for VIPs go back to the port that asked, from the extra scratch slot. */
static void send_arp_replies(struct dp *dp, struct dp_scratch *s, struct dp_port *src)
{
	const uint8_t slot = DP_BURST;
	struct dp_pkt *p = &s->pkts[slot];

	for (unsigned int i = 0; i < s->narp; i++) {
		uint32_t len = s->arp_len[i];

		s->tx[slot].nsegs = 1;
		s->tx[slot].len = VIRTIO_NET_HDR_LEN_V1 + len;
		s->tx[slot].seg[0] = (struct vring_seg){ .hva = s->arp[i], .len = s->tx[slot].len };
		p->frame_off = VIRTIO_NET_HDR_LEN_V1;
		p->frame_len = len;
		p->lb_dirty = 0;
		p->vh.flags = 0;
		p->head_len = (uint8_t)MIN(len, sizeof(p->head));
		memcpy(p->head, s->arp[i] + VIRTIO_NET_HDR_LEN_V1, p->head_len);
		port_deliver(dp, s, src, &slot, 1);
	}
	s->narp = 0;
}

/* A started but disabled TX ring: take its chains and give them back unsent (vhost-user spec). */
static unsigned int discard_tx(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			       struct dp_vq *txq, unsigned int vq_index, unsigned int n)
{
	const struct gmem_table *mem = rcu_dereference(src->mem);
	struct vring *vr = &txq->ring;

	for (unsigned int i = 0; i < n; i++) {
		int r = vring_pop(vr, mem, false, &s->tx[0]);

		if (r && r != -EMSGSIZE) {
			dp_port_break(dp, src, vq_index, "invalid TX descriptor chain", r);
			return i;
		}
		vring_used_put(vr, s->tx[0].head, 0);
	}
	vring_used_publish(vr);
	dp_log_used(rcu_dereference(src->dlog), txq);
	stat_add(&txq->stats.drops[DP_DROP_DISABLED], n);
	if (vring_need_call(vr) && txq->call_fd >= 0) {
		stat_add(&txq->stats.calls, 1);
		call_guest(dp, s, src, vq_index, txq->call_fd);
	}
	return n;
}

/**
 * dp_switch_burst() - switch frames s->tx[0..n) that came in through input queue @in of @src.
 * The caller marks each frame: s->pkts[i].drop = DP_DROP__MAX to have it classified and
 * forwarded, or a drop reason (and dest NULL) when it was refused before (runt, bad header).
 * Counts what came in on @in: frames refused before switching are drops, not packets.
 * Context: the worker that owns @in, RCU read side.
 */
void dp_switch_burst(struct dp *dp, struct dp_scratch *s, struct dp_port *src, struct dp_vq *in,
		     unsigned int n, uint64_t now_s)
{
	struct dest_cache dc = { .valid = false };
	uint64_t bytes = 0, packets = 0, gso = 0, drops[DP_DROP__MAX] = { 0 };

	s->narp = 0;
	for (unsigned int i = 0; i < n; i++)
		if (s->pkts[i].drop == DP_DROP__MAX)
			classify(dp, s, src, &s->pkts[i], &s->tx[i], now_s, &dc);
	forward_burst(dp, s, src, n);
	if (unlikely(s->narp))
		send_arp_replies(dp, s, src);
	for (unsigned int i = 0; i < n; i++) {
		uint8_t d = s->pkts[i].drop;

		if (d == DP_DROP_MALFORMED || d == DP_DROP_OFFLOAD) {
			drops[d]++;
			continue;
		}
		packets++;
		bytes += s->pkts[i].frame_len;
		/* vh is only meaningful with flags set: classify() clears nothing else. */
		if (unlikely(s->pkts[i].vh.flags))
			gso += s->pkts[i].vh.gso_type != 0;
		if (unlikely(d == DP_DROP_HAIRPIN || d == DP_DROP_LB))
			drops[d]++;
	}
	stat_add(&in->stats.packets, packets);
	stat_add(&in->stats.bytes, bytes);
	stat_add(&in->stats.batches, 1);
	if (unlikely(gso))
		stat_add(&in->stats.gso, gso);
	for (unsigned int d = 0; d < DP_DROP__MAX; d++)
		if (unlikely(drops[d]))
			stat_add(&in->stats.drops[d], drops[d]);
}

/**
 * dp_drain_tx() - forward up to one burst from a guest's TX ring: DP_BURST chains or
 * DP_BURST_BYTES bytes, whichever comes first, so no guest can hold a worker for long.
 * Context: the worker that owns @txq, RCU read side. Return: frames taken from the ring.
 */
unsigned int dp_drain_tx(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			 struct dp_vq *txq, unsigned int vq_index, uint64_t now_s)
{
	const struct gmem_table *mem = rcu_dereference(src->mem);
	struct vring *vr = &txq->ring;
	int avail = vring_avail_pending(vr);
	unsigned int n, taken = 0;
	uint64_t budget = 0;

	if (avail <= 0) {
		if (avail < 0)
			dp_port_break(dp, src, vq_index, "TX avail index ran ahead of the ring", avail);
		return 0;
	}
	n = MIN((unsigned int)avail, DP_BURST);
	if (unlikely(txq->discard))
		return discard_tx(dp, s, src, txq, vq_index, n);
	/*
	 * Map the whole burst, bounded in chains (n) and in bytes (DP_BURST_BYTES), and prefetch
	 * each frame's start before classifying any: the header reads of later frames then
	 * overlap instead of stalling one after the other.
	 */
	while (taken < n && budget < DP_BURST_BYTES) {
		struct dp_pkt *p = &s->pkts[taken];
		int r = vring_pop(vr, mem, false, &s->tx[taken]);

		p->drop = DP_DROP__MAX;
		if (unlikely(r)) {
			if (r != -EMSGSIZE) {
				dp_port_break(dp, src, vq_index, "invalid TX descriptor chain", r);
				return taken;
			}
			p->dest = DEST_NONE;
			p->drop = DP_DROP_MALFORMED;
		} else if (likely(s->tx[taken].nsegs)) {
			const struct vring_seg *first = &s->tx[taken].seg[0];

			__builtin_prefetch(first->hva);
			if (first->len > 64)
				__builtin_prefetch(first->hva + 64);
		}
		budget += s->tx[taken].len;
		taken++;
	}
	n = taken;
	dp_switch_burst(dp, s, src, txq, n, now_s);
	for (unsigned int i = 0; i < n; i++)
		vring_used_put(vr, s->tx[i].head, 0);
	vring_used_publish(vr);
	dp_log_used(rcu_dereference(src->dlog), txq);
	if (vring_need_call(vr)) {
		stat_add(&txq->stats.calls, 1);
		call_guest(dp, s, src, vq_index, txq->call_fd);
	}
	return n;
}

/* Before the worker sleeps: ask the guest to kick. Return: buffers arrived meanwhile. */
static bool vring_arm(struct dp_port *port, struct dp_vq *vq)
{
	bool pending = vring_notify_enable(&vq->ring);

	dp_log_used(rcu_dereference(port->dlog), vq);
	return pending;
}

static void vring_disarm(struct dp_port *port, struct dp_vq *vq)
{
	vring_notify_disable(&vq->ring);
	dp_log_used(rcu_dereference(port->dlog), vq);
}

/* Vhost-user ports: frames move through the guest's split virtqueues. */
/* A TX ring has frames when the guest's avail index is ahead of ours: one load, no call. */
static bool vring_has_input(const struct dp_port *port, const struct dp_vq *vq)
{
	(void)port;
	return __atomic_load_n(&vq->ring.avail->idx, __ATOMIC_ACQUIRE) != vq->ring.last_avail_idx;
}

const struct dp_port_ops dp_vring_ops = {
	.kind = "vhost-user",
	.drain = dp_drain_tx,
	.has_input = vring_has_input,
	.deliver = vring_deliver,
	.arm = vring_arm,
	.disarm = vring_disarm,
};

/**
 * dp_inject() - send a frame the switch made itself (e.g. a RARP announce) as if @from sent it.
 * Context: control thread, RCU read side.
 */
int dp_inject(struct dp *dp, struct dp_port *from, const uint8_t *frame, uint32_t len)
{
	struct dp_scratch *s = dp->ctl_scratch;
	static uint8_t buf[VIRTIO_NET_HDR_LEN_V1 + 1518];
	struct dp_pkt *p = &s->pkts[0];

	if (len > sizeof(buf) - VIRTIO_NET_HDR_LEN_V1 || len < 14)
		return -EINVAL;
	memset(buf, 0, VIRTIO_NET_HDR_LEN_V1);
	memcpy(buf + VIRTIO_NET_HDR_LEN_V1, frame, len);
	s->tx[0].nsegs = 1;
	s->tx[0].len = VIRTIO_NET_HDR_LEN_V1 + len;
	s->tx[0].seg[0] = (struct vring_seg){ .hva = buf, .len = s->tx[0].len };
	p->frame_off = VIRTIO_NET_HDR_LEN_V1;
	p->frame_len = len;
	p->lb_dirty = 0;
	p->vh.flags = 0;
	p->head_len = (uint8_t)MIN(len, sizeof(p->head));
	memcpy(p->head, frame, p->head_len);
	p->dest = DEST_FLOOD;
	p->drop = DP_DROP__MAX;
	forward_burst(dp, s, from, 1);
	return 0;
}
