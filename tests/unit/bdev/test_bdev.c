/*
 * bdev module tests through the runtime: data integrity on RAM and file
 * devices with several client threads and workers in flight, a full
 * device, statistics, compose-created pools, parameter parsing and the
 * bad-input cases.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/chimaera.h"
#include "bdev_i.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)

static char tmpdir[256];

static const char runtime_yaml[] = "runtime:\n"
                                   "  num_threads: 3\n"
                                   "  queue_depth: 256\n"
                                   "compose:\n"
                                   "  - mod_name: chimaera_bdev\n"
                                   "    pool_name: \"ram::test_composed\"\n"
                                   "    pool_query: local\n"
                                   "    pool_id: \"790.0\"\n"
                                   "    bdev_type: ram\n"
                                   "    capacity: \"8MB\"\n";

static int group_setup(void **state)
{
	chi_config *cfg = NULL;
	int rc;
	(void)state;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/chi_test_bdev.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	rc = chi_config_load_string(&cfg, runtime_yaml, "test_bdev.yaml");
	if (rc) {
		fprintf(stderr, "config: %s\n", chi_error_last());
		return -1;
	}
	rc = chi_init_with_loaded_config(cfg);
	if (rc) {
		fprintf(stderr, "chi_init: %d %s\n", rc, chi_error_last());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];
	(void)state;

	chi_finalize();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
}

static chi_bdev_params ram_params(const char *name, uint64_t capacity)
{
	chi_bdev_params p;

	memset(&p, 0, sizeof(p));
	p.type = CHI_BDEV_RAM;
	snprintf(p.path, sizeof(p.path), "ram::%s", name);
	p.capacity = capacity;
	return p;
}

static chi_bdev_params file_params(const char *name, uint64_t capacity)
{
	chi_bdev_params p;

	memset(&p, 0, sizeof(p));
	p.type = CHI_BDEV_FILE;
	tmp_path(p.path, sizeof(p.path), name);
	p.capacity = capacity;
	p.io_depth = 16;
	return p;
}

static void fill_random(unsigned char *buf, size_t len, unsigned *seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)rand_r(seed);
}

/* ---- data integrity: threads x async requests, random offsets/sizes ---- */

#define INTEG_THREADS 4
#define INTEG_REGION  (4 * MiB)
#define INTEG_SLOTS   8
#define INTEG_ROUNDS  30

struct integ_arg {
	chi_pool_id id;
	uint64_t base;
	unsigned seed;
	_Atomic int *failures;
};

static void integ_fail(struct integ_arg *a, const char *what, uint64_t off,
                       uint64_t len, int rc)
{
	if (atomic_fetch_add(a->failures, 1) < 5)
		fprintf(stderr, "integrity: %s at %llu+%llu rc %d (%s)\n", what,
		        (unsigned long long)off, (unsigned long long)len, rc,
		        chi_error_last());
}

static void *integ_thread(void *p)
{
	struct integ_arg *a = p;
	const uint64_t slot = INTEG_REGION / INTEG_SLOTS;
	unsigned char *shadow = malloc(INTEG_REGION);
	unsigned char *src = NULL, *dst = NULL;
	chi_future f[INTEG_SLOTS];
	uint64_t off[INTEG_SLOTS], len[INTEG_SLOTS], skew[INTEG_SLOTS];
	int round, k, rc;

	if (!shadow ||
	    posix_memalign((void **)&src, 4096, INTEG_REGION + 8192) ||
	    posix_memalign((void **)&dst, 4096, INTEG_REGION + 8192)) {
		atomic_fetch_add(a->failures, 1);
		goto out;
	}
	/* known contents first: one big write (chunked inside) */
	fill_random(shadow, INTEG_REGION, &a->seed);
	rc = chi_bdev_write(a->id, a->base, shadow, INTEG_REGION);
	if (rc)
		integ_fail(a, "initial write", a->base, INTEG_REGION, rc);
	for (round = 0; round < INTEG_ROUNDS; round++) {
		/* every third round aligned: O_DIRECT from the caller's
		 * buffer; otherwise anything (heads, tails, bounces) */
		bool aligned = round % 3 == 0;

		for (k = 0; k < INTEG_SLOTS; k++) {
			uint64_t o = rand_r(&a->seed) % slot;
			uint64_t l = 1 + rand_r(&a->seed) % (slot - o);

			if (l > 300 * KiB)
				l = 1 + l % (300 * KiB);
			if (aligned) {
				o = o / 4096 * 4096;
				l = (l + 4095) / 4096 * 4096;
				if (o + l > slot)
					l = slot - o;
			}
			off[k] = k * slot + o;
			len[k] = l;
			skew[k] = aligned ? 0 : rand_r(&a->seed) % 4096;
			fill_random(src + off[k] + skew[k], l, &a->seed);
			f[k] = chi_bdev_write_async(a->id, a->base + off[k],
			                            src + off[k] + skew[k], l);
			if (!f[k].task)
				integ_fail(a, "submit", off[k], l, -ENOMEM);
		}
		for (k = 0; k < INTEG_SLOTS; k++) {
			if (!f[k].task)
				continue;
			rc = chi_wait(f[k]);
			chi_task_free(f[k].task);
			if (rc)
				integ_fail(a, "write", off[k], len[k], rc);
			memcpy(shadow + off[k], src + off[k] + skew[k], len[k]);
		}
		/* read back random ranges, in flight together */
		for (k = 0; k < INTEG_SLOTS; k++) {
			uint64_t o = rand_r(&a->seed) % slot;
			uint64_t l = 1 + rand_r(&a->seed) % (slot - o);

			if (aligned) {
				o = o / 4096 * 4096;
				l = (l + 4095) / 4096 * 4096;
				if (o + l > slot)
					l = slot - o;
			}
			off[k] = k * slot + o;
			len[k] = l;
			skew[k] = aligned ? 0 : rand_r(&a->seed) % 4096;
			f[k] = chi_bdev_read_async(a->id, a->base + off[k],
			                           dst + off[k] + skew[k], l);
		}
		for (k = 0; k < INTEG_SLOTS; k++) {
			if (!f[k].task)
				continue;
			rc = chi_wait(f[k]);
			chi_task_free(f[k].task);
			if (rc)
				integ_fail(a, "read", off[k], len[k], rc);
			else if (memcmp(dst + off[k] + skew[k], shadow + off[k],
			                len[k]))
				integ_fail(a, "compare", off[k], len[k], 0);
		}
	}
	/* the whole region, synchronously, into an unaligned buffer */
	rc = chi_bdev_read(a->id, a->base, dst + 1, INTEG_REGION);
	if (rc)
		integ_fail(a, "final read", a->base, INTEG_REGION, rc);
	else if (memcmp(dst + 1, shadow, INTEG_REGION))
		integ_fail(a, "final compare", a->base, INTEG_REGION, 0);
out:
	free(shadow);
	free(src);
	free(dst);
	return NULL;
}

static void run_integrity(chi_pool_id id)
{
	pthread_t th[INTEG_THREADS];
	struct integ_arg args[INTEG_THREADS];
	_Atomic int failures = 0;
	chi_bdev_stats st;
	int i;

	for (i = 0; i < INTEG_THREADS; i++) {
		args[i].id = id;
		args[i].base = (uint64_t)i * INTEG_REGION;
		args[i].seed = 1000u + (unsigned)i;
		args[i].failures = &failures;
		assert_int_equal(
		    pthread_create(&th[i], NULL, integ_thread, &args[i]), 0);
	}
	for (i = 0; i < INTEG_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&failures), 0);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_true(st.ops_written >= INTEG_THREADS * (1 + INTEG_ROUNDS * 8));
	assert_true(st.ops_read >= INTEG_THREADS * (1 + INTEG_ROUNDS * 8));
	assert_true(st.bytes_written >= INTEG_THREADS * INTEG_REGION);
	assert_true(st.write_bw_mbps > 0);
	assert_true(st.read_bw_mbps > 0);
	assert_true(st.write_lat_us > 0);
	assert_true(st.read_lat_us > 0);
}

static void test_integrity_ram(void **state)
{
	chi_pool_id id = {701, 0};
	chi_bdev_params p = ram_params("integ", INTEG_THREADS * INTEG_REGION);
	unsigned char *big = malloc(p.capacity), *back = malloc(p.capacity);
	unsigned seed = 5;
	(void)state;

	assert_non_null(big);
	assert_non_null(back);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	run_integrity(id);
	/* one request of the whole device (copied in slices) */
	fill_random(big, p.capacity, &seed);
	assert_int_equal(chi_bdev_write(id, 0, big, p.capacity), 0);
	assert_int_equal(chi_bdev_read(id, 0, back, p.capacity), 0);
	assert_memory_equal(big, back, p.capacity);
	free(big);
	free(back);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

static void test_integrity_file(void **state)
{
	chi_pool_id id = {702, 0};
	chi_bdev_params p =
	    file_params("integ.dat", INTEG_THREADS * INTEG_REGION);
	chi_bdev_stats st;
	struct stat sb;
	(void)state;

	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	assert_int_equal(stat(p.path, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, p.capacity);
	run_integrity(id);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.type, CHI_BDEV_FILE);
	/* O_DIRECT where the filesystem takes it (ext4 /tmp does) */
	if (!st.direct_io)
		fprintf(stderr, "note: %s: no O_DIRECT here\n", p.path);
	assert_int_equal(chi_bdev_sync(id), 0);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

/* tmpfs: whether it takes O_DIRECT depends on the kernel; the device
 * must work either way. */
static void test_integrity_file_tmpfs(void **state)
{
	chi_pool_id id = {703, 0};
	chi_bdev_params p =
	    file_params("integ_shm.dat", INTEG_THREADS * INTEG_REGION);
	(void)state;

	if (access("/dev/shm", W_OK) != 0)
		skip(); /* no tmpfs here */
	snprintf(p.path, sizeof(p.path), "/dev/shm/chi_test_bdev_%d.dat",
	         (int)getpid());
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	run_integrity(id);
	assert_int_equal(chi_bdev_destroy(id), 0);
	unlink(p.path);
}

/* The buffered path (no O_DIRECT) on the same filesystem. */
static void test_integrity_file_buffered(void **state)
{
	chi_pool_id id = {710, 0};
	chi_bdev_params p =
	    file_params("integ_buf.dat", INTEG_THREADS * INTEG_REGION);
	chi_bdev_stats st;
	(void)state;

	setenv("CHI_BDEV_DIRECT", "0", 1);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	unsetenv("CHI_BDEV_DIRECT");
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_false(st.direct_io);
	run_integrity(id);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

/* Data written before a destroy is there after re-creating the device. */
static void test_file_persists(void **state)
{
	chi_pool_id id = {704, 0};
	chi_bdev_params p = file_params("persist.dat", 1 * MiB);
	unsigned char out[10000], in[10000];
	unsigned seed = 7;
	(void)state;

	fill_random(out, sizeof(out), &seed);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	assert_int_equal(chi_bdev_write(id, 12345, out, sizeof(out)), 0);
	assert_int_equal(chi_bdev_sync(id), 0);
	assert_int_equal(chi_bdev_destroy(id), 0);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	memset(in, 0, sizeof(in));
	assert_int_equal(chi_bdev_read(id, 12345, in, sizeof(in)), 0);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(chi_bdev_destroy(id), 0);
}

/* A file cut short behind the device's back: reads that cross the end
 * come back short, the remainder is retried, and the end is -EIO. */
static void test_truncated_file(void **state)
{
	chi_pool_id id = {711, 0};
	chi_bdev_params p = file_params("cut.dat", 1 * MiB);
	unsigned char *buf = NULL;
	(void)state;

	assert_int_equal(posix_memalign((void **)&buf, 4096, 512 * KiB), 0);
	memset(buf, 0x6b, 512 * KiB);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	assert_int_equal(chi_bdev_write(id, 256 * KiB, buf, 512 * KiB), 0);
	assert_int_equal(chi_bdev_sync(id), 0);
	assert_int_equal(truncate(p.path, 512 * KiB + 100), 0);
	/* inside the remaining file: fine */
	memset(buf, 0, 512 * KiB);
	assert_int_equal(chi_bdev_read(id, 256 * KiB, buf, 256 * KiB), 0);
	assert_int_equal(buf[0], 0x6b);
	assert_int_equal(buf[256 * KiB - 1], 0x6b);
	/* across the cut: the first 256 KiB + 100 bytes arrive, then EIO */
	memset(buf, 0, 512 * KiB);
	assert_int_equal(chi_bdev_read(id, 256 * KiB, buf, 512 * KiB), -EIO);
	assert_non_null(strstr(chi_error_last(), p.path));
	assert_int_equal(buf[256 * KiB + 99], 0x6b);
	assert_int_equal(chi_bdev_destroy(id), 0);
	free(buf);
}

/* Statistics count exactly what was done. */
static void test_stats_exact(void **state)
{
	chi_pool_id id = {712, 0};
	chi_bdev_params p = ram_params("stats", 2 * MiB);
	chi_bdev_block b[CHI_BDEV_MAX_BLOCKS];
	chi_bdev_stats st;
	char buf[10000];
	uint32_t n;
	(void)state;

	memset(buf, 1, sizeof(buf));
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.capacity, 2 * MiB);
	assert_int_equal(st.free_bytes, 2 * MiB);
	assert_int_equal(st.alignment, 4096);
	assert_int_equal(st.ops_written + st.ops_read, 0);
	assert_true(st.write_bw_mbps == 0 && st.read_lat_us == 0);
	assert_int_equal(chi_bdev_allocate(id, 10000, b, 4, &n), 0);
	assert_int_equal(chi_bdev_write(id, b[0].offset, buf, 10000), 0);
	assert_int_equal(chi_bdev_write(id, b[0].offset, buf, 500), 0);
	assert_int_equal(chi_bdev_read(id, b[0].offset, buf, 7000), 0);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.free_bytes, 2 * MiB - 3 * 4096);
	assert_int_equal(st.ops_written, 2);
	assert_int_equal(st.bytes_written, 10500);
	assert_int_equal(st.ops_read, 1);
	assert_int_equal(st.bytes_read, 7000);
	assert_true(st.write_bw_mbps > 0 && st.write_lat_us > 0);
	assert_true(st.read_bw_mbps > 0 && st.read_lat_us > 0);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

/* ---- a full device ---- */

static void run_full_device(chi_pool_id id, uint64_t capacity)
{
	enum { N = 16 };
	chi_bdev_block blk[N][CHI_BDEV_MAX_BLOCKS], extra[CHI_BDEV_MAX_BLOCKS];
	uint32_t n[N], xn;
	unsigned char *data = malloc(N * 64 * KiB), *back = malloc(64 * KiB);
	chi_bdev_stats st;
	unsigned seed = 99;
	int i;

	assert_non_null(data);
	assert_non_null(back);
	assert_int_equal(capacity, N * 64 * KiB);
	fill_random(data, N * 64 * KiB, &seed);
	for (i = 0; i < N; i++) {
		assert_int_equal(chi_bdev_allocate(id, 64 * KiB, blk[i],
		                                   CHI_BDEV_MAX_BLOCKS, &n[i]),
		                 0);
		assert_int_equal(n[i], 1);
		assert_int_equal(chi_bdev_write(id, blk[i][0].offset,
		                                data + i * 64 * KiB, 64 * KiB),
		                 0);
	}
	assert_int_equal(
	    chi_bdev_allocate(id, 1, extra, CHI_BDEV_MAX_BLOCKS, &xn), -ENOSPC);
	assert_int_equal(xn, 0);
	assert_non_null(strstr(chi_error_last(), "no space"));
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.free_bytes, 0);
	/* earlier data intact */
	for (i = 0; i < N; i++) {
		assert_int_equal(
		    chi_bdev_read(id, blk[i][0].offset, back, 64 * KiB), 0);
		assert_memory_equal(back, data + i * 64 * KiB, 64 * KiB);
	}
	/* a write outside the device is refused */
	assert_int_equal(chi_bdev_write(id, capacity - 10, back, 11), -EINVAL);
	assert_non_null(strstr(chi_error_last(), "outside the device"));
	/* free one, the space comes back */
	assert_int_equal(chi_bdev_free(id, blk[5], n[5]), 0);
	assert_int_equal(chi_bdev_free(id, blk[5], n[5]), -EINVAL);
	assert_int_equal(
	    chi_bdev_allocate(id, 64 * KiB, extra, CHI_BDEV_MAX_BLOCKS, &xn),
	    0);
	assert_int_equal(extra[0].offset, blk[5][0].offset);
	assert_int_equal(chi_bdev_write(id, extra[0].offset, back, 64 * KiB),
	                 0);
	for (i = 0; i < N; i++) {
		if (i == 5)
			continue;
		assert_int_equal(
		    chi_bdev_read(id, blk[i][0].offset, back, 64 * KiB), 0);
		assert_memory_equal(back, data + i * 64 * KiB, 64 * KiB);
	}
	/* reserve (recovery): allocated space cannot be reserved again */
	assert_int_equal(chi_bdev_reserve(id, extra, xn), -EEXIST);
	assert_int_equal(chi_bdev_free(id, extra, xn), 0);
	assert_int_equal(chi_bdev_reserve(id, extra, xn), 0);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.free_bytes, 0);
	free(data);
	free(back);
}

static void test_full_ram(void **state)
{
	chi_pool_id id = {705, 0};
	chi_bdev_params p = ram_params("full", 1 * MiB);
	(void)state;

	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	run_full_device(id, 1 * MiB);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

static void test_full_file(void **state)
{
	chi_pool_id id = {706, 0};
	chi_bdev_params p = file_params("full.dat", 1 * MiB);
	(void)state;

	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	run_full_device(id, 1 * MiB);
	assert_int_equal(chi_bdev_destroy(id), 0);
}

/* ---- allocation through the runtime from several threads ---- */

#define ALLOC_THREADS 4

struct alloc_arg {
	chi_pool_id id;
	_Atomic uint8_t *owner; /* one byte per 4 KiB unit */
	_Atomic int *failures;
	unsigned seed;
};

static void *alloc_thread(void *p)
{
	struct alloc_arg *a = p;
	chi_bdev_block b[16][CHI_BDEV_MAX_BLOCKS];
	uint32_t n[16] = {0}, i, j;
	uint64_t u;
	int iter;

	for (iter = 0; iter < 1500; iter++) {
		i = (uint32_t)rand_r(&a->seed) % 16;
		if (n[i]) {
			for (j = 0; j < n[i]; j++)
				for (u = b[i][j].offset / 4096;
				     u < (b[i][j].offset + b[i][j].size) / 4096;
				     u++)
					atomic_store(&a->owner[u], 0);
			if (chi_bdev_free(a->id, b[i], n[i]))
				atomic_fetch_add(a->failures, 1);
			n[i] = 0;
			continue;
		}
		if (chi_bdev_allocate(a->id, 4096 * (1 + rand_r(&a->seed) % 16),
		                      b[i], 8, &n[i]))
			continue; /* ENOSPC/E2BIG: fine, nothing to check */
		for (j = 0; j < n[i]; j++)
			for (u = b[i][j].offset / 4096;
			     u < (b[i][j].offset + b[i][j].size) / 4096; u++)
				if (atomic_exchange(&a->owner[u], 1))
					atomic_fetch_add(a->failures, 1);
	}
	for (i = 0; i < 16; i++)
		if (n[i]) {
			for (j = 0; j < n[i]; j++)
				for (u = b[i][j].offset / 4096;
				     u < (b[i][j].offset + b[i][j].size) / 4096;
				     u++)
					atomic_store(&a->owner[u], 0);
			if (chi_bdev_free(a->id, b[i], n[i]))
				atomic_fetch_add(a->failures, 1);
		}
	return NULL;
}

static void test_concurrent_allocate(void **state)
{
	chi_pool_id id = {707, 0};
	chi_bdev_params p = ram_params("alloc", 4 * MiB);
	_Atomic uint8_t *owner = calloc(4 * MiB / 4096, 1);
	_Atomic int failures = 0;
	pthread_t th[ALLOC_THREADS];
	struct alloc_arg args[ALLOC_THREADS];
	chi_bdev_stats st;
	int i;
	(void)state;

	assert_non_null(owner);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), 0);
	for (i = 0; i < ALLOC_THREADS; i++) {
		args[i].id = id;
		args[i].owner = owner;
		args[i].failures = &failures;
		args[i].seed = 31u * (unsigned)i + 1;
		assert_int_equal(
		    pthread_create(&th[i], NULL, alloc_thread, &args[i]), 0);
	}
	for (i = 0; i < ALLOC_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&failures), 0);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.free_bytes, 4 * MiB);
	assert_int_equal(chi_bdev_destroy(id), 0);
	free(owner);
}

/* ---- a pool made from the config's compose: list ---- */

static void test_compose_pool(void **state)
{
	chi_pool_id id;
	chi_bdev_block b[CHI_BDEV_MAX_BLOCKS];
	chi_bdev_stats st;
	uint32_t n;
	char buf[5] = "abcd", back[5] = {0};
	(void)state;

	assert_int_equal(chi_pool_find(&id, "ram::test_composed"), 0);
	assert_int_equal(id.major, 790);
	assert_int_equal(chi_bdev_get_stats(id, &st), 0);
	assert_int_equal(st.capacity, 8 * MiB);
	assert_int_equal(st.type, CHI_BDEV_RAM);
	assert_int_equal(chi_bdev_allocate(id, 5, b, 4, &n), 0);
	assert_int_equal(chi_bdev_write(id, b[0].offset, buf, 5), 0);
	assert_int_equal(chi_bdev_read(id, b[0].offset, back, 5), 0);
	assert_memory_equal(buf, back, 5);
	assert_int_equal(chi_bdev_free(id, b, n), 0);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
	chi_pool_id id = {708, 0};
	chi_bdev_params p;
	char path[300];
	(void)state;

	/* a directory that does not exist */
	p = file_params("no/such/dir/dev.dat", 1 * MiB);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -ENOENT);
	assert_non_null(strstr(chi_error_last(), p.path));
	assert_non_null(strstr(chi_error_last(), "does not exist"));

	/* zero capacity */
	p = file_params("zero.dat", 0);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EINVAL);
	assert_non_null(strstr(chi_error_last(), "capacity is zero"));
	p = ram_params("zero", 0);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EINVAL);
	/* smaller than one block */
	p = ram_params("tiny", 100);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EINVAL);

	/* more than the whole filesystem: refused, nothing created */
	p = file_params("huge.dat", 1ull << 60);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -ENOSPC);
	assert_non_null(strstr(chi_error_last(), p.path));
	assert_non_null(strstr(chi_error_last(), "exceeds"));
	assert_int_equal(access(p.path, F_OK), -1);

	/* the path is a directory */
	p = file_params("", 1 * MiB);
	snprintf(p.path, sizeof(p.path), "%s", tmpdir);
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EISDIR);

	/* bad alignment and type */
	p = ram_params("align", 1 * MiB);
	p.alignment = 3000;
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EINVAL);
	assert_non_null(strstr(chi_error_last(), "alignment"));
	p = ram_params("type", 1 * MiB);
	p.type = (chi_bdev_type)7;
	assert_int_equal(chi_bdev_create(&id, p.path, &p), -EINVAL);

	/* no pool was left behind by any of these */
	tmp_path(path, sizeof(path), "zero.dat");
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(chi_pool_find(&id, "ram::zero"), -ENOENT);
}

/* Without permission: a child drops root and tries a root-only dir. */
static void test_no_permission(void **state)
{
	char dir[300];
	pid_t pid;
	int status;
	(void)state;

	tmp_path(dir, sizeof(dir), "private");
	assert_int_equal(mkdir(dir, 0700), 0);
	if (geteuid() != 0) {
		/* not root: the directory above is ours, use chmod instead */
		assert_int_equal(chmod(dir, 0500), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		chi_bdev_params p;
		chi_pool_id id = {709, 0};
		int rc;

		if (geteuid() == 0 &&
		    (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(10);
		memset(&p, 0, sizeof(p));
		p.type = CHI_BDEV_FILE;
		p.capacity = 1 * MiB;
		snprintf(p.path, sizeof(p.path), "%s/dev.dat", dir);
		rc = chi_bdev_create(&id, p.path, &p);
		if (rc != -EACCES)
			_exit(11);
		if (!strstr(chi_error_last(), p.path) ||
		    !strstr(chi_error_last(), "ermission denied"))
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	chmod(dir, 0700);
	rmdir(dir);
}

/* ---- compose-entry parsing (parse_params) ---- */

static int parse_entry(const char *entry_yaml, chi_bdev_params *out)
{
	char yaml[1024];
	chi_config *cfg = NULL;
	void *params = NULL;
	size_t size = 0;
	int rc;

	snprintf(yaml, sizeof(yaml),
	         "compose:\n  - mod_name: chimaera_bdev\n%s", entry_yaml);
	rc = chi_config_load_string(&cfg, yaml, "bdev.yaml");
	if (rc)
		return rc; /* the runtime's own checks (pool_name) */
	assert_non_null(cfg->compose);
	assert_true(cfg->compose->n_children == 1);
	rc = bdev__parse_params(&cfg->compose->children[0], &params, &size);
	if (!rc) {
		assert_int_equal(size, sizeof(*out));
		memcpy(out, params, sizeof(*out));
	} else {
		assert_null(params);
	}
	free(params);
	chi_config_free(cfg);
	return rc;
}

static void test_parse_params(void **state)
{
	chi_bdev_params p;
	(void)state;

	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n"
	                             "    bdev_type: ram\n"
	                             "    capacity: \"512MB\"\n",
	                             &p),
	                 0);
	assert_int_equal(p.type, CHI_BDEV_RAM);
	assert_string_equal(p.path, "ram::x");
	assert_int_equal(p.capacity, 512 * MiB);

	assert_int_equal(parse_entry("    pool_name: /var/tmp/x.dat\n"
	                             "    bdev_type: file\n"
	                             "    capacity: 2GB\n"
	                             "    io_depth: 32\n"
	                             "    alignment: 8192\n",
	                             &p),
	                 0);
	assert_int_equal(p.type, CHI_BDEV_FILE);
	assert_int_equal(p.capacity, 2048 * MiB);
	assert_int_equal(p.io_depth, 32);
	assert_int_equal(p.alignment, 8192);

	/* type from the pool name when bdev_type is absent */
	assert_int_equal(parse_entry("    pool_name: /var/tmp/y.dat\n"
	                             "    capacity: 1MB\n",
	                             &p),
	                 0);
	assert_int_equal(p.type, CHI_BDEV_FILE);

	/* errors name file, line and key */
	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n"
	                             "    bdev_type: tape\n"
	                             "    capacity: 1MB\n",
	                             &p),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "bdev.yaml:4"));
	assert_non_null(strstr(chi_error_last(), "bdev_type"));

	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n"
	                             "    capacity: lots\n",
	                             &p),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "bdev.yaml:4"));
	assert_non_null(strstr(chi_error_last(), "capacity"));

	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n"
	                             "    capacity: 0\n",
	                             &p),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "capacity"));

	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n", &p),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "capacity"));

	assert_int_equal(parse_entry("    pool_name: \"ram::x\"\n"
	                             "    capacity: 1MB\n"
	                             "    alignment: 1000\n",
	                             &p),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "alignment"));

	/* the runtime's config checks catch this one before us */
	assert_int_equal(parse_entry("    capacity: 1MB\n", &p), -EINVAL);
	assert_non_null(strstr(chi_error_last(), "pool_name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_params),
	    cmocka_unit_test(test_compose_pool),
	    cmocka_unit_test(test_integrity_ram),
	    cmocka_unit_test(test_integrity_file),
	    cmocka_unit_test(test_integrity_file_tmpfs),
	    cmocka_unit_test(test_integrity_file_buffered),
	    cmocka_unit_test(test_file_persists),
	    cmocka_unit_test(test_truncated_file),
	    cmocka_unit_test(test_stats_exact),
	    cmocka_unit_test(test_full_ram),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_concurrent_allocate),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_no_permission),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
