// SPDX-License-Identifier: GPL-2.0-or-later
#include "sw/fdb.h"

#include <stdlib.h>

#include "core/util.h"

static unsigned long mac_hash(uint64_t mac)
{
	/* A multiplicative mix: MACs of one vendor differ only in their low bytes. */
	mac *= 0x9e3779b97f4a7c15ull;
	return (unsigned long)(mac ^ (mac >> 29));
}

static int mac_match(struct cds_lfht_node *node, const void *key)
{
	rcu_tsan_consume(node);   /* the table hands us a node another thread published */
	return container_of(node, struct fdb_entry, node)->mac == *(const uint64_t *)key;
}

int fdb_new(uint32_t max_entries, struct fdb **ret)
{
	struct fdb *fdb = calloc(1, sizeof(*fdb));

	if (!fdb)
		return -ENOMEM;
	fdb->ht = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (!fdb->ht) {
		free(fdb);
		return -ENOMEM;
	}
	fdb->max_entries = max_entries;
	*ret = fdb;
	return 0;
}

static void entry_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	free(container_of(head, struct fdb_entry, rcu));
}

/* Context: control thread, registered and online; no reader may be left (daemon exit). */
void fdb_free(struct fdb *fdb)
{
	if (!fdb)
		return;
	(void)fdb_flush_port(fdb, NULL);
	rcu_barrier();
	(void)cds_lfht_destroy(fdb->ht, NULL);
	free(fdb);
}

/**
 * fdb_lookup_rcu() - port a MAC was last seen on.
 * Context: RCU read side (any registered thread). Return: the port or NULL.
 */
struct dp_port *fdb_lookup_rcu(struct fdb *fdb, uint64_t mac)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(fdb->ht, mac_hash(mac), mac_match, &mac, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (!node)
		return NULL;
	return __atomic_load_n(&container_of(node, struct fdb_entry, node)->port, __ATOMIC_ACQUIRE);
}

/**
 * fdb_set_max() - change the size limit ([limits] max-fdb-entries, on reload). A table
 * already above a lowered limit keeps its entries and learns again once aging brings it below.
 * Context: control thread.
 */
void fdb_set_max(struct fdb *fdb, uint32_t max_entries)
{
	__atomic_store_n(&fdb->max_entries, max_entries, __ATOMIC_RELAXED);
}

/**
 * fdb_learn_rcu() - record that @mac was seen on @port.
 * Allocates only for a MAC not yet in the table, and only while below the limit.
 * Context: RCU read side, any worker.
 * Return: false when the table was full and @mac was not learned.
 */
bool fdb_learn_rcu(struct fdb *fdb, uint64_t mac, struct dp_port *port, uint64_t now_s)
{
	unsigned long hash = mac_hash(mac);
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct fdb_entry *e;

	cds_lfht_lookup(fdb->ht, hash, mac_match, &mac, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		e = container_of(node, struct fdb_entry, node);
		if (__atomic_load_n(&e->port, __ATOMIC_RELAXED) != port)
			__atomic_store_n(&e->port, port, __ATOMIC_RELEASE);
		if (__atomic_load_n(&e->seen_s, __ATOMIC_RELAXED) != now_s)
			__atomic_store_n(&e->seen_s, now_s, __ATOMIC_RELAXED);
		return true;
	}
	if (__atomic_add_fetch(&fdb->count, 1, __ATOMIC_RELAXED) >
	    __atomic_load_n(&fdb->max_entries, __ATOMIC_RELAXED)) {
		__atomic_sub_fetch(&fdb->count, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fdb->learn_refused, 1, __ATOMIC_RELAXED);
		return false;
	}
	e = malloc(sizeof(*e));
	if (!e) {
		__atomic_sub_fetch(&fdb->count, 1, __ATOMIC_RELAXED);
		return true;
	}
	cds_lfht_node_init(&e->node);
	e->mac = mac;
	e->port = port;
	e->seen_s = now_s;
	rcu_tsan_publish(&e->node);
	/* Two workers may learn the same MAC at once: the loser frees its copy. */
	if (cds_lfht_add_unique(fdb->ht, hash, mac_match, &mac, &e->node) != &e->node) {
		__atomic_sub_fetch(&fdb->count, 1, __ATOMIC_RELAXED);
		free(e);
	}
	return true;
}

static unsigned int remove_if(struct fdb *fdb, bool (*pred)(const struct fdb_entry *, const void *),
			      const void *arg)
{
	struct cds_lfht_iter iter;
	struct fdb_entry *e;
	unsigned int n = 0;

	cds_lfht_for_each_entry(fdb->ht, &iter, e, node) {
		rcu_tsan_consume(&e->node);
		if (!pred(e, arg))
			continue;
		if (cds_lfht_del(fdb->ht, &e->node) == 0) {
			__atomic_sub_fetch(&fdb->count, 1, __ATOMIC_RELAXED);
			call_rcu(&e->rcu, entry_free_rcu);
			n++;
		}
	}
	return n;
}

static bool on_port(const struct fdb_entry *e, const void *port)
{
	return !port || __atomic_load_n(&e->port, __ATOMIC_RELAXED) == port;
}

/**
 * fdb_flush_port() - forget every MAC learned on @port (all MACs when @port is NULL).
 * Context: control thread, RCU read side. Entries are freed after a grace period.
 */
unsigned int fdb_flush_port(struct fdb *fdb, const struct dp_port *port)
{
	return remove_if(fdb, on_port, port);
}

struct age_arg {
	uint64_t now_s, max_age_s;
};

static bool too_old(const struct fdb_entry *e, const void *arg)
{
	const struct age_arg *a = arg;

	return a->now_s - __atomic_load_n(&e->seen_s, __ATOMIC_RELAXED) > a->max_age_s;
}

/* Context: control thread, RCU read side. Return: entries removed. */
unsigned int fdb_age(struct fdb *fdb, uint64_t now_s, uint64_t max_age_s)
{
	struct age_arg a = { now_s, max_age_s };

	return remove_if(fdb, too_old, &a);
}

void fdb_foreach_rcu(struct fdb *fdb, fdb_visit_fn fn, void *opaque)
{
	struct cds_lfht_iter iter;
	struct fdb_entry *e;

	cds_lfht_for_each_entry(fdb->ht, &iter, e, node) {
		rcu_tsan_consume(&e->node);
		fn(e, opaque);
	}
}
