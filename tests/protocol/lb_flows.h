/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The topology of the load balancer's restart tests (lb_handover, lb_checkpoint): a client
 * port c and three servers s1..s3 behind the Maglev VIP 10.9.0.100:80/tcp, and the client's
 * TCP flows to it, told apart by source port.
 */
#ifndef VULB_TESTS_LB_FLOWS_H
#define VULB_TESTS_LB_FLOWS_H

#include <stdint.h>

#include "vu_frontend.h"

#define LBF_VIP 0x0a090064u          /* 10.9.0.100 */
#define LBF_VIP_TEXT "10.9.0.100:80/tcp"
#define LBF_NSRV 3

/* The backends' `vip backend add` specs: "mac=...,ip=10.9.0.11" etc. */
extern char lbf_backend[LBF_NSRV][96];

/* Sets the client's and the servers' MACs and lbf_backend. */
void lbf_init(void);

/*
 * Sends client frames (TCP @flags) from source ports @base..@base+@n-1 and records which
 * server each one reached (1..LBF_NSRV, 0: none) in @which; counts per server in @count, frames
 * with a wrong rewrite or checksum in @bad.
 */
void lbf_send_flows(struct vu_dev *c, struct vu_dev *const *srv, uint16_t base, unsigned n,
		    uint8_t flags, uint8_t *which, unsigned *count, unsigned *bad);

/* Flows of @want that went elsewhere (@moved) or nowhere (@lost) this time (@now). */
void lbf_compare(const uint8_t *want, const uint8_t *now, unsigned n, unsigned *moved,
		 unsigned *lost);

/*
 * After a restart: flows opened from ports 20000.. (@nflows, recorded in @first) and 40000..
 * (@nfresh, in @fresh) are sent again (ACKs); checks that each reaches the server it reached
 * before. Frames with a wrong rewrite or checksum are added to @bad.
 */
void lbf_check_flows_kept(struct vu_dev *c, struct vu_dev *const *srv, const uint8_t *first,
			  unsigned nflows, const uint8_t *fresh, unsigned nfresh, unsigned *bad);

/*
 * The servers answer one in seven of the flows @which recorded (source ports @base + i), at
 * most 60: checks that every reply reaches @c rewritten to come from the VIP, checksums valid.
 */
void lbf_check_replies(struct vu_dev *c, struct vu_dev *const *srv, uint16_t base,
		       const uint8_t *which, unsigned n);

#endif
