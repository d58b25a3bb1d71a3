/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue, device side (virtio 1.2 section 2.7).
 *
 * Everything in the shared rings is written by the guest at any time: each index and
 * descriptor is read once into a local and validated on that copy. A structural violation
 * (index out of range, loop, address outside guest memory) returns -EFAULT/-ELOOP/-EINVAL and
 * the caller stops the device; it never crashes us or reaches memory that is not the guest's.
 */
#ifndef VULB_VRING_VRING_H
#define VULB_VRING_VRING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "gmem/gmem.h"

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_USED_F_NO_NOTIFY 1
#define VRING_AVAIL_F_NO_INTERRUPT 1

#define VRING_MAX_SIZE 32768
/* A chain longer than this (after splitting at region ends) is dropped, not mapped. */
#define VRING_MAX_SEGS 64

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

struct vring_seg {
	uint8_t *hva;
	uint64_t gpa;        /* for dirty-page logging during migration */
	uint32_t len;
};

/* One descriptor chain mapped into our address space. */
struct vring_chain {
	uint16_t head;
	uint16_t nsegs;
	uint32_t len;
	struct vring_seg seg[VRING_MAX_SEGS];
};

struct vring {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t num;
	uint16_t mask;
	uint16_t last_avail_idx;  /* next head we will take */
	uint16_t last_used_idx;   /* our shadow of used->idx */
	uint16_t signalled_used;  /* used idx when we last decided about a call */
	bool signalled_used_valid;
	bool event_idx;
	bool indirect;
	unsigned int mem_hint;
};

/* Ring layout sizes for @num entries (virtio 1.2 section 2.7, with the event-idx words). */
static inline uint64_t vring_desc_bytes(uint16_t num) { return 16ull * num; }
static inline uint64_t vring_avail_bytes(uint16_t num) { return 6ull + 2ull * num; }
static inline uint64_t vring_used_bytes(uint16_t num) { return 6ull + 8ull * num; }

int vring_map(struct vring *vr, const struct gmem_table *mem, uint16_t num, uint64_t desc_qva,
	      uint64_t avail_qva, uint64_t used_qva, char *why, size_t why_len);
void vring_start(struct vring *vr, uint16_t last_avail_idx, bool event_idx, bool indirect);

/**
 * vring_avail_pending() - how many heads the guest has made available that we have not taken.
 * Return: count (0..num), or -EINVAL when the guest's index ran more than a ring ahead.
 * Context: the one thread that drains this ring.
 */
static inline int vring_avail_pending(const struct vring *vr)
{
	uint16_t idx = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - vr->last_avail_idx);

	return n > vr->num ? -EINVAL : n;
}

/**
 * vring_avail_pending_peek() - vring_avail_pending() from a thread that does not drain the
 * ring (the balancer, statistics): an estimate, since the draining thread moves on meanwhile.
 * Context: any thread, while the ring is ready (its memory is mapped).
 */
static inline int vring_avail_pending_peek(const struct vring *vr)
{
	uint16_t idx = __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE);
	uint16_t n = (uint16_t)(idx - __atomic_load_n(&vr->last_avail_idx, __ATOMIC_RELAXED));

	return n > vr->num ? -EINVAL : n;
}

int vring_pop_slow(struct vring *vr, const struct gmem_table *mem, bool device_writes,
		   struct vring_chain *out);

/**
 * vring_pop() - take the next available chain and map it.
 * @device_writes: true for RX rings (every descriptor must be device-writable), false for TX.
 *
 * On -EMSGSIZE the chain was consumed (its head is in @out->head) but is too long to map: the
 * caller returns it unused. Other errors mean the ring is corrupt and the device must stop.
 *
 * Inline for the chain nearly every frame is: one direct, non-empty descriptor inside the
 * region that the ring's last translation hit. Anything else, or anything that fails a check
 * here, goes to vring_pop_slow(), which reads the descriptor again and checks everything.
 * Context: the one thread that drains this ring; RCU read side for @mem.
 * Return: 0, -EMSGSIZE, or -EINVAL/-EFAULT/-ELOOP.
 */
static inline int vring_pop(struct vring *vr, const struct gmem_table *mem, bool device_writes,
			    struct vring_chain *out)
{
	uint16_t head = __atomic_load_n(&vr->avail->ring[vr->last_avail_idx & vr->mask],
					 __ATOMIC_RELAXED);
	const struct gmem_region *r;
	struct vring_desc d;
	uint64_t off;

	if (unlikely(head >= vr->num || vr->mem_hint >= mem->nregions))
		return vring_pop_slow(vr, mem, device_writes, out);
	/* A local copy: the guest may rewrite the descriptor while we look at it. */
	memcpy(&d, &vr->desc[head], sizeof(d));
	__asm__ volatile("" ::: "memory");
	r = &mem->regions[vr->mem_hint];
	off = d.addr - r->gpa;
	if (unlikely((d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) ||
		     !!(d.flags & VRING_DESC_F_WRITE) != device_writes || d.len == 0 ||
		     off >= r->size || d.len > r->size - off))
		return vring_pop_slow(vr, mem, device_writes, out);
	out->head = head;
	out->nsegs = 1;
	out->len = d.len;
	out->seg[0] = (struct vring_seg){ .hva = r->hva + off, .gpa = d.addr, .len = d.len };
	/* Atomic only for readers on other threads (vring_avail_pending_peek()). */
	__atomic_store_n(&vr->last_avail_idx, (uint16_t)(vr->last_avail_idx + 1), __ATOMIC_RELAXED);
	return 0;
}

/**
 * vring_prefetch_bufs() - for the next @n available heads, read the descriptor and start
 * fetching for writing the line @off bytes into the buffer it names.
 * For RX: the guest read the last frames we wrote there, so each first line is shared with its
 * CPU and our store has to take it back; stores wait for that one after another once the store
 * queue is full, prefetches issued together overlap. The descriptor loads overlap too here,
 * where vring_pop() would take them one copy apart. Buffers outside the ring's last memory
 * region are left alone, and everything is read again and checked by vring_pop().
 * Context: the one thread that drains this ring, @n <= vring_avail_pending(); RCU read side.
 */
static inline void vring_prefetch_bufs(const struct vring *vr, const struct gmem_table *mem,
				       unsigned int n, uint32_t off)
{
	const struct gmem_region *r;

	if (vr->mem_hint >= mem->nregions)
		return;
	r = &mem->regions[vr->mem_hint];
	for (unsigned int i = 0; i < n; i++) {
		uint16_t head = __atomic_load_n(&vr->avail->ring[(vr->last_avail_idx + i) & vr->mask],
						 __ATOMIC_RELAXED);
		uint64_t at;

		if (head >= vr->num)
			continue;
		at = __atomic_load_n(&vr->desc[head].addr, __ATOMIC_RELAXED) - r->gpa;
		if (at < r->size && off < r->size - at)
			prefetch_for_write(r->hva + at + off);
	}
}

/* Writes a used element at our shadow index; vring_used_publish() makes it visible. */
static inline void vring_used_put(struct vring *vr, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vr->used->ring[vr->last_used_idx & vr->mask];

	/*
	 * A driver that refills in order gets the same head back in the same slot lap after lap:
	 * leaving an equal element alone keeps its line shared with the driver's CPU.
	 */
	if (e->id != head || e->len != len) {
		e->id = head;
		e->len = len;
	}
	vr->last_used_idx++;
}

static inline void vring_used_publish(struct vring *vr)
{
	/* Pairs with the driver's read barrier before it reads used elements and buffers. */
	__atomic_store_n(&vr->used->idx, vr->last_used_idx, __ATOMIC_RELEASE);
}

bool vring_need_call(struct vring *vr);
bool vring_need_call_peek(const struct vring *vr);
/* Records that the guest was just interrupted (used idx at this call). */
static inline void vring_call_done(struct vring *vr)
{
	vr->signalled_used = vr->last_used_idx;
	vr->signalled_used_valid = true;
}
bool vring_notify_enable(struct vring *vr);
void vring_notify_disable(struct vring *vr);

/* Copies @len bytes from a flat buffer into a chain at @off. Return: bytes copied. */
uint32_t vring_chain_write(const struct vring_chain *c, uint32_t off, const void *src, uint32_t len);
/* Copies from a chain at @off into a flat buffer. Return: bytes copied. */
uint32_t vring_chain_read(const struct vring_chain *c, uint32_t off, void *dst, uint32_t len);

#endif
