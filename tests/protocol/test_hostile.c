/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile guests and frontends on port c, the cases of issue 9 item 2 that test_bad_descriptors
 * (bad TX chains) and test_garbage (malformed messages) leave out: bad RX chains filled by
 * another port's traffic, event-index words and flags scribbled over, rings across two
 * regions and rings overlapping each other, kicks before the ring exists, regions that overlap
 * when hot-added, and regions removed or replaced while the rings run.
 *
 * Each case says what must happen to port c:
 *   BROKEN  the daemon drops that connection, the port shows "broken" (its counter goes up by
 *           one) and the log has a line naming port 'c';
 *   WORKS   the input is legal (or harmless) and c keeps forwarding both ways;
 *   ANY     memory-safe garbage: either is fine, what matters is the rest.
 * In every case the daemon survives and ports a and b keep forwarding (checked with traffic);
 * at the end the daemon holds exactly the fds it held before (the ASan build also checks the
 * daemon's memory at exit).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto_common.h"

enum want { BROKEN, WORKS, ANY };

struct hcase {
	const char *name;
	enum want want;
	void (*setup)(struct vu_dev_opts *o);   /* options of c's frontend (may be NULL) */
	/* Does the hostile thing on c (started unless @raw) and returns it; may free it itself. */
	struct vu_dev *(*act)(struct vu_dev *c);
	bool raw;                               /* c only negotiated: act configures by hand */
};

static struct vu_daemon d;
static struct vu_dev *A, *B;
static uint32_t tag = 1100;
static const size_t sizes[] = { 60, 500, 1514 };
static const size_t small[] = { 200 };

static long broken_count(const char *port)
{
	static const char *const args[] = { "port", "list", NULL };
	struct json_object *top, *ports, *p, *f;
	long n = -1;
	size_t i;

	if (vu_ctl_json(&d, &top, args))
		return -1;
	if (json_object_object_get_ex(top, "ports", &ports))
		for (i = 0; i < json_object_array_length(ports); i++) {
			p = json_object_array_get_idx(ports, i);
			if (json_object_object_get_ex(p, "name", &f) &&
			    !strcmp(json_object_get_string(f), port) &&
			    json_object_object_get_ex(p, "broken", &f))
				n = (long)json_object_get_int64(f);
		}
	json_object_put(top);
	return n;
}

static void still_forwarding(const char *when)
{
	unsigned bad = pc_xfer(A, B, 1, 2, tag++, sizes, 3, 20);

	bad += pc_xfer(B, A, 2, 1, tag++, sizes, 3, 20);
	CHECK(bad == 0, "ports a and b stopped forwarding %s", when);
}

static int desc_slot(struct vu_vq *vq)
{
	int i = vu_vq_desc_get(vq);

	REQUIRE(i >= 0, "no free descriptor");
	return i;
}

/* A chunk of c's memory the daemon may read or write, by gpa. */
static uint64_t scratch(struct vu_dev *c, size_t len, void **hva)
{
	uint64_t gpa;
	void *p;

	REQUIRE(vu_mem_alloc(vu_dev_mem(c), len, 64, &gpa, &p) == 0, "alloc");
	if (hva)
		*hva = p;
	return gpa;
}

/* a sends broadcasts: they reach c's RX ring (and b, which must get them intact). */
static void broadcasts_from_a(unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		pc_send1(A, 0, 1, 0xffff, tag, k, 300);
	tag++;
	CHECK(vu_dev_tx_drain(A, 0, 3000) == 0, "a's broadcasts were not all completed");
}

/* ---- bad RX chains (c posts one good buffer, then the bad one; a's broadcasts fill them) -- */

static void rx_one_posted(struct vu_dev_opts *o)
{
	o->rx_post_max = 1;
}

static struct vu_dev *rx_publish(struct vu_dev *c, uint16_t head)
{
	vu_vq_avail_push(vu_dev_vq(c, 0), head);
	broadcasts_from_a(3);
	return c;
}

static struct vu_dev *rx_loop(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);
	int d0 = desc_slot(vq), d1 = desc_slot(vq);
	uint64_t g = scratch(c, 4096, NULL);

	vu_vq_desc_write(vq, (unsigned)d0, g, 1024, VU_DESC_F_WRITE | VU_DESC_F_NEXT, (uint16_t)d1);
	vu_vq_desc_write(vq, (unsigned)d1, g + 1024, 1024, VU_DESC_F_WRITE | VU_DESC_F_NEXT,
			 (uint16_t)d0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_unmapped(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);
	int d0 = desc_slot(vq);

	vu_vq_desc_write(vq, (unsigned)d0, 0x7000000000000ull, 2048, VU_DESC_F_WRITE, 0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_wraps(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);
	int d0 = desc_slot(vq);

	/* gpa + len wraps past 2^64 */
	vu_vq_desc_write(vq, (unsigned)d0, ~0ull - 511, 4096, VU_DESC_F_WRITE, 0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_past_region_end(struct vu_dev *c)
{
	const struct vu_mem_region *rg = &vu_dev_mem(c)->regions[0];
	struct vu_vq *vq = vu_dev_vq(c, 0);
	int d0 = desc_slot(vq);

	vu_vq_desc_write(vq, (unsigned)d0, rg->gpa + rg->size - 512, 4096, VU_DESC_F_WRITE, 0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_read_only(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);
	int d0 = desc_slot(vq);

	/* the device may not write a buffer the driver marked device-readable */
	vu_vq_desc_write(vq, (unsigned)d0, scratch(c, 2048, NULL), 2048, 0, 0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_indirect_loop(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);
	struct vu_desc *t;
	uint64_t buf = scratch(c, 2048, NULL), tg;
	int d0 = desc_slot(vq);
	void *p;

	tg = scratch(c, 64, &p);
	t = p;
	t[0] = (struct vu_desc){ .addr = buf, .len = 1024, .flags = VU_DESC_F_WRITE | VU_DESC_F_NEXT,
				 .next = 1 };
	t[1] = (struct vu_desc){ .addr = buf + 1024, .len = 1024,
				 .flags = VU_DESC_F_WRITE | VU_DESC_F_NEXT, .next = 0 };
	vu_vq_desc_write(vq, (unsigned)d0, tg, 32, VU_DESC_F_INDIRECT, 0);
	return rx_publish(c, (uint16_t)d0);
}

static struct vu_dev *rx_avail_jump(struct vu_dev *c)
{
	struct vu_vq *vq = vu_dev_vq(c, 0);

	vu_vq_avail_idx_set(vq, (uint16_t)(vu_vq_avail_idx(vq) + 1000));
	broadcasts_from_a(2);
	return c;
}

/* ---- event index words: every 16-bit value is a legal index ------------------------------ */

/*
 * used_event and avail_event are free-running 16-bit indices (virtio 1.2 2.7.10): no value is
 * out of range, a strange one only moves when an interrupt or a kick is due. The driver may
 * also scribble over the words the device owns (used->flags, avail_event). The device must
 * keep working for that guest (at worst it gets interrupts late, and polls) and nobody else
 * may notice, so the port must not be broken.
 */
static void kick_always(struct vu_dev_opts *o)
{
	/*
	 * A guest that scribbles over avail_event (the device's word) suppresses its own kicks:
	 * it hurts itself only. Kicking regardless isolates what the daemon does with the words.
	 */
	o->always_kick = true;
}

static struct vu_dev *events_garbage(struct vu_dev *c)
{
	static const uint16_t vals[][4] = {
		{ 0xffff, 0x8000, 0xffff, 0x7fff },
		{ 0xfffe, 0x1234, 0x0002, 0xffff },
	};

	for (unsigned v = 0; v < 2; v++) {
		vu_vq_raw_events(vu_dev_vq(c, 0), vals[v][0], vals[v][1], vals[v][2], vals[v][3]);
		vu_vq_raw_events(vu_dev_vq(c, 1), vals[v][0], (uint16_t)(vals[v][1] + 7), vals[v][2],
				 vals[v][3]);
		/* frames both ways over the scribbled rings; the frontend re-arms as it waits */
		CHECK(pc_xfer(A, c, 1, 3, tag++, small, 1, 10) == 0, "a -> c with event words %u", v);
		CHECK(pc_xfer(c, A, 3, 1, tag++, small, 1, 10) == 0, "c -> a with event words %u", v);
	}
	return c;
}

/* ---- rings placed by hand --------------------------------------------------------------- */

static int mfd(size_t size)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	REQUIRE(fd >= 0 && ftruncate(fd, (off_t)size) == 0, "memfd");
	return fd;
}

static void raw_send(struct vu_dev *c, uint32_t req, const void *p, uint32_t size, const int *fds,
		     size_t nfds)
{
	int r = vu_conn_send(vu_dev_conn(c), req, 0, p, size, fds, nfds);

	CHECK(r == 0 || r == -EPIPE || r == -ECONNRESET, "send %s: %s", vu_req_name(req),
	      strerror(-r));
}

/* SET_VRING_NUM/BASE/ADDR/KICK/ENABLE for ring @idx at the given frontend addresses. */
static int raw_ring(struct vu_dev *c, unsigned idx, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vu_vring_state s = { .index = idx, .num = 256 };
	struct vu_vring_addr a = { .index = idx, .desc_qva = desc, .avail_qva = avail,
				   .used_qva = used };
	int kfd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = idx;

	raw_send(c, VU_SET_VRING_NUM, &s, sizeof(s), NULL, 0);
	s.num = 0;
	raw_send(c, VU_SET_VRING_BASE, &s, sizeof(s), NULL, 0);
	raw_send(c, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	raw_send(c, VU_SET_VRING_KICK, &u, sizeof(u), &kfd, 1);
	s.num = 1;
	raw_send(c, VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0);
	return kfd;
}

static void raw_features(struct vu_dev *c)
{
	CHECK(vu_dev_set_u64(c, VU_SET_FEATURES, vu_dev_features(c)) == 0, "SET_FEATURES");
}

/*
 * Rings are translated through the frontend's own table and each ring area must lie whole in
 * one region, so a ring cannot reach memory outside what this frontend shared: "a ring over
 * another region's memory" can only mean one across the boundary of two adjacent regions (not
 * contiguous in our mapping: refused) or rings laid over each other or over buffers (below).
 */
static struct vu_dev *ring_across_regions(struct vu_dev *c)
{
	const uint64_t q = 0x500000000000ull, mib = 1 << 20;
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[2];
	} t = { .nregions = 2 };
	int fds[2] = { mfd(mib), mfd(mib) }, kfd;

	t.r[0] = (struct vu_mem_region_desc){ .gpa = 0, .size = mib, .qva = q };
	t.r[1] = (struct vu_mem_region_desc){ .gpa = mib, .size = mib, .qva = q + mib };
	raw_features(c);
	raw_send(c, VU_SET_MEM_TABLE, &t, sizeof(t), fds, 2);
	/* the descriptor table (4 KiB) starts 2 KiB before the end of region 0 */
	kfd = raw_ring(c, 1, q + mib - 2048, q + 0x1000, q + 0x2000);
	close(kfd);
	close(fds[0]);
	close(fds[1]);
	return c;
}

/*
 * TX ring's used ring laid over the RX ring's descriptor table, and the TX descriptor table
 * over the frame it carries: every write of the device lands in another structure. Nothing
 * here reaches outside the frontend's memory; the daemon must survive whatever it reads back.
 */
static struct vu_dev *rings_overlap(struct vu_dev *c)
{
	const uint64_t q = 0x500000000000ull, mib = 1 << 20;
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[1];
	} t = { .nregions = 1 };
	int fd = mfd(mib), k0, k1;
	uint8_t *m = mmap(NULL, mib, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	uint64_t one = 1;
	uint8_t mc[6];

	REQUIRE(m != MAP_FAILED, "mmap");
	t.r[0] = (struct vu_mem_region_desc){ .gpa = 0, .size = mib, .qva = q };
	raw_features(c);
	raw_send(c, VU_SET_MEM_TABLE, &t, sizeof(t), &fd, 1);
	k0 = raw_ring(c, 0, q, q + 0x1000, q + 0x2000);
	k1 = raw_ring(c, 1, q + 0x4000, q + 0x5000, q /* over ring 0's descriptors */);
	/* one TX chain: a broadcast frame at gpa 0x10000 */
	{
		struct vu_desc dsc = { .addr = 0x10000, .len = 12 + 128 };
		uint16_t head = 0, idx = 1;

		vu_mac(mc, 3);
		memset(m + 0x10000, 0, 12);
		vu_frame_build(m + 0x10000 + 12, 128, vu_mac_broadcast, mc, 0xbad0, 0, 0);
		memcpy(m + 0x4000, &dsc, sizeof(dsc));
		memcpy(m + 0x5000 + 4, &head, 2);
		__atomic_store_n((uint16_t *)(m + 0x5000 + 2), idx, __ATOMIC_RELEASE);
	}
	/* and RX chains whose descriptors the used ring above overwrites */
	for (uint16_t i = 0; i < 4; i++) {
		struct vu_desc dsc = { .addr = 0x20000 + 2048u * i, .len = 2048, .flags = VU_DESC_F_WRITE };

		memcpy(m + 16 * i, &dsc, sizeof(dsc));
		memcpy(m + 0x1000 + 4 + 2 * i, &i, 2);
	}
	__atomic_store_n((uint16_t *)(m + 0x1000 + 2), (uint16_t)4, __ATOMIC_RELEASE);
	CHECK(write(k1, &one, sizeof(one)) == sizeof(one), "kick");
	broadcasts_from_a(6);
	close(k0);
	close(k1);
	munmap(m, mib);
	close(fd);
	return c;
}

/* ---- kicks before the ring exists ------------------------------------------------------- */

static struct vu_dev *kick_before_configured(struct vu_dev *c)
{
	int kfd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 1, one = 1;

	/* a kick fd for TX ring 1 and a kick, before features, memory or ring addresses */
	raw_send(c, VU_SET_VRING_KICK, &u, sizeof(u), &kfd, 1);
	CHECK(write(kfd, &one, sizeof(one)) == sizeof(one), "kick");
	close(kfd);
	/* then the whole proper start-up on the same connection: it must work */
	CHECK(vu_dev_setup(c) == 0, "start-up after the early kicks");
	CHECK(vu_ctl_wait_state(&d, "c", "running", 3000) == 0, "port c running");
	return c;
}

/* An in-band kick (VHOST_USER_VRING_KICK) needs INBAND_NOTIFICATIONS, which is not offered. */
static struct vu_dev *inband_kick(struct vu_dev *c)
{
	struct vu_vring_state s = { .index = 1, .num = 0 };

	raw_send(c, VU_VRING_KICK, &s, sizeof(s), NULL, 0);
	return c;
}

/* ---- memory regions overlapping, removed or replaced while the rings run ---------------- */

static void hotplug(struct vu_dev_opts *o)
{
	o->use_add_mem_reg = true;
	o->mem_regions = 2;
}

static int add_region(struct vu_dev *c, const struct vu_mem_region_desc *rd, int fd)
{
	struct vu_mem_single s = { .region = *rd };

	return vu_dev_request(c, VU_ADD_MEM_REG, VU_FLAG_NEED_REPLY, &s, sizeof(s), &fd, 1, NULL, 0);
}

static struct vu_dev *add_overlapping_gpa(struct vu_dev *c)
{
	struct vu_mem_region_desc rd;
	int fd = mfd(1 << 20), r;

	vu_mem_region_desc(vu_dev_mem(c), 1, &rd);
	rd.gpa += 4096;               /* inside region 1 */
	rd.qva = 0x7e0000000000ull;   /* a fresh frontend address */
	rd.size = 1 << 20;
	rd.mmap_offset = 0;
	r = add_region(c, &rd, fd);
	CHECK(r != 0, "ADD_MEM_REG overlapping region 1 in guest-physical space was accepted");
	close(fd);
	return c;
}

static struct vu_dev *add_overlapping_qva(struct vu_dev *c)
{
	struct vu_mem_region_desc rd;
	int fd = mfd(1 << 20), r;

	vu_mem_region_desc(vu_dev_mem(c), 0, &rd);
	rd.gpa = 0x4000000000ull;     /* a fresh guest address */
	rd.qva += 8192;               /* inside region 0's frontend addresses */
	rd.size = 1 << 20;
	rd.mmap_offset = 0;
	r = add_region(c, &rd, fd);
	CHECK(r != 0, "ADD_MEM_REG overlapping region 0's frontend addresses was accepted");
	close(fd);
	return c;
}

/* The frontend takes away the region holding c's rings while they run (and traffic flows). */
static struct vu_dev *remove_ring_region(struct vu_dev *c)
{
	struct vu_mem_region_desc rd;
	struct vu_mem_single s;

	for (uint32_t k = 0; k < 8; k++)
		pc_send1(c, 0, 3, 1, tag, k, 200);
	vu_mem_region_desc(vu_dev_mem(c), 0, &rd);
	s = (struct vu_mem_single){ .region = rd };
	(void)vu_dev_request(c, VU_REM_MEM_REG, VU_FLAG_NEED_REPLY, &s, sizeof(s), NULL, 0, NULL, 0);
	broadcasts_from_a(4);
	tag++;
	return c;
}

static int mem_table_of(struct vu_dev *c, int *fds, uint64_t qva_shift)
{
	struct vu_mem *m = vu_dev_mem(c);
	struct vu_mem_table t = { .nregions = m->nregions };

	for (unsigned i = 0; i < m->nregions; i++) {
		vu_mem_region_desc(m, i, &t.regions[i]);
		t.regions[i].qva += qva_shift;
		fds[i] = m->regions[i].fd;
	}
	return vu_dev_request(c, VU_SET_MEM_TABLE, VU_FLAG_NEED_REPLY, &t,
			      8 + m->nregions * (uint32_t)sizeof(t.regions[0]), fds, m->nregions,
			      NULL, 0);
}

/*
 * QEMU resends the whole table when memory is hot-plugged, with the rings running: the same
 * regions come back (new fds of the same files). Frames in flight must neither be lost nor
 * sent twice.
 */
static struct vu_dev *replace_same_regions(struct vu_dev *c)
{
	const struct vu_tx_opts no_kick = { .layout = VU_TX_SINGLE, .no_kick = true };
	static uint8_t f[VU_FRAME_MAX];
	uint8_t ms[6], md[6];
	int fds[VU_MEM_BASELINE_REGIONS];
	unsigned got = 0;

	vu_mac(ms, 3);
	vu_mac(md, 1);
	for (uint32_t k = 0; k < 40; k++) {
		vu_frame_build(f, 300, md, ms, tag, k, (uint16_t)k);
		CHECK(vu_dev_send(c, 0, f, 300, &no_kick, 1000) == 0, "send");
		if (k == 20)
			CHECK(mem_table_of(c, fds, 0) == 0, "SET_MEM_TABLE with the same regions refused");
	}
	CHECK(vu_dev_tx_flush(c, 0) >= 0, "kick");
	for (long seq = 0; seq < 40; seq++) {
		long s = pc_recv_tag(A, tag, 3000, NULL);

		if (!CHECK(s == seq, "frame %ld after the table was replaced: got %ld", seq, s))
			break;
		got++;
	}
	tag++;
	CHECK(got == 40, "%u of 40 frames sent around the memory table replacement arrived", got);
	CHECK(pc_xfer(A, c, 1, 3, tag++, sizes, 3, 20) == 0, "a -> c after the replacement");
	return c;
}

/* The new table no longer holds the rings (its frontend addresses moved): c must stop. */
static struct vu_dev *replace_without_rings(struct vu_dev *c)
{
	int fds[VU_MEM_BASELINE_REGIONS];

	for (uint32_t k = 0; k < 8; k++)
		pc_send1(c, 0, 3, 1, tag, k, 200);
	(void)mem_table_of(c, fds, 1ull << 40);
	broadcasts_from_a(4);
	tag++;
	return c;
}

/* ---- the runner ------------------------------------------------------------------------- */

static void run(const struct hcase *h)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	long before = broken_count("c");
	bool closed;
	char *log;

	vu_test_case("hostile: %s", h->name);
	free(vu_daemon_log_new(&d));
	pc_opts(&o, "C");
	if (h->setup)
		h->setup(&o);
	if (h->raw) {
		char path[256];
		int r = vu_dev_connect(vu_daemon_sock(&d, "c", path, sizeof(path)), &o, PC_CONNECT_MS,
				       &c);

		REQUIRE(r == 0, "connect: %s", strerror(-r));
		CHECK(vu_dev_negotiate(c) == 0, "negotiate");
	} else {
		c = pc_dev(&d, "c", &o);
		pc_wait_running(&d, "c");
		/* c's MAC is known before the hostile part */
		CHECK(pc_xfer(c, A, 3, 1, tag++, small, 1, 1) == 0, "c -> a before");
	}
	c = h->act(c);
	CHECK(vu_daemon_alive(&d), "daemon died");
	if (!vu_daemon_alive(&d))
		vu_test_abort();
	switch (h->want) {
	case BROKEN:
		closed = vu_conn_wait_closed(vu_dev_conn(c), 3000) == 0;
		CHECK(closed, "the daemon kept port c's connection");
		CHECK(vu_ctl_wait_state(&d, "c", "broken", 3000) == 0, "port c not shown as broken");
		CHECK(broken_count("c") == before + 1, "port c 'broken' count %ld -> %ld", before,
		      broken_count("c"));
		log = vu_daemon_log_new(&d);
		{
			/* The first error about port c: the reason it was dropped. */
			const char *l = strstr(log, "error: port 'c'");

			if (!l)
				l = strstr(log, "port 'c'");
			CHECK(l != NULL, "no log line names port 'c'; log: %.400s", log);
			if (l)
				vu_test_note("%.*s", (int)strcspn(l, "\n"), l);
		}
		free(log);
		break;
	case WORKS:
		CHECK(broken_count("c") == before, "port c was broken");
		if (!CHECK(vu_ctl_wait_state(&d, "c", "running", 3000) == 0, "port c not running"))
			break;
		CHECK(pc_xfer(A, c, 1, 3, tag++, sizes, 3, 20) == 0, "a -> c after");
		CHECK(pc_xfer(c, A, 3, 1, tag++, sizes, 3, 20) == 0, "c -> a after");
		pc_check_clean(c);
		break;
	case ANY:
		closed = vu_conn_wait_closed(vu_dev_conn(c), 300) == 0;
		vu_test_note("daemon %s the connection", closed ? "dropped" : "kept");
		break;
	}
	vu_dev_free(c);
	CHECK(vu_ctl_wait_state(&d, "c", "listening|broken", 3000) == 0, "port c not reusable");
	still_forwarding("after port c's hostility");
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	static const struct hcase cases[] = {
		{ "RX descriptors chained in a loop", BROKEN, rx_one_posted, rx_loop },
		{ "RX buffer outside every region", BROKEN, rx_one_posted, rx_unmapped },
		{ "RX buffer whose address + length wraps 2^64", BROKEN, rx_one_posted, rx_wraps },
		{ "RX buffer running past its region's end", BROKEN, rx_one_posted,
		  rx_past_region_end },
		{ "RX buffer not device-writable", BROKEN, rx_one_posted, rx_read_only },
		{ "RX indirect table chained in a loop", BROKEN, rx_one_posted, rx_indirect_loop },
		{ "RX avail index 1000 ahead", BROKEN, NULL, rx_avail_jump },
		{ "used_event, avail_event and ring flags scribbled over", WORKS, kick_always,
		  events_garbage },
		{ "descriptor table across two adjacent regions", BROKEN, NULL, ring_across_regions,
		  .raw = true },
		{ "rings laid over each other", ANY, NULL, rings_overlap, .raw = true },
		{ "kick fd and kicks before the ring is configured", WORKS, NULL,
		  kick_before_configured, .raw = true },
		{ "in-band VRING_KICK, never negotiated", BROKEN, NULL, inband_kick },
		{ "ADD_MEM_REG overlapping a region's guest-physical range", BROKEN, hotplug,
		  add_overlapping_gpa },
		{ "ADD_MEM_REG overlapping a region's frontend addresses", BROKEN, hotplug,
		  add_overlapping_qva },
		{ "REM_MEM_REG of the region holding the rings, while they run", BROKEN, hotplug,
		  remove_ring_region },
		{ "SET_MEM_TABLE with the same regions while frames are in flight", WORKS, NULL,
		  replace_same_regions },
		{ "SET_MEM_TABLE without the rings' memory while they run", BROKEN, NULL,
		  replace_without_rings },
	};
	int fds_before, fds_after;

	vu_test_init("protocol-hostile", 280);
	pc_start(&d, ports);
	{
		struct vu_dev_opts o;

		pc_opts(&o, "A");
		A = pc_dev(&d, "a", &o);
		o.name = "B";
		B = pc_dev(&d, "b", &o);
	}
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	vu_test_case("a and b forward before");
	still_forwarding("before");
	fds_before = vu_daemon_fd_count_settled(&d, -1, 2000);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	vu_test_case("no fd leaked after all the cases");
	fds_after = vu_daemon_fd_count_settled(&d, fds_before, 2000);
	CHECK(fds_after == fds_before, "daemon had %d fds before, %d after", fds_before, fds_after);
	pc_check_clean(A);
	pc_check_clean(B);
	vu_dev_free(A);
	vu_dev_free(B);
	return vu_test_finish();
}
