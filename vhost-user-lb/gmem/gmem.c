// SPDX-License-Identifier: GPL-2.0-or-later
#include "gmem/gmem.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/util.h"
#include "gmem/guard.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

/**
 * gmem_region_map() - map one region the frontend described, after checking it.
 * Context: control thread. Takes ownership of @fd only on success.
 * Return: 0, or -errno with a reason in @why.
 */
int gmem_region_map(const struct vu_mem_region *desc, int fd, struct gmem_region *ret, char *why,
		    size_t why_len)
{
	uint64_t end, map_len;
	struct stat st;
	void *base;

	if (desc->memory_size == 0) {
		WHY("region of size 0");
		return -EINVAL;
	}
	if (__builtin_add_overflow(desc->guest_phys_addr, desc->memory_size, &end) ||
	    __builtin_add_overflow(desc->userspace_addr, desc->memory_size, &end) ||
	    __builtin_add_overflow(desc->mmap_offset, desc->memory_size, &map_len)) {
		WHY("region 0x%llx+0x%llx (offset 0x%llx) overflows",
		    (unsigned long long)desc->guest_phys_addr, (unsigned long long)desc->memory_size,
		    (unsigned long long)desc->mmap_offset);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0) {
		WHY("fstat on region fd: %s", strerror(errno));
		return -errno;
	}
	/*
	 * Touching a page past the end of the file would raise SIGBUS in a worker and take every
	 * guest down with us: the file must cover the whole region.
	 */
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < map_len) {
		WHY("region fd is not a file of at least %llu bytes", (unsigned long long)map_len);
		return -EINVAL;
	}
	/* hugetlbfs mappings must be a multiple of the huge page size (its st_blksize). */
	if (st.st_blksize > 4096) {
		uint64_t bs = (uint64_t)st.st_blksize;

		map_len = (map_len + bs - 1) / bs * bs;
		if (map_len > (uint64_t)st.st_size)
			map_len = (uint64_t)st.st_size;
	}
	if (map_len > SIZE_MAX) {
		WHY("region too large");
		return -E2BIG;
	}
	base = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		WHY("mmap of %llu bytes: %s", (unsigned long long)map_len, strerror(errno));
		return -errno;
	}
	(void)madvise(base, (size_t)map_len, MADV_DONTDUMP);
	*ret = (struct gmem_region){
		.gpa = desc->guest_phys_addr,
		.size = desc->memory_size,
		.qva = desc->userspace_addr,
		.mmap_offset = desc->mmap_offset,
		.hva = (uint8_t *)base + desc->mmap_offset,
		.mmap_base = base,
		.mmap_len = (size_t)map_len,
		.fd = fd,
		.shrink_sealed = gmem_fd_shrink_sealed(fd),
		.guard = -1,
	};
	return 0;
}

/**
 * gmem_region_guard() - protect a mapped region from its file being cut under us.
 * @broken: what the SIGBUS guard sets when it recovers a fault in this region (the port's
 * broken flag).
 *
 * The size check in gmem_region_map() only holds at map time: a frontend that did not seal
 * its file (F_SEAL_SHRINK) can ftruncate() it afterwards, and the next access past the new end
 * raises SIGBUS. QEMU seals its memfd backends; hugetlbfs files and other frontends' memfds may
 * not be. Such regions are registered with the guard (gmem/guard.h); sealed ones need nothing.
 *
 * Context: control thread, before the region is published.
 * Return: 0, or -ENOSPC when the guard has no slot left (refuse the region then).
 */
int gmem_region_guard(struct gmem_region *r, bool *broken)
{
	int slot;

	if (r->shrink_sealed || r->guard >= 0 || !gmem_guard_active())
		return 0;
	slot = gmem_guard_add(r->mmap_base, r->mmap_len, broken);
	if (slot < 0)
		return slot;
	r->guard = slot;
	return 0;
}


void gmem_region_unmap(struct gmem_region *r)
{
	/* Unregister before munmap(): the address range may be reused by the next mmap(). */
	gmem_guard_remove(r->guard);
	r->guard = -1;
	if (r->mmap_base)
		(void)munmap(r->mmap_base, r->mmap_len);
	if (r->fd >= 0)
		(void)close(r->fd);
	r->mmap_base = NULL;
	r->fd = -1;
}

int gmem_table_new(struct gmem_table **ret)
{
	struct gmem_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	*ret = t;
	return 0;
}

struct gmem_table *gmem_table_clone(const struct gmem_table *t)
{
	struct gmem_table *c = malloc(sizeof(*c));

	if (c)
		memcpy(c, t, sizeof(*c));
	return c;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/**
 * gmem_table_add() - add a mapped region to an unpublished table.
 * Regions may not overlap in guest-physical or frontend-virtual space: an overlap would make
 * translation ambiguous, and a frontend that sends one is broken or hostile.
 * Return: 0, -ENOSPC when full, -EINVAL on overlap (reason in @why).
 */
int gmem_table_add(struct gmem_table *t, const struct gmem_region *r, char *why, size_t why_len)
{
	if (t->nregions >= VU_MAX_MEM_SLOTS) {
		WHY("more than %d memory regions", VU_MAX_MEM_SLOTS);
		return -ENOSPC;
	}
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct gmem_region *o = &t->regions[i];

		if (ranges_overlap(o->gpa, o->size, r->gpa, r->size)) {
			WHY("region gpa 0x%llx+0x%llx overlaps region %u",
			    (unsigned long long)r->gpa, (unsigned long long)r->size, i);
			return -EINVAL;
		}
		if (ranges_overlap(o->qva, o->size, r->qva, r->size)) {
			WHY("region frontend address 0x%llx+0x%llx overlaps region %u",
			    (unsigned long long)r->qva, (unsigned long long)r->size, i);
			return -EINVAL;
		}
	}
	t->regions[t->nregions++] = *r;
	return 0;
}

/* Removes the region matching @desc exactly (REM_MEM_REG) and hands it to the caller. */
int gmem_table_remove(struct gmem_table *t, const struct vu_mem_region *desc, struct gmem_region *ret)
{
	for (unsigned int i = 0; i < t->nregions; i++) {
		struct gmem_region *r = &t->regions[i];

		if (r->gpa == desc->guest_phys_addr && r->size == desc->memory_size &&
		    r->qva == desc->userspace_addr) {
			*ret = *r;
			memmove(r, r + 1, (t->nregions - i - 1) * sizeof(*r));
			t->nregions--;
			return 0;
		}
	}
	return -ENOENT;
}

void gmem_table_free(struct gmem_table *t, bool unmap)
{
	if (!t)
		return;
	if (unmap)
		for (unsigned int i = 0; i < t->nregions; i++)
			gmem_region_unmap(&t->regions[i]);
	free(t);
}

const struct gmem_region *gmem_table_faulted(const struct gmem_table *t)
{
	for (unsigned int i = 0; t && i < t->nregions; i++)
		if (gmem_guard_faulted(t->regions[i].guard))
			return &t->regions[i];
	return NULL;
}

uint8_t *gmem_qva_to_hva(const struct gmem_table *t, uint64_t qva, uint64_t *len)
{
	for (unsigned int i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];
		uint64_t off = qva - r->qva;

		if (off < r->size) {
			if (*len > r->size - off)
				*len = r->size - off;
			return r->hva + off;
		}
	}
	return NULL;
}
