// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/limits.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/*
 * The defaults are what the code had built in before the limits were configurable; each
 * range's top is what the data structures behind it were built for (fixed arrays sized by
 * VU_MAX_MEM_SLOTS and VU_MAX_QUEUE_PAIRS; LB_MAX_FLOWS_LIMIT; the MAC table's hash table).
 */
const struct limit_info limit_info[LIMIT__MAX] = {
	[LIMIT_PORTS] = { "max-ports", "ports", 1, 4096, 1024, true },
	[LIMIT_QUEUE_PAIRS] = { "max-queue-pairs", "queue-pairs", 1, 16, 16, true },
	[LIMIT_MEM_REGIONS] = { "max-mem-regions", "mem-regions", 1, 32, 32, true },
	[LIMIT_FDB_ENTRIES] = { "max-fdb-entries", "fdb-entries", 16, 1u << 22, 65536, true },
	[LIMIT_FLOWS] = { "max-flows", "flows", 16, 1u << 22, 65536, false },
	[LIMIT_CTL_CLIENTS] = { "max-ctl-clients", "ctl-clients", 1, 1024, 32, true },
	[LIMIT_CTL_REQUEST_BYTES] = { "max-ctl-request-bytes", "ctl-request-bytes", 1024, 16u << 20,
				      65536, true },
};

static uint32_t in_force[LIMIT__MAX] = {
	[LIMIT_PORTS] = 1024,
	[LIMIT_QUEUE_PAIRS] = 16,
	[LIMIT_MEM_REGIONS] = 32,
	[LIMIT_FDB_ENTRIES] = 65536,
	[LIMIT_FLOWS] = 65536,
	[LIMIT_CTL_CLIENTS] = 32,
	[LIMIT_CTL_REQUEST_BYTES] = 65536,
};
static uint64_t hits[LIMIT__MAX];
static struct log_ratelimit hit_rl[LIMIT__MAX];

void limits_init(struct limits *l)
{
	for (unsigned int i = 0; i < LIMIT__MAX; i++)
		l->max[i] = limit_info[i].def;
}

/**
 * limits_set() - one `max-NAME = N` line of [limits].
 * Return: 0, or -EINVAL with "KEY: reason" in @why.
 */
int limits_set(struct limits *l, const char *key, const char *val, char *why, size_t why_len)
{
	for (unsigned int i = 0; i < LIMIT__MAX; i++) {
		const struct limit_info *li = &limit_info[i];
		unsigned long long v;
		char *end;

		if (strcmp(key, li->key) != 0)
			continue;
		errno = 0;
		v = strtoull(val, &end, 10);
		if (!*val || *end || errno || *val == '-' || v < li->min || v > li->max) {
			snprintf(why, why_len, "%s: '%s' is not a number in %u..%u", key, val, li->min,
				 li->max);
			return -EINVAL;
		}
		l->max[i] = (uint32_t)v;
		return 0;
	}
	snprintf(why, why_len, "unknown key '%s' in [limits]", key);
	return -EINVAL;
}

uint32_t limit_get(enum limit which)
{
	return __atomic_load_n(&in_force[which], __ATOMIC_RELAXED);
}

void limits_publish(const struct limits *l)
{
	for (unsigned int i = 0; i < LIMIT__MAX; i++)
		__atomic_store_n(&in_force[i], l->max[i], __ATOMIC_RELAXED);
}

static void note(enum limit which, const char *peer_fmt, va_list ap)
{
	char peer[256];

	if (!log_ratelimit_ok(&hit_rl[which]))
		return;
	vsnprintf(peer, sizeof(peer), peer_fmt, ap);
	log_warn("%s: refused, limit %s = %u reached", peer, limit_info[which].key, limit_get(which));
}

void limit_hit(enum limit which, const char *peer_fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&hits[which], 1, __ATOMIC_RELAXED);
	va_start(ap, peer_fmt);
	note(which, peer_fmt, ap);
	va_end(ap);
}

void limit_note(enum limit which, const char *peer_fmt, ...)
{
	va_list ap;

	va_start(ap, peer_fmt);
	note(which, peer_fmt, ap);
	va_end(ap);
}

uint64_t limit_hits_counted(enum limit which)
{
	return __atomic_load_n(&hits[which], __ATOMIC_RELAXED);
}
