/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the vu_frontend sources; not part of the library's interface. */
#ifndef VU_INTERNAL_H
#define VU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vu_frontend.h"

/* A wait at least this long that ends with used entries but no call is a missed call. */
#define VU_MISSED_CALL_MS 200


#define vu_log(...)                                  \
	do {                                         \
		fprintf(stderr, "vu_frontend: ");    \
		fprintf(stderr, __VA_ARGS__);        \
		fputc('\n', stderr);                 \
	} while (0)

struct vu_mem;
struct vu_vq;
struct vu_vq_cfg {
	const char *name;
	unsigned index;
	unsigned size;
	uint16_t base;
	bool event_idx;
	bool always_kick;
};
int vu_vq_new(struct vu_mem *m, const struct vu_vq_cfg *cfg, struct vu_vq **ret);
void vu_vq_free(struct vu_vq *vq);
/* SET_VRING_ADDR payload for this queue. */
void vu_vq_addr(const struct vu_vq *vq, struct vu_vring_addr *ret);
/* Shadow bookkeeping: the chain rooted at @head and what it was posted with. */
void vu_vq_set_chain(struct vu_vq *vq, uint16_t head, uint16_t ndesc, uint32_t cap);
uint16_t vu_vq_chain_len(const struct vu_vq *vq, uint16_t head);
uint16_t vu_vq_next(const struct vu_vq *vq, uint16_t i);
struct vu_desc vu_vq_desc_read(const struct vu_vq *vq, unsigned i);
void vu_vq_reset_stats_missed(struct vu_vq *vq);
void vu_vq_count_missed(struct vu_vq *vq);
bool vu_vq_outstanding(const struct vu_vq *vq, uint16_t head);
unsigned vu_vq_free_count(const struct vu_vq *vq);
unsigned vu_vq_inflight(const struct vu_vq *vq);
/* Read and clear the call eventfd without waiting; true if it had fired. */
bool vu_vq_take_call(struct vu_vq *vq);

#endif
