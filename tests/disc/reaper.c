/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disc-reaper: run a program as a child subreaper and reap every orphan at once.
 *
 * libvirtd double-forks QEMU; an exited QEMU is re-parented to the nearest subreaper. PID 1 of
 * these machines reaps late, and until the zombie is reaped libvirt's kill loop keeps seeing
 * the process alive: destroy then takes seconds. Under this wrapper it takes milliseconds.
 *
 *   disc-reaper PROGRAM [ARGS...]
 * Exits when no child is left, with the exit status of PROGRAM. SIGTERM, SIGINT and SIGHUP are
 * passed on to PROGRAM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t main_child = -1;

static void forward(int sig)
{
	if (main_child > 0)
		kill(main_child, sig);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = forward };
	int status, ret = 0;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "disc-reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "disc-reaper: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "disc-reaper: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	main_child = pid;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	for (;;) {
		pid_t p = waitpid(-1, &status, 0);

		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;	/* ECHILD: nothing left */
		}
		if (p == pid) {
			main_child = -1;
			ret = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
	return ret;
}
