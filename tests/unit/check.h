/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A tiny check harness: every CHECK prints TAP-style, the exit code says whether all held. */
#ifndef VULB_TESTS_CHECK_H
#define VULB_TESTS_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int check_count, check_failed;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		check_count++;                                                 \
		if (cond) {                                                    \
			printf("ok %d - ", check_count);                       \
		} else {                                                       \
			check_failed++;                                        \
			printf("not ok %d - %s:%d: ", check_count, __FILE__, __LINE__); \
		}                                                              \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
	} while (0)

static inline int check_done(void)
{
	printf("1..%d\n# %d passed, %d failed\n", check_count, check_count - check_failed,
	       check_failed);
	return check_failed ? 1 : 0;
}

#endif
