// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The load balancer's checkpoint: its state (services_handover_save(): services, backends,
 * Maglev tables, hash key, flows) written to a file every lb-checkpoint-ms, so a process
 * started after a crash or `kill -9` restores it before it adds a port, and established
 * load-balanced flows keep their backend. The hand-over (--takeover) carries the same state
 * over a socket instead and does not read the file.
 *
 * Writes go to PATH.tmp (O_CLOEXEC, mode 0600), then rename() over PATH, so a reader sees the
 * last whole checkpoint or the one before, never half of one. The file is not fsync'd: it is
 * for a daemon that died, not a machine (after a reboot flows are meaningless, see below).
 * Nothing is written while there is no VIP, and a file we wrote (or found) is removed once
 * the last VIP is gone, so a restart does not bring back services deleted since.
 *
 * Concurrency: lb_state_save() runs here on the control thread while workers forward. That is
 * safe: services and backends have one writer, this thread; flows leave LIVE only on this
 * thread (expiry, flush), so every LIVE flow the walk sees stays allocated and its tuple,
 * service and backend (set before it went LIVE, with release) stay as read; its flags and
 * last-seen time are atomics, read racily, and a racy read of them is still a value some
 * moment had. Flows created during the walk may be missing: they are as new as the next
 * checkpoint anyway.
 *
 * Cost: serialising is O(flows) on the control thread. Each checkpoint is timed, and the next
 * one waits at least ten times as long as that one took, so checkpoints take at most about a
 * tenth of the control thread whatever the table's size (docs/usage.md gives a measure).
 *
 * Times: flows carry CLOCK_MONOTONIC seconds, which every process of one boot shares, so an
 * idle flow expires after a restart when it would have without one. The file records the boot
 * (boot_id) and the monotonic time it was written: from another boot, or from a clock that is
 * now behind it, its flows are dropped and only its services restored.
 *
 * The file is input from a previous process that may have died mid-way, so it is checked like
 * a frontend's message: a bounded size, json-c's parser, lb_state_restore()'s checks, and on
 * any failure a clean start with a log line.
 */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "daemon/daemon.h"

#define CHECKPOINT_VERSION 1
#define CHECKPOINT_SLOWDOWN 10            /* wait at least 10x what a checkpoint took */
#define CHECKPOINT_BYTES_PER_FLOW 256     /* a flow is ~120 bytes of JSON: room to spare */
/* Services: every Maglev table at its largest (4 hex digits a slot), every backend. */
#define CHECKPOINT_BYTES_BASE \
	((uint64_t)LB_MAX_VIPS * (LB_MAGLEV_MAX * 4 + LB_MAX_BACKENDS * 128) + (1u << 20))

static struct {
	char path[4096];
	char tmp[4096 + 8];
	uint32_t period_ms;
	uint64_t max_bytes;        /* larger files are refused at start */
	uint64_t next_ns;          /* no checkpoint before this (the cost bound) */
	uint64_t last_ns;          /* when the last one was written, 0: never */
	uint64_t last_cost_us;
	uint64_t writes, failures;
	bool file_ours;            /* the file is ours to remove when the last VIP goes */
	bool logged_failure;
} ck;

/* This boot's id, or "" when it cannot be read. */
static void boot_id(char *buf, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	buf[0] = '\0';
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes the state to the file. Context: control thread, RCU read side. Return: 0 or -errno. */
static int checkpoint_write(struct daemon *d)
{
	struct json_object *root = json_object_new_object(), *lb = services_handover_save(d);
	struct timespec real;
	const char *text;
	char boot[64];
	int fd = -1, r;

	if (!root || !lb) {
		r = -ENOMEM;
		goto out;
	}
	boot_id(boot, sizeof(boot));
	clock_gettime(CLOCK_REALTIME, &real);
	json_object_object_add(root, "version", json_object_new_int(CHECKPOINT_VERSION));
	json_object_object_add(root, "boot_id", json_object_new_string(boot));
	json_object_object_add(root, "mono_ns", json_object_new_uint64(time_ns_mono()));
	json_object_object_add(root, "real_s", json_object_new_int64(real.tv_sec));
	json_object_object_add(root, "lb", lb);
	lb = NULL;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	/* O_EXCL after unlink: never write through a link someone left at the temp name. */
	(void)unlink(ck.tmp);
	fd = open(ck.tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = write_all(fd, text, strlen(text));
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(ck.tmp, ck.path) < 0)
		r = -errno;
	if (r)
		(void)unlink(ck.tmp);
out:
	json_object_put(lb);
	json_object_put(root);
	return r;
}

/* Writes a checkpoint (or removes ours when no VIP is left) and keeps the counters. */
static void checkpoint_now(struct daemon *d)
{
	uint64_t t0 = time_ns_mono(), cost;
	int r;

	if (!__atomic_load_n(&d->dp->lb_active, __ATOMIC_RELAXED)) {
		if (ck.file_ours && unlink(ck.path) < 0 && errno != ENOENT)
			log_warn("cannot remove the load-balancer checkpoint %s: %s", ck.path,
				 strerror(errno));
		ck.file_ours = false;
		return;
	}
	r = checkpoint_write(d);
	cost = time_ns_mono() - t0;
	ck.last_cost_us = cost / 1000;
	ck.next_ns = t0 + CHECKPOINT_SLOWDOWN * cost;
	if (r) {
		ck.failures++;
		/* Once until one succeeds again: a full disk would say so every second. */
		if (!ck.logged_failure)
			log_error("cannot write the load-balancer checkpoint %s: %s", ck.path, strerror(-r));
		ck.logged_failure = true;
		return;
	}
	if (ck.logged_failure)
		log_info("load-balancer checkpoint %s written again", ck.path);
	ck.logged_failure = false;
	ck.file_ours = true;
	ck.writes++;
	ck.last_ns = time_ns_mono();
}

static void on_timer(struct ev_source *src, void *opaque)
{
	(void)src;
	if (time_ns_mono() >= ck.next_ns)
		checkpoint_now(opaque);
}

/* The file's text, NUL-terminated (malloc'd), if it is a regular file of at most max_bytes. */
static int read_file(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > ck.max_bytes)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? -errno : -EIO;   /* shrank under us */

			free(buf);
			return r;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret = buf;
	return 0;
}

static int64_t get_i64(struct json_object *o, const char *key, bool *ok)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) {
		*ok = false;
		return 0;
	}
	return json_object_get_int64(v);
}

/*
 * Restores the file's state, if there is a file. Every failure leaves the load balancer as it
 * was (empty) and says why; none stops the daemon.
 */
static void checkpoint_restore(struct daemon *d)
{
	struct json_object *root = NULL, *lb, *bid;
	enum json_tokener_error jerr;
	unsigned int nvips, nflows;
	char *text = NULL, boot[64];
	uint64_t now = time_ns_mono(), saved_mono;
	int64_t age_s;
	bool ok = true, same_boot;
	int r = read_file(ck.path, &text);

	if (r == -ENOENT)
		return;
	ck.file_ours = true;   /* whatever it holds: a later checkpoint replaces or removes it */
	if (r) {
		log_error("load-balancer checkpoint %s ignored: %s%s", ck.path, strerror(-r),
			  r == -EFBIG ? " (larger than max-flows can explain)" : "");
		return;
	}
	root = json_tokener_parse_verbose(text, &jerr);
	free(text);
	if (!root || !json_object_is_type(root, json_type_object)) {
		log_error("load-balancer checkpoint %s ignored: not a JSON object (%s)", ck.path,
			  root ? "another type" : json_tokener_error_desc(jerr));
		goto out;
	}
	saved_mono = (uint64_t)get_i64(root, "mono_ns", &ok);
	age_s = get_i64(root, "real_s", &ok);
	if (!ok || get_i64(root, "version", &ok) != CHECKPOINT_VERSION ||
	    !json_object_object_get_ex(root, "lb", &lb) || !json_object_is_type(lb, json_type_object) ||
	    !json_object_object_get_ex(root, "boot_id", &bid) || !json_object_is_type(bid, json_type_string)) {
		log_error("load-balancer checkpoint %s ignored: not a checkpoint of this version", ck.path);
		goto out;
	}
	boot_id(boot, sizeof(boot));
	same_boot = boot[0] && strcmp(boot, json_object_get_string(bid)) == 0 && saved_mono <= now;
	if (same_boot) {
		age_s = (int64_t)((now - saved_mono) / 1000000000ull);
	} else {
		struct timespec real;

		/* Its flows' times are another boot's monotonic clock: they would never expire. */
		clock_gettime(CLOCK_REALTIME, &real);
		age_s = real.tv_sec - age_s;
		json_object_object_add(lb, "flows", json_object_new_array());
	}
	r = services_checkpoint_restore(d, lb, &nvips, &nflows);
	if (r) {
		log_error("load-balancer checkpoint %s ignored: %s; starting without it", ck.path,
			  strerror(-r));
		goto out;
	}
	log_info("restored %u services, %u flows from %s (saved %lld s ago%s)", nvips, nflows,
		 ck.path, (long long)age_s, same_boot ? "" : ", before a reboot: flows dropped");
out:
	json_object_put(root);
}

/**
 * checkpoint_start() - checkpoints of the load balancer to @path every @period_ms ("" or 0:
 * off); with @restore, first restore the state a previous process left there.
 * @max_flows bounds the size of a file we accept.
 * Context: control thread, before any port is added (with @restore). Return: 0 or -errno.
 */
int checkpoint_start(struct daemon *d, const char *path, uint32_t period_ms, uint32_t max_flows,
		     bool restore)
{
	if (!path[0] || !period_ms || !d->lb)
		return 0;
	if (strlen(path) >= sizeof(ck.path))
		return -ENAMETOOLONG;
	snprintf(ck.path, sizeof(ck.path), "%s", path);
	snprintf(ck.tmp, sizeof(ck.tmp), "%s.tmp", path);
	ck.period_ms = period_ms;
	ck.max_bytes = CHECKPOINT_BYTES_BASE + (uint64_t)max_flows * CHECKPOINT_BYTES_PER_FLOW;
	if (restore)
		checkpoint_restore(d);
	else
		ck.file_ours = access(ck.path, F_OK) == 0;
	return evloop_add_timer(d->loop, period_ms, period_ms, on_timer, d, NULL);
}

/**
 * checkpoint_final() - the last checkpoint, at a clean shutdown (not after a hand-over: the new
 * process owns the file then).
 * Context: control thread, after the loop ended, before the ports go (their flows with them).
 */
void checkpoint_final(struct daemon *d)
{
	if (ck.period_ms && !d->handed_over)
		checkpoint_now(d);
}

/* For `vip show`: the checkpoint's file and counters. Context: control thread. */
struct json_object *checkpoint_json(struct daemon *d)
{
	struct json_object *o = json_object_new_object();

	(void)d;
	if (!o)
		return NULL;
	json_object_object_add(o, "file", json_object_new_string(ck.period_ms ? ck.path : ""));
	json_object_object_add(o, "period_ms", json_object_new_uint64(ck.period_ms));
	json_object_object_add(o, "writes", json_object_new_uint64(ck.writes));
	json_object_object_add(o, "failures", json_object_new_uint64(ck.failures));
	json_object_object_add(o, "last_cost_us", json_object_new_uint64(ck.last_cost_us));
	json_object_object_add(o, "last_age_ms", json_object_new_int64(
		ck.last_ns ? (int64_t)((time_ns_mono() - ck.last_ns) / 1000000) : -1));
	return o;
}
