/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the pure parts of disc: domain XML parsing, cpuset parsing/formatting,
 * registry snapshots (socket index, UUID lookup). No libvirt daemon, no root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disc.h"
#include "disc_internal.h"

static int failures;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			failures++;                                                  \
		}                                                                    \
	} while (0)

/* Live XML as libvirt 11.3 returns it for a running TCG domain (trimmed to what we read). */
static const char live_xml[] =
	"<domain type='qemu' id='7'>\n"
	"  <name>vm-a</name>\n"
	"  <uuid>9201AB5C-cb53-4c46-be27-dc5b2415ab93</uuid>\n"
	"  <memory unit='KiB'>262144</memory>\n"
	"  <vcpu placement='static' current='2' cpuset='0-3,^1'>4</vcpu>\n"
	"  <cputune>\n"
	"    <vcpupin vcpu='1' cpuset='3'/>\n"
	"    <vcpupin vcpu='0' cpuset='0,2'/>\n"
	"  </cputune>\n"
	"  <devices>\n"
	"    <interface type='network'><mac address='52:54:00:00:00:09'/>"
	"<source network='default'/></interface>\n"
	"    <interface type='vhostuser'>\n"
	"      <mac address='52:54:00:99:00:02'/>\n"
	"      <source type='unix' path='/run/vhost-user-lb/vm-a.sock' mode='client'>\n"
	"        <reconnect enabled='yes' timeout='1'/>\n"
	"      </source>\n"
	"      <model type='virtio'/>\n"
	"      <driver queues='2'/>\n"
	"      <alias name='net0'/>\n"
	"    </interface>\n"
	"    <interface type='vhostuser'>\n"
	"      <mac address='52:54:00:AA:00:03'/>\n"
	"      <source type='unix' path='/tmp/q/vm-a-1.sock' mode='server'/>\n"
	"      <model type='virtio'/>\n"
	"    </interface>\n"
	"  </devices>\n"
	"</domain>\n";

static void test_live_xml(void)
{
	struct disc_vm *vm = NULL;
	char buf[64];

	CHECK(disc_vm_parse_xml(live_xml, &vm) == 0);
	if (!vm)
		return;
	CHECK(strcmp(vm->name, "vm-a") == 0);
	CHECK(strcmp(vm->uuid_str, "9201ab5c-cb53-4c46-be27-dc5b2415ab93") == 0);
	CHECK(vm->uuid[0] == 0x92 && vm->uuid[15] == 0x93);
	CHECK(vm->id == 7);
	CHECK(vm->vcpus_max == 4 && vm->vcpus == 2);
	CHECK(vm->has_cpuset);
	CHECK(strcmp(disc_cpuset_format(&vm->cpuset, buf, sizeof(buf)), "0,2-3") == 0);
	CHECK(vm->n_pins == 2);
	if (vm->n_pins == 2) {
		CHECK(vm->pins[0].vcpu == 0 && vm->pins[1].vcpu == 1);	/* sorted */
		CHECK(strcmp(disc_cpuset_format(&vm->pins[0].cpus, buf, sizeof(buf)), "0,2") == 0);
		CHECK(disc_cpuset_test(&vm->pins[1].cpus, 3) && !disc_cpuset_test(&vm->pins[1].cpus, 2));
	}
	CHECK(vm->n_ifaces == 2);	/* the type='network' NIC is not ours */
	if (vm->n_ifaces == 2) {
		CHECK(strcmp(vm->ifaces[0].path, "/run/vhost-user-lb/vm-a.sock") == 0);
		CHECK(vm->ifaces[0].mode == DISC_IFACE_QEMU_CLIENT);
		CHECK(strcmp(vm->ifaces[0].mac, "52:54:00:99:00:02") == 0);
		CHECK(vm->ifaces[0].queues == 2);
		CHECK(vm->ifaces[0].reconnect);
		CHECK(vm->ifaces[0].alias && strcmp(vm->ifaces[0].alias, "net0") == 0);
		CHECK(vm->ifaces[1].mode == DISC_IFACE_QEMU_SERVER);
		CHECK(strcmp(vm->ifaces[1].mac, "52:54:00:aa:00:03") == 0);	/* normalised */
		CHECK(vm->ifaces[1].queues == 1);
		CHECK(!vm->ifaces[1].reconnect && !vm->ifaces[1].alias);
	}
	disc_vm_free(vm);
}

static void test_minimal_and_invalid(void)
{
	static const struct {
		const char *xml;
		int ret;
	} cases[] = {
		{ "<domain><name>x</name><uuid>00000000-0000-0000-0000-000000000001</uuid></domain>",
		  0 },
		{ "<domain><uuid>00000000-0000-0000-0000-000000000001</uuid></domain>", -22 },
		{ "<domain><name>x</name><uuid>0000</uuid></domain>", -22 },
		{ "<network><name>x</name></network>", -22 },
		{ "<domain><name>x</name", -22 },
		{ "<domain><name>x</name><uuid>00000000000000000000000000000001</uuid>"
		  "<vcpu current='9'>2</vcpu></domain>", -22 },
		{ "<domain><name>x</name><uuid>00000000000000000000000000000001</uuid>"
		  "<vcpu>2</vcpu><cputune><vcpupin vcpu='2' cpuset='0'/></cputune></domain>", -22 },
		{ "<domain><name>x</name><uuid>00000000000000000000000000000001</uuid>"
		  "<devices><interface type='vhostuser'><source type='unix' mode='client'/>"
		  "</interface></devices></domain>", -22 },
		{ "<domain><name>x</name><uuid>00000000000000000000000000000001</uuid>"
		  "<devices><interface type='vhostuser'><source type='unix' path='/a' mode='x'/>"
		  "</interface></devices></domain>", -22 },
		{ "<domain><name>x</name><uuid>00000000000000000000000000000001</uuid>"
		  "<devices><interface type='vhostuser'><source type='unix' path='/a' mode='client'/>"
		  "<driver queues='0'/></interface></devices></domain>", -22 },
		/* external entities are never loaded: the name stays empty and is refused */
		{ "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name>"
		  "<uuid>00000000000000000000000000000001</uuid></domain>", -22 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct disc_vm *vm = NULL;
		int r = disc_vm_parse_xml(cases[i].xml, &vm);

		if (r != cases[i].ret)
			fprintf(stderr, "case %zu: got %d want %d\n", i, r, cases[i].ret);
		CHECK(r == cases[i].ret);
		CHECK((r == 0) == (vm != NULL));
		if (vm && i == 0)
			CHECK(vm->vcpus == 1 && vm->n_ifaces == 0 && vm->id == -1);
		disc_vm_free(vm);
	}
}

static void test_cpuset(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "0", "0" }, { "0-3", "0-3" }, { "0-3,^2", "0-1,3" }, { "5,1,3", "1,3,5" },
		{ "0-1023", "0-1023" }, { " 1 , 2 ", "1-2" },
	};
	static const char *const bad[] = { "", "a", "1-", "3-1", "1024", "1,,2", "^", "-1", "1 2" };
	struct disc_cpuset s;
	char buf[32];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK(disc_cpuset_parse(ok[i].in, &s) == 0);
		CHECK(strcmp(disc_cpuset_format(&s, buf, sizeof(buf)), ok[i].out) == 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (disc_cpuset_parse(bad[i], &s) == 0)
			fprintf(stderr, "cpuset '%s' accepted\n", bad[i]);
		CHECK(disc_cpuset_parse(bad[i], &s) < 0);
	}
	/* truncation is visible */
	CHECK(disc_cpuset_parse("0,2,4,6,8,10,12,14,16,18,20,22,24", &s) == 0);
	disc_cpuset_format(&s, buf, 8);
	CHECK(strlen(buf) == 7 && buf[6] == '+');
}

static struct disc_vm *mkvm(const char *name, int uuid_last, bool active, const char *sock)
{
	char xml[512];
	struct disc_vm *vm = NULL;

	snprintf(xml, sizeof(xml),
		 "<domain><name>%s</name><uuid>00000000-0000-0000-0000-0000000000%02x</uuid>"
		 "<devices><interface type='vhostuser'><source type='unix' path='%s' "
		 "mode='client'/></interface></devices></domain>",
		 name, uuid_last, sock);
	if (disc_vm_parse_xml(xml, &vm) < 0)
		return NULL;
	vm->active = active;
	return vm;
}

static void test_snapshot_index(void)
{
	struct disc_vm *a = mkvm("a", 3, true, "/s/z.sock");
	struct disc_vm *b = mkvm("b", 1, true, "/s/a.sock");
	struct disc_vm *c = mkvm("c", 2, false, "/s/m.sock");
	const struct disc_vm *vms[3] = { a, b, c };
	const struct disc_iface *ifc = NULL;
	struct disc_snap *s1, *s2;
	unsigned char u[16] = { 0 };

	CHECK(a && b && c);
	if (!a || !b || !c)
		return;
	s1 = disc_snap_new(vms, 3, true, 1);
	CHECK(s1 != NULL);
	if (!s1)
		return;
	CHECK(s1->reg.n_vms == 3 && s1->reg.n_socks == 2);	/* inactive c is not indexed */
	CHECK(s1->reg.vms[0] == b && s1->reg.vms[1] == c && s1->reg.vms[2] == a);
	CHECK(disc_registry_find_socket(&s1->reg, "/s/z.sock", &ifc) == a && ifc == &a->ifaces[0]);
	CHECK(disc_registry_find_socket(&s1->reg, "/s/a.sock", NULL) == b);
	CHECK(disc_registry_find_socket(&s1->reg, "/s/m.sock", NULL) == NULL);
	CHECK(disc_registry_find_socket(&s1->reg, "/s/zz.sock", NULL) == NULL);
	u[15] = 2;
	CHECK(disc_registry_find_uuid(&s1->reg, u) == c);
	u[15] = 9;
	CHECK(disc_registry_find_uuid(&s1->reg, u) == NULL);
	CHECK(disc_registry_find_name(&s1->reg, "a") == a);

	/* entries shared by two snapshots survive freeing the first */
	s2 = disc_snap_new(vms, 2, true, 2);
	CHECK(s2 && a->refs == 2 && c->refs == 1);
	disc_snap_free(s1);
	CHECK(a->refs == 1 && strcmp(a->name, "a") == 0);
	disc_snap_free(s2);	/* frees a and b; c went with s1 (valgrind/ASan see leaks) */
}

int main(void)
{
	test_live_xml();
	test_minimal_and_invalid();
	test_cpuset();
	test_snapshot_index();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("test-disc-xml: all checks passed\n");
	return 0;
}
