/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the protocol tests: each test runs its own daemon(s) in a temp dir. */
#ifndef PROTO_COMMON_H
#define PROTO_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vu_frame.h"
#include "vu_frontend.h"
#include "vu_harness.h"

#define PC_CONNECT_MS 5000

/* Start a daemon with the given --port specs (NULL-terminated); aborts the test on failure. */
void pc_start(struct vu_daemon *d, const char *const *ports);
/* Default device options with @name. */
void pc_opts(struct vu_dev_opts *o, const char *name);
/* Connect to port @port of @d and run the whole start-up; aborts the test on failure. */
struct vu_dev *pc_dev(struct vu_daemon *d, const char *port, const struct vu_dev_opts *o);
/* Same, but returns NULL (after a failed CHECK) instead of aborting. */
struct vu_dev *pc_dev_try(struct vu_daemon *d, const char *port, const struct vu_dev_opts *o);
/* Wait until the daemon reports @port as running (after vu_dev_start). */
void pc_wait_running(struct vu_daemon *d, const char *port);
/*
 * @count frames from @from to @to, MAC src 02::@src, dst 02::@dst (0xffff = broadcast), sizes
 * cycled; fails the case on any loss or corruption. Returns the number of bad frames.
 */
unsigned pc_xfer(struct vu_dev *from, struct vu_dev *to, uint16_t src, uint16_t dst, uint32_t tag,
		 const size_t *sizes, unsigned nsizes, unsigned count);
/* Fail the case if the frontend saw the backend break a virtio rule on @dev. */
void pc_check_clean(struct vu_dev *dev);
/* A frame of @len from MAC @src to @dst on qp @qp; CHECKs the send worked. */
bool pc_send1(struct vu_dev *d, unsigned qp, uint16_t src, uint16_t dst, uint32_t tag,
	      uint32_t seq, size_t len);
/* Wait for one frame of @tag on @d; returns its seq or -1. Frames of other tags are skipped. */
long pc_recv_tag(struct vu_dev *d, uint32_t tag, int timeout_ms, struct vu_rx_info *info);
/* Sum of counters; waits up to @ms for them to settle at @want (stats can lag the datapath). */
bool pc_wait_stats(struct vu_daemon *d, const char *port, uint64_t want_rx, uint64_t want_tx,
		   int ms, struct vu_port_stats *ret);

/* One frame on queue pair 0 / from any queue pair (the load-balancer tests' plain I/O). */
bool pc_frame_send(struct vu_dev *d, const uint8_t *buf, uint32_t len);
int pc_frame_recv(struct vu_dev *d, uint8_t *buf, size_t cap, int timeout_ms);
/* Runs a vhost-user-lbctl command that must succeed; @what names it in the failure. */
void pc_ctl(struct vu_daemon *d, const char *const *args, const char *what);

#endif
