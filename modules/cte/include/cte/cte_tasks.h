/*
 * The task structs of the wrp_cte_core module (one per group of methods)
 * and the method ids (cte/autogen/cte_methods.h, from chimaera_mod.yaml).
 *
 * Pointers in tasks (names, buffers, out arrays) refer to the submitting
 * client's memory: the runtime runs embedded in the client's process.  A
 * method never keeps them after it completes.  Arrays a method allocates
 * for the client (out lists) are malloc'd; the client frees them.
 */
#ifndef CTE_CTE_TASKS_H
#define CTE_CTE_TASKS_H

#include "chimaera/task.h"
#include "cte/cte.h"
#include "cte/autogen/cte_methods.h"

/* RegisterTarget, UnregisterTarget, ListTargets, StatTargets,
 * GetTargetInfo */
typedef struct cte_target_task {
	chi_task base;
	const char *path;      /* IN */
	chi_bdev_type type;    /* IN */
	uint64_t capacity;     /* IN */
	double score;          /* IN */
	cte_target_info *info; /* OUT (GetTargetInfo): caller's struct */
	cte_target_info *list; /* OUT (ListTargets): malloc'd */
	size_t n;              /* OUT */
} cte_target_task;

/* GetOrCreateTag, DelTag, GetTagSize, GetContainedBlobs, TagQuery,
 * BlobQuery, RenameTag, GetTagName */
typedef struct cte_tag_task {
	chi_task base;
	const char *name;  /* IN: tag name / tag regex / old name */
	const char *name2; /* IN: blob regex / new name */
	cte_id tag;        /* IN/OUT */
	uint64_t size;     /* OUT */
	char **names;      /* OUT: malloc'd array of malloc'd strings */
	size_t n;          /* OUT */
	char *path;        /* OUT (GetTagName): malloc'd */
} cte_tag_task;

/* PutBlob, GetBlob, ReorganizeBlob, DelBlob, GetBlobScore, GetBlobSize,
 * GetBlobInfo, TruncateBlob, FallocateBlob, SyncBlob, DestroyBlob,
 * RenameBlob.  A blob is named by id, or (id == CTE_ID_NONE) by tag and
 * name. */
typedef struct cte_blob_task {
	chi_task base;
	cte_id blob;          /* IN/OUT: id (resolved from tag/name) */
	cte_id tag;           /* IN */
	const char *name;     /* IN */
	cte_id dst_tag;       /* IN: RenameBlob */
	const char *dst_name; /* IN: RenameBlob */
	uint64_t off, len;    /* IN */
	const void *wbuf;     /* IN: PutBlob data */
	void *rbuf;           /* IN: GetBlob destination */
	double score;         /* IN: put/reorganize; OUT: GetBlobScore */
	uint32_t flags;       /* IN: CTE_BLOB_* */
	uint64_t out_n;       /* OUT: bytes read / blob size */
	cte_blob_info *info;  /* OUT: GetBlobInfo */
} cte_blob_task;

#define CTE_BLOB_CREATE    (1u << 0) /* PutBlob by name: create if missing */
#define CTE_BLOB_KEEP_SIZE (1u << 1) /* FallocateBlob */
#define CTE_BLOB_KEEP_TIMES (1u << 2) /* PutBlob: mtime/ctime unchanged */
#define CTE_BLOB_PUNCH_HOLE (1u << 3) /* FallocateBlob: deallocate instead */

/* Namespace methods (40-51) */
typedef struct cte_ns_task {
	chi_task base;
	cte_id id;           /* IN */
	cte_id parent;       /* IN */
	const char *name;    /* IN */
	cte_id parent2;      /* IN: rename/link destination */
	const char *name2;   /* IN */
	const char *symlink; /* IN: create */
	cte_attr attr;       /* IN: create/setattr */
	uint32_t mask;       /* IN: setattr */
	uint32_t flags;      /* IN: rename */
	bool dir;            /* IN: unlink */
	uint64_t cookie;     /* IN: readdir */
	cte_dirent *dirents; /* IN: readdir destination */
	size_t max;          /* IN */
	char *buf;           /* IN: readlink destination */
	size_t size;         /* IN */
	size_t out_n;        /* OUT */
	cte_attr out_attr;   /* OUT */
	cte_id out_id;       /* OUT: replaced id */
	cte_fs_stats stats;  /* OUT: statfs */
} cte_ns_task;

/* XattrSet/Get/List/Remove */
typedef struct cte_xattr_task {
	chi_task base;
	cte_id id;
	const char *name;
	const void *value; /* IN: set */
	void *buf;         /* IN: get/list destination */
	size_t size;
	uint32_t flags;
	size_t out_size; /* OUT */
} cte_xattr_task;

/* PollTelemetryLog, StatTargets, FlushMetadata, FlushData */
typedef struct cte_misc_task {
	chi_task base;
	uint64_t min_time;            /* IN */
	cte_telemetry_entry *entries; /* IN: destination */
	size_t max;                   /* IN */
	size_t out_n;                 /* OUT */
	uint64_t dropped;             /* OUT */
} cte_misc_task;

#endif
