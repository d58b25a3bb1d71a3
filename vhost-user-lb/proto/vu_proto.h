/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user wire format (QEMU docs/interop/vhost-user.rst) and the virtio-net feature bits
 * we use (virtio 1.2, sections 5.1.3 and 6). Written from the specs.
 */
#ifndef VULB_PROTO_VU_PROTO_H
#define VULB_PROTO_VU_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum vu_request {
	VHOST_USER_NONE = 0,
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
	VHOST_USER_REQUEST_MAX,
};

/* Header flags. */
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_REPLY_MASK (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
enum {
	VHOST_USER_PROTOCOL_F_MQ = 0,
	VHOST_USER_PROTOCOL_F_LOG_SHMFD = 1,
	VHOST_USER_PROTOCOL_F_RARP = 2,
	VHOST_USER_PROTOCOL_F_REPLY_ACK = 3,
	VHOST_USER_PROTOCOL_F_NET_MTU = 4,
	VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
	VHOST_USER_PROTOCOL_F_STATUS = 16,
};

/* Virtio feature bits. */
enum {
	VIRTIO_NET_F_CSUM = 0,
	VIRTIO_NET_F_GUEST_CSUM = 1,
	VIRTIO_NET_F_MTU = 3,
	VIRTIO_NET_F_MAC = 5,
	VIRTIO_NET_F_GUEST_TSO4 = 7,
	VIRTIO_NET_F_GUEST_TSO6 = 8,
	VIRTIO_NET_F_HOST_TSO4 = 11,
	VIRTIO_NET_F_HOST_TSO6 = 12,
	VIRTIO_NET_F_MRG_RXBUF = 15,
	VIRTIO_NET_F_STATUS = 16,
	VIRTIO_NET_F_CTRL_VQ = 17,
	VIRTIO_NET_F_GUEST_ANNOUNCE = 21,
	VIRTIO_NET_F_MQ = 22,
	VHOST_F_LOG_ALL = 26,
	VIRTIO_F_NOTIFY_ON_EMPTY = 24,
	VIRTIO_F_ANY_LAYOUT = 27,
	VIRTIO_RING_F_INDIRECT_DESC = 28,
	VIRTIO_RING_F_EVENT_IDX = 29,
	VHOST_USER_F_PROTOCOL_FEATURES = 30,
	VIRTIO_F_VERSION_1 = 32,
	VIRTIO_F_ACCESS_PLATFORM = 33,
	VIRTIO_F_RING_PACKED = 34,
	VIRTIO_F_IN_ORDER = 35,
};

#define BIT_ULL(n) (1ull << (n))

/* Device status bits (virtio 1.2 section 2.1). */
#define VIRTIO_CONFIG_S_DRIVER_OK 4u
#define VIRTIO_CONFIG_S_FEATURES_OK 8u

/* The most memory regions we accept, for SET_MEM_TABLE and via ADD_MEM_REG. */
#define VHOST_MEMORY_BASELINE_NREGIONS 8
#define VU_MAX_MEM_SLOTS 32

/* Vrings a port may have: 2 per queue pair (RX = even, TX = odd). */
#define VU_MAX_QUEUE_PAIRS 16
#define VU_MAX_VRINGS (2 * VU_MAX_QUEUE_PAIRS)

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

#define VHOST_VRING_F_LOG 0

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
} __attribute__((packed));

struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region region;
} __attribute__((packed));

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_msg_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

#define VU_MSG_MAX_PAYLOAD 512
#define VU_MSG_MAX_FDS 8

/* Index and no-fd flag carried in the u64 of SET_VRING_KICK/CALL/ERR. */
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

struct vu_msg {
	struct vu_msg_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_mem_single mem_single;
		struct vu_log log;
		uint8_t raw[VU_MSG_MAX_PAYLOAD];
	} __attribute__((packed)) payload;   /* on the wire right after the 12-byte header */
	int fds[VU_MSG_MAX_FDS];
	unsigned int nfds;
};

/* virtio-net header (virtio 1.2 section 5.1.6); 10 bytes without num_buffers. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

_Static_assert(offsetof(struct vu_msg, payload) == sizeof(struct vu_msg_hdr),
	       "payload must follow the header as on the wire");

#define VIRTIO_NET_HDR_LEN_V1 12u
#define VIRTIO_NET_HDR_LEN_LEGACY 10u

#endif
