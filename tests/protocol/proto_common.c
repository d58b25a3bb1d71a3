/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto_common.h"

void pc_start(struct vu_daemon *d, const char *const *ports)
{
	int r = vu_daemon_start(d, ports, NULL);

	REQUIRE(r == 0, "daemon start: %s", strerror(-r));
}

void pc_opts(struct vu_dev_opts *o, const char *name)
{
	vu_dev_opts_init(o);
	o->name = name;
}

struct vu_dev *pc_dev_try(struct vu_daemon *d, const char *port, const struct vu_dev_opts *o)
{
	struct vu_dev *dev = NULL;
	char path[256];
	int r;

	r = vu_dev_connect(vu_daemon_sock(d, port, path, sizeof(path)), o, PC_CONNECT_MS, &dev);
	if (!CHECK(r == 0, "%s: connect: %s", o->name, strerror(-r)))
		return NULL;
	r = vu_dev_start(dev);
	if (!CHECK(r == 0, "%s: start-up on port '%s': %s", o->name, port, strerror(-r))) {
		vu_dev_free(dev);
		return NULL;
	}
	return dev;
}

struct vu_dev *pc_dev(struct vu_daemon *d, const char *port, const struct vu_dev_opts *o)
{
	struct vu_dev *dev = pc_dev_try(d, port, o);

	REQUIRE(dev, "frontend %s on port '%s'", o->name, port);
	return dev;
}

void pc_wait_running(struct vu_daemon *d, const char *port)
{
	int r = vu_ctl_wait_state(d, port, "running", 3000);

	CHECK(r == 0, "port '%s' not running after start-up", port);
}

static void mac_of(uint8_t mac[6], uint16_t n)
{
	if (n == 0xffff)
		memcpy(mac, vu_mac_broadcast, 6);
	else
		vu_mac(mac, n);
}

unsigned pc_xfer(struct vu_dev *from, struct vu_dev *to, uint16_t src, uint16_t dst, uint32_t tag,
		 const size_t *sizes, unsigned nsizes, unsigned count)
{
	uint8_t ms[6], md[6];
	struct vu_traffic t = { 0 };
	unsigned bad;

	mac_of(ms, src);
	mac_of(md, dst);
	t.src = ms;
	t.dst = md;
	t.tag = tag;
	t.sizes = sizes;
	t.nsizes = nsizes;
	t.count = count;
	bad = vu_traffic_run(from, to, &t);
	CHECK(t.received == count, "%s -> %s: %u of %u frames arrived intact", vu_dev_name(from),
	      vu_dev_name(to), t.received, count);
	return bad;
}

void pc_check_clean(struct vu_dev *dev)
{
	struct vu_dev_stats s;

	vu_dev_get_stats(dev, &s);
	CHECK(!s.hdr_violations, "%s: %llu RX headers broke virtio 5.1.6.4", vu_dev_name(dev),
	      (unsigned long long)s.hdr_violations);
	CHECK(!s.nonmrg_num_buffers, "%s: %llu RX headers without MRG_RXBUF had num_buffers != 1",
	      vu_dev_name(dev), (unsigned long long)s.nonmrg_num_buffers);
	CHECK(!s.bad_used, "%s: %llu used entries named buffers we never posted", vu_dev_name(dev),
	      (unsigned long long)s.bad_used);
	CHECK(!s.missed_calls, "%s: %llu times used entries arrived without a call",
	      vu_dev_name(dev), (unsigned long long)s.missed_calls);
}

bool pc_send1(struct vu_dev *d, unsigned qp, uint16_t src, uint16_t dst, uint32_t tag,
	      uint32_t seq, size_t len)
{
	static uint8_t buf[VU_FRAME_MAX];
	uint8_t ms[6], md[6];
	int r;

	mac_of(ms, src);
	mac_of(md, dst);
	vu_frame_build(buf, len, md, ms, tag, seq, (uint16_t)seq);
	r = vu_dev_send(d, qp, buf, len, NULL, 2000);
	return CHECK(r == 0, "%s: send qp %u: %s", vu_dev_name(d), qp, strerror(-r));
}

long pc_recv_tag(struct vu_dev *d, uint32_t tag, int timeout_ms, struct vu_rx_info *info)
{
	static uint8_t buf[VU_FRAME_MAX];
	int64_t end = vu_now_ms() + timeout_ms;
	struct vu_stamp s;
	char why[128];

	for (;;) {
		int r;

		if (!vu_remaining_ms(end))
			return -1;
		r = vu_dev_recv(d, VU_ANY_QP, buf, sizeof(buf), vu_remaining_ms(end), info);
		if (r == -ETIMEDOUT)
			return -1;
		if (r < 0)
			continue;
		if (!vu_frame_stamp(buf, (size_t)r, &s) || s.tag != tag)
			continue;
		CHECK(vu_frame_verify(buf, (size_t)r, why, sizeof(why)), "%s: %s", vu_dev_name(d),
		      why);
		return s.seq;
	}
}

bool pc_wait_stats(struct vu_daemon *d, const char *port, uint64_t want_rx, uint64_t want_tx,
		   int ms, struct vu_port_stats *ret)
{
	int64_t end = vu_now_ms() + ms;

	for (;;) {
		int r = vu_ctl_port_stats(d, port, ret);

		if (r == 0 && ret->rx_packets == want_rx && ret->tx_packets == want_tx)
			return true;
		if (!vu_remaining_ms(end))
			return false;
		(void)poll(NULL, 0, 50);
	}
}

bool pc_frame_send(struct vu_dev *d, const uint8_t *buf, uint32_t len)
{
	return vu_dev_send(d, 0, buf, len, NULL, 2000) == 0;
}

int pc_frame_recv(struct vu_dev *d, uint8_t *buf, size_t cap, int timeout_ms)
{
	return vu_dev_recv(d, VU_ANY_QP, buf, cap, timeout_ms, NULL);
}

void pc_ctl(struct vu_daemon *d, const char *const *args, const char *what)
{
	char *out = NULL;
	int r = vu_ctl_run(d, false, &out, args);

	CHECK(r == 0, "%s: %s", what, out ? out : "");
	free(out);
}
