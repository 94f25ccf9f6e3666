/* syscall_exerciser: several processes or threads at once: record locks and
 * flock, O_APPEND, rename/link stress, relinking while listing, threads. */
#include "sx_i.h"

/* POSIX record locks and flock between processes (sqlite, git rely on
 * them; FUSE without lock ops lets the kernel keep them locally). */
void t_locks(void)
{
	struct flock fl = {.l_type = F_WRLCK,
	                   .l_whence = SEEK_SET,
	                   .l_start = 0,
	                   .l_len = 100};
	int fd, status;

	REQUIRE_OK(make_file(P("lock"), 200, 42));
	REQUIRE_OK(fd = open(P("lock"), O_RDWR));
	CHECK_OK(fcntl(fd, F_SETLK, &fl));
	CHECK_OK(flock(fd, LOCK_EX | LOCK_NB));
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		int cfd = open(P("lock"), O_RDWR);
		struct flock c = {.l_type = F_WRLCK,
		                  .l_whence = SEEK_SET,
		                  .l_start = 50,
		                  .l_len = 10};
		int r = 0;
		if (cfd < 0)
			_exit(10);
		if (fcntl(cfd, F_SETLK, &c) == 0 ||
		    (errno != EAGAIN && errno != EACCES))
			r |= 1;
		c.l_start = 150;
		if (fcntl(cfd, F_SETLK, &c) < 0)
			r |= 2;
		c.l_start = 50;
		if (fcntl(cfd, F_GETLK, &c) < 0 || c.l_type != F_WRLCK ||
		    c.l_pid != getppid())
			r |= 4;
		if (flock(cfd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
			r |= 8;
		_exit(r);
	}
	waitpid(pid, &status, 0);
	int r = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
	CHECK(!(r & 1), "a conflicting F_SETLK succeeded in another process");
	CHECK(!(r & 2), "a non-conflicting F_SETLK failed");
	CHECK(!(r & 4), "F_GETLK did not report the holder");
	CHECK(!(r & 8), "a conflicting flock succeeded in another process");
	CHECK(r < 10, "child setup failed (%d)", r);
	close(fd);
}

/* O_APPEND from several processes at once: every record lands whole, none
 * is lost or overwritten. */
void t_append_procs(void)
{
	enum { NPROC = 4, NREC = 400, RECLEN = 100 };
	pid_t pids[NPROC];
	struct stat st;
	int fd;

	REQUIRE_OK(fd = open(P("log"), O_CREAT | O_WRONLY | O_APPEND, 0644));
	close(fd);
	for (int p = 0; p < NPROC; p++) {
		pids[p] = fork();
		REQUIRE(pids[p] >= 0, "fork");
		if (pids[p] == 0) {
			char rec[RECLEN + 1];
			int afd = open(P("log"), O_WRONLY | O_APPEND);
			if (afd < 0)
				_exit(1);
			for (int r = 0; r < NREC; r++) {
				int n = snprintf(rec, sizeof(rec), "p%d r%04d ",
				                 p, r);
				memset(rec + n, 'a' + p, RECLEN - n - 1);
				rec[RECLEN - 1] = '\n';
				if (write(afd, rec, RECLEN) != RECLEN)
					_exit(2);
			}
			_exit(close(afd) ? 3 : 0);
		}
	}
	for (int p = 0; p < NPROC; p++) {
		int status;
		waitpid(pids[p], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "appender %d status %d", p, status);
	}
	CHECK(stat(P("log"), &st) == 0 &&
	          st.st_size == (off_t)NPROC * NREC * RECLEN,
	      "appended size %lld, want %d", (long long)st.st_size,
	      NPROC * NREC * RECLEN);
	char *buf = malloc((size_t)NPROC * NREC * RECLEN);
	REQUIRE(buf, "malloc");
	REQUIRE_OK(fd = open(P("log"), O_RDONLY));
	ssize_t n = read_full(fd, buf, (size_t)NPROC * NREC * RECLEN, 0);
	close(fd);
	int next[NPROC] = {0}, bad = 0;
	for (ssize_t off = 0; off + RECLEN <= n && bad < 5; off += RECLEN) {
		int p, r;
		char *rec = buf + off;
		if (sscanf(rec, "p%d r%d ", &p, &r) != 2 || p < 0 ||
		    p >= NPROC || rec[RECLEN - 1] != '\n' ||
		    rec[RECLEN - 2] != 'a' + p || r != next[p]) {
			CHECK(0,
			      "record at %zd is torn or out of order: "
			      "%.20s",
			      off, rec);
			bad++;
			continue;
		}
		next[p]++;
	}
	for (int p = 0; p < NPROC; p++)
		CHECK(next[p] == NREC || bad, "process %d: %d records", p,
		      next[p]);
	free(buf);
}

struct stress_arg {
	int index;
	atomic_int *stop;
	long ops;
};

/* Each thread owns files t<i>-<k> and moves them between dirs a and b
 * (rename, link+unlink, rewrite), while other threads list both dirs. */
static void *stress_main(void *p)
{
	struct stress_arg *a = p;
	char from[PATH_MAX], to[PATH_MAX], name[64];
	uint8_t buf[8192];
	unsigned seed = (unsigned)a->index * 7919u + 1;

	for (int k = 0; k < 20; k++) {
		snprintf(name, sizeof(name), "a/t%d-%d", a->index, k);
		if (make_file(path_of(from, name), 4096 + (size_t)k, 50) < 0) {
			fail_at(__FILE__, __LINE__, errno, "create %s", name);
			return NULL;
		}
	}
	int where[20] = {0}; /* 0: in a, 1: in b */
	for (long i = 0; i < 400; i++) {
		int k = (int)(rand_r(&seed) % 20);
		snprintf(name, sizeof(name), "%c/t%d-%d", where[k] ? 'b' : 'a',
		         a->index, k);
		path_of(from, name);
		snprintf(name, sizeof(name), "%c/t%d-%d", where[k] ? 'a' : 'b',
		         a->index, k);
		path_of(to, name);
		int how = (int)(rand_r(&seed) % 3), r;
		const char *step;
		if (how == 0) {
			step = "rename";
			r = rename(from, to);
		} else if (how == 1) {
			step = "link";
			r = link(from, to);
			if (r == 0) {
				step = "unlink after link";
				r = unlink(from);
			}
		} else {
			/* rewrite in place, then move */
			step = "open for rewrite";
			int fd = open(from, O_RDWR);
			r = fd < 0 ? -1 : 0;
			if (fd >= 0) {
				fill_pattern(buf, 4096 + (size_t)k, 0, 50);
				if (pwrite(fd, buf, 4096 + (size_t)k, 0) !=
				    4096 + k) {
					step = "rewrite";
					r = -1;
				}
				close(fd);
			}
			if (r == 0) {
				step = "rename after rewrite";
				r = rename(from, to);
			}
		}
		if (r < 0) {
			struct stat st;
			int err = errno;
			int from_ok = lstat(from, &st) == 0;
			int to_ok = lstat(to, &st) == 0;
			fail_at(__FILE__, __LINE__, err,
			        "thread %d, iteration %ld: %s %s -> %s failed "
			        "(now: source %s, target %s)",
			        a->index, i, step, from, to,
			        from_ok ? "exists" : "missing",
			        to_ok ? "exists" : "missing");
			return NULL;
		}
		where[k] = !where[k];
		a->ops++;
	}
	for (int k = 0; k < 20; k++) {
		snprintf(name, sizeof(name), "%c/t%d-%d", where[k] ? 'b' : 'a',
		         a->index, k);
		if (!file_has_pattern(path_of(from, name), 4096 + (size_t)k,
		                      50))
			fail_at(__FILE__, __LINE__, errno,
			        "thread %d: %s missing or wrong", a->index,
			        name);
		snprintf(name, sizeof(name), "%c/t%d-%d", where[k] ? 'a' : 'b',
		         a->index, k);
		struct stat st;
		if (lstat(path_of(from, name), &st) == 0)
			fail_at(__FILE__, __LINE__, 0,
			        "thread %d: %s exists in both dirs", a->index,
			        name);
	}
	return NULL;
}

static void *lister_main(void *p)
{
	struct stress_arg *a = p;

	while (!atomic_load(a->stop)) {
		const char *dirs[2] = {"a", "b"};
		for (int i = 0; i < 2; i++) {
			char path[PATH_MAX];
			DIR *d = opendir(path_of(path, dirs[i]));
			struct dirent *e;
			if (!d) {
				fail_at(__FILE__, __LINE__, errno, "opendir");
				return NULL;
			}
			while ((e = readdir(d))) {
				struct stat st;
				char name[300];
				snprintf(name, sizeof(name), "%s/%s", dirs[i],
				         e->d_name);
				/* may vanish meanwhile: only ENOENT is ok */
				if (lstat(path_of(path, name), &st) < 0 &&
				    errno != ENOENT)
					fail_at(__FILE__, __LINE__, errno,
					        "lstat %s", name);
			}
			closedir(d);
			a->ops++;
		}
	}
	return NULL;
}

void t_stress(void)
{
	enum { NW = 4, NL = 2 };
	pthread_t th[NW + NL];
	struct stress_arg args[NW + NL];
	atomic_int stop = 0;

	REQUIRE_OK(mkdir(P("a"), 0755));
	REQUIRE_OK(mkdir(P("b"), 0755));
	/* SX_STRESS_LISTERS=0 leaves the listing threads out (to narrow a
	 * failure down) */
	int nl = getenv("SX_STRESS_LISTERS") ? atoi(getenv("SX_STRESS_LISTERS"))
	                                     : NL;
	if (nl < 0 || nl > NL)
		nl = NL;
	for (int i = 0; i < NW + nl; i++) {
		args[i] = (struct stress_arg){i, &stop, 0};
		REQUIRE(pthread_create(&th[i], NULL,
		                       i < NW ? stress_main : lister_main,
		                       &args[i]) == 0,
		        "pthread_create");
	}
	for (int i = 0; i < NW; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop, 1);
	for (int i = NW; i < NW + nl; i++)
		pthread_join(th[i], NULL);
	int dups, na = count_entries(P("a"), &dups),
	          nb = count_entries(P("b"), &dups);
	CHECK(na + nb == NW * 20, "a has %d, b has %d, want %d in all", na, nb,
	      NW * 20);
	if (verbose)
		printf("     stress: %ld ops, %ld listings\n",
		       args[0].ops + args[1].ops + args[2].ops + args[3].ops,
		       nl == NL ? args[4].ops + args[5].ops : 0);
}

struct relink_arg {
	atomic_int *stop;
	long listings;
};

static void *relink_lister(void *p)
{
	struct relink_arg *a = p;
	const char *dirs[2] = {"a", "b"};

	while (!atomic_load(a->stop)) {
		for (int i = 0; i < 2; i++) {
			char path[PATH_MAX];
			DIR *d = opendir(path_of(path, dirs[i]));
			if (!d) {
				fail_at(__FILE__, __LINE__, errno, "opendir");
				return NULL;
			}
			while (readdir(d))
				;
			closedir(d);
			a->listings++;
		}
	}
	return NULL;
}

/*
 * A file moved between two directories by link+unlink while another
 * thread lists both: every link(2) must succeed.  With attributes in
 * listings, a listing applied just before the kernel lowers its cached
 * link count for an unlink left the count at 0, and link(2) then failed
 * with ENOENT (see listed_bare in fuse/ops.c).
 */
void t_relink_listing(void)
{
	enum { ROUNDS = 1500 };
	struct relink_arg arg;
	atomic_int stop = 0;
	pthread_t th;
	struct stat st;
	long r;

	REQUIRE_OK(mkdir(P("a"), 0755));
	REQUIRE_OK(mkdir(P("b"), 0755));
	REQUIRE_OK(make_file(P("a/f"), 100, 7));
	arg = (struct relink_arg){&stop, 0};
	REQUIRE(pthread_create(&th, NULL, relink_lister, &arg) == 0,
	        "pthread_create");
	for (r = 0; r < ROUNDS; r++) {
		const char *from = r % 2 ? "b/f" : "a/f";
		const char *to = r % 2 ? "a/f" : "b/f";
		if (link(P(from), P(to)) < 0) {
			fail_at(__FILE__, __LINE__, errno,
			        "round %ld: link %s -> %s", r, from, to);
			break;
		}
		if (unlink(P(from)) < 0) {
			fail_at(__FILE__, __LINE__, errno,
			        "round %ld: unlink %s", r, from);
			break;
		}
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	const char *last = r % 2 ? "b/f" : "a/f";
	if (r == ROUNDS) {
		CHECK(lstat(P(last), &st) == 0 && st.st_nlink == 1,
		      "%s: nlink %ld after the rounds, want 1", last,
		      (long)st.st_nlink);
		CHECK(file_has_pattern(P(last), 100, 7), "%s: data changed",
		      last);
	}
	if (verbose)
		printf("     relink_listing: %ld rounds, %ld listings\n", r,
		       arg.listings);
}

struct writer_arg {
	int shared_fd;
	const char *path;
	int index, nthreads;
	size_t chunk, nchunks;
};

static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	uint8_t *buf = malloc(a->chunk);
	int own = open(a->path, O_WRONLY);

	if (!buf || own < 0) {
		fail_at(__FILE__, __LINE__, errno, "thread %d setup", a->index);
		goto out;
	}
	for (size_t c = (size_t)a->index; c < a->nchunks;
	     c += (size_t)a->nthreads) {
		off_t off = (off_t)(c * a->chunk);
		int fd = c / (size_t)a->nthreads % 2 ? own : a->shared_fd;
		fill_pattern(buf, a->chunk, (uint64_t)off, 37);
		if (write_full(fd, buf, a->chunk, off) != (ssize_t)a->chunk) {
			fail_at(__FILE__, __LINE__, errno,
			        "thread %d write chunk %zu", a->index, c);
			break;
		}
	}
out:
	if (own >= 0)
		close(own);
	free(buf);
	return NULL;
}

void t_threads(void)
{
	enum { NT = 8 };
	const size_t chunk = 64 * 1024 + 512, nchunks = 512;
	const size_t total = chunk * nchunks;
	pthread_t th[NT];
	struct writer_arg args[NT];
	int fd;

	REQUIRE_OK(fd = open(P("shared"), O_CREAT | O_RDWR, 0644));
	for (int i = 0; i < NT; i++) {
		args[i] =
		    (struct writer_arg){fd, P("shared"), i, NT, chunk, nchunks};
		args[i].path = strdup(P("shared"));
		REQUIRE(pthread_create(&th[i], NULL, writer_main, &args[i]) ==
		            0,
		        "pthread_create");
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		free((void *)args[i].path);
	}
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && (size_t)st.st_size == total,
	      "size %lld, want %zu", (long long)st.st_size, total);
	uint8_t *rd = malloc(total);
	REQUIRE(rd, "malloc");
	CHECK(read_full(fd, rd, total, 0) == (ssize_t)total, "read all");
	long bad = check_pattern(rd, total, 0, 37);
	CHECK(bad < 0, "threaded writes differ at %ld (chunk %ld)", bad,
	      bad / (long)chunk);
	close(fd);
	/* and after reopening (no cached pages from this fd) */
	CHECK(file_has_pattern(P("shared"), total, 37),
	      "threaded writes after reopen");
	free(rd);
}
