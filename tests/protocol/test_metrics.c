/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics endpoint, scraped and parsed by prometheus_client's own parser (Debian's
 * python3-prometheus-client): after known traffic, the counters it reports match what the
 * frontends sent and received, and match `vhost-user-lbctl stats`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto_common.h"

static const size_t sizes[] = { 60, 1514 };

/* Value of sample @name with label string @labels (as scrape-metrics.py prints them), or -1. */
static double sample(const char *text, const char *name, const char *labels)
{
	char want[256];
	const char *p;

	snprintf(want, sizeof(want), "\n%s %s ", name, labels);
	p = strstr(text, want);
	return p ? atof(p + strlen(want)) : -1;
}

int main(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	struct vu_port_stats sa, sb;
	char cmd[512], text[65536] = "\n";
	size_t len = 1;
	FILE *f;

	vu_test_init("metrics", 60);
	if (access("/usr/bin/python3", X_OK) != 0 || system("/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null") != 0)
		vu_test_skip("python3-prometheus-client is not installed");
	vu_test_case("counters scraped with prometheus_client match the traffic");
	pc_start(&d, ports);
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	CHECK(pc_xfer(a, b, 1, 2, 0x3e7, sizes, 2, 100) == 0, "100 frames A -> B");
	CHECK(pc_xfer(b, a, 2, 1, 0x3e8, sizes, 2, 40) == 0, "40 frames B -> A");
	REQUIRE(pc_wait_stats(&d, "a", 100, 40, 2000, &sa), "a's counters settle");
	REQUIRE(vu_ctl_port_stats(&d, "b", &sb) == 0, "b's stats");

	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/ops/scrape-metrics.py %s/metrics.sock",
		 getenv("VHOST_LB_SRCDIR"), d.dir);
	f = popen(cmd, "r");
	REQUIRE(f, "run the scraper");
	len += fread(text + len, 1, sizeof(text) - len - 1, f);
	text[len] = '\0';
	CHECK(pclose(f) == 0, "the exposition parses with prometheus_client");
	CHECK(sample(text, "vulb_port_rx_packets_total", "port=a") == 100, "a: 100 frames from the guest");
	CHECK(sample(text, "vulb_port_tx_packets_total", "port=b") == 100, "b: 100 frames to the guest");
	CHECK(sample(text, "vulb_port_rx_packets_total", "port=b") == 40, "b: 40 frames from the guest");
	CHECK(sample(text, "vulb_port_tx_bytes_total", "port=b") == (double)sb.tx_bytes,
	      "b's byte counter matches vhost-user-lbctl stats (%llu)", (unsigned long long)sb.tx_bytes);
	CHECK(sample(text, "vulb_port_up", "port=a") == 1, "a is up");
	CHECK(sample(text, "vulb_port_drops_total", "port=a,reason=no_buffer") == 0, "no drops");
	CHECK(strstr(text, "\nvulb_worker_load_ratio ") != NULL, "per-worker gauges present");
	CHECK(strstr(text, "\nvulb_queue_packets_total ") != NULL, "per-queue counters present");
	CHECK(sample(text, "vulb_fdb_entries", "-") == 2, "two MACs learned");
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
