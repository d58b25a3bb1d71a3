// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The call-eventfd watchdog.
 *
 * We make every call eventfd non-blocking when a frontend hands it over, but O_NONBLOCK lives
 * in the open file, which the frontend shares: it can clear the flag again and fill the
 * counter, and our next interrupt write then sleeps for ever. In a worker that stops every
 * port the worker serves; on the control thread, the whole daemon. Each write is therefore
 * announced in the writer's scratch (call_guest() in forward.c), and this thread interrupts
 * one that lasts too long with a signal whose handler does nothing and is installed without
 * SA_RESTART: the write fails with EINTR and the writer breaks that port alone.
 *
 * It is a thread of its own, not a timer of the control thread's event loop, because the
 * control thread may itself be waiting for a grace period that the blocked worker holds.
 * It touches no RCU-protected data: the scratches live as long as the dp, and a signal sent
 * a moment too late lands in a thread that has finished its write, where an EINTR from
 * epoll_wait() or a kick read is harmless.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "dp/dp.h"
#include "dp/dp_internal.h"

/* An eventfd write never sleeps unless the counter is full: any that lasts this long is stuck. */
#define STUCK_NS 100000000ull
#define CHECK_EVERY_MS 50

static void on_watchdog_signal(int sig)
{
	(void)sig;
}

static void check(const struct dp_scratch *s, pid_t tid, const char *who, unsigned int id,
		  uint64_t now)
{
	uint64_t since = __atomic_load_n(&s->call_since_ns, __ATOMIC_ACQUIRE);

	if (!since || !tid || now - since < STUCK_NS)
		return;
	log_ratelimited(LOG_LVL_WARN, "%s %u: an interrupt write has been stuck for %llu ms: "
			"interrupting it", who, id, (unsigned long long)((now - since) / 1000000));
	/* tgkill, not pthread_kill: a worker stopped meanwhile leaves no pthread_t to misuse. */
	(void)syscall(SYS_tgkill, getpid(), tid, DP_WATCHDOG_SIGNAL);
}

static void *watchdog_main(void *opaque)
{
	struct dp *dp = opaque;
	struct pollfd stop = { .fd = dp->watchdog_stop_fd, .events = POLLIN };
	sigset_t all;

	sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)pthread_setname_np(pthread_self(), "vulb-watchdog");
	/* Every signal is blocked here, so poll() returns only on a timeout or the stop. */
	while (poll(&stop, 1, CHECK_EVERY_MS) == 0) {
		uint64_t now = time_ns_mono();

		for (unsigned int i = 0; i < DP_MAX_WORKERS; i++) {
			struct dp_worker *w = &dp->workers[i];
			struct dp_scratch *s = __atomic_load_n(&w->scratch, __ATOMIC_ACQUIRE);

			if (s && __atomic_load_n(&w->active, __ATOMIC_ACQUIRE))
				check(s, __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE), "worker", i, now);
		}
		check(dp->ctl_scratch, dp->ctl_tid, "control thread", 0, now);
	}
	return NULL;
}

/**
 * dp_watchdog_start() - start the watchdog; dp_free() stops it.
 * Context: the control thread (the one that calls dp_inject() and hands over rings).
 * Return: 0 or -errno.
 */
int dp_watchdog_start(struct dp *dp)
{
	struct sigaction sa = { .sa_handler = on_watchdog_signal };
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(DP_WATCHDOG_SIGNAL, &sa, NULL) < 0)
		return -errno;
	dp->ctl_tid = (pid_t)syscall(SYS_gettid);
	dp->watchdog_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dp->watchdog_stop_fd < 0)
		return -errno;
	r = pthread_create(&dp->watchdog, NULL, watchdog_main, dp);
	if (r) {
		close_fd(&dp->watchdog_stop_fd);
		return -r;
	}
	dp->watchdog_running = true;
	return 0;
}

/* Context: control thread (dp_free()). */
void dp_watchdog_stop(struct dp *dp)
{
	if (!dp->watchdog_running)
		return;
	(void)eventfd_write(dp->watchdog_stop_fd, 1);
	(void)pthread_join(dp->watchdog, NULL);
	close_fd(&dp->watchdog_stop_fd);
	dp->watchdog_running = false;
}
