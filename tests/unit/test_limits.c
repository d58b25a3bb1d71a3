// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * [limits] and the access keys of [daemon]: defaults, ranges, the errors users see (line and
 * key), ports checked against max-ports and max-queue-pairs; the socket path rule.
 */
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/limits.h"
#include "core/sockfile.h"
#include "daemon/config.h"

static int load(const char *text, struct config *c, char *why, size_t len)
{
	char path[] = "/tmp/vulb-limits-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		return -1;
	close(fd);
	config_init(c);
	r = config_load_file(c, path, why, len);
	if (!r)
		r = config_resolve_paths(c, why, len);
	unlink(path);
	return r;
}

static void ranges(void)
{
	struct limits l;
	char why[256], val[32];

	limits_init(&l);
	CHECK(l.max[LIMIT_PORTS] == 1024 && l.max[LIMIT_QUEUE_PAIRS] == 16 &&
	      l.max[LIMIT_MEM_REGIONS] == 32 && l.max[LIMIT_FDB_ENTRIES] == 65536 &&
	      l.max[LIMIT_FLOWS] == 65536 && l.max[LIMIT_CTL_CLIENTS] == 32 &&
	      l.max[LIMIT_CTL_REQUEST_BYTES] == 65536, "defaults are the values built in before");
	for (unsigned int i = 0; i < LIMIT__MAX; i++) {
		const struct limit_info *li = &limit_info[i];

		CHECK(strncmp(li->key, "max-", 4) == 0 && strcmp(li->key + 4, li->name) == 0,
		      "%s: key is max-NAME", li->key);
		CHECK(li->min <= li->def && li->def <= li->max, "%s: default in its range", li->key);
		snprintf(val, sizeof(val), "%u", li->min);
		CHECK(limits_set(&l, li->key, val, why, sizeof(why)) == 0 && l.max[i] == li->min,
		      "%s = %s (the minimum) accepted", li->key, val);
		snprintf(val, sizeof(val), "%u", li->max);
		CHECK(limits_set(&l, li->key, val, why, sizeof(why)) == 0 && l.max[i] == li->max,
		      "%s = %s (the maximum) accepted", li->key, val);
		snprintf(val, sizeof(val), "%llu", (unsigned long long)li->max + 1);
		CHECK(limits_set(&l, li->key, val, why, sizeof(why)) == -EINVAL && strstr(why, li->key) &&
		      l.max[i] == li->max, "%s = %s refused: %s", li->key, val, why);
		if (li->min > 0) {
			snprintf(val, sizeof(val), "%u", li->min - 1);
			CHECK(limits_set(&l, li->key, val, why, sizeof(why)) == -EINVAL,
			      "%s = %s (below the minimum) refused", li->key, val);
		}
	}
	CHECK(limits_set(&l, "max-ports", "-1", why, sizeof(why)) == -EINVAL, "negative refused");
	CHECK(limits_set(&l, "max-ports", "99999999999999999999", why, sizeof(why)) == -EINVAL,
	      "overflow refused");
	CHECK(limits_set(&l, "max-ports", "12k", why, sizeof(why)) == -EINVAL, "suffix refused");
	CHECK(limits_set(&l, "max-ports", "", why, sizeof(why)) == -EINVAL, "empty refused");
	CHECK(limits_set(&l, "max-pots", "3", why, sizeof(why)) == -EINVAL && strstr(why, "max-pots"),
	      "unknown key named: %s", why);
}

static void file(void)
{
	struct config c;
	char why[512];

	CHECK(load("[limits]\nmax-ports = 3\nmax-mem-regions = 4\nmax-fdb-entries = 100\n"
		   "max-flows = 1024\nmax-ctl-clients = 2\nmax-ctl-request-bytes = 2048\n"
		   "max-queue-pairs = 2\n[port a]\n[port b]\nqueues = 2\n",
		   &c, why, sizeof(why)) == 0, "a [limits] section parses: %s", why);
	CHECK(c.limits.max[LIMIT_PORTS] == 3 && c.limits.max[LIMIT_MEM_REGIONS] == 4 &&
	      c.limits.max[LIMIT_FDB_ENTRIES] == 100 && c.limits.max[LIMIT_FLOWS] == 1024 &&
	      c.limits.max[LIMIT_CTL_CLIENTS] == 2 && c.limits.max[LIMIT_CTL_REQUEST_BYTES] == 2048 &&
	      c.limits.max[LIMIT_QUEUE_PAIRS] == 2, "values applied");
	CHECK(c.ports[0].queues == 2 && c.ports[0].queues_default,
	      "a port without queues gets the default capped at max-queue-pairs");
	config_free(&c);

	CHECK(load("[daemon]\nworkers = 0\n[limits]\nmax-mem-regions = 33\n", &c, why, sizeof(why)) ==
	      -EINVAL && strstr(why, ":4: max-mem-regions"), "error names line and key: %s", why);
	config_free(&c);
	CHECK(load("[limits]\nmax-ports = 1\n[port a]\n[port b]\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "max-ports"), "more ports than max-ports: %s", why);
	config_free(&c);
	CHECK(load("[port a]\nqueues = 8\n[limits]\nmax-queue-pairs = 4\n", &c, why, sizeof(why)) ==
	      -EINVAL && strstr(why, "[port a]") && strstr(why, "max-queue-pairs"),
	      "a port asking for more than max-queue-pairs, wherever [limits] is: %s", why);
	config_free(&c);

	CHECK(load("[daemon]\nctl-group = nogroup\nallow-socket-path-outside = yes\n", &c, why,
		   sizeof(why)) == 0 && c.ctl_group == 65534 && c.allow_socket_path_outside,
	      "ctl-group and allow-socket-path-outside: %s", why);
	config_free(&c);
	CHECK(load("[daemon]\nctl-group = no-such-group-here\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, ":2: ctl-group"), "an unknown group: %s", why);
	config_free(&c);
	CHECK(load("[daemon]\nallow-socket-path-outside = maybe\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "allow-socket-path-outside"), "yes or no: %s", why);
	config_free(&c);
	CHECK(load("\n", &c, why, sizeof(why)) == 0 && c.ctl_group == (gid_t)-1 &&
	      !c.allow_socket_path_outside, "defaults: root only, sockets in the socket directory");
	config_free(&c);
	CHECK(load("[port a]\npath = rel/a.sock\n", &c, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "path"), "a relative socket path: %s", why);
	config_free(&c);
}

static void paths(void)
{
	static const char *const bad[] = {
		"a.sock", "", "/", "/run/x/", "/run/../etc/x.sock", "/run/./x.sock", "/run//x.sock",
		"/run/x/..", "/run/x y.sock", "/run/x\n.sock", "/run/x\x7f", "/run/\xc3\xa9.sock",
	};
	char why[256], long_path[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(sockfile_path_check(bad[i], why, sizeof(why)) == -EINVAL, "refused: %s", why);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	CHECK(sockfile_path_check(long_path, why, sizeof(why)) == -EINVAL, "too long: %s", why);
	CHECK(sockfile_path_check("/run/vhost-user-lb/vm-1.sock", why, sizeof(why)) == 0 &&
	      sockfile_path_check("/run/a..b/.x.sock", why, sizeof(why)) == 0, "ordinary paths pass");

	CHECK(sockfile_path_in_dir("/run/v/a.sock", "/run/v"), "in the directory");
	CHECK(sockfile_path_in_dir("/run/v/a.sock", "/run/v/"), "in the directory (trailing /)");
	CHECK(!sockfile_path_in_dir("/run/v/sub/a.sock", "/run/v"), "not in a subdirectory");
	CHECK(!sockfile_path_in_dir("/run/vx/a.sock", "/run/v"), "not in a sibling with the prefix");
	CHECK(!sockfile_path_in_dir("/run/v", "/run/v"), "not the directory itself");
	CHECK(!sockfile_path_in_dir("/tmp/a.sock", "/run/v"), "not elsewhere");
}

int main(void)
{
	ranges();
	file();
	paths();
	return check_done();
}
