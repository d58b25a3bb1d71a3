// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

enum log_level log_max_level = LOG_LVL_INFO;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int log_level_parse(const char *name, enum log_level *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	va_list ap;
	int n;

	if (level > log_max_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%03ld vhost-user-lb %s: ", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads never interleave. */
	fprintf(stderr, "%s\n", line);
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	const uint64_t window_ns = 5000000000ull;
	uint64_t now = time_ns_mono();
	uint64_t start = atomic_load_explicit(&rl->window_start_ns, memory_order_relaxed);

	if (now - start > window_ns) {
		atomic_store_explicit(&rl->window_start_ns, now, memory_order_relaxed);
		atomic_store_explicit(&rl->printed, 0, memory_order_relaxed);
	}
	return atomic_fetch_add_explicit(&rl->printed, 1, memory_order_relaxed) < 10;
}
