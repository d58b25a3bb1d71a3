/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vu_mem: guest memory as memfd regions, as QEMU's memory-backend-memfd would share it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_internal.h"

#define GIB (1ull << 30)
/* Region 0 keeps its first 64 KiB unused, like the firmware area of a real guest. */
#define LOW_RESERVED (64u << 10)
/*
 * Frontend user addresses live in a range that is neither our mapping nor a gpa and run
 * downwards while gpas run upwards, so "qva - region.qva + region.gpa" confusions show.
 */
#define QVA_TOP 0x5a0000000000ull

int vu_mem_new(const struct vu_mem_opts *o, struct vu_mem **ret)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t stride;
	struct vu_mem *m;
	unsigned i;
	int r;

	if (o->nregions < 1 || o->nregions > VU_MEM_MAX_REGIONS || !o->region_size ||
	    o->region_size % (size_t)page || o->mmap_offset % (uint64_t)page)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (i = 0; i < VU_MEM_MAX_REGIONS; i++)
		m->regions[i].fd = -1;
	stride = o->contiguous_gpa ? o->region_size : ((o->region_size + GIB - 1) / GIB + 1) * GIB;
	for (i = 0; i < o->nregions; i++) {
		struct vu_mem_region *rg = &m->regions[i];
		char name[32];

		snprintf(name, sizeof(name), "vu-guest-%u", i);
		rg->fd = memfd_create(name, MFD_CLOEXEC);
		if (rg->fd < 0) {
			r = -errno;
			goto fail;
		}
		rg->mmap_offset = o->mmap_offset;
		rg->size = o->region_size;
		rg->map_len = o->mmap_offset + o->region_size;
		if (ftruncate(rg->fd, (off_t)rg->map_len) < 0) {
			r = -errno;
			goto fail;
		}
		rg->map_base = mmap(NULL, rg->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, rg->fd, 0);
		if (rg->map_base == MAP_FAILED) {
			rg->map_base = NULL;
			r = -errno;
			goto fail;
		}
		rg->hva = rg->map_base + o->mmap_offset;
		rg->gpa = i * stride;
		rg->qva = QVA_TOP - (i + 1) * (((o->region_size + GIB - 1) / GIB + 1) * GIB);
		rg->used = i == 0 ? LOW_RESERVED : 0;
		if (rg->used > rg->size)
			rg->used = rg->size;
		m->nregions++;
	}
	*ret = m;
	return 0;
fail:
	vu_mem_free(m);
	return r;
}

void vu_mem_free(struct vu_mem *m)
{
	unsigned i;

	if (!m)
		return;
	for (i = 0; i < VU_MEM_MAX_REGIONS; i++) {
		if (m->regions[i].map_base)
			munmap(m->regions[i].map_base, m->regions[i].map_len);
		if (m->regions[i].fd >= 0)
			close(m->regions[i].fd);
	}
	free(m);
}

int vu_mem_alloc(struct vu_mem *m, size_t len, size_t align, uint64_t *ret_gpa, void **ret_hva)
{
	unsigned k;

	if (!align || (align & (align - 1)))
		return -EINVAL;
	for (k = 0; k < m->nregions; k++) {
		unsigned i = (m->next_region + k) % m->nregions;
		struct vu_mem_region *rg = &m->regions[i];
		size_t off = (rg->used + align - 1) & ~(align - 1);

		if (off > rg->size || len > rg->size - off)
			continue;
		rg->used = off + len;
		m->next_region = (i + 1) % m->nregions;
		/* A fresh memfd reads as zeroes and nothing is allocated twice: no memset, so
		 * big rings do not touch every page up front. */
		if (ret_gpa)
			*ret_gpa = rg->gpa + off;
		if (ret_hva)
			*ret_hva = rg->hva + off;
		return 0;
	}
	return -ENOMEM;
}

void *vu_mem_gpa_to_hva(const struct vu_mem *m, uint64_t gpa, size_t len)
{
	unsigned i;

	for (i = 0; i < m->nregions; i++) {
		const struct vu_mem_region *rg = &m->regions[i];

		if (gpa >= rg->gpa && gpa - rg->gpa <= rg->size && len <= rg->size - (gpa - rg->gpa))
			return rg->hva + (gpa - rg->gpa);
	}
	return NULL;
}

uint64_t vu_mem_gpa_to_qva(const struct vu_mem *m, uint64_t gpa)
{
	unsigned i;

	for (i = 0; i < m->nregions; i++) {
		const struct vu_mem_region *rg = &m->regions[i];

		if (gpa >= rg->gpa && gpa - rg->gpa < rg->size)
			return rg->qva + (gpa - rg->gpa);
	}
	return 0;
}

void vu_mem_region_desc(const struct vu_mem *m, unsigned i, struct vu_mem_region_desc *ret)
{
	const struct vu_mem_region *rg = &m->regions[i];

	ret->gpa = rg->gpa;
	ret->size = rg->size;
	ret->qva = rg->qva;
	ret->mmap_offset = rg->mmap_offset;
}
