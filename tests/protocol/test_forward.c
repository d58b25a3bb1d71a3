/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Forwarding: frames from port A arrive at port B byte-identical, for every frame size from
 * 60 to 1514 bytes and 9000-byte jumbo frames, with mergeable and non-mergeable RX buffers,
 * every TX descriptor layout, several memory regions, ring index wrap-around, and both
 * notification schemes (EVENT_IDX and flags).
 */
#include <stdio.h>
#include <stdlib.h>

#include "proto_common.h"

struct fcase {
	const char *name;
	uint64_t drop;			/* features not asked for */
	unsigned layout, segs;
	unsigned regions;
	uint64_t mmap_offset;
	bool contiguous;
	uint16_t base;
	unsigned ring_size;
	unsigned rx_buf_size, rx_segs;
	bool jumbo;
	bool all_sizes;
	bool always_kick, poll_rx;
	unsigned count;			/* frames each way (default: from the sizes) */
};

static size_t all_sizes[1514 - 60 + 1];
static const size_t mixed[] = { 60, 61, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512,
				513, 1000, 1023, 1024, 1025, 1499, 1500, 1513, 1514 };
static const size_t jumbo[] = { 1515, 2048, 4096, 8192, 9000, 9014, 60, 1514, 9000 };

static void run(const struct fcase *c)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	const size_t *sizes = c->jumbo ? jumbo : c->all_sizes ? all_sizes : mixed;
	unsigned n = c->jumbo ? sizeof(jumbo) / sizeof(jumbo[0])
		     : c->all_sizes ? sizeof(all_sizes) / sizeof(all_sizes[0])
				    : sizeof(mixed) / sizeof(mixed[0]);
	struct vu_port_stats st;

	vu_test_case("%s", c->name);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	o.features &= ~c->drop;
	o.mem_regions = c->regions ? c->regions : 1;
	o.mmap_offset = c->mmap_offset;
	o.contiguous_gpa = c->contiguous;
	o.ring_base = c->base;
	if (c->ring_size)
		o.ring_size = c->ring_size;
	o.rx_buf_size = c->rx_buf_size;
	if (c->rx_segs)
		o.rx_buf_segs = c->rx_segs;
	o.always_kick = c->always_kick;
	o.rx_interrupts = !c->poll_rx;
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	{
		uint8_t ma[6], mb[6];
		struct vu_traffic t = { 0 };

		vu_mac(ma, 1);
		vu_mac(mb, 2);
		t.src = ma;
		t.dst = mb;
		t.tag = 100;
		t.sizes = sizes;
		t.nsizes = n;
		t.count = c->count ? c->count : c->all_sizes ? n : 3 * n + 50;
		t.batch = c->count ? 64 : 0;
		t.layout = c->layout;
		t.segs = c->segs;
		vu_traffic_run(a, b, &t);
		CHECK(t.received == t.count, "A -> B: %u of %u intact", t.received, t.count);
		if (t.received != t.count && vu_ctl_port_stats(&d, "b", &st) == 0)
			vu_test_note("port b drops: %s", st.drop_reasons);
		t.src = mb;
		t.dst = ma;
		t.tag = 101;
		vu_traffic_run(b, a, &t);
		CHECK(t.received == t.count, "B -> A: %u of %u intact", t.received, t.count);
		if (t.received != t.count && vu_ctl_port_stats(&d, "a", &st) == 0)
			vu_test_note("port a drops: %s", st.drop_reasons);
	}
	pc_check_clean(a);
	pc_check_clean(b);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

int main(void)
{
	const uint64_t MRG = VU_BIT(VIRTIO_NET_F_MRG_RXBUF), EVT = VU_BIT(VIRTIO_RING_F_EVENT_IDX);
	const struct fcase cases[] = {
		{ .name = "every size 60..1514, mergeable, one descriptor", .all_sizes = true },
		{ .name = "every size 60..1514, non-mergeable 1526-byte buffers (exact fit)",
		  .all_sizes = true, .drop = MRG, .rx_buf_size = 1526 },
		{ .name = "header and frame in separate descriptors", .layout = VU_TX_HDR_SPLIT },
		{ .name = "frame scattered over 7 descriptors", .layout = VU_TX_SCATTER, .segs = 7 },
		{ .name = "indirect table of 5", .layout = VU_TX_INDIRECT, .segs = 5 },
		{ .name = "indirect table of 1", .layout = VU_TX_INDIRECT, .segs = 1 },
		{ .name = "non-mergeable RX chains of 4 descriptors", .drop = MRG, .rx_segs = 4,
		  .rx_buf_size = 1600 },
		{ .name = "no EVENT_IDX (flags-based suppression)", .drop = EVT },
		{ .name = "no EVENT_IDX, non-mergeable", .drop = EVT | MRG },
		{ .name = "4 regions 1 GiB apart, mmap_offset 4 MiB", .regions = 4,
		  .mmap_offset = 4 << 20 },
		{ .name = "6 contiguous regions", .regions = 6, .contiguous = true },
		{ .name = "ring index wrap (base 65530)", .base = 65530 },
		{ .name = "ring size 64, base 65535", .ring_size = 64, .base = 65535 },
		{ .name = "kick always, RX polled without interrupts", .always_kick = true,
		  .poll_rx = true },
		{ .name = "70000 frames each way: ring indexes wrap for real", .count = 70000 },
		{ .name = "jumbo up to 9014, mergeable 1536-byte buffers", .jumbo = true },
		{ .name = "jumbo up to 9014, mergeable 512-byte buffers", .jumbo = true,
		  .rx_buf_size = 512 },
		{ .name = "jumbo up to 9014, non-mergeable 9216-byte buffers", .jumbo = true,
		  .drop = MRG, .rx_buf_size = 9216 + 12 },
		{ .name = "jumbo, scattered TX over 3 descriptors", .jumbo = true,
		  .layout = VU_TX_SCATTER, .segs = 3 },
	};
	unsigned i;

	for (i = 0; i < sizeof(all_sizes) / sizeof(all_sizes[0]); i++)
		all_sizes[i] = 60 + i;
	vu_test_init("protocol-forward", 280);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	return vu_test_finish();
}
