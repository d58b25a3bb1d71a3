// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Who may use the control socket, and where a control client may put a socket. Children drop
 * to uid 65534 (nobody) with chosen groups and speak the control protocol themselves:
 * refused (by the file's mode, or by SO_PEERCRED when the mode is loosened) unless in
 * [daemon] ctl-group, as primary or supplementary group. The socket files carry the group and
 * mode the configuration asks for.
 */
#include <fcntl.h>
#include <grp.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto_common.h"

#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_GID 1             /* "daemon" on Debian; any gid but nogroup's */

/*
 * In a child running as uid NOBODY, gid @gid, supplementary groups @groups: connect to
 * @path, send @req, and return the answer line (or "connect: REASON") in @out.
 */
static void as_nobody(const char *path, gid_t gid, const gid_t *groups, size_t ngroups,
		      const char *req, char *out, size_t cap)
{
	int p[2];
	size_t len = 0;
	pid_t pid;

	REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char buf[4096];
		size_t n = 0;
		int fd;

		if (setgroups(ngroups, groups) || setgid(gid) || setuid(NOBODY)) {
			dprintf(p[1], "drop privileges: %s", strerror(errno));
			_exit(1);
		}
		strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			dprintf(p[1], "connect: %s", strerror(errno));
			_exit(0);
		}
		signal(SIGPIPE, SIG_IGN);
		(void)!write(fd, req, strlen(req));
		(void)!write(fd, "\n", 1);
		while (n + 1 < sizeof(buf)) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			ssize_t k;

			if (poll(&pf, 1, 3000) <= 0 || (k = read(fd, buf + n, sizeof(buf) - 1 - n)) <= 0)
				break;
			n += (size_t)k;
			if (memchr(buf, '\n', n))
				break;
		}
		(void)!write(p[1], buf, n);
		_exit(0);
	}
	close(p[1]);
	vu_test_watch_pid(pid, true);
	for (;;) {
		ssize_t k = read(p[0], out + len, cap - 1 - len);

		if (k <= 0)
			break;
		len += (size_t)k;
	}
	out[len] = '\0';
	close(p[0]);
	waitpid(pid, NULL, 0);
	vu_test_watch_pid(pid, false);
}

static uint64_t status_u64(struct vu_daemon *d, const char *key)
{
	static const char *const status[] = { "status", NULL };
	struct json_object *o, *v;
	uint64_t n = 0;

	if (vu_ctl_json(d, &o, status) == 0) {
		if (json_object_object_get_ex(o, key, &v))
			n = json_object_get_uint64(v);
		json_object_put(o);
	}
	return n;
}

static bool file_is(const char *path, mode_t mode, gid_t gid)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		vu_test_note("%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != mode || st.st_gid != gid) {
		vu_test_note("%s: mode %o gid %u, expected socket %o gid %u", path,
			     (unsigned)(st.st_mode & 07777), (unsigned)st.st_gid, (unsigned)mode,
			     (unsigned)gid);
		return false;
	}
	return true;
}

static void write_config(const char *path, const char *daemon_extra)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f, "write %s", path);
	fprintf(f, "[daemon]\nworkers = 0\n%s\n[port a]\n[port g]\ngroup = nogroup\nperm = 0640\n",
		daemon_extra);
	fclose(f);
}

static bool log_has(struct vu_daemon *d, const char *what, int ms)
{
	int64_t deadline = vu_now_ms() + ms;

	for (;;) {
		char *n = vu_daemon_log_new(d);
		bool hit = strstr(n, what) != NULL;

		free(n);
		if (hit)
			return true;
		if (vu_now_ms() > deadline)
			return false;
		usleep(50000);
	}
}

int main(void)
{
	static const char *const reload[] = { "reload", NULL };
	static const char status_req[] = "{\"cmd\":\"status\"}";
	const char *extra[] = { "-c", NULL, "--libvirt-uri", "none", NULL };
	const gid_t supp_nogroup[] = { NOGROUP };
	struct vu_daemon d;
	char cfg[128], path[256], metrics[256], out[4096], req[512];
	int fds0;

	vu_test_init("access", 90);
	if (geteuid() != 0)
		vu_test_skip("needs root to run clients as another user");
	if (!getgrgid(NOGROUP))
		vu_test_skip("no group %d (nogroup)", NOGROUP);
	snprintf(cfg, sizeof(cfg), "/tmp/vulb-access-%d.conf", (int)getpid());
	write_config(cfg, "");
	extra[1] = cfg;
	REQUIRE(vu_daemon_start(&d, NULL, extra) == 0, "daemon start");
	/* mkdtemp made the directory 0700: let other users reach the sockets in it. */
	REQUIRE(chmod(d.dir, 0711) == 0, "chmod %s", d.dir);
	snprintf(metrics, sizeof(metrics), "%s/metrics.sock", d.dir);
	fds0 = vu_daemon_fd_count_settled(&d, -1, 2000);

	vu_test_case("socket files: the group and mode the configuration asks for");
	CHECK(file_is(vu_daemon_sock(&d, "a", path, sizeof(path)), 0660, 0), "port a: 0660 root (default)");
	CHECK(file_is(vu_daemon_sock(&d, "g", path, sizeof(path)), 0640, NOGROUP),
	      "port g: group = nogroup, perm = 0640");
	{
		static const char *const add[] = { "port", "add", "h", "--group", "nogroup", "--perm", "0600", NULL };

		CHECK(vu_ctl_run(&d, false, NULL, add) == 0, "port add h --group nogroup --perm 0600");
		CHECK(file_is(vu_daemon_sock(&d, "h", path, sizeof(path)), 0600, NOGROUP), "port h: 0600 nogroup");
	}
	CHECK(file_is(d.ctl, 0600, 0), "control socket: 0600 root (no ctl-group)");
	CHECK(file_is(metrics, 0600, 0), "metrics socket: 0600 root (no ctl-group)");

	vu_test_case("without ctl-group, nobody is refused");
	as_nobody(d.ctl, NOGROUP, NULL, 0, status_req, out, sizeof(out));
	CHECK(strstr(out, "connect: Permission denied"), "by the file's mode: %s", out);
	REQUIRE(chmod(d.ctl, 0666) == 0, "loosen the control socket's mode");
	as_nobody(d.ctl, NOGROUP, NULL, 0, status_req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "permission denied"),
	      "with the mode loosened, by its credentials, with a JSON error: %s", out);
	CHECK(status_u64(&d, "ctl_refused") == 1, "status: ctl_refused 1");
	CHECK(log_has(&d, "uid=65534 gid=65534: refused: not root and not in ctl-group", 2000),
	      "the log names the client's pid and uid");

	vu_test_case("ctl-group = nogroup (on reload): its members are served");
	write_config(cfg, "ctl-group = nogroup\n");
	CHECK(vu_ctl_run(&d, false, NULL, reload) == 0, "reload");
	CHECK(file_is(d.ctl, 0660, NOGROUP), "control socket: 0660 nogroup");
	CHECK(file_is(metrics, 0660, NOGROUP), "metrics socket: 0660 nogroup");
	as_nobody(d.ctl, NOGROUP, NULL, 0, status_req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":true"), "primary group nogroup: served: %s", out);
	as_nobody(d.ctl, OTHER_GID, supp_nogroup, 1, status_req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":true"), "supplementary group nogroup: served: %s", out);
	as_nobody(d.ctl, OTHER_GID, NULL, 0, status_req, out, sizeof(out));
	CHECK(strstr(out, "connect: Permission denied"), "not in nogroup: refused by the mode: %s", out);
	REQUIRE(chmod(d.ctl, 0666) == 0, "loosen the mode again");
	as_nobody(d.ctl, OTHER_GID, NULL, 0, status_req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "permission denied"),
	      "not in nogroup, mode loosened: refused by its credentials: %s", out);
	CHECK(status_u64(&d, "ctl_refused") == 2, "status: ctl_refused 2");

	vu_test_case("a ctl-group member cannot take the daemon over (guest memory fds)");
	as_nobody(d.ctl, NOGROUP, NULL, 0, "{\"cmd\":\"handover\"}", out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "root only"), "handover refused: %s", out);
	CHECK(log_has(&d, "uid=65534: refused: hand-over is for root only", 2000), "and logged");

	vu_test_case("a control client's socket paths stay in the socket directory");
	as_nobody(d.ctl, NOGROUP, NULL, 0, "{\"cmd\":\"port-add\",\"name\":\"n1\"}", out, sizeof(out));
	CHECK(strstr(out, "\"ok\":true") && access(vu_daemon_sock(&d, "n1", path, sizeof(path)), F_OK) == 0,
	      "a ctl-group member adds a port in the socket directory: %s", out);
	as_nobody(d.ctl, NOGROUP, NULL, 0,
		  "{\"cmd\":\"port-add\",\"name\":\"n2\",\"path\":\"/tmp/vulb-access-evil.sock\"}", out,
		  sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "not in the socket directory") &&
	      access("/tmp/vulb-access-evil.sock", F_OK) != 0, "a path elsewhere is refused: %s", out);
	snprintf(req, sizeof(req), "{\"cmd\":\"port-add\",\"name\":\"n3\",\"path\":\"%s/../n3.sock\"}", d.dir);
	as_nobody(d.ctl, NOGROUP, NULL, 0, req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "'..'"), "a '..' component is refused: %s", out);
	as_nobody(d.ctl, NOGROUP, NULL, 0, "{\"cmd\":\"port-add\",\"name\":\"n4\",\"path\":\"n4.sock\"}",
		  out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "not absolute"), "a relative path is refused: %s", out);
	snprintf(req, sizeof(req), "{\"cmd\":\"port-add\",\"name\":\"n5\",\"path\":\"%s/sub/n5.sock\"}", d.dir);
	as_nobody(d.ctl, NOGROUP, NULL, 0, req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":false") && strstr(out, "not in the socket directory"),
	      "a subdirectory is refused: %s", out);
	snprintf(req, sizeof(req), "{\"cmd\":\"port-add\",\"name\":\"n6\",\"path\":\"%s/n6.sock\"}", d.dir);
	as_nobody(d.ctl, NOGROUP, NULL, 0, req, out, sizeof(out));
	CHECK(strstr(out, "\"ok\":true") && access(vu_daemon_sock(&d, "n6", path, sizeof(path)), F_OK) == 0,
	      "an explicit path in the socket directory is fine: %s", out);

	vu_test_case("allow-socket-path-outside = yes lets them elsewhere");
	write_config(cfg, "ctl-group = nogroup\nallow-socket-path-outside = yes\n");
	CHECK(vu_ctl_run(&d, false, NULL, reload) == 0, "reload");
	{
		static const char *const add[] = { "port", "add", "n7", "--path", "/tmp/vulb-access-out.sock", NULL };
		static const char *const del[] = { "port", "del", "n7", NULL };
		char *txt = NULL;

		CHECK(vu_ctl_run(&d, true, &txt, add) == 0 && access("/tmp/vulb-access-out.sock", F_OK) == 0,
		      "port add --path /tmp/...: %s", txt ? txt : "");
		free(txt);
		CHECK(vu_ctl_run(&d, false, NULL, del) == 0 && access("/tmp/vulb-access-out.sock", F_OK) != 0,
		      "port del removes it");
	}

	vu_test_case("nothing leaked");
	{
		static const char *const del_h[] = { "port", "del", "h", NULL };
		static const char *const del_n1[] = { "port", "del", "n1", NULL };
		static const char *const del_n6[] = { "port", "del", "n6", NULL };
		int fds1;

		CHECK(vu_ctl_run(&d, false, NULL, del_h) == 0 && vu_ctl_run(&d, false, NULL, del_n1) == 0 &&
		      vu_ctl_run(&d, false, NULL, del_n6) == 0, "port del h n1 n6");
		fds1 = vu_daemon_fd_count_settled(&d, fds0, 2000);
		CHECK(fds1 == fds0, "daemon fds: %d at start, %d now", fds0, fds1);
	}
	vu_daemon_stop(&d);
	unlink(cfg);
	return vu_test_finish();
}
