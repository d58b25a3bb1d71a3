// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Configuration reload (SIGHUP or `vhost-user-lbctl reload`): the file is parsed whole first,
 * and nothing changes unless it is valid. Then: log level; worker CPUs (the balancer moves
 * queues off CPUs no longer listed, without dropping a frame); ports declared in the file
 * added, removed, or re-created when their socket settings changed; [vip] services; [vm]
 * rates, which VFs assigned without rates of their own take at once. Ports added at run time
 * through the control socket are the operator's and left alone. Guests on unchanged ports
 * never notice.
 */
#include <stdio.h>
#include <string.h>

#include "balance/balancer.h"
#include "core/log.h"
#include "core/sdnotify.h"
#include "ctl/ctl.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

static bool same_socket(const struct port_spec *a, const struct port_spec *b)
{
	return a->type == b->type && strcmp(a->ifname, b->ifname) == 0 &&
	       strcmp(a->path, b->path) == 0 && a->mode == b->mode && a->queues == b->queues &&
	       a->group == b->group && a->perm == b->perm;
}

static int reload_apply(struct daemon *d, char *why, size_t why_len)
{
	struct config c;
	unsigned int added = 0, removed = 0, recreated = 0;
	int r;

	if (!d->config_path[0]) {
		snprintf(why, why_len, "no config file was read at start");
		return -ENOENT;
	}
	config_init(&c);
	snprintf(c.socket_dir, sizeof(c.socket_dir), "%s", d->socket_dir);
	r = config_load_file(&c, d->config_path, why, why_len);
	/* The socket directory cannot move under running ports: keep the one in use. */
	snprintf(c.socket_dir, sizeof(c.socket_dir), "%s", d->socket_dir);
	if (!r)
		r = config_resolve_paths(&c, why, why_len);
	if (r) {
		config_free(&c);
		return r;
	}
	log_max_level = c.log_level;
	/* Before ports are added: they count against the new max-ports and max-queue-pairs. */
	daemon_limits_apply(d, &c, false);
	if (c.workers_pinned)
		balancer_set_cpus(d->bal, c.worker_cpus, c.nworkers);
	else
		balancer_set_cpus(d->bal, NULL, 0);
	/* Ports the file no longer declares, or declares differently. */
	for (struct port *p = d->ports, *next; p; p = next) {
		const struct port_spec *want = NULL;
		char name[PORT_NAME_MAX + 1];

		next = p->next;
		if (!p->spec.from_config)
			continue;
		for (unsigned int i = 0; i < c.nports; i++)
			if (strcmp(c.ports[i].name, p->spec.name) == 0)
				want = &c.ports[i];
		if (want && same_socket(want, &p->spec))
			continue;
		snprintf(name, sizeof(name), "%s", p->spec.name);
		(void)port_del(d, name);
		if (want)
			recreated++;
		else
			removed++;
	}
	for (unsigned int i = 0; i < c.nports; i++) {
		char err[256];

		if (port_find(d, c.ports[i].name))
			continue;
		c.ports[i].from_config = true;
		r = port_add(d, &c.ports[i], "reload", err, sizeof(err));
		if (r)
			log_error("reload: port '%s': %s", c.ports[i].name, *err ? err : strerror(-r));
		else
			added++;
	}
	added -= recreated <= added ? recreated : 0;
	(void)services_apply_config(d, &c);
	config_vms_set(c.vms, c.nvms);
	ctl_vf_config_changed();
	log_info("reloaded %s: %u ports added, %u removed, %u re-created", d->config_path, added, removed,
		 recreated);
	config_free(&c);
	return 0;
}

/**
 * daemon_reload() - re-read the config file and apply what changed.
 * systemd hears RELOADING=1 first and READY=1 after, even when the reload failed.
 * Context: control thread. Return: 0, or -errno with the reason in @why (nothing changed).
 */
int daemon_reload(struct daemon *d, char *why, size_t why_len)
{
	int r;

	(void)sdnotify_reloading();
	r = reload_apply(d, why, why_len);
	(void)sdnotifyf("READY=1\nSTATUS=%u ports, %u workers%s", d->nports, d->dp->nworkers,
			r ? ", last reload failed" : "");
	return r;
}
