/*
 * Unit tests of the CTE metadata journal: checkpoints
 * (modules/cte/src/journal_ckpt.c), run by the caller and by the
 * checkpointer thread.
 */
#include "journal_test_util.h"

/* ------------------------------------------------------------------ */
/* Tests                                                                */

/*
 * Checkpoints: a model of 256 counters changed by order-dependent records
 * ("set k v", "add k d") from two threads, one journal with checkpoints and
 * one without.  Both replays equal the model.
 */
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

/* The consistent cut: a snapshot callback that appends (as another thread
 * would) and then cuts covers those records too; replay delivers only
 * what follows the cut, and a log that lost its tail up to the cut still
 * opens with sequences after it. */
typedef struct cut_env {
	cte_journal *j;
	uint64_t rotated, cut;
} cut_env;

static int cut_snapshot(cte_journal_ckpt *w, uint64_t covered, void *arg)
{
	cut_env *env = arg;
	uint64_t again;

	env->rotated = covered;
	append_plain(env->j, NULL, 11, 5); /* in the window */
	assert_int_equal(cte__journal_ckpt_cut(w, &env->cut), 0);
	assert_int_equal(cte__journal_ckpt_put(w, SNAP_VALUE, "x", 1), 0);
	assert_int_equal(cte__journal_ckpt_cut(w, &again), -EINVAL);
	return 0;
}

/* Replay's one argument: the log's records (collect), the checkpoint's
 * sequence. */
typedef struct cut_replay {
	collector c; /* first: collect() takes the struct as its collector */
	uint64_t snap_seq;
} cut_replay;

static int cut_snap(void *arg, uint8_t type, uint64_t seq, const void *p,
                    uint32_t len)
{
	(void)type;
	(void)p;
	(void)len;
	((cut_replay *)arg)->snap_seq = seq;
	return 0;
}

static void test_checkpoint_cut(void **state)
{
	(void)state;
	char *dir = make_dir();
	char newest[4096];
	cut_env env = {0};
	cte_journal_report rep;
	cut_replay r = {0};
	collector *c = &r.c;
	uint64_t seq;
	cte_jenc e;

	cte_journal_opts opts = {0};
	assert_int_equal(cte__journal_open(&env.j, dir, &opts), 0);
	append_plain(env.j, NULL, 1, 10);
	assert_int_equal(cte__journal_checkpoint(env.j, cut_snapshot, &env), 0);
	assert_int_equal(env.rotated, 10);
	assert_int_equal(env.cut, 15);
	append_plain(env.j, NULL, 16, 5);
	assert_int_equal(cte__journal_close(env.j), 0);

	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, cut_snap,
	                                     collect, &r, &rep),
	                 0);
	assert_int_equal(r.snap_seq, 15);
	assert_int_equal(rep.checkpoint_seq, 15);
	assert_true(rep.checkpoint_cut); /* header version 2 */
	assert_int_equal(c->n, 5);
	for (size_t i = 0; i < c->n; i++) {
		assert_int_equal(c->v[i].id, 16 + i);
		assert_int_equal(c->v[i].seq, 16 + i);
	}
	collector_free(c);

	/* a crash lost the log after the rotation: the checkpoint holds
	 * records 11..15, the next append must come after them */
	assert_int_equal(segments(dir, newest, sizeof(newest)), 1);
	assert_int_equal(truncate(newest, SEGHDR_BYTES), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, cut_snap,
	                                     collect, &r, &rep),
	                 0);
	assert_int_equal(r.snap_seq, 15);
	assert_int_equal(c->n, 0);
	assert_int_equal(cte__journal_open(&env.j, dir, &opts), 0);
	cte__jenc_init(&e);
	payload_make(&e, 21);
	assert_int_equal(
	    cte__journal_append(env.j, 21, e.data, (uint32_t)e.len, &seq), 0);
	cte__jenc_destroy(&e);
	assert_int_equal(seq, 16);
	assert_int_equal(cte__journal_close(env.j), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, cut_snap,
	                                     collect, &r, &rep),
	                 0);
	assert_int_equal(c->n, 1);
	assert_int_equal(c->v[0].id, 21);
	collector_free(c);
	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_auto_checkpoint),
	    cmocka_unit_test(test_checkpoint_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
