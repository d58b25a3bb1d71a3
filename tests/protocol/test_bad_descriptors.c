/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A first handful of hostile-guest cases, built with the frontend's raw ring access: bad
 * descriptor chains on port c's TX ring. The daemon must not crash, must not forward the bad
 * frame anywhere, and must keep forwarding between ports a and b. A corrupt ring (loops,
 * indices or addresses out of range, wrong direction, bad indirect tables) breaks the port:
 * the connection is dropped, the port shows "broken" and the log names it. A well-formed
 * chain carrying a bad frame (runt, offloads never negotiated) only drops that frame.
 * test_hostile.c has the RX-side and memory-layout cases.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto_common.h"

#define BAD_TAG 0xbadu

static struct vu_daemon d;
static struct vu_dev *A, *B;
static uint32_t tag = 700;
static const size_t sizes[] = { 60, 500, 1514 };

struct ctx {
	struct vu_dev *c;
	struct vu_vq *vq;
	uint64_t gpa;		/* a valid buffer holding header + a broadcast frame */
	uint8_t *hva;
	uint32_t len;		/* header + frame */
};

typedef void (*craft_fn)(struct ctx *x);

static void publish(struct ctx *x, uint16_t head)
{
	vu_vq_avail_push(x->vq, head);
	(void)vu_vq_notify(x->vq, true);
}

static int desc(struct ctx *x)
{
	int i = vu_vq_desc_get(x->vq);

	REQUIRE(i >= 0, "no free descriptor");
	return i;
}

static void h_loop(struct ctx *x)
{
	int d0 = desc(x), d1 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, 12, VU_DESC_F_NEXT, (uint16_t)d1);
	vu_vq_desc_write(x->vq, (unsigned)d1, x->gpa + 12, x->len - 12, VU_DESC_F_NEXT,
			 (uint16_t)d0);
	publish(x, (uint16_t)d0);
}

static void h_self_loop(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, x->len, VU_DESC_F_NEXT, (uint16_t)d0);
	publish(x, (uint16_t)d0);
}

static void h_unmapped(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, 0x7000000000000ull, x->len, 0, 0);
	publish(x, (uint16_t)d0);
}

static void h_huge_len(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, 0xffffffffu, 0, 0);
	publish(x, (uint16_t)d0);
}

static void h_wraps(struct ctx *x)
{
	int d0 = desc(x);

	/* gpa + len wraps past 2^64 */
	vu_vq_desc_write(x->vq, (unsigned)d0, ~0ull - 63, x->len, 0, 0);
	publish(x, (uint16_t)d0);
}

static void h_past_region_end(struct ctx *x)
{
	const struct vu_mem_region *rg = &vu_dev_mem(x->c)->regions[0];
	int d0 = desc(x);

	/* starts inside the region, ends 4 KiB past it */
	vu_vq_desc_write(x->vq, (unsigned)d0, rg->gpa + rg->size - 64, 4096 + 64, 0, 0);
	publish(x, (uint16_t)d0);
}

static void h_next_out_of_range(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, 12, VU_DESC_F_NEXT, 60000);
	publish(x, (uint16_t)d0);
}

static void h_head_out_of_range(struct ctx *x)
{
	publish(x, 40000);
}

static void h_avail_jump(struct ctx *x)
{
	vu_vq_avail_idx_set(x->vq, (uint16_t)(vu_vq_avail_idx(x->vq) + 1000));
	(void)vu_vq_notify(x->vq, true);
}

static void h_write_only_tx(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, x->len, VU_DESC_F_WRITE, 0);
	publish(x, (uint16_t)d0);
}

static void h_shorter_than_header(struct ctx *x)
{
	int d0 = desc(x);

	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, 5, 0, 0);
	publish(x, (uint16_t)d0);
}

static void h_nested_indirect(struct ctx *x)
{
	struct vu_desc *t;
	uint64_t tgpa;
	int d0 = desc(x);
	void *p;

	REQUIRE(vu_mem_alloc(vu_dev_mem(x->c), 64, 16, &tgpa, &p) == 0, "alloc");
	t = p;
	t[0] = (struct vu_desc){ .addr = tgpa, .len = 32, .flags = VU_DESC_F_INDIRECT };
	t[1] = (struct vu_desc){ .addr = x->gpa, .len = x->len };
	vu_vq_desc_write(x->vq, (unsigned)d0, tgpa, 32, VU_DESC_F_INDIRECT, 0);
	publish(x, (uint16_t)d0);
}

static void h_indirect_odd_len(struct ctx *x)
{
	struct vu_desc *t;
	uint64_t tgpa;
	int d0 = desc(x);
	void *p;

	REQUIRE(vu_mem_alloc(vu_dev_mem(x->c), 64, 16, &tgpa, &p) == 0, "alloc");
	t = p;
	t[0] = (struct vu_desc){ .addr = x->gpa, .len = x->len };
	vu_vq_desc_write(x->vq, (unsigned)d0, tgpa, 20, VU_DESC_F_INDIRECT, 0);
	publish(x, (uint16_t)d0);
}

static void h_indirect_loop(struct ctx *x)
{
	struct vu_desc *t;
	uint64_t tgpa;
	int d0 = desc(x);
	void *p;

	REQUIRE(vu_mem_alloc(vu_dev_mem(x->c), 64, 16, &tgpa, &p) == 0, "alloc");
	t = p;
	t[0] = (struct vu_desc){ .addr = x->gpa, .len = 12, .flags = VU_DESC_F_NEXT, .next = 1 };
	t[1] = (struct vu_desc){ .addr = x->gpa + 12, .len = x->len - 12,
				 .flags = VU_DESC_F_NEXT, .next = 0 };
	vu_vq_desc_write(x->vq, (unsigned)d0, tgpa, 32, VU_DESC_F_INDIRECT, 0);
	publish(x, (uint16_t)d0);
}

static void h_gso_header(struct ctx *x)
{
	/* a valid chain whose header asks for GSO, which was never negotiated */
	int d0 = desc(x);

	x->hva[1] = 1; /* gso_type TCPV4 */
	vu_vq_desc_write(x->vq, (unsigned)d0, x->gpa, x->len, 0, 0);
	publish(x, (uint16_t)d0);
}

static void run(const char *name, craft_fn fn, bool breaks)
{
	struct vu_dev_opts o;
	struct ctx x = { 0 };
	unsigned fa = 0, ta = 0, fb = 0, tb = 0;
	void *p;
	uint8_t mc[6];
	bool closed;

	vu_test_case("bad TX descriptors: %s", name);
	free(vu_daemon_log_new(&d));
	pc_opts(&o, "C");
	x.c = pc_dev(&d, "c", &o);
	x.vq = vu_dev_vq(x.c, 1);
	x.len = 12 + 128;
	REQUIRE(vu_mem_alloc(vu_dev_mem(x.c), x.len, 64, &x.gpa, &p) == 0, "alloc");
	x.hva = p;
	vu_mac(mc, 3);
	vu_frame_build(x.hva + 12, 128, vu_mac_broadcast, mc, BAD_TAG, 0, 0);
	fn(&x);
	vu_traffic_absorb(A, 300, BAD_TAG, &fa, &ta);
	vu_traffic_absorb(B, 1, BAD_TAG, &fb, &tb);
	CHECK(ta == 0 && tb == 0, "the bad frame was forwarded (A got %u, B got %u)", ta, tb);
	CHECK(vu_daemon_alive(&d), "daemon died");
	if (!vu_daemon_alive(&d))
		vu_test_abort();
	closed = vu_conn_wait_closed(vu_dev_conn(x.c), breaks ? 3000 : 200) == 0;
	if (breaks) {
		char *log;

		CHECK(closed, "a corrupt TX ring did not end the connection");
		CHECK(vu_ctl_wait_state(&d, "c", "broken", 3000) == 0, "port c not shown as broken");
		log = vu_daemon_log_new(&d);
		CHECK(strstr(log, "error: port 'c'") != NULL, "no error line names port 'c'");
		free(log);
	} else {
		CHECK(!closed, "a well-formed chain with a bad frame ended the connection");
	}
	vu_dev_free(x.c);
	CHECK(pc_xfer(A, B, 1, 2, tag++, sizes, 3, 30) == 0, "a -> b after the bad descriptors");
	CHECK(vu_ctl_wait_state(&d, "c", "listening|broken", 3000) == 0, "port c not reusable");
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_dev_opts o;

	vu_test_init("protocol-bad-descriptors", 200);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	A = pc_dev(&d, "a", &o);
	o.name = "B";
	B = pc_dev(&d, "b", &o);
	run("two descriptors chained in a loop", h_loop, true);
	run("descriptor chained to itself", h_self_loop, true);
	run("address outside guest memory", h_unmapped, true);
	run("length 0xffffffff", h_huge_len, true);
	run("address + length wrapping 2^64", h_wraps, true);
	run("buffer running past the end of its region", h_past_region_end, true);
	run("next index 60000", h_next_out_of_range, true);
	run("avail ring head 40000", h_head_out_of_range, true);
	run("avail index 1000 ahead", h_avail_jump, true);
	run("device-writable descriptor on TX", h_write_only_tx, true);
	run("5-byte buffer, shorter than the header", h_shorter_than_header, false);
	run("indirect table holding an indirect descriptor", h_nested_indirect, true);
	run("indirect table of 20 bytes", h_indirect_odd_len, true);
	run("indirect table chained in a loop", h_indirect_loop, true);
	run("GSO requested in the header without the feature", h_gso_header, false);
	vu_test_case("a proper frontend on c after all that");
	{
		struct vu_dev *c;

		pc_opts(&o, "C2");
		c = pc_dev(&d, "c", &o);
		CHECK(pc_xfer(c, A, 3, 1, tag++, sizes, 3, 40) == 0, "c -> a");
		pc_check_clean(c);
		vu_dev_free(c);
	}
	pc_check_clean(A);
	pc_check_clean(B);
	vu_dev_free(A);
	vu_dev_free(B);
	return vu_test_finish();
}
