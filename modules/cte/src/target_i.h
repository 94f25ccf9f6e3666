/*
 * Storage targets (target.c): registration, stats, the allocator front
 * end, and freeing blocks: a freed block waits (core->pending_free) until
 * the journal record that unmapped it is durable.  Stands on core.c only;
 * the journal reaches it through core->sync_hook (cte__meta_sync).
 */
#ifndef CTE_TARGET_I_H
#define CTE_TARGET_I_H

#include "core_i.h"

int cte__target_register(struct cte_core *core, const char *path,
                         chi_bdev_type type, uint64_t capacity, double score);
/* The file a file target's path names (a directory gets a file in it). */
void cte__target_file(const char *path, char *out, size_t size);
/*
 * Recovery, after replay and before the blocks are reserved: each file
 * target against what the store remembers (image.c filled rec_capacity and
 * rec_id): its data must fit its capacity, and a store that knows the
 * target's identity must find it in the file.  Then writes the identity
 * just past the capacity.  held[] from cte__state_held().
 */
int cte__target_check_replayed(struct cte_core *core,
                               const struct cte_held *held);
int cte__target_unregister(struct cte_core *core, const char *path);
int cte__target_list(struct cte_core *core, cte_target_info **out,
                     size_t *out_n);
int cte__target_stat(struct cte_core *core);
int cte__target_info(struct cte_core *core, const char *path,
                     cte_target_info *out);
/* Maybe refresh stats when stat_targets_period_ms has passed. */
void cte__target_maybe_stat(struct cte_core *core);
/*
 * Allocate nblk blocks for blob score `score` (spilling tier by tier) and
 * append extents for logical blocks lblk.. to *out.  `only_nonvolatile`
 * restricts to non-volatile targets; `stop_tier` >= 0 stops before trying
 * targets in that tier (reorganize: no move within a tier).  -ENOSPC when
 * nothing could hold them (nothing allocated).
 */
int cte__alloc(struct cte_core *core, double score, uint64_t lblk,
               uint32_t nblk, bool only_nonvolatile, double stop_tier,
               struct cte_extmap *out);
chi_pool_id cte__target_pool(struct cte_core *core, uint32_t target);
bool cte__target_volatile(struct cte_core *core, uint32_t target);
/* Free the blocks of an extent list (io_lock held or blob dead): at once
 * when nothing journals or the target is volatile, else once the record
 * unmapping them is durable. */
void cte__free_extents(struct cte_core *core, const struct cte_extmap *ext);
/* Free a detached blob's blocks (takes quiesce and its io_lock) and drop
 * the caller's reference. */
void cte__blob_release_dead(struct cte_core *core, struct cte_blob *b);
/* Release deferred frees whose record is durable (durable_seq); true if
 * any were. */
bool cte__target_reclaim(struct cte_core *core);
/* Bytes of deferred frees (as good as free: an allocation that needs them
 * makes them so). */
uint64_t cte__target_pending_bytes(struct cte_core *core);

#endif
