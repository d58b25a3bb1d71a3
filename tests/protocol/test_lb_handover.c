/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Load-balanced flows across a hand-over upgrade (issue 8). A client opens flows to a Maglev
 * VIP (10.9.0.100:80/tcp) served by s1 and s2; then a third backend, s3, is added, so Maglev
 * now sends about a third of all tuples to s3 (fresh flows show it), while the flow table
 * keeps the established ones where they were. A new process then takes over (--takeover) with
 * the frontends connected: every flow opened before must still reach the backend it had, in
 * both directions (the client's frames rewritten to it, its replies rewritten to the VIP),
 * `vip show` must count the flows taken over and still show s3 following its VM, and new flows
 * must use all three backends.
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
#define NSRV 3
#define NFLOWS 600
#define NFRESH 300

static const uint32_t srv_ip[NSRV] = { 0x0a09000bu, 0x0a09000cu, 0x0a09000du };
static uint8_t mac_c[6], mac_s[NSRV][6];
static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

static uint32_t client_frame(uint8_t *buf, uint16_t sport, uint8_t flags)
{
	struct tf_spec s = { .saddr = CLIENT_IP, .daddr = VIP, .proto = 6, .sport = sport, .dport = 80,
			     .tcp_flags = flags, .payload = 10, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, mac_c, 6);
	return tf_build(buf, &s);
}

/*
 * Sends client frames (TCP @flags) from source ports @base..@base+@n-1 and records which
 * server each one reached (1..NSRV, 0: none) in @which; counts per server in @count, frames
 * with a wrong rewrite or checksum in @bad.
 */
static void send_flows(struct vu_dev *c, struct vu_dev *const *srv, uint16_t base, unsigned n,
		       uint8_t flags, uint8_t *which, unsigned *count, unsigned *bad)
{
	static uint8_t buf[2048];

	memset(which, 0, n);
	memset(count, 0, sizeof(*count) * NSRV);
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

			for (unsigned j = 0; j < NSRV; j++) {
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

/* The "vm" `vip show` gives the backend at @addr (a dotted quad), or "" (none), "?" (no such). */
static void backend_vm(struct vu_daemon *d, const char *addr, char *buf, size_t len)
{
	static const char *const show[] = { "vip", "show", NULL };
	struct json_object *j = NULL, *lb, *vips;

	snprintf(buf, len, "?");
	if (vu_ctl_json(d, &j, show) != 0 || !json_object_object_get_ex(j, "lb", &lb) ||
	    !json_object_object_get_ex(lb, "vips", &vips)) {
		json_object_put(j);
		return;
	}
	for (size_t v = 0; v < json_object_array_length(vips); v++) {
		struct json_object *bes, *a, *vm;

		if (!json_object_object_get_ex(json_object_array_get_idx(vips, v), "backends", &bes))
			continue;
		for (size_t b = 0; b < json_object_array_length(bes); b++) {
			struct json_object *bo = json_object_array_get_idx(bes, b);

			if (json_object_object_get_ex(bo, "address", &a) &&
			    strcmp(json_object_get_string(a), addr) == 0)
				snprintf(buf, len, "%s", json_object_object_get_ex(bo, "vm", &vm) ?
					 json_object_get_string(vm) : "");
		}
	}
	json_object_put(j);
}

/* Flows of @want that went elsewhere (@moved) or nowhere (@lost) this time (@now). */
static void compare(const uint8_t *want, const uint8_t *now, unsigned n, unsigned *moved,
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

int main(void)
{
	static const char *const ports[] = { "c", "s1", "s2", "s3", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", NULL };
	static const char *const add_vip[] = { "vip", "add", "10.9.0.100:80/tcp", NULL };
	static uint8_t first[NFLOWS], fresh[NFRESH], now[NFLOWS], buf[2048];
	char be[NSRV][96], macs[NSRV][18];
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *c, *srv[NSRV];
	unsigned count[NSRV], bad = 0, moved, lost, n1, n2;
	int r;

	vu_test_init("lb_handover", 120);
	vu_mac(mac_c, 0xc);
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon: %s", strerror(-r));
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	for (unsigned j = 0; j < NSRV; j++) {
		static const char *const names[NSRV] = { "S1", "S2", "S3" };
		static const char *const pnames[NSRV] = { "s1", "s2", "s3" };

		vu_mac(mac_s[j], 0x51 + j);
		o.name = names[j];
		srv[j] = pc_dev(&d, pnames[j], &o);
		snprintf(be[j], sizeof(be[j]), "mac=%s,ip=10.9.0.%u", vu_mac_str(mac_s[j], macs[j]), 11 + j);
		/* Servers announce themselves so the switch knows where their MACs are. */
		pc_send1(srv[j], 0, (uint16_t)(0x51 + j), 0xffff, 1, 0, 60);
	}
	pc_ctl(&d, add_vip, "vip add");
	for (unsigned j = 0; j < 2; j++) {
		const char *add_be[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be[j], NULL };

		pc_ctl(&d, add_be, "backend add");
	}
	usleep(100000);
	/* The announces were flooded to everyone: clear them away. */
	vu_traffic_absorb(c, 100, 0, &n1, &n2);
	for (unsigned j = 0; j < NSRV; j++)
		vu_traffic_absorb(srv[j], 50, 0, &n1, &n2);

	vu_test_case("flows opened to a VIP served by s1 and s2");
	send_flows(c, srv, 20000, NFLOWS, 0x02, first, count, &bad);
	vu_test_note("Maglev over s1, s2: %u, %u (s3: %u)", count[0], count[1], count[2]);
	CHECK(count[0] + count[1] == NFLOWS && count[2] == 0, "every SYN reached s1 or s2");
	CHECK(count[0] > 0 && count[1] > 0, "both serve");

	vu_test_case("adding s3 changes the Maglev table: fresh flows go to s3, established ones stay");
	{
		/* s3 follows a VM (named, with its MAC given, so no discovery is needed). */
		const char *add_be[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be[2], "--vm",
					 "vm-s3", NULL };
		char vm[64];

		pc_ctl(&d, add_be, "backend add s3");
		backend_vm(&d, "10.9.0.13", vm, sizeof(vm));
		CHECK(strcmp(vm, "vm-s3") == 0, "vip show: s3 follows VM '%s'", vm);
	}
	send_flows(c, srv, 40000, NFRESH, 0x02, fresh, count, &bad);
	vu_test_note("fresh flows over s1, s2, s3: %u, %u, %u", count[0], count[1], count[2]);
	CHECK(count[2] > NFRESH / 6, "s3 takes a share of the fresh flows (%u of %d)", count[2], NFRESH);
	send_flows(c, srv, 20000, NFLOWS, 0x10, now, count, &bad);
	compare(first, now, NFLOWS, &moved, &lost);
	CHECK(moved == 0 && lost == 0, "before the hand-over: %u flows moved, %u lost", moved, lost);

	vu_test_case("a new process takes over with the frontends connected");
	r = vu_daemon_takeover(&d, extra);
	REQUIRE(r == 0, "take-over: %s", strerror(-r));
	{
		char *log = vu_daemon_log_new(&d);

		CHECK(strstr(log, "hand-over done") != NULL, "the old process handed over");
		CHECK(strstr(log, "1 services, 900 flows taken over") != NULL,
		      "the new process took 1 service and all 900 flows over");
		free(log);
	}

	{
		char vm1[64], vm3[64];

		backend_vm(&d, "10.9.0.11", vm1, sizeof(vm1));
		backend_vm(&d, "10.9.0.13", vm3, sizeof(vm3));
		CHECK(strcmp(vm3, "vm-s3") == 0 && vm1[0] == '\0',
		      "s3 still follows its VM ('%s'), s1 none ('%s')", vm3, vm1);
	}

	vu_test_case("after the hand-over every flow keeps its backend");
	send_flows(c, srv, 20000, NFLOWS, 0x10, now, count, &bad);
	compare(first, now, NFLOWS, &moved, &lost);
	vu_test_note("flows opened before s3 came: %u moved, %u lost (to s1, s2, s3: %u, %u, %u)",
		     moved, lost, count[0], count[1], count[2]);
	CHECK(moved == 0 && lost == 0 && count[2] == 0,
	      "flows opened over s1, s2 all still go there (%u moved, %u lost)", moved, lost);
	{
		uint8_t again[NFRESH];

		send_flows(c, srv, 40000, NFRESH, 0x10, again, count, &bad);
		compare(fresh, again, NFRESH, &moved, &lost);
		CHECK(moved == 0 && lost == 0, "flows opened with s3 keep theirs too (%u moved, %u lost)",
		      moved, lost);
	}
	CHECK(bad == 0, "destinations rewritten, checksums valid throughout (%u bad)", bad);

	vu_test_case("replies of flows taken over still come from the VIP");
	{
		unsigned ok = 0, tried = 0;

		for (unsigned i = 0; i < NFLOWS && tried < 60; i++) {
			unsigned j = first[i] - 1u;
			struct tf_spec s = { .saddr = srv_ip[j], .daddr = CLIENT_IP, .proto = 6, .sport = 80,
					     .dport = (uint16_t)(20000 + i), .tcp_flags = 0x12,
					     .payload = 20, .seed = i };
			uint32_t len;
			int n;

			if (i % 7)
				continue;
			tried++;
			memcpy(s.smac, mac_s[j], 6);
			memcpy(s.dmac, mac_c, 6);
			len = tf_build(buf, &s);
			pc_frame_send(srv[j], buf, len);
			n = pc_frame_recv(c, buf, sizeof(buf), 1000);
			if (n > 0 && tf_get32(buf + 14 + 12) == VIP && tf_get16(buf + 34) == 80 &&
			    memcmp(buf + 6, vmac, 6) == 0 && tf_csums_ok(buf, (uint32_t)n, NULL))
				ok++;
		}
		CHECK(ok == tried, "%u of %u replies arrive as from the VIP, checksums valid", ok, tried);
	}

	vu_test_case("vip show counts the flows taken over; new flows use all three backends");
	{
		static const char *const show[] = { "vip", "show", NULL };
		struct json_object *j = NULL, *lb, *flows;

		r = vu_ctl_json(&d, &j, show);
		CHECK(r == 0 && json_object_object_get_ex(j, "lb", &lb) &&
		      json_object_object_get_ex(lb, "flows", &flows) &&
		      json_object_get_int(flows) == NFLOWS + NFRESH,
		      "vip show: %d flows", j && json_object_object_get_ex(j, "lb", &lb) &&
		      json_object_object_get_ex(lb, "flows", &flows) ? json_object_get_int(flows) : -1);
		json_object_put(j);
	}
	{
		uint8_t later[NFRESH];

		send_flows(c, srv, 50000, NFRESH, 0x02, later, count, &bad);
		vu_test_note("new flows over s1, s2, s3: %u, %u, %u", count[0], count[1], count[2]);
		CHECK(count[0] + count[1] + count[2] == NFRESH && count[0] && count[1] && count[2],
		      "every new flow reached a backend, each backend some");
	}
	pc_check_clean(c);
	for (unsigned j = 0; j < NSRV; j++)
		pc_check_clean(srv[j]);
	vu_dev_free(c);
	for (unsigned j = 0; j < NSRV; j++)
		vu_dev_free(srv[j]);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
