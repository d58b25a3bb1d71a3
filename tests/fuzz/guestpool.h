/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory for fuzz targets: a few memfds created once, each also mapped by the harness
 * (the "guest's view"). Inputs describe regions over them, mapped through the daemon's real
 * gmem_region_map(), and write guest memory through the view; memory is wiped between inputs.
 */
#ifndef VULB_TESTS_FUZZ_GUESTPOOL_H
#define VULB_TESTS_FUZZ_GUESTPOOL_H

#include <sys/mman.h>

#include "fuzz.h"
#include "gmem/gmem.h"

struct guest_file {
	int fd;
	size_t size;
	uint8_t *view;
};

static inline void guest_file_make(struct guest_file *g, size_t size)
{
	g->fd = memfd_create("vulb-fuzz-guest", MFD_CLOEXEC);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)size) < 0)
		abort();
	g->size = size;
	g->view = NULL;
	if (size) {
		g->view = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
		if (g->view == MAP_FAILED)
			abort();
	}
}

static inline void guest_file_wipe(struct guest_file *g)
{
	if (g->size)
		memset(g->view, 0, g->size);
}

/* The guest writes @len bytes of input at @off of its file (clipped to the file). */
static inline void guest_file_write(struct guest_file *g, size_t off, struct fz *in, size_t len)
{
	if (off >= g->size) {
		uint8_t sink[256];

		while (len) {
			size_t n = len < sizeof(sink) ? len : sizeof(sink);

			(void)fz_bytes(in, sink, n);
			len -= n;
		}
		return;
	}
	if (len > g->size - off) {
		size_t keep = g->size - off;

		(void)fz_bytes(in, g->view + off, keep);
		len -= keep;
		while (len--)
			(void)fz_u8(in);
		return;
	}
	(void)fz_bytes(in, g->view + off, len);
}

/* Oracle: [@p, @p + @len) lies whole inside one region of @t. */
static inline bool gmem_contains(const struct gmem_table *t, const uint8_t *p, uint64_t len)
{
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];

		if (p >= r->hva && (uint64_t)(p - r->hva) <= r->size && len <= r->size - (uint64_t)(p - r->hva))
			return true;
	}
	return false;
}

/* Oracle: every region maps only bytes of its file that exist. */
static inline void gmem_check_table(const struct gmem_table *t)
{
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];

		FUZZ_ASSERT(r->hva >= (uint8_t *)r->mmap_base &&
			    r->mmap_offset + r->size <= r->mmap_len,
			    "region %u: offset 0x%llx size 0x%llx in a %zu-byte mapping", i,
			    (unsigned long long)r->mmap_offset, (unsigned long long)r->size, r->mmap_len);
	}
}

#endif
