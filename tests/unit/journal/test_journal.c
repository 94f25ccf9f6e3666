/*
 * Unit tests of the CTE metadata journal: the live path
 * (modules/cte/src/journal.c and journal_open.c): encoding, appends and
 * groups, concurrent appenders, limits and the ticker, the hooks, async
 * waiters.  Replay and repair: test_journal_replay.c; checkpoints:
 * test_journal_ckpt.c.
 */
#include "journal_test_util.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encoding),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_limits_and_ticker),
	    cmocka_unit_test(test_hooks),
	    cmocka_unit_test(test_async),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
