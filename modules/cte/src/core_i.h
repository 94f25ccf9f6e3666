/*
 * The CTE core's state: parameters, objects, targets, the core itself, and
 * the functions of core.c (lifecycle, object table, directory slots,
 * references, the namespace lock and the hooks).  The other files of the
 * core have their own headers, each including only what it stands on:
 *   core_i.h     core.c       objects, dirs, refs, ns_lock, hooks
 *   target_i.h   target.c     targets, allocation, freeing blocks
 *   blobio_i.h   blobio.c     blob data (read, write, truncate, ...)
 *   ns_i.h       ns.c, xattr.c, names.c   namespace, xattrs, tags by name
 *   image_i.h    image.c      checkpoint and journal images, replay
 *   durable_i.h  durable.c    the metadata journal
 *   fsck_i.h     fsck.c       cte-fsck's checks
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
 *   core->free_lock (pthread mutex): the deferred frees (target.c).
 *   telemetry: its own mutex (telemetry_i.h).
 * Lifetime: a blob found by id gets a reference (refs, under ns_lock);
 * destroying it unlinks it from every index and marks it dead, then frees
 * its blocks under io_lock; the memory goes with the last reference.
 *
 * Hooks: every metadata mutation calls cte__meta_changed() while holding
 * ns_lock, right after the in-memory change, with a kind and the ids
 * involved (see enum cte_meta_kind), and ends its ns_lock section with
 * cte__ns_unlock().  durable.c installs the hooks (core.c calls them,
 * never durable.c itself): meta_hook turns each change into an
 * after-image record, commit_hook (run by cte__ns_unlock()) commits a
 * section's records as one journal group, and sync_hook
 * (cte__meta_sync()) makes committed records durable and takes back the
 * blocks their unmapping freed.  cte__state_save() (image.c) writes the
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
#define CTE_TARGET_ID_BYTES  16
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
	/* Identity (file targets): a random id kept in the block just past
	 * the capacity in the target file and in the TARGETS image.  id_found:
	 * the file's last block held one at registration (it is then id). */
	uint8_t id[CTE_TARGET_ID_BYTES];
	bool id_found;
	/* What the store remembers (replay of the TARGETS image): capacity
	 * (0: nothing, an old store) and identity. */
	uint64_t rec_capacity;
	uint8_t rec_id[CTE_TARGET_ID_BYTES];
};

/* Recovery: what the replayed blobs hold on one target (image.c). */
struct cte_held {
	uint64_t bytes; /* bytes of blob blocks */
	uint64_t end;   /* end of the last block */
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

	/* hooks durable.c installs; NULL: none (see DESIGN above) */
	cte_meta_hook_fn meta_hook; /* called under ns_lock */
	void *meta_hook_arg;
	void (*commit_hook)(struct cte_core *core); /* ns_lock held */
	int (*sync_hook)(struct cte_core *core);    /* no CTE lock held */

	/* durability (durable.c); journal == NULL: journaling off */
	cte_journal *journal;
	cte_journal_txn txn;       /* ns_lock: records of this section */
	cte_jenc meta_buf;         /* ns_lock: image scratch */
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
	pthread_mutex_t free_lock;     /* pending_free (target.c) */
	struct cte_pending_free *pending_free;
	uint64_t min_pending_seq; /* free_lock; hint read without it */
	size_t n_pending, cap_pending;
};

/* ---- core.c ---- */

/* The first readdir cookie of a tag: 1 and 2 are "." and "..". */
#define CTE_FIRST_COOKIE 3

int cte__core_new(struct cte_core **out, const struct cte_params *params);
void cte__core_free(struct cte_core *core);
void cte__now(struct timespec *ts);

/* The namespace lock.  Every section that may change metadata ends with
 * cte__ns_unlock(), which first runs commit_hook (the journal group of
 * the section's records).  Replay, which journals nothing, uses the mutex
 * directly. */
void cte__ns_lock(struct cte_core *core);
void cte__ns_unlock(struct cte_core *core);
/* Report a metadata change (ns_lock held): runs meta_hook. */
void cte__meta_changed(struct cte_core *core, enum cte_meta_kind kind,
                       cte_id id, cte_id aux);
/* cte__meta_changed(CTE_META_DATA) for blocks [lo, hi) of blob id. */
void cte__meta_data_changed(struct cte_core *core, cte_id id, uint64_t lo,
                            uint64_t hi);
/* Make every committed record durable (sync_hook); 0 without a hook. */
int cte__meta_sync(struct cte_core *core);

/* Lookups; ns_lock held. */
struct cte_obj *cte__obj_find(struct cte_core *core, cte_id id);
struct cte_tag *cte__as_tag(struct cte_obj *o);   /* NULL: not a tag */
struct cte_blob *cte__as_blob(struct cte_obj *o); /* NULL: not a blob */
/* A directory by id: -ENOENT, or -ENOTDIR for a blob. */
int cte__dir_find(struct cte_core *core, cte_id id, struct cte_tag **out);
struct cte_dentry *cte__dentry_find(struct cte_core *core,
                                    struct cte_tag *dir, const char *name);
struct cte_tag *cte__tag_by_path(struct cte_core *core, const char *path);
/* A name component: -EINVAL (empty, '/', "." or ".."), -ENAMETOOLONG. */
int cte__check_name(const char *name);
/* True if t is ancestor or below it. */
bool cte__tag_is_below(struct cte_tag *t, struct cte_tag *ancestor);

/* Directory entries; ns_lock held. */
/* Index of the first slot with cookie > cookie. */
size_t cte__dir_slot_after(const struct cte_tag *t, uint64_t cookie);
/* Add (dir, name) -> obj; NULL without memory. */
struct cte_dentry *cte__dir_add(struct cte_core *core, struct cte_tag *dir,
                                struct cte_obj *obj, const char *name);
/* Remove and free a dentry (the object keeps its own state). */
void cte__dir_remove(struct cte_core *core, struct cte_dentry *d);
/* A directory's entries changed: mtime and ctime, and its record. */
void cte__touch_dir(struct cte_core *core, struct cte_tag *t,
                    const struct timespec *now);
/* Recompute the paths of tag t and of every tag below it. */
int cte__repath_subtree(struct cte_core *core, struct cte_tag *t);

/* A growable array of tags (walks of the tree). */
struct cte_tagvec {
	struct cte_tag **v;
	size_t n, cap;
};
int cte__tagvec_push(struct cte_tagvec *v, struct cte_tag *t);

/* Objects; ns_lock held.  New objects get the next id and report
 * CTE_META_CREATE; attr may be NULL (defaults). */
struct cte_tag *cte__tag_new(struct cte_core *core, struct cte_tag *parent,
                             const char *name, const cte_attr *attr);
/* Remove an empty tag from every index and free it. */
void cte__tag_delete(struct cte_core *core, struct cte_tag *t);
struct cte_blob *cte__blob_new(struct cte_core *core, struct cte_tag *dir,
                               const char *name, const cte_attr *attr,
                               const char *symlink_target);
void cte__blob_free(struct cte_blob *b);
int cte__blob_add_name(struct cte_blob *b, struct cte_dentry *d);
void cte__blob_drop_name(struct cte_blob *b, struct cte_dentry *d);
void cte__blob_replace_name(struct cte_blob *b, struct cte_dentry *old,
                            struct cte_dentry *new_d);
void cte__xattrs_free(struct cte_obj *o);

/* A tag's default score (CTE_SCORE_UNSET: inherit); -ENOTDIR for a blob.
 * Takes ns_lock. */
int cte__tag_set_score(struct cte_core *core, cte_id tag, double score);

/* Object references. */
/* Blob by id with a reference: -ENOENT, -EISDIR for a tag. */
int cte__blob_get(struct cte_core *core, cte_id id, struct cte_blob **out);
void cte__blob_put(struct cte_core *core, struct cte_blob *b);
/* Detach a blob from the indexes (ns_lock held): it becomes dead. */
void cte__blob_detach_locked(struct cte_core *core, struct cte_blob *b);

#endif
