/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The uplink: the daemon's TAP device, seen from the kernel side. The test moves itself into
 * a network namespace of its own (and a mount namespace, for that namespace's /sys) before it
 * starts the daemon, so the TAP exists only there and vanishes with the test. A packet socket
 * on the TAP is "the host network": it reads what the switch sends out of the uplink and
 * sends frames into it.
 *
 * Checked: the device's flags (TAP, no PI, virtio-net header, multi-queue) and queue count,
 * offloads on as documented (tx checksum, TSO: TUNSETOFFLOAD), frames both ways byte-identical at every
 * size, learning on the uplink (unicast to a MAC behind it reaches the TAP only), both TAP
 * queues read, exact counters, a downed link counted as drops and recovered, `port add
 * --tap` / `port del` through the control socket, `--takeover` handing the TAP's queues to a
 * new process (same device, counters kept, frames flowing), and a TAP deleted under the
 * daemon: only the uplink breaks, the guests keep switching, and the daemon makes the device
 * again.
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <inttypes.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto_common.h"

#define TAP "vlbt0"
#define MAC_A 1
#define MAC_HOST 0x50
#define MAC_UNKNOWN 0x99

static const size_t sizes[] = { 60, 61, 333, 1000, 1514 };
static struct vu_daemon d;
static int raw = -1;

static void netns_private(void)
{
	if (geteuid() != 0)
		vu_test_skip("root (a network namespace and a TAP device)");
	if (access("/dev/net/tun", R_OK | W_OK))
		vu_test_skip("/dev/net/tun");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		vu_test_skip("unshare(CLONE_NEWNET | CLONE_NEWNS): %s", strerror(errno));
	/* Our own /sys shows our namespace's interfaces; nothing we mount leaks out. */
	REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "private mounts: %s",
		strerror(errno));
	REQUIRE(mount("sysfs", "/sys", "sysfs", 0, NULL) == 0, "sysfs: %s", strerror(errno));
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static bool read_sys(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, (int)len, f);

	if (f)
		fclose(f);
	return ok;
}

static unsigned count_queues(const char *ifname, const char *prefix)
{
	char path[128];
	struct dirent *e;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(dir);
	return n;
}

static bool ethtool_value(const char *ifname, uint32_t cmd, uint32_t *ret)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	ok = fd >= 0 && ioctl(fd, SIOCETHTOOL, &ifr) == 0;
	if (fd >= 0)
		close(fd);
	*ret = ev.data;
	return ok;
}

static int raw_open(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	if (fd < 0)
		return -errno;
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* The next frame of @tag the TAP received from the switch, verified; its seq or -1. */
static long raw_recv_tag(uint32_t tag, int timeout_ms)
{
	static uint8_t buf[VU_FRAME_MAX];
	int64_t end = vu_now_ms() + timeout_ms;
	struct vu_stamp st;
	char why[128];

	for (;;) {
		struct pollfd pfd = { .fd = raw, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, vu_remaining_ms(end)) <= 0)
			return -1;
		n = recvfrom(raw, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		/* Our own sends show up as outgoing copies: not what the switch sent. */
		if (n < 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (!vu_frame_stamp(buf, (size_t)n, &st) || st.tag != tag)
			continue;
		CHECK(vu_frame_verify(buf, (size_t)n, why, sizeof(why)), "frame on the TAP: %s", why);
		return st.seq;
	}
}

static bool raw_send(uint16_t src, uint16_t dst, uint32_t tag, uint32_t seq, size_t len)
{
	static uint8_t buf[VU_FRAME_MAX];
	uint8_t ms[6], md[6];

	vu_mac(ms, src);
	vu_mac(md, dst);
	vu_frame_build(buf, len, md, ms, tag, seq, (uint16_t)seq);
	return CHECK(send(raw, buf, len, 0) == (ssize_t)len, "send on the TAP: %s", strerror(errno));
}

/* @count frames from guest @from to MAC @dst must all reach the TAP, intact. */
static void guest_to_tap(struct vu_dev *from, uint16_t dst, uint32_t tag, unsigned count)
{
	unsigned got = 0, i = 0;

	while (i < count) {
		unsigned batch = 0;

		for (; i < count && batch < 16; i++, batch++)
			pc_send1(from, 0, MAC_A, dst, tag, i, sizes[i % 5]);
		for (; batch; batch--)
			got += raw_recv_tag(tag, 2000) >= 0;
	}
	CHECK(got == count, "%u of %u frames from %s reached the TAP", got, count,
	      vu_dev_name(from));
}

static bool stats_settle(const char *port, uint64_t rx, uint64_t tx, struct vu_port_stats *s)
{
	int64_t end = vu_now_ms() + 2000;

	for (;;) {
		if (vu_ctl_port_stats(&d, port, s) == 0 && s->rx_packets >= rx && s->tx_packets >= tx)
			return true;
		if (!vu_remaining_ms(end))
			return false;
		(void)poll(NULL, 0, 50);
	}
}

/* Start a second daemon that takes @d's ports over; @d then names the new process. */
static void takeover(void)
{
	const char *bin = getenv("VHOST_LB_BIN");
	int64_t end;
	pid_t pid;

	pid = fork();
	REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(d.log, O_WRONLY | O_APPEND | O_CLOEXEC);

		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, bin, "--socket-dir", d.dir, "--ctl-socket", d.ctl, "--libvirt-uri", "none",
		      "--takeover", (char *)NULL);
		_exit(127);
	}
	vu_test_watch_pid(pid, true);
	end = vu_now_ms() + 10000;
	while (vu_daemon_alive(&d) && vu_remaining_ms(end))
		(void)poll(NULL, 0, 20);
	REQUIRE(!vu_daemon_alive(&d), "the old daemon did not hand over within 10 s");
	CHECK(WIFEXITED(d.status) && WEXITSTATUS(d.status) == 0,
	      "the old daemon ended with status 0x%x after the hand-over", d.status);
	vu_test_watch_pid(d.pid, false);
	d.pid = pid;
	d.ended = false;
	d.status = 0;
}

static const struct vu_queue_stats *queue(const struct vu_port_stats *s, int index)
{
	for (unsigned i = 0; i < s->nqueues; i++)
		if (s->q[i].index == index)
			return &s->q[i];
	return NULL;
}

int main(void)
{
	static const char *const ports[] = { "a", "b", NULL };
	static const char *const extra[] = { "--uplink", "up0,tap=" TAP ",queues=2",
					     "--libvirt-uri", "none", NULL };
	struct vu_port_stats s0, s1;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	char text[256], port[64];
	uint64_t bytes = 0;
	unsigned tagged, frames;
	uint32_t v;
	int r;

	vu_test_init("protocol-uplink", 180);
	netns_private();
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon start: %s", strerror(-r));
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);

	vu_test_case("the TAP: flags, queues, offloads");
	CHECK(vu_ctl_wait_state(&d, "up0", "running", 3000) == 0, "up0 is not running");
	if (CHECK(read_sys("/sys/class/net/" TAP "/tun_flags", text, sizeof(text)), "tun_flags")) {
		unsigned long fl = strtoul(text, NULL, 16);
		unsigned long want = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;

		CHECK((fl & want) == want && !(fl & IFF_TUN), "tun_flags 0x%lx, want 0x%lx set", fl,
		      want);
	}
	CHECK(count_queues(TAP, "rx-") == 2 && count_queues(TAP, "tx-") == 2,
	      "%u rx and %u tx queues, want 2", count_queues(TAP, "rx-"), count_queues(TAP, "tx-"));
	CHECK(ethtool_value(TAP, ETHTOOL_GTXCSUM, &v) && v == 1, "tx-checksumming is %u", v);
	CHECK(ethtool_value(TAP, ETHTOOL_GTSO, &v) && v == 1, "tcp-segmentation-offload is %u", v);
	/* Quiet: no router solicitations or MLD reports of the kernel's own among our frames. */
	CHECK(sh("echo 1 > /proc/sys/net/ipv6/conf/" TAP "/disable_ipv6") == 0, "disable_ipv6");
	CHECK(sh("ip link set " TAP " up") == 0, "ip link set up");
	raw = raw_open(TAP);
	REQUIRE(raw >= 0, "packet socket on " TAP ": %s", strerror(-raw));

	vu_test_case("guest -> unknown MAC: flooded to the TAP, every size intact");
	guest_to_tap(a, MAC_UNKNOWN, 700, 300);
	vu_traffic_absorb(b, 200, 700, &frames, &tagged);
	vu_test_note("B got %u flooded copies", tagged);

	vu_test_case("TAP -> guest: learned, delivered intact, both TAP queues read");
	{
		static bool seen[300];
		unsigned got = 0, dup = 0;

		for (unsigned i = 0; i < 300;) {
			unsigned batch = 0;

			for (; i < 300 && batch < 16; i++, batch++) {
				raw_send(MAC_HOST, MAC_A, 701, i, sizes[i % 5]);
				bytes += sizes[i % 5];
			}
			for (; batch; batch--) {
				long seq = pc_recv_tag(a, 701, 2000, NULL);

				if (seq < 0 || seq >= 300)
					continue;
				dup += seen[seq];
				got += !seen[seq];
				seen[seq] = true;
			}
		}
		CHECK(got == 300 && !dup, "A got %u of 300 frames from the TAP (%u twice)", got, dup);
		vu_traffic_absorb(b, 300, 701, &frames, &tagged);
		CHECK(tagged == 0, "B got %u unicast frames meant for A", tagged);
		CHECK(vu_ctl_fdb_lookup(&d, "02:00:00:00:00:50", port, sizeof(port)) == 0 &&
		      strcmp(port, "up0") == 0, "fdb: 02:00:00:00:00:50 on '%s', want up0", port);
	}

	vu_test_case("guest -> MAC learned on the uplink: the TAP only");
	guest_to_tap(a, MAC_HOST, 702, 100);
	vu_traffic_absorb(b, 300, 702, &frames, &tagged);
	CHECK(tagged == 0, "B got %u frames meant for the uplink", tagged);

	vu_test_case("counters of the uplink port");
	if (CHECK(stats_settle("up0", 300, 400, &s0), "up0 counters did not settle")) {
		const struct vu_queue_stats *q1 = queue(&s0, 1), *q3 = queue(&s0, 3);
		uint64_t want_tx_bytes = 0;

		for (unsigned i = 0; i < 300; i++)
			want_tx_bytes += sizes[i % 5];
		for (unsigned i = 0; i < 100; i++)
			want_tx_bytes += sizes[i % 5];
		CHECK(s0.tx_packets == 400 && s0.tx_bytes == want_tx_bytes,
		      "to the TAP: %" PRIu64 " frames %" PRIu64 " bytes, want 400 / %" PRIu64,
		      s0.tx_packets, s0.tx_bytes, want_tx_bytes);
		CHECK(s0.rx_packets >= 300 && s0.rx_bytes >= bytes,
		      "from the TAP: %" PRIu64 " frames %" PRIu64 " bytes, want >= 300 / %" PRIu64,
		      s0.rx_packets, s0.rx_bytes, bytes);
		CHECK(s0.drops == 0, "drops: %s", s0.drop_reasons);
		CHECK(s0.nqueues == 4, "%u queues listed, want 4", s0.nqueues);
		CHECK(q1 && q3 && q1->packets && q3->packets,
		      "frames read from TAP queue 0: %" PRIu64 ", queue 1: %" PRIu64,
		      q1 ? q1->packets : 0, q3 ? q3->packets : 0);
	}

	vu_test_case("link down: frames to the TAP are counted as drops; up again: they flow");
	CHECK(sh("ip link set " TAP " down") == 0, "ip link set down");
	for (unsigned i = 0; i < 20; i++)
		pc_send1(a, 0, MAC_A, MAC_HOST, 703, i, 100);
	{
		int64_t end = vu_now_ms() + 2000;

		do {
			(void)poll(NULL, 0, 50);
			r = vu_ctl_port_stats(&d, "up0", &s1);
		} while (vu_remaining_ms(end) && (r || s1.drops < 20));
		CHECK(s1.drops == 20 && strstr(s1.drop_reasons, "queue_down=20"),
		      "drops after 20 frames to a downed TAP: %s", s1.drop_reasons);
	}
	CHECK(sh("ip link set " TAP " up") == 0, "ip link set up");
	guest_to_tap(a, MAC_HOST, 704, 20);

	vu_test_case("control socket: port add --tap, refusals, port del");
	{
		static const char *const add[] = { "port", "add", "up1", "--tap", "vlbt1", "--queues",
						   "3", NULL };
		static const char *const dup[] = { "port", "add", "up2", "--tap", "vlbt1", NULL };
		static const char *const bad[] = { "port", "add", "up3", "--tap", "a/b", NULL };
		static const char *const path[] = { "port", "add", "up4", "--tap", "vlbt4", "--path",
						    "/tmp/x.sock", NULL };
		static const char *const del[] = { "port", "del", "up1", NULL };
		/* A name cannot carry options of its own into the port spec. */
		static const char *const smuggle[] = { "port", "add", "up5,type=tap,tap=vlbt5", NULL };

		CHECK(vu_ctl_run(&d, false, NULL, add) == 0, "port add up1 --tap vlbt1");
		CHECK(count_queues("vlbt1", "rx-") == 3, "vlbt1 has %u queues, want 3",
		      count_queues("vlbt1", "rx-"));
		CHECK(vu_ctl_wait_state(&d, "up1", "running", 2000) == 0, "up1 is not running");
		CHECK(vu_ctl_run(&d, false, NULL, dup) != 0, "a second port on vlbt1 was accepted");
		CHECK(vu_ctl_run(&d, false, NULL, bad) != 0, "TAP name 'a/b' was accepted");
		CHECK(vu_ctl_run(&d, false, NULL, path) != 0, "a TAP port with a socket path");
		CHECK(access("/sys/class/net/vlbt4", F_OK) != 0, "vlbt4 was created anyway");
		CHECK(vu_ctl_run(&d, false, NULL, smuggle) != 0 &&
		      access("/sys/class/net/vlbt5", F_OK) != 0, "options smuggled in a port name");
		CHECK(vu_ctl_run(&d, false, NULL, del) == 0, "port del up1");
		CHECK(access("/sys/class/net/vlbt1", F_OK) != 0, "vlbt1 outlived its port");
	}

	vu_test_case("--takeover: the TAP's queues go to the new process, nothing else changes");
	{
		char ifindex0[32] = "", ifindex1[32] = "";
		struct vu_port_stats before, after;

		CHECK(read_sys("/sys/class/net/" TAP "/ifindex", ifindex0, sizeof(ifindex0)), "ifindex");
		REQUIRE(vu_ctl_port_stats(&d, "up0", &before) == 0, "stats up0");
		takeover();
		CHECK(vu_ctl_wait_state(&d, "up0", "running", 5000) == 0, "up0 not running after take-over");
		CHECK(read_sys("/sys/class/net/" TAP "/ifindex", ifindex1, sizeof(ifindex1)) &&
		      strcmp(ifindex0, ifindex1) == 0, "the TAP is the same device: ifindex %s -> %s",
		      ifindex0, ifindex1);
		CHECK(count_queues(TAP, "rx-") == 2, "the TAP still has 2 queues: %u",
		      count_queues(TAP, "rx-"));
		CHECK(vu_ctl_port_stats(&d, "up0", &after) == 0 && after.tx_packets >= before.tx_packets &&
		      after.rx_packets >= before.rx_packets && after.tx_packets,
		      "counters carried over: tx %" PRIu64 " -> %" PRIu64 ", rx %" PRIu64 " -> %" PRIu64,
		      before.tx_packets, after.tx_packets, before.rx_packets, after.rx_packets);
		guest_to_tap(a, MAC_HOST, 706, 50);
		for (unsigned i = 0; i < 50; i++)
			raw_send(MAC_HOST, MAC_A, 707, i, sizes[i % 5]);
		for (tagged = 0; pc_recv_tag(a, 707, 2000, NULL) >= 0 && tagged < 50;)
			tagged++;
		CHECK(tagged == 50, "A got %u of 50 frames from the TAP after the take-over", tagged);
	}

	vu_test_case("TAP deleted under the daemon: the uplink breaks, the guests carry on");
	CHECK(sh("ip link del " TAP) == 0, "ip link del");
	/* Guests: unknown-MAC floods now also try the dead uplink; A <-> B keeps working. */
	pc_xfer(a, b, MAC_A, 2, 705, sizes, 5, 100);
	{
		/* Its state reads "broken" only until the daemon has made the device again. */
		int64_t end = vu_now_ms() + 3000;
		char *log, *all = NULL;
		size_t len = 0;

		do {
			(void)poll(NULL, 0, 20);
			log = vu_daemon_log_new(&d);
			all = realloc(all, len + strlen(log) + 1);
			REQUIRE(all, "realloc");
			strcpy(all + len, log);
			len += strlen(log);
			free(log);
		} while (!strstr(all, "TAP " TAP " failed") && vu_remaining_ms(end));
		CHECK(strstr(all, "TAP " TAP " failed") != NULL, "no log line: the uplink did not break");
		free(all);
	}
	CHECK(vu_daemon_alive(&d), "the daemon died");

	vu_test_case("... and the daemon makes the TAP again: frames flow both ways once it is up");
	CHECK(vu_ctl_wait_state(&d, "up0", "running", 3000) == 0, "up0 not running again");
	CHECK(count_queues(TAP, "rx-") == 2 && count_queues(TAP, "tx-") == 2,
	      "the new %s: %u rx and %u tx queues, want 2", TAP, count_queues(TAP, "rx-"),
	      count_queues(TAP, "tx-"));
	CHECK(sh("ip link set " TAP " up") == 0, "ip link set up");
	close(raw);
	raw = raw_open(TAP);
	REQUIRE(raw >= 0, "packet socket on the new %s", TAP);
	guest_to_tap(a, MAC_HOST, 708, 20);
	for (unsigned i = 0; i < 20; i++)
		raw_send(MAC_HOST, MAC_A, 709, i, sizes[i % 5]);
	for (tagged = 0; tagged < 20 && pc_recv_tag(a, 709, 2000, NULL) >= 0;)
		tagged++;
	CHECK(tagged == 20, "A got %u of 20 frames from the new TAP", tagged);

	pc_check_clean(a);
	pc_check_clean(b);
	vu_dev_free(a);
	vu_dev_free(b);
	close(raw);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
