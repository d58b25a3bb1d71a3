// SPDX-License-Identifier: GPL-2.0-or-later
#include "vring/vring.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

/*
 * A full barrier (our stores before our loads, against the driver on another CPU). On x86-64
 * a locked add to the stack orders like mfence and costs less, which is why Linux's smp_mb()
 * uses it; the mfence here showed up at ~10% of a 64 B frame's time. ThreadSanitizer does not
 * see inline assembly: it gets the C11 fence.
 */
static inline void full_barrier(void)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

static uint8_t *map_contiguous(const struct gmem_table *mem, uint64_t qva, uint64_t bytes)
{
	uint64_t len = bytes;
	uint8_t *hva = gmem_qva_to_hva(mem, qva, &len);

	return hva && len == bytes ? hva : NULL;
}

/**
 * vring_map() - translate and check the three ring areas (SET_VRING_ADDR).
 * Each area must lie whole in one region and be aligned as virtio 1.2 section 2.7 requires.
 * Context: control thread, ring stopped.
 * Return: 0, or -EINVAL with a reason in @why.
 */
int vring_map(struct vring *vr, const struct gmem_table *mem, uint16_t num, uint64_t desc_qva,
	      uint64_t avail_qva, uint64_t used_qva, char *why, size_t why_len)
{
	if (num == 0 || (num & (num - 1))) {
		WHY("ring size %u is not a power of 2", num);
		return -EINVAL;
	}
	if ((desc_qva & 15) || (avail_qva & 1) || (used_qva & 3)) {
		WHY("misaligned ring (desc 0x%llx avail 0x%llx used 0x%llx)",
		    (unsigned long long)desc_qva, (unsigned long long)avail_qva,
		    (unsigned long long)used_qva);
		return -EINVAL;
	}
	vr->desc = (struct vring_desc *)map_contiguous(mem, desc_qva, vring_desc_bytes(num));
	vr->avail = (struct vring_avail *)map_contiguous(mem, avail_qva, vring_avail_bytes(num));
	vr->used = (struct vring_used *)map_contiguous(mem, used_qva, vring_used_bytes(num));
	/*
	 * A region's frontend address and file offset need not share alignment: an aligned qva
	 * can land on a misaligned host address, which we would then access as a struct.
	 */
	if (vr->desc && vr->avail && vr->used &&
	    (((uintptr_t)vr->desc & 15) || ((uintptr_t)vr->avail & 1) || ((uintptr_t)vr->used & 3))) {
		WHY("ring areas misaligned in our mapping (region offset not aligned)");
		vr->desc = NULL;
		vr->avail = NULL;
		vr->used = NULL;
		return -EINVAL;
	}
	if (!vr->desc || !vr->avail || !vr->used) {
		WHY("ring area outside guest memory or across a region end (%s)",
		    !vr->desc ? "desc" : !vr->avail ? "avail" : "used");
		vr->desc = NULL;
		vr->avail = NULL;
		vr->used = NULL;
		return -EINVAL;
	}
	vr->num = num;
	vr->mask = num - 1;
	return 0;
}

/* Context: control thread, before the ring is published to workers. */
void vring_start(struct vring *vr, uint16_t last_avail_idx, bool event_idx, bool indirect)
{
	vr->last_avail_idx = last_avail_idx;
	/* Resume from what the guest already saw completed, not from our previous life. */
	vr->last_used_idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	vr->signalled_used_valid = false;
	vr->event_idx = event_idx;
	vr->indirect = indirect;
	vr->mem_hint = 0;
}

static inline uint16_t *avail_used_event(const struct vring *vr)
{
	return &vr->avail->ring[vr->num];
}

static inline uint16_t *used_avail_event(const struct vring *vr)
{
	return (uint16_t *)&vr->used->ring[vr->num];
}

/* Maps one guest buffer, splitting it where it crosses a region end. */
static int map_buffer(struct vring *vr, const struct gmem_table *mem, uint64_t gpa, uint32_t len,
		      struct vring_chain *out)
{
	uint64_t left = len;

	if (__builtin_add_overflow(out->len, len, &out->len))
		return -EINVAL;
	while (left) {
		uint64_t piece = left;
		uint8_t *hva = gmem_gpa_to_hva(mem, gpa, &piece, &vr->mem_hint);

		if (!hva)
			return -EFAULT;
		if (out->nsegs == VRING_MAX_SEGS)
			return -EMSGSIZE;
		out->seg[out->nsegs++] = (struct vring_seg){ .hva = hva, .gpa = gpa, .len = (uint32_t)piece };
		gpa += piece;
		left -= piece;
	}
	return 0;
}

/*
 * A chain with more segments than we map is still walked to its end, without mapping the
 * rest: a loop must come out as -ELOOP (the ring is corrupt: stop the device), not as
 * -EMSGSIZE (a legal chain too long for us: drop that one frame), or a guest could loop its
 * RX ring's first chain and have every frame to it dropped without the port ever breaking.
 */
static int seg_result(int r, bool *too_long)
{
	if (r == -EMSGSIZE) {
		*too_long = true;
		return 0;
	}
	return r;
}

static int walk_indirect(struct vring *vr, const struct gmem_table *mem, const struct vring_desc *d,
			 bool device_writes, struct vring_chain *out)
{
	uint64_t len = d->len;
	const struct vring_desc *table;
	uint32_t count, i = 0, seen = 0;
	bool too_long = false;
	int r;

	if (!vr->indirect || (d->flags & VRING_DESC_F_NEXT) || d->len == 0 || (d->len & 15))
		return -EINVAL;
	count = d->len / 16;
	table = (const struct vring_desc *)gmem_gpa_to_hva(mem, d->addr, &len, &vr->mem_hint);
	if (!table || len != d->len)
		return -EFAULT;
	for (;;) {
		struct vring_desc ld;

		memcpy(&ld, &table[i], sizeof(ld));
		__asm__ volatile("" ::: "memory");
		if (++seen > count)
			return -ELOOP;
		/* virtio 1.2 2.7.5.3.1: no nested indirect tables. */
		if (ld.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL;
		if (!!(ld.flags & VRING_DESC_F_WRITE) != device_writes)
			return -EINVAL;
		r = seg_result(map_buffer(vr, mem, ld.addr, ld.len, out), &too_long);
		if (r)
			return r;
		if (!(ld.flags & VRING_DESC_F_NEXT))
			return too_long ? -EMSGSIZE : 0;
		if (ld.next >= count)
			return -EINVAL;
		i = ld.next;
	}
}

/* vring_pop() for every chain its inline fast path does not take (see vring.h). */
int vring_pop_slow(struct vring *vr, const struct gmem_table *mem, bool device_writes,
		   struct vring_chain *out)
{
	uint16_t head = __atomic_load_n(&vr->avail->ring[vr->last_avail_idx & vr->mask],
					 __ATOMIC_RELAXED);
	uint16_t i = head;
	uint32_t seen = 0;
	bool too_long = false;
	int r;

	out->nsegs = 0;
	out->len = 0;
	out->head = head;
	if (head >= vr->num)
		return -EINVAL;
	/* Atomic only for readers on other threads (vring_avail_pending_peek()). */
	__atomic_store_n(&vr->last_avail_idx, (uint16_t)(vr->last_avail_idx + 1), __ATOMIC_RELAXED);
	for (;;) {
		struct vring_desc ld;

		memcpy(&ld, &vr->desc[i], sizeof(ld));
		__asm__ volatile("" ::: "memory");
		if (++seen > vr->num)
			return -ELOOP;
		if (ld.flags & VRING_DESC_F_INDIRECT) {
			/* An indirect descriptor must be the only one in its chain. */
			if (seen != 1)
				return -EINVAL;
			return walk_indirect(vr, mem, &ld, device_writes, out);
		}
		if (!!(ld.flags & VRING_DESC_F_WRITE) != device_writes)
			return -EINVAL;
		r = seg_result(map_buffer(vr, mem, ld.addr, ld.len, out), &too_long);
		if (r)
			return r;
		if (!(ld.flags & VRING_DESC_F_NEXT))
			return too_long ? -EMSGSIZE : 0;
		if (ld.next >= vr->num)
			return -EINVAL;
		i = ld.next;
	}
}

/**
 * vring_need_call() - decide whether to interrupt the guest after publishing used entries.
 * Implements virtio 1.2 2.7.10 (used_event) and 2.7.7 (VRING_AVAIL_F_NO_INTERRUPT).
 * Context: the thread that published the used entries.
 */
bool vring_need_call(struct vring *vr)
{
	uint16_t old, new;

	/* Pairs with the driver's barrier between writing used_event and reading used->idx. */
	full_barrier();
	if (!vr->event_idx)
		return !(__atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vr->signalled_used;
	new = vr->signalled_used = vr->last_used_idx;
	if (unlikely(!vr->signalled_used_valid)) {
		vr->signalled_used_valid = true;
		return true;
	}
	{
		uint16_t event = __atomic_load_n(avail_used_event(vr), __ATOMIC_RELAXED);

		return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
	}
}

/**
 * vring_need_call_peek() - like vring_need_call(), without recording a decision.
 * For interrupt coalescing: a call put off must still see the guest's used_event inside the
 * window since the last real call, so the window only moves when we really call
 * (vring_call_done()).
 */
bool vring_need_call_peek(const struct vring *vr)
{
	uint16_t event;

	full_barrier();
	if (!vr->event_idx)
		return !(__atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	if (!vr->signalled_used_valid)
		return true;
	event = __atomic_load_n(avail_used_event(vr), __ATOMIC_RELAXED);
	return (uint16_t)(vr->last_used_idx - event - 1) < (uint16_t)(vr->last_used_idx - vr->signalled_used);
}

/**
 * vring_notify_enable() - ask the guest to kick us for the next buffer it makes available.
 * Return: true if buffers arrived meanwhile (the caller must drain again instead of sleeping).
 */
bool vring_notify_enable(struct vring *vr)
{
	if (vr->event_idx)
		__atomic_store_n(used_avail_event(vr), vr->last_avail_idx, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vr->used->flags, 0, __ATOMIC_RELAXED);
	/* Pairs with the driver's barrier between writing avail->idx and reading our flag. */
	full_barrier();
	return __atomic_load_n(&vr->avail->idx, __ATOMIC_ACQUIRE) != vr->last_avail_idx;
}

/* While we poll, kicks only cost the guest an exit. With event-idx an old avail_event does it. */
void vring_notify_disable(struct vring *vr)
{
	if (!vr->event_idx)
		__atomic_store_n(&vr->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
}

/* Copies between a flat buffer and a chain at @off, in the direction @to_chain says. */
static uint32_t chain_xfer(const struct vring_chain *c, uint32_t off, uint8_t *buf, uint32_t len,
			   bool to_chain)
{
	uint32_t done = 0;

	for (unsigned int i = 0; i < c->nsegs && done < len; i++) {
		uint32_t n;

		if (off >= c->seg[i].len) {
			off -= c->seg[i].len;
			continue;
		}
		n = MIN(c->seg[i].len - off, len - done);
		if (to_chain)
			memcpy(c->seg[i].hva + off, buf + done, n);
		else
			memcpy(buf + done, c->seg[i].hva + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint32_t vring_chain_write(const struct vring_chain *c, uint32_t off, const void *src, uint32_t len)
{
	return chain_xfer(c, off, (uint8_t *)src, len, true);
}

uint32_t vring_chain_read(const struct vring_chain *c, uint32_t off, void *dst, uint32_t len)
{
	return chain_xfer(c, off, dst, len, false);
}
