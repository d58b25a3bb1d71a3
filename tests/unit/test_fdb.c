// SPDX-License-Identifier: GPL-2.0-or-later
/* The MAC table: learning, moves, the size limit, flush on port removal, ageing. */
#include "check.h"
#include "sw/fdb.h"

int main(void)
{
	struct dp_port *p1 = (struct dp_port *)0x1000, *p2 = (struct dp_port *)0x2000;
	const uint8_t mac_bytes[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	uint64_t mac = fdb_mac_from_bytes(mac_bytes);
	struct fdb *fdb;

	rcu_register_thread();
	CHECK(mac == 0x525400123456ull, "MAC bytes to integer");
	CHECK(fdb_new(4, &fdb) == 0, "fdb with room for 4");
	CHECK(fdb_lookup_rcu(fdb, mac) == NULL, "unknown MAC");
	fdb_learn_rcu(fdb, mac, p1, 100);
	CHECK(fdb_lookup_rcu(fdb, mac) == p1, "learned on p1");
	fdb_learn_rcu(fdb, mac, p2, 101);
	CHECK(fdb_lookup_rcu(fdb, mac) == p2 && fdb->count == 1, "moved to p2, still one entry");
	for (uint64_t i = 1; i <= 10; i++)
		fdb_learn_rcu(fdb, mac + i, p1, 100);
	CHECK(fdb->count == 4 && fdb->learn_refused == 7, "limit holds: 4 entries, 7 refused (%u, %llu)",
	      fdb->count, (unsigned long long)fdb->learn_refused);
	CHECK(fdb_flush_port(fdb, p1) == 3 && fdb->count == 1, "flush p1 removes its 3 entries");
	CHECK(fdb_lookup_rcu(fdb, mac) == p2, "p2's entry survives the flush");
	CHECK(fdb_age(fdb, 101 + 300, 300) == 0, "not older than 300 s: kept");
	CHECK(fdb_age(fdb, 101 + 301, 300) == 1 && fdb_lookup_rcu(fdb, mac) == NULL, "aged out after 301 s");
	fdb_free(fdb);
	rcu_unregister_thread();
	return check_done();
}
