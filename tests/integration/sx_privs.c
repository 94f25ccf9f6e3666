/* syscall_exerciser: what privileges do: permissions for another user,
 * clearing of suid/sgid/capabilities (killpriv), set-group-ID directories. */
#include "sx_i.h"

/* As another user (nobody), permissions must be enforced.  Needs root and a
 * mount with allow_other; skipped otherwise. */
void t_permissions(void)
{
	if (geteuid() != 0) {
		printf("SKIP %s: not root\n", cur_test);
		return;
	}
	REQUIRE_OK(chmod(base_dir, 0777));
	REQUIRE_OK(make_file(P("private"), 10, 8));
	REQUIRE_OK(chmod(P("private"), 0600));
	REQUIRE_OK(make_file(P("public"), 10, 8));
	REQUIRE_OK(chmod(P("public"), 0644));
	REQUIRE_OK(mkdir(P("closed"), 0700));
	REQUIRE_OK(make_file(P("closed/x"), 10, 8));
	REQUIRE_OK(mkdir(P("sticky"), 0777));
	REQUIRE_OK(chmod(P("sticky"), 01777));
	REQUIRE_OK(make_file(P("sticky/rootfile"), 10, 8));
	REQUIRE_OK(make_file(P("suid"), 10, 8));
	REQUIRE_OK(chmod(P("suid"), 04777));

	int pfd[2];
	REQUIRE_OK(pipe(pfd));
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		char res[16] = "";
		struct stat st;
		int fd;

		close(pfd[0]);
		if (setgid(65534) || setuid(65534))
			_exit(2);
		/* without allow_other another user cannot even stat */
		if (stat(base_dir, &st) < 0) {
			res[0] = 'S';
			goto out;
		}
		fd = open(P("private"), O_RDONLY);
		res[0] = fd < 0 && errno == EACCES ? '1' : '0';
		fd = open(P("public"), O_RDONLY);
		res[1] = fd >= 0 ? '1' : '0';
		fd = open(P("public"), O_WRONLY);
		res[2] = fd < 0 && errno == EACCES ? '1' : '0';
		fd = open(P("closed/x"), O_RDONLY);
		res[3] = fd < 0 && errno == EACCES ? '1' : '0';
		res[4] =
		    chmod(P("public"), 0666) < 0 && errno == EPERM ? '1' : '0';
		res[5] = unlink(P("public")) == 0 ? '1' : '0';
		fd = open(P("mine"), O_CREAT | O_RDWR, 0600);
		res[6] = fd >= 0 && fstat(fd, &st) == 0 && st.st_uid == 65534
		             ? '1'
		             : '0';
		res[7] = access(P("private"), R_OK) < 0 && errno == EACCES
		             ? '1'
		             : '0';
		res[8] = unlink(P("sticky/rootfile")) < 0 &&
		                 (errno == EPERM || errno == EACCES)
		             ? '1'
		             : '0';
		fd = open(P("suid"), O_WRONLY);
		res[9] = fd >= 0 && write(fd, "w", 1) == 1 &&
		                 fstat(fd, &st) == 0 && !(st.st_mode & S_ISUID)
		             ? '1'
		             : '0';
	out:
		if (write(pfd[1], res, sizeof(res)) < 0)
			_exit(3);
		_exit(0);
	}
	close(pfd[1]);
	char res[16] = "";
	int status;
	ssize_t n = read(pfd[0], res, sizeof(res));
	close(pfd[0]);
	waitpid(pid, &status, 0);
	REQUIRE(n == sizeof(res), "child result (status %d)", status);
	if (res[0] == 'S') {
		printf("SKIP %s: other users cannot reach the mount "
		       "(no allow_other)\n",
		       cur_test);
		return;
	}
	CHECK(res[0] == '1', "nobody opened a 0600 root file (want EACCES)");
	CHECK(res[1] == '1', "nobody could not read a 0644 file");
	CHECK(res[2] == '1', "nobody opened a 0644 root file for writing");
	CHECK(res[3] == '1', "nobody opened a file in a 0700 root dir");
	CHECK(res[4] == '1', "nobody chmod'ed a root file (want EPERM)");
	CHECK(res[5] == '1', "nobody could not unlink in a 0777 dir");
	CHECK(res[6] == '1', "file created by nobody not owned by nobody");
	CHECK(res[7] == '1', "access(R_OK) by nobody on a 0600 root file");
	CHECK(res[8] == '1', "nobody unlinked root's file in a sticky dir");
	CHECK(res[9] == '1', "write by a non-owner did not clear set-user-ID");
	struct stat st;
	CHECK(stat(P("sticky/rootfile"), &st) == 0, "sticky file still there");
}

/*
 * Set-user-ID, set-group-ID and file capabilities are cleared as the Linux
 * VFS does it (cte-fuse does it itself, FUSE_HANDLE_KILLPRIV_V2): a write
 * or truncate (truncate, ftruncate, O_TRUNC, O_DIRECT write) by a caller
 * without CAP_FSETID clears S_ISUID, and S_ISGID when the file is
 * group-executable or the caller is not in its group; root's writes keep
 * them; chown clears them (root's: S_ISGID with group-execute only);
 * write(2), truncate and chown remove security.capability, even root's,
 * but one set after the data was written and before close (cp -a does
 * that) stays.  Needs root; the unprivileged caller is a nobody child.
 */

/* A valid VFS_CAP_REVISION_2 value: cap_net_raw=ep. */
static const uint32_t kp_caps[5] = {0x02000001u, 1u << 13, 0, 0, 0};

static int kp_mode(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static bool kp_has_caps(const char *path)
{
	return getxattr(path, "security.capability", NULL, 0) > 0;
}

static int kp_file(const char *path, mode_t mode, bool caps)
{
	if (make_file(path, 8192, 9) || chmod(path, mode))
		return -1;
	if (caps &&
	    setxattr(path, "security.capability", kp_caps, sizeof(kp_caps), 0))
		return -1;
	return 0;
}

static int kp_write(const char *path, int flags)
{
	int fd = open(path, O_WRONLY | flags);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pwrite(fd, "kp", 2, 100);
	return close(fd) == 0 && n == 2 ? 0 : -1;
}

/* One aligned 4 KiB O_DIRECT write; 1 when O_DIRECT is not supported. */
static int kp_write_direct(const char *path)
{
	void *buf;
	int fd, ret = -1;

	fd = open(path, O_WRONLY | O_DIRECT);
	if (fd < 0)
		return errno == EINVAL ? 1 : -1;
	if (posix_memalign(&buf, 4096, 4096) == 0) {
		memset(buf, 'd', 4096);
		if (pwrite(fd, buf, 4096, 4096) == 4096)
			ret = 0;
		free(buf);
	}
	close(fd);
	return ret;
}

/* What the nobody child does; bit i set when step i failed. */
static int kp_nobody_steps(void)
{
	int bad = 0, fd, r;

	if (kp_write(P("w_suid"), 0))
		bad |= 1 << 0;
	if (kp_write(P("w_sgid_x"), 0))
		bad |= 1 << 1;
	if (kp_write(P("w_sgid_nox"), 0))
		bad |= 1 << 2;
	if (kp_write(P("w_both"), 0))
		bad |= 1 << 3;
	if (kp_write(P("w_sgid_nox2"), 0))
		bad |= 1 << 10;
	if (truncate(P("tr_suid"), 3))
		bad |= 1 << 4;
	fd = open(P("ftr_suid"), O_WRONLY);
	if (fd < 0 || ftruncate(fd, 2) || close(fd))
		bad |= 1 << 5;
	fd = open(P("otr_suid"), O_WRONLY | O_TRUNC);
	if (fd < 0 || close(fd))
		bad |= 1 << 6;
	r = kp_write_direct(P("dio_suid"));
	if (r < 0)
		bad |= 1 << 7;
	if (kp_write(P("cap_nobody"), 0))
		bad |= 1 << 8;
	/* its own file: chgrp to its own group clears both bits */
	fd = open(P("n_suid"), O_CREAT | O_WRONLY, 0755);
	if (fd < 0 || fchmod(fd, 06755) || fchown(fd, (uid_t)-1, 65534) ||
	    close(fd))
		bad |= 1 << 9;
	return bad;
}

void t_killpriv(void)
{
	bool direct = true;
	pid_t pid;
	int status = 0, r, fd;

	if (geteuid() != 0) {
		printf("SKIP %s: not root\n", cur_test);
		return;
	}
	REQUIRE_OK(chmod(base_dir, 0777));
	REQUIRE_OK(kp_file(P("w_suid"), 04766, false));
	REQUIRE_OK(kp_file(P("w_sgid_x"), 02776, false));
	/* sgid without g+x: kept for a writer in the file's group only */
	REQUIRE_OK(kp_file(P("w_sgid_nox"), 02766, false));
	REQUIRE_OK(chown(P("w_sgid_nox"), 0, 65534));
	REQUIRE_OK(chmod(P("w_sgid_nox"), 02766));
	REQUIRE_OK(kp_file(P("w_sgid_nox2"), 02766, false));
	REQUIRE_OK(kp_file(P("w_both"), 06776, false));
	REQUIRE_OK(kp_file(P("tr_suid"), 04766, false));
	REQUIRE_OK(kp_file(P("ftr_suid"), 04766, false));
	REQUIRE_OK(kp_file(P("otr_suid"), 04766, false));
	REQUIRE_OK(kp_file(P("dio_suid"), 04766, false));
	REQUIRE_OK(kp_file(P("cap_nobody"), 0666, true));
	REQUIRE(kp_has_caps(P("cap_nobody")), "security.capability was set");
	fd = open(P("dio_probe"), O_CREAT | O_WRONLY | O_DIRECT, 0644);
	if (fd < 0 && errno == EINVAL)
		direct = false;
	else
		REQUIRE(fd >= 0, "O_DIRECT open");
	if (fd >= 0)
		close(fd);

	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(127);
		_exit(kp_nobody_steps());
	}
	REQUIRE(waitpid(pid, &status, 0) == pid && WIFEXITED(status),
	        "nobody child");
	r = WEXITSTATUS(status);
	REQUIRE(r != 127, "child could not become nobody");
	CHECK(r == 0, "nobody's steps failed: mask 0x%x", r);
	r = kp_mode(P("w_suid"));
	CHECK(r == 0766, "write by nobody: 04766 became %o (want 0766)", r);
	r = kp_mode(P("w_sgid_x"));
	CHECK(r == 0776, "write by nobody: 02776 became %o (want 0776)", r);
	r = kp_mode(P("w_sgid_nox"));
	CHECK(r == 02766, "in-group write by nobody: 02766 became %o", r);
	r = kp_mode(P("w_sgid_nox2"));
	CHECK(r == 0766, "out-of-group write: 02766 became %o (want 0766)", r);
	r = kp_mode(P("w_both"));
	CHECK(r == 0776, "write by nobody: 06776 became %o (want 0776)", r);
	r = kp_mode(P("tr_suid"));
	CHECK(r == 0766, "truncate by nobody: 04766 became %o", r);
	r = kp_mode(P("ftr_suid"));
	CHECK(r == 0766, "ftruncate by nobody: 04766 became %o", r);
	r = kp_mode(P("otr_suid"));
	CHECK(r == 0766, "O_TRUNC open by nobody: 04766 became %o", r);
	r = kp_mode(P("dio_suid"));
	CHECK(r == 0766 || !direct, "O_DIRECT write by nobody: 04766 became %o",
	      r);
	CHECK(!kp_has_caps(P("cap_nobody")),
	      "write by nobody kept security.capability");
	r = kp_mode(P("n_suid"));
	CHECK(r == 0755, "chgrp by the owner: 06755 became %o (want 0755)", r);

	/* root (CAP_FSETID) keeps the bits on write and truncate */
	REQUIRE_OK(kp_file(P("r_suid"), 06776, false));
	CHECK_OK(kp_write(P("r_suid"), 0));
	CHECK_OK(truncate(P("r_suid"), 5));
	CHECK_OK(fd = open(P("r_suid"), O_WRONLY | O_TRUNC));
	if (fd >= 0)
		close(fd);
	r = kp_mode(P("r_suid"));
	CHECK(r == 06776, "root's write/truncate: 06776 became %o", r);
	/* chown clears suid, and sgid with group-execute, even root's */
	REQUIRE_OK(kp_file(P("c_sgid_x"), 02755, false));
	CHECK_OK(chown(P("c_sgid_x"), 1234, (gid_t)-1));
	r = kp_mode(P("c_sgid_x"));
	CHECK(r == 0755, "chown: 02755 became %o (want 0755)", r);
	/* chown(f, -1, -1) changes no id but clears the bits too */
	REQUIRE_OK(kp_file(P("c_none"), 06755, false));
	CHECK_OK(chown(P("c_none"), (uid_t)-1, (gid_t)-1));
	r = kp_mode(P("c_none"));
	CHECK(r == 0755, "chown(-1, -1): 06755 became %o (want 0755)", r);
	REQUIRE_OK(kp_file(P("c_sgid_nox"), 02745, false));
	CHECK_OK(chown(P("c_sgid_nox"), 1234, (gid_t)-1));
	r = kp_mode(P("c_sgid_nox"));
	CHECK(r == 02745, "chown by root: 02745 became %o", r);

	/* capabilities go on any write, truncate or chown, root's too */
	REQUIRE_OK(kp_file(P("cap_root"), 0755, true));
	CHECK_OK(kp_write(P("cap_root"), 0));
	CHECK(!kp_has_caps(P("cap_root")), "root's write kept capabilities");
	REQUIRE_OK(kp_file(P("cap_trunc"), 0755, true));
	CHECK_OK(truncate(P("cap_trunc"), 10));
	CHECK(!kp_has_caps(P("cap_trunc")), "truncate kept capabilities");
	REQUIRE_OK(kp_file(P("cap_chown"), 0755, true));
	CHECK_OK(chown(P("cap_chown"), 1234, (gid_t)-1));
	CHECK(!kp_has_caps(P("cap_chown")), "chown kept capabilities");
	REQUIRE_OK(kp_file(P("cap_dio"), 0755, true));
	r = direct ? kp_write_direct(P("cap_dio")) : 1;
	if (r != 1) {
		CHECK(r == 0, "root's O_DIRECT write");
		CHECK(!kp_has_caps(P("cap_dio")),
		      "O_DIRECT write kept capabilities");
	}
	/* the cp -a order: data, then the capability, then close */
	fd = open(P("cap_late"), O_CREAT | O_WRONLY, 0755);
	REQUIRE(fd >= 0, "create cap_late");
	CHECK(pwrite(fd, "late data", 9, 0) == 9, "write cap_late");
	CHECK_OK(
	    fsetxattr(fd, "security.capability", kp_caps, sizeof(kp_caps), 0));
	CHECK_OK(close(fd));
	CHECK(kp_has_caps(P("cap_late")),
	      "a capability set after the data was written was removed");
	CHECK_OK(kp_write(P("cap_late"), 0));
	CHECK(!kp_has_caps(P("cap_late")), "a later write kept it");
	if (!direct)
		printf("     %s: O_DIRECT not supported here, not tried\n",
		       cur_test);
}

/* set-group-ID directories: new files take the directory's group, new
 * subdirectories the group and the bit (FUSE: the daemon must do this). */
void t_setgid_dir(void)
{
	struct stat st;

	if (geteuid() != 0) {
		printf("SKIP %s: not root\n", cur_test);
		return;
	}
	REQUIRE_OK(mkdir(P("g"), 0775));
	REQUIRE_OK(chown(P("g"), 0, 4242));
	REQUIRE_OK(chmod(P("g"), 02775));
	CHECK(stat(P("g"), &st) == 0 && (st.st_mode & 07777) == 02775,
	      "setgid dir mode %o", st.st_mode & 07777);
	REQUIRE_OK(make_file(P("g/f"), 1, 41));
	CHECK(stat(P("g/f"), &st) == 0 && st.st_gid == 4242,
	      "file in setgid dir has gid %u, want 4242", st.st_gid);
	CHECK_OK(mkdir(P("g/sub"), 0755));
	CHECK(stat(P("g/sub"), &st) == 0 && st.st_gid == 4242 &&
	          (st.st_mode & S_ISGID),
	      "subdir of setgid dir: gid %u mode %o", st.st_gid,
	      st.st_mode & 07777);
	CHECK_OK(symlink("f", P("g/l")));
	CHECK(lstat(P("g/l"), &st) == 0 && st.st_gid == 4242,
	      "symlink in setgid dir has gid %u", st.st_gid);
}
