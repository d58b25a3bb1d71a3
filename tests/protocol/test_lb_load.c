/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Least-load fed by the guests' own RX queues, and backends that follow their ports, on the
 * real datapath (issue 6). A client and two servers behind a least-load VIP
 * (10.9.0.100:80/tcp):
 * - both servers keep up: new flows alternate between them;
 * - one server takes its frames slowly (it takes one frame off its RX ring per 10 ms while
 *   the client keeps its flows busy): its ring backs up, the daemon measures that from the
 *   ring's indices, and the slow server gets few of the new flows while active flows alone
 *   would have split them evenly;
 * - it catches up: its load falls back to 0 and, having fewer flows, it gets the next ones;
 * - its frontend disconnects: the backend is down at once, its flows deleted, every new
 *   flow goes to the other server; it reconnects: the backend comes back by itself.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lb/lb.h"
#include "proto_common.h"
#include "test_lb_frames.h"

#define VIP 0x0a090064u          /* 10.9.0.100 */
#define CLIENT_IP 0x0a090001u
#define S1_IP 0x0a09000bu
#define S2_IP 0x0a09000cu
#define BASE_A 20000             /* source ports of each phase's flows */
#define BASE_B 30000
#define BASE_C 40000
#define BASE_D 41000
#define BASE_E 42000
#define N_A 200
#define N_B 600

static uint8_t mac_c[6], mac_s1[6], mac_s2[6];
static const uint8_t vmac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static struct vu_daemon d;
static struct vu_dev *c, *s1, *s2;

struct be_view {
	uint64_t new_flows, active, load_us;
	char state[16];
	char down_because[48];
	bool bound;
};

static uint32_t to_vip(uint8_t *buf, uint16_t sport, uint8_t flags, uint32_t payload)
{
	struct tf_spec s = { .saddr = CLIENT_IP, .daddr = VIP, .proto = 6, .sport = sport, .dport = 80,
			     .tcp_flags = flags, .payload = payload, .seed = sport };

	memcpy(s.dmac, vmac, 6);
	memcpy(s.smac, mac_c, 6);
	return tf_build(buf, &s);
}

static void send_to_vip(uint16_t sport, uint8_t flags, uint32_t payload)
{
	static uint8_t buf[2048];
	uint32_t len = to_vip(buf, sport, flags, payload);

	CHECK(vu_dev_send(c, 0, buf, len, NULL, 2000) == 0, "client send");
}

static void ctl(const char *const *args, const char *what)
{
	char *out = NULL;
	int r = vu_ctl_run(&d, false, &out, args);

	CHECK(r == 0, "%s: %s", what, out ? out : "");
	free(out);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

static void get_str(struct json_object *o, const char *key, char *buf, size_t len)
{
	struct json_object *v;

	snprintf(buf, len, "%s", json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "");
}

/* `vip show --json`: the two backends of the VIP, by address. */
static bool show(struct be_view *v1, struct be_view *v2)
{
	static const char *const args[] = { "vip", "show", NULL };
	struct json_object *top = NULL, *lb, *vips, *bes;
	bool ok = false;

	memset(v1, 0, sizeof(*v1));
	memset(v2, 0, sizeof(*v2));
	if (vu_ctl_json(&d, &top, args))
		return false;
	if (!json_object_object_get_ex(top, "lb", &lb))
		lb = top;
	if (json_object_object_get_ex(lb, "vips", &vips) && json_object_array_length(vips) == 1 &&
	    json_object_object_get_ex(json_object_array_get_idx(vips, 0), "backends", &bes)) {
		for (size_t i = 0; i < json_object_array_length(bes); i++) {
			struct json_object *b = json_object_array_get_idx(bes, i), *f;
			char addr[32];
			struct be_view *v;

			get_str(b, "address", addr, sizeof(addr));
			v = strcmp(addr, "10.9.0.11") == 0 ? v1 : strcmp(addr, "10.9.0.12") == 0 ? v2 : NULL;
			if (!v)
				continue;
			v->new_flows = get_u64(b, "new_flows");
			v->active = get_u64(b, "active_flows");
			v->load_us = get_u64(b, "load_us");
			get_str(b, "state", v->state, sizeof(v->state));
			get_str(b, "down_because", v->down_because, sizeof(v->down_because));
			v->bound = json_object_object_get_ex(b, "bound", &f) && json_object_get_boolean(f);
		}
		ok = true;
	}
	json_object_put(top);
	return ok;
}

/* Takes up to @max frames off @dev's RX rings (all when @max is 0); returns how many. */
static unsigned drain(struct vu_dev *dev, unsigned max, int timeout_ms)
{
	static uint8_t buf[2048];
	unsigned n = 0;

	while (!max || n < max) {
		if (vu_dev_recv(dev, VU_ANY_QP, buf, sizeof(buf), n ? 0 : timeout_ms, NULL) <= 0)
			break;
		n++;
	}
	return n;
}

/* @n SYNs from ports @base..; both servers take everything. Counts arrivals per server. */
static void open_flows(uint16_t base, unsigned n, unsigned *n1, unsigned *n2)
{
	*n1 = *n2 = 0;
	for (unsigned i = 0; i < n; i++) {
		send_to_vip((uint16_t)(base + i), 0x02, 0);
		if (i % 16 == 15 || i == n - 1) {
			int64_t end = vu_now_ms() + 2000;

			/* Every SYN reaches one server; wait until all of this batch did. */
			while (*n1 + *n2 < i + 1 && vu_now_ms() < end) {
				*n1 += drain(s1, 0, 5);
				*n2 += s2 ? drain(s2, 0, 5) : 0;
			}
		}
	}
}

typedef bool (*view_pred_fn)(const struct be_view *v1, const struct be_view *v2);

static bool wait_show(view_pred_fn pred, int timeout_ms, struct be_view *v1, struct be_view *v2)
{
	int64_t end = vu_now_ms() + timeout_ms;

	do {
		if (show(v1, v2) && pred(v1, v2))
			return true;
		drain(s1, 0, 20);
		if (s2)
			drain(s2, 0, 20);
	} while (vu_now_ms() < end);
	return false;
}

static bool both_bound(const struct be_view *v1, const struct be_view *v2)
{
	return v1->bound && v2->bound && strcmp(v1->state, "up") == 0 && strcmp(v2->state, "up") == 0;
}

static bool s2_idle(const struct be_view *v1, const struct be_view *v2)
{
	(void)v1;
	return v2->load_us == 0;
}

static bool s2_down(const struct be_view *v1, const struct be_view *v2)
{
	(void)v1;
	return strcmp(v2->state, "down") == 0;
}

/* Connects a server and announces its MAC; @other (may be NULL) is the other server. */
static struct vu_dev *connect_server(const char *port, const char *name, uint16_t mac_id,
				     struct vu_dev *other)
{
	struct vu_dev_opts o;
	struct vu_dev *dev;
	unsigned n1, n2;

	pc_opts(&o, name);
	dev = pc_dev(&d, port, &o);
	/* An announce, so the switch learns where the server's MAC is; flooded to the others. */
	pc_send1(dev, 0, mac_id, 0xffff, 1, 0, 60);
	vu_traffic_absorb(c, 50, 0, &n1, &n2);
	if (other)
		vu_traffic_absorb(other, 50, 0, &n1, &n2);
	return dev;
}

int main(void)
{
	static const char *const ports[] = { "c", "s1", "s2", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", NULL };
	static const char *const add_vip[] = { "vip", "add", "10.9.0.100:80/tcp", "--algo", "least-load",
					       NULL };
	char be1[96], be2[96], mac1[18], mac2[18];
	const char *add_be1[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be1, NULL };
	const char *add_be2[] = { "vip", "backend", "add", "10.9.0.100:80/tcp", be2, NULL };
	struct be_view v1, v2, w1, w2;
	struct vu_dev_opts o;
	unsigned n1, n2;
	int r;

	vu_test_init("lb-load", 180);
	vu_mac(mac_c, 0xc);
	vu_mac(mac_s1, 0x51);
	vu_mac(mac_s2, 0x52);
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon: %s", strerror(-r));
	pc_opts(&o, "C");
	c = pc_dev(&d, "c", &o);
	snprintf(be1, sizeof(be1), "mac=%s,ip=10.9.0.11", vu_mac_str(mac_s1, mac1));
	snprintf(be2, sizeof(be2), "mac=%s,ip=10.9.0.12", vu_mac_str(mac_s2, mac2));
	ctl(add_vip, "vip add --algo least-load");
	ctl(add_be1, "backend s1");
	ctl(add_be2, "backend s2");
	s1 = connect_server("s1", "S1", 0x51, NULL);
	s2 = connect_server("s2", "S2", 0x52, s1);
	REQUIRE(wait_show(both_bound, 3000, &v1, &v2),
		"both backends bound to their ports and up (bound %d %d, state %s %s)", v1.bound,
		v2.bound, v1.state, v2.state);

	vu_test_case("both servers keep up: new flows alternate");
	open_flows(BASE_A, N_A, &n1, &n2);
	vu_test_note("least-load, both fast: %u flows to s1, %u to s2", n1, n2);
	CHECK(n1 + n2 == N_A && n1 >= N_A / 2 - 2 && n2 >= N_A / 2 - 2,
	      "%u and %u of %d: even within 2", n1, n2, N_A);

	vu_test_case("a server that drains its RX queue slowly gets few new flows");
	{
		uint64_t max_load2 = 0, max_load1 = 0;
		unsigned took2 = 0, k = 0;

		show(&v1, &v2);
		for (unsigned i = 0; i < N_B; i += 3) {
			int64_t next = vu_now_ms() + 10;

			/* Three new flows and ten data frames on the old ones per 10 ms. */
			for (unsigned j = 0; j < 3 && i + j < N_B; j++)
				send_to_vip((uint16_t)(BASE_B + i + j), 0x02, 0);
			for (unsigned j = 0; j < 10; j++, k++)
				send_to_vip((uint16_t)(BASE_A + k % N_A), 0x10, 200);
			took2 += drain(s2, 1, 0);
			while (vu_now_ms() < next)
				drain(s1, 0, 2);
			if (i % 60 == 0 && show(&w1, &w2)) {
				max_load1 = w1.load_us > max_load1 ? w1.load_us : max_load1;
				max_load2 = w2.load_us > max_load2 ? w2.load_us : max_load2;
			}
		}
		show(&w1, &w2);
		n1 = (unsigned)(w1.new_flows - v1.new_flows);
		n2 = (unsigned)(w2.new_flows - v2.new_flows);
		vu_test_note("s2 took %u frames; new flows: s1 %u, s2 %u; largest load seen: s1 %llu us, "
			     "s2 %llu us", took2, n1, n2, (unsigned long long)max_load1,
			     (unsigned long long)max_load2);
		CHECK(n1 + n2 == N_B, "every new flow placed (%u of %d)", n1 + n2, N_B);
		CHECK(n2 * 6 < N_B, "the slow server got %u of %d new flows (active flows alone: ~%d)", n2,
		      N_B, N_B / 2);
		CHECK(max_load2 >= 10000 && max_load2 > 10 * max_load1,
		      "its measured RX queueing delay (%llu us) shows, the fast one's (%llu us) does not",
		      (unsigned long long)max_load2, (unsigned long long)max_load1);
	}

	vu_test_case("it catches up: its load falls to 0 and, with fewer flows, it gets the next ones");
	CHECK(wait_show(s2_idle, 5000, &v1, &v2), "s2's load back to 0 (%llu us)",
	      (unsigned long long)v2.load_us);
	open_flows(BASE_C, 100, &n1, &n2);
	vu_test_note("s1 %llu active flows, s2 %llu; next 100 flows: s1 %u, s2 %u",
		     (unsigned long long)v1.active, (unsigned long long)v2.active, n1, n2);
	CHECK(n1 + n2 == 100 && n2 == 100, "all 100 to the emptier s2 (%u, %u)", n1, n2);

	vu_test_case("its frontend disconnects: down at once, its flows deleted, new flows to s1");
	vu_dev_free(s2);
	s2 = NULL;
	CHECK(wait_show(s2_down, 2000, &v1, &v2) && strcmp(v2.down_because, "no guest on its port") == 0 &&
	      v2.active == 0, "s2: state %s (%s), %llu active flows", v2.state, v2.down_because,
	      (unsigned long long)v2.active);
	open_flows(BASE_D, 100, &n1, &n2);
	CHECK(n1 == 100, "all 100 new flows reach s1 (%u)", n1);
	{
		unsigned moved = 0;

		/* s2's flows of the last case carry on: picked up by s1 mid-stream. */
		for (unsigned i = 0; i < 100; i++) {
			send_to_vip((uint16_t)(BASE_C + i), 0x10, 100);
			moved += drain(s1, 0, 500);
		}
		CHECK(moved == 100, "s2's 100 established flows now reach s1 (%u)", moved);
	}
	show(&w1, &w2);
	CHECK(w2.new_flows == v2.new_flows, "no new flow for the disconnected s2");

	vu_test_case("it reconnects: the backend comes back by itself and takes new flows");
	s2 = connect_server("s2", "S2", 0x52, s1);
	CHECK(wait_show(both_bound, 3000, &v1, &v2), "s2 up again (state %s)", v2.state);
	open_flows(BASE_E, 50, &n1, &n2);
	CHECK(n2 == 50, "the 50 next flows go to the empty s2 (%u, %u)", n1, n2);

	vu_dev_free(c);
	vu_dev_free(s1);
	vu_dev_free(s2);
	vu_daemon_stop(&d);
	return vu_test_finish();
}
