// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * [limits] through the real daemon: every limit a peer can reach is hit by that peer (a
 * frontend, guest traffic, a control client), and each time the request is refused, the
 * counter in `status` and in the metrics goes up, the log names the peer, the other ports keep
 * forwarding, and the daemon's fd count does not grow.
 */
#include <json-c/json.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lb/lb.h"
#include "proto_common.h"
#include "test_lb_frames.h"

#define VIP 0x0a090064u          /* 10.9.0.100 */
#define CLIENT_IP 0x0a090001u
#define VIP_TEXT "10.9.0.100:80/tcp"

static const size_t sizes[] = { 60, 512, 1514 };
static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct limit_state {
	uint64_t max, hits, in_use;
};

static bool limit_state(struct vu_daemon *d, const char *name, struct limit_state *ret)
{
	static const char *const status[] = { "status", NULL };
	struct json_object *o, *limits, *l, *v;
	bool ok = false;

	memset(ret, 0, sizeof(*ret));
	if (vu_ctl_json(d, &o, status))
		return false;
	if (json_object_object_get_ex(o, "limits", &limits) &&
	    json_object_object_get_ex(limits, name, &l)) {
		ok = json_object_object_get_ex(l, "max", &v) && (ret->max = json_object_get_uint64(v), true) &&
		     json_object_object_get_ex(l, "hits", &v) && (ret->hits = json_object_get_uint64(v), true);
		if (json_object_object_get_ex(l, "in_use", &v))
			ret->in_use = json_object_get_uint64(v);
	}
	json_object_put(o);
	return ok;
}

static uint64_t hits(struct vu_daemon *d, const char *name)
{
	struct limit_state s;

	CHECK(limit_state(d, name, &s), "status has limits.%s", name);
	return s.hits;
}

/*
 * The daemon's log gets a line containing both @a and @b within @ms. Text after the matching
 * line stays for the next call.
 */
static bool log_has(struct vu_daemon *d, const char *a, const char *b, int ms)
{
	static char *seen;
	int64_t deadline = vu_now_ms() + ms;

	for (;;) {
		char *n = vu_daemon_log_new(d), *all, *line;

		int ok = asprintf(&all, "%s%s", seen ? seen : "", n);

		REQUIRE(ok >= 0, "asprintf");
		free(n);
		free(seen);
		seen = all;
		for (line = seen; *line;) {
			char *end = strchr(line, '\n');
			size_t len = end ? (size_t)(end - line) : strlen(line);
			char *copy = strndup(line, len);
			bool hit = copy && strstr(copy, a) && strstr(copy, b);

			free(copy);
			if (hit) {
				memmove(seen, line + len, strlen(line + len) + 1);
				return true;
			}
			line += len + (end ? 1 : 0);
		}
		if (vu_now_ms() > deadline)
			return false;
		usleep(50000);
	}
}

static int ctl_connect(struct vu_daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (strlen(d->ctl) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, d->ctl, strlen(d->ctl) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One line from @fd within @ms into @buf (NUL-terminated); its length, or -1. */
static int read_line(int fd, char *buf, size_t cap, int ms)
{
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) <= 0)
			break;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n'))
			return (int)len;
	}
	buf[len] = '\0';
	return len ? (int)len : -1;
}

static void write_config(const char *path, const char *extra)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f, "write %s", path);
	fprintf(f, "[daemon]\nworkers = 0\n[limits]\nmax-ports = 4\nmax-queue-pairs = 2\n"
		   "max-mem-regions = 4\nmax-fdb-entries = 16\nmax-flows = 16\nmax-ctl-clients = 3\n"
		   "max-ctl-request-bytes = 1024\n%s[port a]\n[port b]\n[port c]\n", extra);
	fclose(f);
}

/* A frontend on @port whose memory is @regions regions, sent as ADD_MEM_REG or SET_MEM_TABLE. */
static int start_with_regions(struct vu_daemon *d, const char *port, unsigned regions, bool add,
			      struct vu_dev **ret)
{
	struct vu_dev_opts o;
	char sock[256];
	int r;

	pc_opts(&o, "C");
	o.mem_regions = regions;
	o.use_add_mem_reg = add;
	o.need_reply = true;
	r = vu_dev_connect(vu_daemon_sock(d, port, sock, sizeof(sock)), &o, PC_CONNECT_MS, ret);
	if (r)
		return r;
	r = vu_dev_start(*ret);
	return r;
}

static void mem_regions(struct vu_daemon *d, struct vu_dev *a, struct vu_dev *b)
{
	struct vu_dev *c = NULL;
	uint64_t before = hits(d, "mem-regions");
	char state[32];
	int r;

	vu_test_case("a frontend is told max-mem-regions, and a fifth region is refused");
	r = start_with_regions(d, "c", 5, true, &c);
	CHECK(c && vu_dev_backend_mem_slots(c) == 4, "GET_MAX_MEM_SLOTS says 4 (got %llu)",
	      c ? (unsigned long long)vu_dev_backend_mem_slots(c) : 0ull);
	CHECK(r != 0, "the start with 5 regions through ADD_MEM_REG failed");
	CHECK(c && vu_conn_wait_closed(vu_dev_conn(c), 3000) == 0, "the daemon hung up");
	CHECK(hits(d, "mem-regions") == before + 1, "limits.mem-regions.hits +1");
	CHECK(log_has(d, "port 'c': ADD_MEM_REG of region 5", "max-mem-regions = 4", 2000),
	      "the log names the port and the limit");
	vu_dev_free(c);
	c = NULL;

	vu_test_case("a SET_MEM_TABLE with more regions than max-mem-regions is refused");
	r = start_with_regions(d, "c", 6, false, &c);
	CHECK(r != 0, "the start with 6 regions through SET_MEM_TABLE failed");
	CHECK(hits(d, "mem-regions") == before + 2, "limits.mem-regions.hits +1");
	CHECK(log_has(d, "port 'c': SET_MEM_TABLE with 6 regions", "max-mem-regions", 2000),
	      "the log names the port and the limit");
	vu_dev_free(c);
	c = NULL;
	CHECK(pc_xfer(a, b, 1, 2, 0x200, sizes, 3, 100) == 0, "A -> B never noticed");
	CHECK(vu_ctl_port_state(d, "a", state, sizeof(state)) == 0 && strcmp(state, "running") == 0,
	      "port a still running");

	vu_test_case("exactly max-mem-regions regions work");
	r = start_with_regions(d, "c", 4, true, &c);
	CHECK(r == 0, "4 regions through ADD_MEM_REG: %s", strerror(-r));
	if (r == 0) {
		pc_wait_running(d, "c");
		CHECK(pc_xfer(a, c, 1, 3, 0x201, sizes, 3, 50) == 0, "A -> C over 4 regions");
	}
	CHECK(hits(d, "mem-regions") == before + 2, "no hit counted");
	vu_dev_free(c);
	(void)vu_ctl_wait_state(d, "c", "listening|broken", 3000);
}

static void queue_pairs(struct vu_daemon *d)
{
	static const char *const add[] = { "port", "add", "q", "--queues", "4", NULL };
	struct vu_dev_opts o;
	struct vu_dev *c = NULL;
	uint64_t before = hits(d, "queue-pairs");
	char sock[256], *out = NULL;
	int r;

	vu_test_case("a port asking for more than max-queue-pairs is refused");
	r = vu_ctl_run(d, true, &out, add);
	CHECK(r != 0 && out && strstr(out, "max-queue-pairs"), "port add --queues 4: %s", out ? out : "");
	free(out);
	CHECK(hits(d, "queue-pairs") == before + 1, "limits.queue-pairs.hits +1");
	CHECK(log_has(d, "control client pid=", "max-queue-pairs = 2", 2000),
	      "the log names the control client");

	vu_test_case("a frontend starting a queue pair beyond those offered is dropped");
	/* Port c offers 2 (the default 8, capped by max-queue-pairs): GET_QUEUE_NUM says so. */
	pc_opts(&o, "C");
	o.queue_pairs = 2;
	r = vu_dev_connect(vu_daemon_sock(d, "c", sock, sizeof(sock)), &o, PC_CONNECT_MS, &c);
	REQUIRE(r == 0, "connect c");
	r = vu_dev_start(c);
	CHECK(r == 0 && vu_dev_backend_queue_num(c) == 2, "GET_QUEUE_NUM 2 (got %llu), started",
	      (unsigned long long)vu_dev_backend_queue_num(c));
	if (r == 0) {
		/* TX ring 5, of a third queue pair: it would run once numbered, addressed, kicked. */
		struct vu_vring_addr va = { .index = 5 };
		struct vu_vring_state st = { .index = 5, .num = 256 };
		uint64_t kick = 5;
		int efd = vu_vq_kick_fd(vu_dev_vq(c, 1));

		vu_conn_send(vu_dev_conn(c), VU_SET_VRING_NUM, 0, &st, sizeof(st), NULL, 0);
		vu_conn_send(vu_dev_conn(c), VU_SET_VRING_ADDR, 0, &va, sizeof(va), NULL, 0);
		vu_conn_send(vu_dev_conn(c), VU_SET_VRING_KICK, 0, &kick, sizeof(kick), &efd, 1);
		CHECK(vu_conn_wait_closed(vu_dev_conn(c), 3000) == 0, "the daemon hung up");
		CHECK(hits(d, "queue-pairs") == before + 2, "limits.queue-pairs.hits +1");
		CHECK(log_has(d, "port 'c': vq=5 is beyond the 2 queue pairs offered",
			      "max-queue-pairs = 2", 2000), "the log names the port and the ring");
	}
	vu_dev_free(c);
	(void)vu_ctl_wait_state(d, "c", "listening|broken", 3000);
}

static void ports(struct vu_daemon *d)
{
	static const char *const add_d[] = { "port", "add", "d", NULL };
	static const char *const add_e[] = { "port", "add", "e", NULL };
	static const char *const del_d[] = { "port", "del", "d", NULL };
	uint64_t before = hits(d, "ports");
	struct limit_state s;
	char *out = NULL;
	int r;

	vu_test_case("port add beyond max-ports is refused");
	CHECK(vu_ctl_run(d, false, NULL, add_d) == 0, "a fourth port fits");
	r = vu_ctl_run(d, true, &out, add_e);
	CHECK(r != 0 && out && strstr(out, "too many ports"), "a fifth is refused: %s", out ? out : "");
	free(out);
	CHECK(limit_state(d, "ports", &s) && s.hits == before + 1 && s.in_use == 4 && s.max == 4,
	      "limits.ports: hits +1, in use 4 of 4");
	CHECK(log_has(d, "control client pid=", "port add 'e': refused, limit max-ports = 4", 2000),
	      "the log names the control client and the port");
	CHECK(vu_ctl_run(d, false, NULL, del_d) == 0, "port del d");
}

static void ctl_clients(struct vu_daemon *d)
{
	static const char *const status[] = { "status", NULL };
	uint64_t before = hits(d, "ctl-clients");
	int fds[3], extra, r = -1;
	char line[512];

	vu_test_case("control connections beyond max-ctl-clients are refused");
	for (int i = 0; i < 3; i++)
		fds[i] = ctl_connect(d);
	CHECK(fds[0] >= 0 && fds[1] >= 0 && fds[2] >= 0, "three idle connections");
	/* Let the daemon accept all three before the fourth comes. */
	usleep(100000);
	extra = ctl_connect(d);
	CHECK(extra >= 0 && read_line(extra, line, sizeof(line), 2000) > 0 &&
	      strstr(line, "\"ok\":false") && strstr(line, "max-ctl-clients"),
	      "the fourth gets a JSON error: %s", line);
	CHECK(extra >= 0 && read_line(extra, line, sizeof(line), 2000) < 0, "and is closed");
	if (extra >= 0)
		close(extra);
	CHECK(vu_ctl_run(d, false, NULL, status) != 0, "vhost-user-lbctl is refused too");
	CHECK(log_has(d, "control client pid=", "max-ctl-clients = 3", 2000), "the log names it");
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (int i = 0; i < 40 && r != 0; i++) {
		r = vu_ctl_run(d, false, NULL, status);
		if (r)
			usleep(50000);
	}
	CHECK(r == 0, "once they are gone, clients are served again");
	CHECK(hits(d, "ctl-clients") == before + 2, "limits.ctl-clients.hits +2");

	vu_test_case("a request longer than max-ctl-request-bytes is refused");
	before = hits(d, "ctl-request-bytes");
	extra = ctl_connect(d);
	REQUIRE(extra >= 0, "connect");
	{
		char big[2000];

		memset(big, ' ', sizeof(big));
		memcpy(big, "{\"cmd\":\"status\",\"x\":\"", 21);
		CHECK(send(extra, big, sizeof(big), MSG_NOSIGNAL) == (ssize_t)sizeof(big), "send 2000 bytes");
	}
	CHECK(read_line(extra, line, sizeof(line), 2000) > 0 && strstr(line, "\"ok\":false") &&
	      strstr(line, "max-ctl-request-bytes"), "a JSON error: %s", line);
	close(extra);
	CHECK(hits(d, "ctl-request-bytes") == before + 1, "limits.ctl-request-bytes.hits +1");
	CHECK(log_has(d, "a request of over 1024 bytes", "max-ctl-request-bytes", 2000), "logged");
}

static void fdb(struct vu_daemon *d, struct vu_dev *a, struct vu_dev *b)
{
	struct limit_state s;
	unsigned sent = 0;

	vu_test_case("a guest spraying source MACs fills the MAC table; learning stops, flooding goes on");
	/* B is known first: 02::2. */
	CHECK(pc_xfer(b, a, 2, 1, 0x300, sizes, 1, 1) == 0, "B -> A");
	for (uint16_t m = 0x100; m < 0x120; m++) {
		sent += pc_send1(a, 0, m, 2, 0x301, m, 60);
		(void)pc_recv_tag(b, 0x301, 1000, NULL);
	}
	CHECK(sent == 32, "32 frames from 32 source MACs");
	CHECK(limit_state(d, "fdb-entries", &s) && s.in_use == 16 && s.hits >= 16,
	      "16 MACs learned, the others refused (in use %llu, hits %llu)",
	      (unsigned long long)s.in_use, (unsigned long long)s.hits);
	CHECK(log_has(d, "port 'a':", "max-fdb-entries = 16", 3000),
	      "the log names the port that filled it");
	/* 02::11f was not learned: a frame to it is flooded, so A still gets it. */
	CHECK(pc_send1(b, 0, 2, 0x11f, 0x302, 1, 60) && pc_recv_tag(a, 0x302, 2000, NULL) == 1,
	      "a frame to an unlearned MAC is flooded and arrives");
	CHECK(pc_xfer(b, a, 2, 1, 0x303, sizes, 3, 50) == 0 && pc_xfer(a, b, 1, 2, 0x304, sizes, 3, 50) == 0,
	      "learned MACs still forward");
}

static void flows(struct vu_daemon *d, struct vu_dev *a, struct vu_dev *b)
{
	static const char *const add_vip[] = { "vip", "add", VIP_TEXT, NULL };
	const char *add_be[] = { "vip", "backend", "add", VIP_TEXT, "mac=02:00:00:00:00:02,ip=10.9.0.11", NULL };
	static uint8_t buf[2048];
	struct limit_state s;
	unsigned got = 0;

	vu_test_case("new flows beyond max-flows are dropped and counted");
	CHECK(vu_ctl_run(d, false, NULL, add_vip) == 0, "vip add");
	CHECK(vu_ctl_run(d, false, NULL, add_be) == 0, "backend B");
	/* The backend takes flows once bound to B's port (the services tick, every 100 ms). */
	for (int i = 0; i < 50; i++) {
		static const char *const show[] = { "vip", "show", NULL };
		char *out = NULL;
		bool up;

		vu_ctl_run(d, true, &out, show);
		up = out && (strstr(out, "\"state\":\"up\"") || strstr(out, "\"state\": \"up\""));
		free(out);
		if (up)
			break;
		usleep(50000);
	}
	for (uint16_t port = 30000; port < 30024; port++) {
		struct tf_spec t = { .saddr = CLIENT_IP, .daddr = VIP, .proto = 6, .sport = port,
				     .dport = 80, .tcp_flags = 0x02, .payload = 10, .seed = port };
		uint32_t len;

		memcpy(t.dmac, vmac, 6);
		vu_mac(t.smac, 1);
		len = tf_build(buf, &t);
		CHECK(vu_dev_send(a, 0, buf, len, NULL, 2000) == 0, "SYN %u", port);
	}
	for (int i = 0; i < 24; i++)
		if (vu_dev_recv(b, VU_ANY_QP, buf, sizeof(buf), 300, NULL) > 0)
			got++;
	CHECK(got == 16, "16 new flows reached the backend (%u)", got);
	CHECK(limit_state(d, "flows", &s) && s.in_use == 16 && s.hits == 8 && s.max == 16,
	      "limits.flows: 16 in use, 8 hits (got %llu, %llu)", (unsigned long long)s.in_use,
	      (unsigned long long)s.hits);
	CHECK(log_has(d, "new load-balanced flows dropped", "port 'a':", 3000),
	      "the log names the port");
}

static void metrics(struct vu_daemon *d)
{
	char *out;

	vu_test_case("the metrics endpoint has every limit and its hits");
	out = vu_daemon_metrics(d);
	REQUIRE(out, "GET /metrics");
	CHECK(strstr(out, "vulb_limit{limit=\"ports\"} 4\n"), "vulb_limit ports 4");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"ports\"} 1\n"), "ports hit once");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"queue-pairs\"} 2\n"), "queue-pairs hit twice");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"mem-regions\"} 2\n"), "mem-regions hit twice");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"ctl-clients\"} 2\n"), "ctl-clients hit twice");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"ctl-request-bytes\"} 1\n"), "request bytes once");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"flows\"} 8\n"), "flows hit 8 times");
	CHECK(strstr(out, "vulb_limit_hits_total{limit=\"fdb-entries\"} "), "fdb-entries");
	CHECK(strstr(out, "vulb_ctl_refused_total 0\n"), "vulb_ctl_refused_total");
	free(out);
}

static void reload(struct vu_daemon *d, const char *cfg)
{
	static const char *const rl[] = { "reload", NULL };
	struct limit_state s;

	vu_test_case("a reload changes the limits it can; max-flows waits for a restart");
	write_config(cfg, "max-ports = 8\nmax-flows = 32\n");
	CHECK(vu_ctl_run(d, false, NULL, rl) == 0, "reload");
	CHECK(limit_state(d, "ports", &s) && s.max == 8, "max-ports is 8 now (%llu)",
	      (unsigned long long)s.max);
	CHECK(limit_state(d, "flows", &s) && s.max == 16, "max-flows stays 16 (%llu)",
	      (unsigned long long)s.max);
	CHECK(log_has(d, "max-flows stays 16 until a restart", "", 2000), "said so in the log");
}

int main(void)
{
	const char *extra[] = { "-c", NULL, "--libvirt-uri", "none", NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	char cfg[128];
	int r, fds0, fds1;

	vu_test_init("limits", 150);
	snprintf(cfg, sizeof(cfg), "/tmp/vulb-limits-%d.conf", (int)getpid());
	write_config(cfg, "");
	extra[1] = cfg;
	r = vu_daemon_start(&d, NULL, extra);
	REQUIRE(r == 0, "daemon start: %s", strerror(-r));
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	pc_wait_running(&d, "a");
	pc_wait_running(&d, "b");
	CHECK(pc_xfer(a, b, 1, 2, 0x100, sizes, 3, 50) == 0, "A -> B");
	fds0 = vu_daemon_fd_count_settled(&d, -1, 2000);

	mem_regions(&d, a, b);
	queue_pairs(&d);
	ports(&d);
	ctl_clients(&d);
	fdb(&d, a, b);
	flows(&d, a, b);
	metrics(&d);

	vu_test_case("nothing leaked");
	/* The last control client's hang-up may still be on its way. */
	fds1 = vu_daemon_fd_count_settled(&d, fds0, 2000);
	CHECK(fds1 == fds0, "daemon fds: %d before, %d after every refusal", fds0, fds1);
	reload(&d, cfg);
	CHECK(pc_xfer(a, b, 1, 2, 0x400, sizes, 3, 50) == 0, "A -> B at the end");
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
	unlink(cfg);
	return vu_test_finish();
}
