/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals shared by the files of the disc module; not for other modules. */
#ifndef VULB_DISC_INTERNAL_H
#define VULB_DISC_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>

#include "disc.h"

/* A published snapshot: the public registry plus what reclamation needs. */
struct disc_snap {
	struct rcu_head rcu;
	struct disc_registry reg;
};

/* Explicit changes that comparing two snapshots cannot show (reboot, migration, connection). */
struct disc_extra {
	enum disc_change_kind kind;
	const struct disc_vm *vm;	/* NULL for connection changes */
};

struct disc {
	/* configuration (immutable after disc_new) */
	char *uri;
	struct disc_config cfg;

	/* published registry; written by the discovery thread only */
	struct disc_snap *cur;

	/* change queue: discovery thread produces, owner consumes */
	pthread_mutex_t q_lock;
	struct disc_change *q;
	size_t q_cap, q_head, q_len;
	bool q_overflow;
	int event_fd;

	/* thread */
	pthread_t thread;
	bool running;
	int wake_fd;			/* eventfd: the owner asks the thread to stop */
	bool stop;			/* set by the owner before waking the thread */

	/* discovery-thread-only state */
	void *conn;			/* virConnectPtr */
	int cb_ids[16];
	int n_cb_ids;
	bool close_cb_registered;
	int wake_watch;
	int timer;			/* reconnect / deferred-teardown timer, -1 when none */
	unsigned int backoff_ms;
	bool conn_dead;			/* close callback fired; tear down on the next timer */
	uint64_t n_connects;
};

/* disc_registry.c */
struct disc_snap *disc_snap_new(const struct disc_vm **vms, size_t n, bool connected,
				uint64_t generation);
void disc_snap_free(struct disc_snap *s);
void disc_vm_ref(const struct disc_vm *vm);
void disc_vm_unref(const struct disc_vm *vm);
int disc_commit(struct disc *d, const struct disc_vm **vms, size_t n, bool connected,
		uint64_t event_ns, const struct disc_extra *extra, size_t n_extra);
int disc_commit_one(struct disc *d, const unsigned char uuid[16], struct disc_vm *vm,
		    uint64_t event_ns, const struct disc_extra *extra, size_t n_extra);
void disc_queue_push(struct disc *d, const struct disc_change *c);

/* disc_xml.c */
void disc_uuid_format(const unsigned char uuid[16], char out[37]);

/* disc.c */
void disc_log(struct disc *d, enum disc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t disc_now_ns(void);

#endif
