/*
 * Unit tests of the bdev block allocator (modules/bdev/src/bdev_alloc.c),
 * linked on its own: no runtime needed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bdev_alloc_i.h"

#define UNIT 4096ull
#define MiB  (1024ull * 1024)

/* A shadow map of which units are allocated, to catch overlaps. */
struct shadow {
	uint64_t units;
	unsigned char *owned;
};

static void shadow_init(struct shadow *sh, uint64_t capacity)
{
	sh->units = capacity / UNIT;
	sh->owned = calloc(sh->units, 1);
	assert_non_null(sh->owned);
}

static void shadow_mark(struct shadow *sh, const chi_bdev_block *b, uint32_t n,
                        int set)
{
	uint32_t i;
	uint64_t u;

	for (i = 0; i < n; i++) {
		assert_int_equal(b[i].offset % UNIT, 0);
		assert_int_equal(b[i].size % UNIT, 0);
		assert_true(b[i].size > 0);
		assert_true(b[i].offset / UNIT + b[i].size / UNIT <= sh->units);
		for (u = b[i].offset / UNIT;
		     u < (b[i].offset + b[i].size) / UNIT; u++) {
			/* set: must be free; clear: must be owned */
			assert_int_equal(sh->owned[u], set ? 0 : 1);
			sh->owned[u] = (unsigned char)set;
		}
	}
}

static uint64_t total_size(const chi_bdev_block *b, uint32_t n)
{
	uint64_t t = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		t += b[i].size;
	return t;
}

static void test_basic_sizes(void **state)
{
	struct bdev__alloc a;
	chi_bdev_block b[CHI_BDEV_MAX_BLOCKS];
	uint32_t n;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, 1 * MiB, UNIT, 0), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 1 * MiB);
	/* sizes round up to the unit */
	assert_int_equal(bdev__alloc_get(&a, 0, 1, b, 64, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].size, UNIT);
	assert_int_equal(bdev__alloc_free_bytes(&a), 1 * MiB - UNIT);
	assert_int_equal(bdev__alloc_put(&a, b, n), 0);
	assert_int_equal(bdev__alloc_get(&a, 0, UNIT + 1, b, 64, &n), 0);
	assert_int_equal(total_size(b, n), 2 * UNIT);
	assert_int_equal(bdev__alloc_put(&a, b, n), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 1 * MiB);
	/* everything merged back into one extent */
	assert_int_equal(bdev__alloc_extent_count(&a), 1);
	/* zero size / zero max_blocks are invalid */
	assert_int_equal(bdev__alloc_get(&a, 0, 0, b, 64, &n), -EINVAL);
	assert_int_equal(bdev__alloc_get(&a, 0, UNIT, b, 0, &n), -EINVAL);
	/* the whole device in one piece */
	assert_int_equal(bdev__alloc_get(&a, 0, 1 * MiB, b, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].offset, 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 0);
	assert_int_equal(bdev__alloc_put(&a, b, n), 0);
	bdev__alloc_destroy(&a);

	/* bad setup */
	assert_int_equal(bdev__alloc_init(&a, 100, UNIT, 0), -EINVAL);
	assert_int_equal(bdev__alloc_init(&a, 1 * MiB, 3000, 0), -EINVAL);
}

/* Random sizes, random frees and reuse; every size class comes back. */
static void test_many_sizes_reuse(void **state)
{
	enum { SLOTS = 200 };
	struct bdev__alloc a;
	struct shadow sh;
	chi_bdev_block held[SLOTS][8];
	uint32_t held_n[SLOTS] = {0};
	uint64_t cap = 16 * MiB;
	unsigned seed = 12345;
	int iter, i, enospc = 0;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, cap, UNIT, 4), 0);
	shadow_init(&sh, cap);
	for (iter = 0; iter < 20000; iter++) {
		i = rand_r(&seed) % SLOTS;
		if (held_n[i]) {
			shadow_mark(&sh, held[i], held_n[i], 0);
			assert_int_equal(
			    bdev__alloc_put(&a, held[i], held_n[i]), 0);
			held_n[i] = 0;
		} else {
			/* sizes from 1 byte to 512 KiB, skewed small */
			uint64_t size =
			    1 + rand_r(&seed) %
			            (rand_r(&seed) % 2 ? 16384 : 524288);
			int rc = bdev__alloc_get(&a, (uint32_t)iter, size,
			                         held[i], 8, &held_n[i]);

			if (rc == 0) {
				assert_true(total_size(held[i], held_n[i]) >=
				            size);
				assert_true(total_size(held[i], held_n[i]) <
				            size + UNIT);
				shadow_mark(&sh, held[i], held_n[i], 1);
			} else {
				assert_true(rc == -ENOSPC || rc == -E2BIG);
				assert_int_equal(held_n[i], 0);
				enospc++;
			}
		}
	}
	for (i = 0; i < SLOTS; i++)
		if (held_n[i]) {
			shadow_mark(&sh, held[i], held_n[i], 0);
			assert_int_equal(
			    bdev__alloc_put(&a, held[i], held_n[i]), 0);
		}
	/* no leak at any size: all space back and fully coalesced */
	assert_int_equal(bdev__alloc_free_bytes(&a), cap);
	assert_int_equal(bdev__alloc_extent_count(&a), 4);
	/* and one allocation of everything still works */
	{
		chi_bdev_block all[CHI_BDEV_MAX_BLOCKS];
		uint32_t n;

		assert_int_equal(bdev__alloc_get(&a, 0, cap, all, 64, &n), 0);
		assert_int_equal(total_size(all, n), cap);
		assert_int_equal(bdev__alloc_free_bytes(&a), 0);
	}
	free(sh.owned);
	bdev__alloc_destroy(&a);
}

/* Checkerboard fragmentation: pieces, -E2BIG all or nothing. */
static void test_fragmentation(void **state)
{
	struct bdev__alloc a;
	chi_bdev_block one[1], b[CHI_BDEV_MAX_BLOCKS];
	chi_bdev_block cells[256];
	uint32_t n, i;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, 1 * MiB, UNIT, 1), 0);
	for (i = 0; i < 256; i++) {
		assert_int_equal(bdev__alloc_get(&a, 0, UNIT, one, 1, &n), 0);
		cells[i] = one[0];
	}
	assert_int_equal(bdev__alloc_get(&a, 0, UNIT, one, 1, &n), -ENOSPC);
	/* free every other cell: 128 holes of one unit */
	for (i = 0; i < 256; i += 2)
		assert_int_equal(bdev__alloc_put(&a, &cells[i], 1), 0);
	assert_int_equal(bdev__alloc_extent_count(&a), 128);
	assert_int_equal(bdev__alloc_free_bytes(&a), 128 * UNIT);
	/* 8 KiB needs two pieces now */
	assert_int_equal(bdev__alloc_get(&a, 0, 2 * UNIT, b, 1, &n), -E2BIG);
	assert_int_equal(bdev__alloc_free_bytes(&a), 128 * UNIT);
	assert_int_equal(bdev__alloc_extent_count(&a), 128);
	assert_int_equal(bdev__alloc_get(&a, 0, 2 * UNIT, b, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bdev__alloc_put(&a, b, n), 0);
	/* 100 units need 100 pieces: more than 64 -> E2BIG, nothing taken */
	assert_int_equal(bdev__alloc_get(&a, 0, 100 * UNIT, b, 64, &n), -E2BIG);
	assert_int_equal(n, 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 128 * UNIT);
	assert_int_equal(bdev__alloc_extent_count(&a), 128);
	/* free the rest: holes coalesce into one extent */
	for (i = 1; i < 256; i += 2)
		assert_int_equal(bdev__alloc_put(&a, &cells[i], 1), 0);
	assert_int_equal(bdev__alloc_extent_count(&a), 1);
	assert_int_equal(bdev__alloc_get(&a, 0, 1 * MiB, b, 1, &n), 0);
	bdev__alloc_destroy(&a);
}

/* Exhaustion, -ENOSPC touches nothing, recovery after frees. */
static void test_exhaustion_recovery(void **state)
{
	struct bdev__alloc a;
	chi_bdev_block b[64][CHI_BDEV_MAX_BLOCKS], x[CHI_BDEV_MAX_BLOCKS];
	uint32_t n[64], xn, i, got = 0;
	uint64_t cap = 4 * MiB;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, cap, UNIT, 4), 0);
	for (i = 0; i < 64; i++) {
		int rc = bdev__alloc_get(&a, i, 100 * 1024, b[i], 64, &n[i]);

		if (rc) {
			assert_int_equal(rc, -ENOSPC);
			break;
		}
		got++;
	}
	/* 4 MiB / 100 KiB (rounded to 25 units) = 40 allocations */
	assert_int_equal(got, 40);
	assert_int_equal(bdev__alloc_free_bytes(&a), cap - 40 * 25 * UNIT);
	/* more than what is left fails and changes nothing */
	assert_int_equal(bdev__alloc_get(&a, 0, 25 * UNIT, x, 64, &xn),
	                 -ENOSPC);
	assert_int_equal(bdev__alloc_free_bytes(&a), cap - 40 * 25 * UNIT);
	/* what is left can still be taken exactly */
	assert_int_equal(bdev__alloc_get(&a, 0, 24 * UNIT, x, 64, &xn), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 0);
	assert_int_equal(bdev__alloc_get(&a, 0, 1, x + 8, 1, &i), -ENOSPC);
	assert_int_equal(i, 0);
	assert_int_equal(bdev__alloc_put(&a, x, xn), 0);
	/* free two allocations; a request of both sizes together fits */
	assert_int_equal(bdev__alloc_put(&a, b[3], n[3]), 0);
	assert_int_equal(bdev__alloc_put(&a, b[4], n[4]), 0);
	assert_int_equal(bdev__alloc_get(&a, 0, 50 * UNIT, x, 64, &xn), 0);
	assert_int_equal(total_size(x, xn), 50 * UNIT);
	assert_int_equal(bdev__alloc_free_bytes(&a), 24 * UNIT);
	assert_int_equal(bdev__alloc_put(&a, x, xn), 0);
	for (i = 0; i < got; i++)
		if (i != 3 && i != 4)
			assert_int_equal(bdev__alloc_put(&a, b[i], n[i]), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), cap);
	bdev__alloc_destroy(&a);
}

/* Double free, bad extents, all-or-nothing batches. */
static void test_bad_free(void **state)
{
	struct bdev__alloc a;
	chi_bdev_block b[2], x[CHI_BDEV_MAX_BLOCKS];
	chi_bdev_block bad;
	uint32_t n;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, 1 * MiB, UNIT, 1), 0);
	assert_int_equal(bdev__alloc_get(&a, 0, UNIT, &b[0], 1, &n), 0);
	assert_int_equal(bdev__alloc_get(&a, 0, UNIT, &b[1], 1, &n), 0);
	assert_int_equal(bdev__alloc_put(&a, &b[0], 1), 0);
	/* b[0] is free already: the batch fails and b[1] stays allocated */
	assert_int_equal(bdev__alloc_put(&a, b, 2), -EINVAL);
	assert_int_equal(bdev__alloc_free_bytes(&a), 1 * MiB - UNIT);
	assert_int_equal(bdev__alloc_put(&a, &b[1], 1), 0);
	assert_int_equal(bdev__alloc_put(&a, &b[1], 1), -EINVAL);
	bad.offset = 100;
	bad.size = UNIT;
	assert_int_equal(bdev__alloc_put(&a, &bad, 1), -EINVAL);
	bad.offset = 1 * MiB;
	assert_int_equal(bdev__alloc_put(&a, &bad, 1), -EINVAL);
	bad.offset = 0;
	bad.size = 0;
	assert_int_equal(bdev__alloc_put(&a, &bad, 1), -EINVAL);
	assert_int_equal(bdev__alloc_free_bytes(&a), 1 * MiB);
	/* a partial overlap with free space is a double free too */
	assert_int_equal(bdev__alloc_get(&a, 0, 4 * UNIT, x, 1, &n), 0);
	bad.offset = x[0].offset + 2 * UNIT;
	bad.size = 4 * UNIT;
	assert_int_equal(bdev__alloc_put(&a, &bad, 1), -EINVAL);
	assert_int_equal(bdev__alloc_put(&a, x, 1), 0);
	assert_int_equal(bdev__alloc_extent_count(&a), 1);
	bdev__alloc_destroy(&a);
}

/* Reserve marks ranges allocated (recovery); they are never handed out. */
static void test_reserve(void **state)
{
	struct bdev__alloc a;
	struct shadow sh;
	chi_bdev_block r[2], x[CHI_BDEV_MAX_BLOCKS];
	uint32_t n;
	uint64_t cap = 8 * MiB;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, cap, UNIT, 4), 0);
	shadow_init(&sh, cap);
	/* one range across the shard boundary at 2 MiB, one inside */
	r[0].offset = 2 * MiB - 4 * UNIT;
	r[0].size = 8 * UNIT;
	r[1].offset = 5 * MiB;
	r[1].size = 3 * UNIT;
	assert_int_equal(bdev__alloc_reserve(&a, r, 2), 0);
	shadow_mark(&sh, r, 2, 1);
	assert_int_equal(bdev__alloc_free_bytes(&a), cap - 11 * UNIT);
	assert_int_equal(bdev__alloc_reserve(&a, &r[1], 1), -EEXIST);
	/* take everything else: nothing overlaps the reserved ranges */
	for (;;) {
		int rc = bdev__alloc_get(&a, 0, 64 * 1024, x, 64, &n);

		if (rc) {
			assert_true(rc == -ENOSPC);
			break;
		}
		shadow_mark(&sh, x, n, 1);
	}
	while (bdev__alloc_get(&a, 0, UNIT, x, 1, &n) == 0)
		shadow_mark(&sh, x, n, 1);
	assert_int_equal(bdev__alloc_free_bytes(&a), 0);
	/* reserved ranges can be freed like allocated ones */
	assert_int_equal(bdev__alloc_put(&a, r, 2), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), 11 * UNIT);
	/* reserve fails all or nothing when one range is not free */
	x[0] = r[0];
	x[1].offset = 0;
	x[1].size = UNIT; /* allocated above */
	assert_int_equal(bdev__alloc_reserve(&a, x, 2), -EEXIST);
	assert_int_equal(bdev__alloc_free_bytes(&a), 11 * UNIT);
	assert_int_equal(bdev__alloc_reserve(&a, &r[0], 1), 0);
	free(sh.owned);
	bdev__alloc_destroy(&a);
}

/* A big request on a sharded device comes back in several extents. */
static void test_large_across_shards(void **state)
{
	struct bdev__alloc a;
	struct shadow sh;
	chi_bdev_block x[CHI_BDEV_MAX_BLOCKS], y[CHI_BDEV_MAX_BLOCKS];
	uint32_t n, m;
	uint64_t cap = 64 * MiB;
	(void)state;

	assert_int_equal(bdev__alloc_init(&a, cap, UNIT, 16), 0);
	shadow_init(&sh, cap);
	assert_int_equal(bdev__alloc_get(&a, 5, 48 * MiB, x, 64, &n), 0);
	assert_int_equal(total_size(x, n), 48 * MiB);
	shadow_mark(&sh, x, n, 1);
	assert_int_equal(bdev__alloc_get(&a, 9, 16 * MiB, y, 64, &m), 0);
	shadow_mark(&sh, y, m, 1);
	assert_int_equal(bdev__alloc_free_bytes(&a), 0);
	assert_int_equal(bdev__alloc_put(&a, x, n), 0);
	assert_int_equal(bdev__alloc_put(&a, y, m), 0);
	assert_int_equal(bdev__alloc_free_bytes(&a), cap);
	assert_int_equal(bdev__alloc_extent_count(&a), 16);
	free(sh.owned);
	bdev__alloc_destroy(&a);
}

/* ---- concurrency: no unit is ever owned twice ---- */

#define CONC_THREADS 4
#define CONC_CAP     (8 * MiB)

struct conc {
	struct bdev__alloc a;
	_Atomic uint32_t owner[CONC_CAP / UNIT];
	_Atomic int failures;
};

struct conc_arg {
	struct conc *c;
	uint32_t id;
};

static void conc_claim(struct conc *c, const chi_bdev_block *b, uint32_t n,
                       uint32_t id)
{
	uint32_t i;
	uint64_t u;

	for (i = 0; i < n; i++)
		for (u = b[i].offset / UNIT;
		     u < (b[i].offset + b[i].size) / UNIT; u++) {
			uint32_t expect = 0;

			if (!atomic_compare_exchange_strong(&c->owner[u],
			                                    &expect, id))
				atomic_fetch_add(&c->failures, 1);
		}
}

static void conc_release(struct conc *c, const chi_bdev_block *b, uint32_t n,
                         uint32_t id)
{
	uint32_t i;
	uint64_t u;

	for (i = 0; i < n; i++)
		for (u = b[i].offset / UNIT;
		     u < (b[i].offset + b[i].size) / UNIT; u++) {
			uint32_t expect = id;

			if (!atomic_compare_exchange_strong(&c->owner[u],
			                                    &expect, 0))
				atomic_fetch_add(&c->failures, 1);
		}
}

static void *conc_thread(void *p)
{
	enum { SLOTS = 32 };
	struct conc_arg *arg = p;
	struct conc *c = arg->c;
	chi_bdev_block held[SLOTS][4];
	uint32_t n[SLOTS] = {0}, i;
	unsigned seed = arg->id * 7919;
	int iter;

	for (iter = 0; iter < 30000; iter++) {
		i = (uint32_t)rand_r(&seed) % SLOTS;
		if (n[i]) {
			conc_release(c, held[i], n[i], arg->id);
			if (bdev__alloc_put(&c->a, held[i], n[i]))
				atomic_fetch_add(&c->failures, 1);
			n[i] = 0;
		} else {
			uint64_t size = UNIT * (1 + rand_r(&seed) % 32);
			int rc = bdev__alloc_get(&c->a, arg->id, size, held[i],
			                         4, &n[i]);

			if (rc == 0)
				conc_claim(c, held[i], n[i], arg->id);
			else if (rc != -ENOSPC && rc != -E2BIG)
				atomic_fetch_add(&c->failures, 1);
		}
	}
	for (i = 0; i < SLOTS; i++)
		if (n[i]) {
			conc_release(c, held[i], n[i], arg->id);
			if (bdev__alloc_put(&c->a, held[i], n[i]))
				atomic_fetch_add(&c->failures, 1);
		}
	return NULL;
}

static void test_concurrent_no_double_alloc(void **state)
{
	struct conc *c = calloc(1, sizeof(*c));
	pthread_t th[CONC_THREADS];
	struct conc_arg args[CONC_THREADS];
	uint32_t i;
	(void)state;

	assert_non_null(c);
	/* 8 MiB, 4 shards; 4 threads x 32 slots x up to 128 KiB = 16 MiB of
	 * demand, so the device runs full and stealing happens */
	assert_int_equal(bdev__alloc_init(&c->a, CONC_CAP, UNIT, 4), 0);
	for (i = 0; i < CONC_THREADS; i++) {
		args[i].c = c;
		args[i].id = i + 1;
		assert_int_equal(
		    pthread_create(&th[i], NULL, conc_thread, &args[i]), 0);
	}
	for (i = 0; i < CONC_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&c->failures), 0);
	assert_int_equal(bdev__alloc_free_bytes(&c->a), CONC_CAP);
	assert_int_equal(bdev__alloc_extent_count(&c->a), 4);
	bdev__alloc_destroy(&c->a);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_sizes),
	    cmocka_unit_test(test_many_sizes_reuse),
	    cmocka_unit_test(test_fragmentation),
	    cmocka_unit_test(test_exhaustion_recovery),
	    cmocka_unit_test(test_bad_free),
	    cmocka_unit_test(test_reserve),
	    cmocka_unit_test(test_large_across_shards),
	    cmocka_unit_test(test_concurrent_no_double_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
