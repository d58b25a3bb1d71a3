// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the seed corpora: meaningful inputs in each target's input format (see the comment
 * at the top of each fuzz_*.c), such as the message sequence QEMU sends when a virtio-net
 * device starts, and well-formed descriptor chains. Run by scripts/fuzz.sh --seeds; the output
 * is committed under tests/fuzz/corpus/TARGET/seed-*.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/vu_proto.h"
#include "vring/vring.h"

struct w {
	uint8_t b[65536];
	size_t n;
};

static const char *out_root;

static void w8(struct w *w, uint8_t v)
{
	if (w->n >= sizeof(w->b))
		abort();
	w->b[w->n++] = v;
}

static void w16(struct w *w, uint16_t v)
{
	w8(w, (uint8_t)v);
	w8(w, (uint8_t)(v >> 8));
}

static void w32(struct w *w, uint32_t v)
{
	w16(w, (uint16_t)v);
	w16(w, (uint16_t)(v >> 16));
}

static void w64(struct w *w, uint64_t v)
{
	w32(w, (uint32_t)v);
	w32(w, (uint32_t)(v >> 32));
}

static void wbytes(struct w *w, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		w8(w, ((const uint8_t *)p)[i]);
}


static void save(const struct w *w, const char *target, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_root, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/seed-%s", out_root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(w->b, 1, w->n, f) != w->n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- vhost-user messages as a frontend sends them ---- */

struct m {
	uint8_t b[12 + VU_MSG_MAX_PAYLOAD];
	size_t n;
	unsigned int nfds;
};

static struct m msg(uint32_t req, uint32_t flags, const void *payload, uint32_t size, unsigned int nfds)
{
	struct m m = { .nfds = nfds };
	struct vu_msg_hdr h = { req, VHOST_USER_VERSION | flags, size };

	memcpy(m.b, &h, sizeof(h));
	if (payload)
		memcpy(m.b + 12, payload, size);
	m.n = 12 + size;
	return m;
}

static struct m msg_u64(uint32_t req, uint64_t v, unsigned int nfds)
{
	return msg(req, 0, &v, 8, nfds);
}

static struct m msg_state(uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_vring_state s = { index, num };

	return msg(req, 0, &s, sizeof(s), 0);
}

static struct m msg_addr(uint32_t index, uint64_t desc, uint64_t used, uint64_t avail)
{
	struct vu_vring_addr a = { .index = index, .desc_user_addr = desc, .used_user_addr = used,
				   .avail_user_addr = avail };

	return msg(VHOST_USER_SET_VRING_ADDR, 0, &a, sizeof(a), 0);
}

static struct m msg_mem_table(unsigned int n, const struct vu_mem_region *r)
{
	struct vu_mem_table t = { .nregions = n };

	memcpy(t.regions, r, n * sizeof(*r));
	return msg(VHOST_USER_SET_MEM_TABLE, 0, &t, 8 + n * sizeof(*r), n);
}

static struct m msg_mem_single(uint32_t req, const struct vu_mem_region *r, unsigned int nfds)
{
	struct vu_mem_single s = { .region = *r };

	return msg(req, 0, &s, sizeof(s), nfds);
}

/* Guest layout the session seeds use: ring q at 0x1000*q, buffers from 0x10000. */
#define G_QVA 0x7f0000000000ull
#define RING_NUM 64
#define RING_DESC(q) (0x1000ull * (q))
#define RING_AVAIL(q) (0x1000ull * (q) + 0x400)
#define RING_USED(q) (0x1000ull * (q) + 0x800)

/* ---- fuzz_vu_msg ---- */

static void vu_chunk(struct w *w, uint8_t ctl, const void *p, size_t len)
{
	w8(w, ctl);
	w16(w, (uint16_t)len);
	wbytes(w, p, len);
}

static void vu_msg_put(struct w *w, const struct m *m, uint8_t extra)
{
	vu_chunk(w, (uint8_t)(m->nfds | extra), m->b, m->n);
}

static void seeds_vu_msg(void)
{
	struct vu_mem_region r = { 0, 0x40000, G_QVA, 0 };
	struct w w = { .n = 0 };
	struct m m;

	/* The start of a QEMU virtio-net device with one queue pair. */
	m = msg(VHOST_USER_GET_FEATURES, 0, NULL, 0, 0);
	vu_msg_put(&w, &m, 0);
	m = msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0, 0);
	vu_msg_put(&w, &m, 0);
	m = msg_u64(VHOST_USER_SET_PROTOCOL_FEATURES, 0x1801d, 0);
	vu_msg_put(&w, &m, 0);
	m = msg(VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0, 0);
	vu_msg_put(&w, &m, 0);
	m = msg(VHOST_USER_SET_OWNER, 0, NULL, 0, 0);
	vu_msg_put(&w, &m, 0);
	m = msg_u64(VHOST_USER_SET_FEATURES, 0x170208000ull, 0);
	vu_msg_put(&w, &m, 0);
	m = msg_mem_table(1, &r);
	vu_msg_put(&w, &m, 0);
	for (uint32_t q = 0; q < 2; q++) {
		m = msg_state(VHOST_USER_SET_VRING_NUM, q, RING_NUM);
		vu_msg_put(&w, &m, 0);
		m = msg_state(VHOST_USER_SET_VRING_BASE, q, 0);
		vu_msg_put(&w, &m, 0);
		m = msg_addr(q, G_QVA + RING_DESC(q), G_QVA + RING_USED(q), G_QVA + RING_AVAIL(q));
		vu_msg_put(&w, &m, 0);
		m = msg_u64(VHOST_USER_SET_VRING_KICK, q, 1);
		vu_msg_put(&w, &m, 0);
		m = msg_u64(VHOST_USER_SET_VRING_CALL, q, 1);
		vu_msg_put(&w, &m, 0);
		m = msg_state(VHOST_USER_SET_VRING_ENABLE, q, 1);
		vu_msg_put(&w, &m, 0);
	}
	m = msg_state(VHOST_USER_GET_VRING_BASE, 0, 0);
	vu_msg_put(&w, &m, 0);
	save(&w, "fuzz_vu_msg", "qemu-start");

	/* One message in pieces: header split, payload split, fds on the first piece. */
	w.n = 0;
	m = msg_mem_table(1, &r);
	vu_chunk(&w, 1, m.b, 5);
	vu_chunk(&w, 0, m.b + 5, 20);
	vu_chunk(&w, 0, m.b + 25, m.n - 25);
	m = msg_u64(VHOST_USER_SET_VRING_KICK, 1 | VHOST_USER_VRING_NOFD_MASK, 0);
	vu_chunk(&w, 32, m.b, m.n);
	m = msg_u64(VHOST_USER_SET_VRING_CALL, 1, 1);
	vu_msg_put(&w, &m, 0);
	save(&w, "fuzz_vu_msg", "split");

	/* Memory hot-plug with CONFIGURE_MEM_SLOTS, and a reply-ack request. */
	w.n = 0;
	m = msg(VHOST_USER_GET_MAX_MEM_SLOTS, 0, NULL, 0, 0);
	vu_msg_put(&w, &m, 0);
	m = msg_mem_single(VHOST_USER_ADD_MEM_REG, &r, 1);
	vu_msg_put(&w, &m, 0);
	m = msg_mem_single(VHOST_USER_REM_MEM_REG, &r, 0);
	vu_msg_put(&w, &m, 0);
	m = msg_u64(VHOST_USER_SET_STATUS, 0xf, 0);
	m.b[4] |= VHOST_USER_NEED_REPLY_MASK;
	vu_msg_put(&w, &m, 0);
	m = msg_u64(VHOST_USER_NET_SET_MTU, 1500, 0);
	vu_msg_put(&w, &m, 0);
	save(&w, "fuzz_vu_msg", "mem-slots");

	/* Hostile: too many fds, an oversized payload, EOF in the middle of a message. */
	w.n = 0;
	m = msg_u64(VHOST_USER_SET_VRING_KICK, 0, 1);
	vu_chunk(&w, 10, m.b, m.n);
	save(&w, "fuzz_vu_msg", "too-many-fds");
	w.n = 0;
	m = msg(VHOST_USER_SET_CONFIG, 0, NULL, 0, 0);
	((struct vu_msg_hdr *)m.b)->size = 4096;
	vu_chunk(&w, 0, m.b, 12);
	save(&w, "fuzz_vu_msg", "oversized");
	w.n = 0;
	m = msg_mem_table(1, &r);
	vu_chunk(&w, 16 | 1, m.b, 30);
	save(&w, "fuzz_vu_msg", "eof-mid-message");
}

/* ---- fuzz_vring ---- */

struct vring_seed {
	struct w w;
	uint8_t flags;
};

static void vr_region(struct w *w, uint8_t file, uint64_t gpa, uint64_t size, uint64_t qva, uint64_t off)
{
	w8(w, file);
	w64(w, gpa);
	w64(w, size);
	w64(w, qva);
	w64(w, off);
}

static void vr_write(struct w *w, uint8_t file, uint16_t off, const void *p, uint8_t len)
{
	w8(w, file);
	w16(w, off);
	w8(w, len);
	wbytes(w, p, len);
}

static void vr_desc(struct w *w, uint8_t file, uint16_t table_off, uint16_t i, uint64_t addr,
		    uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = { addr, len, flags, next };

	vr_write(w, file, (uint16_t)(table_off + 16 * i), &d, sizeof(d));
}

static void vr_avail(struct w *w, uint8_t file, uint16_t avail_off, uint16_t idx, const uint16_t *heads,
		     unsigned int n, uint16_t first)
{
	for (unsigned int i = 0; i < n; i++)
		vr_write(w, file, (uint16_t)(avail_off + 4 + 2 * ((first + i) % 16)), &heads[i], 2);
	vr_write(w, file, (uint16_t)(avail_off + 2), &idx, 2);
}

/*
 * Standard layout: file 0 (64 KiB) as two regions, gpa 0x0 (32 KiB) and gpa 0x8000 (32 KiB,
 * adjacent, so buffers may span them), ring of 16 at qva 0x7f0000000000.
 */
static void vr_header(struct w *w, uint8_t flags, uint16_t base, uint8_t npops)
{
	w8(w, flags);
	w8(w, 1);   /* two regions */
	vr_region(w, 0, 0x0, 0x8000, G_QVA, 0);
	vr_region(w, 0, 0x8000, 0x8000, G_QVA + 0x8000, 0x8000);
	w16(w, 16);
	w64(w, G_QVA + 0x0);
	w64(w, G_QVA + 0x100);
	w64(w, G_QVA + 0x200);
	w16(w, base);
	w8(w, npops);
}

static void seeds_vring(void)
{
	struct w w = { .n = 0 };
	uint16_t heads[4] = { 0, 2, 5, 9 };

	/* TX: a 2-descriptor chain, a single one, a chain across the region boundary. */
	vr_header(&w, 0, 0, 8);
	vr_desc(&w, 0, 0, 0, 0x1000, 12, VRING_DESC_F_NEXT, 1);
	vr_desc(&w, 0, 0, 1, 0x1100, 1500, 0, 0);
	vr_desc(&w, 0, 0, 2, 0x2000, 64, 0, 0);
	vr_desc(&w, 0, 0, 5, 0x7f00, 0x200, 0, 0);
	vr_avail(&w, 0, 0x100, 3, heads, 3, 0);
	heads[1] = 5;
	save(&w, "fuzz_vring", "tx-chains");

	/* RX with indirect tables and event idx; the guest's index wraps past 65535. */
	w.n = 0;
	vr_header(&w, 1 | 2 | 4, 65534, 4);
	vr_desc(&w, 0, 0, 0, 0x3000, 48, VRING_DESC_F_INDIRECT, 0);
	vr_desc(&w, 0, 0x3000, 0, 0x4000, 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	vr_desc(&w, 0, 0x3000, 1, 0x4100, 1514, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	vr_desc(&w, 0, 0x3000, 2, 0x9000, 2048, VRING_DESC_F_WRITE, 0);
	vr_desc(&w, 0, 0, 2, 0x5000, 4096, VRING_DESC_F_WRITE, 0);
	heads[0] = 0;
	heads[1] = 2;
	vr_avail(&w, 0, 0x100, 0, heads, 2, 65534);
	{
		uint16_t used_event = 65535;

		vr_write(&w, 0, 0x100 + 4 + 2 * 16, &used_event, 2);
	}
	save(&w, "fuzz_vring", "rx-indirect-wrap");

	/* Hostile: a loop, an index that jumps ahead, nested indirect. */
	w.n = 0;
	vr_header(&w, 0, 0, 4);
	vr_desc(&w, 0, 0, 0, 0x1000, 100, VRING_DESC_F_NEXT, 1);
	vr_desc(&w, 0, 0, 1, 0x1000, 100, VRING_DESC_F_NEXT, 0);
	heads[0] = 0;
	vr_avail(&w, 0, 0x100, 1, heads, 1, 0);
	save(&w, "fuzz_vring", "loop");
	w.n = 0;
	vr_header(&w, 2, 0, 4);
	vr_desc(&w, 0, 0, 0, 0x3000, 32, VRING_DESC_F_INDIRECT, 0);
	vr_desc(&w, 0, 0x3000, 0, 0x3000, 32, VRING_DESC_F_INDIRECT, 0);
	vr_avail(&w, 0, 0x100, 1, heads, 1, 0);
	save(&w, "fuzz_vring", "nested-indirect");

	/* A ring in a second file mapped at an offset, as QEMU does for memory above 4 GiB. */
	w.n = 0;
	w8(&w, 0);
	w8(&w, 1);
	vr_region(&w, 0, 0x0, 0x10000, G_QVA, 0);
	vr_region(&w, 1, 0x100000000ull, 0x2000, G_QVA + 0x100000000ull, 0x1000);
	w16(&w, 8);
	w64(&w, G_QVA + 0x100000000ull);
	w64(&w, G_QVA + 0x100000100ull);
	w64(&w, G_QVA + 0x100000200ull);
	w16(&w, 0);
	w8(&w, 2);
	vr_desc(&w, 1, 0x1000, 0, 0x100000400ull, 60, 0, 0);
	heads[0] = 0;
	vr_avail(&w, 1, 0x1100, 1, heads, 1, 0);
	save(&w, "fuzz_vring", "high-region");
}

/* ---- fuzz_forward ---- */

/* A virtio-net header (12 or 10 bytes) and an Ethernet frame; IPv4 TCP/UDP when proto != 0. */
static size_t frame(uint8_t *b, unsigned int hdr_len, uint64_t dst, uint64_t src, uint16_t vlan,
		    uint8_t proto, uint32_t saddr, uint16_t sport, uint16_t dport, size_t payload)
{
	size_t n = hdr_len;

	memset(b, 0, hdr_len);
	for (int i = 5; i >= 0; i--)
		b[n++] = (uint8_t)(dst >> (8 * i));
	for (int i = 5; i >= 0; i--)
		b[n++] = (uint8_t)(src >> (8 * i));
	if (vlan) {
		b[n++] = 0x81;
		b[n++] = 0x00;
		b[n++] = (uint8_t)(vlan >> 8);
		b[n++] = (uint8_t)vlan;
	}
	if (!proto) {
		/* ARP request */
		static const uint8_t arp[] = { 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1 };

		memcpy(b + n, arp, sizeof(arp));
		n += sizeof(arp);
		memset(b + n, 0, 18);
		return n + 18;
	}
	b[n++] = 0x08;
	b[n++] = 0x00;
	{
		uint8_t ip[20] = { 0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto };
		uint16_t tot = (uint16_t)(20 + 8 + payload);

		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		memcpy(ip + 12, &saddr, 4);
		ip[16] = 10;
		ip[19] = 2;
		memcpy(b + n, ip, 20);
		n += 20;
	}
	b[n++] = (uint8_t)(sport >> 8);
	b[n++] = (uint8_t)sport;
	b[n++] = (uint8_t)(dport >> 8);
	b[n++] = (uint8_t)dport;
	memset(b + n, 0, 4);
	n += 4;
	for (size_t i = 0; i < payload; i++)
		b[n++] = (uint8_t)i;
	return n;
}

static void fw_frame(struct w *w, uint8_t nsplit, const uint8_t *b, size_t len)
{
	w8(w, nsplit);
	w16(w, (uint16_t)len);
	wbytes(w, b, len);
}

static void fw_rx(struct w *w, uint8_t nbufs, uint16_t bufsize, uint8_t nsplit)
{
	w8(w, nbufs);
	w8(w, nsplit);
	w16(w, bufsize);
}

#define MAC_D1 0x020000000001ull
#define MAC_D2 0x020000000002ull
#define MAC_SRC 0x020000000010ull
#define MAC_BCAST 0xffffffffffffull

static void seeds_forward(void)
{
	struct w w = { .n = 0 };
	uint8_t b[2048];
	size_t n;

	/* Unicast to d1, broadcast ARP, VLAN-tagged unicast to d2, unknown unicast (flooded). */
	w8(&w, 0);
	w8(&w, 0);
	w8(&w, 1);
	w8(&w, 1);
	w8(&w, 0);
	w8(&w, 4);
	n = frame(b, 12, MAC_D1, MAC_SRC, 0, 17, 0x0100000a, 5000, 53, 64);
	fw_frame(&w, 0, b, n);
	n = frame(b, 12, MAC_BCAST, MAC_SRC, 0, 0, 0, 0, 0, 0);
	fw_frame(&w, 1, b, n);
	n = frame(b, 12, MAC_D2, MAC_SRC, 100, 6, 0x0100000a, 40000, 80, 200);
	fw_frame(&w, 2, b, n);
	n = frame(b, 12, 0x020000000099ull, MAC_SRC, 0, 17, 0x0100000a, 1, 2, 10);
	fw_frame(&w, 0, b, n);
	fw_rx(&w, 8, 2048, 0);
	fw_rx(&w, 8, 2048, 1);
	save(&w, "fuzz_forward", "switch");

	/* Many TCP flows to multi-queue receivers: flow hash, steering, MRG_RXBUF across buffers. */
	w.n = 0;
	w8(&w, 2 | 8);
	w8(&w, 0);
	w8(&w, 0xf);
	w8(&w, 0x3);
	w8(&w, 4);
	for (uint8_t i = 0; i < 4; i++) {
		w8(&w, (uint8_t)(i * 32));
		w8(&w, i == 3 ? 7 : i);   /* queue 7 is not ready: falls back by hash */
	}
	w8(&w, 12);
	for (uint16_t i = 0; i < 12; i++) {
		n = frame(b, 12, i % 3 ? MAC_D1 : MAC_D2, MAC_SRC, 0, 6, 0x0100000a + i, (uint16_t)(1000 + i),
			  443, i % 2 ? 1000 : 64);
		fw_frame(&w, (uint8_t)(i % 4), b, n);
	}
	fw_rx(&w, 16, 256, 1);
	fw_rx(&w, 4, 1600, 0);
	save(&w, "fuzz_forward", "multiqueue-mrg");

	/* Bad frames: a checksum request, a runt, one over the MTU, a legacy 10-byte header. */
	w.n = 0;
	w8(&w, 1 | 32);
	w8(&w, 1);   /* max frame 124 */
	w8(&w, 1);
	w8(&w, 0);
	w8(&w, 0);
	w8(&w, 4);
	n = frame(b, 10, MAC_D1, MAC_SRC, 0, 17, 0x0100000a, 1, 2, 10);
	b[0] = 1;
	fw_frame(&w, 0, b, n);
	fw_frame(&w, 0, b, 16);
	n = frame(b, 10, MAC_D1, MAC_SRC, 0, 17, 0x0100000a, 1, 2, 400);
	fw_frame(&w, 1, b, n);
	n = frame(b, 10, MAC_D1, MAC_SRC, 0, 17, 0x0100000a, 1, 2, 40);
	fw_frame(&w, 0, b, n);
	fw_rx(&w, 2, 60, 0);
	fw_rx(&w, 0, 0, 0);
	save(&w, "fuzz_forward", "malformed");

	/* More frames than one burst, receivers with too few buffers. */
	w.n = 0;
	w8(&w, 128);
	w8(&w, 0);
	w8(&w, 1);
	w8(&w, 2);
	w8(&w, 0);
	w8(&w, 40);
	for (uint16_t i = 0; i < 40; i++) {
		n = frame(b, 12, i % 2 ? MAC_D1 : MAC_BCAST, MAC_SRC + i, 0, 17, 0x0100000a, i, 7, 20);
		fw_frame(&w, 0, b, n);
	}
	fw_rx(&w, 20, 128, 0);
	fw_rx(&w, 20, 128, 0);
	save(&w, "fuzz_forward", "two-bursts");
}

/* ---- fuzz_ctl ---- */

static void ctl_seed(const char *name, const char *text)
{
	struct w w = { .n = 0 };

	wbytes(&w, text, strlen(text));
	save(&w, "fuzz_ctl", name);
}

static void seeds_ctl(void)
{
	ctl_seed("read-only",
		 "{\"cmd\":\"status\"}\n{\"cmd\":\"port-list\"}\n{\"cmd\":\"stats\"}\n"
		 "{\"cmd\":\"fdb\"}\n{\"cmd\":\"workers\"}\n{\"cmd\":\"placement\"}\n");
	ctl_seed("port-lifecycle",
		 "{\"cmd\":\"port-add\",\"name\":\"vm1\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"vm2\",\"queues\":4,\"perm\":\"0600\"}\n"
		 "{\"cmd\":\"port-list\"}\n{\"cmd\":\"stats\",\"name\":\"vm1\"}\n"
		 "{\"cmd\":\"status\"}\n{\"cmd\":\"port-del\",\"name\":\"vm1\"}\n"
		 "{\"cmd\":\"port-list\"}\n");
	ctl_seed("client-mode",
		 "{\"cmd\":\"port-add\",\"name\":\"srv\",\"path\":\"@@/srv.sock\",\"mode\":\"server\","
		 "\"group\":\"root\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"cli\",\"path\":\"@@/srv.sock\",\"mode\":\"client\","
		 "\"queues\":16}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"cli2\",\"path\":\"@@/none.sock\",\"mode\":\"client\"}\n"
		 "{\"cmd\":\"stats\"}\n{\"cmd\":\"port-list\"}\n{\"cmd\":\"placement\"}\n");
	ctl_seed("reload-vf",
		 "{\"cmd\":\"reload\"}\n{\"cmd\":\"vf-list\"}\n{\"cmd\":\"vf-list\",\"pf\":\"eth0\"}\n"
		 "{\"cmd\":\"vf-irq\",\"dev\":\"lo\"}\n{\"cmd\":\"vf-irq\"}\n");
	ctl_seed("errors",
		 "{\"cmd\":\"nope\"}\n{}\n[1,2]\nnot json\n{\"cmd\":7}\n"
		 "{\"cmd\":\"port-add\"}\n{\"cmd\":\"port-add\",\"name\":\"a b\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"queues\":\"4\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"queues\":0}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"queues\":17}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"perm\":\"999\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"mode\":\"both\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"q\",\"group\":\"no-such-group\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"dup\"}\n{\"cmd\":\"port-add\",\"name\":\"dup\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"dup2\",\"path\":\"@@/dup.sock\"}\n"
		 "{\"cmd\":\"port-del\",\"name\":\"ghost\"}\n{\"cmd\":\"stats\",\"name\":\"ghost\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"0123456789012345678901234567890123456789012345678901234567890123\"}\n"
		 "{\"cmd\":\"port-add\",\"name\":\"x\",\"name\":\"y\",\"path\":\"@@/\\u0000z\"}\n"
		 "{\"cmd\":\"status\",\"extra\":{\"a\":[1,2.5e300,-9223372036854775809,null,true]}}\n"
		 "{\"cmd\":\"status\"");
}

/* ---- fuzz_session ---- */

enum { FD_MEM256 = 0, FD_MEM64 = 1, FD_MEM_EMPTY = 2, FD_EV1 = 3, FD_EV2 = 4, FD_PIPE = 5 };

static void s_msg(struct w *w, unsigned int port, const struct m *m, const uint8_t *fds)
{
	w8(w, 0);
	w8(w, (uint8_t)(port | m->nfds << 1));
	wbytes(w, m->b, 1);            /* request (low byte) */
	w8(w, m->b[4]);                /* flags */
	wbytes(w, m->b + 8, 2);        /* size */
	wbytes(w, m->b + 12, m->n - 12);
	for (unsigned int i = 0; i < m->nfds; i++)
		w8(w, fds[i]);
}

static void s_mem(struct w *w, unsigned int file, uint32_t off, const void *p, size_t len)
{
	for (size_t done = 0; done < len;) {
		size_t n = len - done > 255 ? 255 : len - done;

		w8(w, 2);
		w8(w, (uint8_t)file);
		w32(w, (uint32_t)(off + done));
		w8(w, (uint8_t)n);
		wbytes(w, (const uint8_t *)p + done, n);
		done += n;
	}
}

static void s_op(struct w *w, uint8_t op, unsigned int port)
{
	w8(w, op);
	w8(w, (uint8_t)port);
}

/* The start of a QEMU virtio-net device with one queue pair on memory file @file. */
static void s_qemu_start(struct w *w, unsigned int port, unsigned int file, uint64_t mem_size)
{
	struct vu_mem_region r = { 0, mem_size, G_QVA, 0 };
	uint8_t memfd = (uint8_t)file, ev[2] = { FD_EV1, FD_EV2 };
	struct m m;

	m = msg(VHOST_USER_GET_FEATURES, 0, NULL, 0, 0);
	s_msg(w, port, &m, NULL);
	m = msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0, 0);
	s_msg(w, port, &m, NULL);
	m = msg_u64(VHOST_USER_SET_PROTOCOL_FEATURES, 0x1801d, 0);
	s_msg(w, port, &m, NULL);
	m = msg(VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0, 0);
	s_msg(w, port, &m, NULL);
	m = msg(VHOST_USER_GET_MAX_MEM_SLOTS, 0, NULL, 0, 0);
	s_msg(w, port, &m, NULL);
	m = msg(VHOST_USER_SET_OWNER, 0, NULL, 0, 0);
	s_msg(w, port, &m, NULL);
	m = msg_u64(VHOST_USER_NET_SET_MTU, 1500, 0);
	m.b[4] |= VHOST_USER_NEED_REPLY_MASK;
	s_msg(w, port, &m, NULL);
	m = msg_u64(VHOST_USER_SET_FEATURES,
		    BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
		    BIT_ULL(VIRTIO_RING_F_EVENT_IDX) | BIT_ULL(VIRTIO_RING_F_INDIRECT_DESC) |
		    BIT_ULL(VIRTIO_NET_F_MQ) | BIT_ULL(VHOST_USER_F_PROTOCOL_FEATURES), 0);
	s_msg(w, port, &m, NULL);
	m = msg_mem_table(1, &r);
	m.b[4] |= VHOST_USER_NEED_REPLY_MASK;
	s_msg(w, port, &m, &memfd);
	for (uint32_t q = 0; q < 2; q++) {
		m = msg_state(VHOST_USER_SET_VRING_NUM, q, RING_NUM);
		s_msg(w, port, &m, NULL);
		m = msg_state(VHOST_USER_SET_VRING_BASE, q, 0);
		s_msg(w, port, &m, NULL);
		m = msg_addr(q, G_QVA + RING_DESC(q), G_QVA + RING_USED(q), G_QVA + RING_AVAIL(q));
		s_msg(w, port, &m, NULL);
		m = msg_u64(VHOST_USER_SET_VRING_KICK, q, 1);
		s_msg(w, port, &m, &ev[0]);
		m = msg_u64(VHOST_USER_SET_VRING_CALL, q, 1);
		s_msg(w, port, &m, &ev[1]);
		m = msg_state(VHOST_USER_SET_VRING_ENABLE, q, 1);
		s_msg(w, port, &m, NULL);
	}
	m = msg_u64(VHOST_USER_SET_STATUS, 0xf, 0);
	s_msg(w, port, &m, NULL);
}

/* The guest posts @n RX buffers of @len bytes at gpa @buf on ring 0 (starting at avail @first). */
static void s_rx_buffers(struct w *w, unsigned int file, unsigned int n, uint32_t buf, uint32_t len)
{
	for (uint16_t i = 0; i < n; i++) {
		struct vring_desc d = { buf + i * len, len, VRING_DESC_F_WRITE, 0 };

		s_mem(w, file, (uint32_t)RING_DESC(0) + 16 * i, &d, sizeof(d));
		s_mem(w, file, (uint32_t)RING_AVAIL(0) + 4 + 2 * i, &i, 2);
	}
	{
		uint16_t idx = (uint16_t)n;

		s_mem(w, file, (uint32_t)RING_AVAIL(0) + 2, &idx, 2);
	}
}

/* The guest sends one frame on TX ring 1: descriptor @slot, buffer at gpa @buf. */
static void s_tx_frame(struct w *w, unsigned int file, uint16_t slot, uint16_t avail_idx, uint32_t buf,
		       const uint8_t *f, size_t len)
{
	struct vring_desc d = { buf, (uint32_t)len, 0, 0 };
	uint16_t idx = (uint16_t)(avail_idx + 1);

	s_mem(w, file, buf, f, len);
	s_mem(w, file, (uint32_t)RING_DESC(1) + 16 * slot, &d, sizeof(d));
	s_mem(w, file, (uint32_t)RING_AVAIL(1) + 4 + 2 * (avail_idx % RING_NUM), &slot, 2);
	s_mem(w, file, (uint32_t)RING_AVAIL(1) + 2, &idx, 2);
}

static void seeds_session(void)
{
	struct w w = { .n = 0 };
	uint8_t f[2048];
	size_t n;
	struct m m;

	/* Two QEMU guests start; guest a sends a frame and a RARP announce to guest b. */
	w8(&w, 0x11);
	s_qemu_start(&w, 0, FD_MEM256, 256 * 1024);
	s_qemu_start(&w, 1, FD_MEM64, 64 * 1024);
	s_rx_buffers(&w, 1, 8, 0x4000, 2048);
	n = frame(f, 12, MAC_BCAST, MAC_SRC, 0, 17, 0x0100000a, 68, 67, 100);
	s_tx_frame(&w, 0, 0, 0, 0x20000, f, n);
	s_op(&w, 3, 0);
	n = frame(f, 12, MAC_D1, MAC_SRC, 0, 6, 0x0100000a, 1234, 80, 40);
	s_tx_frame(&w, 0, 1, 1, 0x20800, f, n);
	s_op(&w, 3, 0);
	{
		uint8_t mac[8] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0 };

		m = msg(VHOST_USER_SEND_RARP, 0, mac, 8, 0);
		s_msg(&w, 0, &m, NULL);
	}
	m = msg_state(VHOST_USER_GET_VRING_BASE, 1, 0);
	s_msg(&w, 0, &m, NULL);
	m = msg_state(VHOST_USER_GET_VRING_BASE, 0, 0);
	s_msg(&w, 1, &m, NULL);
	s_op(&w, 5, 0);
	save(&w, "fuzz_session", "qemu-two-guests");

	/* Reconfiguration while running: new memory table, hot-plug, feature change, reset. */
	w.n = 0;
	w8(&w, 0x33);
	s_qemu_start(&w, 0, FD_MEM256, 256 * 1024);
	{
		struct vu_mem_region r2[2] = { { 0, 0x20000, G_QVA, 0 },
					       { 0x100000, 0x20000, G_QVA + 0x100000, 0x20000 } };
		struct vu_mem_region hot = { 0x200000, 0x10000, G_QVA + 0x200000, 0 };
		uint8_t fds2[2] = { FD_MEM256, FD_MEM256 }, fd64 = FD_MEM64, ev = FD_EV1;

		m = msg_mem_table(2, r2);
		s_msg(&w, 0, &m, fds2);
		m = msg_mem_single(VHOST_USER_ADD_MEM_REG, &hot, 1);
		m.b[4] |= VHOST_USER_NEED_REPLY_MASK;
		s_msg(&w, 0, &m, &fd64);
		s_op(&w, 3, 0);
		m = msg_mem_single(VHOST_USER_REM_MEM_REG, &hot, 0);
		s_msg(&w, 0, &m, NULL);
		m = msg_state(VHOST_USER_SET_VRING_ENABLE, 1, 0);
		s_msg(&w, 0, &m, NULL);
		m = msg_u64(VHOST_USER_SET_FEATURES, BIT_ULL(VIRTIO_F_VERSION_1), 0);
		s_msg(&w, 0, &m, NULL);
		m = msg(VHOST_USER_GET_STATUS, 0, NULL, 0, 0);
		s_msg(&w, 0, &m, NULL);
		m = msg_u64(VHOST_USER_SET_LOG_FD, 0, 1);
		m.b[4] |= VHOST_USER_NEED_REPLY_MASK;
		s_msg(&w, 0, &m, &ev);
		m = msg(VHOST_USER_GET_CONFIG, 0, f, 12, 0);
		s_msg(&w, 0, &m, NULL);
		m = msg(VHOST_USER_RESET_OWNER, 0, NULL, 0, 0);
		s_msg(&w, 0, &m, NULL);
		s_op(&w, 4, 0);
		s_qemu_start(&w, 0, FD_MEM64, 64 * 1024);
		m = msg(VHOST_USER_RESET_DEVICE, 0, NULL, 0, 0);
		s_msg(&w, 0, &m, NULL);
	}
	save(&w, "fuzz_session", "reconfigure");

	/* Live migration: dirty-page logging on while guest a sends to guest b. */
	w.n = 0;
	w8(&w, 0x00);
	s_qemu_start(&w, 0, FD_MEM256, 256 * 1024);
	s_qemu_start(&w, 1, FD_MEM64, 64 * 1024);
	{
		struct vu_log lg = { 4096, 0x8000 };
		uint8_t fd64 = FD_MEM64;

		m = msg_u64(VHOST_USER_SET_PROTOCOL_FEATURES, 0x1801d | BIT_ULL(VHOST_USER_PROTOCOL_F_LOG_SHMFD), 0);
		s_msg(&w, 1, &m, NULL);
		m = msg_u64(VHOST_USER_SET_FEATURES,
			    BIT_ULL(VIRTIO_F_VERSION_1) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) |
			    BIT_ULL(VHOST_USER_F_PROTOCOL_FEATURES) | BIT_ULL(VHOST_F_LOG_ALL), 0);
		s_msg(&w, 1, &m, NULL);
		m = msg(VHOST_USER_SET_LOG_BASE, VHOST_USER_NEED_REPLY_MASK, &lg, sizeof(lg), 1);
		s_msg(&w, 1, &m, &fd64);
		s_rx_buffers(&w, 1, 4, 0x4000, 1024);
		n = frame(f, 12, MAC_BCAST, MAC_SRC, 0, 17, 0x0100000a, 68, 67, 1400);
		s_tx_frame(&w, 0, 0, 0, 0x20000, f, n);
		s_op(&w, 3, 0);
		m = msg_state(VHOST_USER_GET_VRING_BASE, 0, 0);
		s_msg(&w, 1, &m, NULL);
	}
	save(&w, "fuzz_session", "migration-log");

	/* Hostile frontends: wrong fds, rings outside memory, a TX descriptor loop. */
	w.n = 0;
	w8(&w, 0x00);
	{
		struct vu_mem_region r = { 0, 0x10000, G_QVA, 0 };
		uint8_t bad = FD_PIPE, empty = FD_MEM_EMPTY;
		struct vring_desc loop = { 0x8000, 64, VRING_DESC_F_NEXT, 0 };
		uint16_t one = 1, zero = 0;

		m = msg_mem_table(1, &r);
		s_msg(&w, 1, &m, &bad);
		m = msg_mem_table(1, &r);
		s_msg(&w, 1, &m, &empty);
		m = msg_u64(VHOST_USER_SET_VRING_KICK, 1, 1);
		s_msg(&w, 1, &m, &bad);
		m = msg_state(VHOST_USER_SET_VRING_NUM, 1, 100);
		s_msg(&w, 1, &m, NULL);
		m = msg_addr(3, G_QVA + 0x100000, G_QVA, G_QVA);
		s_msg(&w, 1, &m, NULL);
		s_qemu_start(&w, 0, FD_MEM64, 64 * 1024);
		s_mem(&w, 1, (uint32_t)RING_DESC(1), &loop, sizeof(loop));
		s_mem(&w, 1, (uint32_t)RING_AVAIL(1) + 4, &zero, 2);
		s_mem(&w, 1, (uint32_t)RING_AVAIL(1) + 2, &one, 2);
		s_op(&w, 3, 0);
		s_qemu_start(&w, 0, FD_MEM64, 64 * 1024);
		m = msg_addr(1, G_QVA + 0xfff0, G_QVA + RING_USED(1), G_QVA + RING_AVAIL(1));
		s_msg(&w, 0, &m, NULL);
	}
	save(&w, "fuzz_session", "hostile");
}

/* ---- frame heads for the load balancer (fuzz_pkt) ---- */

static uint16_t csum_fold(uint64_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint64_t csum_add(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint64_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		s += (uint64_t)p[len - 1] << 8;
	return s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/*
 * An Ethernet (+ VLAN) / IPv4 / TCP or UDP frame with correct checksums; addresses in host
 * order. @frag: the IPv4 fragment field. Return: length.
 */
static size_t lb_frame(uint8_t *b, uint64_t dmac, uint64_t smac, uint16_t vlan, uint8_t proto,
		       uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport, uint8_t flags,
		       size_t payload, uint16_t frag)
{
	size_t l3 = vlan ? 18 : 14, l4 = l3 + 20, hl = proto == 6 ? 20 : 8, tot = 20 + hl + payload;

	memset(b, 0, l4 + hl + payload);
	for (int i = 0; i < 6; i++) {
		b[i] = (uint8_t)(dmac >> (40 - 8 * i));
		b[6 + i] = (uint8_t)(smac >> (40 - 8 * i));
	}
	if (vlan) {
		put16(b + 12, 0x8100);
		put16(b + 14, vlan);
	}
	put16(b + l3 - 2, 0x0800);
	b[l3] = 0x45;
	put16(b + l3 + 2, (uint16_t)tot);
	put16(b + l3 + 6, frag);
	b[l3 + 8] = 64;
	b[l3 + 9] = proto;
	put32(b + l3 + 12, saddr);
	put32(b + l3 + 16, daddr);
	put16(b + l3 + 10, csum_fold(csum_add(b + l3, 20)));
	put16(b + l4, sport);
	put16(b + l4 + 2, dport);
	if (proto == 6) {
		b[l4 + 12] = 5 << 4;
		b[l4 + 13] = flags;
	} else {
		put16(b + l4 + 4, (uint16_t)(hl + payload));
	}
	for (size_t i = 0; i < payload; i++)
		b[l4 + hl + i] = (uint8_t)(i * 7 + 1);
	{
		uint64_t sum = csum_add(b + l3 + 12, 8) + proto + hl + payload + csum_add(b + l4, hl + payload);
		uint16_t c = csum_fold(sum);

		put16(b + l4 + (proto == 6 ? 16 : 6), proto == 17 && !c ? 0xffff : c);
	}
	return l4 + hl + payload;
}

/* One fuzz_pkt record: @op, the first @head bytes of @f (frame @len bytes long). */
static void pkt_rec(struct w *w, uint8_t op, const uint8_t *f, size_t len, size_t head)
{
	if (head > len)
		head = len;
	w8(w, op);
	w8(w, (uint8_t)head);
	w16(w, (uint16_t)(len - head));
	wbytes(w, f, head);
	if (!(op & 3)) {
		static const uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0x77 };

		wbytes(w, mac, 6);
		w32(w, 0x0a000b0b);
		w16(w, 4242);
	}
}

/* An ARP request (RFC 826) from CMAC/@spa for @tpa. Return: length. */
static size_t arp_req(uint8_t *b, uint32_t spa, uint32_t tpa)
{
	static const uint8_t hdr[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0, 0, 0x32,
				       0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1 };

	memset(b, 0, 60);
	memcpy(b, hdr, sizeof(hdr));
	memcpy(b + 22, hdr + 6, 6);
	put32(b + 28, spa);
	put32(b + 38, tpa);
	return 60;
}

#define VIP1 0x0a000064u
#define VIP2 0x0a000065u
#define CLIENT 0x0a000032u
#define VMAC 0x020000000001ull
#define CMAC 0x525400000032ull

static void seeds_pkt(void)
{
	struct w w = { .n = 0 };
	uint8_t f[2048];
	size_t n;

	/* Direct: TCP, UDP, UDP without checksum, VLAN, fragments, ARP, and a broken IPv4 header. */
	n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, 40000, 80, 0x02, 10, 0);
	pkt_rec(&w, 0, f, n, 98);
	pkt_rec(&w, 4, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 0, 17, CLIENT, VIP1, 5000, 53, 0, 20, 0);
	pkt_rec(&w, 4, f, n, 98);
	f[14 + 20 + 6] = f[14 + 20 + 7] = 0;
	pkt_rec(&w, 0, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 7, 6, CLIENT, VIP2, 1234, 443, 0x10, 30, 0);
	pkt_rec(&w, 4, f, n, 128);
	n = lb_frame(f, VMAC, CMAC, 0, 17, CLIENT, VIP1, 5000, 53, 0, 200, 0x2000);
	pkt_rec(&w, 0, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 0, 17, CLIENT, VIP1, 5000, 53, 0, 200, 0x0010);
	pkt_rec(&w, 0, f, n, 98);
	n = arp_req(f, CLIENT, VIP1);
	pkt_rec(&w, 0, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, 40000, 80, 0x02, 10, 0);
	f[14] = 0x4f;   /* IHL 60 bytes, longer than the frame */
	pkt_rec(&w, 0, f, n, 98);
	save(&w, "fuzz_pkt", "direct");

	/* Through the load balancer: a TCP connection to VIP1 and the backend's replies. */
	w.n = 0;
	n = arp_req(f, CLIENT, VIP1);
	pkt_rec(&w, 1, f, n, 98);
	for (uint16_t i = 0; i < 8; i++) {
		n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, (uint16_t)(40000 + i), 80, 0x02, 0, 0);
		pkt_rec(&w, 1, f, n, 98);
		n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, (uint16_t)(40000 + i), 80, 0x10, 100, 0);
		pkt_rec(&w, 1 | 8, f, n, 98);
	}
	n = lb_frame(f, CMAC, 0x525400000010ull, 0, 6, 0x0a00000b, CLIENT, 8080, 40000, 0x12, 0, 0);
	pkt_rec(&w, 1, f, n, 98);
	n = lb_frame(f, CMAC, 0x525400000011ull, 0, 6, 0x0a00000c, CLIENT, 80, 40001, 0x12, 0, 0);
	pkt_rec(&w, 1, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, 40000, 80, 0x01, 0, 0);
	pkt_rec(&w, 1 | (31 << 3), f, n, 98);
	save(&w, "fuzz_pkt", "tcp-connection");

	/* UDP to the least-load service, WRR over the third, VLAN, fragments, unknown port. */
	w.n = 0;
	for (uint16_t i = 0; i < 6; i++) {
		n = lb_frame(f, VMAC, CMAC, i % 2 ? 5 : 0, 17, CLIENT + i, VIP1, (uint16_t)(6000 + i), 53, 0, 40, 0);
		pkt_rec(&w, 2, f, n, 98);
		n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT + i, VIP2, (uint16_t)(7000 + i), 443, 0x02, 0, 0);
		pkt_rec(&w, 3, f, n, 98);
	}
	n = lb_frame(f, VMAC, CMAC, 0, 17, CLIENT, VIP1, 6000, 53, 0, 400, 0x2000);
	pkt_rec(&w, 2, f, n, 98);
	n = lb_frame(f, VMAC, CMAC, 0, 6, CLIENT, VIP1, 6000, 81, 0x02, 0, 0);
	pkt_rec(&w, 2, f, n, 98);
	n = lb_frame(f, CMAC, 0x525400000015ull, 0, 17, 0x0a000015, CLIENT, 53, 6000, 0, 60, 0);
	pkt_rec(&w, 2, f, n, 98);
	save(&w, "fuzz_pkt", "udp-wrr-vlan");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
		return 2;
	}
	out_root = argv[1];
	seeds_vu_msg();
	seeds_vring();
	seeds_forward();
	seeds_ctl();
	seeds_session();
	seeds_pkt();
	return 0;
}
