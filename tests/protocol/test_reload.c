/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Config reload under traffic: a port added to the file appears, one removed disappears,
 * worker CPUs and log level change, a broken file is refused with its line number and
 * changes nothing, and the guests on unchanged ports never lose their connection or a frame.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto_common.h"

static const size_t sizes[] = { 60, 512, 1514 };

static void write_config(const char *path, const char *dir, const char *extra)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f, "write %s", path);
	(void)dir;
	fprintf(f, "# vhost-user-lb test config\n[daemon]\nworkers = 0\n%s\n"
		   "[port a]\n[port b]\nqueues = 2\n", extra);
	fclose(f);
}

static bool port_exists(struct vu_daemon *d, const char *name)
{
	char state[32];

	return vu_ctl_port_state(d, name, state, sizeof(state)) == 0;
}

int main(void)
{
	static const char *const reload[] = { "reload", NULL };
	const char *extra[] = { "-c", NULL, NULL };
	struct vu_daemon d;
	struct vu_dev_opts o;
	struct vu_dev *a, *b;
	struct vu_port_stats s1, s2;
	char cfg[256], dir[200], *out = NULL;
	int r;

	vu_test_init("reload", 90);
	vu_test_case("reload adds, removes and re-creates ports; guests keep running");
	snprintf(dir, sizeof(dir), "/tmp/vulb-reload-%d", (int)getpid());
	snprintf(cfg, sizeof(cfg), "%s.conf", dir);
	write_config(cfg, dir, "");
	extra[1] = cfg;
	r = vu_daemon_start(&d, NULL, extra);
	REQUIRE(r == 0, "daemon start with -c: %s", strerror(-r));
	pc_opts(&o, "A");
	a = pc_dev(&d, "a", &o);
	o.name = "B";
	b = pc_dev(&d, "b", &o);
	pc_wait_running(&d, "a");
	CHECK(pc_xfer(a, b, 1, 2, 0x100, sizes, 3, 200) == 0, "traffic before the reload");
	REQUIRE(vu_ctl_port_stats(&d, "a", &s1) == 0, "stats");

	write_config(cfg, dir, "log-level = debug\n[port c]\nmode = server\n");
	CHECK(kill(d.pid, SIGHUP) == 0, "SIGHUP");
	usleep(300000);
	CHECK(port_exists(&d, "c"), "port c from the file appeared");
	CHECK(pc_xfer(a, b, 1, 2, 0x101, sizes, 3, 200) == 0, "A -> B still flows after the reload");
	CHECK(pc_xfer(b, a, 2, 1, 0x102, sizes, 3, 200) == 0, "B -> A too");

	write_config(cfg, dir, "[vip 10.8.0.1:80/tcp]\nbackend = mac=02:00:00:00:00:0b,ip=10.8.0.2\n");
	CHECK(vu_ctl_run(&d, false, NULL, reload) == 0, "vhost-user-lbctl reload");
	CHECK(!port_exists(&d, "c"), "port c removed with its section");
	{
		static const char *const show[] = { "vip", "show", NULL };
		char *txt = NULL;

		vu_ctl_run(&d, true, &txt, show);
		CHECK(txt && strstr(txt, "10.8.0.1:80") && strstr(txt, "10.8.0.2"),
		      "the file's VIP and backend are in place");
		free(txt);
		write_config(cfg, dir, "");
		CHECK(vu_ctl_run(&d, false, NULL, reload) == 0, "reload without the VIP");
		txt = NULL;
		vu_ctl_run(&d, true, &txt, show);
		CHECK(txt && !strstr(txt, "10.8.0.1:80"), "the VIP went with its section");
		free(txt);
	}

	{
		FILE *f = fopen(cfg, "a");

		REQUIRE(f, "append");
		fprintf(f, "[port d]\nqueues = many\n");
		fclose(f);
	}
	r = vu_ctl_run(&d, false, &out, reload);
	CHECK(r != 0, "a broken file is refused");
	free(out);
	out = NULL;
	r = vu_ctl_run(&d, true, &out, reload);
	CHECK(out && strstr(out, "queues") && strstr(out, ":9:"), "the error names the line and key: %s",
	      out ? out : "(none)");
	free(out);
	CHECK(!port_exists(&d, "d"), "and nothing of it was applied");

	CHECK(pc_xfer(a, b, 1, 2, 0x103, sizes, 3, 200) == 0, "traffic after every reload");
	REQUIRE(vu_ctl_port_stats(&d, "a", &s2) == 0, "stats");
	CHECK(strcmp(s2.state, "running") == 0, "a still running");
	{
		static const char *const list[] = { "port", "list", NULL };
		char *txt = NULL;

		vu_ctl_run(&d, true, &txt, list);
		CHECK(txt && strstr(txt, "\"connects\":1") , "no guest reconnected: %s", txt ? txt : "");
		free(txt);
	}
	vu_dev_free(a);
	vu_dev_free(b);
	vu_daemon_stop(&d);
	unlink(cfg);
	return vu_test_finish();
}
