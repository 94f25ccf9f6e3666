/*
 * bdev: block devices as a Chimaera module ("chimaera_bdev").
 *
 * Two types: CHI_BDEV_RAM (an arena of `capacity` bytes) and CHI_BDEV_FILE
 * (a file, created if missing and sized to `capacity`, sparse where the
 * filesystem allows; all I/O through io_uring, one ring per worker, O_DIRECT
 * with aligned buffers where supported, buffered I/O where not (tmpfs)).
 * The environment variable CHI_BDEV_DIRECT=0 turns O_DIRECT off.
 *
 * Space is handed out by AllocateBlocks as a list of extents and returned by
 * FreeBlocks.  The allocator never overcommits: a full device answers
 * -ENOSPC and touches nothing.  Write/Read move bytes at device offsets
 * inside extents the caller owns.
 *
 * Every function returns 0 or a negative errno; bad input also sets
 * chi_error_last() to a message naming the path and the reason.
 * All calls may be made from client threads or from inside tasks (they
 * submit a task and chi_wait on it; inside a task the coroutine yields).
 */
#ifndef CHIMAERA_BDEV_BDEV_H
#define CHIMAERA_BDEV_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chimaera/task.h"
#include "chimaera/types.h"

#define CHI_BDEV_MODULE_NAME "chimaera_bdev"

typedef enum chi_bdev_type {
	CHI_BDEV_RAM = 0,
	CHI_BDEV_FILE = 1,
} chi_bdev_type;

/* Create parameters (the GetOrCreatePool params of chimaera_bdev). */
typedef struct chi_bdev_params {
	chi_bdev_type type;
	char path[4096];    /* FILE: the file's path; RAM: "ram::<name>" or "" */
	uint64_t capacity;  /* bytes, > 0 */
	uint32_t io_depth;  /* io_uring queue depth per worker; 0 = 64 */
	uint32_t alignment; /* allocation/O_DIRECT alignment; 0 = 4096 */
} chi_bdev_params;

/* One extent of device space. */
typedef struct chi_bdev_block {
	uint64_t offset; /* device offset, a multiple of the alignment */
	uint64_t size;   /* bytes, a multiple of the alignment */
} chi_bdev_block;

typedef struct chi_bdev_stats {
	chi_bdev_type type;
	uint64_t capacity;       /* bytes */
	uint64_t free_bytes;     /* remaining capacity */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t ops_read;
	uint64_t ops_written;
	double read_bw_mbps;     /* moving measurement of real requests, MB/s;
				  * 0 until measured */
	double write_bw_mbps;
	double read_lat_us;      /* moving mean latency per request */
	double write_lat_us;
	uint32_t alignment;
	bool direct_io;          /* FILE: O_DIRECT in use */
} chi_bdev_stats;

/* Max extents one AllocateBlocks may return. */
#define CHI_BDEV_MAX_BLOCKS 64

/*
 * Create (GetOrCreatePool of chimaera_bdev) a device named pool_name with
 * id *inout_id (updated from the reply).  Errors: -EINVAL (zero capacity,
 * bad type), -ENOENT (file target's directory missing), -EACCES, -ENOSPC
 * (the filesystem has no room for `capacity`); each with a message naming
 * the path and the reason.
 */
int chi_bdev_create(chi_pool_id *inout_id, const char *pool_name,
		    const chi_bdev_params *params);

/* Destroy the pool (the file stays on disk). */
int chi_bdev_destroy(chi_pool_id id);

/*
 * AllocateBlocks: reserve `size` bytes (rounded up to the alignment) as at
 * most `max_blocks` extents, written to out[0 .. *out_n-1].  All or nothing:
 * -ENOSPC (device full) or -E2BIG (would need more than max_blocks extents)
 * reserve nothing.
 */
int chi_bdev_allocate(chi_pool_id id, uint64_t size, chi_bdev_block *out,
		      uint32_t max_blocks, uint32_t *out_n);

/* FreeBlocks: return extents; -EINVAL if one was not allocated. */
int chi_bdev_free(chi_pool_id id, const chi_bdev_block *blocks, uint32_t n);

/*
 * Mark extents allocated (recovery: the CTE journal replays which blocks
 * its blobs hold, so they are never handed out again).  -EEXIST if one is
 * already allocated.
 */
int chi_bdev_reserve(chi_pool_id id, const chi_bdev_block *blocks,
		     uint32_t n);

/* Write len bytes at device offset; -EINVAL outside the device. */
int chi_bdev_write(chi_pool_id id, uint64_t offset, const void *buf,
		   uint64_t len);

/* Read len bytes at device offset. */
int chi_bdev_read(chi_pool_id id, uint64_t offset, void *buf, uint64_t len);

/* Make written data durable (fdatasync for FILE; no-op for RAM). */
int chi_bdev_sync(chi_pool_id id);

int chi_bdev_get_stats(chi_pool_id id, chi_bdev_stats *out);

/*
 * Asynchronous forms for queue depth > 1: submit, then chi_wait() the
 * future and free the task with chi_task_free().  The buffer must stay
 * valid until completion.  Out of memory: the future's task is NULL.
 */
chi_future chi_bdev_write_async(chi_pool_id id, uint64_t offset,
				const void *buf, uint64_t len);
chi_future chi_bdev_read_async(chi_pool_id id, uint64_t offset, void *buf,
			       uint64_t len);

#endif
