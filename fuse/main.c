/*
 * cte-fuse: command line, start-up and shut-down.
 *
 * DESIGN: the parent parses arguments and loads the config (no threads yet),
 * then, unless -f, forks.  The child starts the embedded Chimaera runtime,
 * connects to the CTE pool, mounts and only then tells the parent (one
 * status byte over a pipe), so `cte-fuse DIR` returns once the mount is live
 * and fails with the child's message when anything before that fails.
 * libfuse's worker threads (fuse_session_loop_mt) serve requests; SIGTERM,
 * SIGINT, SIGHUP and unmounting end the loop, after which the daemon
 * unmounts, makes everything durable (cte_sync_all) and stops the runtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctefs_i.h"

static void usage(const char *prog)
{
	printf(
	    "usage: %s [options] [SOURCE] MOUNTPOINT\n"
	    "\n"
	    "Mount the CTE tiered blob store as a POSIX filesystem.\n"
	    "\n"
	    "options:\n"
	    "  -h, --help             print this help and exit\n"
	    "  -V, --version          print the version and exit\n"
	    "  -c, --config FILE      runtime config (YAML, see "
	    "cte-fuse.yaml(5))\n"
	    "  -f                     stay in the foreground\n"
	    "  -d                     debug output (implies -f)\n"
	    "  -s                     single-threaded\n"
	    "  -o OPT[,OPT...]        mount options:\n"
	    "     config=FILE            same as -c\n"
	    "     allow_other            let other users access the mount\n"
	    "     fsname=NAME            source shown in /proc/mounts\n"
	    "     no_writeback           no kernel write-back cache\n"
	    "     no_readdirplus         no attributes with directory listings\n"
	    "     no_killpriv_v2         let the kernel check suid and\n"
	    "                            capabilities before every write\n"
	    "     attr_timeout=SECONDS   attribute cache time (10)\n"
	    "     entry_timeout=SECONDS  name cache time (10)\n"
	    "     max_threads=N          FUSE worker threads\n"
	    "     dirty_ratio=PCT        share of the system's dirty-page\n"
	    "                            limit the mount may use (root; 10)\n"
	    "     ro, nosuid, nodev, noexec, noatime, ... as mount(8)\n"
	    "\n"
	    "SOURCE (mount(8) form) names the config if it is a file, and is\n"
	    "ignored otherwise.  See cte-fuse(1).\n",
	    prog);
}

/* Build the argument vector for fuse_session_new. */
static int session_args(struct ctefs_opts *o, struct fuse_args *args)
{
	char *opts = NULL;
	int ret = 0;

	if (fuse_opt_add_arg(args, "cte-fuse"))
		return -ENOMEM;
	if (o->debug && fuse_opt_add_arg(args, "-d"))
		return -ENOMEM;
	/* The kernel checks permissions from the modes we report. */
	ret = ctefs__append_opt(&opts, "default_permissions");
	if (!ret && (!o->fuse_opts || !strstr(o->fuse_opts, "fsname=")))
		ret = ctefs__append_opt(&opts, "fsname=cte-fuse");
	if (!ret && (!o->fuse_opts || !strstr(o->fuse_opts, "subtype=")))
		ret = ctefs__append_opt(&opts, "subtype=cte-fuse");
	if (!ret && o->fuse_opts)
		ret = ctefs__append_opt(&opts, o->fuse_opts);
	if (!ret &&
	    (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opts)))
		ret = -ENOMEM;
	free(opts);
	return ret;
}

/* Tell the waiting parent how start-up went. */
static void notify_parent(int fd, unsigned char status)
{
	ssize_t n;

	if (fd < 0)
		return;
	do {
		n = write(fd, &status, 1);
	} while (n < 0 && errno == EINTR);
	close(fd);
}

/* Fork; the parent returns the child's status, the child returns -1. */
static int fork_and_wait(int *notify_fd)
{
	int fds[2];
	unsigned char status = 1;
	pid_t pid;
	ssize_t n;

	if (pipe(fds)) {
		perror("cte-fuse: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("cte-fuse: fork");
		return 1;
	}
	if (pid == 0) {
		close(fds[0]);
		*notify_fd = fds[1];
		return -1;
	}
	close(fds[1]);
	do {
		n = read(fds[0], &status, 1);
	} while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n != 1) {
		/* The child died before it could say: reap it. */
		int ws = 0;
		waitpid(pid, &ws, 0);
		status = 1;
	}
	return status;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (setsid() < 0 && errno != EPERM)
		perror("cte-fuse: setsid");
	if (chdir("/"))
		perror("cte-fuse: chdir");
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

#define READ_AHEAD_KB 8192

/* Raise the mount's bdi setting `name` to at least `value`. */
static void bdi_raise(const struct stat *st, const char *name,
                      unsigned long value)
{
	char path[96];
	unsigned long cur = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/%s",
	         major(st->st_dev), minor(st->st_dev), name);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%lu", &cur) != 1)
		cur = 0;
	fclose(f);
	if (cur >= value)
		return;
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%lu\n", value);
		fclose(f);
	}
}

/*
 * The mount's bdi (backing device) settings, which only root may change,
 * and only after INIT (the INIT reply would lower read-ahead again), so a
 * short-lived thread waits for INIT and sets them:
 *   read_ahead_kb  the kernel reads ahead at most 128 KiB on a FUSE mount;
 *                  1 MiB read requests double sequential reads, and a
 *                  window of 8 MiB (what Debian gives a virtio disk) keeps
 *                  several in flight: 1 MiB reads of a cold 512 MiB file,
 *                  4 alternating runs: 436-680 MiB/s at 1 MiB, 520-681 at
 *                  8 MiB (mean +11%); random 4 KiB reads stay 4 KiB
 *                  requests (the kernel grows the window only on
 *                  sequential hits).
 *   max_ratio      the kernel lets a FUSE mount hold 1% of the system's
 *                  dirty-page limit (strictly); past that every writer is
 *                  throttled to the rate pages are written back, one FUSE
 *                  WRITE per run of dirty pages.  4 KiB random writes at
 *                  queue depth 1 over 256 MiB: ~8,000 IOPS at 1%, ~240,000
 *                  at 20% (measured, with FUSE_HANDLE_KILLPRIV_V2; without
 *                  it the GETXATTR per write caps them near 23,000).
 *                  -o dirty_ratio sets it (0: leave the kernel's).
 */
static void *tune_bdi(void *arg)
{
	struct ctefs *fs = arg;
	struct timespec pause = {0, 10 * 1000 * 1000};
	struct stat st;
	int i;

	for (i = 0;
	     i < 500 && !__atomic_load_n(&fs->init_done, __ATOMIC_ACQUIRE); i++)
		nanosleep(&pause, NULL);
	nanosleep(&pause, NULL); /* let the INIT reply be processed */
	if (stat(fs->opts.mountpoint, &st))
		return NULL;
	bdi_raise(&st, "read_ahead_kb", READ_AHEAD_KB);
	if (fs->opts.dirty_ratio && fs->opts.writeback)
		bdi_raise(&st, "max_ratio", fs->opts.dirty_ratio);
	return NULL;
}

static int run_loop(struct ctefs *fs)
{
	struct fuse_loop_config *lc;
	int ret;

	if (fs->opts.single_thread)
		return fuse_session_loop(fs->se);
	lc = fuse_loop_cfg_create();
	if (!lc)
		return -ENOMEM;
	if (fs->opts.max_threads)
		fuse_loop_cfg_set_max_threads(lc, fs->opts.max_threads);
	ret = fuse_session_loop_mt(fs->se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	static struct ctefs fs;
	static struct fuse_lowlevel_ops ops;
	chi_config *cfg = NULL;
	char *pool = NULL, *mountpoint = NULL;
	int notify_fd = -1, ret, status = 1;
	bool runtime = false, table = false, handlers = false, mounted = false;
	cte_attr root;
	struct stat st;

	if (ctefs__parse_args(&fs.opts, argc, argv))
		return 2;
	if (fs.opts.show_help) {
		usage(argv[0]);
		return 0;
	}
	if (fs.opts.show_version) {
		printf("cte-fuse %s\nFUSE library version %s\n", CTEFS_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	errno = 0;
	if (stat(fs.opts.mountpoint, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "cte-fuse: %s: %s\n", fs.opts.mountpoint,
		        errno ? strerror(errno) : "not a directory");
		return 1;
	}
	/* absolute: the daemon changes to / */
	mountpoint = realpath(fs.opts.mountpoint, NULL);
	if (mountpoint)
		fs.opts.mountpoint = mountpoint;
	ret = ctefs__config_load(&cfg, &pool, fs.opts.config_path, true);
	if (ret) {
		const char *msg = chi_error_last();
		fprintf(stderr, "cte-fuse: %s\n",
		        msg[0] ? msg : strerror(-ret));
		return 1;
	}
	if (!fs.opts.foreground) {
		ret = fork_and_wait(&notify_fd);
		if (ret >= 0) {
			chi_config_free(cfg);
			free(pool);
			free(mountpoint);
			return ret;
		}
	}

	ret = chi_init_with_loaded_config(cfg);
	cfg = NULL;
	if (ret) {
		fprintf(stderr, "cte-fuse: starting the runtime: %s\n",
		        chi_error_last()[0] ? chi_error_last()
		                            : strerror(-ret));
		goto out;
	}
	runtime = true;
	ret = cte_client_init(&fs.cte, pool);
	if (ret) {
		fprintf(stderr, "cte-fuse: CTE pool %s: %s\n", pool,
		        chi_error_last()[0] ? chi_error_last()
		                            : strerror(-ret));
		goto out;
	}
	ret = ctefs__itable_init(&fs.itab);
	if (ret)
		goto out;
	table = true;
	ret = cte_ns_getattr(&fs.cte, CTE_ROOT_ID, &root);
	if (ret == 0) {
		struct ctefs_inode *e =
		    ctefs__inode_ref_lock(&fs.itab, CTE_ROOT_ID, 1);

		if (e)
			ctefs__inode_note_attr(e, &root);
		else
			ret = -ENOMEM;
		ctefs__inode_unlock(&fs.itab, e);
	}
	if (ret) {
		fprintf(stderr, "cte-fuse: the root directory: %s\n",
		        strerror(-ret));
		goto out;
	}

	ret = session_args(&fs.opts, &args);
	if (ret)
		goto out;
	ops = ctefs__ops;
	/*
	 * With the write-back cache only the kernel knows the size of a file
	 * with dirty pages; its own SEEK_DATA/SEEK_HOLE (whole file is data)
	 * uses that size, ours would use CTE's and could be short.
	 */
	if (fs.opts.writeback)
		ops.lseek = NULL;
	fs.se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!fs.se) {
		fprintf(stderr, "cte-fuse: bad FUSE options\n");
		goto out;
	}
	if (fuse_set_signal_handlers(fs.se))
		goto out;
	handlers = true;
	if (fuse_session_mount(fs.se, fs.opts.mountpoint)) {
		fprintf(stderr, "cte-fuse: cannot mount on %s\n",
		        fs.opts.mountpoint);
		goto out;
	}
	mounted = true;
	/*
	 * Before the loop reads INIT (rawio.c).  Without the hooks the kernel
	 * is not offered FUSE_HANDLE_KILLPRIV_V2 and keeps doing that work
	 * itself: slower small writes, but correct.
	 */
	ret = ctefs__rawio_install(&fs);
	if (ret)
		fprintf(stderr,
		        "cte-fuse: warning: no channel hooks (%s): "
		        "FUSE_HANDLE_KILLPRIV_V2 not offered\n",
		        strerror(-ret));
	if (!fs.opts.foreground) {
		notify_parent(notify_fd, 0);
		notify_fd = -1;
		detach_stdio();
	}
	if (geteuid() == 0) {
		pthread_attr_t attr;
		pthread_t tuner;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_create(&tuner, &attr, tune_bdi, &fs);
		pthread_attr_destroy(&attr);
	}
	ret = run_loop(&fs);
	/* 0 after an unmount, the signal's number after SIGTERM/SIGINT/
	 * SIGHUP: both are a clean stop; < 0 is an error */
	status = ret >= 0 ? 0 : 1;
out:
	notify_parent(notify_fd, 1);
	if (mounted)
		fuse_session_unmount(fs.se);
	if (handlers)
		fuse_remove_signal_handlers(fs.se);
	if (fs.se)
		fuse_session_destroy(fs.se);
	fuse_opt_free_args(&args);
	if (runtime) {
		if (mounted)
			cte_sync_all(&fs.cte);
		chi_finalize();
	}
	if (table)
		ctefs__itable_destroy(&fs.itab);
	chi_config_free(cfg);
	free(pool);
	free(fs.opts.fuse_opts);
	free(mountpoint);
	return status;
}
