/*
 * bdev task structs: what a client submits to a chimaera_bdev pool.  Each
 * begins with chi_task (method ids in autogen/bdev_methods.h); IN and OUT
 * fields are plain members.  Buffers and block lists are pointers into the
 * client's memory (embedded runtime: one address space); they must stay
 * valid until the task completes.  On failure the runtime fills `errmsg`
 * (the worker's chi_error_last() is not the client's), and the client API
 * copies it into the calling thread's chi_error_last().
 */
#ifndef CHIMAERA_BDEV_BDEV_TASKS_H
#define CHIMAERA_BDEV_BDEV_TASKS_H

#include <stdint.h>

#include "chimaera/bdev/autogen/bdev_methods.h"
#include "chimaera/bdev/bdev.h"
#include "chimaera/task.h"

#define CHI_BDEV_ERRMSG_LEN 256

/* CHI_BDEV_METHOD_ALLOCATE_BLOCKS */
typedef struct chi_bdev_alloc_task {
	chi_task base;
	uint64_t size;       /* IN: bytes wanted */
	uint32_t max_blocks; /* IN: <= CHI_BDEV_MAX_BLOCKS */
	uint32_t n_blocks;   /* OUT */
	chi_bdev_block blocks[CHI_BDEV_MAX_BLOCKS]; /* OUT */
	char errmsg[CHI_BDEV_ERRMSG_LEN];           /* OUT */
} chi_bdev_alloc_task;

/* CHI_BDEV_METHOD_FREE_BLOCKS and CHI_BDEV_METHOD_RESERVE_BLOCKS */
typedef struct chi_bdev_blocks_task {
	chi_task base;
	const chi_bdev_block *blocks; /* IN: n extents */
	uint32_t n;                   /* IN */
	char errmsg[CHI_BDEV_ERRMSG_LEN];
} chi_bdev_blocks_task;

/* CHI_BDEV_METHOD_WRITE and CHI_BDEV_METHOD_READ */
typedef struct chi_bdev_io_task {
	chi_task base;
	uint64_t offset; /* IN: device offset */
	uint64_t len;    /* IN: bytes */
	void *buf;       /* IN (write) / OUT (read): len bytes */
	char errmsg[CHI_BDEV_ERRMSG_LEN];
} chi_bdev_io_task;

/* CHI_BDEV_METHOD_GET_STATS */
typedef struct chi_bdev_stats_task {
	chi_task base;
	chi_bdev_stats stats; /* OUT */
} chi_bdev_stats_task;

/* CHI_BDEV_METHOD_SYNC */
typedef struct chi_bdev_sync_task {
	chi_task base;
	char errmsg[CHI_BDEV_ERRMSG_LEN];
} chi_bdev_sync_task;

#endif
