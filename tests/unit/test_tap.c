// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The uplink's datapath (uplink/tap.c) over stand-in TAP queues: a SOCK_SEQPACKET socketpair
 * keeps frame boundaries like a TAP fd, so the test writes what the kernel would (header and
 * frame) and reads what the switch writes. Checked: what is refused and under which counter
 * (runts, a bare header, checksum and GSO requests, unknown flags), DATA_VALID accepted and
 * not passed on, one burst per drain, the header written out (all zero) and the frame
 * byte-identical, including a frame spread over several segments with bytes the load
 * balancer rewrote.
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "core/log.h"
#include "dp/dp_internal.h"
#include "uplink/tap.h"

struct stand_in {
	struct dp_port *port;
	struct tap *tap;
	int peer;            /* the kernel's end */
};

static struct dp *dp;
static struct dp_scratch *scratch;

static void stand_in_new(struct stand_in *si, const char *name)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ||
	    tap_adopt(name, &sv[0], 1, true, &si->tap) || dp_port_new(name, &si->port))
		abort();
	si->peer = sv[1];
	tap_port_bind(si->port, si->tap);
	(void)dp_port_attach(dp, si->port);
}

/* What the kernel would hand us: a 12-byte header with @flags / @gso, then @len frame bytes. */
static void kernel_sends(const struct stand_in *si, uint8_t flags, uint8_t gso, size_t len,
			 uint8_t seed)
{
	uint8_t buf[2048] = { 0 };

	buf[0] = flags;
	buf[1] = gso;
	for (size_t i = 0; i < len; i++)
		buf[VIRTIO_NET_HDR_LEN_V1 + i] = (uint8_t)(seed + i);
	if (len >= 12) {
		memset(buf + VIRTIO_NET_HDR_LEN_V1, 0xff, 6);          /* broadcast */
		memcpy(buf + VIRTIO_NET_HDR_LEN_V1 + 6, "\x02\0\0\0\0\x07", 6);
	}
	if (send(si->peer, buf, VIRTIO_NET_HDR_LEN_V1 + len, 0) < 0)
		abort();
}

static unsigned int drain(struct stand_in *si)
{
	unsigned int n;

	rcu_read_lock();
	n = si->port->ops->drain(dp, scratch, si->port, &si->port->vq[1], 1, 1000);
	rcu_read_unlock();
	return n;
}

/* The next frame the switch wrote; its length (header included) or -1. */
static ssize_t kernel_reads(const struct stand_in *si, uint8_t *buf, size_t len)
{
	return recv(si->peer, buf, len, MSG_DONTWAIT);
}

int main(void)
{
	static const uint8_t zero_hdr[VIRTIO_NET_HDR_LEN_V1];
	struct stand_in up, out;
	uint8_t buf[4096];
	unsigned int n, got;
	ssize_t r;

	rcu_register_thread();
	log_max_level = LOG_LVL_ERROR;
	if (dp_new(&dp) || !(scratch = calloc(1, sizeof(*scratch))))
		abort();
	stand_in_new(&up, "up");
	stand_in_new(&out, "out");

	/* 1. What is refused and how it is counted. */
	kernel_sends(&up, 0, 0, 60, 1);          /* fine */
	kernel_sends(&up, 2, 0, 100, 2);         /* DATA_VALID: fine, not passed on */
	kernel_sends(&up, 0, 0, 10, 3);          /* runt */
	kernel_sends(&up, 0, 0, 0, 4);           /* a header alone */
	kernel_sends(&up, 1, 0, 60, 5);          /* NEEDS_CSUM */
	kernel_sends(&up, 0, 1, 60, 6);          /* GSO TCPv4 */
	kernel_sends(&up, 0, 4, 60, 7);          /* GSO TCPv6 */
	kernel_sends(&up, 0x80, 0, 60, 8);       /* a flag nobody defined */
	if (send(up.peer, buf, 0, 0) < 0)        /* nothing at all */
		abort();
	n = drain(&up);
	CHECK(n == 9, "one drain took every queued frame: %u", n);
	CHECK(drain(&up) == 0, "then the queue is empty");
	CHECK(up.port->vq[1].stats.packets == 2, "2 frames switched, counted %llu",
	      (unsigned long long)up.port->vq[1].stats.packets);
	CHECK(up.port->vq[1].stats.bytes == 160, "their bytes without the header: %llu",
	      (unsigned long long)up.port->vq[1].stats.bytes);
	CHECK(up.port->vq[1].stats.drops[DP_DROP_OFFLOAD] == 3, "3 offload requests dropped: %llu",
	      (unsigned long long)up.port->vq[1].stats.drops[DP_DROP_OFFLOAD]);
	CHECK(up.port->vq[1].stats.drops[DP_DROP_MALFORMED] == 4, "4 malformed dropped: %llu",
	      (unsigned long long)up.port->vq[1].stats.drops[DP_DROP_MALFORMED]);
	CHECK(fdb_lookup_rcu(dp->fdb, fdb_mac_from_bytes((const uint8_t *)"\x02\0\0\0\0\x07")) ==
	      up.port, "the sender's MAC is learned on the uplink");

	/* 2. What the other side gets: a zero header, then the frame as it was. */
	got = 0;
	while ((r = kernel_reads(&out, buf, sizeof(buf))) >= 0) {
		size_t len = got == 0 ? 60 : 100;
		uint8_t seed = got == 0 ? 1 : 2;
		bool same = (size_t)r == VIRTIO_NET_HDR_LEN_V1 + len &&
			    memcmp(buf, zero_hdr, sizeof(zero_hdr)) == 0 &&
			    memcmp(buf + VIRTIO_NET_HDR_LEN_V1, "\xff\xff\xff\xff\xff\xff", 6) == 0;

		for (size_t i = 12; same && i < len; i++)
			same = buf[VIRTIO_NET_HDR_LEN_V1 + i] == (uint8_t)(seed + i);
		CHECK(same, "flooded frame %u arrived with a zero header, intact (%zd bytes)", got, r);
		got++;
	}
	CHECK(got == 2, "the other port got %u frames, want 2", got);
	CHECK(out.port->vq[0].stats.packets == 2 && out.port->vq[0].stats.bytes == 160,
	      "its output counters: %llu frames %llu bytes",
	      (unsigned long long)out.port->vq[0].stats.packets,
	      (unsigned long long)out.port->vq[0].stats.bytes);

	/* 3. Bounded work: a drain takes one burst, the rest waits for the next. */
	for (unsigned int i = 0; i < DP_BURST + 8; i++)
		kernel_sends(&up, 0, 0, 64, (uint8_t)i);
	n = drain(&up);
	CHECK(n == DP_BURST, "first drain: %u frames, one burst is %u", n, DP_BURST);
	n = drain(&up);
	CHECK(n == 8, "second drain: the 8 left: %u", n);
	while (kernel_reads(&out, buf, sizeof(buf)) >= 0)
		;

	/* 4. Output from a chain of several segments, with bytes the load balancer rewrote. */
	{
		uint8_t a[20], b[7], c[100], want[VIRTIO_NET_HDR_LEN_V1 + 115];
		uint8_t idx = 0;
		struct dp_pkt *p = &scratch->pkts[0];
		struct vring_chain *ch = &scratch->tx[0];

		for (unsigned int i = 0; i < sizeof(a); i++)
			a[i] = (uint8_t)(0x10 + i);
		for (unsigned int i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)(0x40 + i);
		for (unsigned int i = 0; i < sizeof(c); i++)
			c[i] = (uint8_t)(0x80 + i);
		ch->nsegs = 3;
		ch->len = sizeof(a) + sizeof(b) + sizeof(c);
		ch->seg[0] = (struct vring_seg){ .hva = a, .len = sizeof(a) };
		ch->seg[1] = (struct vring_seg){ .hva = b, .len = sizeof(b) };
		ch->seg[2] = (struct vring_seg){ .hva = c, .len = sizeof(c) };
		/* The frame starts after the sender's 12-byte header, inside segment 0. */
		p->frame_off = 12;
		p->frame_len = ch->len - 12;
		p->lb_dirty = 10;
		memcpy(p->head, "REWRITTEN!", 10);
		memset(want, 0, sizeof(want));
		memcpy(want + 12, "REWRITTEN!", 10);
		/* Bytes 22.. of the chain: a[22..20) is empty, so b[2..7) then c. */
		memcpy(want + 22, b + 2, 5);
		memcpy(want + 27, c, sizeof(c));
		rcu_read_lock();
		out.port->ops->deliver(dp, scratch, out.port, &idx, 1);
		rcu_read_unlock();
		r = kernel_reads(&out, buf, sizeof(buf));
		CHECK(r == (ssize_t)(12 + p->frame_len) && memcmp(buf, want, (size_t)r) == 0,
		      "a 3-segment frame with 10 rewritten bytes arrives as sent (%zd bytes)", r);
	}

	/* 5. A peer that is gone: counted, nothing crashes. */
	{
		uint64_t before = 0, after = 0;
		uint8_t idx = 0;

		for (unsigned int d = 0; d < DP_DROP__MAX; d++)
			before += out.port->vq[0].stats.drops[d];
		close(out.peer);
		/* A socket says EPIPE with a signal; a TAP never does, and the daemon blocks it. */
		signal(SIGPIPE, SIG_IGN);
		rcu_read_lock();
		out.port->ops->deliver(dp, scratch, out.port, &idx, 1);
		rcu_read_unlock();
		for (unsigned int d = 0; d < DP_DROP__MAX; d++)
			after += out.port->vq[0].stats.drops[d];
		CHECK(after == before + 1, "a refused write is a counted drop (%llu -> %llu)",
		      (unsigned long long)before, (unsigned long long)after);
	}

	dp_port_detach(dp, up.port);
	dp_port_detach(dp, out.port);
	tap_free(up.tap);
	tap_free(out.tap);
	close(up.peer);
	free(up.port);
	free(out.port);
	free(scratch);
	dp_free(dp);
	rcu_unregister_thread();
	return check_done();
}
