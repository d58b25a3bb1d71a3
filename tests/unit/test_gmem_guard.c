// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The SIGBUS guard (gmem/guard.h): a guest region whose file shrinks under us breaks its owner
 * and nothing else, in any thread; a SIGBUS anywhere else still kills the process.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "gmem/gmem.h"
#include "gmem/guard.h"

#define SIZE (64 * 1024)

static int guest_memfd(unsigned int seals)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, SIZE) < 0)
		abort();
	if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
		abort();
	return fd;
}

static int map_region(int fd, struct gmem_region *r)
{
	struct vu_mem_region d = { .guest_phys_addr = 0, .memory_size = SIZE,
				   .userspace_addr = 0x7f0000000000ull, .mmap_offset = 0 };
	char why[160];

	return gmem_region_map(&d, fd, r, why, sizeof(why));
}

struct reader {
	volatile uint8_t *p;
	unsigned int sum;
};

static void *read_from_thread(void *opaque)
{
	struct reader *rd = opaque;

	for (unsigned int i = 0; i < SIZE; i += 4096)
		rd->sum += rd->p[i];
	return NULL;
}

/* Runs @fn in a child; returns its wait status. */
static int in_child(void (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	if (pid == 0) {
		fn();
		_exit(0);
	}
	(void)waitpid(pid, &st, 0);
	return st;
}

/*
 * Killed by SIGBUS, or (under ASan, whose handler the guard chains to) reported and ended with
 * an error; exit 2 means the fault was swallowed.
 */
static bool crashed(int st)
{
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT;
	return WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2;
}

/* A shrunk file mapped without registering it: the guard must not hide that SIGBUS. */
static void fault_unguarded(void)
{
	int fd = guest_memfd(0);
	volatile uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (ftruncate(fd, 0) < 0)
		_exit(0);
	(void)p[4096];
	_exit(2);  /* survived: wrong */
}

static void kill_self(void)
{
	(void)raise(SIGBUS);
	_exit(2);
}

int main(void)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct gmem_region r, s;
	bool broken = false, other = false;
	eventfd_t v = 0;
	int fd, st;

	/* Under ASan our handler replaces its SIGBUS handler; the chain ends in a crash either way. */
	CHECK(gmem_guard_init(efd) == 0 && gmem_guard_active(), "guard installed");

	fd = guest_memfd(F_SEAL_SHRINK);
	CHECK(map_region(fd, &r) == 0 && r.shrink_sealed, "a memfd with F_SEAL_SHRINK is seen as sealed");
	CHECK(gmem_region_guard(&r, &broken) == 0 && r.guard < 0, "a sealed region needs no guard slot");
	gmem_region_unmap(&r);

	fd = guest_memfd(F_SEAL_GROW);
	CHECK(map_region(fd, &r) == 0 && !r.shrink_sealed, "F_SEAL_GROW alone does not stop shrinking");
	gmem_region_unmap(&r);

	fd = guest_memfd(0);
	CHECK(map_region(fd, &r) == 0 && !r.shrink_sealed, "an unsealed memfd is seen as unsealed");
	CHECK(gmem_region_guard(&r, &broken) == 0 && r.guard >= 0, "an unsealed region is guarded");
	{
		int sfd = guest_memfd(0);

		CHECK(map_region(sfd, &s) == 0 && gmem_region_guard(&s, &other) == 0 && s.guard >= 0,
		      "a second region, guarded too");
	}
	memset(r.hva, 0xab, SIZE);
	CHECK(ftruncate(r.fd, 4096) == 0, "the frontend cuts the file to one page");
	CHECK(r.hva[100] == 0xab, "the page still in the file keeps its contents");
	{
		volatile uint8_t *p = r.hva;

		p[8192] = 1;   /* past the new end: SIGBUS, recovered */
		CHECK(p[8192] == 1 && p[100] == 0, "access past the end goes on, on zero pages in place of the whole mapping");
	}
	CHECK(broken && !other, "the owner of that region is marked broken, the other region's is not");
	CHECK(gmem_guard_faulted(r.guard) && !gmem_guard_faulted(s.guard), "the fault is recorded on that slot only");
	CHECK(eventfd_read(efd, &v) == 0 && v == 1, "the control thread is woken once");
	CHECK(gmem_guard_fault_count() == 1, "one fault counted");

	broken = other = false;
	CHECK(ftruncate(s.fd, 0) == 0, "the second file is cut to nothing");
	{
		struct reader rd = { .p = s.hva };
		pthread_t t;

		CHECK(pthread_create(&t, NULL, read_from_thread, &rd) == 0 && pthread_join(t, NULL) == 0 &&
		      rd.sum == 0, "a fault in another thread is recovered there (a worker)");
	}
	CHECK(other && !broken, "and breaks the owner of the second region only");
	gmem_region_unmap(&r);
	gmem_region_unmap(&s);

	st = in_child(fault_unguarded);
	CHECK(crashed(st), "a SIGBUS in memory the guard does not know still kills the process (status 0x%x)", st);
	st = in_child(kill_self);
	CHECK(crashed(st),
	      "a SIGBUS sent with kill() still kills the process (status 0x%x)", st);
	close(efd);
	return check_done();
}
