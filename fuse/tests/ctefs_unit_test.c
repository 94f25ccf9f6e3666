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
#include <sys/uio.h>
#include <unistd.h>
#include <linux/fuse.h>

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
	    "_netdev,fsname=store,attr_timeout=2.5,no_killpriv_v2,"
	    "dirty_ratio=25",
	    "/mnt/x",
	};
	struct ctefs_opts o;

	(void)state;
	assert_int_equal(parse(&o, 5, argv), 0);
	assert_true(o.foreground);
	assert_false(o.debug);
	assert_false(o.writeback);
	assert_false(o.killpriv_v2);
	assert_int_equal(o.dirty_ratio, 25);
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
	assert_true(o.killpriv_v2); /* the default */
	assert_int_equal(o.dirty_ratio, CTEFS_DEFAULT_DIRTY_RATIO);
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
	const char *bad_pct[] = {"cte-fuse", "-o", "dirty_ratio=101", "/m"};
	const char *bad_pct2[] = {"cte-fuse", "-o", "dirty_ratio=5x", "/m"};
	struct ctefs_opts o;

	(void)state;
	assert_int_equal(parse(&o, 2, none), -EINVAL);
	assert_int_equal(parse(&o, 3, unknown), -EINVAL);
	assert_int_equal(parse(&o, 4, three), -EINVAL);
	assert_int_equal(parse(&o, 3, no_file), -EINVAL);
	assert_int_equal(parse(&o, 4, bad_time), -EINVAL);
	assert_int_equal(parse(&o, 4, bad_pct), -EINVAL);
	assert_int_equal(parse(&o, 4, bad_pct2), -EINVAL);
	assert_int_equal(parse(&o, 2, help), 0);
	assert_true(o.show_help);
}

/* The entry of a referenced id, locked; the test unlocks it. */
static struct ctefs_inode *locked(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(t, id);

	assert_non_null(e);
	assert_int_equal(e->id, id);
	return e;
}

static void test_itable(void **state)
{
	struct ctefs_itable t;
	struct timespec m1 = {100, 5}, m2 = {100, 6};
	struct ctefs_inode *e;
	bool orphan = true;
	cte_id id;
	cte_attr a;

	(void)state;
	assert_int_equal(ctefs__itable_init(&t), 0);
	for (id = 2; id < 5000; id++) {
		e = ctefs__inode_ref_lock(&t, id, 1);
		assert_non_null(e);
		ctefs__inode_unlock(&t, e);
	}
	e = ctefs__inode_ref_lock(&t, 7, 2);
	assert_non_null(e);
	assert_int_equal(e->nlookup, 3);
	ctefs__inode_unlock(&t, e);
	/* 7 has 3 lookups */
	assert_false(ctefs__inode_unref(&t, 7, 2, &orphan));
	e = locked(&t, 7);
	e->orphan = true;
	ctefs__inode_unlock(&t, e);
	assert_true(ctefs__inode_unref(&t, 7, 1, &orphan));
	assert_true(orphan);
	assert_null(ctefs__inode_lock(&t, 7)); /* gone */
	ctefs__inode_unlock(&t, NULL);         /* does nothing */
	assert_true(ctefs__inode_unref(&t, 8, 1, &orphan));
	assert_false(orphan);

	/* a new entry knows nothing; what is set stays */
	e = locked(&t, 9);
	assert_int_equal(e->xflags, 0);
	assert_int_equal(e->mode, 0);
	assert_false(e->stamp_valid || e->written || e->orphan ||
	             e->resyncing || e->wb_failed || e->multilinked);
	e->xflags = CTEFS_X_KNOWN | CTEFS_X_HAS_ANY;
	ctefs__inode_unlock(&t, e);
	e = locked(&t, 9);
	assert_int_equal(e->xflags, CTEFS_X_KNOWN | CTEFS_X_HAS_ANY);
	ctefs__inode_unlock(&t, e);

	/* keep_cache stamps */
	e = locked(&t, 10);
	assert_false(ctefs__inode_stamp_check(e, &m1, 10));
	assert_true(ctefs__inode_stamp_check(e, &m1, 10));
	assert_false(ctefs__inode_stamp_check(e, &m2, 10));
	assert_false(ctefs__inode_stamp_check(e, &m2, 11));
	e->stamp_valid = false;
	assert_false(ctefs__inode_stamp_check(e, &m2, 11));
	ctefs__inode_stamp_set(e, &m1, 12);
	assert_true(ctefs__inode_stamp_check(e, &m1, 12));
	ctefs__inode_unlock(&t, e);

	/* cached attributes */
	memset(&a, 0, sizeof(a));
	a.id = 11;
	a.mode = 040755 | 02000;
	a.gid = 42;
	a.nlink = 3;
	ctefs__itable_note_attr(&t, &a);
	e = locked(&t, 11);
	assert_int_equal(e->mode, 040755 | 02000);
	assert_int_equal(e->gid, 42);
	assert_false(e->multilinked); /* a directory */
	ctefs__inode_unlock(&t, e);
	a.id = 12;
	a.mode = 0100644;
	e = locked(&t, 12);
	ctefs__inode_note_attr(e, &a);
	assert_true(e->multilinked);
	ctefs__inode_unlock(&t, e);
	a.id = 99999;
	ctefs__itable_note_attr(&t, &a); /* no entry: nothing */
	assert_null(ctefs__inode_lock(&t, 99999));
	ctefs__itable_destroy(&t);
}

/* Feed one request through the read hook (from a pipe). */
static void raw_feed(struct ctefs *fs, uint32_t opcode, uint64_t unique,
                     uint64_t nodeid, const void *body, size_t blen)
{
	const struct fuse_custom_io *io = ctefs__rawio_hooks();
	char msg[256], back[256];
	struct fuse_in_header in;
	int p[2];

	memset(&in, 0, sizeof(in));
	in.len = (uint32_t)(sizeof(in) + blen);
	in.opcode = opcode;
	in.unique = unique;
	in.nodeid = nodeid;
	memcpy(msg, &in, sizeof(in));
	memcpy(msg + sizeof(in), body, blen);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], msg, in.len), (ssize_t)in.len);
	assert_int_equal(io->read(p[0], back, sizeof(back), fs),
	                 (ssize_t)in.len);
	close(p[0]);
	close(p[1]);
}

/* Send an INIT reply with `flags` through the writev hook; the flags the
 * kernel would have received. */
static uint32_t raw_init_reply(struct ctefs *fs, uint64_t unique, int32_t error,
                               uint32_t flags)
{
	const struct fuse_custom_io *io = ctefs__rawio_hooks();
	struct fuse_out_header out;
	struct fuse_init_out arg;
	struct iovec iov[2];
	char back[256];
	int p[2];

	memset(&arg, 0, sizeof(arg));
	arg.major = 7;
	arg.minor = 31;
	arg.flags = flags;
	out.len = sizeof(out) + sizeof(arg);
	out.error = error;
	out.unique = unique;
	iov[0].iov_base = &out;
	iov[0].iov_len = sizeof(out);
	iov[1].iov_base = &arg;
	iov[1].iov_len = sizeof(arg);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(io->writev(p[1], iov, 2, fs), (ssize_t)out.len);
	assert_int_equal(read(p[0], back, sizeof(back)), (ssize_t)out.len);
	close(p[0]);
	close(p[1]);
	/* libfuse's own buffer stays untouched */
	assert_int_equal(arg.flags, flags);
	memcpy(&arg, back + sizeof(out), sizeof(arg));
	return arg.flags;
}

static void test_rawio_init(void **state)
{
	static struct ctefs fs;
	struct fuse_init_in init;

	(void)state;
	memset(&init, 0, sizeof(init));
	init.major = 7;
	init.minor = 45;
	init.flags = FUSE_HANDLE_KILLPRIV_V2 | FUSE_ASYNC_READ;
	fs.opts.killpriv_v2 = true;
	/* offered and wanted: added to the reply of that INIT only */
	raw_feed(&fs, FUSE_INIT, 9, 0, &init, sizeof(init));
	assert_int_equal(raw_init_reply(&fs, 8, 0, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ);
	assert_int_equal(fs.killpriv_v2, 0);
	assert_int_equal(raw_init_reply(&fs, 9, -EPROTO, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ);
	assert_int_equal(raw_init_reply(&fs, 9, 0, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ | FUSE_HANDLE_KILLPRIV_V2);
	assert_int_equal(fs.killpriv_v2, 1);
	/* once: a later reply with the same unique is not touched */
	assert_int_equal(raw_init_reply(&fs, 9, 0, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ);
	/* -o no_killpriv_v2 */
	fs.killpriv_v2 = 0;
	fs.opts.killpriv_v2 = false;
	raw_feed(&fs, FUSE_INIT, 10, 0, &init, sizeof(init));
	assert_int_equal(raw_init_reply(&fs, 10, 0, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ);
	assert_int_equal(fs.killpriv_v2, 0);
	/* not offered by the kernel */
	fs.opts.killpriv_v2 = true;
	init.flags = FUSE_ASYNC_READ;
	raw_feed(&fs, FUSE_INIT, 11, 0, &init, sizeof(init));
	assert_int_equal(raw_init_reply(&fs, 11, 0, FUSE_ASYNC_READ),
	                 FUSE_ASYNC_READ);
	assert_int_equal(fs.killpriv_v2, 0);
}

static void test_rawio_kill_flags(void **state)
{
	static struct ctefs fs;
	struct fuse_write_in w;
	struct fuse_setattr_in sa;
	struct fuse_open_in op;
	struct fuse_create_in cr;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.size = 4096;
	w.write_flags = FUSE_WRITE_KILL_SUIDGID | FUSE_WRITE_LOCKOWNER;
	raw_feed(&fs, FUSE_WRITE, 20, 77, &w, sizeof(w));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_WRITE, 77), 1);
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_WRITE, 78), -1);
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_SETATTR, 77), -1);
	w.write_flags = FUSE_WRITE_CACHE;
	raw_feed(&fs, FUSE_WRITE, 21, 77, &w, sizeof(w));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_WRITE, 77), 0);

	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE | FATTR_KILL_SUIDGID;
	raw_feed(&fs, FUSE_SETATTR, 22, 5, &sa, sizeof(sa));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_SETATTR, 5), 1);
	sa.valid = FATTR_SIZE;
	raw_feed(&fs, FUSE_SETATTR, 23, 5, &sa, sizeof(sa));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_SETATTR, 5), 0);

	memset(&op, 0, sizeof(op));
	op.open_flags = FUSE_OPEN_KILL_SUIDGID;
	raw_feed(&fs, FUSE_OPEN, 24, 6, &op, sizeof(op));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_OPEN, 6), 1);
	memset(&cr, 0, sizeof(cr));
	cr.open_flags = FUSE_OPEN_KILL_SUIDGID;
	raw_feed(&fs, FUSE_CREATE, 25, 1, &cr, sizeof(cr));
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_CREATE, 1), 1);
	/* a short body is not trusted; other opcodes forget the note */
	raw_feed(&fs, FUSE_WRITE, 26, 77, &w, 8);
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_WRITE, 77), -1);
	raw_feed(&fs, FUSE_GETATTR, 27, 77, &w, 16);
	assert_int_equal(ctefs__raw_kill_flag(CTEFS_OP_CREATE, 1), -1);
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
	    cmocka_unit_test(test_rawio_init),
	    cmocka_unit_test(test_rawio_kill_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
