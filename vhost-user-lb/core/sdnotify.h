/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Service-manager notifications without libsystemd: systemd's notify protocol (sd_notify(3),
 * "NOTES"): one datagram of newline-separated VAR=VALUE lines sent to the AF_UNIX socket named
 * by $NOTIFY_SOCKET ("/path", or "@name" for the abstract namespace). The manager learns who
 * sent it from SCM_CREDENTIALS, which the kernel attaches because its socket has SO_PASSCRED,
 * so the sender needs nothing more; with the default NotifyAccess=main only the main process
 * may send.
 *
 * Without $NOTIFY_SOCKET (not started by systemd, or Type= is not notify) every call is a
 * no-op returning 0, so the daemon calls these unconditionally.
 *
 * Context: any thread; no global state, no logging (callers log once if they care).
 */
#ifndef VULB_CORE_SDNOTIFY_H
#define VULB_CORE_SDNOTIFY_H

#include <stdint.h>

/**
 * sdnotify() - send @state (e.g. "READY=1" or "STATUS=3 ports\nREADY=1") to $NOTIFY_SOCKET.
 * Return: 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty, -EINVAL when it is neither an
 * absolute path nor "@name" or is too long, else -errno from socket()/sendmsg() (e.g.
 * -ENOENT, -ECONNREFUSED when nobody listens there).
 */
int sdnotify(const char *state);

/**
 * sdnotifyf() - sdnotify() with a printf format, for STATUS= lines.
 * Return: as sdnotify(); -EMSGSIZE when the text does not fit in 4 KiB.
 */
int sdnotifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * sdnotify_reloading() - "RELOADING=1" with "MONOTONIC_USEC=now", as systemd >= 253 asks of
 * a service that reloads (Type=notify-reload requires the timestamp; Type=notify accepts it).
 * Send sdnotify("READY=1") when the reload is done, whether it succeeded or not.
 * Return: as sdnotify().
 */
int sdnotify_reloading(void);

/**
 * sdnotify_watchdog_usec() - the watchdog interval systemd expects pings within.
 * Reads $WATCHDOG_USEC and, when set, $WATCHDOG_PID (the watchdog is for us only when it
 * names our pid: a variable inherited from a parent is not ours).
 * Send sdnotify("WATCHDOG=1") at about half of *@ret_usec.
 * Return: 1 and *@ret_usec set when the watchdog is enabled for this process, 0 when it is
 * not (variables unset, or for another pid), -EINVAL when a variable is malformed or zero.
 */
int sdnotify_watchdog_usec(uint64_t *ret_usec);

#endif
