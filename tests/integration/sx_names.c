/* syscall_exerciser: the namespace: mkdir/rmdir, unlink of open files, rename,
 * symlinks, hard links, readdir, seekdir, name and path length limits. */
#include "sx_i.h"

void t_dirs(void)
{
	struct stat st;

	CHECK_OK(mkdir(P("d"), 0750));
	CHECK_ERR(mkdir(P("d"), 0750), EEXIST);
	CHECK(stat(P("d"), &st) == 0 && S_ISDIR(st.st_mode) &&
	          (st.st_mode & 07777) == 0750,
	      "mkdir mode %o", st.st_mode);
	CHECK_OK(mkdir(P("d/sub"), 0755));
	REQUIRE_OK(make_file(P("d/sub/f"), 5, 9));
	CHECK_ERR(rmdir(P("d")), ENOTEMPTY);
	CHECK_ERR(rmdir(P("d/sub")), ENOTEMPTY);
	CHECK_ERR(rmdir(P("missing")), ENOENT);
	CHECK_ERR(rmdir(P("d/sub/f")), ENOTDIR);
	CHECK_ERR(mkdir(P("d/sub/f/x"), 0755), ENOTDIR);
	CHECK_ERR(mkdir(P("missing/x"), 0755), ENOENT);
	CHECK_ERR(unlink(P("d")), EISDIR);
	CHECK_ERR(rmdir(P("d/.")), EINVAL);
	CHECK_OK(unlink(P("d/sub/f")));
	CHECK_ERR(unlink(P("d/sub/f")), ENOENT);
	CHECK_OK(rmdir(P("d/sub")));
	CHECK_ERR(stat(P("d/sub"), &st), ENOENT);
	CHECK_OK(rmdir(P("d")));
	CHECK_ERR(stat(P("d"), &st), ENOENT);
	/* a name can be reused after removal, as a file */
	CHECK_OK(make_file(P("d"), 3, 9));
	CHECK(stat(P("d"), &st) == 0 && S_ISREG(st.st_mode), "reuse name");
	/* mkdir honours the umask and keeps sticky/sgid bits */
	mode_t old = umask(027);
	CHECK_OK(mkdir(P("u"), 0777));
	umask(old);
	CHECK(stat(P("u"), &st) == 0 && (st.st_mode & 0777) == 0750,
	      "mkdir under umask 027: %o", st.st_mode & 07777);
	CHECK_OK(chmod(P("u"), 01777));
	CHECK(stat(P("u"), &st) == 0 && (st.st_mode & 07777) == 01777,
	      "sticky dir %o", st.st_mode & 07777);
}

void t_unlink_open(void)
{
	char buf[32];
	struct stat st;
	int fd;

	REQUIRE_OK(make_file(P("f"), 100, 10));
	REQUIRE_OK(fd = open(P("f"), O_RDWR));
	CHECK_OK(unlink(P("f")));
	CHECK_ERR(stat(P("f"), &st), ENOENT);
	CHECK(fstat(fd, &st) == 0 && st.st_nlink == 0 && st.st_size == 100,
	      "fstat after unlink: nlink %ld size %lld", (long)st.st_nlink,
	      (long long)st.st_size);
	CHECK(pread(fd, buf, 10, 50) == 10 &&
	          check_pattern((uint8_t *)buf, 10, 50, 10) < 0,
	      "read after unlink");
	CHECK(pwrite(fd, "still here", 10, 200) == 10, "write after unlink");
	CHECK(pread(fd, buf, 10, 200) == 10 && !memcmp(buf, "still here", 10),
	      "read back after unlink");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 210, "size 210: %lld",
	      (long long)st.st_size);
	CHECK_OK(ftruncate(fd, 20));
	CHECK_OK(fsync(fd));
	/* the name is free for a new file meanwhile */
	REQUIRE_OK(make_file(P("f"), 5, 11));
	CHECK(file_has_pattern(P("f"), 5, 11), "new file under the old name");
	CHECK(pread(fd, buf, 32, 0) == 20, "old inode still 20 bytes");
	CHECK_OK(close(fd));
	CHECK(file_has_pattern(P("f"), 5, 11), "new file intact after close");

	/* unlink of a directory's open fd: rmdir'd dir stays readable */
	CHECK_OK(mkdir(P("d"), 0755));
	DIR *d = opendir(P("d"));
	REQUIRE(d, "opendir");
	CHECK_OK(rmdir(P("d")));
	errno = 0;
	struct dirent *e;
	int others = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			others++;
	int readdir_errno = errno;
	CHECK(readdir_errno == 0 && others == 0, "readdir of removed dir");
	CHECK_ERR(openat(dirfd(d), "new", O_CREAT | O_WRONLY, 0644), ENOENT);
	closedir(d);
}

void t_rename(void)
{
	struct stat st, st2;
	char buf[64];
	int fd;

	/* simple rename keeps the inode number */
	REQUIRE_OK(make_file(P("a"), 1000, 12));
	REQUIRE_OK(stat(P("a"), &st));
	CHECK_OK(rename(P("a"), P("b")));
	CHECK_ERR(stat(P("a"), &st2), ENOENT);
	CHECK(stat(P("b"), &st2) == 0 && st2.st_ino == st.st_ino,
	      "st_ino stable across rename: %llu -> %llu",
	      (unsigned long long)st.st_ino, (unsigned long long)st2.st_ino);
	CHECK(file_has_pattern(P("b"), 1000, 12), "content after rename");

	/* over an existing file, which is open: the fd keeps the old data */
	REQUIRE_OK(make_file(P("c"), 500, 13));
	REQUIRE_OK(fd = open(P("c"), O_RDONLY));
	CHECK_OK(rename(P("b"), P("c")));
	CHECK_ERR(stat(P("b"), &st2), ENOENT);
	CHECK(stat(P("c"), &st2) == 0 && st2.st_ino == st.st_ino,
	      "target has the source's inode");
	CHECK(file_has_pattern(P("c"), 1000, 12), "target has source data");
	CHECK(read_full(fd, buf, 64, 0) == 64 &&
	          check_pattern((uint8_t *)buf, 64, 0, 13) < 0,
	      "open replaced file still reads its data");
	close(fd);

	/* across directories */
	CHECK_OK(mkdir(P("d1"), 0755));
	CHECK_OK(mkdir(P("d2"), 0755));
	CHECK_OK(rename(P("c"), P("d1/x")));
	CHECK_OK(rename(P("d1/x"), P("d2/y")));
	CHECK(stat(P("d2/y"), &st2) == 0 && st2.st_ino == st.st_ino,
	      "inode after cross-dir rename");
	CHECK(file_has_pattern(P("d2/y"), 1000, 12), "content cross-dir");
	CHECK_ERR(stat(P("d1/x"), &st2), ENOENT);

	/* RENAME_NOREPLACE */
	REQUIRE_OK(make_file(P("n1"), 10, 14));
	REQUIRE_OK(make_file(P("n2"), 20, 15));
	CHECK_ERR(
	    renameat2(AT_FDCWD, P("n1"), AT_FDCWD, P("n2"), RENAME_NOREPLACE),
	    EEXIST);
	CHECK(file_has_pattern(P("n1"), 10, 14) &&
	          file_has_pattern(P("n2"), 20, 15),
	      "NOREPLACE failure changed nothing");
	CHECK_OK(
	    renameat2(AT_FDCWD, P("n1"), AT_FDCWD, P("n3"), RENAME_NOREPLACE));
	CHECK(file_has_pattern(P("n3"), 10, 14), "NOREPLACE to a new name");

	/* RENAME_EXCHANGE, through the raw syscall as glibc-less tools do */
	struct stat s3, s2;
	REQUIRE_OK(stat(P("n3"), &s3));
	REQUIRE_OK(stat(P("n2"), &s2));
	CHECK(syscall(SYS_renameat2, AT_FDCWD, P("n3"), AT_FDCWD, P("n2"),
	              RENAME_EXCHANGE) == 0,
	      "renameat2 RENAME_EXCHANGE");
	CHECK(file_has_pattern(P("n2"), 10, 14) &&
	          file_has_pattern(P("n3"), 20, 15),
	      "contents exchanged");
	CHECK(stat(P("n2"), &st2) == 0 && st2.st_ino == s3.st_ino,
	      "inodes exchanged");
	CHECK_ERR(syscall(SYS_renameat2, AT_FDCWD, P("n3"), AT_FDCWD,
	                  P("nothere"), RENAME_EXCHANGE),
	          ENOENT);
	/* exchange a file with a directory, across directories */
	CHECK(syscall(SYS_renameat2, AT_FDCWD, P("n2"), AT_FDCWD, P("d1"),
	              RENAME_EXCHANGE) == 0,
	      "exchange file and directory");
	CHECK(stat(P("n2"), &st2) == 0 && S_ISDIR(st2.st_mode),
	      "n2 is the directory now");
	CHECK(file_has_pattern(P("d1"), 10, 14), "d1 is the file now");
	CHECK_OK(rename(P("n2"), P("d1x")));
	CHECK_OK(unlink(P("d1")));

	/* directory rename with contents, then lookups inside */
	CHECK_OK(mkdir(P("top"), 0755));
	CHECK_OK(mkdir(P("top/mid"), 0755));
	REQUIRE_OK(make_file(P("top/mid/deep"), 3000, 16));
	REQUIRE_OK(make_file(P("top/f"), 300, 17));
	REQUIRE_OK(stat(P("top/mid/deep"), &st));
	CHECK_OK(rename(P("top"), P("d2/top2")));
	CHECK_ERR(stat(P("top/mid/deep"), &st2), ENOENT);
	CHECK(stat(P("d2/top2/mid/deep"), &st2) == 0 && st2.st_ino == st.st_ino,
	      "file inside renamed dir: same inode");
	CHECK(file_has_pattern(P("d2/top2/mid/deep"), 3000, 16),
	      "content inside renamed dir");
	CHECK(file_has_pattern(P("d2/top2/f"), 300, 17),
	      "content inside renamed dir (2)");
	/* new entries in the renamed dir, and the old name is reusable */
	CHECK_OK(make_file(P("d2/top2/mid/new"), 7, 18));
	CHECK_OK(mkdir(P("top"), 0755));
	CHECK_OK(make_file(P("top/mid"), 9, 19));
	CHECK(file_has_pattern(P("d2/top2/mid/new"), 7, 18) &&
	          file_has_pattern(P("top/mid"), 9, 19),
	      "old and new dir names independent");
	int dups;
	CHECK(count_entries(P("d2/top2/mid"), &dups) == 2,
	      "renamed dir lists 2 entries");

	/* rename dir over a non-empty dir, over an empty one */
	CHECK_OK(mkdir(P("e1"), 0755));
	REQUIRE_OK(make_file(P("e1/x"), 1, 20));
	CHECK_OK(mkdir(P("full"), 0755));
	REQUIRE_OK(make_file(P("full/y"), 1, 21));
	CHECK_ERR(rename(P("e1"), P("full")), ENOTEMPTY);
	CHECK_OK(mkdir(P("empty"), 0755));
	CHECK_OK(rename(P("e1"), P("empty")));
	CHECK(file_has_pattern(P("empty/x"), 1, 20), "dir over empty dir");
	CHECK_ERR(stat(P("e1"), &st2), ENOENT);

	/* into its own subdirectory; file over dir; dir over file */
	CHECK_OK(mkdir(P("empty/sub"), 0755));
	CHECK_ERR(rename(P("empty"), P("empty/sub/inside")), EINVAL);
	CHECK_ERR(rename(P("empty"), P("empty/inside")), EINVAL);
	CHECK_ERR(rename(P("full/y"), P("empty")), EISDIR);
	CHECK_ERR(rename(P("empty"), P("full/y")), ENOTDIR);
	CHECK_ERR(rename(P("missing"), P("whatever")), ENOENT);
	CHECK_ERR(rename(P("full/y"), P("missing/y")), ENOENT);
	/* rename to itself is a no-op */
	CHECK_OK(rename(P("full/y"), P("full/y")));
	CHECK(file_has_pattern(P("full/y"), 1, 21), "self rename");

	/* hard links: renaming one name onto the other is a no-op */
	CHECK_OK(link(P("full/y"), P("full/y2")));
	CHECK_OK(rename(P("full/y"), P("full/y2")));
	CHECK(stat(P("full/y"), &st2) == 0 && stat(P("full/y2"), &st) == 0,
	      "rename between hard links of one inode keeps both names");
	(void)buf;
}

void t_symlink(void)
{
	char buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	REQUIRE_OK(make_file(P("target"), 50, 22));
	CHECK_OK(symlink("target", P("l")));
	n = readlink(P("l"), buf, sizeof(buf));
	CHECK(n == 6 && !memcmp(buf, "target", 6), "readlink: %zd", n);
	CHECK(lstat(P("l"), &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 6,
	      "lstat symlink: mode %o size %lld", st.st_mode,
	      (long long)st.st_size);
	CHECK(stat(P("l"), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 50,
	      "stat follows");
	CHECK(file_has_pattern(P("l"), 50, 22), "read through symlink");
	CHECK_ERR(symlink("x", P("l")), EEXIST);
	CHECK_ERR(readlink(P("target"), buf, sizeof(buf)), EINVAL);
	/* readlink truncates silently to the buffer */
	CHECK(readlink(P("l"), buf, 3) == 3 && !memcmp(buf, "tar", 3),
	      "readlink short buffer");
	/* dangling, absolute, and long targets */
	CHECK_OK(symlink("nowhere/at/all", P("dangling")));
	CHECK_ERR(stat(P("dangling"), &st), ENOENT);
	CHECK(lstat(P("dangling"), &st) == 0 && S_ISLNK(st.st_mode),
	      "lstat dangling");
	CHECK_ERR(open(P("dangling"), O_RDONLY), ENOENT);
	char longt[4000];
	memset(longt, 'x', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = 0;
	CHECK_OK(symlink(longt, P("long")));
	n = readlink(P("long"), buf, sizeof(buf));
	CHECK(n == (ssize_t)strlen(longt) && !memcmp(buf, longt, (size_t)n),
	      "long symlink target: %zd", n);
	CHECK_OK(symlink(P("target"), P("abs")));
	CHECK(file_has_pattern(P("abs"), 50, 22), "absolute symlink");
	/* symlink to a dir, and O_NOFOLLOW */
	CHECK_OK(mkdir(P("dir"), 0755));
	CHECK_OK(symlink("dir", P("dl")));
	CHECK_OK(make_file(P("dl/inside"), 4, 23));
	CHECK(file_has_pattern(P("dir/inside"), 4, 23), "via dir symlink");
	CHECK_ERR(open(P("l"), O_RDONLY | O_NOFOLLOW), ELOOP);
	/* a loop */
	CHECK_OK(symlink("loop2", P("loop1")));
	CHECK_OK(symlink("loop1", P("loop2")));
	CHECK_ERR(stat(P("loop1"), &st), ELOOP);
	/* unlink removes the link, not the target */
	CHECK_OK(unlink(P("l")));
	CHECK(file_has_pattern(P("target"), 50, 22), "target after unlink");
}

void t_link(void)
{
	struct stat a, b;
	int fd;

	REQUIRE_OK(make_file(P("a"), 100, 24));
	CHECK_OK(mkdir(P("d"), 0755));
	REQUIRE_OK(link(P("a"), P("d/b")));
	CHECK(stat(P("a"), &a) == 0 && stat(P("d/b"), &b) == 0, "stat");
	CHECK(a.st_ino == b.st_ino, "same st_ino: %llu vs %llu",
	      (unsigned long long)a.st_ino, (unsigned long long)b.st_ino);
	CHECK(a.st_nlink == 2 && b.st_nlink == 2, "nlink 2: %ld %ld",
	      (long)a.st_nlink, (long)b.st_nlink);
	/* changes through one name are visible through the other */
	REQUIRE_OK(fd = open(P("d/b"), O_WRONLY));
	CHECK(pwrite(fd, "LINKED", 6, 200) == 6, "write via b");
	close(fd);
	CHECK(stat(P("a"), &a) == 0 && a.st_size == 206, "size via a: %lld",
	      (long long)a.st_size);
	char buf[8];
	REQUIRE_OK(fd = open(P("a"), O_RDONLY));
	CHECK(pread(fd, buf, 6, 200) == 6 && !memcmp(buf, "LINKED", 6),
	      "data via a");
	close(fd);
	CHECK_OK(chmod(P("a"), 0600));
	CHECK(stat(P("d/b"), &b) == 0 && (b.st_mode & 07777) == 0600,
	      "chmod via a seen via b: %o", b.st_mode & 07777);
	CHECK_OK(truncate(P("d/b"), 50));
	CHECK(stat(P("a"), &a) == 0 && a.st_size == 50, "truncate via b");
	/* a third link, then unlinks */
	CHECK_OK(link(P("d/b"), P("c")));
	CHECK(stat(P("a"), &a) == 0 && a.st_nlink == 3, "nlink 3: %ld",
	      (long)a.st_nlink);
	CHECK_OK(unlink(P("a")));
	CHECK(stat(P("d/b"), &b) == 0 && b.st_nlink == 2,
	      "nlink 2 after "
	      "unlink: %ld",
	      (long)b.st_nlink);
	CHECK(file_has_pattern(P("c"), 50, 24), "data after unlink of a");
	CHECK_OK(rename(P("c"), P("d/c2")));
	CHECK(stat(P("d/c2"), &a) == 0 && a.st_ino == b.st_ino &&
	          a.st_nlink == 2,
	      "renamed link keeps inode and nlink");
	CHECK_OK(unlink(P("d/b")));
	CHECK(stat(P("d/c2"), &a) == 0 && a.st_nlink == 1, "nlink 1");
	CHECK(file_has_pattern(P("d/c2"), 50, 24), "data via last name");
	/* errors */
	CHECK_ERR(link(P("d"), P("dl")), EPERM);
	REQUIRE_OK(make_file(P("e"), 1, 25));
	CHECK_ERR(link(P("e"), P("d/c2")), EEXIST);
	CHECK_ERR(link(P("missing"), P("x")), ENOENT);
	/* link of a symlink links the symlink itself */
	CHECK_OK(symlink("e", P("s")));
	CHECK_OK(link(P("s"), P("s2")));
	CHECK(lstat(P("s2"), &a) == 0 && S_ISLNK(a.st_mode), "link symlink");
}

/* telldir/seekdir: a position taken mid-listing returns the same names. */
void t_seekdir(void)
{
	enum { N = 300 };
	char name[64], first[N][256];
	struct dirent *e;
	long pos = -1;
	int n = 0, m = 0;
	DIR *d;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "e%04d", i);
		REQUIRE_OK(make_file(P(name), 0, 40));
	}
	REQUIRE(d = opendir(base_dir), "opendir");
	while ((e = readdir(d))) {
		/* telldir after the 100th entry is the position of the next */
		if (n > 100 && n - 101 < N)
			snprintf(first[n - 101], sizeof(first[0]), "%s",
			         e->d_name);
		n++;
		if (n == 101)
			pos = telldir(d);
	}
	CHECK(n == N + 2, "listed %d", n);
	REQUIRE(pos != -1, "telldir");
	seekdir(d, pos);
	while ((e = readdir(d))) {
		if (m < N && m + 101 < n)
			CHECK(!strcmp(first[m], e->d_name),
			      "after seekdir entry %d is %s, was %s", m,
			      e->d_name, first[m]);
		m++;
	}
	CHECK(m == n - 101, "after seekdir %d entries, want %d", m, n - 101);
	closedir(d);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void t_readdir(void)
{
	enum { N = 1200 };
	char name[320];
	char **seen = calloc(N + 8, sizeof(char *));
	int nseen = 0, dots = 0;
	struct dirent *e;
	DIR *d;

	REQUIRE(seen, "calloc");
	CHECK_OK(mkdir(P("many"), 0755));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "many/entry-%05d-%s", i,
		         i % 3 ? "with-a-longer-name-to-fill-pages" : "s");
		int fd = open(P(name), O_CREAT | O_WRONLY, 0644);
		REQUIRE(fd >= 0, "create %s", name);
		close(fd);
	}
	CHECK_OK(mkdir(P("many/subdir"), 0755));
	REQUIRE(d = opendir(P("many")), "opendir");
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
			dots++;
			continue;
		}
		if (nseen < N + 8)
			seen[nseen++] = strdup(e->d_name);
		/* d_type is optional (DT_UNKNOWN); when given it must be
		 * right */
		if (!strcmp(e->d_name, "subdir"))
			CHECK(e->d_type == DT_DIR || e->d_type == DT_UNKNOWN,
			      "d_type of subdir %d", e->d_type);
		else
			CHECK(e->d_type == DT_REG || e->d_type == DT_UNKNOWN,
			      "d_type of %s: %d", e->d_name, e->d_type);
		/* d_ino matches st_ino (find and du rely on it) */
		if (nseen % 97 == 1) {
			struct stat st;
			snprintf(name, sizeof(name), "many/%s", e->d_name);
			CHECK(lstat(P(name), &st) == 0 && st.st_ino == e->d_ino,
			      "d_ino %llu vs st_ino %llu of %s",
			      (unsigned long long)e->d_ino,
			      (unsigned long long)st.st_ino, e->d_name);
		}
	}
	int readdir_errno = errno;
	CHECK(readdir_errno == 0, "readdir ended with error %d", readdir_errno);
	CHECK(dots == 2, ". and .. listed %d times", dots);
	CHECK(nseen == N + 1, "listed %d entries, want %d", nseen, N + 1);
	qsort(seen, (size_t)nseen, sizeof(char *), name_cmp);
	for (int i = 1; i < nseen; i++)
		CHECK(strcmp(seen[i - 1], seen[i]) != 0, "duplicate entry %s",
		      seen[i]);
	for (int i = 0; i < nseen; i++)
		free(seen[i]);

	/* ".." names the directory's parent, also after the directory
	 * moved (the old parent must not linger) */
	{
		struct stat p1, p2;
		DIR *sd;
		struct dirent *se;
		ino_t dotdot = 0;

		CHECK_OK(mkdir(P("up1"), 0755));
		CHECK_OK(mkdir(P("up2"), 0755));
		CHECK_OK(mkdir(P("up1/sub"), 0755));
		if ((sd = opendir(P("up1/sub")))) { /* the kernel knows it */
			while (readdir(sd))
				;
			closedir(sd);
		}
		CHECK_OK(rename(P("up1/sub"), P("up2/sub")));
		CHECK_OK(stat(P("up1"), &p1));
		CHECK_OK(stat(P("up2"), &p2));
		REQUIRE(sd = opendir(P("up2/sub")), "opendir up2/sub");
		while ((se = readdir(sd)))
			if (!strcmp(se->d_name, ".."))
				dotdot = se->d_ino;
		closedir(sd);
		CHECK(dotdot == p2.st_ino,
		      ".. of a moved directory: ino %llu, parent %llu (old "
		      "parent %llu)",
		      (unsigned long long)dotdot,
		      (unsigned long long)p2.st_ino,
		      (unsigned long long)p1.st_ino);
	}

	/* rewinddir gives the same count */
	rewinddir(d);
	int again = 0;
	while ((e = readdir(d)))
		again++;
	CHECK(again == N + 3, "after rewinddir %d entries", again);
	closedir(d);

	/* readdir while deleting every entry as it is returned: every entry
	 * present at opendir and not yet deleted must be returned once */
	REQUIRE(d = opendir(P("many")), "opendir");
	nseen = 0;
	int removed = 0;
	errno = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(name, sizeof(name), "many/%s", e->d_name);
		if (nseen < N + 8)
			seen[nseen++] = strdup(e->d_name);
		int r = e->d_type == DT_DIR || !strcmp(e->d_name, "subdir")
		            ? rmdir(P(name))
		            : unlink(P(name));
		if (r == 0)
			removed++;
		else
			CHECK(0, "remove %s while listing", e->d_name);
	}
	closedir(d);
	qsort(seen, (size_t)nseen, sizeof(char *), name_cmp);
	for (int i = 1; i < nseen; i++)
		CHECK(strcmp(seen[i - 1], seen[i]) != 0,
		      "duplicate while deleting %s", seen[i]);
	for (int i = 0; i < nseen; i++)
		free(seen[i]);
	int dups;
	int left = count_entries(P("many"), &dups);
	CHECK(left == 0, "%d entries never listed while deleting", left);
	CHECK(removed == N + 1, "removed %d of %d", removed, N + 1);
	CHECK_OK(rmdir(P("many")));
	free(seen);
}

void t_names(void)
{
	char name[300], path[PATH_MAX];
	struct stat st;
	int fd;

	memset(name, 'n', 255);
	name[255] = 0;
	path_of(path, name);
	REQUIRE_OK(fd = open(path, O_CREAT | O_WRONLY, 0644));
	close(fd);
	CHECK(stat(path, &st) == 0, "255-byte name");
	int dups;
	CHECK(count_entries(base_dir, &dups) == 1, "255-byte name listed");
	CHECK_OK(unlink(path));
	memset(name, 'n', 256);
	name[256] = 0;
	path_of(path, name);
	/* FUSE: the kernel does not check; the file system must */
	CHECK_ERR(open(path, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
	CHECK_ERR(stat(path, &st), ENAMETOOLONG);
	CHECK_ERR(mkdir(path, 0755), ENAMETOOLONG);
	CHECK_ERR(symlink("x", path), ENAMETOOLONG);
	REQUIRE_OK(make_file(P("short"), 1, 31));
	CHECK_ERR(rename(P("short"), path), ENAMETOOLONG);
	CHECK_ERR(link(P("short"), path), ENAMETOOLONG);
	CHECK(count_entries(base_dir, &dups) == 1, "nothing created");
	/* odd but legal names */
	const char *odd[] = {" leading space",
	                     "trailing space ",
	                     "tab\there",
	                     "newline\nhere",
	                     "utf8-\xc3\xa9\xe2\x82\xac",
	                     "-dash",
	                     "..dots",
	                     "a=b;c'd\"e"};
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		path_of(path, odd[i]);
		CHECK(make_file(path, 3, 32) == 0 &&
		          file_has_pattern(path, 3, 32),
		      "odd name %zu", i);
	}
}

void t_deep_path(void)
{
	char path[PATH_MAX + 16];
	struct stat st;
	size_t len = strlen(base_dir);
	int depth = 0;

	REQUIRE(len < 3000, "base dir too long");
	memcpy(path, base_dir, len + 1);
	/* directories of 200-byte names until the path is about 3900 long */
	while (len + 1 + 200 < 3900) {
		path[len++] = '/';
		memset(path + len, 'a' + depth % 26, 200);
		len += 200;
		path[len] = 0;
		REQUIRE(mkdir(path, 0755) == 0, "mkdir at depth %d (len %zu)",
		        depth, len);
		depth++;
	}
	/* a final file name that makes the path exactly 4095 bytes */
	size_t fname = 4095 - len - 1;
	REQUIRE(fname >= 1 && fname <= 255, "file name length %zu", fname);
	path[len] = '/';
	memset(path + len + 1, 'z', fname);
	path[4095] = 0;
	REQUIRE(strlen(path) == 4095, "path length %zu", strlen(path));
	CHECK(make_file(path, 1000, 33) == 0, "create 4095-byte path");
	CHECK(stat(path, &st) == 0 && st.st_size == 1000,
	      "stat 4095-byte path");
	CHECK(file_has_pattern(path, 1000, 33), "read 4095-byte path");
	/* one byte more is ENAMETOOLONG (the kernel's PATH_MAX) */
	path[4095] = 'z';
	path[4096] = 0;
	CHECK_ERR(stat(path, &st), ENAMETOOLONG);
	path[4095] = 0;
	/* a relative walk from a dir fd reaches the same file */
	int dfd = open(base_dir, O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0, "open base");
	CHECK(fstatat(dfd, path + strlen(base_dir) + 1, &st, 0) == 0 &&
	          st.st_size == 1000,
	      "fstatat relative deep path");
	close(dfd);
	CHECK_OK(unlink(path));
}
