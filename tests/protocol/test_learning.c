/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The L2 switch: broadcast, multicast and unknown unicast are flooded to every other port and
 * never back to the sender; once a MAC was seen on a port, unicast to it goes to that port
 * only; a MAC that moves is relearned; frames for a MAC on the sender's own port go nowhere.
 *
 * "Never arrived" is checked with a barrier: after the frames under test the same sender
 * floods a barrier frame. One sender's frames stay in order through one worker, so anything
 * that would have arrived before the barrier is seen. The sender itself (which never gets the
 * barrier) is watched for a fixed quiet period instead.
 */
#include <stdio.h>

#include "proto_common.h"

#define MAC_A 1
#define MAC_B 2
#define MAC_C 3
#define MAC_UNKNOWN 0x99
#define QUIET_MS 300

static struct vu_daemon d;
static struct vu_dev *A, *B, *C;
static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };

struct seen {
	unsigned tagged;	/* frames of the tag under test */
	bool barrier;		/* the barrier arrived */
};

/* Receive on @dev until the barrier @btag arrives, counting frames of @tag before it. */
static struct seen until_barrier(struct vu_dev *dev, uint32_t tag, uint32_t btag)
{
	static uint8_t buf[VU_FRAME_MAX];
	int64_t end = vu_now_ms() + 3000;
	struct seen s = { 0 };
	struct vu_stamp st;
	char why[128];

	while (vu_remaining_ms(end)) {
		int r = vu_dev_recv(dev, VU_ANY_QP, buf, sizeof(buf), vu_remaining_ms(end), NULL);

		if (r == -ETIMEDOUT)
			break;
		if (r < 0 || !vu_frame_stamp(buf, (size_t)r, &st))
			continue;
		CHECK(vu_frame_verify(buf, (size_t)r, why, sizeof(why)), "%s: %s", vu_dev_name(dev),
		      why);
		if (st.tag == tag)
			s.tagged++;
		if (st.tag == btag) {
			s.barrier = true;
			break;
		}
	}
	return s;
}

static void send_raw_dst(struct vu_dev *dev, const uint8_t dst[6], uint16_t src, uint32_t tag,
			 uint32_t seq)
{
	static uint8_t buf[VU_FRAME_MAX];
	uint8_t ms[6];
	int r;

	vu_mac(ms, src);
	vu_frame_build(buf, 128, dst, ms, tag, seq, 0);
	r = vu_dev_send(dev, 0, buf, 128, NULL, 2000);
	CHECK(r == 0, "%s: send: %s", vu_dev_name(dev), strerror(-r));
}

/* @n frames from @from (src MAC @src) to @dst, then a flooded barrier. */
static void send_then_barrier(struct vu_dev *from, uint16_t src, uint16_t dst, uint32_t tag,
			      unsigned n, uint32_t btag)
{
	unsigned i;

	for (i = 0; i < n; i++)
		pc_send1(from, 0, src, dst, tag, i, 100 + i);
	pc_send1(from, 0, src, 0xffff, btag, 0, 64);
}

static void expect(struct vu_dev *dev, uint32_t tag, uint32_t btag, unsigned want,
		   const char *what)
{
	struct seen s = until_barrier(dev, tag, btag);

	CHECK(s.barrier, "%s: barrier frame never arrived (%s)", vu_dev_name(dev), what);
	CHECK(s.tagged == want, "%s got %u frames, expected %u (%s)", vu_dev_name(dev), s.tagged,
	      want, what);
}

static void expect_quiet(struct vu_dev *dev, uint32_t tag, const char *what)
{
	unsigned frames = 0, tagged = 0;

	vu_traffic_absorb(dev, QUIET_MS, tag, &frames, &tagged);
	CHECK(frames == 0, "%s received %u frames (%u of the test's) - %s", vu_dev_name(dev),
	      frames, tagged, what);
}

static void fdb_is(const char *mac, const char *port)
{
	char got[64] = "";
	int r = vu_ctl_fdb_lookup(&d, mac, got, sizeof(got));

	CHECK(r == 0 && !strcmp(got, port), "fdb: %s on '%s' (r=%d), expected '%s'", mac, got, r,
	      port);
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_dev_opts o;

	vu_test_init("protocol-learning", 120);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	A = pc_dev(&d, "a", &o);
	o.name = "B";
	B = pc_dev(&d, "b", &o);
	o.name = "C";
	C = pc_dev(&d, "c", &o);

	vu_test_case("broadcast floods to every other port, not back");
	send_then_barrier(A, MAC_A, 0xffff, 200, 5, 290);
	expect(B, 200, 290, 5, "broadcast from A");
	expect(C, 200, 290, 5, "broadcast from A");
	expect_quiet(A, 200, "its own broadcast came back");
	fdb_is("02:00:00:00:00:01", "a");

	vu_test_case("multicast floods to every other port, not back");
	send_raw_dst(A, mcast, MAC_A, 201, 0);
	send_raw_dst(A, mcast, MAC_A, 201, 1);
	pc_send1(A, 0, MAC_A, 0xffff, 291, 0, 64);
	expect(B, 201, 291, 2, "multicast from A");
	expect(C, 201, 291, 2, "multicast from A");
	expect_quiet(A, 201, "its own multicast came back");

	vu_test_case("unknown unicast floods to every other port, not back");
	send_then_barrier(A, MAC_A, MAC_UNKNOWN, 202, 4, 292);
	expect(B, 202, 292, 4, "unknown unicast from A");
	expect(C, 202, 292, 4, "unknown unicast from A");
	expect_quiet(A, 202, "its own unknown unicast came back");

	vu_test_case("after B spoke, unicast A->B reaches B only");
	send_then_barrier(B, MAC_B, 0xffff, 203, 1, 293);
	expect(A, 203, 293, 1, "B's broadcast");
	expect(C, 203, 293, 1, "B's broadcast");
	fdb_is("02:00:00:00:00:02", "b");
	send_then_barrier(A, MAC_A, MAC_B, 204, 20, 294);
	expect(B, 204, 294, 20, "unicast to B's MAC");
	expect(C, 204, 294, 0, "unicast to B's MAC was flooded to C");
	expect_quiet(A, 204, "unicast to B's MAC came back to A");

	vu_test_case("unicast B->A (learned from A's broadcast) reaches A only");
	send_then_barrier(B, MAC_B, MAC_A, 205, 10, 295);
	expect(A, 205, 295, 10, "unicast to A's MAC");
	expect(C, 205, 295, 0, "unicast to A's MAC was flooded to C");
	expect_quiet(B, 205, "B's unicast came back");

	vu_test_case("frames for a MAC on the sender's own port go nowhere");
	send_then_barrier(A, MAC_A, MAC_A, 206, 3, 296);
	expect(B, 206, 296, 0, "A to its own MAC");
	expect(C, 206, 296, 0, "A to its own MAC");
	expect_quiet(A, 206, "A to its own MAC came back");

	vu_test_case("a MAC that moves to another port is relearned");
	send_then_barrier(C, MAC_B, 0xffff, 207, 1, 297); /* B's MAC now speaks on port c */
	expect(A, 207, 297, 1, "broadcast from B's MAC on port c");
	expect(B, 207, 297, 1, "broadcast from B's MAC on port c");
	fdb_is("02:00:00:00:00:02", "c");
	send_then_barrier(A, MAC_A, MAC_B, 208, 6, 298);
	expect(C, 208, 298, 6, "unicast to the moved MAC");
	expect(B, 208, 298, 0, "unicast to the moved MAC still went to its old port");

	vu_test_case("learned MACs show in stats");
	{
		struct vu_port_stats st;

		if (CHECK(vu_ctl_port_stats(&d, "a", &st) == 0, "stats a"))
			CHECK(st.macs >= 1, "port a: %llu MACs", (unsigned long long)st.macs);
		if (CHECK(vu_ctl_port_stats(&d, "c", &st) == 0, "stats c"))
			CHECK(st.macs >= 1, "port c: %llu MACs", (unsigned long long)st.macs);
	}
	pc_check_clean(A);
	pc_check_clean(B);
	pc_check_clean(C);
	vu_dev_free(A);
	vu_dev_free(B);
	vu_dev_free(C);
	return vu_test_finish();
}
