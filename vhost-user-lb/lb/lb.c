// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The service table (control thread, single writer) and the per-frame entry point (workers).
 *
 * Publishing: every change builds a new immutable snapshot and swaps it in with
 * rcu_xchg_pointer(); the old one goes with call_rcu. Two kinds of snapshot, so a backend's
 * change rebuilds one VIP's Maglev table and not all of them:
 * - struct lb_table: which addresses are VIPs, which (address, port, proto) is which VIP, and
 *   which (address, port, proto) are backends (a cheap pre-filter: most frames on the switch
 *   are not load-balancer traffic, and must cost two probes of a small table, not a flow
 *   lookup);
 * - struct lb_vip_tab, per VIP: its backends, their weights, the Maglev table or WRR schedule.
 *
 * Taking a backend away (delete, down) is: publish a snapshot without it, synchronize_rcu(),
 * then delete its flows. After the grace period no worker still holds a snapshot that could
 * pick it, so no flow to it can appear behind the flush.
 */
#include "lb/lb_internal.h"

#include <stdlib.h>
#include <sys/random.h>

const char *const lb_drop_names[LB_DROP__MAX] = {
	[LB_DROP_NO_SERVICE] = "no_service",
	[LB_DROP_NO_BACKEND] = "no_backend",
	[LB_DROP_TABLE_FULL] = "table_full",
	[LB_DROP_CONFLICT] = "conflict",
	[LB_DROP_BACKEND_DOWN] = "backend_down",
	[LB_DROP_NO_FLOW] = "no_flow",
	[LB_DROP_FRAGMENT] = "fragment",
	[LB_DROP_MALFORMED] = "malformed",
	[LB_DROP_HEAD_SHORT] = "head_short",
};

static const struct lb_timeouts default_timeouts = {
	.tcp_syn = 30, .tcp_established = 300, .tcp_fin = 120, .tcp_closing = 10, .udp = 30,
};

/* Fixed keys: a backend's place in Maglev tables must not change when the daemon restarts. */
static const uint64_t mg_key1[2] = { 0x6d61676c65763121ull, 0x0123456789abcdefull };
static const uint64_t mg_key2[2] = { 0x6d61676c65763221ull, 0xfedcba9876543210ull };

static uint64_t mac_word(const uint8_t mac[6])
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = v << 8 | mac[i];
	return v;
}

static bool addr_ok(uint32_t addr)
{
	/* Not 0.0.0.0/8, loopback, multicast/reserved or broadcast. */
	return (addr >> 24) != 0 && (addr >> 24) != 127 && (addr >> 28) < 0xe;
}

static bool mac_ok(const uint8_t mac[6])
{
	return !(mac[0] & 1) && mac_word(mac) != 0;
}

/* ---- snapshots ---- */

static uint32_t set_hash(uint32_t addr, uint16_t port, uint8_t proto)
{
	uint32_t h = addr ^ ((uint32_t)port << 8 | proto) * 0x85ebca6bu;

	/* murmur3's finaliser: every input bit reaches every output bit */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint32_t set_size(uint32_t n)
{
	uint32_t s = 8;

	while (s < 2 * n)
		s <<= 1;
	return s;
}

static struct lb_svc_slot *svc_probe(struct lb_svc_slot *set, uint32_t mask, uint32_t addr,
				     uint16_t port, uint8_t proto)
{
	for (uint32_t i = set_hash(addr, port, proto) & mask;; i = (i + 1) & mask) {
		struct lb_svc_slot *s = &set[i];

		if (!s->used || (s->addr == addr && s->port == port && s->proto == proto))
			return s;
	}
}

static bool addr_in(const struct lb_table *t, uint32_t addr)
{
	for (uint32_t i = set_hash(addr, 0, 0) & t->addr_mask;; i = (i + 1) & t->addr_mask) {
		if (t->addrs[i] == addr)
			return true;
		if (!t->addrs[i])
			return false;
	}
}

static void table_free(struct lb_table *t)
{
	if (!t)
		return;
	free(t->svc);
	free(t->addrs);
	free(t->ep);
	free(t);
}

static void table_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	table_free(container_of(head, struct lb_table, rcu));
}

/* Context: control thread. */
static int table_publish(struct lb *lb)
{
	struct lb_table *t = calloc(1, sizeof(*t)), *old;
	uint32_t neps = 0, ssz = set_size(lb->nvips);

	if (!t)
		return -ENOMEM;
	for (unsigned int v = 0; v < lb->nvips; v++)
		neps += lb->vips[v]->nbes;
	t->nvips = lb->nvips;
	t->svc_mask = t->addr_mask = ssz - 1;
	t->ep_mask = set_size(neps) - 1;
	t->svc = calloc(ssz, sizeof(*t->svc));
	t->addrs = calloc(ssz, sizeof(*t->addrs));
	t->ep = calloc(t->ep_mask + 1, sizeof(*t->ep));
	if (!t->svc || !t->addrs || !t->ep) {
		table_free(t);
		return -ENOMEM;
	}
	for (unsigned int v = 0; v < lb->nvips; v++) {
		struct lb_vip *vip = lb->vips[v];
		struct lb_svc_slot *s = svc_probe(t->svc, t->svc_mask, vip->addr, vip->port, vip->proto);
		uint32_t i = set_hash(vip->addr, 0, 0) & t->addr_mask;

		*s = (struct lb_svc_slot){ .addr = vip->addr, .port = vip->port, .proto = vip->proto,
					   .vip = vip, .used = true };
		while (t->addrs[i] && t->addrs[i] != vip->addr)
			i = (i + 1) & t->addr_mask;
		t->addrs[i] = vip->addr;
		for (unsigned int b = 0; b < vip->nbes; b++) {
			const struct lb_backend *be = vip->bes[b];

			s = svc_probe(t->ep, t->ep_mask, be->addr, be->port, vip->proto);
			*s = (struct lb_svc_slot){ .addr = be->addr, .port = be->port,
						   .proto = vip->proto, .used = true };
		}
	}
	old = rcu_xchg_pointer(&lb->table, t);
	if (old)
		call_rcu(&old->rcu, table_free_rcu);
	return 0;
}

static void tab_free(struct lb_vip_tab *tab)
{
	if (!tab)
		return;
	free(tab->be);
	free(tab->weight);
	free(tab->elig);
	free(tab->maglev);
	free(tab->wrr);
	free(tab);
}

static void tab_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	tab_free(container_of(head, struct lb_vip_tab, rcu));
}

static bool be_eligible(const struct lb_backend *be)
{
	return be->weight && __atomic_load_n(&be->up, __ATOMIC_RELAXED);
}

/* The previous Maglev table in the new index space, so unchanged owners keep their slots. */
static uint16_t *maglev_prev(const struct lb_vip_tab *old, const struct lb_vip_tab *tab)
{
	uint16_t map[LB_MAX_BACKENDS], *prev;

	if (!old || !old->maglev || old->msize != tab->msize)
		return NULL;
	prev = malloc(tab->msize * sizeof(*prev));
	if (!prev)
		return NULL;    /* a fresh table is still correct, only less sticky */
	for (uint32_t i = 0; i < old->nbe; i++) {
		map[i] = LB_MG_NONE;
		for (uint32_t j = 0; j < tab->nbe; j++)
			if (tab->be[j] == old->be[i])
				map[i] = (uint16_t)j;
	}
	for (uint32_t s = 0; s < tab->msize; s++)
		prev[s] = old->maglev[s] == LB_MG_NONE ? LB_MG_NONE : map[old->maglev[s]];
	return prev;
}

/* Rebuilds and publishes @vip's selection state. Context: control thread. */
static int vip_publish(struct lb_vip *vip)
{
	return lb_vip_publish_from(vip, NULL);
}

/**
 * lb_vip_publish_from() - rebuild and publish @vip's selection state; a Maglev table starts
 * from @from (table_size slots in @vip->bes's index space, or LB_MG_NONE) instead of
 * the current table, when given. The build is sticky, so a @from that is a whole table
 * for the same backends comes out unchanged: that is how a hand-over keeps the table.
 * Context: control thread. Return: 0 or -errno.
 */
int lb_vip_publish_from(struct lb_vip *vip, const uint16_t *from)
{
	struct lb_vip_tab *tab = calloc(1, sizeof(*tab)), *old = vip->tab;
	const unsigned int n = vip->nbes;
	int r = -ENOMEM;

	if (!tab)
		return -ENOMEM;
	tab->algo = vip->algo;
	tab->nbe = n;
	tab->be = calloc(n ? n : 1, sizeof(*tab->be));
	tab->weight = calloc(n ? n : 1, sizeof(*tab->weight));
	tab->elig = calloc(n ? n : 1, sizeof(*tab->elig));
	if (!tab->be || !tab->weight || !tab->elig)
		goto fail;
	for (unsigned int i = 0; i < n; i++) {
		struct lb_backend *be = vip->bes[i];

		tab->be[i] = be;
		tab->weight[i] = be_eligible(be) ? be->weight : 0;
		if (tab->weight[i])
			tab->elig[tab->nelig++] = (uint16_t)i;
		be->table_entries = 0;
	}
	if (tab->algo == LB_ALGO_MAGLEV) {
		struct lb_mg_backend mb[LB_MAX_BACKENDS];
		_cleanup_free_ uint16_t *prev = NULL;

		tab->msize = vip->table_size;
		tab->maglev = malloc(tab->msize * sizeof(*tab->maglev));
		if (!tab->maglev)
			goto fail;
		for (unsigned int i = 0; i < n; i++)
			mb[i] = (struct lb_mg_backend){ .h1 = vip->bes[i]->h1, .h2 = vip->bes[i]->h2,
							.weight = tab->weight[i] };
		if (from) {
			prev = malloc(tab->msize * sizeof(*prev));
			if (prev)
				memcpy(prev, from, tab->msize * sizeof(*prev));
		} else {
			prev = maglev_prev(old, tab);
		}
		r = lb_maglev_build(mb, n, tab->msize, prev, tab->maglev);
		if (r)
			goto fail;
		for (uint32_t s = 0; s < tab->msize; s++)
			if (tab->maglev[s] != LB_MG_NONE)
				vip->bes[tab->maglev[s]]->table_entries++;
	} else if (tab->algo == LB_ALGO_WRR) {
		tab->wrr = malloc(LB_WRR_MAX * sizeof(*tab->wrr));
		if (!tab->wrr)
			goto fail;
		r = lb_wrr_build(tab->weight, n, tab->wrr, LB_WRR_MAX);
		if (r < 0)
			goto fail;
		tab->wrr_len = (uint32_t)r;
	}
	old = rcu_xchg_pointer(&vip->tab, tab);
	if (old)
		call_rcu(&old->rcu, tab_free_rcu);
	return 0;
fail:
	tab_free(tab);
	return r;
}

/* ---- lifecycle ---- */

/**
 * lb_new() - a load balancer with no services.
 * Context: control thread, a registered RCU thread. Return: 0, -EINVAL, -ENOMEM, -errno.
 */
int lb_new(const struct lb_config *cfg, struct lb **ret)
{
	static const uint8_t default_vmac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
	const struct lb_config none = { 0 };
	struct lb_timeouts to;
	struct lb *lb;
	uint32_t max;
	int r;

	if (!cfg)
		cfg = &none;
	max = cfg->max_flows ? cfg->max_flows : LB_DEFAULT_MAX_FLOWS;
	if (max > LB_MAX_FLOWS_LIMIT)
		return -EINVAL;
	if (mac_word(cfg->vmac) && !mac_ok(cfg->vmac))
		return -EINVAL;
	to = cfg->timeouts;
	to.tcp_syn = to.tcp_syn ? to.tcp_syn : default_timeouts.tcp_syn;
	to.tcp_established = to.tcp_established ? to.tcp_established : default_timeouts.tcp_established;
	to.tcp_fin = to.tcp_fin ? to.tcp_fin : default_timeouts.tcp_fin;
	to.tcp_closing = to.tcp_closing ? to.tcp_closing : default_timeouts.tcp_closing;
	to.udp = to.udp ? to.udp : default_timeouts.udp;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	memcpy(lb->vmac, mac_word(cfg->vmac) ? cfg->vmac : default_vmac, 6);
	lb->seed[0] = cfg->hash_seed[0];
	lb->seed[1] = cfg->hash_seed[1];
	if (!lb->seed[0] && !lb->seed[1] &&
	    getrandom(lb->seed, sizeof(lb->seed), 0) != (ssize_t)sizeof(lb->seed)) {
		r = -errno;
		free(lb);
		return r ? r : -EIO;
	}
	r = lb_flows_init(&lb->flows, max, &to, !cfg->no_tcp_pickup, lb->seed);
	if (r) {
		free(lb);
		return r;
	}
	*ret = lb;
	return 0;
}

static void vip_free(struct lb_vip *vip)
{
	for (unsigned int i = 0; i < vip->nbes; i++)
		free(vip->bes[i]);
	tab_free(vip->tab);
	free(vip);
}

static void vip_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	vip_free(container_of(head, struct lb_vip, rcu));
}

static void be_free_rcu(struct rcu_head *head)
{
	rcu_tsan_after_gp();
	free(container_of(head, struct lb_backend, rcu));
}

/* Context: control thread, registered; no worker may still use @lb (daemon exit). */
void lb_free(struct lb *lb)
{
	if (!lb)
		return;
	lb_flows_fini(&lb->flows);    /* ends with rcu_barrier(): every retired object is gone */
	for (unsigned int v = 0; v < lb->nvips; v++)
		vip_free(lb->vips[v]);
	table_free(lb->table);
	free(lb);
}

/* ---- services ---- */

static bool is_backend_addr(const struct lb *lb, uint32_t addr)
{
	for (unsigned int v = 0; v < lb->nvips; v++)
		for (unsigned int b = 0; b < lb->vips[v]->nbes; b++)
			if (lb->vips[v]->bes[b]->addr == addr)
				return true;
	return false;
}

static bool is_vip_addr(const struct lb *lb, uint32_t addr)
{
	for (unsigned int v = 0; v < lb->nvips; v++)
		if (lb->vips[v]->addr == addr)
			return true;
	return false;
}

/* Context: control thread. Return: the VIP or NULL. */
struct lb_vip *lb_vip_find(struct lb *lb, uint32_t addr, uint16_t port, uint8_t proto)
{
	for (unsigned int v = 0; v < lb->nvips; v++) {
		struct lb_vip *vip = lb->vips[v];

		if (vip->addr == addr && vip->port == port && vip->proto == proto)
			return vip;
	}
	return NULL;
}

/**
 * lb_vip_add() - serve a new VIP (no backends yet: new flows to it are dropped until one is up).
 * Context: control thread, RCU read side.
 * Return: 0, -EINVAL (bad address, port, protocol, algorithm or table size), -EEXIST,
 * -EADDRINUSE (the address is a backend's), -ENOSPC (LB_MAX_VIPS), -ENOMEM.
 */
int lb_vip_add(struct lb *lb, const struct lb_vip_spec *spec, struct lb_vip **ret)
{
	uint32_t size = spec->table_size ? spec->table_size : LB_MAGLEV_DEFAULT;
	struct lb_vip *vip;
	int r;

	if (!addr_ok(spec->addr) || !spec->port ||
	    (spec->proto != LB_PROTO_TCP && spec->proto != LB_PROTO_UDP) ||
	    (unsigned int)spec->algo >= LB_ALGO__MAX || size < LB_MAGLEV_MIN ||
	    size > LB_MAGLEV_MAX || !lb_is_prime(size))
		return -EINVAL;
	if (lb_vip_find(lb, spec->addr, spec->port, spec->proto))
		return -EEXIST;
	if (is_backend_addr(lb, spec->addr))
		return -EADDRINUSE;
	if (lb->nvips == LB_MAX_VIPS)
		return -ENOSPC;
	vip = calloc(1, sizeof(*vip));
	if (!vip)
		return -ENOMEM;
	vip->lb = lb;
	vip->addr = spec->addr;
	vip->port = spec->port;
	vip->proto = spec->proto;
	vip->algo = spec->algo;
	vip->table_size = size;
	r = vip_publish(vip);
	if (r) {
		free(vip);
		return r;
	}
	lb->vips[lb->nvips++] = vip;
	r = table_publish(lb);
	if (r) {
		/* Not visible yet: no reader can hold it. */
		lb->nvips--;
		vip_free(vip);
		return r;
	}
	if (ret)
		*ret = vip;
	return 0;
}

static bool flow_of_vip(const struct lb_flow *fl, const void *vip)
{
	return fl->vip == vip;
}

static bool flow_of_be(const struct lb_flow *fl, const void *be)
{
	return fl->be == be;
}

/**
 * lb_vip_del() - stop serving a VIP; its flows are deleted (their next frames are dropped).
 * Context: control thread, RCU read side; waits for a grace period.
 * Return: 0, -ENOENT, -ENOMEM (nothing changed).
 */
int lb_vip_del(struct lb *lb, struct lb_vip *vip)
{
	unsigned int v;
	int r;

	for (v = 0; v < lb->nvips && lb->vips[v] != vip; v++)
		;
	if (v == lb->nvips)
		return -ENOENT;
	lb->vips[v] = lb->vips[--lb->nvips];
	r = table_publish(lb);
	if (r) {
		lb->vips[lb->nvips++] = vip;
		return r;
	}
	synchronize_rcu();
	(void)lb_flows_remove_if(&lb->flows, flow_of_vip, vip);
	call_rcu(&vip->rcu, vip_free_rcu);
	return 0;
}

/**
 * lb_vips_clear() - stop serving every VIP (a restore that failed half-way is undone so).
 * Context: control thread, RCU read side; waits for grace periods.
 * Return: the VIPs removed.
 */
unsigned int lb_vips_clear(struct lb *lb)
{
	unsigned int n = 0;

	while (lb->nvips && lb_vip_del(lb, lb->vips[lb->nvips - 1]) == 0)
		n++;
	return n;
}

/* Context: control thread. Return: 0, -EINVAL; flows keep their backend. */
int lb_vip_set_algo(struct lb *lb, struct lb_vip *vip, enum lb_algo algo)
{
	enum lb_algo was = vip->algo;
	int r;

	(void)lb;
	if ((unsigned int)algo >= LB_ALGO__MAX)
		return -EINVAL;
	vip->algo = algo;
	r = vip_publish(vip);
	if (r)
		vip->algo = was;
	return r;
}

/* ---- backends ---- */

/* Context: control thread. Return: the backend of @vip with this MAC and address, or NULL. */
struct lb_backend *lb_backend_find(struct lb_vip *vip, const uint8_t mac[6], uint32_t addr)
{
	for (unsigned int b = 0; b < vip->nbes; b++)
		if (vip->bes[b]->addr == addr && !memcmp(vip->bes[b]->mac, mac, 6))
			return vip->bes[b];
	return NULL;
}

/**
 * lb_backend_add() - add a backend to @vip; it takes new flows at once if its weight is > 0.
 * The backend's port (for LB_TO_BACKEND verdicts) starts unset: see lb_backend_set_port().
 * Context: control thread, RCU read side.
 * Return: 0, -EINVAL, -EEXIST (same MAC and address, or same address and port, in @vip),
 * -EADDRINUSE (the address is a VIP's), -ENOSPC (LB_MAX_BACKENDS), -ENOMEM.
 */
int lb_backend_add(struct lb *lb, struct lb_vip *vip, const struct lb_backend_spec *spec,
		   struct lb_backend **ret)
{
	uint16_t port = spec->port ? spec->port : vip->port;
	struct lb_backend *be;
	int r;

	if (!mac_ok(spec->mac) || !addr_ok(spec->addr) || spec->weight > LB_WEIGHT_MAX)
		return -EINVAL;
	if (lb_backend_find(vip, spec->mac, spec->addr))
		return -EEXIST;
	for (unsigned int b = 0; b < vip->nbes; b++)
		if (vip->bes[b]->addr == spec->addr && vip->bes[b]->port == port)
			return -EEXIST;
	if (is_vip_addr(lb, spec->addr))
		return -EADDRINUSE;
	if (vip->nbes == LB_MAX_BACKENDS)
		return -ENOSPC;
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->vip = vip;
	memcpy(be->mac, spec->mac, 6);
	be->addr = spec->addr;
	be->port = port;
	be->port_spec = spec->port;
	be->weight = spec->weight;
	be->up = be->vm_up = be->link_up = true;
	be->h1 = lb_siphash2(mg_key1, mac_word(spec->mac), spec->addr);
	be->h2 = lb_siphash2(mg_key2, mac_word(spec->mac), spec->addr);
	vip->bes[vip->nbes++] = be;
	/* The classification sets hold no pointer to @be: publish them first, so a failure of
	 * either step leaves nothing that could reach it. */
	r = table_publish(lb);
	if (!r) {
		r = vip_publish(vip);
		if (r) {
			vip->nbes--;
			(void)table_publish(lb);  /* a stale entry there is only a pre-filter miss */
		}
	} else {
		vip->nbes--;
	}
	if (r) {
		free(be);
		return r;
	}
	if (ret)
		*ret = be;
	return 0;
}

static void be_retire_counters(struct lb_backend *be)
{
	struct lb_counters c;
	struct lb_counters *r = &be->vip->retired;

	lb_backend_counters(be, &c);
	r->new_flows += c.new_flows;
	r->pkts_in += c.pkts_in;
	r->bytes_in += c.bytes_in;
	r->pkts_out += c.pkts_out;
	r->bytes_out += c.bytes_out;
}

/**
 * lb_backend_del() - remove a backend; only its flows are deleted, every other flow stays
 * and (Maglev) no other backend's table entries move.
 * Context: control thread, RCU read side; waits for a grace period.
 * Return: 0, -ENOENT, -ENOMEM (nothing changed).
 */
int lb_backend_del(struct lb *lb, struct lb_backend *be)
{
	struct lb_vip *vip = be->vip;
	unsigned int b;
	int r;

	for (b = 0; b < vip->nbes && vip->bes[b] != be; b++)
		;
	if (b == vip->nbes)
		return -ENOENT;
	memmove(&vip->bes[b], &vip->bes[b + 1], (vip->nbes - b - 1) * sizeof(vip->bes[0]));
	vip->nbes--;
	r = vip_publish(vip);
	if (r) {
		memmove(&vip->bes[b + 1], &vip->bes[b], (vip->nbes - b) * sizeof(vip->bes[0]));
		vip->bes[b] = be;
		vip->nbes++;
		return r;
	}
	/* On failure the old sets stay: a stale endpoint there is only a pre-filter miss. */
	(void)table_publish(lb);
	synchronize_rcu();
	(void)lb_flows_remove_if(&lb->flows, flow_of_be, be);
	be_retire_counters(be);
	call_rcu(&be->rcu, be_free_rcu);
	return 0;
}

/**
 * lb_backend_set_weight() - 0 drains the backend (no new flows, existing ones stay).
 * Context: control thread. Return: 0, -EINVAL, -ENOMEM (nothing changed).
 */
int lb_backend_set_weight(struct lb *lb, struct lb_backend *be, uint16_t weight)
{
	uint16_t was = be->weight;
	int r;

	(void)lb;
	if (weight > LB_WEIGHT_MAX)
		return -EINVAL;
	be->weight = weight;
	r = vip_publish(be->vip);
	if (r)
		be->weight = was;
	return r;
}

static bool flow_be_down(const struct lb_flow *fl, const void *arg)
{
	(void)arg;
	return !__atomic_load_n(&fl->be->up, __ATOMIC_RELAXED);
}

/*
 * Makes be->up (what workers see) agree with vm_up && link_up. Going down publishes @be's VIP
 * without it, waits for a grace period and deletes its flows.
 * Context: control thread, RCU read side. Return: flows deleted (>= 0), or -ENOMEM (be->up
 * unchanged).
 */
static int be_sync_up(struct lb *lb, struct lb_backend *be)
{
	bool up = be->vm_up && be->link_up;
	int r;

	if (__atomic_load_n(&be->up, __ATOMIC_RELAXED) == up)
		return 0;
	__atomic_store_n(&be->up, up, __ATOMIC_RELAXED);
	r = vip_publish(be->vip);
	if (r) {
		__atomic_store_n(&be->up, !up, __ATOMIC_RELAXED);
		return r;
	}
	if (up)
		return 0;
	synchronize_rcu();
	return (int)lb_flows_remove_if(&lb->flows, flow_of_be, be);
}

/**
 * lb_backend_set_up() - a backend's guest stopped (down) or came back (up), as discovery
 * says. Down takes it out of new-flow selection and deletes its flows: their next frames are
 * dropped (LB_DROP_BACKEND_DOWN until the flush, then they start new flows elsewhere). Up
 * puts it back only if its port is up too (see lb_backends_refresh()).
 * Context: control thread, RCU read side; waits for a grace period when going down.
 * Return: flows deleted (>= 0), or -ENOMEM.
 */
int lb_backend_set_up(struct lb *lb, struct lb_backend *be, bool up)
{
	bool was = be->vm_up;
	int r;

	be->vm_up = up;
	r = be_sync_up(lb, be);
	if (r < 0)
		be->vm_up = was;
	return r;
}

/**
 * lb_backend_set_port() - the datapath port frames to @be go to (the lead's struct dp_port),
 * or NULL to let the switch find it by the backend's MAC.
 * Context: control thread; the new port is used from the next frame on.
 */
void lb_backend_set_port(struct lb *lb, struct lb_backend *be, void *port)
{
	(void)lb;
	__atomic_store_n(&be->dp_port, port, __ATOMIC_RELEASE);
}

/*
 * Publishes every VIP in @changed (a backend's up flag moved), then, if one went down, waits
 * for a grace period and deletes the flows of every down backend. Context: control thread.
 * Return: flows deleted.
 */
static unsigned int publish_changed(struct lb *lb, const bool *changed, bool any_down)
{
	for (unsigned int v = 0; v < lb->nvips; v++)
		/* On -ENOMEM the old tab stays: lookups still check be->up for every frame. */
		if (changed[v])
			(void)vip_publish(lb->vips[v]);
	if (!any_down)
		return 0;
	synchronize_rcu();
	return lb_flows_remove_if(&lb->flows, flow_be_down, NULL);
}

/**
 * lb_port_gone() - a datapath port is going away: every backend on it is unset from it and
 * taken down (its link is down until lb_backends_refresh() finds its MAC on another port),
 * with one grace period for all of them.
 * Context: control thread, RCU read side; call before the port is freed.
 * Return: backends taken down.
 */
unsigned int lb_port_gone(struct lb *lb, void *port)
{
	bool changed[LB_MAX_VIPS] = { false };
	unsigned int n = 0;
	bool found = false;

	for (unsigned int v = 0; v < lb->nvips; v++) {
		struct lb_vip *vip = lb->vips[v];

		for (unsigned int b = 0; b < vip->nbes; b++) {
			struct lb_backend *be = vip->bes[b];

			if (__atomic_load_n(&be->dp_port, __ATOMIC_RELAXED) != port)
				continue;
			__atomic_store_n(&be->dp_port, NULL, __ATOMIC_RELEASE);
			found = true;
			be->link_up = false;
			if (__atomic_load_n(&be->up, __ATOMIC_RELAXED)) {
				__atomic_store_n(&be->up, false, __ATOMIC_RELAXED);
				changed[v] = true;
				n++;
			}
		}
	}
	if (!found)
		return 0;
	(void)publish_changed(lb, changed, n > 0);
	if (!n)
		synchronize_rcu();   /* no worker may still return @port in a verdict */
	return n;
}

/**
 * lb_backends_refresh() - follow every backend's guest: which port its MAC is behind, whether
 * that port has a guest taking frames, and how loaded that guest is.
 * @locate: called once per backend with its MAC and the port it is bound to now (NULL when
 *          none); fills a struct lb_port_state for the port the backend should be bound to
 *          (its current one when the MAC is not known anywhere else), or port = NULL when
 *          there is none. The port must stay valid until lb_port_gone() is called for it.
 *
 * A backend whose port went down (the guest disconnected, or stopped every RX queue) leaves
 * new-flow selection and loses its flows at once, like a stopped VM (lb_backend_set_up());
 * it comes back when its port is up again. Its load (least-load) is the port's.
 *
 * Context: control thread, RCU read side; waits for a grace period when a backend goes down.
 * Return: backends whose up/down state changed.
 */
unsigned int lb_backends_refresh(struct lb *lb, lb_locate_fn locate, void *opaque)
{
	bool changed[LB_MAX_VIPS] = { false }, any_down = false;
	unsigned int n = 0;

	for (unsigned int v = 0; v < lb->nvips; v++) {
		struct lb_vip *vip = lb->vips[v];

		for (unsigned int b = 0; b < vip->nbes; b++) {
			struct lb_backend *be = vip->bes[b];
			void *bound = __atomic_load_n(&be->dp_port, __ATOMIC_RELAXED);
			struct lb_port_state st = { .port = NULL };
			bool up;

			locate(opaque, be->mac, bound, &st);
			if (!st.port)
				continue;     /* never seen: the switch floods to it, nothing to judge */
			if (st.port != bound)
				__atomic_store_n(&be->dp_port, st.port, __ATOMIC_RELEASE);
			lb_backend_set_load(be, st.load_us);
			be->link_up = st.up;
			up = be->vm_up && be->link_up;
			if (up == __atomic_load_n(&be->up, __ATOMIC_RELAXED))
				continue;
			__atomic_store_n(&be->up, up, __ATOMIC_RELAXED);
			changed[v] = true;
			any_down |= !up;
			n++;
		}
	}
	if (n)
		(void)publish_changed(lb, changed, any_down);
	return n;
}

/**
 * lb_backend_set_load() - feed the least-load algorithm: the backend guest's estimated
 * queueing delay in microseconds (lb_load_estimate() from its RX backlog and drain rate).
 * Context: any thread (a relaxed store; workers read it when they place a new flow).
 */
void lb_backend_set_load(struct lb_backend *be, uint32_t load_us)
{
	__atomic_store_n(&be->load_us, MIN(load_us, LB_LOAD_MAX_US), __ATOMIC_RELAXED);
}

/* ---- counters ---- */

/* Context: any thread; counters may be a few frames behind. */
void lb_backend_counters(const struct lb_backend *be, struct lb_counters *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (unsigned int s = 0; s < LB_STAT_SHARDS; s++) {
		const struct lb_stats *st = &be->stats[s];

		ret->new_flows += __atomic_load_n(&st->new_flows, __ATOMIC_RELAXED);
		ret->pkts_in += __atomic_load_n(&st->pkts_in, __ATOMIC_RELAXED);
		ret->bytes_in += __atomic_load_n(&st->bytes_in, __ATOMIC_RELAXED);
		ret->pkts_out += __atomic_load_n(&st->pkts_out, __ATOMIC_RELAXED);
		ret->bytes_out += __atomic_load_n(&st->bytes_out, __ATOMIC_RELAXED);
	}
}

uint32_t lb_backend_active_flows(const struct lb_backend *be)
{
	return __atomic_load_n(&be->active_flows, __ATOMIC_RELAXED);
}

/* Context: control thread. Totals include backends removed since the VIP was added. */
void lb_vip_counters(const struct lb_vip *vip, struct lb_counters *ret, uint64_t *ret_refused)
{
	struct lb_counters c;
	uint64_t refused = 0;

	*ret = vip->retired;
	for (unsigned int b = 0; b < vip->nbes; b++) {
		lb_backend_counters(vip->bes[b], &c);
		ret->new_flows += c.new_flows;
		ret->pkts_in += c.pkts_in;
		ret->bytes_in += c.bytes_in;
		ret->pkts_out += c.pkts_out;
		ret->bytes_out += c.bytes_out;
	}
	for (unsigned int s = 0; s < LB_STAT_SHARDS; s++)
		refused += __atomic_load_n(&vip->stats[s].refused, __ATOMIC_RELAXED);
	if (ret_refused)
		*ret_refused = refused;
}

uint32_t lb_flow_count(const struct lb *lb)
{
	return __atomic_load_n(&lb->flows.count, __ATOMIC_RELAXED);
}

uint64_t lb_drops(const struct lb *lb, enum lb_drop why)
{
	uint64_t n = 0;

	for (unsigned int s = 0; s < LB_STAT_SHARDS; s++)
		n += __atomic_load_n(&lb->shard[s].drops[why], __ATOMIC_RELAXED);
	return n;
}

/**
 * lb_flows_expire() - delete flows idle past their state's timeout; call about once a second.
 * @now_s: the same monotonic seconds the workers pass to lb_process_rcu().
 * Context: control thread, RCU read side. Return: flows deleted.
 */
unsigned int lb_flows_expire(struct lb *lb, uint64_t now_s)
{
	return lb_flows_expire_at(&lb->flows, now_s);
}

/* ---- the datapath ---- */

struct pick_ctx {
	const struct lb_vip_tab *tab;
	struct lb_vip *vip;
	uint64_t hash;
};

static struct lb_backend *pick_backend(void *opaque)
{
	const struct pick_ctx *c = opaque;
	const struct lb_vip_tab *tab = c->tab;

	if (!tab || !tab->nelig)
		return NULL;
	switch (tab->algo) {
	case LB_ALGO_MAGLEV: {
		uint16_t i = tab->maglev[c->hash % tab->msize];

		return i == LB_MG_NONE ? NULL : tab->be[i];
	}
	case LB_ALGO_LEAST_LOAD: {
		struct lb_ll_cand cand[LB_MAX_BACKENDS];
		int i;

		for (uint32_t k = 0; k < tab->nelig; k++) {
			const struct lb_backend *be = tab->be[tab->elig[k]];

			cand[k] = (struct lb_ll_cand){
				.flows = __atomic_load_n(&be->active_flows, __ATOMIC_RELAXED),
				.load_us = __atomic_load_n(&be->load_us, __ATOMIC_RELAXED),
				.weight = tab->weight[tab->elig[k]],
			};
		}
		i = lb_least_load_pick(cand, tab->nelig, (uint32_t)(c->hash >> 32));
		return i < 0 ? NULL : tab->be[tab->elig[i]];
	}
	case LB_ALGO_WRR: {
		uint32_t n = __atomic_fetch_add(&c->vip->wrr_next, 1, __ATOMIC_RELAXED);

		return tab->wrr_len ? tab->be[tab->wrr[n % tab->wrr_len]] : NULL;
	}
	case LB_ALGO__MAX:
		break;
	}
	return NULL;
}

static enum lb_action drop(struct lb *lb, unsigned int shard, enum lb_drop why,
			   struct lb_verdict *ret)
{
	lb_stat_add(&lb->shard[shard].drops[why], 1);
	ret->action = LB_DROP;
	ret->drop = why;
	return LB_DROP;
}

static enum lb_action to_vip(struct lb *lb, const struct lb_table *t, unsigned int shard,
			     uint8_t *head, int parsed, const struct lb_pkt *p, uint32_t frame_len,
			     uint64_t now_s, struct lb_verdict *ret)
{
	struct lb_tuple tu = { .saddr = p->saddr, .daddr = p->daddr, .sport = p->sport,
			       .dport = p->dport, .proto = p->proto };
	struct lb_svc_slot *svc;
	struct lb_backend *be;
	struct lb_flow *fl;
	struct lb_vip *vip;
	uint64_t hash;
	int r;

	if (parsed < 0)
		return drop(lb, shard, parsed == -EMSGSIZE ? LB_DROP_HEAD_SHORT : LB_DROP_MALFORMED, ret);
	if (p->frag)
		return drop(lb, shard, LB_DROP_FRAGMENT, ret);
	if (parsed != LB_PARSE_IP)
		return drop(lb, shard, LB_DROP_NO_SERVICE, ret);
	svc = svc_probe(t->svc, t->svc_mask, p->daddr, p->dport, p->proto);
	if (!svc->used)
		return drop(lb, shard, LB_DROP_NO_SERVICE, ret);
	vip = svc->vip;
	hash = lb_tuple_hash(lb->flows.key, &tu);
	fl = lb_flow_lookup_rcu(&lb->flows, &tu, hash);
	if (!fl) {
		struct pick_ctx ctx = { .tab = rcu_dereference(vip->tab), .vip = vip, .hash = hash };
		enum lb_drop why;

		if (p->proto == LB_PROTO_TCP &&
		    ((p->tcp_flags & LB_TCP_RST) || (!(p->tcp_flags & LB_TCP_SYN) && !lb->flows.pickup)))
			return drop(lb, shard, LB_DROP_NO_FLOW, ret);
		r = lb_flow_create_rcu(&lb->flows, &tu, hash, vip, pick_backend, &ctx, now_s, &fl);
		if (r < 0) {
			why = r == -ENOSPC ? LB_DROP_TABLE_FULL
			      : r == -EADDRINUSE ? LB_DROP_CONFLICT : LB_DROP_NO_BACKEND;
			lb_stat_add(&vip->stats[shard].refused, 1);
			return drop(lb, shard, why, ret);
		}
		if (r == 0)
			lb_stat_add(&fl->be->stats[shard].new_flows, 1);
	}
	be = fl->be;
	if (!__atomic_load_n(&be->up, __ATOMIC_RELAXED))
		return drop(lb, shard, LB_DROP_BACKEND_DOWN, ret);
	lb_flow_seen_rcu(fl, 0, p->tcp_flags, now_s);
	ret->head_dirty = lb_pkt_nat(head, p, true, be->mac, be->addr, be->port);
	ret->port = __atomic_load_n(&be->dp_port, __ATOMIC_ACQUIRE);
	lb_stat_add(&be->stats[shard].pkts_in, 1);
	lb_stat_add(&be->stats[shard].bytes_in, frame_len);
	ret->action = LB_TO_BACKEND;
	return LB_TO_BACKEND;
}

static enum lb_action from_backend(struct lb *lb, unsigned int shard, uint8_t *head,
				   const struct lb_pkt *p, uint32_t frame_len, uint64_t now_s,
				   struct lb_verdict *ret)
{
	struct lb_tuple tu = { .saddr = p->saddr, .daddr = p->daddr, .sport = p->sport,
			       .dport = p->dport, .proto = p->proto, .dir = 1 };
	struct lb_flow *fl = lb_flow_lookup_rcu(&lb->flows, &tu, lb_tuple_hash(lb->flows.key, &tu));
	const struct lb_vip *vip;

	if (!fl)
		return LB_PASS;   /* the backend talking on its own address, not as a VIP */
	if (p->frag)
		return drop(lb, shard, LB_DROP_FRAGMENT, ret);
	vip = fl->vip;
	lb_flow_seen_rcu(fl, 1, p->tcp_flags, now_s);
	ret->head_dirty = lb_pkt_nat(head, p, false, lb->vmac, vip->addr, vip->port);
	lb_stat_add(&fl->be->stats[shard].pkts_out, 1);
	lb_stat_add(&fl->be->stats[shard].bytes_out, frame_len);
	ret->action = LB_TO_CLIENT;
	return LB_TO_CLIENT;
}

/**
 * lb_process_rcu() - classify one frame and, if it is load-balancer traffic, rewrite it.
 * @worker: the caller's worker number; it only spreads counters over cache lines.
 * @head: the caller's copy of the frame's first @head_len bytes (LB_HEAD_NEED covers every
 *        case), rewritten in place; @frame_len: the whole frame, for checks and byte counters.
 * @csum_at: where the frame's NEEDS_CSUM checksum field is (csum_start + csum_offset of its
 *           virtio-net header), 0 when none: a TCP/UDP checksum there holds the pseudo-header
 *           sum a device completes, and is rewritten as such (lb_pkt_nat()).
 * @now_s: monotonic seconds (flow timestamps; lb_flows_expire() uses the same clock).
 * @ret: the verdict; see lb.h for what the caller does with each action.
 *
 * Frames of existing flows cost a parse, two set probes, one keyed hash and one lock-free
 * lookup; a new flow adds the backend choice and two lock-free inserts. Never allocates,
 * locks or sleeps.
 *
 * Context: RCU read side (a QSBR worker between quiescent states), any worker.
 * Return: @ret->action.
 */
enum lb_action lb_process_rcu(struct lb *lb, unsigned int worker, uint8_t *head, uint32_t head_len,
			      uint32_t frame_len, uint32_t csum_at, uint64_t now_s,
			      struct lb_verdict *ret)
{
	const struct lb_table *t = rcu_dereference(lb->table);
	const unsigned int shard = worker % LB_STAT_SHARDS;
	struct lb_svc_slot *ep;
	struct lb_pkt p;
	bool to_vmac;
	int r;

	ret->action = LB_PASS;
	ret->port = NULL;
	ret->head_dirty = 0;
	ret->reply_len = 0;
	if (!t || !t->nvips || head_len < 14)
		return LB_PASS;
	/* Nobody owns the virtual MAC: what we do not handle must not be flooded instead. */
	to_vmac = !memcmp(head, lb->vmac, 6);
	r = lb_pkt_parse(head, head_len, frame_len, &p);
	p.csum_at = csum_at;
	if (r == LB_PARSE_OTHER)
		goto other;
	if (r == LB_PARSE_ARP) {
		uint32_t tpa;
		int len = lb_arp_reply(head, head_len, &p, lb->vmac, &tpa, ret->reply,
				       sizeof(ret->reply));

		if (len < 0 || !addr_in(t, tpa))
			goto other;
		ret->reply_len = (uint32_t)len;
		ret->action = LB_ARP_REPLY;
		return LB_ARP_REPLY;
	}
	if (head_len < p.l3 + 20u)
		goto other;   /* a runt: not even addresses to go by */
	if (addr_in(t, p.daddr))
		return to_vip(lb, t, shard, head, r, &p, frame_len, now_s, ret);
	if (r != LB_PARSE_IP)
		goto other;
	ep = svc_probe(t->ep, t->ep_mask, p.saddr, p.sport, p.proto);
	if (ep->used && from_backend(lb, shard, head, &p, frame_len, now_s, ret) != LB_PASS)
		return ret->action;
other:
	return to_vmac ? drop(lb, shard, LB_DROP_NO_SERVICE, ret) : LB_PASS;
}
