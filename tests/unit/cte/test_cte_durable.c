/*
 * Durability through the module: a pool with a file target journals its
 * metadata; destroying and re-creating the pool (unmount, remount) shows
 * the same tree, ids, attributes, xattrs and contents; a process that dies
 * without shutting down keeps everything it fsync'ed.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cte_test_util.h"

#define MIB (1024 * 1024)

static char dirs[2][256];

static void params_for(struct cte_params *p, const char *dir)
{
	char path[512];

	cte_test_params(p);
	p->metadata_journal = 1;
	p->flush_metadata_period_ms = 0; /* durable only when asked */
	cte_test_add_target(p, "ram::dur_ram", CHI_BDEV_RAM, 8 * MIB, 1.0);
	snprintf(path, sizeof(path), "%s/store.bdev", dir);
	cte_test_add_target(p, path, CHI_BDEV_FILE, 32 * MIB, 0.2);
}

static void fill(unsigned char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 9));
}

static void check_content(cte_client *c, cte_id id, size_t n, unsigned seed)
{
	unsigned char *want = malloc(n), *got = malloc(n + 1);
	uint64_t len;

	fill(want, n, seed);
	assert_int_equal(cte_blob_read(c, id, 0, got, n + 1, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(want);
	free(got);
}

static void test_remount(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, f1, f2, link, gone, holey;
	cte_attr a, b;
	unsigned char *buf = malloc(2 * MIB);
	char text[64];
	size_t sz;

	(void)state;
	assert_int_equal(cte_test_runtime_start(2), 0);
	params_for(&p, dirs[0]);
	assert_int_equal(cte_test_pool(&c, "dur", 1, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/a/b", &tag), 0);
	fill(buf, 100 * 1024, 1);
	assert_int_equal(
	    cte_put_blob(&c, tag, "f1", 0, buf, 100 * 1024, 0.9, &f1),
	    0); /* on the RAM target */
	fill(buf, 2 * MIB, 2);
	assert_int_equal(cte_put_blob(&c, tag, "f2", 0, buf, 2 * MIB, 0.1, &f2),
	                 0);
	assert_int_equal(cte_xattr_set(&c, f2, "user.k", "value", 5, 0), 0);
	{
		cte_attr s = cte_test_attr(S_IFLNK | 0777);

		assert_int_equal(
		    cte_ns_create(&c, CTE_ROOT_ID, "sl", &s, "a/b/f2", &a), 0);
		link = a.id;
	}
	assert_int_equal(cte_ns_link(&c, f1, CTE_ROOT_ID, "f1-hard", NULL), 0);
	assert_int_equal(cte_put_blob(&c, tag, "doomed", 0, "x", 1, -1, &gone),
	                 0);
	assert_int_equal(cte_del_blob(&c, tag, "doomed"), 0);
	assert_int_equal(
	    cte_ns_rename(&c, tag, "f2", CTE_ROOT_ID, "f2", 0, NULL), 0);
	assert_int_equal(cte_truncate_blob(&c, CTE_ROOT_ID, "f2", MIB + 10), 0);
	/* a punched hole: blocks 1-2 freed, part of block 4 zeroed */
	fill(buf, 64 * 1024, 4);
	assert_int_equal(
	    cte_put_blob(&c, tag, "holey", 0, buf, 64 * 1024, 0.1, &holey), 0);
	assert_int_equal(cte_blob_punch(&c, holey, 4096, 2 * 4096), 0);
	assert_int_equal(cte_blob_punch(&c, holey, 4 * 4096 + 5, 100), 0);
	assert_int_equal(cte_ns_getattr(&c, f1, &a), 0);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0); /* unmount */

	assert_int_equal(cte_test_pool(&c, "dur", 1, &p, NULL), 0); /* mount */
	assert_int_equal(cte_ns_lookup(&c, tag, "f1", &b), 0);
	assert_int_equal(b.id, f1);
	assert_int_equal(b.nlink, 2);
	assert_int_equal(b.size, a.size);
	assert_int_equal(b.mode, a.mode);
	assert_int_equal(b.mtime.tv_sec, a.mtime.tv_sec);
	assert_int_equal(b.mtime.tv_nsec, a.mtime.tv_nsec);
	assert_true(b.score == a.score);
	check_content(&c, f1, 100 * 1024, 1);
	assert_int_equal(cte_ns_lookup(&c, CTE_ROOT_ID, "f2", &b), 0);
	assert_int_equal(b.id, f2);
	assert_int_equal(b.size, MIB + 10);
	{
		unsigned char *want = malloc(MIB + 10);

		fill(want, MIB + 10, 2);
		fill(buf, MIB + 10, 0);
		uint64_t n;

		assert_int_equal(cte_blob_read(&c, f2, 0, buf, 2 * MIB, &n), 0);
		assert_int_equal(n, MIB + 10);
		assert_memory_equal(buf, want, MIB + 10);
		free(want);
	}
	assert_int_equal(
	    cte_xattr_get(&c, f2, "user.k", text, sizeof(text), &sz), 0);
	assert_int_equal(sz, 5);
	assert_int_equal(cte_ns_readlink(&c, link, text, sizeof(text)), 0);
	assert_string_equal(text, "a/b/f2");
	assert_int_equal(cte_ns_getattr(&c, gone, NULL), -ENOENT);
	assert_int_equal(cte_ns_lookup(&c, tag, "f2", &b), -ENOENT);
	{
		unsigned char *want = malloc(64 * 1024);
		uint64_t n;

		fill(want, 64 * 1024, 4);
		memset(want + 4096, 0, 2 * 4096);
		memset(want + 4 * 4096 + 5, 0, 100);
		assert_int_equal(cte_ns_getattr(&c, holey, &b), 0);
		assert_int_equal(b.size, 64 * 1024);
		assert_int_equal(b.alloc_bytes, 64 * 1024 - 2 * 4096);
		assert_int_equal(
		    cte_blob_read(&c, holey, 0, buf, 64 * 1024, &n), 0);
		assert_int_equal(n, 64 * 1024);
		assert_memory_equal(buf, want, 64 * 1024);
		free(want);
	}
	/* new ids never reuse old ones */
	{
		cte_id fresh;

		assert_int_equal(
		    cte_put_blob(&c, tag, "new", 0, "y", 1, -1, &fresh), 0);
		assert_true(fresh > gone);
	}
	/* the block allocator knows what the blobs hold: nothing shared */
	{
		cte_id again;

		fill(buf, MIB, 3);
		assert_int_equal(
		    cte_put_blob(&c, tag, "more", 0, buf, MIB, 0.1, &again), 0);
		check_content(&c, again, MIB, 3);
	}
	check_content(&c, f1, 100 * 1024, 1);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
	free(buf);
}

/* The child writes, fsyncs some of it, and dies without shutting down. */
static void crash_child(const char *dir)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, a, b;
	unsigned char *buf = malloc(MIB);

	if (cte_test_runtime_start(2))
		_exit(10);
	params_for(&p, dir);
	if (cte_test_pool(&c, "crash", 2, &p, NULL))
		_exit(11);
	if (cte_tag_get_or_create(&c, "/keep", &tag))
		_exit(12);
	fill(buf, MIB, 5);
	if (cte_put_blob(&c, tag, "synced", 0, buf, MIB, 1.0, &a) ||
	    cte_blob_sync(&c, a))
		_exit(13);
	fill(buf, MIB, 6);
	if (cte_put_blob(&c, tag, "unsynced", 0, buf, MIB, 1.0, &b))
		_exit(14);
	_exit(0); /* no finalize: buffered records and RAM data are lost */
}

static void test_crash_keeps_fsynced(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag;
	cte_attr a;
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		crash_child(dirs[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(cte_test_runtime_start(2), 0);
	params_for(&p, dirs[1]);
	assert_int_equal(cte_test_pool(&c, "crash", 2, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/keep", &tag), 0);
	assert_int_equal(cte_ns_lookup(&c, tag, "synced", &a), 0);
	assert_int_equal(a.size, MIB);
	check_content(&c, a.id, MIB, 5);
	/* the unsynced blob may exist; if it does it is readable */
	if (cte_ns_lookup(&c, tag, "unsynced", &a) == 0) {
		unsigned char *buf = malloc(MIB);
		uint64_t n;

		assert_int_equal(cte_blob_read(&c, a.id, 0, buf, MIB, &n), 0);
		free(buf);
	}
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
}

/* Deleted blocks wait for their record to be durable before reuse; a
 * full device still takes new data right after a delete. */
static void test_space_after_delete(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, a;
	cte_fs_stats st;
	unsigned char *buf = malloc(2 * MIB);
	char path[400], d[300];

	(void)state;
	snprintf(d, sizeof(d), "%s/space", dirs[0]);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(path, sizeof(path), "%s/small.bdev", d);
	cte_test_params(&p);
	p.metadata_journal = 1;
	p.flush_metadata_period_ms = 0;
	cte_test_add_target(&p, path, CHI_BDEV_FILE, 2 * MIB, 0.5);
	assert_int_equal(cte_test_runtime_start(2), 0);
	assert_int_equal(cte_test_pool(&c, "space", 4, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/s", &tag), 0);
	fill(buf, MIB + MIB / 2, 9);
	assert_int_equal(
	    cte_put_blob(&c, tag, "a", 0, buf, MIB + MIB / 2, -1, &a), 0);
	assert_int_equal(cte_put_blob(&c, tag, "b", 0, buf, MIB, -1, NULL),
	                 -ENOSPC);
	assert_int_equal(cte_del_blob(&c, tag, "a"), 0);
	assert_int_equal(cte_statfs(&c, &st), 0);
	assert_int_equal(st.free_bytes, st.capacity); /* pending counts */
	assert_int_equal(
	    cte_put_blob(&c, tag, "b", 0, buf, MIB + MIB / 2, -1, &a), 0);
	check_content(&c, a, MIB + MIB / 2, 9);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
	cte_test_rm_dir(d);
	free(buf);
}

/* ---- concurrent mutations, checkpoints running, then remount ---- */

struct walk {
	char line[256];
};

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* One line per object: path, id, mode, size, nlink, content hash. */
static void walk_tree(cte_client *c, cte_id dir, const char *path,
                      struct walk **v, size_t *n, size_t *cap)
{
	cte_dirent ents[32];
	uint64_t cookie = 0;
	size_t got;
	unsigned char *buf = malloc(512 * 1024);

	for (;;) {
		assert_int_equal(cte_ns_readdir(c, dir, cookie, ents, 32, &got),
		                 0);
		if (!got)
			break;
		for (size_t i = 0; i < got; i++) {
			char sub[200];
			uint64_t h = 0xcbf29ce484222325ULL, rn = 0;

			snprintf(sub, sizeof(sub), "%s/%s", path, ents[i].name);
			if (!S_ISDIR(ents[i].attr.mode)) {
				assert_int_equal(cte_blob_read(c, ents[i].id, 0,
				                               buf, 512 * 1024,
				                               &rn),
				                 0);
				h = fnv(buf, rn, h);
			}
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 64;
				*v = realloc(*v, *cap * sizeof(**v));
			}
			snprintf((*v)[(*n)++].line, sizeof((*v)[0].line),
			         "%s id=%llu mode=%o size=%llu nlink=%u h=%llx",
			         sub, (unsigned long long)ents[i].id,
			         ents[i].attr.mode,
			         (unsigned long long)ents[i].attr.size,
			         ents[i].attr.nlink, (unsigned long long)h);
			if (S_ISDIR(ents[i].attr.mode))
				walk_tree(c, ents[i].id, sub, v, n, cap);
		}
		cookie = ents[got - 1].next_cookie;
	}
	free(buf);
}

static int by_line(const void *a, const void *b)
{
	return strcmp(((const struct walk *)a)->line,
	              ((const struct walk *)b)->line);
}

struct mut_arg {
	cte_client *c;
	int idx;
	int errors;
};

static void *mutator(void *p)
{
	struct mut_arg *a = p;
	uint64_t s = 0x1234567ULL * (uint64_t)(a->idx + 1);
	unsigned char buf[64 * 1024];
	char name[32], name2[32], dirname_[32];
	cte_id dir;
	cte_attr at = cte_test_attr(S_IFDIR | 0755), out;

	snprintf(dirname_, sizeof(dirname_), "w%d", a->idx);
	if (cte_ns_create(a->c, CTE_ROOT_ID, dirname_, &at, NULL, &out)) {
		a->errors++;
		return NULL;
	}
	dir = out.id;
	for (int i = 0; i < 400; i++) {
		int op;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		op = (int)(s % 10);
		snprintf(name, sizeof(name), "f%llu",
		         (unsigned long long)(s >> 8) % 12);
		snprintf(name2, sizeof(name2), "f%llu",
		         (unsigned long long)(s >> 20) % 12);
		if (op < 4) {
			size_t len = 1 + (s >> 30) % sizeof(buf);

			memset(buf, (int)(s >> 40), len);
			if (cte_put_blob(a->c, dir, name, (s >> 12) % 200000,
			                 buf, len, (s >> 50) % 2 ? 0.9 : 0.1,
			                 NULL))
				a->errors++;
		} else if (op < 6) {
			int rc = cte_ns_rename(
			    a->c, dir, name, (s >> 45) % 2 ? dir : CTE_ROOT_ID,
			    name2, 0, NULL);

			if (rc && rc != -ENOENT && rc != -EISDIR)
				a->errors++;
			/* keep names unique per thread in the root */
			if (!rc && !((s >> 45) % 2)) {
				char moved[40];

				snprintf(moved, sizeof(moved), "%s-%d", name2,
				         a->idx);
				rc = cte_ns_rename(a->c, CTE_ROOT_ID, name2,
				                   dir, moved, 0, NULL);
				if (rc && rc != -ENOENT)
					a->errors++;
			}
		} else if (op < 7) {
			int rc = cte_ns_unlink(a->c, dir, name, false, &out);

			if (!rc && !out.nlink)
				cte_ns_forget(a->c, out.id);
			else if (rc && rc != -ENOENT)
				a->errors++;
		} else if (op < 8) {
			int rc = cte_truncate_blob(a->c, dir, name,
			                           (s >> 14) % 100000);

			if (rc && rc != -ENOENT)
				a->errors++;
		} else if (op < 9) {
			cte_id id;

			if (!cte_ns_lookup(a->c, dir, name, &out)) {
				id = out.id;
				cte_xattr_set(a->c, id, "user.t", name, 3, 0);
				cte_blob_set_score(a->c, id,
				                   (s >> 33) % 2 ? 1.0 : 0.0);
			}
		} else {
			cte_sync_all(a->c);
		}
	}
	return NULL;
}

static void test_concurrent_remount(void **state)
{
	struct cte_params p;
	cte_client c;
	pthread_t th[4];
	struct mut_arg args[4];
	struct walk *before = NULL, *after = NULL;
	size_t nb = 0, na = 0, cb = 0, ca = 0;
	char d[300];

	(void)state;
	snprintf(d, sizeof(d), "%s/conc", dirs[0]);
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(cte_test_runtime_start(2), 0);
	params_for(&p, d);
	p.checkpoint_log_size = 64 * 1024; /* checkpoints during the run */
	p.checkpoint_period_ms = 50;
	assert_int_equal(cte_test_pool(&c, "conc", 3, &p, NULL), 0);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct mut_arg){&c, i, 0};
		pthread_create(&th[i], NULL, mutator, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].errors, 0);
	}
	walk_tree(&c, CTE_ROOT_ID, "", &before, &nb, &cb);
	assert_true(nb > 4);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	assert_int_equal(cte_test_pool(&c, "conc", 3, &p, NULL), 0);
	walk_tree(&c, CTE_ROOT_ID, "", &after, &na, &ca);
	assert_int_equal(na, nb);
	qsort(before, nb, sizeof(*before), by_line);
	qsort(after, na, sizeof(*after), by_line);
	for (size_t i = 0; i < nb; i++)
		assert_string_equal(before[i].line, after[i].line);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
	free(before);
	free(after);
	cte_test_rm_dir(d);
}

/* cte_blob_write_ex(CTE_WRITE_KEEP_TIMES): data and size change, times do
 * not, also after a remount (the FUSE daemon under the kernel's write-back
 * cache); unknown flags are refused. */
static void test_write_keep_times(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, f;
	cte_attr want, a, b;
	unsigned char buf[5000];
	char d[300];

	(void)state;
	snprintf(d, sizeof(d), "%s/keep", dirs[1]);
	assert_int_equal(mkdir(d, 0700), 0);
	params_for(&p, d);
	assert_int_equal(cte_test_runtime_start(2), 0);
	assert_int_equal(cte_test_pool(&c, "keep", 5, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/k", &tag), 0);
	fill(buf, sizeof(buf), 4);
	assert_int_equal(cte_put_blob(&c, tag, "f", 0, buf, 100, 0.1, &f), 0);
	want.mtime.tv_sec = 1000000000;
	want.mtime.tv_nsec = 123456789;
	assert_int_equal(cte_ns_setattr(&c, f, &want, CTE_SET_MTIME, &a), 0);
	assert_int_equal(a.mtime.tv_nsec, 123456789);
	assert_int_equal(cte_blob_write_ex(&c, f, 100, buf + 100,
	                                   sizeof(buf) - 100,
	                                   CTE_WRITE_KEEP_TIMES),
	                 0);
	assert_int_equal(cte_blob_write_ex(&c, f, 0, buf, 1, 1u << 7),
	                 -EINVAL);
	assert_int_equal(cte_ns_getattr(&c, f, &b), 0);
	assert_int_equal(b.size, sizeof(buf));
	assert_int_equal(b.mtime.tv_sec, a.mtime.tv_sec);
	assert_int_equal(b.mtime.tv_nsec, a.mtime.tv_nsec);
	assert_int_equal(b.ctime.tv_sec, a.ctime.tv_sec);
	assert_int_equal(b.ctime.tv_nsec, a.ctime.tv_nsec);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	assert_int_equal(cte_test_pool(&c, "keep", 5, &p, NULL), 0);
	assert_int_equal(cte_ns_getattr(&c, f, &b), 0);
	assert_int_equal(b.size, sizeof(buf));
	assert_int_equal(b.mtime.tv_sec, a.mtime.tv_sec);
	assert_int_equal(b.mtime.tv_nsec, a.mtime.tv_nsec);
	check_content(&c, f, sizeof(buf), 4);
	/* a plain write stamps mtime */
	assert_int_equal(cte_blob_write(&c, f, 0, buf, 1), 0);
	assert_int_equal(cte_ns_getattr(&c, f, &b), 0);
	assert_true(b.mtime.tv_sec > a.mtime.tv_sec);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
	cte_test_rm_dir(d);
}

/* A store remembers each file target's capacity and identity: a capacity
 * below what the target holds is refused, naming the target, its used
 * bytes and the requested size; a larger one is fine; a target file
 * replaced by another of the same size is refused, naming the file. */
static void test_capacity_identity(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag, f;
	unsigned char *buf = malloc(8 * MIB);
	char d[300], file[400], saved[400], msg[1024];
	struct stat sb;
	int fd;

	(void)state;
	snprintf(d, sizeof(d), "%s/cap", dirs[1]);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(file, sizeof(file), "%s/store.bdev", d);
	snprintf(saved, sizeof(saved), "%s/saved.bdev", d);
	params_for(&p, d);
	assert_int_equal(cte_test_runtime_start(2), 0);
	assert_int_equal(cte_test_pool(&c, "cap", 7, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/c", &tag), 0);
	fill(buf, 8 * MIB, 7);
	assert_int_equal(cte_put_blob(&c, tag, "f", 0, buf, 8 * MIB, 0.1, &f),
	                 0);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	/* the identity block sits just past the capacity */
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_size, 32 * MIB + 4096);

	p.targets[1].capacity = 4 * MIB; /* below the 8 MiB it holds */
	assert_int_equal(cte_test_pool(&c, "cap", 7, &p, NULL), -ENOSPC);
	snprintf(msg, sizeof(msg), "%s", chi_error_last());
	assert_non_null(strstr(msg, file));
	assert_non_null(strstr(msg, "holds 8388608 bytes"));
	assert_non_null(strstr(msg, "capacity_limit is 4194304 bytes"));

	p.targets[1].capacity = 48 * MIB; /* growing is fine */
	assert_int_equal(cte_test_pool(&c, "cap", 7, &p, NULL), 0);
	check_content(&c, f, 8 * MIB, 7);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_size, 48 * MIB + 4096);

	/* another file of the same size in its place */
	assert_int_equal(rename(file, saved), 0);
	fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, sb.st_size), 0);
	close(fd);
	assert_int_equal(cte_test_pool(&c, "cap", 7, &p, NULL), -EUCLEAN);
	snprintf(msg, sizeof(msg), "%s", chi_error_last());
	assert_non_null(strstr(msg, file));
	assert_non_null(strstr(msg, "identity"));
	/* the store's own file back */
	assert_int_equal(rename(saved, file), 0);
	assert_int_equal(cte_test_pool(&c, "cap", 7, &p, NULL), 0);
	check_content(&c, f, 8 * MIB, 7);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
	cte_test_rm_dir(d);
	free(buf);
}

/* Only volatile targets: no journal, even with metadata_log_path set (it
 * would bring back names over lost data). */
static void test_volatile_only_no_journal(void **state)
{
	struct cte_params p;
	cte_client c;
	cte_id tag;
	char d[300];
	struct stat sb;

	(void)state;
	snprintf(d, sizeof(d), "%s/ramonly", dirs[1]);
	cte_test_params(&p);
	p.metadata_journal = 1;
	snprintf(p.metadata_log_path, sizeof(p.metadata_log_path), "%s", d);
	cte_test_add_target(&p, "ram::only_ram", CHI_BDEV_RAM, 4 * MIB, 1.0);
	assert_int_equal(cte_test_runtime_start(2), 0);
	assert_int_equal(cte_test_pool(&c, "ramonly", 6, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/r", &tag), 0);
	assert_int_equal(cte_put_blob(&c, tag, "x", 0, "abc", 3, -1, NULL), 0);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	assert_int_equal(stat(d, &sb), -1); /* no journal directory */
	assert_int_equal(cte_test_pool(&c, "ramonly", 6, &p, NULL), 0);
	assert_int_equal(cte_tag_get_or_create(&c, "/r", &tag), 0);
	assert_int_equal(cte_ns_lookup(&c, tag, "x", NULL), -ENOENT);
	assert_int_equal(chi_pool_destroy(c.pool_id), 0);
	chi_finalize();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_remount),
	    cmocka_unit_test(test_crash_keeps_fsynced),
	    cmocka_unit_test(test_concurrent_remount),
	    cmocka_unit_test(test_space_after_delete),
	    cmocka_unit_test(test_write_keep_times),
	    cmocka_unit_test(test_volatile_only_no_journal),
	    cmocka_unit_test(test_capacity_identity),
	};
	const char *base = getenv("TMPDIR");
	int rc;

	for (int i = 0; i < 2; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "%s/cte-dur-XXXXXX",
		         base ? base : "/tmp");
		if (!mkdtemp(dirs[i]))
			return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (int i = 0; i < 2; i++)
		cte_test_rm_dir(dirs[i]);
	return rc;
}
