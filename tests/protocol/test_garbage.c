/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A frontend that sends garbage on port c: bad request ids, truncated and oversized messages,
 * wrong fd counts, bad ring indexes and sizes, too many memory regions. For each, the daemon
 * must log it and drop that connection, stay up, keep forwarding between ports a and b
 * (checked with traffic), leak no fd, and accept a proper frontend on port c afterwards.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "proto_common.h"

static struct vu_daemon d;
static struct vu_dev *A, *B;
static uint32_t tag = 400;
static const size_t sizes[] = { 60, 300, 1514 };

enum prelude {
	NONE,		/* raw socket */
	HANDSHAKE,	/* GET_FEATURES .. SET_OWNER done (vu_dev_negotiate) */
	FEATURES,	/* and SET_FEATURES */
};

struct gcase {
	const char *name;
	enum prelude prelude;
	void (*act)(struct vu_conn *c);
	bool hold;	/* keep the connection open and check forwarding meanwhile */
	bool eof_only;	/* we close; only check the daemon shrugged it off */
};

static int memfd(size_t size)
{
	int fd = memfd_create("garbage", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_msg(struct vu_conn *c, uint32_t req, uint32_t flags, const void *p, uint32_t size,
		     const int *fds, size_t nfds)
{
	int r = vu_conn_send(c, req, flags, p, size, fds, nfds);

	CHECK(r == 0 || r == -EPIPE || r == -ECONNRESET, "send %s: %s", vu_req_name(req),
	      strerror(-r));
}

static void g_bad_request(struct vu_conn *c)
{
	send_msg(c, 9999, 0, NULL, 0, NULL, 0);
}

static void g_request_zero(struct vu_conn *c)
{
	uint64_t v = 0;

	send_msg(c, 0, 0, &v, sizeof(v), NULL, 0);
}

static void g_backend_only_request(struct vu_conn *c)
{
	/* 43 and up are not front-end requests as of this writing */
	send_msg(c, 0x7fffffff, 0, NULL, 0, NULL, 0);
}

static void g_short_header(struct vu_conn *c)
{
	static const uint8_t half[6] = { 1, 0, 0, 0, 1, 0 };

	(void)vu_conn_send_raw(c, half, sizeof(half), NULL, 0);
}

static void g_truncated_payload(struct vu_conn *c)
{
	/* SET_FEATURES announces 8 payload bytes, only 3 follow, the socket stays open */
	static const uint8_t m[12 + 3] = { 2, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 2, 3 };

	(void)vu_conn_send_raw(c, m, sizeof(m), NULL, 0);
}

static void g_huge_size(struct vu_conn *c)
{
	/* SET_MEM_TABLE announcing 256 MiB of payload: must be refused, not waited for */
	struct vu_msg_hdr h = { .request = VU_SET_MEM_TABLE, .flags = 1, .size = 256u << 20 };

	(void)vu_conn_send_raw(c, &h, sizeof(h), NULL, 0);
}

static void g_wrong_size(struct vu_conn *c)
{
	uint32_t v = 1;

	send_msg(c, VU_SET_FEATURES, 0, &v, sizeof(v), NULL, 0);
}

static void g_vring_num_index(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 200, .num = 256 };

	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void g_vring_num_index_max(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 0xffffffff, .num = 256 };

	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void g_vring_num_3(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 0, .num = 3 };

	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void g_vring_num_0(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 1, .num = 0 };

	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void g_vring_num_65536(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 0, .num = 65536 };

	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
}

static void g_get_vring_base_index(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 255 };

	send_msg(c, VU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
}

static void g_vring_enable_2(struct vu_conn *c)
{
	struct vu_vring_state s = { .index = 0, .num = 2 };

	send_msg(c, VU_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
}

static void mem_table(struct vu_conn *c, uint32_t nregions, uint32_t size_regions,
		      unsigned nfds)
{
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[16];
	} t = { .nregions = nregions };
	int fds[16] = { 0 };
	unsigned i;

	for (i = 0; i < 16; i++) {
		t.r[i].gpa = (uint64_t)i << 30;
		t.r[i].size = 1 << 20;
		t.r[i].qva = 0x500000000000ull + ((uint64_t)i << 30);
	}
	for (i = 0; i < nfds; i++)
		fds[i] = memfd(1 << 20);
	send_msg(c, VU_SET_MEM_TABLE, 0, &t, 8 + size_regions * 32, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
}

static void g_mem_9_regions(struct vu_conn *c)
{
	mem_table(c, 9, 9, 9);
}

static void g_mem_nregions_lie(struct vu_conn *c)
{
	/* claims 0xffff regions, carries 8 */
	mem_table(c, 0xffff, 8, 8);
}

static void g_mem_fewer_fds(struct vu_conn *c)
{
	mem_table(c, 2, 2, 1);
}

static void g_mem_no_fd(struct vu_conn *c)
{
	mem_table(c, 1, 1, 0);
}

static void g_mem_overlap(struct vu_conn *c)
{
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[2];
	} t = { .nregions = 2 };
	int fds[2] = { memfd(1 << 20), memfd(1 << 20) };

	t.r[0] = (struct vu_mem_region_desc){ .gpa = 0, .size = 1 << 20, .qva = 0x500000000000ull };
	t.r[1] = (struct vu_mem_region_desc){ .gpa = 1 << 19, .size = 1 << 20,
					      .qva = 0x600000000000ull };
	send_msg(c, VU_SET_MEM_TABLE, 0, &t, sizeof(t), fds, 2);
	close(fds[0]);
	close(fds[1]);
}

static void g_mem_wrap(struct vu_conn *c)
{
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[1];
	} t = { .nregions = 1 };
	int fd = memfd(1 << 20);

	/* gpa + size wraps around 2^64 */
	t.r[0] = (struct vu_mem_region_desc){ .gpa = ~0ull - 4095, .size = 1 << 20,
					      .qva = 0x500000000000ull };
	send_msg(c, VU_SET_MEM_TABLE, 0, &t, sizeof(t), &fd, 1);
	close(fd);
}

static void g_kick_no_fd(struct vu_conn *c)
{
	uint64_t u = 0; /* no fd and no "invalid fd" flag */

	send_msg(c, VU_SET_VRING_KICK, 0, &u, sizeof(u), NULL, 0);
}

static void g_call_three_fds(struct vu_conn *c)
{
	int fds[3] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	uint64_t u = 0;

	send_msg(c, VU_SET_VRING_CALL, 0, &u, sizeof(u), fds, 3);
	close(fds[0]);
	close(fds[1]);
	close(fds[2]);
}

static void g_kick_index(struct vu_conn *c)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0xfe; /* vring 254 */

	send_msg(c, VU_SET_VRING_KICK, 0, &u, sizeof(u), &fd, 1);
	close(fd);
}

static void g_features_with_fd(struct vu_conn *c)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t f = VU_BIT(VIRTIO_F_VERSION_1);

	send_msg(c, VU_SET_FEATURES, 0, &f, sizeof(f), &fd, 1);
	close(fd);
}

static void g_add_mem_reg_no_fd(struct vu_conn *c)
{
	struct vu_mem_single s = { .region = { .gpa = 0, .size = 1 << 20, .qva = 0x500000000000ull } };

	send_msg(c, VU_ADD_MEM_REG, 0, &s, sizeof(s), NULL, 0);
}

static void g_unknown_features(struct vu_conn *c)
{
	/* bit 63 (not offered) and RING_PACKED (not offered) */
	uint64_t f = VU_BIT(63) | VU_BIT(VIRTIO_F_RING_PACKED) | VU_BIT(VIRTIO_F_VERSION_1);

	send_msg(c, VU_SET_FEATURES, 0, &f, sizeof(f), NULL, 0);
}

static void g_ring_unmapped(struct vu_conn *c)
{
	/* a valid table, then ring addresses outside it, then a kick to start the ring */
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[1];
	} t = { .nregions = 1 };
	struct vu_vring_state s = { .index = 0, .num = 256 };
	struct vu_vring_addr a = { .index = 0, .desc_qva = 0x700000000000ull,
				   .avail_qva = 0x700000010000ull, .used_qva = 0x700000020000ull };
	int fd = memfd(1 << 20), kfd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0, one = 1;

	t.r[0] = (struct vu_mem_region_desc){ .gpa = 0, .size = 1 << 20, .qva = 0x500000000000ull };
	send_msg(c, VU_SET_MEM_TABLE, 0, &t, sizeof(t), &fd, 1);
	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	s.num = 0;
	send_msg(c, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	send_msg(c, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	send_msg(c, VU_SET_VRING_KICK, 0, &u, sizeof(u), &kfd, 1);
	s.num = 1;
	send_msg(c, VU_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
	if (write(kfd, &one, sizeof(one)) < 0)
		vu_test_note("kick: %s", strerror(errno));
	close(fd);
	close(kfd);
}

static void g_ring_straddles_end(struct vu_conn *c)
{
	/* the used ring starts inside the region and runs past its end */
	struct {
		uint32_t nregions, padding;
		struct vu_mem_region_desc r[1];
	} t = { .nregions = 1 };
	struct vu_vring_state s = { .index = 0, .num = 256 };
	const uint64_t q = 0x500000000000ull;
	struct vu_vring_addr a = { .index = 0, .desc_qva = q, .avail_qva = q + 0x1000,
				   .used_qva = q + (1 << 20) - 64 };
	int fd = memfd(1 << 20), kfd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0, one = 1;

	t.r[0] = (struct vu_mem_region_desc){ .gpa = 0, .size = 1 << 20, .qva = q };
	send_msg(c, VU_SET_MEM_TABLE, 0, &t, sizeof(t), &fd, 1);
	send_msg(c, VU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0);
	s.num = 0;
	send_msg(c, VU_SET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	send_msg(c, VU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0);
	send_msg(c, VU_SET_VRING_KICK, 0, &u, sizeof(u), &kfd, 1);
	s.num = 1;
	send_msg(c, VU_SET_VRING_ENABLE, 0, &s, sizeof(s), NULL, 0);
	if (write(kfd, &one, sizeof(one)) < 0)
		vu_test_note("kick: %s", strerror(errno));
	close(fd);
	close(kfd);
}

static long broken_count(const char *port)
{
	static const char *const args[] = { "port", "list", NULL };
	struct json_object *top, *ports, *p, *f;
	long n = -1;
	size_t i;

	if (vu_ctl_json(&d, &top, args))
		return -1;
	if (json_object_object_get_ex(top, "ports", &ports))
		for (i = 0; i < json_object_array_length(ports); i++) {
			p = json_object_array_get_idx(ports, i);
			if (json_object_object_get_ex(p, "name", &f) &&
			    !strcmp(json_object_get_string(f), port) &&
			    json_object_object_get_ex(p, "broken", &f))
				n = (long)json_object_get_int64(f);
		}
	json_object_put(top);
	return n;
}

static void still_forwarding(const char *when)
{
	unsigned bad = pc_xfer(A, B, 1, 2, tag++, sizes, 3, 30);

	bad += pc_xfer(B, A, 2, 1, tag++, sizes, 3, 30);
	CHECK(bad == 0, "ports a and b stopped forwarding %s", when);
}

static void run(const struct gcase *g)
{
	struct vu_dev_opts o;
	struct vu_dev *c = NULL;
	struct vu_conn *conn;
	char path[256], *log;
	long broken_before = broken_count("c");
	int r;

	vu_test_case("garbage: %s", g->name);
	free(vu_daemon_log_new(&d)); /* only what this case makes the daemon say counts */
	pc_opts(&o, "C");
	r = vu_dev_connect(vu_daemon_sock(&d, "c", path, sizeof(path)), &o, PC_CONNECT_MS, &c);
	REQUIRE(r == 0, "connect to c: %s", strerror(-r));
	if (g->prelude >= HANDSHAKE) {
		r = vu_dev_negotiate(c);
		CHECK(r == 0, "handshake before the garbage: %s", strerror(-r));
	}
	if (g->prelude >= FEATURES) {
		r = vu_dev_set_u64(c, VU_SET_FEATURES, vu_dev_features(c));
		CHECK(r == 0, "SET_FEATURES before the garbage: %s", strerror(-r));
	}
	conn = vu_dev_conn(c);
	g->act(conn);
	if (g->hold) {
		/* a half message must not stall the daemon: the others still forward */
		still_forwarding("while port c holds half a message");
		CHECK(vu_daemon_alive(&d), "daemon died");
	}
	if (g->eof_only || g->hold) {
		vu_dev_free(c);
		c = NULL;
	} else {
		r = vu_conn_wait_closed(conn, 3000);
		CHECK(r == 0, "daemon kept the connection open after the garbage");
	}
	CHECK(vu_daemon_alive(&d), "daemon died");
	if (!vu_daemon_alive(&d))
		vu_test_abort();
	CHECK(vu_ctl_wait_state(&d, "c", "listening|broken", 3000) == 0,
	      "port c neither listening nor broken");
	if (!g->eof_only && !g->hold) {
		long after = broken_count("c");

		CHECK(after == broken_before + 1, "port c 'broken' count %ld -> %ld", broken_before,
		      after);
		log = vu_daemon_log_new(&d);
		CHECK(strstr(log, "'c'") != NULL, "no log line names port 'c'; log said: %.300s",
		      log);
		free(log);
	}
	vu_dev_free(c);
	still_forwarding("after port c's garbage");
}

int main(void)
{
	static const char *const ports[] = { "a", "b", "c", NULL };
	static const struct gcase cases[] = {
		{ "unknown request id 9999", NONE, g_bad_request },
		{ "request id 0", NONE, g_request_zero },
		{ "request id 0x7fffffff after the handshake", HANDSHAKE, g_backend_only_request },
		{ "6-byte header, then close", NONE, g_short_header, .eof_only = true },
		{ "truncated payload, connection held open", NONE, g_truncated_payload,
		  .hold = true },
		{ "size field 256 MiB", NONE, g_huge_size },
		{ "SET_FEATURES with a 4-byte payload", NONE, g_wrong_size },
		{ "SET_FEATURES with an fd attached", NONE, g_features_with_fd },
		{ "SET_FEATURES with bits never offered", HANDSHAKE, g_unknown_features },
		{ "SET_VRING_NUM index 200", FEATURES, g_vring_num_index },
		{ "SET_VRING_NUM index 0xffffffff", FEATURES, g_vring_num_index_max },
		{ "SET_VRING_NUM num 3", FEATURES, g_vring_num_3 },
		{ "SET_VRING_NUM num 0", FEATURES, g_vring_num_0 },
		{ "SET_VRING_NUM num 65536", FEATURES, g_vring_num_65536 },
		{ "GET_VRING_BASE index 255", FEATURES, g_get_vring_base_index },
		{ "SET_VRING_ENABLE num 2", FEATURES, g_vring_enable_2 },
		{ "SET_MEM_TABLE with 9 regions", FEATURES, g_mem_9_regions },
		{ "SET_MEM_TABLE claiming 65535 regions", FEATURES, g_mem_nregions_lie },
		{ "SET_MEM_TABLE 2 regions, 1 fd", FEATURES, g_mem_fewer_fds },
		{ "SET_MEM_TABLE 1 region, no fd", FEATURES, g_mem_no_fd },
		{ "SET_MEM_TABLE overlapping regions", FEATURES, g_mem_overlap },
		{ "SET_MEM_TABLE region wrapping 2^64", FEATURES, g_mem_wrap },
		{ "ADD_MEM_REG without fd", FEATURES, g_add_mem_reg_no_fd },
		{ "SET_VRING_KICK without fd or NOFD flag", FEATURES, g_kick_no_fd },
		{ "SET_VRING_KICK for vring 254", FEATURES, g_kick_index },
		{ "SET_VRING_CALL with 3 fds", FEATURES, g_call_three_fds },
		{ "ring addresses outside guest memory, then kick", FEATURES, g_ring_unmapped },
		{ "used ring running past the end of its region, then kick", FEATURES,
		  g_ring_straddles_end },
	};
	struct vu_dev_opts o;
	struct vu_dev *c;
	int fds_before, fds_after;
	unsigned i;

	vu_test_init("protocol-garbage", 280);
	pc_start(&d, ports);
	pc_opts(&o, "A");
	A = pc_dev(&d, "a", &o);
	o.name = "B";
	B = pc_dev(&d, "b", &o);
	vu_test_case("a and b forward before any garbage");
	still_forwarding("before the garbage");
	fds_before = vu_daemon_fd_count_settled(&d, -1, 2000);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);

	vu_test_case("no fd leaked after all the garbage");
	fds_after = vu_daemon_fd_count_settled(&d, fds_before, 2000);
	CHECK(fds_after == fds_before, "daemon had %d fds before the garbage, %d after",
	      fds_before, fds_after);

	vu_test_case("a proper frontend on port c works after the garbage");
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	pc_wait_running(&d, "c");
	pc_xfer(A, c, 1, 3, tag++, sizes, 3, 60);
	pc_xfer(c, B, 3, 2, tag++, sizes, 3, 60);
	pc_check_clean(c);
	vu_dev_free(c);
	pc_check_clean(A);
	pc_check_clean(B);
	vu_dev_free(A);
	vu_dev_free(B);
	return vu_test_finish();
}
