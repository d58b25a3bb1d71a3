/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Synthetic guest memory for unit tests: memfd regions seen by the test and by gmem. */
#ifndef VULB_TESTS_GUESTMEM_H
#define VULB_TESTS_GUESTMEM_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gmem/gmem.h"

struct test_region {
	uint64_t gpa, size, qva;
	uint8_t *view;    /* the test's own mapping */
	int fd;
};

static inline int test_region_make(struct test_region *r, uint64_t gpa, uint64_t size, uint64_t qva)
{
	r->fd = memfd_create("vulb-test", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)size) < 0)
		return -1;
	r->view = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->view == MAP_FAILED)
		return -1;
	r->gpa = gpa;
	r->size = size;
	r->qva = qva;
	return 0;
}

/* Adds @r to @t through the real mapping path (dup'ed fd: the table owns its copy). */
static inline int test_region_add(struct gmem_table *t, const struct test_region *r)
{
	struct vu_mem_region d = { r->gpa, r->size, r->qva, 0 };
	struct gmem_region g;
	char why[160];
	int rc = gmem_region_map(&d, dup(r->fd), &g, why, sizeof(why));

	if (rc)
		return rc;
	rc = gmem_table_add(t, &g, why, sizeof(why));
	if (rc)
		gmem_region_unmap(&g);
	return rc;
}

static inline void *test_gpa(const struct test_region *r, uint64_t gpa)
{
	return r->view + (gpa - r->gpa);
}

#endif
