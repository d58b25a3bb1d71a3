// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The [limits] in force, seen from the daemon: applying a (re)loaded configuration, the hit
 * counters of limits the datapath enforces (MAC table, flows) next to those counted on the
 * control thread, and a once-a-second look at the ports that hit the datapath's limits, so the
 * log names them (workers do not log).
 */
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "core/log.h"
#include "ctl/ctl.h"
#include "ctl/metrics.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

#define LIMITS_TICK_MS 1000

/**
 * daemon_limits_apply() - make @c's [limits] and access settings the ones in force.
 * On a reload (@start false) max-flows keeps its start value: the flow pool is allocated once.
 * Context: control thread.
 */
void daemon_limits_apply(struct daemon *d, const struct config *c, bool start)
{
	struct limits l = c->limits;

	for (unsigned int i = 0; i < LIMIT__MAX; i++) {
		if (start || limit_info[i].reload || l.max[i] == limit_get(i))
			continue;
		log_warn("reload: %s stays %u until a restart (asked: %u)", limit_info[i].key,
			 limit_get(i), l.max[i]);
		l.max[i] = limit_get(i);
	}
	limits_publish(&l);
	if (d->dp && d->dp->fdb)
		fdb_set_max(d->dp->fdb, l.max[LIMIT_FDB_ENTRIES]);
	d->ctl_group = c->ctl_group;
	d->allow_socket_path_outside = c->allow_socket_path_outside;
	if (!start && d->ctl)
		(void)ctl_server_set_group(d->ctl, c->ctl_group);
	if (!start && d->metrics)
		(void)metrics_server_set_group(d->metrics, c->ctl_group);
}

/**
 * daemon_limit_hits() - times @which refused something since the daemon started.
 * Context: any thread (the counters are atomic).
 */
uint64_t daemon_limit_hits(const struct daemon *d, enum limit which)
{
	switch (which) {
	case LIMIT_FDB_ENTRIES:
		return d->dp ? __atomic_load_n(&d->dp->fdb->learn_refused, __ATOMIC_RELAXED) : 0;
	case LIMIT_FLOWS:
		return d->lb ? lb_drops(d->lb, LB_DROP_TABLE_FULL) : 0;
	default:
		return limit_hits_counted(which);
	}
}

/* What is in use against @which right now, or -1 where that has no single number. */
int64_t daemon_limit_in_use(const struct daemon *d, enum limit which)
{
	switch (which) {
	case LIMIT_PORTS:
		return d->nports;
	case LIMIT_FDB_ENTRIES:
		return __atomic_load_n(&d->dp->fdb->count, __ATOMIC_RELAXED);
	case LIMIT_FLOWS:
		return d->lb ? lb_flow_count(d->lb) : 0;
	case LIMIT_CTL_CLIENTS:
		return d->ctl ? ctl_server_clients(d->ctl) : 0;
	default:
		return -1;
	}
}

static void note_port(struct port *p, enum limit which, uint64_t now, uint64_t *seen,
		      const char *what)
{
	uint64_t n = now - *seen;

	*seen = now;
	if (n)
		limit_note(which, "port '%s': %llu %s in the last second", p->spec.name,
			   (unsigned long long)n, what);
}

static void on_tick(struct ev_source *src, void *opaque)
{
	struct daemon *d = opaque;

	(void)src;
	for (struct port *p = d->ports; p; p = p->next) {
		note_port(p, LIMIT_FDB_ENTRIES, __atomic_load_n(&p->dp->fdb_refused, __ATOMIC_RELAXED),
			  &p->fdb_refused_seen, "source MACs not learned");
		note_port(p, LIMIT_FLOWS, __atomic_load_n(&p->dp->flows_refused, __ATOMIC_RELAXED),
			  &p->flows_refused_seen, "new load-balanced flows dropped");
	}
}

/* Context: control thread, once at start. */
int daemon_limits_start(struct daemon *d)
{
	return evloop_add_timer(d->loop, LIMITS_TICK_MS, LIMITS_TICK_MS, on_tick, d, NULL);
}
