// SPDX-License-Identifier: GPL-2.0-or-later
/* Dirty-page log: page boundaries, the log's size limit, and the checks on the log fd. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "gmem/dlog.h"

static int bit(const struct dlog *l, uint64_t page)
{
	return (l->bits[page / 8] >> (page % 8)) & 1;
}

static unsigned int popcount_log(const struct dlog *l)
{
	unsigned int n = 0;

	for (uint64_t i = 0; i < l->size; i++)
		n += (unsigned int)__builtin_popcount(l->bits[i]);
	return n;
}

int main(void)
{
	int fd = memfd_create("dlog", MFD_CLOEXEC);
	struct vu_log desc = { .mmap_size = 16, .mmap_offset = 4096 };
	struct dlog *l;
	char why[160];

	CHECK(fd >= 0 && ftruncate(fd, 4096 + 16) == 0, "memfd for a 16-byte log (128 pages)");
	CHECK(dlog_map(&desc, dup(fd), &l, why, sizeof(why)) == 0, "map: %s", why);

	dlog_mark(l, 0, 1);
	CHECK(bit(l, 0) && popcount_log(l) == 1, "one byte at 0 marks page 0 only");
	dlog_mark(l, 4095, 2);
	CHECK(bit(l, 1) && popcount_log(l) == 2, "two bytes across the 4 KiB boundary mark pages 0 and 1");
	dlog_mark(l, 3 * 4096, 4096);
	CHECK(bit(l, 3) && !bit(l, 4) && popcount_log(l) == 3, "exactly one page marks one bit");
	dlog_mark(l, 10 * 4096 + 100, 0);
	CHECK(popcount_log(l) == 3, "zero length marks nothing");
	dlog_mark(l, 127 * 4096, 8192);
	CHECK(bit(l, 127) && l->out_of_range == 1, "a write past the log's end is counted, not written");
	dlog_mark(l, UINT64_MAX - 10, 100);
	CHECK(l->out_of_range == 2, "an address near 2^64 is out of range, no wrap");
	{
		uint8_t *raw = mmap(NULL, 4096 + 16, PROT_READ, MAP_SHARED, fd, 0);

		CHECK(raw != MAP_FAILED && raw[4096] == 0x0b, "bits land in the frontend's memory at the offset");
	}
	dlog_free(l);

	desc = (struct vu_log){ .mmap_size = 64, .mmap_offset = 4096 };
	CHECK(dlog_map(&desc, fd, &l, why, sizeof(why)) == -EINVAL, "log larger than its file rejected: %s", why);
	desc = (struct vu_log){ .mmap_size = 0, .mmap_offset = 0 };
	CHECK(dlog_map(&desc, fd, &l, why, sizeof(why)) == -EINVAL, "empty log rejected");
	desc = (struct vu_log){ .mmap_size = 16, .mmap_offset = UINT64_MAX - 8 };
	CHECK(dlog_map(&desc, fd, &l, why, sizeof(why)) == -EINVAL, "offset overflow rejected: %s", why);
	desc = (struct vu_log){ .mmap_size = 1ull << 40, .mmap_offset = 0 };
	CHECK(dlog_map(&desc, fd, &l, why, sizeof(why)) == -EINVAL, "absurd log size rejected");
	{
		int pfd[2];

		CHECK(pipe(pfd) == 0, "pipe");
		desc = (struct vu_log){ .mmap_size = 16, .mmap_offset = 0 };
		CHECK(dlog_map(&desc, pfd[0], &l, why, sizeof(why)) == -EINVAL, "a pipe is not a log: %s", why);
	}
	close(fd);
	return check_done();
}
