/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Multi-queue: 4 queue pairs per frontend. Frames from every TX queue are delivered; RX is
 * spread over the enabled queues; a queue pair disabled at run time gets nothing more and
 * traffic carries on over the others; re-enabled, it works again; a frontend that enables
 * only its first queue pair (a 1-vCPU Linux guest) works.
 */
#include <stdio.h>

#include "proto_common.h"

#define NQP 4

static const size_t sizes[] = { 60, 128, 512, 1024, 1514 };

static void setup(struct vu_daemon *d, struct vu_dev **a, struct vu_dev **b)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_dev_opts o;

	pc_start(d, ports);
	pc_opts(&o, "A");
	o.queue_pairs = NQP;
	*a = pc_dev(d, "a", &o);
	o.name = "B";
	*b = pc_dev(d, "b", &o);
	pc_wait_running(d, "a");
	pc_wait_running(d, "b");
}

static struct vu_traffic spread(const uint8_t *src, const uint8_t *dst, uint32_t tag)
{
	struct vu_traffic t = { 0 };

	t.src = src;
	t.dst = dst;
	t.tag = tag;
	t.sizes = sizes;
	t.nsizes = sizeof(sizes) / sizeof(sizes[0]);
	t.count = 800;
	t.spread_tx = true;
	t.flows = 97;
	return t;
}

static unsigned queues_used(const struct vu_traffic *t)
{
	unsigned q, n = 0;

	for (q = 0; q < NQP; q++)
		n += t->rx_per_qp[q] > 0;
	return n;
}

static void show(const char *who, const struct vu_traffic *t)
{
	vu_test_note("%s RX per queue pair: %u %u %u %u", who, t->rx_per_qp[0], t->rx_per_qp[1],
		     t->rx_per_qp[2], t->rx_per_qp[3]);
}

int main(void)
{
	struct vu_daemon d;
	struct vu_dev *a, *b;
	uint8_t ma[6], mb[6];
	struct vu_traffic t;
	struct vu_port_stats st;
	unsigned q;

	vu_test_init("protocol-mq", 200);
	vu_mac(ma, 1);
	vu_mac(mb, 2);
	setup(&d, &a, &b);

	vu_test_case("every TX queue delivered, RX spread (4 queue pairs)");
	t = spread(ma, mb, 300);
	vu_traffic_run(a, b, &t);
	CHECK(t.received == t.count, "A -> B %u of %u", t.received, t.count);
	show("B", &t);
	CHECK(queues_used(&t) >= 2, "B received on %u of %d queue pairs (97 flows)",
	      queues_used(&t), NQP);
	t = spread(mb, ma, 301);
	vu_traffic_run(b, a, &t);
	CHECK(t.received == t.count, "B -> A %u of %u", t.received, t.count);
	show("A", &t);
	CHECK(queues_used(&t) >= 2, "A received on %u of %d queue pairs", queues_used(&t), NQP);

	vu_test_case("per-queue counters of A's TX queues");
	if (CHECK(vu_ctl_port_stats(&d, "a", &st) == 0, "stats a")) {
		uint64_t sum = 0;
		unsigned seen = 0;

		for (q = 0; q < st.nqueues; q++) {
			/* guest TX rings are the odd vrings: the switch receives on them */
			if (st.q[q].index >= 0 && (st.q[q].index & 1) &&
			    st.q[q].index < 2 * NQP) {
				seen++;
				sum += st.q[q].packets;
				CHECK(st.q[q].packets == 800 / NQP,
				      "vring %d (A's TX qp %d): %llu packets, A sent %d", st.q[q].index,
				      st.q[q].index / 2, (unsigned long long)st.q[q].packets,
				      800 / NQP);
			}
		}
		CHECK(seen == NQP, "stats list %u of A's %d TX vrings", seen, NQP);
		CHECK(st.rx_packets == 800, "port a rx_packets %llu, A sent 800",
		      (unsigned long long)st.rx_packets);
		(void)sum;
	}

	vu_test_case("B disables queue pair 2 at run time: nothing more on it, traffic goes on");
	CHECK(vu_dev_enable_qp(b, 2, false) == 0, "SET_VRING_ENABLE 0 on B's vrings 4, 5");
	t = spread(ma, mb, 302);
	vu_traffic_run(a, b, &t);
	CHECK(t.received == t.count, "A -> B %u of %u with B's qp 2 disabled", t.received,
	      t.count);
	show("B", &t);
	CHECK(t.rx_per_qp[2] == 0, "B's disabled qp 2 received %u frames", t.rx_per_qp[2]);
	CHECK(queues_used(&t) >= 2, "B received on %u queue pairs", queues_used(&t));

	vu_test_case("A disables queue pair 1: its other TX queues still deliver");
	CHECK(vu_dev_enable_qp(a, 1, false) == 0, "SET_VRING_ENABLE 0 on A's vrings 2, 3");
	{
		unsigned i, got = 0;

		for (i = 0; i < 120; i++)
			pc_send1(a, (i % 3 == 1) ? 2 : (i % 3 == 2) ? 3 : 0, 1, 2, 303, i,
				 sizes[i % 5]);
		for (i = 0; i < 120; i++)
			if (pc_recv_tag(b, 303, 2000, NULL) >= 0)
				got++;
		CHECK(got == 120, "B got %u of 120 from A's qps 0, 2, 3", got);
	}

	vu_test_case("B re-enables queue pair 2: it receives again");
	CHECK(vu_dev_enable_qp(b, 2, true) == 0, "SET_VRING_ENABLE 1 on B's vrings 4, 5");
	CHECK(vu_dev_enable_qp(a, 1, true) == 0, "SET_VRING_ENABLE 1 on A's vrings 2, 3");
	t = spread(ma, mb, 304);
	vu_traffic_run(a, b, &t);
	CHECK(t.received == t.count, "A -> B %u of %u after re-enabling", t.received, t.count);
	show("B", &t);
	CHECK(vu_ctl_wait_state(&d, "b", "running", 1000) == 0, "port b not running");
	pc_check_clean(a);
	pc_check_clean(b);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);

	vu_test_case("4 queue pairs offered, only the first enabled (1-vCPU guest)");
	{
		static const char *const ports[] = { "a", "b", NULL };
		struct vu_dev_opts o;

		pc_start(&d, ports);
		pc_opts(&o, "A1");
		o.queue_pairs = NQP;
		o.enable_rings = false;
		a = pc_dev(&d, "a", &o);
		o.name = "B1";
		b = pc_dev(&d, "b", &o);
		CHECK(vu_dev_enable_qp(a, 0, true) == 0, "enable A qp 0");
		CHECK(vu_dev_enable_qp(b, 0, true) == 0, "enable B qp 0");
		pc_xfer(a, b, 1, 2, 305, sizes, 5, 200);
		pc_xfer(b, a, 2, 1, 306, sizes, 5, 200);
		pc_check_clean(a);
		pc_check_clean(b);
		vu_dev_free(a);
		vu_dev_free(b);
		vu_daemon_stop(&d);
	}
	return vu_test_finish();
}
