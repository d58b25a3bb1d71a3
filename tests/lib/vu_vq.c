/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vu_vq: driver side of a split virtqueue (virtio 1.2 section 2.7). */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vu_frontend.h"
#include "vu_internal.h"

struct vu_vq {
	char name[64];
	unsigned index, size;
	bool event_idx, always_kick;
	struct vu_mem *mem;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vu_desc *desc;
	uint16_t *avail;	/* flags, idx, ring[size], used_event */
	uint8_t *used;		/* flags, idx, ring[size] {id, len}, avail_event */
	uint16_t avail_idx;	/* what we published */
	uint16_t last_used;	/* next used entry to consume */
	uint16_t kicked_avail;	/* avail idx when we last decided whether to kick */
	int kick_fd, call_fd;
	/* shadow state: the backend could overwrite the table; we trust only these */
	uint16_t *sh_next;
	uint16_t *chain_len;	/* per head, 0 = not outstanding */
	uint32_t *chain_cap;
	uint16_t *free_stack;
	bool *is_free;
	unsigned nfree;
	unsigned inflight;
	bool warned_overrun;
	struct vu_vq_stats st;
};

static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

#define AVAIL_FLAGS(vq) (&(vq)->avail[0])
#define AVAIL_IDX(vq) (&(vq)->avail[1])
#define AVAIL_RING(vq, i) (&(vq)->avail[2 + (i)])
#define USED_EVENT(vq) (&(vq)->avail[2 + (vq)->size])
#define USED_FLAGS(vq) ((uint16_t *)((vq)->used + 0))
#define USED_IDX(vq) ((uint16_t *)((vq)->used + 2))
#define USED_ELEM(vq, i) ((uint32_t *)((vq)->used + 4 + 8 * (size_t)(i)))
#define AVAIL_EVENT(vq) ((uint16_t *)((vq)->used + 4 + 8 * (size_t)(vq)->size))

int vu_vq_new(struct vu_mem *m, const struct vu_vq_cfg *cfg, struct vu_vq **ret)
{
	struct vu_vq *vq;
	void *p;
	unsigned i;
	int r;

	if (!cfg->size || cfg->size > 32768 || (cfg->size & (cfg->size - 1)))
		return -EINVAL;
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	vq->kick_fd = vq->call_fd = -1;
	snprintf(vq->name, sizeof(vq->name), "%s vq=%u", cfg->name, cfg->index);
	vq->index = cfg->index;
	vq->size = cfg->size;
	vq->event_idx = cfg->event_idx;
	vq->always_kick = cfg->always_kick;
	vq->mem = m;
	vq->sh_next = calloc(cfg->size, sizeof(*vq->sh_next));
	vq->chain_len = calloc(cfg->size, sizeof(*vq->chain_len));
	vq->chain_cap = calloc(cfg->size, sizeof(*vq->chain_cap));
	vq->free_stack = calloc(cfg->size, sizeof(*vq->free_stack));
	vq->is_free = calloc(cfg->size, sizeof(*vq->is_free));
	if (!vq->sh_next || !vq->chain_len || !vq->chain_cap || !vq->free_stack || !vq->is_free) {
		r = -ENOMEM;
		goto fail;
	}
	/* Three separate allocations: with several regions they land in different ones. */
	r = vu_mem_alloc(m, 16 * (size_t)cfg->size, 4096, &vq->desc_gpa, &p);
	if (r < 0)
		goto fail;
	vq->desc = p;
	r = vu_mem_alloc(m, 6 + 2 * (size_t)cfg->size, 64, &vq->avail_gpa, &p);
	if (r < 0)
		goto fail;
	vq->avail = p;
	r = vu_mem_alloc(m, 6 + 8 * (size_t)cfg->size, 64, &vq->used_gpa, &p);
	if (r < 0)
		goto fail;
	vq->used = p;
	vq->avail_idx = vq->last_used = vq->kicked_avail = cfg->base;
	/* The used index is the device's, but a backend may read it to resume (vhost does). */
	store16(AVAIL_IDX(vq), cfg->base);
	store16(USED_IDX(vq), cfg->base);
	store16(USED_EVENT(vq), cfg->base);
	for (i = 0; i < cfg->size; i++) {
		vq->free_stack[i] = (uint16_t)(cfg->size - 1 - i);
		vq->is_free[i] = true;
	}
	vq->nfree = cfg->size;
	vq->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->kick_fd < 0 || vq->call_fd < 0) {
		r = -errno;
		goto fail;
	}
	*ret = vq;
	return 0;
fail:
	vu_vq_free(vq);
	return r;
}

void vu_vq_free(struct vu_vq *vq)
{
	if (!vq)
		return;
	if (vq->kick_fd >= 0)
		close(vq->kick_fd);
	if (vq->call_fd >= 0)
		close(vq->call_fd);
	free(vq->sh_next);
	free(vq->chain_len);
	free(vq->chain_cap);
	free(vq->free_stack);
	free(vq->is_free);
	free(vq);
}

void vu_vq_addr(const struct vu_vq *vq, struct vu_vring_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->index = vq->index;
	ret->desc_qva = vu_mem_gpa_to_qva(vq->mem, vq->desc_gpa);
	ret->avail_qva = vu_mem_gpa_to_qva(vq->mem, vq->avail_gpa);
	ret->used_qva = vu_mem_gpa_to_qva(vq->mem, vq->used_gpa);
}

unsigned vu_vq_index(const struct vu_vq *vq)
{
	return vq->index;
}

unsigned vu_vq_size(const struct vu_vq *vq)
{
	return vq->size;
}

int vu_vq_kick_fd(const struct vu_vq *vq)
{
	return vq->kick_fd;
}

int vu_vq_call_fd(const struct vu_vq *vq)
{
	return vq->call_fd;
}

uint64_t vu_vq_desc_gpa(const struct vu_vq *vq)
{
	return vq->desc_gpa;
}

void vu_vq_desc_write(struct vu_vq *vq, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags,
		      uint16_t next)
{
	struct vu_desc d = { .addr = gpa, .len = len, .flags = flags, .next = next };

	if (i >= vq->size)
		return;
	memcpy(&vq->desc[i], &d, sizeof(d));
	vq->sh_next[i] = next;
}

struct vu_desc vu_vq_desc_read(const struct vu_vq *vq, unsigned i)
{
	struct vu_desc d;

	memcpy(&d, &vq->desc[i % vq->size], sizeof(d));
	return d;
}

uint16_t vu_vq_next(const struct vu_vq *vq, uint16_t i)
{
	return vq->sh_next[i % vq->size];
}

int vu_vq_desc_get(struct vu_vq *vq)
{
	uint16_t i;

	if (!vq->nfree)
		return -ENOSPC;
	i = vq->free_stack[--vq->nfree];
	vq->is_free[i] = false;
	return i;
}

void vu_vq_desc_put(struct vu_vq *vq, unsigned i)
{
	if (i >= vq->size || vq->is_free[i]) {
		vu_log("%s: descriptor %u given back twice (frontend bug)", vq->name, i);
		return;
	}
	vq->is_free[i] = true;
	vq->free_stack[vq->nfree++] = (uint16_t)i;
}

unsigned vu_vq_free_count(const struct vu_vq *vq)
{
	return vq->nfree;
}

unsigned vu_vq_inflight(const struct vu_vq *vq)
{
	return vq->inflight;
}

void vu_vq_set_chain(struct vu_vq *vq, uint16_t head, uint16_t ndesc, uint32_t cap)
{
	vq->chain_len[head % vq->size] = ndesc;
	vq->chain_cap[head % vq->size] = cap;
}

uint16_t vu_vq_chain_len(const struct vu_vq *vq, uint16_t head)
{
	return vq->chain_len[head % vq->size];
}

bool vu_vq_outstanding(const struct vu_vq *vq, uint16_t head)
{
	return head < vq->size && vq->chain_len[head] != 0;
}

void vu_vq_avail_push(struct vu_vq *vq, uint16_t head)
{
	/* The ring slot and descriptors must be visible before the index: release store. */
	store16(AVAIL_RING(vq, vq->avail_idx % vq->size), head);
	vq->avail_idx++;
	store16(AVAIL_IDX(vq), vq->avail_idx);
	if (head < vq->size && !vq->chain_len[head])
		vq->chain_len[head] = 1;
	vq->inflight++;
}

void vu_vq_avail_idx_set(struct vu_vq *vq, uint16_t idx)
{
	vq->avail_idx = idx;
	store16(AVAIL_IDX(vq), idx);
}

void vu_vq_raw_events(struct vu_vq *vq, uint16_t avail_flags, uint16_t used_event,
		      uint16_t used_flags, uint16_t avail_event)
{
	store16(AVAIL_FLAGS(vq), avail_flags);
	store16(USED_EVENT(vq), used_event);
	store16(USED_FLAGS(vq), used_flags);
	store16(AVAIL_EVENT(vq), avail_event);
}

uint16_t vu_vq_avail_idx(const struct vu_vq *vq)
{
	return vq->avail_idx;
}

static inline bool need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	/* virtio 1.2 section 2.7.10: notify if event_idx lies in [old, new). */
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

int vu_vq_notify(struct vu_vq *vq, bool force)
{
	uint16_t old = vq->kicked_avail, cur = vq->avail_idx;
	uint64_t one = 1;
	bool kick;

	/* Pairs with the backend's barrier between writing avail_event/NO_NOTIFY and re-reading
	 * avail->idx: either it sees our new index or we see its request to be kicked. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->kicked_avail = cur;
	if (force || vq->always_kick)
		kick = true;
	else if (old == cur)
		kick = false;
	else if (vq->event_idx)
		kick = need_event(load16(AVAIL_EVENT(vq)), cur, old);
	else
		kick = !(load16(USED_FLAGS(vq)) & VU_USED_F_NO_NOTIFY);
	if (!kick) {
		vq->st.kicks_suppressed++;
		return 0;
	}
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		return -errno;
	vq->st.kicks++;
	return 1;
}

unsigned vu_vq_used_pending(const struct vu_vq *vq)
{
	return (uint16_t)(load16(USED_IDX(vq)) - vq->last_used);
}

int vu_vq_used_pop(struct vu_vq *vq, struct vu_used_elem *ret)
{
	uint16_t uidx = load16(USED_IDX(vq)), slot;
	uint32_t id, len;

	if (uidx == vq->last_used)
		return -EAGAIN;
	if ((uint16_t)(uidx - vq->last_used) > vq->size) {
		if (!vq->warned_overrun)
			vu_log("%s: used idx %u is %u entries ahead of %u (ring size %u)", vq->name,
			       uidx, (uint16_t)(uidx - vq->last_used), vq->last_used, vq->size);
		vq->warned_overrun = true;
		vq->st.bad_used++;
		return -EPROTO;
	}
	slot = vq->last_used % vq->size;
	/* The acquire load of used->idx above orders these reads after it. */
	id = __atomic_load_n(USED_ELEM(vq, slot), __ATOMIC_RELAXED);
	len = __atomic_load_n(USED_ELEM(vq, slot) + 1, __ATOMIC_RELAXED);
	vq->last_used++;
	if (id >= vq->size || !vq->chain_len[id]) {
		vu_log("%s: used entry %u names head %u, which is not outstanding", vq->name,
		       (uint16_t)(vq->last_used - 1), id);
		vq->st.bad_used++;
		return -EPROTO;
	}
	if (vq->chain_cap[id] && len > vq->chain_cap[id]) {
		vu_log("%s: used entry for head %u has len %u > the %u writable bytes posted",
		       vq->name, id, len, vq->chain_cap[id]);
		vq->st.bad_used++;
	}
	if (vq->inflight)
		vq->inflight--;
	ret->id = id;
	ret->len = len;
	return 0;
}

void vu_vq_interrupts(struct vu_vq *vq, bool on)
{
	if (vq->event_idx) {
		/* Half the index space away is "not before a long time": Linux does the same. */
		store16(USED_EVENT(vq), on ? vq->last_used : (uint16_t)(vq->last_used + 0x8000));
		store16(AVAIL_FLAGS(vq), 0);
	} else {
		store16(AVAIL_FLAGS(vq), on ? 0 : VU_AVAIL_F_NO_INTERRUPT);
	}
}

bool vu_vq_take_call(struct vu_vq *vq)
{
	uint64_t v;

	if (read(vq->call_fd, &v, sizeof(v)) == sizeof(v)) {
		vq->st.calls++;
		return true;
	}
	return false;
}

int vu_vq_wait(struct vu_vq *vq, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd pfd = { .fd = vq->call_fd, .events = POLLIN };
		int r;

		if (vu_vq_used_pending(vq))
			return 0;
		vu_vq_interrupts(vq, true);
		/* Pairs with the backend's barrier between updating used->idx and reading
		 * used_event / flags: either we see its entry or it sees our request. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vu_vq_used_pending(vq))
			return 0;
		r = poll(&pfd, 1, vu_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0) {
			(void)vu_vq_take_call(vq);
			continue;
		}
		if (vu_vq_used_pending(vq)) {
			if (timeout_ms < VU_MISSED_CALL_MS)
				return 0;
			vq->st.missed_calls++;
			vu_log("%s: %u used entries waiting but no call for %d ms", vq->name,
			       vu_vq_used_pending(vq), timeout_ms);
			return 0;
		}
		return -ETIMEDOUT;
	}
}

void vu_vq_count_missed(struct vu_vq *vq)
{
	vq->st.missed_calls++;
}

void vu_vq_reset_stats_missed(struct vu_vq *vq)
{
	vq->st.missed_calls = 0;
}

void vu_vq_get_stats(const struct vu_vq *vq, struct vu_vq_stats *ret)
{
	*ret = vq->st;
}
