// SPDX-License-Identifier: GPL-2.0-or-later
#include "core/rcu.h"

#ifdef VULB_TSAN
/* The sync object behind the ThreadSanitizer annotations of core/rcu.h; never read. */
char vulb_rcu_tsan_gp;
#endif
