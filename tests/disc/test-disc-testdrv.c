/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * disc against libvirt's test driver (test:///default) in one process: the test defines,
 * starts, pauses, pins, destroys and undefines domains through its own connection, and the
 * registry published by the discovery thread must follow each step, signalled on the eventfd.
 * Run twice: tracking only active VMs (the daemon's default) and tracking inactive ones too.
 *
 * test:///default is shared by all connections of one process, so the discovery thread sees
 * what this thread does, with real libvirt events, without a daemon.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <urcu-qsbr.h>

#include "disc.h"

static int failures;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			failures++;                                                  \
		}                                                                    \
	} while (0)

#define WAIT_MS 5000

static const char dom_xml[] =
	"<domain type='test'>"
	"  <name>%s</name>"
	"  <uuid>%s</uuid>"
	"  <memory unit='MiB'>64</memory>"
	"  <vcpu current='2'>4</vcpu>"
	"  <os><type>hvm</type></os>"
	"  <devices>"
	"    <interface type='vhostuser'>"
	"      <mac address='52:54:00:12:34:%02x'/>"
	"      <source type='unix' path='/run/vhost-user-lb/%s.sock' mode='client'/>"
	"      <model type='virtio'/>"
	"      <driver queues='4'/>"
	"    </interface>"
	"  </devices>"
	"</domain>";

/* every change seen, in order, for sequence checks */
static struct disc_change seen[512];
static size_t n_seen;

static void drain(struct disc *d)
{
	struct disc_change buf[64];
	size_t n;

	while ((n = disc_changes_drain(d, buf, 64)) > 0)
		for (size_t i = 0; i < n; i++) {
			if (getenv("DISC_TEST_VERBOSE"))
				fprintf(stderr, "  change %-16s vm='%s' state=%s gen=%llu\n",
					disc_change_kind_name(buf[i].kind), buf[i].name,
					disc_vm_state_name(buf[i].state),
					(unsigned long long)buf[i].generation);
			if (n_seen < sizeof(seen) / sizeof(seen[0]))
				seen[n_seen++] = buf[i];
		}
}

static bool have(size_t from, enum disc_change_kind kind, const char *name)
{
	for (size_t i = from; i < n_seen; i++)
		if (seen[i].kind == kind && (!name || strcmp(seen[i].name, name) == 0))
			return true;
	return false;
}

/* Waits on the eventfd (no sleeping loop) until @kind for @name has been seen since @from. */
static bool wait_change(struct disc *d, size_t from, enum disc_change_kind kind, const char *name)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = disc_event_fd(d), .events = POLLIN };
		long left;

		drain(d);
		if (have(from, kind, name))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			fprintf(stderr, "timeout waiting for %s vm='%s'\n", disc_change_kind_name(kind),
				name ? name : "*");
			return false;
		}
		rcu_thread_offline();
		(void)poll(&pfd, 1, (int)left);
		rcu_thread_online();
	}
}

/* A checked read of the current snapshot for VM @name. */
static const struct disc_vm *vm_now(struct disc *d, const char *name)
{
	return disc_registry_find_name(disc_snapshot_rcu(d), name);
}

static virDomainPtr define(virConnectPtr c, const char *name, const char *uuid, int mac)
{
	char xml[2048];
	virDomainPtr dom;

	snprintf(xml, sizeof(xml), dom_xml, name, uuid, mac, name);
	dom = virDomainDefineXML(c, xml);
	if (!dom)
		fprintf(stderr, "define %s: %s\n", name, virGetLastErrorMessage());
	return dom;
}

static void run(bool track_inactive)
{
	struct disc_config cfg = { .uri = "test:///default", .track_inactive = track_inactive };
	const struct disc_iface *ifc = NULL;
	const struct disc_vm *vm;
	virConnectPtr c;
	virDomainPtr dom;
	struct disc *d = NULL;
	size_t mark;
	char sock[128];
	const char *name = track_inactive ? "tdvm-inact" : "tdvm-act";
	const char *uuid = track_inactive ? "6a1b0c6e-5ad0-4f7e-9d5e-000000000002"
					  : "6a1b0c6e-5ad0-4f7e-9d5e-000000000001";

	printf("== track_inactive=%d\n", track_inactive);
	n_seen = 0;
	CHECK(disc_new(&cfg, &d) == 0);
	if (!d)
		return;
	CHECK(disc_snapshot_rcu(d)->n_vms == 0 && !disc_snapshot_rcu(d)->connected);
	CHECK(disc_start(d) == 0);
	CHECK(wait_change(d, 0, DISC_CHANGE_CONNECTED, NULL));
	CHECK(disc_snapshot_rcu(d)->connected);
	/* the test driver starts with one running domain, "test" */
	vm = vm_now(d, "test");
	CHECK(vm && vm->active && vm->state == DISC_VM_RUNNING);
	CHECK(have(0, DISC_CHANGE_VM_STARTED, "test"));

	c = virConnectOpen("test:///default");
	CHECK(c != NULL);
	if (!c)
		goto out;

	/* define */
	mark = n_seen;
	dom = define(c, name, uuid, track_inactive);
	CHECK(dom != NULL);
	if (!dom)
		goto out_conn;
	if (track_inactive) {
		CHECK(wait_change(d, mark, DISC_CHANGE_VM_ADDED, name));
		vm = vm_now(d, name);
		CHECK(vm && !vm->active && vm->state == DISC_VM_SHUTOFF && vm->persistent);
		CHECK(vm && vm->n_ifaces == 1 && vm->id == -1);
	}

	/* start */
	mark = n_seen;
	CHECK(virDomainCreate(dom) == 0);
	CHECK(wait_change(d, mark, DISC_CHANGE_VM_STARTED, name));
	vm = vm_now(d, name);
	CHECK(vm && vm->active && vm->state == DISC_VM_RUNNING && vm->id > 0);
	CHECK(vm && vm->vcpus == 2 && vm->vcpus_max == 4);
	snprintf(sock, sizeof(sock), "/run/vhost-user-lb/%s.sock", name);
	CHECK(disc_find_by_socket_rcu(d, sock, &ifc) == vm);
	CHECK(ifc && ifc->queues == 4 && ifc->mode == DISC_IFACE_QEMU_CLIENT);
	CHECK(ifc && strncmp(ifc->mac, "52:54:00:12:34:", 15) == 0);
	CHECK(!track_inactive ? have(mark, DISC_CHANGE_VM_ADDED, name)
			      : !have(mark, DISC_CHANGE_VM_ADDED, name));

	/* pause / resume */
	mark = n_seen;
	CHECK(virDomainSuspend(dom) == 0);
	CHECK(wait_change(d, mark, DISC_CHANGE_VM_STATE, name));
	vm = vm_now(d, name);
	CHECK(vm && vm->state == DISC_VM_PAUSED && vm->active);
	mark = n_seen;
	CHECK(virDomainResume(dom) == 0);
	CHECK(wait_change(d, mark, DISC_CHANGE_VM_STATE, name));
	CHECK(vm_now(d, name) && vm_now(d, name)->state == DISC_VM_RUNNING);

	/* vCPU pinning: the test driver emits no event for it, so a following lifecycle event
	 * (suspend) must make the registry pick it up: events trigger a full re-read */
	{
		unsigned char map = 0x2;	/* CPU 1 */

		if (virDomainPinVcpu(dom, 0, &map, 1) == 0) {
			mark = n_seen;
			CHECK(virDomainSuspend(dom) == 0);
			CHECK(wait_change(d, mark, DISC_CHANGE_VM_STATE, name));
			vm = vm_now(d, name);
			CHECK(vm && vm->n_pins == 1 && vm->pins[0].vcpu == 0 &&
			      disc_cpuset_test(&vm->pins[0].cpus, 1) &&
			      !disc_cpuset_test(&vm->pins[0].cpus, 0));
			CHECK(have(mark, DISC_CHANGE_VM_VCPUS, name));
			CHECK(virDomainResume(dom) == 0);
		} else {
			printf("  (virDomainPinVcpu unsupported by this test driver: %s)\n",
			       virGetLastErrorMessage());
		}
	}

	/* readers keep an old snapshot valid while the writer publishes new ones */
	{
		const struct disc_registry *old = disc_snapshot_rcu(d);
		uint64_t gen = old->generation;
		const struct disc_vm *ovm = disc_registry_find_name(old, name);

		mark = n_seen;
		CHECK(virDomainDestroy(dom) == 0);
		/* no quiescent state here: wait_change() goes offline only inside poll(), and
		 * the snapshot is read again only after the thread came back online */
		CHECK(wait_change(d, mark, DISC_CHANGE_VM_STOPPED, name));
		CHECK(disc_snapshot_rcu(d)->generation > gen);
		(void)ovm;
	}
	vm = vm_now(d, name);
	if (track_inactive) {
		CHECK(vm && !vm->active && vm->state == DISC_VM_SHUTOFF);
		CHECK(!have(mark, DISC_CHANGE_VM_REMOVED, name));
	} else {
		CHECK(vm == NULL);
		CHECK(have(mark, DISC_CHANGE_VM_REMOVED, name));
	}
	CHECK(disc_find_by_socket_rcu(d, sock, NULL) == NULL);

	/* undefine */
	mark = n_seen;
	CHECK(virDomainUndefine(dom) == 0);
	if (track_inactive)
		CHECK(wait_change(d, mark, DISC_CHANGE_VM_REMOVED, name));
	virDomainFree(dom);
	CHECK(vm_now(d, name) == NULL);

	/* a transient domain: create → started, destroy → gone */
	{
		char xml[2048];
		const char *tname = "tdvm-transient";

		snprintf(xml, sizeof(xml), dom_xml, tname, "6a1b0c6e-5ad0-4f7e-9d5e-0000000000f0",
			 0xf0, tname);
		mark = n_seen;
		dom = virDomainCreateXML(c, xml, 0);
		CHECK(dom != NULL);
		if (dom) {
			CHECK(wait_change(d, mark, DISC_CHANGE_VM_STARTED, tname));
			vm = vm_now(d, tname);
			CHECK(vm && vm->active && !vm->persistent);
			mark = n_seen;
			CHECK(virDomainDestroy(dom) == 0);
			CHECK(wait_change(d, mark, DISC_CHANGE_VM_REMOVED, tname));
			CHECK(vm_now(d, tname) == NULL);
			virDomainFree(dom);
		}
	}

	/* every change carries the generation and publish time of a registry that has it */
	for (size_t i = 0; i < n_seen; i++) {
		CHECK(seen[i].generation > 0 && seen[i].published_ns > 0);
		if (seen[i].kind <= DISC_CHANGE_VM_JOB_COMPLETED && seen[i].event_ns)
			CHECK(seen[i].published_ns >= seen[i].event_ns);
		if (i > 0)
			CHECK(seen[i].generation >= seen[i - 1].generation);
	}

out_conn:
	virConnectClose(c);
out:
	disc_stop(d);
	CHECK(!disc_snapshot_rcu(d)->connected);	/* the last snapshot stays readable */
	rcu_thread_offline();
	disc_free(d);
	rcu_thread_online();
}

static void test_overflow_and_busy(void)
{
	struct disc_config cfg = { .uri = "test:///default", .queue_len = 2 };
	struct disc *d = NULL, *d2 = NULL;
	struct disc_change buf[8];
	virConnectPtr c = virConnectOpen("test:///default");
	virDomainPtr dom;
	char xml[2048];
	struct pollfd pfd;
	size_t n;

	printf("== queue overflow, one instance at a time\n");
	CHECK(c && disc_new(&cfg, &d) == 0 && disc_new(&cfg, &d2) == 0);
	if (!c || !d || !d2)
		return;
	CHECK(disc_start(d) == 0);
	CHECK(disc_start(d2) == -EBUSY);
	pfd = (struct pollfd){ .fd = disc_event_fd(d), .events = POLLIN };
	CHECK(poll(&pfd, 1, WAIT_MS) == 1);
	snprintf(xml, sizeof(xml), dom_xml, "tdvm-ovf", "6a1b0c6e-5ad0-4f7e-9d5e-0000000000f1",
		 0xf1, "tdvm-ovf");
	/* CONNECTED, then ADDED+STARTED, then STOPPED+REMOVED: 5 changes into a queue of 2 */
	dom = virDomainCreateXML(c, xml, 0);
	CHECK(dom != NULL);
	if (dom) {
		uint64_t gen0 = 0;

		rcu_thread_offline();
		for (int i = 0; i < 500 && !gen0; i++) {
			rcu_thread_online();
			if (disc_registry_find_name(disc_snapshot_rcu(d), "tdvm-ovf"))
				gen0 = disc_snapshot_rcu(d)->generation;
			rcu_thread_offline();
			if (!gen0)
				(void)poll(NULL, 0, 10);
		}
		rcu_thread_online();
		CHECK(gen0 > 0);
		CHECK(virDomainDestroy(dom) == 0);
		virDomainFree(dom);
		for (int i = 0; i < 500; i++) {
			if (disc_snapshot_rcu(d)->generation > gen0)
				break;
			rcu_thread_offline();
			(void)poll(NULL, 0, 10);
			rcu_thread_online();
		}
	}
	n = disc_changes_drain(d, buf, 8);
	CHECK(n == 3 && buf[0].kind == DISC_CHANGE_OVERFLOW);
	CHECK(n == 3 && buf[1].kind == DISC_CHANGE_VM_STOPPED && buf[2].kind == DISC_CHANGE_VM_REMOVED);
	CHECK(disc_changes_drain(d, buf, 8) == 0);
	disc_stop(d);
	CHECK(disc_start(d2) == 0);	/* free again once the first has stopped */
	disc_stop(d2);
	rcu_thread_offline();
	disc_free(d);
	disc_free(d2);
	rcu_thread_online();
	virConnectClose(c);
}

int main(void)
{
	/* This thread reads snapshots: a QSBR reader, online except while waiting. */
	rcu_register_thread();
	if (virInitialize() < 0) {
		fprintf(stderr, "virInitialize failed\n");
		return 1;
	}
	run(false);
	run(true);
	test_overflow_and_busy();
	rcu_unregister_thread();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("test-disc-testdrv: all checks passed\n");
	return 0;
}
