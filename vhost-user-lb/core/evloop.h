/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control thread's event loop: epoll over fds plus one-shot and periodic timers
 * (a timerfd each). Callbacks run on the control thread only.
 */
#ifndef VULB_CORE_EVLOOP_H
#define VULB_CORE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct ev_source;

typedef void (*ev_fd_fn)(struct ev_source *src, int fd, uint32_t events, void *opaque);
typedef void (*ev_timer_fn)(struct ev_source *src, void *opaque);

int evloop_new(struct evloop **ret);
void evloop_free(struct evloop *loop);
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, ev_fd_fn fn, void *opaque,
		  struct ev_source **ret);
/* @period_ms 0: one-shot after @first_ms. */
int evloop_add_timer(struct evloop *loop, uint64_t first_ms, uint64_t period_ms, ev_timer_fn fn,
		     void *opaque, struct ev_source **ret);
void evloop_remove(struct ev_source *src);
int evloop_run(struct evloop *loop);
void evloop_quit(struct evloop *loop);

#endif
