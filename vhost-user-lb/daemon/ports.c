// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Port lifecycle on the control thread: the unix socket (listening in server mode,
 * connecting with backoff in client mode), the vhost-user session on it, and what happens
 * when the frontend leaves or misbehaves: only that port is reset, nothing else stops.
 * The uplink (a TAP device, uplink/tap.c) is a port too: no socket, no session, its queues
 * run from the moment it is added.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/limits.h"
#include "core/log.h"
#include "core/sockfile.h"
#include "daemon/daemon.h"
#include "uplink/tap.h"
#include "gmem/guard.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 3200

#define WHY(...) snprintf(why, why_len, __VA_ARGS__)

const char *port_mode_name(enum port_mode m)
{
	return m == PORT_MODE_CLIENT ? "client" : "server";
}

const char *port_type_name(enum port_type t)
{
	return t == PORT_TYPE_TAP ? "tap" : "vhost-user";
}

static bool valid_name(const char *n)
{
	if (!*n || strlen(n) > PORT_NAME_MAX)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
		      *n == '-' || *n == '_' || *n == '.'))
			return false;
	return true;
}

/**
 * port_spec_finish() - defaults that depend on the port's type, and the checks across keys.
 * A spec whose queues are 0 gets its type's default.
 * Return: 0, or -EINVAL with the reason in @why.
 */
int port_spec_finish(struct port_spec *s, char *why, size_t why_len)
{
	if (s->type == PORT_TYPE_VHOST_USER) {
		if (s->ifname[0]) {
			WHY("tap=IFNAME is for type=tap ports");
			return -EINVAL;
		}
		if (!s->queues) {
			s->queues = PORT_DEFAULT_QUEUES;
			s->queues_default = true;
		}
		return 0;
	}
	if (s->path[0] || s->mode != PORT_MODE_SERVER || s->group != (gid_t)-1 || s->perm) {
		WHY("path, mode, group and perm are for vhost-user ports, not type=tap");
		return -EINVAL;
	}
	if (!s->queues) {
		s->queues = PORT_DEFAULT_TAP_QUEUES;
		s->queues_default = true;
	}
	if (!s->ifname[0]) {
		if (strlen(s->name) > PORT_IFNAME_MAX) {
			WHY("port name '%s' is too long for an interface: give tap=IFNAME", s->name);
			return -EINVAL;
		}
		strcpy(s->ifname, s->name);
	}
	if (!tap_ifname_valid(s->ifname)) {
		WHY("tap: '%s' is not an interface name (1..%d of [A-Za-z0-9._-])", s->ifname,
		    PORT_IFNAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* "vhost-user" or "tap". Return: 0 or -EINVAL. */
int port_type_parse(const char *text, enum port_type *ret)
{
	if (strcmp(text, "vhost-user") == 0)
		*ret = PORT_TYPE_VHOST_USER;
	else if (strcmp(text, "tap") == 0)
		*ret = PORT_TYPE_TAP;
	else
		return -EINVAL;
	return 0;
}

/**
 * port_spec_parse() - NAME[,path=PATH][,mode=server|client][,queues=N]
 *                     or NAME,type=tap[,tap=IFNAME][,queues=N]
 * Return: 0, or -EINVAL with the reason in @why.
 */
int port_spec_parse(const char *text, const char *socket_dir, struct port_spec *ret, char *why,
		    size_t why_len)
{
	char buf[512], *save = NULL, *tok;
	struct port_spec s = { .mode = PORT_MODE_SERVER, .queues = 0, .group = (gid_t)-1 };
	bool have_path = false;
	int r;

	if (strlen(text) >= sizeof(buf)) {
		WHY("port spec too long");
		return -EINVAL;
	}
	strcpy(buf, text);
	tok = strtok_r(buf, ",", &save);
	if (!tok || !valid_name(tok)) {
		WHY("port name must be 1..%d of [A-Za-z0-9._-]", PORT_NAME_MAX);
		return -EINVAL;
	}
	strcpy(s.name, tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			WHY("'%s': expected key=value", tok);
			return -EINVAL;
		}
		*eq++ = '\0';
		if (strcmp(tok, "path") == 0) {
			if (sockfile_path_check(eq, why, why_len))
				return -EINVAL;
			strcpy(s.path, eq);
			have_path = true;
		} else if (strcmp(tok, "mode") == 0) {
			if (strcmp(eq, "server") == 0)
				s.mode = PORT_MODE_SERVER;
			else if (strcmp(eq, "client") == 0)
				s.mode = PORT_MODE_CLIENT;
			else {
				WHY("mode must be server or client, not '%s'", eq);
				return -EINVAL;
			}
		} else if (strcmp(tok, "queues") == 0) {
			char *end;
			unsigned long q = strtoul(eq, &end, 10);

			if (*end || q < 1 || q > VU_MAX_QUEUE_PAIRS) {
				WHY("queues must be 1..%d", VU_MAX_QUEUE_PAIRS);
				return -EINVAL;
			}
			s.queues = (unsigned int)q;
			s.queues_default = false;
		} else if (strcmp(tok, "type") == 0) {
			if (port_type_parse(eq, &s.type)) {
				WHY("type must be vhost-user or tap, not '%s'", eq);
				return -EINVAL;
			}
		} else if (strcmp(tok, "tap") == 0) {
			if (!tap_ifname_valid(eq)) {
				WHY("tap: '%s' is not an interface name (1..%d of [A-Za-z0-9._-])", eq,
				    PORT_IFNAME_MAX);
				return -EINVAL;
			}
			strcpy(s.ifname, eq);
		} else {
			WHY("unknown port option '%s'", tok);
			return -EINVAL;
		}
	}
	r = port_spec_finish(&s, why, why_len);
	if (r)
		return r;
	if (s.type == PORT_TYPE_VHOST_USER && !have_path &&
	    snprintf(s.path, sizeof(s.path), "%s/%s.sock", socket_dir, s.name) >= (int)sizeof(s.path)) {
		WHY("socket path too long");
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

struct port *port_find(struct daemon *d, const char *name)
{
	for (struct port *p = d->ports; p; p = p->next)
		if (strcmp(p->spec.name, name) == 0)
			return p;
	return NULL;
}

const char *port_state(const struct port *p)
{
	if (p->spec.type == PORT_TYPE_TAP)
		return p->was_broken ? "broken" : "running";
	if (!p->connected) {
		if (p->was_broken)
			return "broken";
		return p->spec.mode == PORT_MODE_SERVER ? "listening" : "connecting";
	}
	return session_running(&p->session) ? "running" : "negotiating";
}

static void conn_close(struct port *p)
{
	if (!p->connected)
		return;
	evloop_remove(p->conn_src);
	p->conn_src = NULL;
	session_teardown(&p->session);
	close_fd(&p->conn_fd);
	p->connected = false;
	/* Load-balancer backends behind this port take no new flows from now on. */
	services_port_changed(p->d, p);
}

static void schedule_connect(struct port *p);

static void conn_on_event(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct port *p = opaque;
	int r;

	(void)src;
	(void)fd;
	r = session_on_readable(&p->session);
	if (r == 0 && !(events & (EPOLLHUP | EPOLLERR)))
		return;
	if (r != 0 && r != -ECONNRESET) {
		p->was_broken = true;
		p->broken_count++;
	}
	conn_close(p);
	if (p->spec.mode == PORT_MODE_CLIENT)
		schedule_connect(p);
}

static int conn_open(struct port *p, int fd)
{
	int r;

	p->conn_fd = fd;
	session_init(&p->session, p->d->dp, p->dp, fd, p->spec.queues);
	r = evloop_add_fd(p->d->loop, fd, EPOLLIN, conn_on_event, p, &p->conn_src);
	if (r) {
		close_fd(&p->conn_fd);
		return r;
	}
	p->connected = true;
	p->was_broken = false;
	p->connects++;
	log_info("port '%s': frontend connected (%s mode)", p->spec.name, port_mode_name(p->spec.mode));
	return 0;
}

static void listen_on_event(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct port *p = opaque;
	int c;

	(void)src;
	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	if (p->connected) {
		/* A NIC has one frontend; a second one would fight the first over the rings. */
		log_warn("port '%s': refusing a second frontend connection", p->spec.name);
		close(c);
		return;
	}
	if (conn_open(p, c))
		close(c);
}

static int try_connect(struct port *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, p->spec.path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return conn_open(p, fd) ? (close(fd), -EIO) : 0;
}

static void retry_on_timer(struct ev_source *src, void *opaque)
{
	struct port *p = opaque;

	evloop_remove(src);
	p->retry_timer = NULL;
	if (p->connected)
		return;
	if (try_connect(p) == 0) {
		p->backoff_ms = BACKOFF_MIN_MS;
		return;
	}
	p->backoff_ms = MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
	schedule_connect(p);
}

static void schedule_retry(struct port *p, void (*cb)(struct ev_source *, void *))
{
	if (p->retry_timer)
		return;
	if (!p->backoff_ms)
		p->backoff_ms = BACKOFF_MIN_MS;
	if (evloop_add_timer(p->d->loop, p->backoff_ms, 0, cb, p, &p->retry_timer))
		log_error("port '%s': cannot arm its retry timer", p->spec.name);
}

static void schedule_connect(struct port *p)
{
	schedule_retry(p, retry_on_timer);
}

/*
 * The uplink's TAP failed: deleted by someone, or gone with the namespace it was moved to.
 * The configuration still says the port is there, so the device is made again (as a switch
 * makes its internal ports again), with backoff while that fails. It comes back down and
 * unconfigured: whatever configured the first one (networkd, a hook) configures it again.
 * Context: control thread; the port is stopped and marked broken, so no worker writes to it.
 */
static void tap_reopen_on_timer(struct ev_source *src, void *opaque)
{
	struct port *p = opaque;
	char why[256] = "";
	struct tap *t;
	int r;

	evloop_remove(src);
	p->retry_timer = NULL;
	r = tap_open(p->spec.ifname, p->spec.queues, p->d->dp->offloads, &t, why, sizeof(why));
	if (r) {
		if (p->backoff_ms == BACKOFF_MIN_MS)
			log_error("port '%s': cannot make TAP %s again: %s; retrying", p->spec.name,
				  p->spec.ifname, why[0] ? why : strerror(-r));
		p->backoff_ms = MIN(p->backoff_ms * 2, BACKOFF_MAX_MS);
		schedule_retry(p, tap_reopen_on_timer);
		return;
	}
	/* Writers test the broken flag under RCU: after a grace period none holds the old queues. */
	synchronize_rcu();
	tap_free(p->tap);
	p->tap = t;
	tap_port_bind(p->dp, t);
	p->was_broken = false;
	p->backoff_ms = BACKOFF_MIN_MS;
	__atomic_store_n(&p->dp->broken, false, __ATOMIC_RELEASE);
	tap_port_start(p->d->dp, p->dp);
	log_info("port '%s': TAP %s made again, the uplink is back", p->spec.name, p->spec.ifname);
}

/* Refuses to steal a path another live backend is listening on. */
static int clear_stale_socket(const char *path, char *why, size_t why_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		WHY("%s exists and is not a socket", path);
		return -EEXIST;
	}
	/*
	 * Non-blocking: a listener whose backlog is full would otherwise stall the control thread
	 * (and every port) in connect(). A full backlog means someone listens: in use.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : -errno;
	close(fd);
	if (r == 0 || r == -EAGAIN || r == -EINPROGRESS) {
		WHY("%s is in use by another process", path);
		return -EADDRINUSE;
	}
	return unlink(path) < 0 ? -errno : 0;
}

static int open_listener(struct port *p, char *why, size_t why_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	r = clear_stale_socket(p->spec.path, why, why_len);
	if (r) {
		if (!*why)
			WHY("%s: %s", p->spec.path, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, p->spec.path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		r = -errno;
		WHY("%s: %s", p->spec.path, strerror(errno));
		close(fd);
		return r;
	}
	/* QEMU often runs as another user (libvirt-qemu): give it the socket explicitly. */
	r = sockfile_set_owner(p->spec.path, p->spec.group, p->spec.perm ? p->spec.perm : 0660);
	if (r) {
		WHY("%s: setting owner/mode: %s", p->spec.path, strerror(-r));
		close(fd);
		unlink(p->spec.path);
		return r;
	}
	r = evloop_add_fd(p->d->loop, fd, EPOLLIN, listen_on_event, p, &p->listen_src);
	if (r) {
		close(fd);
		unlink(p->spec.path);
		return r;
	}
	p->listen_fd = fd;
	return 0;
}

static struct port *port_alloc(struct daemon *d, const struct port_spec *spec)
{
	struct port *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->d = d;
	p->spec = *spec;
	p->listen_fd = -1;
	p->conn_fd = -1;
	if (dp_port_new(spec->name, &p->dp)) {
		free(p);
		return NULL;
	}
	p->dp->owner = p;
	return p;
}

static void port_link(struct daemon *d, struct port *p)
{
	(void)dp_port_attach(d->dp, p->dp);
	p->next = d->ports;
	d->ports = p;
	d->nports++;
}

/**
 * port_restore() - recreate a port handed over by a previous daemon process, from its
 * already listening socket and its live frontend connection (either may be -1).
 * Context: control thread. Takes ownership of the fds on success.
 */
int port_restore(struct daemon *d, const struct port_spec *spec, int listen_fd, int conn_fd,
		 struct port **ret)
{
	struct port *p;
	int r;

	if (port_find(d, spec->name))
		return -EEXIST;
	p = port_alloc(d, spec);
	if (!p)
		return -ENOMEM;
	if (listen_fd >= 0) {
		r = evloop_add_fd(d->loop, listen_fd, EPOLLIN, listen_on_event, p, &p->listen_src);
		if (r) {
			free(p->dp);
			free(p);
			return r;
		}
		p->listen_fd = listen_fd;
	}
	port_link(d, p);
	if (conn_fd >= 0) {
		r = conn_open(p, conn_fd);
		if (r)
			return r;
		p->connects = 0;
	} else if (spec->mode == PORT_MODE_CLIENT) {
		schedule_connect(p);
	}
	*ret = p;
	return 0;
}

/* The uplink over @t (which it owns from now on); its queues running if @start. */
static int tap_port_link(struct daemon *d, const struct port_spec *spec, struct tap *t, bool start,
			 struct port **ret)
{
	struct port *p = port_alloc(d, spec);

	if (!p)
		return -ENOMEM;
	p->tap = t;
	tap_port_bind(p->dp, t);
	port_link(d, p);
	if (start)
		tap_port_start(d->dp, p->dp);
	if (ret)
		*ret = p;
	return 0;
}

/**
 * port_restore_tap() - recreate an uplink handed over by a previous daemon process, from its
 * TAP's open queues. The caller starts them (tap_port_start()) once every port is back.
 * Context: control thread. Takes ownership of @fds on success.
 */
int port_restore_tap(struct daemon *d, const struct port_spec *spec, const int *fds,
		     unsigned int nfds, struct port **ret)
{
	struct tap *t;
	int r;

	if (port_find(d, spec->name))
		return -EEXIST;
	r = tap_adopt(spec->ifname, fds, nfds, d->dp->offloads, &t);
	if (r)
		return r;
	r = tap_port_link(d, spec, t, false, ret);
	if (r) {
		/* The fds stay the caller's. */
		for (unsigned int q = 0; q < nfds; q++)
			t->fd[q] = -1;
		tap_free(t);
	}
	return r;
}

static int tap_port_add(struct daemon *d, const struct port_spec *spec, char *why, size_t why_len)
{
	struct tap *t;
	int r;

	for (struct port *o = d->ports; o; o = o->next)
		if (o->spec.type == PORT_TYPE_TAP && strcmp(o->spec.ifname, spec->ifname) == 0) {
			WHY("TAP %s is already port '%s'", spec->ifname, o->spec.name);
			return -EEXIST;
		}
	r = tap_open(spec->ifname, spec->queues, d->dp->offloads, &t, why, why_len);
	if (r)
		return r;
	r = tap_port_link(d, spec, t, true, NULL);
	if (r) {
		tap_free(t);
		return r;
	}
	log_info("port '%s': added, uplink TAP %s, %u queues", spec->name, spec->ifname, spec->queues);
	return 0;
}

/**
 * port_add() - create a port and start serving its socket (or its TAP).
 * @who names who asked, for the log line when a limit refuses it. Within max-ports and
 * max-queue-pairs (a port that did not ask for a number of queues gets the default, capped).
 * Context: control thread. Return: 0, or -errno with the reason in @why.
 */
int port_add(struct daemon *d, const struct port_spec *want, const char *who, char *why,
	     size_t why_len)
{
	struct port_spec capped = *want;
	const struct port_spec *spec = &capped;
	uint32_t max_qp = limit_get(LIMIT_QUEUE_PAIRS);
	struct port *p;
	int r;

	*why = '\0';
	if (port_find(d, spec->name)) {
		WHY("port '%s' exists", spec->name);
		return -EEXIST;
	}
	if (d->nports >= limit_get(LIMIT_PORTS)) {
		limit_hit(LIMIT_PORTS, "%s: port add '%s'", who, spec->name);
		WHY("too many ports: %u, the limit max-ports", d->nports);
		return -ENOSPC;
	}
	if (spec->queues > max_qp) {
		if (!spec->queues_default) {
			limit_hit(LIMIT_QUEUE_PAIRS, "%s: port add '%s' with %u queue pairs", who,
				  spec->name, spec->queues);
			WHY("%u queue pairs asked, more than the limit max-queue-pairs = %u", spec->queues,
			    max_qp);
			return -E2BIG;
		}
		capped.queues = max_qp;
	}
	if (spec->type == PORT_TYPE_TAP)
		return tap_port_add(d, spec, why, why_len);
	for (struct port *o = d->ports; o; o = o->next)
		if (o->spec.type == PORT_TYPE_VHOST_USER && strcmp(o->spec.path, spec->path) == 0) {
			WHY("socket %s is already port '%s'", spec->path, o->spec.name);
			return -EEXIST;
		}
	p = port_alloc(d, spec);
	if (!p)
		return -ENOMEM;
	if (spec->mode == PORT_MODE_SERVER) {
		r = open_listener(p, why, why_len);
		if (r) {
			free(p->dp);
			free(p);
			return r;
		}
	}
	port_link(d, p);
	if (spec->mode == PORT_MODE_CLIENT && try_connect(p) != 0)
		schedule_connect(p);
	log_info("port '%s': added, %s socket %s, up to %u queue pairs", spec->name,
		 port_mode_name(spec->mode), spec->path, spec->queues);
	return 0;
}

static void port_destroy(struct daemon *d, struct port *p)
{
	if (p->tap)
		tap_port_stop(d->dp, p->dp);
	conn_close(p);
	if (p->retry_timer)
		evloop_remove(p->retry_timer);
	if (p->listen_src)
		evloop_remove(p->listen_src);
	if (p->listen_fd >= 0) {
		close_fd(&p->listen_fd);
		/* After a hand-over the path belongs to the new process: leave it. */
		if (!d->handed_over)
			(void)unlink(p->spec.path);
	}
	services_port_gone(d, p->dp);
	dp_port_detach(d->dp, p->dp);
	/* Detached: no worker can reach the TAP's fds or buffers any more. */
	tap_free(p->tap);
	dp_port_free_rcu(p->dp);
	free(p);
}

/* Context: control thread. Return: 0 or -ENOENT. */
int port_del(struct daemon *d, const char *name)
{
	for (struct port **pp = &d->ports; *pp; pp = &(*pp)->next) {
		struct port *p = *pp;

		if (strcmp(p->spec.name, name) != 0)
			continue;
		*pp = p->next;
		d->nports--;
		port_destroy(d, p);
		log_info("port '%s': removed", name);
		return 0;
	}
	return -ENOENT;
}

void ports_free_all(struct daemon *d)
{
	while (d->ports) {
		struct port *p = d->ports;

		d->ports = p->next;
		port_destroy(d, p);
	}
	d->nports = 0;
}

/* Why the datapath gave up on @p: the frontend cut its memory, or its rings are corrupt. */
static void log_broken_reason(struct port *p)
{
	const struct gmem_table *mem = p->dp->mem;   /* control thread: the only writer */
	const struct gmem_region *r = gmem_table_faulted(mem);

	if (r) {
		log_error("port '%s': guest memory region gpa 0x%llx+0x%llx was shrunk under us "
			  "(SIGBUS; its file is not sealed with F_SEAL_SHRINK); connection dropped",
			  p->spec.name, (unsigned long long)r->gpa, (unsigned long long)r->size);
		return;
	}
	if (p->session.log && gmem_guard_faulted(p->session.log->guard)) {
		log_error("port '%s': dirty log was shrunk under us (SIGBUS; its file is not sealed "
			  "with F_SEAL_SHRINK); connection dropped", p->spec.name);
		return;
	}
	log_error("port '%s': frontend's rings are invalid; connection dropped", p->spec.name);
}

/* A worker found a port's rings corrupt: drop that connection, keep the port. */
void ports_handle_broken(struct daemon *d)
{
	for (struct port *p = d->ports; p; p = p->next) {
		if (!__atomic_load_n(&p->dp->broken, __ATOMIC_ACQUIRE))
			continue;
		if (p->tap) {
			if (p->was_broken)
				continue;
			log_error("port '%s': TAP %s failed (deleted?); making it again", p->spec.name,
				  p->spec.ifname);
			p->was_broken = true;
			p->broken_count++;
			tap_port_stop(d->dp, p->dp);
			p->backoff_ms = BACKOFF_MIN_MS;
			schedule_retry(p, tap_reopen_on_timer);
			continue;   /* still broken until then: frames to it are dropped as port_down */
		}
		log_broken_reason(p);
		p->was_broken = true;
		p->broken_count++;
		conn_close(p);
		__atomic_store_n(&p->dp->broken, false, __ATOMIC_RELEASE);
		if (p->spec.mode == PORT_MODE_CLIENT)
			schedule_connect(p);
	}
}
