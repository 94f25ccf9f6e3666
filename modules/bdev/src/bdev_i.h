/*
 * bdev module internals shared by its source files (never installed).
 *
 *   bdev_params.c   compose-entry parsing and parameter/target checks
 *                   (also compiled into the client library)
 *   bdev_alloc.c    the block allocator (bdev_alloc_i.h)
 *   bdev_seg.c      requests cut into segments for any ring: planning,
 *                   SQEs, completions, bounce buffers (bdev_seg_i.h)
 *   bdev_io.c       per-worker io_uring rings: tasks on workers
 *   bdev_inline.c   a pool of rings for tasks run inline on client threads
 *   bdev_runtime.c  the container: create/destroy, methods, stats
 */
#ifndef CHI_BDEV_I_H
#define CHI_BDEV_I_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/config.h"
#include "bdev_alloc_i.h"

#define BDEV_DEFAULT_IO_DEPTH  64
#define BDEV_MAX_IO_DEPTH      4096
#define BDEV_DEFAULT_ALIGNMENT 4096
#define BDEV_MIN_ALIGNMENT     512
#define BDEV_MAX_ALIGNMENT     (16u * 1024 * 1024)

struct bdev__ring;

/*
 * I/O statistics of a device, one slot per worker and one more.  Slot w is
 * written by worker w alone; the last slot by every client thread that runs
 * I/O inline, concurrently: its counters with fetch-and-add.  The moving
 * averages of every slot are updated with a compare-and-swap loop.  All
 * relaxed; GetStats sums the slots.
 */
struct bdev__wstats {
	_Atomic uint64_t bytes_read;
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t ops_read;
	_Atomic uint64_t ops_written;
	_Atomic double read_bw_mbps; /* moving averages (EWMA) */
	_Atomic double write_bw_mbps;
	_Atomic double read_lat_us;
	_Atomic double write_lat_us;
} __attribute__((aligned(64)));

/* One device: a container's state. */
struct bdev__dev {
	chi_bdev_params params; /* normalized: capacity a multiple of the
	                         * alignment, io_depth and alignment set */
	char *arena;            /* RAM */
	uint64_t arena_size;
	int fd_buffered; /* FILE: buffered descriptor */
	int fd_direct;   /* FILE: O_DIRECT descriptor, or -1 */
	bool direct;
	struct bdev__alloc alloc;
	uint32_t nworkers;
	struct bdev__ring **rings;  /* [nworkers]; rings[w] made and used
	                             * only by worker w */
	struct bdev__wstats *stats; /* [nworkers + 1]; the last for calls
	                             * made off the workers */
};

/*
 * Check and normalize create parameters (default io_depth and alignment,
 * capacity rounded down to the alignment).  For a FILE target, also checks
 * the directory (exists, is a directory, writable), the file (not a
 * directory, readable and writable) and the filesystem's size against the
 * capacity.  Errors (each with a message naming the path and the reason):
 * -EINVAL, -ENOENT, -ENOTDIR, -EISDIR, -EACCES, -ENOSPC.
 */
int bdev__params_check(chi_bdev_params *out, const chi_bdev_params *in);

/* parse_params of the module ops (compose: entries). */
int bdev__parse_params(const chi_conf_node *entry, void **out_params,
                       size_t *out_size);

/* ---- worker I/O (bdev_io.c): from tasks on workers ---- */

/* Read or write len bytes at offset through this worker's ring. */
int bdev__io(struct bdev__dev *dev, bool write, uint64_t offset, void *buf,
             uint64_t len);

/* fdatasync the file through this worker's ring. */
int bdev__io_sync(struct bdev__dev *dev);

/* Tear down the device's rings (the device is idle). */
void bdev__io_destroy(struct bdev__dev *dev);

/* ---- inline I/O (bdev_inline.c): on a client thread, not a worker ---- */

/* Read or write len bytes at offset through a pooled ring, waiting on the
 * calling thread. */
int bdev__io_inline(struct bdev__dev *dev, bool write, uint64_t offset,
                    void *buf, uint64_t len);

#endif
