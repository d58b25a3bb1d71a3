// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Connection tracking: a flow is two nodes in one liburcu lock-free hash table, one keyed by
 * the tuple of the client's frames (client -> VIP) and one by the tuple of the backend's
 * replies (backend -> client), so both directions find the flow with one lookup.
 *
 * Workers create flows (cds_lfht_add_unique on the client tuple decides between two workers
 * racing on the same new flow: the loser takes the winner's flow and backend) and update
 * their state; only the control thread deletes them (expiry, flush), and a flow's memory goes
 * back to the pool after a grace period. The control thread walks the pool array, not the
 * hash table: a split-ordered list walk chases one pointer per node and per bucket, a cache
 * miss each, where the array is read in order.
 *
 * Entries come from a pool of max flows allocated up front, pushed and popped lock-free (a
 * Treiber stack of indices with an ABA tag), so the datapath never calls malloc and a guest
 * opening connections cannot make the table grow: when the pool is empty, new flows are
 * refused and existing ones carry on. Entries of deleted flows return after a grace period,
 * and a worker that loses a creation race holds one for a moment, so a table at its limit
 * can refuse a flow it would have had room for a few microseconds later.
 *
 * TCP state is a set of flags that only grows (SYN, FIN and RST seen per direction, reply
 * seen), updated with a compare-and-swap, so two workers handling the two directions of a
 * flow never lose each other's updates. The state and its idle timeout follow from the flags.
 */
#include "lb/lb_internal.h"

#include <stdlib.h>

const char *const lb_flow_state_names[LB_FS__MAX] = {
	[LB_FS_SYN_SENT] = "syn_sent",
	[LB_FS_ESTABLISHED] = "established",
	[LB_FS_FIN_WAIT] = "fin_wait",
	[LB_FS_CLOSING] = "closing",
	[LB_FS_UDP] = "udp",
};

/* Context: any thread; pure. */
enum lb_flow_state lb_flow_state(uint8_t proto, uint32_t flags)
{
	if (proto != LB_PROTO_TCP)
		return LB_FS_UDP;
	if (flags & LB_F_RST)
		return LB_FS_CLOSING;
	if ((flags & (LB_F_FIN_O | LB_F_FIN_R)) == (LB_F_FIN_O | LB_F_FIN_R))
		return LB_FS_CLOSING;
	if (flags & (LB_F_FIN_O | LB_F_FIN_R))
		return LB_FS_FIN_WAIT;
	if (flags & LB_F_REPLIED)
		return LB_FS_ESTABLISHED;
	return LB_FS_SYN_SENT;
}

/* Context: any thread; pure. Return: the idle timeout of @st in seconds. */
uint32_t lb_flow_timeout(const struct lb_timeouts *to, enum lb_flow_state st)
{
	switch (st) {
	case LB_FS_SYN_SENT: return to->tcp_syn;
	case LB_FS_ESTABLISHED: return to->tcp_established;
	case LB_FS_FIN_WAIT: return to->tcp_fin;
	case LB_FS_CLOSING: return to->tcp_closing;
	case LB_FS_UDP:
	case LB_FS__MAX: break;
	}
	return to->udp;
}

/**
 * lb_flow_update_flags() - the flags after a frame in direction @dir (0: from the client).
 * A bare SYN from the client on a closing flow starts it over (a client reusing its port
 * after TIME_WAIT); it keeps its backend.
 * Context: any thread; pure.
 */
uint32_t lb_flow_update_flags(uint32_t old, uint8_t proto, unsigned int dir, uint8_t tcp_flags)
{
	uint32_t add = dir ? LB_F_REPLIED : 0;
	const uint8_t kind = LB_TCP_SYN | LB_TCP_ACK | LB_TCP_RST | LB_TCP_FIN;

	if (proto != LB_PROTO_TCP)
		return old | add;
	if (!dir && (tcp_flags & kind) == LB_TCP_SYN && lb_flow_state(proto, old) == LB_FS_CLOSING)
		return LB_F_SYN_O;
	if (tcp_flags & LB_TCP_RST)
		add |= LB_F_RST;
	if (tcp_flags & LB_TCP_FIN)
		add |= dir ? LB_F_FIN_R : LB_F_FIN_O;
	if (tcp_flags & LB_TCP_SYN)
		add |= dir ? LB_F_SYN_R : LB_F_SYN_O;
	return old | add;
}

static int fnode_match(struct cds_lfht_node *node, const void *key)
{
	rcu_tsan_consume(node);   /* the table hands us a node another thread published */
	return lb_tuple_eq(&container_of(node, struct lb_fnode, node)->key, key);
}

static struct lb_flow *flow_of(struct cds_lfht_node *node)
{
	struct lb_fnode *fn = container_of(node, struct lb_fnode, node);

	return container_of(fn - fn->key.dir, struct lb_flow, fn[0]);
}

static struct lb_flow *pool_get(struct lb_flows *f)
{
	uint64_t old = __atomic_load_n(&f->free_head, __ATOMIC_ACQUIRE), next;

	for (;;) {
		uint32_t idx = (uint32_t)old;

		if (!idx)
			return NULL;
		/* May read a stale link if another thread popped it first: the tag then fails the CAS. */
		next = ((old >> 32) + 1) << 32 |
		       __atomic_load_n(&f->pool[idx - 1].next_free, __ATOMIC_RELAXED);
		if (__atomic_compare_exchange_n(&f->free_head, &old, next, true, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return &f->pool[idx - 1];
	}
}

static void pool_put(struct lb_flows *f, struct lb_flow *fl)
{
	uint64_t old = __atomic_load_n(&f->free_head, __ATOMIC_RELAXED), next;
	uint32_t idx = (uint32_t)(fl - f->pool) + 1;

	__atomic_store_n(&fl->life, LB_LIFE_FREE, __ATOMIC_RELAXED);
	do {
		__atomic_store_n(&fl->next_free, (uint32_t)old, __ATOMIC_RELAXED);
		next = ((old >> 32) + 1) << 32 | idx;
		/* Release pairs with pool_get()'s acquire: the link is visible before the head. */
	} while (!__atomic_compare_exchange_n(&f->free_head, &old, next, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

static void flow_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	struct lb_flow *fl = container_of(head, struct lb_flow, rcu);

	pool_put(fl->owner, fl);
}

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/**
 * lb_flows_init() - an empty flow table with room for @max flows, all allocated now.
 * The hash table has a fixed bucket count (two nodes per flow, one bucket per node): it never
 * resizes, so adding a node never allocates on the datapath.
 * Context: control thread. Return: 0, -EINVAL, -ENOMEM.
 */
int lb_flows_init(struct lb_flows *f, uint32_t max, const struct lb_timeouts *to, bool pickup,
		  const uint64_t key[2])
{
	uint32_t buckets;

	if (!max || max > LB_MAX_FLOWS_LIMIT)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->pool = calloc(max, sizeof(*f->pool));
	if (!f->pool)
		return -ENOMEM;
	/* One bucket per flow: two nodes per bucket on average when full. */
	buckets = roundup_pow2(MAX(max, 64u));
	f->ht = cds_lfht_new(buckets, buckets, buckets, 0, NULL);
	if (!f->ht) {
		free(f->pool);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < max; i++) {
		f->pool[i].owner = f;
		f->pool[i].next_free = i + 1 < max ? i + 2 : 0;
	}
	f->free_head = 1;
	f->max = max;
	f->to = *to;
	f->pickup = pickup;
	f->key[0] = key[0];
	f->key[1] = key[1];
	return 0;
}

/* Context: control thread, no reader left (teardown). */
void lb_flows_fini(struct lb_flows *f)
{
	if (!f->ht)
		return;
	for (uint32_t i = 0; i < f->max; i++) {
		struct lb_flow *fl = &f->pool[i];

		if (fl->life != LB_LIFE_LIVE)
			continue;   /* DEAD ones are unlinked already, FREE ones never were */
		(void)cds_lfht_del(f->ht, &fl->fn[0].node);
		(void)cds_lfht_del(f->ht, &fl->fn[1].node);
		fl->life = LB_LIFE_FREE;
	}
	rcu_barrier();   /* flows freed earlier go back to the pool before the pool goes */
	(void)cds_lfht_destroy(f->ht, NULL);
	free(f->pool);
	f->ht = NULL;
	f->pool = NULL;
}

/**
 * lb_flow_lookup_rcu() - the flow a frame with tuple @t belongs to (either direction).
 * Context: RCU read side. Return: the flow or NULL.
 */
struct lb_flow *lb_flow_lookup_rcu(struct lb_flows *f, const struct lb_tuple *t, uint64_t hash)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(f->ht, (unsigned long)hash, fnode_match, t, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? flow_of(node) : NULL;
}

/**
 * lb_flow_seen_rcu() - account a frame of @fl in direction @dir: TCP flags and last-seen time.
 * Writes only what changed, so a busy flow costs no shared-cache-line writes but one per second.
 * Context: RCU read side, any worker.
 */
void lb_flow_seen_rcu(struct lb_flow *fl, unsigned int dir, uint8_t tcp_flags, uint64_t now_s)
{
	const uint8_t proto = fl->fn[0].key.proto;
	uint32_t old = __atomic_load_n(&fl->flags, __ATOMIC_RELAXED);

	for (;;) {
		uint32_t next = lb_flow_update_flags(old, proto, dir, tcp_flags);

		if (next == old || __atomic_compare_exchange_n(&fl->flags, &old, next, true,
							       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			break;
	}
	if (__atomic_load_n(&fl->last_s, __ATOMIC_RELAXED) < now_s)
		__atomic_store_n(&fl->last_s, now_s, __ATOMIC_RELAXED);
}

/* Unlinks a flow its caller owns (it won the move to DEAD) and frees it after a grace period. */
static void flow_retire(struct lb_flows *f, struct lb_flow *fl, bool reply_in)
{
	(void)cds_lfht_del(f->ht, &fl->fn[0].node);
	if (reply_in)
		(void)cds_lfht_del(f->ht, &fl->fn[1].node);
	__atomic_sub_fetch(&f->count, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&fl->be->active_flows, 1, __ATOMIC_RELAXED);
	call_rcu(&fl->rcu, flow_free_rcu);
}

/**
 * lb_flow_create_rcu() - make a flow for a client frame with tuple @t (dir 0), hash @hash.
 * @pick: chooses the backend; called once, before the flow takes a pool entry.
 *
 * Counts are raised before the flow is linked, so whoever unlinks it later always lowers
 * counts that were raised.
 *
 * Context: RCU read side, any worker. Never allocates.
 * Return: 0 with *@ret the new flow; 1 with *@ret the flow another worker made first (its
 * backend wins); -ENOENT when @pick found no backend; -ENOSPC when the table is full;
 * -EADDRINUSE when the backend-side tuple already belongs to another flow (two VIPs sending
 * the same client port to the same backend port).
 */
int lb_flow_create_rcu(struct lb_flows *f, const struct lb_tuple *t, uint64_t hash,
		       struct lb_vip *vip, lb_pick_fn pick, void *opaque, uint64_t now_s,
		       struct lb_flow **ret)
{
	struct cds_lfht_node *node;
	struct lb_backend *be;
	struct lb_flow *fl;
	uint8_t creating = LB_LIFE_CREATING;

	be = pick(opaque);
	if (!be)
		return -ENOENT;
	fl = pool_get(f);
	if (!fl)
		return -ENOSPC;
	cds_lfht_node_init(&fl->fn[0].node);
	cds_lfht_node_init(&fl->fn[1].node);
	fl->fn[0].key = *t;
	fl->fn[0].key.dir = 0;
	fl->fn[1].key = (struct lb_tuple){
		.saddr = be->addr, .sport = be->port, .daddr = t->saddr, .dport = t->sport,
		.proto = t->proto, .dir = 1,
	};
	fl->vip = vip;
	fl->be = be;
	fl->flags = 0;
	fl->last_s = now_s;
	fl->created_s = now_s;
	__atomic_store_n(&fl->life, LB_LIFE_CREATING, __ATOMIC_RELAXED);
	__atomic_add_fetch(&f->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&be->active_flows, 1, __ATOMIC_RELAXED);

	rcu_tsan_publish(&fl->fn[0].node);
	rcu_tsan_publish(&fl->fn[1].node);
	node = cds_lfht_add_unique(f->ht, (unsigned long)hash, fnode_match, &fl->fn[0].key,
				   &fl->fn[0].node);
	if (node != &fl->fn[0].node) {
		/* Lost the race: ours was never visible, so it can go back to the pool at once. */
		__atomic_sub_fetch(&f->count, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&be->active_flows, 1, __ATOMIC_RELAXED);
		pool_put(f, fl);
		*ret = flow_of(node);
		return 1;
	}
	node = cds_lfht_add_unique(f->ht, (unsigned long)lb_tuple_hash(f->key, &fl->fn[1].key),
				   fnode_match, &fl->fn[1].key, &fl->fn[1].node);
	if (node != &fl->fn[1].node) {
		/* Readers may already hold it through fn[0]: it goes after a grace period. */
		__atomic_store_n(&fl->life, LB_LIFE_DEAD, __ATOMIC_RELEASE);
		flow_retire(f, fl, false);
		return -EADDRINUSE;
	}
	/* Nobody else moves a CREATING flow; the CAS keeps that explicit. Release: the control
	 * thread that reads LIVE (acquire) sees every field set above. */
	(void)__atomic_compare_exchange_n(&fl->life, &creating, LB_LIFE_LIVE, false,
					  __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	*ret = fl;
	return 0;
}

/**
 * lb_flows_remove_if() - unlink every live flow @pred selects; freed after a grace period.
 * Context: control thread, RCU read side. Return: flows removed.
 */
unsigned int lb_flows_remove_if(struct lb_flows *f, lb_flow_pred_fn pred, const void *arg)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < f->max; i++) {
		struct lb_flow *fl = &f->pool[i];
		uint8_t live = LB_LIFE_LIVE;

		/* Acquire pairs with the creator's release: a LIVE flow's fields are all set. */
		if (__atomic_load_n(&fl->life, __ATOMIC_ACQUIRE) != LB_LIFE_LIVE || !pred(fl, arg))
			continue;
		/* Only this thread moves a flow out of LIVE; the CAS says so explicitly. */
		if (!__atomic_compare_exchange_n(&fl->life, &live, LB_LIFE_DEAD, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		flow_retire(f, fl, true);
		n++;
	}
	return n;
}

static bool idle_too_long(const struct lb_flow *fl, const void *arg)
{
	const struct lb_flows *f = fl->owner;
	const uint64_t now_s = *(const uint64_t *)arg;
	uint64_t last = __atomic_load_n(&fl->last_s, __ATOMIC_RELAXED);
	enum lb_flow_state st;

	/* A worker's clock may be ahead of ours: a flow seen "in the future" is not idle. */
	if (last >= now_s)
		return false;
	st = lb_flow_state(fl->fn[0].key.proto, __atomic_load_n(&fl->flags, __ATOMIC_RELAXED));
	return now_s - last > lb_flow_timeout(&f->to, st);
}

/**
 * lb_flows_expire_at() - remove flows idle for longer than their state's timeout.
 * Context: control thread, RCU read side. Return: flows removed.
 */
unsigned int lb_flows_expire_at(struct lb_flows *f, uint64_t now_s)
{
	return lb_flows_remove_if(f, idle_too_long, &now_s);
}

/**
 * lb_flows_foreach_rcu() - call @fn once for every live flow.
 * Context: control thread (flows stay live while it runs), RCU read side.
 */
void lb_flows_foreach_rcu(struct lb_flows *f, lb_flow_visit_fn fn, void *arg)
{
	for (uint32_t i = 0; i < f->max; i++) {
		struct lb_flow *fl = &f->pool[i];

		if (__atomic_load_n(&fl->life, __ATOMIC_ACQUIRE) == LB_LIFE_LIVE)
			fn(fl, arg);
	}
}
