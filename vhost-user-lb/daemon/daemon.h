/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's control-thread state: its ports and the sockets that serve them. */
#ifndef VULB_DAEMON_DAEMON_H
#define VULB_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "core/evloop.h"
#include "core/limits.h"
#include "dp/dp.h"
#include "lb/lb.h"
#include "session/session.h"

enum port_mode { PORT_MODE_SERVER, PORT_MODE_CLIENT };
/* A guest's NIC on a vhost-user socket, or the uplink to the host's network (uplink/tap.c). */
enum port_type { PORT_TYPE_VHOST_USER, PORT_TYPE_TAP };

#define PORT_NAME_MAX 63
#define PORT_DEFAULT_QUEUES 8
#define PORT_DEFAULT_TAP_QUEUES 1
#define PORT_IFNAME_MAX 15

struct port_spec {
	char name[PORT_NAME_MAX + 1];
	enum port_type type;
	char ifname[PORT_IFNAME_MAX + 1];   /* PORT_TYPE_TAP: the TAP device */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];   /* PORT_TYPE_VHOST_USER */
	enum port_mode mode;
	unsigned int queues;
	bool queues_default;  /* queues is the type's default: max-queue-pairs may lower it */
	gid_t group;          /* (gid_t)-1: leave the socket's group alone */
	bool from_config;     /* declared in the config file: a reload may change or remove it */
	mode_t perm;          /* 0: default 0660 */
};

struct daemon;
struct tap;

struct port {
	struct daemon *d;
	struct port *next;
	struct port_spec spec;
	struct dp_port *dp;
	struct tap *tap;      /* PORT_TYPE_TAP: its queues; the rest below is vhost-user only */
	int listen_fd;
	struct ev_source *listen_src;
	int conn_fd;
	struct ev_source *conn_src;
	struct ev_source *retry_timer;
	unsigned int backoff_ms;
	struct session session;
	bool connected;
	bool was_broken;      /* last connection ended because the frontend misbehaved */
	uint64_t connects;
	uint64_t broken_count;
	bool was_ready[VU_MAX_VRINGS];   /* hand-over: rings that ran when it stopped them */
	/* The guest's RX load as the load balancer's least-load sees it (services.c). */
	struct lb_rx_meter lb_rx[VU_MAX_QUEUE_PAIRS];
	struct lb_rx_load lb_rxl;
	uint32_t lb_load_us;
	uint64_t fdb_refused_seen, flows_refused_seen;   /* daemon/limits.c: logged up to here */
};

struct daemon {
	struct evloop *loop;
	struct dp *dp;
	struct port *ports;
	unsigned int nports;
	char socket_dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t start_ns;
	struct ctl_server *ctl;
	struct balancer *bal;
	struct metrics_server *metrics;
	struct disc *disc;            /* libvirt discovery, NULL when off */
	struct lb *lb;                /* virtual-IP services */
	char config_path[4096];
	bool handed_over;      /* a new process took our ports: exit without touching them */
	gid_t ctl_group;       /* (gid_t)-1: the control socket is root's only */
	bool allow_socket_path_outside;   /* control clients may place sockets anywhere */
	const char *ctl_peer;  /* while a control request runs: who sent it, for log lines */
};

int port_spec_finish(struct port_spec *s, char *why, size_t why_len);
int port_type_parse(const char *text, enum port_type *ret);
int port_spec_parse(const char *text, const char *socket_dir, struct port_spec *ret, char *why,
		    size_t why_len);
int port_add(struct daemon *d, const struct port_spec *spec, const char *who, char *why,
	     size_t why_len);
int port_del(struct daemon *d, const char *name);
int port_restore(struct daemon *d, const struct port_spec *spec, int listen_fd, int conn_fd,
		 struct port **ret);
struct port *port_find(struct daemon *d, const char *name);
const char *port_state(const struct port *p);
const char *port_mode_name(enum port_mode m);
const char *port_type_name(enum port_type t);
int port_restore_tap(struct daemon *d, const struct port_spec *spec, const int *fds,
		     unsigned int nfds, struct port **ret);
void ports_handle_broken(struct daemon *d);
void ports_free_all(struct daemon *d);
int daemon_reload(struct daemon *d, char *why, size_t why_len);

struct disc_vm;
struct json_object;
int vms_start(struct daemon *d, const char *uri);
void vms_stop(struct daemon *d);
const struct disc_vm *vms_of_port(struct daemon *d, const struct port *p);
struct json_object *vms_json(struct daemon *d);

int services_start(struct daemon *d, uint32_t max_flows);
void services_stop(struct daemon *d);
void services_vm_changed(struct daemon *d, const char *vm_name, bool up);
void services_port_gone(struct daemon *d, struct dp_port *port);
void services_port_changed(struct daemon *d, const struct port *p);
struct json_object *services_handover_save(struct daemon *d);
int services_handover_restore(struct daemon *d, struct json_object *o);
int services_checkpoint_restore(struct daemon *d, struct json_object *o, unsigned int *ret_vips,
				unsigned int *ret_flows);
struct config;
int services_apply_config(struct daemon *d, const struct config *c);

/* daemon/checkpoint.c: the load balancer's state in a file, for restarts after a crash. */
int checkpoint_start(struct daemon *d, const char *path, uint32_t period_ms, uint32_t max_flows,
		     bool restore);
void checkpoint_final(struct daemon *d);
struct json_object *checkpoint_json(struct daemon *d);

void daemon_limits_apply(struct daemon *d, const struct config *c, bool start);
int daemon_limits_start(struct daemon *d);
uint64_t daemon_limit_hits(const struct daemon *d, enum limit which);
int64_t daemon_limit_in_use(const struct daemon *d, enum limit which);

#endif
