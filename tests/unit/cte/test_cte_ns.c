/*
 * The namespace API (cte_ns_*), xattrs, attributes and the tag API by name,
 * through the client library on an embedded runtime with one RAM target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cte/tag.h"
#include "cte_test_util.h"

static cte_client C;

static int setup(void **state)
{
	struct cte_params p;
	static uint32_t minor = 10;
	char name[32];

	(void)state;
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::ns_ram", CHI_BDEV_RAM, 32 << 20, 1.0);
	snprintf(name, sizeof(name), "ns%u", minor);
	return cte_test_pool(&C, name, minor++, &p, NULL);
}

static int teardown(void **state)
{
	(void)state;
	return chi_pool_destroy(C.pool_id);
}

static cte_id mk(cte_id parent, const char *name, uint32_t mode)
{
	cte_attr a = cte_test_attr(mode), out;

	assert_int_equal(cte_ns_create(&C, parent, name, &a,
	                               S_ISLNK(mode) ? "target" : NULL, &out),
	                 0);
	assert_true(out.id > CTE_ROOT_ID);
	return out.id;
}

static void test_create_lookup_getattr(void **state)
{
	cte_attr a, b;
	cte_id d, f;

	(void)state;
	d = mk(CTE_ROOT_ID, "dir", S_IFDIR | 0750);
	f = mk(d, "file", S_IFREG | 0640);
	assert_int_equal(cte_ns_lookup(&C, d, "file", &a), 0);
	assert_int_equal(a.id, f);
	assert_int_equal(a.mode, S_IFREG | 0640);
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(a.size, 0);
	assert_int_equal(cte_ns_getattr(&C, d, &b), 0);
	assert_int_equal(b.mode, S_IFDIR | 0750);
	assert_int_equal(b.nlink, 2);
	assert_int_equal(cte_ns_getattr(&C, CTE_ROOT_ID, &b), 0);
	assert_int_equal(b.nlink, 3);
	assert_int_equal(cte_ns_lookup(&C, d, "nope", &a), -ENOENT);
	assert_int_equal(cte_ns_lookup(&C, f, "x", &a), -ENOTDIR);
	assert_int_equal(cte_ns_lookup(&C, d, "..", &a), 0);
	assert_int_equal(a.id, CTE_ROOT_ID);
	assert_int_equal(cte_ns_create(&C, d, "file", &a, NULL, NULL), -EEXIST);
	{
		char longname[300];
		cte_attr r = cte_test_attr(S_IFREG | 0644);

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(cte_ns_create(&C, d, longname, &r, NULL, NULL),
		                 -ENAMETOOLONG);
		assert_int_equal(cte_ns_lookup(&C, d, longname, &a),
		                 -ENAMETOOLONG);
		longname[255] = '\0';
		assert_int_equal(cte_ns_create(&C, d, longname, &r, NULL, NULL),
		                 0);
	}
	/* the tag is the directory's path */
	{
		char *path = NULL;

		assert_int_equal(cte_tag_get_name(&C, d, &path), 0);
		assert_string_equal(path, "/dir");
		free(path);
	}
	assert_int_equal(cte_ns_getattr(&C, 999999, &a), -ENOENT);
}

static void test_setattr_and_times(void **state)
{
	cte_attr in, out, before;
	cte_id d, f;
	char data[5000];
	uint64_t n;

	(void)state;
	d = mk(CTE_ROOT_ID, "t", S_IFDIR | 0755);
	assert_int_equal(cte_ns_getattr(&C, d, &before), 0);
	usleep(2000);
	f = mk(d, "f", S_IFREG | 0644);
	assert_int_equal(cte_ns_getattr(&C, d, &out), 0);
	/* creating a name changes the directory's mtime and ctime */
	assert_true(out.mtime.tv_sec > before.mtime.tv_sec ||
	            out.mtime.tv_nsec != before.mtime.tv_nsec);
	memset(&in, 0, sizeof(in));
	in.mode = 0600;
	in.uid = 7;
	in.gid = 8;
	in.mtime.tv_sec = 1000;
	in.atime.tv_sec = 2000;
	assert_int_equal(cte_ns_setattr(&C, f, &in,
	                                CTE_SET_MODE | CTE_SET_UID |
	                                    CTE_SET_GID | CTE_SET_MTIME |
	                                    CTE_SET_ATIME,
	                                &out),
	                 0);
	assert_int_equal(out.mode, S_IFREG | 0600);
	assert_int_equal(out.uid, 7);
	assert_int_equal(out.gid, 8);
	assert_int_equal(out.mtime.tv_sec, 1000);
	assert_int_equal(out.atime.tv_sec, 2000);
	assert_true(out.ctime.tv_sec > 1000);
	/* size: truncate up reads zeros, down frees */
	memset(data, 'a', sizeof(data));
	assert_int_equal(cte_blob_write(&C, f, 0, data, sizeof(data)), 0);
	assert_int_equal(cte_ns_getattr(&C, f, &out), 0);
	assert_true(out.mtime.tv_sec > 1000); /* write sets mtime */
	in.size = 10;
	assert_int_equal(cte_ns_setattr(&C, f, &in, CTE_SET_SIZE, &out), 0);
	assert_int_equal(out.size, 10);
	assert_int_equal(out.alloc_bytes, 4096);
	in.size = 6000;
	assert_int_equal(cte_ns_setattr(&C, f, &in, CTE_SET_SIZE, &out), 0);
	assert_int_equal(cte_blob_read(&C, f, 0, data, sizeof(data), &n), 0);
	assert_int_equal(n, sizeof(data));
	for (int i = 0; i < 10; i++)
		assert_int_equal(data[i], 'a');
	for (size_t i = 10; i < sizeof(data); i++)
		assert_int_equal(data[i], 0);
	assert_int_equal(cte_ns_setattr(&C, d, &in, CTE_SET_SIZE, NULL),
	                 -EISDIR);
}

static void test_link_unlink_forget(void **state)
{
	cte_attr a;
	cte_id d1, d2, f;
	char buf[8];
	uint64_t n;

	(void)state;
	d1 = mk(CTE_ROOT_ID, "l1", S_IFDIR | 0755);
	d2 = mk(CTE_ROOT_ID, "l2", S_IFDIR | 0755);
	f = mk(d1, "f", S_IFREG | 0644);
	assert_int_equal(cte_blob_write(&C, f, 0, "hello", 5), 0);
	assert_int_equal(cte_ns_link(&C, f, d2, "g", &a), 0);
	assert_int_equal(a.nlink, 2);
	assert_int_equal(cte_ns_link(&C, d1, d2, "h", &a), -EPERM);
	assert_int_equal(cte_ns_link(&C, f, d2, "g", &a), -EEXIST);
	assert_int_equal(cte_ns_lookup(&C, d2, "g", &a), 0);
	assert_int_equal(a.id, f);
	assert_int_equal(cte_ns_unlink(&C, d1, "f", true, NULL), -ENOTDIR);
	assert_int_equal(cte_ns_unlink(&C, d1, "f", false, &a), 0);
	assert_int_equal(a.nlink, 1);
	assert_int_equal(cte_ns_unlink(&C, CTE_ROOT_ID, "l1", false, NULL),
	                 -EISDIR);
	assert_int_equal(cte_ns_unlink(&C, CTE_ROOT_ID, "l2", true, NULL),
	                 -ENOTEMPTY);
	assert_int_equal(cte_ns_unlink(&C, d2, "g", false, &a), 0);
	assert_int_equal(a.nlink, 0);
	/* an orphan stays readable by id until forget */
	assert_int_equal(cte_blob_read(&C, f, 0, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(cte_ns_forget(&C, f), 0);
	assert_int_equal(cte_ns_getattr(&C, f, &a), -ENOENT);
	assert_int_equal(cte_blob_read(&C, f, 0, buf, sizeof(buf), &n),
	                 -ENOENT);
	assert_int_equal(cte_ns_unlink(&C, CTE_ROOT_ID, "l1", true, NULL), 0);
	assert_int_equal(cte_ns_getattr(&C, d1, &a), -ENOENT);
	/* forget on a named blob keeps it */
	f = mk(d2, "kept", S_IFREG | 0644);
	assert_int_equal(cte_ns_forget(&C, f), 0);
	assert_int_equal(cte_ns_getattr(&C, f, &a), 0);
}

static void test_symlink(void **state)
{
	char buf[64];
	cte_attr a;
	cte_id s, f;

	(void)state;
	s = mk(CTE_ROOT_ID, "sl", S_IFLNK | 0777);
	assert_int_equal(cte_ns_getattr(&C, s, &a), 0);
	assert_true(S_ISLNK(a.mode));
	assert_int_equal(a.size, 6);
	assert_int_equal(cte_ns_readlink(&C, s, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "target");
	assert_int_equal(cte_ns_readlink(&C, s, buf, 4), 0);
	assert_string_equal(buf, "tar");
	f = mk(CTE_ROOT_ID, "notlink", S_IFREG | 0644);
	assert_int_equal(cte_ns_readlink(&C, f, buf, sizeof(buf)), -EINVAL);
}

static void test_rename(void **state)
{
	cte_id a, b, f, g, sub, replaced;
	cte_attr at;
	char *path;
	char buf[4];
	uint64_t n;

	(void)state;
	a = mk(CTE_ROOT_ID, "ra", S_IFDIR | 0755);
	b = mk(CTE_ROOT_ID, "rb", S_IFDIR | 0755);
	f = mk(a, "f", S_IFREG | 0644);
	g = mk(b, "g", S_IFREG | 0644);
	assert_int_equal(cte_blob_write(&C, f, 0, "F", 1), 0);
	assert_int_equal(cte_blob_write(&C, g, 0, "G", 1), 0);
	/* within a directory: the id stays */
	assert_int_equal(cte_ns_rename(&C, a, "f", a, "f2", 0, &replaced), 0);
	assert_int_equal(replaced, CTE_ID_NONE);
	assert_int_equal(cte_ns_lookup(&C, a, "f2", &at), 0);
	assert_int_equal(at.id, f);
	assert_int_equal(cte_ns_lookup(&C, a, "f", &at), -ENOENT);
	/* NOREPLACE onto an existing name */
	assert_int_equal(
	    cte_ns_rename(&C, a, "f2", b, "g", CTE_RENAME_NOREPLACE, NULL),
	    -EEXIST);
	/* EXCHANGE across directories */
	assert_int_equal(
	    cte_ns_rename(&C, a, "f2", b, "g", CTE_RENAME_EXCHANGE, NULL), 0);
	assert_int_equal(cte_ns_lookup(&C, a, "f2", &at), 0);
	assert_int_equal(at.id, g);
	assert_int_equal(cte_ns_lookup(&C, b, "g", &at), 0);
	assert_int_equal(at.id, f);
	assert_int_equal(
	    cte_ns_rename(&C, a, "f2", b, "none", CTE_RENAME_EXCHANGE, NULL),
	    -ENOENT);
	/* replace: the old destination loses its name */
	assert_int_equal(cte_ns_rename(&C, a, "f2", b, "g", 0, &replaced), 0);
	assert_int_equal(replaced, f);
	assert_int_equal(cte_ns_getattr(&C, f, &at), 0);
	assert_int_equal(at.nlink, 0);
	assert_int_equal(cte_ns_forget(&C, f), 0);
	assert_int_equal(cte_blob_read(&C, g, 0, buf, 1, &n), 0);
	assert_int_equal(buf[0], 'G');
	/* directories: rename the tag and every tag below */
	sub = mk(a, "sub", S_IFDIR | 0755);
	mk(sub, "deep", S_IFDIR | 0755);
	assert_int_equal(
	    cte_ns_rename(&C, CTE_ROOT_ID, "ra", b, "moved", 0, NULL), 0);
	assert_int_equal(cte_tag_get_name(&C, sub, &path), 0);
	assert_string_equal(path, "/rb/moved/sub");
	free(path);
	{
		cte_id deep;

		assert_int_equal(
		    cte_tag_get_or_create(&C, "/rb/moved/sub/deep", &deep), 0);
		assert_int_equal(cte_ns_lookup(&C, sub, "deep", &at), 0);
		assert_int_equal(at.id, deep);
	}
	assert_int_equal(cte_ns_getattr(&C, b, &at), 0);
	assert_int_equal(at.nlink, 3);
	/* into itself */
	assert_int_equal(cte_ns_rename(&C, b, "moved", sub, "x", 0, NULL),
	                 -EINVAL);
	/* kinds */
	mk(CTE_ROOT_ID, "emptydir", S_IFDIR | 0755);
	assert_int_equal(
	    cte_ns_rename(&C, b, "g", CTE_ROOT_ID, "emptydir", 0, NULL),
	    -EISDIR);
	assert_int_equal(
	    cte_ns_rename(&C, CTE_ROOT_ID, "emptydir", b, "g", 0, NULL),
	    -ENOTDIR);
	/* onto a non-empty directory, then an empty one */
	assert_int_equal(
	    cte_ns_rename(&C, CTE_ROOT_ID, "emptydir", b, "moved", 0, NULL),
	    -ENOTEMPTY);
	mk(CTE_ROOT_ID, "e2", S_IFDIR | 0755);
	assert_int_equal(cte_ns_rename(&C, CTE_ROOT_ID, "emptydir", CTE_ROOT_ID,
	                               "e2", 0, &replaced),
	                 0);
	assert_true(replaced != CTE_ID_NONE);
	assert_int_equal(cte_ns_getattr(&C, replaced, &at), -ENOENT);
	/* hard links to one blob: renaming one onto the other does nothing */
	assert_int_equal(cte_ns_link(&C, g, b, "g2", NULL), 0);
	assert_int_equal(cte_ns_rename(&C, b, "g", b, "g2", 0, NULL), 0);
	assert_int_equal(cte_ns_lookup(&C, b, "g", &at), 0);
	assert_int_equal(at.nlink, 2);
	/* RenameTag by name */
	assert_int_equal(cte_tag_rename(&C, "/rb/moved", "/newtop/x"), 0);
	assert_int_equal(cte_tag_get_name(&C, sub, &path), 0);
	assert_string_equal(path, "/newtop/x/sub");
	free(path);
}

static void test_readdir_cookies(void **state)
{
	cte_dirent ents[8];
	size_t n, total = 0;
	uint64_t cookie = 0;
	cte_id d;
	char name[16];
	int seen[40] = {0};

	(void)state;
	d = mk(CTE_ROOT_ID, "rd", S_IFDIR | 0755);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "e%02d", i);
		mk(d, name, i % 5 ? S_IFREG | 0644 : S_IFDIR | 0755);
	}
	/* read in pages, removing and adding entries between pages */
	for (;;) {
		assert_int_equal(cte_ns_readdir(&C, d, cookie, ents, 8, &n), 0);
		if (!n)
			break;
		for (size_t i = 0; i < n; i++) {
			int k = atoi(ents[i].name + 1);

			if (ents[i].name[0] == 'e') {
				assert_int_equal(seen[k], 0);
				seen[k] = 1;
				assert_int_equal(ents[i].id, ents[i].attr.id);
			}
			total++;
		}
		cookie = ents[n - 1].next_cookie;
		if (total == 8) {
			/* remove an entry not yet returned, and add one */
			assert_int_equal(
			    cte_ns_unlink(&C, d, "e39", false, NULL), 0);
			mk(d, "new", S_IFREG | 0644);
		}
	}
	for (int k = 0; k < 39; k++)
		assert_int_equal(seen[k], 1);
	assert_int_equal(seen[39], 0);
	assert_int_equal(total, 40); /* 39 + "new" */
	assert_int_equal(cte_ns_readdir(&C, 123456, 0, ents, 8, &n), -ENOENT);
}

static void test_xattrs(void **state)
{
	char buf[64];
	size_t sz;
	cte_id f, d;

	(void)state;
	f = mk(CTE_ROOT_ID, "x", S_IFREG | 0644);
	d = mk(CTE_ROOT_ID, "xd", S_IFDIR | 0755);
	assert_int_equal(cte_xattr_get(&C, f, "user.a", buf, sizeof(buf), &sz),
	                 -ENODATA);
	assert_int_equal(
	    cte_xattr_set(&C, f, "user.a", "1234", 4, CTE_XATTR_REPLACE),
	    -ENODATA);
	assert_int_equal(cte_xattr_set(&C, f, "user.a", "1234", 4, 0), 0);
	assert_int_equal(
	    cte_xattr_set(&C, f, "user.a", "x", 1, CTE_XATTR_CREATE), -EEXIST);
	assert_int_equal(cte_xattr_set(&C, f, "user.b", "", 0, 0), 0);
	assert_int_equal(cte_xattr_set(&C, d, "user.dir", "v", 1, 0), 0);
	assert_int_equal(cte_xattr_get(&C, f, "user.a", NULL, 0, &sz), 0);
	assert_int_equal(sz, 4);
	assert_int_equal(cte_xattr_get(&C, f, "user.a", buf, 2, &sz), -ERANGE);
	assert_int_equal(cte_xattr_get(&C, f, "user.a", buf, sizeof(buf), &sz),
	                 0);
	assert_int_equal(sz, 4);
	assert_memory_equal(buf, "1234", 4);
	assert_int_equal(cte_xattr_get(&C, f, "user.b", buf, sizeof(buf), &sz),
	                 0);
	assert_int_equal(sz, 0);
	assert_int_equal(cte_xattr_list(&C, f, NULL, 0, &sz), 0);
	assert_int_equal(sz, 14);
	assert_int_equal(cte_xattr_list(&C, f, buf, 5, &sz), -ERANGE);
	assert_int_equal(cte_xattr_list(&C, f, buf, sizeof(buf), &sz), 0);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	assert_int_equal(cte_xattr_remove(&C, f, "user.a"), 0);
	assert_int_equal(cte_xattr_remove(&C, f, "user.a"), -ENODATA);
	assert_int_equal(
	    cte_xattr_get(&C, d, "user.dir", buf, sizeof(buf), &sz), 0);
	{
		static char big[CTE_XATTR_SIZE_MAX + 1];

		assert_int_equal(
		    cte_xattr_set(&C, f, "user.big", big, sizeof(big), 0),
		    -E2BIG);
	}
}

static void test_tag_api(void **state)
{
	cte_id t, t2, id;
	char **names;
	size_t n;
	uint64_t size;
	double score;

	(void)state;
	assert_int_equal(cte_tag_get_or_create(&C, "/api/x/y", &t), 0);
	assert_int_equal(cte_tag_get_or_create(&C, "api/x/y/", &t2), 0);
	assert_int_equal(t, t2);
	assert_int_equal(
	    cte_put_blob(&C, t, "b1", 0, "abc", 3, CTE_SCORE_UNSET, &id), 0);
	assert_int_equal(cte_put_blob(&C, t, "b2", 10, "de", 2, 0.9, NULL), 0);
	assert_int_equal(cte_get_blob_size(&C, t, "b2", &size), 0);
	assert_int_equal(size, 12);
	assert_int_equal(cte_get_blob_score(&C, t, "b2", &score), 0);
	assert_true(score > 0.89 && score < 0.91);
	assert_int_equal(cte_get_blob_score(&C, t, "b1", &score), 0);
	assert_true(score > 0.49 && score < 0.51);
	assert_int_equal(cte_tag_get_size(&C, t, &size), 0);
	assert_int_equal(size, 15);
	assert_int_equal(cte_tag_get_contained_blobs(&C, t, &names, &n), 0);
	assert_int_equal(n, 2);
	cte_names_free(names, n);
	assert_int_equal(cte_truncate_blob(&C, t, "b2", 1), 0);
	assert_int_equal(cte_get_blob_size(&C, t, "b2", &size), 0);
	assert_int_equal(size, 1);
	assert_int_equal(cte_del_blob(&C, t, "b1"), 0);
	assert_int_equal(cte_ns_getattr(&C, id, NULL), -ENOENT);
	assert_int_equal(cte_get_blob_size(&C, t, "b1", &size), -ENOENT);
	/* regex queries */
	assert_int_equal(cte_tag_get_or_create(&C, "/api/other", &t2), 0);
	assert_int_equal(cte_put_blob(&C, t2, "c1", 0, "z", 1, -1, NULL), 0);
	assert_int_equal(cte_tag_query(&C, "^/api/x", &names, &n), 0);
	assert_int_equal(n, 2); /* /api/x and /api/x/y */
	cte_names_free(names, n);
	assert_int_equal(
	    cte_blob_query(&C, "^/api/", "^[bc][0-9]$", &names, &n), 0);
	assert_int_equal(n, 2);
	cte_names_free(names, n);
	assert_int_equal(cte_tag_query(&C, "([", &names, &n), -EINVAL);
	/* DelTag removes blobs and child tags */
	assert_int_equal(cte_tag_get_or_create(&C, "/api", &t2), 0);
	assert_int_equal(cte_tag_del(&C, t2), 0);
	assert_int_equal(cte_ns_getattr(&C, t, NULL), -ENOENT);
	assert_int_equal(cte_tag_query(&C, "^/api", &names, &n), 0);
	assert_int_equal(n, 0);
	cte_names_free(names, n);
	assert_int_equal(cte_tag_del(&C, CTE_ROOT_ID), -EBUSY);
}

static void test_default_score_inherited(void **state)
{
	cte_attr in = cte_test_attr(0), out;
	cte_id d, sub, f;

	(void)state;
	d = mk(CTE_ROOT_ID, "scored", S_IFDIR | 0755);
	sub = mk(d, "sub", S_IFDIR | 0755);
	in.score = 0.2;
	/* a tag's default score is its attr.score (set at create here) */
	{
		cte_attr a = cte_test_attr(S_IFDIR | 0755);

		a.score = 0.2;
		assert_int_equal(
		    cte_ns_create(&C, CTE_ROOT_ID, "scored2", &a, NULL, &out),
		    0);
		d = out.id;
		sub = mk(d, "sub", S_IFDIR | 0755);
	}
	f = mk(sub, "f", S_IFREG | 0644);
	assert_int_equal(cte_ns_getattr(&C, f, &out), 0);
	assert_true(out.score > 0.19 && out.score < 0.21);
	(void)in;
}

static void test_tag_wrapper(void **state)
{
	cte_tag_handle *t, *t2;
	char buf[16];
	uint64_t n, size;
	double score;
	void *all;
	char **names;
	size_t nn;

	(void)state;
	assert_int_equal(cte_tag_open(&t, &C, "/wrapped/tag"), 0);
	assert_string_equal(cte_tag_name(t), "/wrapped/tag");
	assert_int_equal(cte_tag_put(t, "a", 0, "hello", 5, 0.8), 0);
	assert_int_equal(cte_tag_put(t, "a", 5, " world", 6, CTE_SCORE_UNSET),
	                 0);
	assert_int_equal(cte_tag_put(t, "b", 0, "x", 1, CTE_SCORE_UNSET), 0);
	assert_int_equal(cte_tag_get(t, "a", 6, buf, sizeof(buf), &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(cte_tag_get_all(t, "a", &all, &size), 0);
	assert_int_equal(size, 11);
	assert_memory_equal(all, "hello world", 11);
	free(all);
	assert_int_equal(cte_tag_blob_size(t, "a", &size), 0);
	assert_int_equal(size, 11);
	assert_int_equal(cte_tag_blob_score(t, "a", &score), 0);
	assert_true(score == 0.8);
	assert_int_equal(cte_tag_reorganize(t, "a", 0.1), 0);
	assert_int_equal(cte_tag_blob_score(t, "a", &score), 0);
	assert_true(score == 0.1);
	assert_int_equal(cte_tag_size(t, &size), 0);
	assert_int_equal(size, 12);
	assert_int_equal(cte_tag_blobs(t, &names, &nn), 0);
	assert_int_equal(nn, 2);
	cte_names_free(names, nn);
	assert_int_equal(cte_tag_del_blob(t, "b"), 0);
	assert_int_equal(cte_tag_blob_size(t, "b", &size), -ENOENT);
	assert_int_equal(cte_tag_open_id(&t2, &C, cte_tag_id(t)), 0);
	assert_string_equal(cte_tag_name(t2), "/wrapped/tag");
	assert_int_equal(cte_tag_destroy(t2), 0);
	cte_tag_close(t2);
	assert_int_equal(cte_tag_get(t, "a", 0, buf, sizeof(buf), &n), -ENOENT);
	cte_tag_close(t);
	cte_tag_close(NULL);
}

static void test_statfs(void **state)
{
	cte_fs_stats st;

	(void)state;
	assert_int_equal(cte_statfs(&C, &st), 0);
	assert_int_equal(st.capacity, 32 << 20);
	assert_true(st.free_bytes <= st.capacity);
	assert_true(st.n_tags >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_lookup_getattr, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_setattr_and_times, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_link_unlink_forget, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readdir_cookies, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tag_api, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_score_inherited, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tag_wrapper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_statfs, setup, teardown),
	};
	int rc;

	if (cte_test_runtime_start(2)) {
		fprintf(stderr, "runtime: %s\n", chi_error_last());
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	chi_finalize();
	return rc;
}
