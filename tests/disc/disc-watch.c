/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disc-watch: runs the disc module and prints each registry change and the registry after it,
 * one line each, flushed, so shell tests can wait for a line. Used by the e2e test.
 *
 *   disc-watch [-u URI] [-i] [-t SECONDS]
 *     -i  track inactive VMs too;  -t  exit after SECONDS (default: run until SIGTERM/SIGINT)
 *
 * Output:
 *   CHANGE <kind> vm='<name>' state=<state> gen=<n> event_to_publish_us=<us>
 *   REG gen=<n> connected=<0|1> vms=<count>
 *   VM name='<name>' uuid=<uuid> state=<state> active=<0|1> vcpus=<n>/<max> pins=<v:cpus;..>
 *      iface=<path>,<mode>,<mac>,q<queues> ...
 *   SOCK path=<path> vm='<name>'
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "disc.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void log_cb(void *opaque, enum disc_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)opaque;
	printf("LOG %s %s\n", names[level], msg);
	fflush(stdout);
}

static void dump(struct disc *d)
{
	const struct disc_registry *reg = disc_snapshot_rcu(d);

	printf("REG gen=%llu connected=%d vms=%zu\n", (unsigned long long)reg->generation,
	       reg->connected, reg->n_vms);
	for (size_t i = 0; i < reg->n_vms; i++) {
		const struct disc_vm *vm = reg->vms[i];
		char cpus[256];

		printf("VM name='%s' uuid=%s id=%d state=%s active=%d vcpus=%u/%u", vm->name,
		       vm->uuid_str, vm->id, disc_vm_state_name(vm->state), vm->active, vm->vcpus,
		       vm->vcpus_max);
		if (vm->has_cpuset)
			printf(" cpuset=%s", disc_cpuset_format(&vm->cpuset, cpus, sizeof(cpus)));
		printf(" pins=");
		for (size_t j = 0; j < vm->n_pins; j++)
			printf("%s%u:%s", j ? ";" : "", vm->pins[j].vcpu,
			       disc_cpuset_format(&vm->pins[j].cpus, cpus, sizeof(cpus)));
		for (size_t j = 0; j < vm->n_ifaces; j++)
			printf(" iface=%s,%s,%s,q%u", vm->ifaces[j].path,
			       disc_iface_mode_name(vm->ifaces[j].mode), vm->ifaces[j].mac,
			       vm->ifaces[j].queues);
		printf("\n");
	}
	for (size_t i = 0; i < reg->n_socks; i++)
		printf("SOCK path=%s vm='%s'\n", reg->socks[i].path, reg->socks[i].vm->name);
	printf("END gen=%llu\n", (unsigned long long)reg->generation);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct disc_config cfg = { .uri = "qemu:///system" };
	struct disc *d;
	double limit = 0;
	struct timespec t0;
	int opt, r;

	while ((opt = getopt(argc, argv, "u:it:v")) != -1) {
		switch (opt) {
		case 'u':
			cfg.uri = optarg;
			break;
		case 'i':
			cfg.track_inactive = true;
			break;
		case 't':
			limit = atof(optarg);
			break;
		case 'v':
			cfg.log = log_cb;
			cfg.log_level = DISC_LOG_DEBUG;
			break;
		default:
			fprintf(stderr, "usage: %s [-u URI] [-i] [-t SECONDS] [-v]\n", argv[0]);
			return 2;
		}
	}
	if (!cfg.log) {
		cfg.log = log_cb;
		cfg.log_level = DISC_LOG_INFO;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	rcu_register_thread();
	r = disc_new(&cfg, &d);
	if (r == 0)
		r = disc_start(d);
	if (r < 0) {
		fprintf(stderr, "disc: %s\n", strerror(-r));
		return 1;
	}
	printf("WATCH uri=%s pid=%d\n", cfg.uri, (int)getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!quit) {
		struct pollfd pfd = { .fd = disc_event_fd(d), .events = POLLIN };
		struct disc_change ch[32];
		size_t n;

		rcu_thread_offline();
		r = poll(&pfd, 1, 200);
		rcu_thread_online();
		if (limit > 0) {
			struct timespec t;

			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > limit)
				break;
		}
		if (r <= 0)
			continue;
		n = disc_changes_drain(d, ch, 32);
		for (size_t i = 0; i < n; i++)
			printf("CHANGE %s vm='%s' state=%s gen=%llu event_to_publish_us=%.1f\n",
			       disc_change_kind_name(ch[i].kind), ch[i].name,
			       disc_vm_state_name(ch[i].state),
			       (unsigned long long)ch[i].generation,
			       ch[i].event_ns ? (ch[i].published_ns - ch[i].event_ns) / 1e3 : 0.0);
		if (n)
			dump(d);
		/* a snapshot must not be held across the next quiescent state */
		rcu_quiescent_state();
	}
	rcu_thread_offline();
	disc_free(d);
	rcu_unregister_thread();
	return 0;
}
