/*
 * syscall_exerciser: drive a directory (a cte-fuse mount, or tmpfs/ext4 for
 * reference) through the system calls ordinary tools make, and check results
 * and errno values.
 *
 *   syscall_exerciser [-v] [-t NAME[,NAME...]] [-l] DIR
 *
 * Every test runs in its own fresh subdirectory DIR/sx.<pid>/<test>.  A
 * failed check prints "FAIL <test>: <what> (<file>:<line>): <errno>" and the
 * test goes on where that makes sense; a summary line "N passed, N failed"
 * ends the run and the exit status is 1 when anything failed.  Each test has
 * an alarm (SX_TEST_TIMEOUT seconds, default 60) so a hung call names the
 * test it hung in.
 *
 * Where a FUSE filesystem may legitimately differ from tmpfs/ext4, the check
 * says so in a comment.
 *
 * DESIGN (threads): only the "threads" test starts threads; each writes its
 * own disjoint stripes of one file through a shared descriptor and through
 * its own descriptor, then the main thread verifies the whole file after all
 * have been joined.  Failures inside threads are counted atomically.
 *
 * FILES: this one has the group table, main and the helpers the tests share
 * (sx_i.h declares them, with the check macros); tests by subject are in
 * sx_data.c (file data), sx_meta.c (inode attributes), sx_privs.c
 * (permissions and privileges), sx_names.c (the namespace), sx_concurrency.c
 * (several processes or threads at once).
 */
#include "sx_i.h"

const char *cur_test;
atomic_int cur_failures;
int verbose;
char base_dir[PATH_MAX];

void fail_at(const char *file, int line, int err, const char *fmt, ...)
{
	va_list ap;

	int nth = atomic_fetch_add(&cur_failures, 1) + 1;
	if (nth > 20) {
		if (nth == 21)
			printf("FAIL %s: more failures not shown\n", cur_test);
		return;
	}
	flockfile(stdout);
	printf("FAIL %s: ", cur_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (%s:%d)", file, line);
	if (err)
		printf(": errno %d %s", err, strerror(err));
	printf("\n");
	fflush(stdout);
	funlockfile(stdout);
}

/* ---------------------------------------------------------------------- */
/* small helpers */

char *path_of(char *buf, const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", base_dir, name) >= PATH_MAX)
		abort(); /* only t_deep_path builds long paths, by hand */
	return buf;
}

uint8_t pattern_byte(uint64_t off, uint32_t seed)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull + seed;

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 11));
}

void fill_pattern(uint8_t *buf, size_t len, uint64_t off, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(off + i, seed);
}

/* Index of the first byte not matching the pattern, or -1. */
long check_pattern(const uint8_t *buf, size_t len, uint64_t off,
                   uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern_byte(off + i, seed))
			return (long)i;
	return -1;
}

long first_nonzero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return (long)i;
	return -1;
}

ssize_t write_full(int fd, const void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done,
		                   off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t read_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
		                  off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Create NAME holding LEN pattern bytes (seed SEED); returns 0 or -1. */
int make_file(const char *path, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	int fd, ret = -1;

	if (!buf)
		return -1;
	fill_pattern(buf, len, 0, seed);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd >= 0) {
		if (write_full(fd, buf, len, 0) == (ssize_t)len)
			ret = 0;
		if (close(fd) < 0)
			ret = -1;
	}
	free(buf);
	return ret;
}

/* 1 when PATH holds exactly LEN pattern bytes of SEED. */
int file_has_pattern(const char *path, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len + 1);
	int fd, ok = 0;

	if (!buf)
		return 0;
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read_full(fd, buf, len + 1, 0);
		ok = n == (ssize_t)len && check_pattern(buf, len, 0, seed) < 0;
		close(fd);
	}
	free(buf);
	return ok;
}

int count_entries(const char *path, int *dups)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	*dups = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---------------------------------------------------------------------- */

struct test {
	const char *name;
	void (*fn)(void);
};

static const struct test tests[] = {
    {"open_flags", t_open_flags},
    {"read_write", t_read_write},
    {"sparse", t_sparse},
    {"large_offsets", t_large_offsets},
    {"truncate", t_truncate},
    {"stat", t_stat},
    {"times", t_times},
    {"chmod_chown", t_chmod_chown},
    {"permissions", t_permissions},
    {"killpriv", t_killpriv},
    {"setgid_dir", t_setgid_dir},
    {"dirs", t_dirs},
    {"unlink_open", t_unlink_open},
    {"rename", t_rename},
    {"symlink", t_symlink},
    {"link", t_link},
    {"readdir", t_readdir},
    {"seekdir", t_seekdir},
    {"statfs", t_statfs},
    {"access", t_access},
    {"fallocate", t_fallocate},
    {"copy_file_range", t_copy_file_range},
    {"lseek", t_lseek},
    {"xattr", t_xattr},
    {"acl", t_acl},
    {"names", t_names},
    {"deep_path", t_deep_path},
    {"mmap", t_mmap},
    {"odirect", t_odirect},
    {"fsync", t_fsync},
    {"locks", t_locks},
    {"threads", t_threads},
    {"append_procs", t_append_procs},
    {"stress", t_stress},
    {"relink_listing", t_relink_listing},
};

static void on_alarm(int sig)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
	                 "FAIL %s: timed out (signal %d); giving up\n",
	                 cur_test ? cur_test : "?", sig);
	if (write(STDOUT_FILENO, msg, (size_t)n) < 0)
		_exit(3);
	_exit(1);
}

static int wanted(const char *only, const char *name)
{
	size_t len = strlen(name);

	if (!only)
		return 1;
	for (const char *p = only; (p = strstr(p, name)); p += len)
		if ((p == only || p[-1] == ',') &&
		    (p[len] == 0 || p[len] == ','))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int opt, passed = 0, failed = 0, timeout_s = 60;
	char root[PATH_MAX];

	while ((opt = getopt(argc, argv, "vlt:")) != -1) {
		switch (opt) {
		case 'v':
			verbose = 1;
			break;
		case 't':
			only = optarg;
			break;
		case 'l':
			for (size_t i = 0; i < sizeof(tests) / sizeof(*tests);
			     i++)
				printf("%s\n", tests[i].name);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (getenv("SX_TEST_TIMEOUT"))
		timeout_s = atoi(getenv("SX_TEST_TIMEOUT"));
	if (!realpath(argv[optind], root)) {
		fprintf(stderr, "syscall_exerciser: %s: %s\n", argv[optind],
		        strerror(errno));
		return 2;
	}
	size_t rl = strlen(root);
	snprintf(root + rl, sizeof(root) - rl, "/sx.%d", (int)getpid());
	if (mkdir(root, 0755) < 0) {
		fprintf(stderr, "syscall_exerciser: mkdir %s: %s\n", root,
		        strerror(errno));
		return 2;
	}
	signal(SIGALRM, on_alarm);
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);

	for (size_t i = 0; i < sizeof(tests) / sizeof(*tests); i++) {
		if (!wanted(only, tests[i].name))
			continue;
		cur_test = tests[i].name;
		atomic_store(&cur_failures, 0);
		snprintf(base_dir, sizeof(base_dir), "%s/%s", root,
		         tests[i].name);
		if (mkdir(base_dir, 0755) < 0) {
			fail_at(__FILE__, __LINE__, errno, "mkdir %s",
			        base_dir);
		} else {
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			alarm((unsigned)timeout_s);
			tests[i].fn();
			alarm(0);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (verbose)
				printf("     %s took %.3f s\n", cur_test,
				       (double)(t1.tv_sec - t0.tv_sec) +
				           (t1.tv_nsec - t0.tv_nsec) / 1e9);
		}
		if (atomic_load(&cur_failures)) {
			failed++;
			printf("not ok %s (%d failed checks)\n", cur_test,
			       atomic_load(&cur_failures));
		} else {
			passed++;
			printf("ok   %s\n", cur_test);
		}
	}
	printf("syscall_exerciser: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;

usage:
	fprintf(stderr,
	        "usage: syscall_exerciser [-v] [-l] [-t TEST[,TEST...]] DIR\n");
	return 2;
}
