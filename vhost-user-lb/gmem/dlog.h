/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty-page log for live migration (vhost-user spec, "Migration"; VHOST_F_LOG_ALL with
 * VHOST_USER_PROTOCOL_F_LOG_SHMFD): a bitmap shared with the frontend, one bit per 4 KiB page
 * of guest-physical memory. Every byte we write into guest memory while logging is on sets
 * the bit of its page, atomically, since QEMU reads and clears the bitmap concurrently.
 */
#ifndef VULB_GMEM_DLOG_H
#define VULB_GMEM_DLOG_H

#include <stdint.h>

#include "core/rcu.h"
#include "proto/vu_proto.h"

#define DLOG_PAGE_SHIFT 12

struct dlog {
	struct rcu_head rcu;
	uint8_t *bits;
	uint64_t size;        /* bytes of bitmap: covers size * 8 pages */
	void *mmap_base;
	size_t mmap_len;
	uint64_t out_of_range; /* writes past the bitmap's end (logged nowhere: a frontend bug) */
	bool shrink_sealed;   /* the log's file has F_SEAL_SHRINK */
	int guard;            /* SIGBUS guard slot when it has not (gmem/guard.h), or -1 */
	uint64_t writes;       /* writes logged (dlog_mark() calls): shows logging really ran */
};

int dlog_map(const struct vu_log *desc, int fd, struct dlog **ret, char *why, size_t why_len);
void dlog_free(struct dlog *l);

/**
 * dlog_mark() - record a write of @len bytes at guest-physical @gpa.
 * Context: any thread, RCU read side for @l.
 */
static inline void dlog_mark(struct dlog *l, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (!len)
		return;
	__atomic_add_fetch(&l->writes, 1, __ATOMIC_RELAXED);
	page = gpa >> DLOG_PAGE_SHIFT;
	last = (gpa + len - 1) >> DLOG_PAGE_SHIFT;
	if (last < page)   /* wrapped past 2^64 */
		last = UINT64_MAX >> DLOG_PAGE_SHIFT;
	for (; page <= last; page++) {
		if (page / 8 >= l->size) {
			__atomic_add_fetch(&l->out_of_range, 1, __ATOMIC_RELAXED);
			return;
		}
		__atomic_or_fetch(&l->bits[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
	}
}

#endif
