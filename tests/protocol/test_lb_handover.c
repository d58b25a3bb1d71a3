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
#include "lb_flows.h"
#include "test_lb_frames.h"

#define NSRV LBF_NSRV
#define NFLOWS 600
#define NFRESH 300

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

int main(void)
{
	static const char *const ports[] = { "c", "s1", "s2", "s3", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", NULL };
	static const char *const add_vip[] = { "vip", "add", LBF_VIP_TEXT, NULL };
	static uint8_t first[NFLOWS], fresh[NFRESH], now[NFLOWS];
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *c, *srv[NSRV];
	unsigned count[NSRV], bad = 0, moved, lost, n1, n2;
	int r;

	vu_test_init("lb_handover", 120);
	lbf_init();
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon: %s", strerror(-r));
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	for (unsigned j = 0; j < NSRV; j++) {
		static const char *const names[NSRV] = { "S1", "S2", "S3" };
		static const char *const pnames[NSRV] = { "s1", "s2", "s3" };

		o.name = names[j];
		srv[j] = pc_dev(&d, pnames[j], &o);
		/* Servers announce themselves so the switch knows where their MACs are. */
		pc_send1(srv[j], 0, (uint16_t)(0x51 + j), 0xffff, 1, 0, 60);
	}
	pc_ctl(&d, add_vip, "vip add");
	for (unsigned j = 0; j < 2; j++) {
		const char *add_be[] = { "vip", "backend", "add", LBF_VIP_TEXT, lbf_backend[j], NULL };

		pc_ctl(&d, add_be, "backend add");
	}
	usleep(100000);
	/* The announces were flooded to everyone: clear them away. */
	vu_traffic_absorb(c, 100, 0, &n1, &n2);
	for (unsigned j = 0; j < NSRV; j++)
		vu_traffic_absorb(srv[j], 50, 0, &n1, &n2);

	vu_test_case("flows opened to a VIP served by s1 and s2");
	lbf_send_flows(c, srv, 20000, NFLOWS, 0x02, first, count, &bad);
	vu_test_note("Maglev over s1, s2: %u, %u (s3: %u)", count[0], count[1], count[2]);
	CHECK(count[0] + count[1] == NFLOWS && count[2] == 0, "every SYN reached s1 or s2");
	CHECK(count[0] > 0 && count[1] > 0, "both serve");

	vu_test_case("adding s3 changes the Maglev table: fresh flows go to s3, established ones stay");
	{
		/* s3 follows a VM (named, with its MAC given, so no discovery is needed). */
		const char *add_be[] = { "vip", "backend", "add", LBF_VIP_TEXT, lbf_backend[2], "--vm",
					 "vm-s3", NULL };
		char vm[64];

		pc_ctl(&d, add_be, "backend add s3");
		backend_vm(&d, "10.9.0.13", vm, sizeof(vm));
		CHECK(strcmp(vm, "vm-s3") == 0, "vip show: s3 follows VM '%s'", vm);
	}
	lbf_send_flows(c, srv, 40000, NFRESH, 0x02, fresh, count, &bad);
	vu_test_note("fresh flows over s1, s2, s3: %u, %u, %u", count[0], count[1], count[2]);
	CHECK(count[2] > NFRESH / 6, "s3 takes a share of the fresh flows (%u of %d)", count[2], NFRESH);
	lbf_send_flows(c, srv, 20000, NFLOWS, 0x10, now, count, &bad);
	lbf_compare(first, now, NFLOWS, &moved, &lost);
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
	lbf_check_flows_kept(c, srv, first, NFLOWS, fresh, NFRESH, &bad);
	CHECK(bad == 0, "destinations rewritten, checksums valid throughout (%u bad)", bad);

	vu_test_case("replies of flows taken over still come from the VIP");
	lbf_check_replies(c, srv, 20000, first, NFLOWS);

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

		lbf_send_flows(c, srv, 50000, NFRESH, 0x02, later, count, &bad);
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
