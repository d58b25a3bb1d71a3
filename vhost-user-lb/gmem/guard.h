/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SIGBUS guard for guest memory a frontend may shrink under us.
 *
 * A frontend hands over a file (memfd, hugetlbfs) and we map it. If the file is not sealed
 * against shrinking (F_SEAL_SHRINK) the frontend can ftruncate() it later, and the next access
 * to a page past the new end raises SIGBUS in whichever thread touches it: a worker, in the
 * middle of a copy, with an RX ring's spinlock held. Without a guard that kills the daemon and
 * every other guest's network with it.
 *
 * The guard keeps a registry of the mappings of unsealed files. Its SIGBUS handler recovers a
 * fault only when the faulting address lies inside a registered mapping: it replaces that whole
 * mapping with anonymous memory (MAP_FIXED), marks the owner broken, wakes the control thread
 * and returns, so the faulting instruction is restarted on harmless zero pages and the thread
 * carries on. Every other SIGBUS (our own bug, a kill(), a fault in a sealed or non-guest
 * mapping) goes to the previous disposition and still crashes.
 *
 * Why not sigsetjmp()/siglongjmp() around guest-memory copies: a jump out of the datapath
 * would skip releasing the RX ring's spinlock and rolling back the ring indices of a third,
 * healthy port (the fault may be in the sender's buffer while the receiver's ring is half
 * filled), and every ring access (indices, descriptors, event words) would need its own jump
 * buffer too. Replacing the pages lets the interrupted code finish normally on garbage that
 * the broken port's teardown then discards. libwayland-server's wl_shm guards client pools
 * the same way.
 *
 * Registry rules: a mapping is registered before it is published to any reader and
 * unregistered only after no reader can touch it (after the grace period), before munmap().
 * So the slot of the mapping a thread faults on is stable while the handler reads it; a slot
 * being changed at that moment belongs to a mapping nobody accesses, and the handler skips it.
 */
#ifndef VULB_GMEM_GUARD_H
#define VULB_GMEM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Enough for every region of every port (1024 ports x 32 regions) plus a dirty log each.
 * Static, so the signal handler never sees memory being reallocated; untouched slots cost no
 * RAM.
 */
#define GMEM_GUARD_SLOTS (1024 * 33)

/**
 * gmem_guard_init() - install the SIGBUS handler.
 * @notify_fd: eventfd written (async-signal-safely) after a recovered fault, or -1.
 * Context: once, before any worker starts. Return: 0 or -errno.
 */
int gmem_guard_init(int notify_fd);
/* True once gmem_guard_init() succeeded: without it registering is pointless. */
bool gmem_guard_active(void);

/**
 * gmem_guard_add() - guard the mapping [@base, @base + @len).
 * @broken: set to true (atomically) when a fault in the mapping is recovered.
 * Context: any thread, before the mapping is visible to readers.
 * Return: slot number (>= 0), -ENOSPC when the registry is full, -ENODEV when not initialised.
 */
int gmem_guard_add(void *base, size_t len, bool *broken);

/**
 * gmem_guard_remove() - forget slot @slot. Call before munmap() of its mapping, once no reader
 * can touch it any more. Context: any thread.
 */
void gmem_guard_remove(int slot);

/* True when a fault in slot @slot's mapping was recovered (its contents are gone). */
bool gmem_guard_faulted(int slot);

/* Faults recovered since start (all slots). */
uint64_t gmem_guard_fault_count(void);

/**
 * gmem_fd_shrink_sealed() - whether the file behind @fd cannot shrink (F_SEAL_SHRINK set).
 * Files that support no seals at all (hugetlbfs before Linux 4.16, regular files) cannot be
 * sealed and count as unsealed.
 */
bool gmem_fd_shrink_sealed(int fd);

#endif
