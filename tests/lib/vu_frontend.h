/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vu_frontend: the project's own vhost-user frontend ("QEMU's role") for tests and benchmarks.
 *
 * Written from the vhost-user spec (QEMU docs/interop/vhost-user.rst) and the virtio 1.2 spec,
 * section 2.7 (split virtqueues) and 5.1 (network device). Three layers, each usable alone:
 *
 *   vu_conn  one unix-socket connection: send any message (or any bytes, with any fds), read
 *            replies. Nothing is validated on the way out, so hostile tests can send anything.
 *   vu_mem   guest memory: one or several memfd regions, each with a guest physical address
 *            (gpa) and a made-up frontend user address (qva) that differs from both the gpa and
 *            our own mapping (hva), so a backend that mixes the address spaces gets caught.
 *   vu_vq    the driver side of one split virtqueue laid out in that memory; raw descriptor and
 *            ring access for crafting bad chains (loops, huge lengths, unmapped addresses).
 *   vu_dev   a whole virtio-net device: negotiation, N queue pairs (vring 2i = guest RX,
 *            2i+1 = guest TX), sending and receiving Ethernet frames with the virtio-net header.
 *
 * Errors: functions return 0 (or a count/length) or -errno, and log the reason on stderr with
 * the device name so a failing test says which step failed. Nothing here exits or aborts on the
 * backend's behaviour: a wrong reply or a broken ring is an error return, counted where useful.
 *
 * Context: single-threaded use per vu_dev; separate vu_dev objects may live in separate threads.
 */
#ifndef VU_FRONTEND_H
#define VU_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- vhost-user wire format ------------------------------------------------------------- */

enum vu_req {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
};

#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_VRING_NOFD (1ull << 8) /* SET_VRING_KICK/CALL payload: no fd, poll instead */
#define VU_MEM_BASELINE_REGIONS 8 /* regions a SET_MEM_TABLE can carry */
#define VU_MAX_PAYLOAD 4096	  /* largest reply we accept from a backend */

struct vu_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_qva;
	uint64_t used_qva;
	uint64_t avail_qva;
	uint64_t log_gpa;
};

struct vu_mem_region_desc {
	uint64_t gpa;
	uint64_t size;
	uint64_t qva;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region_desc regions[VU_MEM_BASELINE_REGIONS];
};

struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region_desc region;
};

/* Feature bits (virtio 1.2 section 5.1.3 and 6; vhost-user spec). */
#define VU_BIT(b) (1ull << (b))
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35

#define VU_PROTO_F_MQ 0
#define VU_PROTO_F_LOG_SHMFD 1
#define VU_PROTO_F_RARP 2
#define VU_PROTO_F_REPLY_ACK 3
#define VU_PROTO_F_MTU 4
#define VU_PROTO_F_BACKEND_REQ 5
#define VU_PROTO_F_CONFIG 9
#define VU_PROTO_F_INBAND_NOTIFICATIONS 14
#define VU_PROTO_F_CONFIGURE_MEM_SLOTS 15
#define VU_PROTO_F_STATUS 16

/* The set the tests ask for unless told otherwise. */
#define VU_DEFAULT_FEATURES                                                                 \
	(VU_BIT(VIRTIO_F_VERSION_1) | VU_BIT(VIRTIO_NET_F_MRG_RXBUF) |                      \
	 VU_BIT(VIRTIO_RING_F_EVENT_IDX) | VU_BIT(VIRTIO_RING_F_INDIRECT_DESC) |            \
	 VU_BIT(VIRTIO_NET_F_MQ) | VU_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
#define VU_DEFAULT_PROTOCOL_FEATURES                                                        \
	(VU_BIT(VU_PROTO_F_MQ) | VU_BIT(VU_PROTO_F_REPLY_ACK) |                             \
	 VU_BIT(VU_PROTO_F_CONFIGURE_MEM_SLOTS) | VU_BIT(VU_PROTO_F_STATUS))

/* virtio 1.2 section 2.7.5 */
struct vu_desc {
	uint64_t addr; /* gpa */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VU_DESC_F_NEXT 1
#define VU_DESC_F_WRITE 2
#define VU_DESC_F_INDIRECT 4
#define VU_AVAIL_F_NO_INTERRUPT 1
#define VU_USED_F_NO_NOTIFY 1

/* virtio 1.2 section 5.1.6: the header before every frame. */
struct vu_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));
#define VU_NET_HDR_LEN 12
#define VU_NET_HDR_LEN_LEGACY 10

/* Device status bits (virtio 1.2 section 2.1). */
#define VU_STATUS_ACKNOWLEDGE 1
#define VU_STATUS_DRIVER 2
#define VU_STATUS_DRIVER_OK 4
#define VU_STATUS_FEATURES_OK 8

const char *vu_req_name(uint32_t req);
/* CLOCK_MONOTONIC in ms, and what is left until @deadline (>= 0) for poll(). */
int64_t vu_now_ms(void);
int vu_remaining_ms(int64_t deadline);

/* ---- vu_conn: one socket ----------------------------------------------------------------- */

struct vu_conn;

/* Connect to a backend listening at @path, retrying until it exists or @timeout_ms passes. */
int vu_conn_connect(const char *path, int timeout_ms, struct vu_conn **ret);
/* Listen at @path (daemon client mode); returns the listening fd. */
int vu_listen(const char *path);
/* Accept one backend on @lfd within @timeout_ms. */
int vu_conn_accept(int lfd, int timeout_ms, struct vu_conn **ret);
void vu_conn_free(struct vu_conn *c);
int vu_conn_fd(const struct vu_conn *c);
void vu_conn_set_name(struct vu_conn *c, const char *name);
const char *vu_conn_name(const struct vu_conn *c);

/* Send @len bytes as one sendmsg with @nfds fds in SCM_RIGHTS; nothing is checked. */
int vu_conn_send_raw(struct vu_conn *c, const void *buf, size_t len, const int *fds, size_t nfds);
/* Send one message: header (@req, VERSION | @flags, @size) + @payload + fds. */
int vu_conn_send(struct vu_conn *c, uint32_t req, uint32_t flags, const void *payload,
		 uint32_t size, const int *fds, size_t nfds);
/*
 * Read one message from the backend. Returns the payload size (copied into @payload up to
 * @cap), -ETIMEDOUT, -ECONNRESET when the backend closed, -EPROTO on a malformed message.
 */
int vu_conn_recv(struct vu_conn *c, int timeout_ms, struct vu_msg_hdr *hdr, void *payload,
		 size_t cap);
/*
 * Fault injection: after @n messages (counted from the connection's start), vu_conn_send()
 * sends nothing more and returns -ECANCELED, so a vu_dev start-up stops at that step.
 * 0 lifts the limit. vu_conn_sent() is the count so far.
 */
void vu_conn_set_send_limit(struct vu_conn *c, unsigned n);
unsigned vu_conn_sent(const struct vu_conn *c);
/* Wait until the backend closes the connection. Returns 0 when it did, -ETIMEDOUT if not. */
int vu_conn_wait_closed(struct vu_conn *c, int timeout_ms);

/* ---- vu_mem: guest memory ---------------------------------------------------------------- */

struct vu_mem_opts {
	unsigned nregions;	/* 1..VU_MEM_MAX_REGIONS */
	size_t region_size;	/* bytes per region, multiple of the page size */
	uint64_t mmap_offset;	/* each region starts this far into its memfd */
	bool contiguous_gpa;	/* regions adjacent in gpa (else 1 GiB apart) */
};
#define VU_MEM_MAX_REGIONS 64

struct vu_mem_region {
	int fd;
	uint64_t gpa;
	uint64_t qva;
	uint64_t size;
	uint64_t mmap_offset;
	uint8_t *hva;		/* our mapping of [mmap_offset, mmap_offset + size) */
	uint8_t *map_base;	/* our mapping of the whole memfd */
	size_t map_len;
	size_t used;		/* bump allocator */
};

struct vu_mem {
	unsigned nregions;
	struct vu_mem_region regions[VU_MEM_MAX_REGIONS];
	unsigned next_region;	/* allocations go round-robin over regions */
};

int vu_mem_new(const struct vu_mem_opts *o, struct vu_mem **ret);
void vu_mem_free(struct vu_mem *m);
/* Allocate @len bytes aligned to @align (power of two) in one region (zeroes: fresh memfd). */
int vu_mem_alloc(struct vu_mem *m, size_t len, size_t align, uint64_t *ret_gpa, void **ret_hva);
/* gpa -> our pointer, or NULL if [gpa, gpa+len) is not inside one region. */
void *vu_mem_gpa_to_hva(const struct vu_mem *m, uint64_t gpa, size_t len);
/* gpa -> the made-up frontend user address the backend is told about (ring addresses). */
uint64_t vu_mem_gpa_to_qva(const struct vu_mem *m, uint64_t gpa);
/* The SET_MEM_TABLE / ADD_MEM_REG description of region @i. */
void vu_mem_region_desc(const struct vu_mem *m, unsigned i, struct vu_mem_region_desc *ret);

/* ---- vu_vq: driver side of one split virtqueue ------------------------------------------- */

struct vu_vq;

struct vu_used_elem {
	uint32_t id;
	uint32_t len;
};

unsigned vu_vq_index(const struct vu_vq *vq);
unsigned vu_vq_size(const struct vu_vq *vq);
int vu_vq_kick_fd(const struct vu_vq *vq);
int vu_vq_call_fd(const struct vu_vq *vq);
/* Raw access for crafting chains: write descriptor @i of the table as given. */
void vu_vq_desc_write(struct vu_vq *vq, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags,
		      uint16_t next);
/* Descriptor table gpa (for building a descriptor that points at the table itself, etc.). */
uint64_t vu_vq_desc_gpa(const struct vu_vq *vq);
/* Take / give back free descriptor slots (the free list the frame helpers use too). */
int vu_vq_desc_get(struct vu_vq *vq);
void vu_vq_desc_put(struct vu_vq *vq, unsigned i);
/* Publish @head in the avail ring (no kick). */
void vu_vq_avail_push(struct vu_vq *vq, uint16_t head);
/* Overwrite the avail index with any value (hostile tests). */
void vu_vq_avail_idx_set(struct vu_vq *vq, uint16_t idx);
uint16_t vu_vq_avail_idx(const struct vu_vq *vq);
/*
 * Hostile tests: write the four notification words as given, including the two the device
 * owns (used->flags, avail_event), which a guest can scribble over at any time.
 */
void vu_vq_raw_events(struct vu_vq *vq, uint16_t avail_flags, uint16_t used_event,
		      uint16_t used_flags, uint16_t avail_event);
/* Kick if the backend asked to be notified (or always with force). Returns 1 if kicked. */
int vu_vq_notify(struct vu_vq *vq, bool force);
/* Pop one used element; -EAGAIN if none. Checks the id and length are plausible. */
int vu_vq_used_pop(struct vu_vq *vq, struct vu_used_elem *ret);
unsigned vu_vq_used_pending(const struct vu_vq *vq);
/* Wait for a call, arming used_event / clearing NO_INTERRUPT first. 0, or -ETIMEDOUT. */
int vu_vq_wait(struct vu_vq *vq, int timeout_ms);
/* Enable or suppress interrupts for this queue (used_event or avail->flags). */
void vu_vq_interrupts(struct vu_vq *vq, bool on);

struct vu_vq_stats {
	uint64_t kicks;
	uint64_t kicks_suppressed;
	uint64_t calls;		/* call eventfd reads that returned a count */
	uint64_t missed_calls;	/* wait timed out although the used ring had entries */
	uint64_t bad_used;	/* used elements with an id/len we never posted */
};
void vu_vq_get_stats(const struct vu_vq *vq, struct vu_vq_stats *ret);

/* ---- vu_dev: a virtio-net device --------------------------------------------------------- */

struct vu_dev;

struct vu_dev_opts {
	const char *name;		/* log prefix */
	uint64_t features;		/* virtio features wanted */
	uint64_t protocol_features;	/* wanted, if PROTOCOL_FEATURES is negotiated */
	bool require_features;		/* fail unless the backend offers all of @features */
	unsigned queue_pairs;
	unsigned ring_size;
	uint16_t ring_base;		/* SET_VRING_BASE value; near 65535 tests index wrap */
	/* memory */
	unsigned mem_regions;
	size_t mem_size;		/* 0: as much as the queues need */
	uint64_t mmap_offset;
	bool contiguous_gpa;
	bool use_add_mem_reg;		/* ADD_MEM_REG per region instead of SET_MEM_TABLE */
	/* datapath */
	unsigned rx_buf_size;		/* bytes per posted RX buffer (header included) */
	unsigned rx_buf_segs;		/* descriptors per RX buffer chain */
	unsigned rx_post_max;		/* post at most this many RX chains at start (0: all),
					 * leaving free descriptors for hand-crafted RX chains */
	unsigned tx_buf_size;		/* largest header + frame sent */
	bool need_reply;		/* NEED_REPLY on every SET_* when REPLY_ACK is negotiated */
	bool always_kick;		/* ignore the backend's notification suppression */
	bool rx_interrupts;		/* ask for RX calls (else NO_INTERRUPT, poll only) */
	bool set_status;		/* SET_STATUS when STATUS is negotiated */
	bool enable_rings;		/* SET_VRING_ENABLE 1 on every ring at start */
};
void vu_dev_opts_init(struct vu_dev_opts *o);

/* Take ownership of @c (freed with the device). */
int vu_dev_new(struct vu_conn *c, const struct vu_dev_opts *o, struct vu_dev **ret);
int vu_dev_connect(const char *path, const struct vu_dev_opts *o, int timeout_ms,
		   struct vu_dev **ret);
/* Closes the socket without a GET_VRING_BASE (an abrupt disconnect); frees everything. */
void vu_dev_free(struct vu_dev *d);

/*
 * Step 1: GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS, SET_OWNER.
 * Step 2: SET_FEATURES, memory (SET_MEM_TABLE or ADD_MEM_REG), every vring
 *         (NUM, BASE, ADDR, KICK, CALL), SET_VRING_ENABLE, SET_STATUS; RX buffers posted.
 * vu_dev_start() does both.
 */
int vu_dev_negotiate(struct vu_dev *d);
int vu_dev_setup(struct vu_dev *d);
int vu_dev_start(struct vu_dev *d);
/* SET_VRING_ENABLE on both rings of queue pair @qp. */
int vu_dev_enable_qp(struct vu_dev *d, unsigned qp, bool enable);
/* GET_VRING_BASE on every started ring; @ret_bases (may be NULL) gets 2 * queue_pairs values. */
int vu_dev_stop(struct vu_dev *d, uint16_t *ret_bases);

/* Send any message and, if @flags has NEED_REPLY or the request has a reply, read it. */
int vu_dev_request(struct vu_dev *d, uint32_t req, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, size_t nfds, void *reply, size_t reply_cap);
int vu_dev_get_u64(struct vu_dev *d, uint32_t req, uint64_t *ret);
/* A SET_* message with a u64 / vring-state payload; waits for the ack if need_reply is on. */
int vu_dev_set_u64(struct vu_dev *d, uint32_t req, uint64_t v);
int vu_dev_set_state(struct vu_dev *d, uint32_t req, uint32_t index, uint32_t num);

struct vu_conn *vu_dev_conn(struct vu_dev *d);
struct vu_mem *vu_dev_mem(struct vu_dev *d);
struct vu_vq *vu_dev_vq(struct vu_dev *d, unsigned index);
const char *vu_dev_name(const struct vu_dev *d);
uint64_t vu_dev_backend_features(const struct vu_dev *d);
uint64_t vu_dev_features(const struct vu_dev *d);	/* negotiated */
uint64_t vu_dev_backend_protocol_features(const struct vu_dev *d);
uint64_t vu_dev_protocol_features(const struct vu_dev *d);	/* negotiated */
uint64_t vu_dev_backend_queue_num(const struct vu_dev *d);
uint64_t vu_dev_backend_mem_slots(const struct vu_dev *d);
unsigned vu_dev_queue_pairs(const struct vu_dev *d);
size_t vu_dev_hdr_len(const struct vu_dev *d);
/* RX buffers (chains) one queue holds when all are posted. */
unsigned vu_dev_rx_capacity(const struct vu_dev *d);
/* Bytes one posted RX buffer (chain) holds, header included. */
size_t vu_dev_rx_buf_size(const struct vu_dev *d);

/* How a frame is laid out in TX descriptors. */
enum vu_tx_layout {
	VU_TX_SINGLE,	/* header + frame in one descriptor */
	VU_TX_HDR_SPLIT,/* header in one descriptor, frame in the next */
	VU_TX_SCATTER,	/* header + frame cut into @segs chained descriptors */
	VU_TX_INDIRECT,	/* one descriptor pointing at an indirect table of @segs entries */
};

struct vu_tx_opts {
	enum vu_tx_layout layout;
	unsigned segs;	/* SCATTER/INDIRECT: number of pieces (2..16) */
	bool no_kick;	/* publish only; the caller kicks later (batching) */
	const struct vu_net_hdr *hdr;	/* header to send (offload requests); NULL: all zero */
};

/*
 * Send one Ethernet frame on the TX ring of queue pair @qp. Reclaims completed buffers first;
 * when the ring is full, waits up to @timeout_ms for the backend to complete some.
 * Return: 0, -EAGAIN (ring full after the timeout), -EINVAL (frame too large for tx_buf_size).
 */
int vu_dev_send(struct vu_dev *d, unsigned qp, const void *frame, size_t len,
		const struct vu_tx_opts *o, int timeout_ms);
/* Kick the TX ring of @qp (after a batch of no_kick sends). */
int vu_dev_tx_flush(struct vu_dev *d, unsigned qp);
/* Reclaim finished TX buffers on @qp; returns how many heads were reclaimed. */
int vu_dev_tx_reclaim(struct vu_dev *d, unsigned qp);
/* Wait until every TX buffer of @qp was used by the backend. */
int vu_dev_tx_drain(struct vu_dev *d, unsigned qp, int timeout_ms);

struct vu_rx_info {
	unsigned qp;
	unsigned num_buffers;		/* from the header */
	struct vu_net_hdr hdr;
};

/*
 * Receive one frame from the RX ring of queue pair @qp (or any queue pair when @qp is
 * VU_ANY_QP), waiting up to @timeout_ms. The frame (header stripped) is copied into @buf.
 * Return: frame length, -ETIMEDOUT, -EMSGSIZE (frame larger than @cap, still consumed),
 * -EPROTO (the backend broke the virtio rules: the log says how).
 */
#define VU_ANY_QP (~0u)
int vu_dev_recv(struct vu_dev *d, unsigned qp, void *buf, size_t cap, int timeout_ms,
		struct vu_rx_info *info);
/* Stop giving RX buffers back after use (to test "no RX buffer" drops); on by default. */
void vu_dev_rx_repost(struct vu_dev *d, bool on);
/* Post every free RX descriptor again (after vu_dev_rx_repost(false)). */
int vu_dev_rx_refill(struct vu_dev *d, unsigned qp);

struct vu_dev_stats {
	uint64_t tx_frames, tx_bytes;	/* frames put on TX rings (bytes without header) */
	uint64_t rx_frames, rx_bytes;	/* frames taken from RX rings */
	uint64_t hdr_violations;	/* RX headers breaking virtio 5.1.6.4 */
	uint64_t nonmrg_num_buffers;	/* num_buffers != 1 without MRG_RXBUF */
	uint64_t missed_calls, bad_used;
};
void vu_dev_get_stats(const struct vu_dev *d, struct vu_dev_stats *ret);

#endif
