/*
 * Shared setup of the journal unit tests; see journal_test_util.h.
 */
#include "journal_test_util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

uint64_t rng_state;

uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t seed_init(const char *test)
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

char *make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/journal-test-XXXXXX",
	         tmp ? tmp : "/tmp");
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

void remove_dir(char *dir)
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
int segments(const char *dir, char *newest, size_t size)
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

off_t file_size(const char *path)
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

void payload_make(cte_jenc *e, uint64_t id)
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

int collect(void *arg, uint8_t type, uint64_t seq, const void *payload,
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

void collector_free(collector *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

void expect_add(expect *x, uint8_t type, uint64_t id)
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

void expect_free(expect *x)
{
	free(x->type);
	free(x->id);
	memset(x, 0, sizeof(*x));
}

void expect_match(const expect *x, size_t upto, const collector *c)
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
uint64_t append_random(cte_journal *j, expect *x, uint64_t *next_id, int n_ops)
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
void append_plain(cte_journal *j, expect *x, uint64_t first, int n)
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

uint64_t framed_len(uint64_t id)
{
	return REC_OVERHEAD + 12 + payload_len(id);
}

void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* The counter model of the checkpoint tests                            */

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

int model_snapshot_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                      uint32_t len)
{
	(void)seq;
	replay_model *r = arg;
	if (type != SNAP_VALUE)
		r->bad++;
	r->snap_records++;
	model_apply(&r->m, type, p, len, &r->bad);
	return 0;
}

int model_record_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                    uint32_t len)
{
	(void)seq;
	replay_model *r = arg;
	model_apply(&r->m, type, p, len, &r->bad);
	return 0;
}

int write_model(cte_journal_ckpt *w, uint64_t covered, void *arg)
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
