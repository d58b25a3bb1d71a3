/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Daemon configuration: defaults, then the config file, then the command line. */
#ifndef VULB_DAEMON_CONFIG_H
#define VULB_DAEMON_CONFIG_H

#include "core/limits.h"
#include "core/log.h"
#include "daemon/daemon.h"

#define CONFIG_MAX_PORTS 4096   /* the top of max-ports' range */
#define CONFIG_MAX_WORKERS 256
#define CONFIG_MAX_VIPS 64
#define CONFIG_MAX_VIP_BACKENDS 64
#define CONFIG_MAX_VMS 256
#define CONFIG_MAX_RATE_MBPS 1000000   /* 1 Tbit/s: above any NIC, below UINT_MAX */
#define CONFIG_CHECKPOINT_MS_DEFAULT 1000
#define CONFIG_CHECKPOINT_MS_MIN 50        /* below: the control thread would do little else */
#define CONFIG_CHECKPOINT_MS_MAX 3600000

/* [vip ADDR:PORT/PROTO]: a service and its backends, applied on start and on reload. */
struct config_vip {
	char spec[128];
	char algo[16];                    /* "" : the default (maglev) */
	unsigned int nbackends;
	struct {
		char spec[160];               /* mac=..,ip=..[,port=..][,weight=..] */
		char vm[64];                  /* "": not tied to a VM */
	} backends[CONFIG_MAX_VIP_BACKENDS];
};

/*
 * [vm NAME]: the transmit rates (Mbit/s, 0 = none) a VF assigned to NAME gets when
 * `vf assign` names none; VFs assigned that way follow the section on reload.
 */
struct config_vm {
	char name[64];
	unsigned int vf_min_mbps, vf_max_mbps;
};

struct config {
	char socket_dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char metrics_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int metrics_port;                 /* 127.0.0.1:PORT, 0 = off */
	char libvirt_uri[256];            /* "none": no discovery */
	enum log_level log_level;
	unsigned int nworkers;
	int worker_cpus[CONFIG_MAX_WORKERS];
	bool workers_pinned;
	bool offloads;                    /* offer checksum/TSO offloads (read at start only) */
	unsigned int nports;
	struct port_spec *ports;
	char **port_texts;        /* --port SPECs, resolved once socket_dir is known */
	char config_path[4096];   /* the file read, "" for none: SIGHUP re-reads it */
	unsigned int nvips;
	struct config_vip *vips;
	unsigned int nvms;
	struct config_vm *vms;
	unsigned int nport_texts;
	struct limits limits;             /* [limits] */
	gid_t ctl_group;                  /* (gid_t)-1: root only */
	bool allow_socket_path_outside;   /* control clients may put sockets outside socket_dir */
	char lb_state_file[4096];         /* load-balancer checkpoint: "" the default, "none" off */
	uint32_t lb_checkpoint_ms;        /* its period, 0 = off */
};

void config_init(struct config *c);
void config_free(struct config *c);
int config_load_file(struct config *c, const char *path, char *why, size_t why_len);
int config_set_daemon_key(struct config *c, const char *key, const char *val, char *why,
			  size_t why_len);
int config_lb_state_path(const struct config *c, char *buf, size_t len);
int config_parse_bool(const char *text, bool *ret);
int config_parse_cpulist(const char *text, int *cpus, unsigned int max, unsigned int *ret_n);
int config_add_port(struct config *c, const struct port_spec *spec);
int config_resolve_paths(struct config *c, char *why, size_t why_len);
int config_check_limits(struct config *c, const char *what, char *why, size_t why_len);
void config_vms_set(const struct config_vm *vms, unsigned int n);
const struct config_vm *config_vm_find(const char *name);

#endif
