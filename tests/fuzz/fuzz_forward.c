// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the switch's forwarding path (dp/forward.c) through its public entry
 * dp_drain_tx(): frame classification (virtio-net header checks, MAC learning, fdb lookup,
 * flood), the flow hash and steering that pick an RX queue, and the copy into the receivers'
 * RX buffers (one chain, or several with MRG_RXBUF), all over fake guest memory.
 *
 * Three ports, each a guest with 64 KiB of memory (one region, gpa 0): "src" sends on TX ring 1;
 * "d1" (MAC 02:00:00:00:00:01) and "d2" (…:02) receive on up to 4 RX queues. Rings of 64 sit at
 * 0x800 * k (desc +0, avail +0x400, used +0x600); src's data starts at 0x1000, d1/d2's at
 * 0x4000.
 *
 * Input (little-endian):
 *   u8 cfg        bit 0: src without VERSION_1 (10-byte header), bits 1/2: d1/d2 MRG_RXBUF,
 *                 bit 3: EVENT_IDX, bit 4: INDIRECT_DESC, bits 5/6: d1/d2 10-byte header,
 *                 bit 7: interrupt coalescing (worker scratch) instead of immediate calls
 *   u8 maxf       src max frame: 0 = 65523, else 60 + 64 * maxf
 *   u8 m1, m2     ready RX queues of d1, d2 (bits 0-3)
 *   u8 nsteer     then nsteer x (u8 bucket, u8 queue): steering entries of d1 and d2 over
 *                 the even spread the balancer starts from
 *   u8 nframes    then per frame: u8 nsplit (descriptors: 1 + n % 4), u16 len (<= 2048),
 *                 len bytes (virtio-net header + Ethernet frame)
 *   per d1, d2:   u8 nbufs (per ready queue), u8 nsplit, u16 bufsize (16..4096)
 *   then raw guest memory writes until the end: u8 guest (0-2), u16 offset, u8 len, bytes
 * The sender may ask for checksum/TSO offloads; d1 takes them whole, d2 gets them done here.
 * Oracles: sanitizers; every frame taken is counted as forwarded, malformed or offload; every chain
 * taken from a ring is returned to it unless the port was declared broken; no fd leaks.
 */
#include <sys/eventfd.h>

#include "core/util.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"
#include "core/log.h"
#include "fuzz.h"
#include "guestpool.h"

#define GSIZE 65536
#define NUM 64
#define QVA_BASE 0x7f0000000000ull
#define RING_OFF(k) (0x800u * (k))

struct guest {
	struct guest_file file;
	struct gmem_table *mem;
	struct dp_port *port;
	uint16_t ndesc[4];      /* descriptors handed out per ring */
	uint32_t cursor;        /* next free data byte */
};

static struct dp *dp;
static struct dp_scratch *scratch;
static struct guest g[3];
static int call_fd;

static const uint64_t d_mac[3] = { 0, 0x020000000001ull, 0x020000000002ull };

static void init_once(void)
{
	static const char *const names[3] = { "src", "d1", "d2" };

	log_max_level = LOG_LVL_ERROR;
	rcu_register_thread();
	if (dp_new(&dp))
		abort();
	scratch = calloc(1, sizeof(*scratch));
	call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!scratch || call_fd < 0)
		abort();
	for (unsigned int k = 0; k < 3; k++) {
		struct vu_mem_region d = { 0, GSIZE, QVA_BASE + k * 0x100000ull, 0 };
		struct gmem_region r;
		char why[160];
		int fd;

		guest_file_make(&g[k].file, GSIZE);
		fd = dup(g[k].file.fd);
		if (fd < 0 || gmem_table_new(&g[k].mem) || gmem_region_map(&d, fd, &r, why, sizeof(why)) ||
		    gmem_table_add(g[k].mem, &r, why, sizeof(why)) || dp_port_new(names[k], &g[k].port))
			abort();
		g[k].port->mem = g[k].mem;
		(void)dp_port_attach(dp, g[k].port);
	}
	/*
	 * Only the receivers' two MACs fit in the fdb: what the sender teaches it must not outlive
	 * the input (replays would depend on history), and forgetting entries costs a call_rcu
	 * plus an rcu_barrier() of ~10 ms each time. The sender may still move those two MACs to
	 * itself (a MAC move, then a hairpin); each input moves them back first.
	 */
	fdb_learn_rcu(dp->fdb, d_mac[1], g[1].port, 1);
	fdb_learn_rcu(dp->fdb, d_mac[2], g[2].port, 1);
	dp->fdb->max_entries = 2;
	rcu_thread_offline();
}

static void port_reset(struct guest *gu, bool legacy_hdr, bool mrg, uint32_t max_frame)
{
	struct dp_port *p = gu->port;

	memset(p->vq, 0, sizeof(p->vq));
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		p->vq[i].kick_fd = -1;
		p->vq[i].err_fd = -1;
		p->vq[i].call_fd = call_fd;
		p->vq[i].epoll_worker = -1;
		p->vq[i].worker = -1;
	}
	p->mrg_rxbuf = mrg;
	p->hdr_len = legacy_hdr && !mrg ? VIRTIO_NET_HDR_LEN_LEGACY : VIRTIO_NET_HDR_LEN_V1;
	p->max_frame = max_frame;
	/*
	 * Offloads: the sender may ask for all of them, d1 takes them whole, d2 none (so both
	 * the pass-through and the software checksum/segmentation paths run).
	 */
	p->offload_tx = gu == &g[0] ? DP_OFF_ALL : 0;
	p->offload_rx = gu == &g[1] ? DP_OFF_ALL : 0;
	p->rx_ready_mask = 0;
	p->broken = false;
	p->learn_mac_cache = 0;
	p->learn_time_cache = 0;
	memset(p->steer, 0, sizeof(p->steer));
	memset(p->steer_seen, 0, sizeof(p->steer_seen));
	memset(gu->ndesc, 0, sizeof(gu->ndesc));
	gu->cursor = 0;
}

/* Maps and starts ring @slot of guest @gu as vq @idx, the way SET_VRING_* would. */
static struct vring *ring_start(struct guest *gu, unsigned int slot, unsigned int idx, bool event_idx,
				bool indirect)
{
	struct dp_vq *vq = &gu->port->vq[idx];
	uint64_t base = gu->mem->regions[0].qva + RING_OFF(slot);
	char why[160];

	if (vring_map(&vq->ring, gu->mem, NUM, base, base + 0x400, base + 0x600, why, sizeof(why)))
		abort();
	vring_start(&vq->ring, 0, event_idx, indirect);
	vq->num = NUM;
	vq->ready = true;
	return &vq->ring;
}

/* Puts a chain of @nsplit descriptors over [@gpa, @gpa + @len) into ring @slot; returns head. */
static int chain_add(struct guest *gu, unsigned int slot, uint64_t gpa, uint32_t len, unsigned int nsplit,
		     uint16_t flags)
{
	struct vring_desc *desc = (struct vring_desc *)(gu->file.view + RING_OFF(slot));
	struct vring_avail *avail = (struct vring_avail *)(gu->file.view + RING_OFF(slot) + 0x400);
	uint16_t head = gu->ndesc[slot];

	if (nsplit > len)
		nsplit = len ? len : 1;
	if (gu->ndesc[slot] + nsplit > NUM)
		return -1;
	for (unsigned int i = 0; i < nsplit; i++) {
		uint32_t piece = i + 1 < nsplit ? len / nsplit : len - (len / nsplit) * (nsplit - 1);
		uint16_t d = gu->ndesc[slot]++;

		desc[d] = (struct vring_desc){ .addr = gpa, .len = piece,
					       .flags = (uint16_t)(flags | (i + 1 < nsplit ? VRING_DESC_F_NEXT : 0)),
					       .next = (uint16_t)(d + 1) };
		gpa += piece;
	}
	avail->ring[avail->idx % NUM] = head;
	avail->idx++;
	return head;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fz in = { data, size };
	uint8_t cfg, maxf, mask[3], nsteer, nframes;
	unsigned int taken = 0, posted_tx = 0, rounds;
	uint16_t posted_rx[3][4] = { { 0 } };
	bool event_idx, indirect;

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	/* Like the control thread, which goes offline while it waits in epoll. */
	rcu_thread_online();
	for (unsigned int k = 0; k < 3; k++)
		guest_file_wipe(&g[k].file);
	cfg = fz_u8(&in);
	maxf = fz_u8(&in);
	mask[0] = 0;
	mask[1] = fz_u8(&in) & 15;
	mask[2] = fz_u8(&in) & 15;
	event_idx = cfg & 8;
	indirect = cfg & 16;
	port_reset(&g[0], cfg & 1, false, maxf ? 60u + 64u * maxf : 65535u - 12u);
	port_reset(&g[1], cfg & 32, cfg & 2, 65535 - 12);
	port_reset(&g[2], cfg & 64, cfg & 4, 65535 - 12);
	scratch->coalesce = cfg & 128;
	scratch->npending = 0;
	/* The receivers' MACs are known, as after they sent their first frames. */
	fdb_learn_rcu(dp->fdb, d_mac[1], g[1].port, 1);
	fdb_learn_rcu(dp->fdb, d_mac[2], g[2].port, 1);

	steer_spread_evenly(g[1].port->steer, mask[1]);
	steer_spread_evenly(g[2].port->steer, mask[2]);
	nsteer = fz_u8(&in);
	for (unsigned int i = 0; i < nsteer; i++) {
		uint8_t b = fz_u8(&in) % STEER_BUCKETS, q = fz_u8(&in);

		g[1].port->steer[b] = q;
		g[2].port->steer[b] = q;
	}

	/* The sender's TX chains. */
	ring_start(&g[0], 0, 1, event_idx, indirect);
	g[0].cursor = 0x1000;
	nframes = fz_u8(&in);
	for (unsigned int i = 0; i < nframes && in.n; i++) {
		unsigned int nsplit = 1 + fz_u8(&in) % 4;
		uint32_t len = fz_u16(&in) % 2049;

		if (g[0].cursor + len > GSIZE)
			break;
		guest_file_write(&g[0].file, g[0].cursor, &in, len);
		if (chain_add(&g[0], 0, g[0].cursor, len, nsplit, 0) < 0)
			break;
		g[0].cursor += len;
		posted_tx++;
	}

	/* The receivers' RX buffers, on each ready queue. */
	for (unsigned int k = 1; k < 3; k++) {
		unsigned int nbufs = fz_u8(&in) % (NUM + 1), nsplit = 1 + fz_u8(&in) % 4;
		uint32_t bufsize = fz_u16(&in);

		bufsize = MAX(16u, MIN(4096u, bufsize));

		g[k].cursor = 0x4000;
		for (unsigned int q = 0; q < 4; q++) {
			if (!(mask[k] & (1u << q)))
				continue;
			ring_start(&g[k], q, 2 * q, event_idx, indirect);
			g[k].port->rx_ready_mask |= 1u << q;
			for (unsigned int b = 0; b < nbufs && g[k].cursor + bufsize <= GSIZE; b++) {
				if (chain_add(&g[k], q, g[k].cursor, bufsize, nsplit, VRING_DESC_F_WRITE) < 0)
					break;
				g[k].cursor += bufsize;
				posted_rx[k][q]++;
			}
		}
	}

	/* The guests may have written anything anywhere. */
	while (in.n) {
		struct guest_file *f = &g[fz_u8(&in) % 3].file;
		size_t off = fz_u16(&in), len = fz_u8(&in);

		guest_file_write(f, off, &in, len);
	}

	for (rounds = 0; rounds < 4 && !g[0].port->broken; rounds++) {
		unsigned int n = dp_drain_tx(dp, scratch, g[0].port, &g[0].port->vq[1], 1, 1000 + rounds);

		if (!n)
			break;
		/* The work limit: at most a burst of chains, and the byte budget ends a burst. */
		FUZZ_ASSERT(n <= DP_BURST, "took %u chains in one turn", n);
		if (!g[0].port->broken) {
			uint64_t before_last = 0;

			for (unsigned int i = 0; i + 1 < n; i++)
				before_last += scratch->tx[i].len;
			FUZZ_ASSERT(before_last < DP_BURST_BYTES, "burst went on after %llu bytes",
				    (unsigned long long)before_last);
		}
		taken += n;
		FUZZ_LOG("forward: round %u took %u frames\n", rounds, n);
	}
	dp_flush_irqs(dp, scratch, UINT64_MAX, true);
	FUZZ_ASSERT(scratch->npending == 0, "%u calls left pending", scratch->npending);
	FUZZ_ASSERT(taken <= 4 * DP_BURST, "took %u frames", taken);
	{
		const struct dp_vq_stats *st = &g[0].port->vq[1].stats;

		FUZZ_ASSERT(st->packets + st->drops[DP_DROP_MALFORMED] + st->drops[DP_DROP_OFFLOAD] ==
				    taken || g[0].port->broken,
			    "%llu forwarded + %llu malformed + %llu offload != %u taken",
			    (unsigned long long)st->packets,
			    (unsigned long long)st->drops[DP_DROP_MALFORMED],
			    (unsigned long long)st->drops[DP_DROP_OFFLOAD], taken);
	}
	for (unsigned int k = 1; k < 3; k++)
		for (unsigned int q = 0; q < 4; q++) {
			const struct dp_vq *vq = &g[k].port->vq[2 * q];

			if (!vq->ready)
				continue;
			FUZZ_LOG("forward: d%u q%u: %llu frames, used idx %u, broken %d\n", k, q,
				 (unsigned long long)vq->stats.packets, vq->ring.used->idx,
				 g[k].port->broken);
			/* Every chain taken is returned, also when a frame did not fit (rollback). */
			FUZZ_ASSERT(vq->ring.last_used_idx == vq->ring.last_avail_idx || g[k].port->broken,
				    "d%u q%u: used %u, taken %u", k, q, vq->ring.last_used_idx,
				    vq->ring.last_avail_idx);
		}
	if (!g[0].port->broken)
		FUZZ_ASSERT(g[0].port->vq[1].ring.last_used_idx == g[0].port->vq[1].ring.last_avail_idx,
			    "TX: %u chains returned of %u taken", g[0].port->vq[1].ring.last_used_idx,
			    g[0].port->vq[1].ring.last_avail_idx);
	(void)posted_tx;
	(void)posted_rx;

	{
		eventfd_t v;

		(void)eventfd_read(call_fd, &v);
	}
	(void)eventfd_read(dp->event_fd, &(eventfd_t){ 0 });
	rcu_thread_offline();
	fuzz_fd_check();
	return 0;
}
