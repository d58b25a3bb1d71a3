/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers every module uses: cleanup attributes, branch hints, container_of. */
#ifndef VULB_CORE_UTIL_H
#define VULB_CORE_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define CACHE_LINE 64
#define __cache_aligned __attribute__((aligned(CACHE_LINE)))

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/*
 * Fetch @p's line ready to be written. __builtin_prefetch(p, 1) only becomes PREFETCHW when
 * the whole build targets it (-mprfchw), and a plain prefetch of a line another CPU holds
 * brings it shared: the store still has to take it over. Every x86-64 CPU of the last decade
 * runs PREFETCHW (older Intel ones as a no-op). A prefetch never faults, so @p may point
 * anywhere.
 */
static inline void prefetch_for_write(const void *p)
{
#if defined(__x86_64__)
	__asm__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a _cleanup_ variable. */
#define TAKE_PTR(p)                        \
	({                                 \
		__typeof__(p) _tp = (p);   \
		(p) = NULL;                \
		_tp;                       \
	})
#define TAKE_FD(fd)                  \
	({                           \
		int _tf = (fd);      \
		(fd) = -1;           \
		_tf;                 \
	})

static inline void close_fd(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd);
		*fd = -1;
	}
}

static inline uint64_t time_ns_mono(void);

#include <time.h>
static inline uint64_t time_ns_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
