/*
 * bdev block allocator (private to the bdev module).
 *
 * DESIGN
 * The device's space, in units of the alignment, is split into a fixed number
 * of shards, each a contiguous address range with its own mutex and its own
 * free-extent tree (a treap ordered by offset, augmented with the largest
 * extent of each subtree, so first-fit, coalescing and range carving are all
 * O(log n)).  An extent never crosses a shard boundary.
 *
 * One atomic counter holds the free units not yet promised to any caller.
 * AllocateBlocks first takes its units from that counter (compare-and-swap;
 * too few -> -ENOSPC, nothing touched), then carves extents: first one
 * contiguous extent from the caller's home shard (hint % shards), then from
 * any other shard, then pieces (largest first) gathered across shards.  The
 * counter guarantees the space exists somewhere, so the gather only retries;
 * after two unlucky rounds it locks every shard (in index order) and takes
 * what it needs.  Callers on different workers therefore touch different
 * shard locks on the hot path and only meet on the counter.
 *
 * Invariant: counter + units promised but not yet carved <= units in trees.
 * Allocation decrements the counter before carving; free inserts into the
 * trees before incrementing it (release/acquire on the counter pair these).
 *
 * Free and Reserve lock the shards a batch touches in ascending order and
 * apply the batch all or nothing (an overlap with free space, i.e. a double
 * free, or a reserve of space that is not free undoes the batch).
 */
#ifndef CHI_BDEV_ALLOC_I_H
#define CHI_BDEV_ALLOC_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "chimaera/bdev/bdev.h"

#define BDEV_ALLOC_MAX_SHARDS 16

struct bdev__ext;

struct bdev__shard {
	pthread_mutex_t lock;
	struct bdev__ext *root;      /* protected by lock */
	uint32_t seed;               /* treap priorities; protected by lock */
	_Atomic uint64_t free_units; /* written under lock; read as a hint */
	_Atomic uint64_t largest;    /* written under lock; read as a hint */
} __attribute__((aligned(64)));

struct bdev__alloc {
	uint64_t unit;        /* bytes per unit (the alignment) */
	uint64_t total_units; /* capacity / unit */
	uint64_t span;        /* units per shard (the last may be shorter) */
	uint32_t nshards;
	struct bdev__shard *shards;
	_Atomic uint64_t free_units; /* not promised to any caller */
};

/*
 * Set up an allocator for `capacity` bytes (rounded down to `unit`, a power
 * of two) with `nshards` shards (0 = chosen from the capacity).  All space
 * starts free.  Returns 0, -EINVAL (zero units, bad unit) or -ENOMEM.
 */
int bdev__alloc_init(struct bdev__alloc *a, uint64_t capacity, uint64_t unit,
                     uint32_t nshards);

void bdev__alloc_destroy(struct bdev__alloc *a);

/*
 * Allocate `size` bytes (rounded up to the unit) as at most max_blocks
 * extents; `hint` picks the home shard (e.g. the worker index).  All or
 * nothing: -ENOSPC, -E2BIG (more than max_blocks extents needed), -EINVAL
 * (size or max_blocks 0), -ENOMEM.
 */
int bdev__alloc_get(struct bdev__alloc *a, uint32_t hint, uint64_t size,
                    chi_bdev_block *out, uint32_t max_blocks, uint32_t *out_n);

/* Return extents; all or nothing.  -EINVAL when one is misaligned, outside
 * the device or (partly) free already. */
int bdev__alloc_put(struct bdev__alloc *a, const chi_bdev_block *blocks,
                    uint32_t n);

/* Mark extents allocated; all or nothing.  -EEXIST when one is not wholly
 * free, -EINVAL when misaligned or outside the device. */
int bdev__alloc_reserve(struct bdev__alloc *a, const chi_bdev_block *blocks,
                        uint32_t n);

/* Free bytes (not promised to any caller). */
uint64_t bdev__alloc_free_bytes(struct bdev__alloc *a);

/* Count of free extents (tests: fragmentation and coalescing). */
uint64_t bdev__alloc_extent_count(struct bdev__alloc *a);

#endif
