/*
 * Unit tests of cte-fuse's parts that need no runtime and no mount:
 * user.cte.score value parsing, the command line, the inode table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctefs_i.h"

static void test_score_valid(void **state)
{
	double v = -1;

	(void)state;
	assert_int_equal(ctefs__parse_score("0.9", 3, &v), 0);
	assert_true(v > 0.8999 && v < 0.9001);
	assert_int_equal(ctefs__parse_score("1", 1, &v), 0);
	assert_true(v == 1.0);
	assert_int_equal(ctefs__parse_score("0", 1, &v), 0);
	assert_true(v == 0.0);
	assert_int_equal(ctefs__parse_score("0.25\n", 5, &v), 0);
	assert_true(v == 0.25);
	/* a counted trailing NUL */
	assert_int_equal(ctefs__parse_score("0.5", 4, &v), 0);
	assert_true(v == 0.5);
}

static void test_score_invalid(void **state)
{
	static const char *const bad[] = {
	    "abc", "1.5",  "-0.1", "nan", "inf",     "-inf",
	    "",    "0.5x", "1e9",  " ",   "0.5 0.6",
	};
	double v = 0.125;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ctefs__parse_score(bad[i], strlen(bad[i]), &v),
		                 -EINVAL);
		assert_true(v == 0.125); /* untouched */
	}
	/* a NUL inside the value */
	assert_int_equal(ctefs__parse_score("0\0005", 3, &v), -EINVAL);
	assert_int_equal(ctefs__parse_score(NULL, 0, &v), -EINVAL);
}

static int parse(struct ctefs_opts *o, int argc, const char **argv)
{
	return ctefs__parse_args(o, argc, (char **)argv);
}

static void test_args_options(void **state)
{
	const char *argv[] = {
	    "cte-fuse",
	    "-f",
	    "-o",
	    "allow_other,noatime,config=/x.yaml,no_writeback,nofail,"
	    "_netdev,fsname=store,attr_timeout=2.5",
	    "/mnt/x",
	};
	struct ctefs_opts o;

	(void)state;
	assert_int_equal(parse(&o, 5, argv), 0);
	assert_true(o.foreground);
	assert_false(o.debug);
	assert_false(o.writeback);
	assert_string_equal(o.mountpoint, "/mnt/x");
	assert_string_equal(o.config_path, "/x.yaml");
	assert_string_equal(o.fuse_opts, "allow_other,noatime,fsname=store");
	assert_true(o.attr_timeout == 2.5);
	assert_true(o.entry_timeout == CTEFS_DEFAULT_TIMEOUT);
	free(o.fuse_opts);
	free((char *)o.config_path);
}

static void test_args_source_word(void **state)
{
	char path[] = "/tmp/ctefs_unit_XXXXXX";
	const char *argv1[] = {"cte-fuse", "cte-fuse", "/mnt/y", "-o", "rw"};
	const char *argv2[] = {"cte-fuse", path, "/mnt/z", "-d"};
	struct ctefs_opts o;
	int fd;

	(void)state;
	assert_int_equal(parse(&o, 5, argv1), 0);
	assert_string_equal(o.mountpoint, "/mnt/y");
	assert_null(o.config_path);
	assert_true(o.writeback);
	free(o.fuse_opts);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(parse(&o, 4, argv2), 0);
	assert_string_equal(o.mountpoint, "/mnt/z");
	assert_string_equal(o.config_path, path);
	assert_true(o.debug && o.foreground);
	unlink(path);
}

static void test_args_errors(void **state)
{
	const char *none[] = {"cte-fuse", "-f"};
	const char *unknown[] = {"cte-fuse", "-x", "/mnt"};
	const char *three[] = {"cte-fuse", "a", "b", "c"};
	const char *no_file[] = {"cte-fuse", "/mnt", "-c"};
	const char *bad_time[] = {"cte-fuse", "-o", "attr_timeout=abc", "/m"};
	const char *help[] = {"cte-fuse", "--help"};
	struct ctefs_opts o;

	(void)state;
	assert_int_equal(parse(&o, 2, none), -EINVAL);
	assert_int_equal(parse(&o, 3, unknown), -EINVAL);
	assert_int_equal(parse(&o, 4, three), -EINVAL);
	assert_int_equal(parse(&o, 3, no_file), -EINVAL);
	assert_int_equal(parse(&o, 4, bad_time), -EINVAL);
	assert_int_equal(parse(&o, 2, help), 0);
	assert_true(o.show_help);
}

static void test_itable(void **state)
{
	struct ctefs_itable t;
	struct timespec m1 = {100, 5}, m2 = {100, 6};
	bool orphan = true;
	cte_id id;
	cte_attr a;

	(void)state;
	assert_int_equal(ctefs__itable_init(&t), 0);
	for (id = 2; id < 5000; id++)
		assert_int_equal(ctefs__inode_ref(&t, id, 1), 0);
	assert_int_equal(ctefs__inode_ref(&t, 7, 2), 0);
	/* 7 has 3 lookups */
	assert_false(ctefs__inode_unref(&t, 7, 2, &orphan));
	assert_true(ctefs__inode_mark_orphan(&t, 7));
	assert_true(ctefs__inode_unref(&t, 7, 1, &orphan));
	assert_true(orphan);
	assert_false(ctefs__inode_mark_orphan(&t, 7)); /* gone */
	assert_true(ctefs__inode_unref(&t, 8, 1, &orphan));
	assert_false(orphan);

	/* xattr knowledge */
	assert_int_equal(ctefs__inode_xflags(&t, 9), 0);
	ctefs__inode_xflags_set(&t, 9, CTEFS_X_KNOWN, ~0u);
	assert_int_equal(ctefs__inode_xflags(&t, 9), CTEFS_X_KNOWN);
	ctefs__inode_xflags_set(&t, 9, CTEFS_X_HAS_ANY, 0);
	assert_int_equal(ctefs__inode_xflags(&t, 9),
	                 CTEFS_X_KNOWN | CTEFS_X_HAS_ANY);

	/* keep_cache stamps */
	assert_false(ctefs__inode_stamp_check(&t, 10, &m1, 10));
	assert_true(ctefs__inode_stamp_check(&t, 10, &m1, 10));
	assert_false(ctefs__inode_stamp_check(&t, 10, &m2, 10));
	assert_false(ctefs__inode_stamp_check(&t, 10, &m2, 11));
	ctefs__inode_stamp_clear(&t, 10);
	assert_false(ctefs__inode_stamp_check(&t, 10, &m2, 11));

	/* cached attributes and the resync slot */
	memset(&a, 0, sizeof(a));
	a.id = 11;
	a.mode = 040755 | 02000;
	a.gid = 42;
	ctefs__inode_note_attr(&t, &a);
	ctefs__inode_note_parent(&t, 11, 3);
	uint32_t mode = 0, gid = 0;
	cte_id parent = 0;
	assert_true(ctefs__inode_cached(&t, 11, &mode, &gid, &parent));
	assert_int_equal(mode, 040755 | 02000);
	assert_int_equal(gid, 42);
	assert_int_equal(parent, 3);
	assert_false(ctefs__inode_cached(&t, 99999, &mode, &gid, &parent));
	assert_true(ctefs__inode_resync_start(&t, 12));
	assert_false(ctefs__inode_resync_start(&t, 12));
	ctefs__inode_resync_done(&t, 12);
	assert_true(ctefs__inode_resync_start(&t, 12));
	ctefs__inode_mark_written(&t, 13);
	assert_true(ctefs__inode_take_written(&t, 13));
	assert_false(ctefs__inode_take_written(&t, 13));
	ctefs__itable_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_score_valid),
	    cmocka_unit_test(test_score_invalid),
	    cmocka_unit_test(test_args_options),
	    cmocka_unit_test(test_args_source_word),
	    cmocka_unit_test(test_args_errors),
	    cmocka_unit_test(test_itable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
