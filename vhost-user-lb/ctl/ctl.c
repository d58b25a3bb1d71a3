// SPDX-License-Identifier: GPL-2.0-or-later
#include "ctl/ctl.h"

#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "build-config.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/sockfile.h"
#include "dp/offload.h"
#include "balance/balancer.h"
#include "ctl/ctl_internal.h"
#include "daemon/daemon.h"
#include "daemon/handover.h"
#include "disc/disc.h"

/*
 * Who may connect: root, the daemon's own user, and members of [daemon] ctl-group (primary
 * or supplementary group, as the kernel recorded them at connect(): SO_PEERCRED and
 * SO_PEERGROUPS, no user database lookup). The socket file says the same with its group and
 * mode (0660 with ctl-group, else 0600); the check on accept holds even if the file's mode is
 * loosened. How many clients at once and how long a request may be: [limits].
 */
struct ctl_client {
	struct ctl_server *srv;
	struct ctl_client *next;
	int fd;
	struct ev_source *src;
	char peer[64];         /* "control client pid=N uid=N", for log lines */
	bool root;             /* uid 0 or ours: may take the daemon over */
	size_t len, cap;       /* cap: max-ctl-request-bytes when it connected */
	char buf[];
};

struct ctl_server {
	struct daemon *d;
	int fd;
	struct ev_source *src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_client *clients;
	unsigned int nclients;
	uint64_t refused;      /* connections refused for their credentials */
};

struct json_object *ctl_error_reply(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

struct json_object *ctl_ok_reply(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/*
 * A string field of a request, or NULL. A string with an embedded NUL ("\u0000") counts as
 * missing: as a C string it would silently name something shorter than what was sent.
 */
const char *ctl_get_str(struct json_object *req, const char *key)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

/* {"ports": {"max": N, "hits": N, "in_use": N, "reload": true}, ...} */
static struct json_object *limits_json(struct daemon *d)
{
	struct json_object *o = json_object_new_object();

	for (unsigned int i = 0; i < LIMIT__MAX; i++) {
		struct json_object *l = json_object_new_object();
		int64_t in_use = daemon_limit_in_use(d, i);

		add_u64(l, "max", limit_get(i));
		add_u64(l, "hits", daemon_limit_hits(d, i));
		if (in_use >= 0)
			add_u64(l, "in_use", (uint64_t)in_use);
		json_object_object_add(l, "reload", json_object_new_boolean(limit_info[i].reload));
		json_object_object_add(o, limit_info[i].name, l);
	}
	return o;
}

static struct json_object *cmd_status(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply();

	(void)req;
	json_object_object_add(o, "version", json_object_new_string(VHOST_LB_VERSION));
	add_u64(o, "uptime_s", (time_ns_mono() - d->start_ns) / 1000000000ull);
	add_u64(o, "ports", d->nports);
	add_u64(o, "workers", d->dp->nworkers);
	add_u64(o, "fdb_entries", __atomic_load_n(&d->dp->fdb->count, __ATOMIC_RELAXED));
	json_object_object_add(o, "limits", limits_json(d));
	add_u64(o, "ctl_refused", d->ctl ? ctl_server_refused(d->ctl) : 0);
	return o;
}

static struct json_object *cmd_port_add(struct daemon *d, struct json_object *req)
{
	const char *name = ctl_get_str(req, "name"), *path = ctl_get_str(req, "path");
	const char *mode = ctl_get_str(req, "mode"), *group = ctl_get_str(req, "group");
	const char *perm = ctl_get_str(req, "perm"), *type = ctl_get_str(req, "type");
	const char *tap = ctl_get_str(req, "tap");
	struct json_object *q;
	struct port_spec spec;
	char text[700], why[256];
	int r;

	if (!name)
		return ctl_error_reply("port-add needs \"name\"");
	/* "tap" alone says the type; values cannot smuggle options in: the parser splits on ','. */
	if (tap && !type)
		type = "tap";
	if (strchr(name, ',') || (path && strchr(path, ',')) || (mode && strchr(mode, ',')) ||
	    (type && strchr(type, ',')) || (tap && strchr(tap, ',')))
		return ctl_error_reply("values may not contain ','");
	snprintf(text, sizeof(text), "%s%s%s%s%s%s%s%s%s", name, path ? ",path=" : "",
		 path ? path : "", mode ? ",mode=" : "", mode ? mode : "", type ? ",type=" : "",
		 type ? type : "", tap ? ",tap=" : "", tap ? tap : "");
	r = port_spec_parse(text, d->socket_dir, &spec, why, sizeof(why));
	if (r)
		return ctl_error_reply("%s", why);
	/*
	 * A control client may be a ctl-group member, not root: it must not make the daemon
	 * unlink, bind and chmod sockets anywhere root can (the path rule: docs/usage.md).
	 */
	if (path && spec.type == PORT_TYPE_VHOST_USER && !d->allow_socket_path_outside &&
	    !sockfile_path_in_dir(spec.path, d->socket_dir))
		return ctl_error_reply("socket path '%s' is not in the socket directory %s "
				       "(allow-socket-path-outside = no)", spec.path, d->socket_dir);
	if (json_object_object_get_ex(req, "queues", &q)) {
		int64_t n = json_object_get_int64(q);

		if (!json_object_is_type(q, json_type_int) || n < 1 || n > VU_MAX_QUEUE_PAIRS)
			return ctl_error_reply("queues must be 1..%d", VU_MAX_QUEUE_PAIRS);
		spec.queues = (unsigned int)n;
		spec.queues_default = false;
	}
	if ((group || perm) && spec.type == PORT_TYPE_TAP)
		return ctl_error_reply("group and perm are for vhost-user ports");
	if (group) {
		struct group *g = getgrnam(group);

		if (!g)
			return ctl_error_reply("no group '%s'", group);
		spec.group = g->gr_gid;
	}
	if (perm) {
		char *end;
		unsigned long m = strtoul(perm, &end, 8);

		if (*end || m > 0777)
			return ctl_error_reply("perm must be octal, like \"0660\"");
		spec.perm = (mode_t)m;
	}
	r = port_add(d, &spec, d->ctl_peer ? d->ctl_peer : "control client", why, sizeof(why));
	if (r)
		return ctl_error_reply("%s", *why ? why : strerror(-r));
	{
		struct json_object *o = ctl_ok_reply();

		if (spec.type == PORT_TYPE_TAP)
			json_object_object_add(o, "tap", json_object_new_string(spec.ifname));
		else
			json_object_object_add(o, "path", json_object_new_string(spec.path));
		return o;
	}
}

static struct json_object *cmd_port_del(struct daemon *d, struct json_object *req)
{
	const char *name = ctl_get_str(req, "name");

	if (!name)
		return ctl_error_reply("port-del needs \"name\"");
	if (port_del(d, name))
		return ctl_error_reply("no port '%s'", name);
	return ctl_ok_reply();
}

static struct json_object *port_summary(const struct port *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(p->spec.name));
	json_object_object_add(o, "type", json_object_new_string(port_type_name(p->spec.type)));
	if (p->spec.type == PORT_TYPE_TAP) {
		json_object_object_add(o, "tap", json_object_new_string(p->spec.ifname));
		json_object_object_add(o, "path", json_object_new_string(""));
		json_object_object_add(o, "mode", json_object_new_string("tap"));
	} else {
		json_object_object_add(o, "path", json_object_new_string(p->spec.path));
		json_object_object_add(o, "mode", json_object_new_string(port_mode_name(p->spec.mode)));
	}
	json_object_object_add(o, "state", json_object_new_string(port_state(p)));
	add_u64(o, "queues", p->spec.queues);
	{
		const struct disc_vm *vm = vms_of_port(p->d, p);

		json_object_object_add(o, "vm", vm ? json_object_new_string(vm->name) : NULL);
	}
	add_u64(o, "connects", p->connects);
	add_u64(o, "broken", p->broken_count);
	return o;
}

static struct json_object *cmd_port_list(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply(), *arr = json_object_new_array();

	(void)req;
	for (struct port *p = d->ports; p; p = p->next)
		json_object_array_add(arr, port_summary(p));
	json_object_object_add(o, "ports", arr);
	return o;
}

static struct json_object *drops_json(const struct dp_vq_stats *s)
{
	struct json_object *o = json_object_new_object();

	for (unsigned int i = 0; i < DP_DROP__MAX; i++)
		add_u64(o, dp_drop_names[i], s->drops[i]);
	return o;
}

static uint64_t drops_total(const struct dp_vq_stats *s)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < DP_DROP__MAX; i++)
		t += __atomic_load_n(&s->drops[i], __ATOMIC_RELAXED);   /* live: workers add */
	return t;
}

struct mac_collect {
	const struct dp_port *port;
	struct json_object *arr;
};

static void mac_str(uint64_t mac, char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned)(mac >> 40) & 255,
		 (unsigned)(mac >> 32) & 255, (unsigned)(mac >> 24) & 255, (unsigned)(mac >> 16) & 255,
		 (unsigned)(mac >> 8) & 255, (unsigned)mac & 255);
}

static void collect_mac(const struct fdb_entry *e, void *opaque)
{
	struct mac_collect *mc = opaque;
	char s[18];

	if (__atomic_load_n(&e->port, __ATOMIC_RELAXED) != mc->port)
		return;
	mac_str(e->mac, s);
	json_object_array_add(mc->arr, json_object_new_string(s));
}

/* DP_OFF_* as a list of names. */
static struct json_object *offloads_json(unsigned int caps)
{
	struct json_object *a = json_object_new_array();

	if (caps & DP_OFF_CSUM)
		json_object_array_add(a, json_object_new_string("csum"));
	if (caps & DP_OFF_TSO4)
		json_object_array_add(a, json_object_new_string("tso4"));
	if (caps & DP_OFF_TSO6)
		json_object_array_add(a, json_object_new_string("tso6"));
	return a;
}

/* What live migration did on this connection: the dirty log (source side), RARP (destination). */
static struct json_object *migration_json(const struct session *s)
{
	struct json_object *o = json_object_new_object();
	const struct dlog *l = s->log;

	json_object_object_add(o, "logging", json_object_new_boolean(
		l && (s->features & BIT_ULL(VHOST_F_LOG_ALL))));
	add_u64(o, "log_bytes", l ? l->size : 0);
	add_u64(o, "logged_writes",
		s->log_writes_before + (l ? __atomic_load_n(&l->writes, __ATOMIC_RELAXED) : 0));
	add_u64(o, "log_out_of_range", l ? __atomic_load_n(&l->out_of_range, __ATOMIC_RELAXED) : 0);
	add_u64(o, "rarp_announces", s->rarps);
	return o;
}

static struct json_object *port_stats(struct daemon *d, const struct port *p)
{
	struct json_object *o = port_summary(p), *queues = json_object_new_array();
	struct mac_collect mc = { .port = p->dp, .arr = json_object_new_array() };
	struct dp_vq_stats in, out, all = { 0 };

	dp_port_stats(p->dp, &in, &out);
	fdb_foreach_rcu(d->dp->fdb, collect_mac, &mc);
	json_object_object_add(o, "macs", mc.arr);
	add_u64(o, "rx_packets", in.packets);
	add_u64(o, "rx_bytes", in.bytes);
	add_u64(o, "tx_packets", out.packets);
	add_u64(o, "tx_bytes", out.bytes);
	json_object_object_add(o, "rings_broken", json_object_new_boolean(__atomic_load_n(&p->dp->broken, __ATOMIC_RELAXED)));
	add_u64(o, "rx_interrupts", in.calls);
	add_u64(o, "tx_interrupts", out.calls);
	/* Offloads: what was negotiated (dp/offload.h) and how the frames asking for them went. */
	json_object_object_add(o, "offloads_rx", offloads_json(__atomic_load_n(&p->dp->offload_tx, __ATOMIC_RELAXED)));
	json_object_object_add(o, "offloads_tx", offloads_json(__atomic_load_n(&p->dp->offload_rx, __ATOMIC_RELAXED)));
	add_u64(o, "rx_gso", in.gso);
	add_u64(o, "tx_gso", out.gso);
	add_u64(o, "tx_gso_sw", out.sw_gso);
	add_u64(o, "tx_csum_sw", out.sw_csum);
	for (unsigned int i = 0; i < DP_DROP__MAX; i++)
		all.drops[i] = in.drops[i] + out.drops[i];
	json_object_object_add(o, "drops", drops_json(&all));
	if (p->connected)
		json_object_object_add(o, "migration", migration_json(&p->session));
	for (unsigned int i = 0; i < VU_MAX_VRINGS; i++) {
		const struct dp_vq *vq = &p->dp->vq[i];
		struct json_object *q;

		if (!vq->num_set && !__atomic_load_n(&vq->stats.packets, __ATOMIC_RELAXED) &&
		    !drops_total(&vq->stats))
			continue;
		q = json_object_new_object();
		add_u64(q, "index", i);
		json_object_object_add(q, "dir", json_object_new_string(dp_vq_is_tx(i) ? "rx" : "tx"));
		json_object_object_add(q, "guest_queue",
				       json_object_new_string(dp_vq_is_tx(i) ? "tx" : "rx"));
		json_object_object_add(q, "enabled", json_object_new_boolean(vq->ready));
		add_u64(q, "size", vq->num);
		add_u64(q, "packets", __atomic_load_n(&vq->stats.packets, __ATOMIC_RELAXED));
		add_u64(q, "bytes", __atomic_load_n(&vq->stats.bytes, __ATOMIC_RELAXED));
		add_u64(q, "drops", drops_total(&vq->stats));
		add_u64(q, "interrupts", __atomic_load_n(&vq->stats.calls, __ATOMIC_RELAXED));
		/* Bursts taken from a guest's TX ring (or batches put on an RX ring): the work limit
		 * per turn shows as packets per batch. */
		add_u64(q, "batches", __atomic_load_n(&vq->stats.batches, __ATOMIC_RELAXED));
		add_u64(q, "gso", __atomic_load_n(&vq->stats.gso, __ATOMIC_RELAXED));
		add_u64(q, "sw_gso", __atomic_load_n(&vq->stats.sw_gso, __ATOMIC_RELAXED));
		add_u64(q, "sw_csum", __atomic_load_n(&vq->stats.sw_csum, __ATOMIC_RELAXED));
		json_object_object_add(q, "worker", json_object_new_int(vq->worker));
		if (vq->ready && p->spec.type == PORT_TYPE_VHOST_USER) {
			/* The ring as the guest sees it: what an operator needs to tell a stuck guest
			 * (avail not moving) from a stuck switch (last_avail behind avail). */
			const struct vring *vr = &vq->ring;

			add_u64(q, "avail_idx", __atomic_load_n(&vr->avail->idx, __ATOMIC_RELAXED));
			add_u64(q, "last_avail_idx",
				__atomic_load_n(&vr->last_avail_idx, __ATOMIC_RELAXED));
			add_u64(q, "used_idx", __atomic_load_n(&vr->used->idx, __ATOMIC_RELAXED));
			add_u64(q, "used_flags", __atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED));
			add_u64(q, "avail_flags", __atomic_load_n(&vr->avail->flags, __ATOMIC_RELAXED));
		}
		json_object_array_add(queues, q);
	}
	json_object_object_add(o, "queues", queues);
	return o;
}

static struct json_object *cmd_stats(struct daemon *d, struct json_object *req)
{
	const char *name = ctl_get_str(req, "name");
	struct json_object *o, *arr;

	if (name && !port_find(d, name))
		return ctl_error_reply("no port '%s'", name);
	o = ctl_ok_reply();
	arr = json_object_new_array();
	for (struct port *p = d->ports; p; p = p->next)
		if (!name || strcmp(name, p->spec.name) == 0)
			json_object_array_add(arr, port_stats(d, p));
	json_object_object_add(o, "ports", arr);
	return o;
}

struct fdb_collect {
	struct json_object *arr;
	uint64_t now_s;
};

static void collect_fdb(const struct fdb_entry *e, void *opaque)
{
	struct fdb_collect *fc = opaque;
	const struct dp_port *port = __atomic_load_n(&e->port, __ATOMIC_RELAXED);
	struct json_object *o = json_object_new_object();
	char s[18];

	mac_str(e->mac, s);
	json_object_object_add(o, "mac", json_object_new_string(s));
	json_object_object_add(o, "port", json_object_new_string(port->name));
	add_u64(o, "age_s", fc->now_s - __atomic_load_n(&e->seen_s, __ATOMIC_RELAXED));
	json_object_array_add(fc->arr, o);
}

static struct json_object *cmd_fdb(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply();
	struct fdb_collect fc = { json_object_new_array(), time_ns_mono() / 1000000000ull };

	(void)req;
	fdb_foreach_rcu(d->dp->fdb, collect_fdb, &fc);
	json_object_object_add(o, "entries", fc.arr);
	return o;
}

static struct json_object *cmd_workers(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply(), *arr = json_object_new_array();

	(void)req;
	dp_foreach_worker(d->dp, w) {
		struct json_object *e = json_object_new_object();

		add_u64(e, "id", w->id);
		json_object_object_add(e, "cpu", json_object_new_int(w->cpu));
		add_u64(e, "load_permille", d->bal->worker_load[w->id]);
		add_u64(e, "queues", w->nqueues);
		{
			const struct dp_poll_list *pl = rcu_dereference(w->plist);
			/* The worker's latest figure, possibly from the list before @pl. */
			uint32_t polled = __atomic_load_n(&w->stats.polled, __ATOMIC_RELAXED);
			unsigned int n = pl ? pl->n : 0;

			polled = MIN(polled, n);
			add_u64(e, "polled", polled);
			add_u64(e, "parked", n - polled);
		}
		json_object_object_add(e, "retiring", json_object_new_boolean(d->bal->retiring[w->id]));
		add_u64(e, "loops", __atomic_load_n(&w->stats.loops, __ATOMIC_RELAXED));
		add_u64(e, "sleeps", __atomic_load_n(&w->stats.sleeps, __ATOMIC_RELAXED));
		add_u64(e, "parked_kicks", __atomic_load_n(&w->stats.parked_kicks, __ATOMIC_RELAXED));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "workers", arr);
	return o;
}

static struct json_object *cmd_placement(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply(), *arr = json_object_new_array(), *hist;
	struct balancer *b = d->bal;

	(void)req;
	for (struct port *p = d->ports; p; p = p->next)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2) {
			const struct dp_vq *vq = &p->dp->vq[q];
			struct json_object *e;

			if (!vq->ready)
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "port", json_object_new_string(p->spec.name));
			add_u64(e, "vq", q);
			json_object_object_add(e, "worker", json_object_new_int(vq->worker));
			json_object_object_add(e, "cpu", json_object_new_int(
				vq->worker >= 0 ? d->dp->workers[vq->worker].cpu : -1));
			add_u64(e, "load_permille", vq->bal_load);
			add_u64(e, "packets", __atomic_load_n(&vq->stats.packets, __ATOMIC_RELAXED));
			json_object_array_add(arr, e);
		}
	json_object_object_add(o, "queues", arr);
	hist = json_object_new_array();
	for (unsigned int i = 0; i < b->history_len; i++) {
		unsigned int k = (b->history_next + BALANCER_HISTORY - b->history_len + i) % BALANCER_HISTORY;
		const struct balancer_event *ev = &b->history[k];
		struct json_object *e = json_object_new_object();

		add_u64(e, "time_ns", ev->time_ns);
		json_object_object_add(e, "port", json_object_new_string(ev->port));
		add_u64(e, "vq", ev->vq);
		json_object_object_add(e, "from_worker", json_object_new_int(ev->from));
		json_object_object_add(e, "to_worker", json_object_new_int(ev->to));
		json_object_object_add(e, "from_cpu", json_object_new_int(ev->from_cpu));
		json_object_object_add(e, "to_cpu", json_object_new_int(ev->to_cpu));
		json_object_object_add(e, "reason", json_object_new_string(bal_reason_name(ev->reason)));
		json_object_object_add(e, "detail", json_object_new_string(ev->detail));
		json_object_array_add(hist, e);
	}
	json_object_object_add(o, "moves", hist);
	add_u64(o, "ticks", b->ticks);
	add_u64(o, "replans", b->replans);
	return o;
}

static struct json_object *cmd_vms(struct daemon *d, struct json_object *req)
{
	struct json_object *o = ctl_ok_reply();

	(void)req;
	json_object_object_add(o, "discovery", json_object_new_boolean(d->disc != NULL));
	json_object_object_add(o, "vms", vms_json(d));
	return o;
}

static struct json_object *cmd_reload(struct daemon *d, struct json_object *req)
{
	char why[512];

	(void)req;
	if (daemon_reload(d, why, sizeof(why)))
		return ctl_error_reply("%s", why);
	return ctl_ok_reply();
}

static const struct {
	const char *name;
	struct json_object *(*fn)(struct daemon *d, struct json_object *req);
	bool needs_lb;    /* the service load balancer: absent in a daemon without it (fuzz_ctl) */
} commands[] = {
	{ "status", cmd_status },
	{ "port-add", cmd_port_add },
	{ "port-del", cmd_port_del },
	{ "port-list", cmd_port_list },
	{ "stats", cmd_stats },
	{ "fdb", cmd_fdb },
	{ "workers", cmd_workers },
	{ "placement", cmd_placement },
	{ "reload", cmd_reload },
	{ "vms", cmd_vms },
	{ "vip-add", ctl_cmd_vip_add, true },
	{ "vip-del", ctl_cmd_vip_del, true },
	{ "vip-backend-add", ctl_cmd_vip_backend_add, true },
	{ "vip-backend-del", ctl_cmd_vip_backend_del, true },
	{ "vip-weight", ctl_cmd_vip_weight, true },
	{ "vip-show", ctl_cmd_vip_show, true },
	{ "vf-list", ctl_cmd_vf_list },
	{ "vf-assign", ctl_cmd_vf_assign },
	{ "vf-release", ctl_cmd_vf_release },
	{ "vf-rate", ctl_cmd_vf_rate },
	{ "vf-irq", ctl_cmd_vf_irq },
	{ "vf-irq-set", ctl_cmd_vf_irq_set },
};

/**
 * ctl_handle_request() - parse one request line and run it.
 * Context: control thread, RCU read side. Return: the reply object (never NULL).
 */
struct json_object *ctl_handle_request(struct daemon *d, const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req, *reply;
	const char *cmd;

	if (!tok)
		return ctl_error_reply("out of memory");
	req = json_tokener_parse_ex(tok, line, (int)len);
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(req, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(req);
		return ctl_error_reply("request is not a JSON object");
	}
	json_tokener_free(tok);
	cmd = ctl_get_str(req, "cmd");
	reply = NULL;
	for (size_t i = 0; cmd && i < ARRAY_SIZE(commands); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			reply = commands[i].needs_lb && !d->lb
					? ctl_error_reply("the service load balancer is not running")
					: commands[i].fn(d, req);
	if (!reply)
		reply = cmd ? ctl_error_reply("unknown command '%s'", cmd) : ctl_error_reply("no \"cmd\"");
	json_object_put(req);
	return reply;
}

static void client_free(struct ctl_client *c)
{
	struct ctl_server *srv = c->srv;

	for (struct ctl_client **pp = &srv->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv->nclients--;
	evloop_remove(c->src);
	close(c->fd);
	free(c);
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				/* Replies are small; a client that does not read for 1 s is dropped. */
				if (poll(&pfd, 1, 1000) <= 0)
					return -ETIMEDOUT;
				continue;
			}
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool is_handover(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	bool yes = req && json_object_is_type(req, json_type_object) && ctl_get_str(req, "cmd") &&
		   strcmp(ctl_get_str(req, "cmd"), "handover") == 0;

	json_object_put(req);
	json_tokener_free(tok);
	return yes;
}

/* One error line to a client about to be dropped; best effort, never waits. */
static void __attribute__((format(printf, 2, 3))) refuse(int fd, const char *fmt, ...)
{
	struct json_object *o;
	const char *text;
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = ctl_error_reply("%s", msg);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	(void)!send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)!send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	json_object_put(o);
}

static void client_on_event(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct ctl_client *c = opaque;
	ssize_t n;
	char *nl;

	(void)src;
	(void)events;
	n = recv(fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_free(c);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->len))) {
		size_t line_len = (size_t)(nl - c->buf);

		/*
		 * The hand-over takes over this connection for its own wire format. It passes
		 * every guest's memory fds: root's only, never ctl-group's.
		 */
		if (is_handover(c->buf, line_len)) {
			if (c->root) {
				(void)handover_give(c->srv->d, fd);
			} else {
				log_ratelimited(LOG_LVL_WARN, "%s: refused: hand-over is for root only",
						c->peer);
				refuse(fd, "permission denied: hand-over is for root only");
			}
			client_free(c);
			return;
		}
		struct json_object *reply;
		const char *text;
		int r;

		c->srv->d->ctl_peer = c->peer;
		reply = ctl_handle_request(c->srv->d, c->buf, line_len);
		c->srv->d->ctl_peer = NULL;
		text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
		r = send_all(fd, text, strlen(text));

		if (r == 0)
			r = send_all(fd, "\n", 1);
		json_object_put(reply);
		memmove(c->buf, nl + 1, c->len - line_len - 1);
		c->len -= line_len + 1;
		if (r) {
			client_free(c);
			return;
		}
	}
	if (c->len == c->cap) {
		limit_hit(LIMIT_CTL_REQUEST_BYTES, "%s: a request of over %zu bytes", c->peer, c->cap);
		refuse(fd, "request longer than %zu bytes (max-ctl-request-bytes)", c->cap);
		client_free(c);
	}
}

/*
 * Root, our own user, or a member of @group (primary or supplementary, as recorded by the
 * kernel at connect()). Return: true if @fd's peer may use the control socket.
 */
static bool peer_allowed(int fd, const struct ucred *cred, gid_t group)
{
	gid_t small[64], *groups = small;
	socklen_t len = sizeof(small);
	bool ok = false;

	if (cred->uid == 0 || cred->uid == geteuid())
		return true;
	if (group == (gid_t)-1)
		return false;
	if (cred->gid == group)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
		if (errno != ERANGE || !(groups = malloc(len)))
			return false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
			free(groups);
			return false;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		ok |= groups[i] == group;
	if (groups != small)
		free(groups);
	return ok;
}

static void listen_on_event(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct ctl_server *srv = opaque;
	struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cred);
	struct ctl_client *c;
	char peer[64];
	size_t cap;
	int cfd;

	(void)src;
	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	(void)getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	snprintf(peer, sizeof(peer), "control client pid=%d uid=%u", (int)cred.pid,
		 (unsigned int)cred.uid);
	if (!peer_allowed(cfd, &cred, srv->d->ctl_group)) {
		srv->refused++;
		log_ratelimited(LOG_LVL_WARN, "%s gid=%u: refused: not root and not in ctl-group", peer,
				(unsigned int)cred.gid);
		refuse(cfd, "permission denied: the control socket is for root and ctl-group members");
		close(cfd);
		return;
	}
	if (srv->nclients >= limit_get(LIMIT_CTL_CLIENTS)) {
		limit_hit(LIMIT_CTL_CLIENTS, "%s: connection %u", peer, srv->nclients + 1);
		refuse(cfd, "too many control connections (max-ctl-clients = %u)",
		       limit_get(LIMIT_CTL_CLIENTS));
		close(cfd);
		return;
	}
	cap = limit_get(LIMIT_CTL_REQUEST_BYTES);
	c = calloc(1, sizeof(*c) + cap);
	if (!c) {
		close(cfd);
		return;
	}
	c->cap = cap;
	c->root = cred.uid == 0 || cred.uid == geteuid();
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->srv = srv;
	c->fd = cfd;
	if (evloop_add_fd(srv->d->loop, cfd, EPOLLIN, client_on_event, c, &c->src)) {
		close(cfd);
		free(c);
		return;
	}
	c->next = srv->clients;
	srv->clients = c;
	srv->nclients++;
}

/* 0660 and group @group, or 0600 root's: the file says who may connect (peer_allowed()). */
static int set_owner(const char *path, gid_t group)
{
	return sockfile_set_owner(path, group, group == (gid_t)-1 ? 0600 : 0660);
}

/**
 * ctl_server_set_group() - who may connect from now on: root and @group ((gid_t)-1: root
 * only). Connections already open stay. Context: control thread (reload).
 */
int ctl_server_set_group(struct ctl_server *srv, gid_t group)
{
	int r = set_owner(srv->path, group);

	if (r)
		log_error("control socket %s: setting group and mode: %s", srv->path, strerror(-r));
	return r;
}

unsigned int ctl_server_clients(const struct ctl_server *srv)
{
	return srv->nclients;
}

uint64_t ctl_server_refused(const struct ctl_server *srv)
{
	return srv->refused;
}

/* Context: control thread. Root's (0600), or 0660 for d->ctl_group: it can add and remove ports. */
int ctl_server_new(struct daemon *d, const char *path, struct ctl_server **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_server *srv;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->d = d;
	strcpy(srv->path, path);
	strcpy(sa.sun_path, path);
	(void)unlink(path);
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	r = 0;
	if (srv->fd < 0 || bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	if (!r)
		r = set_owner(path, d->ctl_group);
	if (!r && listen(srv->fd, 16) < 0)
		r = -errno;
	if (r) {
		if (srv->fd >= 0)
			close(srv->fd);
		free(srv);
		return r;
	}
	r = evloop_add_fd(d->loop, srv->fd, EPOLLIN, listen_on_event, srv, &srv->src);
	if (r) {
		close(srv->fd);
		free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

/* Serves the listening socket @fd handed over by a previous daemon process. */
int ctl_server_adopt(struct daemon *d, int fd, const char *path, struct ctl_server **ret)
{
	struct ctl_server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->d = d;
	srv->fd = fd;
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	r = evloop_add_fd(d->loop, fd, EPOLLIN, listen_on_event, srv, &srv->src);
	if (r) {
		free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

int ctl_server_fd(const struct ctl_server *srv)
{
	return srv->fd;
}

void ctl_server_free(struct ctl_server *srv)
{
	if (!srv)
		return;
	while (srv->clients)
		client_free(srv->clients);
	evloop_remove(srv->src);
	close(srv->fd);
	if (!srv->d->handed_over)
		(void)unlink(srv->path);
	ctl_vf_close();
	free(srv);
}
