// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Maglev tables: balance (entries and hashed flows, with and without weights), minimal
 * disruption (removal moves only the removed backend's entries; addition moves only entries
 * to the newcomer), drain, determinism, and invariants over a long random churn.
 */
#include <stdio.h>

#include "check.h"
#include "lb/lb_internal.h"

#define M 65537
#define MAXB 64

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static uint64_t rnd64(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

struct set {
	unsigned int n;
	struct lb_mg_backend be[MAXB];
	unsigned int id[MAXB];      /* a stable name for each backend across sets */
};

static void set_add(struct set *s, unsigned int id, uint32_t weight)
{
	const uint64_t k1[2] = { 1, 2 }, k2[2] = { 3, 4 };

	s->be[s->n] = (struct lb_mg_backend){ .h1 = lb_siphash2(k1, id, 0x52540000ull + id),
					      .h2 = lb_siphash2(k2, id, 0x52540000ull + id),
					      .weight = weight };
	s->id[s->n++] = id;
}

static void set_del(struct set *s, unsigned int idx)
{
	memmove(&s->be[idx], &s->be[idx + 1], (s->n - idx - 1) * sizeof(s->be[0]));
	memmove(&s->id[idx], &s->id[idx + 1], (s->n - idx - 1) * sizeof(s->id[0]));
	s->n--;
}

/* @old (indices of @from) in the index space of @to. */
static void translate(const uint16_t *old, const struct set *from, const struct set *to,
		      uint16_t *out, uint32_t m)
{
	uint16_t map[MAXB];

	for (unsigned int i = 0; i < from->n; i++) {
		map[i] = LB_MG_NONE;
		for (unsigned int j = 0; j < to->n; j++)
			if (to->id[j] == from->id[i])
				map[i] = (uint16_t)j;
	}
	for (uint32_t s = 0; s < m; s++)
		out[s] = old[s] == LB_MG_NONE ? LB_MG_NONE : map[old[s]];
}

static void counts(const uint16_t *t, uint32_t m, unsigned int n, uint32_t *c)
{
	memset(c, 0, n * sizeof(*c));
	for (uint32_t s = 0; s < m; s++)
		if (t[s] < n)
			c[t[s]]++;
}

/* Every backend's share is its exact quota (largest remainder): within one entry of m*w/W. */
static bool shares_exact(const struct set *s, const uint16_t *t, uint32_t m, double *ret_dev)
{
	uint32_t c[MAXB];
	uint64_t total = 0;
	uint32_t none = 0;

	counts(t, m, s->n, c);
	for (uint32_t k = 0; k < m; k++)
		none += t[k] == LB_MG_NONE;
	for (unsigned int i = 0; i < s->n; i++)
		total += s->be[i].weight;
	*ret_dev = 0;
	if (none)
		return false;
	for (unsigned int i = 0; i < s->n; i++) {
		double want = (double)m * s->be[i].weight / (double)total;
		double d = c[i] > want ? c[i] - want : want - c[i];

		if (d >= 1.0)
			return false;
		if (want > 0 && d / want > *ret_dev)
			*ret_dev = d / want;
	}
	return true;
}

static void balance(void)
{
	static uint16_t t[M];
	struct set s = { 0 };
	uint32_t hits[MAXB] = { 0 };
	const uint64_t key[2] = { 11, 12 };
	double dev, worst = 0;
	const unsigned int flows = 500000;

	for (unsigned int i = 0; i < 7; i++)
		set_add(&s, i, 100);
	CHECK(lb_maglev_build(s.be, s.n, M, NULL, t) == 0, "7 backends, M=65537");
	CHECK(shares_exact(&s, t, M, &dev), "entries: each backend within one entry of M/7");
	/* Flows: hashed 5-tuples, as the datapath does; binomial noise is ~0.4%% here. */
	for (unsigned int f = 0; f < flows; f++)
		hits[t[lb_siphash2(key, rnd64(), rnd64()) % M]]++;
	for (unsigned int i = 0; i < s.n; i++) {
		double d = (double)hits[i] / (flows / 7.0) - 1;

		worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
	}
	CHECK(worst < 0.02, "500000 hashed flows: every backend within 2%% of its share (worst %.2f%%)",
	      worst * 100);

	memset(&s, 0, sizeof(s));
	for (unsigned int i = 0; i < 4; i++)
		set_add(&s, 100 + i, (uint32_t)(i + 1) * 10);   /* weights 10:20:30:40 */
	CHECK(lb_maglev_build(s.be, s.n, M, NULL, t) == 0, "weights 1:2:3:4");
	CHECK(shares_exact(&s, t, M, &dev), "entries proportional to weights, to one entry");
	memset(hits, 0, sizeof(hits));
	for (unsigned int f = 0; f < flows; f++)
		hits[t[lb_siphash2(key, rnd64(), rnd64()) % M]]++;
	worst = 0;
	for (unsigned int i = 0; i < s.n; i++) {
		double d = (double)hits[i] / (flows * (i + 1) / 10.0) - 1;

		worst = d < 0 ? (-d > worst ? -d : worst) : (d > worst ? d : worst);
	}
	CHECK(worst < 0.03, "weighted flows within 3%% of 1:2:3:4 (worst %.2f%%)", worst * 100);

	memset(&s, 0, sizeof(s));
	for (unsigned int i = 0; i < 3; i++)
		set_add(&s, 200 + i, 100);
	CHECK(lb_maglev_build(s.be, s.n, 1021, NULL, t) == 0 && shares_exact(&s, t, 1021, &dev),
	      "small table (1021) still exact shares");
}

static void disruption(void)
{
	static uint16_t t0[M], t1[M], prev[M], fresh[M];
	struct set a = { 0 }, b;
	uint32_t c0[MAXB], moved = 0, survivors_moved = 0, fresh_moved = 0, to_new = 0;
	double dev;

	for (unsigned int i = 0; i < 10; i++)
		set_add(&a, i, 100);
	(void)lb_maglev_build(a.be, a.n, M, NULL, t0);
	counts(t0, M, a.n, c0);

	/* Remove backend 3. */
	b = a;
	set_del(&b, 3);
	translate(t0, &a, &b, prev, M);
	CHECK(lb_maglev_build(b.be, b.n, M, prev, t1) == 0, "rebuild without backend 3");
	for (uint32_t s = 0; s < M; s++) {
		bool was3 = t0[s] == 3;

		if (b.id[t1[s]] != a.id[t0[s]]) {
			moved++;
			if (!was3)
				survivors_moved++;
		}
	}
	CHECK(survivors_moved == 0, "removal: no entry of a surviving backend moved");
	CHECK(moved == c0[3], "removal: exactly the removed backend's %u entries changed (%.2f%% = 1/%u)",
	      moved, 100.0 * moved / M, a.n);
	CHECK(shares_exact(&b, t1, M, &dev), "removal: the 9 survivors share exactly again");
	/* For comparison: the paper's fill from scratch moves survivors' entries too. */
	(void)lb_maglev_build(b.be, b.n, M, NULL, fresh);
	for (uint32_t s = 0; s < M; s++)
		if (t0[s] != 3 && b.id[fresh[s]] != a.id[t0[s]])
			fresh_moved++;
	printf("# a rebuild from scratch would have moved %u surviving entries (%.2f%%)\n",
	       fresh_moved, 100.0 * fresh_moved / M);

	/* Add backend 10 to the original ten. */
	b = a;
	set_add(&b, 10, 100);
	translate(t0, &a, &b, prev, M);
	CHECK(lb_maglev_build(b.be, b.n, M, prev, t1) == 0, "rebuild with an 11th backend");
	moved = 0;
	for (uint32_t s = 0; s < M; s++)
		if (t1[s] != t0[s]) {
			moved++;
			to_new += t1[s] == 10;
		}
	CHECK(moved == to_new, "addition: every changed entry went to the newcomer (%u)", moved);
	CHECK(moved >= M / 11 - 1 && moved <= M / 11 + 1,
	      "addition: ~1/11 of the table changed (%u, %.2f%%)", moved, 100.0 * moved / M);
	CHECK(shares_exact(&b, t1, M, &dev), "addition: exact shares");

	/* Drain backend 5 (weight 0): its entries go, nobody else's move. */
	b = a;
	b.be[5].weight = 0;
	CHECK(lb_maglev_build(b.be, b.n, M, t0, t1) == 0, "drain backend 5");
	counts(t1, M, b.n, c0);
	moved = survivors_moved = 0;
	for (uint32_t s = 0; s < M; s++)
		if (t1[s] != t0[s]) {
			moved++;
			survivors_moved += t0[s] != 5;
		}
	CHECK(c0[5] == 0 && survivors_moved == 0, "drain: backend 5 has no entries, others kept theirs");

	/* Double backend 2's weight: only entries moving to it change. */
	b = a;
	b.be[2].weight = 200;
	CHECK(lb_maglev_build(b.be, b.n, M, t0, t1) == 0, "weight 100 -> 200");
	moved = to_new = 0;
	for (uint32_t s = 0; s < M; s++)
		if (t1[s] != t0[s]) {
			moved++;
			to_new += t1[s] == 2;
		}
	CHECK(moved == to_new && shares_exact(&b, t1, M, &dev),
	      "weight change: %u entries moved, all to the re-weighted backend; exact shares", moved);
}

static void determinism_and_errors(void)
{
	static uint16_t t1[M], t2[M];
	struct set s = { 0 };

	for (unsigned int i = 0; i < 5; i++)
		set_add(&s, 50 + i, 10 + i);
	(void)lb_maglev_build(s.be, s.n, M, NULL, t1);
	(void)lb_maglev_build(s.be, s.n, M, NULL, t2);
	CHECK(!memcmp(t1, t2, sizeof(t1)), "same backends, same table");
	(void)lb_maglev_build(s.be, s.n, M, t1, t2);
	CHECK(!memcmp(t1, t2, sizeof(t1)), "rebuilding from itself changes nothing");
	CHECK(lb_maglev_build(s.be, s.n, 65536, NULL, t1) == -EINVAL, "size not prime: -EINVAL");
	CHECK(lb_is_prime(65537) && lb_is_prime(1021) && !lb_is_prime(1023) && !lb_is_prime(1),
	      "primality");
	for (unsigned int i = 0; i < s.n; i++)
		s.be[i].weight = 0;
	CHECK(lb_maglev_build(s.be, s.n, 1021, NULL, t1) == 0 && t1[0] == LB_MG_NONE &&
	      t1[1020] == LB_MG_NONE, "no weight anywhere: empty table");
}

/* Random adds, removals, re-weights and drains; each step checked against the step before. */
static void churn(void)
{
	static uint16_t cur[M], prev[M], next[M];
	struct set s = { 0 }, t;
	unsigned int next_id = 0, bad_share = 0, bad_removal = 0, steps = 300;
	double dev;

	for (unsigned int i = 0; i < 8; i++)
		set_add(&s, next_id++, 1 + (uint32_t)(rnd64() % 100));
	(void)lb_maglev_build(s.be, s.n, M, NULL, cur);
	for (unsigned int k = 0; k < steps; k++) {
		unsigned int op = (unsigned int)(rnd64() % 4), victim = (unsigned int)(rnd64() % s.n);
		bool removal = false;

		t = s;
		if (op == 0 && t.n < MAXB) {
			set_add(&t, next_id++, 1 + (uint32_t)(rnd64() % 100));
		} else if (op == 1 && t.n > 2) {
			set_del(&t, victim);
			removal = true;
		} else if (op == 2) {
			t.be[victim].weight = 1 + (uint32_t)(rnd64() % 100);
		} else {
			t.be[victim].weight = t.be[victim].weight ? 0 : 50;
		}
		{
			unsigned int w = 0;

			for (unsigned int i = 0; i < t.n; i++)
				w += t.be[i].weight != 0;
			if (!w)
				continue;
		}
		translate(cur, &s, &t, prev, M);
		(void)lb_maglev_build(t.be, t.n, M, prev, next);
		/* A drained backend (weight 0) must hold nothing: its exact share is 0. */
		if (!shares_exact(&t, next, M, &dev))
			bad_share++;
		if (removal)
			for (uint32_t x = 0; x < M; x++)
				if (prev[x] != LB_MG_NONE && prev[x] != next[x]) {
					bad_removal++;
					break;
				}
		s = t;
		memcpy(cur, next, sizeof(cur));
	}
	CHECK(bad_share == 0, "%u random changes: shares always exact (%u bad)", steps, bad_share);
	CHECK(bad_removal == 0, "... and no removal ever moved a survivor's entry (%u bad)", bad_removal);
}

int main(void)
{
	balance();
	disruption();
	determinism_and_errors();
	churn();
	return check_done();
}
