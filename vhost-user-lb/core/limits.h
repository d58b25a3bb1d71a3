/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Limits on what a peer can make the daemon allocate: frontends (memory regions, queue pairs),
 * guests' traffic (MAC table entries, load-balancer flows), control clients (connections,
 * request size, ports). Each is configurable in [limits] (docs/usage.md) within a range the
 * code was built for, and each has a counter of the times it refused something.
 *
 * The values in force are one process-wide table: the control thread writes it (start,
 * reload), any thread may read it. The hit counters are atomic; limits hit on the datapath
 * (MAC table, flows) are counted where they happen and summed by the daemon (daemon/limits.c).
 */
#ifndef VULB_CORE_LIMITS_H
#define VULB_CORE_LIMITS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum limit {
	LIMIT_PORTS,             /* ports of every kind */
	LIMIT_QUEUE_PAIRS,       /* queue pairs one port offers its frontend */
	LIMIT_MEM_REGIONS,       /* memory regions one frontend may map */
	LIMIT_FDB_ENTRIES,       /* learned MAC addresses, all ports together */
	LIMIT_FLOWS,             /* load-balancer flows (start-only: the pool is preallocated) */
	LIMIT_CTL_CLIENTS,       /* control connections open at once */
	LIMIT_CTL_REQUEST_BYTES, /* one control request line (start of a new connection) */
	LIMIT__MAX,
};

struct limit_info {
	const char *key;         /* [limits] key, "max-" + name */
	const char *name;        /* label value of the counter: limit_hits{limit="NAME"} */
	uint32_t min, max, def;  /* accepted range; def is the value before this section existed */
	bool reload;             /* a reload changes it (else start-only) */
};

extern const struct limit_info limit_info[LIMIT__MAX];

struct limits {
	uint32_t max[LIMIT__MAX];
};

void limits_init(struct limits *l);
int limits_set(struct limits *l, const char *key, const char *val, char *why, size_t why_len);

/* The table in force. Context: written by the control thread only; read anywhere. */
uint32_t limit_get(enum limit which);
void limits_publish(const struct limits *l);

/*
 * limit_hit() - count one refusal of @which and log "PEER: refused, limit KEY = N reached",
 * @peer_fmt naming the peer and what it asked for (at most 10 lines per 5 s per limit, so a
 * peer cannot flood the log by hitting it in a loop).
 * Context: control thread.
 */
void limit_hit(enum limit which, const char *peer_fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same log line for a refusal counted elsewhere (the datapath's). */
void limit_note(enum limit which, const char *peer_fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refusals counted through limit_hit() (the datapath's own are in daemon/limits.c). */
uint64_t limit_hits_counted(enum limit which);

#endif
