/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hand-over upgrade: a new daemon process takes the running one's ports without a guest
 * noticing. The old process stops forwarding, sends its state as JSON and every fd it holds
 * (listening sockets, frontend connections, guest-memory memfds, kick/call eventfds, the
 * control socket) over the control connection with SCM_RIGHTS, and exits once the new
 * process says it has them. Guest memory is handed over, never copied: the new process maps
 * the same memfds. If the new process fails, the old one resumes.
 */
#ifndef VULB_DAEMON_HANDOVER_H
#define VULB_DAEMON_HANDOVER_H

struct daemon;
struct json_object;

/* Old process, control thread: serve a "handover" request on control client @fd. */
int handover_give(struct daemon *d, int fd);
/* New process: take everything from the daemon listening on @ctl_path. */
int handover_take(struct daemon *d, const char *ctl_path, int *ret_ctl_fd);

#endif
