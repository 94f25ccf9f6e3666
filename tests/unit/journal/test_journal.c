/*
 * Unit tests of the CTE metadata journal (modules/cte/src/journal.c).
 *
 * Randomized tests print their seed; set JOURNAL_SEED to repeat one, and
 * JOURNAL_CRASH_ROUNDS to change the number of crash rounds (default 6).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_i.h"

#define SEGHDR_BYTES 28u /* framed segment header */
#define REC_OVERHEAD 20u

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t seed_init(const char *test)
{
	const char *env = getenv("JOURNAL_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0)
	                    : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	printf("# %s: seed %" PRIu64 " (JOURNAL_SEED=%" PRIu64 " repeats)\n",
	       test, seed, seed);
	fflush(stdout);
	rng_state = seed;
	return seed;
}

static char *make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/journal-test-XXXXXX",
	         tmp ? tmp : "/tmp");
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void remove_dir(char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	char path[8192];
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
	free(dir);
}

/* Number of segment files and the path of the newest. */
static int segments(const char *dir, char *newest, size_t size)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	char best[256] = "";
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, CTE_JOURNAL_SEGMENT_PREFIX,
		            strlen(CTE_JOURNAL_SEGMENT_PREFIX)) ||
		    strlen(de->d_name) !=
		        strlen(CTE_JOURNAL_SEGMENT_PREFIX) + 16)
			continue;
		n++;
		if (strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	}
	closedir(d);
	if (newest)
		snprintf(newest, size, "%s/%s", dir, best);
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* A record payload derived from its id, so content can be verified. */
static uint32_t payload_len(uint64_t id)
{
	return (uint32_t)(id * 7919 % 200);
}

static void payload_make(cte_jenc *e, uint64_t id)
{
	cte__jenc_reset(e);
	cte__jenc_put_u64(e, id);
	uint32_t n = payload_len(id);
	cte__jenc_put_u32(e, n);
	for (uint32_t k = 0; k < n; k++)
		cte__jenc_put_u8(e, (uint8_t)(id * 31 + k));
	assert_int_equal(e->err, 0);
}

/* Returns the id, or UINT64_MAX if the payload is not a valid one. */
static uint64_t payload_check(const void *p, uint32_t len)
{
	cte_jdec d;
	uint64_t id;
	uint32_t n;
	cte__jdec_init(&d, p, len);
	cte__jdec_get_u64(&d, &id);
	cte__jdec_get_u32(&d, &n);
	if (d.err || n != payload_len(id) || cte__jdec_left(&d) != n)
		return UINT64_MAX;
	for (uint32_t k = 0; k < n; k++) {
		uint8_t b;
		cte__jdec_get_u8(&d, &b);
		if (b != (uint8_t)(id * 31 + k))
			return UINT64_MAX;
	}
	return id;
}

/* Records collected by replay. */
typedef struct got_rec {
	uint8_t type;
	uint64_t seq;
	uint64_t id;
} got_rec;

typedef struct collector {
	got_rec *v;
	size_t n, cap;
	uint64_t bad;      /* payloads that failed verification */
	uint64_t disorder; /* sequence not increasing */
	uint64_t snapshot; /* snapshot records seen */
} collector;

static int collect(void *arg, uint8_t type, uint64_t seq, const void *payload,
                   uint32_t len)
{
	collector *c = arg;
	uint64_t id = payload_check(payload, len);
	if (id == UINT64_MAX)
		c->bad++;
	if (c->n && seq <= c->v[c->n - 1].seq)
		c->disorder++;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		if (!c->v)
			return -ENOMEM;
	}
	c->v[c->n++] = (got_rec){type, seq, id};
	return 0;
}

static void collector_free(collector *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Expected records in append order. */
typedef struct expect {
	uint8_t *type;
	uint64_t *id;
	size_t n, cap;
} expect;

static void expect_add(expect *x, uint8_t type, uint64_t id)
{
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 1024;
		x->type = realloc(x->type, x->cap);
		x->id = realloc(x->id, x->cap * sizeof(*x->id));
		assert_non_null(x->type);
		assert_non_null(x->id);
	}
	x->type[x->n] = type;
	x->id[x->n++] = id;
}

static void expect_free(expect *x)
{
	free(x->type);
	free(x->id);
	memset(x, 0, sizeof(*x));
}

static void expect_match(const expect *x, size_t upto, const collector *c)
{
	assert_int_equal(c->bad, 0);
	assert_int_equal(c->disorder, 0);
	assert_int_equal(c->n, upto);
	for (size_t i = 0; i < upto; i++) {
		assert_int_equal(c->v[i].type, x->type[i]);
		assert_int_equal(c->v[i].id, x->id[i]);
	}
}

/*
 * Append `n_ops` operations (standalone records and groups of 2..8) with
 * ids from *next_id; returns the count of groups (a record counts as one).
 */
static uint64_t append_random(cte_journal *j, expect *x, uint64_t *next_id,
                              int n_ops)
{
	cte_jenc e;
	cte_journal_txn t;
	uint64_t groups = 0;
	cte__jenc_init(&e);
	cte__journal_txn_init(&t);
	for (int op = 0; op < n_ops; op++) {
		uint64_t seq;
		if (rnd() % 3) {
			uint64_t id = (*next_id)++;
			uint8_t type = (uint8_t)(rnd() % 256);
			payload_make(&e, id);
			assert_int_equal(cte__journal_append(j, type, e.data,
			                                     (uint32_t)e.len,
			                                     &seq),
			                 0);
			expect_add(x, type, id);
		} else {
			int k = 2 + (int)(rnd() % 7);
			for (int i = 0; i < k; i++) {
				uint64_t id = (*next_id)++;
				uint8_t type = (uint8_t)(rnd() % 256);
				payload_make(&e, id);
				assert_int_equal(
				    cte__journal_txn_add(&t, type, e.data,
				                         (uint32_t)e.len),
				    0);
				expect_add(x, type, id);
			}
			assert_int_equal(cte__journal_txn_commit(j, &t, &seq),
			                 0);
		}
		groups++;
		uint64_t r = rnd() % 50;
		if (r == 0)
			assert_int_equal(cte__journal_flush(j, true), 0);
		else if (r == 1)
			assert_int_equal(cte__journal_flush(j, false), 0);
	}
	cte__journal_txn_destroy(&t);
	cte__jenc_destroy(&e);
	return groups;
}

/* Append n standalone records of ids first..first+n-1, type = id % 256. */
static void append_plain(cte_journal *j, expect *x, uint64_t first, int n)
{
	cte_jenc e;
	cte__jenc_init(&e);
	for (int i = 0; i < n; i++) {
		uint64_t id = first + (uint64_t)i;
		payload_make(&e, id);
		assert_int_equal(cte__journal_append(j, (uint8_t)id, e.data,
		                                     (uint32_t)e.len, NULL),
		                 0);
		if (x)
			expect_add(x, (uint8_t)id, id);
	}
	cte__jenc_destroy(&e);
}

static uint64_t framed_len(uint64_t id)
{
	return REC_OVERHEAD + 12 + payload_len(id);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */

static void test_encoding(void **state)
{
	(void)state;
	cte_jenc e;
	cte_jdec d;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;
	double f;
	char s[8];
	const void *p;
	uint32_t n;

	/* CRC32C check value and continuation. */
	assert_int_equal(cte__crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(cte__crc32c(cte__crc32c(0, "1234", 4), "56789", 5),
	                 0xE3069283u);
	assert_int_equal(cte__crc32c(0, "", 0), 0);

	cte__jenc_init(&e);
	cte__jenc_put_u8(&e, 0xAB);
	cte__jenc_put_u32(&e, 0x01020304u);
	cte__jenc_put_u64(&e, 0x1122334455667788ull);
	cte__jenc_put_f64(&e, 0.25);
	cte__jenc_put_str(&e, "hello");
	cte__jenc_put_blob(&e, "\0x", 2);
	assert_int_equal(e.err, 0);
	assert_int_equal(e.len, 1 + 4 + 8 + 8 + 4 + 5 + 4 + 2);
	/* Little-endian on the wire. */
	assert_int_equal(e.data[1], 0x04);
	assert_int_equal(e.data[4], 0x01);
	assert_int_equal(e.data[5], 0x88);

	cte__jdec_init(&d, e.data, e.len);
	assert_int_equal(cte__jdec_get_u8(&d, &u8), 0);
	assert_int_equal(u8, 0xAB);
	assert_int_equal(cte__jdec_get_u32(&d, &u32), 0);
	assert_int_equal(u32, 0x01020304u);
	assert_int_equal(cte__jdec_get_u64(&d, &u64), 0);
	assert_true(u64 == 0x1122334455667788ull);
	assert_int_equal(cte__jdec_get_f64(&d, &f), 0);
	assert_true(f == 0.25);
	assert_int_equal(cte__jdec_get_str(&d, s, sizeof(s)), 0);
	assert_string_equal(s, "hello");
	/* A value holding a NUL is not a string; as a blob it is fine. */
	size_t mark = d.pos;
	assert_int_equal(cte__jdec_get_str(&d, s, sizeof(s)), -EBADMSG);
	d.pos = mark;
	d.err = 0;
	assert_int_equal(cte__jdec_get_blob(&d, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cte__jdec_left(&d), 0);
	/* Past the end: error, zeroed output, sticky. */
	u32 = 7;
	assert_int_equal(cte__jdec_get_u32(&d, &u32), -EBADMSG);
	assert_int_equal(u32, 0);
	assert_int_equal(d.err, -EBADMSG);

	/* A string longer than the buffer, a length beyond the data. */
	cte__jenc_reset(&e);
	cte__jenc_put_str(&e, "toolongstring");
	cte__jdec_init(&d, e.data, e.len);
	assert_int_equal(cte__jdec_get_str(&d, s, sizeof(s)), -EBADMSG);
	assert_string_equal(s, "");
	cte__jenc_reset(&e);
	cte__jenc_put_u32(&e, 1000);
	cte__jenc_put_u8(&e, 1);
	cte__jdec_init(&d, e.data, e.len);
	assert_int_equal(cte__jdec_get_blob(&d, &p, &n), -EBADMSG);
	assert_null(p);
	cte__jenc_destroy(&e);
}

static void test_roundtrip(void **state)
{
	(void)state;
	char *dir = make_dir();
	cte_journal *j;
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;
	uint64_t next_id = 1;

	seed_init("roundtrip");
	/* Empty directory: replay finds nothing, no error. */
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, collect,
	                                     collect, &c, &rep),
	                 0);
	assert_int_equal(c.n, 0);
	assert_false(rep.torn);

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	uint64_t groups = append_random(j, &x, &next_id, 3000);
	cte_journal_stats st;
	cte__journal_get_stats(j, &st);
	assert_int_equal(st.records, x.n);
	assert_int_equal(st.groups, groups);
	assert_int_equal(cte__journal_close(j), 0);

	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, collect,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, x.n, &c);
	assert_false(rep.torn);
	assert_int_equal(rep.records, x.n);
	assert_int_equal(rep.groups, groups);
	/* 1, or 2 when the first append was a group (its begin record) */
	assert_int_equal(rep.first_seq, c.v[0].seq);
	assert_true(rep.first_seq == 1 || rep.first_seq == 2);
	assert_int_equal(rep.last_seq, st.last_seq);
	assert_int_equal(rep.segments, 1);
	collector_free(&c);

	/* Reopen: appends continue the same segment and sequence. */
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	groups += append_random(j, &x, &next_id, 500);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	expect_match(&x, x.n, &c);
	assert_int_equal(rep.groups, groups);
	assert_int_equal(segments(dir, NULL, 0), 1);
	printf("# roundtrip: %zu records, %" PRIu64 " groups\n", x.n, groups);

	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

/* Concurrent appenders with durable flushes. */
#define CONC_THREADS 4
#define CONC_OPS     600

typedef struct conc_arg {
	cte_journal *j;
	int thread;
	uint64_t seed;
	int failures;
} conc_arg;

static void *conc_main(void *p)
{
	conc_arg *a = p;
	cte_jenc e;
	cte_journal_txn t;
	uint64_t r = a->seed;
	cte__jenc_init(&e);
	cte__journal_txn_init(&t);
	for (uint64_t i = 0; i < CONC_OPS; i++) {
		/* id = thread << 32 | counter, counters increase per thread */
		uint64_t id = ((uint64_t)a->thread << 32) | (2 * i);
		uint64_t seq;
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		payload_make(&e, id);
		if ((r >> 33) % 2) {
			cte__journal_txn_add(&t, (uint8_t)a->thread, e.data,
			                     (uint32_t)e.len);
			payload_make(&e, id + 1);
			cte__journal_txn_add(&t, (uint8_t)a->thread, e.data,
			                     (uint32_t)e.len);
			if (cte__journal_txn_commit(a->j, &t, &seq))
				a->failures++;
		} else if (cte__journal_append(a->j, (uint8_t)a->thread, e.data,
		                               (uint32_t)e.len, &seq)) {
			a->failures++;
		}
		if ((r >> 40) % 3 == 0) {
			if (cte__journal_sync_to(a->j, seq, true))
				a->failures++;
			cte_journal_stats st;
			cte__journal_get_stats(a->j, &st);
			if (st.durable_seq < seq)
				a->failures++;
		}
	}
	cte__journal_txn_destroy(&t);
	cte__jenc_destroy(&e);
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	char *dir = make_dir();
	cte_journal *j;
	pthread_t th[CONC_THREADS];
	conc_arg args[CONC_THREADS];
	collector c = {0};
	cte_journal_report rep;
	uint64_t seed = seed_init("concurrent");

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		args[i] = (conc_arg){j, i + 1, seed + (uint64_t)i, 0};
		assert_int_equal(
		    pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	cte_journal_stats st;
	cte__journal_get_stats(j, &st);
	printf("# concurrent: %" PRIu64 " records, %" PRIu64
	       " durable flush calls served by %" PRIu64
	       " fdatasyncs in %" PRIu64 " writes\n",
	       st.records, st.durable_calls, st.syncs, st.writes);
	assert_true(st.syncs <= st.durable_calls);
	assert_int_equal(cte__journal_close(j), 0);

	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	assert_int_equal(c.bad, 0);
	assert_int_equal(c.disorder, 0);
	/* Every record once; per thread in the order appended. */
	uint64_t next[CONC_THREADS + 1] = {0};
	for (size_t i = 0; i < c.n; i++) {
		int th_id = (int)(c.v[i].id >> 32);
		uint64_t ctr = c.v[i].id & 0xffffffffu;
		assert_true(th_id >= 1 && th_id <= CONC_THREADS);
		assert_int_equal(c.v[i].type, th_id);
		/* a plain record is 2i; a group is 2i, 2i+1 */
		if (ctr % 2 == 0)
			assert_true(ctr >= next[th_id]);
		else
			assert_int_equal(ctr, next[th_id]);
		next[th_id] = ctr + 1;
	}
	uint64_t total = 0;
	for (int t = 1; t <= CONC_THREADS; t++)
		assert_true(next[t] >= 2 * (CONC_OPS - 1) + 1);
	total = c.n;
	assert_int_equal(total, st.records);
	collector_free(&c);
	remove_dir(dir);
}

static void test_torn_tail(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[8192];
	cte_journal *j;
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 1, 100);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(segments(dir, seg, sizeof(seg)), 1);
	off_t full = file_size(seg);
	off_t good = full - (off_t)framed_len(100);
	assert_int_equal(truncate(seg, full - 7), 0);

	/* Check only: detected, reported, nothing changed. */
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	expect_match(&x, 99, &c);
	assert_true(rep.torn);
	assert_false(rep.repaired);
	assert_int_equal(rep.torn_offset, good);
	assert_non_null(strstr(rep.torn_reason, "short record"));
	assert_string_equal(rep.torn_file, seg);
	assert_int_equal(rep.discarded_bytes, full - 7 - good);
	assert_int_equal(file_size(seg), full - 7);
	collector_free(&c);

	/* Repair: cut at the last good record. */
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, 99, &c);
	assert_true(rep.repaired);
	assert_int_equal(file_size(seg), good);
	collector_free(&c);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	expect_match(&x, 99, &c);
	collector_free(&c);

	/* New appends follow valid data. */
	x.n = 99;
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 1000, 5);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	expect_match(&x, 104, &c);
	assert_int_equal(rep.last_seq, 104);
	collector_free(&c);

	/* A tail cut inside a record header, repaired by open itself. */
	off_t now = file_size(seg);
	assert_int_equal(truncate(seg, now - (off_t)framed_len(1004) + 5), 0);
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, NULL, 2000, 1);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	assert_int_equal(c.n, 104);
	assert_int_equal(c.v[103].id, 2000);
	assert_int_equal(c.v[102].id, 1003);

	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_flipped_byte(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[8192];
	cte_journal *j;
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;
	uint64_t seed = seed_init("flipped_byte");

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 1, 200);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(segments(dir, seg, sizeof(seg)), 1);

	/* Flip one byte of record k (header, payload or crc alike). */
	uint64_t k = 60 + seed % 80;
	off_t at = SEGHDR_BYTES;
	for (uint64_t id = 1; id < k; id++)
		at += (off_t)framed_len(id);
	off_t inside = (off_t)(rnd() % framed_len(k));
	flip_byte(seg, at + inside);
	printf("# flipped_byte: record %" PRIu64 ", byte %lld of it\n", k,
	       (long long)inside);

	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, k - 1, &c);
	assert_true(rep.torn);
	assert_true(rep.repaired);
	assert_int_equal(rep.torn_offset, at);
	assert_int_equal(rep.last_seq, k - 1);
	assert_int_equal(file_size(seg), at);
	printf("# flipped_byte: reason \"%s\"\n", rep.torn_reason);
	collector_free(&c);

	/* The journal continues after the cut. */
	x.n = k - 1;
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 5000, 3);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	expect_match(&x, k + 2, &c);

	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

static void test_uncommitted_group(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[8192];
	cte_journal *j;
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;
	cte_journal_txn t;
	cte_jenc e;

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 1, 10);
	cte__journal_txn_init(&t);
	cte__jenc_init(&e);
	for (uint64_t id = 100; id < 105; id++) {
		payload_make(&e, id);
		assert_int_equal(
		    cte__journal_txn_add(&t, 7, e.data, (uint32_t)e.len), 0);
	}
	uint64_t seq;
	assert_int_equal(cte__journal_txn_commit(j, &t, &seq), 0);
	assert_int_equal(seq, 10 + 5 + 2);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(segments(dir, seg, sizeof(seg)), 1);
	off_t full = file_size(seg);
	off_t good = SEGHDR_BYTES;
	for (uint64_t id = 1; id <= 10; id++)
		good += (off_t)framed_len(id);

	/* The whole group replays. */
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_int_equal(c.n, 15);
	assert_int_equal(rep.groups, 11);
	assert_int_equal(rep.multi_groups, 1);
	collector_free(&c);

	/* Without its commit record (32 bytes) none of it does. */
	assert_int_equal(truncate(seg, full - 32), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, 10, &c);
	assert_true(rep.torn);
	assert_int_equal(rep.uncommitted_records, 5);
	assert_int_equal(rep.torn_offset, good);
	assert_int_equal(file_size(seg), good);
	collector_free(&c);

	/* A group torn inside a member is not replayed either. */
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	for (uint64_t id = 200; id < 204; id++) {
		payload_make(&e, id);
		cte__journal_txn_add(&t, 9, e.data, (uint32_t)e.len);
	}
	assert_int_equal(cte__journal_txn_commit(j, &t, &seq), 0);
	assert_int_equal(cte__journal_close(j), 0);
	off_t cut =
	    good + 24 + (off_t)framed_len(200) + (off_t)framed_len(201) / 2;
	assert_int_equal(truncate(seg, cut), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, 10, &c);
	assert_int_equal(rep.uncommitted_records, 1);
	assert_int_equal(file_size(seg), good);

	cte__jenc_destroy(&e);
	cte__journal_txn_destroy(&t);
	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

/*
 * Checkpoints: a model of 256 counters changed by order-dependent records
 * ("set k v", "add k d") from two threads, one journal with checkpoints and
 * one without.  Both replays equal the model.
 */
#define MODEL_KEYS 256
enum { OP_SET = 1, OP_ADD = 2, SNAP_VALUE = 3 };

typedef struct model {
	uint64_t v[MODEL_KEYS];
} model;

typedef struct ckpt_env {
	cte_journal *ja, *jb; /* with / without checkpoints */
	pthread_rwlock_t rw;  /* mutators: read; checkpoint: write */
	model truth;          /* keys are split between the threads */
	uint64_t seed;
	int ops;
	int failures;
	int max_segments;
	char *dir_a;
} ckpt_env;

static void model_apply(model *m, uint8_t type, const void *p, uint32_t len,
                        int *bad)
{
	cte_jdec d;
	uint32_t k;
	uint64_t v;
	cte__jdec_init(&d, p, len);
	cte__jdec_get_u32(&d, &k);
	cte__jdec_get_u64(&d, &v);
	if (d.err || k >= MODEL_KEYS || cte__jdec_left(&d)) {
		(*bad)++;
		return;
	}
	if (type == OP_SET || type == SNAP_VALUE)
		m->v[k] = v;
	else if (type == OP_ADD)
		m->v[k] += v;
	else
		(*bad)++;
}

typedef struct replay_model {
	model m;
	int bad;
	uint64_t snap_records;
} replay_model;

static int model_snapshot_cb(void *arg, uint8_t type, uint64_t seq,
                             const void *p, uint32_t len)
{
	(void)seq;
	replay_model *r = arg;
	if (type != SNAP_VALUE)
		r->bad++;
	r->snap_records++;
	model_apply(&r->m, type, p, len, &r->bad);
	return 0;
}

static int model_record_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                           uint32_t len)
{
	(void)seq;
	replay_model *r = arg;
	model_apply(&r->m, type, p, len, &r->bad);
	return 0;
}

static int write_model(cte_journal_ckpt *w, uint64_t covered, void *arg)
{
	(void)covered;
	ckpt_env *env = arg;
	cte_jenc e;
	int rc = 0;
	cte__jenc_init(&e);
	for (uint32_t k = 0; k < MODEL_KEYS && !rc; k++) {
		cte__jenc_reset(&e);
		cte__jenc_put_u32(&e, k);
		cte__jenc_put_u64(&e, env->truth.v[k]);
		rc = e.err ? e.err
		           : cte__journal_ckpt_put(w, SNAP_VALUE, e.data,
		                                   (uint32_t)e.len);
	}
	cte__jenc_destroy(&e);
	return rc;
}

typedef struct mut_arg {
	ckpt_env *env;
	int half;
} mut_arg;

static void *mutator_main(void *p)
{
	mut_arg *a = p;
	ckpt_env *env = a->env;
	cte_jenc e;
	cte_journal_txn ta, tb;
	uint64_t r = env->seed * 3 + (uint64_t)a->half;
	cte__jenc_init(&e);
	cte__journal_txn_init(&ta);
	cte__journal_txn_init(&tb);
	for (int op = 0; op < env->ops; op++) {
		int n = 1 + (int)((r >> 20) % 3);
		pthread_rwlock_rdlock(&env->rw);
		for (int i = 0; i < n; i++) {
			r = r * 6364136223846793005ull + 1442695040888963407ull;
			uint32_t k = (uint32_t)((r >> 33) % (MODEL_KEYS / 2)) +
			             (uint32_t)a->half * (MODEL_KEYS / 2);
			uint8_t type = (r >> 50) % 4 ? OP_ADD : OP_SET;
			uint64_t v = (r >> 13) % 1000;
			cte__jenc_reset(&e);
			cte__jenc_put_u32(&e, k);
			cte__jenc_put_u64(&e, v);
			if (type == OP_SET)
				env->truth.v[k] = v;
			else
				env->truth.v[k] += v;
			cte__journal_txn_add(&ta, type, e.data,
			                     (uint32_t)e.len);
			cte__journal_txn_add(&tb, type, e.data,
			                     (uint32_t)e.len);
		}
		if (cte__journal_txn_commit(env->ja, &ta, NULL) ||
		    cte__journal_txn_commit(env->jb, &tb, NULL))
			__atomic_add_fetch(&env->failures, 1, __ATOMIC_RELAXED);
		pthread_rwlock_unlock(&env->rw);
		if (op % 97 == 0 && cte__journal_flush(env->ja, true))
			__atomic_add_fetch(&env->failures, 1, __ATOMIC_RELAXED);
	}
	cte__journal_txn_destroy(&ta);
	cte__journal_txn_destroy(&tb);
	cte__jenc_destroy(&e);
	return NULL;
}

static void test_checkpoint(void **state)
{
	(void)state;
	ckpt_env env;
	char *dir_b = make_dir();
	pthread_t th[2];
	mut_arg ma[2];
	cte_journal_report rep_a, rep_b;
	replay_model ra, rb;

	memset(&env, 0, sizeof(env));
	env.dir_a = make_dir();
	env.seed = seed_init("checkpoint");
	env.ops = 3000;
	pthread_rwlock_init(&env.rw, NULL);
	assert_int_equal(cte__journal_open(&env.ja, env.dir_a, NULL), 0);
	assert_int_equal(cte__journal_open(&env.jb, dir_b, NULL), 0);
	for (int i = 0; i < 2; i++) {
		ma[i] = (mut_arg){&env, i};
		assert_int_equal(
		    pthread_create(&th[i], NULL, mutator_main, &ma[i]), 0);
	}
	/* Checkpoints while the mutators run. */
	int n_ckpt = 0;
	for (int i = 0; i < 15; i++) {
		struct timespec ts = {0, 3 * 1000 * 1000};
		nanosleep(&ts, NULL);
		pthread_rwlock_wrlock(&env.rw);
		int rc = cte__journal_checkpoint(env.ja, write_model, &env);
		pthread_rwlock_unlock(&env.rw);
		assert_int_equal(rc, 0);
		n_ckpt++;
		int segs = segments(env.dir_a, NULL, 0);
		if (segs > env.max_segments)
			env.max_segments = segs;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(env.failures, 0);
	/* One more: everything covered, the log shrinks to one segment. */
	assert_int_equal(cte__journal_checkpoint(env.ja, write_model, &env), 0);
	assert_int_equal(segments(env.dir_a, NULL, 0), 1);
	cte_journal_stats st;
	cte__journal_get_stats(env.ja, &st);
	assert_int_equal(st.checkpoints, n_ckpt + 1);
	/* After the last checkpoint: a few more records in the log. */
	{
		cte_jenc e;
		cte__jenc_init(&e);
		cte__jenc_put_u32(&e, 5);
		cte__jenc_put_u64(&e, 77);
		env.truth.v[5] += 77;
		assert_int_equal(cte__journal_append(env.ja, OP_ADD, e.data,
		                                     (uint32_t)e.len, NULL),
		                 0);
		assert_int_equal(cte__journal_append(env.jb, OP_ADD, e.data,
		                                     (uint32_t)e.len, NULL),
		                 0);
		cte__jenc_destroy(&e);
	}
	assert_int_equal(cte__journal_close(env.ja), 0);
	assert_int_equal(cte__journal_close(env.jb), 0);

	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	assert_int_equal(cte__journal_replay(env.dir_a, CTE_JOURNAL_REPAIR,
	                                     model_snapshot_cb, model_record_cb,
	                                     &ra, &rep_a),
	                 0);
	assert_int_equal(cte__journal_replay(dir_b, CTE_JOURNAL_REPAIR,
	                                     model_snapshot_cb, model_record_cb,
	                                     &rb, &rep_b),
	                 0);
	assert_int_equal(ra.bad, 0);
	assert_int_equal(rb.bad, 0);
	assert_true(rep_a.checkpoint_valid);
	assert_int_equal(ra.snap_records, MODEL_KEYS);
	assert_int_equal(rep_a.records, 1);
	assert_false(rep_b.checkpoint_present);
	assert_int_equal(rep_a.last_seq, rep_b.last_seq);
	assert_memory_equal(&ra.m, &env.truth, sizeof(model));
	assert_memory_equal(&rb.m, &env.truth, sizeof(model));
	printf("# checkpoint: %d checkpoints, at most %d segments, log %" PRIu64
	       " vs %" PRIu64 " records replayed\n",
	       n_ckpt + 1, env.max_segments, rep_a.records, rep_b.records);
	assert_true(env.max_segments <= 2);

	/* A corrupt checkpoint is an error, reported plainly. */
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", env.dir_a,
	         CTE_JOURNAL_CHECKPOINT);
	flip_byte(path, file_size(path) / 2);
	memset(&ra, 0, sizeof(ra));
	chi_error_clear();
	assert_int_equal(cte__journal_replay(env.dir_a, CTE_JOURNAL_REPAIR,
	                                     model_snapshot_cb, model_record_cb,
	                                     &ra, &rep_a),
	                 -EUCLEAN);
	assert_int_equal(ra.snap_records, 0);
	assert_true(rep_a.checkpoint_present);
	assert_false(rep_a.checkpoint_valid);
	assert_non_null(strstr(chi_error_last(), CTE_JOURNAL_CHECKPOINT));
	assert_non_null(strstr(chi_error_last(), "checksum"));
	printf("# checkpoint: corrupt -> \"%s\"\n", chi_error_last());
	assert_int_equal(truncate(path, 30), 0);
	assert_int_equal(
	    cte__journal_replay(env.dir_a, 0, NULL, NULL, NULL, &rep_a),
	    -EUCLEAN);

	pthread_rwlock_destroy(&env.rw);
	remove_dir(env.dir_a);
	remove_dir(dir_b);
}

/* A segment missing between the checkpoint and the log is an error. */
static void test_missing_segment(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[8192];
	cte_journal *j;
	cte_journal_report rep;

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, NULL, 1, 10);
	assert_int_equal(
	    cte__journal_checkpoint(j, write_model, &(ckpt_env){0}), 0);
	append_plain(j, NULL, 11, 10);
	assert_int_equal(
	    cte__journal_checkpoint(j, write_model, &(ckpt_env){0}), 0);
	append_plain(j, NULL, 21, 10);
	assert_int_equal(cte__journal_close(j), 0);
	/* Put back an older checkpoint by rewriting its covered sequence:
	 * simplest is to remove the checkpoint, leaving a log that starts at
	 * sequence 20 with nothing before it. */
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", dir, CTE_JOURNAL_CHECKPOINT);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(segments(dir, seg, sizeof(seg)), 1);
	chi_error_clear();
	assert_int_equal(cte__journal_replay(dir, 0, NULL, NULL, NULL, &rep),
	                 -EUCLEAN);
	assert_non_null(strstr(chi_error_last(), "missing"));
	remove_dir(dir);
}

/*
 * Crash simulation: a child appends groups from two threads with durable
 * flushes and periodic checkpoints, reporting each group id through a pipe
 * once its flush returned; it is SIGKILLed at a random moment.  Replay
 * must hold every reported group, each whole, none twice.
 */
enum { CR_MEMBER = 10, CR_SNAP = 11 };

typedef struct crash_child {
	cte_journal *j;
	int pipe_w;
	uint64_t next_gid; /* atomic */
	pthread_rwlock_t rw;
	pthread_mutex_t lock; /* the committed list */
	uint64_t *done;       /* committed group ids (state) */
	uint32_t *done_n;     /* their sizes */
	size_t n_done, cap_done;
	uint64_t seed;
} crash_child;

static void done_add(crash_child *cc, uint64_t gid, uint32_t n)
{
	if (cc->n_done == cc->cap_done) {
		cc->cap_done = cc->cap_done ? cc->cap_done * 2 : 1024;
		cc->done = realloc(cc->done, cc->cap_done * sizeof(*cc->done));
		cc->done_n =
		    realloc(cc->done_n, cc->cap_done * sizeof(*cc->done_n));
		if (!cc->done || !cc->done_n)
			abort();
	}
	cc->done[cc->n_done] = gid;
	cc->done_n[cc->n_done++] = n;
}

/* Startup as CTE does it: rebuild the state from the journal. */
static int child_load(void *arg, uint8_t type, uint64_t seq, const void *p,
                      uint32_t len)
{
	(void)seq;
	crash_child *cc = arg;
	cte_jdec d;
	uint64_t gid;
	uint32_t i = 0, n;
	cte__jdec_init(&d, p, len);
	cte__jdec_get_u64(&d, &gid);
	if (type == CR_MEMBER)
		cte__jdec_get_u32(&d, &i);
	cte__jdec_get_u32(&d, &n);
	if (d.err)
		return -EBADMSG;
	if (type == CR_SNAP || i + 1 == n)
		done_add(cc, gid, n);
	return 0;
}

static int crash_snapshot(cte_journal_ckpt *w, uint64_t covered, void *arg)
{
	(void)covered;
	crash_child *cc = arg;
	cte_jenc e;
	int rc = 0;
	cte__jenc_init(&e);
	for (size_t i = 0; i < cc->n_done && !rc; i++) {
		cte__jenc_reset(&e);
		cte__jenc_put_u64(&e, cc->done[i]);
		cte__jenc_put_u32(&e, cc->done_n[i]);
		rc = e.err ? e.err
		           : cte__journal_ckpt_put(w, CR_SNAP, e.data,
		                                   (uint32_t)e.len);
	}
	cte__jenc_destroy(&e);
	return rc;
}

static void *crash_appender(void *p)
{
	crash_child *cc = p;
	cte_jenc e;
	cte_journal_txn t;
	uint64_t r = cc->seed ^ (uint64_t)(uintptr_t)&e;
	cte__jenc_init(&e);
	cte__journal_txn_init(&t);
	for (;;) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t n = 1 + (uint32_t)((r >> 33) % 5);
		uint64_t gid =
		    __atomic_fetch_add(&cc->next_gid, 1, __ATOMIC_RELAXED);
		uint64_t seq;
		pthread_rwlock_rdlock(&cc->rw);
		for (uint32_t i = 0; i < n; i++) {
			cte__jenc_reset(&e);
			cte__jenc_put_u64(&e, gid);
			cte__jenc_put_u32(&e, i);
			cte__jenc_put_u32(&e, n);
			for (uint32_t k = 0; k < (uint32_t)(r >> 45) % 300; k++)
				cte__jenc_put_u8(&e, (uint8_t)k);
			cte__journal_txn_add(&t, CR_MEMBER, e.data,
			                     (uint32_t)e.len);
		}
		if (cte__journal_txn_commit(cc->j, &t, &seq))
			abort();
		pthread_mutex_lock(&cc->lock);
		done_add(cc, gid, n);
		pthread_mutex_unlock(&cc->lock);
		pthread_rwlock_unlock(&cc->rw);
		if ((r >> 20) % 4 == 0)
			continue; /* not flushed: may or may not survive */
		if (cte__journal_sync_to(cc->j, seq, true))
			abort();
		/* The group is durable and ends at or before the segment's
		 * current length: the parent may cut anything beyond that
		 * (losing only what was never reported durable). */
		cte_journal_stats st;
		cte__journal_get_stats(cc->j, &st);
		uint64_t msg[3] = {gid, st.segment_base, st.segment_bytes};
		if (write(cc->pipe_w, msg, sizeof(msg)) != sizeof(msg))
			abort();
	}
	return NULL;
}

static void crash_child_run(const char *dir, int pipe_w, uint64_t first_gid,
                            uint64_t seed)
{
	crash_child cc;
	memset(&cc, 0, sizeof(cc));
	cc.pipe_w = pipe_w;
	cc.next_gid = first_gid;
	cc.seed = seed;
	pthread_rwlock_init(&cc.rw, NULL);
	pthread_mutex_init(&cc.lock, NULL);
	/* The child's state starts as what replay finds (group ids only). */
	cte_journal_opts opts = {.flush_period_ms = 5, .buffer_limit = 4096};
	if (cte__journal_replay(dir, CTE_JOURNAL_REPAIR, child_load, child_load,
	                        &cc, NULL))
		abort();
	if (cte__journal_open(&cc.j, dir, &opts))
		abort();
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, crash_appender, &cc))
			abort();
	for (int i = 0;; i++) {
		struct timespec ts = {0, 7 * 1000 * 1000};
		nanosleep(&ts, NULL);
		pthread_rwlock_wrlock(&cc.rw);
		if (cte__journal_checkpoint(cc.j, crash_snapshot, &cc))
			abort();
		pthread_rwlock_unlock(&cc.rw);
	}
}

typedef struct crash_check {
	uint8_t *seen; /* by gid */
	size_t cap;
	uint64_t cur_gid; /* group being assembled */
	uint32_t cur_n, cur_i;
	uint64_t groups, dup, partial, bad;
} crash_check;

static int mark_seen(crash_check *k, uint64_t gid)
{
	if (gid >= k->cap) {
		size_t nc = k->cap ? k->cap : 4096;
		while (nc <= gid)
			nc *= 2;
		k->seen = realloc(k->seen, nc);
		if (!k->seen)
			return -ENOMEM;
		memset(k->seen + k->cap, 0, nc - k->cap);
		k->cap = nc;
	}
	if (k->seen[gid])
		k->dup++;
	k->seen[gid] = 1;
	k->groups++;
	return 0;
}

static int crash_snap_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                         uint32_t len)
{
	(void)seq;
	crash_check *k = arg;
	cte_jdec d;
	uint64_t gid;
	uint32_t n;
	cte__jdec_init(&d, p, len);
	cte__jdec_get_u64(&d, &gid);
	cte__jdec_get_u32(&d, &n);
	if (type != CR_SNAP || d.err || cte__jdec_left(&d)) {
		k->bad++;
		return 0;
	}
	return mark_seen(k, gid);
}

static int crash_rec_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                        uint32_t len)
{
	(void)seq;
	crash_check *k = arg;
	cte_jdec d;
	uint64_t gid;
	uint32_t i, n;
	cte__jdec_init(&d, p, len);
	cte__jdec_get_u64(&d, &gid);
	cte__jdec_get_u32(&d, &i);
	cte__jdec_get_u32(&d, &n);
	if (type != CR_MEMBER || d.err || i >= n) {
		k->bad++;
		return 0;
	}
	if (k->cur_i < k->cur_n) {
		/* inside a group: must continue it */
		if (gid != k->cur_gid || i != k->cur_i)
			k->partial++;
	} else if (i != 0) {
		k->partial++;
	}
	k->cur_gid = gid;
	k->cur_n = n;
	k->cur_i = i + 1;
	if (k->cur_i == k->cur_n)
		return mark_seen(k, gid);
	return 0;
}

static void test_crash(void **state)
{
	(void)state;
	char *dir = make_dir();
	uint64_t seed = seed_init("crash");
	const char *env = getenv("JOURNAL_CRASH_ROUNDS");
	int rounds = env ? atoi(env) : 6;
	uint64_t *reported = NULL;
	size_t n_rep = 0, cap = 0;

	for (int round = 0; round < rounds; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		uint64_t first_gid = (uint64_t)round << 24;
		fflush(stdout);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			chi_log_set_level(CHI_LOG_ERROR);
			crash_child_run(dir, fds[1], first_gid,
			                seed + (uint64_t)round);
			_exit(0);
		}
		close(fds[1]);
		struct timespec ts = {0, (long)(20 + rnd() % 250) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);

		size_t round_first = n_rep;
		uint64_t msg[3];
		ssize_t got;
		char seg[8192];
		assert_true(segments(dir, seg, sizeof(seg)) >= 1);
		uint64_t newest_base =
		    strtoull(strrchr(seg, '.') + 1, NULL, 16);
		uint64_t keep = SEGHDR_BYTES;
		while ((got = read(fds[0], msg, sizeof(msg))) == sizeof(msg)) {
			if (n_rep == cap) {
				cap = cap ? cap * 2 : 1024;
				reported =
				    realloc(reported, cap * sizeof(*reported));
				assert_non_null(reported);
			}
			reported[n_rep++] = msg[0];
			if (msg[1] == newest_base && msg[2] > keep)
				keep = msg[2];
		}
		assert_int_equal(got, 0);
		close(fds[0]);

		/* Half the rounds also lose unsynced data as a power cut
		 * would: the newest segment is cut at a random point after
		 * everything reported durable in it. */
		uint64_t size = (uint64_t)file_size(seg);
		if (rnd() % 2 && size > keep) {
			uint64_t cut = keep + rnd() % (size - keep);
			assert_int_equal(truncate(seg, (off_t)cut), 0);
			printf("# crash round %d: cut %s from %" PRIu64
			       " to %" PRIu64 " bytes\n",
			       round, strrchr(seg, '/') + 1, size, cut);
		}

		crash_check k;
		memset(&k, 0, sizeof(k));
		cte_journal_report rep;
		chi_log_set_level(CHI_LOG_ERROR);
		int rc =
		    cte__journal_replay(dir, CTE_JOURNAL_REPAIR, crash_snap_cb,
		                        crash_rec_cb, &k, &rep);
		chi_log_set_level(CHI_LOG_WARN);
		if (rc)
			printf("# crash: replay: %s\n", chi_error_last());
		assert_int_equal(rc, 0);
		assert_int_equal(k.bad, 0);
		assert_int_equal(k.dup, 0);
		assert_int_equal(k.partial, 0);
		assert_true(k.cur_i == k.cur_n); /* last group complete */
		for (size_t i = 0; i < n_rep; i++) {
			assert_true(reported[i] < k.cap);
			assert_true(k.seen[reported[i]]);
		}
		printf("# crash round %d: %zu groups reported durable (%zu in "
		       "all rounds), %" PRIu64 " replayed (%" PRIu64
		       " from the checkpoint), tail %s%s\n",
		       round, n_rep - round_first, n_rep, k.groups,
		       rep.checkpoint_records, rep.torn ? "torn: " : "clean",
		       rep.torn ? rep.torn_reason : "");
		free(k.seen);
	}
	printf("# crash: %d rounds, %zu durable groups checked\n", rounds,
	       n_rep);
	free(reported);
	remove_dir(dir);
}

/* Bad arguments and the background flush thread. */
static void test_limits_and_ticker(void **state)
{
	(void)state;
	char *dir = make_dir();
	cte_journal *j;
	cte_journal_txn t;
	cte_journal_opts opts = {.flush_period_ms = 10};
	static uint8_t big[64];

	assert_int_equal(cte__journal_open(&j, "/nonexistent/journal", NULL),
	                 -ENOENT);
	assert_non_null(strstr(chi_error_last(), "/nonexistent/journal"));
	assert_int_equal(cte__journal_open(&j, dir, &opts), 0);
	/* One user at a time; fsck may still look (and is told). */
	cte_journal *j2;
	cte_journal_report rep;
	assert_int_equal(cte__journal_open(&j2, dir, NULL), -EBUSY);
	assert_non_null(strstr(chi_error_last(), "in use"));
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     NULL, NULL, &rep),
	                 -EBUSY);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, NULL, NULL, &rep),
	                 0);
	assert_true(rep.in_use);
	assert_int_equal(
	    cte__journal_append(j, 1, big, CTE_JOURNAL_PAYLOAD_MAX + 1, NULL),
	    -EMSGSIZE);
	cte__journal_txn_init(&t);
	assert_int_equal(
	    cte__journal_txn_add(&t, 1, big, CTE_JOURNAL_PAYLOAD_MAX + 1),
	    -EMSGSIZE);
	cte__journal_txn_add(&t, 1, big, 4);
	uint64_t seq = 99;
	assert_int_equal(cte__journal_txn_commit(j, &t, &seq), -EMSGSIZE);
	/* the failed group was dropped and the txn is reusable */
	assert_int_equal(cte__journal_txn_commit(j, &t, &seq), 0);
	assert_int_equal(seq, 0);
	uint64_t s1;
	assert_int_equal(cte__journal_append(j, 1, big, 8, &s1), 0);
	assert_int_equal(s1, 1);
	/* The ticker makes it durable without any flush call. */
	cte_journal_stats st;
	for (int i = 0; i < 200; i++) {
		cte__journal_get_stats(j, &st);
		if (st.durable_seq >= s1)
			break;
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(st.durable_seq >= s1);
	cte__journal_txn_destroy(&t);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_close(NULL), 0);
	assert_int_equal(cte__journal_replay(dir, 0, NULL, NULL, NULL, &rep),
	                 0);
	assert_false(rep.in_use);
	remove_dir(dir);
}

/* pre_sync runs before every log sync, on_durable after; a failing
 * pre_sync fails that flush without breaking the journal. */
typedef struct hook_state {
	cte_journal *j;
	int pre_calls;
	int fail_next;
	uint64_t max_durable;
	int durable_calls;
	int order_errors;
} hook_state;

static int hook_pre_sync(void *arg)
{
	hook_state *h = arg;
	h->pre_calls++;
	if (h->fail_next) {
		h->fail_next = 0;
		return -EIO;
	}
	return 0;
}

static void hook_on_durable(void *arg, uint64_t seq)
{
	hook_state *h = arg;
	cte_journal_stats st;
	cte__journal_get_stats(h->j, &st);
	if (st.durable_seq < seq) /* published before the callback */
		h->order_errors++;
	if (seq > h->max_durable)
		h->max_durable = seq;
	h->durable_calls++;
}

static void test_hooks(void **state)
{
	(void)state;
	char *dir = make_dir();
	hook_state h = {0};
	cte_journal_opts opts = {.pre_sync = hook_pre_sync,
	                         .on_durable = hook_on_durable,
	                         .hook_arg = &h};
	cte_journal_stats st;
	uint64_t seq;

	assert_int_equal(cte__journal_open(&h.j, dir, &opts), 0);
	append_plain(h.j, NULL, 1, 3);
	assert_int_equal(cte__journal_flush(h.j, false), 0);
	assert_int_equal(h.pre_calls, 0); /* no sync, no data sync */
	assert_int_equal(cte__journal_flush(h.j, true), 0);
	assert_int_equal(h.pre_calls, 1);
	assert_int_equal(h.max_durable, 3);

	h.fail_next = 1;
	assert_int_equal(cte__journal_append(h.j, 1, "x", 1, &seq), 0);
	assert_int_equal(cte__journal_sync_to(h.j, seq, true), -EIO);
	cte__journal_get_stats(h.j, &st);
	assert_int_equal(st.durable_seq, 3);
	assert_int_equal(st.written_seq, 4);
	assert_int_equal(h.max_durable, 3);
	/* Not sticky: the next flush works. */
	assert_int_equal(cte__journal_sync_to(h.j, seq, true), 0);
	assert_int_equal(h.max_durable, 4);
	/* A checkpoint's rotation syncs the data too. */
	int before = h.pre_calls;
	append_plain(h.j, NULL, 10, 2);
	assert_int_equal(
	    cte__journal_checkpoint(h.j, write_model, &(ckpt_env){0}), 0);
	assert_int_equal(h.pre_calls, before + 1);
	assert_int_equal(h.max_durable, 6);
	assert_int_equal(h.order_errors, 0);
	assert_int_equal(cte__journal_close(h.j), 0);
	remove_dir(dir);
}

/* Async durability waiters (code inside runtime tasks). */
typedef struct async_w {
	cte_journal_waiter w;
	pthread_mutex_t *m;
	pthread_cond_t *cv;
	int done;
	int rc;
	cte_journal *j;
	int early; /* done() ran before the records were durable */
} async_w;

static void async_done(cte_journal_waiter *w, int rc)
{
	async_w *a = (async_w *)w;
	cte_journal_stats st;
	cte__journal_get_stats(a->j, &st);
	pthread_mutex_lock(a->m);
	if (rc == 0 && st.durable_seq < w->seq)
		a->early = 1;
	a->rc = rc;
	a->done = 1;
	pthread_cond_broadcast(a->cv);
	pthread_mutex_unlock(a->m);
}

#define ASYNC_THREADS 4
#define ASYNC_OPS     150

typedef struct async_thread {
	cte_journal *j;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int failures;
	int immediate;
} async_thread;

static void *async_main(void *p)
{
	async_thread *t = p;
	char payload[32] = "async";
	for (int i = 0; i < ASYNC_OPS; i++) {
		async_w a = {.m = &t->m, .cv = &t->cv, .j = t->j};
		a.w.done = async_done;
		if (cte__journal_append(t->j, 3, payload, sizeof(payload),
		                        &a.w.seq)) {
			t->failures++;
			continue;
		}
		int rc = cte__journal_sync_async(t->j, &a.w);
		if (rc == 1) {
			t->immediate++;
			continue;
		}
		if (rc != 0) {
			t->failures++;
			continue;
		}
		pthread_mutex_lock(&t->m);
		while (!a.done)
			pthread_cond_wait(&t->cv, &t->m);
		pthread_mutex_unlock(&t->m);
		if (a.rc || a.early)
			t->failures++;
	}
	return NULL;
}

static void test_async(void **state)
{
	(void)state;
	char *dir = make_dir();
	cte_journal *j;
	async_thread t[ASYNC_THREADS];
	pthread_t th[ASYNC_THREADS];
	collector c = {0};
	cte_journal_report rep;

	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	for (int i = 0; i < ASYNC_THREADS; i++) {
		t[i] = (async_thread){.j = j};
		pthread_mutex_init(&t[i].m, NULL);
		pthread_cond_init(&t[i].cv, NULL);
		assert_int_equal(
		    pthread_create(&th[i], NULL, async_main, &t[i]), 0);
	}
	int immediate = 0;
	for (int i = 0; i < ASYNC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
		immediate += t[i].immediate;
	}
	cte_journal_stats st;
	cte__journal_get_stats(j, &st);
	printf("# async: %d waits, %" PRIu64 " queued, %d already durable, "
	       "%" PRIu64 " fdatasyncs\n",
	       ASYNC_THREADS * ASYNC_OPS, st.async_waits, immediate, st.syncs);
	assert_int_equal(st.async_waits + (uint64_t)immediate,
	                 ASYNC_THREADS * ASYNC_OPS);
	assert_int_equal(st.durable_seq, ASYNC_THREADS * ASYNC_OPS);

	/* Already durable: 1, no callback. */
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	async_w a = {.m = &m, .cv = &cv, .j = j};
	a.w.done = async_done;
	a.w.seq = 1;
	assert_int_equal(cte__journal_sync_async(j, &a.w), 1);
	assert_int_equal(a.done, 0);
	/* Queued and completed by close at the latest. */
	assert_int_equal(cte__journal_append(j, 3, "z", 1, &a.w.seq), 0);
	int rc = cte__journal_sync_async(j, &a.w);
	assert_true(rc == 0 || rc == 1);
	assert_int_equal(cte__journal_close(j), 0);
	if (rc == 0) {
		assert_int_equal(a.done, 1);
		assert_int_equal(a.rc, 0);
	}
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	assert_int_equal(c.n, ASYNC_THREADS * ASYNC_OPS + 1);
	for (int i = 0; i < ASYNC_THREADS; i++) {
		pthread_mutex_destroy(&t[i].m);
		pthread_cond_destroy(&t[i].cv);
	}
	collector_free(&c);
	remove_dir(dir);
}

/*
 * Automatic checkpoints (opts.snapshot) with after-image records ("set k
 * v") while appending: replay equals the model, the log stays bounded.
 */
typedef struct auto_env {
	pthread_mutex_t m; /* the model; records appended under it */
	model truth;
	int snapshots;
} auto_env;

static int auto_snapshot(cte_journal_ckpt *w, uint64_t covered, void *arg)
{
	(void)covered;
	auto_env *env = arg;
	cte_jenc e;
	int rc = 0;
	cte__jenc_init(&e);
	for (uint32_t k = 0; k < MODEL_KEYS && !rc; k++) {
		pthread_mutex_lock(&env->m); /* per object, as CTE would */
		uint64_t v = env->truth.v[k];
		pthread_mutex_unlock(&env->m);
		cte__jenc_reset(&e);
		cte__jenc_put_u32(&e, k);
		cte__jenc_put_u64(&e, v);
		rc = cte__journal_ckpt_put(w, SNAP_VALUE, e.data,
		                           (uint32_t)e.len);
	}
	env->snapshots++;
	cte__jenc_destroy(&e);
	return rc;
}

static void test_auto_checkpoint(void **state)
{
	(void)state;
	char *dir = make_dir();
	auto_env env;
	cte_journal *j;
	cte_journal_report rep;
	replay_model r;
	cte_jenc e;

	seed_init("auto_checkpoint");
	memset(&env, 0, sizeof(env));
	pthread_mutex_init(&env.m, NULL);
	cte_journal_opts opts = {.snapshot = auto_snapshot,
	                         .hook_arg = &env,
	                         .checkpoint_bytes = 16384,
	                         .flush_period_ms = 2};
	assert_int_equal(cte__journal_open(&j, dir, &opts), 0);
	cte__jenc_init(&e);
	int max_segs = 0;
	cte_journal_stats st = {0};
	/* Phases of 4000 records (~128 KB, 8 x checkpoint_bytes): each must
	 * trigger a checkpoint by size. */
	for (int phase = 0; phase < 5; phase++) {
		uint64_t before = st.checkpoints;
		for (int i = 0; i < 4000; i++) {
			uint32_t k = (uint32_t)(rnd() % MODEL_KEYS);
			uint64_t v = rnd();
			cte__jenc_reset(&e);
			cte__jenc_put_u32(&e, k);
			cte__jenc_put_u64(&e, v);
			pthread_mutex_lock(&env.m);
			env.truth.v[k] = v;
			assert_int_equal(cte__journal_append(j, OP_SET, e.data,
			                                     (uint32_t)e.len,
			                                     NULL),
			                 0);
			pthread_mutex_unlock(&env.m);
			if (i % 500 == 0) {
				int n = segments(dir, NULL, 0);
				if (n > max_segs)
					max_segs = n;
			}
		}
		for (int i = 0; i < 1000; i++) {
			cte__journal_get_stats(j, &st);
			if (st.checkpoints > before)
				break;
			struct timespec ts = {0, 2 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		assert_true(st.checkpoints > before);
	}
	cte__jenc_destroy(&e);
	assert_true(max_segs <= 2);
	assert_int_equal(cte__journal_close(j), 0);
	printf("# auto_checkpoint: %" PRIu64 " checkpoints, at most %d "
	       "segments\n",
	       st.checkpoints, max_segs);

	memset(&r, 0, sizeof(r));
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR,
	                                     model_snapshot_cb, model_record_cb,
	                                     &r, &rep),
	                 0);
	assert_int_equal(r.bad, 0);
	assert_true(rep.checkpoint_valid);
	assert_memory_equal(&r.m, &env.truth, sizeof(model));
	/* 20000 records of 32 bytes would be ~640 KB without checkpoints */
	assert_true(rep.records < 20000);
	pthread_mutex_destroy(&env.m);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encoding),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_torn_tail),
	    cmocka_unit_test(test_flipped_byte),
	    cmocka_unit_test(test_uncommitted_group),
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_missing_segment),
	    cmocka_unit_test(test_limits_and_ticker),
	    cmocka_unit_test(test_hooks),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_auto_checkpoint),
	    cmocka_unit_test(test_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
