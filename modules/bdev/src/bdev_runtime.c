/*
 * The chimaera_bdev module: containers holding a RAM arena or a file,
 * their methods (AllocateBlocks, FreeBlocks, ReserveBlocks, Write, Read,
 * GetStats, Sync) and the exported ops table.
 *
 * DESIGN
 * Methods run in tasks on the runtime's workers, any worker for any
 * request; Read, Write, AllocateBlocks, FreeBlocks and GetStats may also run
 * inline on the client thread that submitted them (bdev_inline_ok), several
 * at once.  Shared state and who protects it:
 *   - the allocator: its own shard locks and counter (bdev_alloc_i.h);
 *   - file I/O: per-worker rings, each touched by its worker only
 *     (bdev_io.c), and a pool of rings, each used by one client thread at a
 *     time (bdev_inline.c); RAM I/O is a memcpy into the arena;
 *   - statistics: one slot per worker, written by that worker alone, and
 *     one for the client threads, which update it concurrently
 *     (fetch-and-add, and a compare-and-swap loop for the moving averages,
 *     which every slot uses); relaxed atomics, summed by GetStats.
 * Ranges written concurrently must be disjoint (callers own their extents);
 * the device does not order overlapping requests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/bdev/bdev_tasks.h"
#include "chimaera/chimaera.h"
#include "chimaera/sys/module.h"
#include "chimaera/sys/worker.h"
#include "bdev_i.h"

/* Weight of a new sample in the moving averages. */
#define EWMA_WEIGHT 0.125

/* RAM requests copy this much between yields. */
#define RAM_SLICE (8ull << 20)

static struct bdev__dev *dev_of(chi_container *c)
{
	return c->state;
}

/* Fail a task: rc, and a message for the worker and for the client. */
static void fail(chi_task *task, char *errmsg, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(chi_task *task, char *errmsg, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, CHI_BDEV_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	chi_error_set(rc, "%s", errmsg);
	task->rc = rc;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct bdev__wstats *my_stats(struct bdev__dev *dev)
{
	int w = chi_worker_self();

	if (w < 0 || (uint32_t)w >= dev->nworkers)
		w = (int)dev->nworkers;
	return &dev->stats[w];
}

/* A compare-and-swap loop: the slot for calls off the workers is updated
 * by several client threads at once, and none of their samples is lost. */
static void ewma(_Atomic double *avg, double sample)
{
	double old = atomic_load_explicit(avg, memory_order_relaxed), next;

	do {
		next = old == 0 ? sample : old + EWMA_WEIGHT * (sample - old);
	} while (!atomic_compare_exchange_weak_explicit(
	    avg, &old, next, memory_order_relaxed, memory_order_relaxed));
}

static void add_u64(_Atomic uint64_t *v, uint64_t n, bool shared)
{
	/* a worker's slot has one writer: a load and a store are enough;
	 * the slot for calls off the workers is shared by client threads */
	if (shared)
		atomic_fetch_add_explicit(v, n, memory_order_relaxed);
	else
		atomic_store_explicit(
		    v, atomic_load_explicit(v, memory_order_relaxed) + n,
		    memory_order_relaxed);
}

static void account(struct bdev__dev *dev, bool write, uint64_t bytes,
                    uint64_t ns)
{
	struct bdev__wstats *s = my_stats(dev);
	bool shared = s == &dev->stats[dev->nworkers];
	double us = (double)ns / 1000.0;
	double mbps;

	if (us < 0.001)
		us = 0.001;
	mbps = (double)bytes / us; /* bytes per us = MB/s (10^6 bytes) */
	if (write) {
		add_u64(&s->bytes_written, bytes, shared);
		add_u64(&s->ops_written, 1, shared);
		ewma(&s->write_lat_us, us);
		ewma(&s->write_bw_mbps, mbps);
	} else {
		add_u64(&s->bytes_read, bytes, shared);
		add_u64(&s->ops_read, 1, shared);
		ewma(&s->read_lat_us, us);
		ewma(&s->read_bw_mbps, mbps);
	}
}

/* ---- methods ---- */

static void m_allocate(chi_container *c, chi_task *task)
{
	chi_bdev_alloc_task *t = (chi_bdev_alloc_task *)task;
	struct bdev__dev *dev = dev_of(c);
	uint32_t hint = 0, max = t->max_blocks;
	int w = chi_worker_self(), rc;

	t->n_blocks = 0;
	if (max > CHI_BDEV_MAX_BLOCKS)
		max = CHI_BDEV_MAX_BLOCKS;
	if (!t->size || !max) {
		fail(task, t->errmsg, -EINVAL,
		     "bdev: %s: allocate of %llu bytes in %u blocks",
		     dev->params.path, (unsigned long long)t->size,
		     t->max_blocks);
		return;
	}
	/* spread workers over the shards so they rarely share a lock, and
	 * client threads running this inline by their thread id */
	if (w >= 0 && dev->nworkers)
		hint = (uint32_t)((uint64_t)w * dev->alloc.nshards /
		                  dev->nworkers);
	else if (w < 0)
		hint = (uint32_t)gettid() * 2654435761u >> 7;
	rc = bdev__alloc_get(&dev->alloc, hint, t->size, t->blocks, max,
	                     &t->n_blocks);
	if (rc == -ENOSPC)
		fail(task, t->errmsg, rc,
		     "bdev: %s: no space for %llu bytes (%llu free)",
		     dev->params.path, (unsigned long long)t->size,
		     (unsigned long long)bdev__alloc_free_bytes(&dev->alloc));
	else if (rc == -E2BIG)
		fail(task, t->errmsg, rc,
		     "bdev: %s: %llu bytes would need more than %u extents "
		     "(free space is fragmented)",
		     dev->params.path, (unsigned long long)t->size, max);
	else if (rc)
		fail(task, t->errmsg, rc, "bdev: %s: allocate: %s",
		     dev->params.path, strerror(-rc));
	else
		task->rc = 0;
}

static void m_free(chi_container *c, chi_task *task)
{
	chi_bdev_blocks_task *t = (chi_bdev_blocks_task *)task;
	struct bdev__dev *dev = dev_of(c);
	int rc = bdev__alloc_put(&dev->alloc, t->blocks, t->n);

	if (rc == -EINVAL)
		fail(task, t->errmsg, rc,
		     "bdev: %s: free: an extent is misaligned, outside the "
		     "device or not allocated",
		     dev->params.path);
	else if (rc)
		fail(task, t->errmsg, rc, "bdev: %s: free: %s",
		     dev->params.path, strerror(-rc));
	else
		task->rc = 0;
}

static void m_reserve(chi_container *c, chi_task *task)
{
	chi_bdev_blocks_task *t = (chi_bdev_blocks_task *)task;
	struct bdev__dev *dev = dev_of(c);
	int rc = bdev__alloc_reserve(&dev->alloc, t->blocks, t->n);

	if (rc == -EEXIST)
		fail(task, t->errmsg, rc,
		     "bdev: %s: reserve: an extent is already allocated",
		     dev->params.path);
	else if (rc == -EINVAL)
		fail(task, t->errmsg, rc,
		     "bdev: %s: reserve: an extent is misaligned or outside "
		     "the device",
		     dev->params.path);
	else if (rc)
		fail(task, t->errmsg, rc, "bdev: %s: reserve: %s",
		     dev->params.path, strerror(-rc));
	else
		task->rc = 0;
}

/* RAM I/O: a memcpy, in slices with a yield between them so that one huge
 * request does not hold the worker from everything else. */
static void ram_copy(struct bdev__dev *dev, bool write, uint64_t off, void *buf,
                     uint64_t len)
{
	char *user = buf;

	for (;;) {
		uint64_t n = len < RAM_SLICE ? len : RAM_SLICE;

		if (write)
			memcpy(dev->arena + off, user, n);
		else
			memcpy(user, dev->arena + off, n);
		len -= n;
		if (!len)
			break;
		off += n;
		user += n;
		chi_task_yield();
	}
}

static void do_io(chi_container *c, chi_task *task, bool write)
{
	chi_bdev_io_task *t = (chi_bdev_io_task *)task;
	struct bdev__dev *dev = dev_of(c);
	uint64_t cap = dev->params.capacity, t0;
	int rc = 0;

	if (t->offset > cap || t->len > cap - t->offset ||
	    (!t->buf && t->len)) {
		fail(task, t->errmsg, -EINVAL,
		     "bdev: %s: %s of %llu bytes at offset %llu is outside "
		     "the device (capacity %llu)",
		     dev->params.path, write ? "write" : "read",
		     (unsigned long long)t->len, (unsigned long long)t->offset,
		     (unsigned long long)cap);
		return;
	}
	t0 = now_ns();
	if (dev->params.type == CHI_BDEV_RAM) {
		ram_copy(dev, write, t->offset, t->buf, t->len);
	} else if (chi_worker_self() < 0) {
		/* run inline on the client thread (bdev_inline_ok) */
		rc = bdev__io_inline(dev, write, t->offset, t->buf, t->len);
	} else {
		rc = bdev__io(dev, write, t->offset, t->buf, t->len);
	}
	if (rc) {
		fail(task, t->errmsg, rc,
		     "bdev: %s: %s of %llu bytes at offset %llu: %s",
		     dev->params.path, write ? "write" : "read",
		     (unsigned long long)t->len, (unsigned long long)t->offset,
		     strerror(-rc));
		return;
	}
	account(dev, write, t->len, now_ns() - t0);
	task->rc = 0;
}

static void m_write(chi_container *c, chi_task *task)
{
	do_io(c, task, true);
}

static void m_read(chi_container *c, chi_task *task)
{
	do_io(c, task, false);
}

static void m_get_stats(chi_container *c, chi_task *task)
{
	chi_bdev_stats_task *t = (chi_bdev_stats_task *)task;
	struct bdev__dev *dev = dev_of(c);
	chi_bdev_stats *out = &t->stats;
	double wr_weight = 0, rd_weight = 0;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->type = dev->params.type;
	out->capacity = dev->params.capacity;
	out->free_bytes = bdev__alloc_free_bytes(&dev->alloc);
	out->alignment = dev->params.alignment;
	out->direct_io = dev->direct;
	for (i = 0; i <= dev->nworkers; i++) {
		struct bdev__wstats *s = &dev->stats[i];
		uint64_t rd =
		    atomic_load_explicit(&s->ops_read, memory_order_relaxed);
		uint64_t wr =
		    atomic_load_explicit(&s->ops_written, memory_order_relaxed);

		out->ops_read += rd;
		out->ops_written += wr;
		out->bytes_read +=
		    atomic_load_explicit(&s->bytes_read, memory_order_relaxed);
		out->bytes_written += atomic_load_explicit(
		    &s->bytes_written, memory_order_relaxed);
		/* each worker's moving average, weighted by its requests */
		out->read_bw_mbps +=
		    (double)rd * atomic_load_explicit(&s->read_bw_mbps,
		                                      memory_order_relaxed);
		out->read_lat_us +=
		    (double)rd *
		    atomic_load_explicit(&s->read_lat_us, memory_order_relaxed);
		out->write_bw_mbps +=
		    (double)wr * atomic_load_explicit(&s->write_bw_mbps,
		                                      memory_order_relaxed);
		out->write_lat_us +=
		    (double)wr * atomic_load_explicit(&s->write_lat_us,
		                                      memory_order_relaxed);
		rd_weight += (double)rd;
		wr_weight += (double)wr;
	}
	if (rd_weight > 0) {
		out->read_bw_mbps /= rd_weight;
		out->read_lat_us /= rd_weight;
	}
	if (wr_weight > 0) {
		out->write_bw_mbps /= wr_weight;
		out->write_lat_us /= wr_weight;
	}
	task->rc = 0;
}

static void m_sync(chi_container *c, chi_task *task)
{
	chi_bdev_sync_task *t = (chi_bdev_sync_task *)task;
	struct bdev__dev *dev = dev_of(c);
	int rc = 0;

	if (dev->params.type == CHI_BDEV_FILE)
		rc = bdev__io_sync(dev);
	if (rc)
		fail(task, t->errmsg, rc, "bdev: %s: sync: %s",
		     dev->params.path, strerror(-rc));
	else
		task->rc = 0;
}

/* ---- create / destroy ---- */

/*
 * O_DIRECT works when the file opens with it and an aligned block can be
 * read and written back (tmpfs on older kernels and some FUSE filesystems
 * refuse with EINVAL).  CHI_BDEV_DIRECT=0 in the environment turns it off.
 * Returns the O_DIRECT descriptor or -1.
 */
static int probe_direct(const char *path, uint32_t alignment)
{
	const char *env = getenv("CHI_BDEV_DIRECT");
	void *buf = NULL;
	ssize_t n;
	int fd;

	if (env && strcmp(env, "0") == 0) {
		CHI_INFO("bdev", "%s: CHI_BDEV_DIRECT=0: buffered I/O", path);
		return -1;
	}
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		CHI_INFO("bdev", "%s: no O_DIRECT (%s): buffered I/O", path,
		         strerror(errno));
		return -1;
	}
	if (posix_memalign(&buf, alignment, alignment))
		goto fail;
	n = pread(fd, buf, alignment, 0);
	if (n != (ssize_t)alignment)
		goto fail;
	n = pwrite(fd, buf, alignment, 0);
	if (n != (ssize_t)alignment)
		goto fail;
	free(buf);
	return fd;
fail:
	CHI_INFO("bdev", "%s: O_DIRECT test I/O failed (%s): buffered I/O",
	         path, strerror(errno));
	free(buf);
	close(fd);
	return -1;
}

static int open_file(struct bdev__dev *dev, bool *created)
{
	const char *path = dev->params.path;
	uint64_t cap = dev->params.capacity;
	struct stat st;
	int fd;

	*created = false;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0)
		*created = true;
	else if (errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return chi_error_set(-errno, "bdev: %s: cannot open: %s", path,
		                     errno == ENOENT
		                         ? "directory does not exist"
		                         : strerror(errno));
	dev->fd_buffered = fd;
	if (fstat(fd, &st) != 0)
		return chi_error_set(-errno, "bdev: %s: fstat: %s", path,
		                     strerror(errno));
	if (!S_ISREG(st.st_mode))
		return chi_error_set(-EINVAL, "bdev: %s: not a regular file",
		                     path);
	/* grow (sparse) to the capacity; a bigger file keeps its data */
	if ((uint64_t)st.st_size < cap && ftruncate(fd, (off_t)cap) != 0)
		return chi_error_set(-errno,
		                     "bdev: %s: cannot size the file to %llu "
		                     "bytes: %s",
		                     path, (unsigned long long)cap,
		                     strerror(errno));
	dev->fd_direct = probe_direct(path, dev->params.alignment);
	dev->direct = dev->fd_direct >= 0;
	return 0;
}

static void dev_free(struct bdev__dev *dev)
{
	if (!dev)
		return;
	bdev__io_destroy(dev);
	if (dev->fd_direct >= 0)
		close(dev->fd_direct);
	if (dev->fd_buffered >= 0)
		close(dev->fd_buffered);
	if (dev->arena)
		munmap(dev->arena, dev->arena_size);
	bdev__alloc_destroy(&dev->alloc);
	free(dev->stats);
	free(dev);
}

static int bdev_create(chi_container *c, const void *params, size_t params_size)
{
	struct bdev__dev *dev = NULL;
	bool created = false;
	void *mem;
	int rc;

	if (!params || params_size != sizeof(chi_bdev_params))
		return chi_error_set(-EINVAL,
		                     "bdev: pool %s: create needs a "
		                     "chi_bdev_params (%zu bytes, got %zu)",
		                     c->pool_name ? c->pool_name : "?",
		                     sizeof(chi_bdev_params), params_size);
	if (c->num_containers > 1)
		/* two containers would be two allocators over one space */
		return chi_error_set(-EINVAL,
		                     "bdev: pool %s: a device pool has exactly "
		                     "one container (asked for %u)",
		                     c->pool_name ? c->pool_name : "?",
		                     c->num_containers);
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd_buffered = dev->fd_direct = -1;
	rc = bdev__params_check(&dev->params, params);
	if (rc)
		goto fail;
	dev->nworkers = chi_num_workers();
	dev->rings =
	    calloc(dev->nworkers ? dev->nworkers : 1, sizeof(*dev->rings));
	if (!dev->rings ||
	    posix_memalign(&mem, 64,
	                   sizeof(*dev->stats) * (dev->nworkers + 1))) {
		rc = -ENOMEM;
		goto fail;
	}
	dev->stats = mem;
	memset(dev->stats, 0, sizeof(*dev->stats) * (dev->nworkers + 1));
	rc = bdev__alloc_init(&dev->alloc, dev->params.capacity,
	                      dev->params.alignment, 0);
	if (rc) {
		chi_error_set(rc, "bdev: %s: allocator: %s", dev->params.path,
		              strerror(-rc));
		goto fail;
	}
	if (dev->params.type == CHI_BDEV_RAM) {
		/* untouched pages cost nothing until written */
		dev->arena_size = dev->params.capacity;
		mem = mmap(NULL, dev->arena_size, PROT_READ | PROT_WRITE,
		           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem == MAP_FAILED) {
			rc = chi_error_set(
			    -ENOMEM, "bdev: %s: cannot map %llu bytes: %s",
			    dev->params.path,
			    (unsigned long long)dev->arena_size,
			    strerror(errno));
			goto fail;
		}
		dev->arena = mem;
	} else {
		rc = open_file(dev, &created);
		if (rc)
			goto fail;
	}
	CHI_INFO("bdev", "%s: %s device, %llu bytes, alignment %u%s",
	         dev->params.path,
	         dev->params.type == CHI_BDEV_RAM ? "ram" : "file",
	         (unsigned long long)dev->params.capacity,
	         dev->params.alignment, dev->direct ? ", O_DIRECT" : "");
	c->state = dev;
	return 0;
fail:
	if (created)
		unlink(dev->params.path);
	dev_free(dev);
	return rc;
}

static void bdev_destroy(chi_container *c)
{
	dev_free(c->state);
	c->state = NULL;
}

static const struct chi_method bdev_methods[CHI_BDEV_METHOD_TABLE_SIZE] = {
    [CHI_BDEV_METHOD_ALLOCATE_BLOCKS] = {m_allocate,
                                         sizeof(chi_bdev_alloc_task)},
    [CHI_BDEV_METHOD_FREE_BLOCKS] = {m_free, sizeof(chi_bdev_blocks_task)},
    [CHI_BDEV_METHOD_WRITE] = {m_write, sizeof(chi_bdev_io_task)},
    [CHI_BDEV_METHOD_READ] = {m_read, sizeof(chi_bdev_io_task)},
    [CHI_BDEV_METHOD_GET_STATS] = {m_get_stats, sizeof(chi_bdev_stats_task)},
    [CHI_BDEV_METHOD_RESERVE_BLOCKS] = {m_reserve,
                                        sizeof(chi_bdev_blocks_task)},
    [CHI_BDEV_METHOD_SYNC] = {m_sync, sizeof(chi_bdev_sync_task)},
};

/*
 * Tasks that may run on the submitting client thread (see inline_ok in
 * chimaera/sys/module.h): I/O (RAM: a copy; file: a pooled ring the
 * caller waits on, bdev_inline.c), the allocator (sharded locks) and the
 * statistics.  Create, Reserve (recovery) and Sync stay on workers.
 */
static int bdev_inline_ok(const chi_container *c, const chi_task *task)
{
	(void)c;
	switch (task->method) {
	case CHI_BDEV_METHOD_READ:
	case CHI_BDEV_METHOD_WRITE:
	case CHI_BDEV_METHOD_ALLOCATE_BLOCKS:
	case CHI_BDEV_METHOD_FREE_BLOCKS:
	case CHI_BDEV_METHOD_GET_STATS:
		return 1;
	default:
		return 0;
	}
}

/* The module's one exported symbol (CHI_MODULE_SYMBOL). */
__attribute__((visibility("default")))
const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = CHI_BDEV_MODULE_NAME,
    .parse_params = bdev__parse_params,
    .create = bdev_create,
    .destroy = bdev_destroy,
    .methods = bdev_methods,
    .n_methods = CHI_BDEV_METHOD_TABLE_SIZE,
    .inline_ok = bdev_inline_ok,
};
