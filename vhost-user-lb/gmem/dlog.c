// SPDX-License-Identifier: GPL-2.0-or-later
#include "gmem/dlog.h"
#include "gmem/guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

/* The log for 1 TiB of guest memory is 32 MiB; anything larger is not a real request. */
#define DLOG_MAX_SIZE (64ull << 20)

/**
 * dlog_map() - map the log the frontend hands over with SET_LOG_BASE.
 * Context: control thread. Takes ownership of @fd only on success (it is closed once mapped).
 * Return: 0, or -errno with a reason in @why.
 */
int dlog_map(const struct vu_log *desc, int fd, struct dlog **ret, char *why, size_t why_len)
{
	uint64_t end;
	struct stat st;
	struct dlog *l;
	void *base;

	if (desc->mmap_size == 0 || desc->mmap_size > DLOG_MAX_SIZE ||
	    __builtin_add_overflow(desc->mmap_offset, desc->mmap_size, &end)) {
		WHY("log of %llu bytes at offset %llu", (unsigned long long)desc->mmap_size,
		    (unsigned long long)desc->mmap_offset);
		return -EINVAL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < end) {
		WHY("log fd is not a file of at least %llu bytes", (unsigned long long)end);
		return -EINVAL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	base = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		WHY("mmap of the log: %s", strerror(errno));
		free(l);
		return -errno;
	}
	l->mmap_base = base;
	l->mmap_len = (size_t)end;
	l->bits = (uint8_t *)base + desc->mmap_offset;
	l->size = desc->mmap_size;
	l->shrink_sealed = gmem_fd_shrink_sealed(fd);
	l->guard = -1;
	close(fd);
	*ret = l;
	return 0;
}

void dlog_free(struct dlog *l)
{
	if (!l)
		return;
	gmem_guard_remove(l->guard);
	(void)munmap(l->mmap_base, l->mmap_len);
	free(l);
}
