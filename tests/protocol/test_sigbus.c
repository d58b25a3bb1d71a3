/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A frontend that cuts its guest memory under the daemon: the test frontend's memfds are not
 * sealed (no F_SEAL_SHRINK), so after the start-up it ftruncate()s them and makes the daemon
 * touch a page that is gone. Without the SIGBUS guard (gmem/guard.h) that kills the daemon.
 * With it, in each case: that port is broken with a log line that says why, the daemon
 * survives, ports a and b keep forwarding (checked with traffic), and no fd is left behind.
 *
 * The three places a worker meets the cut: the rings themselves (file cut to nothing, then a
 * kick), the sender's TX buffer (rings kept, a descriptor pointing past the new end), and the
 * receiver's RX buffer, written under that ring's spinlock while another port's frame is
 * copied into it.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto_common.h"

static struct vu_daemon d;
static struct vu_dev *A, *B;
static uint32_t tag = 900;
static const size_t sizes[] = { 60, 700, 1514 };

static void still_forwarding(const char *when)
{
	unsigned bad = pc_xfer(A, B, 1, 2, tag++, sizes, 3, 30);

	bad += pc_xfer(B, A, 2, 1, tag++, sizes, 3, 30);
	CHECK(bad == 0, "ports a and b stopped forwarding %s", when);
}

/* Waits for @needle in what the daemon logged since the case began; the log is the marker. */
static bool wait_log(const char *needle, int ms, char **ret_log)
{
	int64_t end = vu_now_ms() + ms;
	size_t len = 0;
	char *all = calloc(1, 1);

	for (;;) {
		char *more = vu_daemon_log_new(&d);
		size_t n = strlen(more);
		char *grown = realloc(all, len + n + 1);

		REQUIRE(grown, "out of memory");
		all = grown;
		memcpy(all + len, more, n + 1);
		len += n;
		free(more);
		if (strstr(all, needle) || !vu_remaining_ms(end))
			break;
		(void)poll(NULL, 0, 20);
	}
	*ret_log = all;
	return strstr(all, needle) != NULL;
}

/* The first page boundary after everything the frontend laid out in region 0. */
static uint64_t cut_point(struct vu_dev *x)
{
	const struct vu_mem_region *rg = &vu_dev_mem(x)->regions[0];
	uint64_t cut = (rg->used + 4095) & ~4095ull;

	REQUIRE(cut + 2 * 4096 <= rg->size, "no room past the frontend's allocations");
	return cut;
}

static void cut_file(struct vu_dev *x, uint64_t size)
{
	struct vu_mem *m = vu_dev_mem(x);

	for (unsigned i = 0; i < m->nregions; i++)
		REQUIRE(ftruncate(m->regions[i].fd, (off_t)(m->regions[i].mmap_offset + size)) == 0,
			"ftruncate: %s", strerror(errno));
}

static void expect_broken(const char *port, struct vu_dev *x, const char *how)
{
	char want[128], *log = NULL;

	snprintf(want, sizeof(want), "port '%s': guest memory region", port);
	CHECK(wait_log(want, 5000, &log), "no log line says port '%s' memory was shrunk (%s); log: %.400s",
	      port, how, log);
	CHECK(!log || strstr(log, "F_SEAL_SHRINK"), "the log line names the missing seal");
	free(log);
	CHECK(vu_daemon_alive(&d), "daemon died of the cut (%s)", how);
	if (!vu_daemon_alive(&d))
		vu_test_abort();
	CHECK(vu_conn_wait_closed(vu_dev_conn(x), 3000) == 0, "port '%s' connection not dropped", port);
	CHECK(vu_ctl_wait_state(&d, port, "broken", 3000) == 0, "port '%s' not shown as broken", port);
	/* Not a byte of our memory may be touched any more: freeing only unmaps it. */
	vu_dev_free(x);
	still_forwarding(how);
}

static void case_rings_gone(void)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	uint64_t one = 1;

	vu_test_case("sigbus: memory with the rings cut to nothing, then a kick");
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	cut_file(c, 0);
	/* Straight to the eventfd: vu_vq_notify() would read the (gone) ring first. */
	CHECK(write(vu_vq_kick_fd(vu_dev_vq(c, 1)), &one, sizeof(one)) == sizeof(one), "kick");
	expect_broken("c", c, "rings gone");
}

static void case_tx_buffer_gone(void)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	struct vu_vq *vq;
	uint64_t cut;
	int i;

	vu_test_case("sigbus: a TX descriptor pointing into memory cut away");
	pc_opts(&o, "C2");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	cut = cut_point(c);
	cut_file(c, cut);
	vq = vu_dev_vq(c, 1);
	i = vu_vq_desc_get(vq);
	REQUIRE(i >= 0, "free descriptor");
	vu_vq_desc_write(vq, (unsigned)i, vu_dev_mem(c)->regions[0].gpa + cut + 4096, 12 + 60, 0, 0);
	vu_vq_avail_push(vq, (uint16_t)i);
	(void)vu_vq_notify(vq, true);
	expect_broken("c", c, "TX buffer gone");
}

static void case_rx_buffer_gone(void)
{
	struct vu_dev_opts o;
	struct vu_dev *c;
	struct vu_vq *vq;
	uint64_t cut;
	int i;

	vu_test_case("sigbus: a receiver's RX buffer cut away while a frame is copied into it");
	pc_opts(&o, "C3");
	o.rx_post_max = 1;
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	/* c's MAC is learned, so a's frames go to c alone. */
	CHECK(pc_xfer(c, A, 3, 1, tag++, sizes, 1, 1) == 0, "c -> a before the cut");
	cut = cut_point(c);
	cut_file(c, cut);
	vq = vu_dev_vq(c, 0);
	for (int k = 0; k < 4; k++) {
		i = vu_vq_desc_get(vq);
		REQUIRE(i >= 0, "free RX descriptor");
		vu_vq_desc_write(vq, (unsigned)i,
				 vu_dev_mem(c)->regions[0].gpa + cut + 4096 + (uint64_t)k * 2048, 2048,
				 VU_DESC_F_WRITE, 0);
		vu_vq_avail_push(vq, (uint16_t)i);
	}
	for (uint32_t k = 0; k < 4; k++)
		pc_send1(A, 0, 1, 3, tag, k, 1000);
	tag++;
	expect_broken("c", c, "RX buffer gone");
	CHECK(vu_dev_tx_drain(A, 0, 3000) == 0, "a's frames to the broken port were never completed");
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	struct vu_dev_opts o;
	struct vu_dev *c;
	int fds_before, fds_after;

	vu_test_init("protocol-sigbus", 200);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	A = pc_dev(&d, "a", &o);
	o.name = "B";
	B = pc_dev(&d, "b", &o);
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	vu_test_case("a and b forward before any cut");
	still_forwarding("before the cuts");
	fds_before = vu_daemon_fd_count_settled(&d, -1, 2000);

	case_rings_gone();
	case_tx_buffer_gone();
	case_rx_buffer_gone();

	vu_test_case("no fd left behind by the broken ports");
	fds_after = vu_daemon_fd_count_settled(&d, fds_before, 2000);
	CHECK(fds_after == fds_before, "daemon had %d fds before the cuts, %d after", fds_before,
	      fds_after);

	vu_test_case("a proper frontend on port c works after the cuts");
	pc_opts(&o, "C4");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	CHECK(pc_xfer(A, c, 1, 3, tag++, sizes, 3, 30) == 0, "a -> c");
	CHECK(pc_xfer(c, B, 3, 2, tag++, sizes, 3, 30) == 0, "c -> b");
	pc_check_clean(c);
	vu_dev_free(c);
	pc_check_clean(A);
	pc_check_clean(B);
	vu_dev_free(A);
	vu_dev_free(B);
	return vu_test_finish();
}
