/*
 * Unit tests of the CTE metadata journal: replay and repair
 * (modules/cte/src/journal_replay.c): torn tails, flipped bytes,
 * uncommitted groups, a missing segment, and crashes of a child process.
 *
 * JOURNAL_CRASH_ROUNDS changes the number of crash rounds (default 6).
 */
#include "journal_test_util.h"

/* ------------------------------------------------------------------ */
/* Tests                                                                */

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

/* ------------------------------------------------------------------ */
/* Bad records in segments that were already synced                     */

/* A snapshot that fails: the checkpoint rotates, then gives up, so the
 * old segment stays beside the new one. */
static int failing_snapshot(cte_journal_ckpt *w, uint64_t covered, void *arg)
{
	(void)w;
	(void)covered;
	(void)arg;
	return -EIO;
}

/* Three segments of 40 standalone records each (bases 0, 40, 80); the
 * paths of the segments in seg[0..2]. */
static void three_segments(const char *dir, expect *x, char seg[3][8192])
{
	cte_journal *j;
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	for (int i = 0; i < 3; i++) {
		append_plain(j, x, 1 + 40 * (uint64_t)i, 40);
		if (i < 2)
			assert_int_equal(
			    cte__journal_checkpoint(j, failing_snapshot, NULL),
			    -EIO);
	}
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(segments(dir, NULL, 0), 3);
	for (int i = 0; i < 3; i++)
		snprintf(seg[i], 8192, "%s/cte.journal.%016" PRIx64, dir,
		         (uint64_t)(40 * i));
}

/* Offset of record `id` in the segment that starts after record
 * `first - 1` (standalone records, sequence = id). */
static off_t record_offset(uint64_t first, uint64_t id)
{
	off_t at = SEGHDR_BYTES;
	for (uint64_t k = first; k < id; k++)
		at += (off_t)framed_len(k);
	return at;
}

static int count_discarded(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".discarded"))
			n++;
	closedir(d);
	return n;
}

/* Startup's replay refuses the corrupt segment `seg`: -EUCLEAN, a message
 * naming it, `what` and cte-fsck; n_segs segments left, none renamed. */
static void expect_refused(const char *dir, const char *seg, const char *what,
                           int n_segs)
{
	collector c = {0};
	cte_journal_report rep;

	chi_error_clear();
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 -EUCLEAN);
	printf("# refused: \"%s\"\n", chi_error_last());
	assert_non_null(strstr(chi_error_last(), seg));
	assert_non_null(strstr(chi_error_last(), what));
	assert_non_null(strstr(chi_error_last(), "cte-fsck -d"));
	assert_true(rep.corrupt);
	assert_false(rep.repaired);
	assert_int_equal(segments(dir, NULL, 0), n_segs);
	assert_int_equal(count_discarded(dir), 0);
	collector_free(&c);
}

/*
 * A bad record in a segment that has a successor is not a torn tail:
 * the segment was fdatasync'ed before its successor was created, so its
 * records were acknowledged durable.  Startup's replay fails with
 * -EUCLEAN naming the segment and offset and changes nothing; the
 * read-only scan reports it; only CTE_JOURNAL_DISCARD (cte-fsck -d) cuts.
 */
static void test_corrupt_synced_segment(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[3][8192];
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;
	char msg[64];

	three_segments(dir, &x, seg);
	off_t sizes[3];
	for (int i = 0; i < 3; i++)
		sizes[i] = file_size(seg[i]);
	off_t at = record_offset(1, 20);
	flip_byte(seg[0], at + 17);

	/* Startup: refused, nothing modified. */
	snprintf(msg, sizeof(msg), "offset %lld", (long long)at);
	expect_refused(dir, seg[0], msg, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(file_size(seg[i]), sizes[i]);

	/* Open (which repairs only the newest segment) leaves it alone. */
	cte_journal *j;
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(file_size(seg[0]), sizes[0]);

	/* Check only: reported, with what a repair would drop. */
	assert_int_equal(cte__journal_replay(dir, 0, NULL, collect, &c, &rep),
	                 0);
	expect_match(&x, 19, &c);
	assert_true(rep.torn);
	assert_true(rep.corrupt);
	assert_false(rep.repaired);
	assert_string_equal(rep.torn_file, seg[0]);
	assert_int_equal(rep.torn_bad_offset, at);
	assert_int_equal(rep.torn_offset, at);
	assert_int_equal(rep.segments_discarded, 2);
	assert_int_equal(rep.discarded_bytes, sizes[0] - at);
	assert_int_equal(count_discarded(dir), 0);
	collector_free(&c);

	/* The explicit repair: cut there, later segments aside. */
	assert_int_equal(
	    cte__journal_replay(dir, CTE_JOURNAL_REPAIR | CTE_JOURNAL_DISCARD,
	                        NULL, collect, &c, &rep),
	    0);
	expect_match(&x, 19, &c);
	assert_true(rep.corrupt);
	assert_true(rep.repaired);
	assert_int_equal(rep.segments_discarded, 2);
	assert_int_equal(file_size(seg[0]), at);
	assert_int_equal(segments(dir, NULL, 0), 1);
	assert_int_equal(count_discarded(dir), 2);
	collector_free(&c);

	/* Clean afterwards, and appends continue after record 19. */
	x.n = 19;
	assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
	append_plain(j, &x, 500, 3);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	assert_false(rep.torn);
	assert_false(rep.corrupt);
	expect_match(&x, 22, &c);

	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

/* A non-last segment cut short (a lost block, a bad copy) and a header
 * rewritten in a middle segment are corruption too; a torn tail of the
 * last segment is still cut at startup. */
static void test_truncated_synced_segment(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[3][8192];
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;

	three_segments(dir, &x, seg);
	off_t sizes[3];
	for (int i = 0; i < 3; i++)
		sizes[i] = file_size(seg[i]);

	/* The middle segment loses half of its last record. */
	off_t last = record_offset(41, 80);
	assert_int_equal(truncate(seg[1], last + (off_t)framed_len(80) / 2), 0);
	expect_refused(dir, seg[1], "short record", 3);
	assert_int_equal(file_size(seg[1]), last + (off_t)framed_len(80) / 2);
	assert_int_equal(file_size(seg[2]), sizes[2]);

	/* A fresh journal, the last segment torn instead: cut as before. */
	remove_dir(dir);
	dir = make_dir();
	x.n = 0;
	three_segments(dir, &x, seg);
	assert_int_equal(truncate(seg[2], sizes[2] - 3), 0);
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR, NULL,
	                                     collect, &c, &rep),
	                 0);
	expect_match(&x, 119, &c);
	assert_true(rep.torn);
	assert_false(rep.corrupt);
	assert_true(rep.repaired);
	assert_int_equal(file_size(seg[2]), record_offset(81, 120));
	assert_int_equal(count_discarded(dir), 0);
	collector_free(&c);

	/* A header flipped in the middle segment: corruption. */
	flip_byte(seg[1], 9);
	expect_refused(dir, seg[1], "offset 0: bad segment header", 3);
	assert_int_equal(file_size(seg[1]), sizes[1]);

	collector_free(&c);
	expect_free(&x);
	remove_dir(dir);
}

/*
 * A rotation interrupted by a crash leaves a newest segment that is empty,
 * holds part of its header, or only its header.  It is the last segment,
 * so startup repairs it by itself; the segment before it was synced before
 * it was created, so a bad record there is still corruption.
 */
static void test_rotation_crash(void **state)
{
	(void)state;
	char *dir = make_dir();
	char seg[3][8192], path[8300];
	expect x = {0};
	collector c = {0};
	cte_journal_report rep;
	const off_t cuts[3] = {0, SEGHDR_BYTES / 2, SEGHDR_BYTES};

	three_segments(dir, &x, seg);
	for (int i = 0; i < 3; i++) {
		/* A fourth segment, as the rotation after record 120 begins
		 * it: created empty, or with (part of) its header. */
		snprintf(path, sizeof(path), "%s/cte.journal.%016" PRIx64, dir,
		         (uint64_t)120);
		if (!cuts[i]) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			assert_true(fd >= 0);
			close(fd);
		} else {
			cte_journal *j;
			assert_int_equal(cte__journal_open(&j, dir, NULL), 0);
			assert_int_equal(
			    cte__journal_checkpoint(j, failing_snapshot, NULL),
			    -EIO);
			assert_int_equal(cte__journal_close(j), 0);
			assert_int_equal(file_size(path), SEGHDR_BYTES);
			assert_int_equal(truncate(path, cuts[i]), 0);
		}
		assert_int_equal(segments(dir, NULL, 0), 4);
		assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR,
		                                     NULL, collect, &c, &rep),
		                 0);
		expect_match(&x, 120, &c);
		assert_false(rep.corrupt);
		assert_int_equal(rep.torn, cuts[i] < SEGHDR_BYTES);
		assert_int_equal(segments(dir, NULL, 0),
		                 cuts[i] < SEGHDR_BYTES ? 3 : 4);
		assert_int_equal(count_discarded(dir), 0);
		collector_free(&c);
		if (cuts[i] == SEGHDR_BYTES)
			assert_int_equal(unlink(path), 0);
	}

	/* Empty newest segment, bad record before it: corruption. */
	snprintf(path, sizeof(path), "%s/cte.journal.%016" PRIx64, dir,
	         (uint64_t)120);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	off_t at = record_offset(81, 100);
	flip_byte(seg[2], at + 20);
	snprintf(path, sizeof(path), "offset %lld", (long long)at);
	expect_refused(dir, seg[2], path, 4);

	collector_free(&c);
	expect_free(&x);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_torn_tail),
	    cmocka_unit_test(test_flipped_byte),
	    cmocka_unit_test(test_uncommitted_group),
	    cmocka_unit_test(test_missing_segment),
	    cmocka_unit_test(test_corrupt_synced_segment),
	    cmocka_unit_test(test_truncated_synced_segment),
	    cmocka_unit_test(test_rotation_crash),
	    cmocka_unit_test(test_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
