/*
 * crash_worker: the random-operation worker and the checker of the crash
 * loop test (test_crash_loop.sh, issue 6).
 *
 *   crash_worker run MNT MARKERS SEED ROUND
 *   crash_worker verify MNT MARKERS
 *   crash_worker mark MARKERS REL SRC
 *
 * run: random operations on MNT (create, write, append, truncate, rename,
 * unlink, mkdir, setxattr, and unsealed directory churn: mkdir, create,
 * unlink, rmdir, directories renamed into each other; a child process
 * churns all the time) until an operation fails (the daemon was killed)
 * or a few thousand operations are done.  Files are "open" (being
 * changed) until the worker *seals* one: fsync of the file, fsync of its
 * parent directory, then a line in MARKERS (outside the mount, fsync'ed):
 *
 *   F <path> <size> <fnv64 of contents> <user.k value or ->
 *   U <path>            (unlinked, parent fsync'ed: must be absent)
 *
 * A sealed file is never touched again and names are never reused, so
 * every F line states exactly what the file must hold after any crash.
 * Some seals write a temporary name and rename it over the final one
 * before the directory fsync (the atomic-replace pattern).
 *
 * verify: checks every marker, then walks the whole tree: every entry
 * lstat()s, every regular file reads to exactly its size.  Prints one line
 * per problem; exit 0 when none, 1 otherwise, 2 on bad usage.
 *
 * mark: append "F REL <size> <hash> -" for the file SRC (outside the
 * mount): for tests that write SRC's contents to REL and fsync it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_FILE (192 * 1024)
#define MAX_OPEN 12
#define MAX_DIRS 64
#define REL_MAX  256

struct ofile {
	char path[REL_MAX]; /* relative to the mount */
	unsigned char *data;
	size_t size;
	char xval[32]; /* "" when no user.k */
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t fnv64(const unsigned char *p, size_t n, uint64_t h)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define FNV_INIT 14695981039346656037ULL

static const char *mnt;
static FILE *markers;
static int markers_fd;
static char dirs[MAX_DIRS][64];
static int ndirs;
static struct ofile open_files[MAX_OPEN];
static int nopen;
static unsigned name_seq;
static unsigned round_no;
static const char *churn_tag = "c"; /* "p" in the churning child */

static void full(const char *rel, char *out)
{
	if (snprintf(out, PATH_MAX, "%s/%s", mnt, rel) >= PATH_MAX) {
		fprintf(stderr, "path too long: %s/%s\n", mnt, rel);
		exit(3);
	}
}

static int fsync_path(const char *abs, int flags)
{
	int fd = open(abs, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -1;
	if (fsync(fd))
		rc = -1;
	close(fd);
	return rc;
}

static int fsync_parent(const char *abs)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", abs);
	return fsync_path(dirname(tmp), O_RDONLY | O_DIRECTORY);
}

static int marker(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int marker(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(markers, fmt, ap);
	va_end(ap);
	if (fflush(markers) || fsync(markers_fd)) {
		perror("markers");
		exit(3);
	}
	return 0;
}

static void new_name(char *rel, const char *prefix)
{
	const char *d = ndirs && below(3) ? dirs[below(ndirs)] : "";

	snprintf(rel, REL_MAX, "%s%sr%u_%s%u", d, d[0] ? "/" : "", round_no,
	         prefix, name_seq++);
}

static void fill(unsigned char *p, size_t n)
{
	size_t i;
	uint64_t v = rnd();

	for (i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = rnd();
		p[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	/* runs of one byte too: compressible, zero-like data */
	if (n > 64 && below(2))
		memset(p + below(n / 2), (int)below(2) * 0x5a, n / 4);
}

static int do_pwrite(const char *rel, const unsigned char *p, size_t n,
                     off_t off, int oflags)
{
	char abs[PATH_MAX];
	int fd, rc = 0;

	full(rel, abs);
	fd = open(abs, O_WRONLY | O_CLOEXEC | oflags, 0644);
	if (fd < 0)
		return -1;
	if (n && pwrite(fd, p, n, off) != (ssize_t)n)
		rc = -1;
	if (close(fd))
		rc = -1;
	return rc;
}

static int op_create(void)
{
	struct ofile *f;
	size_t n = below(4) ? below(64 * 1024) : below(MAX_FILE);

	if (nopen == MAX_OPEN)
		return 0;
	f = &open_files[nopen];
	new_name(f->path, "f");
	f->data = malloc(MAX_FILE);
	if (!f->data)
		exit(3);
	fill(f->data, n);
	f->size = n;
	f->xval[0] = '\0';
	if (do_pwrite(f->path, f->data, n, 0, O_CREAT | O_EXCL))
		return -1;
	nopen++;
	return 0;
}

static int op_write(struct ofile *f, bool append)
{
	size_t off = append ? f->size : below(f->size + 4096);
	size_t n = below(32 * 1024) + 1;

	if (off + n > MAX_FILE)
		return 0;
	fill(f->data + off, n);
	if (off > f->size)
		memset(f->data + f->size, 0, off - f->size);
	if (do_pwrite(f->path, f->data + off, n, (off_t)off,
	              append ? O_APPEND : 0))
		return -1;
	if (off + n > f->size)
		f->size = off + n;
	return 0;
}

static int op_truncate(struct ofile *f)
{
	char abs[PATH_MAX];
	size_t n = below(MAX_FILE);

	full(f->path, abs);
	if (truncate(abs, (off_t)n))
		return -1;
	if (n > f->size)
		memset(f->data + f->size, 0, n - f->size);
	f->size = n;
	return 0;
}

static int op_rename(struct ofile *f)
{
	char rel[REL_MAX], a[PATH_MAX], b[PATH_MAX];

	new_name(rel, "m");
	full(f->path, a);
	full(rel, b);
	if (rename(a, b))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s", rel);
	return 0;
}

static void drop(int i)
{
	free(open_files[i].data);
	open_files[i] = open_files[--nopen];
}

static int op_unlink(int i)
{
	char abs[PATH_MAX];
	bool durable = below(2);

	full(open_files[i].path, abs);
	if (unlink(abs))
		return -1;
	if (durable) {
		if (fsync_parent(abs))
			return -1;
		marker("U %s\n", open_files[i].path);
	}
	drop(i);
	return 0;
}

static int op_xattr(struct ofile *f)
{
	char abs[PATH_MAX];

	full(f->path, abs);
	snprintf(f->xval, sizeof(f->xval), "v%" PRIu64, below(1000000));
	return setxattr(abs, "user.k", f->xval, strlen(f->xval), 0);
}

static int op_mkdir(void)
{
	char abs[PATH_MAX];

	if (ndirs == MAX_DIRS)
		return 0;
	snprintf(dirs[ndirs], sizeof(dirs[0]), "r%u_d%u", round_no, name_seq++);
	full(dirs[ndirs], abs);
	if (mkdir(abs, 0755) || fsync_path(mnt, O_RDONLY | O_DIRECTORY))
		return -1;
	ndirs++;
	return 0;
}

/* Namespace churn, never sealed (no markers: a crash may keep any of it,
 * verify only walks it): a directory made, a file created in it and
 * unlinked, the directory removed; or two directories renamed into each
 * other in turn, so that after a checkpoint whose snapshot came later,
 * older images would put a directory below its own descendant. */
static int op_churn(void)
{
	char x[PATH_MAX], y[PATH_MAX], a[PATH_MAX], b[PATH_MAX], rel[REL_MAX];
	unsigned n = name_seq++;
	int fd;

	snprintf(rel, sizeof(rel), "r%u_%sa%u", round_no, churn_tag, n);
	full(rel, x);
	snprintf(rel, sizeof(rel), "r%u_%sb%u", round_no, churn_tag, n);
	full(rel, y);
	if (mkdir(x, 0755))
		return -1;
	if (below(2)) {
		snprintf(rel, sizeof(rel), "r%u_%sa%u/f", round_no, churn_tag,
		         n);
		full(rel, a);
		fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) || unlink(a) || rmdir(x))
			return -1;
		return 0;
	}
	snprintf(rel, sizeof(rel), "r%u_%sa%u/r%u_%sb%u", round_no, churn_tag,
	         n, round_no, churn_tag, n);
	full(rel, a); /* x/y */
	snprintf(rel, sizeof(rel), "r%u_%sb%u/r%u_%sa%u", round_no, churn_tag,
	         n, round_no, churn_tag, n);
	full(rel, b); /* y/x */
	if (mkdir(y, 0755) || rename(y, a) || rename(a, y) || rename(x, b))
		return -1;
	if (below(2) && (rmdir(b) || rmdir(y)))
		return -1;
	return 0;
}

static int op_seal(int i)
{
	struct ofile *f = &open_files[i];
	char abs[PATH_MAX], fin[PATH_MAX];

	full(f->path, abs);
	if (fsync_path(abs, O_RDONLY))
		return -1;
	if (below(3) == 0) {
		/* atomic replace: the sealed name appears by rename */
		char rel[REL_MAX];

		/* same directory as the file, so one directory fsync */
		if (snprintf(rel, sizeof(rel), "%s.sealed", f->path) >=
		    (int)sizeof(rel))
			return -1;
		full(rel, fin);
		if (rename(abs, fin))
			return -1;
		snprintf(f->path, sizeof(f->path), "%s", rel);
		snprintf(abs, sizeof(abs), "%s", fin);
	}
	if (fsync_parent(abs))
		return -1;
	marker("F %s %zu %016" PRIx64 " %s\n", f->path, f->size,
	       fnv64(f->data, f->size, FNV_INIT), f->xval[0] ? f->xval : "-");
	drop(i);
	return 0;
}

/* A child that only churns the namespace, so that changes keep landing
 * while checkpoints run; it stops at the first failure (the kill). */
static pid_t start_churner(void)
{
	pid_t pid = fork();
	int i;

	if (pid)
		return pid;
	churn_tag = "p";
	rng_state ^= 0x5bd1e995;
	for (i = 0; i < 20000 && !op_churn(); i++)
		;
	_exit(0);
}

static int run(int argc, char **argv)
{
	int ops, rc = 0;
	pid_t churner;

	if (argc != 6)
		return 2;
	mnt = argv[2];
	markers = fopen(argv[3], "a");
	if (!markers) {
		perror(argv[3]);
		return 3;
	}
	markers_fd = fileno(markers);
	rng_state = strtoull(argv[4], NULL, 0) * 0x9E3779B97F4A7C15ULL + 1;
	round_no = (unsigned)atoi(argv[5]);
	churner = start_churner();
	for (ops = 0; ops < 5000 && rc == 0; ops++) {
		unsigned r = (unsigned)below(100);
		int i = nopen ? (int)below(nopen) : -1;

		if (r < 5)
			rc = op_mkdir();
		else if (r < 10)
			rc = op_churn();
		else if (r < 25 || i < 0)
			rc = op_create();
		else if (r < 40)
			rc = op_write(&open_files[i], false);
		else if (r < 50)
			rc = op_write(&open_files[i], true);
		else if (r < 58)
			rc = op_truncate(&open_files[i]);
		else if (r < 65)
			rc = op_rename(&open_files[i]);
		else if (r < 70)
			rc = op_unlink(i);
		else if (r < 77)
			rc = op_xattr(&open_files[i]);
		else
			rc = op_seal(i);
	}
	printf("worker round %u: %d operations, stopped by %s\n", round_no, ops,
	       rc ? strerror(errno) : "the operation limit");
	if (churner > 0) {
		kill(churner, SIGTERM);
		waitpid(churner, NULL, 0);
	}
	return 0;
}

static int problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
	va_list ap;

	problems++;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* read the whole file: *out_hash, *out_n; -1 on an error */
static int hash_file(const char *abs, uint64_t *out_hash, size_t *out_n)
{
	unsigned char buf[65536];
	uint64_t h = FNV_INIT;
	size_t total = 0;
	ssize_t n;
	int fd = open(abs, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		h = fnv64(buf, (size_t)n, h);
		total += (size_t)n;
	}
	close(fd);
	if (n < 0)
		return -1;
	*out_hash = h;
	*out_n = total;
	return 0;
}

static void walk(const char *abs, unsigned long *count)
{
	DIR *d = opendir(abs);
	struct dirent *e;

	if (!d) {
		problem("opendir %s: %s", abs, strerror(errno));
		return;
	}
	while ((e = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", abs, e->d_name) >=
		    (int)sizeof(p)) {
			problem("path too long below %s", abs);
			continue;
		}
		(*count)++;
		if (lstat(p, &st)) {
			problem("name pointing nowhere: %s: %s", p,
			        strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			walk(p, count);
		} else if (S_ISREG(st.st_mode)) {
			uint64_t h;
			size_t n;

			if (hash_file(p, &h, &n))
				problem("read %s: %s", p, strerror(errno));
			else if (n != (size_t)st.st_size)
				problem("%s: size %lld but %zu bytes read", p,
				        (long long)st.st_size, n);
		}
	}
	closedir(d);
}

static int verify(int argc, char **argv)
{
	char line[PATH_MAX + 128];
	unsigned long nf = 0, nu = 0, entries = 0;
	FILE *m;

	if (argc != 4)
		return 2;
	mnt = argv[2];
	m = fopen(argv[3], "r");
	if (!m) {
		perror(argv[3]);
		return 2;
	}
	while (fgets(line, sizeof(line), m)) {
		char rel[REL_MAX], abs[PATH_MAX], xv[64], got[64];
		unsigned long long size;
		uint64_t want, h;
		size_t n;
		ssize_t xl;

		if (sscanf(line, "F %255s %llu %" SCNx64 " %63s", rel, &size,
		           &want, xv) == 4) {
			nf++;
			full(rel, abs);
			if (hash_file(abs, &h, &n)) {
				problem("fsync'ed %s: %s", rel,
				        strerror(errno));
				continue;
			}
			if (n != size || h != want)
				problem(
				    "fsync'ed %s: %zu bytes hash %016" PRIx64
				    ", expected %llu bytes hash %016" PRIx64,
				    rel, n, h, size, want);
			xl = getxattr(abs, "user.k", got, sizeof(got) - 1);
			if (xl < 0)
				snprintf(got, sizeof(got), "-");
			else
				got[xl] = '\0';
			if (strcmp(got, xv))
				problem("fsync'ed %s: user.k '%s', expected "
				        "'%s'",
				        rel, got, xv);
		} else if (sscanf(line, "U %255s", rel) == 1) {
			struct stat st;

			nu++;
			full(rel, abs);
			if (lstat(abs, &st) == 0 || errno != ENOENT)
				problem("unlinked (parent fsync'ed) %s still "
				        "there",
				        rel);
		} else if (line[0] != '\n') {
			problem("bad marker line: %s", line);
		}
	}
	fclose(m);
	walk(mnt, &entries);
	printf("verify: %lu fsync'ed files, %lu durable unlinks, %lu "
	       "entries walked, %d problems\n",
	       nf, nu, entries, problems);
	return problems ? 1 : 0;
}

static int mark(int argc, char **argv)
{
	uint64_t h;
	size_t n;

	if (argc != 5)
		return 2;
	markers = fopen(argv[2], "a");
	if (!markers || hash_file(argv[4], &h, &n)) {
		perror(argv[4]);
		return 3;
	}
	markers_fd = fileno(markers);
	marker("F %s %zu %016" PRIx64 " -\n", argv[3], n, h);
	fclose(markers);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		rc = run(argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "verify"))
		rc = verify(argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "mark"))
		rc = mark(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: crash_worker run MNT MARKERS SEED "
		                "ROUND | verify MNT MARKERS | mark MARKERS REL "
		                "SRC\n");
	return rc;
}
