/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory: the regions a frontend shares with us, and translation of guest-physical
 * (gpa) and frontend-virtual (qva) addresses to our host-virtual addresses (hva).
 *
 * A table is immutable once published: the session builds a new one for every change and
 * publishes it with RCU; workers read it under QSBR and never see a half-built table.
 */
#ifndef VULB_GMEM_GMEM_H
#define VULB_GMEM_GMEM_H

#include <stdbool.h>
#include <stdint.h>
#include "core/rcu.h"

#include "proto/vu_proto.h"

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t qva;
	uint64_t mmap_offset;
	uint8_t *hva;     /* == mmap_base + mmap_offset: maps gpa */
	void *mmap_base;
	size_t mmap_len;
	int fd;
	bool shrink_sealed;  /* the file has F_SEAL_SHRINK: it cannot be cut under us */
	int guard;           /* SIGBUS guard slot (gmem/guard.h) of an unsealed file, or -1 */
};

struct gmem_table {
	struct rcu_head rcu;
	unsigned int nregions;
	struct gmem_region regions[VU_MAX_MEM_SLOTS];
};

int gmem_region_map(const struct vu_mem_region *desc, int fd, struct gmem_region *ret, char *why,
		    size_t why_len);
void gmem_region_unmap(struct gmem_region *r);
int gmem_region_guard(struct gmem_region *r, bool *broken);

int gmem_table_new(struct gmem_table **ret);
int gmem_table_add(struct gmem_table *t, const struct gmem_region *r, char *why, size_t why_len);
int gmem_table_remove(struct gmem_table *t, const struct vu_mem_region *desc, struct gmem_region *ret);
struct gmem_table *gmem_table_clone(const struct gmem_table *t);
/* Frees the table; unmaps and closes the regions only when @unmap (a clone shares them). */
void gmem_table_free(struct gmem_table *t, bool unmap);
/* A region of @t whose file shrank under us (its pages are gone), or NULL. */
const struct gmem_region *gmem_table_faulted(const struct gmem_table *t);

/**
 * gmem_gpa_to_hva() - translate a guest-physical address.
 * @t: the table
 * @gpa: address to translate
 * @len: in: bytes wanted; out: bytes contiguous from @gpa in one region (<= in)
 * @hint: in/out index of the region that hit last time (speeds up the common case)
 *
 * A buffer that spans two regions is clipped at the first region's end; the caller translates
 * the rest separately.
 *
 * Context: any thread; @t must stay valid (RCU read side or owner).
 * Return: host address, or NULL when @gpa is in no region.
 */
static inline uint8_t *gmem_gpa_to_hva(const struct gmem_table *t, uint64_t gpa, uint64_t *len,
				       unsigned int *hint)
{
	unsigned int i = *hint;

	if (i < t->nregions) {
		const struct gmem_region *r = &t->regions[i];

		if (gpa - r->gpa < r->size)
			goto found;
	}
	for (i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];

		if (gpa - r->gpa < r->size)
			goto found;
	}
	return NULL;
found:
	*hint = i;
	{
		const struct gmem_region *r = &t->regions[i];
		uint64_t off = gpa - r->gpa;

		if (*len > r->size - off)
			*len = r->size - off;
		return r->hva + off;
	}
}

/* Translates a frontend-virtual address (vring addresses); same contract as above. */
uint8_t *gmem_qva_to_hva(const struct gmem_table *t, uint64_t qva, uint64_t *len);

#endif
