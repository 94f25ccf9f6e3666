/*
 * Metadata images (image.c): the serialization of the core's state that
 * checkpoints and journal records carry, little-endian on the codec of
 * codec_i.h (the byte layout is at the top of image.c), and applying it
 * at replay.  Stands on core.c and target.c.
 */
#ifndef CTE_IMAGE_I_H
#define CTE_IMAGE_I_H

#include "codec_i.h"
#include "core_i.h"

#define CTE_IMG_EXTENTS (1u << 0)
/* The record kind (journal type byte) of the target table record. */
#define CTE_IMG_KIND_TARGETS 4

/*
 * Append the image of object `id` to *out: its attributes, xattrs and
 * names, and with CTE_IMG_EXTENTS its extent map (the caller then also
 * holds the blob's io_lock, as cte__meta_changed(CTE_META_DATA) callers
 * do).  An id that no longer exists gives a "gone" record.  ns_lock held.
 */
int cte__obj_image_locked(struct cte_core *core, cte_id id, uint32_t flags,
                          cte_jenc *out);
/* Same, for a data change: the extents of blocks [from, to) only. */
int cte__obj_image_range_locked(struct cte_core *core, cte_id id, uint64_t from,
                                uint64_t to, cte_jenc *out);
/* The target table (slot -> name) record; extents name slots. */
int cte__targets_image(struct cte_core *core, cte_jenc *out);
/*
 * A full checkpoint: targets, next id, every tag (parents first) and every
 * blob with its extents.  Takes quiesce (exclusive) and ns_lock, so it is
 * one consistent moment; call it from a task or a plain thread holding no
 * CTE lock.  With `cut` (the checkpoint being written), it fixes that
 * checkpoint's covered sequence at the same moment
 * (cte__journal_ckpt_cut), so the image is exactly the records up to it.
 */
int cte__state_save(struct cte_core *core, cte_jenc *out,
                    cte_journal_ckpt *cut);
/*
 * Apply records (a checkpoint, then journal records): each image is an
 * upsert.  slot_map[CTE_MAX_TARGETS] is filled by the targets record and
 * maps saved target slots onto this run's slots (keep it across calls).
 * No bdev calls: call cte__state_reserve() after the last record.
 * -EBADMSG for a malformed record, -ENOENT for blocks on a target that is
 * not configured.
 */
int cte__state_load(struct cte_core *core, const void *buf, size_t len,
                    uint32_t *slot_map);
/*
 * Apply one record (kind byte and body, as journal records carry them).
 * CTE_IMG_OLDER, changing nothing, for an image of a moment older than
 * the state (it names its object under a tag that is gone, or puts a tag
 * below its own descendant): possible only over a checkpoint that holds
 * effects of records after its sequence (JOURNAL.md part 3, "Replay over
 * a later state"); the caller decides whether that may be skipped.
 */
#define CTE_IMG_OLDER 1
int cte__image_apply(struct cte_core *core, uint8_t kind, const void *body,
                     size_t len, uint32_t *slot_map);
/* Replay end: destroy blobs left without names (orphans). */
void cte__state_drop_orphans(struct cte_core *core);
/* After replay: replay_dropped_bytes = bytes of dropped extents that are
 * still holes inside a live blob's size (really lost). */
void cte__state_count_dropped(struct cte_core *core);
/* Recovery: mark every block of every blob allocated on its bdev. */
int cte__state_reserve(struct cte_core *core);
/* Recovery, before cte__state_reserve: per target slot, the bytes of blob
 * blocks on it and the end of the last of them. */
void cte__state_held(struct cte_core *core,
                     struct cte_held held[CTE_MAX_TARGETS]);

#endif
