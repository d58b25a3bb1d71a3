/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's control-thread state: its ports and the sockets that serve them. */
#ifndef VULB_DAEMON_DAEMON_H
#define VULB_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include "core/evloop.h"
#include "dp/dp.h"
#include "session/session.h"

enum port_mode { PORT_MODE_SERVER, PORT_MODE_CLIENT };

#define PORT_NAME_MAX 63
#define PORT_DEFAULT_QUEUES 8

struct port_spec {
	char name[PORT_NAME_MAX + 1];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	enum port_mode mode;
	unsigned int queues;
	gid_t group;          /* (gid_t)-1: leave the socket's group alone */
	bool from_config;     /* declared in the config file: a reload may change or remove it */
	mode_t perm;          /* 0: default 0660 */
};

struct daemon;

struct port {
	struct daemon *d;
	struct port *next;
	struct port_spec spec;
	struct dp_port *dp;
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
};

int port_spec_parse(const char *text, const char *socket_dir, struct port_spec *ret, char *why,
		    size_t why_len);
int port_add(struct daemon *d, const struct port_spec *spec, char *why, size_t why_len);
int port_del(struct daemon *d, const char *name);
int port_restore(struct daemon *d, const struct port_spec *spec, int listen_fd, int conn_fd,
		 struct port **ret);
struct port *port_find(struct daemon *d, const char *name);
const char *port_state(const struct port *p);
const char *port_mode_name(enum port_mode m);
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
struct json_object *services_handover_save(struct daemon *d);
int services_handover_restore(struct daemon *d, struct json_object *o);
struct config;
int services_apply_config(struct daemon *d, const struct config *c);

#endif
