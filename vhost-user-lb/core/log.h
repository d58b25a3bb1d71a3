/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging to stderr with levels. Datapath code logs only through log_ratelimited(), so a
 * hostile guest cannot flood the log or stall a worker on stderr.
 */
#ifndef VULB_CORE_LOG_H
#define VULB_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_max_level;

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_level_parse(const char *name, enum log_level *ret);

#define log_error(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_max_level >= LOG_LVL_DEBUG)      \
			log_write(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

/* Allows a burst of 10 lines per 5 s per call site. */
struct log_ratelimit {
	_Atomic uint64_t window_start_ns;
	_Atomic uint32_t printed;
};

bool log_ratelimit_ok(struct log_ratelimit *rl);

#define log_ratelimited(level, ...)                                \
	do {                                                       \
		static struct log_ratelimit _rl;                   \
		if (log_ratelimit_ok(&_rl))                        \
			log_write(level, __VA_ARGS__);             \
	} while (0)

#endif
