/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Registry snapshots and the change queue.
 *
 * A snapshot is immutable. VM entries are shared between consecutive snapshots and counted:
 * the discovery thread takes a reference for each snapshot it builds, the call_rcu thread drops
 * them when an old snapshot's grace period ends. Both run concurrently, hence atomic counts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disc.h"
#include "disc_internal.h"

void disc_vm_ref(const struct disc_vm *vm)
{
	__atomic_add_fetch(&((struct disc_vm *)vm)->refs, 1, __ATOMIC_RELAXED);
}

void disc_vm_unref(const struct disc_vm *vm)
{
	/* ACQ_REL: the last dropper must see every write made before the other drops. */
	if (vm && __atomic_sub_fetch(&((struct disc_vm *)vm)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		disc_vm_free((struct disc_vm *)vm);
}

static int vm_uuid_cmp(const void *a, const void *b)
{
	const struct disc_vm *x = *(const struct disc_vm *const *)a;
	const struct disc_vm *y = *(const struct disc_vm *const *)b;

	return memcmp(x->uuid, y->uuid, 16);
}

static int sock_cmp(const void *a, const void *b)
{
	const struct disc_sock_ref *x = a, *y = b;

	return strcmp(x->path, y->path);
}

struct disc_snap *disc_snap_new(const struct disc_vm **vms, size_t n, bool connected,
				uint64_t generation)
{
	struct disc_snap *s = calloc(1, sizeof(*s));
	size_t n_socks = 0;

	if (!s)
		return NULL;
	s->reg.generation = generation;
	s->reg.connected = connected;
	if (n) {
		s->reg.vms = calloc(n, sizeof(*s->reg.vms));
		if (!s->reg.vms)
			goto fail;
		memcpy(s->reg.vms, vms, n * sizeof(*vms));
		qsort(s->reg.vms, n, sizeof(*s->reg.vms), vm_uuid_cmp);
	}
	for (size_t i = 0; i < n; i++)
		if (vms[i]->active)
			n_socks += vms[i]->n_ifaces;
	if (n_socks) {
		s->reg.socks = calloc(n_socks, sizeof(*s->reg.socks));
		if (!s->reg.socks)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			const struct disc_vm *vm = s->reg.vms[i];

			if (!vm->active)
				continue;
			for (size_t j = 0; j < vm->n_ifaces; j++)
				s->reg.socks[s->reg.n_socks++] = (struct disc_sock_ref){
					.path = vm->ifaces[j].path, .vm = vm, .iface = &vm->ifaces[j],
				};
		}
		qsort(s->reg.socks, s->reg.n_socks, sizeof(*s->reg.socks), sock_cmp);
	}
	s->reg.n_vms = n;
	for (size_t i = 0; i < n; i++)
		disc_vm_ref(s->reg.vms[i]);
	return s;
fail:
	free(s->reg.vms);
	free(s);
	return NULL;
}

void disc_snap_free(struct disc_snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->reg.n_vms; i++)
		disc_vm_unref(s->reg.vms[i]);
	free(s->reg.vms);
	free(s->reg.socks);
	free(s);
}

static void snap_free_rcu(struct rcu_head *head)
{
	disc_snap_free(caa_container_of(head, struct disc_snap, rcu));
}

const struct disc_vm *disc_registry_find_socket(const struct disc_registry *reg, const char *path,
						const struct disc_iface **ret_iface)
{
	size_t lo = 0, hi = reg->n_socks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, reg->socks[mid].path);

		if (c == 0) {
			if (ret_iface)
				*ret_iface = reg->socks[mid].iface;
			return reg->socks[mid].vm;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct disc_vm *disc_registry_find_uuid(const struct disc_registry *reg,
					      const unsigned char uuid[16])
{
	size_t lo = 0, hi = reg->n_vms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(uuid, reg->vms[mid]->uuid, 16);

		if (c == 0)
			return reg->vms[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct disc_vm *disc_registry_find_name(const struct disc_registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n_vms; i++)
		if (strcmp(reg->vms[i]->name, name) == 0)
			return reg->vms[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool vcpus_equal(const struct disc_vm *a, const struct disc_vm *b)
{
	if (a->vcpus != b->vcpus || a->vcpus_max != b->vcpus_max || a->has_cpuset != b->has_cpuset ||
	    a->n_pins != b->n_pins)
		return false;
	if (a->has_cpuset && memcmp(&a->cpuset, &b->cpuset, sizeof(a->cpuset)) != 0)
		return false;
	for (size_t i = 0; i < a->n_pins; i++)
		if (a->pins[i].vcpu != b->pins[i].vcpu ||
		    memcmp(&a->pins[i].cpus, &b->pins[i].cpus, sizeof(a->pins[i].cpus)) != 0)
			return false;
	return true;
}

static bool ifaces_equal(const struct disc_vm *a, const struct disc_vm *b)
{
	if (a->n_ifaces != b->n_ifaces)
		return false;
	for (size_t i = 0; i < a->n_ifaces; i++) {
		const struct disc_iface *x = &a->ifaces[i], *y = &b->ifaces[i];

		if (!str_eq(x->path, y->path) || x->mode != y->mode || strcmp(x->mac, y->mac) != 0 ||
		    x->queues != y->queues || x->reconnect != y->reconnect ||
		    !str_eq(x->alias, y->alias))
			return false;
	}
	return true;
}

/* The changes one VM went through between two snapshots, in the order an owner acts on them. */
static size_t vm_diff(const struct disc_vm *old, const struct disc_vm *new,
		      enum disc_change_kind out[6])
{
	size_t n = 0;

	if (!old && !new)
		return 0;
	if (!old) {
		out[n++] = DISC_CHANGE_VM_ADDED;
		if (new->active)
			out[n++] = DISC_CHANGE_VM_STARTED;
		return n;
	}
	if (!new) {
		if (old->active)
			out[n++] = DISC_CHANGE_VM_STOPPED;
		out[n++] = DISC_CHANGE_VM_REMOVED;
		return n;
	}
	if (!str_eq(old->name, new->name))
		out[n++] = DISC_CHANGE_VM_RENAMED;
	if (!old->active && new->active) {
		out[n++] = DISC_CHANGE_VM_STARTED;
		return n;	/* a start brings new vCPUs and interfaces by definition */
	}
	if (old->active && !new->active) {
		out[n++] = DISC_CHANGE_VM_STOPPED;
		return n;
	}
	if (old->state != new->state)
		out[n++] = DISC_CHANGE_VM_STATE;
	if (!vcpus_equal(old, new))
		out[n++] = DISC_CHANGE_VM_VCPUS;
	if (!ifaces_equal(old, new))
		out[n++] = DISC_CHANGE_VM_IFACES;
	return n;
}

static void change_fill(struct disc_change *c, enum disc_change_kind kind,
			const struct disc_vm *vm, const struct disc_registry *reg, uint64_t event_ns)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->generation = reg->generation;
	c->published_ns = reg->published_ns;
	c->event_ns = event_ns;
	if (vm) {
		memcpy(c->uuid, vm->uuid, 16);
		snprintf(c->name, sizeof(c->name), "%s", vm->name);
		c->state = vm->state;
	}
}

void disc_queue_push(struct disc *d, const struct disc_change *c)
{
	pthread_mutex_lock(&d->q_lock);
	if (d->q_len == d->q_cap) {
		/* Drop the oldest: the owner learns of it and re-reads the whole snapshot. */
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
		d->q_overflow = true;
	}
	d->q[(d->q_head + d->q_len) % d->q_cap] = *c;
	d->q_len++;
	pthread_mutex_unlock(&d->q_lock);
}

static void queue_signal(struct disc *d)
{
	uint64_t one = 1;

	/* EAGAIN only when the counter is saturated, i.e. already readable. */
	(void)!write(d->event_fd, &one, sizeof(one));
	if (d->cfg.notify)
		d->cfg.notify(d->cfg.opaque);
}

size_t disc_changes_drain(struct disc *d, struct disc_change *out, size_t max)
{
	uint64_t cnt;
	size_t n = 0;

	/* Read the eventfd before the queue: a push after this read re-arms it. */
	(void)!read(d->event_fd, &cnt, sizeof(cnt));
	pthread_mutex_lock(&d->q_lock);
	if (d->q_overflow && max > 0) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n++].kind = DISC_CHANGE_OVERFLOW;
		d->q_overflow = false;
	}
	while (n < max && d->q_len > 0) {
		out[n++] = d->q[d->q_head];
		d->q_head = (d->q_head + 1) % d->q_cap;
		d->q_len--;
	}
	if (d->q_len > 0 || d->q_overflow) {
		uint64_t one = 1;

		(void)!write(d->event_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&d->q_lock);
	return n;
}

/**
 * disc_commit() - publish a new registry and queue what changed
 * @d: instance
 * @vms: every VM of the new registry (references are taken)
 * @n: number of VMs
 * @connected: connection state to publish
 * @event_ns: arrival time of the libvirt event that caused this, 0 for a resync
 * @extra: changes to queue after the computed ones
 * @n_extra: number of @extra
 *
 * Context: discovery thread (the single writer), registered with RCU and offline.
 * Return: 0 or -ENOMEM (nothing published).
 */
int disc_commit(struct disc *d, const struct disc_vm **vms, size_t n, bool connected,
		uint64_t event_ns, const struct disc_extra *extra, size_t n_extra)
{
	struct disc_snap *old = d->cur, *s;
	const struct disc_registry *o = &old->reg;
	struct pending {
		enum disc_change_kind kind;
		const struct disc_vm *vm;
		bool gone;
	} *pend;
	size_t i = 0, j = 0, n_pend = 0;
	struct disc_change c;

	/* allocate before any reference is taken: on failure the caller still owns @vms */
	pend = calloc(6 * (o->n_vms + n) + n_extra + 1, sizeof(*pend));
	if (!pend)
		return -ENOMEM;
	s = disc_snap_new(vms, n, connected, o->generation + 1);
	if (!s) {
		free(pend);
		return -ENOMEM;
	}
	/* both sorted by UUID: one merge walk finds added, removed and changed VMs */
	while (i < o->n_vms || j < s->reg.n_vms) {
		const struct disc_vm *a = i < o->n_vms ? o->vms[i] : NULL;
		const struct disc_vm *b = j < s->reg.n_vms ? s->reg.vms[j] : NULL;
		enum disc_change_kind kinds[6];
		size_t nk;
		int cmp = !a ? 1 : !b ? -1 : memcmp(a->uuid, b->uuid, 16);

		if (cmp < 0) {
			nk = vm_diff(a, NULL, kinds);
			b = NULL;
			i++;
		} else if (cmp > 0) {
			nk = vm_diff(NULL, b, kinds);
			a = NULL;
			j++;
		} else {
			nk = a == b ? 0 : vm_diff(a, b, kinds);
			i++;
			j++;
		}
		for (size_t k = 0; k < nk; k++)
			pend[n_pend++] = (struct pending){ kinds[k], b ? b : a, !b };
	}
	for (size_t k = 0; k < n_extra; k++)
		pend[n_pend++] = (struct pending){ extra[k].kind, extra[k].vm, false };

	if (n_pend == 0 && connected == o->connected) {
		/* a re-read that found nothing new: readers keep the snapshot they have */
		disc_snap_free(s);
		free(pend);
		return 0;
	}
	s->reg.published_ns = disc_now_ns();
	/* Pairs with rcu_dereference() in disc_snapshot_rcu(): entries are complete before. */
	rcu_assign_pointer(d->cur, s);
	for (size_t k = 0; k < n_pend; k++) {
		change_fill(&c, pend[k].kind, pend[k].vm, &s->reg, event_ns);
		if (pend[k].gone)
			c.state = DISC_VM_SHUTOFF;	/* gone: its last entry says otherwise */
		disc_queue_push(d, &c);
	}
	free(pend);

	/* call_rcu wants an online QSBR thread; the discovery thread is offline otherwise. */
	rcu_thread_online();
	call_rcu(&old->rcu, snap_free_rcu);
	rcu_thread_offline();

	if (n_pend)
		queue_signal(d);
	return 0;
}

/**
 * disc_commit_one() - publish the registry with one VM replaced, added or removed
 * @d: instance
 * @uuid: the VM's UUID
 * @vm: new entry (ownership passes to the registry) or NULL to remove the VM
 * @event_ns: arrival time of the libvirt event
 * @extra: explicit changes to queue (see disc_commit())
 * @n_extra: number of @extra
 *
 * Context: discovery thread, registered with RCU and offline.
 * Return: 0 or -ENOMEM.
 */
int disc_commit_one(struct disc *d, const unsigned char uuid[16], struct disc_vm *vm,
		    uint64_t event_ns, const struct disc_extra *extra, size_t n_extra)
{
	const struct disc_registry *o = &d->cur->reg;
	const struct disc_vm **vms = calloc(o->n_vms + 1, sizeof(*vms));
	size_t n = 0;
	int r;

	if (!vms) {
		disc_vm_free(vm);
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->n_vms; i++)
		if (memcmp(o->vms[i]->uuid, uuid, 16) != 0)
			vms[n++] = o->vms[i];
	if (vm)
		vms[n++] = vm;
	r = disc_commit(d, vms, n, o->connected, event_ns, extra, n_extra);
	free(vms);
	if (r < 0)
		disc_vm_free(vm);
	return r;
}
