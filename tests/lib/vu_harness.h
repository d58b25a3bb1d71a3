/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test harness for suites that drive the real daemon: start it in a temp dir, talk to it with
 * the control client (JSON), check results, and clean up even when a test times out.
 *
 * Environment: VHOST_LB_BIN, VHOST_LB_CTL (set by tests/meson.build). A missing prerequisite
 * skips (exit 77) unless CI=true, where it fails. VU_KEEP=1 keeps the temp dirs.
 */
#ifndef VU_HARNESS_H
#define VU_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

/* ---- checks ------------------------------------------------------------------------------ */

void vu_test_init(const char *name, int timeout_s);
/* Start a named sub-case; its checks are reported under that name. */
void vu_test_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vu_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Print the summary, stop every daemon still running; returns the exit code. */
int vu_test_finish(void);
/* Skip the whole test (exit 77), or fail under CI=true. */
void vu_test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Abort the whole test now (a REQUIRE failed): cleanup and exit 1. */
void vu_test_abort(void) __attribute__((noreturn));
int vu_test_failures(void);
/* Kill @pid (SIGKILL) if the test aborts or times out; @on false forgets it. */
void vu_test_watch_pid(pid_t pid, bool on);
void vu_test_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CHECK(cond, ...)                                                                     \
	({                                                                                   \
		bool ok_ = (cond);                                                           \
		if (!ok_)                                                                    \
			vu_test_fail(__FILE__, __LINE__, "CHECK(" #cond ") " __VA_ARGS__);   \
		ok_;                                                                         \
	})
#define REQUIRE(cond, ...)                                                                   \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			vu_test_fail(__FILE__, __LINE__, "REQUIRE(" #cond ") " __VA_ARGS__); \
			vu_test_abort();                                                     \
		}                                                                            \
	} while (0)

/* ---- the daemon -------------------------------------------------------------------------- */

struct vu_daemon {
	pid_t pid;
	int status;		/* wait status once it ended */
	bool ended;
	char dir[128];
	char ctl[192];
	char log[192];
	size_t log_mark;	/* vu_daemon_log_new() reads from here */
	char ports[16][64];	/* names given to vu_daemon_start, for waiting on sockets */
	unsigned nports;
};

/*
 * Start $VHOST_LB_BIN --socket-dir DIR --ctl-socket DIR/ctl.sock --port SPEC... [extra...]
 * with stderr to DIR/daemon.log; wait until every server-mode port socket exists and
 * `vhost-user-lbctl status` answers. @port_specs and @extra are NULL-terminated (may be NULL).
 */
int vu_daemon_start(struct vu_daemon *d, const char *const *port_specs, const char *const *extra);
/*
 * A crash: SIGKILL the daemon, then start it again as vu_daemon_start() did, in the same
 * directory with @port_specs and @extra (the log is appended). Frontends must connect again.
 * Return: 0 or -errno.
 */
int vu_daemon_restart_after_kill(struct vu_daemon *d, const char *const *port_specs,
				 const char *const *extra);
/* SIGTERM, wait up to 5 s (then SIGKILL). Fails the test on a crash, a non-zero exit or a
 * sanitizer report in the log. Removes the temp dir unless VU_KEEP or the test failed. */
void vu_daemon_stop(struct vu_daemon *d);
bool vu_daemon_alive(struct vu_daemon *d);
/*
 * Hand-over upgrade: start $VHOST_LB_BIN --takeover [extra...] on @d's control socket, wait
 * for the running process to exit 0 and the new one to answer; @d then stands for the new one.
 * Return: 0 or -errno (the reason printed).
 */
int vu_daemon_takeover(struct vu_daemon *d, const char *const *extra);
/* DIR/NAME.sock */
const char *vu_daemon_sock(const struct vu_daemon *d, const char *port, char *buf, size_t len);
/* Number of open fds of the daemon (from /proc), or -errno. */
int vu_daemon_fd_count(const struct vu_daemon *d);
/*
 * The daemon's fd count once it has settled: equal to @want (or, with @want < 0, the same in
 * three reads 20 ms apart), or the last read after @timeout_ms. Connections the harness or a
 * test just closed take the daemon's event loop a moment to reap: counting at once is a race.
 */
int vu_daemon_fd_count_settled(const struct vu_daemon *d, int want, int timeout_ms);
/* The metrics endpoint's whole HTTP answer (malloc'd, NUL-terminated), or NULL. */
char *vu_daemon_metrics(const struct vu_daemon *d);
/* Log text written since the last call (malloc'd, NUL-terminated; never NULL). */
char *vu_daemon_log_new(struct vu_daemon *d);
/* Print the last @lines lines of the daemon log to stderr. */
void vu_daemon_log_tail(const struct vu_daemon *d, int lines);

/* ---- the control client ------------------------------------------------------------------ */

/* Run $VHOST_LB_CTL -s CTL [--json] ARGS... ; returns its exit status (>= 0) or -errno. */
int vu_ctl_run(struct vu_daemon *d, bool json, char **ret_out, const char *const *args);
/* Run with --json and parse: *ret is the answer object (caller json_object_put()s it). */
int vu_ctl_json(struct vu_daemon *d, struct json_object **ret, const char *const *args);
/* Integer member @key of object @o of such an answer, or -1 when it has none. */
long long vu_json_int(struct json_object *o, const char *key);

struct vu_queue_stats {
	int index;
	char dir[16];
	bool enabled;
	uint64_t packets, bytes, drops;
	uint64_t batches;	/* bursts (TX rings) or batches (RX rings) */
};

struct vu_port_stats {
	char name[64];
	char state[32];
	uint64_t macs;
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t drops;		/* sum over reasons */
	char drop_reasons[256];	/* "reason=count ..." */
	uint64_t rx_gso, tx_gso, tx_gso_sw, tx_csum_sw;	/* offloads (0 when not reported) */
	unsigned nqueues;
	struct vu_queue_stats q[128];
	bool complete;		/* every documented field was present */
	char missing[128];	/* the fields that were not */
};

/* `stats NAME`: fill @ret for port @name. */
int vu_ctl_port_stats(struct vu_daemon *d, const char *name, struct vu_port_stats *ret);
/* State of @name from `port list` into @state. */
int vu_ctl_port_state(struct vu_daemon *d, const char *name, char *state, size_t len);
/* Poll `port list` until @name is in one of the '|'-separated @states. */
int vu_ctl_wait_state(struct vu_daemon *d, const char *name, const char *states, int timeout_ms);
/* Which port the fdb has for @mac ("02:00:..."), into @port; -ENOENT if none. */
int vu_ctl_fdb_lookup(struct vu_daemon *d, const char *mac, char *port, size_t len);

/* ---- traffic ----------------------------------------------------------------------------- */

struct vu_dev;

struct vu_traffic {
	const uint8_t *dst, *src;	/* MACs */
	uint32_t tag;			/* tells these frames from any others */
	const size_t *sizes;		/* frame lengths, cycled */
	unsigned nsizes;
	unsigned count;			/* frames to send */
	unsigned tx_qp;			/* TX queue pair; with spread_tx, frame i uses i % nqp */
	bool spread_tx;
	unsigned flows;			/* frame i is in flow i % flows (0: one flow) */
	unsigned layout;		/* enum vu_tx_layout */
	unsigned segs;
	unsigned batch;			/* frames sent before receiving (default 32) */
	int timeout_ms;			/* for the last frame to arrive (default 3000) */
	bool quiet;			/* do not report losses as failures */
	/* results */
	unsigned sent, received, corrupt, duplicate, foreign, send_errors;
	uint64_t sent_bytes, received_bytes;
	unsigned rx_per_qp[64];
};

/*
 * Send t->count frames from @from and receive them on @to (every queue pair), checking each
 * byte. Frames of other tags are counted in t->foreign and dropped. Reports losses, corruption
 * and duplicates as test failures (unless quiet). Returns the number of frames lost or bad.
 */
unsigned vu_traffic_run(struct vu_dev *from, struct vu_dev *to, struct vu_traffic *t);
/*
 * Send probe frames (tag VU_PROBE_TAG) from @from until one arrives at @to, for backends that
 * report ready before they forward (DPDK's link-up is asynchronous). True if one arrived.
 */
#define VU_PROBE_TAG 0xfffffff0u
bool vu_traffic_probe(struct vu_dev *from, struct vu_dev *to, const uint8_t dst[6],
		      const uint8_t src[6], int timeout_ms);
/*
 * Receive on @d for @ms milliseconds; count frames (of any tag) into *ret_frames and frames of
 * @tag into *ret_tagged. For "nothing must arrive here" checks.
 */
void vu_traffic_absorb(struct vu_dev *d, int ms, uint32_t tag, unsigned *ret_frames,
		       unsigned *ret_tagged);

#endif
