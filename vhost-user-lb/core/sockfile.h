/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unix socket files the daemon creates as root (port sockets, the control and metrics
 * sockets): who may connect is decided by the file's group and mode, set without following a
 * symlink; and the shape a socket path must have before the daemon binds, unlinks or chmods it.
 */
#ifndef VULB_CORE_SOCKFILE_H
#define VULB_CORE_SOCKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int sockfile_set_owner(const char *path, gid_t group, mode_t mode);
int sockfile_path_check(const char *path, char *why, size_t why_len);
bool sockfile_path_in_dir(const char *path, const char *dir);

#endif
