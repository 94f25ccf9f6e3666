/*
 * CTE's pure data structures, linked alone (no runtime): the hash table,
 * the extent map (checked against a per-block model), placement order and
 * measured scores, and the telemetry ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extmap_i.h"
#include "htab_i.h"
#include "place_i.h"
#include "telemetry_i.h"

struct item {
	struct cte_hnode node;
	uint64_t key;
};

static void test_htab(void **state)
{
	struct cte_htab t;
	struct item *items = calloc(5000, sizeof(*items));
	size_t i;

	(void)state;
	cte__htab_init(&t);
	assert_null(cte__htab_first(&t, 1));
	for (i = 0; i < 5000; i++) {
		items[i].key = i * 3;
		assert_int_equal(
		    cte__htab_insert(&t, &items[i].node, cte__hash_u64(i * 3)),
		    0);
	}
	assert_int_equal(t.count, 5000);
	for (i = 0; i < 5000; i += 7) {
		struct cte_hnode *n = cte__htab_first(&t, cte__hash_u64(i * 3));
		bool found = false;

		for (; n; n = cte__htab_next(n))
			if (CTE_CONTAINER_OF(n, struct item, node)->key ==
			    i * 3)
				found = true;
		assert_true(found);
	}
	for (i = 0; i < 5000; i += 2)
		cte__htab_remove(&t, &items[i].node);
	assert_int_equal(t.count, 2500);
	assert_null(cte__htab_first(&t, cte__hash_u64(0)));
	assert_non_null(cte__htab_first(&t, cte__hash_u64(3)));
	assert_true(cte__hash_bytes("ab", 2, 1) != cte__hash_bytes("ab", 2, 2));
	assert_true(cte__hash_bytes("ab", 2, 1) != cte__hash_bytes("ba", 2, 1));
	cte__htab_destroy(&t);
	free(items);
}

/* Per-block model: dev[blk] = device address + 1 of each mapped block. */
#define NB 2048
static uint64_t model[NB];

static void check_map(const struct cte_extmap *m)
{
	uint64_t seen[NB] = {0};
	size_t i;

	assert_true(cte__extmap_valid(m));
	for (i = 0; i < m->n; i++) {
		const struct cte_extent *e = &m->v[i];

		for (uint32_t k = 0; k < e->nblk; k++) {
			assert_true(e->lblk + k < NB);
			seen[e->lblk + k] =
			    e->dev_off + ((uint64_t)k << CTE_BLOCK_SHIFT) + 1;
		}
	}
	for (i = 0; i < NB; i++) {
		assert_int_equal(seen[i], model[i]);
		assert_true((model[i] != 0) ==
		            (cte__extmap_lookup(m, i) != NULL));
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_extmap_random(void **state)
{
	struct cte_extmap m, gaps, removed;
	uint64_t s = 12345, next_dev = 0;

	(void)state;
	memset(model, 0, sizeof(model));
	cte__extmap_init(&m);
	for (int op = 0; op < 3000; op++) {
		uint64_t b0 = rnd(&s) % NB;
		uint64_t b1 = b0 + 1 + rnd(&s) % 600;

		if (b1 > NB)
			b1 = NB;
		if (rnd(&s) % 3) { /* map every hole of [b0, b1) */
			cte__extmap_init(&gaps);
			assert_int_equal(cte__extmap_gaps(&m, b0, b1, &gaps),
			                 0);
			for (size_t i = 0; i < gaps.n; i++) {
				struct cte_extent e = gaps.v[i];

				/* chunk-bounded and really holes */
				assert_true(e.lblk / CTE_CHUNK_BLOCKS ==
				            (e.lblk + e.nblk - 1) /
				                CTE_CHUNK_BLOCKS);
				e.target = 0;
				/* sometimes device-contiguous (merge) */
				if (rnd(&s) % 2)
					next_dev += 4096 * (1 + rnd(&s) % 4);
				e.dev_off = next_dev;
				next_dev += (uint64_t)e.nblk << CTE_BLOCK_SHIFT;
				for (uint32_t k = 0; k < e.nblk; k++) {
					assert_int_equal(model[e.lblk + k], 0);
					model[e.lblk + k] =
					    e.dev_off +
					    ((uint64_t)k << CTE_BLOCK_SHIFT) +
					    1;
				}
				assert_int_equal(cte__extmap_insert(&m, &e), 0);
			}
			cte__extmap_destroy(&gaps);
		} else { /* punch */
			uint64_t freed = 0;

			cte__extmap_init(&removed);
			assert_int_equal(
			    cte__extmap_punch(&m, b0, b1, &removed), 0);
			for (size_t i = 0; i < removed.n; i++) {
				const struct cte_extent *e = &removed.v[i];

				for (uint32_t k = 0; k < e->nblk; k++) {
					assert_int_equal(
					    model[e->lblk + k],
					    e->dev_off +
					        ((uint64_t)k
					         << CTE_BLOCK_SHIFT) +
					        1);
					model[e->lblk + k] = 0;
					freed++;
				}
			}
			for (uint64_t b = b0; b < b1; b++)
				assert_int_equal(model[b], 0);
			(void)freed;
			cte__extmap_destroy(&removed);
		}
		check_map(&m);
	}
	{
		uint64_t mapped = 0;

		for (int i = 0; i < NB; i++)
			mapped += model[i] != 0;
		assert_int_equal(cte__extmap_blocks(&m), mapped);
	}
	cte__extmap_destroy(&m);
}

static void test_extmap_merge(void **state)
{
	struct cte_extmap m;
	struct cte_extent a = {0, 10, 1, 0}, b = {10, 6, 1, 40960};
	struct cte_extent c = {16, 300, 1, 65536}; /* crosses a chunk */

	(void)state;
	cte__extmap_init(&m);
	assert_int_equal(cte__extmap_insert(&m, &b), 0);
	assert_int_equal(cte__extmap_insert(&m, &a), 0);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.v[0].nblk, 16);
	/* different target: no merge */
	c.nblk = 240;
	c.target = 2;
	assert_int_equal(cte__extmap_insert(&m, &c), 0);
	assert_int_equal(m.n, 2);
	/* the next chunk never merges with this one */
	{
		struct cte_extent d = {256, 4, 2, 65536 + 240 * 4096};

		assert_int_equal(cte__extmap_insert(&m, &d), 0);
		assert_int_equal(m.n, 3);
	}
	assert_true(cte__extmap_valid(&m));
	cte__extmap_destroy(&m);
}

static void test_place_order(void **state)
{
	struct cte_place_target t[4] = {
	    {true, 1.0, 100, 1000},  /* 0: ram */
	    {true, 0.2, 900, 5000},  /* 1: file, fast */
	    {true, 0.205, 50, 9000}, /* 2: file, same tier as 1 */
	    {false, 0.9, 0, 0},      /* 3: unusable */
	};
	uint32_t out[4];
	uint64_t rr = 0, rng = 1;
	size_t n;

	(void)state;
	n = cte__place_order(t, 4, 0.9, CTE_DPE_MAX_BW, &rr, &rng, out);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1); /* max_bw inside the file tier */
	assert_int_equal(out[2], 2);
	n = cte__place_order(t, 4, 0.0, CTE_DPE_MAX_BW, &rr, &rng, out);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(out[2], 0); /* spill goes to the next tier */
	/* round robin rotates inside the tier */
	{
		int first1 = 0, first2 = 0;

		for (int i = 0; i < 10; i++) {
			cte__place_order(t, 4, 0.1, CTE_DPE_ROUND_ROBIN, &rr,
			                 &rng, out);
			first1 += out[0] == 1;
			first2 += out[0] == 2;
			assert_int_equal(out[2], 0);
		}
		assert_int_equal(first1, 5);
		assert_int_equal(first2, 5);
	}
	/* random uses both */
	{
		int first1 = 0;

		for (int i = 0; i < 64; i++) {
			cte__place_order(t, 4, 0.1, CTE_DPE_RANDOM, &rr, &rng,
			                 out);
			first1 += out[0] == 1;
		}
		assert_true(first1 > 5 && first1 < 59);
	}
	/* equidistant tiers: the higher first */
	{
		struct cte_place_target u[2] = {{true, 0.75, 0, 1},
		                                {true, 0.25, 0, 1}};

		cte__place_order(u, 2, 0.5, CTE_DPE_MAX_BW, &rr, &rng, out);
		assert_int_equal(out[0], 0);
	}
	assert_true(cte__same_tier(0.2, 0.205));
	assert_false(cte__same_tier(0.2, 0.25));
	{
		enum cte_dpe d;

		assert_int_equal(cte__dpe_parse("round_robin", &d), 0);
		assert_int_equal(d, CTE_DPE_ROUND_ROBIN);
		assert_int_equal(cte__dpe_parse("fastest", &d), -EINVAL);
	}
}

static void test_score_from_bw(void **state)
{
	(void)state;
	assert_true(cte__score_from_bw(0) > 0);
	assert_true(cte__score_from_bw(100) < cte__score_from_bw(1000));
	assert_true(cte__score_from_bw(1000) < cte__score_from_bw(10000));
	assert_true(cte__score_from_bw(1e9) <= 1.0);
}

static void test_telemetry_ring(void **state)
{
	struct cte_telemetry t;
	cte_telemetry_entry e[32];
	size_t n;
	uint64_t dropped;

	(void)state;
	assert_int_equal(cte__telemetry_init(&t, 8), 0);
	cte__telemetry_poll(&t, 0, e, 32, &n, &dropped);
	assert_int_equal(n, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cte__telemetry_log(&t, CTE_OP_PUT, 1, 2, "b",
		                                    (uint64_t)i, 10),
		                 (uint64_t)i + 1);
	cte__telemetry_poll(&t, 0, e, 32, &n, &dropped);
	assert_int_equal(n, 5);
	assert_int_equal(dropped, 0);
	assert_int_equal(e[4].offset, 4);
	assert_string_equal(e[0].blob_name, "b");
	cte__telemetry_poll(&t, 3, e, 1, &n, &dropped);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].logical_time, 4);
	for (int i = 0; i < 10; i++)
		cte__telemetry_log(&t, CTE_OP_GET, 1, 2, NULL, 0, 0);
	/* 15 logged, 8 kept (8..15): after time 2, 5 were dropped */
	cte__telemetry_poll(&t, 2, e, 32, &n, &dropped);
	assert_int_equal(dropped, 5);
	assert_int_equal(n, 8);
	assert_int_equal(e[0].logical_time, 8);
	assert_int_equal(e[7].logical_time, 15);
	cte__telemetry_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_htab),
	    cmocka_unit_test(test_extmap_random),
	    cmocka_unit_test(test_extmap_merge),
	    cmocka_unit_test(test_place_order),
	    cmocka_unit_test(test_score_from_bw),
	    cmocka_unit_test(test_telemetry_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
