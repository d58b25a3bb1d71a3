/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The discovery thread: libvirt connection, events, reconnect, resync.
 *
 * Everything below that touches libvirt runs on the discovery thread, inside libvirt's default
 * event loop (virEventRunDefaultImpl). Event callbacks, the close callback, the reconnect timer
 * and the stop request are all loop callbacks, so none of them races another and the registry
 * has exactly one writer.
 *
 * libvirt calls made from an event callback (virDomainGetXMLDesc, ...) are synchronous RPCs;
 * the remote driver lets the event loop thread itself wait for the reply, so that is safe, and
 * it keeps the registry update in the same loop iteration as the event (latency is one RPC).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

#include "disc.h"
#include "disc_internal.h"

#define DEFAULT_URI "qemu:///system"

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static int lv_init_err;
static pthread_mutex_t instance_lock = PTHREAD_MUTEX_INITIALIZER;
static struct disc *running_instance;

uint64_t disc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void disc_log(struct disc *d, enum disc_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char msg[1024];
	va_list ap;

	if (d->cfg.log ? level > d->cfg.log_level : level > DISC_LOG_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (d->cfg.log)
		d->cfg.log(d->cfg.opaque, level, msg);
	else
		fprintf(stderr, "disc: %s: %s\n", names[level], msg);
}

/* libvirt prints every error to stderr by default; we report errors where we handle them. */
static void lv_quiet_error(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static void lv_init(void)
{
	xmlInitParser();
	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
		lv_init_err = -EIO;
		return;
	}
	virSetErrorFunc(NULL, lv_quiet_error);
}

static const char *lv_errmsg(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

static bool lv_err_is(int code)
{
	virErrorPtr e = virGetLastError();

	return e && e->code == code;
}

const char *disc_change_kind_name(enum disc_change_kind kind)
{
	static const char *const names[DISC_CHANGE__MAX] = {
		[DISC_CHANGE_VM_ADDED] = "vm-added",
		[DISC_CHANGE_VM_REMOVED] = "vm-removed",
		[DISC_CHANGE_VM_STARTED] = "vm-started",
		[DISC_CHANGE_VM_STOPPED] = "vm-stopped",
		[DISC_CHANGE_VM_STATE] = "vm-state",
		[DISC_CHANGE_VM_VCPUS] = "vm-vcpus",
		[DISC_CHANGE_VM_IFACES] = "vm-ifaces",
		[DISC_CHANGE_VM_RENAMED] = "vm-renamed",
		[DISC_CHANGE_VM_REBOOTED] = "vm-rebooted",
		[DISC_CHANGE_VM_MIGRATION] = "vm-migration",
		[DISC_CHANGE_VM_JOB_COMPLETED] = "vm-job-completed",
		[DISC_CHANGE_CONNECTED] = "connected",
		[DISC_CHANGE_DISCONNECTED] = "disconnected",
		[DISC_CHANGE_OVERFLOW] = "overflow",
	};

	return (unsigned)kind < DISC_CHANGE__MAX && names[kind] ? names[kind] : "?";
}

const char *disc_vm_state_name(enum disc_vm_state state)
{
	static const char *const names[] = {
		"nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
		"pmsuspended",
	};

	return (unsigned)state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

const char *disc_iface_mode_name(enum disc_iface_mode mode)
{
	return mode == DISC_IFACE_QEMU_SERVER ? "server" : "client";
}

/*
 * Reads one domain. Return: 0 with *ret set, 1 when the domain is not to be in the registry
 * (gone, or inactive and inactive VMs are not tracked), or -errno on a libvirt failure.
 */
static int read_vm(struct disc *d, virDomainPtr dom, struct disc_vm **ret)
{
	int state, reason, active, persistent, r;
	struct disc_vm *vm;
	char *xml;
	uint64_t t0 = disc_now_ns();

	if (virDomainGetState(dom, &state, &reason, 0) < 0)
		return lv_err_is(VIR_ERR_NO_DOMAIN) ? 1 : -EIO;
	active = virDomainIsActive(dom);
	if (active < 0)
		return lv_err_is(VIR_ERR_NO_DOMAIN) ? 1 : -EIO;
	if (!active && !d->cfg.track_inactive)
		return 1;
	persistent = virDomainIsPersistent(dom);
	disc_log(d, DISC_LOG_DEBUG, "vm='%s': state+active+persistent in %.1f us",
		 virDomainGetName(dom), (disc_now_ns() - t0) / 1e3);
	xml = virDomainGetXMLDesc(dom, 0);
	disc_log(d, DISC_LOG_DEBUG, "vm='%s': +XML in %.1f us", virDomainGetName(dom),
		 (disc_now_ns() - t0) / 1e3);
	if (!xml)
		return lv_err_is(VIR_ERR_NO_DOMAIN) ? 1 : -EIO;
	r = disc_vm_parse_xml(xml, &vm);
	free(xml);
	if (r < 0) {
		disc_log(d, DISC_LOG_WARN, "vm='%s': unusable domain XML (%s)",
			 virDomainGetName(dom), strerror(-r));
		return r;
	}
	vm->state = state >= 0 && state <= DISC_VM_PMSUSPENDED ? (enum disc_vm_state)state
							      : DISC_VM_NOSTATE;
	vm->state_reason = reason;
	vm->active = active == 1;
	vm->persistent = persistent == 1;
	if (!vm->active)
		vm->id = -1;
	*ret = vm;
	return 0;
}

/* Re-reads one domain after an event and publishes the result. */
static void refresh_domain(struct disc *d, virDomainPtr dom, enum disc_change_kind extra_kind,
			   bool has_extra, uint64_t event_ns)
{
	unsigned char uuid[16];
	struct disc_vm *vm = NULL;
	struct disc_extra extra;
	int r;

	if (virDomainGetUUID(dom, uuid) < 0)
		return;
	r = read_vm(d, dom, &vm);
	if (r < 0) {
		/* A dead connection also lands here; the close callback takes over. */
		disc_log(d, DISC_LOG_WARN, "vm='%s': cannot read domain: %s", virDomainGetName(dom),
			 lv_errmsg());
		return;
	}
	extra = (struct disc_extra){ .kind = extra_kind, .vm = vm };
	if (disc_commit_one(d, uuid, vm, event_ns, &extra, has_extra && vm ? 1 : 0) < 0)
		disc_log(d, DISC_LOG_ERROR, "vm='%s': out of memory updating the registry",
			 virDomainGetName(dom));
}

static int ev_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	struct disc *d = opaque;
	uint64_t t = disc_now_ns();

	(void)conn;
	disc_log(d, DISC_LOG_DEBUG, "vm='%s': lifecycle event %d/%d", virDomainGetName(dom), event,
		 detail);
	/*
	 * SHUTDOWN only announces a STOPPED to come; querying now would wait (in libvirtd) for
	 * the stop to finish and delay every event queued behind this one.
	 */
	if (event == VIR_DOMAIN_EVENT_SHUTDOWN)
		return 0;
	/*
	 * STOPPED / UNDEFINED say all there is to know when only active VMs are tracked: drop
	 * the VM without a round trip. A later event (a restart) re-reads it anyway.
	 */
	if (!d->cfg.track_inactive &&
	    (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_UNDEFINED)) {
		unsigned char uuid[16];

		if (virDomainGetUUID(dom, uuid) == 0 && disc_commit_one(d, uuid, NULL, t, NULL, 0) < 0)
			disc_log(d, DISC_LOG_ERROR, "out of memory updating the registry");
		return 0;
	}
	refresh_domain(d, dom, 0, false, t);
	return 0;
}

static void ev_generic(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
	(void)conn;
	refresh_domain(opaque, dom, DISC_CHANGE_VM_REBOOTED, true, disc_now_ns());
}

static void ev_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	struct disc *d = opaque;
	uint64_t t = disc_now_ns();

	(void)conn;
	disc_log(d, DISC_LOG_DEBUG, "vm='%s': device event alias='%s'", virDomainGetName(dom), alias);
	refresh_domain(d, dom, 0, false, t);
}

static void ev_tunable(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
		       int nparams, void *opaque)
{
	(void)conn;
	(void)params;
	(void)nparams;
	/* vCPU pinning changes arrive as tunables (cputune.vcpupinN) */
	refresh_domain(opaque, dom, 0, false, disc_now_ns());
}

static void ev_migration_iteration(virConnectPtr conn, virDomainPtr dom, int iteration,
				   void *opaque)
{
	(void)conn;
	(void)iteration;
	refresh_domain(opaque, dom, DISC_CHANGE_VM_MIGRATION, true, disc_now_ns());
}

static void ev_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *opaque)
{
	(void)conn;
	(void)params;
	(void)nparams;
	refresh_domain(opaque, dom, DISC_CHANGE_VM_JOB_COMPLETED, true, disc_now_ns());
}

static const struct {
	int id;
	virConnectDomainEventGenericCallback cb;
	const char *name;
} event_table[] = {
	{ VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(ev_lifecycle), "lifecycle" },
	{ VIR_DOMAIN_EVENT_ID_REBOOT, VIR_DOMAIN_EVENT_CALLBACK(ev_generic), "reboot" },
	{ VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(ev_device), "device-added" },
	{ VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(ev_device),
	  "device-removed" },
	{ VIR_DOMAIN_EVENT_ID_TUNABLE, VIR_DOMAIN_EVENT_CALLBACK(ev_tunable), "tunable" },
	{ VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
	  VIR_DOMAIN_EVENT_CALLBACK(ev_migration_iteration), "migration-iteration" },
	{ VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, VIR_DOMAIN_EVENT_CALLBACK(ev_job_completed),
	  "job-completed" },
};

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	struct disc *d = opaque;

	(void)conn;
	disc_log(d, DISC_LOG_WARN, "libvirt connection uri='%s' closed (reason %d)", d->uri, reason);
	/*
	 * Tearing the connection down from inside its own close callback is not allowed; the
	 * timer runs on the next loop iteration.
	 */
	d->conn_dead = true;
	virEventUpdateTimeout(d->timer, 0);
}

static void teardown(struct disc *d)
{
	virConnectPtr conn = d->conn;

	if (!conn)
		return;
	for (int i = 0; i < d->n_cb_ids; i++)
		(void)virConnectDomainEventDeregisterAny(conn, d->cb_ids[i]);
	d->n_cb_ids = 0;
	if (d->close_cb_registered)
		(void)virConnectUnregisterCloseCallback(conn, close_cb);
	d->close_cb_registered = false;
	virResetLastError();
	(void)virConnectClose(conn);
	d->conn = NULL;
	d->conn_dead = false;
}

/* Lists every domain and publishes a fresh registry; differences become changes. */
static int resync(struct disc *d)
{
	unsigned int flags = d->cfg.track_inactive ? 0 : VIR_CONNECT_LIST_DOMAINS_ACTIVE;
	virDomainPtr *doms = NULL;
	const struct disc_vm **vms = NULL;
	struct disc_extra extra = { .kind = DISC_CHANGE_CONNECTED };
	size_t n_vms = 0;
	int n, r = 0;

	n = virConnectListAllDomains(d->conn, &doms, flags);
	if (n < 0) {
		disc_log(d, DISC_LOG_WARN, "listing domains failed: %s", lv_errmsg());
		return -EIO;
	}
	vms = calloc((size_t)n + 1, sizeof(*vms));
	for (int i = 0; i < n; i++) {
		struct disc_vm *vm;
		int rr;

		if (r == 0 && vms) {
			rr = read_vm(d, doms[i], &vm);
			if (rr == 0)
				vms[n_vms++] = vm;
			else if (rr < 0 && rr != -EINVAL)
				r = rr;	/* unusable XML is skipped; a libvirt failure aborts */
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	if (!vms)
		return -ENOMEM;
	if (r == 0)
		r = disc_commit(d, vms, n_vms, true, 0, &extra, 1);
	if (r < 0)
		for (size_t i = 0; i < n_vms; i++)
			disc_vm_free((struct disc_vm *)vms[i]);
	free(vms);
	return r;
}

static int do_connect(struct disc *d)
{
	unsigned int interval = d->cfg.keepalive_interval_s ? d->cfg.keepalive_interval_s : 5;
	unsigned int count = d->cfg.keepalive_count ? d->cfg.keepalive_count : 3;
	virConnectPtr conn;
	int r;

	conn = d->cfg.read_write ? virConnectOpen(d->uri) : virConnectOpenReadOnly(d->uri);
	if (!conn) {
		disc_log(d, DISC_LOG_DEBUG, "connect uri='%s' failed: %s", d->uri, lv_errmsg());
		return -ECONNREFUSED;
	}
	d->conn = conn;
	/* 1 = the driver has no keepalive (local drivers such as test://): nothing to watch */
	r = virConnectSetKeepAlive(conn, (int)interval, count);
	if (r < 0)
		disc_log(d, DISC_LOG_DEBUG, "uri='%s': no keepalive: %s", d->uri, lv_errmsg());
	if (virConnectRegisterCloseCallback(conn, close_cb, d, NULL) == 0)
		d->close_cb_registered = true;
	else
		disc_log(d, DISC_LOG_DEBUG, "uri='%s': no close callback: %s", d->uri, lv_errmsg());
	/* Register before listing: an event racing the listing is then seen after it. */
	for (size_t i = 0; i < sizeof(event_table) / sizeof(event_table[0]); i++) {
		int id = virConnectDomainEventRegisterAny(conn, NULL, event_table[i].id,
							  event_table[i].cb, d, NULL);

		if (id < 0) {
			if (event_table[i].id == VIR_DOMAIN_EVENT_ID_LIFECYCLE) {
				disc_log(d, DISC_LOG_ERROR, "uri='%s': lifecycle events: %s",
					 d->uri, lv_errmsg());
				teardown(d);
				return -EIO;
			}
			disc_log(d, DISC_LOG_INFO, "uri='%s': no %s events: %s", d->uri,
				 event_table[i].name, lv_errmsg());
			continue;
		}
		d->cb_ids[d->n_cb_ids++] = id;
	}
	r = resync(d);
	if (r < 0) {
		teardown(d);
		return r;
	}
	d->n_connects++;
	disc_log(d, DISC_LOG_INFO, "connected to uri='%s', %zu VMs", d->uri,
		 d->cur->reg.n_vms);
	return 0;
}

static void timer_cb(int timer, void *opaque)
{
	struct disc *d = opaque;
	unsigned int min = d->cfg.reconnect_min_ms ? d->cfg.reconnect_min_ms : 100;
	unsigned int max = d->cfg.reconnect_max_ms ? d->cfg.reconnect_max_ms : 5000;

	virEventUpdateTimeout(timer, -1);
	if (__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
		return;
	if (d->conn_dead) {
		const struct disc_registry *o = &d->cur->reg;
		struct disc_extra extra = { .kind = DISC_CHANGE_DISCONNECTED };

		teardown(d);
		d->backoff_ms = min;
		/* Keep the last known VMs (they outlive libvirtd) but say they may be stale. */
		(void)disc_commit(d, o->vms, o->n_vms, false, 0, &extra, 1);
	}
	if (d->conn)
		return;
	if (do_connect(d) == 0) {
		d->backoff_ms = min;
		return;
	}
	virEventUpdateTimeout(timer, (int)d->backoff_ms);
	d->backoff_ms = d->backoff_ms * 2 > max ? max : d->backoff_ms * 2;
}

static void wake_cb(int watch, int fd, int events, void *opaque)
{
	uint64_t v;

	(void)watch;
	(void)events;
	(void)opaque;
	(void)!read(fd, &v, sizeof(v));
}

static void noop_timer(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

static void *disc_thread(void *arg)
{
	struct disc *d = arg;

	rcu_register_thread();
	/* Offline while blocked in poll(); online only around call_rcu() (disc_commit()). */
	rcu_thread_offline();

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		if (virEventRunDefaultImpl() < 0) {
			disc_log(d, DISC_LOG_ERROR, "event loop: %s", lv_errmsg());
			/* a broken loop would spin; give the CPU back */
			(void)poll(NULL, 0, 100);
		}
	}

	teardown(d);
	{
		const struct disc_registry *o = &d->cur->reg;

		if (o->connected)
			(void)disc_commit(d, o->vms, o->n_vms, false, 0, NULL, 0);
	}
	virEventRemoveTimeout(d->timer);
	virEventRemoveHandle(d->wake_watch);
	d->timer = -1;
	d->wake_watch = -1;
	/* libvirt frees removed handles and timers on the next loop pass: make two, non-blocking */
	for (int i = 0; i < 2; i++) {
		int t = virEventAddTimeout(0, noop_timer, NULL, NULL);

		(void)virEventRunDefaultImpl();
		if (t >= 0)
			virEventRemoveTimeout(t);
	}
	rcu_unregister_thread();
	return NULL;
}

int disc_new(const struct disc_config *cfg, struct disc **ret)
{
	struct disc *d;
	struct disc_config zero = { 0 };

	pthread_once(&lv_once, lv_init);
	if (lv_init_err)
		return lv_init_err;
	if (!cfg)
		cfg = &zero;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->cfg.uri = NULL;
	d->uri = strdup(cfg->uri ? cfg->uri : DEFAULT_URI);
	d->q_cap = cfg->queue_len ? cfg->queue_len : 1024;
	d->q = calloc(d->q_cap, sizeof(*d->q));
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->cur = disc_snap_new(NULL, 0, false, 0);
	d->timer = -1;
	d->wake_watch = -1;
	pthread_mutex_init(&d->q_lock, NULL);
	if (!d->uri || !d->q || d->event_fd < 0 || d->wake_fd < 0 || !d->cur) {
		int r = d->event_fd < 0 || d->wake_fd < 0 ? -errno : -ENOMEM;

		disc_free(d);
		return r;
	}
	d->cfg.uri = d->uri;
	*ret = d;
	return 0;
}

int disc_start(struct disc *d)
{
	int r;

	pthread_mutex_lock(&instance_lock);
	if (running_instance) {
		pthread_mutex_unlock(&instance_lock);
		return -EBUSY;
	}
	d->stop = false;
	d->backoff_ms = d->cfg.reconnect_min_ms ? d->cfg.reconnect_min_ms : 100;
	/* Handles are added here so that the first loop pass already connects. */
	d->wake_watch = virEventAddHandle(d->wake_fd, VIR_EVENT_HANDLE_READABLE, wake_cb, d, NULL);
	d->timer = virEventAddTimeout(0, timer_cb, d, NULL);
	if (d->wake_watch < 0 || d->timer < 0) {
		if (d->wake_watch >= 0)
			virEventRemoveHandle(d->wake_watch);
		if (d->timer >= 0)
			virEventRemoveTimeout(d->timer);
		pthread_mutex_unlock(&instance_lock);
		return -EIO;
	}
	r = -pthread_create(&d->thread, NULL, disc_thread, d);
	if (r == 0) {
		d->running = true;
		running_instance = d;
	} else {
		virEventRemoveHandle(d->wake_watch);
		virEventRemoveTimeout(d->timer);
	}
	pthread_mutex_unlock(&instance_lock);
	return r;
}

void disc_stop(struct disc *d)
{
	uint64_t one = 1;

	if (!d || !d->running)
		return;
	__atomic_store_n(&d->stop, true, __ATOMIC_RELEASE);
	(void)!write(d->wake_fd, &one, sizeof(one));
	pthread_join(d->thread, NULL);
	d->running = false;
	pthread_mutex_lock(&instance_lock);
	if (running_instance == d)
		running_instance = NULL;
	pthread_mutex_unlock(&instance_lock);
}

void disc_free(struct disc *d)
{
	if (!d)
		return;
	disc_stop(d);
	if (d->cur) {
		/* readers may still hold the last snapshot */
		synchronize_rcu();
		disc_snap_free(d->cur);
	}
	if (d->event_fd >= 0)
		close(d->event_fd);
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	pthread_mutex_destroy(&d->q_lock);
	free(d->q);
	free(d->uri);
	free(d);
}

const struct disc_registry *disc_snapshot_rcu(struct disc *d)
{
	/* Pairs with rcu_assign_pointer() in disc_commit(). */
	return &rcu_dereference(d->cur)->reg;
}

const struct disc_vm *disc_find_by_socket_rcu(struct disc *d, const char *path,
					      const struct disc_iface **ret_iface)
{
	return disc_registry_find_socket(disc_snapshot_rcu(d), path, ret_iface);
}

int disc_event_fd(struct disc *d)
{
	return d->event_fd;
}
