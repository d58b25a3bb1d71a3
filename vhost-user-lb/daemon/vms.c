// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The daemon's side of co-resident VM discovery: start the libvirt discovery module, turn
 * its change events into balancer re-plans (a VM started or stopped, its vCPUs changed), and
 * answer which VM each port belongs to (its vhostuser interface names our socket).
 */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <sys/epoll.h>

#include "balance/balancer.h"
#include "core/log.h"
#include "daemon/daemon.h"
#include "disc/disc.h"

static void disc_log(void *opaque, enum disc_log_level level, const char *msg)
{
	static const enum log_level map[] = {
		[DISC_LOG_ERROR] = LOG_LVL_ERROR, [DISC_LOG_WARN] = LOG_LVL_WARN,
		[DISC_LOG_INFO] = LOG_LVL_INFO, [DISC_LOG_DEBUG] = LOG_LVL_DEBUG,
	};

	(void)opaque;
	log_write(map[level], "discovery: %s", msg);
}

static void on_changes(struct ev_source *src, int fd, uint32_t events, void *opaque)
{
	struct daemon *d = opaque;
	struct disc_change ch[64];
	size_t n;

	(void)src;
	(void)fd;
	(void)events;
	while ((n = disc_changes_drain(d->disc, ch, ARRAY_SIZE(ch))) > 0) {
		for (size_t i = 0; i < n; i++) {
			char why[48];

			switch (ch[i].kind) {
			case DISC_CHANGE_VM_STARTED:
			case DISC_CHANGE_VM_STOPPED:
			case DISC_CHANGE_VM_ADDED:
			case DISC_CHANGE_VM_REMOVED:
			case DISC_CHANGE_VM_VCPUS:
			case DISC_CHANGE_VM_IFACES:
				log_info("VM '%s': %s (%s)", ch[i].name, disc_change_kind_name(ch[i].kind),
					 disc_vm_state_name(ch[i].state));
				snprintf(why, sizeof(why), "VM %.16s %s", ch[i].name,
					 disc_change_kind_name(ch[i].kind));
				balancer_changed(d->bal, why);
				if (ch[i].kind == DISC_CHANGE_VM_STOPPED || ch[i].kind == DISC_CHANGE_VM_REMOVED)
					services_vm_changed(d, ch[i].name, false);
				else if (ch[i].kind == DISC_CHANGE_VM_STARTED || ch[i].kind == DISC_CHANGE_VM_ADDED)
					services_vm_changed(d, ch[i].name, true);
				break;
			case DISC_CHANGE_CONNECTED:
				log_info("discovery: connected to libvirt, registry in sync");
				break;
			case DISC_CHANGE_DISCONNECTED:
				log_warn("discovery: lost libvirt; reconnecting");
				break;
			default:
				log_debug("VM '%s': %s", ch[i].name, disc_change_kind_name(ch[i].kind));
				break;
			}
		}
	}
}

/**
 * vms_start() - discover co-resident VMs through libvirt at @uri ("none": don't).
 * Context: control thread. A libvirt that is not there is not an error: the module keeps
 * trying to connect, with backoff, and the daemon serves its ports meanwhile.
 */
int vms_start(struct daemon *d, const char *uri)
{
	struct disc_config cfg = {
		.uri = uri, .log = disc_log, .opaque = d,
		.log_level = log_max_level >= LOG_LVL_DEBUG ? DISC_LOG_DEBUG : DISC_LOG_WARN,
	};
	int r;

	if (uri && strcmp(uri, "none") == 0)
		return 0;
	r = disc_new(&cfg, &d->disc);
	if (!r)
		r = disc_start(d->disc);
	if (!r)
		r = evloop_add_fd(d->loop, disc_event_fd(d->disc), EPOLLIN, on_changes, d, NULL);
	if (r) {
		disc_free(d->disc);
		d->disc = NULL;
	}
	return r;
}

void vms_stop(struct daemon *d)
{
	if (!d->disc)
		return;
	disc_stop(d->disc);
	disc_free(d->disc);
	d->disc = NULL;
}

/* Context: control thread (RCU read side). Return: the VM using @p's socket, or NULL. */
const struct disc_vm *vms_of_port(struct daemon *d, const struct port *p)
{
	/* An uplink has no socket, so no VM. */
	if (p->spec.type != PORT_TYPE_VHOST_USER)
		return NULL;
	return d->disc ? disc_find_by_socket_rcu(d->disc, p->spec.path, NULL) : NULL;
}

/* The `vms` control command: every co-resident VM and the ports that are its NICs. */
struct json_object *vms_json(struct daemon *d)
{
	struct json_object *arr = json_object_new_array();
	const struct disc_registry *reg;

	if (!d->disc)
		return arr;
	reg = disc_snapshot_rcu(d->disc);
	for (size_t i = 0; reg && i < reg->n_vms; i++) {
		const struct disc_vm *vm = reg->vms[i];
		struct json_object *o = json_object_new_object(), *ifs = json_object_new_array();
		struct json_object *pins = json_object_new_array();

		json_object_object_add(o, "name", json_object_new_string(vm->name));
		json_object_object_add(o, "uuid", json_object_new_string(vm->uuid_str));
		json_object_object_add(o, "state", json_object_new_string(disc_vm_state_name(vm->state)));
		json_object_object_add(o, "vcpus", json_object_new_int((int)vm->vcpus));
		for (size_t k = 0; k < vm->n_pins; k++) {
			struct json_object *pin = json_object_new_object(), *cpus = json_object_new_array();

			json_object_object_add(pin, "vcpu", json_object_new_int((int)vm->pins[k].vcpu));
			for (int c = 0; c < DISC_MAX_CPUS; c++)
				if (vm->pins[k].cpus.bits[c / 64] & (1ull << (c % 64)))
					json_object_array_add(cpus, json_object_new_int(c));
			json_object_object_add(pin, "cpus", cpus);
			json_object_array_add(pins, pin);
		}
		json_object_object_add(o, "pins", pins);
		for (size_t k = 0; k < vm->n_ifaces; k++) {
			const struct disc_iface *ifc = &vm->ifaces[k];
			struct json_object *e = json_object_new_object();
			const char *port = NULL;

			for (struct port *p = d->ports; p; p = p->next)
				if (p->spec.type == PORT_TYPE_VHOST_USER && strcmp(p->spec.path, ifc->path) == 0)
					port = p->spec.name;
			json_object_object_add(e, "path", json_object_new_string(ifc->path));
			json_object_object_add(e, "mode", json_object_new_string(disc_iface_mode_name(ifc->mode)));
			json_object_object_add(e, "mac", json_object_new_string(ifc->mac));
			json_object_object_add(e, "queues", json_object_new_int((int)ifc->queues));
			json_object_object_add(e, "port", port ? json_object_new_string(port) : NULL);
			json_object_array_add(ifs, e);
		}
		json_object_object_add(o, "interfaces", ifs);
		json_object_array_add(arr, o);
	}
	return arr;
}
