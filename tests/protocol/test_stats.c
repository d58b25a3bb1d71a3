/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Counters from `vhost-user-lbctl --json stats` against what the frontends really sent and
 * received: per port (rx = from the guest, tx = to the guest; bytes are Ethernet frame bytes,
 * without the virtio-net header), per queue, floods counted on every port they reach, and
 * frames dropped for want of RX buffers counted as drops, not as delivered.
 */
#include <inttypes.h>
#include <stdio.h>

#include "proto_common.h"

static const size_t sizes[] = { 60, 61, 333, 1000, 1514 };
static struct vu_daemon d;

static uint64_t bytes_of(unsigned count)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < count; i++)
		sum += sizes[i % 5];
	return sum;
}

static const struct vu_queue_stats *queue(const struct vu_port_stats *s, int index)
{
	unsigned i;

	for (i = 0; i < s->nqueues; i++)
		if (s->q[i].index == index)
			return &s->q[i];
	return NULL;
}

static void expect_port(const char *port, uint64_t rxp, uint64_t rxb, uint64_t txp,
			uint64_t txb)
{
	struct vu_port_stats s;
	bool settled = pc_wait_stats(&d, port, rxp, txp, 2000, &s);

	CHECK(s.complete, "port %s stats lack fields: %s", port, s.missing);
	CHECK(settled, "port %s: rx_packets %" PRIu64 " tx_packets %" PRIu64 ", frontends counted "
	      "%" PRIu64 " / %" PRIu64, port, s.rx_packets, s.tx_packets, rxp, txp);
	CHECK(s.rx_bytes == rxb, "port %s: rx_bytes %" PRIu64 ", frontend sent %" PRIu64
	      " frame bytes (header excluded)", port, s.rx_bytes, rxb);
	CHECK(s.tx_bytes == txb, "port %s: tx_bytes %" PRIu64 ", frontend received %" PRIu64
	      " frame bytes", port, s.tx_bytes, txb);
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_dev_opts o;
	struct vu_dev *a, *b, *c;
	struct vu_dev_stats fa, fb, fc;
	struct vu_port_stats s;
	const struct vu_queue_stats *q;

	vu_test_init("protocol-stats", 120);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	o.name = "C";
	c = pc_dev(&d, "c", &o);

	vu_test_case("fresh ports count nothing");
	expect_port("a", 0, 0, 0, 0);

	vu_test_case("learning round: one broadcast from each, counted on every port it reaches");
	pc_send1(a, 0, 1, 0xffff, 600, 0, 60);
	pc_send1(b, 0, 2, 0xffff, 600, 1, 61);
	pc_send1(c, 0, 3, 0xffff, 600, 2, 333);
	CHECK(pc_recv_tag(b, 600, 2000, NULL) >= 0 && pc_recv_tag(b, 600, 2000, NULL) >= 0, "B");
	CHECK(pc_recv_tag(c, 600, 2000, NULL) >= 0 && pc_recv_tag(c, 600, 2000, NULL) >= 0, "C");
	CHECK(pc_recv_tag(a, 600, 2000, NULL) >= 0 && pc_recv_tag(a, 600, 2000, NULL) >= 0, "A");
	expect_port("a", 1, 60, 2, 61 + 333);
	expect_port("b", 1, 61, 2, 60 + 333);
	expect_port("c", 1, 333, 2, 60 + 61);

	vu_test_case("unicast A->B 500 and B->A 250: port and queue counters match");
	pc_xfer(a, b, 1, 2, 601, sizes, 5, 500);
	pc_xfer(b, a, 2, 1, 602, sizes, 5, 250);
	vu_dev_get_stats(a, &fa);
	vu_dev_get_stats(b, &fb);
	vu_dev_get_stats(c, &fc);
	CHECK(fc.rx_frames == 2, "C received %" PRIu64 " frames, only 2 broadcasts were for it",
	      fc.rx_frames);
	expect_port("a", fa.tx_frames, fa.tx_bytes, fa.rx_frames, fa.rx_bytes);
	expect_port("b", fb.tx_frames, fb.tx_bytes, fb.rx_frames, fb.rx_bytes);
	expect_port("c", fc.tx_frames, fc.tx_bytes, fc.rx_frames, fc.rx_bytes);
	CHECK(fa.tx_bytes == 60 + bytes_of(500), "frontend A's own count");
	if (CHECK(vu_ctl_port_stats(&d, "a", &s) == 0, "stats a")) {
		q = queue(&s, 1);
		if (CHECK(q, "no stats for vring 1 (A's TX)"))
			CHECK(q->packets == fa.tx_frames && q->bytes == fa.tx_bytes,
			      "vring 1: %" PRIu64 " packets %" PRIu64 " bytes, A sent %" PRIu64
			      " / %" PRIu64, q->packets, q->bytes, fa.tx_frames, fa.tx_bytes);
		q = queue(&s, 0);
		if (CHECK(q, "no stats for vring 0 (A's RX)"))
			CHECK(q->packets == fa.rx_frames && q->bytes == fa.rx_bytes,
			      "vring 0: %" PRIu64 " packets %" PRIu64 " bytes, A received %" PRIu64
			      " / %" PRIu64, q->packets, q->bytes, fa.rx_frames, fa.rx_bytes);
		CHECK(s.drops == 0, "port a drops: %s", s.drop_reasons);
		vu_test_note("port a: state %s, %" PRIu64 " macs, %u queues listed", s.state, s.macs,
			     s.nqueues);
	}

	vu_test_case("B posts no more RX buffers: the excess is dropped and counted");
	{
		struct vu_port_stats sb0, sb1, sa1;
		unsigned i, got = 0, cap = vu_dev_rx_capacity(b);
		uint64_t drops;

		REQUIRE(vu_ctl_port_stats(&d, "b", &sb0) == 0, "stats b");
		vu_dev_rx_repost(b, false);
		/* B's ring holds `cap` buffers; A sends cap + 100 and B reads nothing meanwhile */
		for (i = 0; i < cap + 100; i++)
			pc_send1(a, 0, 1, 2, 603, i, 100);
		CHECK(vu_dev_tx_drain(a, 0, 3000) == 0, "A's TX");
		(void)pc_wait_stats(&d, "b", sb0.rx_packets, sb0.tx_packets + cap, 2000, &sb1);
		for (;;) {
			if (pc_recv_tag(b, 603, 300, NULL) < 0)
				break;
			got++;
		}
		CHECK(vu_ctl_port_stats(&d, "b", &sb1) == 0 && vu_ctl_port_stats(&d, "a", &sa1) == 0,
		      "stats");
		drops = sb1.drops - sb0.drops;
		vu_test_note("B got %u of %u; port b drops +%" PRIu64 " (%s), port a drops %" PRIu64
			     " (%s)", got, cap + 100, drops, sb1.drop_reasons, sa1.drops,
			     sa1.drop_reasons);
		CHECK(got == cap, "B received %u frames with %u buffers posted", got, cap);
		CHECK(sb1.tx_packets - sb0.tx_packets == got, "port b tx_packets +%" PRIu64
		      ", B received %u", sb1.tx_packets - sb0.tx_packets, got);
		CHECK(drops + sa1.drops == cap + 100 - got, "drops counted %" PRIu64 " + %" PRIu64
		      ", frames not delivered %u", drops, sa1.drops, cap + 100 - got);
		CHECK(strstr(sb1.drop_reasons, "no_buffer") || strstr(sa1.drop_reasons, "no_buffer"),
		      "no 'no_buffer' drop reason: b '%s' a '%s'", sb1.drop_reasons,
		      sa1.drop_reasons);
		vu_dev_rx_repost(b, true);
		CHECK(vu_dev_rx_refill(b, 0) > 0, "refill");
		pc_xfer(a, b, 1, 2, 604, sizes, 5, 50);
	}
	pc_check_clean(a);
	pc_check_clean(b);
	pc_check_clean(c);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_dev_free(c);
	return vu_test_finish();
}
