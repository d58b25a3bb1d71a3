/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The L2 forwarding database: MAC address -> port, learned from the source addresses of
 * frames, aged out by the control thread. A lock-free hash table (liburcu cds_lfht): workers
 * look up and learn concurrently; removal and freeing go through RCU.
 *
 * A guest can send from any number of source MACs: the table has a hard size limit, and a
 * full table stops learning (frames to unknown MACs are then flooded), never allocates more.
 */
#ifndef VULB_SW_FDB_H
#define VULB_SW_FDB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rcu.h"

struct dp_port;

struct fdb_entry {
	struct cds_lfht_node node;
	uint64_t mac;                 /* 48-bit address in the low bytes, network order */
	struct dp_port *port;         /* atomically replaced when a MAC moves */
	uint64_t seen_s;              /* last time a frame came from it (monotonic seconds) */
	struct rcu_head rcu;
};

struct fdb {
	struct cds_lfht *ht;
	uint32_t count;
	uint32_t max_entries;
	uint64_t learn_refused;
};

int fdb_new(uint32_t max_entries, struct fdb **ret);
void fdb_free(struct fdb *fdb);

struct dp_port *fdb_lookup_rcu(struct fdb *fdb, uint64_t mac);
bool fdb_learn_rcu(struct fdb *fdb, uint64_t mac, struct dp_port *port, uint64_t now_s);
void fdb_set_max(struct fdb *fdb, uint32_t max_entries);
unsigned int fdb_flush_port(struct fdb *fdb, const struct dp_port *port);
unsigned int fdb_age(struct fdb *fdb, uint64_t now_s, uint64_t max_age_s);

typedef void (*fdb_visit_fn)(const struct fdb_entry *e, void *opaque);
void fdb_foreach_rcu(struct fdb *fdb, fdb_visit_fn fn, void *opaque);

static inline uint64_t fdb_mac_from_bytes(const uint8_t *b)
{
	return (uint64_t)b[0] << 40 | (uint64_t)b[1] << 32 | (uint64_t)b[2] << 24 |
	       (uint64_t)b[3] << 16 | (uint64_t)b[4] << 8 | b[5];
}

#endif
