/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xcore-probe: what one cache line costs to move between the frontend's CPU and the backend's.
 *
 * The development VM runs in two speeds that no process controls (docs/performance.md): in
 * the slow one every line the frontend wrote last costs the backend two to three times more,
 * and a pair of runs may land in different speeds. The harness runs this probe right before
 * each run, so each run carries a measure of the speed it ran at and pairs can be compared
 * within one speed.
 *
 * Two threads, pinned to the two CPUs, bounce a counter in one cache line: each waits for the
 * other's value and writes the next, so every step is one line moved across. Printed: the
 * median over REPS batches of the nanoseconds per one-way move.
 *
 * usage: xcore-probe CPU_A CPU_B      output: "xcore_ns=NN.N"
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MOVES 20000     /* one-way moves per batch */
#define REPS 15

static _Alignas(64) volatile uint64_t line;

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		fprintf(stderr, "xcore-probe: cannot pin to CPU %d\n", cpu);
		exit(2);
	}
}

/* Waits for odd values and writes the even ones after them, until the last batch ends. */
static void *echo(void *arg)
{
	pin(*(int *)arg);
	for (uint64_t want = 1; want < (uint64_t)MOVES * REPS; want += 2) {
		while (line != want)
			__builtin_ia32_pause();
		line = want + 1;
	}
	return NULL;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double per_move[REPS];
	int cpu_a, cpu_b;
	pthread_t th;
	uint64_t v = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: xcore-probe CPU_A CPU_B\n");
		return 2;
	}
	cpu_a = atoi(argv[1]);
	cpu_b = atoi(argv[2]);
	if (pthread_create(&th, NULL, echo, &cpu_b))
		return 1;
	pin(cpu_a);
	for (int r = 0; r < REPS; r++) {
		double t0 = now_ns();

		/* MOVES one-way moves: MOVES / 2 round trips. */
		for (int i = 0; i < MOVES; i++) {
			line = ++v;
			while (line != v + 1)
				__builtin_ia32_pause();
			v++;
			i++;
		}
		per_move[r] = (now_ns() - t0) / MOVES;
	}
	pthread_join(th, NULL);
	qsort(per_move, REPS, sizeof(per_move[0]), cmp);
	printf("xcore_ns=%.1f\n", per_move[REPS / 2]);
	return 0;
}
