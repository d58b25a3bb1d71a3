/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: one JSON object per line in each direction (docs/usage.md, "The
 * control protocol"). Requests run on the control thread, so they see a consistent state.
 */
#ifndef VULB_CTL_CTL_H
#define VULB_CTL_CTL_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;
struct ctl_server;

int ctl_server_new(struct daemon *d, const char *path, struct ctl_server **ret);
int ctl_server_adopt(struct daemon *d, int fd, const char *path, struct ctl_server **ret);
int ctl_server_fd(const struct ctl_server *c);
int ctl_server_set_group(struct ctl_server *srv, gid_t group);
unsigned int ctl_server_clients(const struct ctl_server *srv);
uint64_t ctl_server_refused(const struct ctl_server *srv);
void ctl_server_free(struct ctl_server *c);

/* Pure request handling, separate from the socket so it can be tested and fuzzed. */
struct json_object *ctl_handle_request(struct daemon *d, const char *line, size_t len);

/* After a reload: VFs assigned with their VM's [vm] rates take the new ones (ctl_vf.c). */
void ctl_vf_config_changed(void);

#endif
