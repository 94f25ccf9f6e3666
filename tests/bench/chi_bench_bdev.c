/*
 * chi_bench_bdev: bdev throughput and IOPS, against the raw file and memcpy.
 *
 *   chi_bench_bdev [DIR]      (or CHI_BENCH_DIR; default /var/tmp)
 *
 * Environment: CHI_BENCH_BDEV_SIZE (device size, default 1GB),
 * CHI_BENCH_BDEV_SECS (seconds per random test, default 1.0),
 * CHI_BENCH_THREADS (runtime workers, default: CPUs - 1, at least 1).
 *
 * Prints `name value unit` lines for a ram device and a file device:
 * sequential 1 MiB write/read (MB/s, 10^6 bytes, queue depth 1 and 4) and
 * random 4 KiB read/write IOPS at queue depth 1 and 32 (async API), then the
 * same workloads on the same file with plain pwrite/pread (O_DIRECT when the
 * device uses it; depths above 1 through a plain io_uring loop), run
 * alternately with the device's (best of SEQ_REPS / RAND_REPS kept for
 * both), the ratios bdev/raw, and memcpy figures for the ram device (same
 * direction and the same user buffers as each of its sequential workloads).
 *
 * File state: the paired runs overwrite written blocks on both sides (the
 * whole file is written once first).  Before that, first writes into
 * never-written (sparse) space are measured on their own: the device writes
 * the first half of its file and pwrite the second half, alternating in
 * FRESH_SLICE pieces, so both face holes under the same background load
 * (file_seq_write_1m_fresh, raw_seq_write_1m_fresh and their ratio; one pass,
 * the space is only fresh once).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/chimaera.h"

#define MiB   (1024ull * 1024)
#define BLK4K 4096ull
#define QD    32

/* Runs of each workload; the best is kept (the machine may be shared). */
#define SEQ_REPS  3
#define SEQ_QD    4 /* the second sequential queue depth */
#define RAND_REPS 2

#define FRESH_SLICE (16 * MiB) /* alternation step of the fresh-space run */

static double secs_per_test = 1.0;
static double seq_cap_secs = 3.0;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rand_off(uint64_t size)
{
	return rnd() % (size / BLK4K) * BLK4K;
}

static void print(const char *prefix, const char *name, double v,
                  const char *unit)
{
	printf("%s_%s %.*f %s\n", prefix, name, v < 10 ? 3 : 1, v, unit);
	fflush(stdout);
}

/* ---- workloads through the bdev API ---- */

struct figures {
	double seq_write, seq_read;              /* MB/s, queue depth 1 */
	double seq_write_qd4, seq_read_qd4;      /* MB/s, queue depth 4 */
	double rr_qd1, rw_qd1, rr_qd32, rw_qd32; /* IOPS */
};

static char bench_path[4096]; /* the file device's file, removed on exit */

static int die(const char *what, int rc)
{
	fprintf(stderr, "chi_bench_bdev: %s: %s (%s)\n", what, strerror(-rc),
	        chi_error_last());
	if (bench_path[0])
		unlink(bench_path);
	exit(1);
}

static double bdev_seq(chi_pool_id id, bool write, uint64_t size, char *buf)
{
	double t0 = now_s(), t;
	uint64_t off = 0;
	int rc;

	for (;;) {
		rc = write ? chi_bdev_write(id, off, buf, MiB)
		           : chi_bdev_read(id, off, buf, MiB);
		if (rc)
			die(write ? "seq write" : "seq read", rc);
		off += MiB;
		t = now_s() - t0;
		if (off + MiB > size || t > seq_cap_secs)
			break;
	}
	return (double)off / t / 1e6;
}

/* Sequential 1 MiB requests, SEQ_QD in flight (async API). */
static double bdev_seq_qd(chi_pool_id id, bool write, uint64_t size, char *bufs)
{
	chi_future f[SEQ_QD];
	double t0 = now_s(), t = 0;
	uint64_t off = 0, done = 0;
	int i, rc;

	for (i = 0; i < SEQ_QD; i++, off += MiB) {
		char *b = bufs + (uint64_t)i * MiB;

		f[i] = write ? chi_bdev_write_async(id, off, b, MiB)
		             : chi_bdev_read_async(id, off, b, MiB);
		if (!f[i].task)
			die("submit", -ENOMEM);
	}
	for (i = 0;; i = (i + 1) % SEQ_QD) {
		if (!f[i].task)
			break; /* all drained */
		rc = chi_wait(f[i]);
		chi_task_free(f[i].task);
		f[i].task = NULL;
		if (rc)
			die("seq qd", rc);
		done += MiB;
		t = now_s() - t0;
		if (off + MiB <= size && t < seq_cap_secs) {
			char *b = bufs + (uint64_t)i * MiB;

			f[i] = write ? chi_bdev_write_async(id, off, b, MiB)
			             : chi_bdev_read_async(id, off, b, MiB);
			if (!f[i].task)
				die("submit", -ENOMEM);
			off += MiB;
		}
	}
	return (double)done / t / 1e6;
}

static double bdev_rand_qd1(chi_pool_id id, bool write, uint64_t size,
                            char *buf)
{
	double t0 = now_s(), t;
	uint64_t ops = 0;
	int rc;

	do {
		uint64_t off = rand_off(size);

		rc = write ? chi_bdev_write(id, off, buf, BLK4K)
		           : chi_bdev_read(id, off, buf, BLK4K);
		if (rc)
			die("random qd1", rc);
		ops++;
		t = now_s() - t0;
	} while (t < secs_per_test);
	return (double)ops / t;
}

static chi_future submit4k(chi_pool_id id, bool write, uint64_t size, char *buf)
{
	uint64_t off = rand_off(size);
	chi_future f = write ? chi_bdev_write_async(id, off, buf, BLK4K)
	                     : chi_bdev_read_async(id, off, buf, BLK4K);

	if (!f.task)
		die("submit", -ENOMEM);
	return f;
}

static double bdev_rand_qd(chi_pool_id id, bool write, uint64_t size,
                           char *bufs)
{
	chi_future f[QD];
	double t0 = now_s(), t;
	uint64_t ops = 0;
	int i, rc;

	for (i = 0; i < QD; i++)
		f[i] = submit4k(id, write, size, bufs + i * BLK4K);
	for (i = 0;; i = (i + 1) % QD) {
		rc = chi_wait(f[i]);
		chi_task_free(f[i].task);
		if (rc)
			die("random qd32", rc);
		ops++;
		t = now_s() - t0;
		if (t >= secs_per_test)
			break;
		f[i] = submit4k(id, write, size, bufs + i * BLK4K);
	}
	/* drain the others (not counted) */
	for (int k = 1; k < QD; k++) {
		int j = (i + k) % QD;

		chi_wait(f[j]);
		chi_task_free(f[j].task);
	}
	return (double)ops / t;
}

static void bdev_run(chi_pool_id id, uint64_t size, char *bufs,
                     struct figures *out)
{
	out->seq_write = bdev_seq(id, true, size, bufs);
	out->seq_read = bdev_seq(id, false, size, bufs);
	out->seq_write_qd4 = bdev_seq_qd(id, true, size, bufs);
	out->seq_read_qd4 = bdev_seq_qd(id, false, size, bufs);
	out->rr_qd1 = bdev_rand_qd1(id, false, size, bufs);
	out->rw_qd1 = bdev_rand_qd1(id, true, size, bufs);
	out->rr_qd32 = bdev_rand_qd(id, false, size, bufs);
	out->rw_qd32 = bdev_rand_qd(id, true, size, bufs);
}

/* ---- the same on the raw file ---- */

static double raw_seq(int fd, bool write, uint64_t size, char *buf)
{
	double t0 = now_s(), t;
	uint64_t off = 0;
	ssize_t n;

	for (;;) {
		n = write ? pwrite(fd, buf, MiB, (off_t)off)
		          : pread(fd, buf, MiB, (off_t)off);
		if (n != (ssize_t)MiB)
			die("raw seq", n < 0 ? -errno : -EIO);
		off += MiB;
		t = now_s() - t0;
		if (off + MiB > size || t > seq_cap_secs)
			break;
	}
	return (double)off / t / 1e6;
}

/* Sequential 1 MiB requests on the raw file, SEQ_QD in flight through a
 * plain io_uring loop. */
static double raw_seq_qd(int fd, bool write, uint64_t size, char *bufs)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	double t0, t = 0;
	uint64_t off = 0, done = 0;
	int i, rc, inflight = 0;

	rc = io_uring_queue_init(SEQ_QD, &ring, 0);
	if (rc)
		die("raw io_uring", rc);
	t0 = now_s();
	for (i = 0; i < SEQ_QD; i++, off += MiB) {
		sqe = io_uring_get_sqe(&ring);
		if (write)
			io_uring_prep_write(sqe, fd, bufs + (uint64_t)i * MiB,
			                    MiB, off);
		else
			io_uring_prep_read(sqe, fd, bufs + (uint64_t)i * MiB,
			                   MiB, off);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)i);
		inflight++;
	}
	io_uring_submit(&ring);
	while (inflight) {
		rc = io_uring_wait_cqe(&ring, &cqe);
		if (rc)
			die("raw wait", rc);
		if (cqe->res != (int)MiB)
			die("raw seq qd", cqe->res < 0 ? cqe->res : -EIO);
		i = (int)(uintptr_t)io_uring_cqe_get_data(cqe);
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		done += MiB;
		t = now_s() - t0;
		if (off + MiB <= size && t < seq_cap_secs) {
			sqe = io_uring_get_sqe(&ring);
			if (write)
				io_uring_prep_write(sqe, fd,
				                    bufs + (uint64_t)i * MiB,
				                    MiB, off);
			else
				io_uring_prep_read(sqe, fd,
				                   bufs + (uint64_t)i * MiB,
				                   MiB, off);
			io_uring_sqe_set_data(sqe, (void *)(uintptr_t)i);
			io_uring_submit(&ring);
			inflight++;
			off += MiB;
		}
	}
	io_uring_queue_exit(&ring);
	return (double)done / t / 1e6;
}

static double raw_rand_qd1(int fd, bool write, uint64_t size, char *buf)
{
	double t0 = now_s(), t;
	uint64_t ops = 0;
	ssize_t n;

	do {
		off_t off = (off_t)rand_off(size);

		n = write ? pwrite(fd, buf, BLK4K, off)
		          : pread(fd, buf, BLK4K, off);
		if (n != (ssize_t)BLK4K)
			die("raw random", n < 0 ? -errno : -EIO);
		ops++;
		t = now_s() - t0;
	} while (t < secs_per_test);
	return (double)ops / t;
}

static void raw_prep(struct io_uring *ring, int fd, bool write, uint64_t size,
                     char *buf, uintptr_t idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (write)
		io_uring_prep_write(sqe, fd, buf, BLK4K, rand_off(size));
	else
		io_uring_prep_read(sqe, fd, buf, BLK4K, rand_off(size));
	io_uring_sqe_set_data(sqe, (void *)idx);
}

static double raw_rand_qd(int fd, bool write, uint64_t size, char *bufs)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	double t0, t;
	uint64_t ops = 0;
	int i, rc, inflight = QD;

	rc = io_uring_queue_init(QD, &ring, 0);
	if (rc)
		die("raw io_uring", rc);
	t0 = now_s();
	for (i = 0; i < QD; i++)
		raw_prep(&ring, fd, write, size, bufs + i * BLK4K,
		         (uintptr_t)i);
	io_uring_submit(&ring);
	for (;;) {
		rc = io_uring_wait_cqe(&ring, &cqe);
		if (rc)
			die("raw wait", rc);
		if (cqe->res != (int)BLK4K)
			die("raw io", cqe->res < 0 ? cqe->res : -EIO);
		i = (int)(uintptr_t)io_uring_cqe_get_data(cqe);
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		ops++;
		t = now_s() - t0;
		if (t >= secs_per_test)
			break;
		raw_prep(&ring, fd, write, size, bufs + i * BLK4K,
		         (uintptr_t)i);
		io_uring_submit(&ring);
		inflight++;
	}
	while (inflight-- > 0 && !io_uring_wait_cqe(&ring, &cqe))
		io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	return (double)ops / t;
}

static double best(double a, double b)
{
	return a > b ? a : b;
}

/*
 * The file device and the raw file, workload by workload, alternating and
 * keeping the best of `reps` runs each: the machine may be shared, and
 * alternating exposes both to the same background load.
 */
static void paired_run(chi_pool_id id, int fd, uint64_t size, char *bufs,
                       struct figures *dev, struct figures *raw)
{
	int r;

	memset(dev, 0, sizeof(*dev));
	memset(raw, 0, sizeof(*raw));
	for (r = 0; r < SEQ_REPS; r++) {
		dev->seq_write =
		    best(dev->seq_write, bdev_seq(id, true, size, bufs));
		raw->seq_write =
		    best(raw->seq_write, raw_seq(fd, true, size, bufs));
		dev->seq_read =
		    best(dev->seq_read, bdev_seq(id, false, size, bufs));
		raw->seq_read =
		    best(raw->seq_read, raw_seq(fd, false, size, bufs));
		dev->seq_write_qd4 =
		    best(dev->seq_write_qd4, bdev_seq_qd(id, true, size, bufs));
		raw->seq_write_qd4 =
		    best(raw->seq_write_qd4, raw_seq_qd(fd, true, size, bufs));
		dev->seq_read_qd4 =
		    best(dev->seq_read_qd4, bdev_seq_qd(id, false, size, bufs));
		raw->seq_read_qd4 =
		    best(raw->seq_read_qd4, raw_seq_qd(fd, false, size, bufs));
	}
	for (r = 0; r < RAND_REPS; r++) {
		dev->rr_qd1 =
		    best(dev->rr_qd1, bdev_rand_qd1(id, false, size, bufs));
		raw->rr_qd1 =
		    best(raw->rr_qd1, raw_rand_qd1(fd, false, size, bufs));
		dev->rw_qd1 =
		    best(dev->rw_qd1, bdev_rand_qd1(id, true, size, bufs));
		raw->rw_qd1 =
		    best(raw->rw_qd1, raw_rand_qd1(fd, true, size, bufs));
		dev->rr_qd32 =
		    best(dev->rr_qd32, bdev_rand_qd(id, false, size, bufs));
		raw->rr_qd32 =
		    best(raw->rr_qd32, raw_rand_qd(fd, false, size, bufs));
		dev->rw_qd32 =
		    best(dev->rw_qd32, bdev_rand_qd(id, true, size, bufs));
		raw->rw_qd32 =
		    best(raw->rw_qd32, raw_rand_qd(fd, true, size, bufs));
	}
}

static void print_figures(const char *prefix, const struct figures *f)
{
	print(prefix, "seq_write_1m", f->seq_write, "MB/s");
	print(prefix, "seq_read_1m", f->seq_read, "MB/s");
	print(prefix, "seq_write_1m_qd4", f->seq_write_qd4, "MB/s");
	print(prefix, "seq_read_1m_qd4", f->seq_read_qd4, "MB/s");
	print(prefix, "randread_4k_qd1", f->rr_qd1, "IOPS");
	print(prefix, "randwrite_4k_qd1", f->rw_qd1, "IOPS");
	print(prefix, "randread_4k_qd32", f->rr_qd32, "IOPS");
	print(prefix, "randwrite_4k_qd32", f->rw_qd32, "IOPS");
}

/* memcpy figures with the ram device's access patterns, one per workload */
struct mc_figures {
	double write, read;         /* one 1 MiB buffer */
	double write_qd4, read_qd4; /* SEQ_QD buffers in turn */
};

/*
 * memcpy between 1 MiB pieces of a touched arena of the device's size and
 * nbuf 1 MiB user buffers used in turn: into the arena (write) or out of it
 * (read), as the device's sequential workloads do (queue depth 4 cycles
 * through SEQ_QD buffers, which no longer stay in the CPU's cache).
 */
static double memcpy_bw(uint64_t size, char *bufs, int nbuf, bool read)
{
	char *arena = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	double t0, t;
	uint64_t off = 0, i;

	if (arena == MAP_FAILED)
		die("memcpy buffer", -ENOMEM);
	memset(arena, 2, size);
	t0 = now_s();
	for (i = 0;; i++) {
		char *user = bufs + i % (uint64_t)nbuf * MiB;

		if (read)
			memcpy(user, arena + off % size, MiB);
		else
			memcpy(arena + off % size, user, MiB);
		off += MiB;
		t = now_s() - t0;
		if (off >= 2 * size || t > seq_cap_secs)
			break;
	}
	munmap(arena, size);
	return (double)off / t / 1e6;
}

static void memcpy_run(uint64_t size, char *bufs, struct mc_figures *mc)
{
	mc->write = best(mc->write, memcpy_bw(size, bufs, 1, false));
	mc->read = best(mc->read, memcpy_bw(size, bufs, 1, true));
	mc->write_qd4 =
	    best(mc->write_qd4, memcpy_bw(size, bufs, SEQ_QD, false));
	mc->read_qd4 = best(mc->read_qd4, memcpy_bw(size, bufs, SEQ_QD, true));
}

static void ratio(const char *name, double a, double b)
{
	printf("%s %.2f x\n", name, b > 0 ? a / b : 0.0);
}

/*
 * Sequential 1 MiB first writes into holes: the device into [0, half), raw
 * pwrite into [half, 2 * half) of the same file, alternating FRESH_SLICE
 * pieces.  MB/s for each into *dev_mbps and *raw_mbps.
 */
static void fresh_run(chi_pool_id id, int fd, uint64_t size, char *buf,
                      double *dev_mbps, double *raw_mbps)
{
	uint64_t half = size / 2 / MiB * MiB, off, o, end;
	double tdev = 0, traw = 0, t0;
	int rc;

	for (off = 0; off < half; off += FRESH_SLICE) {
		end = off + FRESH_SLICE < half ? off + FRESH_SLICE : half;
		t0 = now_s();
		for (o = off; o + MiB <= end; o += MiB) {
			rc = chi_bdev_write(id, o, buf, MiB);
			if (rc)
				die("fresh write", rc);
		}
		tdev += now_s() - t0;
		t0 = now_s();
		for (o = off; o + MiB <= end; o += MiB) {
			if (pwrite(fd, buf, MiB, (off_t)(half + o)) !=
			    (ssize_t)MiB)
				die("raw fresh write", -errno);
		}
		traw += now_s() - t0;
	}
	*dev_mbps = (double)half / tdev / 1e6;
	*raw_mbps = (double)half / traw / 1e6;
}

/* Write the whole device once (untimed) so later passes see allocated
 * blocks / touched pages, for the device and the raw runs alike. */
static void prefill(chi_pool_id id, uint64_t size, char *buf)
{
	uint64_t off;
	int rc;

	for (off = 0; off + MiB <= size; off += MiB) {
		rc = chi_bdev_write(id, off, buf, MiB);
		if (rc)
			die("prefill", rc);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("CHI_BENCH_DIR");
	const char *env;
	char yaml[256], path[4096];
	chi_config *cfg = NULL;
	chi_bdev_params p;
	chi_bdev_stats st;
	chi_pool_id ram_id = {950, 0}, file_id = {951, 0};
	struct figures ram, file, raw;
	uint64_t size = 1024 * MiB;
	/* one core for the client thread: spinning idle workers on every core
	 * would take CPU from the worker doing the copy */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = ncpu > 2 ? (unsigned)(ncpu - 1) : 1;
	struct mc_figures mc;
	double fresh_dev, fresh_raw;
	char *bufs;
	int rc, fd, flags, rep;

	if (!dir)
		dir = "/var/tmp";
	if ((env = getenv("CHI_BENCH_BDEV_SIZE")) && chi_parse_size(env, &size))
		die("CHI_BENCH_BDEV_SIZE", -EINVAL);
	if ((env = getenv("CHI_BENCH_BDEV_SECS")))
		secs_per_test = atof(env);
	if ((env = getenv("CHI_BENCH_THREADS")))
		threads = (unsigned)atoi(env);
	if (size < 64 * MiB)
		size = 64 * MiB;
	size = size / MiB * MiB;
	snprintf(path, sizeof(path), "%s/chi_bench_bdev.%d.dat", dir,
	         (int)getpid());
	if (posix_memalign((void **)&bufs, BLK4K, SEQ_QD * MiB))
		die("buffers", -ENOMEM);
	memset(bufs, 0x5a, SEQ_QD * MiB);

	/* before the runtime starts: no worker threads on the CPUs */
	memset(&mc, 0, sizeof(mc));
	memcpy_run(size, bufs, &mc);
	snprintf(yaml, sizeof(yaml),
	         "runtime:\n  num_threads: %u\n  queue_depth: 1024\n",
	         threads ? threads : 1);
	rc = chi_config_load_string(&cfg, yaml, "chi_bench_bdev");
	if (rc)
		die("config", rc);
	rc = chi_init_with_loaded_config(cfg);
	if (rc)
		die("chi_init", rc);
	printf("device_size %llu MiB\n", (unsigned long long)(size / MiB));
	printf("runtime_workers %u threads\n", chi_num_workers());

	/* ram */
	memset(&p, 0, sizeof(p));
	p.type = CHI_BDEV_RAM;
	snprintf(p.path, sizeof(p.path), "ram::bench");
	p.capacity = size;
	rc = chi_bdev_create(&ram_id, p.path, &p);
	if (rc)
		die("create ram", rc);
	prefill(ram_id, size, bufs);
	bdev_run(ram_id, size, bufs, &ram);
	/* sequential again, alternating with memcpy (same mapping kind as
	 * the arena), best of each, so background load hurts both alike */
	for (rep = 1; rep < SEQ_REPS; rep++) {
		memcpy_run(size, bufs, &mc);
		ram.seq_write =
		    best(ram.seq_write, bdev_seq(ram_id, true, size, bufs));
		ram.seq_read =
		    best(ram.seq_read, bdev_seq(ram_id, false, size, bufs));
		ram.seq_write_qd4 = best(ram.seq_write_qd4,
		                         bdev_seq_qd(ram_id, true, size, bufs));
		ram.seq_read_qd4 = best(ram.seq_read_qd4,
		                        bdev_seq_qd(ram_id, false, size, bufs));
	}
	print_figures("ram", &ram);
	print("memcpy", "1m", mc.write, "MB/s");
	print("memcpy", "1m_read", mc.read, "MB/s");
	print("memcpy", "1m_4buf", mc.write_qd4, "MB/s");
	print("memcpy", "1m_read_4buf", mc.read_qd4, "MB/s");
	ratio("ram_seq_write_vs_memcpy", ram.seq_write, mc.write);
	ratio("ram_seq_read_vs_memcpy", ram.seq_read, mc.read);
	ratio("ram_seq_write_qd4_vs_memcpy", ram.seq_write_qd4, mc.write_qd4);
	ratio("ram_seq_read_qd4_vs_memcpy", ram.seq_read_qd4, mc.read_qd4);
	chi_bdev_destroy(ram_id);

	/* file */
	memset(&p, 0, sizeof(p));
	p.type = CHI_BDEV_FILE;
	snprintf(p.path, sizeof(p.path), "%s", path);
	snprintf(bench_path, sizeof(bench_path), "%s", path);
	p.capacity = size;
	p.io_depth = 64;
	rc = chi_bdev_create(&file_id, p.path, &p);
	if (rc)
		die("create file", rc);
	rc = chi_bdev_get_stats(file_id, &st);
	if (rc)
		die("stats", rc);
	printf("file_direct_io %d bool\n", (int)st.direct_io);
	/* raw: the same file, the same flags */
	flags = O_RDWR | (st.direct_io ? O_DIRECT : 0);
	fd = open(path, flags);
	if (fd < 0)
		die("open raw", -errno);
	fresh_run(file_id, fd, size, bufs, &fresh_dev, &fresh_raw);
	prefill(file_id, size, bufs);
	paired_run(file_id, fd, size, bufs, &file, &raw);
	close(fd);
	print_figures("file", &file);
	print_figures("raw", &raw);
	print("file", "seq_write_1m_fresh", fresh_dev, "MB/s");
	print("raw", "seq_write_1m_fresh", fresh_raw, "MB/s");
	rc = chi_bdev_get_stats(file_id, &st);
	if (!rc) {
		print("file", "stats_read_lat", st.read_lat_us, "us");
		print("file", "stats_write_lat", st.write_lat_us, "us");
	}
	chi_bdev_destroy(file_id);
	unlink(path);

	ratio("file_seq_write_ratio", file.seq_write, raw.seq_write);
	ratio("file_seq_write_fresh_ratio", fresh_dev, fresh_raw);
	ratio("file_seq_read_ratio", file.seq_read, raw.seq_read);
	ratio("file_seq_write_qd4_ratio", file.seq_write_qd4,
	      raw.seq_write_qd4);
	ratio("file_seq_read_qd4_ratio", file.seq_read_qd4, raw.seq_read_qd4);
	ratio("file_randread_qd1_ratio", file.rr_qd1, raw.rr_qd1);
	ratio("file_randwrite_qd1_ratio", file.rw_qd1, raw.rw_qd1);
	ratio("file_randread_qd32_ratio", file.rr_qd32, raw.rr_qd32);
	ratio("file_randwrite_qd32_ratio", file.rw_qd32, raw.rw_qd32);
	chi_finalize();
	free(bufs);
	return 0;
}
