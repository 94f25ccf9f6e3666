/*
 * Metadata images: a checkpoint of one core loaded into another gives the
 * same tree (ids, names, attributes, xattrs, symlinks, sizes, extents with
 * targets remapped by name), and journal records captured through the
 * metadata hook bring the copy up to date after further changes.
 * Drives cte_core directly (namespace calls only: no runtime, no bdev).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cte_test_util.h"

static struct cte_core *new_core(const char *t0, const char *t1)
{
	struct cte_params p;
	struct cte_core *core;

	cte__params_default(&p);
	assert_int_equal(cte__core_new(&core, &p), 0);
	/* targets by hand: slots only matter for names */
	core->targets[0] = (struct cte_target){.used = true, .active = true};
	core->targets[1] = (struct cte_target){.used = true, .active = true};
	snprintf(core->targets[0].name, sizeof(core->targets[0].name), "%s",
	         t0);
	snprintf(core->targets[1].name, sizeof(core->targets[1].name), "%s",
	         t1);
	core->n_target_slots = 2;
	return core;
}

static cte_id mk(struct cte_core *core, cte_id parent, const char *name,
                 uint32_t mode, const char *link)
{
	cte_attr a = cte_test_attr(mode), out;

	assert_int_equal(cte__ns_create(core, parent, name, &a, link, &out), 0);
	return out.id;
}

/* Walk core a's tree from the root and check core b has the same. */
static void compare_dir(struct cte_core *a, struct cte_core *b, cte_id dir)
{
	cte_dirent ea[64], eb[64];
	size_t na, nb;

	assert_int_equal(cte__ns_readdir(a, dir, 0, ea, 64, &na), 0);
	assert_int_equal(cte__ns_readdir(b, dir, 0, eb, 64, &nb), 0);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		cte_attr x;
		char la[64] = "", lb[64] = "";
		size_t sa, sb;
		char xa[256], xb[256];

		assert_int_equal(cte__ns_lookup(b, dir, ea[i].name, &x), 0);
		assert_int_equal(x.id, ea[i].id);
		assert_int_equal(x.mode, ea[i].attr.mode);
		assert_int_equal(x.uid, ea[i].attr.uid);
		assert_int_equal(x.nlink, ea[i].attr.nlink);
		assert_int_equal(x.size, ea[i].attr.size);
		assert_int_equal(x.alloc_bytes, ea[i].attr.alloc_bytes);
		assert_int_equal(x.mtime.tv_sec, ea[i].attr.mtime.tv_sec);
		assert_int_equal(x.mtime.tv_nsec, ea[i].attr.mtime.tv_nsec);
		assert_true(x.score == ea[i].attr.score);
		assert_int_equal(cte__xattr_list(a, x.id, xa, sizeof(xa), &sa),
		                 0);
		assert_int_equal(cte__xattr_list(b, x.id, xb, sizeof(xb), &sb),
		                 0);
		assert_int_equal(sa, sb);
		assert_memory_equal(xa, xb, sa);
		if (S_ISLNK(x.mode)) {
			assert_int_equal(cte__ns_readlink(a, x.id, la, 64), 0);
			assert_int_equal(cte__ns_readlink(b, x.id, lb, 64), 0);
			assert_string_equal(la, lb);
		}
		if (S_ISDIR(x.mode))
			compare_dir(a, b, x.id);
	}
}

/* Extents of blob id, with target names. */
static void extent_names(struct cte_core *core, cte_id id, char out[][32],
                         uint64_t *dev, size_t *n)
{
	struct cte_blob *b;

	assert_int_equal(cte__blob_get(core, id, &b), 0);
	*n = b->map.n;
	for (size_t i = 0; i < b->map.n; i++) {
		snprintf(out[i], 32, "%s",
		         core->targets[b->map.v[i].target].name);
		dev[i] = b->map.v[i].dev_off;
	}
	cte__blob_put(core, b);
}

static cte_jenc journal;

static void hook(void *arg, enum cte_meta_kind kind, cte_id id, cte_id aux)
{
	struct cte_core *core = arg;

	(void)aux;
	if (kind == CTE_META_TARGET) {
		assert_int_equal(cte__targets_image(core, &journal), 0);
		return;
	}
	assert_int_equal(
	    cte__obj_image_locked(core, id,
	                          kind == CTE_META_DATA ? CTE_IMG_EXTENTS : 0,
	                          &journal),
	    0);
}

static void test_checkpoint_and_journal(void **state)
{
	struct cte_core *a = new_core("ram::x", "/file/y");
	struct cte_core *b = new_core("/file/y", "ram::x"); /* slots swapped */
	cte_jenc ckpt = {0};
	uint32_t slots[CTE_MAX_TARGETS];
	cte_id d, sub, f, g, l, orphan, t;
	char names[8][32];
	uint64_t dev[8];
	size_t n;
	struct cte_blob *blob;

	(void)state;
	d = mk(a, CTE_ROOT_ID, "dir", S_IFDIR | 0750, NULL);
	sub = mk(a, d, "sub", S_IFDIR | 0700, NULL);
	f = mk(a, sub, "file", S_IFREG | 0640, NULL);
	g = mk(a, d, "g", S_IFREG | 0600, NULL);
	l = mk(a, CTE_ROOT_ID, "link", S_IFLNK | 0777, "dir/g");
	orphan = mk(a, d, "orphan", S_IFREG | 0644, NULL);
	assert_int_equal(cte__ns_link(a, f, CTE_ROOT_ID, "hard", NULL), 0);
	assert_int_equal(cte__xattr_set(a, f, "user.k", "v1", 2, 0), 0);
	assert_int_equal(cte__xattr_set(a, d, "user.d", "", 0, 0), 0);
	assert_int_equal(cte__tag_get_or_create(a, "/tags/deep/er", &t), 0);
	assert_int_equal(cte__ns_unlink(a, d, "orphan", false, false, NULL), 0);
	/* extents on both targets */
	assert_int_equal(cte__blob_get(a, f, &blob), 0);
	{
		struct cte_extent e1 = {0, 3, 0, 8192}, e2 = {256, 1, 1, 4096};

		assert_int_equal(cte__extmap_insert(&blob->map, &e1), 0);
		assert_int_equal(cte__extmap_insert(&blob->map, &e2), 0);
		blob->size = 256 * 4096 + 10;
		blob->alloc_blocks = 4;
	}
	cte__blob_put(a, blob);

	assert_int_equal(cte__state_save(a, &ckpt, NULL), 0);
	assert_int_equal(cte__state_load(b, ckpt.data, ckpt.len, slots), 0);
	compare_dir(a, b, CTE_ROOT_ID);
	assert_int_equal(cte__ns_getattr(b, orphan, NULL), 0); /* kept */
	extent_names(b, f, names, dev, &n);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "ram::x");
	assert_int_equal(dev[0], 8192);
	assert_string_equal(names[1], "/file/y");
	assert_int_equal(dev[1], 4096);
	{
		char *path;

		assert_int_equal(cte__tag_get_name(b, t, &path), 0);
		assert_string_equal(path, "/tags/deep/er");
		free(path);
	}
	/* new ids continue after the loaded ones */
	assert_true(b->next_id == a->next_id);

	/* journal: changes after the checkpoint, replayed on b */
	a->meta_hook = hook;
	a->meta_hook_arg = a;
	assert_int_equal(cte__targets_image(a, &journal), 0);
	assert_int_equal(
	    cte__ns_rename(a, d, "sub", CTE_ROOT_ID, "moved", 0, false, NULL),
	    0);
	assert_int_equal(
	    cte__ns_rename(a, d, "g", CTE_ROOT_ID, "hard", 0, false, NULL),
	    0); /* replaces f's second name */
	assert_int_equal(cte__xattr_set(a, g, "user.new", "zz", 2, 0), 0);
	assert_int_equal(cte__xattr_remove(a, f, "user.k"), 0);
	{
		cte_attr in = cte_test_attr(0);

		in.mode = 0444;
		in.uid = 42;
		assert_int_equal(cte__ns_setattr(a, l, &in,
		                                 CTE_SET_MODE | CTE_SET_UID,
		                                 NULL),
		                 0);
	}
	assert_int_equal(cte__ns_forget(a, orphan), 0);
	mk(a, t, "late", S_IFREG | 0644, NULL);
	assert_int_equal(cte__ns_rename(a, CTE_ROOT_ID, "tags", CTE_ROOT_ID,
	                                "tags2", 0, false, NULL),
	                 0);
	assert_int_equal(cte__ns_rename(a, CTE_ROOT_ID, "link", CTE_ROOT_ID,
	                                "moved", CTE_RENAME_EXCHANGE, false,
	                                NULL),
	                 0);
	assert_int_equal(
	    cte__ns_unlink(a, d, "nonexistent", false, false, NULL), -ENOENT);
	a->meta_hook = NULL;

	assert_int_equal(cte__state_load(b, journal.data, journal.len, slots),
	                 0);
	compare_dir(a, b, CTE_ROOT_ID);
	assert_int_equal(cte__ns_getattr(b, orphan, NULL), -ENOENT);
	{
		char *path;

		assert_int_equal(cte__tag_get_name(b, t, &path), 0);
		assert_string_equal(path, "/tags2/deep/er");
		free(path);
		assert_int_equal(cte__tag_get_name(b, sub, &path), 0);
		assert_string_equal(path, "/link");
		free(path);
	}
	/* malformed input is rejected */
	{
		unsigned char bad[8] = {7, 2, 0, 0, 0, 1, 2};

		assert_int_equal(cte__state_load(b, bad, sizeof(bad), slots),
		                 -EBADMSG);
		assert_int_equal(
		    cte__state_load(b, ckpt.data, ckpt.len - 3, slots),
		    -EBADMSG);
	}
	cte__jenc_destroy(&ckpt);
	cte__jenc_destroy(&journal);
	cte__core_free(a);
	cte__core_free(b);
}

/* A map too large for one record is written as several range records. */
/* TARGETS images: one carries each target's capacity and identity onto
 * the same-named target of the next run; one of a store written before
 * them (names only) still maps the slots and remembers nothing. */
static void test_targets_capacity(void **state)
{
	struct cte_core *a = new_core("/file/x", "/file/y");
	struct cte_core *b = new_core("/file/y", "/file/x"); /* swapped */
	uint32_t slots[CTE_MAX_TARGETS];
	cte_jenc img = {0}, old = {0};
	const uint8_t *body;
	uint32_t len;

	(void)state;
	a->targets[0].capacity = 32 << 20;
	a->targets[1].capacity = 64 << 20;
	memset(a->targets[0].id, 0xa0, CTE_TARGET_ID_BYTES);
	memset(a->targets[1].id, 0xa1, CTE_TARGET_ID_BYTES);
	assert_int_equal(cte__targets_image(a, &img), 0);
	/* [kind][u32 len][body] */
	body = img.data + 5;
	len = (uint32_t)(img.len - 5);
	assert_int_equal(img.data[0], CTE_IMG_KIND_TARGETS);
	assert_int_equal(
	    cte__image_apply(b, CTE_IMG_KIND_TARGETS, body, len, slots), 0);
	assert_int_equal(slots[0], 1);
	assert_int_equal(slots[1], 0);
	assert_int_equal(b->targets[1].rec_capacity, 32 << 20);
	assert_int_equal(b->targets[0].rec_capacity, 64 << 20);
	assert_int_equal(b->targets[1].rec_id[0], 0xa0);
	assert_int_equal(b->targets[0].rec_id[0], 0xa1);

	/* the old layout: u32 n, n x (u32 slot, u16 length, name) */
	cte__jenc_put_u32(&old, 2);
	cte__jenc_put_u32(&old, 0);
	cte__jenc_put_u16(&old, 7);
	cte__jenc_put_bytes(&old, "/file/x", 7);
	cte__jenc_put_u32(&old, 1);
	cte__jenc_put_u16(&old, 7);
	cte__jenc_put_bytes(&old, "/file/y", 7);
	assert_int_equal(
	    cte__image_apply(b, CTE_IMG_KIND_TARGETS, old.data, old.len, slots),
	    0);
	assert_int_equal(slots[0], 1);
	assert_int_equal(slots[1], 0);
	assert_int_equal(b->targets[0].rec_capacity, 0);
	assert_int_equal(b->targets[1].rec_capacity, 0);
	/* a truncated capacity section is malformed */
	assert_int_equal(
	    cte__image_apply(b, CTE_IMG_KIND_TARGETS, body, len - 1, slots),
	    -EBADMSG);
	cte__jenc_destroy(&img);
	cte__jenc_destroy(&old);
	cte__core_free(a);
	cte__core_free(b);
}

static void test_huge_map(void **state)
{
	struct cte_core *a = new_core("ram::x", "/file/y");
	struct cte_core *b = new_core("ram::x", "/file/y");
	cte_jenc ckpt = {0};
	uint32_t slots[CTE_MAX_TARGETS];
	struct cte_blob *blob;
	const size_t n = 450000;
	cte_id f;

	(void)state;
	f = mk(a, CTE_ROOT_ID, "huge", S_IFREG | 0644, NULL);
	assert_int_equal(cte__blob_get(a, f, &blob), 0);
	for (size_t i = 0; i < n; i++) {
		struct cte_extent e = {2 * i, 1, (uint32_t)(i % 2), 8192 * i};

		assert_int_equal(cte__extmap_push(&blob->map, &e), 0);
	}
	blob->size = 2 * n * 4096;
	cte__blob_put(a, blob);
	assert_int_equal(cte__state_save(a, &ckpt, NULL), 0);
	assert_int_equal(cte__state_load(b, ckpt.data, ckpt.len, slots), 0);
	assert_int_equal(cte__blob_get(b, f, &blob), 0);
	assert_int_equal(blob->map.n, n);
	for (size_t i = 0; i < n; i += 997) {
		assert_int_equal(blob->map.v[i].lblk, 2 * i);
		assert_int_equal(blob->map.v[i].dev_off, 8192 * i);
		assert_int_equal(blob->map.v[i].target, i % 2);
	}
	cte__blob_put(b, blob);
	cte__jenc_destroy(&ckpt);
	cte__core_free(a);
	cte__core_free(b);
}

extern const cte_journal_decoder cte__fsck_decoder;

/* Append the records in img (kind, u32 length, body ...) to j. */
static void append_records(cte_journal *j, const cte_jenc *img)
{
	size_t at = 0;

	while (at + 5 <= img->len) {
		uint32_t len;

		memcpy(&len, img->data + at + 1, 4);
		assert_int_equal(cte__journal_append(j, img->data[at],
		                                     img->data + at + 5, len,
		                                     NULL),
		                 0);
		at += 5 + len;
	}
}

/* Write a core's checkpoint as journal records (then the crafted records
 * of `extra`, if any), run cte-fsck's decoder over the directory; returns
 * the problems it counted. */
static uint64_t fsck_of_ex(struct cte_core *core, const char *dir,
                           const cte_jenc *extra, char *out, size_t out_size)
{
	cte_jenc img = {0};
	cte_journal *j;
	cte_journal_opts opts;
	void *state;
	uint64_t problems = 99;
	FILE *f = fmemopen(out, out_size, "w");

	memset(&opts, 0, sizeof(opts));
	assert_int_equal(cte__state_save(core, &img, NULL), 0);
	assert_int_equal(cte__journal_open(&j, dir, &opts), 0);
	append_records(j, &img);
	if (extra)
		append_records(j, extra);
	assert_int_equal(cte__journal_close(j), 0);
	assert_int_equal(cte__fsck_decoder.init(&state), 0);
	assert_int_equal(cte__journal_replay(dir, 0, cte__fsck_decoder.snapshot,
	                                     cte__fsck_decoder.record, state,
	                                     NULL),
	                 0);
	assert_int_equal(cte__fsck_decoder.finish(state, f, &problems), 0);
	cte__fsck_decoder.free(state);
	fclose(f);
	cte__jenc_destroy(&img);
	return problems;
}

static uint64_t fsck_of(struct cte_core *core, const char *dir, char *out,
                        size_t out_size)
{
	return fsck_of_ex(core, dir, NULL, out, out_size);
}

static void test_fsck_decoder(void **state)
{
	struct cte_core *a = new_core("ram::x", "/file/y");
	char dir1[] = "/tmp/cte-fsck-XXXXXX", dir2[] = "/tmp/cte-fsck-XXXXXX";
	char out[4096];
	struct cte_blob *blob;
	cte_id f, g;

	(void)state;
	assert_non_null(mkdtemp(dir1));
	assert_non_null(mkdtemp(dir2));
	f = mk(a, CTE_ROOT_ID, "f", S_IFREG | 0644, NULL);
	g = mk(a, CTE_ROOT_ID, "g", S_IFREG | 0644, NULL);
	assert_int_equal(cte__blob_get(a, f, &blob), 0);
	{
		struct cte_extent e = {0, 4, 1, 0};

		assert_int_equal(cte__extmap_insert(&blob->map, &e), 0);
		blob->size = 4 * 4096;
	}
	cte__blob_put(a, blob);
	assert_int_equal(fsck_of(a, dir1, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "2 blobs"));
	/* a second blob claiming the same blocks */
	assert_int_equal(cte__blob_get(a, g, &blob), 0);
	{
		struct cte_extent e = {0, 1, 1, 8192};

		assert_int_equal(cte__extmap_insert(&blob->map, &e), 0);
		blob->size = 4096;
	}
	cte__blob_put(a, blob);
	assert_int_equal(fsck_of(a, dir2, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "blocks shared by blob"));
	assert_non_null(strstr(out, "/file/y"));
	cte__core_free(a);
	for (int i = 0; i < 2; i++) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", i ? dir2 : dir1);
		assert_int_equal(system(cmd), 0);
	}
}

/* cte__fsck_check on a core as it is (in-memory corruption). */
static uint64_t check_core(struct cte_core *core, char *out, size_t out_size)
{
	FILE *f = fmemopen(out, out_size, "w");
	uint64_t problems = 99;

	assert_non_null(f);
	assert_int_equal(cte__fsck_check(core, f, &problems), 0);
	fclose(f);
	return problems;
}

static struct cte_tag *tag_named(struct cte_tag *dir, const char *name)
{
	for (size_t i = 0; i < dir->n_slots; i++)
		if (dir->slots[i].d && !strcmp(dir->slots[i].d->name, name))
			return (struct cte_tag *)dir->slots[i].d->obj;
	fail_msg("no tag %s", name);
	return NULL;
}

static void add_extent(struct cte_core *core, cte_id id, uint64_t lblk,
                       uint32_t nblk, uint32_t target, uint64_t dev_off,
                       uint64_t size)
{
	struct cte_blob *b;
	struct cte_extent e = {lblk, nblk, target, dev_off};

	assert_int_equal(cte__blob_get(core, id, &b), 0);
	assert_int_equal(cte__extmap_insert(&b->map, &e), 0);
	b->size = size;
	cte__blob_put(core, b);
}

static void rm_dir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A target file `name` of `size` bytes in dir; its path in out. */
static void target_file(const char *dir, const char *name, off_t size,
                        char *out, size_t out_size)
{
	int fd;

	snprintf(out, out_size, "%s/%s", dir, name);
	fd = open(out, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* A store with nested tags, hard links, a symlink, a sparse file and
 * blocks past EOF (fallocate KEEP_SIZE) has no problems. */
static void test_fsck_clean(void **state)
{
	char dir[] = "/tmp/cte-fsck-XXXXXX", out[4096], x[64], y[64];
	struct cte_core *a;
	cte_id d, e, f;
	cte_attr at;

	(void)state;
	assert_non_null(mkdtemp(dir));
	target_file(dir, "x", 1 << 20, x, sizeof(x));
	target_file(dir, "y", 1 << 20, y, sizeof(y));
	a = new_core(x, y);
	d = mk(a, CTE_ROOT_ID, "d", S_IFDIR | 0755, NULL);
	e = mk(a, d, "e", S_IFDIR | 0755, NULL);
	f = mk(a, e, "f", S_IFREG | 0644, NULL);
	mk(a, CTE_ROOT_ID, "s", S_IFLNK | 0777, "d/e/f");
	assert_int_equal(cte__ns_link(a, f, d, "g", &at), 0);
	/* a hole, then blocks 4..5 mapped past the 16 KiB size */
	add_extent(a, f, 2, 4, 0, 0, 4 * 4096);
	add_extent(a, mk(a, d, "h", S_IFREG | 0644, NULL), 0, 1, 1, 0, 100);
	assert_int_equal(fsck_of(a, dir, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "3 tags, 3 blobs, 2 extents, 0 orphans"));
	assert_int_equal(check_core(a, out, sizeof(out)), 0);
	/* nothing but the summary line */
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
	cte__core_free(a);
	rm_dir(dir);
}

/* A crafted record gives the name of tag /d to a blob: /d is left with no
 * name and its file unreachable ("a name pointing nowhere"). */
static void test_fsck_detached_tag(void **state)
{
	struct cte_core *a = new_core("/file/x", "/file/y");
	struct cte_core *b = new_core("/file/x", "/file/y");
	char dir[] = "/tmp/cte-fsck-XXXXXX", out[4096];
	cte_jenc extra = {0};
	cte_id d, f, x = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	d = mk(a, CTE_ROOT_ID, "d", S_IFDIR | 0755, NULL);
	f = mk(a, d, "f", S_IFREG | 0644, NULL);
	/* in another core, a blob "d" in the root with an id a lacks */
	while (mk(b, CTE_ROOT_ID, "x", S_IFREG | 0644, NULL) < f)
		assert_int_equal(
		    cte__ns_unlink(b, CTE_ROOT_ID, "x", false, true, NULL), 0);
	x = mk(b, CTE_ROOT_ID, "d", S_IFREG | 0644, NULL);
	assert_true(x > f);
	pthread_mutex_lock(&b->ns_lock);
	assert_int_equal(cte__obj_image_locked(b, x, CTE_IMG_EXTENTS, &extra),
	                 0);
	pthread_mutex_unlock(&b->ns_lock);
	assert_int_equal(fsck_of_ex(a, dir, &extra, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "has no name in any directory"));
	assert_non_null(strstr(out, "name 'f' is in tag"));
	assert_non_null(strstr(out, "not connected to the root"));
	cte__jenc_destroy(&extra);
	cte__core_free(a);
	cte__core_free(b);
	rm_dir(dir);
}

/* A targets record that leaves out a slot still holding extents. */
static void test_fsck_unregistered_target(void **state)
{
	struct cte_core *a = new_core("/file/x", "/file/y");
	char dir[] = "/tmp/cte-fsck-XXXXXX", out[4096];
	cte_jenc extra = {0};
	cte_id f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	f = mk(a, CTE_ROOT_ID, "f", S_IFREG | 0644, NULL);
	add_extent(a, f, 0, 2, 1, 8192, 8192);
	a->targets[1].active = false;
	assert_int_equal(cte__targets_image(a, &extra), 0);
	a->targets[1].active = true;
	assert_int_equal(fsck_of_ex(a, dir, &extra, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "(/f): extent at block 0 is on target "
	                            "slot 1, which is not registered"));
	cte__jenc_destroy(&extra);
	cte__core_free(a);
	rm_dir(dir);
}

/* An extent past the end of its target's file; a RAM target is not
 * checked, a file target missing here is named. */
static void test_fsck_past_target_end(void **state)
{
	char dir[] = "/tmp/cte-fsck-XXXXXX", out[4096], x[64];
	struct cte_core *a;
	cte_id f, g;

	(void)state;
	assert_non_null(mkdtemp(dir));
	target_file(dir, "x", 64 * 1024, x, sizeof(x));
	a = new_core(x, "ram::r");
	f = mk(a, CTE_ROOT_ID, "f", S_IFREG | 0644, NULL);
	g = mk(a, CTE_ROOT_ID, "g", S_IFREG | 0644, NULL);
	add_extent(a, f, 0, 1, 0, 0, 4096);          /* inside */
	add_extent(a, g, 0, 2, 0, 60 * 1024, 8192);  /* 4 KiB past the end */
	add_extent(a, g, 2, 1, 1, 1ull << 40, 3 * 4096); /* RAM: unchecked */
	assert_int_equal(check_core(a, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "extent 0xf000-0x11000 on "));
	assert_non_null(strstr(out, "lies past the end of that file (65536 "
	                            "bytes)"));
	assert_null(strstr(out, "ram::r"));
	/* the file gone: named, not counted */
	assert_int_equal(unlink(x), 0);
	assert_int_equal(check_core(a, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "not a file here"));
	cte__core_free(a);
	rm_dir(dir);
}

/* Sizes and blocks beyond anything a write, truncate or fallocate makes. */
static void test_fsck_beyond_max_size(void **state)
{
	struct cte_core *a = new_core("/file/x", "/file/y");
	char dir[] = "/tmp/cte-fsck-XXXXXX", out[4096];
	cte_id f, g;

	(void)state;
	assert_non_null(mkdtemp(dir));
	f = mk(a, CTE_ROOT_ID, "f", S_IFREG | 0644, NULL);
	g = mk(a, CTE_ROOT_ID, "g", S_IFREG | 0644, NULL);
	add_extent(a, f, 0, 1, 0, 0, CTE_MAX_BLOB_SIZE + 1);
	add_extent(a, g, CTE_MAX_BLOB_SIZE >> CTE_BLOCK_SHIFT, 1, 0, 4096,
	           4096);
	assert_int_equal(fsck_of(a, dir, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "(/f): size 1125899906842625 is larger"));
	assert_non_null(strstr(out, "(/g): extent at block 274877906944 lies "
	                            "past the largest blob size"));
	cte__core_free(a);
	rm_dir(dir);
}

/* Index and counter damage no record can express, made in memory. */
static void test_fsck_indexes(void **state)
{
	struct cte_core *a = new_core("/file/x", "/file/y");
	char out[4096], wrong[] = "/wrong", *path;
	struct cte_blob *b;
	struct cte_tag *t;
	struct cte_dentry *de;
	cte_id d, f, g;

	(void)state;
	d = mk(a, CTE_ROOT_ID, "d", S_IFDIR | 0755, NULL);
	f = mk(a, d, "f", S_IFREG | 0644, NULL);
	g = mk(a, CTE_ROOT_ID, "g", S_IFREG | 0644, NULL);
	t = tag_named(a->root, "d");
	assert_int_equal(check_core(a, out, sizeof(out)), 0);

	/* a name missing from the name index */
	assert_int_equal(cte__blob_get(a, f, &b), 0);
	de = b->names[0];
	cte__htab_remove(&a->dentries, &de->node);
	assert_int_equal(check_core(a, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "(/d/f): name 'f' is missing from the "
	                            "name index"));
	assert_non_null(strstr(out, "the name index holds 2 names, the "
	                            "directories 3"));
	assert_int_equal(
	    cte__htab_insert(&a->dentries, &de->node, de->node.hash), 0);
	cte__blob_put(a, b);

	/* a tag path that its names do not give */
	path = t->path;
	t->path = wrong;
	assert_int_equal(check_core(a, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "its path is /wrong but its names make "
	                            "it /d"));
	assert_non_null(strstr(out, "(/wrong) is missing from the path index"));
	t->path = path;

	/* a name whose object does not exist */
	assert_int_equal(cte__blob_get(a, g, &b), 0);
	cte__htab_remove(&a->by_id, &b->obj.id_node);
	assert_int_equal(check_core(a, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "name 'g' points to object"));
	assert_non_null(strstr(out, "which does not exist"));
	assert_int_equal(
	    cte__htab_insert(&a->by_id, &b->obj.id_node, cte__hash_u64(g)), 0);
	cte__blob_put(a, b);

	/* a directory counter (its link count) that is off */
	a->root->n_child_tags++;
	assert_int_equal(check_core(a, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "holds 1 tags but counts 2"));
	a->root->n_child_tags--;
	assert_int_equal(check_core(a, out, sizeof(out)), 0);
	cte__core_free(a);
}

/* ------------------------------------------------------------------ */
/* A checkpoint taken while the namespace changes                       */

/* Namespace changes made inside cte__journal_checkpoint, after its
 * rotation and before the snapshot reads the state: records landing in
 * that window, as the checkpointer thread allows on a live store. */
enum window_ops { WINDOW_UNLINK_RMDIR, WINDOW_RENAME_DIRS };
static enum window_ops window_ops;
static bool window_legacy; /* write the checkpoint as before the cut */

/* A checkpoint as versions before the cut wrote it: covering the
 * rotation's sequence, with the state read afterwards. */
static int legacy_snapshot(cte_journal_ckpt *w, struct cte_core *core)
{
	cte_jenc img = {0};
	cte_jdec d;
	const void *body;
	uint32_t len;
	uint8_t kind;
	int rc = cte__state_save(core, &img, NULL);

	cte__jdec_init(&d, img.data, img.len);
	while (!rc && cte__jdec_left(&d) >= 5) {
		cte__jdec_get_u8(&d, &kind);
		cte__jdec_get_blob(&d, &body, &len);
		rc = cte__journal_ckpt_put(w, kind, body, len);
	}
	cte__jenc_destroy(&img);
	return rc;
}

static int window_snapshot(cte_journal_ckpt *w, uint64_t seq, void *arg)
{
	struct cte_core *core = arg;
	cte_attr a;
	cte_id d, x;

	if (window_ops == WINDOW_UNLINK_RMDIR) {
		/* create d/f, unlink d/f, rmdir d */
		assert_int_equal(cte__ns_lookup(core, CTE_ROOT_ID, "d", &a), 0);
		d = a.id;
		mk(core, d, "f", S_IFREG | 0644, NULL);
		assert_int_equal(
		    cte__ns_unlink(core, d, "f", false, true, NULL), 0);
		assert_int_equal(
		    cte__ns_unlink(core, CTE_ROOT_ID, "d", true, true, NULL),
		    0);
	} else {
		/* b into a and back, then a into b: a is now below b */
		assert_int_equal(cte__ns_lookup(core, CTE_ROOT_ID, "a", &a), 0);
		x = a.id;
		assert_int_equal(cte__ns_rename(core, CTE_ROOT_ID, "b", x, "b",
		                                0, true, NULL),
		                 0);
		assert_int_equal(cte__ns_rename(core, x, "b", CTE_ROOT_ID, "b",
		                                0, true, NULL),
		                 0);
		assert_int_equal(cte__ns_lookup(core, CTE_ROOT_ID, "b", &a), 0);
		assert_int_equal(cte__ns_rename(core, CTE_ROOT_ID, "a", a.id,
		                                "a", 0, true, NULL),
		                 0);
	}
	if (window_legacy)
		return legacy_snapshot(w, core);
	return cte__durable_snapshot(w, seq, core);
}

struct replay_into {
	struct cte_core *core;
	uint64_t older; /* records the core found older than its state */
	uint32_t slots[CTE_MAX_TARGETS];
};

static int replay_apply(void *arg, uint8_t type, uint64_t seq,
                        const void *payload, uint32_t len)
{
	struct replay_into *r = arg;
	int rc = cte__image_apply(r->core, type, payload, len, r->slots);

	(void)seq;
	if (rc == CTE_IMG_OLDER) {
		r->older++;
		rc = 0;
	}
	return rc;
}

/* Start a core on dir as the module does (cte__durable_open: replay with
 * repair, orphans dropped, a checkpoint) and check it holds a's tree;
 * then again, on the checkpoint that start wrote. */
static struct cte_core *durable_core(const char *dir)
{
	char file[4096];
	struct cte_core *c;
	int fd;

	/* the file target is a real (empty, sparse) file in dir: a start
	 * checks it against the store and writes its identity into it */
	snprintf(file, sizeof(file), "%s/y.bdev", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	c = new_core("ram::x", file);
	c->targets[0].is_volatile = true;
	c->targets[1].type = CHI_BDEV_FILE;
	c->targets[1].capacity = 64ull << 20;
	c->params.metadata_journal = 1;
	snprintf(c->params.metadata_log_path,
	         sizeof(c->params.metadata_log_path), "%s", dir);
	return c;
}

/* Journal a's changes into dir from now on. */
static void journal_attach(struct cte_core *a, const char *dir)
{
	cte_journal_opts opts;

	memset(&opts, 0, sizeof(opts));
	assert_int_equal(cte__journal_open(&a->journal, dir, &opts), 0);
	cte__durable_attach(a);
}

/* Stop journaling a and close the journal, without a final checkpoint. */
static void journal_detach(struct cte_core *a)
{
	pthread_mutex_lock(&a->ns_lock);
	a->meta_hook = NULL;
	a->commit_hook = NULL;
	a->sync_hook = NULL;
	pthread_mutex_unlock(&a->ns_lock);
	assert_int_equal(cte__journal_close(a->journal), 0);
	a->journal = NULL;
}

static void durable_start_over(const char *dir, struct cte_core *a)
{
	for (int round = 0; round < 2; round++) {
		struct cte_core *c = durable_core(dir);

		assert_int_equal(cte__durable_open(c), 0);
		assert_non_null(c->journal);
		compare_dir(a, c, CTE_ROOT_ID);
		compare_dir(c, a, CTE_ROOT_ID);
		cte__durable_close(c);
		cte__core_free(c);
	}
}

/* Journal core a into a fresh directory, checkpoint with `ops` in the
 * window, change a little more, close the journal without a final
 * checkpoint (a crash after the log was flushed), replay into a fresh
 * core: it loads, and holds a's tree. */
static void checkpoint_window(enum window_ops ops, bool legacy)
{
	struct cte_core *a = new_core("ram::x", "/file/y");
	struct replay_into r = {.core = new_core("ram::x", "/file/y")};
	char dir[] = "/tmp/cte-window-XXXXXX", cmd[64];
	cte_id d;

	assert_non_null(mkdtemp(dir));
	journal_attach(a, dir);
	if (ops == WINDOW_UNLINK_RMDIR) {
		d = mk(a, CTE_ROOT_ID, "d", S_IFDIR | 0755, NULL);
		mk(a, d, "keep", S_IFREG | 0644, NULL);
		assert_int_equal(
		    cte__ns_unlink(a, d, "keep", false, true, NULL), 0);
	} else {
		mk(a, CTE_ROOT_ID, "a", S_IFDIR | 0755, NULL);
		mk(a, CTE_ROOT_ID, "b", S_IFDIR | 0755, NULL);
	}
	window_ops = ops;
	window_legacy = legacy;
	assert_int_equal(
	    cte__journal_checkpoint(a->journal, window_snapshot, a), 0);
	d = mk(a, CTE_ROOT_ID, "after", S_IFDIR | 0755, NULL);
	mk(a, d, "g", S_IFREG | 0644, NULL);
	journal_detach(a);

	for (size_t i = 0; i < CTE_MAX_TARGETS; i++)
		r.slots[i] = UINT32_MAX;
	assert_int_equal(cte__journal_replay(dir, CTE_JOURNAL_REPAIR,
	                                     replay_apply, replay_apply, &r,
	                                     NULL),
	                 0);
	assert_int_equal(r.older, legacy ? 1 : 0);
	compare_dir(a, r.core, CTE_ROOT_ID);
	compare_dir(r.core, a, CTE_ROOT_ID);
	cte__core_free(r.core);
	/* and through the module's own start: replay, orphans, checkpoint */
	if (legacy)
		durable_start_over(dir, a);
	cte__core_free(a);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The window tests: the changes, and whether the checkpoint is written
 * as before the cut (a store of an earlier version: its checkpoint
 * already holds the window's records, which replay skips as older). */
struct window_case {
	enum window_ops ops;
	bool legacy;
};

static const struct window_case window_cases[] = {
    {WINDOW_UNLINK_RMDIR, false},
    {WINDOW_RENAME_DIRS, false},
    {WINDOW_UNLINK_RMDIR, true},
    {WINDOW_RENAME_DIRS, true},
};

static void test_checkpoint_window(void **state)
{
	const struct window_case *w = *state;

	checkpoint_window(w->ops, w->legacy);
}

#define WINDOW_TEST(name, i)                                                   \
	{                                                                      \
		name, test_checkpoint_window, NULL, NULL,                      \
		    (void *)&window_cases[i]                                   \
	}

/* After a checkpoint with a cut nothing is older than the state: a
 * record that is (an image of d/f after d was removed) fails the start
 * instead of being skipped. */
static void test_older_record_after_cut_fails(void **state)
{
	struct cte_core *a = new_core("ram::x", "/file/y"), *c;
	char dir[] = "/tmp/cte-older-XXXXXX", cmd[64];
	cte_jenc img = {0};
	cte_id d, f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	journal_attach(a, dir);
	d = mk(a, CTE_ROOT_ID, "d", S_IFDIR | 0755, NULL);
	f = mk(a, d, "f", S_IFREG | 0644, NULL);
	pthread_mutex_lock(&a->ns_lock);
	assert_int_equal(cte__obj_image_locked(a, f, 0, &img), 0);
	pthread_mutex_unlock(&a->ns_lock);
	assert_int_equal(cte__ns_unlink(a, d, "f", false, true, NULL), 0);
	assert_int_equal(cte__ns_unlink(a, CTE_ROOT_ID, "d", true, true, NULL),
	                 0);
	assert_int_equal(
	    cte__journal_checkpoint(a->journal, cte__durable_snapshot, a), 0);
	append_records(a->journal, &img);
	journal_detach(a);
	c = durable_core(dir);
	assert_int_equal(cte__durable_open(c), -EBADMSG);
	printf("# %s\n", chi_error_last());
	assert_non_null(strstr(chi_error_last(), "cannot apply it"));
	assert_null(c->journal);
	cte__core_free(c);
	cte__core_free(a);
	cte__jenc_destroy(&img);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_checkpoint_and_journal),
	    cmocka_unit_test(test_targets_capacity),
	    cmocka_unit_test(test_fsck_decoder),
	    cmocka_unit_test(test_fsck_clean),
	    cmocka_unit_test(test_fsck_detached_tag),
	    cmocka_unit_test(test_fsck_unregistered_target),
	    cmocka_unit_test(test_fsck_beyond_max_size),
	    cmocka_unit_test(test_fsck_past_target_end),
	    cmocka_unit_test(test_fsck_indexes),
	    cmocka_unit_test(test_huge_map),
	    WINDOW_TEST("test_checkpoint_window_rmdir", 0),
	    WINDOW_TEST("test_checkpoint_window_rename_dirs", 1),
	    WINDOW_TEST("test_legacy_checkpoint_window_rmdir", 2),
	    WINDOW_TEST("test_legacy_checkpoint_window_rename_dirs", 3),
	    cmocka_unit_test(test_older_record_after_cut_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
