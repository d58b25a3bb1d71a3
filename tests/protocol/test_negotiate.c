/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Negotiation: what the daemon offers, every SET acknowledged under REPLY_ACK, the start-up
 * variants real frontends use (no REPLY_ACK, no PROTOCOL_FEATURES, minimal features, several
 * memory regions, ADD_MEM_REG), ring enable semantics, port states, GET_VRING_BASE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto_common.h"

static const size_t small[] = { 60, 64, 100, 512, 1024, 1514 };

/* A fresh daemon with ports a and b, frontends with the given options, traffic both ways. */
static void variant(const char *name, void (*tweak)(struct vu_dev_opts *))
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;

	vu_test_case("start-up variant: %s", name);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	tweak(&o);
	a = pc_dev_try(&d, "a", &o);
	if (a && o.use_add_mem_reg && vu_dev_backend_mem_slots(a) < o.mem_regions)
		vu_test_note("only %llu memory slots: %u regions not tried",
			     (unsigned long long)vu_dev_backend_mem_slots(a), o.mem_regions);
	o.name = "B";
	b = pc_dev_try(&d, "b", &o);
	if (a && b) {
		pc_wait_running(&d, "a");
		pc_wait_running(&d, "b");
		pc_xfer(a, b, 1, 2, 10, small, 6, 60);
		pc_xfer(b, a, 2, 1, 11, small, 6, 60);
		pc_check_clean(a);
		pc_check_clean(b);
	}
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

static void t_no_reply_ack(struct vu_dev_opts *o)
{
	o->protocol_features &= ~VU_BIT(VU_PROTO_F_REPLY_ACK);
}

static void t_reply_ack_unused(struct vu_dev_opts *o)
{
	o->need_reply = false;
}

static void t_no_protocol_features(struct vu_dev_opts *o)
{
	/* Rings then start enabled (vhost-user "Ring states"); MQ needs protocol features. */
	o->features &= ~(VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES) | VU_BIT(VIRTIO_NET_F_MQ));
}

static void t_minimal(struct vu_dev_opts *o)
{
	o->features = VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

static void t_legacy_header(struct vu_dev_opts *o)
{
	/* Neither VERSION_1 nor MRG_RXBUF: 10-byte header (virtio 1.2 5.1.6 legacy note). */
	o->features = VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

static void t_eight_regions(struct vu_dev_opts *o)
{
	o->mem_regions = 8;
	o->mmap_offset = 1 << 20;
}

static void t_add_mem_reg(struct vu_dev_opts *o)
{
	o->mem_regions = 3;
	o->use_add_mem_reg = true;
}

static void t_add_mem_reg_many(struct vu_dev_opts *o)
{
	o->mem_regions = 12;
	o->contiguous_gpa = true;
	o->use_add_mem_reg = true;
}

static void t_no_status(struct vu_dev_opts *o)
{
	o->protocol_features &= ~VU_BIT(VU_PROTO_F_STATUS);
}

static void t_ring_sizes(struct vu_dev_opts *o)
{
	o->ring_size = 1024;
}

static void t_small_ring(struct vu_dev_opts *o)
{
	o->ring_size = 16;
}

static void t_max_ring(struct vu_dev_opts *o)
{
	o->ring_size = 32768;
	o->rx_buf_size = 1536;
	o->tx_buf_size = 2048;
}

static void offers(void)
{
	static const char *const ports[] = { "a", "q4,queues=4", NULL };
	const uint64_t want = VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			      VU_BIT(VIRTIO_RING_F_EVENT_IDX) | VU_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
			      VU_BIT(VIRTIO_NET_F_MQ) | VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	const uint64_t pwant = VU_BIT(VU_PROTO_F_MQ) | VU_BIT(VU_PROTO_F_REPLY_ACK) |
			       VU_BIT(VU_PROTO_F_CONFIGURE_MEM_SLOTS) | VU_BIT(VU_PROTO_F_STATUS);
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *q;
	char path[256];
	uint64_t st = 0;
	int r;

	vu_test_case("features, protocol features, queue num, mem slots offered");
	pc_start(&d, ports);
	pc_opts(&o, "A");
	r = vu_dev_connect(vu_daemon_sock(&d, "a", path, sizeof(path)), &o, PC_CONNECT_MS, &a);
	REQUIRE(r == 0, "connect");
	r = vu_dev_negotiate(a);
	CHECK(r == 0, "negotiation: %s", strerror(-r));
	vu_test_note("backend features 0x%" PRIx64 ", protocol features 0x%" PRIx64,
		     vu_dev_backend_features(a), vu_dev_backend_protocol_features(a));
	CHECK((vu_dev_backend_features(a) & want) == want, "features 0x%" PRIx64 " lack 0x%" PRIx64,
	      vu_dev_backend_features(a), want & ~vu_dev_backend_features(a));
	CHECK(!(vu_dev_backend_features(a) & VU_BIT(VIRTIO_F_RING_PACKED)),
	      "offers RING_PACKED, which the daemon does not implement (docs)");
	CHECK((vu_dev_backend_protocol_features(a) & pwant) == pwant,
	      "protocol features 0x%" PRIx64 " lack 0x%" PRIx64,
	      vu_dev_backend_protocol_features(a), pwant & ~vu_dev_backend_protocol_features(a));
	CHECK(vu_dev_backend_queue_num(a) == 8, "GET_QUEUE_NUM %" PRIu64 ", default is 8",
	      vu_dev_backend_queue_num(a));
	CHECK(vu_dev_backend_mem_slots(a) >= 8, "GET_MAX_MEM_SLOTS %" PRIu64 " < 8",
	      vu_dev_backend_mem_slots(a));
	CHECK(vu_ctl_wait_state(&d, "a", "negotiating", 2000) == 0,
	      "port 'a' not 'negotiating' after the handshake");
	r = vu_dev_setup(a);
	CHECK(r == 0, "setup: %s", strerror(-r));
	pc_wait_running(&d, "a");
	if (vu_dev_protocol_features(a) & VU_BIT(VU_PROTO_F_STATUS)) {
		r = vu_dev_get_u64(a, VU_GET_STATUS, &st);
		CHECK(r == 0 && st == (VU_STATUS_ACKNOWLEDGE | VU_STATUS_DRIVER |
				       VU_STATUS_FEATURES_OK | VU_STATUS_DRIVER_OK),
		      "GET_STATUS after SET_STATUS 0xf: r=%d status 0x%" PRIx64, r, st);
	}
	vu_dev_free(a);
	CHECK(vu_ctl_wait_state(&d, "a", "listening", 3000) == 0,
	      "port 'a' not back to 'listening' after the frontend left");

	vu_test_case("queues=4 port answers GET_QUEUE_NUM 4 and refuses nothing within it");
	pc_opts(&o, "Q");
	o.queue_pairs = 4;
	r = vu_dev_connect(vu_daemon_sock(&d, "q4", path, sizeof(path)), &o, PC_CONNECT_MS, &q);
	REQUIRE(r == 0, "connect");
	r = vu_dev_start(q);
	CHECK(r == 0, "4 queue pairs: %s", strerror(-r));
	CHECK(vu_dev_backend_queue_num(q) == 4, "GET_QUEUE_NUM %" PRIu64 " for queues=4",
	      vu_dev_backend_queue_num(q));
	vu_dev_free(q);
	vu_daemon_stop(&d);
}

/* Rings start disabled with PROTOCOL_FEATURES: no RX delivery before SET_VRING_ENABLE. */
static void enable_semantics(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	unsigned frames = 0, tagged = 0, i;
	long seq;

	vu_test_case("rings disabled until SET_VRING_ENABLE; re-enable resumes");
	pc_start(&d, ports);
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	pc_opts(&o, "B");
	o.enable_rings = false;
	b = pc_dev(&d, "b", &o);
	for (i = 0; i < 8; i++)
		pc_send1(a, 0, 1, 0xffff, 20, i, 100);
	vu_traffic_absorb(b, 300, 20, &frames, &tagged);
	CHECK(frames == 0, "B received %u frames on rings never enabled", frames);
	CHECK(vu_dev_enable_qp(b, 0, true) == 0, "SET_VRING_ENABLE 1");
	pc_send1(a, 0, 1, 0xffff, 21, 1, 100);
	seq = pc_recv_tag(b, 21, 2000, NULL);
	CHECK(seq == 1, "no frame after enabling B's rings");
	CHECK(vu_dev_enable_qp(b, 0, false) == 0, "SET_VRING_ENABLE 0");
	for (i = 0; i < 4; i++)
		pc_send1(a, 0, 1, 0xffff, 22, i, 100);
	vu_traffic_absorb(b, 300, 22, &frames, &tagged);
	CHECK(tagged == 0, "B received %u frames with its rings disabled", tagged);
	CHECK(vu_dev_enable_qp(b, 0, true) == 0, "SET_VRING_ENABLE 1 again");
	pc_send1(a, 0, 1, 0xffff, 23, 7, 100);
	seq = pc_recv_tag(b, 23, 2000, NULL);
	CHECK(seq == 7, "no frame after re-enabling B's rings");
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

/*
 * vhost-user "Ring states": a started but disabled ring must be processed without side
 * effects; for a network device, TX buffers are consumed and discarded, never forwarded.
 */
static void disabled_tx_discards(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	unsigned frames = 0, tagged = 0, i;
	int r;

	vu_test_case("a disabled TX ring is consumed and its frames discarded");
	pc_start(&d, ports);
	pc_opts(&o, "A");
	o.enable_rings = false;
	a = pc_dev(&d, "a", &o);
	pc_opts(&o, "B");
	b = pc_dev(&d, "b", &o);
	for (i = 0; i < 6; i++)
		pc_send1(a, 0, 1, 0xffff, 25, i, 100);
	vu_traffic_absorb(b, 300, 25, &frames, &tagged);
	CHECK(tagged == 0, "B received %u frames from A's disabled TX ring", tagged);
	r = vu_dev_tx_drain(a, 0, 1000);
	CHECK(r == 0, "A's 6 TX buffers on a started-but-disabled ring were never used "
	      "(spec: process and discard)");
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

/* GET_VRING_BASE stops the ring and returns where the backend will resume. */
static void vring_base(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	uint16_t ba[2], bb[2];
	int r;

	vu_test_case("GET_VRING_BASE after traffic (ring base 65000, wraps)");
	pc_start(&d, ports);
	pc_opts(&o, "A");
	o.ring_base = 65000;
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	pc_xfer(a, b, 1, 2, 30, small, 6, 700);
	r = vu_dev_tx_drain(a, 0, 2000);
	CHECK(r == 0, "A's TX buffers not all used");
	r = vu_dev_stop(a, ba);
	CHECK(r == 0, "GET_VRING_BASE on A: %s", strerror(-r));
	r = vu_dev_stop(b, bb);
	CHECK(r == 0, "GET_VRING_BASE on B: %s", strerror(-r));
	CHECK(ba[1] == (uint16_t)(65000 + 700), "A TX base %u, %u frames sent from 65000", ba[1],
	      700);
	/* Each frame <= 1514 bytes fits one 1536-byte mergeable buffer. */
	CHECK(bb[0] == (uint16_t)(65000 + 700), "B RX base %u, %u buffers used from 65000", bb[0],
	      700);
	pc_check_clean(a);
	pc_check_clean(b);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

int main(void)
{
	vu_test_init("protocol-negotiate", 240);
	offers();
	variant("REPLY_ACK negotiated, NEED_REPLY on every SET", t_ring_sizes);
	variant("REPLY_ACK negotiated but never asked for", t_reply_ack_unused);
	variant("no REPLY_ACK", t_no_reply_ack);
	variant("no PROTOCOL_FEATURES (rings start enabled)", t_no_protocol_features);
	variant("minimal: VERSION_1 only", t_minimal);
	variant("legacy 10-byte header (no VERSION_1, no MRG_RXBUF)", t_legacy_header);
	variant("8 regions via SET_MEM_TABLE, mmap_offset 1 MiB", t_eight_regions);
	variant("3 regions via ADD_MEM_REG", t_add_mem_reg);
	variant("12 contiguous regions via ADD_MEM_REG", t_add_mem_reg_many);
	variant("no STATUS", t_no_status);
	variant("ring size 16", t_small_ring);
	variant("ring size 32768", t_max_ring);
	enable_semantics();
	disabled_tx_discards();
	vring_base();
	return vu_test_finish();
}
