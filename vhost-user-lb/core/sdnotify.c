// SPDX-License-Identifier: GPL-2.0-or-later
/* systemd's notify protocol, sender side; see sdnotify.h for the protocol and the contract. */
#include "core/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

#define SDNOTIFY_MAX 4096

/*
 * Builds the address from $NOTIFY_SOCKET. Abstract names are not NUL-terminated: their length
 * is part of the address, so @ret_len must count exactly the name's bytes.
 * Return: 1 with the address, 0 when unset, -EINVAL when unusable.
 */
static int notify_addr(struct sockaddr_un *ret, socklen_t *ret_len)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!e || !*e)
		return 0;
	n = strlen(e);
	if (n >= sizeof(ret->sun_path))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->sun_family = AF_UNIX;
	if (e[0] == '@') {
		if (n < 2)
			return -EINVAL;
		/* sun_path[0] stays '\0': that is what makes the name abstract. */
		memcpy(ret->sun_path + 1, e + 1, n - 1);
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else if (e[0] == '/') {
		memcpy(ret->sun_path, e, n);
		*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	} else {
		/* "vsock:CID:PORT" (systemd >= 254 in VMs) is not needed on a KVM host. */
		return -EINVAL;
	}
	return 1;
}

int sdnotify(const char *state)
{
	struct sockaddr_un sa;
	socklen_t sa_len = 0;
	ssize_t n;
	int fd, r;

	if (!state)
		return -EINVAL;
	r = notify_addr(&sa, &sa_len);
	if (r <= 0)
		return r;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* MSG_NOSIGNAL: a manager that went away must not kill us with SIGPIPE. */
	n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
	r = n < 0 ? -errno : 1;
	(void)close(fd);
	return r;
}

int sdnotifyf(const char *fmt, ...)
{
	char buf[SDNOTIFY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		return -EMSGSIZE;
	return sdnotify(buf);
}

int sdnotify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sdnotifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)ts.tv_sec * 1000000ull +
				 (unsigned long long)ts.tv_nsec / 1000ull);
}

/* Strict decimal: digits only, no sign, no overflow. Return: 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int sdnotify_watchdog_usec(uint64_t *ret_usec)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t u, p;

	if (!usec || !*usec)
		return 0;
	if (parse_u64(usec, &u) || u == 0)
		return -EINVAL;
	if (pid && *pid) {
		if (parse_u64(pid, &p) || p == 0)
			return -EINVAL;
		if (p != (uint64_t)getpid())
			return 0;
	}
	*ret_usec = u;
	return 1;
}
