// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sdnotify against a fake service manager: a datagram socket of our own with SO_PASSCRED, as
 * systemd sets it up, named by $NOTIFY_SOCKET as a path and as an abstract name. Checks the
 * bytes received, that the kernel's credentials name us (systemd attributes messages by
 * them), and that everything is a harmless no-op without systemd.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/sdnotify.h"

struct fake_manager {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* @abstract: bind "\0vulb-test-PID" instead of a file; @env receives the $NOTIFY_SOCKET text. */
static int manager_open(struct fake_manager *m, int abstract, char *env, size_t env_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int one = 1;

	m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0)
		return -errno;
	if (setsockopt(m->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		return -errno;
	m->path[0] = '\0';
	if (abstract) {
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "vulb-test-sdnotify-%d",
				 (int)getpid());

		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		snprintf(env, env_len, "@%s", sa.sun_path + 1);
	} else {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

		snprintf(m->path, sizeof(m->path), "%s/vulb-sdnotify-%d.sock", tmp, (int)getpid());
		(void)unlink(m->path);
		memcpy(sa.sun_path, m->path, strlen(m->path) + 1);
		len = sizeof(sa);
		snprintf(env, env_len, "%s", m->path);
	}
	if (bind(m->fd, (struct sockaddr *)&sa, len) < 0)
		return -errno;
	return 0;
}

static void manager_close(struct fake_manager *m)
{
	if (m->fd >= 0)
		close(m->fd);
	if (m->path[0])
		(void)unlink(m->path);
	m->fd = -1;
}

/* One datagram within 1 s, NUL-terminated into @buf; *@pid gets the sender's credentials.
 * Return: its length, or -1 when nothing came. */
static ssize_t manager_recv(struct fake_manager *m, char *buf, size_t size, pid_t *pid)
{
	union {
		char raw[CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.raw,
			      .msg_controllen = sizeof(ctrl.raw) };
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
	ssize_t n;

	*pid = 0;
	if (poll(&pfd, 1, 1000) != 1)
		return -1;
	n = recvmsg(m->fd, &msg, MSG_DONTWAIT);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*pid = uc.pid;
		}
	return n;
}

/* TAP descriptions are one line: show '\n' in a received message as "\\n". */
static const char *oneline(const char *s)
{
	static char out[256];
	size_t o = 0;

	for (; *s && o + 3 < sizeof(out); s++) {
		if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/* Nothing must be waiting on the socket (checks that a call which should not send did not). */
static int manager_idle(struct fake_manager *m)
{
	struct pollfd pfd = { .fd = m->fd, .events = POLLIN };

	return poll(&pfd, 1, 50) == 0;
}

static void test_transport(int abstract)
{
	const char *kind = abstract ? "abstract" : "path";
	struct fake_manager m = { .fd = -1 };
	char env[128], buf[4200];
	pid_t pid;
	ssize_t n;
	int r;

	r = manager_open(&m, abstract, env, sizeof(env));
	CHECK(r == 0, "%s: fake manager socket at '%s' (%s)", kind, env, strerror(-r));
	if (r) {
		manager_close(&m);
		return;
	}
	setenv("NOTIFY_SOCKET", env, 1);

	r = sdnotify("READY=1");
	n = manager_recv(&m, buf, sizeof(buf), &pid);
	CHECK(r == 1 && n == 7 && strcmp(buf, "READY=1") == 0, "%s: READY=1 arrives as sent (r=%d '%s')",
	      kind, r, n > 0 ? buf : "");
	CHECK(pid == getpid(), "%s: credentials name the sender (pid %d, we are %d)", kind, (int)pid,
	      (int)getpid());

	r = sdnotifyf("STATUS=%u ports, %u workers\nWATCHDOG=1", 3u, 2u);
	n = manager_recv(&m, buf, sizeof(buf), &pid);
	CHECK(r == 1 && n > 0 && strcmp(buf, "STATUS=3 ports, 2 workers\nWATCHDOG=1") == 0,
	      "%s: formatted multi-line message '%s'", kind, n > 0 ? oneline(buf) : "");

	{
		struct timespec ts;
		unsigned long long before, stamp = 0, after;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		before = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
		r = sdnotify_reloading();
		clock_gettime(CLOCK_MONOTONIC, &ts);
		after = (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
		n = manager_recv(&m, buf, sizeof(buf), &pid);
		CHECK(r == 1 && n > 0 && sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &stamp) == 1 &&
			      stamp >= before && stamp <= after,
		      "%s: RELOADING=1 with MONOTONIC_USEC=%llu within [%llu, %llu]", kind, stamp, before,
		      after);
	}

	r = sdnotify("STOPPING=1");
	n = manager_recv(&m, buf, sizeof(buf), &pid);
	CHECK(r == 1 && n > 0 && strcmp(buf, "STOPPING=1") == 0, "%s: STOPPING=1", kind);

	{
		char big[5000];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		r = sdnotifyf("STATUS=%s", big);
		CHECK(r == -EMSGSIZE && manager_idle(&m), "%s: oversized STATUS refused, nothing sent (r=%d)",
		      kind, r);
	}

	/* A manager that went away: an error to the caller, never a signal or a crash. */
	manager_close(&m);
	r = sdnotify("WATCHDOG=1");
	CHECK(r == (abstract ? -ECONNREFUSED : -ENOENT), "%s: manager gone -> %d (%s)", kind, r,
	      strerror(-r));
	unsetenv("NOTIFY_SOCKET");
}

static void test_bad_env(void)
{
	char longp[200];
	int r;

	unsetenv("NOTIFY_SOCKET");
	CHECK(sdnotify("READY=1") == 0, "no NOTIFY_SOCKET: no-op returning 0");
	setenv("NOTIFY_SOCKET", "", 1);
	CHECK(sdnotify("READY=1") == 0, "empty NOTIFY_SOCKET: no-op returning 0");
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	r = sdnotify("READY=1");
	CHECK(r == -EINVAL, "relative path refused (%d)", r);
	setenv("NOTIFY_SOCKET", "@", 1);
	r = sdnotify("READY=1");
	CHECK(r == -EINVAL, "empty abstract name refused (%d)", r);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	r = sdnotify("READY=1");
	CHECK(r == -EINVAL, "vsock address refused, not misread as a path (%d)", r);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	r = sdnotify("READY=1");
	CHECK(r == -EINVAL, "path longer than sun_path refused (%d)", r);
	CHECK(sdnotify(NULL) == -EINVAL, "NULL state refused");
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void)
{
	char mypid[32];
	uint64_t u = 42;
	int r;

	snprintf(mypid, sizeof(mypid), "%d", (int)getpid());
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	r = sdnotify_watchdog_usec(&u);
	CHECK(r == 0 && u == 42, "no WATCHDOG_USEC: disabled, output untouched");

	setenv("WATCHDOG_USEC", "30000000", 1);
	r = sdnotify_watchdog_usec(&u);
	CHECK(r == 1 && u == 30000000, "WATCHDOG_USEC without WATCHDOG_PID: enabled, %llu us",
	      (unsigned long long)u);

	setenv("WATCHDOG_PID", mypid, 1);
	u = 0;
	r = sdnotify_watchdog_usec(&u);
	CHECK(r == 1 && u == 30000000, "WATCHDOG_PID is ours: enabled");

	setenv("WATCHDOG_PID", "1", 1);
	u = 42;
	r = sdnotify_watchdog_usec(&u);
	CHECK(r == 0 && u == 42, "WATCHDOG_PID names another process: disabled");

	setenv("WATCHDOG_PID", "12x", 1);
	CHECK(sdnotify_watchdog_usec(&u) == -EINVAL, "malformed WATCHDOG_PID refused");
	setenv("WATCHDOG_PID", mypid, 1);

	static const char *const bad[] = { "0", "-5", "10s", " 5", "99999999999999999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		u = 42;
		r = sdnotify_watchdog_usec(&u);
		CHECK(r == -EINVAL && u == 42, "WATCHDOG_USEC='%s' refused (%d)", bad[i], r);
	}
	setenv("WATCHDOG_USEC", "18446744073709551615", 1);
	r = sdnotify_watchdog_usec(&u);
	CHECK(r == 1 && u == UINT64_MAX, "largest WATCHDOG_USEC (infinity) parsed");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int main(void)
{
	test_transport(0);
	test_transport(1);
	test_bad_env();
	test_watchdog();
	return check_done();
}
