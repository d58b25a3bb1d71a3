/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-test of the frontend library against an independent vhost-user backend: DPDK's
 * vhost PMD in dpdk-testpmd, io forwarding between its two ports. When a protocol test fails
 * against our daemon, this passing says the frontend side is right.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vu_frame.h"
#include "vu_frontend.h"
#include "vu_harness.h"

static char dir[64], s0[96], s1[96], logpath[96];
static pid_t pmd;
static int pmd_stdin = -1;

static const char *testpmd_path(void)
{
	static const char *const cands[] = { "/usr/bin/dpdk-testpmd", "/usr/local/bin/dpdk-testpmd" };
	unsigned i;

	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (!access(cands[i], X_OK))
			return cands[i];
	return NULL;
}

static void start_testpmd(unsigned queues)
{
	const char *bin = testpmd_path();
	char v0[160], v1[160], pfx[32], q[16], rxq[16], txq[16];
	int pfd[2];

	if (!bin)
		vu_test_skip("dpdk-testpmd not installed (Debian package dpdk)");
	snprintf(v0, sizeof(v0), "net_vhost0,iface=%s,queues=%u", s0, queues);
	snprintf(v1, sizeof(v1), "net_vhost1,iface=%s,queues=%u", s1, queues);
	snprintf(pfx, sizeof(pfx), "vuself%d", (int)getpid());
	snprintf(q, sizeof(q), "%u", queues);
	snprintf(rxq, sizeof(rxq), "--rxq=%u", queues);
	snprintf(txq, sizeof(txq), "--txq=%u", queues);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		vu_test_skip("pipe: %s", strerror(errno));
	pmd = fork();
	if (pmd == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[0], 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "-l", "0,1", "--no-pci", "--no-huge", "-m", "256", "--file-prefix",
		      pfx, "--vdev", v0, "--vdev", v1, "--", "-i", "--auto-start", "--nb-cores=1",
		      "--forward-mode=io", "--total-num-mbufs=16384", rxq, txq, (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	pmd_stdin = pfd[1];
	vu_test_watch_pid(pmd, true);
	for (int i = 0; i < 1500 && (access(s0, F_OK) || access(s1, F_OK)); i++)
		(void)poll(NULL, 0, 20);
	REQUIRE(!access(s0, F_OK) && !access(s1, F_OK), "testpmd did not create its sockets (%s)",
		logpath);
}

static void stop_testpmd(void)
{
	int st, i;

	if (pmd <= 0)
		return;
	if (write(pmd_stdin, "quit\n", 5) != 5)
		kill(pmd, SIGTERM);
	close(pmd_stdin);
	for (i = 0; i < 500 && waitpid(pmd, &st, WNOHANG) == 0; i++)
		(void)poll(NULL, 0, 10);
	if (i == 500) {
		kill(pmd, SIGKILL);
		waitpid(pmd, &st, 0);
	}
	vu_test_watch_pid(pmd, false);
	pmd = 0;
	unlink(s0);
	unlink(s1);
}

struct cfg {
	const char *name;
	uint64_t drop_features;
	unsigned layout, segs;
	unsigned regions;
	uint64_t mmap_offset;
	uint16_t ring_base;
	unsigned ring_size;
	unsigned rx_segs;
	bool use_add_mem_reg;
};

static const size_t sizes[] = { 60, 61, 64, 65, 128, 255, 256, 511, 512, 777, 1000, 1024, 1280,
				1499, 1500, 1513, 1514 };

static void run_cfg(const struct cfg *c)
{
	struct vu_dev_opts o;
	struct vu_dev *a = NULL, *b = NULL;
	uint8_t ma[6], mb[6];
	struct vu_traffic t = { 0 };
	uint16_t bases[2];
	int r;

	vu_test_case("dpdk %s", c->name);
	vu_dev_opts_init(&o);
	o.features &= ~c->drop_features;
	o.mem_regions = c->regions ? c->regions : 1;
	o.mmap_offset = c->mmap_offset;
	o.ring_base = c->ring_base;
	o.use_add_mem_reg = c->use_add_mem_reg;
	if (c->ring_size)
		o.ring_size = c->ring_size;
	if (c->rx_segs)
		o.rx_buf_segs = c->rx_segs;
	o.name = "A";
	r = vu_dev_connect(s0, &o, 5000, &a);
	REQUIRE(r == 0, "connect A: %s", strerror(-r));
	o.name = "B";
	r = vu_dev_connect(s1, &o, 5000, &b);
	REQUIRE(r == 0, "connect B: %s", strerror(-r));
	r = vu_dev_start(a);
	if (!CHECK(r == 0, "start A: %s", strerror(-r)))
		goto out;
	r = vu_dev_start(b);
	if (!CHECK(r == 0, "start B: %s", strerror(-r)))
		goto out;
	vu_test_note("negotiated features 0x%llx protocol 0x%llx (backend 0x%llx / 0x%llx)",
		     (unsigned long long)vu_dev_features(a),
		     (unsigned long long)vu_dev_protocol_features(a),
		     (unsigned long long)vu_dev_backend_features(a),
		     (unsigned long long)vu_dev_backend_protocol_features(a));
	vu_mac(ma, 1);
	vu_mac(mb, 2);
	/* testpmd forwards only once it saw both links up, a little after the handshake */
	CHECK(vu_traffic_probe(a, b, mb, ma, 5000), "A -> B never forwarded");
	CHECK(vu_traffic_probe(b, a, ma, mb, 5000), "B -> A never forwarded");
	t.dst = mb;
	t.src = ma;
	t.tag = 1;
	t.sizes = sizes;
	t.nsizes = sizeof(sizes) / sizeof(sizes[0]);
	t.count = 600;
	t.layout = c->layout;
	t.segs = c->segs;
	t.batch = 48;
	vu_traffic_run(a, b, &t);
	CHECK(t.received == t.count, "A->B %u of %u", t.received, t.count);
	t.dst = ma;
	t.src = mb;
	t.tag = 2;
	vu_traffic_run(b, a, &t);
	CHECK(t.received == t.count, "B->A %u of %u", t.received, t.count);
	{
		struct vu_dev_stats sa, sb;

		vu_dev_get_stats(a, &sa);
		vu_dev_get_stats(b, &sb);
		CHECK(!sa.hdr_violations && !sb.hdr_violations, "header violations %llu/%llu",
		      (unsigned long long)sa.hdr_violations, (unsigned long long)sb.hdr_violations);
		CHECK(!sa.bad_used && !sb.bad_used, "bad used entries");
		CHECK(!sa.missed_calls && !sb.missed_calls, "missed calls %llu/%llu",
		      (unsigned long long)sa.missed_calls, (unsigned long long)sb.missed_calls);
	}
	r = vu_dev_tx_drain(a, 0, 2000);
	CHECK(r == 0, "drain A");
	r = vu_dev_stop(a, bases);
	if (CHECK(r == 0, "GET_VRING_BASE A: %s", strerror(-r))) {
		struct vu_dev_stats sa;

		vu_dev_get_stats(a, &sa);
		CHECK(bases[1] == (uint16_t)(c->ring_base + sa.tx_frames), "TX base %u, expected %u",
		      bases[1], (uint16_t)(c->ring_base + sa.tx_frames));
	}
out:
	vu_dev_free(a);
	vu_dev_free(b);
}

int main(void)
{
	static const struct cfg cfgs[] = {
		{ .name = "default (mrg, event_idx, single desc)" },
		{ .name = "no mrg, no event_idx, header split",
		  .drop_features = VU_BIT(VIRTIO_NET_F_MRG_RXBUF) | VU_BIT(VIRTIO_RING_F_EVENT_IDX),
		  .layout = VU_TX_HDR_SPLIT },
		{ .name = "scatter 5", .layout = VU_TX_SCATTER, .segs = 5 },
		{ .name = "indirect 4", .layout = VU_TX_INDIRECT, .segs = 4 },
		{ .name = "3 regions, mmap_offset, ring wrap", .regions = 3,
		  .mmap_offset = 2 << 20, .ring_base = 65500 },
		{ .name = "no mrg, rx chains of 3, ring 64",
		  .drop_features = VU_BIT(VIRTIO_NET_F_MRG_RXBUF), .rx_segs = 3, .ring_size = 64 },
	};
	unsigned i;

	vu_test_init("selftest-dpdk", 240);
	snprintf(dir, sizeof(dir), "/tmp/vuself-XXXXXX");
	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(s0, sizeof(s0), "%s/s0", dir);
	snprintf(s1, sizeof(s1), "%s/s1", dir);
	snprintf(logpath, sizeof(logpath), "%s/testpmd.log", dir);
	for (i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		start_testpmd(1);
		run_cfg(&cfgs[i]);
		stop_testpmd();
	}
	if (vu_test_failures())
		fprintf(stderr, "testpmd log: %s\n", logpath);
	return vu_test_finish();
}
