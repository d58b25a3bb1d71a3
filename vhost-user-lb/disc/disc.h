/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disc: co-resident VM discovery from libvirt events.
 *
 * One discovery thread owns a libvirt connection, runs libvirt's default event loop and is the
 * single writer of an immutable registry snapshot published with RCU (QSBR flavour). Readers
 * (the daemon's control thread, stats code) take the current snapshot pointer; old snapshots are
 * reclaimed with call_rcu() after a grace period. Every change to the registry is also queued
 * as a &struct disc_change and signalled on an eventfd, so the owner reacts without polling.
 *
 * The registry is state, not an event log: each libvirt event makes the thread re-read that
 * domain's live state and XML, and the queued changes come from comparing the old and the new
 * entry. A lost or coalesced event therefore cannot leave the registry wrong, and a full
 * resynchronisation after a reconnect uses the same path.
 *
 * There is no periodic polling: while connected the thread sleeps in poll() until libvirt sends
 * an event or the keepalive fires. Only while disconnected does a backoff timer retry the
 * connection.
 */
#ifndef VULB_DISC_H
#define VULB_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISC_NAME_MAX 256	/* bytes incl. NUL kept in a &struct disc_change */
#define DISC_MAX_CPUS 1024	/* host CPUs a pinning bitmap can name */
#define DISC_CPUSET_WORDS (DISC_MAX_CPUS / 64)

struct disc;

/* Domain state as libvirt reports it (virDomainState). */
enum disc_vm_state {
	DISC_VM_NOSTATE = 0,
	DISC_VM_RUNNING,
	DISC_VM_BLOCKED,
	DISC_VM_PAUSED,
	DISC_VM_SHUTDOWN,
	DISC_VM_SHUTOFF,
	DISC_VM_CRASHED,
	DISC_VM_PMSUSPENDED,
};

/*
 * Who listens on the socket, in libvirt's words (<source mode='...'>): QEMU_CLIENT means QEMU
 * connects, so our port must be the server; QEMU_SERVER means QEMU listens and we connect.
 */
enum disc_iface_mode {
	DISC_IFACE_QEMU_CLIENT = 0,
	DISC_IFACE_QEMU_SERVER,
};

/* A set of host CPUs, bit N = CPU N. */
struct disc_cpuset {
	uint64_t bits[DISC_CPUSET_WORDS];
};

/* One <interface type='vhostuser'> of a domain. */
struct disc_iface {
	char *path;			/* <source path=...>, as written in the XML */
	enum disc_iface_mode mode;
	char mac[18];			/* "52:54:00:..", "" when the XML has none */
	unsigned int queues;		/* <driver queues=N>, 1 when absent */
	bool reconnect;			/* <reconnect enabled='yes'> */
	char *alias;			/* <alias name=...> (live XML only), may be NULL */
};

/* Pinning of one vCPU: <cputune><vcpupin vcpu=N cpuset=.../>. */
struct disc_vcpupin {
	unsigned int vcpu;
	struct disc_cpuset cpus;
};

/* One domain in a registry snapshot. Immutable once published. */
struct disc_vm {
	char *name;
	unsigned char uuid[16];
	char uuid_str[37];
	int id;				/* libvirt domain id, -1 when inactive */
	enum disc_vm_state state;
	int state_reason;		/* virDomain*Reason for @state */
	bool active;
	bool persistent;
	unsigned int vcpus;		/* online vCPUs: <vcpu current=...> or <vcpu> */
	unsigned int vcpus_max;		/* <vcpu> */
	bool has_cpuset;		/* <vcpu cpuset=...> present */
	struct disc_cpuset cpuset;	/* domain-wide vCPU placement, when @has_cpuset */
	struct disc_vcpupin *pins;	/* sorted by vcpu */
	size_t n_pins;
	struct disc_iface *ifaces;	/* vhostuser interfaces only, in XML order */
	size_t n_ifaces;
	int refs;			/* snapshots holding this entry; internal */
};

/* Maps one socket path to the interface and VM using it (active VMs only). */
struct disc_sock_ref {
	const char *path;
	const struct disc_vm *vm;
	const struct disc_iface *iface;
};

/* An immutable snapshot of all co-resident VMs. */
struct disc_registry {
	uint64_t generation;		/* +1 per published snapshot */
	uint64_t published_ns;		/* CLOCK_MONOTONIC when published */
	bool connected;			/* false: libvirt is unreachable, entries are last known */
	size_t n_vms;
	const struct disc_vm **vms;	/* sorted by UUID */
	size_t n_socks;
	struct disc_sock_ref *socks;	/* sorted by path */
};

enum disc_change_kind {
	DISC_CHANGE_VM_ADDED,		/* a VM entered the registry (started, or defined when inactive VMs are tracked) */
	DISC_CHANGE_VM_REMOVED,		/* a VM left it (stopped, or undefined) */
	DISC_CHANGE_VM_STARTED,		/* became active */
	DISC_CHANGE_VM_STOPPED,		/* became inactive */
	DISC_CHANGE_VM_STATE,		/* other state change (paused, resumed, crashed, ...) */
	DISC_CHANGE_VM_VCPUS,		/* vCPU count or pinning changed */
	DISC_CHANGE_VM_IFACES,		/* vhostuser interfaces changed */
	DISC_CHANGE_VM_RENAMED,
	DISC_CHANGE_VM_REBOOTED,	/* guest reset; registry state unchanged */
	DISC_CHANGE_VM_MIGRATION,	/* a migration iteration of this VM (outgoing) */
	DISC_CHANGE_VM_JOB_COMPLETED,	/* a job (migration, dump, backup, ...) of this VM completed */
	DISC_CHANGE_CONNECTED,		/* (re)connected and fully resynchronised */
	DISC_CHANGE_DISCONNECTED,	/* libvirt connection lost; reconnecting */
	DISC_CHANGE_OVERFLOW,		/* the queue overflowed: changes were dropped, re-read the snapshot */
	DISC_CHANGE__MAX,
};

/* One queued change. The VM is identified by UUID; name is truncated at DISC_NAME_MAX-1. */
struct disc_change {
	enum disc_change_kind kind;
	unsigned char uuid[16];
	char name[DISC_NAME_MAX];
	enum disc_vm_state state;	/* state after the change */
	uint64_t generation;		/* registry generation that contains the change */
	uint64_t event_ns;		/* CLOCK_MONOTONIC when the libvirt event arrived; 0 for resync */
	uint64_t published_ns;		/* CLOCK_MONOTONIC when that registry was published */
};

enum disc_log_level { DISC_LOG_ERROR, DISC_LOG_WARN, DISC_LOG_INFO, DISC_LOG_DEBUG };

typedef void (*disc_log_fn)(void *opaque, enum disc_log_level level, const char *msg);
typedef void (*disc_notify_fn)(void *opaque);

struct disc_config {
	const char *uri;		/* NULL: "qemu:///system" */
	bool read_write;		/* open read-write; default read-only, all discovery needs */
	bool track_inactive;		/* also keep defined-but-shut-off VMs in the registry */
	unsigned int keepalive_interval_s;	/* 0: 5 s */
	unsigned int keepalive_count;	/* 0: 3 */
	unsigned int reconnect_min_ms;	/* 0: 100 ms */
	unsigned int reconnect_max_ms;	/* 0: 5000 ms */
	unsigned int queue_len;		/* 0: 1024 changes */
	disc_notify_fn notify;		/* optional, called on the discovery thread after queueing */
	disc_log_fn log;		/* optional, NULL: stderr for warnings and errors */
	void *opaque;			/* passed to @notify and @log */
	enum disc_log_level log_level;	/* most verbose level passed to @log */
};

const char *disc_change_kind_name(enum disc_change_kind kind);
const char *disc_vm_state_name(enum disc_vm_state state);
const char *disc_iface_mode_name(enum disc_iface_mode mode);

/**
 * disc_new() - create a discovery instance (not yet connected)
 * @cfg: configuration; strings are copied
 * @ret: the new instance, written only on success
 *
 * Context: any thread. Registers libvirt's default event loop implementation on first use in
 * the process, so no other event loop may have been registered with libvirt.
 * Return: 0 or -errno.
 */
int disc_new(const struct disc_config *cfg, struct disc **ret);

/**
 * disc_start() - start the discovery thread
 * @d: instance from disc_new()
 *
 * The thread connects to libvirt (retrying with backoff while the daemon is absent), lists all
 * domains once and then follows events. The calling thread need not wait: the first snapshot
 * with @connected set is signalled with %DISC_CHANGE_CONNECTED.
 *
 * Context: the owner thread. Only one instance per process may run at a time, because libvirt's
 * default event loop is process-wide.
 * Return: 0, -EBUSY when another instance runs, or -errno.
 */
int disc_start(struct disc *d);

/**
 * disc_stop() - stop the discovery thread and close the libvirt connection
 * @d: instance, may be NULL or not started
 *
 * The last snapshot stays readable until disc_free().
 *
 * Context: the owner thread; not from @cfg->notify (it runs on the discovery thread).
 */
void disc_stop(struct disc *d);

/**
 * disc_free() - stop if running and release everything
 * @d: instance, may be NULL
 *
 * Context: the owner thread, after every reader has stopped using snapshots of @d. Waits for a
 * grace period (synchronize_rcu), so the caller must not be an online QSBR reader.
 */
void disc_free(struct disc *d);

/**
 * disc_snapshot_rcu() - the current registry snapshot
 * @d: instance
 *
 * Context: a registered QSBR reader thread that is online. The snapshot stays valid until the
 * caller's next quiescent state (rcu_quiescent_state(), rcu_thread_offline()).
 * Return: the snapshot; never NULL (an empty one before the first sync).
 */
const struct disc_registry *disc_snapshot_rcu(struct disc *d);

/**
 * disc_find_by_socket_rcu() - which active VM uses a vhost-user socket
 * @d: instance
 * @path: socket path, compared byte for byte with the path in the domain XML
 * @ret_iface: if non-NULL, set to the matching interface on success
 *
 * Context: as disc_snapshot_rcu(); the results share the snapshot's lifetime.
 * Return: the VM, or NULL when no active VM has an interface on @path.
 */
const struct disc_vm *disc_find_by_socket_rcu(struct disc *d, const char *path,
					      const struct disc_iface **ret_iface);

/**
 * disc_registry_find_socket() - disc_find_by_socket_rcu() on a given snapshot
 * @reg: snapshot
 * @path: socket path
 * @ret_iface: if non-NULL, set to the matching interface on success
 *
 * Context: any, while @reg is valid.
 * Return: the VM or NULL.
 */
const struct disc_vm *disc_registry_find_socket(const struct disc_registry *reg, const char *path,
						const struct disc_iface **ret_iface);

/**
 * disc_registry_find_uuid() - look a VM up by UUID in a snapshot
 * @reg: snapshot
 * @uuid: 16-byte UUID
 *
 * Context: any, while @reg is valid.
 * Return: the VM or NULL.
 */
const struct disc_vm *disc_registry_find_uuid(const struct disc_registry *reg,
					      const unsigned char uuid[16]);

/**
 * disc_registry_find_name() - look a VM up by name in a snapshot (linear)
 * @reg: snapshot
 * @name: domain name
 *
 * Context: any, while @reg is valid.
 * Return: the VM or NULL.
 */
const struct disc_vm *disc_registry_find_name(const struct disc_registry *reg, const char *name);

/**
 * disc_event_fd() - eventfd that becomes readable when changes are queued
 * @d: instance
 *
 * Owned by @d; poll it for POLLIN and call disc_changes_drain().
 *
 * Context: any thread.
 * Return: the fd.
 */
int disc_event_fd(struct disc *d);

/**
 * disc_changes_drain() - take queued changes, oldest first
 * @d: instance
 * @out: array of @max changes
 * @max: capacity of @out
 *
 * Clears the eventfd first, so a change queued while draining makes it readable again.
 *
 * Context: the owner thread (any thread, but one consumer at a time).
 * Return: number of changes written to @out (0 when the queue is empty).
 */
size_t disc_changes_drain(struct disc *d, struct disc_change *out, size_t max);

/**
 * disc_cpuset_test() - is @cpu in @set
 * @set: CPU set
 * @cpu: CPU number
 *
 * Context: any.
 * Return: true when set.
 */
static inline bool disc_cpuset_test(const struct disc_cpuset *set, unsigned int cpu)
{
	return cpu < DISC_MAX_CPUS && (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

/**
 * disc_cpuset_parse() - parse a libvirt cpuset string ("0-3,^2,6")
 * @str: the string
 * @ret: the set, written only on success
 *
 * Context: any.
 * Return: 0 or -EINVAL (syntax, or a CPU >= DISC_MAX_CPUS).
 */
int disc_cpuset_parse(const char *str, struct disc_cpuset *ret);

/**
 * disc_cpuset_format() - format a CPU set as a list of ranges ("0-1,4")
 * @set: CPU set
 * @buf: output buffer
 * @len: size of @buf
 *
 * Context: any.
 * Return: @buf (truncated output ends with '+' when @len is too small).
 */
char *disc_cpuset_format(const struct disc_cpuset *set, char *buf, size_t len);

/**
 * disc_vm_parse_xml() - parse a domain XML description into a VM entry
 * @xml: NUL-terminated domain XML (live or inactive)
 * @ret: new entry (state fields zeroed, id from the XML or -1), written only on success
 *
 * Only the fields this module publishes are read: name, uuid, id, vcpu (count, current,
 * cpuset), cputune/vcpupin and every interface of type vhostuser.
 *
 * Context: any thread.
 * Return: 0, -EINVAL for XML that is not a usable domain description, or -ENOMEM.
 */
int disc_vm_parse_xml(const char *xml, struct disc_vm **ret);

/**
 * disc_vm_free() - free an entry from disc_vm_parse_xml() that was never published
 * @vm: entry, may be NULL
 *
 * Context: any thread.
 */
void disc_vm_free(struct disc_vm *vm);

#endif
