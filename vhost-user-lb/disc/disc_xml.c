/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain XML → &struct disc_vm, with libxml2 (libvirt's own XML library, so no new dependency).
 *
 * Input comes from libvirtd (virDomainGetXMLDesc) and is trusted to be well formed, but it is
 * still parsed without network access or entity expansion, and every number is range-checked:
 * a domain defined by another user must not crash the discovery thread.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "disc.h"
#include "disc_internal.h"

int disc_cpuset_parse(const char *str, struct disc_cpuset *ret)
{
	struct disc_cpuset set = { { 0 } };
	const char *p = str;

	if (!str)
		return -EINVAL;
	for (;;) {
		bool neg = false;
		unsigned long lo, hi;
		char *end;

		while (*p == ' ')
			p++;
		if (*p == '^') {
			neg = true;
			p++;
		}
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		lo = strtoul(p, &end, 10);
		if (errno || lo >= DISC_MAX_CPUS)
			return -EINVAL;
		hi = lo;
		p = end;
		if (*p == '-' && !neg) {
			p++;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			hi = strtoul(p, &end, 10);
			if (errno || hi >= DISC_MAX_CPUS || hi < lo)
				return -EINVAL;
			p = end;
		}
		for (unsigned long c = lo; c <= hi; c++) {
			if (neg)
				set.bits[c / 64] &= ~(1ull << (c % 64));
			else
				set.bits[c / 64] |= 1ull << (c % 64);
		}
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	*ret = set;
	return 0;
}

char *disc_cpuset_format(const struct disc_cpuset *set, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int c = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	while (c < DISC_MAX_CPUS) {
		unsigned int start;
		int n;

		if (!disc_cpuset_test(set, c)) {
			c++;
			continue;
		}
		start = c;
		while (c + 1 < DISC_MAX_CPUS && disc_cpuset_test(set, c + 1))
			c++;
		if (start == c)
			n = snprintf(buf + off, len - off, "%s%u", off ? "," : "", start);
		else
			n = snprintf(buf + off, len - off, "%s%u-%u", off ? "," : "", start, c);
		if (n < 0 || (size_t)n >= len - off) {
			if (len >= 2) {
				buf[len - 2] = '+';
				buf[len - 1] = '\0';
			}
			return buf;
		}
		off += (size_t)n;
		c++;
	}
	return buf;
}

static int parse_uuid(const char *s, unsigned char out[16])
{
	size_t n = 0;

	for (const char *p = s; *p && n < 32; p++) {
		int v;

		if (*p == '-' || *p == ' ')
			continue;
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			return -EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (unsigned char)(v << 4);
		else
			out[n / 2] |= (unsigned char)v;
		n++;
	}
	return n == 32 ? 0 : -EINVAL;
}

void disc_uuid_format(const unsigned char uuid[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[uuid[i] >> 4];
		out[o++] = hex[uuid[i] & 15];
	}
	out[o] = '\0';
}

static int parse_uint(const char *s, unsigned int max, unsigned int *ret)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	while (*end == ' ' || *end == '\n' || *end == '\t')
		end++;
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = (unsigned int)v;
	return 0;
}

/* Evaluates @expr relative to @ctx->node; the caller frees the result. */
static xmlXPathObjectPtr xpath_nodes(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	xmlXPathObjectPtr obj;

	ctx->node = node;
	obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (obj && obj->type != XPATH_NODESET) {
		xmlXPathFreeObject(obj);
		return NULL;
	}
	return obj;
}

/* String value of the first node @expr selects (element text or attribute), or NULL. */
static char *xpath_str(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr)
{
	xmlXPathObjectPtr obj = xpath_nodes(ctx, node, expr);
	char *out = NULL;

	if (obj && obj->nodesetval && obj->nodesetval->nodeNr > 0) {
		xmlChar *v = xmlNodeGetContent(obj->nodesetval->nodeTab[0]);

		if (v) {
			out = strdup((const char *)v);
			xmlFree(v);
		}
	}
	xmlXPathFreeObject(obj);
	return out;
}

void disc_vm_free(struct disc_vm *vm)
{
	if (!vm)
		return;
	for (size_t i = 0; i < vm->n_ifaces; i++) {
		free(vm->ifaces[i].path);
		free(vm->ifaces[i].alias);
	}
	free(vm->ifaces);
	free(vm->pins);
	free(vm->name);
	free(vm);
}

static int pin_cmp(const void *a, const void *b)
{
	const struct disc_vcpupin *x = a, *y = b;

	return (x->vcpu > y->vcpu) - (x->vcpu < y->vcpu);
}

static int parse_vcpus(xmlXPathContextPtr ctx, xmlNodePtr root, struct disc_vm *vm)
{
	char *s;
	int r = 0;

	s = xpath_str(ctx, root, "vcpu");
	if (s) {
		r = parse_uint(s, 1u << 20, &vm->vcpus_max);
		free(s);
		if (r < 0)
			return r;
	} else {
		vm->vcpus_max = 1;
	}
	vm->vcpus = vm->vcpus_max;
	s = xpath_str(ctx, root, "vcpu/@current");
	if (s) {
		r = parse_uint(s, vm->vcpus_max, &vm->vcpus);
		free(s);
		if (r < 0)
			return r;
	}
	s = xpath_str(ctx, root, "vcpu/@cpuset");
	if (s) {
		r = disc_cpuset_parse(s, &vm->cpuset);
		free(s);
		if (r < 0)
			return r;
		vm->has_cpuset = true;
	}

	xmlXPathObjectPtr pins = xpath_nodes(ctx, root, "cputune/vcpupin");
	int n = pins && pins->nodesetval ? pins->nodesetval->nodeNr : 0;

	if (n > 0) {
		vm->pins = calloc((size_t)n, sizeof(*vm->pins));
		if (!vm->pins) {
			xmlXPathFreeObject(pins);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < n && r == 0; i++) {
		xmlNodePtr pn = pins->nodesetval->nodeTab[i];
		char *v = xpath_str(ctx, pn, "@vcpu");
		char *c = xpath_str(ctx, pn, "@cpuset");
		struct disc_vcpupin *pin = &vm->pins[vm->n_pins];

		if (!v || !c || parse_uint(v, vm->vcpus_max ? vm->vcpus_max - 1 : 0, &pin->vcpu) < 0 ||
		    disc_cpuset_parse(c, &pin->cpus) < 0)
			r = -EINVAL;
		else
			vm->n_pins++;
		free(v);
		free(c);
	}
	xmlXPathFreeObject(pins);
	if (vm->n_pins > 1)
		qsort(vm->pins, vm->n_pins, sizeof(*vm->pins), pin_cmp);
	return r;
}

static int parse_mac(const char *s, char out[18])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return -EINVAL;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return 0;
}

static int parse_iface(xmlXPathContextPtr ctx, xmlNodePtr node, struct disc_iface *ifc)
{
	char *s;
	int r = 0;

	ifc->path = xpath_str(ctx, node, "source/@path");
	if (!ifc->path || !ifc->path[0])
		return -EINVAL;
	s = xpath_str(ctx, node, "source/@mode");
	/* libvirt requires the attribute; treat a missing one like QEMU's default (client). */
	if (!s || strcmp(s, "client") == 0)
		ifc->mode = DISC_IFACE_QEMU_CLIENT;
	else if (strcmp(s, "server") == 0)
		ifc->mode = DISC_IFACE_QEMU_SERVER;
	else
		r = -EINVAL;
	free(s);
	if (r < 0)
		return r;
	s = xpath_str(ctx, node, "mac/@address");
	if (s) {
		r = parse_mac(s, ifc->mac);
		free(s);
		if (r < 0)
			return r;
	}
	ifc->queues = 1;
	s = xpath_str(ctx, node, "driver/@queues");
	if (s) {
		r = parse_uint(s, 1024, &ifc->queues);
		free(s);
		if (r < 0 || ifc->queues == 0)
			return -EINVAL;
	}
	s = xpath_str(ctx, node, "source/reconnect/@enabled");
	ifc->reconnect = s && strcmp(s, "yes") == 0;
	free(s);
	ifc->alias = xpath_str(ctx, node, "alias/@name");
	return 0;
}

static int parse_ifaces(xmlXPathContextPtr ctx, xmlNodePtr root, struct disc_vm *vm)
{
	xmlXPathObjectPtr ifs = xpath_nodes(ctx, root, "devices/interface[@type='vhostuser']");
	int n = ifs && ifs->nodesetval ? ifs->nodesetval->nodeNr : 0;
	int r = 0;

	if (n > 0) {
		vm->ifaces = calloc((size_t)n, sizeof(*vm->ifaces));
		if (!vm->ifaces) {
			xmlXPathFreeObject(ifs);
			return -ENOMEM;
		}
	}
	for (int i = 0; i < n && r == 0; i++) {
		/* count first, so disc_vm_free() also frees a half-parsed entry */
		vm->n_ifaces++;
		r = parse_iface(ctx, ifs->nodesetval->nodeTab[i], &vm->ifaces[i]);
	}
	xmlXPathFreeObject(ifs);
	return r;
}

int disc_vm_parse_xml(const char *xml, struct disc_vm **ret)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx = NULL;
	xmlNodePtr root;
	struct disc_vm *vm = NULL;
	char *s;
	int r = -EINVAL;
	size_t len = strlen(xml);

	if (len > INT_MAX)
		return -EINVAL;
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || xmlStrcmp(root->name, (const xmlChar *)"domain") != 0)
		goto out;
	ctx = xmlXPathNewContext(doc);
	vm = calloc(1, sizeof(*vm));
	if (!ctx || !vm) {
		r = -ENOMEM;
		goto out;
	}
	vm->id = -1;
	vm->name = xpath_str(ctx, root, "name");
	if (!vm->name || !vm->name[0])
		goto out;
	s = xpath_str(ctx, root, "uuid");
	if (!s || parse_uuid(s, vm->uuid) < 0) {
		free(s);
		goto out;
	}
	free(s);
	disc_uuid_format(vm->uuid, vm->uuid_str);
	s = xpath_str(ctx, root, "@id");
	if (s) {
		unsigned int id;

		if (parse_uint(s, INT_MAX, &id) == 0)
			vm->id = (int)id;
		free(s);
	}
	r = parse_vcpus(ctx, root, vm);
	if (r == 0)
		r = parse_ifaces(ctx, root, vm);
out:
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	if (r < 0) {
		disc_vm_free(vm);
		return r;
	}
	*ret = vm;
	return 0;
}
