/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vu_harness.h"
#include "vu_internal.h"

#define MAX_DAEMONS 8
#define START_TIMEOUT_MS 15000
#define CTL_TIMEOUT_MS 10000

static const char *test_name = "test";
static char case_name[128] = "setup";
static int failures, case_failures_at_start, cases_passed, cases_failed;
static bool case_open;
static struct vu_daemon *daemons[MAX_DAEMONS];
static pid_t helpers[MAX_DAEMONS];

void vu_test_watch_pid(pid_t pid, bool on)
{
	unsigned i;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (on && !helpers[i]) {
			helpers[i] = pid;
			return;
		}
		if (!on && helpers[i] == pid)
			helpers[i] = 0;
	}
}

static bool in_ci(void)
{
	const char *ci = getenv("CI");

	return ci && !strcmp(ci, "true");
}

static void close_case(void)
{
	if (!case_open)
		return;
	if (failures > case_failures_at_start) {
		cases_failed++;
		printf("not ok - %s\n", case_name);
	} else {
		cases_passed++;
		printf("ok - %s\n", case_name);
	}
	case_open = false;
}

static void kill_all(int sig)
{
	unsigned i;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (daemons[i] && !daemons[i]->ended && daemons[i]->pid > 0)
			kill(daemons[i]->pid, sig);
		if (helpers[i] > 0)
			kill(helpers[i], SIGKILL);
	}
}

static void on_alarm(int sig)
{
	unsigned i;

	(void)sig;
	fprintf(stderr, "%s: TIMEOUT in case '%s'\n", test_name, case_name);
	for (i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i])
			vu_daemon_log_tail(daemons[i], 40);
	kill_all(SIGKILL);
	_exit(1);
}

void vu_test_init(const char *name, int timeout_s)
{
	test_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)timeout_s);
}

static void require_binaries(void)
{
	if (!getenv("VHOST_LB_BIN") || access(getenv("VHOST_LB_BIN"), X_OK))
		vu_test_skip("VHOST_LB_BIN is not an executable ('%s')",
			     getenv("VHOST_LB_BIN") ? getenv("VHOST_LB_BIN") : "unset");
	if (!getenv("VHOST_LB_CTL") || access(getenv("VHOST_LB_CTL"), X_OK))
		vu_test_skip("VHOST_LB_CTL is not an executable ('%s')",
			     getenv("VHOST_LB_CTL") ? getenv("VHOST_LB_CTL") : "unset");
}

void vu_test_case(const char *fmt, ...)
{
	va_list ap;

	close_case();
	va_start(ap, fmt);
	vsnprintf(case_name, sizeof(case_name), fmt, ap);
	va_end(ap);
	printf("# case: %s\n", case_name);
	case_failures_at_start = failures;
	case_open = true;
}

void vu_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	failures++;
	fprintf(stderr, "FAIL [%s] %s:%d: ", case_name, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void vu_test_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int vu_test_failures(void)
{
	return failures;
}

static void stop_all(void)
{
	unsigned i;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (daemons[i])
			vu_daemon_stop(daemons[i]);
		if (helpers[i] > 0) {
			kill(helpers[i], SIGKILL);
			waitpid(helpers[i], NULL, 0);
			helpers[i] = 0;
		}
	}
}

int vu_test_finish(void)
{
	stop_all();
	close_case();
	printf("%s: %d passed, %d failed\n", test_name, cases_passed, cases_failed);
	return failures ? 1 : 0;
}

void vu_test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: %s: ", test_name, in_ci() ? "FAIL (CI=true)" : "SKIP");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	kill_all(SIGKILL);
	exit(in_ci() ? 1 : 77);
}

void vu_test_abort(void)
{
	unsigned i;

	for (i = 0; i < MAX_DAEMONS; i++)
		if (daemons[i])
			vu_daemon_log_tail(daemons[i], 40);
	stop_all();
	close_case();
	printf("%s: aborted; %d passed, %d failed\n", test_name, cases_passed, cases_failed);
	exit(1);
}

/* ---- daemon ------------------------------------------------------------------------------ */

static void spec_name(const char *spec, char *name, size_t len)
{
	size_t n = strcspn(spec, ",");

	if (n >= len)
		n = len - 1;
	memcpy(name, spec, n);
	name[n] = 0;
}

static bool spec_is_client(const char *spec)
{
	return strstr(spec, "mode=client") != NULL;
}

const char *vu_daemon_sock(const struct vu_daemon *d, const char *port, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", d->dir, port);
	return buf;
}

bool vu_daemon_alive(struct vu_daemon *d)
{
	int st;

	if (d->ended)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		d->ended = true;
		d->status = st;
		return false;
	}
	return true;
}

static void register_daemon(struct vu_daemon *d, bool on)
{
	unsigned i;

	for (i = 0; i < MAX_DAEMONS; i++) {
		if (on && !daemons[i]) {
			daemons[i] = d;
			return;
		}
		if (!on && daemons[i] == d)
			daemons[i] = NULL;
	}
}

/* Start the daemon in @d's directory and wait until it answers (see vu_daemon_start). */
static int launch(struct vu_daemon *d, const char *const *port_specs, const char *const *extra)
{
	const char *bin = getenv("VHOST_LB_BIN");
	const char *argv[96];
	int64_t deadline;
	unsigned n = 0, i;
	char path[256];
	int64_t next_ctl = 0;

	d->nports = 0;
	d->ended = false;
	argv[n++] = bin;
	argv[n++] = "--socket-dir";
	argv[n++] = d->dir;
	argv[n++] = "--ctl-socket";
	argv[n++] = d->ctl;
	for (i = 0; port_specs && port_specs[i] && n < 80; i++) {
		argv[n++] = "--port";
		argv[n++] = port_specs[i];
		if (d->nports < 16)
			snprintf(d->ports[d->nports++], sizeof(d->ports[0]), "%s", port_specs[i]);
	}
	for (i = 0; extra && extra[i] && n < 94; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || nul < 0)
			_exit(127);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	register_daemon(d, true);

	deadline = vu_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		bool socks = true;

		if (!vu_daemon_alive(d)) {
			fprintf(stderr, "daemon exited during start-up (status 0x%x)\n", d->status);
			vu_daemon_log_tail(d, 40);
			return -ECHILD;
		}
		for (i = 0; i < d->nports; i++) {
			char name[64];

			if (spec_is_client(d->ports[i]))
				continue;
			if (strstr(d->ports[i], "path=")) {
				const char *p = strstr(d->ports[i], "path=") + 5;
				size_t l = strcspn(p, ",");

				snprintf(path, sizeof(path), "%.*s", (int)l, p);
			} else {
				spec_name(d->ports[i], name, sizeof(name));
				vu_daemon_sock(d, name, path, sizeof(path));
			}
			if (access(path, F_OK))
				socks = false;
		}
		if (socks && vu_now_ms() >= next_ctl) {
			static const char *const status[] = { "status", NULL };

			if (vu_ctl_run(d, false, NULL, status) == 0)
				return 0;
			next_ctl = vu_now_ms() + 100;
		}
		if (vu_now_ms() > deadline) {
			fprintf(stderr, "daemon not ready after %d ms\n", START_TIMEOUT_MS);
			vu_daemon_log_tail(d, 40);
			return -ETIMEDOUT;
		}
		(void)poll(NULL, 0, 20);
	}
}

int vu_daemon_start(struct vu_daemon *d, const char *const *port_specs, const char *const *extra)
{
	require_binaries();
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/vulb-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->ctl, sizeof(d->ctl), "%s/ctl.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
	return launch(d, port_specs, extra);
}

int vu_daemon_restart_after_kill(struct vu_daemon *d, const char *const *port_specs,
				 const char *const *extra)
{
	int st;

	if (!vu_daemon_alive(d))
		return -ECHILD;
	kill(d->pid, SIGKILL);
	if (waitpid(d->pid, &st, 0) != d->pid)
		return -errno;
	/* The dead process's sockets stay behind, as after a real crash. */
	register_daemon(d, false);
	return launch(d, port_specs, extra);
}

int vu_daemon_takeover(struct vu_daemon *d, const char *const *extra)
{
	const char *bin = getenv("VHOST_LB_BIN");
	const char *argv[32];
	int64_t deadline;
	pid_t old = d->pid, pid;
	unsigned n = 0;
	int st;

	argv[n++] = bin;
	argv[n++] = "--socket-dir";
	argv[n++] = d->dir;
	argv[n++] = "--ctl-socket";
	argv[n++] = d->ctl;
	argv[n++] = "--takeover";
	for (unsigned i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	if (!vu_daemon_alive(d))
		return -ECHILD;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* The same log, appended: the old process's last lines and the new one's first. */
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || nul < 0)
			_exit(127);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* The old process exits 0 once the new one has everything. */
	deadline = vu_now_ms() + START_TIMEOUT_MS;
	while (waitpid(old, &st, WNOHANG) != old) {
		if (vu_now_ms() > deadline) {
			fprintf(stderr, "the old daemon did not exit after the hand-over\n");
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -ETIMEDOUT;
		}
		(void)poll(NULL, 0, 10);
	}
	d->pid = pid;
	d->ended = false;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "the old daemon ended with status 0x%x at the hand-over\n", st);
		vu_daemon_log_tail(d, 40);
		return -EPROTO;
	}
	while (vu_now_ms() <= deadline) {
		static const char *const status[] = { "status", NULL };

		if (!vu_daemon_alive(d)) {
			fprintf(stderr, "the new daemon exited (status 0x%x)\n", d->status);
			vu_daemon_log_tail(d, 40);
			return -ECHILD;
		}
		if (vu_ctl_run(d, false, NULL, status) == 0)
			return 0;
		(void)poll(NULL, 0, 50);
	}
	return -ETIMEDOUT;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void scan_log_for_sanitizers(struct vu_daemon *d)
{
	static const char *const bad[] = { "AddressSanitizer", "LeakSanitizer",
					   "runtime error:", "ThreadSanitizer" };
	char line[1024];
	FILE *f = fopen(d->log, "r");
	unsigned i;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			if (strstr(line, bad[i])) {
				vu_test_fail(__FILE__, __LINE__, "daemon log: %s", line);
				fclose(f);
				return;
			}
		}
	}
	fclose(f);
}

void vu_daemon_stop(struct vu_daemon *d)
{
	int64_t deadline;
	int before = failures;

	if (!d->pid)
		return;
	if (vu_daemon_alive(d)) {
		kill(d->pid, SIGTERM);
		deadline = vu_now_ms() + 5000;
		while (vu_daemon_alive(d) && vu_now_ms() < deadline)
			(void)poll(NULL, 0, 10);
		if (!d->ended) {
			vu_test_fail(__FILE__, __LINE__, "daemon ignored SIGTERM for 5 s");
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &d->status, 0);
			d->ended = true;
		}
		if (WIFSIGNALED(d->status))
			vu_test_fail(__FILE__, __LINE__, "daemon died of signal %d at SIGTERM",
				     WTERMSIG(d->status));
		else if (WEXITSTATUS(d->status))
			vu_test_fail(__FILE__, __LINE__, "daemon exited %d after SIGTERM",
				     WEXITSTATUS(d->status));
	} else {
		vu_test_fail(__FILE__, __LINE__, "daemon had already ended (%s %d)",
			     WIFSIGNALED(d->status) ? "signal" : "exit",
			     WIFSIGNALED(d->status) ? WTERMSIG(d->status) : WEXITSTATUS(d->status));
	}
	scan_log_for_sanitizers(d);
	register_daemon(d, false);
	if (failures > before)
		vu_daemon_log_tail(d, 60);
	if (failures || getenv("VU_KEEP"))
		fprintf(stderr, "daemon files kept in %s\n", d->dir);
	else
		nftw(d->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	d->pid = 0;
}

int vu_daemon_fd_count(const struct vu_daemon *d)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

char *vu_daemon_metrics(const struct vu_daemon *d)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = 0, cap = 1 << 16;
	char *out = malloc(cap);
	ssize_t k;
	int fd;

	if (!out || snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/metrics.sock", d->dir) >=
		    (int)sizeof(sa.sun_path))
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		close(fd);
		goto fail;
	}
	for (;;) {
		if (n + 1 == cap) {
			char *bigger = realloc(out, cap * 2);

			if (!bigger) {
				close(fd);
				goto fail;
			}
			out = bigger;
			cap *= 2;
		}
		k = recv(fd, out + n, cap - 1 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	out[n] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

int vu_daemon_fd_count_settled(const struct vu_daemon *d, int want, int timeout_ms)
{
	int64_t end = vu_now_ms() + timeout_ms;
	int n = vu_daemon_fd_count(d), same = 0;

	while (vu_now_ms() < end) {
		int prev = n;

		if (want >= 0 ? n == want : same >= 2)
			break;
		usleep(20000);
		n = vu_daemon_fd_count(d);
		same = n == prev ? same + 1 : 0;
	}
	return n;
}

char *vu_daemon_log_new(struct vu_daemon *d)
{
	FILE *f = fopen(d->log, "r");
	char *buf;
	long end;
	size_t n = 0;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	end = ftell(f);
	if (end < (long)d->log_mark)
		d->log_mark = 0;
	fseek(f, (long)d->log_mark, SEEK_SET);
	buf = malloc((size_t)(end - (long)d->log_mark) + 1);
	if (buf)
		n = fread(buf, 1, (size_t)(end - (long)d->log_mark), f);
	fclose(f);
	if (!buf)
		return strdup("");
	buf[n] = 0;
	d->log_mark += n;
	return buf;
}

void vu_daemon_log_tail(const struct vu_daemon *d, int lines)
{
	FILE *f = fopen(d->log, "r");
	char **ring, line[2048];
	int i, n = 0;

	if (!f)
		return;
	ring = calloc((size_t)lines, sizeof(*ring));
	if (!ring) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		free(ring[n % lines]);
		ring[n % lines] = strdup(line);
		n++;
	}
	fclose(f);
	fprintf(stderr, "---- last lines of %s ----\n", d->log);
	for (i = n > lines ? n - lines : 0; i < n; i++)
		fputs(ring[i % lines] ? ring[i % lines] : "", stderr);
	fprintf(stderr, "---- end of daemon log ----\n");
	for (i = 0; i < lines; i++)
		free(ring[i]);
	free(ring);
}

/* ---- control client ---------------------------------------------------------------------- */

int vu_ctl_run(struct vu_daemon *d, bool json, char **ret_out, const char *const *args)
{
	const char *ctl = getenv("VHOST_LB_CTL");
	const char *argv[32];
	int64_t deadline = vu_now_ms() + CTL_TIMEOUT_MS;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	int pfd[2], st, n = 0, i;
	pid_t pid;

	if (!out)
		return -ENOMEM;
	argv[n++] = ctl;
	argv[n++] = "-s";
	argv[n++] = d->ctl;
	if (json)
		argv[n++] = "--json";
	for (i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		free(out);
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		free(out);
		return -errno;
	}
	if (pid == 0) {
		dup2(pfd[1], 1);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, vu_remaining_ms(deadline)) <= 0) {
			fprintf(stderr, "control client timed out\n");
			kill(pid, SIGKILL);
			break;
		}
		if (len + 1024 > cap) {
			char *bigger = realloc(out, cap * 2);

			if (!bigger)
				break;
			out = bigger;
			cap *= 2;
		}
		r = read(pfd[0], out + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	out[len] = 0;
	close(pfd[0]);
	waitpid(pid, &st, 0);
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	if (WIFSIGNALED(st))
		return -EINTR;
	return WEXITSTATUS(st);
}

int vu_ctl_json(struct vu_daemon *d, struct json_object **ret, const char *const *args)
{
	struct json_object *j;
	char *out = NULL;
	int r;

	r = vu_ctl_run(d, true, &out, args);
	if (r != 0) {
		fprintf(stderr, "vhost-user-lbctl %s: exit %d, output '%s'\n", args[0], r,
			out ? out : "");
		free(out);
		return r < 0 ? r : -EIO;
	}
	j = json_tokener_parse(out);
	if (!j) {
		fprintf(stderr, "vhost-user-lbctl %s: output is not JSON: '%s'\n", args[0], out);
		free(out);
		return -EBADMSG;
	}
	free(out);
	*ret = j;
	return 0;
}

long long vu_json_int(struct json_object *o, const char *key)
{
	struct json_object *f;

	return json_object_object_get_ex(o, key, &f) ? (long long)json_object_get_int64(f) : -1;
}

static bool get_u64(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *f;

	if (!json_object_object_get_ex(o, key, &f))
		return false;
	*v = (uint64_t)json_object_get_int64(f);
	return true;
}

static void note_missing(struct vu_port_stats *s, const char *field)
{
	size_t l = strlen(s->missing);

	s->complete = false;
	snprintf(s->missing + l, sizeof(s->missing) - l, "%s%s", l ? "," : "", field);
}

/* A drops field may be a number or an object {reason: count}. */
static uint64_t drops_sum(struct json_object *f, char *reasons, size_t len)
{
	uint64_t sum = 0;

	if (json_object_is_type(f, json_type_object)) {
		json_object_object_foreach(f, key, val)
		{
			uint64_t v = (uint64_t)json_object_get_int64(val);

			sum += v;
			if (reasons && v) {
				size_t l = strlen(reasons);

				snprintf(reasons + l, len - l, "%s%s=%llu", l ? " " : "", key,
					 (unsigned long long)v);
			}
		}
		return sum;
	}
	return (uint64_t)json_object_get_int64(f);
}

static struct json_object *find_port(struct json_object *top, const char *arr, const char *name)
{
	struct json_object *ports, *p, *n;
	size_t i;

	if (!json_object_object_get_ex(top, arr, &ports) ||
	    !json_object_is_type(ports, json_type_array))
		return NULL;
	for (i = 0; i < json_object_array_length(ports); i++) {
		p = json_object_array_get_idx(ports, i);
		if (json_object_object_get_ex(p, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return p;
	}
	return NULL;
}

int vu_ctl_port_stats(struct vu_daemon *d, const char *name, struct vu_port_stats *s)
{
	const char *args[] = { "stats", name, NULL };
	struct json_object *top, *p, *f;
	int r;

	memset(s, 0, sizeof(*s));
	s->complete = true;
	r = vu_ctl_json(d, &top, args);
	if (r < 0)
		return r;
	p = find_port(top, "ports", name);
	if (!p) {
		fprintf(stderr, "stats: no port '%s' in %s\n", name, json_object_to_json_string(top));
		json_object_put(top);
		return -ENOENT;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (json_object_object_get_ex(p, "state", &f))
		snprintf(s->state, sizeof(s->state), "%s", json_object_get_string(f));
	else
		note_missing(s, "state");
	/* "macs" may be a count or the list of learned addresses */
	if (json_object_object_get_ex(p, "macs", &f))
		s->macs = json_object_is_type(f, json_type_array) ? json_object_array_length(f)
								  : (uint64_t)json_object_get_int64(f);
	else
		note_missing(s, "macs");
	(void)get_u64(p, "rx_gso", &s->rx_gso);
	(void)get_u64(p, "tx_gso", &s->tx_gso);
	(void)get_u64(p, "tx_gso_sw", &s->tx_gso_sw);
	(void)get_u64(p, "tx_csum_sw", &s->tx_csum_sw);
	if (!get_u64(p, "rx_packets", &s->rx_packets))
		note_missing(s, "rx_packets");
	if (!get_u64(p, "rx_bytes", &s->rx_bytes))
		note_missing(s, "rx_bytes");
	if (!get_u64(p, "tx_packets", &s->tx_packets))
		note_missing(s, "tx_packets");
	if (!get_u64(p, "tx_bytes", &s->tx_bytes))
		note_missing(s, "tx_bytes");
	if (json_object_object_get_ex(p, "drops", &f))
		s->drops = drops_sum(f, s->drop_reasons, sizeof(s->drop_reasons));
	else
		note_missing(s, "drops");
	if (json_object_object_get_ex(p, "queues", &f) && json_object_is_type(f, json_type_array)) {
		size_t i;

		for (i = 0; i < json_object_array_length(f) && i < 128; i++) {
			struct json_object *q = json_object_array_get_idx(f, i), *v;
			struct vu_queue_stats *qs = &s->q[s->nqueues++];
			uint64_t u = 0;

			qs->index = get_u64(q, "index", &u) ? (int)u : -1;
			if (json_object_object_get_ex(q, "dir", &v))
				snprintf(qs->dir, sizeof(qs->dir), "%s", json_object_get_string(v));
			if (json_object_object_get_ex(q, "enabled", &v))
				qs->enabled = json_object_get_boolean(v);
			(void)get_u64(q, "packets", &qs->packets);
			(void)get_u64(q, "bytes", &qs->bytes);
			(void)get_u64(q, "batches", &qs->batches);
			if (json_object_object_get_ex(q, "drops", &v))
				qs->drops = drops_sum(v, NULL, 0);
		}
	} else {
		note_missing(s, "queues");
	}
	json_object_put(top);
	return 0;
}

int vu_ctl_port_state(struct vu_daemon *d, const char *name, char *state, size_t len)
{
	static const char *const args[] = { "port", "list", NULL };
	struct json_object *top, *p, *f;
	int r;

	r = vu_ctl_json(d, &top, args);
	if (r < 0)
		return r;
	p = find_port(top, "ports", name);
	if (!p || !json_object_object_get_ex(p, "state", &f)) {
		json_object_put(top);
		return -ENOENT;
	}
	snprintf(state, len, "%s", json_object_get_string(f));
	json_object_put(top);
	return 0;
}

int vu_ctl_wait_state(struct vu_daemon *d, const char *name, const char *states, int timeout_ms)
{
	int64_t deadline = vu_now_ms() + timeout_ms;
	char st[64] = "";

	for (;;) {
		int r = vu_ctl_port_state(d, name, st, sizeof(st));

		if (r == 0) {
			const char *p = states;

			while (*p) {
				size_t l = strcspn(p, "|");

				if (strlen(st) == l && !strncmp(p, st, l))
					return 0;
				p += l;
				if (*p == '|')
					p++;
			}
		}
		if (vu_now_ms() >= deadline) {
			fprintf(stderr, "port '%s' state '%s', wanted %s\n", name, st, states);
			return -ETIMEDOUT;
		}
		(void)poll(NULL, 0, 25);
	}
}

int vu_ctl_fdb_lookup(struct vu_daemon *d, const char *mac, char *port, size_t len)
{
	static const char *const args[] = { "fdb", NULL };
	struct json_object *top, *arr, *e, *m, *p;
	size_t i;
	int r;

	r = vu_ctl_json(d, &top, args);
	if (r < 0)
		return r;
	r = -ENOENT;
	if (json_object_object_get_ex(top, "entries", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			e = json_object_array_get_idx(arr, i);
			if (json_object_object_get_ex(e, "mac", &m) &&
			    !strcasecmp(json_object_get_string(m), mac) &&
			    json_object_object_get_ex(e, "port", &p)) {
				snprintf(port, len, "%s", json_object_get_string(p));
				r = 0;
				break;
			}
		}
	}
	json_object_put(top);
	return r;
}
