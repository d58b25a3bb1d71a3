/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus/OpenMetrics text endpoint: a tiny HTTP server on a unix socket (and optionally
 * 127.0.0.1:PORT) answering GET /metrics with per-port, per-queue, per-worker counters.
 */
#ifndef VULB_CTL_METRICS_H
#define VULB_CTL_METRICS_H

#include <stdio.h>
#include <sys/types.h>

struct daemon;
struct metrics_server;

int metrics_server_new(struct daemon *d, const char *unix_path, int tcp_port,
		       struct metrics_server **ret);
void metrics_server_free(struct metrics_server *m);
int metrics_server_set_group(struct metrics_server *m, gid_t group);
/* Writes the whole exposition to @out. Context: control thread. */
void metrics_render(struct daemon *d, FILE *out);

#endif
