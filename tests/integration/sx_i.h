/*
 * sx_i.h: what the syscall exerciser's files share: the check macros and
 * the failure report, the pattern, path and file helpers, and the tests
 * (syscall_exerciser.c has the group table and main).
 */
#ifndef SX_I_H
#define SX_I_H

#define _GNU_SOURCE
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define MIB (1024 * 1024)

extern const char *cur_test;
extern atomic_int cur_failures;
extern int verbose;
extern char base_dir[PATH_MAX];

void fail_at(const char *file, int line, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* CHECK: a condition; on failure report it with the errno it left (0 when
 * the failure was a wrong value, not a failed call). */
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		errno = 0;                                                     \
		int check_ok__ = !!(cond);                                     \
		int check_errno__ = errno;                                     \
		if (!check_ok__)                                               \
			fail_at(__FILE__, __LINE__, check_errno__,             \
			        __VA_ARGS__);                                  \
	} while (0)

/* REQUIRE: as CHECK, but the test cannot go on without it. */
#define REQUIRE(cond, ...)                                                     \
	do {                                                                   \
		errno = 0;                                                     \
		int check_ok__ = !!(cond);                                     \
		int check_errno__ = errno;                                     \
		if (!check_ok__) {                                             \
			fail_at(__FILE__, __LINE__, check_errno__,             \
			        __VA_ARGS__);                                  \
			return;                                                \
		}                                                              \
	} while (0)

/* CHECK_OK: a call returning 0 (or >= 0) on success, -1 and errno. */
#define CHECK_OK(call)   CHECK((call) >= 0, "%s", #call)
#define REQUIRE_OK(call) REQUIRE((call) >= 0, "%s", #call)

/* CHECK_ERR: a call that must fail with a given errno. */
#define CHECK_ERR(call, want)                                                  \
	do {                                                                   \
		errno = 0;                                                     \
		long check_ret__ = (long)(call);                               \
		int check_err__ = errno;                                       \
		if (check_ret__ != -1 || check_err__ != (want))                \
			fail_at(__FILE__, __LINE__, 0,                         \
			        "%s: expected -1/%s, got %ld/%s", #call,       \
			        strerrorname_np(want), check_ret__,            \
			        check_ret__ == -1 && check_err__               \
			            ? strerrorname_np(check_err__)             \
			            : "no error");                             \
	} while (0)

#define CHECK_EQ_LL(what, want, got)                                           \
	do {                                                                   \
		long long w__ = (long long)(want), g__ = (long long)(got);     \
		if (w__ != g__)                                                \
			fail_at(__FILE__, __LINE__, 0,                         \
			        "%s: expected %lld, got %lld", what, w__,      \
			        g__);                                          \
	} while (0)

/* small helpers (syscall_exerciser.c) */

char *path_of(char *buf, const char *name);

#define P(name) path_of((char[PATH_MAX]){0}, name)

uint8_t pattern_byte(uint64_t off, uint32_t seed);
void fill_pattern(uint8_t *buf, size_t len, uint64_t off, uint32_t seed);
long check_pattern(const uint8_t *buf, size_t len, uint64_t off,
                   uint32_t seed);
long first_nonzero(const uint8_t *buf, size_t len);
ssize_t write_full(int fd, const void *buf, size_t len, off_t off);
ssize_t read_full(int fd, void *buf, size_t len, off_t off);
int make_file(const char *path, size_t len, uint32_t seed);
int file_has_pattern(const char *path, size_t len, uint32_t seed);
int count_entries(const char *path, int *dups);

/* the tests (the group table names them) */
void t_open_flags(void);
void t_read_write(void);
void t_sparse(void);
void t_large_offsets(void);
void t_truncate(void);
void t_stat(void);
void t_times(void);
void t_chmod_chown(void);
void t_permissions(void);
void t_killpriv(void);
void t_setgid_dir(void);
void t_dirs(void);
void t_unlink_open(void);
void t_rename(void);
void t_symlink(void);
void t_link(void);
void t_readdir(void);
void t_seekdir(void);
void t_statfs(void);
void t_access(void);
void t_fallocate(void);
void t_copy_file_range(void);
void t_lseek(void);
void t_xattr(void);
void t_acl(void);
void t_names(void);
void t_deep_path(void);
void t_mmap(void);
void t_odirect(void);
void t_fsync(void);
void t_locks(void);
void t_threads(void);
void t_append_procs(void);
void t_stress(void);
void t_relink_listing(void);

#endif
