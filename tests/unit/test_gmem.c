// SPDX-License-Identifier: GPL-2.0-or-later
/* Guest memory: mapping checks, translation at region boundaries, overflow, overlap. */
#include <fcntl.h>

#include "check.h"
#include "guestmem.h"

int main(void)
{
	struct test_region a, b;
	struct gmem_table *t;
	struct gmem_region g;
	unsigned int hint = 0;
	char why[160];
	uint64_t len;
	uint8_t *h;

	CHECK(test_region_make(&a, 0x100000, 0x10000, 0x7f0000000000ull) == 0, "region a");
	CHECK(test_region_make(&b, 0x110000, 0x10000, 0x7f0000100000ull) == 0, "region b");
	CHECK(gmem_table_new(&t) == 0, "table");
	CHECK(test_region_add(t, &a) == 0 && test_region_add(t, &b) == 0, "two adjacent regions");

	len = 16;
	h = gmem_gpa_to_hva(t, 0x100010, &len, &hint);
	CHECK(h && len == 16, "inside a region: whole length");
	a.view[0x10] = 0x5a;
	CHECK(h && *h == 0x5a, "translation hits the same memory the test sees");
	len = 64;
	h = gmem_gpa_to_hva(t, 0x10fff0, &len, &hint);
	CHECK(h && len == 16, "a buffer across the region end is clipped to 16 bytes (got %llu)",
	      (unsigned long long)len);
	len = 48;
	b.view[0] = 0xa5;
	h = gmem_gpa_to_hva(t, 0x110000, &len, &hint);
	CHECK(h && *h == 0xa5 && len == 48, "the rest translates in the next region");
	len = 1;
	CHECK(!gmem_gpa_to_hva(t, 0x120000, &len, &hint), "first byte past the last region: none");
	len = 1;
	CHECK(!gmem_gpa_to_hva(t, 0xfffff, &len, &hint), "byte before the first region: none");
	len = UINT64_MAX;
	h = gmem_gpa_to_hva(t, 0x100000, &len, &hint);
	CHECK(h && len == 0x10000, "huge length clipped to the region");
	len = 8;
	b.view[8] = 0x3c;
	h = gmem_qva_to_hva(t, 0x7f0000100008ull, &len);
	CHECK(h && *h == 0x3c, "qva translation");

	{
		struct vu_mem_region d = { 0x108000, 0x1000, 0x7f0000200000ull, 0 };
		int r = gmem_region_map(&d, dup(a.fd), &g, why, sizeof(why));

		CHECK(r == 0, "map a third region");
		CHECK(gmem_table_add(t, &g, why, sizeof(why)) == -EINVAL, "overlapping gpa rejected: %s", why);
		gmem_region_unmap(&g);
	}
	{
		struct vu_mem_region d = { 0x200000, 0x20000, 0x7f0000300000ull, 0 };
		int fd = dup(a.fd);
		int r = gmem_region_map(&d, fd, &g, why, sizeof(why));

		CHECK(r == -EINVAL, "region larger than its file rejected: %s", why);
		close(fd);
	}
	{
		struct vu_mem_region d = { UINT64_MAX - 10, 0x1000, 0, 0 };
		int fd = dup(a.fd);

		CHECK(gmem_region_map(&d, fd, &g, why, sizeof(why)) == -EINVAL, "gpa overflow rejected: %s", why);
		d = (struct vu_mem_region){ 0, 0x1000, 0, UINT64_MAX - 10 };
		CHECK(gmem_region_map(&d, fd, &g, why, sizeof(why)) == -EINVAL, "offset overflow rejected: %s", why);
		d = (struct vu_mem_region){ 0, 0, 0, 0 };
		CHECK(gmem_region_map(&d, fd, &g, why, sizeof(why)) == -EINVAL, "empty region rejected");
		close(fd);
	}
	{
		struct vu_mem_region d = { 0, 0x1000, 0, 0 };
		int fd = open("/dev/null", O_RDONLY);

		CHECK(gmem_region_map(&d, fd, &g, why, sizeof(why)) == -EINVAL, "non-file fd rejected: %s", why);
		close(fd);
	}
	{
		struct vu_mem_region d = { a.gpa, a.size, a.qva, 0 };

		CHECK(gmem_table_remove(t, &d, &g) == 0 && t->nregions == 1, "remove a region");
		gmem_region_unmap(&g);
		len = 1;
		CHECK(!gmem_gpa_to_hva(t, 0x100010, &len, &hint), "removed region no longer translates");
	}
	gmem_table_free(t, true);
	return check_done();
}
