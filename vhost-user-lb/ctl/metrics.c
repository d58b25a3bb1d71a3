// SPDX-License-Identifier: GPL-2.0-or-later
#include "ctl/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "balance/balancer.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/sockfile.h"
#include "ctl/ctl.h"
#include "daemon/daemon.h"
#include "lb/lb.h"

struct metrics_server {
	struct daemon *d;
	int unix_fd, tcp_fd;
	struct ev_source *unix_src, *tcp_src;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void write_vips(FILE *out, struct lb *lb);

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/**
 * metrics_render() - the exposition, in the Prometheus text format (version 0.0.4).
 * Port names are restricted to [A-Za-z0-9._-], so label values need no escaping.
 */
void metrics_render(struct daemon *d, FILE *out)
{
	struct balancer *b = d->bal;

	family(out, "vulb_port_up", "gauge", "1 when the port's frontend has a queue running");
	for (struct port *p = d->ports; p; p = p->next)
		fprintf(out, "vulb_port_up{port=\"%s\"} %d\n", p->spec.name,
			strcmp(port_state(p), "running") == 0);

	static const struct {
		const char *name, *help;
		bool tx;
		size_t off;
	} port_counters[] = {
		{ "vulb_port_rx_packets_total", "frames received from the guest", false,
		  offsetof(struct dp_vq_stats, packets) },
		{ "vulb_port_rx_bytes_total", "bytes received from the guest", false,
		  offsetof(struct dp_vq_stats, bytes) },
		{ "vulb_port_tx_packets_total", "frames delivered to the guest", true,
		  offsetof(struct dp_vq_stats, packets) },
		{ "vulb_port_tx_bytes_total", "bytes delivered to the guest", true,
		  offsetof(struct dp_vq_stats, bytes) },
		{ "vulb_port_interrupts_total", "interrupts injected into the guest (RX queues)", true,
		  offsetof(struct dp_vq_stats, calls) },
		{ "vulb_port_rx_gso_total", "GSO frames received from the guest", false,
		  offsetof(struct dp_vq_stats, gso) },
		{ "vulb_port_tx_gso_total", "GSO frames delivered to the guest whole", true,
		  offsetof(struct dp_vq_stats, gso) },
		{ "vulb_port_tx_sw_segmented_total",
		  "GSO frames cut into segments by the switch (the guest lacks TSO)", true,
		  offsetof(struct dp_vq_stats, sw_gso) },
		{ "vulb_port_tx_sw_checksummed_total",
		  "frames whose checksum the switch completed (the guest lacks GUEST_CSUM)", true,
		  offsetof(struct dp_vq_stats, sw_csum) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(port_counters); i++) {
		family(out, port_counters[i].name, "counter", port_counters[i].help);
		for (struct port *p = d->ports; p; p = p->next) {
			struct dp_vq_stats in, outs;

			dp_port_stats(p->dp, &in, &outs);
			fprintf(out, "%s{port=\"%s\"} %llu\n", port_counters[i].name, p->spec.name,
				(unsigned long long)*(const uint64_t *)((const char *)(port_counters[i].tx ? &outs : &in) +
								       port_counters[i].off));
		}
	}
	family(out, "vulb_port_drops_total", "counter", "frames dropped, by reason");
	for (struct port *p = d->ports; p; p = p->next) {
		struct dp_vq_stats in, outs;

		dp_port_stats(p->dp, &in, &outs);
		for (unsigned int r = 0; r < DP_DROP__MAX; r++)
			fprintf(out, "vulb_port_drops_total{port=\"%s\",reason=\"%s\"} %llu\n", p->spec.name,
				dp_drop_names[r], (unsigned long long)(in.drops[r] + outs.drops[r]));
	}
	family(out, "vulb_port_connects_total", "counter", "frontend connections accepted or made");
	for (struct port *p = d->ports; p; p = p->next)
		fprintf(out, "vulb_port_connects_total{port=\"%s\"} %llu\n", p->spec.name,
			(unsigned long long)p->connects);
	family(out, "vulb_port_broken_total", "counter", "connections dropped for invalid messages or rings");
	for (struct port *p = d->ports; p; p = p->next)
		fprintf(out, "vulb_port_broken_total{port=\"%s\"} %llu\n", p->spec.name,
			(unsigned long long)p->broken_count);

	family(out, "vulb_queue_packets_total", "counter", "frames through one virtqueue");
	for (struct port *p = d->ports; p; p = p->next)
		for (unsigned int q = 0; q < VU_MAX_VRINGS; q++)
			if (p->dp->vq[q].num_set)
				fprintf(out, "vulb_queue_packets_total{port=\"%s\",vq=\"%u\",guest_queue=\"%s\"} %llu\n",
					p->spec.name, q, dp_vq_is_tx(q) ? "tx" : "rx",
					(unsigned long long)__atomic_load_n(&p->dp->vq[q].stats.packets, __ATOMIC_RELAXED));
	family(out, "vulb_queue_interrupts_total", "counter", "interrupts injected for one virtqueue");
	for (struct port *p = d->ports; p; p = p->next)
		for (unsigned int q = 0; q < VU_MAX_VRINGS; q++)
			if (p->dp->vq[q].num_set)
				fprintf(out, "vulb_queue_interrupts_total{port=\"%s\",vq=\"%u\"} %llu\n", p->spec.name, q,
					(unsigned long long)__atomic_load_n(&p->dp->vq[q].stats.calls, __ATOMIC_RELAXED));
	family(out, "vulb_queue_load_ratio", "gauge", "share of a core a TX queue used over the last balancer tick");
	for (struct port *p = d->ports; p; p = p->next)
		for (unsigned int q = 1; q < VU_MAX_VRINGS; q += 2)
			if (p->dp->vq[q].ready)
				fprintf(out, "vulb_queue_load_ratio{port=\"%s\",vq=\"%u\",worker=\"%d\"} %.3f\n",
					p->spec.name, q, p->dp->vq[q].worker, p->dp->vq[q].bal_load / 1000.0);

	family(out, "vulb_worker_load_ratio", "gauge", "share of its core a worker spent forwarding");
	dp_foreach_worker(d->dp, w)
		fprintf(out, "vulb_worker_load_ratio{worker=\"%u\",cpu=\"%d\"} %.3f\n", w->id, w->cpu,
			b->worker_load[w->id] / 1000.0);
	family(out, "vulb_worker_queues", "gauge", "TX queues a worker drains");
	dp_foreach_worker(d->dp, w)
		fprintf(out, "vulb_worker_queues{worker=\"%u\",cpu=\"%d\"} %u\n", w->id, w->cpu, w->nqueues);
	family(out, "vulb_worker_sleeps_total", "counter", "times a worker slept waiting for a kick");
	dp_foreach_worker(d->dp, w)
		fprintf(out, "vulb_worker_sleeps_total{worker=\"%u\",cpu=\"%d\"} %llu\n", w->id, w->cpu,
			(unsigned long long)__atomic_load_n(&w->stats.sleeps, __ATOMIC_RELAXED));
	family(out, "vulb_worker_parked_kicks_total", "counter",
	       "kicks that brought a parked (idle, unpolled) queue back to polling on a busy worker");
	dp_foreach_worker(d->dp, w)
		fprintf(out, "vulb_worker_parked_kicks_total{worker=\"%u\",cpu=\"%d\"} %llu\n", w->id, w->cpu,
			(unsigned long long)__atomic_load_n(&w->stats.parked_kicks, __ATOMIC_RELAXED));

	family(out, "vulb_balancer_moves_total", "counter", "queues moved between workers");
	fprintf(out, "vulb_balancer_moves_total %llu\n", (unsigned long long)b->moves);
	family(out, "vulb_balancer_replans_total", "counter", "full re-plans after environment changes");
	fprintf(out, "vulb_balancer_replans_total %llu\n", (unsigned long long)b->replans);
	family(out, "vulb_fdb_entries", "gauge", "learned MAC addresses");
	fprintf(out, "vulb_fdb_entries %u\n", __atomic_load_n(&d->dp->fdb->count, __ATOMIC_RELAXED));
	family(out, "vulb_fdb_learn_refused_total", "counter", "MACs not learned because the table was full");
	fprintf(out, "vulb_fdb_learn_refused_total %llu\n",
		(unsigned long long)__atomic_load_n(&d->dp->fdb->learn_refused, __ATOMIC_RELAXED));

	family(out, "vulb_limit", "gauge", "the [limits] value in force");
	for (unsigned int i = 0; i < LIMIT__MAX; i++)
		fprintf(out, "vulb_limit{limit=\"%s\"} %u\n", limit_info[i].name, limit_get(i));
	family(out, "vulb_limit_hits_total", "counter", "requests refused because a limit was reached");
	for (unsigned int i = 0; i < LIMIT__MAX; i++)
		fprintf(out, "vulb_limit_hits_total{limit=\"%s\"} %llu\n", limit_info[i].name,
			(unsigned long long)daemon_limit_hits(d, i));
	family(out, "vulb_ctl_refused_total", "counter",
	       "control connections refused: not root and not in ctl-group");
	fprintf(out, "vulb_ctl_refused_total %llu\n",
		(unsigned long long)(d->ctl ? ctl_server_refused(d->ctl) : 0));
	if (d->lb)
		write_vips(out, d->lb);
}

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/*
 * Per VIP and per backend, from what `vip show` reports (one walk of the flow table), so the
 * two views cannot disagree. Label values are the daemon's own text (addresses, MACs, states).
 */
static void write_vips(FILE *out, struct lb *lb)
{
	struct json_object *all = lb_show_json(lb), *vips;
	static const struct { const char *name, *key, *type, *help; } vip_m[] = {
		{ "vulb_vip_flows", "active_flows", "gauge", "established flows of a service" },
		{ "vulb_vip_new_flows_total", "new_flows", "counter", "flows a service has assigned" },
		{ "vulb_vip_refused_total", "refused", "counter", "new flows a service could not place" },
		{ "vulb_vip_packets_in_total", "packets_in", "counter", "client frames to a service" },
		{ "vulb_vip_packets_out_total", "packets_out", "counter", "backend replies as the service" },
	}, be_m[] = {
		{ "vulb_backend_flows", "active_flows", "gauge", "established flows of a backend" },
		{ "vulb_backend_new_flows_total", "new_flows", "counter", "flows assigned to a backend" },
		{ "vulb_backend_weight", "weight", "gauge", "a backend's weight (0 drains)" },
		{ "vulb_backend_load_seconds", "load_us", "gauge", "a backend guest's measured RX delay" },
	};

	if (!all)
		return;
	vips = json_object_object_get(all, "vips");
	for (size_t m = 0; m < ARRAY_SIZE(vip_m); m++) {
		family(out, vip_m[m].name, vip_m[m].type, vip_m[m].help);
		for (size_t i = 0; vips && i < json_object_array_length(vips); i++) {
			struct json_object *v = json_object_array_get_idx(vips, i);

			fprintf(out, "%s{vip=\"%s\",algorithm=\"%s\"} %llu\n", vip_m[m].name, jstr(v, "vip"),
				jstr(v, "algorithm"), (unsigned long long)ju64(v, vip_m[m].key));
		}
	}
	/* m == -1: vulb_backend_up; then one family per be_m entry, each with all its samples. */
	for (int m = -1; m < (int)ARRAY_SIZE(be_m); m++) {
		if (m < 0)
			family(out, "vulb_backend_up", "gauge", "1 while a backend takes new flows");
		else
			family(out, be_m[m].name, be_m[m].type, be_m[m].help);
		for (size_t i = 0; vips && i < json_object_array_length(vips); i++) {
			struct json_object *v = json_object_array_get_idx(vips, i);
			struct json_object *bes = json_object_object_get(v, "backends");

			for (size_t k = 0; bes && k < json_object_array_length(bes); k++) {
				struct json_object *b = json_object_array_get_idx(bes, k);
				char l[192];

				snprintf(l, sizeof(l), "vip=\"%s\",backend=\"%s:%llu\",mac=\"%s\"", jstr(v, "vip"),
					 jstr(b, "address"), (unsigned long long)ju64(b, "port"), jstr(b, "mac"));
				if (m < 0)
					fprintf(out, "vulb_backend_up{%s} %d\n", l,
						strcmp(jstr(b, "state"), "up") == 0);
				else if (strcmp(be_m[m].key, "load_us") == 0)
					fprintf(out, "%s{%s} %.6f\n", be_m[m].name, l,
						(double)ju64(b, "load_us") / 1e6);
				else
					fprintf(out, "%s{%s} %llu\n", be_m[m].name, l,
						(unsigned long long)ju64(b, be_m[m].key));
			}
		}
	}
	json_object_put(all);
}

/* One request per connection, answered at once: a scraper that stalls gets nothing. */
static void serve(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct metrics_server *m = opaque;
	char req[1024], *body = NULL, head[160];
	size_t body_len = 0;
	ssize_t n;
	FILE *out;
	int c;

	(void)src;
	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	{
		struct timeval tv = { .tv_sec = 1 };

		(void)setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	n = recv(c, req, sizeof(req) - 1, 0);
	if (n <= 0) {
		close(c);
		return;
	}
	req[n] = '\0';
	if (strncmp(req, "GET /metrics", 12) != 0 && strncmp(req, "GET / ", 6) != 0) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";

		(void)send(c, nf, sizeof(nf) - 1, MSG_NOSIGNAL);
		close(c);
		return;
	}
	out = open_memstream(&body, &body_len);
	if (out) {
		metrics_render(m->d, out);
		fclose(out);
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n\r\n",
		 body_len);
	if (send(c, head, strlen(head), MSG_NOSIGNAL) > 0 && body)
		(void)send(c, body, body_len, MSG_NOSIGNAL);
	free(body);
	close(c);
}

/**
 * metrics_server_set_group() - who may read the unix socket: the control socket's readers,
 * root and [daemon] ctl-group (0660), or root alone (0600). The counters are read-only, but
 * they name every port and VM; the TCP port (127.0.0.1 only) is for scrapers, open to local
 * users by choice of whoever enables it.
 * Context: control thread.
 */
int metrics_server_set_group(struct metrics_server *m, gid_t group)
{
	int r;

	if (m->unix_fd < 0)
		return 0;
	r = sockfile_set_owner(m->path, group, group == (gid_t)-1 ? 0600 : 0660);
	if (r)
		log_error("metrics socket %s: setting group and mode: %s", m->path, strerror(-r));
	return r;
}

/**
 * metrics_server_new() - listen on @unix_path (if non-NULL) and 127.0.0.1:@tcp_port (if > 0).
 * Context: control thread.
 */
int metrics_server_new(struct daemon *d, const char *unix_path, int tcp_port,
		       struct metrics_server **ret)
{
	struct metrics_server *m = calloc(1, sizeof(*m));
	int r = 0;

	if (!m)
		return -ENOMEM;
	m->d = d;
	m->unix_fd = m->tcp_fd = -1;
	if (unix_path) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(unix_path) >= sizeof(sa.sun_path)) {
			free(m);
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, unix_path);
		strcpy(m->path, unix_path);
		(void)unlink(unix_path);
		m->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (m->unix_fd < 0 || bind(m->unix_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			r = -errno;
		if (!r)
			r = metrics_server_set_group(m, d->ctl_group);
		if (!r && listen(m->unix_fd, 8) < 0)
			r = -errno;
		if (!r)
			r = evloop_add_fd(d->loop, m->unix_fd, EPOLLIN, serve, m, &m->unix_src);
	}
	if (!r && tcp_port > 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tcp_port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int one = 1;

		m->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (m->tcp_fd < 0 || setsockopt(m->tcp_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(m->tcp_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->tcp_fd, 8) < 0)
			r = -errno;
		if (!r)
			r = evloop_add_fd(d->loop, m->tcp_fd, EPOLLIN, serve, m, &m->tcp_src);
	}
	if (r) {
		metrics_server_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

void metrics_server_free(struct metrics_server *m)
{
	if (!m)
		return;
	evloop_remove(m->unix_src);
	evloop_remove(m->tcp_src);
	if (m->unix_fd >= 0) {
		close(m->unix_fd);
		if (!m->d->handed_over)
			(void)unlink(m->path);
	}
	if (m->tcp_fd >= 0)
		close(m->tcp_fd);
	free(m);
}
