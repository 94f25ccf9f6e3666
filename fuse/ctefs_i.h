/*
 * cte-fuse: private declarations shared by the daemon's source files.
 *
 * Who owns what:
 *   main.c      command line, configuration, mount, daemonize, signals
 *   parse.c     the command line and -o options
 *   config.c    the built-in default configuration
 *   inode.c     the table of inodes the kernel holds references to, and
 *               its stripe locks
 *   ops.c       the operation table, INIT, FORGET, STATFS, reply helpers
 *   dir.c       names: LOOKUP, CREATE, MKNOD, MKDIR, SYMLINK, READLINK,
 *               LINK, UNLINK, RMDIR, RENAME
 *   attr.c      attributes and permissions: GETATTR, SETATTR, ACCESS, and
 *               the privilege killing of write, truncate and chown
 *   file.c      file data: OPEN, READ, WRITE, RELEASE, FSYNC, FALLOCATE,
 *               COPY_FILE_RANGE, LSEEK
 *   wb_error.c  failed write-backs: the episode, the cut-back, the resync
 *               thread
 *   readdir.c   directory handles and listings
 *   xattr.c     extended attributes, including user.cte.*
 *   rawio.c     the /dev/fuse read/write hooks: FUSE_HANDLE_KILLPRIV_V2
 *               and the request flags libfuse does not pass on
 */
#ifndef CTEFS_I_H
#define CTEFS_I_H

#define FUSE_USE_VERSION 312

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <fuse_lowlevel.h>

#include "chimaera/chimaera.h"
#include "cte/cte.h"

#define CTEFS_VERSION "0.1.0"

/*
 * Default attribute and entry (and negative entry) cache time, seconds.
 * Every change reaches CTE through this mount (the runtime is embedded), and
 * the kernel drops what it caches for the changes it makes, so a long time
 * is safe; the daemon invalidates explicitly where it changes a file itself
 * (after a failed write-back).
 */
#define CTEFS_DEFAULT_TIMEOUT 10.0

/* Default -o dirty_ratio (see main.c, tune_bdi). */
#define CTEFS_DEFAULT_DIRTY_RATIO 10

/* Names the daemon answers itself (see cte-fuse(1), "EXTENDED ATTRIBUTES"). */
#define CTEFS_XATTR_SCORE     "user.cte.score"
#define CTEFS_XATTR_PLACEMENT "user.cte.placement"

/* ------------------------------------------------------------------ */
/* Per-inode state                                                     */

/* ctefs_inode.xflags: what we know about an inode's stored xattrs. */
#define CTEFS_X_KNOWN   (1u << 0) /* HAS_ANY/HAS_SEC below are exact */
#define CTEFS_X_HAS_ANY (1u << 1) /* at least one stored name */
#define CTEFS_X_HAS_SEC (1u << 2) /* at least one "security." name */
#define CTEFS_X_HAS_CAP (1u << 3) /* "security.capability" is stored */

#define CTEFS_XATTR_CAPS "security.capability"

/*
 * One inode the kernel holds references to (its lookup count is > 0).
 * Entries are created by every reply that hands the kernel an entry
 * (lookup, create, mkdir, mknod, symlink, link, readdirplus) and removed
 * when FORGET brings the count to zero.  The fields are caches: CTE is the
 * source of truth.  Every field is protected by the stripe lock of the
 * table it is in: read or write it only between ctefs__inode_lock() (or
 * ctefs__inode_ref_lock()) and ctefs__inode_unlock().  The file named
 * after a field is the one that gives it its meaning.
 */
struct ctefs_inode {
	cte_id id;        /* protected by the stripe lock (as all below) */
	uint64_t nlookup; /* the kernel's references (inode.c) */
	uint32_t xflags;  /* CTEFS_X_* (xattr.c) */
	uint32_t mode;    /* last mode seen, 0 = unknown (attr.c, dir.c) */
	uint32_t gid;     /* last gid seen */
	bool stamp_valid; /* page cache matches stamp_mtime/size (file.c) */
	struct timespec stamp_mtime;
	uint64_t stamp_size;
	bool written;         /* data written since the stamp was taken */
	bool orphan;          /* may have lost its last name: forget it */
	bool resyncing;       /* a resync after a failed write-back runs */
	bool wb_failed;       /* a write-back failed since the last open */
	uint64_t wb_fail_off; /* lowest offset whose write-back failed */
	uint64_t open_size;   /* size at the last open (wb_error.c) */
	int opens;            /* open handles not yet released */
	int wb_inflight;      /* write-backs being written to CTE */
	bool dir_score_known; /* dir_score below is loaded (xattr.c) */
	double dir_score;     /* directories: default score, < 0 = none */
	bool multilinked;     /* a reply showed it with st_nlink > 1 */
	struct ctefs_inode *next;
};

#define CTEFS_STRIPES 64

/* synchronization: each stripe has its own mutex guarding its chains and
 * their entries' fields. */
struct ctefs_stripe {
	pthread_mutex_t lock;
	struct ctefs_inode **buckets; /* protected by lock */
	size_t n_buckets;
	size_t n_inodes;
};

struct ctefs_itable {
	struct ctefs_stripe stripes[CTEFS_STRIPES];
};

int ctefs__itable_init(struct ctefs_itable *t);
void ctefs__itable_destroy(struct ctefs_itable *t);
/*
 * id's entry with its stripe locked, or NULL (then nothing is locked) when
 * the kernel holds no reference to id.  Release with ctefs__inode_unlock.
 */
struct ctefs_inode *ctefs__inode_lock(struct ctefs_itable *t, cte_id id);
/* Add n lookups to id, creating its entry; the entry locked as by
 * ctefs__inode_lock, or NULL when out of memory (nothing locked). */
struct ctefs_inode *ctefs__inode_ref_lock(struct ctefs_itable *t, cte_id id,
                                          uint64_t n);
/* Unlock e's stripe; e may be NULL (then it does nothing). */
void ctefs__inode_unlock(struct ctefs_itable *t, struct ctefs_inode *e);
/*
 * Drop n lookups; true when the count reached zero (entry removed), and
 * then *orphan says whether the inode may have lost its last name.
 */
bool ctefs__inode_unref(struct ctefs_itable *t, cte_id id, uint64_t n,
                        bool *orphan);
/*
 * Field groups of a locked entry.  note_attr remembers attributes seen in
 * a reply: mode, gid, and a link count above one on a non-directory
 * (multilinked: the mark lasts until FORGET removes the entry; listings
 * leave such inodes' attributes out, see readdir.c).  stamp_set takes the
 * keep_cache stamp; stamp_check says whether the stamp is valid and equals
 * (mtime, size), and then sets it to (mtime, size) in every case.
 */
void ctefs__inode_note_attr(struct ctefs_inode *e, const cte_attr *a);
void ctefs__inode_stamp_set(struct ctefs_inode *e,
                            const struct timespec *mtime, uint64_t size);
bool ctefs__inode_stamp_check(struct ctefs_inode *e,
                              const struct timespec *mtime, uint64_t size);
/* Lock, note_attr, unlock: for an operation whose only inode state is
 * the attributes it saw. */
void ctefs__itable_note_attr(struct ctefs_itable *t, const cte_attr *a);

/* ------------------------------------------------------------------ */
/* The daemon                                                          */

struct ctefs_opts {
	const char *mountpoint;
	const char *config_path; /* -c / -o config= / SOURCE naming a file */
	bool foreground;
	bool debug;
	bool single_thread;
	bool writeback; /* -o no_writeback turns it off */
	bool readdirplus; /* -o no_readdirplus turns it off */
	bool read_only; /* -o ro (for -o remount) */
	/* negotiate FUSE_HANDLE_KILLPRIV_V2 (default; -o no_killpriv_v2) */
	bool killpriv_v2;
	bool show_help;
	bool show_version;
	double attr_timeout;
	double entry_timeout;
	unsigned max_threads;
	/* the mount's share of the system's dirty-page limit, percent (bdi
	 * max_ratio; 0: leave the kernel's, 1% for FUSE) */
	unsigned dirty_ratio;
	char *fuse_opts; /* comma list handed to libfuse (malloc'd) */
};

struct ctefs {
	cte_client cte;
	volatile int init_done; /* set by op_init (read by main's tuner) */
	struct ctefs_opts opts;
	struct fuse_session *se;
	struct ctefs_itable itab;
	volatile int killpriv_v2; /* set when the INIT reply carried it */
};

/* ------------------------------------------------------------------ */
/* The operations                                                      */

/* The low-level operation table (ops.c). */
extern const struct fuse_lowlevel_ops ctefs__ops;

static inline struct ctefs *ctefs__fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline void ctefs__now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Reply helpers (ops.c): an entry or attributes as the kernel gets them,
 * with the configured timeouts.  They touch no inode state. */
void ctefs__fill_entry(struct ctefs *fs, const cte_attr *a,
                       struct fuse_entry_param *e);
void ctefs__reply_attr(fuse_req_t req, struct ctefs *fs, const cte_attr *a);
/* Drop nlookup of the kernel's references to ino (FORGET). */
void ctefs__forget(struct ctefs *fs, fuse_ino_t ino, uint64_t nlookup);

/* Directory operations (dir.c). */
void ctefs__lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ctefs__create(fuse_req_t req, fuse_ino_t parent, const char *name,
                   mode_t mode, struct fuse_file_info *fi);
void ctefs__mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, dev_t rdev);
void ctefs__mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode);
void ctefs__symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                    const char *name);
void ctefs__readlink(fuse_req_t req, fuse_ino_t ino);
void ctefs__link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                 const char *newname);
void ctefs__unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ctefs__rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ctefs__rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                   fuse_ino_t newparent, const char *newname,
                   unsigned int flags);
/* The parent directory of directory `dir` (the root is its own). */
int ctefs__lookup_parent(struct ctefs *fs, cte_id dir, cte_attr *out);

/* Attributes and permissions (attr.c). */
void ctefs__getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ctefs__setattr(fuse_req_t req, fuse_ino_t ino, struct stat *in,
                    int to_set, struct fuse_file_info *fi);
void ctefs__access(fuse_req_t req, fuse_ino_t ino, int mask);
/*
 * Before a write or an O_TRUNC (see attr.c, "Set-user-ID"): clear
 * set-user-ID/set-group-ID of regular file id as the caller of req would,
 * when `suidgid`, then remove security.capability; 0 or -errno.
 */
int ctefs__kill_privs(fuse_req_t req, struct ctefs *fs, cte_id id,
                      bool suidgid);
/* A request's kill flag as noted by rawio.c, or `fallback`. */
bool ctefs__kill_flag(uint32_t opcode, fuse_ino_t ino, bool fallback);

/* File operations (file.c). */
void ctefs__open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ctefs__read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 struct fuse_file_info *fi);
void ctefs__write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                  size_t size, off_t off, struct fuse_file_info *fi);
void ctefs__release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ctefs__fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                  struct fuse_file_info *fi);
void ctefs__fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                      off_t length, struct fuse_file_info *fi);
void ctefs__copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                            struct fuse_file_info *fi_in, fuse_ino_t ino_out,
                            off_t off_out, struct fuse_file_info *fi_out,
                            size_t len, int flags);
void ctefs__lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                  struct fuse_file_info *fi);
/* O_TRUNC at open or create (see file.c); 0 or -errno, *a updated. */
int ctefs__open_truncate(fuse_req_t req, struct ctefs *fs, uint32_t opcode,
                         fuse_ino_t nodeid, cte_id id, cte_attr *a);
/*
 * A handle is being opened on *a (fresh: a file just created): note the
 * attributes, end a write-back failure episode (ctefs__wb_reset), set
 * direct_io / keep_cache in *fi, count the handle.  e is a's entry, locked,
 * or NULL (then only *fi is set).  ctefs__note_close uncounts it (after
 * RELEASE, or when the open's reply found the request interrupted).
 */
void ctefs__note_open(struct ctefs_inode *e, struct fuse_file_info *fi,
                      const cte_attr *a, bool fresh);
void ctefs__note_close(struct ctefs *fs, cte_id id);

/* Failed write-backs (wb_error.c, see its DESIGN). */
/* A WRITE of cached pages (fi->writepage): stored, or refused past an
 * earlier failure; a failure starts or lowers the episode.  0 or -errno. */
int ctefs__writeback(struct ctefs *fs, cte_id id, const char *buf,
                     size_t size, uint64_t off);
/* An open or truncate to `size` ends e's failure episode; e locked. */
void ctefs__wb_reset(struct ctefs_inode *e, uint64_t size);
/* Hold a lookup of id while the kernel still has its stale inode. */
void ctefs__wb_wait_stale(struct ctefs *fs, cte_id id);

/* Directory handles and listings (readdir.c). */
void ctefs__opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ctefs__readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void ctefs__readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                        off_t off, struct fuse_file_info *fi);
void ctefs__releasedir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi);
void ctefs__fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi);

/* xattr operations (xattr.c), referenced from ctefs__ops. */
void ctefs__setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                     const char *value, size_t size, int flags);
void ctefs__getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                     size_t size);
void ctefs__listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ctefs__removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/*
 * Learn (once) what an inode's stored xattr names are: CTEFS_X_* flags with
 * CTEFS_X_KNOWN set, or 0 when CTE could not say.
 */
uint32_t ctefs__xattr_flags(struct ctefs *fs, cte_id id);
/* The default score for new objects in directory `dir` (CTE_SCORE_UNSET:
 * let CTE inherit). */
double ctefs__dir_default_score(struct ctefs *fs, cte_id dir);

/*
 * Parse a user.cte.score value: a decimal number in [0, 1], optionally
 * followed by a newline.  0 and *out, or -EINVAL (empty, not a number,
 * nan, inf, out of range).
 */
int ctefs__parse_score(const char *value, size_t size, double *out);

/*
 * The /dev/fuse hooks (rawio.c).  ctefs__rawio_install puts them on the
 * session's channel after fuse_session_mount and before the loop runs;
 * 0 or -errno.  They answer the kernel's offer of FUSE_HANDLE_KILLPRIV_V2
 * in the INIT reply when fs->opts.killpriv_v2 is set (fs->killpriv_v2 then
 * becomes 1), and note, per thread, the privilege-killing flag of the
 * request being served, which libfuse 3.14 does not pass on:
 * FUSE_WRITE_KILL_SUIDGID (WRITE), FATTR_KILL_SUIDGID (SETATTR) and
 * FUSE_OPEN_KILL_SUIDGID (OPEN, CREATE).
 */
int ctefs__rawio_install(struct ctefs *fs);
/* The hooks themselves (for the unit test); userdata is the struct ctefs. */
const struct fuse_custom_io *ctefs__rawio_hooks(void);
/*
 * The flag of the request this thread is serving: 1 set, 0 clear, -1 when
 * the request read last on this thread is not `opcode` on `nodeid` (then
 * the caller decides without it).  opcode is a FUSE_* opcode of
 * <linux/fuse.h>: CTEFS_OP_WRITE, CTEFS_OP_SETATTR, CTEFS_OP_OPEN,
 * CTEFS_OP_CREATE.
 */
int ctefs__raw_kill_flag(uint32_t opcode, uint64_t nodeid);
#define CTEFS_OP_SETATTR 4  /* FUSE_SETATTR */
#define CTEFS_OP_OPEN    14 /* FUSE_OPEN */
#define CTEFS_OP_WRITE   16 /* FUSE_WRITE */
#define CTEFS_OP_CREATE  35 /* FUSE_CREATE */

/* Append opt to the comma-separated *list (malloc'd); 0 or -ENOMEM. */
int ctefs__append_opt(char **list, const char *opt);

/*
 * Parse the command line into *o; 0, or -EINVAL with a message printed.
 * With -o remount it remounts o->mountpoint and exits.
 */
int ctefs__parse_args(struct ctefs_opts *o, int argc, char **argv);

/*
 * Load the configuration: o->config_path or the runtime's lookup order.
 * When that yields the built-in default or a config without a CTE pool,
 * generate the daemon's default (RAM tier + file tier) and print it.
 * *out_pool receives the CTE pool name (malloc'd).  Errors: -errno with
 * chi_error_last() set.
 */
int ctefs__config_load(chi_config **out, char **out_pool,
                       const char *config_path, bool verbose);

#endif
