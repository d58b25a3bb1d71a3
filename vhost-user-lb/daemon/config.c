// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The config file: INI-style sections, `key = value` lines, `#` comments.
 *
 *   [daemon]            socket-dir, ctl-socket, ctl-group, allow-socket-path-outside,
 *                       workers (CPU list), log-level, libvirt-uri, metrics-socket, metrics-port,
 *                       lb-state-file, lb-checkpoint-ms
 *   [port NAME]         path, mode (server|client), queues, group, perm
 *                       or type = tap, tap (the interface), queues: the uplink
 *   [vip ADDR:PORT/P]   algo, backend (repeatable)
 *   [vm NAME]           vf-min-rate, vf-max-rate: a VF's rates when assigned to NAME
 *   [limits]            max-ports, max-queue-pairs, ... (core/limits.c)
 *
 * Every error names the line and the key (docs/usage.md documents each key).
 */
#include "daemon/config.h"

#include <ctype.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>

#include "build-config.h"
#include "core/sockfile.h"
#include "lb/lb.h"

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket_dir, sizeof(c->socket_dir), "%s", VHOST_LB_DEFAULT_SOCKET_DIR);
	c->log_level = LOG_LVL_INFO;
	c->nworkers = 1;
	c->worker_cpus[0] = -1;
	c->offloads = true;
	strcpy(c->libvirt_uri, "qemu:///system");
	c->ctl_group = (gid_t)-1;
	c->lb_checkpoint_ms = CONFIG_CHECKPOINT_MS_DEFAULT;
	limits_init(&c->limits);
}

/* "yes"/"no" (and on/off, true/false, 1/0). Return: 0, or -EINVAL. */
int config_parse_bool(const char *text, bool *ret)
{
	static const char *const yes[] = { "yes", "on", "true", "1" };
	static const char *const no[] = { "no", "off", "false", "0" };

	for (unsigned int i = 0; i < 4; i++) {
		if (strcmp(text, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(text, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

void config_free(struct config *c)
{
	free(c->vips);
	free(c->vms);
	c->vips = NULL;
	c->vms = NULL;
	c->nvips = c->nvms = 0;
	free(c->ports);
	free(c->port_texts);
	c->ports = NULL;
	c->port_texts = NULL;
}

int config_add_port(struct config *c, const struct port_spec *spec)
{
	struct port_spec *n;

	if (c->nports >= CONFIG_MAX_PORTS)
		return -ENOSPC;
	n = realloc(c->ports, sizeof(*n) * (c->nports + 1));
	if (!n)
		return -ENOMEM;
	c->ports = n;
	c->ports[c->nports++] = *spec;
	return 0;
}

/* "0-3,6" -> {0,1,2,3,6}. Return: 0 or -EINVAL. */
int config_parse_cpulist(const char *text, int *cpus, unsigned int max, unsigned int *ret_n)
{
	unsigned int n = 0;
	const char *p = text;

	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p || a < 0 || a > 4095)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b > 4095)
				return -EINVAL;
		}
		for (long i = a; i <= b; i++) {
			if (n >= max)
				return -E2BIG;
			cpus[n++] = (int)i;
		}
		p = end;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	if (!n)
		return -EINVAL;
	*ret_n = n;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * [daemon] keys, and the command-line options that share their names and checks.
 * Return: 0, or -EINVAL with "key: reason" in @why.
 */
int config_set_daemon_key(struct config *c, const char *key, const char *val, char *why,
			  size_t why_len)
{
	if (strcmp(key, "socket-dir") == 0 || strcmp(key, "ctl-socket") == 0) {
		char *dst = key[0] == 's' ? c->socket_dir : c->ctl_path;

		if (!*val || strlen(val) >= sizeof(c->socket_dir) - 16) {
			WHY("%s: path empty or too long", key);
			return -EINVAL;
		}
		strcpy(dst, val);
	} else if (strcmp(key, "workers") == 0) {
		if (config_parse_cpulist(val, c->worker_cpus, CONFIG_MAX_WORKERS, &c->nworkers)) {
			WHY("workers: '%s' is not a CPU list like 0-1,3", val);
			return -EINVAL;
		}
		c->workers_pinned = true;
	} else if (strcmp(key, "libvirt-uri") == 0) {
		if (!*val || strlen(val) >= sizeof(c->libvirt_uri)) {
			WHY("libvirt-uri: empty or too long");
			return -EINVAL;
		}
		strcpy(c->libvirt_uri, val);
	} else if (strcmp(key, "metrics-socket") == 0) {
		if (!*val || strlen(val) >= sizeof(c->metrics_path)) {
			WHY("metrics-socket: path empty or too long");
			return -EINVAL;
		}
		strcpy(c->metrics_path, val);
	} else if (strcmp(key, "metrics-port") == 0) {
		char *end;
		long port = strtol(val, &end, 10);

		if (*end || port < 0 || port > 65535) {
			WHY("metrics-port: '%s' is not a TCP port (0 turns it off)", val);
			return -EINVAL;
		}
		c->metrics_port = (int)port;
	} else if (strcmp(key, "ctl-group") == 0) {
		struct group *g = getgrnam(val);

		if (!g) {
			WHY("ctl-group: no group '%s'", val);
			return -EINVAL;
		}
		c->ctl_group = g->gr_gid;
	} else if (strcmp(key, "allow-socket-path-outside") == 0) {
		if (config_parse_bool(val, &c->allow_socket_path_outside)) {
			WHY("allow-socket-path-outside: '%s' is not yes or no", val);
			return -EINVAL;
		}
	} else if (strcmp(key, "offloads") == 0) {
		if (config_parse_bool(val, &c->offloads)) {
			WHY("offloads: '%s' is not yes or no", val);
			return -EINVAL;
		}
	} else if (strcmp(key, "lb-state-file") == 0) {
		/* Relative paths would depend on the directory the daemon was started from. */
		if (*val && strcmp(val, "none") != 0 &&
		    (val[0] != '/' || strlen(val) >= sizeof(c->lb_state_file) - 16)) {
			WHY("lb-state-file: '%s' is not an absolute path (or too long); none turns it off", val);
			return -EINVAL;
		}
		snprintf(c->lb_state_file, sizeof(c->lb_state_file), "%s", *val ? val : "none");
	} else if (strcmp(key, "lb-checkpoint-ms") == 0) {
		char *end;
		unsigned long ms;

		errno = 0;
		ms = strtoul(val, &end, 10);
		if (errno || *end || !isdigit((unsigned char)*val) ||
		    (ms && (ms < CONFIG_CHECKPOINT_MS_MIN || ms > CONFIG_CHECKPOINT_MS_MAX))) {
			WHY("lb-checkpoint-ms: '%s' is not 0 (off) or %u..%u", val,
			    CONFIG_CHECKPOINT_MS_MIN, CONFIG_CHECKPOINT_MS_MAX);
			return -EINVAL;
		}
		c->lb_checkpoint_ms = (uint32_t)ms;
	} else if (strcmp(key, "log-level") == 0) {
		if (log_level_parse(val, &c->log_level)) {
			WHY("log-level: '%s' is not one of error, warn, info, debug", val);
			return -EINVAL;
		}
	} else {
		WHY("unknown key '%s' in [daemon]", key);
		return -EINVAL;
	}
	return 0;
}

static int set_port_key(struct port_spec *s, const char *key, const char *val, char *why,
			size_t why_len)
{
	if (strcmp(key, "path") == 0) {
		char reason[160];

		if (sockfile_path_check(val, reason, sizeof(reason))) {
			WHY("path: %s", reason);
			return -EINVAL;
		}
		strcpy(s->path, val);
	} else if (strcmp(key, "mode") == 0) {
		if (strcmp(val, "server") == 0)
			s->mode = PORT_MODE_SERVER;
		else if (strcmp(val, "client") == 0)
			s->mode = PORT_MODE_CLIENT;
		else {
			WHY("mode: '%s' is not server or client", val);
			return -EINVAL;
		}
	} else if (strcmp(key, "queues") == 0) {
		char *end;
		unsigned long q = strtoul(val, &end, 10);

		if (*end || q < 1 || q > VU_MAX_QUEUE_PAIRS) {
			WHY("queues: '%s' is not 1..%d", val, VU_MAX_QUEUE_PAIRS);
			return -EINVAL;
		}
		s->queues = (unsigned int)q;
		s->queues_default = false;
	} else if (strcmp(key, "group") == 0) {
		struct group *g = getgrnam(val);

		if (!g) {
			WHY("group: no group '%s'", val);
			return -EINVAL;
		}
		s->group = g->gr_gid;
	} else if (strcmp(key, "perm") == 0) {
		char *end;
		unsigned long m = strtoul(val, &end, 8);

		if (*end || m > 0777) {
			WHY("perm: '%s' is not an octal mode like 0660", val);
			return -EINVAL;
		}
		s->perm = (mode_t)m;
	} else if (strcmp(key, "type") == 0) {
		if (port_type_parse(val, &s->type)) {
			WHY("type: '%s' is not vhost-user or tap", val);
			return -EINVAL;
		}
	} else if (strcmp(key, "tap") == 0) {
		if (strlen(val) > PORT_IFNAME_MAX) {
			WHY("tap: '%s' is longer than %d characters", val, PORT_IFNAME_MAX);
			return -EINVAL;
		}
		strcpy(s->ifname, val);
	} else {
		WHY("unknown key '%s' in [port]", key);
		return -EINVAL;
	}
	return 0;
}

/* A port without a path gets one in the socket directory, once that is final. */
static int set_vip_key(struct config_vip *v, const char *key, const char *val, char *why,
		       size_t why_len)
{
	if (strcmp(key, "algo") == 0) {
		enum lb_algo a;

		if (lb_algo_parse(val, &a) || strlen(val) >= sizeof(v->algo)) {
			WHY("algo: '%s' is not maglev, least-load or wrr", val);
			return -EINVAL;
		}
		strcpy(v->algo, val);
	} else if (strcmp(key, "backend") == 0) {
		struct lb_backend_spec spec;
		char buf[256], *vm, err[128];

		if (v->nbackends == CONFIG_MAX_VIP_BACKENDS || strlen(val) >= sizeof(buf)) {
			WHY("backend: at most %d per VIP, each under 160 bytes", CONFIG_MAX_VIP_BACKENDS);
			return -EINVAL;
		}
		strcpy(buf, val);
		/* An optional leading vm=NAME ties the backend to that VM's life. */
		vm = NULL;
		if (strncmp(buf, "vm=", 3) == 0) {
			char *comma = strchr(buf, ',');

			if (!comma) {
				WHY("backend: vm=NAME must be followed by mac=..,ip=..");
				return -EINVAL;
			}
			*comma = '\0';
			vm = buf + 3;
			if (strlen(vm) >= sizeof(v->backends[0].vm)) {
				WHY("backend: VM name too long");
				return -EINVAL;
			}
			strcpy(v->backends[v->nbackends].vm, vm);
		} else {
			v->backends[v->nbackends].vm[0] = '\0';
		}
		if (lb_backend_spec_parse(vm ? strchr(val, ',') + 1 : val, &spec, err, sizeof(err))) {
			WHY("backend: %s", err);
			return -EINVAL;
		}
		snprintf(v->backends[v->nbackends++].spec, sizeof(v->backends[0].spec), "%s",
			 vm ? strchr(val, ',') + 1 : val);
	} else {
		WHY("unknown key '%s' in [vip]", key);
		return -EINVAL;
	}
	return 0;
}

/*
 * [vm NAME] keys.  A VM's minimum above its own maximum could never be met: refused on the
 * line that makes the pair inconsistent, whichever of the two comes second.
 */
static int set_vm_key(struct config_vm *vm, const char *key, const char *val, char *why,
		      size_t why_len)
{
	bool is_min = strcmp(key, "vf-min-rate") == 0;
	char *end;
	unsigned long n;

	if (!is_min && strcmp(key, "vf-max-rate") != 0) {
		WHY("unknown key '%s' in [vm]", key);
		return -EINVAL;
	}
	errno = 0;
	n = strtoul(val, &end, 10);
	if (errno || *end || !isdigit((unsigned char)*val) || n > CONFIG_MAX_RATE_MBPS) {
		WHY("%s: '%s' is not a rate in Mbit/s (0-%u)", key, val, CONFIG_MAX_RATE_MBPS);
		return -EINVAL;
	}
	if (is_min)
		vm->vf_min_mbps = (unsigned int)n;
	else
		vm->vf_max_mbps = (unsigned int)n;
	if (vm->vf_max_mbps && vm->vf_min_mbps > vm->vf_max_mbps) {
		WHY("%s: vf-min-rate %u is above vf-max-rate %u", key, vm->vf_min_mbps, vm->vf_max_mbps);
		return -EINVAL;
	}
	return 0;
}

static int finish_port(struct config *c, struct port_spec *s, bool *open, char *why, size_t why_len)
{
	char spec_why[128];
	int r;

	if (!*open)
		return 0;
	*open = false;
	r = port_spec_finish(s, spec_why, sizeof(spec_why));
	if (r) {
		snprintf(why, why_len, "[port %s]: %s", s->name, spec_why);
		return r;
	}
	return config_add_port(c, s);
}

/**
 * config_resolve_paths() - give ports declared without a path DIR/NAME.sock.
 * Called once the socket directory is final (the command line overrides the file).
 */
int config_resolve_paths(struct config *c, char *why, size_t why_len)
{
	for (unsigned int i = 0; i < c->nports; i++) {
		struct port_spec *s = &c->ports[i];

		if (s->path[0] || s->type != PORT_TYPE_VHOST_USER)
			continue;
		if (snprintf(s->path, sizeof(s->path), "%s/%s.sock", c->socket_dir, s->name) >=
		    (int)sizeof(s->path)) {
			WHY("port '%s': socket path too long", s->name);
			return -EINVAL;
		}
	}
	return 0;
}

/**
 * config_lb_state_path() - where the load balancer's checkpoint goes: lb-state-file, by
 * default SOCKET-DIR/lb-state.json (call once the socket directory is final).
 * Return: 0 with the path in @buf, "" when checkpoints are off; -ENAMETOOLONG.
 */
int config_lb_state_path(const struct config *c, char *buf, size_t len)
{
	int n;

	if (!c->lb_checkpoint_ms || strcmp(c->lb_state_file, "none") == 0) {
		snprintf(buf, len, "%s", "");
		return 0;
	}
	if (c->lb_state_file[0])
		n = snprintf(buf, len, "%s", c->lb_state_file);
	else
		n = snprintf(buf, len, "%s/lb-state.json", c->socket_dir);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/**
 * config_load_file() - read @path into @c.
 * Return: 0, or -errno with "LINE: reason" in @why.
 */
int config_load_file(struct config *c, const char *path, char *why, size_t why_len)
{
	enum { SEC_NONE, SEC_DAEMON, SEC_PORT, SEC_VIP, SEC_VM, SEC_LIMITS } sec = SEC_NONE;
	struct port_spec port = { 0 };
	bool port_open = false;
	char line[1024], err[256];
	unsigned int lineno = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f) {
		WHY("%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *hash;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			r = -EINVAL;
			snprintf(err, sizeof(err), "line too long");
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			r = finish_port(c, &port, &port_open, err, sizeof(err));
			if (r)
				break;
			if (!close || close[1]) {
				r = -EINVAL;
				snprintf(err, sizeof(err), "malformed section header");
				break;
			}
			*close = '\0';
			s = trim(s + 1);
			if (strcmp(s, "daemon") == 0) {
				sec = SEC_DAEMON;
			} else if (strcmp(s, "limits") == 0) {
				sec = SEC_LIMITS;
			} else if (strncmp(s, "port", 4) == 0 && isspace((unsigned char)s[4])) {
				char spec_why[128];
				const char *name = trim(s + 5);

				r = port_spec_parse(name, c->socket_dir, &port, spec_why, sizeof(spec_why));
				if (r) {
					snprintf(err, sizeof(err), "[port %s]: %s", name, spec_why);
					break;
				}
				port.path[0] = '\0';   /* resolved once the socket directory is final */
				port.queues = 0;        /* the type's default unless the section sets it */
				sec = SEC_PORT;
				port_open = true;
			} else if (strncmp(s, "vip", 3) == 0 && isspace((unsigned char)s[3])) {
				struct lb_vip_spec vs;
				const char *spec = trim(s + 4);
				char spec_why[128];
				struct config_vip *n;

				if (lb_vip_spec_parse(spec, &vs, spec_why, sizeof(spec_why)) ||
				    strlen(spec) >= sizeof(c->vips[0].spec) || c->nvips == CONFIG_MAX_VIPS) {
					r = -EINVAL;
					snprintf(err, sizeof(err), "[vip %s]: %s", spec,
						 c->nvips == CONFIG_MAX_VIPS ? "too many VIPs" : spec_why);
					break;
				}
				n = realloc(c->vips, sizeof(*n) * (c->nvips + 1));
				if (!n) {
					r = -ENOMEM;
					break;
				}
				c->vips = n;
				memset(&c->vips[c->nvips], 0, sizeof(*n));
				strcpy(c->vips[c->nvips++].spec, spec);
				sec = SEC_VIP;
			} else if (strncmp(s, "vm", 2) == 0 && isspace((unsigned char)s[2])) {
				const char *name = trim(s + 3);
				struct config_vm *n;

				if (!*name || strlen(name) >= sizeof(c->vms[0].name) || c->nvms == CONFIG_MAX_VMS) {
					r = -EINVAL;
					snprintf(err, sizeof(err), "[vm %s]: name empty, too long, or too many VMs", name);
					break;
				}
				for (unsigned int i = 0; i < c->nvms && !r; i++)
					if (strcmp(c->vms[i].name, name) == 0)
						r = -EINVAL;
				if (r) {
					snprintf(err, sizeof(err), "[vm %s]: a second section for the same VM", name);
					break;
				}
				n = realloc(c->vms, sizeof(*n) * (c->nvms + 1));
				if (!n) {
					r = -ENOMEM;
					break;
				}
				c->vms = n;
				memset(&c->vms[c->nvms], 0, sizeof(*n));
				strcpy(c->vms[c->nvms++].name, name);
				sec = SEC_VM;
			} else {
				r = -EINVAL;
				snprintf(err, sizeof(err), "unknown section [%s]", s);
				break;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			r = -EINVAL;
			snprintf(err, sizeof(err), "expected key = value");
			break;
		}
		*eq = '\0';
		if (sec == SEC_DAEMON)
			r = config_set_daemon_key(c, trim(s), trim(eq + 1), err, sizeof(err));
		else if (sec == SEC_PORT)
			r = set_port_key(&port, trim(s), trim(eq + 1), err, sizeof(err));
		else if (sec == SEC_VIP)
			r = set_vip_key(&c->vips[c->nvips - 1], trim(s), trim(eq + 1), err, sizeof(err));
		else if (sec == SEC_VM)
			r = set_vm_key(&c->vms[c->nvms - 1], trim(s), trim(eq + 1), err, sizeof(err));
		else if (sec == SEC_LIMITS)
			r = limits_set(&c->limits, trim(s), trim(eq + 1), err, sizeof(err));
		else {
			r = -EINVAL;
			snprintf(err, sizeof(err), "key outside of any section");
		}
		if (r)
			break;
	}
	if (!r)
		r = finish_port(c, &port, &port_open, err, sizeof(err));
	fclose(f);
	if (r) {
		WHY("%s:%u: %s", path, lineno, err);
		return r;
	}
	return config_check_limits(c, path, why, why_len);
}

/**
 * config_check_limits() - the ports declared against [limits]: no more than max-ports, none
 * asking for more than max-queue-pairs. A port that did not give its queues gets the default
 * capped at max-queue-pairs.
 * Return: 0, or -EINVAL with the reason in @why, prefixed by @what (the file, or "").
 */
int config_check_limits(struct config *c, const char *what, char *why, size_t why_len)
{
	uint32_t max_qp = c->limits.max[LIMIT_QUEUE_PAIRS];

	if (c->nports > c->limits.max[LIMIT_PORTS]) {
		WHY("%s%s%u ports declared, more than [limits] max-ports = %u", what, *what ? ": " : "",
		    c->nports, c->limits.max[LIMIT_PORTS]);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < c->nports; i++) {
		struct port_spec *s = &c->ports[i];

		if (s->queues <= max_qp)
			continue;
		if (s->queues_default) {
			s->queues = max_qp;
			continue;
		}
		WHY("%s%s[port %s]: queues = %u is more than [limits] max-queue-pairs = %u", what,
		    *what ? ": " : "", s->name, s->queues, max_qp);
		return -EINVAL;
	}
	return 0;
}

/* The [vm] sections in force (control thread only): VF rates for VMs. */
static struct config_vm *vm_settings;
static unsigned int n_vm_settings;

void config_vms_set(const struct config_vm *vms, unsigned int n)
{
	struct config_vm *copy = n ? malloc(sizeof(*copy) * n) : NULL;

	if (copy)
		memcpy(copy, vms, sizeof(*copy) * n);
	free(vm_settings);
	vm_settings = copy;
	n_vm_settings = copy ? n : 0;
}

const struct config_vm *config_vm_find(const char *name)
{
	for (unsigned int i = 0; i < n_vm_settings; i++)
		if (strcmp(vm_settings[i].name, name) == 0)
			return &vm_settings[i];
	return NULL;
}
