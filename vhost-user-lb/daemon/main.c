// SPDX-License-Identifier: GPL-2.0-or-later
/* vhost-user-lb: the daemon's entry point. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "build-config.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "balance/balancer.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "gmem/guard.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/handover.h"

#define FDB_AGE_S 300
#define FDB_SWEEP_MS 5000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: vhost-user-lb [OPTION]...\n"
		"A vhost-user virtio-net switch for QEMU/KVM guests.\n\n"
		"  -c, --config FILE      config file (default " VHOST_LB_DEFAULT_CONFIG " if present)\n"
		"  -d, --socket-dir DIR   directory for port sockets (default " VHOST_LB_DEFAULT_SOCKET_DIR ")\n"
		"  -s, --ctl-socket PATH  control socket (default DIR/ctl.sock)\n"
		"  -p, --port SPEC        add a port: NAME[,path=PATH][,mode=server|client][,queues=N]\n"
		"  -u, --uplink SPEC      add the uplink to the host: NAME[,tap=IFNAME][,queues=N], a TAP\n"
		"                         device (default IFNAME: NAME, queues: 1)\n"
		"  -w, --workers CPULIST  datapath workers, one pinned to each listed CPU\n"
		"                         (default: one on each CPU the daemon may run on)\n"
		"  -m, --metrics PATH     Prometheus text endpoint on this unix socket (default DIR/metrics.sock)\n"
		"      --metrics-port N   ... and on 127.0.0.1:N (default off)\n"
		"      --libvirt-uri URI  discover co-resident VMs there (default qemu:///system; none: off)\n"
		"      --offloads yes|no  offer checksum and TSO offloads to guests and the TAP (default yes)\n"
		"      --lb-state-file PATH  the load balancer's checkpoint, restored at start\n"
		"                         (default DIR/lb-state.json; none: off)\n"
		"      --lb-checkpoint-ms N  write it every N ms (default 1000; 0: off)\n"
		"  -l, --log-level LEVEL  error, warn, info (default) or debug\n"
		"      --check-config     parse the configuration and exit\n"
		"      --takeover         take over the ports of the daemon running on the control\n"
		"                         socket, without disconnecting its guests (upgrade)\n"
		"  -h, --help             this text\n"
		"  -V, --version          the version\n");
}

static void on_signal(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct daemon *d = opaque;
	struct signalfd_siginfo si;

	(void)src;
	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
		log_info("signal %u: shutting down", si.ssi_signo);
		evloop_quit(d->loop);
	} else if (si.ssi_signo == SIGHUP) {
		char why[512];

		if (daemon_reload(d, why, sizeof(why)))
			log_error("reload: %s", why);
	}
}

static void on_dp_event(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct daemon *d = opaque;
	eventfd_t v;

	(void)src;
	(void)events;
	(void)eventfd_read(fd, &v);
	ports_handle_broken(d);
}

static void on_fdb_age(struct ev_source *src, void *opaque)
{
	struct daemon *d = opaque;

	(void)src;
	(void)fdb_age(d->dp->fdb, time_ns_mono() / 1000000000ull, FDB_AGE_S);
}

static void on_watchdog(struct ev_source *src, void *opaque)
{
	(void)src;
	(void)opaque;
	(void)sdnotify("WATCHDOG=1");
}

static int mkdir_p(const char *dir)
{
	char buf[256];

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

enum {
	OPT_CHECK_CONFIG = 256, OPT_TAKEOVER, OPT_METRICS_PORT, OPT_LIBVIRT_URI, OPT_OFFLOADS,
	OPT_LB_STATE_FILE, OPT_LB_CHECKPOINT_MS,
};

static bool opt_takeover;

static int parse_args(int argc, char **argv, struct config *c, bool *check_only)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket-dir", required_argument, NULL, 'd' },
		{ "ctl-socket", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "workers", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "takeover", no_argument, NULL, OPT_TAKEOVER },
		{ "metrics", required_argument, NULL, 'm' },
		{ "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
		{ "libvirt-uri", required_argument, NULL, OPT_LIBVIRT_URI },
		{ "offloads", required_argument, NULL, OPT_OFFLOADS },
		{ "lb-state-file", required_argument, NULL, OPT_LB_STATE_FILE },
		{ "lb-checkpoint-ms", required_argument, NULL, OPT_LB_CHECKPOINT_MS },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config_path = NULL, *socket_dir = NULL, *ctl = NULL, *workers = NULL;
	const char *level = NULL, *metrics = NULL, *metrics_port = NULL, *uri = NULL;
	const char *offloads = NULL, *state_file = NULL, *checkpoint_ms = NULL;
	char why[512];
	_cleanup_free_ const char **uplinks = calloc((size_t)argc, sizeof(char *));
	unsigned int nuplinks = 0;
	int opt, r;

	c->port_texts = calloc((size_t)argc, sizeof(char *));
	if (!c->port_texts || !uplinks)
		return -ENOMEM;
	while ((opt = getopt_long(argc, argv, "c:d:s:p:u:w:l:m:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'd': socket_dir = optarg; break;
		case 's': ctl = optarg; break;
		case 'p': c->port_texts[c->nport_texts++] = optarg; break;
		case 'u': uplinks[nuplinks++] = optarg; break;
		case 'w': workers = optarg; break;
		case 'l': level = optarg; break;
		case OPT_CHECK_CONFIG: *check_only = true; break;
		case OPT_TAKEOVER: opt_takeover = true; break;
		case 'm': metrics = optarg; break;
		case OPT_METRICS_PORT: metrics_port = optarg; break;
		case OPT_LIBVIRT_URI: uri = optarg; break;
		case OPT_OFFLOADS: offloads = optarg; break;
		case OPT_LB_STATE_FILE: state_file = optarg; break;
		case OPT_LB_CHECKPOINT_MS: checkpoint_ms = optarg; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("vhost-user-lb %s\n", VHOST_LB_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vhost-user-lb: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	/* The command line overrides the file: read the file first. */
	if (!config_path && access(VHOST_LB_DEFAULT_CONFIG, R_OK) == 0)
		config_path = VHOST_LB_DEFAULT_CONFIG;
	if (socket_dir) {
		if (strlen(socket_dir) >= sizeof(c->socket_dir) - 16) {
			fprintf(stderr, "vhost-user-lb: socket directory path too long\n");
			return -EINVAL;
		}
		strcpy(c->socket_dir, socket_dir);
	}
	if (config_path) {
		snprintf(c->config_path, sizeof(c->config_path), "%s", config_path);
		r = config_load_file(c, config_path, why, sizeof(why));
		if (r) {
			fprintf(stderr, "vhost-user-lb: %s\n", why);
			return r;
		}
		if (socket_dir)
			strcpy(c->socket_dir, socket_dir);
		r = config_resolve_paths(c, why, sizeof(why));
		if (r) {
			fprintf(stderr, "vhost-user-lb: %s\n", why);
			return r;
		}
	}
	if (ctl) {
		if (strlen(ctl) >= sizeof(c->ctl_path)) {
			fprintf(stderr, "vhost-user-lb: control socket path too long\n");
			return -EINVAL;
		}
		strcpy(c->ctl_path, ctl);
	}
	if (!c->ctl_path[0])
		snprintf(c->ctl_path, sizeof(c->ctl_path), "%s/ctl.sock", c->socket_dir);
	if (metrics) {
		if (strlen(metrics) >= sizeof(c->metrics_path)) {
			fprintf(stderr, "vhost-user-lb: metrics socket path too long\n");
			return -EINVAL;
		}
		strcpy(c->metrics_path, metrics);
	}
	if (!c->metrics_path[0])
		snprintf(c->metrics_path, sizeof(c->metrics_path), "%s/metrics.sock", c->socket_dir);
	if (uri) {
		if (strlen(uri) >= sizeof(c->libvirt_uri)) {
			fprintf(stderr, "vhost-user-lb: --libvirt-uri too long\n");
			return -EINVAL;
		}
		strcpy(c->libvirt_uri, uri);
	}
	if (metrics_port) {
		char *end;
		long p = strtol(metrics_port, &end, 10);

		if (*end || p < 0 || p > 65535) {
			fprintf(stderr, "vhost-user-lb: --metrics-port '%s' is not a TCP port\n", metrics_port);
			return -EINVAL;
		}
		c->metrics_port = (int)p;
	}
	if (workers) {
		if (config_parse_cpulist(workers, c->worker_cpus, CONFIG_MAX_WORKERS, &c->nworkers)) {
			fprintf(stderr, "vhost-user-lb: --workers '%s' is not a CPU list like 0-1,3\n", workers);
			return -EINVAL;
		}
		c->workers_pinned = true;
	}
	if (offloads && config_parse_bool(offloads, &c->offloads)) {
		fprintf(stderr, "vhost-user-lb: --offloads '%s' is not yes or no\n", offloads);
		return -EINVAL;
	}
	/* The [daemon] keys of the same names, with the same checks. */
	if ((state_file && config_set_daemon_key(c, "lb-state-file", state_file, why, sizeof(why))) ||
	    (checkpoint_ms && config_set_daemon_key(c, "lb-checkpoint-ms", checkpoint_ms, why, sizeof(why)))) {
		fprintf(stderr, "vhost-user-lb: --%s\n", why);
		return -EINVAL;
	}
	if (level && log_level_parse(level, &c->log_level)) {
		fprintf(stderr, "vhost-user-lb: unknown log level '%s'\n", level);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < c->nport_texts; i++) {
		struct port_spec spec;

		r = port_spec_parse(c->port_texts[i], c->socket_dir, &spec, why, sizeof(why));
		if (r == 0)
			r = config_add_port(c, &spec);
		if (r) {
			fprintf(stderr, "vhost-user-lb: --port '%s': %s\n", c->port_texts[i], why);
			return r;
		}
	}
	for (unsigned int i = 0; i < nuplinks; i++) {
		struct port_spec spec;
		char text[600];

		/* The same spec as --port NAME,type=tap,...; a second type= is refused there. */
		if (snprintf(text, sizeof(text), "%s,type=tap", uplinks[i]) >= (int)sizeof(text) ||
		    strstr(uplinks[i], "type=")) {
			fprintf(stderr, "vhost-user-lb: --uplink '%s': too long, or gives a type\n",
				uplinks[i]);
			return -EINVAL;
		}
		r = port_spec_parse(text, c->socket_dir, &spec, why, sizeof(why));
		if (r == 0)
			r = config_add_port(c, &spec);
		if (r) {
			fprintf(stderr, "vhost-user-lb: --uplink '%s': %s\n", uplinks[i], why);
			return r;
		}
	}
	/* The command line's ports too, so --check-config says what start-up would. */
	r = config_check_limits(c, c->config_path, why, sizeof(why));
	if (r)
		fprintf(stderr, "vhost-user-lb: %s\n", why);
	return r;
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	struct config cfg;
	bool check_only = false;
	sigset_t mask;
	int sfd, r;

	config_init(&cfg);
	r = parse_args(argc, argv, &cfg, &check_only);
	if (r)
		return 2;
	if (check_only) {
		printf("configuration OK: %u ports, %u workers\n", cfg.nports, cfg.nworkers);
		return 0;
	}
	log_max_level = cfg.log_level;
	/* Before anything sized by [limits] exists (the MAC table, the flow pool, the sockets). */
	daemon_limits_apply(&d, &cfg, true);
	snprintf(d.socket_dir, sizeof(d.socket_dir), "%s", cfg.socket_dir);
	snprintf(d.ctl_path, sizeof(d.ctl_path), "%s", cfg.ctl_path);
	d.start_ns = time_ns_mono();

	r = mkdir_p(d.socket_dir);
	if (r) {
		log_error("cannot create socket directory %s: %s", d.socket_dir, strerror(-r));
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	/* Blocked before any thread starts, so workers inherit the mask and never take them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	rcu_register_thread();

	r = evloop_new(&d.loop);
	if (!r)
		r = dp_new(&d.dp);
	if (!r)
		d.dp->offloads = cfg.offloads;
	/* Before any worker runs: a frontend shrinking unsealed guest memory breaks its port only. */
	if (!r)
		r = gmem_guard_init(d.dp->event_fd);
	if (!r)
		r = dp_watchdog_start(d.dp);
	if (!r)
		r = services_start(&d, cfg.limits.max[LIMIT_FLOWS]);
	if (!r)
		r = daemon_limits_start(&d);
	if (!r)
		r = balancer_new(d.dp, d.loop, cfg.workers_pinned ? cfg.worker_cpus : NULL,
				 cfg.workers_pinned ? cfg.nworkers : 0, &d.bal);
	if (r) {
		log_error("cannot start the datapath: %s", strerror(-r));
		return 1;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_add_fd(d.loop, sfd, EPOLLIN, on_signal, &d, NULL) ||
	    evloop_add_fd(d.loop, d.dp->event_fd, EPOLLIN, on_dp_event, &d, NULL) ||
	    evloop_add_timer(d.loop, FDB_SWEEP_MS, FDB_SWEEP_MS, on_fdb_age, &d, NULL)) {
		log_error("cannot set up the event loop");
		return 1;
	}
	if (opt_takeover) {
		int ctl_fd = -1;

		/* The old process's ports and sessions replace the configured ones. */
		r = handover_take(&d, d.ctl_path, &ctl_fd);
		if (!r)
			r = ctl_server_adopt(&d, ctl_fd, d.ctl_path, &d.ctl);
		/* The socket file is the old process's: give it this configuration's ctl-group. */
		if (!r)
			r = ctl_server_set_group(d.ctl, d.ctl_group);
		if (r) {
			log_error("take-over failed: %s", strerror(-r));
			return 1;
		}
		cfg.nports = 0;
	} else {
		r = ctl_server_new(&d, d.ctl_path, &d.ctl);
		if (r) {
			log_error("cannot listen on control socket %s: %s", d.ctl_path, strerror(-r));
			return 1;
		}
	}
	snprintf(d.config_path, sizeof(d.config_path), "%s", cfg.config_path);
	{
		char path[sizeof(cfg.lb_state_file)];

		/* After a hand-over the state came with it; else the file's, before any port. */
		r = config_lb_state_path(&cfg, path, sizeof(path));
		if (!r)
			r = checkpoint_start(&d, path, cfg.lb_checkpoint_ms, cfg.limits.max[LIMIT_FLOWS],
					     !opt_takeover);
		if (r) {
			log_error("cannot set up load-balancer checkpoints: %s", strerror(-r));
			return 1;
		}
	}
	for (unsigned int i = 0; i < cfg.nports; i++) {
		char why[256];

		cfg.ports[i].from_config = true;
		r = port_add(&d, &cfg.ports[i], "the configuration", why, sizeof(why));
		if (r) {
			log_error("port '%s': %s", cfg.ports[i].name, *why ? why : strerror(-r));
			return 1;
		}
	}
	(void)services_apply_config(&d, &cfg);
	config_vms_set(cfg.vms, cfg.nvms);
	r = vms_start(&d, cfg.libvirt_uri);
	if (r)
		log_warn("VM discovery through %s is off: %s", cfg.libvirt_uri, strerror(-r));
	r = metrics_server_new(&d, cfg.metrics_path, cfg.metrics_port, &d.metrics);
	if (r) {
		log_error("cannot serve metrics on %s: %s", cfg.metrics_path, strerror(-r));
		return 1;
	}
	{
		uint64_t wd_usec;

		/* Ping at half the interval systemd allows, from the loop that must stay alive. */
		if (sdnotify_watchdog_usec(&wd_usec) > 0) {
			uint64_t ms = wd_usec / 2000 ? wd_usec / 2000 : 1;

			if (evloop_add_timer(d.loop, ms, ms, on_watchdog, &d, NULL))
				log_warn("cannot arm the systemd watchdog timer");
		}
	}
	log_info("ready: %u ports, %u workers, control socket %s", d.nports, d.dp->nworkers, d.ctl_path);
	(void)sdnotifyf("READY=1\nSTATUS=%u ports, %u workers, control socket %s", d.nports,
			d.dp->nworkers, d.ctl_path);
	r = evloop_run(d.loop);
	(void)sdnotify("STOPPING=1");
	/* While the ports, and so the flows steered to them, are all still there. */
	checkpoint_final(&d);

	vms_stop(&d);
	metrics_server_free(d.metrics);
	ctl_server_free(d.ctl);
	ports_free_all(&d);
	balancer_free(d.bal);
	synchronize_rcu();
	dp_free(d.dp);
	services_stop(&d);
	rcu_barrier();
	evloop_free(d.loop);
	close(sfd);
	config_free(&cfg);
	rcu_unregister_thread();
	return r ? 1 : 0;
}
