// SPDX-License-Identifier: GPL-2.0-or-later
/* Split rings over synthetic guest memory: chains, indirect, hostile layouts, event idx. */
#include "check.h"
#include "guestmem.h"
#include "vring/vring.h"

#define NUM 8
#define DESC_GPA 0x100000
#define AVAIL_GPA 0x101000
#define USED_GPA 0x102000
#define BUF_GPA 0x104000
#define QVA(gpa) (0x7f0000000000ull + (gpa) - 0x100000)

static struct test_region mem, mem2;
static struct gmem_table *tbl;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;

static void reset_ring(struct vring *vr, bool event_idx, bool indirect)
{
	char why[160];

	memset(mem.view, 0, 0x4000);
	memset(vr, 0, sizeof(*vr));
	CHECK(vring_map(vr, tbl, NUM, QVA(DESC_GPA), QVA(AVAIL_GPA), QVA(USED_GPA), why, sizeof(why)) == 0,
	      "map ring");
	vring_start(vr, 0, event_idx, indirect);
}

static void make_avail(uint16_t head)
{
	avail->ring[avail->idx % NUM] = head;
	avail->idx++;
}

static void test_chains(void)
{
	struct vring vr;
	struct vring_chain c;

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ BUF_GPA, 100, VRING_DESC_F_NEXT, 3 };
	desc[3] = (struct vring_desc){ BUF_GPA + 0x1000, 200, 0, 0 };
	make_avail(0);
	CHECK(vring_avail_pending(&vr) == 1, "one chain pending");
	CHECK(vring_pop(&vr, tbl, false, &c) == 0, "pop a 2-descriptor chain");
	CHECK(c.nsegs == 2 && c.len == 300 && c.head == 0, "2 segments, 300 bytes");
	*(uint8_t *)test_gpa(&mem, BUF_GPA + 0x1000) = 0x77;
	CHECK(c.seg[1].hva[0] == 0x77, "segment points at the guest buffer");
	CHECK(vring_avail_pending(&vr) == 0, "nothing more pending");

	vring_used_put(&vr, c.head, 0);
	vring_used_publish(&vr);
	CHECK(used->idx == 1 && used->ring[0].id == 0, "used entry published");

	/* The guest flips the write flag: a TX chain must be device-readable. */
	desc[1] = (struct vring_desc){ BUF_GPA, 64, VRING_DESC_F_WRITE, 0 };
	make_avail(1);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "writable descriptor in a TX chain rejected");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ BUF_GPA, 64, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ BUF_GPA, 64, VRING_DESC_F_NEXT, 0 };
	make_avail(0);
	CHECK(vring_pop(&vr, tbl, false, &c) == -ELOOP, "descriptor loop detected");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ BUF_GPA, 64, VRING_DESC_F_NEXT, NUM };
	make_avail(0);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "next index out of range rejected");

	reset_ring(&vr, false, true);
	make_avail(NUM + 5);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "head index out of range rejected");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ 0x900000, 64, 0, 0 };
	make_avail(0);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EFAULT, "address outside guest memory rejected");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ 0x100000 + 0x40000 - 64, 128, 0, 0 };
	make_avail(0);
	mem2.view[0] = 0x42;
	CHECK(vring_pop(&vr, tbl, false, &c) == 0 && c.nsegs == 2 && c.seg[0].len == 64 &&
	      c.seg[1].hva[0] == 0x42, "buffer across two regions: two segments");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ 0x100000 + 0x80000 - 64, 128, 0, 0 };
	make_avail(0);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EFAULT, "buffer running off the last region rejected");

	reset_ring(&vr, false, true);
	desc[0] = (struct vring_desc){ BUF_GPA, 0xffffffffu, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ BUF_GPA, 0xffffffffu, 0, 0 };
	make_avail(0);
	CHECK(vring_pop(&vr, tbl, false, &c) != 0, "lengths past guest memory / overflowing rejected");

	reset_ring(&vr, false, true);
	avail->idx = NUM + 1;
	CHECK(vring_avail_pending(&vr) == -EINVAL, "avail index more than a ring ahead rejected");
}

static void test_indirect(void)
{
	struct vring_desc *ind = test_gpa(&mem, BUF_GPA + 0x2000);
	struct vring vr;
	struct vring_chain c;

	reset_ring(&vr, false, true);
	ind[0] = (struct vring_desc){ BUF_GPA, 10, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ BUF_GPA + 100, 20, VRING_DESC_F_NEXT, 2 };
	ind[2] = (struct vring_desc){ BUF_GPA + 200, 30, 0, 0 };
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 48, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == 0 && c.nsegs == 3 && c.len == 60 && c.head == 2,
	      "indirect table of 3");

	reset_ring(&vr, false, false);
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 48, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "indirect without the feature rejected");

	reset_ring(&vr, false, true);
	ind[2] = (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_INDIRECT, 0 };
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 48, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "nested indirect rejected");

	reset_ring(&vr, false, true);
	ind[2] = (struct vring_desc){ BUF_GPA, 16, VRING_DESC_F_NEXT, 0 };
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 48, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -ELOOP, "loop inside an indirect table detected");

	reset_ring(&vr, false, true);
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 47, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "indirect length not a multiple of 16 rejected");

	reset_ring(&vr, false, true);
	desc[2] = (struct vring_desc){ BUF_GPA + 0x2000, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 3 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EINVAL, "indirect with NEXT rejected");

	reset_ring(&vr, false, true);
	desc[2] = (struct vring_desc){ 0x100000 + 0x40000 - 16, 48, VRING_DESC_F_INDIRECT, 0 };
	make_avail(2);
	CHECK(vring_pop(&vr, tbl, false, &c) == -EFAULT, "indirect table across a region end rejected");

	/* A chain too long to map is consumed and reported, not a ring error. */
	reset_ring(&vr, false, true);
	{
		struct vring_desc *big = test_gpa(&mem, BUF_GPA + 0x3000);

		for (int i = 0; i < VRING_MAX_SEGS + 4; i++)
			big[i] = (struct vring_desc){ BUF_GPA, 8, VRING_DESC_F_NEXT, (uint16_t)(i + 1) };
		big[VRING_MAX_SEGS + 3].flags = 0;
		desc[0] = (struct vring_desc){ BUF_GPA + 0x3000, 16 * (VRING_MAX_SEGS + 4), VRING_DESC_F_INDIRECT, 0 };
		make_avail(0);
		CHECK(vring_pop(&vr, tbl, false, &c) == -EMSGSIZE && c.head == 0 && vr.last_avail_idx == 1,
		      "over-long chain: -EMSGSIZE, consumed");
	}
}

static void test_event_idx(void)
{
	struct vring vr;
	uint16_t *used_event, *avail_event;

	reset_ring(&vr, true, true);
	used_event = &avail->ring[NUM];
	avail_event = (uint16_t *)&used->ring[NUM];
	CHECK(vring_need_call(&vr), "first call decision always signals");

	/* Guest wants a call once used idx passes 3. */
	*used_event = 3;
	for (int i = 0; i < 3; i++)
		vring_used_put(&vr, 0, 0);
	vring_used_publish(&vr);
	CHECK(!vring_need_call(&vr), "used idx 3: event 3 not crossed yet");
	vring_used_put(&vr, 0, 0);
	vring_used_publish(&vr);
	CHECK(vring_need_call(&vr), "used idx 4 crosses event 3");

	/* Wrap-around: indices near 65535. */
	reset_ring(&vr, true, true);
	vr.last_used_idx = 65530;
	used->idx = 65530;
	vr.signalled_used = 65530;
	vr.signalled_used_valid = true;
	*used_event = 65534;
	for (int i = 0; i < 4; i++)
		vring_used_put(&vr, 0, 0);
	vring_used_publish(&vr);
	CHECK(!vring_need_call(&vr), "65534 reached but not passed");
	for (int i = 0; i < 4; i++)
		vring_used_put(&vr, 0, 0);
	vring_used_publish(&vr);
	CHECK(vr.last_used_idx == 2 && vring_need_call(&vr), "wrapped to 2: event 65534 crossed");

	/* Kick suppression: avail_event tells the guest where to kick. */
	reset_ring(&vr, true, true);
	vr.last_avail_idx = 5;
	avail->idx = 5;
	CHECK(!vring_notify_enable(&vr) && *avail_event == 5, "notify enable writes avail_event");
	avail->idx = 6;
	CHECK(vring_notify_enable(&vr), "buffers that arrived meanwhile are reported");

	reset_ring(&vr, false, true);
	vring_notify_disable(&vr);
	CHECK(used->flags == VRING_USED_F_NO_NOTIFY, "without event idx: NO_NOTIFY flag");
	avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	CHECK(!vring_need_call(&vr), "guest's NO_INTERRUPT honoured");
	avail->flags = 0;
	CHECK(vring_need_call(&vr), "interrupt when the guest wants it");
}

static void test_map_checks(void)
{
	struct vring vr;
	char why[160];

	memset(&vr, 0, sizeof(vr));
	CHECK(vring_map(&vr, tbl, 6, QVA(DESC_GPA), QVA(AVAIL_GPA), QVA(USED_GPA), why, sizeof(why)) == -EINVAL,
	      "ring size not a power of 2 rejected: %s", why);
	CHECK(vring_map(&vr, tbl, NUM, QVA(DESC_GPA) + 8, QVA(AVAIL_GPA), QVA(USED_GPA), why, sizeof(why)) == -EINVAL,
	      "misaligned descriptor table rejected: %s", why);
	CHECK(vring_map(&vr, tbl, NUM, 0x1000, QVA(AVAIL_GPA), QVA(USED_GPA), why, sizeof(why)) == -EINVAL,
	      "ring outside guest memory rejected: %s", why);
	CHECK(vring_map(&vr, tbl, 256, QVA(0x140000 - 0x800), QVA(AVAIL_GPA), QVA(USED_GPA), why, sizeof(why)) == -EINVAL,
	      "descriptor table across a region end rejected: %s", why);
}

static void test_chain_copy(void)
{
	struct vring_chain c = { .nsegs = 2, .len = 8 };
	uint8_t a[3], b[5], out[8];

	c.seg[0] = (struct vring_seg){ .hva = a, .len = 3 };
	c.seg[1] = (struct vring_seg){ .hva = b, .len = 5 };
	CHECK(vring_chain_write(&c, 1, "ABCDEF", 6) == 6 && a[1] == 'A' && b[0] == 'C' && b[3] == 'F',
	      "write across segments");
	CHECK(vring_chain_read(&c, 1, out, 8) == 7 && out[6] == b[4], "read clipped at chain end");
}

/* Lap after lap a used slot may get the element it holds: it must read right either way. */
static void test_used_rewrite(void)
{
	struct vring vr;

	reset_ring(&vr, false, false);
	for (unsigned int lap = 0; lap < 3; lap++) {
		for (uint16_t i = 0; i < NUM; i++)
			vring_used_put(&vr, (uint16_t)(NUM - 1 - i), lap == 2 && i == 5 ? 99u : 76u);
		vring_used_publish(&vr);
	}
	CHECK(used->idx == 3 * NUM, "three laps published");
	CHECK(used->ring[0].id == NUM - 1 && used->ring[0].len == 76, "unchanged element reads right");
	CHECK(used->ring[5].id == NUM - 6 && used->ring[5].len == 99, "changed element rewritten");
	used->ring[6].id = 0xdead;   /* the guest scribbled on a used slot */
	vring_used_put(&vr, NUM - 1, 76);
	for (uint16_t i = 1; i < 7; i++)
		vring_used_put(&vr, (uint16_t)(NUM - 1 - i), 76);
	CHECK(used->ring[6].id == NUM - 7 && used->ring[6].len == 76, "scribbled element rewritten");
}

/* Prefetching reads what a hostile guest put in the ring but takes nothing and trusts nothing. */
static void test_prefetch_bufs(void)
{
	struct vring vr;
	struct vring_chain c;

	reset_ring(&vr, false, false);
	desc[0] = (struct vring_desc){ BUF_GPA, 64, VRING_DESC_F_WRITE, 0 };
	desc[1] = (struct vring_desc){ 0x900000, 64, VRING_DESC_F_WRITE, 0 };    /* outside memory */
	desc[2] = (struct vring_desc){ 0x100000 + 0x40000 - 4, 64, VRING_DESC_F_WRITE, 0 };
	make_avail(0);
	make_avail(1);
	make_avail(2);
	make_avail(NUM + 5);                                                     /* head out of range */
	vring_prefetch_bufs(&vr, tbl, 4, 12);
	CHECK(vr.last_avail_idx == 0 && vring_avail_pending(&vr) == 4, "prefetch takes nothing");
	CHECK(vring_pop(&vr, tbl, true, &c) == 0 && c.head == 0, "good buffer popped");
	CHECK(vring_pop(&vr, tbl, true, &c) == -EFAULT, "buffer outside memory still refused");
	CHECK(vring_pop(&vr, tbl, true, &c) == 0 && c.nsegs == 2, "buffer across regions popped");
	CHECK(vring_pop(&vr, tbl, true, &c) == -EINVAL, "out-of-range head still refused");
}

int main(void)
{
	CHECK(test_region_make(&mem, 0x100000, 0x40000, 0x7f0000000000ull) == 0, "memory");
	CHECK(test_region_make(&mem2, 0x140000, 0x40000, 0x7f0000040000ull) == 0, "memory 2");
	CHECK(gmem_table_new(&tbl) == 0 && test_region_add(tbl, &mem) == 0 && test_region_add(tbl, &mem2) == 0,
	      "table");
	desc = test_gpa(&mem, DESC_GPA);
	avail = test_gpa(&mem, AVAIL_GPA);
	used = test_gpa(&mem, USED_GPA);
	test_chains();
	test_indirect();
	test_event_idx();
	test_map_checks();
	test_chain_copy();
	test_used_rewrite();
	test_prefetch_bufs();
	gmem_table_free(tbl, true);
	return check_done();
}
