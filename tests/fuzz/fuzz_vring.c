// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the split-ring descriptor walker (vring/vring.c) over fake guest memory whose
 * region layout, rings, descriptors and indirect tables all come from the input.
 *
 * Input:
 *   u8  flags     bit 0: RX ring (device writes), bit 1: INDIRECT_DESC, bit 2: EVENT_IDX
 *   u8  nregions  1 + (n % 4)
 *   per region:   u8 file (of 4: 64 KiB, 16 KiB, empty, 8 KiB), u64 gpa, u64 size, u64 qva,
 *                 u64 mmap_offset, mapped by the real gmem_region_map()/gmem_table_add()
 *   u16 num, u64 desc_qva, u64 avail_qva, u64 used_qva   (SET_VRING_NUM/ADDR)
 *   u16 base      last_avail_idx (SET_VRING_BASE)
 *   u8  npops     chains the device tries to take
 *   then guest memory writes until the end: u8 file, u16 offset, u8 len, len bytes
 * All integers little-endian. Oracles besides the sanitizers: every ring area and every
 * segment of every chain lies inside one guest region, segment lengths add up, a chain that
 * was popped can be written and read back whole, no fd outlives the input.
 */
#include "fuzz.h"
#include "guestpool.h"
#include "core/util.h"
#include "vring/vring.h"

#define NFILES 4
static struct guest_file files[NFILES];
static struct vring_chain chain;
static uint8_t pattern[65536], readback[65536];

static void init_once(void)
{
	static const size_t sizes[NFILES] = { 65536, 16384, 0, 8192 };

	for (unsigned int i = 0; i < NFILES; i++)
		guest_file_make(&files[i], sizes[i]);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
}

static struct gmem_table *build_table(struct fz *in)
{
	unsigned int n = 1 + fz_u8(in) % 4;
	struct gmem_table *t;

	if (gmem_table_new(&t))
		abort();
	for (unsigned int i = 0; i < n; i++) {
		struct guest_file *f = &files[fz_u8(in) % NFILES];
		struct vu_mem_region d;
		struct gmem_region g;
		char why[160];
		int fd;

		d.guest_phys_addr = fz_u64(in);
		d.memory_size = fz_u64(in);
		d.userspace_addr = fz_u64(in);
		d.mmap_offset = fz_u64(in);
		FUZZ_LOG("vring: region gpa 0x%llx size 0x%llx qva 0x%llx offset 0x%llx\n",
			 (unsigned long long)d.guest_phys_addr, (unsigned long long)d.memory_size,
			 (unsigned long long)d.userspace_addr, (unsigned long long)d.mmap_offset);
		fd = dup(f->fd);
		if (fd < 0)
			abort();
		if (gmem_region_map(&d, fd, &g, why, sizeof(why))) {
			close(fd);
			continue;
		}
		if (gmem_table_add(t, &g, why, sizeof(why)))
			gmem_region_unmap(&g);
	}
	gmem_check_table(t);
	return t;
}

static void check_chain(const struct gmem_table *t, const struct vring_chain *c, int r)
{
	uint64_t sum = 0;

	FUZZ_ASSERT(c->nsegs <= VRING_MAX_SEGS, "%u segments", c->nsegs);
	for (unsigned int i = 0; i < c->nsegs; i++) {
		FUZZ_ASSERT(gmem_contains(t, c->seg[i].hva, c->seg[i].len),
			    "segment %u (%u bytes) outside guest memory", i, c->seg[i].len);
		sum += c->seg[i].len;
	}
	if (r == 0)
		FUZZ_ASSERT(sum == c->len, "segments hold %llu bytes, chain says %u",
			    (unsigned long long)sum, c->len);
}

static void exercise_chain(const struct vring_chain *c)
{
	uint32_t len = c->len < sizeof(pattern) ? c->len : (uint32_t)sizeof(pattern);
	uint32_t off = c->len > 3 ? 3 : 0;

	FUZZ_ASSERT(vring_chain_write(c, 0, pattern, len) == len, "short write");
	FUZZ_ASSERT(vring_chain_read(c, 0, readback, len) == len, "short read");
	/* Two segments may alias the same guest bytes; only then can the copy differ. */
	if (c->nsegs == 1)
		FUZZ_ASSERT(memcmp(pattern, readback, len) == 0, "read back differs");
	FUZZ_ASSERT(vring_chain_read(c, off, readback, len) == MIN(len, c->len - off),
		    "read at an offset");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	struct fz in = { data, size };
	struct gmem_table *t;
	struct vring vr;
	uint8_t flags;
	uint16_t num, base;
	uint64_t dq, aq, uq;
	unsigned int npops;
	char why[160];
	bool dw;

	if (!inited) {
		init_once();
		inited = true;
	}
	fuzz_fd_begin();
	for (unsigned int i = 0; i < NFILES; i++)
		guest_file_wipe(&files[i]);
	flags = fz_u8(&in);
	dw = flags & 1;
	t = build_table(&in);
	num = fz_u16(&in);
	dq = fz_u64(&in);
	aq = fz_u64(&in);
	uq = fz_u64(&in);
	base = fz_u16(&in);
	npops = fz_u8(&in);
	while (in.n) {
		struct guest_file *f = &files[fz_u8(&in) % NFILES];
		size_t off = fz_u16(&in), len = fz_u8(&in);

		guest_file_write(f, off, &in, len);
	}

	memset(&vr, 0, sizeof(vr));
	FUZZ_LOG("vring: %u regions, ring of %u\n", t->nregions, num);
	if (vring_map(&vr, t, num, dq, aq, uq, why, sizeof(why)) == 0) {
		FUZZ_ASSERT(gmem_contains(t, (uint8_t *)vr.desc, vring_desc_bytes(num)) &&
			    gmem_contains(t, (uint8_t *)vr.avail, vring_avail_bytes(num)) &&
			    gmem_contains(t, (uint8_t *)vr.used, vring_used_bytes(num)),
			    "ring area outside guest memory");
		vring_start(&vr, base, flags & 4, flags & 2);
		vring_notify_disable(&vr);
		for (unsigned int i = 0; i < npops; i++) {
			int pending = vring_avail_pending(&vr), r;

			FUZZ_ASSERT(pending <= vr.num, "%d pending in a ring of %u", pending, vr.num);
			if (pending <= 0)
				break;
			r = vring_pop(&vr, t, dw, &chain);
			FUZZ_LOG("vring: pop %d: head %u, %u segments, %u bytes\n", r, chain.head,
				 chain.nsegs, chain.len);
			check_chain(t, &chain, r);
			if (r == 0) {
				FUZZ_ASSERT(chain.head < vr.num, "head %u", chain.head);
				exercise_chain(&chain);
				vring_used_put(&vr, chain.head, dw ? chain.len : 0);
			} else if (r == -EMSGSIZE) {
				vring_used_put(&vr, chain.head, 0);
			} else {
				FUZZ_ASSERT(r == -EINVAL || r == -EFAULT || r == -ELOOP,
					    "vring_pop returned %d", r);
				break;
			}
			if (i % 4 == 3) {
				vring_used_publish(&vr);
				if (vring_need_call_peek(&vr))
					(void)vring_need_call(&vr);
				else
					vring_call_done(&vr);
			}
		}
		vring_used_publish(&vr);
		(void)vring_need_call(&vr);
		(void)vring_notify_enable(&vr);
	}
	gmem_table_free(t, true);
	fuzz_fd_check();
	return 0;
}
