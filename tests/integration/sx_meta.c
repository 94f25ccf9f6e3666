/* syscall_exerciser: inode attributes: stat, times, chmod/chown, statfs,
 * access, xattrs, POSIX ACLs. */
#include "sx_i.h"

static int ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec ||
	       (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int ts_eq(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void nap(void)
{
	/* Longer than the coarse clock tick timestamps come from. */
	struct timespec t = {0, 30 * 1000 * 1000};

	nanosleep(&t, NULL);
}

void t_stat(void)
{
	struct stat st, st2;
	int fd;

	REQUIRE_OK(make_file(P("f"), 100000, 5));
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	/* data may sit in a write-back cache: fsync before counting blocks */
	CHECK_OK(fsync(fd));
	CHECK_OK(fstat(fd, &st));
	CHECK(S_ISREG(st.st_mode), "regular file");
	CHECK_EQ_LL("st_size", 100000, st.st_size);
	CHECK_EQ_LL("st_nlink", 1, st.st_nlink);
	CHECK_EQ_LL("st_uid", geteuid(), st.st_uid);
	CHECK_EQ_LL("st_gid", getegid(), st.st_gid);
	CHECK(st.st_blocks * 512 >= 100000,
	      "st_blocks %lld too small for 100000 bytes",
	      (long long)st.st_blocks);
	CHECK(st.st_blocks * 512 <= 100000 + 2 * MIB,
	      "st_blocks %lld too large for 100000 bytes",
	      (long long)st.st_blocks);
	CHECK(st.st_blksize > 0, "st_blksize %ld", (long)st.st_blksize);
	CHECK(st.st_ino != 0, "st_ino non-zero");
	CHECK(stat(P("f"), &st2) == 0 && st2.st_ino == st.st_ino &&
	          st2.st_dev == st.st_dev,
	      "stat and fstat agree");
	close(fd);

	CHECK_OK(mkdir(P("d"), 0755));
	CHECK(stat(P("d"), &st) == 0 && S_ISDIR(st.st_mode) &&
	          (st.st_mode & 07777) == 0755,
	      "directory mode %o", st.st_mode);
	/* Linux file systems count subdirectories in nlink (btrfs and some
	 * FUSE file systems report 1); we want at least 1. */
	CHECK(st.st_nlink >= 1, "directory nlink %ld", (long)st.st_nlink);
	/* inode numbers of different files differ */
	CHECK(stat(P("f"), &st2) == 0 && st2.st_ino != st.st_ino,
	      "distinct inode numbers");
	CHECK_ERR(stat(P("missing"), &st), ENOENT);
	CHECK_ERR(stat(P("f/x"), &st), ENOTDIR);
}

void t_times(void)
{
	struct stat a, b;
	struct timespec ts[2];
	int fd;

	REQUIRE_OK(make_file(P("f"), 1000, 6));
	REQUIRE_OK(stat(P("f"), &a));
	nap();
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	CHECK(pwrite(fd, "x", 1, 10) == 1, "write");
	CHECK_OK(fstat(fd, &b));
	CHECK(ts_after(b.st_mtim, a.st_mtim), "mtime changes on write");
	CHECK(ts_after(b.st_ctim, a.st_ctim), "ctime changes on write");
	close(fd);
	/* after close too (a write-back cache flushes on close) */
	CHECK(stat(P("f"), &b) == 0 && ts_after(b.st_mtim, a.st_mtim),
	      "mtime after close");

	a = b;
	nap();
	CHECK_OK(truncate(P("f"), 10));
	CHECK(stat(P("f"), &b) == 0 && ts_after(b.st_mtim, a.st_mtim) &&
	          ts_after(b.st_ctim, a.st_ctim),
	      "mtime and ctime change on truncate");

	a = b;
	nap();
	CHECK_OK(chmod(P("f"), 0600));
	CHECK(stat(P("f"), &b) == 0, "stat");
	CHECK(ts_after(b.st_ctim, a.st_ctim), "ctime changes on chmod");
	CHECK(ts_eq(b.st_mtim, a.st_mtim), "mtime unchanged by chmod");

	/* explicit times */
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1200000000;
	ts[1].tv_nsec = 987654321;
	CHECK_OK(utimensat(AT_FDCWD, P("f"), ts, 0));
	CHECK(stat(P("f"), &b) == 0, "stat");
	CHECK(ts_eq(b.st_atim, ts[0]), "atime set: %lld.%09ld",
	      (long long)b.st_atim.tv_sec, b.st_atim.tv_nsec);
	CHECK(ts_eq(b.st_mtim, ts[1]), "mtime set: %lld.%09ld",
	      (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec);
	a = b;
	/* UTIME_OMIT for atime, UTIME_NOW for mtime */
	nap();
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_NOW;
	CHECK_OK(utimensat(AT_FDCWD, P("f"), ts, 0));
	CHECK(stat(P("f"), &b) == 0, "stat");
	CHECK(ts_eq(b.st_atim, a.st_atim), "UTIME_OMIT keeps atime");
	CHECK(b.st_mtim.tv_sec > 1200000000 &&
	          b.st_mtim.tv_sec >= time(NULL) - 60,
	      "UTIME_NOW sets mtime to now: %lld", (long long)b.st_mtim.tv_sec);
	CHECK(ts_after(b.st_ctim, a.st_ctim), "ctime changes on utimens");
	/* both omitted: nothing changes (ctime may or may not) */
	a = b;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	CHECK_OK(utimensat(AT_FDCWD, P("f"), ts, 0));
	CHECK(stat(P("f"), &b) == 0 && ts_eq(b.st_mtim, a.st_mtim) &&
	          ts_eq(b.st_atim, a.st_atim),
	      "UTIME_OMIT twice changes nothing");
	/* NULL: both now */
	CHECK_OK(utimensat(AT_FDCWD, P("f"), NULL, 0));
	CHECK(stat(P("f"), &b) == 0 && b.st_mtim.tv_sec >= time(NULL) - 60 &&
	          b.st_atim.tv_sec >= time(NULL) - 60,
	      "utimensat(NULL) sets now");
	/* futimens on an fd */
	REQUIRE_OK(fd = open(P("f"), O_RDONLY));
	ts[0].tv_sec = 5;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = 6;
	ts[1].tv_nsec = 0;
	CHECK_OK(futimens(fd, ts));
	CHECK(fstat(fd, &b) == 0 && b.st_mtim.tv_sec == 6 &&
	          b.st_atim.tv_sec == 5,
	      "futimens");
	close(fd);

	/* directory times change when entries are added and removed */
	CHECK_OK(mkdir(P("d"), 0755));
	CHECK_OK(stat(P("d"), &a));
	nap();
	REQUIRE_OK(make_file(P("d/x"), 1, 6));
	CHECK(stat(P("d"), &b) == 0 && ts_after(b.st_mtim, a.st_mtim) &&
	          ts_after(b.st_ctim, a.st_ctim),
	      "dir mtime/ctime change on create");
	a = b;
	nap();
	CHECK_OK(unlink(P("d/x")));
	CHECK(stat(P("d"), &b) == 0 && ts_after(b.st_mtim, a.st_mtim),
	      "dir mtime changes on unlink");
	/* rename changes both directories' mtime and ctime */
	struct stat e1, e2;
	CHECK_OK(mkdir(P("e"), 0755));
	REQUIRE_OK(make_file(P("d/y"), 1, 6));
	REQUIRE_OK(stat(P("d"), &a));
	REQUIRE_OK(stat(P("e"), &e1));
	nap();
	CHECK_OK(rename(P("d/y"), P("e/y")));
	CHECK(stat(P("d"), &b) == 0 && ts_after(b.st_mtim, a.st_mtim),
	      "source dir mtime changes on rename");
	CHECK(stat(P("e"), &e2) == 0 && ts_after(e2.st_mtim, e1.st_mtim) &&
	          ts_after(e2.st_ctim, e1.st_ctim),
	      "target dir mtime/ctime change on rename");
	/* link changes the file's ctime */
	REQUIRE_OK(stat(P("e/y"), &a));
	nap();
	CHECK_OK(link(P("e/y"), P("e/y2")));
	CHECK(stat(P("e/y"), &b) == 0 && ts_after(b.st_ctim, a.st_ctim),
	      "ctime changes on link");
}

void t_chmod_chown(void)
{
	struct stat st;
	int fd;

	REQUIRE_OK(make_file(P("f"), 10, 7));
	CHECK_OK(chmod(P("f"), 0640));
	CHECK(stat(P("f"), &st) == 0 && (st.st_mode & 07777) == 0640,
	      "chmod 0640: %o", st.st_mode & 07777);
	REQUIRE_OK(fd = open(P("f"), O_RDONLY));
	CHECK_OK(fchmod(fd, 04755));
	CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 04755,
	      "fchmod 04755: %o", st.st_mode & 07777);
	close(fd);
	if (geteuid() == 0) {
		CHECK_OK(chown(P("f"), 1234, 5678));
		CHECK(stat(P("f"), &st) == 0 && st.st_uid == 1234 &&
		          st.st_gid == 5678,
		      "chown 1234:5678 gave %u:%u", st.st_uid, st.st_gid);
		/* chown clears set-user-ID on a regular file */
		CHECK((st.st_mode & S_ISUID) == 0,
		      "suid cleared by chown: mode %o", st.st_mode & 07777);
		CHECK_OK(chown(P("f"), (uid_t)-1, 42));
		CHECK(stat(P("f"), &st) == 0 && st.st_uid == 1234 &&
		          st.st_gid == 42,
		      "chown -1:42 gave %u:%u", st.st_uid, st.st_gid);
		CHECK_OK(symlink("f", P("l")));
		CHECK_OK(lchown(P("l"), 99, 98));
		CHECK(lstat(P("l"), &st) == 0 && st.st_uid == 99 &&
		          st.st_gid == 98,
		      "lchown on symlink gave %u:%u", st.st_uid, st.st_gid);
		CHECK(stat(P("f"), &st) == 0 && st.st_uid == 1234,
		      "lchown did not follow the link");
		CHECK_OK(mkdir(P("d"), 0700));
		CHECK_OK(chown(P("d"), 7, 8));
		CHECK(stat(P("d"), &st) == 0 && st.st_uid == 7 &&
		          st.st_gid == 8,
		      "chown dir");
	}
	CHECK_ERR(chmod(P("missing"), 0644), ENOENT);
}

void t_statfs(void)
{
	struct statvfs a, b;
	int fd;

	REQUIRE_OK(statvfs(base_dir, &a));
	CHECK(a.f_blocks > 0, "f_blocks %llu", (unsigned long long)a.f_blocks);
	CHECK(a.f_bfree <= a.f_blocks, "f_bfree %llu > f_blocks %llu",
	      (unsigned long long)a.f_bfree, (unsigned long long)a.f_blocks);
	CHECK(a.f_bavail <= a.f_bfree, "f_bavail > f_bfree");
	CHECK(a.f_bsize > 0 && a.f_frsize > 0, "block sizes");
	CHECK(a.f_namemax >= 255, "f_namemax %lu", a.f_namemax);
	CHECK(a.f_bfree * a.f_frsize >= 8ull * MIB, "at least 8 MiB free");

	/* writing 16 MiB (and syncing it) lowers the free space */
	uint8_t *buf = malloc(MIB);
	REQUIRE(buf, "malloc");
	REQUIRE_OK(fd = open(P("fill"), O_CREAT | O_WRONLY, 0644));
	for (int i = 0; i < 16; i++) {
		fill_pattern(buf, MIB, (uint64_t)i * MIB, 26);
		CHECK(write_full(fd, buf, MIB, (off_t)i * MIB) == MIB,
		      "write MiB %d", i);
	}
	CHECK_OK(fsync(fd));
	close(fd);
	free(buf);
	REQUIRE_OK(statvfs(base_dir, &b));
	long long before = (long long)(a.f_bfree * a.f_frsize);
	long long after = (long long)(b.f_bfree * b.f_frsize);
	/* other writers on a shared file system may interfere: only a rough
	 * check on native directories */
	CHECK(before - after >= 8ll * MIB,
	      "free space went from %lld to %lld after writing 16 MiB", before,
	      after);
	/* truncating to 0 gives the space back, and st_blocks is 0 */
	CHECK_OK(truncate(P("fill"), 0));
	struct stat st;
	CHECK(stat(P("fill"), &st) == 0 && st.st_blocks == 0,
	      "st_blocks %lld after truncate to 0", (long long)st.st_blocks);
	struct statvfs c;
	REQUIRE_OK(statvfs(base_dir, &c));
	long long again = (long long)(c.f_bfree * c.f_frsize);
	CHECK(again - after >= 8ll * MIB,
	      "free space %lld -> %lld after truncating 16 MiB to 0", after,
	      again);
	CHECK_OK(unlink(P("fill")));
	CHECK_OK(fstatvfs(fd = open(base_dir, O_RDONLY), &b));
	close(fd);
}

void t_access(void)
{
	REQUIRE_OK(make_file(P("f"), 1, 27));
	CHECK_OK(chmod(P("f"), 0644));
	CHECK_OK(access(P("f"), F_OK));
	CHECK_OK(access(P("f"), R_OK | W_OK));
	CHECK_ERR(access(P("missing"), F_OK), ENOENT);
	if (geteuid() == 0) {
		/* root may execute only when some x bit is set */
		CHECK_ERR(access(P("f"), X_OK), EACCES);
		CHECK_OK(chmod(P("f"), 0100));
		CHECK_OK(access(P("f"), X_OK));
		CHECK_OK(chmod(P("f"), 0));
		CHECK_OK(access(P("f"), R_OK | W_OK));
	} else {
		CHECK_OK(chmod(P("f"), 0400));
		CHECK_ERR(access(P("f"), W_OK), EACCES);
	}
	CHECK_OK(access(base_dir, R_OK | W_OK | X_OK));
}

void t_xattr(void)
{
	char buf[8192];
	ssize_t n;

	REQUIRE_OK(make_file(P("f"), 10, 30));
	CHECK_OK(setxattr(P("f"), "user.a", "alpha", 5, 0));
	CHECK_OK(setxattr(P("f"), "user.b", "", 0, 0));
	n = getxattr(P("f"), "user.a", buf, sizeof(buf));
	CHECK(n == 5 && !memcmp(buf, "alpha", 5), "get user.a: %zd", n);
	CHECK(getxattr(P("f"), "user.a", NULL, 0) == 5, "size query");
	CHECK(getxattr(P("f"), "user.b", buf, sizeof(buf)) == 0, "empty value");
	CHECK_ERR(getxattr(P("f"), "user.a", buf, 2), ERANGE);
	CHECK_ERR(getxattr(P("f"), "user.none", buf, sizeof(buf)), ENODATA);
	CHECK_ERR(setxattr(P("f"), "user.a", "x", 1, XATTR_CREATE), EEXIST);
	CHECK_ERR(setxattr(P("f"), "user.c", "x", 1, XATTR_REPLACE), ENODATA);
	CHECK_OK(setxattr(P("f"), "user.a", "beta", 4, XATTR_REPLACE));
	n = getxattr(P("f"), "user.a", buf, sizeof(buf));
	CHECK(n == 4 && !memcmp(buf, "beta", 4), "replaced value: %zd", n);
	CHECK_OK(setxattr(P("f"), "user.c", "gamma", 5, XATTR_CREATE));

	/* binary and large values */
	char bin[4000];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char)(i * 7);
	CHECK_OK(setxattr(P("f"), "user.bin", bin, sizeof(bin), 0));
	n = getxattr(P("f"), "user.bin", buf, sizeof(buf));
	CHECK(n == sizeof(bin) && !memcmp(buf, bin, sizeof(bin)),
	      "binary value: %zd", n);

	/* list */
	n = listxattr(P("f"), NULL, 0);
	CHECK(n > 0, "list size query %zd", n);
	n = listxattr(P("f"), buf, sizeof(buf));
	int found = 0;
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1) {
		if (!strcmp(buf + i, "user.a") || !strcmp(buf + i, "user.b") ||
		    !strcmp(buf + i, "user.c") || !strcmp(buf + i, "user.bin"))
			found++;
	}
	CHECK(found == 4, "listxattr found %d of 4 names", found);
	CHECK_ERR(listxattr(P("f"), buf, 3), ERANGE);

	/* remove */
	CHECK_OK(removexattr(P("f"), "user.c"));
	CHECK_ERR(getxattr(P("f"), "user.c", buf, sizeof(buf)), ENODATA);
	CHECK_ERR(removexattr(P("f"), "user.c"), ENODATA);
	n = listxattr(P("f"), buf, sizeof(buf));
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(buf + i) + 1)
		CHECK(strcmp(buf + i, "user.c") != 0, "user.c still listed");

	/* fd variants, directories, symlinks */
	int fd;
	REQUIRE_OK(fd = open(P("f"), O_RDONLY));
	CHECK_OK(fsetxattr(fd, "user.fd", "1", 1, 0));
	CHECK(fgetxattr(fd, "user.fd", buf, sizeof(buf)) == 1, "fgetxattr");
	close(fd);
	CHECK_OK(mkdir(P("d"), 0755));
	CHECK_OK(setxattr(P("d"), "user.dir", "dv", 2, 0));
	CHECK(getxattr(P("d"), "user.dir", buf, sizeof(buf)) == 2, "dir xattr");
	CHECK_OK(symlink("f", P("l")));
	/* user.* xattrs are not allowed on symlinks (the VFS says EPERM) */
	CHECK_ERR(lsetxattr(P("l"), "user.x", "1", 1, 0), EPERM);
	CHECK(getxattr(P("l"), "user.a", buf, sizeof(buf)) == 4,
	      "getxattr follows a symlink");
	/* xattrs follow the inode through rename and hard links */
	CHECK_OK(rename(P("f"), P("d/g")));
	CHECK(getxattr(P("d/g"), "user.a", buf, sizeof(buf)) == 4,
	      "xattr after rename");
	CHECK_OK(link(P("d/g"), P("h")));
	CHECK_OK(setxattr(P("h"), "user.viah", "1", 1, 0));
	CHECK(getxattr(P("d/g"), "user.viah", buf, sizeof(buf)) == 1,
	      "xattr set via a hard link seen via the other name");
	CHECK_ERR(getxattr(P("missing"), "user.a", buf, sizeof(buf)), ENOENT);
	/* a name longer than XATTR_NAME_MAX (255) is ERANGE */
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	memcpy(longname, "user.", 5);
	longname[sizeof(longname) - 1] = 0;
	CHECK_ERR(setxattr(P("h"), longname, "1", 1, 0), ERANGE);
	/* unknown namespaces are EOPNOTSUPP */
	CHECK_ERR(setxattr(P("h"), "bogus.name", "1", 1, 0), EOPNOTSUPP);
}

/* cp -a, tar and rsync set the mode of a copy by writing the ACL xattr
 * system.posix_acl_access (libacl's acl_set_fd) and call chmod only when
 * that fails.  A file system must either refuse the name (EOPNOTSUPP) or
 * apply the ACL's permission bits to the mode, as ext4 and tmpfs do. */
void t_acl(void)
{
	/* version 2; USER_OBJ rw-, GROUP_OBJ r--, OTHER r-- (mode 0644) */
	static const unsigned char acl[28] = {
	    2,    0, 0, 0,                         /* version */
	    1,    0, 6, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_USER_OBJ rw */
	    4,    0, 4, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_GROUP_OBJ r */
	    0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, /* ACL_OTHER r */
	};
	struct stat st;
	int fd, ret;

	REQUIRE_OK(fd = open(P("f"), O_CREAT | O_EXCL | O_WRONLY, 0600));
	errno = 0;
	ret = fsetxattr(fd, "system.posix_acl_access", acl, sizeof(acl), 0);
	int set_errno = errno;
	if (ret < 0) {
		CHECK(set_errno == EOPNOTSUPP,
		      "set ACL: want success or EOPNOTSUPP, got %s",
		      strerrorname_np(set_errno));
	} else {
		CHECK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0644,
		      "ACL accepted but mode is %o, want 0644 (cp -a leaves "
		      "copies at 0600)",
		      st.st_mode & 07777);
	}
	close(fd);
	CHECK(stat(P("f"), &st) == 0 &&
	          (ret < 0 || (st.st_mode & 07777) == 0644),
	      "mode after close %o", st.st_mode & 07777);
	/* the same on a directory (cp -a of a tree) */
	CHECK_OK(mkdir(P("d"), 0700));
	ret = setxattr(P("d"), "system.posix_acl_access", acl, sizeof(acl), 0);
	if (ret == 0)
		CHECK(stat(P("d"), &st) == 0 && (st.st_mode & 07777) == 0644,
		      "dir ACL accepted but mode is %o, want 0644",
		      st.st_mode & 07777);
}
