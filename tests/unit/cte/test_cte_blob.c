/*
 * Blob data through the client API: a model-based randomized test across a
 * RAM and a file target, placement by score and DPE, spill, -ENOSPC with
 * nothing lost, manual versus measured target scores, reorganize with
 * concurrent readers, fallocate, sync, telemetry.
 *
 * CTE_TEST_SEED=<n> replays the randomized test with another seed;
 * CTE_TEST_OPS=<n> changes its length.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cte_test_util.h"

#define MIB (1024 * 1024)

static uint32_t next_minor = 100;
static char file_paths[64][512];
static int n_file_paths;

static const char *file_target(const char *name)
{
	char *p = file_paths[n_file_paths++];

	snprintf(p, 512, "%s/%s.bdev", cte_test_dir(), name);
	return p;
}

static void new_pool(cte_client *c, struct cte_params *p)
{
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "blob%u", next_minor);
	rc = cte_test_pool(c, name, next_minor++, p, NULL);
	if (rc)
		fprintf(stderr, "pool: %d %s\n", rc, chi_error_last());
	assert_int_equal(rc, 0);
}

/* Bytes of blob `id` held on target `name` (placement). */
static uint64_t bytes_on(cte_client *c, cte_id id, const char *name)
{
	cte_blob_info *info;
	uint64_t bytes = 0;

	assert_int_equal(cte_blob_info_get(c, id, &info), 0);
	for (size_t i = 0; i < info->n_targets; i++)
		if (!strcmp(info->placement[i].target, name))
			bytes += info->placement[i].bytes;
	cte_blob_info_free(info);
	return bytes;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ------------------------------------------------------------------ */
/* model-based randomized test                                          */

#define N_TAGS   3
#define N_NAMES  4
#define N_SLOTS  (N_TAGS * N_NAMES)
#define MAX_BLOB (3 * MIB)

struct model_blob {
	bool exists;
	uint64_t size;
	unsigned char *data; /* MAX_BLOB bytes */
};

static unsigned long long g_seed;
static long g_op;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
			        "model test: seed %llu op %ld: ", g_seed,      \
			        g_op);                                         \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, " (replay: CTE_TEST_SEED=%llu)\n",     \
			        g_seed);                                       \
			fail();                                                \
		}                                                              \
	} while (0)

static uint64_t pick_len(uint64_t *s)
{
	uint64_t r = rnd(s) % 100;

	if (r < 70)
		return 1 + rnd(s) % 16384;
	if (r < 95)
		return 1 + rnd(s) % (256 * 1024);
	return 1 + rnd(s) % (1200 * 1024);
}

static void check_blob(cte_client *c, cte_id *tags, struct model_blob *m,
                       int slot, unsigned char *buf)
{
	char name[8];
	uint64_t size = 0, n = 0;
	int rc;

	snprintf(name, sizeof(name), "b%d", slot % N_NAMES);
	rc = cte_get_blob_size(c, tags[slot / N_NAMES], name, &size);
	if (!m[slot].exists) {
		CHECK(rc == -ENOENT, "slot %d should not exist (rc %d)", slot,
		      rc);
		return;
	}
	CHECK(rc == 0, "size of slot %d: %d", slot, rc);
	CHECK(size == m[slot].size, "slot %d size %llu, model %llu", slot,
	      (unsigned long long)size, (unsigned long long)m[slot].size);
	rc = cte_get_blob(c, tags[slot / N_NAMES], name, 0, buf, MAX_BLOB + 100,
	                  &n);
	CHECK(rc == 0 && n == size, "full read of slot %d: rc %d n %llu", slot,
	      rc, (unsigned long long)n);
	CHECK(!memcmp(buf, m[slot].data, size), "slot %d content differs",
	      slot);
}

static void test_model_random(void **state)
{
	struct cte_params p;
	struct model_blob m[N_SLOTS];
	cte_id tags[N_TAGS];
	unsigned char *buf = malloc(MAX_BLOB + 200);
	unsigned char *wbuf = malloc(2 * MIB);
	const char *env = getenv("CTE_TEST_SEED");
	const char *ops_env = getenv("CTE_TEST_OPS");
	long n_ops = ops_env ? atol(ops_env) : 20000;
	uint64_t s;
	cte_client c;
	cte_fs_stats st;
	char name[8], name2[8];

	(void)state;
	g_seed = env ? strtoull(env, NULL, 0) : 20261122ULL;
	s = g_seed * 2654435761ULL + 1;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::model_ram", CHI_BDEV_RAM, 24 * MIB, 0.9);
	cte_test_add_target(&p, file_target("model"), CHI_BDEV_FILE, 64 * MIB,
	                    0.3);
	p.dpe = CTE_DPE_ROUND_ROBIN;
	/* journaled, in a directory of its own: remounted below */
	p.metadata_journal = 1;
	snprintf(p.metadata_log_path, sizeof(p.metadata_log_path),
	         "%s/model-journal", cte_test_dir());
	p.checkpoint_log_size = 256 * 1024;
	new_pool(&c, &p);
	for (int t = 0; t < N_TAGS; t++) {
		char tn[16];

		snprintf(tn, sizeof(tn), "/model/t%d", t);
		assert_int_equal(cte_tag_get_or_create(&c, tn, &tags[t]), 0);
	}
	for (int i = 0; i < N_SLOTS; i++) {
		m[i].exists = false;
		m[i].size = 0;
		m[i].data = calloc(1, MAX_BLOB);
	}
	for (g_op = 0; g_op < n_ops; g_op++) {
		int slot = (int)(rnd(&s) % N_SLOTS), op = (int)(rnd(&s) % 100);
		cte_id tag = tags[slot / N_NAMES];
		struct model_blob *b = &m[slot];
		int rc;

		snprintf(name, sizeof(name), "b%d", slot % N_NAMES);
		if (op < 40) { /* put */
			uint64_t len = pick_len(&s);
			uint64_t off = rnd(&s) % (MAX_BLOB - len);
			unsigned char v = (unsigned char)rnd(&s);

			if (rnd(&s) % 4 == 0) /* block-aligned now and then */
				off &= ~(uint64_t)4095;
			for (uint64_t i = 0; i < len; i++)
				wbuf[i] =
				    (unsigned char)(v + i * 7 + (i >> 12));
			rc = cte_put_blob(&c, tag, name, off, wbuf, len,
			                  CTE_SCORE_UNSET, NULL);
			CHECK(rc == 0, "put slot %d off %llu len %llu: %d",
			      slot, (unsigned long long)off,
			      (unsigned long long)len, rc);
			if (!b->exists) {
				b->exists = true;
				b->size = 0;
			}
			memcpy(b->data + off, wbuf, len);
			if (off + len > b->size)
				b->size = off + len;
		} else if (op < 75) { /* get */
			uint64_t len = pick_len(&s), n = 0, want;
			uint64_t off = rnd(&s) % (b->size + 8192 + 1);

			rc = cte_get_blob(&c, tag, name, off, buf, len, &n);
			if (!b->exists) {
				CHECK(rc == -ENOENT,
				      "get of absent slot %d: %d", slot, rc);
				continue;
			}
			want =
			    off >= b->size
			        ? 0
			        : (len < b->size - off ? len : b->size - off);
			CHECK(rc == 0 && n == want,
			      "get slot %d off %llu len %llu: rc %d n %llu "
			      "want %llu",
			      slot, (unsigned long long)off,
			      (unsigned long long)len, rc,
			      (unsigned long long)n, (unsigned long long)want);
			CHECK(!memcmp(buf, b->data + off, n),
			      "get slot %d off %llu len %llu: content differs",
			      slot, (unsigned long long)off,
			      (unsigned long long)len);
		} else if (op < 85) { /* truncate */
			uint64_t size =
			    rnd(&s) % 3 == 0 ? 0 : rnd(&s) % (MAX_BLOB / 2);

			rc = cte_truncate_blob(&c, tag, name, size);
			if (!b->exists) {
				CHECK(rc == -ENOENT, "truncate absent: %d", rc);
				continue;
			}
			CHECK(rc == 0, "truncate slot %d to %llu: %d", slot,
			      (unsigned long long)size, rc);
			if (size < b->size)
				memset(b->data + size, 0, b->size - size);
			b->size = size;
		} else if (op < 92) { /* rename over another slot */
			int dst = (int)(rnd(&s) % N_SLOTS);
			struct model_blob tmp;

			snprintf(name2, sizeof(name2), "b%d", dst % N_NAMES);
			rc = cte_rename_blob(&c, tag, name, tags[dst / N_NAMES],
			                     name2);
			if (!b->exists) {
				CHECK(rc == -ENOENT, "rename absent: %d", rc);
				continue;
			}
			CHECK(rc == 0, "rename %d -> %d: %d", slot, dst, rc);
			if (dst == slot)
				continue;
			tmp = m[dst];
			m[dst] = *b;
			memset(tmp.data, 0, MAX_BLOB);
			tmp.exists = false;
			tmp.size = 0;
			*b = tmp;
		} else if (op < 96) { /* delete */
			rc = cte_del_blob(&c, tag, name);
			if (!b->exists) {
				CHECK(rc == -ENOENT, "delete absent: %d", rc);
				continue;
			}
			CHECK(rc == 0, "delete slot %d: %d", slot, rc);
			memset(b->data, 0, b->size);
			b->exists = false;
			b->size = 0;
		} else if (op < 99) { /* reorganize */
			double score = (double)(rnd(&s) % 101) / 100.0;

			rc = cte_reorganize_blob(&c, tag, name, score);
			CHECK(rc == (b->exists ? 0 : -ENOENT),
			      "reorganize slot %d: %d", slot, rc);
		} else {
			check_blob(&c, tags, m, slot, buf);
		}
	}
	for (int i = 0; i < N_SLOTS; i++)
		check_blob(&c, tags, m, i, buf);
	/* unmount and mount again: the same blobs and bytes */
	{
		chi_pool_id id = c.pool_id;
		char name[32];

		assert_int_equal(chi_pool_destroy(id), 0);
		snprintf(name, sizeof(name), "blob%u", id.minor);
		assert_int_equal(cte_test_pool(&c, name, id.minor, &p, NULL),
		                 0);
		for (int i = 0; i < N_SLOTS; i++)
			check_blob(&c, tags, m, i, buf);
	}
	/* everything deleted: every block is back */
	{
		cte_id top;

		assert_int_equal(cte_tag_get_or_create(&c, "/model", &top), 0);
		assert_int_equal(cte_tag_del(&c, top), 0);
	}
	assert_int_equal(cte_sync_all(&c), 0); /* deferred frees done */
	assert_int_equal(cte_statfs(&c, &st), 0);
	CHECK(st.free_bytes == st.capacity, "leak: free %llu of %llu",
	      (unsigned long long)st.free_bytes,
	      (unsigned long long)st.capacity);
	for (int i = 0; i < N_SLOTS; i++)
		free(m[i].data);
	free(buf);
	free(wbuf);
	chi_pool_destroy(c.pool_id);
}

/* ------------------------------------------------------------------ */
/* placement                                                            */

static cte_id put_new(cte_client *c, cte_id tag, const char *name, uint64_t len,
                      double score, unsigned char fill)
{
	unsigned char *buf = malloc(len);
	cte_id id;

	memset(buf, fill, len);
	assert_int_equal(cte_put_blob(c, tag, name, 0, buf, len, score, &id),
	                 0);
	free(buf);
	return id;
}

static void test_placement_by_score(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, hi, lo, mid;
	const char *fpath = file_target("score");

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::score_ram", CHI_BDEV_RAM, 16 * MIB, 1.0);
	cte_test_add_target(&p, fpath, CHI_BDEV_FILE, 16 * MIB, 0.2);
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/s", &tag), 0);
	hi = put_new(&c, tag, "hi", MIB, 0.9, 1);
	lo = put_new(&c, tag, "lo", MIB, 0.1, 2);
	mid = put_new(&c, tag, "mid", MIB, 0.65, 3);
	assert_int_equal(bytes_on(&c, hi, "ram::score_ram"), MIB);
	assert_int_equal(bytes_on(&c, lo, fpath), MIB);
	assert_int_equal(bytes_on(&c, mid, "ram::score_ram"), MIB);
	/* reorganize moves, data identical, old blocks freed */
	assert_int_equal(cte_blob_set_score(&c, hi, 0.15), 0);
	assert_int_equal(bytes_on(&c, hi, fpath), MIB);
	assert_int_equal(bytes_on(&c, hi, "ram::score_ram"), 0);
	{
		unsigned char *buf = malloc(MIB);
		uint64_t n;

		assert_int_equal(cte_blob_read(&c, hi, 0, buf, MIB, &n), 0);
		assert_int_equal(n, MIB);
		for (int i = 0; i < MIB; i++)
			assert_int_equal(buf[i], 1);
		free(buf);
	}
	/* a change below the threshold records the score, moves nothing */
	assert_int_equal(cte_blob_set_score(&c, lo, 0.13), 0);
	assert_int_equal(bytes_on(&c, lo, fpath), MIB);
	{
		double sc;

		assert_int_equal(cte_get_blob_score(&c, tag, "lo", &sc), 0);
		assert_true(fabs(sc - 0.13) < 1e-9);
	}
	assert_int_equal(cte_blob_set_score(&c, lo, 1.5), -EINVAL);
	assert_int_equal(cte_blob_set_score(&c, lo, NAN), -EINVAL);
	/* a tag's default score */
	assert_int_equal(cte_blob_set_score(&c, tag, 0.05), 0);
	{
		cte_attr a;

		assert_int_equal(cte_ns_getattr(&c, tag, &a), 0);
		assert_true(fabs(a.score - 0.05) < 1e-9);
		lo = put_new(&c, tag, "inherits", 8192, CTE_SCORE_UNSET, 4);
		assert_int_equal(bytes_on(&c, lo, fpath), 8192);
	}
	chi_pool_destroy(c.pool_id);
}

static void dpe_case(enum cte_dpe dpe, int *out_a, int *out_b)
{
	struct cte_params p;
	cte_client c;
	cte_id tag;
	char name[16], ta[32], tb[32];

	snprintf(ta, sizeof(ta), "ram::dpe%d_a", (int)dpe);
	snprintf(tb, sizeof(tb), "ram::dpe%d_b", (int)dpe);
	cte_test_params(&p);
	cte_test_add_target(&p, ta, CHI_BDEV_RAM, 8 * MIB, 0.8);
	cte_test_add_target(&p, tb, CHI_BDEV_RAM, 16 * MIB, 0.8);
	p.dpe = dpe;
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/dpe", &tag), 0);
	*out_a = *out_b = 0;
	for (int i = 0; i < 20; i++) {
		cte_id id;

		snprintf(name, sizeof(name), "b%d", i);
		id = put_new(&c, tag, name, 4096, 0.8, (unsigned char)i);
		*out_a += bytes_on(&c, id, ta) == 4096;
		*out_b += bytes_on(&c, id, tb) == 4096;
	}
	chi_pool_destroy(c.pool_id);
}

static void test_dpe(void **state)
{
	int a, b;

	(void)state;
	dpe_case(CTE_DPE_ROUND_ROBIN, &a, &b);
	assert_int_equal(a, 10);
	assert_int_equal(b, 10);
	dpe_case(CTE_DPE_RANDOM, &a, &b);
	assert_int_equal(a + b, 20);
	assert_true(a > 0 && b > 0);
	/* max_bw: equal (unmeasured) bandwidth, then the most free space */
	dpe_case(CTE_DPE_MAX_BW, &a, &b);
	assert_int_equal(b, 20);
}

static void test_spill_and_enospc(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, big, other;
	const char *fpath = file_target("spill");
	unsigned char *buf = malloc(4 * MIB);
	uint64_t n;

	(void)state;
	/* spill: a full RAM tier overflows to the file tier */
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::spill_ram", CHI_BDEV_RAM, MIB, 1.0);
	cte_test_add_target(&p, fpath, CHI_BDEV_FILE, 8 * MIB, 0.2);
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/spill", &tag), 0);
	big = put_new(&c, tag, "big", 3 * MIB, 1.0, 7);
	assert_int_equal(bytes_on(&c, big, "ram::spill_ram") +
	                     bytes_on(&c, big, fpath),
	                 3 * MIB);
	assert_true(bytes_on(&c, big, "ram::spill_ram") > 0);
	assert_true(bytes_on(&c, big, fpath) >= 2 * MIB);
	assert_int_equal(cte_blob_read(&c, big, 0, buf, 3 * MIB, &n), 0);
	assert_int_equal(n, 3 * MIB);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 7);
	chi_pool_destroy(c.pool_id);

	/* -ENOSPC: nothing changes, other blobs untouched, delete frees */
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::full_ram", CHI_BDEV_RAM, 2 * MIB, 1.0);
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/full", &tag), 0);
	big = put_new(&c, tag, "a", MIB + 4096, 1.0, 0x11);
	other = put_new(&c, tag, "b", 512 * 1024, 1.0, 0x22);
	memset(buf, 0x33, 4 * MIB);
	/* overwrites part of "a" and extends it past what is free */
	assert_int_equal(cte_blob_write(&c, big, 4096, buf, 2 * MIB), -ENOSPC);
	assert_int_equal(cte_blob_read(&c, big, 0, buf, 4 * MIB, &n), 0);
	assert_int_equal(n, MIB + 4096);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0x11);
	assert_int_equal(cte_blob_read(&c, other, 0, buf, 4 * MIB, &n), 0);
	assert_int_equal(n, 512 * 1024);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0x22);
	assert_int_equal(cte_blob_fallocate(&c, other, 0, 4 * MIB, false),
	                 -ENOSPC);
	assert_int_equal(cte_get_blob_size(&c, tag, "b", &n), 0);
	assert_int_equal(n, 512 * 1024);
	assert_int_equal(cte_del_blob(&c, tag, "a"), 0);
	memset(buf, 0x44, 4 * MIB);
	assert_int_equal(cte_blob_write(&c, other, 0, buf, MIB + MIB / 2), 0);
	chi_pool_destroy(c.pool_id);
	free(buf);
}

/* Free space in 4 KiB holes: a 1 MiB write still fits (the allocation is
 * split when the device needs more than CHI_BDEV_MAX_BLOCKS pieces). */
static void test_fragmented(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, ids[512];
	char name[16];
	unsigned char *buf = malloc(MIB);
	uint64_t n;

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::frag_ram", CHI_BDEV_RAM, 2 * MIB, 1.0);
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/frag", &tag), 0);
	for (int i = 0; i < 512; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ids[i] = put_new(&c, tag, name, 4096, 1.0, (unsigned char)i);
	}
	for (int i = 0; i < 512; i += 2)
		assert_int_equal(cte_blob_destroy(&c, ids[i]), 0);
	memset(buf, 0x6b, MIB);
	assert_int_equal(cte_put_blob(&c, tag, "big", 0, buf, MIB, 1.0, NULL),
	                 0);
	memset(buf, 0, MIB);
	assert_int_equal(cte_get_blob(&c, tag, "big", 0, buf, MIB, &n), 0);
	assert_int_equal(n, MIB);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0x6b);
	{
		cte_blob_info *info;

		assert_int_equal(cte_get_blob_info(&c, tag, "big", &info), 0);
		assert_true(info->n_extents > CHI_BDEV_MAX_BLOCKS);
		cte_blob_info_free(info);
	}
	for (int i = 1; i < 512; i += 2) {
		unsigned char b[8];

		assert_int_equal(cte_blob_read(&c, ids[i], 0, b, 8, &n), 0);
		assert_int_equal(b[0], (unsigned char)i);
	}
	free(buf);
	chi_pool_destroy(c.pool_id);
}

static void test_target_scores(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_target_info *list, info;
	size_t n;
	const char *fpath = file_target("measured");

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::manual", CHI_BDEV_RAM, 8 * MIB, 0.75);
	cte_test_add_target(&p, fpath, CHI_BDEV_FILE, 8 * MIB, -1.0);
	new_pool(&c, &p);
	assert_int_equal(cte_target_list(&c, &list, &n), 0);
	assert_int_equal(n, 2);
	free(list);
	assert_int_equal(cte_target_get_info(&c, "ram::manual", &info), 0);
	assert_true(info.manual_score);
	assert_true(fabs(info.score - 0.75) < 1e-12);
	assert_true(info.is_volatile);
	assert_int_equal(cte_target_get_info(&c, fpath, &info), 0);
	assert_false(info.manual_score);
	assert_false(info.is_volatile);
	assert_true(info.score > 0 && info.score <= 1.0);
	assert_true(info.write_bw_mbps > 0);
	/* StatTargets refreshes measured scores, never manual ones */
	{
		cte_id tag;

		assert_int_equal(cte_tag_get_or_create(&c, "/ts", &tag), 0);
		put_new(&c, tag, "x", 2 * MIB, 0.75, 1);
		put_new(&c, tag, "y", 2 * MIB, 0.0, 1);
	}
	assert_int_equal(cte_target_stat(&c), 0);
	assert_int_equal(cte_target_get_info(&c, "ram::manual", &info), 0);
	assert_true(fabs(info.score - 0.75) < 1e-12);
	assert_int_equal(cte_target_get_info(&c, fpath, &info), 0);
	assert_true(info.score > 0 && info.score <= 1.0);
	/* RegisterTarget / UnregisterTarget */
	assert_int_equal(
	    cte_target_register(&c, "ram::extra", CHI_BDEV_RAM, MIB, 0.5), 0);
	assert_int_equal(
	    cte_target_register(&c, "ram::extra", CHI_BDEV_RAM, MIB, 0.5),
	    -EEXIST);
	assert_int_equal(
	    cte_target_register(&c, "ram::bad", CHI_BDEV_RAM, MIB, 1.5),
	    -EINVAL);
	assert_int_equal(cte_target_unregister(&c, "ram::manual"), -EBUSY);
	assert_int_equal(cte_target_unregister(&c, "ram::extra"), 0);
	assert_int_equal(cte_target_unregister(&c, "ram::extra"), -ENOENT);
	assert_int_equal(cte_target_register(&c, "/nonexistent-dir/x/t.bdev",
	                                     CHI_BDEV_FILE, MIB, 0.5),
	                 -ENOENT);
	chi_pool_destroy(c.pool_id);
}

/* ------------------------------------------------------------------ */
/* reorganize with concurrent readers                                   */

struct reader_arg {
	cte_client *c;
	cte_id id;
	size_t len;
	_Atomic int *stop;
	long reads, bad;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	unsigned char *buf = malloc(a->len);

	while (!atomic_load(a->stop)) {
		uint64_t n = 0;

		if (cte_blob_read(a->c, a->id, 0, buf, a->len, &n) ||
		    n != a->len) {
			a->bad++;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if (buf[i] != (unsigned char)(i * 31 + 7)) {
				a->bad++;
				break;
			}
		a->reads++;
	}
	free(buf);
	return NULL;
}

static void test_reorganize_concurrent_readers(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, id;
	const char *fpath = file_target("reorg");
	size_t len = 3 * MIB + 1234;
	unsigned char *data = malloc(len);
	pthread_t th[3];
	struct reader_arg args[3];
	_Atomic int stop = 0;
	long total = 0;

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::reorg_ram", CHI_BDEV_RAM, 16 * MIB, 1.0);
	cte_test_add_target(&p, fpath, CHI_BDEV_FILE, 16 * MIB, 0.1);
	new_pool(&c, &p);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 31 + 7);
	assert_int_equal(cte_tag_get_or_create(&c, "/reorg", &tag), 0);
	assert_int_equal(cte_put_blob(&c, tag, "b", 0, data, len, 1.0, &id), 0);
	for (int i = 0; i < 3; i++) {
		args[i] = (struct reader_arg){&c, id, len, &stop, 0, 0};
		pthread_create(&th[i], NULL, reader, &args[i]);
	}
	for (int round = 0; round < 20; round++) {
		double score = round % 2 ? 1.0 : 0.1;

		assert_int_equal(cte_blob_set_score(&c, id, score), 0);
		assert_int_equal(
		    bytes_on(&c, id, round % 2 ? "ram::reorg_ram" : fpath),
		    (len + 4095) & ~(size_t)4095);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].bad, 0);
		total += args[i].reads;
	}
	assert_true(total > 0);
	free(data);
	chi_pool_destroy(c.pool_id);
}

/* ------------------------------------------------------------------ */
/* sparse, fallocate, sync, info                                        */

static void test_sparse_fallocate_sync(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, id;
	const char *fpath = file_target("sync");
	unsigned char buf[8192];
	cte_attr a;
	uint64_t n;

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::sync_ram", CHI_BDEV_RAM, 16 * MIB, 1.0);
	cte_test_add_target(&p, fpath, CHI_BDEV_FILE, 16 * MIB, 0.1);
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/sp", &tag), 0);
	/* a 100-byte blob holds one block; a far write leaves a hole */
	assert_int_equal(cte_put_blob(&c, tag, "s", 0, "x", 1, 1.0, &id), 0);
	assert_int_equal(cte_blob_write(&c, id, 99, "y", 1), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.size, 100);
	assert_int_equal(a.alloc_bytes, 4096);
	assert_int_equal(cte_blob_write(&c, id, 10 * MIB, "z", 1), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.size, 10 * MIB + 1);
	assert_int_equal(a.alloc_bytes, 8192);
	assert_int_equal(cte_blob_read(&c, id, 5 * MIB, buf, sizeof(buf), &n),
	                 0);
	assert_int_equal(n, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(cte_blob_read(&c, id, 10 * MIB, buf, sizeof(buf), &n),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(buf[0], 'z');
	assert_int_equal(cte_blob_read(&c, id, 20 * MIB, buf, 10, &n), 0);
	assert_int_equal(n, 0);
	/* fallocate: reserves, reads zeros, keep_size keeps the size */
	assert_int_equal(cte_blob_fallocate(&c, id, 2 * MIB, MIB, true), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.size, 10 * MIB + 1);
	assert_int_equal(a.alloc_bytes, 8192 + MIB);
	assert_int_equal(cte_blob_read(&c, id, 2 * MIB, buf, sizeof(buf), &n),
	                 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
	/* sync: blocks only on the RAM target go to the file target */
	assert_true(bytes_on(&c, id, "ram::sync_ram") > 0);
	assert_int_equal(cte_blob_sync(&c, id), 0);
	assert_int_equal(bytes_on(&c, id, "ram::sync_ram"), 0);
	assert_int_equal(bytes_on(&c, id, fpath), 8192 + MIB);
	assert_int_equal(cte_blob_read(&c, id, 0, buf, 100, &n), 0);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(buf[99], 'y');
	assert_int_equal(cte_sync_all(&c), 0);
	/* info */
	{
		cte_blob_info *info;

		assert_int_equal(cte_get_blob_info(&c, tag, "s", &info), 0);
		assert_int_equal(info->id, id);
		assert_int_equal(info->tag, tag);
		assert_string_equal(info->name, "s");
		assert_int_equal(info->size, 10 * MIB + 1);
		assert_true(info->n_extents >= 2);
		assert_int_equal(info->n_targets, 1);
		cte_blob_info_free(info);
	}
	/* truncate to a partial block, then grow: the tail reads zeros */
	assert_int_equal(cte_truncate_blob(&c, tag, "s", 50), 0);
	assert_int_equal(cte_truncate_blob(&c, tag, "s", 200), 0);
	assert_int_equal(cte_blob_read(&c, id, 0, buf, 300, &n), 0);
	assert_int_equal(n, 200);
	assert_int_equal(buf[0], 'x');
	for (int i = 50; i < 200; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(cte_blob_destroy(&c, id), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), -ENOENT);
	chi_pool_destroy(c.pool_id);
}

/* Punching holes: whole blocks freed, edges zeroed, size kept, other
 * bytes intact; past EOF frees keep_size blocks. */
static void test_punch_hole(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, id;
	static unsigned char data[64 * 1024], back[64 * 1024];
	cte_attr a;
	uint64_t n;

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, file_target("punch"), CHI_BDEV_FILE, 16 * MIB,
	                    0.5);
	new_pool(&c, &p);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(1 + i % 251);
	assert_int_equal(cte_tag_get_or_create(&c, "/ph", &tag), 0);
	assert_int_equal(cte_put_blob(&c, tag, "p", 0, data, sizeof(data), 0.5,
	                              &id),
	                 0);
	/* inside one block */
	assert_int_equal(cte_blob_punch(&c, id, 100, 50), 0);
	/* across blocks: partial head, two whole blocks, partial tail */
	assert_int_equal(cte_blob_punch(&c, id, 8192 - 10, 2 * 4096 + 30), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.size, sizeof(data));
	assert_int_equal(a.alloc_bytes, sizeof(data) - 2 * 4096);
	assert_int_equal(cte_blob_read(&c, id, 0, back, sizeof(back), &n), 0);
	assert_int_equal(n, sizeof(back));
	for (size_t i = 0; i < sizeof(data); i++) {
		bool hole = (i >= 100 && i < 150) ||
		            (i >= 8192 - 10 && i < 8192 + 8192 + 20);
		if (back[i] != (hole ? 0 : data[i]))
			fail_msg("byte %zu is %u, want %u", i, back[i],
			         hole ? 0 : data[i]);
	}
	/* blocks kept past EOF by fallocate are freed by a punch there */
	assert_int_equal(cte_blob_fallocate(&c, id, sizeof(data), MIB, true),
	                 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.alloc_bytes, sizeof(data) - 2 * 4096 + MIB);
	assert_int_equal(cte_blob_punch(&c, id, sizeof(data), MIB), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.alloc_bytes, sizeof(data) - 2 * 4096);
	assert_int_equal(a.size, sizeof(data));
	/* the whole file: no blocks, all zeros, same size */
	assert_int_equal(cte_blob_punch(&c, id, 0, sizeof(data)), 0);
	assert_int_equal(cte_ns_getattr(&c, id, &a), 0);
	assert_int_equal(a.alloc_bytes, 0);
	assert_int_equal(a.size, sizeof(data));
	assert_int_equal(cte_blob_read(&c, id, 0, back, sizeof(back), &n), 0);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(cte_blob_punch(&c, id, 0, 0), -EINVAL);
	assert_int_equal(cte_blob_destroy(&c, id), 0);
	chi_pool_destroy(c.pool_id);
}

/* ------------------------------------------------------------------ */
/* telemetry                                                            */

static void test_telemetry(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, id;
	cte_telemetry_entry e[64];
	size_t n;
	uint64_t dropped, last;

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::tel_ram", CHI_BDEV_RAM, 4 * MIB, 1.0);
	p.telemetry_capacity = 16;
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/tel", &tag), 0);
	assert_int_equal(cte_poll_telemetry(&c, 0, e, 64, &n, &dropped), 0);
	last = n ? e[n - 1].logical_time : 0;
	assert_int_equal(cte_put_blob(&c, tag, "blob", 4096, "abc", 3, -1, &id),
	                 0);
	assert_int_equal(cte_get_blob(&c, tag, "blob", 4096, e, 3, NULL), 0);
	assert_int_equal(cte_poll_telemetry(&c, last, e, 64, &n, &dropped), 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(n, 3); /* create, put, get */
	assert_int_equal(e[0].op, CTE_OP_CREATE);
	assert_int_equal(e[1].op, CTE_OP_PUT);
	assert_int_equal(e[1].tag, tag);
	assert_int_equal(e[1].blob, id);
	assert_string_equal(e[1].blob_name, "blob");
	assert_int_equal(e[1].offset, 4096);
	assert_int_equal(e[1].size, 3);
	assert_int_equal(e[2].op, CTE_OP_GET);
	assert_true(e[0].logical_time < e[1].logical_time &&
	            e[1].logical_time < e[2].logical_time);
	last = e[2].logical_time;
	/* overflow the 16-entry ring */
	for (int i = 0; i < 40; i++)
		assert_int_equal(cte_blob_write(&c, id, 0, "q", 1), 0);
	assert_int_equal(cte_poll_telemetry(&c, last, e, 64, &n, &dropped), 0);
	assert_int_equal(n, 16);
	assert_int_equal(dropped, 24);
	assert_int_equal(e[0].logical_time, last + 25);
	assert_int_equal(
	    cte_poll_telemetry(&c, e[15].logical_time, e, 64, &n, &dropped), 0);
	assert_int_equal(n, 0);
	assert_int_equal(dropped, 0);
	chi_pool_destroy(c.pool_id);
}

struct writer_arg {
	cte_client *c;
	cte_id tag;
	int idx;
	long errors;
};

/* Each thread owns one blob: writes patterns at random offsets and reads
 * them back while the other threads do the same. */
static void *writer(void *p)
{
	struct writer_arg *a = p;
	unsigned char *buf = malloc(256 * 1024), *chk = malloc(256 * 1024);
	uint64_t s = 77 + (uint64_t)a->idx, n;
	char name[16];
	cte_id id;

	snprintf(name, sizeof(name), "w%d", a->idx);
	if (cte_put_blob(a->c, a->tag, name, 0, "", 0, -1, &id))
		a->errors++;
	for (int i = 0; i < 300 && !a->errors; i++) {
		uint64_t len = 1 + rnd(&s) % (256 * 1024);
		uint64_t off = rnd(&s) % (4 * MIB);

		for (uint64_t k = 0; k < len; k++)
			buf[k] = (unsigned char)(a->idx * 13 + i + k);
		if (cte_blob_write(a->c, id, off, buf, len) ||
		    cte_blob_read(a->c, id, off, chk, len, &n) || n != len ||
		    memcmp(buf, chk, len))
			a->errors++;
	}
	free(buf);
	free(chk);
	return NULL;
}

static void test_concurrent_blobs(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag;
	pthread_t th[4];
	struct writer_arg args[4];

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::conc_ram", CHI_BDEV_RAM, 16 * MIB, 1.0);
	cte_test_add_target(&p, file_target("conc"), CHI_BDEV_FILE, 32 * MIB,
	                    0.5);
	p.dpe = CTE_DPE_RANDOM;
	new_pool(&c, &p);
	assert_int_equal(cte_tag_get_or_create(&c, "/conc", &tag), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct writer_arg){&c, tag, i, 0};
		pthread_create(&th[i], NULL, writer, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].errors, 0);
	}
	chi_pool_destroy(c.pool_id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_placement_by_score),
	    cmocka_unit_test(test_dpe),
	    cmocka_unit_test(test_spill_and_enospc),
	    cmocka_unit_test(test_fragmented),
	    cmocka_unit_test(test_target_scores),
	    cmocka_unit_test(test_sparse_fallocate_sync),
	    cmocka_unit_test(test_punch_hole),
	    cmocka_unit_test(test_telemetry),
	    cmocka_unit_test(test_reorganize_concurrent_readers),
	    cmocka_unit_test(test_concurrent_blobs),
	    cmocka_unit_test(test_model_random),
	};
	int rc;

	if (cte_test_runtime_start(2)) {
		fprintf(stderr, "runtime: %s\n", chi_error_last());
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	chi_finalize();
	for (int i = 0; i < n_file_paths; i++)
		unlink(file_paths[i]);
	{
		char jdir[300];

		snprintf(jdir, sizeof(jdir), "%s/model-journal",
		         cte_test_dir());
		cte_test_rm_dir(jdir);
	}
	cte_test_rm_dir(cte_test_dir());
	return rc;
}
