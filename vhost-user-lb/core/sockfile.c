// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/sockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/**
 * sockfile_set_owner() - give the socket file at @path group @group (unless (gid_t)-1) and
 * mode @mode. Neither call follows a symlink: had someone swapped the freshly bound socket for
 * a link to another file, root would otherwise chown/chmod that file.
 * Return: 0 or -errno (-EOPNOTSUPP: @path is a symlink).
 */
int sockfile_set_owner(const char *path, gid_t group, mode_t mode)
{
	if (group != (gid_t)-1 && fchownat(AT_FDCWD, path, (uid_t)-1, group, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/**
 * sockfile_path_check() - a socket path as the daemon accepts it from anyone: absolute, short
 * enough for sockaddr_un, printable ASCII without spaces (it goes into log lines and JSON),
 * and no "." or ".." component (what it names is what it says).
 * Return: 0, or -EINVAL with the reason in @why.
 */
int sockfile_path_check(const char *path, char *why, size_t why_len)
{
	size_t len = strlen(path);

	if (path[0] != '/') {
		snprintf(why, why_len, "socket path '%s' is not absolute", path);
		return -EINVAL;
	}
	if (len >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(why, why_len, "socket path longer than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -EINVAL;
	}
	for (const char *p = path; *p; p++)
		if (*p <= ' ' || *p >= 0x7f) {
			snprintf(why, why_len, "socket path has a space or a non-printable byte");
			return -EINVAL;
		}
	for (const char *c = path; c; c = strchr(c + 1, '/')) {
		const char *name = c + 1;
		size_t n = strcspn(name, "/");

		if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.') ||
		    (n == 0 && name[0] == '/')) {
			snprintf(why, why_len, "socket path '%s' has a '.', '..' or empty component", path);
			return -EINVAL;
		}
	}
	if (path[len - 1] == '/') {
		snprintf(why, why_len, "socket path '%s' names a directory", path);
		return -EINVAL;
	}
	return 0;
}

/* True when @path (already checked) names a file directly inside directory @dir. */
bool sockfile_path_in_dir(const char *path, const char *dir)
{
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
		return false;
	return path[dl + 1] && !strchr(path + dl + 1, '/');
}
