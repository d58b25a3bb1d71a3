// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The uplink's TAP device: opening its queues (control thread) and moving frames through
 * them (workers). See uplink/tap.h for what is negotiated with the kernel.
 *
 * Datapath: each TAP queue is an input queue of the port (vq 2q+1, its fd in kick_fd), so
 * it sits in one worker's poll list and epoll set like a guest's TX ring and is moved by the
 * balancer the same way. A drain reads up to one burst (DP_BURST frames, each at most
 * TAP_SLOT bytes) into the queue's own buffers, checks each header, and hands the burst to
 * the switch; the frames are then copied once more, into the receivers' RX buffers. Output
 * is one writev() per frame straight from the sender's buffers (the guest's TX chain), on the
 * queue of the worker's index: one flow comes from one guest ring, drained by one worker at
 * a time, so its frames stay in order.
 *
 * The kernel is trusted more than a guest, but every length and header field is still
 * checked: a frame shorter than a header and an Ethernet header, a read truncated by our
 * buffer, header flags we did not ask for.
 */
#include "uplink/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "core/log.h"
#include "dp/dp_internal.h"
#include "dp/offload.h"

/* One read slot: header and the largest frame a TAP can carry (MTU 65535, a VLAN tag). */
#define TAP_SLOT (VIRTIO_NET_HDR_LEN_V1 + 65536u + 64u)
#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)


#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

static inline void stat_add_atomic(uint64_t *c, uint64_t n)
{
	if (n)
		__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/*
 * Checks the header and length of one frame read from the TAP, @len as read() returned it
 * (the kernel returns the whole frame's length even when it had to truncate it).
 * Return: DP_DROP__MAX when the frame may be switched, else the drop reason.
 */
static uint8_t tap_check(uint8_t *slot, size_t len)
{
	if (len < VIRTIO_NET_HDR_LEN_V1 + 14 || len > TAP_SLOT)
		return DP_DROP_MALFORMED;
	if (slot[0] & ~(VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID))
		return DP_DROP_MALFORMED;
	/*
	 * DATA_VALID only says the kernel checked the sum. Receivers get a header of their own,
	 * and guests without VIRTIO_NET_F_GUEST_CSUM check sums themselves: clear it, so the
	 * switch sees the header every port kind shows it. NEEDS_CSUM and GSO (asked for with
	 * TUNSETOFFLOAD) are checked by the switch like a guest's (dp_offload_parse()).
	 */
	slot[0] &= (uint8_t)~VNET_HDR_F_DATA_VALID;
	return DP_DROP__MAX;
}

/* Context: the worker that owns input queue @idx, RCU read side. Return: frames read. */
static unsigned int tap_drain(struct dp *dp, struct dp_scratch *s, struct dp_port *src,
			      struct dp_vq *in, unsigned int idx, uint64_t now_s)
{
	const struct tap *t = src->priv;
	unsigned int q = idx / 2, n;
	uint8_t *buf = t->buf[q];
	int fd = t->fd[q];

	for (n = 0; n < DP_BURST; n++) {
		uint8_t *slot = buf + (size_t)n * TAP_SLOT;
		ssize_t r = read(fd, slot, TAP_SLOT);
		struct dp_pkt *p = &s->pkts[n];

		if (r < 0) {
			/* EBADFD: the device was deleted under us. Nothing more will come. */
			if (errno != EAGAIN && errno != EINTR)
				dp_port_break(dp, src, idx, "TAP read failed", -errno);
			break;
		}
		p->dest = NULL;
		p->drop = tap_check(slot, (size_t)r);
		s->tx[n].nsegs = 1;
		s->tx[n].len = (uint32_t)MIN((size_t)r, TAP_SLOT);
		s->tx[n].seg[0] = (struct vring_seg){ .hva = slot, .len = s->tx[n].len };
	}
	if (n)
		dp_switch_burst(dp, s, src, in, n, now_s);
	return n;
}

/* The iovec of one frame: our header, the load balancer's rewritten bytes, the rest. */
static int frame_iov(struct iovec *iov, const void *hdr, const struct dp_pkt *p,
		     const struct vring_chain *c)
{
	uint32_t skip = p->frame_off, left = p->frame_len;
	int n = 0;

	iov[n++] = (struct iovec){ .iov_base = (void *)hdr, .iov_len = VIRTIO_NET_HDR_LEN_V1 };
	if (p->lb_dirty) {
		uint32_t k = MIN((uint32_t)p->lb_dirty, left);

		iov[n++] = (struct iovec){ .iov_base = (void *)p->head, .iov_len = k };
		skip += k;
		left -= k;
	}
	for (unsigned int i = 0; i < c->nsegs && left; i++) {
		uint32_t take;

		if (skip >= c->seg[i].len) {
			skip -= c->seg[i].len;
			continue;
		}
		take = MIN(c->seg[i].len - skip, left);
		iov[n++] = (struct iovec){ .iov_base = c->seg[i].hva + skip, .iov_len = take };
		skip = 0;
		left -= take;
	}
	return n;
}

/* Where a refused write is counted. */
static uint8_t write_drop(int err)
{
	switch (err) {
	case EAGAIN:
	case ENOBUFS:
	case ENOMEM:
		return DP_DROP_NO_BUFFER;
	case EIO:        /* the interface is down */
		return DP_DROP_QUEUE_DOWN;
	case EBADFD:     /* the interface was deleted */
		return DP_DROP_DEST_DOWN;
	default:
		return DP_DROP_MALFORMED;
	}
}

/* Writes one linear frame with an all-zero header. Return: true when the kernel took it. */
static bool tap_write_linear(struct dp *dp, struct dp_port *dst, int fd, unsigned int q,
			     uint8_t *frame, uint32_t len, uint64_t *sent, uint64_t *bytes,
			     uint64_t *drops)
{
	static const struct virtio_net_hdr_v1 no_offload;
	struct iovec iov[2] = {
		{ .iov_base = (void *)&no_offload, .iov_len = VIRTIO_NET_HDR_LEN_V1 },
		{ .iov_base = frame, .iov_len = len },
	};
	ssize_t r = writev(fd, iov, 2);

	if (r == (ssize_t)(VIRTIO_NET_HDR_LEN_V1 + len)) {
		(*sent)++;
		*bytes += len;
		return true;
	}
	drops[write_drop(r < 0 ? errno : EINVAL)]++;
	if (r < 0 && errno == EBADFD)
		dp_port_break(dp, dst, 2 * q, "TAP write failed", -EBADFD);
	return false;
}

/*
 * A frame asking for a checksum or GSO, to a TAP that was not given that offload (offloads
 * off, or an adopted fd): checksum completed or segments cut here, as for a guest
 * (forward.c rx_put_offload()).
 */
static void tap_deliver_sw(struct dp *dp, struct dp_scratch *s, struct dp_port *dst, int fd,
			   unsigned int q, const struct dp_pkt *p, const struct vring_chain *c,
			   uint64_t *sent, uint64_t *bytes, uint64_t *drops)
{
	struct dp_vq *out = &dst->vq[2 * q];
	uint32_t len = dp_offload_linearize(s, p, c);

	if (!len) {
		drops[DP_DROP_OFFLOAD]++;
		return;
	}
	if (!p->vh.gso_type) {
		(void)dp_csum_complete(s->lin, len, &p->vh);
		stat_add_atomic(&out->stats.sw_csum, 1);
		(void)tap_write_linear(dp, dst, fd, q, s->lin, len, sent, bytes, drops);
		return;
	}
	stat_add_atomic(&out->stats.sw_gso, 1);
	for (uint32_t i = 0, n = dp_gso_count(&p->vh, len); i < n; i++)
		if (!tap_write_linear(dp, dst, fd, q, s->seg,
				      dp_gso_segment(s->lin, len, &p->vh, i, s->seg), sent, bytes,
				      drops))
			return;
}

/* Context: any worker, RCU read side (the port is in the published set). */
static void tap_deliver(struct dp *dp, struct dp_scratch *s, struct dp_port *dst,
			const uint8_t *idx, unsigned int cnt)
{
	static const struct virtio_net_hdr_v1 no_offload;
	const struct tap *t = dst->priv;
	unsigned int q = s->worker_id % t->nqueues;
	struct dp_vq *out = &dst->vq[2 * q];
	uint64_t sent = 0, bytes = 0, gso = 0, drops[DP_DROP__MAX] = { 0 };
	struct iovec iov[VRING_MAX_SEGS + 2];

	for (unsigned int i = 0; i < cnt; i++) {
		const struct dp_pkt *p = &s->pkts[idx[i]];
		struct virtio_net_hdr_v1 vh;
		const struct virtio_net_hdr_v1 *h = &no_offload;
		int niov;
		ssize_t r;

		if (unlikely(p->vh.flags)) {
			unsigned int need = dp_offload_needs(&p->vh);

			if ((dst->offload_rx & need) != need) {
				tap_deliver_sw(dp, s, dst, t->fd[q], q, p, &s->tx[idx[i]], &sent,
					       &bytes, drops);
				continue;
			}
			/* The kernel takes the request as a guest would (virtio_net_hdr_to_skb()). */
			vh = (struct virtio_net_hdr_v1){
				.flags = p->vh.flags,
				.gso_type = p->vh.gso_type,
				.hdr_len = htole16(p->vh.hdr_len),
				.gso_size = htole16(p->vh.gso_size),
				.csum_start = htole16(p->vh.csum_start),
				.csum_offset = htole16(p->vh.csum_offset),
			};
			h = &vh;
			gso += p->vh.gso_type != 0;
		}
		niov = frame_iov(iov, h, p, &s->tx[idx[i]]);
		r = writev(t->fd[q], iov, niov);

		if (likely(r == (ssize_t)(VIRTIO_NET_HDR_LEN_V1 + p->frame_len))) {
			sent++;
			bytes += p->frame_len;
			continue;
		}
		drops[write_drop(r < 0 ? errno : EINVAL)]++;
		if (r < 0 && errno == EBADFD)
			dp_port_break(dp, dst, 2 * q, "TAP write failed", -EBADFD);
	}
	/* Several workers may write to one queue: its counters are shared. */
	stat_add_atomic(&out->stats.packets, sent);
	stat_add_atomic(&out->stats.bytes, bytes);
	stat_add_atomic(&out->stats.batches, 1);
	stat_add_atomic(&out->stats.gso, gso);
	for (unsigned int d = 0; d < DP_DROP__MAX; d++)
		stat_add_atomic(&out->stats.drops[d], drops[d]);
}

/* The TAP's fds sit in the owners' epoll sets by themselves: nothing to arm. */
const struct dp_port_ops tap_ops = {
	.kind = "tap",
	.drain = tap_drain,
	.deliver = tap_deliver,
};

/* Interface names the kernel accepts and a shell does not mangle; no "%d" templates. */
bool tap_ifname_valid(const char *n)
{
	size_t len = strlen(n);

	if (!len || len >= IFNAMSIZ || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
		      *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

static int tap_alloc(const char *ifname, unsigned int nqueues, struct tap **ret)
{
	struct tap *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->nqueues = nqueues;
	for (unsigned int q = 0; q < VU_MAX_QUEUE_PAIRS; q++)
		t->fd[q] = -1;
	for (unsigned int q = 0; q < nqueues; q++) {
		/* Mapped, not touched: a queue carrying 1500-byte frames uses a page per slot. */
		t->buf[q] = malloc((size_t)DP_BURST * TAP_SLOT);
		if (!t->buf[q]) {
			tap_free(t);
			return -ENOMEM;
		}
	}
	*ret = t;
	return 0;
}

void tap_free(struct tap *t)
{
	if (!t)
		return;
	for (unsigned int q = 0; q < VU_MAX_QUEUE_PAIRS; q++) {
		close_fd(&t->fd[q]);
		free(t->buf[q]);
	}
	free(t);
}

/*
 * A device of that name that exists already is ours to attach to only if it is a persistent
 * TAP (made by `ip tuntap add ... multi_queue vnet_hdr`); a non-persistent one belongs to
 * the process that holds it, maybe another daemon, whose traffic we would steal.
 */
static int check_existing(const char *ifname, char *why, size_t why_len)
{
	char path[64], text[32] = "";
	unsigned long flags;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s", ifname);
	if (access(path, F_OK) < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	f = fopen(path, "re");
	if (!f || !fgets(text, sizeof(text), f)) {
		if (f)
			fclose(f);
		WHY("interface %s exists and is not a TAP device", ifname);
		return -EEXIST;
	}
	fclose(f);
	flags = strtoul(text, NULL, 16);
	if (!(flags & IFF_TAP) || !(flags & IFF_MULTI_QUEUE)) {
		WHY("interface %s exists and is not a multi-queue TAP device", ifname);
		return -EEXIST;
	}
	if (!(flags & IFF_PERSIST)) {
		WHY("TAP %s exists and is held by another process", ifname);
		return -EBUSY;
	}
	return 0;
}

/*
 * TUNSETOFFLOAD: what the kernel may hand us unfinished (checksum, TSO). It takes any header
 * we write whatever this says. A kernel that refuses TSO gets checksum only, then nothing.
 * Return: 0 with t->offloads set, or -errno when even "none" is refused.
 */
static int tap_set_offloads(struct tap *t, bool offloads)
{
	static const struct { unsigned long tun; unsigned int dp; } tries[] = {
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, DP_OFF_ALL },
		{ TUN_F_CSUM, DP_OFF_CSUM },
	};

	for (unsigned int i = 0; offloads && i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(t->fd[0], TUNSETOFFLOAD, tries[i].tun) == 0) {
			t->offloads = tries[i].dp;
			return 0;
		}
	t->offloads = 0;
	return ioctl(t->fd[0], TUNSETOFFLOAD, 0ul) < 0 ? -errno : 0;
}

/**
 * tap_open() - create (or attach to a persistent) TAP device @ifname with @nqueues queues.
 * Each frame carries a 12-byte virtio-net header; with @offloads the kernel may hand us
 * frames with NEEDS_CSUM and TCP GSO (TUNSETOFFLOAD CSUM|TSO4|TSO6), else none.
 * Context: control thread. Return: 0, or -errno with the reason in @why.
 */
int tap_open(const char *ifname, unsigned int nqueues, bool offloads, struct tap **ret, char *why,
	     size_t why_len)
{
	struct tap *t;
	int r;

	*why = '\0';
	if (!tap_ifname_valid(ifname)) {
		WHY("TAP name must be 1..%d of [A-Za-z0-9._-]", IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (nqueues < 1 || nqueues > VU_MAX_QUEUE_PAIRS) {
		WHY("TAP queues must be 1..%d", VU_MAX_QUEUE_PAIRS);
		return -EINVAL;
	}
	r = check_existing(ifname, why, why_len);
	if (r)
		return r;
	r = tap_alloc(ifname, nqueues, &t);
	if (r)
		return r;
	for (unsigned int q = 0; q < nqueues; q++) {
		struct ifreq ifr = { .ifr_flags = TAP_FLAGS };
		int hdr = VIRTIO_NET_HDR_LEN_V1;

		t->fd[q] = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (t->fd[q] < 0) {
			r = -errno;
			WHY("/dev/net/tun: %s", strerror(errno));
			goto fail;
		}
		strcpy(ifr.ifr_name, ifname);
		/* Each TUNSETIFF on the same name attaches one more queue (IFF_MULTI_QUEUE). */
		if (ioctl(t->fd[q], TUNSETIFF, &ifr) < 0) {
			r = -errno;
			WHY("TAP %s queue %u: TUNSETIFF: %s", ifname, q, strerror(errno));
			goto fail;
		}
		/* Both are per device; set through the first queue. */
		if (q == 0 && ioctl(t->fd[q], TUNSETVNETHDRSZ, &hdr) < 0) {
			r = -errno;
			WHY("TAP %s: setting the virtio-net header: %s", ifname, strerror(errno));
			goto fail;
		}
		if (q == 0) {
			r = tap_set_offloads(t, offloads);
			if (r) {
				WHY("TAP %s: TUNSETOFFLOAD: %s", ifname, strerror(-r));
				goto fail;
			}
		}
	}
	log_info("TAP %s: %u queues, virtio-net header 12 bytes, offloads%s%s%s", ifname, nqueues,
		 t->offloads & DP_OFF_CSUM ? " csum" : "", t->offloads & DP_OFF_TSO4 ? " tso4" : "",
		 t->offloads & DP_OFF_TSO6 ? " tso6" : (t->offloads ? "" : " none"));
	*ret = t;
	return 0;
fail:
	tap_free(t);
	return r;
}

/**
 * tap_adopt() - a TAP whose queues are already open (a hand-over, a test's socketpair).
 * Takes ownership of @fds on success; they are made non-blocking. Offloads as tap_open().
 * Context: control thread. Return: 0 or -errno.
 */
int tap_adopt(const char *ifname, const int *fds, unsigned int nfds, bool offloads,
	      struct tap **ret)
{
	struct tap *t;
	int r;

	if (!tap_ifname_valid(ifname) || nfds < 1 || nfds > VU_MAX_QUEUE_PAIRS)
		return -EINVAL;
	for (unsigned int q = 0; q < nfds; q++) {
		int fl = fcntl(fds[q], F_GETFL);

		if (fl < 0 || fcntl(fds[q], F_SETFL, fl | O_NONBLOCK) < 0)
			return -errno;
	}
	r = tap_alloc(ifname, nfds, &t);
	if (r)
		return r;
	memcpy(t->fd, fds, nfds * sizeof(fds[0]));
	/* A TAP handed over: set again. Not a TAP (a test's socketpair): no offloads. */
	if (tap_set_offloads(t, offloads))
		t->offloads = 0;
	*ret = t;
	return 0;
}

/**
 * tap_port_bind() - make @port an uplink port over @t.
 * Context: control thread, before dp_port_attach(). The port does not own @t: free it with
 * tap_free() after dp_port_detach().
 */
void tap_port_bind(struct dp_port *port, struct tap *t)
{
	port->ops = &tap_ops;
	port->priv = t;
	port->hdr_len = VIRTIO_NET_HDR_LEN_V1;
	port->mrg_rxbuf = false;
	/* What the kernel sends unfinished is what we asked for; it takes the same back. */
	port->offload_tx = (uint8_t)t->offloads;
	port->offload_rx = (uint8_t)t->offloads;
	for (unsigned int q = 0; q < t->nqueues; q++) {
		port->vq[2 * q + 1].kick_fd = t->fd[q];
		/* Listed in stats and metrics like a guest's configured rings. */
		port->vq[2 * q].num_set = port->vq[2 * q + 1].num_set = true;
	}
}

/* Context: control thread, after dp_port_attach(): the workers start reading the queues. */
void tap_port_start(struct dp *dp, struct dp_port *port)
{
	const struct tap *t = port->priv;

	for (unsigned int q = 0; q < t->nqueues; q++) {
		/* Output needs no start (any worker writes to the fd); shown as on in stats. */
		__atomic_store_n(&port->vq[2 * q].ready, true, __ATOMIC_RELEASE);
		port->vq[2 * q + 1].enabled = true;
		dp_vq_set_ready(dp, port, 2 * q + 1);
	}
}

/* Context: control thread. After it returns no worker reads the TAP any more. */
void tap_port_stop(struct dp *dp, struct dp_port *port)
{
	const struct tap *t = port->priv;

	for (unsigned int q = 0; q < t->nqueues; q++) {
		dp_vq_quiesce(dp, port, 2 * q + 1);
		__atomic_store_n(&port->vq[2 * q].ready, false, __ATOMIC_RELEASE);
	}
}
