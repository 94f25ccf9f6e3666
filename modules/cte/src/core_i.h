/*
 * The CTE core's state and the functions the module's methods call.
 *
 * DESIGN
 * Threads: methods run on any runtime worker, several at once.  Locks:
 *   core->ns_lock (pthread mutex): every name index, every object's
 *     attributes, xattrs, names and nlink, the id allocator, blob->size and
 *     blob->alloc_blocks, object reference counts.  Held only for short
 *     non-waiting sections, never across chi_wait (bdev I/O).
 *   blob->io_lock (chi_corwlock): the blob's extent map and data.  Readers
 *     share it; writers, truncate, reorganize, sync and destroy take it
 *     exclusively.  Held across bdev I/O, so it is the runtime's
 *     cooperative lock.  Order: io_lock before ns_lock, never the reverse.
 *   core->target_lock (pthread mutex): the target table and placement
 *     state (round-robin counter, random state).
 *   telemetry: its own mutex (telemetry_i.h).
 * Lifetime: a blob found by id gets a reference (refs, under ns_lock);
 * destroying it unlinks it from every index and marks it dead, then frees
 * its blocks under io_lock; the memory goes with the last reference.
 *
 * Metadata hook: every metadata mutation calls cte__meta_changed() while
 * holding ns_lock, right after the in-memory change, with a kind and the
 * ids involved (see enum cte_meta_kind), and ends its ns_lock section with
 * cte__ns_unlock().  durable.c installs core->meta_hook: it turns each
 * change into an after-image record, and cte__ns_unlock() commits a
 * section's records as one journal group.  cte__state_save() writes the
 * whole state for checkpoints (modules/cte/JOURNAL.md, part 3).
 */
#ifndef CTE_CORE_I_H
#define CTE_CORE_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "chimaera/comutex.h"
#include "cte/cte.h"
#include "extmap_i.h"
#include "htab_i.h"
#include "journal_i.h"
#include "place_i.h"
#include "telemetry_i.h"

#define CTE_MAX_TARGETS      64
#define CTE_MAX_CONF_TARGETS 16
#define CTE_MAX_BLOB_SIZE    ((uint64_t)1 << 50)

/* ---- create parameters (the compose entry, parsed) ---- */

struct cte_conf_target {
	char path[4096];
	chi_bdev_type type;
	uint64_t capacity;
	double score; /* < 0: measured */
};

struct cte_params {
	uint32_t n_targets;
	struct cte_conf_target targets[CTE_MAX_CONF_TARGETS];
	uint32_t dpe;                    /* enum cte_dpe */
	uint32_t stat_targets_period_ms; /* 0 = only on request */
	double score_difference_threshold;
	uint32_t flush_metadata_period_ms;
	char metadata_log_path[4096];
	double default_score;
	uint32_t telemetry_capacity;
	uint32_t bdev_pool_major;      /* bdev pool ids major.N */
	uint32_t metadata_journal;     /* 0: never journal */
	uint64_t checkpoint_log_size;  /* bytes; 0 = 64 MiB */
	uint32_t checkpoint_period_ms; /* 0 = by size only */
};

void cte__params_default(struct cte_params *p);

/* ---- objects ---- */

struct cte_xattr {
	struct cte_xattr *next;
	size_t size;
	void *value;
	char name[]; /* NUL-terminated */
};

struct cte_obj {
	struct cte_hnode id_node; /* in core->by_id */
	cte_id id;
	bool is_tag;
	uint32_t mode, uid, gid;
	uint64_t rdev;
	struct timespec atime, mtime, ctime, btime;
	double score;
	struct cte_xattr *xattrs;
};

struct cte_tag;

/* One name in a directory (tag): a blob name or a child tag. */
struct cte_dentry {
	struct cte_hnode node; /* in core->dentries, key (parent id, name) */
	struct cte_tag *parent;
	struct cte_obj *obj;
	uint64_t cookie; /* readdir position in parent */
	size_t name_len;
	char name[];
};

/* A directory's entries in cookie order (append-only with tombstones). */
struct cte_dir_slot {
	uint64_t cookie;
	struct cte_dentry *d; /* NULL: removed */
};

struct cte_tag {
	struct cte_obj obj;
	struct cte_hnode path_node; /* in core->by_path */
	char *path;                 /* "/a/b"; malloc'd */
	struct cte_tag *parent;     /* NULL for the root */
	struct cte_dentry *self;    /* its name in parent; NULL for the root */
	struct cte_dir_slot *slots;
	size_t n_slots, cap_slots, n_live;
	uint64_t next_cookie;
	uint32_t n_child_tags;
};

struct cte_blob {
	struct cte_obj obj;
	struct cte_dentry **names; /* its names (hard links) */
	size_t n_names, cap_names;
	char *symlink;         /* S_IFLNK target, or NULL */
	uint64_t size;         /* io_lock (write) + ns_lock to change */
	uint64_t alloc_blocks; /* same */
	chi_corwlock io_lock;
	struct cte_extmap map; /* protected by io_lock */
	uint32_t refs;         /* ns_lock */
	bool dead;             /* ns_lock; destroyed */
};

/* ---- targets ---- */

struct cte_target {
	bool used;   /* slot taken */
	bool active; /* registered (false: unregistered slot) */
	char name[4096];
	chi_bdev_type type;
	chi_pool_id pool;
	uint64_t capacity;
	double score;
	bool manual_score;
	bool is_volatile;
	double read_bw, write_bw;
	uint64_t free_bytes;         /* last stats */
	_Atomic uint64_t used_bytes; /* bytes of blob blocks held here */
};

/* ---- metadata hook ---- */

enum cte_meta_kind {
	CTE_META_CREATE = 1, /* id created (tag or blob), aux = parent tag */
	CTE_META_DESTROY,    /* id destroyed */
	CTE_META_LINK,       /* name added: id, aux = parent tag */
	CTE_META_UNLINK,     /* name removed: id, aux = parent tag */
	CTE_META_RENAME,     /* id renamed, aux = new parent tag */
	CTE_META_ATTR,       /* mode/uid/gid/times/score of id */
	CTE_META_XATTR,      /* xattrs of id */
	CTE_META_DATA,       /* extent map and size of blob id */
	CTE_META_TARGET,     /* target table */
};

typedef void (*cte_meta_hook_fn)(void *arg, enum cte_meta_kind kind, cte_id id,
                                 cte_id aux);

/* A growable byte buffer (images). */
struct cte_buf {
	unsigned char *p;
	size_t len, cap;
};

/* Blocks whose unmapping record is not durable yet (durable.c). */
struct cte_pending_free {
	uint64_t seq;
	uint32_t target;
	chi_bdev_block blk;
};

/* ---- the core ---- */

struct cte_core {
	struct cte_params params;

	/* Data mutations (anything that changes an extent map) hold it
	 * shared, outside their io_lock; cte__state_save holds it exclusive
	 * for a consistent checkpoint.  Order: quiesce, io_lock, ns_lock. */
	chi_corwlock quiesce;

	pthread_mutex_t ns_lock;
	cte_id next_id;           /* ns_lock */
	struct cte_htab by_id;    /* cte_obj.id_node */
	struct cte_htab by_path;  /* cte_tag.path_node */
	struct cte_htab dentries; /* cte_dentry.node */
	struct cte_tag *root;
	uint64_t n_tags, n_blobs;

	pthread_mutex_t target_lock;
	struct cte_target targets[CTE_MAX_TARGETS];
	uint32_t n_target_slots;
	uint64_t rr_counter, rng;
	struct timespec last_stat;
	uint32_t next_bdev_minor;

	struct cte_telemetry telemetry;

	cte_meta_hook_fn meta_hook; /* NULL: none; called under ns_lock */
	void *meta_hook_arg;

	/* durability (durable.c); journal == NULL: journaling off */
	cte_journal *journal;
	cte_journal_txn txn;       /* ns_lock: records of this section */
	struct cte_buf meta_buf;   /* ns_lock: image scratch */
	uint64_t data_lo, data_hi; /* ns_lock: blocks of a DATA change */
	_Atomic uint64_t last_seq; /* last committed journal sequence */
	_Atomic uint64_t durable_seq;
	uint64_t replay_dropped_bytes;
	/* replay: ranges of extents on volatile/unknown targets, counted by
	 * cte__state_count_dropped() once the log is replayed (later records
	 * usually remap them: a copy-down at fsync, an overwrite, a delete) */
	struct cte_dropped_range {
		cte_id id;
		uint64_t lblk, nblk;
	} *replay_dropped;
	size_t n_replay_dropped, cap_replay_dropped;
	char journal_dir[4096];
	int sync_fds[CTE_MAX_TARGETS]; /* file targets, for pre_sync */
	pthread_mutex_t free_lock;     /* pending_free */
	struct cte_pending_free *pending_free;
	uint64_t min_pending_seq; /* free_lock; hint read without it */
	size_t n_pending, cap_pending;
};

/* durable.c: the metadata journal (modules/cte/JOURNAL.md) */
/*
 * Unlock ns_lock, first committing the journal records the section's
 * mutations produced as one group (replayed all or nothing).  Every
 * section that may change metadata ends with it.
 */
void cte__ns_unlock(struct cte_core *core);
/* cte__meta_changed(CTE_META_DATA) for blocks [lo, hi) of blob id. */
void cte__meta_data_changed(struct cte_core *core, cte_id id, uint64_t lo,
                            uint64_t hi);
/*
 * At pool creation, after the targets exist: with a non-volatile target
 * (and metadata_journal on) replay the journal, reserve the blocks,
 * open it and install the hook; else warn that nothing persists.
 */
int cte__durable_open(struct cte_core *core);
/* At pool destruction: copy volatile-only data down, checkpoint, close. */
void cte__durable_close(struct cte_core *core);
/* Make every committed record durable (fsync); 0 when journaling is off. */
int cte__durable_wait(struct cte_core *core);
/* Free blocks, or keep them until their unmapping record is durable. */
void cte__durable_defer_free(struct cte_core *core, uint32_t target,
                             const chi_bdev_block *blk);
/* Release pending frees now (after a durable flush); true if any were. */
bool cte__durable_reclaim(struct cte_core *core);

/* core.c: lifecycle, objects, names */
int cte__core_new(struct cte_core **out, const struct cte_params *params);
void cte__core_free(struct cte_core *core);
void cte__meta_changed(struct cte_core *core, enum cte_meta_kind kind,
                       cte_id id, cte_id aux);
void cte__now(struct timespec *ts);

/* namespace (ns.c); all take ns_lock themselves */
int cte__ns_lookup(struct cte_core *core, cte_id parent, const char *name,
                   cte_attr *out);
int cte__ns_getattr(struct cte_core *core, cte_id id, cte_attr *out);
int cte__ns_setattr(struct cte_core *core, cte_id id, const cte_attr *attr,
                    uint32_t mask, cte_attr *out);
int cte__ns_create(struct cte_core *core, cte_id parent, const char *name,
                   const cte_attr *attr, const char *symlink_target,
                   cte_attr *out);
int cte__ns_link(struct cte_core *core, cte_id id, cte_id new_parent,
                 const char *new_name, cte_attr *out);
int cte__ns_unlink(struct cte_core *core, cte_id parent, const char *name,
                   bool dir, bool destroy_orphan, cte_attr *out_attr);
int cte__ns_rename(struct cte_core *core, cte_id old_parent,
                   const char *old_name, cte_id new_parent,
                   const char *new_name, uint32_t flags, bool destroy_orphan,
                   cte_id *out_replaced);
int cte__ns_readdir(struct cte_core *core, cte_id dir, uint64_t cookie,
                    cte_dirent *out, size_t max, size_t *out_n);
int cte__ns_readlink(struct cte_core *core, cte_id id, char *buf, size_t size);
int cte__ns_forget(struct cte_core *core, cte_id id);
int cte__tag_get_name(struct cte_core *core, cte_id tag, char **out);
int cte__statfs(struct cte_core *core, cte_fs_stats *out);
int cte__xattr_set(struct cte_core *core, cte_id id, const char *name,
                   const void *value, size_t size, uint32_t flags);
int cte__xattr_get(struct cte_core *core, cte_id id, const char *name,
                   void *buf, size_t size, size_t *out_size);
int cte__xattr_list(struct cte_core *core, cte_id id, char *buf, size_t size,
                    size_t *out_size);
int cte__xattr_remove(struct cte_core *core, cte_id id, const char *name);

/* A tag's default score (CTE_SCORE_UNSET: inherit); -ENOTDIR for a blob. */
int cte__tag_set_score(struct cte_core *core, cte_id tag, double score);

/* tags by name (ns.c) */
int cte__tag_get_or_create(struct cte_core *core, const char *name,
                           cte_id *out);
int cte__tag_del(struct cte_core *core, cte_id tag);
int cte__tag_get_size(struct cte_core *core, cte_id tag, uint64_t *out);
int cte__tag_contained_blobs(struct cte_core *core, cte_id tag, char ***out,
                             size_t *out_n);
int cte__tag_rename(struct cte_core *core, const char *old_name,
                    const char *new_name);
int cte__tag_query(struct cte_core *core, const char *re, char ***out,
                   size_t *out_n);
int cte__blob_query(struct cte_core *core, const char *tag_re,
                    const char *blob_re, char ***out, size_t *out_n);
/* Find or (create != 0) make blob `name` in tag; *out_id. */
int cte__blob_by_name(struct cte_core *core, cte_id tag, const char *name,
                      bool create, cte_id *out_id);

/* object references (ns.c) */
/* Blob by id with a reference: -ENOENT, -EISDIR for a tag. */
int cte__blob_get(struct cte_core *core, cte_id id, struct cte_blob **out);
void cte__blob_put(struct cte_core *core, struct cte_blob *b);
/* Detach a blob from the indexes (ns_lock held): it becomes dead. */
void cte__blob_detach_locked(struct cte_core *core, struct cte_blob *b);
/* Free a detached blob's blocks and drop the caller's reference. */
void cte__blob_release_dead(struct cte_core *core, struct cte_blob *b);

/* blob data (blobio.c) */
int cte__blob_write(struct cte_core *core, cte_id id, uint64_t off,
                    const void *buf, uint64_t len);
/* keep_times: data and size change, mtime/ctime do not */
int cte__blob_write_ex(struct cte_core *core, cte_id id, uint64_t off,
                       const void *buf, uint64_t len, bool keep_times);
int cte__blob_read(struct cte_core *core, cte_id id, uint64_t off, void *buf,
                   uint64_t len, uint64_t *out_n);
int cte__blob_truncate(struct cte_core *core, cte_id id, uint64_t size);
/* Deallocate [off, off+len): it reads as zeros; the size is unchanged. */
int cte__blob_punch(struct cte_core *core, cte_id id, uint64_t off,
                    uint64_t len);
int cte__blob_fallocate(struct cte_core *core, cte_id id, uint64_t off,
                        uint64_t len, bool keep_size);
int cte__blob_set_score(struct cte_core *core, cte_id id, double score);
int cte__blob_get_score(struct cte_core *core, cte_id id, double *out);
int cte__blob_get_size(struct cte_core *core, cte_id id, uint64_t *out);
int cte__blob_info(struct cte_core *core, cte_id id, cte_blob_info **out);
int cte__blob_sync(struct cte_core *core, cte_id id);
int cte__sync_all(struct cte_core *core);
int cte__blob_destroy(struct cte_core *core, cte_id id);
/* Free the blocks of an extent list (io_lock held or blob dead). */
void cte__free_extents(struct cte_core *core, const struct cte_extmap *ext);

/* targets (target.c) */
int cte__target_register(struct cte_core *core, const char *path,
                         chi_bdev_type type, uint64_t capacity, double score);
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

/* ---- checkpoint and journal images (ns.c) ---- */

void cte__buf_free(struct cte_buf *b);

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
                          struct cte_buf *out);
/* Same, for a data change: the extents of blocks [from, to) only. */
int cte__obj_image_range_locked(struct cte_core *core, cte_id id, uint64_t from,
                                uint64_t to, struct cte_buf *out);
/* The target table (slot -> name) record; extents name slots. */
int cte__targets_image(struct cte_core *core, struct cte_buf *out);
/*
 * A full checkpoint: targets, next id, every tag (parents first) and every
 * blob with its extents.  Takes quiesce (exclusive) and ns_lock, so it is
 * one consistent moment; call it from a task or a plain thread holding no
 * CTE lock.
 */
int cte__state_save(struct cte_core *core, struct cte_buf *out);
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
/* Apply one record (kind byte and body, as journal records carry them). */
int cte__image_apply(struct cte_core *core, uint8_t kind, const void *body,
                     size_t len, uint32_t *slot_map);
/* Replay end: destroy blobs left without names (orphans). */
void cte__state_drop_orphans(struct cte_core *core);
/* After replay: replay_dropped_bytes = bytes of dropped extents that are
 * still holes inside a live blob's size (really lost). */
void cte__state_count_dropped(struct cte_core *core);
/*
 * cte-fsck's checks of a replayed core (fsck.c): ids, orphans (listed, not
 * counted), tags joined to the root with matching paths and path index,
 * names that point to live objects and are indexed, directory counters,
 * sizes and extents within CTE_MAX_BLOB_SIZE, extents on registered
 * targets, blocks shared by two extents.  One line per problem to out (a
 * FILE *), then a summary line; *out_problems = the problems.  0 or
 * -ENOMEM.
 */
int cte__fsck_check(struct cte_core *core, void *out, uint64_t *out_problems);
/* Recovery: mark every block of every blob allocated on its bdev. */
int cte__state_reserve(struct cte_core *core);

#endif
