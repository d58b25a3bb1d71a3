/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the fuzz targets: a reader that turns any byte string into well-defined values
 * (short input reads as zeros, so every input means something), and the oracles that are not
 * sanitizers: no fd may outlive the input that opened it, and a failed check aborts, which
 * libFuzzer and the replay test both report as a crash.
 */
#ifndef VULB_TESTS_FUZZ_H
#define VULB_TESTS_FUZZ_H

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_HAVE_LSAN 1
#endif
#endif
#ifdef FUZZ_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Copies up to @len bytes; the rest of @dst is zeroed. Return: bytes taken from the input. */
static inline size_t fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t n = len < f->n ? len : f->n;

	memcpy(dst, f->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	f->p += n;
	f->n -= n;
	return n;
}

/* FUZZ_VERBOSE=1 in the environment: say what an input did (for checking seeds by hand). */
static inline bool fuzz_verbose(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("FUZZ_VERBOSE") != NULL;
	return v;
}

#define FUZZ_LOG(...)                                   \
	do {                                            \
		if (fuzz_verbose())                     \
			fprintf(stderr, __VA_ARGS__);   \
	} while (0)

/*
 * Known bugs, reported but not fixed yet: with VULB_FUZZ_SKIP_KNOWN set (scripts/fuzz.sh sets
 * it) a harness steers around the input that triggers one, so a long run can find the next
 * bug instead of the same one again. Replay tests never set it: their corpus keeps the
 * reproducer, which fails under a sanitizer build until the bug is fixed.
 */
static inline bool fuzz_skip_known(const char *bug)
{
	static int v = -1;

	if (v < 0)
		v = getenv("VULB_FUZZ_SKIP_KNOWN") != NULL;
	if (v)
		FUZZ_LOG("skipping known bug: %s\n", bug);
	return v;
}

#define FUZZ_ASSERT(cond, ...)                                                          \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "fuzz oracle failed at %s:%d: %s: ", __FILE__,  \
				__LINE__, #cond);                                       \
			fprintf(stderr, __VA_ARGS__);                                   \
			fprintf(stderr, "\n");                                          \
			abort();                                                        \
		}                                                                       \
	} while (0)

/*
 * fd leak oracle: an input must close every fd it opened. The count is taken at the start of
 * each input (fuzz_fd_begin()), not once: libFuzzer itself may open fds between inputs (it
 * starts llvm-symbolizer, with two pipes, the first time it prints a new function). Counting
 * /proc/self/fd costs a handful of syscalls; probing every fd number with fcntl() would cost
 * hundreds, which in this VM is most of an input's time.
 */
static int fuzz_fd_baseline = -1;

static inline int fuzz_count_fds(bool print)
{
	char buf[4096];
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	long got;

	if (dfd < 0)
		abort();
	while ((got = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < got;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);

			if (e->d_name[0] != '.' && atoi(e->d_name) != dfd) {
				n++;
				if (print) {
					char path[300], target[256];
					ssize_t l;

					snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
					l = readlink(path, target, sizeof(target) - 1);
					target[l > 0 ? l : 0] = '\0';
					fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
				}
			}
			off += e->d_reclen;
		}
	}
	close(dfd);
	return n;
}

static inline void fuzz_fd_begin(void)
{
	fuzz_fd_baseline = fuzz_count_fds(false);
}

static inline void fuzz_fd_check(void)
{
	int n = fuzz_count_fds(false);

	if (n != fuzz_fd_baseline) {
		fprintf(stderr, "%d fds open after the input, %d before; open now:\n", n,
			fuzz_fd_baseline);
		(void)fuzz_count_fds(true);
	}
	FUZZ_ASSERT(n == fuzz_fd_baseline, "fd leak");
}

/*
 * For targets fuzzed with -detect_leaks=0 because the code frees through call_rcu() (every
 * input would look unbalanced and cost a full LSan scan): every @every inputs, let deferred
 * frees finish (@settle, e.g. rcu_barrier()), then look for leaks. Catches leaks that add up.
 */
static inline void fuzz_periodic_leak_check(unsigned int every, void (*settle)(void))
{
#ifdef FUZZ_HAVE_LSAN
	static unsigned int n;

	if (++n % every)
		return;
	settle();
	FUZZ_ASSERT(__lsan_do_recoverable_leak_check() == 0, "memory leaked (report above)");
#else
	(void)every;
	(void)settle;
#endif
}

#endif
