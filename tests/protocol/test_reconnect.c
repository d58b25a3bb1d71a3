/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Frontends that go away and come back: abrupt close and clean stop (GET_VRING_BASE) followed
 * by a new connection with new memory; a receiver vanishing mid-burst; many quick cycles
 * without fd leaks; a second connection while the first is live; disconnects in the middle of
 * the start-up; and daemon client mode, where the daemon connects to us and reconnects after
 * we hang up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto_common.h"

static const size_t sizes[] = { 60, 200, 1000, 1514 };
static uint32_t tag = 500;

static void both_ways(struct vu_dev *a, struct vu_dev *b, const char *when)
{
	unsigned bad = pc_xfer(a, b, 1, 2, tag++, sizes, 4, 100);

	bad += pc_xfer(b, a, 2, 1, tag++, sizes, 4, 100);
	CHECK(bad == 0, "traffic a<->b broken %s", when);
}

static void server_mode(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	uint16_t bases[2];
	int fds0, fds1, i;

	pc_start(&d, ports);
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	pc_opts(&o, "B");
	b = pc_dev(&d, "b", &o);

	vu_test_case("abrupt close of A, reconnect with new memory, traffic resumes");
	both_ways(a, b, "before the reconnect");
	vu_dev_free(a);
	CHECK(vu_ctl_wait_state(&d, "a", "listening", 3000) == 0, "port a not listening");
	/* B talks to A's MAC while A is away: dropped or flooded, never a crash */
	for (i = 0; i < 20; i++)
		pc_send1(b, 0, 2, 1, tag, (uint32_t)i, 300);
	CHECK(vu_dev_tx_drain(b, 0, 2000) == 0, "B's frames to an absent port never completed");
	tag++;
	pc_opts(&o, "A2");
	o.mem_regions = 2; /* different layout than before */
	a = pc_dev(&d, "a", &o);
	pc_wait_running(&d, "a");
	both_ways(a, b, "after A reconnected");

	vu_test_case("clean stop of A (GET_VRING_BASE), reconnect resuming at that base");
	CHECK(vu_dev_tx_drain(a, 0, 2000) == 0, "drain");
	CHECK(vu_dev_stop(a, bases) == 0, "GET_VRING_BASE");
	vu_dev_free(a);
	CHECK(vu_ctl_wait_state(&d, "a", "listening", 3000) == 0, "port a not listening");
	pc_opts(&o, "A3");
	o.ring_base = bases[1];
	a = pc_dev(&d, "a", &o);
	both_ways(a, b, "after A resumed at its old base");

	vu_test_case("receiver B vanishes in the middle of a burst");
	for (i = 0; i < 200; i++)
		pc_send1(a, 0, 1, 2, tag, (uint32_t)i, sizes[i % 4]);
	vu_dev_free(b);
	for (i = 0; i < 200; i++)
		pc_send1(a, 0, 1, 2, tag, (uint32_t)(200 + i), sizes[i % 4]);
	CHECK(vu_dev_tx_drain(a, 0, 3000) == 0, "A's TX stalled after B vanished");
	tag++;
	CHECK(vu_daemon_alive(&d), "daemon died");
	pc_opts(&o, "B2");
	b = pc_dev(&d, "b", &o);
	both_ways(a, b, "after B came back");

	vu_test_case("30 connect/start/close cycles on b leak no fd");
	vu_dev_free(b);
	CHECK(vu_ctl_wait_state(&d, "b", "listening", 3000) == 0, "port b not listening");
	fds0 = vu_daemon_fd_count_settled(&d, -1, 2000);
	for (i = 0; i < 30; i++) {
		pc_opts(&o, "Bcycle");
		o.queue_pairs = 1 + i % 3;
		o.mem_regions = 1 + i % 4;
		b = pc_dev_try(&d, "b", &o);
		if (!b)
			break;
		if (i % 2)
			(void)vu_dev_stop(b, NULL);
		vu_dev_free(b);
	}
	CHECK(vu_ctl_wait_state(&d, "b", "listening", 3000) == 0, "port b not listening");
	fds1 = vu_daemon_fd_count_settled(&d, fds0, 2000);
	CHECK(fds1 == fds0, "daemon fds %d before the cycles, %d after", fds0, fds1);

	vu_test_case("disconnects in the middle of the start-up");
	{
		struct vu_dev *x;
		char path[256];
		uint64_t f;

		vu_daemon_sock(&d, "b", path, sizeof(path));
		pc_opts(&o, "Bhalf");
		if (vu_dev_connect(path, &o, PC_CONNECT_MS, &x) == 0) {
			CHECK(vu_dev_get_u64(x, VU_GET_FEATURES, &f) == 0, "GET_FEATURES");
			vu_dev_free(x); /* gone after one message */
		}
		if (vu_dev_connect(path, &o, PC_CONNECT_MS, &x) == 0) {
			CHECK(vu_dev_negotiate(x) == 0, "negotiate");
			vu_dev_free(x); /* gone after the handshake */
		}
		o.enable_rings = false;
		if (vu_dev_connect(path, &o, PC_CONNECT_MS, &x) == 0) {
			CHECK(vu_dev_start(x) == 0, "start");
			vu_dev_free(x); /* gone with memory mapped, rings not enabled */
		}
		pc_opts(&o, "B3");
		b = pc_dev(&d, "b", &o);
		both_ways(a, b, "after half start-ups on b");
	}

	vu_test_case("a second frontend on a live port does not disturb the first");
	{
		struct vu_conn *x;
		char path[256];
		int r;

		r = vu_conn_connect(vu_daemon_sock(&d, "b", path, sizeof(path)), 2000, &x);
		if (r == 0) {
			uint64_t v = 0;

			(void)vu_conn_send(x, VU_GET_FEATURES, 0, NULL, 0, NULL, 0);
			(void)vu_conn_send(x, VU_SET_OWNER, 0, NULL, 0, NULL, 0);
			(void)vu_conn_send(x, VU_SET_FEATURES, 0, &v, sizeof(v), NULL, 0);
			(void)vu_conn_wait_closed(x, 500);
			vu_conn_free(x);
		}
		both_ways(a, b, "after a second connection to port b");
	}
	pc_check_clean(a);
	pc_check_clean(b);
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
}

static void client_mode(void)
{
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *c;
	struct vu_conn *conn;
	char dir[] = "/tmp/vulbcl-XXXXXX", spec[200], path[160];
	const char *ports[] = { "a", spec, NULL };
	int lfd, r, round;

	vu_test_case("client mode: the daemon connects to our socket");
	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/c.sock", dir);
	snprintf(spec, sizeof(spec), "c,mode=client,path=%s", path);
	lfd = vu_listen(path);
	REQUIRE(lfd >= 0, "listen on %s: %s", path, strerror(-lfd));
	pc_start(&d, ports);
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	for (round = 0; round < 3; round++) {
		if (round)
			vu_test_case("client mode: the daemon reconnects after we hung up (%d)", round);
		r = vu_conn_accept(lfd, 10000, &conn);
		if (!CHECK(r == 0, "daemon did not connect to %s: %s", path, strerror(-r)))
			break;
		pc_opts(&o, "C");
		r = vu_dev_new(conn, &o, &c);
		REQUIRE(r == 0, "dev");
		r = vu_dev_start(c);
		if (CHECK(r == 0, "start-up over the daemon's connection: %s", strerror(-r))) {
			pc_wait_running(&d, "c");
			both_ways(a, c, "over the client-mode port");
			pc_check_clean(c);
		}
		vu_dev_free(c);
	}
	vu_test_case("client mode: frontend gone for good, daemon keeps retrying quietly");
	close(lfd);
	unlink(path);
	CHECK(vu_ctl_wait_state(&d, "c", "connecting", 5000) == 0, "port c not 'connecting'");
	CHECK(vu_daemon_alive(&d), "daemon died while its client port had no frontend");
	vu_dev_free(a);
	vu_daemon_stop(&d);
	rmdir(dir);
}

int main(void)
{
	vu_test_init("protocol-reconnect", 240);
	server_mode();
	client_mode();
	return vu_test_finish();
}
