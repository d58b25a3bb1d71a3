/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Send-and-verify loops shared by the suites. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu_frame.h"
#include "vu_frontend.h"
#include "vu_harness.h"
#include "vu_internal.h"

static uint8_t txbuf[VU_FRAME_MAX], rxbuf[VU_FRAME_MAX];

static void take(struct vu_dev *to, struct vu_traffic *t, uint8_t *seen, int r,
		 const struct vu_rx_info *info)
{
	struct vu_stamp s;
	char why[128];

	if (r < 0)
		return;
	if (!vu_frame_stamp(rxbuf, (size_t)r, &s) || s.tag != t->tag) {
		t->foreign++;
		return;
	}
	if (s.seq >= t->count) {
		t->corrupt++;
		vu_test_fail(__FILE__, __LINE__, "%s: frame with seq %u of %u sent",
			     vu_dev_name(to), s.seq, t->count);
		return;
	}
	if (seen[s.seq]) {
		t->duplicate++;
		vu_test_fail(__FILE__, __LINE__, "%s: frame seq %u received twice", vu_dev_name(to),
			     s.seq);
		return;
	}
	seen[s.seq] = 1;
	if (!vu_frame_verify(rxbuf, (size_t)r, why, sizeof(why))) {
		t->corrupt++;
		vu_test_fail(__FILE__, __LINE__, "%s: frame seq %u: %s", vu_dev_name(to), s.seq,
			     why);
		return;
	}
	{
		size_t want = t->sizes[s.seq % t->nsizes];

		if ((size_t)r != want) {
			t->corrupt++;
			vu_test_fail(__FILE__, __LINE__, "%s: frame seq %u has %d bytes, sent %zu",
				     vu_dev_name(to), s.seq, r, want);
			return;
		}
	}
	t->received++;
	t->received_bytes += (size_t)r;
	if (info->qp < 64)
		t->rx_per_qp[info->qp]++;
}

static void drain_now(struct vu_dev *to, struct vu_traffic *t, uint8_t *seen)
{
	struct vu_rx_info info;
	int r;

	while ((r = vu_dev_recv(to, VU_ANY_QP, rxbuf, sizeof(rxbuf), 0, &info)) != -ETIMEDOUT) {
		if (r == -EPROTO || r == -EMSGSIZE)
			vu_test_fail(__FILE__, __LINE__, "%s: receive: %s", vu_dev_name(to),
				     strerror(-r));
		take(to, t, seen, r, &info);
	}
}

/* Wait up to @ms for one more frame; false on timeout. */
static bool wait_one(struct vu_dev *to, struct vu_traffic *t, uint8_t *seen, int ms)
{
	struct vu_rx_info info;
	int r;

	r = vu_dev_recv(to, VU_ANY_QP, rxbuf, sizeof(rxbuf), ms, &info);
	if (r == -ETIMEDOUT)
		return false;
	if (r == -EPROTO || r == -EMSGSIZE)
		vu_test_fail(__FILE__, __LINE__, "%s: receive: %s", vu_dev_name(to), strerror(-r));
	take(to, t, seen, r, &info);
	return true;
}

unsigned vu_traffic_run(struct vu_dev *from, struct vu_dev *to, struct vu_traffic *t)
{
	unsigned nqp = vu_dev_queue_pairs(from), window, i;
	int timeout = t->timeout_ms ? t->timeout_ms : 3000;
	struct vu_tx_opts o = { .layout = (enum vu_tx_layout)t->layout, .segs = t->segs };
	uint8_t *seen = calloc(t->count ? t->count : 1, 1);
	long written_off = 0;
	unsigned lost, stalls = 0;
	int r;

	t->sent = t->received = t->corrupt = t->duplicate = t->foreign = t->send_errors = 0;
	t->sent_bytes = t->received_bytes = 0;
	memset(t->rx_per_qp, 0, sizeof(t->rx_per_qp));
	if (!seen)
		return t->count;
	/*
	 * A switch cannot push back on a sender: frames for a full RX ring are dropped. Keep
	 * fewer frames in flight than one RX queue of the receiver holds, so every loss seen
	 * here is the backend's.
	 */
	window = t->batch ? t->batch : 32;
	{
		size_t biggest = 0, per;
		unsigned k;

		for (k = 0; k < t->nsizes; k++)
			if (t->sizes[k] > biggest)
				biggest = t->sizes[k];
		/* mergeable buffers: a big frame takes several of them */
		per = (biggest + vu_dev_hdr_len(to) + vu_dev_rx_buf_size(to) - 1) /
		      vu_dev_rx_buf_size(to);
		if (!per)
			per = 1;
		if (window > vu_dev_rx_capacity(to) / per / 2)
			window = (unsigned)(vu_dev_rx_capacity(to) / per / 2);
	}
	if (!window)
		window = 1;
	for (i = 0; i < t->count; i++) {
		size_t len = t->sizes[i % t->nsizes];
		unsigned qp = t->spread_tx ? i % nqp : t->tx_qp;
		uint16_t flow = (uint16_t)(t->flows ? i % t->flows : 0);

		while ((long)t->sent - t->received - t->corrupt - written_off >= (long)window) {
			if (wait_one(to, t, seen, timeout)) {
				stalls = 0;
				continue;
			}
			written_off = (long)t->sent - t->received - t->corrupt;
			/* Two full windows lost in a row: the path is down, stop hammering it. */
			if (++stalls >= 2)
				goto stop;
		}
		vu_frame_build(txbuf, len, t->dst, t->src, t->tag, i, flow);
		r = vu_dev_send(from, qp, txbuf, len, &o, 2000);
		if (r < 0) {
			t->send_errors++;
			vu_test_fail(__FILE__, __LINE__, "%s: send seq %u (%zu bytes) qp %u: %s",
				     vu_dev_name(from), i, len, qp, strerror(-r));
			continue;
		}
		t->sent++;
		t->sent_bytes += len;
		drain_now(to, t, seen);
	}
stop:
	if (i < t->count && !t->quiet)
		vu_test_fail(__FILE__, __LINE__, "%s -> %s: nothing arrives any more; stopped "
			     "after sending %u of %u frames", vu_dev_name(from), vu_dev_name(to), i,
			     t->count);
	{
		int64_t deadline = vu_now_ms() + timeout;

		while (t->received + t->corrupt < t->sent && vu_remaining_ms(deadline))
			if (!wait_one(to, t, seen, vu_remaining_ms(deadline)))
				break;
	}
	lost = t->sent - t->received - t->corrupt;
	if (lost && !t->quiet) {
		unsigned k, shown = 0;
		char list[256] = "";

		for (k = 0; k < t->count && shown < 12; k++) {
			if (!seen[k]) {
				size_t l = strlen(list);

				snprintf(list + l, sizeof(list) - l, " %u(%zuB)", k,
					 t->sizes[k % t->nsizes]);
				shown++;
			}
		}
		vu_test_fail(__FILE__, __LINE__, "%s -> %s: %u of %u frames lost; missing seq:%s",
			     vu_dev_name(from), vu_dev_name(to), lost, t->sent, list);
	}
	free(seen);
	return lost + t->corrupt + t->duplicate + t->send_errors;
}

void vu_traffic_absorb(struct vu_dev *d, int ms, uint32_t tag, unsigned *ret_frames,
		       unsigned *ret_tagged)
{
	int64_t deadline = vu_now_ms() + ms;
	unsigned frames = 0, tagged = 0;
	struct vu_stamp s;
	int r;

	for (;;) {
		r = vu_dev_recv(d, VU_ANY_QP, rxbuf, sizeof(rxbuf), vu_remaining_ms(deadline), NULL);
		if (r == -ETIMEDOUT)
			break;
		if (r < 0)
			continue;
		frames++;
		if (vu_frame_stamp(rxbuf, (size_t)r, &s) && s.tag == tag)
			tagged++;
	}
	if (ret_frames)
		*ret_frames = frames;
	if (ret_tagged)
		*ret_tagged = tagged;
}

bool vu_traffic_probe(struct vu_dev *from, struct vu_dev *to, const uint8_t dst[6],
		      const uint8_t src[6], int timeout_ms)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	uint32_t seq = 0;
	struct vu_stamp s;

	while (vu_remaining_ms(deadline)) {
		int64_t step = vu_now_ms() + 100;
		int r;

		vu_frame_build(txbuf, 64, dst, src, VU_PROBE_TAG, seq++, 0);
		if (vu_dev_send(from, 0, txbuf, 64, NULL, 100) < 0)
			continue;
		while (vu_remaining_ms(step)) {
			r = vu_dev_recv(to, VU_ANY_QP, rxbuf, sizeof(rxbuf), vu_remaining_ms(step),
					NULL);
			if (r > 0 && vu_frame_stamp(rxbuf, (size_t)r, &s) && s.tag == VU_PROBE_TAG)
				return true;
		}
	}
	return false;
}
