/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fault injection (issue 9 item 4) on port c while ports a and b carry traffic:
 *
 * - a frontend that goes away at every step of its start-up, over and over (at least 100
 *   connects), with traffic through c when it got that far: the daemon's fd count must come
 *   back to where it was (and the ASan build checks its memory at exit);
 * - a frontend that asks for replies (REPLY_ACK, and requests that always answer) and never
 *   reads them: the daemon must not block on its socket, it drops that connection;
 * - a frontend that stops reading its call eventfd, in the worst form: it hands over a
 *   blocking eventfd and fills its counter to the maximum, so a blocking write(2) of one more
 *   interrupt would sleep for ever in a worker and stop every port that worker serves;
 * - the same eventfd made blocking again by the frontend after it handed it over (the flag
 *   lives in the open file both share) and then filled: the write does block, and the
 *   daemon's watchdog must interrupt it, break port c only, and keep a and b forwarding;
 * - a "call eventfd" that is a pipe nobody reads (same hazard once the pipe is full): refused.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proto_common.h"

static struct vu_daemon d;
static struct vu_dev *A, *B;
static uint32_t tag = 1300;
static const size_t sizes[] = { 60, 700, 1514 };
static const size_t small[] = { 100 };

static void still_forwarding(const char *when)
{
	unsigned bad = pc_xfer(A, B, 1, 2, tag++, small, 1, 4);

	bad += pc_xfer(B, A, 2, 1, tag++, small, 1, 4);
	CHECK(bad == 0, "ports a and b stopped forwarding %s", when);
}

static void c_opts(struct vu_dev_opts *o, unsigned variant)
{
	pc_opts(o, "C");
	o->queue_pairs = 1 + variant % 2;
	o->mem_regions = 1 + variant % 3;
	o->use_add_mem_reg = variant % 4 == 3;
}

/* Messages in c's whole start-up with these options (a clean run, then a clean close). */
static unsigned startup_messages(unsigned variant)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	unsigned n;

	c_opts(&o, variant);
	c = pc_dev(&d, "c", &o);
	n = vu_conn_sent(vu_dev_conn(c));
	CHECK(pc_xfer(c, A, 3, 1, tag++, small, 1, 4) == 0, "c -> a with start-up variant %u", variant);
	vu_dev_free(c);
	CHECK(vu_ctl_wait_state(&d, "c", "listening", 3000) == 0, "port c not listening");
	return n;
}

static void disconnect_at_every_step(void)
{
	unsigned cycles = 0, fails = 0;
	int fds0, fds1;

	vu_test_case("fault injection: frontend gone at every start-up step, >= 100 times");
	fds0 = vu_daemon_fd_count_settled(&d, -1, 2000);
	for (unsigned variant = 0; cycles < 100 || variant < 4; variant++) {
		unsigned total = startup_messages(variant);

		for (unsigned k = 0; k <= total; k++) {
			struct vu_dev_opts o;
			struct vu_dev *c;
			char path[256];
			int r;

			c_opts(&o, variant);
			r = vu_dev_connect(vu_daemon_sock(&d, "c", path, sizeof(path)), &o,
					   PC_CONNECT_MS, &c);
			if (!CHECK(r == 0, "connect: %s", strerror(-r)))
				break;
			if (k) {
				/* k == total: the whole start-up, then frames through c, then gone */
				vu_conn_set_send_limit(vu_dev_conn(c), k < total ? k : 0);
				r = vu_dev_start(c);
				CHECK((r == 0) == (k == total), "start-up cut after %u of %u messages: %s",
				      k, total, strerror(-r));
				if (k == total && r == 0) {
					for (uint32_t s = 0; s < 8; s++)
						pc_send1(c, 0, 3, 1, tag, s, sizes[s % 3]);
					tag++;
				}
			}
			vu_dev_free(c);   /* abrupt: no GET_VRING_BASE, socket closed */
			cycles++;
			if (!CHECK(vu_ctl_wait_state(&d, "c", "listening|broken", 3000) == 0,
				   "port c not listening after a cut at step %u", k))
				fails++;
			still_forwarding("during the connect/disconnect cycles");
			if (fails > 3 || !vu_daemon_alive(&d))
				break;
		}
		if (fails > 3 || !vu_daemon_alive(&d))
			break;
	}
	REQUIRE(vu_daemon_alive(&d), "daemon died in the cycles");
	vu_test_note("%u connects, each cut at a different step", cycles);
	CHECK(cycles >= 100, "only %u cycles", cycles);
	fds1 = vu_daemon_fd_count_settled(&d, fds0, 2000);
	CHECK(fds1 == fds0, "daemon fds %d before the cycles, %d after", fds0, fds1);
}

static void never_reads_replies(void)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	char path[256], *log;
	int64_t end;
	unsigned sent = 0;
	int r = 0;

	vu_test_case("fault injection: frontend never reads the replies it asks for");
	free(vu_daemon_log_new(&d));
	pc_opts(&o, "C");
	REQUIRE(vu_dev_connect(vu_daemon_sock(&d, "c", path, sizeof(path)), &o, PC_CONNECT_MS, &c) == 0,
		"connect");
	CHECK(vu_dev_negotiate(c) == 0, "negotiate (REPLY_ACK on)");
	CHECK(vu_dev_protocol_features(c) & VU_BIT(VU_PROTO_F_REPLY_ACK), "REPLY_ACK negotiated");
	/* Requests that are always answered, and SET_*s with NEED_REPLY: nothing read back. */
	(void)fcntl(vu_conn_fd(vu_dev_conn(c)), F_SETFL,
		    fcntl(vu_conn_fd(vu_dev_conn(c)), F_GETFL) | O_NONBLOCK);
	end = vu_now_ms() + 20000;
	while (vu_remaining_ms(end)) {
		struct vu_vring_state s = { .index = 0, .num = 1 };

		r = sent % 2 ? vu_conn_send(vu_dev_conn(c), VU_GET_FEATURES, 0, NULL, 0, NULL, 0)
			     : vu_conn_send(vu_dev_conn(c), VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY,
					    &s, sizeof(s), NULL, 0);
		if (r == -EAGAIN) {
			/* the daemon is behind on reading us: let it catch up, then go on */
			struct pollfd p = { .fd = vu_conn_fd(vu_dev_conn(c)), .events = POLLOUT };

			(void)poll(&p, 1, 100);
			continue;
		}
		if (r)
			break;
		sent++;
		if (sent % 4096 == 0)
			CHECK(vu_daemon_alive(&d), "daemon died");
	}
	vu_test_note("%u requests sent before the daemon hung up (%s)", sent, strerror(-r));
	CHECK(r == -EPIPE || r == -ECONNRESET, "the daemon kept the connection of a frontend that "
	      "never reads (last send: %s)", strerror(-r));
	CHECK(vu_ctl_wait_state(&d, "c", "broken", 3000) == 0, "port c not shown as broken");
	log = vu_daemon_log_new(&d);
	CHECK(strstr(log, "error: port 'c'") != NULL, "no error line names port 'c'");
	if (strstr(log, "error: port 'c'"))
		vu_test_note("%.*s", (int)strcspn(strstr(log, "error: port 'c'"), "\n"),
			     strstr(log, "error: port 'c'"));
	free(log);
	vu_dev_free(c);
	still_forwarding("after the frontend that never reads");
}

/*
 * Port c connected and forwarding, then given a new call eventfd for its RX ring, created
 * blocking (no EFD_NONBLOCK), filled to its maximum and never read: one more interrupt does
 * not fit, and a blocking write(2) of it would sleep for ever in the worker that serves a, b
 * and c. The daemon makes the fd non-blocking when it takes it; with @undo_nonblock the
 * frontend clears the flag again afterwards (it lives in the open file both share).
 * Return: c, its eventfd in @efd.
 */
static struct vu_dev *c_with_full_call_eventfd(bool undo_nonblock, int *efd)
{
	const uint64_t full = 0xfffffffffffffffeull;   /* eventfd's maximum count */
	struct vu_dev_opts o;
	struct vu_dev *c;
	uint64_t u = 0;   /* RX ring 0 */
	int e;

	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	CHECK(pc_xfer(c, A, 3, 1, tag++, small, 1, 2) == 0, "c -> a before");
	e = eventfd(0, EFD_CLOEXEC);
	REQUIRE(e >= 0, "eventfd");
	CHECK(vu_dev_request(c, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, &u, sizeof(u), &e, 1, NULL, 0) == 0,
	      "SET_VRING_CALL with a blocking eventfd");
	if (undo_nonblock)
		CHECK(fcntl(e, F_SETFL, fcntl(e, F_GETFL) & ~O_NONBLOCK) == 0, "clear O_NONBLOCK");
	CHECK(write(e, &full, 8) == 8, "fill the call eventfd");
	vu_vq_interrupts(vu_dev_vq(c, 0), true);
	*efd = e;
	return c;
}

static void call_eventfd_full(void)
{
	struct vu_dev *c;
	unsigned got = 0;
	uint32_t t;
	int e;

	vu_test_case("fault injection: frontend stops reading its call eventfd (counter full)");
	c = c_with_full_call_eventfd(false, &e);
	t = tag++;
	for (uint32_t s = 0; s < 64; s++)
		pc_send1(A, 0, 1, 3, t, s, 300);
	CHECK(vu_dev_tx_drain(A, 0, 3000) == 0, "a's frames to c were not completed: worker stuck?");
	still_forwarding("while c's call eventfd is full");
	/* c still gets its frames: they are in its used ring (it polls, its counter is full) */
	for (long s = 0; s < 64; s++) {
		long seq = pc_recv_tag(c, t, 2000, NULL);

		if (!CHECK(seq == s, "c: frame %ld: got %ld", s, seq))
			break;
		got++;
	}
	CHECK(got == 64, "c received %u of 64 frames", got);
	if (got != 64) {
		struct vu_port_stats st;

		if (vu_ctl_port_stats(&d, "c", &st) == 0)
			vu_test_note("c: tx_packets %llu drops %s", (unsigned long long)st.tx_packets,
				     st.drop_reasons);
	}
	CHECK(vu_ctl_wait_state(&d, "c", "running", 1000) == 0, "port c no longer running");
	vu_dev_free(c);
	close(e);
	CHECK(vu_ctl_wait_state(&d, "c", "listening", 3000) == 0, "port c not listening");
}

static void call_eventfd_made_blocking_again(void)
{
	static const char why[] = "call eventfd blocks";
	struct vu_dev *c;
	int64_t t0;
	char *log;
	int e;

	vu_test_case("fault injection: call eventfd made blocking again after the hand-over, then full");
	free(vu_daemon_log_new(&d));
	c = c_with_full_call_eventfd(true, &e);
	t0 = vu_now_ms();
	for (uint32_t s = 0; s < 8; s++)
		pc_send1(A, 0, 1, 3, tag, s, 300);
	tag++;
	CHECK(vu_ctl_wait_state(&d, "c", "broken|listening", 5000) == 0,
	      "port c not broken: is a worker still blocked in the write?");
	vu_test_note("port c broken %lld ms after the frames were sent", (long long)(vu_now_ms() - t0));
	CHECK(vu_dev_tx_drain(A, 0, 3000) == 0, "a's frames were not completed: worker stuck");
	still_forwarding("after the stuck call write was interrupted");
	log = vu_daemon_log_new(&d);
	CHECK(strstr(log, why) != NULL, "no log line says why port c stopped");
	if (strstr(log, why))
		vu_test_note("%.*s", (int)strcspn(strstr(log, why), "\n"), strstr(log, why));
	free(log);
	vu_dev_free(c);
	close(e);
	/* Port c stays "broken" until a frontend connects again: the next case does. */
}

static void call_fd_is_a_pipe(void)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	int p[2];
	uint64_t u = 0;   /* RX ring 0 */
	char *log;

	vu_test_case("fault injection: a pipe nobody reads as the call \"eventfd\"");
	free(vu_daemon_log_new(&d));
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	CHECK(pc_xfer(c, A, 3, 1, tag++, small, 1, 2) == 0, "c -> a before");
	REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
	(void)vu_conn_send(vu_dev_conn(c), VU_SET_VRING_CALL, 0, &u, sizeof(u), &p[1], 1);
	/* the daemon refuses it at once; frames to c meanwhile are dropped, not stuck */
	for (uint32_t s = 0; s < 64; s++)
		pc_send1(A, 0, 1, 3, tag, s, 60);
	tag++;
	CHECK(vu_dev_tx_drain(A, 0, 3000) == 0, "a's frames to c were not completed: worker stuck?");
	still_forwarding("after c handed over a pipe as its call fd");
	CHECK(vu_conn_wait_closed(vu_dev_conn(c), 3000) == 0, "the daemon accepted a pipe as call fd");
	log = vu_daemon_log_new(&d);
	CHECK(strstr(log, "error: port 'c'") != NULL, "no error line names port 'c'");
	if (strstr(log, "error: port 'c'"))
		vu_test_note("%.*s", (int)strcspn(strstr(log, "error: port 'c'"), "\n"),
			     strstr(log, "error: port 'c'"));
	free(log);
	close(p[0]);
	close(p[1]);
	vu_dev_free(c);
	CHECK(vu_ctl_wait_state(&d, "c", "listening|broken", 3000) == 0, "port c not reusable");
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_dev_opts o;
	int fds0, fds1;

	vu_test_init("protocol-faults", 280);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	A = pc_dev(&d, "a", &o);
	o.name = "B";
	B = pc_dev(&d, "b", &o);
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	still_forwarding("before");
	fds0 = vu_daemon_fd_count_settled(&d, -1, 2000);

	disconnect_at_every_step();
	never_reads_replies();
	call_eventfd_full();
	call_eventfd_made_blocking_again();
	call_fd_is_a_pipe();

	vu_test_case("no fd left behind");
	fds1 = vu_daemon_fd_count_settled(&d, fds0, 2000);
	CHECK(fds1 == fds0, "daemon fds %d at the start, %d at the end", fds0, fds1);
	pc_check_clean(A);
	pc_check_clean(B);
	vu_dev_free(A);
	vu_dev_free(B);
	return vu_test_finish();
}
