// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb_flows.h"
#include "proto_common.h"
#include "test_lb_frames.h"

#define CLIENT_IP 0x0a090001u

static const uint32_t srv_ip[LBF_NSRV] = { 0x0a09000bu, 0x0a09000cu, 0x0a09000du };
static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static uint8_t mac_c[6], mac_s[LBF_NSRV][6];
char lbf_backend[LBF_NSRV][96];

void lbf_init(void)
{
	char mac[18];

	vu_mac(mac_c, 0xc);
	for (unsigned j = 0; j < LBF_NSRV; j++) {
		vu_mac(mac_s[j], (uint16_t)(0x51 + j));
		snprintf(lbf_backend[j], sizeof(lbf_backend[j]), "mac=%s,ip=10.9.0.%u",
			 vu_mac_str(mac_s[j], mac), 11 + j);
	}
}

static uint32_t client_frame(uint8_t *buf, uint16_t sport, uint8_t flags)
{
	struct tf_spec s = { .saddr = CLIENT_IP, .daddr = LBF_VIP, .proto = 6, .sport = sport,
			     .dport = 80, .tcp_flags = flags, .payload = 10, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, mac_c, 6);
	return tf_build(buf, &s);
}

void lbf_send_flows(struct vu_dev *c, struct vu_dev *const *srv, uint16_t base, unsigned n,
		    uint8_t flags, uint8_t *which, unsigned *count, unsigned *bad)
{
	static uint8_t buf[2048];

	memset(which, 0, n);
	memset(count, 0, sizeof(*count) * LBF_NSRV);
	for (unsigned i = 0; i < n; i += 32) {
		unsigned batch = n - i < 32 ? n - i : 32, got = 0;

		for (unsigned k = 0; k < batch; k++) {
			uint32_t len = client_frame(buf, (uint16_t)(base + i + k), flags);

			pc_frame_send(c, buf, len);
		}
		/* Under load a frame can take a while: give up on a batch only after 500 ms of
		 * silence, or its late frames would be counted in the next one. */
		for (int idle = 0; got < batch && idle < 250;) {
			bool any = false;

			for (unsigned j = 0; j < LBF_NSRV; j++) {
				int r = pc_frame_recv(srv[j], buf, sizeof(buf), 0);
				unsigned port;

				if (r <= 0)
					continue;
				any = true;
				got++;
				if (memcmp(buf, mac_s[j], 6) != 0 || tf_get32(buf + 14 + 16) != srv_ip[j] ||
				    !tf_csums_ok(buf, (uint32_t)r, NULL))
					(*bad)++;
				count[j]++;
				port = (unsigned)(tf_get16(buf + 34) - base);
				if (port < n)
					which[port] = (uint8_t)(j + 1);
			}
			idle = any ? 0 : idle + 1;
			if (!any)
				usleep(2000);
		}
	}
}

void lbf_compare(const uint8_t *want, const uint8_t *now, unsigned n, unsigned *moved,
		 unsigned *lost)
{
	*moved = *lost = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!now[i])
			(*lost)++;
		else if (now[i] != want[i])
			(*moved)++;
	}
}

void lbf_check_flows_kept(struct vu_dev *c, struct vu_dev *const *srv, const uint8_t *first,
			  unsigned nflows, const uint8_t *fresh, unsigned nfresh, unsigned *bad)
{
	uint8_t *now = malloc(nflows + nfresh);
	unsigned count[LBF_NSRV], moved, lost;

	REQUIRE(now, "malloc");
	lbf_send_flows(c, srv, 20000, nflows, 0x10, now, count, bad);
	lbf_compare(first, now, nflows, &moved, &lost);
	vu_test_note("flows opened before s3 came: %u moved, %u lost (to s1, s2, s3: %u, %u, %u)",
		     moved, lost, count[0], count[1], count[2]);
	CHECK(moved == 0 && lost == 0 && count[2] == 0,
	      "flows opened over s1, s2 all still go there (%u moved, %u lost)", moved, lost);
	lbf_send_flows(c, srv, 40000, nfresh, 0x10, now + nflows, count, bad);
	lbf_compare(fresh, now + nflows, nfresh, &moved, &lost);
	CHECK(moved == 0 && lost == 0, "flows opened with s3 keep theirs too (%u moved, %u lost)",
	      moved, lost);
	free(now);
}

void lbf_check_replies(struct vu_dev *c, struct vu_dev *const *srv, uint16_t base,
		       const uint8_t *which, unsigned n)
{
	static uint8_t buf[2048];
	unsigned ok = 0, tried = 0;

	for (unsigned i = 0; i < n && tried < 60; i += 7) {
		unsigned j = which[i] - 1u;
		struct tf_spec s = { .daddr = CLIENT_IP, .proto = 6, .sport = 80,
				     .dport = (uint16_t)(base + i), .tcp_flags = 0x12, .payload = 20,
				     .seed = i };
		int r;

		tried++;
		if (j >= LBF_NSRV)
			continue;   /* the flow reached no server: a failed reply */
		s.saddr = srv_ip[j];
		memcpy(s.smac, mac_s[j], 6);
		memcpy(s.dmac, mac_c, 6);
		pc_frame_send(srv[j], buf, tf_build(buf, &s));
		r = pc_frame_recv(c, buf, sizeof(buf), 1000);
		if (r > 0 && tf_get32(buf + 14 + 12) == LBF_VIP && tf_get16(buf + 34) == 80 &&
		    memcmp(buf + 6, vmac, 6) == 0 && tf_csums_ok(buf, (uint32_t)r, NULL))
			ok++;
	}
	CHECK(ok == tried, "%u of %u replies arrive as from the VIP, checksums valid", ok, tried);
}
