/*
 * CTE: the Content Transfer Engine's core, as a Chimaera module
 * ("wrp_cte_core").  Tags hold blobs; blobs are placed on storage targets
 * (bdev pools) by a score from 0 to 1.
 *
 * Identity: every tag and blob has a 64-bit id from one allocator; ids never
 * change (rename changes names only) and are never reused.  The root tag
 * "/" has id CTE_ROOT_ID.  The FUSE daemon uses ids as inode numbers.
 *
 * Names: a tag is named by a path ("/", "/a", "/a/b"); a blob by a name
 * unique inside its tag.  The namespace calls (cte_ns_*) present tags as
 * directories and blobs as files: the children of directory "/a" are the
 * blobs of tag "/a" and the tags "/a/<x>".  A blob may have several names
 * (hard links, possibly in different tags); it keeps one id and counts its
 * names in attr.nlink.  A blob whose last name is removed stays readable by
 * id (an open file) until cte_ns_forget() or cte_blob_destroy(); recovery
 * deletes such orphans.
 *
 * All functions return 0 or a negative errno and, on bad input, set
 * chi_error_last().  They submit tasks to the CTE pool and wait, so they may
 * be called from client threads or from inside tasks.
 */
#ifndef CTE_CTE_H
#define CTE_CTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/types.h"

#define CTE_MODULE_NAME       "wrp_cte_core"
#define CTE_DEFAULT_POOL_NAME "cte_main"

typedef uint64_t cte_id;
#define CTE_ROOT_ID ((cte_id)1)
#define CTE_ID_NONE ((cte_id)0)

#define CTE_NAME_MAX 255   /* one name component, like NAME_MAX */
#define CTE_SCORE_UNSET (-1.0) /* "keep / inherit" where a score is taken */

typedef struct cte_client {
	chi_pool_id pool_id;
} cte_client;

/* Connect to the CTE pool named pool_name (NULL = "cte_main"); -ENOENT if
 * the runtime has no such pool. */
int cte_client_init(cte_client *c, const char *pool_name);

/* ------------------------------------------------------------------ */
/* Targets                                                             */

typedef struct cte_target_info {
	char name[4096];        /* the path ("ram::x" for RAM targets) */
	chi_bdev_type type;
	chi_pool_id bdev_pool;
	uint64_t capacity;
	uint64_t free_bytes;
	double score;           /* tier score used for placement, 0..1 */
	bool manual_score;      /* from config/RegisterTarget: never changed */
	bool is_volatile;       /* RAM: lost at exit */
	double read_bw_mbps;    /* measured */
	double write_bw_mbps;
	uint64_t bytes_read, bytes_written;
} cte_target_info;

/*
 * RegisterTarget: create a bdev pool for `path` and add it as a target.
 * score in [0,1] is a manual score (never overwritten); CTE_SCORE_UNSET
 * (or any negative) means "measure": the score comes from the measured
 * bandwidth.  Errors as chi_bdev_create, -EEXIST if registered.
 */
int cte_target_register(cte_client *c, const char *path, chi_bdev_type type,
			uint64_t capacity, double score);
/* UnregisterTarget: -EBUSY while blobs hold blocks on it. */
int cte_target_unregister(cte_client *c, const char *path);
/* ListTargets: *out is malloc'd (free()), *out_n entries. */
int cte_target_list(cte_client *c, cte_target_info **out, size_t *out_n);
/* StatTargets: refresh measured figures and non-manual scores. */
int cte_target_stat(cte_client *c);
int cte_target_get_info(cte_client *c, const char *path,
			cte_target_info *out);

/* ------------------------------------------------------------------ */
/* Attributes: a POSIX-like record kept with every tag and blob          */

typedef struct cte_attr {
	cte_id id;
	uint32_t mode;     /* S_IFDIR for tags; S_IFREG or S_IFLNK for blobs */
	uint32_t uid, gid;
	uint32_t nlink;    /* blobs: number of names; tags: 2 + child tags */
	uint64_t rdev;
	uint64_t size;     /* blobs: logical size; symlinks: target length */
	uint64_t alloc_bytes; /* bytes of device space held (st_blocks*512) */
	struct timespec atime, mtime, ctime, btime;
	double score;      /* blobs: the blob's score; tags: default for new
			    * blobs below, CTE_SCORE_UNSET = inherit */
} cte_attr;

/* Masks for cte_ns_setattr. */
#define CTE_SET_MODE  (1u << 0)
#define CTE_SET_UID   (1u << 1)
#define CTE_SET_GID   (1u << 2)
#define CTE_SET_SIZE  (1u << 3) /* truncate/extend a blob */
#define CTE_SET_ATIME (1u << 4)
#define CTE_SET_MTIME (1u << 5)
#define CTE_SET_CTIME (1u << 6)

/* ------------------------------------------------------------------ */
/* Namespace: what a filesystem needs                                   */

typedef struct cte_dirent {
	cte_id id;
	uint64_t next_cookie;  /* pass back to continue after this entry */
	char name[CTE_NAME_MAX + 1];
	cte_attr attr;         /* full attributes (readdirplus) */
} cte_dirent;

/* Look up `name` in directory tag `parent`: a blob of that tag or the
 * child tag.  -ENOENT, -ENOTDIR (parent is a blob), -ENAMETOOLONG. */
int cte_ns_lookup(cte_client *c, cte_id parent, const char *name,
		  cte_attr *out);

/* Attributes of a tag or blob by id; -ENOENT if it no longer exists. */
int cte_ns_getattr(cte_client *c, cte_id id, cte_attr *out);

/*
 * Change attributes selected by `mask` (CTE_SET_*); CTE_SET_SIZE resizes a
 * blob (shrink frees blocks, grow reads as zeros).  ctime is set to now on
 * any change unless CTE_SET_CTIME gives it.  *out (may be NULL) receives the
 * new attributes.
 */
int cte_ns_setattr(cte_client *c, cte_id id, const cte_attr *attr,
		   uint32_t mask, cte_attr *out);

/*
 * Create `name` in `parent`.  attr->mode's type selects: S_IFDIR -> tag
 * "<parent path>/<name>"; S_IFREG -> empty blob; S_IFLNK -> blob holding
 * `symlink_target`.  mode/uid/gid/times are taken from attr; a new blob's
 * score is the nearest ancestor tag's default score, else the configured
 * default.  -EEXIST if the name exists, -ENOENT if parent is gone.
 */
int cte_ns_create(cte_client *c, cte_id parent, const char *name,
		  const cte_attr *attr, const char *symlink_target,
		  cte_attr *out);

/* Add a name for blob `id` (hard link); -EPERM for tags, -EEXIST. */
int cte_ns_link(cte_client *c, cte_id id, cte_id new_parent,
		const char *new_name, cte_attr *out);

/*
 * Remove `name` from `parent`.  dir=false: a blob name (-EISDIR for a tag);
 * its nlink drops, and at 0 the blob becomes an orphan (data kept until
 * cte_ns_forget).  dir=true: an empty tag (-ENOTDIR for a blob, -ENOTEMPTY
 * if it has blobs or child tags); the tag is deleted.  *out_attr (may be
 * NULL) receives the object's attributes after the removal.
 */
int cte_ns_unlink(cte_client *c, cte_id parent, const char *name, bool dir,
		  cte_attr *out_attr);

#define CTE_RENAME_NOREPLACE (1u << 0)
#define CTE_RENAME_EXCHANGE  (1u << 1)

/*
 * Rename, atomically.  Blobs: within and across tags; an existing
 * destination blob name is replaced (its nlink drops as for unlink;
 * *out_replaced gets its id, else CTE_ID_NONE).  Tags: the tag and every
 * tag below it are renamed (no data moves); a destination tag must be empty
 * (-ENOTEMPTY); moving a tag below itself is -EINVAL.  Mixed kinds:
 * -EISDIR / -ENOTDIR as rename(2).  NOREPLACE: -EEXIST if the destination
 * exists.  EXCHANGE: swap the two names (both must exist).
 */
int cte_ns_rename(cte_client *c, cte_id old_parent, const char *old_name,
		  cte_id new_parent, const char *new_name, uint32_t flags,
		  cte_id *out_replaced);

/*
 * List directory `dir` starting at `cookie` (0 = first): up to `max`
 * entries, ordered so that cookies stay valid while entries are added or
 * removed (no entry is returned twice; entries present throughout are
 * returned once).  *out_n = 0 at the end.  "." and ".." are not included.
 */
int cte_ns_readdir(cte_client *c, cte_id dir, uint64_t cookie,
		   cte_dirent *out, size_t max, size_t *out_n);

/* Symlink target into buf (NUL-terminated, truncated to size). */
int cte_ns_readlink(cte_client *c, cte_id id, char *buf, size_t size);

/* The kernel has forgotten `id`: an orphan blob (nlink 0) is destroyed. */
int cte_ns_forget(cte_client *c, cte_id id);

/* Full path name of a tag ("/a/b"); *out malloc'd. */
int cte_tag_get_name(cte_client *c, cte_id tag, char **out);

/* Filesystem-wide figures for statfs. */
typedef struct cte_fs_stats {
	uint64_t capacity;    /* sum of target capacities */
	uint64_t free_bytes;  /* sum of targets' free space */
	uint64_t n_tags;
	uint64_t n_blobs;
} cte_fs_stats;
int cte_statfs(cte_client *c, cte_fs_stats *out);

/* ------------------------------------------------------------------ */
/* Extended attributes (tags and blobs)                                */

#define CTE_XATTR_CREATE  (1u << 0) /* -EEXIST if present */
#define CTE_XATTR_REPLACE (1u << 1) /* -ENODATA if absent */
#define CTE_XATTR_SIZE_MAX 65536

int cte_xattr_set(cte_client *c, cte_id id, const char *name,
		  const void *value, size_t size, uint32_t flags);
/* Copies at most `size` bytes; *out_size = the value's full size (a size
 * of 0 only asks for it).  -ENODATA if absent, -ERANGE if size too small. */
int cte_xattr_get(cte_client *c, cte_id id, const char *name, void *buf,
		  size_t size, size_t *out_size);
/* NUL-separated names, listxattr(2) style; same size rules. */
int cte_xattr_list(cte_client *c, cte_id id, char *buf, size_t size,
		   size_t *out_size);
int cte_xattr_remove(cte_client *c, cte_id id, const char *name);

/* ------------------------------------------------------------------ */
/* Blob data by id                                                      */

/*
 * PutBlob: write len bytes at off.  Bytes outside [off, off+len) are never
 * disturbed; writing past the end extends the blob (a gap reads as zeros
 * and need not use space).  Placement follows the blob's score.  When every
 * target is full: -ENOSPC and the blob keeps its earlier contents.
 */
int cte_blob_write(cte_client *c, cte_id blob, uint64_t off, const void *buf,
		   uint64_t len);

/* cte_blob_write_ex flags */
#define CTE_WRITE_KEEP_TIMES (1u << 0) /* leave mtime and ctime unchanged */
#define CTE_WRITE_KEEP_MTIME CTE_WRITE_KEEP_TIMES

/*
 * cte_blob_write with flags.  CTE_WRITE_KEEP_TIMES: the write changes data
 * and size but not mtime/ctime.  For a caller that owns the times itself,
 * e.g. the FUSE daemon under the kernel's write-back cache: the kernel
 * sets mtime with SETATTR and may send the pages' WRITEs after it.
 * Unknown flags: -EINVAL.
 */
int cte_blob_write_ex(cte_client *c, cte_id blob, uint64_t off,
		      const void *buf, uint64_t len, uint32_t flags);

/* GetBlob: read up to len bytes at off; *out_n = bytes that exist there
 * (0 at or past the end); holes read as zeros. */
int cte_blob_read(cte_client *c, cte_id blob, uint64_t off, void *buf,
		  uint64_t len, uint64_t *out_n);

/*
 * Reserve space for [off, off+len) so later writes there cannot fail with
 * -ENOSPC; extends the size unless keep_size.  -ENOSPC reserves nothing.
 */
int cte_blob_fallocate(cte_client *c, cte_id blob, uint64_t off,
		       uint64_t len, bool keep_size);

/*
 * Punch a hole: free the blocks wholly inside [off, off+len) and zero the
 * partial blocks at its edges, so the range reads as zeros and holds no
 * space; size unchanged (a range past the end frees blocks kept there by
 * keep_size fallocate).  mtime/ctime are updated.  -EINVAL for len 0.
 */
int cte_blob_punch(cte_client *c, cte_id blob, uint64_t off, uint64_t len);

/*
 * ReorganizeBlob: set the blob's score and move its blocks to the matching
 * tier before returning.  Concurrent readers and writers see the old or the
 * new placement, never a mix; the old blocks are freed.  -EINVAL unless
 * 0 <= score <= 1.  On a tag it sets the tag's default score for blobs
 * created below it (CTE_SCORE_UNSET there means "inherit" again); no data
 * moves.
 */
int cte_blob_set_score(cte_client *c, cte_id blob, double score);

/* Where a blob's bytes live. */
typedef struct cte_placement {
	char target[4096];  /* target name */
	uint64_t bytes;     /* bytes of the blob held there */
} cte_placement;

typedef struct cte_blob_extent {
	uint64_t blob_off;  /* offset in the blob */
	uint64_t size;
	uint32_t target;    /* index into the info's placement[] */
	uint64_t dev_off;   /* offset on the target's device */
} cte_blob_extent;

typedef struct cte_blob_info {
	cte_id id;
	cte_id tag;         /* tag of its first name */
	char name[CTE_NAME_MAX + 1];
	uint64_t size;
	double score;
	struct timespec atime, mtime, ctime, btime;
	size_t n_targets;
	cte_placement *placement; /* n_targets entries */
	size_t n_extents;
	cte_blob_extent *extents;
} cte_blob_info;

/* GetBlobInfo by id; free *out with cte_blob_info_free(). */
int cte_blob_info_get(cte_client *c, cte_id blob, cte_blob_info **out);
void cte_blob_info_free(cte_blob_info *info);

/* fsync: data held only on volatile targets is copied to a non-volatile
 * one, then data and metadata are made durable.  -ENOSPC if nowhere. */
int cte_blob_sync(cte_client *c, cte_id blob);
/* Everything durable (unmount, directory fsync). */
int cte_sync_all(cte_client *c);

/* Destroy a blob by id, freeing its blocks (names included). */
int cte_blob_destroy(cte_client *c, cte_id blob);

/* ------------------------------------------------------------------ */
/* The CTE Core API by name (upstream shape)                            */

/* GetOrCreateTag: tag path name, created with default attributes. */
int cte_tag_get_or_create(cte_client *c, const char *name, cte_id *out);
/* DelTag: deletes the tag, its blobs (freeing their blocks) and its
 * child tags. */
int cte_tag_del(cte_client *c, cte_id tag);
/* GetTagSize: sum of its blobs' sizes. */
int cte_tag_get_size(cte_client *c, cte_id tag, uint64_t *out);
/* GetContainedBlobs: *out is a malloc'd array of malloc'd names; free
 * with cte_names_free(). */
int cte_tag_get_contained_blobs(cte_client *c, cte_id tag, char ***out,
				size_t *out_n);
/* RenameTag: name and every tag it prefixes ("/a" -> "/b" moves "/a/x"). */
int cte_tag_rename(cte_client *c, const char *old_name,
		   const char *new_name);
/* TagQuery: tag names matching an extended regular expression. */
int cte_tag_query(cte_client *c, const char *tag_regex, char ***out,
		  size_t *out_n);
/* BlobQuery: "tag\tblob" strings of blobs whose tag and name match. */
int cte_blob_query(cte_client *c, const char *tag_regex,
		   const char *blob_regex, char ***out, size_t *out_n);
void cte_names_free(char **names, size_t n);

/* PutBlob by name: creates the blob if missing; score CTE_SCORE_UNSET keeps
 * the blob's score (or the default for a new blob). */
int cte_put_blob(cte_client *c, cte_id tag, const char *name, uint64_t off,
		 const void *buf, uint64_t len, double score, cte_id *out_id);
int cte_get_blob(cte_client *c, cte_id tag, const char *name, uint64_t off,
		 void *buf, uint64_t len, uint64_t *out_n);
int cte_del_blob(cte_client *c, cte_id tag, const char *name);
int cte_get_blob_size(cte_client *c, cte_id tag, const char *name,
		      uint64_t *out);
int cte_get_blob_score(cte_client *c, cte_id tag, const char *name,
		       double *out);
int cte_get_blob_info(cte_client *c, cte_id tag, const char *name,
		      cte_blob_info **out);
int cte_truncate_blob(cte_client *c, cte_id tag, const char *name,
		      uint64_t size);
int cte_reorganize_blob(cte_client *c, cte_id tag, const char *name,
			double score);
/* RenameBlob: atomically replaces an existing destination. */
int cte_rename_blob(cte_client *c, cte_id src_tag, const char *src_name,
		    cte_id dst_tag, const char *dst_name);

/* ------------------------------------------------------------------ */
/* Telemetry                                                            */

typedef enum cte_op {
	CTE_OP_PUT = 0,
	CTE_OP_GET,
	CTE_OP_DEL_BLOB,
	CTE_OP_TRUNCATE,
	CTE_OP_RENAME,
	CTE_OP_REORGANIZE,
	CTE_OP_DEL_TAG,
	CTE_OP_CREATE,
} cte_op;

typedef struct cte_telemetry_entry {
	uint64_t logical_time;  /* strictly increasing */
	cte_op op;
	cte_id tag, blob;
	char blob_name[CTE_NAME_MAX + 1];
	uint64_t offset, size;
} cte_telemetry_entry;

/*
 * PollTelemetryLog: entries with logical_time > min_time, oldest first, at
 * most max; *out_dropped = entries after min_time that the bounded log
 * already discarded (0 when none were lost).
 */
int cte_poll_telemetry(cte_client *c, uint64_t min_time,
		       cte_telemetry_entry *out, size_t max, size_t *out_n,
		       uint64_t *out_dropped);

#endif
