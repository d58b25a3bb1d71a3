// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checksum and TCP segmentation offloads through the real daemon: A negotiates CSUM and
 * HOST_TSO4/6 and sends GSO and NEEDS_CSUM frames to an unknown MAC, so each is flooded to
 * B (no offload features: must get MSS-sized segments / finished checksums, each verified
 * from scratch, the payload reassembled) and to C (GUEST_CSUM, GUEST_TSO4/6: must get the
 * frame whole, its header passed on). Then hostile headers, each dropped and counted as
 * "offload" while the port keeps running, and the counters of what was done.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proto_common.h"
#include "test_lb_frames.h"

#define OFF_FEATURES (VU_BIT(VIRTIO_NET_F_CSUM) | VU_BIT(VIRTIO_NET_F_HOST_TSO4) | \
		      VU_BIT(VIRTIO_NET_F_HOST_TSO6))
#define GUEST_FEATURES (VU_BIT(VIRTIO_NET_F_GUEST_CSUM) | VU_BIT(VIRTIO_NET_F_GUEST_TSO4) | \
			VU_BIT(VIRTIO_NET_F_GUEST_TSO6))
#define MSS 1448u

static uint8_t frame[70000], buf[70000], re[70000];
static uint32_t rnd = 77;

static uint32_t pseudo(const uint8_t *ip, bool v6, uint8_t proto, uint32_t len)
{
	return (v6 ? tf_sum(ip + 8, 32, 0) : tf_sum(ip + 12, 8, 0)) + proto + (len >> 16) +
	       (len & 0xffff);
}

static bool l4_ok(const uint8_t *f, uint32_t len, bool v6, uint8_t proto)
{
	const uint32_t l4 = v6 ? 54 : 34;

	return tf_fold(tf_sum(f + l4, len - l4, pseudo(f + 14, v6, proto, len - l4))) == 0xffff;
}

/*
 * A TCP (or UDP) frame from MAC 02::1 to 02::99 as a sender with offloads hands it over: the
 * L4 checksum field holds the pseudo-header sum. Return: its length.
 */
static uint32_t build(bool v6, uint8_t proto, uint32_t payload)
{
	const uint32_t l3 = 14, l4 = v6 ? 54 : 34, l4len = (proto == 6 ? 20 : 8) + payload;
	const uint32_t len = l4 + l4len;
	uint8_t *ip = frame + l3, *t = frame + l4;

	memset(frame, 0, l4 + 20);
	memcpy(frame, "\x02\0\0\0\0\x99\x02\0\0\0\0\x01", 12);
	tf_put16(frame + 12, v6 ? 0x86dd : 0x0800);
	if (!v6) {
		ip[0] = 0x45;
		tf_put16(ip + 2, len - l3);
		tf_put16(ip + 4, 0x1234);
		tf_put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, "\x0a\0\0\x01\x0a\0\0\x02", 8);
		tf_put16(ip + 10, (uint16_t)~tf_fold(tf_sum(ip, 20, 0)));
	} else {
		ip[0] = 0x60;
		tf_put16(ip + 4, len - l3 - 40);
		ip[6] = proto;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[23] = 1;
		ip[24] = 0xfd;
		ip[39] = 2;
	}
	tf_put16(t, 40000);
	tf_put16(t + 2, 5201);
	if (proto == 6) {
		tf_put16(t + 4, 0xfffe);   /* the sequence number wraps inside the frame */
		tf_put16(t + 6, 0x1000);
		t[12] = 0x50;
		t[13] = 0x18;   /* PSH ACK */
		tf_put16(t + 14, 65535);
	} else {
		tf_put16(t + 4, l4len);
	}
	for (uint32_t i = len - payload; i < len; i++)
		frame[i] = (uint8_t)tf_rand(&rnd);
	tf_put16(t + (proto == 6 ? 16 : 6), tf_fold(pseudo(ip, v6, proto, l4len)));
	return len;
}

static int send_hdr(struct vu_dev *d, const void *f, uint32_t len, uint8_t flags, uint8_t gso,
		    uint16_t hdr_len, uint16_t gso_size, uint16_t cs, uint16_t co)
{
	struct vu_net_hdr h = { .flags = flags, .gso_type = gso, .hdr_len = hdr_len,
				.gso_size = gso_size, .csum_start = cs, .csum_offset = co };
	struct vu_tx_opts o = { .layout = VU_TX_SCATTER, .segs = 3, .hdr = &h };

	return vu_dev_send(d, 0, f, len, &o, 3000);
}

/* B, no offloads: segments with valid sums that reassemble to the original payload. */
static void check_segments(struct vu_dev *b, uint32_t len, bool v6)
{
	const uint32_t hl = v6 ? 74 : 54, want = (len - hl + MSS - 1) / MSS;
	uint32_t got = 0, n = 0, bad_sum = 0, bad_seq = 0, bad_hdr = 0, bad_len = 0;
	const uint32_t seq0 = tf_get32(frame + hl - 20 + 4);
	struct vu_rx_info info;

	while (n < want) {
		int r = vu_dev_recv(b, VU_ANY_QP, buf, sizeof(buf), 3000, &info);

		if (!CHECK(r > 0, "B: segment %u of %u: %d", n + 1, want, r))
			return;
		n++;
		if (info.hdr.flags || info.hdr.gso_type)
			bad_hdr++;
		if ((uint32_t)r > hl + MSS || (uint32_t)r < hl ||
		    (n < want && (uint32_t)r != hl + MSS))
			bad_len++;
		if (!l4_ok(buf, (uint32_t)r, v6, 6) ||
		    (!v6 && tf_fold(tf_sum(buf + 14, 20, 0)) != 0xffff))
			bad_sum++;
		if (tf_get32(buf + hl - 20 + 4) != seq0 + got || (((buf[hl - 7] & 0x08) != 0) != (n == want)))
			bad_seq++;
		memcpy(re + got, buf + hl, (uint32_t)r - hl);
		got += (uint32_t)r - hl;
	}
	CHECK(bad_hdr == 0 && bad_len == 0, "B: %u segments of MSS %u, plain headers", n, MSS);
	CHECK(bad_sum == 0, "B: every IP and TCP checksum right from scratch (%u bad)", bad_sum);
	CHECK(bad_seq == 0, "B: sequence numbers follow the bytes, PSH on the last only (%u bad)",
	      bad_seq);
	CHECK(got == len - hl && memcmp(re, frame + hl, got) == 0,
	      "B: the payload reassembles to the %u bytes sent", len - hl);
	CHECK(vu_dev_recv(b, VU_ANY_QP, buf, sizeof(buf), 100, NULL) == -ETIMEDOUT,
	      "B: nothing more");
}

/* C, GUEST_CSUM + GUEST_TSO: the frame whole, byte for byte, its request passed on. */
static void check_whole(struct vu_dev *c, uint32_t len, uint8_t gso, uint16_t cs, uint16_t co)
{
	struct vu_rx_info info;
	int r = vu_dev_recv(c, VU_ANY_QP, buf, sizeof(buf), 3000, &info);

	CHECK(r == (int)len && memcmp(buf, frame, len) == 0, "C: the %u-byte frame whole: %d",
	      len, r);
	CHECK(info.hdr.flags == 1 && info.hdr.gso_type == gso && info.hdr.csum_start == cs &&
	      info.hdr.csum_offset == co && (!gso || info.hdr.gso_size == MSS),
	      "C: header passed on: flags %u gso_type %u gso_size %u csum %u+%u", info.hdr.flags,
	      info.hdr.gso_type, info.hdr.gso_size, info.hdr.csum_start, info.hdr.csum_offset);
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b, *c;
	struct vu_port_stats st;
	uint32_t len;
	struct vu_dev_stats ds;

	vu_test_init("protocol-offload", 120);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	o.features |= OFF_FEATURES;
	o.require_features = true;
	o.tx_buf_size = 66000 + 64;
	o.ring_size = 64;
	a = pc_dev(&d, "a", &o);
	pc_opts(&o, "B");
	b = pc_dev(&d, "b", &o);
	pc_opts(&o, "C");
	o.features |= GUEST_FEATURES;
	o.require_features = true;
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	pc_wait_running(&d, "c");

	vu_test_case("negotiation: offloads offered, taken as asked");
	CHECK((vu_dev_backend_features(a) & (OFF_FEATURES | GUEST_FEATURES)) ==
	      (OFF_FEATURES | GUEST_FEATURES), "backend offers CSUM, GUEST_CSUM, HOST/GUEST_TSO4/6");
	CHECK((vu_dev_features(a) & OFF_FEATURES) == OFF_FEATURES, "A took CSUM, HOST_TSO4/6");
	CHECK((vu_dev_features(c) & GUEST_FEATURES) == GUEST_FEATURES, "C took GUEST_*");

	vu_test_case("TCPv4 GSO (30000 bytes): B gets segments, C the frame");
	len = build(false, 6, 30000);
	CHECK(send_hdr(a, frame, len, 1, 1, 54, MSS, 34, 16) == 0, "A sends it");
	check_segments(b, len, false);
	check_whole(c, len, 1, 34, 16);

	vu_test_case("TCPv6 GSO (64000 bytes): B gets segments, C the frame");
	len = build(true, 6, 64000);
	CHECK(send_hdr(a, frame, len, 1, 4, 74, MSS, 54, 16) == 0, "A sends it");
	check_segments(b, len, true);
	check_whole(c, len, 4, 54, 16);

	vu_test_case("NEEDS_CSUM UDP: B gets the checksum done, C the request");
	len = build(false, 17, 1000);
	CHECK(send_hdr(a, frame, len, 1, 0, 0, 0, 34, 6) == 0, "A sends it");
	{
		struct vu_rx_info info;
		int r = vu_dev_recv(b, VU_ANY_QP, buf, sizeof(buf), 3000, &info);

		CHECK(r == (int)len && info.hdr.flags == 0 && l4_ok(buf, len, false, 17) &&
		      memcmp(buf, frame, 40) == 0 && memcmp(buf + 42, frame + 42, len - 42) == 0,
		      "B: %d bytes, UDP checksum 0x%04x right from scratch, the rest unchanged", r,
		      tf_get16(buf + 40));
	}
	check_whole(c, len, 0, 34, 6);

	vu_test_case("hostile headers: dropped as 'offload', the port carries on");
	len = build(false, 6, 3000);
	send_hdr(a, frame, len, 2, 0, 0, 0, 0, 0);                /* DATA_VALID from a driver */
	send_hdr(a, frame, len, 1, 0, 0, 0, 34, 3100);            /* checksum past the end */
	send_hdr(a, frame, len, 1, 0, 0, 0, 0xfff0, 0xff);        /* start past the end */
	send_hdr(a, frame, len, 1, 3, 54, MSS, 34, 16);           /* UFO: not offered */
	send_hdr(a, frame, len, 1, 0x81, 54, MSS, 34, 16);        /* ECN: not offered */
	send_hdr(a, frame, len, 1, 1, 54, 0, 34, 16);             /* gso_size 0 */
	send_hdr(a, frame, len, 0, 1, 54, MSS, 0, 0);             /* GSO without NEEDS_CSUM */
	send_hdr(a, frame, len, 1, 1, 54, MSS, 38, 16);           /* not the TCP checksum */
	send_hdr(a, frame, len, 1, 4, 54, MSS, 34, 16);           /* TCPv6 GSO on IPv4 */
	send_hdr(a, frame, len - 100, 1, 1, 54, MSS, 34, 16);     /* IP length lies */
	send_hdr(b, frame, len, 1, 0, 0, 0, 34, 16);              /* B never took CSUM */
	send_hdr(a, frame, 1000, 0, 0, 0, 0, 0, 0);               /* then a plain frame */
	{
		int r = vu_dev_recv(c, VU_ANY_QP, buf, sizeof(buf), 3000, NULL);

		CHECK(r == 1000 && memcmp(buf, frame, 1000) == 0,
		      "C gets only the plain frame after them: %d", r);
		CHECK(vu_dev_recv(c, VU_ANY_QP, buf, sizeof(buf), 100, NULL) == -ETIMEDOUT,
		      "C: nothing else");
	}
	CHECK(vu_ctl_port_stats(&d, "a", &st) == 0 && strstr(st.drop_reasons, "offload=10"),
	      "A: 10 drops counted as offload: %s", st.drop_reasons);
	CHECK(strcmp(st.state, "running") == 0, "A still running: %s", st.state);
	CHECK(st.rx_gso == 2, "A: 2 GSO frames taken in: %llu", (unsigned long long)st.rx_gso);
	CHECK(vu_ctl_port_stats(&d, "b", &st) == 0 && strstr(st.drop_reasons, "offload=1"),
	      "B: its NEEDS_CSUM frame dropped as offload: %s", st.drop_reasons);
	CHECK(st.tx_gso_sw == 2 && st.tx_csum_sw == 1 && st.tx_gso == 0,
	      "B: 2 frames segmented, 1 checksum done in software: %llu %llu",
	      (unsigned long long)st.tx_gso_sw, (unsigned long long)st.tx_csum_sw);
	CHECK(vu_ctl_port_stats(&d, "c", &st) == 0 && st.tx_gso == 2 && st.tx_gso_sw == 0 &&
	      st.tx_csum_sw == 0, "C: 2 GSO frames passed on whole: %llu",
	      (unsigned long long)st.tx_gso);
	{
		char *m = vu_daemon_metrics(&d);

		CHECK(m && strstr(m, "\nvulb_port_rx_gso_total{port=\"a\"} 2\n") &&
		      strstr(m, "\nvulb_port_tx_sw_segmented_total{port=\"b\"} 2\n") &&
		      strstr(m, "\nvulb_port_tx_sw_checksummed_total{port=\"b\"} 1\n") &&
		      strstr(m, "\nvulb_port_tx_gso_total{port=\"c\"} 2\n"),
		      "the same offload counters in the metrics");
		free(m);
	}
	vu_dev_get_stats(b, &ds);
	CHECK(ds.hdr_violations == 0, "B saw no header violations");
	vu_dev_get_stats(c, &ds);
	CHECK(ds.hdr_violations == 0, "C saw no header violations");
	pc_check_clean(a);
	pc_check_clean(b);
	pc_check_clean(c);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_dev_free(c);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
