/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Load-balanced flows across a crash (issue 8): the daemon checkpoints the load balancer's
 * state to SOCKET-DIR/lb-state.json, and a process started after `kill -9` restores it.
 *
 * A client opens flows to a Maglev VIP (10.9.0.100:80/tcp, added at run time) served by s1
 * and s2; then s3 is added, so fresh hashing sends about a third of all tuples to s3. Once a
 * checkpoint was written after that (`vip show` counts them), the daemon is SIGKILLed and
 * started again with the same arguments; the frontends connect again. Every flow opened
 * before must reach the backend it had, its replies rewritten to the VIP, while new flows use
 * all three backends.
 *
 * Then: a damaged state file is ignored with a log line (the daemon starts clean, and removes
 * the stale file since it has no VIP), and so is one that fails half-way through its
 * services (the ones restored before are removed again); and the control: with lb-checkpoint-ms = 0 nothing is
 * restored, and once the same service is declared again, some flows move.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb/lb.h"
#include "proto_common.h"
#include "lb_flows.h"
#include "test_lb_frames.h"

#define NSRV LBF_NSRV
#define NFLOWS 600
#define NFRESH 300

static struct vu_dev *c, *srv[NSRV];

static void add_backend(struct vu_daemon *d, unsigned j)
{
	const char *add_be[] = { "vip", "backend", "add", LBF_VIP_TEXT, lbf_backend[j], NULL };

	pc_ctl(d, add_be, "backend add");
}

/* The frontends (again, after a restart): servers announce themselves so their MACs are learned. */
static void connect_all(struct vu_daemon *d)
{
	static const char *const names[NSRV] = { "S1", "S2", "S3" };
	static const char *const pnames[NSRV] = { "s1", "s2", "s3" };
	struct vu_dev_opts o;
	unsigned n1, n2;

	pc_opts(&o, "C");
	c = pc_dev(d, "c", &o);
	for (unsigned j = 0; j < NSRV; j++) {
		o.name = names[j];
		srv[j] = pc_dev(d, pnames[j], &o);
		pc_send1(srv[j], 0, (uint16_t)(0x51 + j), 0xffff, 1, 0, 60);
	}
	usleep(100000);
	/* The announces were flooded to everyone: clear them away. */
	vu_traffic_absorb(c, 100, 0, &n1, &n2);
	for (unsigned j = 0; j < NSRV; j++)
		vu_traffic_absorb(srv[j], 50, 0, &n1, &n2);
}

static void disconnect_all(void)
{
	pc_check_clean(c);
	vu_dev_free(c);
	for (unsigned j = 0; j < NSRV; j++) {
		pc_check_clean(srv[j]);
		vu_dev_free(srv[j]);
	}
}

/* `vip show`: lb.checkpoint.@key and lb.@key2 (NULL: none) as integers; -1 when missing. */
static long long show_field(struct vu_daemon *d, const char *sub, const char *key)
{
	static const char *const show[] = { "vip", "show", NULL };
	struct json_object *j = NULL, *lb, *o, *v;
	long long r = -1;

	if (vu_ctl_json(d, &j, show) == 0 && json_object_object_get_ex(j, "lb", &lb) &&
	    (!sub || json_object_object_get_ex(lb, sub, &o)) &&
	    json_object_object_get_ex(sub ? o : lb, key, &v))
		r = json_object_get_int64(v);
	json_object_put(j);
	return r;
}

/* Waits for a checkpoint written after everything done so far. */
static bool wait_checkpoint(struct vu_daemon *d)
{
	long long w0 = show_field(d, "checkpoint", "writes");

	for (int i = 0; w0 >= 0 && i < 250; i++) {
		if (show_field(d, "checkpoint", "writes") > w0)
			return true;
		usleep(20000);
	}
	return false;
}

static void state_path(const struct vu_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/lb-state.json", d->dir);
}

int main(void)
{
	static const char *const ports[] = { "c", "s1", "s2", "s3", NULL };
	static const char *const extra[] = { "--libvirt-uri", "none", "--lb-checkpoint-ms", "100", NULL };
	static const char *const extra_off[] = { "--libvirt-uri", "none", "--lb-checkpoint-ms", "0", NULL };
	static const char *const add_vip[] = { "vip", "add", LBF_VIP_TEXT, NULL };
	static uint8_t first[NFLOWS], fresh[NFRESH], now[NFLOWS];
	char path[256];
	struct vu_daemon d;
	unsigned count[NSRV], bad = 0, moved, lost;
	struct stat st;
	int r;

	vu_test_init("lb_checkpoint", 180);
	lbf_init();
	r = vu_daemon_start(&d, ports, extra);
	REQUIRE(r == 0, "daemon: %s", strerror(-r));
	state_path(&d, path, sizeof(path));
	connect_all(&d);

	vu_test_case("no VIP: no checkpoint is written");
	CHECK(wait_checkpoint(&d) == false && stat(path, &st) < 0, "no file, no write without a VIP");

	vu_test_case("flows opened to a VIP served by s1 and s2, then s3 added");
	pc_ctl(&d, add_vip, "vip add");
	add_backend(&d, 0);
	add_backend(&d, 1);
	lbf_send_flows(c, srv, 20000, NFLOWS, 0x02, first, count, &bad);
	vu_test_note("Maglev over s1, s2: %u, %u (s3: %u)", count[0], count[1], count[2]);
	CHECK(count[0] + count[1] == NFLOWS && count[2] == 0 && count[0] && count[1],
	      "every SYN reached s1 or s2, both serve");
	add_backend(&d, 2);
	lbf_send_flows(c, srv, 40000, NFRESH, 0x02, fresh, count, &bad);
	vu_test_note("fresh flows over s1, s2, s3: %u, %u, %u", count[0], count[1], count[2]);
	CHECK(count[2] > NFRESH / 6, "s3 takes a share of the fresh flows (%u of %d)", count[2], NFRESH);

	vu_test_case("a checkpoint is written after the change, as a private file");
	CHECK(wait_checkpoint(&d), "vip show counts a checkpoint after s3 was added");
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600,
	      "%s exists with mode 0600 (mode %o)", path, (unsigned)(st.st_mode & 0777));
	vu_test_note("checkpoint of %d flows: %lld bytes, took %lld us", NFLOWS + NFRESH,
		     (long long)st.st_size, show_field(&d, "checkpoint", "last_cost_us"));

	vu_test_case("kill -9, the same command line again: the state is restored");
	disconnect_all();
	r = vu_daemon_restart_after_kill(&d, ports, extra);
	REQUIRE(r == 0, "restart: %s", strerror(-r));
	{
		char *log = vu_daemon_log_new(&d);
		char want[400];

		snprintf(want, sizeof(want), "restored 1 services, %d flows from %s (saved ", NFLOWS + NFRESH,
			 path);
		CHECK(strstr(log, want) != NULL, "log says: %s...", want);
		free(log);
	}
	CHECK(show_field(&d, NULL, "flows") == NFLOWS + NFRESH, "vip show: %lld flows",
	      show_field(&d, NULL, "flows"));
	connect_all(&d);

	vu_test_case("after the restart every flow keeps its backend");
	lbf_check_flows_kept(c, srv, first, NFLOWS, fresh, NFRESH, &bad);
	CHECK(bad == 0, "destinations rewritten, checksums valid throughout (%u bad)", bad);

	vu_test_case("replies of restored flows still come from the VIP");
	lbf_check_replies(c, srv, 20000, first, NFLOWS);

	vu_test_case("new flows after the restart use all three backends");
	{
		uint8_t later[NFRESH];

		lbf_send_flows(c, srv, 50000, NFRESH, 0x02, later, count, &bad);
		vu_test_note("new flows over s1, s2, s3: %u, %u, %u", count[0], count[1], count[2]);
		CHECK(count[0] + count[1] + count[2] == NFRESH && count[0] && count[1] && count[2],
		      "every new flow reached a backend, each backend some");
	}

	vu_test_case("a damaged state file: ignored with a log line, a clean start, the file removed");
	CHECK(wait_checkpoint(&d), "a checkpoint after the new flows");
	disconnect_all();
	{
		int fd;

		kill(d.pid, SIGSTOP);   /* no checkpoint may replace the file we damage */
		fd = open(path, O_WRONLY | O_CLOEXEC);
		CHECK(fd >= 0 && stat(path, &st) == 0 && ftruncate(fd, st.st_size / 2) == 0,
		      "the state file cut in half");
		if (fd >= 0)
			close(fd);
	}
	r = vu_daemon_restart_after_kill(&d, ports, extra);
	REQUIRE(r == 0, "restart with a damaged file: %s", strerror(-r));
	{
		char *log = vu_daemon_log_new(&d);
		char want[400];

		snprintf(want, sizeof(want), "load-balancer checkpoint %s ignored: not a JSON object", path);
		CHECK(strstr(log, want) != NULL, "log says: %s...", want);
		CHECK(strstr(log, "restored ") == NULL, "nothing restored");
		free(log);
	}
	CHECK(show_field(&d, NULL, "flows") == 0, "vip show: no flows");
	{
		int i;

		for (i = 0; i < 250 && stat(path, &st) == 0; i++)
			usleep(20000);
		CHECK(stat(path, &st) < 0, "the stale file is removed (no VIP to keep)");
	}

	vu_test_case("a file whose second service is invalid: the first is removed again");
	{
		/* Another boot's file: its flows would be dropped anyway; the services must fail. */
		static const char text[] =
			"{\"version\":1,\"boot_id\":\"x\",\"mono_ns\":0,\"real_s\":0,\"lb\":{"
			"\"key0\":1,\"key1\":2,\"flows\":[],\"vips\":["
			"{\"addr\":168427620,\"port\":80,\"proto\":6,\"algo\":0,\"table_size\":0,"
			"\"backends\":[{\"mac\":2,\"addr\":168427531,\"port\":0,\"weight\":100,\"up\":true}]},"
			"{\"addr\":168427621,\"port\":80,\"proto\":6,\"algo\":99,\"table_size\":0,"
			"\"backends\":[]}]}}";
		char *log, want[400];
		int fd;

		kill(d.pid, SIGSTOP);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "file written");
		if (fd >= 0)
			close(fd);
		r = vu_daemon_restart_after_kill(&d, ports, extra);
		REQUIRE(r == 0, "restart with an invalid service: %s", strerror(-r));
		log = vu_daemon_log_new(&d);
		snprintf(want, sizeof(want), "load-balancer checkpoint %s ignored: %s", path, strerror(EPROTO));
		CHECK(strstr(log, want) != NULL, "log says: %s", want);
		free(log);
		{
			static const char *const show[] = { "vip", "show", NULL };
			struct json_object *j = NULL, *lb, *vips;

			CHECK(vu_ctl_json(&d, &j, show) == 0 && json_object_object_get_ex(j, "lb", &lb) &&
			      json_object_object_get_ex(lb, "vips", &vips) &&
			      json_object_array_length(vips) == 0, "vip show: no VIP left");
			json_object_put(j);
		}
	}

	vu_test_case("control: with lb-checkpoint-ms = 0 a restart restores nothing, and flows move");
	connect_all(&d);
	pc_ctl(&d, add_vip, "vip add");
	add_backend(&d, 0);
	add_backend(&d, 1);
	lbf_send_flows(c, srv, 20000, NFLOWS, 0x02, first, count, &bad);
	CHECK(count[0] + count[1] == NFLOWS && count[2] == 0, "every SYN reached s1 or s2");
	add_backend(&d, 2);
	CHECK(wait_checkpoint(&d), "a checkpoint exists, for the restart to ignore");
	disconnect_all();
	r = vu_daemon_restart_after_kill(&d, ports, extra_off);
	REQUIRE(r == 0, "restart with checkpoints off: %s", strerror(-r));
	{
		char *log = vu_daemon_log_new(&d);

		CHECK(strstr(log, "restored ") == NULL, "nothing restored with lb-checkpoint-ms = 0");
		free(log);
	}
	CHECK(show_field(&d, "checkpoint", "period_ms") == 0, "vip show: checkpoints off");
	connect_all(&d);
	pc_ctl(&d, add_vip, "vip add");
	for (unsigned j = 0; j < NSRV; j++)
		add_backend(&d, j);
	lbf_send_flows(c, srv, 20000, NFLOWS, 0x10, now, count, &bad);
	lbf_compare(first, now, NFLOWS, &moved, &lost);
	vu_test_note("without the checkpoint: %u of %d flows moved, %u lost (to s1, s2, s3: %u, %u, %u)",
		     moved, NFLOWS, lost, count[0], count[1], count[2]);
	CHECK(moved > NFLOWS / 10, "without the checkpoint flows move (%u of %d)", moved, NFLOWS);

	disconnect_all();
	vu_daemon_stop(&d);
	return vu_test_finish();
}
