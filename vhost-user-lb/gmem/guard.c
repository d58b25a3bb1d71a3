// SPDX-License-Identifier: GPL-2.0-or-later
/* SIGBUS guard for unsealed guest memory: see guard.h for the design and its rules. */
#include "gmem/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_slot {
	uint32_t seq;        /* odd while the control side changes the slot (a seqcount) */
	uint32_t faulted;
	uintptr_t base;
	size_t len;          /* 0: free */
	bool *broken;
};

static struct guard_slot slots[GMEM_GUARD_SLOTS];
static unsigned int slots_high;  /* slots[0, slots_high) may be in use */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;  /* writers only */
static struct sigaction prev_action;
static int notify_fd = -1;
static bool active;
static uint64_t fault_count;

static void slot_write_begin(struct guard_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	/* Pairs with the fence before the handler's second read of seq. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void slot_write_end(struct guard_slot *s)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* Hands the signal to whatever was installed before us, which crashes (or reports) it. */
static void chain(int sig, siginfo_t *si, void *uctx)
{
	if (prev_action.sa_flags & SA_SIGINFO) {
		if (prev_action.sa_sigaction) {
			prev_action.sa_sigaction(sig, si, uctx);
			return;
		}
	} else if (prev_action.sa_handler != SIG_DFL && prev_action.sa_handler != SIG_IGN) {
		prev_action.sa_handler(sig);
		return;
	}
	/*
	 * Default action: restore it. A real fault re-executes the instruction on return and
	 * dies of SIGBUS with a core; a SIGBUS sent by kill() is raised again (blocked until we
	 * return, then fatal).
	 */
	(void)sigaction(SIGBUS, &(struct sigaction){ .sa_handler = SIG_DFL }, NULL);
	if (si->si_code <= 0)
		(void)raise(SIGBUS);
}

/* Async-signal-safe: atomics, mmap and write only. */
static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	const int saved_errno = errno;
	uintptr_t addr = (uintptr_t)si->si_addr;
	unsigned int high = __atomic_load_n(&slots_high, __ATOMIC_ACQUIRE);

	/* Only a fault on an address: access past the end of a mapped file is BUS_ADRERR. */
	if (si->si_code != BUS_ADRERR)
		goto not_ours;
	for (unsigned int i = 0; i < high; i++) {
		struct guard_slot *s = &slots[i];
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		uintptr_t base;
		size_t len;
		bool *broken;

		if (seq & 1)
			continue;
		base = __atomic_load_n(&s->base, __ATOMIC_RELAXED);
		len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
		broken = __atomic_load_n(&s->broken, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq || !len || addr - base >= len)
			continue;
		/*
		 * The file shrank under this mapping. Zero pages in its place: the interrupted copy
		 * completes on them, and nothing of the file is reachable through it any more.
		 */
		if (mmap((void *)base, len, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
			goto not_ours;
		__atomic_store_n(&s->faulted, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&fault_count, 1, __ATOMIC_RELAXED);
		if (broken)
			__atomic_store_n(broken, true, __ATOMIC_RELEASE);
		if (notify_fd >= 0) {
			uint64_t one = 1;

			(void)!write(notify_fd, &one, sizeof(one));
		}
		errno = saved_errno;
		return;
	}
not_ours:
	errno = saved_errno;
	chain(sig, si, uctx);
}

int gmem_guard_init(int fd)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_RESTART };

	if (active)
		return 0;
	sigemptyset(&sa.sa_mask);
	notify_fd = fd;
	if (sigaction(SIGBUS, &sa, &prev_action) < 0)
		return -errno;
	active = true;
	return 0;
}

bool gmem_guard_active(void)
{
	return active;
}

int gmem_guard_add(void *base, size_t len, bool *broken)
{
	int r = -ENOSPC;

	if (!active)
		return -ENODEV;
	pthread_mutex_lock(&slots_lock);
	for (unsigned int i = 0; i < GMEM_GUARD_SLOTS; i++) {
		struct guard_slot *s = &slots[i];

		if (s->len)
			continue;
		slot_write_begin(s);
		__atomic_store_n(&s->base, (uintptr_t)base, __ATOMIC_RELAXED);
		__atomic_store_n(&s->broken, broken, __ATOMIC_RELAXED);
		__atomic_store_n(&s->faulted, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->len, len, __ATOMIC_RELAXED);
		slot_write_end(s);
		if (i >= slots_high)
			__atomic_store_n(&slots_high, i + 1, __ATOMIC_RELEASE);
		r = (int)i;
		break;
	}
	pthread_mutex_unlock(&slots_lock);
	return r;
}

void gmem_guard_remove(int slot)
{
	struct guard_slot *s;

	if (slot < 0 || slot >= GMEM_GUARD_SLOTS)
		return;
	s = &slots[slot];
	pthread_mutex_lock(&slots_lock);
	slot_write_begin(s);
	__atomic_store_n(&s->len, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->broken, NULL, __ATOMIC_RELAXED);
	slot_write_end(s);
	pthread_mutex_unlock(&slots_lock);
}

bool gmem_guard_faulted(int slot)
{
	if (slot < 0 || slot >= GMEM_GUARD_SLOTS)
		return false;
	return __atomic_load_n(&slots[slot].faulted, __ATOMIC_RELAXED);
}

uint64_t gmem_guard_fault_count(void)
{
	return __atomic_load_n(&fault_count, __ATOMIC_RELAXED);
}

bool gmem_fd_shrink_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK);
}
