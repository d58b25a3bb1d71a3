/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memcpy-bench: the physical limit beside the switch figures. A one-copy switch cannot move
 * 64 B or 1518 B frames faster than one core copies them, so the harness prints this next to
 * the forwarding rates.
 *
 * Copies go between two sets of NBUF buffers of 2 KiB each (the size of a virtio RX buffer or
 * an mbuf), data at a 128 B offset like an mbuf's headroom:
 *   ring: 256 buffers per side (one 256-entry virtqueue's worth, cache resident)
 *   pool: 16384 buffers per side (32 MiB, beyond the caches)
 * glibc memcpy is called through a volatile pointer so the compiler cannot inline or elide it.
 * Time is the thread's CPU time, so slices lost to other processes on a shared machine do not
 * count; each figure is the median of REPS runs of about 0.1 s.
 *
 * Output: one line per (set, size): "set=ring size=64 mcopy_per_s=... gbyte_per_s=... ns=..."
 * usage: memcpy-bench [--quick]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF_STRIDE 2048
#define BUF_OFF 128

static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static __attribute__((noinline)) void copy_loop(uint8_t *dst, const uint8_t *src, size_t len,
						unsigned int nbuf, uint64_t iters)
{
	unsigned int j = 0;

	for (uint64_t i = 0; i < iters; i++) {
		copy_fn(dst + (size_t)j * BUF_STRIDE + BUF_OFF, src + (size_t)j * BUF_STRIDE + BUF_OFF,
			len);
		if (++j == nbuf)
			j = 0;
	}
	/* keep the stores: the destination is never read otherwise */
	__asm__ volatile("" : : "r"(dst) : "memory");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Return: median copies per CPU-second over reps runs of about target_s each. */
static double measure(uint8_t *dst, const uint8_t *src, size_t len, unsigned int nbuf,
		      double target_s, int reps)
{
	uint64_t iters = 1 << 12;
	double rate[16], t;
	int i;

	for (;;) {
		t = cpu_now();
		copy_loop(dst, src, len, nbuf, iters);
		t = cpu_now() - t;
		if (t > target_s / 8)
			break;
		iters *= 4;
	}
	iters = (uint64_t)((double)iters * target_s / t) + 1;
	for (i = 0; i < reps; i++) {
		t = cpu_now();
		copy_loop(dst, src, len, nbuf, iters);
		rate[i] = (double)iters / (cpu_now() - t);
	}
	qsort(rate, (size_t)reps, sizeof(rate[0]), cmp_double);
	return rate[reps / 2];
}

int main(int argc, char **argv)
{
	const struct {
		const char *name;
		unsigned int nbuf;
	} sets[] = { { "ring", 256 }, { "pool", 16384 } };
	const size_t lens[] = { 64, 1518 };
	int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	int reps = quick ? 3 : 7;
	double target = quick ? 0.05 : 0.1;
	size_t bytes = (size_t)16384 * BUF_STRIDE;
	uint8_t *src = aligned_alloc(4096, bytes), *dst = aligned_alloc(4096, bytes);

	if (!src || !dst) {
		fprintf(stderr, "memcpy-bench: out of memory\n");
		return 1;
	}
	memset(src, 0x5a, bytes);
	memset(dst, 0xa5, bytes);
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			double r = measure(dst, src, lens[l], sets[s].nbuf, target, reps);

			printf("set=%s size=%zu mcopy_per_s=%.1f gbyte_per_s=%.2f ns=%.2f\n",
			       sets[s].name, lens[l], r / 1e6, r * (double)lens[l] / 1e9, 1e9 / r);
		}
	}
	free(src);
	free(dst);
	return 0;
}
