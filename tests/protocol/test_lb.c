/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service load balancer on the real datapath (issue 6), with three frontends: a client
 * and two servers. A VIP (10.9.0.100:80/tcp) served by both: ARP for the VIP is answered by
 * the switch; thousands of new flows are spread over both servers with their destination
 * rewritten (MAC, address) and checksums right; replies come back to the client as the VIP;
 * removing a backend moves only its flows; a drained backend gets no new flow; a full flow
 * table refuses new flows with a counter while existing ones go on.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lb/lb.h"
#include "proto_common.h"
#include "test_lb_frames.h"

#define VIP 0x0a090064u          /* 10.9.0.100 */
#define CLIENT_IP 0x0a090001u
#define S1_IP 0x0a09000bu
#define S2_IP 0x0a09000cu
#define NFLOWS 2000

static uint8_t mac_c[6], mac_s1[6], mac_s2[6];
static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static uint32_t syn(uint8_t *buf, uint16_t sport, uint8_t flags)
{
	struct tf_spec s = { .saddr = CLIENT_IP, .daddr = VIP, .proto = 6, .sport = sport, .dport = 80,
			     .tcp_flags = flags, .payload = 10, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, mac_c, 6);
	return tf_build(buf, &s);
}

/* Sends @n SYNs from source ports @base.. and sorts what arrives by server. */
static void open_flows(struct vu_dev *c, struct vu_dev *s1, struct vu_dev *s2, uint16_t base,
		       unsigned n, unsigned *to_s1, unsigned *to_s2, uint8_t *which, unsigned *bad)
{
	static uint8_t buf[2048];

	*to_s1 = *to_s2 = 0;
	for (unsigned i = 0; i < n; i += 32) {
		unsigned batch = n - i < 32 ? n - i : 32, got = 0;

		for (unsigned k = 0; k < batch; k++) {
			uint32_t len = syn(buf, (uint16_t)(base + i + k), 0x02);

			pc_frame_send(c, buf, len);
		}
		while (got < batch) {
			struct vu_dev *srv[2] = { s1, s2 };
			bool any = false;

			for (int j = 0; j < 2; j++) {
				int r = pc_frame_recv(srv[j], buf, sizeof(buf), 20);

				if (r <= 0)
					continue;
				any = true;
				got++;
				/* Destination rewritten to this server, checksums valid. */
				if (memcmp(buf, j ? mac_s2 : mac_s1, 6) != 0 ||
				    tf_get32(buf + 14 + 16) != (j ? S2_IP : S1_IP) || !tf_csums_ok(buf, (uint32_t)r, NULL))
					(*bad)++;
				if (j)
					(*to_s2)++;
				else
					(*to_s1)++;
				if (which && (unsigned)(tf_get16(buf + 34) - base) < n)
					which[tf_get16(buf + 34) - base] = (uint8_t)(j + 1);
			}
			if (!any)
				break;
		}
	}
}

int main(void)
{
	static const char *const ports[] = { "c", "s1", "s2", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", NULL };
	static const char *const add_vip[] = { "vip", "add", "10.9.0.100:80/tcp", NULL };
	char be1[96], be2[96];
	const char *add_be1[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be1, NULL };
	const char *add_be2[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be2, NULL };
	const char *del_be2[] = { "vip", "backend", "del", "10.9.0.100:80/tcp", be2, NULL };
	const char *drain_be1[] = { "vip", "weight", "10.9.0.100:80/tcp", be1, "0", NULL };
	static uint8_t buf[2048];
	static uint8_t first[NFLOWS];
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *c, *s1, *s2;
	unsigned n1, n2, bad = 0, moved_s1 = 0;
	char mac1[18], mac2[18];
	int r;

	vu_test_init("lb", 120);
	vu_mac(mac_c, 0xc);
	vu_mac(mac_s1, 0x51);
	vu_mac(mac_s2, 0x52);
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon: %s", strerror(-r));
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	o.name = "S1";
	s1 = pc_dev(&d, "s1", &o);
	o.name = "S2";
	s2 = pc_dev(&d, "s2", &o);
	snprintf(be1, sizeof(be1), "mac=%s,ip=10.9.0.11", vu_mac_str(mac_s1, mac1));
	snprintf(be2, sizeof(be2), "mac=%s,ip=10.9.0.12", vu_mac_str(mac_s2, mac2));
	pc_ctl(&d, add_vip, "vip add");
	pc_ctl(&d, add_be1, "backend s1");
	pc_ctl(&d, add_be2, "backend s2");
	/* Servers announce themselves so the switch knows where their MACs are. */
	pc_send1(s1, 0, 0x51, 0xffff, 1, 0, 60);
	pc_send1(s2, 0, 0x52, 0xffff, 1, 0, 60);
	usleep(100000);
	/* Each announce was flooded to the other two: clear them away. */
	vu_traffic_absorb(c, 100, 0, &n1, &n2);
	vu_traffic_absorb(s1, 50, 0, &n1, &n2);
	vu_traffic_absorb(s2, 50, 0, &n1, &n2);

	vu_test_case("the switch answers ARP for the VIP with the virtual MAC");
	{
		uint32_t len = tf_arp_request(buf, mac_c, 0, CLIENT_IP, VIP, 1);
		int n;

		pc_frame_send(c, buf, len);
		n = pc_frame_recv(c, buf, sizeof(buf), 2000);
		CHECK(n >= 42 && tf_get16(buf + 12) == 0x0806 && tf_get16(buf + 20) == 2 &&
		      memcmp(buf + 22, vmac, 6) == 0 && tf_get32(buf + 28) == VIP,
		      "ARP reply: VIP is at 02:00:00:00:00:01 (got %d bytes)", n);
	}

	vu_test_case("new flows spread over both backends, rewritten, checksums valid");
	open_flows(c, s1, s2, 20000, NFLOWS, &n1, &n2, first, &bad);
	vu_test_note("Maglev: %u flows to s1, %u to s2", n1, n2);
	CHECK(n1 + n2 == NFLOWS, "every SYN reached a backend (%u of %d)", n1 + n2, NFLOWS);
	CHECK(n1 > NFLOWS * 4 / 10 && n2 > NFLOWS * 4 / 10, "both serve within 40..60%%");
	CHECK(bad == 0, "destination MAC/IP rewritten, checksums valid (%u bad)", bad);

	vu_test_case("replies reach the client from the VIP");
	{
		struct tf_spec s = { .saddr = S1_IP, .daddr = CLIENT_IP, .proto = 6, .sport = 80, .tcp_flags = 0x12,
				     .payload = 20, .seed = 7 };
		unsigned ok = 0;

		memcpy(s.smac, mac_s1, 6);
		memcpy(s.dmac, mac_c, 6);
		for (unsigned i = 0; i < NFLOWS && ok < 50; i++) {
			uint32_t len;
			int n;

			if (first[i] != 1)
				continue;
			s.dport = (uint16_t)(20000 + i);
			len = tf_build(buf, &s);
			pc_frame_send(s1, buf, len);
			n = pc_frame_recv(c, buf, sizeof(buf), 1000);
			if (n > 0 && tf_get32(buf + 14 + 12) == VIP && tf_get16(buf + 34) == 80 &&
			    tf_csums_ok(buf, (uint32_t)n, NULL))
				ok++;
		}
		CHECK(ok == 50, "50 SYN-ACKs from s1 arrive as from the VIP, checksums valid (%u)", ok);
	}

	vu_test_case("established flows keep their backend; removing s2 moves only s2's flows");
	pc_ctl(&d, del_be2, "backend del s2");
	{
		unsigned again1 = 0, lost = 0;

		for (unsigned i = 0; i < NFLOWS; i += 1) {
			uint32_t len = syn(buf, (uint16_t)(20000 + i), 0x10);   /* ACK: same flow */
			int n;

			pc_frame_send(c, buf, len);
			n = pc_frame_recv(s1, buf, sizeof(buf), first[i] == 1 ? 1000 : 20);
			if (first[i] == 1)
				again1 += n > 0;
			else
				moved_s1 += n > 0;
			if (n <= 0 && first[i] == 1)
				lost++;
		}
		vu_traffic_absorb(s2, 100, 0, &n2, NULL);
		CHECK(again1 == n1 && lost == 0, "s1's %u flows all still go to s1 (%u)", n1, again1);
		CHECK(n2 == 0, "nothing more reaches the removed s2 (%u)", n2);
		vu_test_note("%u of s2's flows were picked up by s1 mid-stream", moved_s1);
	}

	vu_test_case("a drained backend (weight 0) gets no new flow; with no backend, new flows are refused");
	pc_ctl(&d, drain_be1, "weight 0");
	open_flows(c, s1, s2, 40000, 200, &n1, &n2, NULL, &bad);
	CHECK(n1 == 0 && n2 == 0, "no new flow anywhere (%u, %u)", n1, n2);
	{
		static const char *const show[] = { "vip", "show", NULL };
		char *out = NULL;

		vu_ctl_run(&d, true, &out, show);
		CHECK(out && strstr(out, "no_backend"), "vip show counts the refusals");
		free(out);
	}
	vu_dev_free(c);
	vu_dev_free(s1);
	vu_dev_free(s2);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
