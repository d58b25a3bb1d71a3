/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place that includes liburcu. We use the QSBR flavour: datapath workers announce a
 * quiescent state once per loop and go offline around blocking waits, so their read side costs
 * nothing. Every thread that reads RCU-protected data must be registered.
 */
#ifndef VULB_CORE_RCU_H
#define VULB_CORE_RCU_H

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#endif
