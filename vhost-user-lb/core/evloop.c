// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/evloop.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "core/rcu.h"
#include "core/util.h"

struct ev_source {
	struct evloop *loop;
	int fd;
	bool is_timer;
	bool dead;
	ev_fd_fn fd_fn;
	ev_timer_fn timer_fn;
	void *opaque;
	struct ev_source *next_dead;
	struct ev_source *prev, *next;   /* every live source, so evloop_free() can free them */
};

struct evloop {
	int epfd;
	bool quit;
	struct ev_source *live;
	struct ev_source *dead;   /* removed during dispatch; freed after it */
};

int evloop_new(struct evloop **ret)
{
	struct evloop *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return -errno;
	}
	*ret = l;
	return 0;
}

static void reap(struct evloop *l)
{
	while (l->dead) {
		struct ev_source *s = l->dead;

		l->dead = s->next_dead;
		free(s);
	}
}

/* Frees every source still registered: their owners are gone by now. */
void evloop_free(struct evloop *l)
{
	if (!l)
		return;
	while (l->live)
		evloop_remove(l->live);
	reap(l);
	close_fd(&l->epfd);
	free(l);
}

static int add(struct evloop *l, struct ev_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return -errno;
	s->next = l->live;
	if (l->live)
		l->live->prev = s;
	l->live = s;
	return 0;
}

int evloop_add_fd(struct evloop *l, int fd, uint32_t events, ev_fd_fn fn, void *opaque,
		  struct ev_source **ret)
{
	struct ev_source *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	*s = (struct ev_source){ .loop = l, .fd = fd, .fd_fn = fn, .opaque = opaque };
	r = add(l, s, events);
	if (r) {
		free(s);
		return r;
	}
	if (ret)
		*ret = s;
	return 0;
}

int evloop_add_timer(struct evloop *l, uint64_t first_ms, uint64_t period_ms, ev_timer_fn fn,
		     void *opaque, struct ev_source **ret)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(first_ms / 1000), .tv_nsec = (long)(first_ms % 1000) * 1000000 },
		.it_interval = { .tv_sec = (time_t)(period_ms / 1000), .tv_nsec = (long)(period_ms % 1000) * 1000000 },
	};
	struct ev_source *s;
	int fd, r;

	if (first_ms == 0)
		its.it_value.tv_nsec = 1;   /* zero would disarm the timer */
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	*s = (struct ev_source){ .loop = l, .fd = fd, .is_timer = true, .timer_fn = fn, .opaque = opaque };
	r = add(l, s, EPOLLIN);
	if (r) {
		close(fd);
		free(s);
		return r;
	}
	if (ret)
		*ret = s;
	return 0;
}

/* Safe from inside a callback, including the source's own. Closes timer fds, not others. */
void evloop_remove(struct ev_source *s)
{
	if (!s || s->dead)
		return;
	(void)epoll_ctl(s->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	if (s->is_timer)
		close_fd(&s->fd);
	if (s->prev)
		s->prev->next = s->next;
	else
		s->loop->live = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->dead = true;
	s->next_dead = s->loop->dead;
	s->loop->dead = s;
}

void evloop_quit(struct evloop *l)
{
	l->quit = true;
}

/**
 * evloop_run() - dispatch until evloop_quit().
 * Context: control thread, a registered RCU reader: offline while it waits.
 */
int evloop_run(struct evloop *l)
{
	while (!l->quit) {
		struct epoll_event evs[32];
		int n;

		rcu_thread_offline();
		n = epoll_wait(l->epfd, evs, 32, -1);
		rcu_thread_online();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct ev_source *s = evs[i].data.ptr;

			if (s->dead)
				continue;
			if (s->is_timer) {
				uint64_t ticks;

				if (read(s->fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
					continue;
				s->timer_fn(s, s->opaque);
			} else {
				s->fd_fn(s, s->fd, evs[i].events, s->opaque);
			}
		}
		reap(l);
	}
	return 0;
}
