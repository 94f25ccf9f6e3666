/*
 * A blob's extent map: which device blocks back which logical blocks.
 *
 * The logical range is cut into blocks of CTE_BLOCK bytes (4 KiB); an
 * extent maps nblk consecutive logical blocks to consecutive bytes of one
 * target.  Extents are sorted by lblk, never overlap, and never cross a
 * chunk boundary (CTE_CHUNK_BLOCKS blocks = 1 MiB), so one extent is at
 * most one device request.  Unmapped blocks are holes (read as zeros).
 * Adjacent extents that are contiguous on the same device inside one chunk
 * are merged on insert.
 *
 * Pure data structure: the blob's io_lock protects it.
 */
#ifndef CTE_EXTMAP_I_H
#define CTE_EXTMAP_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTE_BLOCK_SHIFT  12
#define CTE_BLOCK        ((uint64_t)1 << CTE_BLOCK_SHIFT)
#define CTE_CHUNK_BLOCKS 256u /* 1 MiB */

struct cte_extent {
	uint64_t lblk;    /* first logical block */
	uint32_t nblk;    /* blocks */
	uint32_t target;  /* index into the core's target table */
	uint64_t dev_off; /* byte offset on the target's device */
};

/* Also used as a plain growable vector of extents (gap lists, etc.). */
struct cte_extmap {
	struct cte_extent *v;
	size_t n, cap;
};

void cte__extmap_init(struct cte_extmap *m);
void cte__extmap_destroy(struct cte_extmap *m);
/* Append without ordering checks (vector use).  0 or -ENOMEM. */
int cte__extmap_push(struct cte_extmap *m, const struct cte_extent *e);
/* Index of the first extent ending after lblk (n if none). */
size_t cte__extmap_find(const struct cte_extmap *m, uint64_t lblk);
/* The extent holding lblk, or NULL. */
const struct cte_extent *cte__extmap_lookup(const struct cte_extmap *m,
                                            uint64_t lblk);
/*
 * Append to *gaps the unmapped ranges of [b0, b1), each cut at chunk
 * boundaries (target/dev_off unused).  0 or -ENOMEM.
 */
int cte__extmap_gaps(const struct cte_extmap *m, uint64_t b0, uint64_t b1,
                     struct cte_extmap *gaps);
/*
 * Insert e (must not overlap and must not cross a chunk boundary),
 * merging with contiguous neighbours.  0 or -ENOMEM.
 */
int cte__extmap_insert(struct cte_extmap *m, const struct cte_extent *e);
/*
 * Unmap [b0, b1): extents are split as needed; the unmapped device pieces
 * are appended to *removed (may be NULL).  0 or -ENOMEM (map unchanged
 * when a split cannot allocate).
 */
int cte__extmap_punch(struct cte_extmap *m, uint64_t b0, uint64_t b1,
                      struct cte_extmap *removed);
/* Mapped blocks in total. */
uint64_t cte__extmap_blocks(const struct cte_extmap *m);
/* Deep copy (for serialization and tests). 0 or -ENOMEM. */
int cte__extmap_copy(struct cte_extmap *dst, const struct cte_extmap *src);
/* Check the invariants (sorted, no overlap, chunk-bounded); tests. */
bool cte__extmap_valid(const struct cte_extmap *m);

#endif
