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

/*
 * ThreadSanitizer and RCU. liburcu orders memory with inline-asm barriers and plain volatile
 * accesses, and its library (grace periods, the call_rcu thread, the lock-free hash table) is
 * not instrumented, so TSan sees none of the ordering RCU guarantees and reports every
 * publish/read pair and every free after a grace period as a race. Under TSan only, the same
 * guarantees are stated in terms TSan understands:
 * - rcu_dereference()/rcu_assign_pointer()/rcu_xchg_pointer() become acquire/release atomics
 *   (what they are on x86 anyway);
 * - a reader's quiescent state (and going offline) releases a "grace period" sync object, and
 *   synchronize_rcu() acquires it on return: everything a reader did before its quiescent
 *   state happens before what the updater does after the grace period;
 * - call_rcu() releases it too, and each callback starts with rcu_tsan_after_gp(), which
 *   acquires it (the callback runs after a grace period, in the call_rcu thread);
 * - objects published or handed out by the lock-free hash table are marked with
 *   rcu_tsan_publish() before insertion and rcu_tsan_consume() when a lookup returns them.
 * Without TSan all of this compiles to liburcu's own primitives and nothing.
 */
#if defined(__SANITIZE_THREAD__)
#define VULB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VULB_TSAN 1
#endif
#endif

#ifdef VULB_TSAN
#include <sanitizer/tsan_interface.h>

extern char vulb_rcu_tsan_gp;

static inline void rcu_tsan_publish(const void *obj)
{
	__tsan_release((void *)obj);
}

static inline void rcu_tsan_consume(const void *obj)
{
	if (obj)
		__tsan_acquire((void *)obj);
}

static inline void rcu_tsan_after_gp(void)
{
	__tsan_acquire(&vulb_rcu_tsan_gp);
}

static inline void vulb_rcu_quiescent_state(void)
{
	__tsan_release(&vulb_rcu_tsan_gp);
	urcu_qsbr_quiescent_state();
}

static inline void vulb_rcu_thread_offline(void)
{
	__tsan_release(&vulb_rcu_tsan_gp);
	urcu_qsbr_thread_offline();
}

static inline void vulb_synchronize_rcu(void)
{
	__tsan_release(&vulb_rcu_tsan_gp);
	urcu_qsbr_synchronize_rcu();
	__tsan_acquire(&vulb_rcu_tsan_gp);
}

static inline void vulb_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	__tsan_release(&vulb_rcu_tsan_gp);
	urcu_qsbr_call_rcu(head, func);
}

static inline void vulb_rcu_barrier(void)
{
	urcu_qsbr_barrier();
	__tsan_acquire(&vulb_rcu_tsan_gp);
}

#undef rcu_quiescent_state
#define rcu_quiescent_state vulb_rcu_quiescent_state
#undef rcu_thread_offline
#define rcu_thread_offline vulb_rcu_thread_offline
#undef synchronize_rcu
#define synchronize_rcu vulb_synchronize_rcu
#undef call_rcu
#define call_rcu vulb_call_rcu
#undef rcu_barrier
#define rcu_barrier vulb_rcu_barrier
#undef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef rcu_assign_pointer
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#undef rcu_xchg_pointer
#define rcu_xchg_pointer(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#else
static inline void rcu_tsan_publish(const void *obj)
{
	(void)obj;
}

static inline void rcu_tsan_consume(const void *obj)
{
	(void)obj;
}

static inline void rcu_tsan_after_gp(void)
{
}
#endif

#endif
