/*
 * cte-fuse: the FUSE low-level operations over the CTE namespace calls.
 *
 * DESIGN: libfuse runs these on its worker threads (fuse_session_loop_mt);
 * every operation is a few synchronous CTE calls (each a task submitted to
 * the embedded runtime, then waited for) followed by one reply.  Node ids
 * are CTE ids (root = CTE_ROOT_ID = FUSE_ROOT_ID), so no path is ever built
 * and no operation scans the namespace.  State kept here is only a cache
 * (struct ctefs_inode, inode.c); CTE is the source of truth.  Reads use a
 * per-thread buffer (freed when the thread exits), so the data path does not
 * allocate.
 *
 * Caching: entry and attribute replies carry the configured timeouts; the
 * kernel invalidates its own caches for changes made through this mount, and
 * every change reaches CTE only through this mount (the runtime is embedded).
 * Page cache contents are kept across opens (keep_cache) when the file's
 * mtime and size match the stamp taken at the last open, setattr or release
 * after a write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/falloc.h>

#include "ctefs_i.h"

#define READ_CHUNK     (1u << 20)
#define READDIR_BATCH  64
#define DOT_COOKIES    3 /* kernel offsets 1, 2 are "." and ".." */
#define COPY_RANGE_MAX (64ull << 20)

static struct ctefs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static bool name_too_long(const char *name)
{
	return strnlen(name, CTE_NAME_MAX + 1) > CTE_NAME_MAX;
}

static void attr_to_stat(const cte_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->id;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = 128 * 1024;
	st->st_blocks = (blkcnt_t)((a->alloc_bytes + 511) / 512);
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

static void fill_entry(struct ctefs *fs, const cte_attr *a,
                       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->id;
	e->generation = 0; /* ids are never reused */
	attr_to_stat(a, &e->attr);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
}

/* Hand the kernel an entry: count the lookup first, so a FORGET cannot
 * overtake it. */
static void reply_entry(fuse_req_t req, struct ctefs *fs, const cte_attr *a)
{
	struct fuse_entry_param e;

	if (ctefs__inode_ref(&fs->itab, a->id, 1)) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ctefs__inode_note_attr(&fs->itab, a);
	fill_entry(fs, a, &e);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, struct ctefs *fs, const cte_attr *a)
{
	struct stat st;

	ctefs__inode_note_attr(&fs->itab, a);
	attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

/*
 * Per-thread read buffer, freed by the key's destructor at thread exit.
 * Page-aligned, so that O_DIRECT file tiers read straight into it: an
 * unaligned buffer sent every read through bdev's bounce buffers, a 1 MiB
 * memcpy per request (10% of the daemon's time in sequential reads).
 */
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

#define BUF_ALIGN 4096

struct thread_buf {
	size_t cap;
	char *data; /* BUF_ALIGN-aligned */
};

static void buf_free(void *p)
{
	struct thread_buf *b = p;

	if (b) {
		free(b->data);
		free(b);
	}
}

static void buf_key_create(void)
{
	pthread_key_create(&buf_key, buf_free);
}

static char *thread_buf(size_t size)
{
	struct thread_buf *b;
	void *data;

	pthread_once(&buf_once, buf_key_create);
	b = pthread_getspecific(buf_key);
	if (b && b->cap >= size)
		return b->data;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		pthread_setspecific(buf_key, b);
	}
	if (size < READ_CHUNK)
		size = READ_CHUNK;
	if (posix_memalign(&data, BUF_ALIGN, size))
		return NULL; /* keeps the smaller buffer it had */
	free(b->data);
	b->data = data;
	b->cap = size;
	return b->data;
}

/* Is the caller in group gid (primary or supplementary)? */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t groups[256];
	int n, i;

	if (ctx->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 256, groups);
	if (n > 256)
		n = 256;
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* The forget path of an inode that may have lost its last name. */
static void note_maybe_orphan(struct ctefs *fs, cte_id id)
{
	if (id == CTE_ID_NONE)
		return;
	if (!ctefs__inode_mark_orphan(&fs->itab, id))
		cte_ns_forget(&fs->cte, id);
}

/*
 * Sticky directories: a non-root caller may remove or rename `name` in a
 * sticky `parent` only if it owns the entry or the directory.  The kernel
 * checks this too under default_permissions; this keeps the rule when the
 * daemon is mounted without it.
 */
static int sticky_check(fuse_req_t req, struct ctefs *fs, cte_id parent,
                        const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	cte_attr dir, victim;
	uint32_t mode;
	int ret;

	if (ctx->uid == 0)
		return 0;
	if (ctefs__inode_cached(&fs->itab, parent, &mode, NULL) &&
	    !(mode & S_ISVTX))
		return 0;
	ret = cte_ns_getattr(&fs->cte, parent, &dir);
	if (ret)
		return ret;
	if (!(dir.mode & S_ISVTX) || dir.uid == ctx->uid)
		return 0;
	ret = cte_ns_lookup(&fs->cte, parent, name, &victim);
	if (ret == -ENOENT)
		return 0; /* the operation itself reports it */
	if (ret)
		return ret;
	return victim.uid == ctx->uid ? 0 : -EPERM;
}

/* The parent directory of directory `dir` (the root is its own). */
static int lookup_parent(struct ctefs *fs, cte_id dir, cte_attr *out)
{
	return cte_ns_lookup(&fs->cte, dir, "..", out);
}

/*
 * Set-user-ID, set-group-ID and capabilities.  With FUSE_HANDLE_KILLPRIV_V2
 * negotiated (rawio.c) the kernel leaves these to the daemon:
 *
 *   write     a WRITE flagged FUSE_WRITE_KILL_SUIDGID (the writer lacks
 *             CAP_FSETID) clears S_ISUID, and S_ISGID when S_IXGRP is set
 *             or the writer is not in the file's group (killed_mode);
 *             every WRITE that is not a write-back of cached pages removes
 *             security.capability.  (A write-back carries data the kernel
 *             already checked when write(2) put it in the cache: it removed
 *             the capability then, or knew there was none, S_NOSEC.  A
 *             capability present at write-back was set after the data was
 *             written, as `cp -a` does, and stays, as on a local file
 *             system.)  With the write-back cache the kernel sends a write
 *             that must clear bits as a plain WRITE, not through the cache.
 *   truncate  SETATTR of the size flagged FATTR_KILL_SUIDGID, or an open
 *             with O_TRUNC flagged FUSE_OPEN_KILL_SUIDGID: the same bits;
 *             a truncate also removes security.capability.
 *   chown     always clears S_ISUID, and S_ISGID as above (for root:
 *             when S_IXGRP is set), and removes security.capability;
 *             also chown(f, -1, -1), which arrives as an empty SETATTR
 *             (see op_setattr).
 *
 * libfuse 3.14 does not pass these flags on; the read hook notes them per
 * thread (ctefs__raw_kill_flag).  Should the note not match the request
 * (it always does with libfuse's loops), the POSIX rule stands in: a WRITE
 * that is not a write-back and comes from a uid other than 0 clears them.
 * Mode and xattr knowledge cached per inode keeps all of this free of CTE
 * calls for files that have none of these.
 */

/*
 * The mode once the privileges are killed: no S_ISUID; no S_ISGID when the
 * file is group-executable or (a caller other than root) not in the file's
 * group, as the Linux VFS decides (setattr_should_drop_sgid).
 */
static uint32_t killed_mode(fuse_req_t req, uint32_t mode, uint32_t gid)
{
	mode &= ~(uint32_t)S_ISUID;
	if ((mode & S_ISGID) &&
	    ((mode & S_IXGRP) ||
	     (fuse_req_ctx(req)->uid != 0 && !caller_in_group(req, gid))))
		mode &= ~(uint32_t)S_ISGID;
	return mode;
}

static int kill_suidgid(fuse_req_t req, struct ctefs *fs, cte_id id)
{
	cte_attr a, want;
	uint32_t mode;
	int ret;

	if (ctefs__inode_cached(&fs->itab, id, &mode, NULL) &&
	    (!S_ISREG(mode) || !(mode & (S_ISUID | S_ISGID))))
		return 0;
	ret = cte_ns_getattr(&fs->cte, id, &a);
	if (ret)
		return ret;
	ctefs__inode_note_attr(&fs->itab, &a);
	if (!S_ISREG(a.mode) || killed_mode(req, a.mode, a.gid) == a.mode)
		return 0;
	memset(&want, 0, sizeof(want));
	want.mode = killed_mode(req, a.mode, a.gid);
	ret = cte_ns_setattr(&fs->cte, id, &want, CTE_SET_MODE, &a);
	if (ret == 0)
		ctefs__inode_note_attr(&fs->itab, &a);
	return ret;
}

static int drop_caps(struct ctefs *fs, cte_id id)
{
	uint32_t flags = ctefs__inode_xflags(&fs->itab, id);
	int ret;

	if (!(flags & CTEFS_X_KNOWN))
		flags = ctefs__xattr_flags(fs, id);
	if ((flags & CTEFS_X_KNOWN) && !(flags & CTEFS_X_HAS_CAP))
		return 0;
	ret = cte_xattr_remove(&fs->cte, id, CTEFS_XATTR_CAPS);
	if (ret == -ENODATA)
		ret = 0;
	if (ret == 0)
		ctefs__inode_xflags_set(&fs->itab, id, 0, CTEFS_X_HAS_CAP);
	return ret;
}

/* A request's kill flag as noted by rawio.c, or `fallback`. */
static bool kill_flag(uint32_t opcode, fuse_ino_t ino, bool fallback)
{
	int flag = ctefs__raw_kill_flag(opcode, ino);

	return flag < 0 ? fallback : flag > 0;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ctefs *fs = userdata;

	if (fs->opts.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* O_TRUNC arrives as a SETATTR before OPEN. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Listings carry attributes (see listed_bare for the entries that
	 * do not); -o no_readdirplus turns that off. */
	if ((conn->capable & FUSE_CAP_READDIRPLUS) && fs->opts.readdirplus)
		conn->want |= FUSE_CAP_READDIRPLUS;
	else
		conn->want &= ~FUSE_CAP_READDIRPLUS;
	/*
	 * Not FUSE_HANDLE_KILLPRIV (v1): rawio.c negotiates v2 instead, and
	 * the handlers keep its contract (see kill_suidgid).  Without v2 the
	 * kernel clears suid/sgid with a SETATTR before writes itself.
	 */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	__atomic_store_n(&fs->init_done, 1, __ATOMIC_RELEASE);
}

/*
 * After a failed write-back (see after_failed_writeback) the kernel's inode
 * has a size CTE does not have.  Its dentry is gone, and the kernel frees
 * the inode when the last RELEASE is answered; a lookup answered before
 * that would revive it.  So hold such a lookup (briefly, bounded) until the
 * handles are released, then the kernel makes a fresh inode.
 */
static void wait_for_stale_inode(struct ctefs *fs, cte_id id)
{
	struct timespec pause = {0, 1000000};
	int i;

	for (i = 0; i < 2000 && ctefs__inode_stale_open(&fs->itab, id); i++)
		nanosleep(&pause, NULL);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	if (strcmp(name, ".") == 0)
		ret = cte_ns_getattr(&fs->cte, parent, &a);
	else if (strcmp(name, "..") == 0)
		ret = lookup_parent(fs, parent, &a);
	else
		ret = cte_ns_lookup(&fs->cte, parent, name, &a);
	if (ret == -ENOENT && fs->opts.entry_timeout > 0) {
		/* A negative entry: the kernel caches the absence. */
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->opts.entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (S_ISREG(a.mode))
		wait_for_stale_inode(fs, a.id);
	reply_entry(req, fs, &a);
}

static void forget_one(struct ctefs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	bool orphan = false;

	if (ino == FUSE_ROOT_ID)
		return;
	if (ctefs__inode_unref(&fs->itab, ino, nlookup, &orphan) && orphan)
		cte_ns_forget(&fs->cte, ino);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
	struct ctefs *fs = fs_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	(void)fi;
	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, fs, &a);
}

/* Permission rules for chown/chgrp by a non-root caller. */
static int chown_allowed(fuse_req_t req, const cte_attr *cur,
                         const struct stat *in, int to_set)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if (ctx->uid == 0)
		return 0;
	if ((to_set & FUSE_SET_ATTR_UID) && in->st_uid != cur->uid)
		return -EPERM;
	if (to_set & FUSE_SET_ATTR_GID) {
		if (ctx->uid != cur->uid)
			return -EPERM;
		if (in->st_gid != cur->gid && !caller_in_group(req, in->st_gid))
			return -EPERM;
	}
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *in,
                       int to_set, struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	bool chown = to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID);
	/*
	 * Truncate by a caller without CAP_FSETID (FATTR_KILL_SUIDGID); or a
	 * SETATTR that changes nothing: with KILLPRIV_V2 the kernel strips
	 * the mode change from the VFS's privilege drops and sends the rest:
	 * ctime alone for chown(f, -1, -1) with the write-back cache, nothing
	 * without it, and nothing for the drop before a write
	 * (file_remove_privs).  A caller with CAP_FSETID (root) gets to the
	 * latter only to drop capabilities, so with the write-back cache an
	 * empty SETATTR from root clears nothing; without it, it cannot be
	 * told from chown(f, -1, -1) and clears the bits (the safe side).
	 */
	bool kill = ((to_set & FUSE_SET_ATTR_SIZE) &&
	             kill_flag(CTEFS_OP_SETATTR, ino,
	                       to_set & FUSE_SET_ATTR_KILL_SUID)) ||
	            to_set == FUSE_SET_ATTR_CTIME ||
	            (to_set == 0 &&
	             (!fs->opts.writeback || fuse_req_ctx(req)->uid != 0));
	cte_attr want, cur, out;
	uint32_t mask = 0, mode;
	int ret = 0;

	(void)fi;
	memset(&want, 0, sizeof(want));
	memset(&cur, 0, sizeof(cur));
	if (kill && !(to_set & FUSE_SET_ATTR_MODE) &&
	    ctefs__inode_cached(&fs->itab, ino, &mode, NULL) &&
	    !(mode & (S_ISUID | S_ISGID)))
		kill = false; /* nothing to clear: no lookup needed */
	if (chown || kill ||
	    ((to_set & FUSE_SET_ATTR_MODE) && (in->st_mode & S_IFMT) == 0)) {
		ret = cte_ns_getattr(&fs->cte, ino, &cur);
		if (ret)
			goto out;
	}
	if (chown) {
		ret = chown_allowed(req, &cur, in, to_set);
		if (ret)
			goto out;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		want.uid = in->st_uid;
		mask |= CTE_SET_UID;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		want.gid = in->st_gid;
		mask |= CTE_SET_GID;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		uint32_t type = in->st_mode & S_IFMT;
		want.mode =
		    (type ? type : (cur.mode & S_IFMT)) | (in->st_mode & 07777);
		mask |= CTE_SET_MODE;
	} else if ((chown || kill) && S_ISREG(cur.mode) &&
	           killed_mode(req, cur.mode, cur.gid) != cur.mode) {
		/* chown, and a truncate by a caller without CAP_FSETID, clear
		 * set-user-ID, and set-group-ID of executables */
		want.mode = killed_mode(req, cur.mode, cur.gid);
		mask |= CTE_SET_MODE;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		want.size = (uint64_t)in->st_size;
		mask |= CTE_SET_SIZE;
		if (!(to_set &
		      (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
			now(&want.mtime);
			mask |= CTE_SET_MTIME;
		}
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
		now(&want.atime);
		mask |= CTE_SET_ATIME;
	} else if (to_set & FUSE_SET_ATTR_ATIME) {
		want.atime = in->st_atim;
		mask |= CTE_SET_ATIME;
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
		now(&want.mtime);
		mask |= CTE_SET_MTIME;
	} else if (to_set & FUSE_SET_ATTR_MTIME) {
		want.mtime = in->st_mtim;
		mask |= CTE_SET_MTIME;
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		want.ctime = in->st_ctim;
		mask |= CTE_SET_CTIME;
	}
	/* chown and truncate remove file capabilities */
	if (to_set &
	    (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE)) {
		ret = drop_caps(fs, ino);
		if (ret)
			goto out;
	}
	if (mask == 0)
		ret = cte_ns_getattr(&fs->cte, ino, &out);
	else
		ret = cte_ns_setattr(&fs->cte, ino, &want, mask, &out);
	if (ret)
		goto out;
	/* The kernel made this change through its own cache. */
	if (S_ISREG(out.mode))
		ctefs__inode_stamp_set(&fs->itab, ino, &out.mtime, out.size);
	if (mask & CTE_SET_SIZE)
		ctefs__inode_note_open(&fs->itab, ino, out.size);
out:
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, fs, &out);
}

/* Create a node of any type in `parent` for the calling user. */
static int make_node(fuse_req_t req, struct ctefs *fs, cte_id parent,
                     const char *name, uint32_t mode, uint64_t rdev,
                     const char *link, cte_attr *out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t parent_mode, parent_gid;
	cte_attr a;
	int ret;

	if (name_too_long(name))
		return -ENAMETOOLONG;
	if (!ctefs__inode_cached(&fs->itab, parent, &parent_mode,
	                         &parent_gid)) {
		cte_attr p;
		ret = cte_ns_getattr(&fs->cte, parent, &p);
		if (ret)
			return ret;
		parent_mode = p.mode;
		parent_gid = p.gid;
	}
	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.uid = ctx->uid;
	a.gid = ctx->gid;
	a.rdev = rdev;
	a.score = ctefs__dir_default_score(fs, parent);
	now(&a.atime);
	a.mtime = a.ctime = a.btime = a.atime;
	if (parent_mode & S_ISGID) {
		/* BSD group semantics below a set-group-ID directory */
		a.gid = parent_gid;
		if (S_ISDIR(mode))
			a.mode |= S_ISGID;
	}
	ret = cte_ns_create(&fs->cte, parent, name, &a, link, out);
	if (ret == 0) {
		ctefs__inode_ref(&fs->itab, out->id, 0);
		if (S_ISDIR(mode))
			ctefs__inode_set_dir_score(&fs->itab, out->id, a.score);
	}
	return ret;
}

/* A freshly created object has no stored xattrs: answer them from memory. */
static void note_new(struct ctefs *fs, const cte_attr *a)
{
	ctefs__inode_xflags_set(&fs->itab, a->id, CTEFS_X_KNOWN, ~0u);
	if (S_ISREG(a->mode))
		ctefs__inode_stamp_set(&fs->itab, a->id, &a->mtime, a->size);
}

static void set_open_flags(struct ctefs *fs, struct fuse_file_info *fi,
                           const cte_attr *a, bool fresh)
{
	if (fi->flags & O_DIRECT) {
		/* Uncached: reads and writes go straight to CTE. */
		fi->direct_io = 1;
		ctefs__inode_stamp_clear(&fs->itab, a->id);
	} else if (!fresh) {
		fi->keep_cache = ctefs__inode_stamp_check(&fs->itab, a->id,
		                                          &a->mtime, a->size);
	}
}

static int truncate_to_zero(struct ctefs *fs, cte_id id, cte_attr *a)
{
	cte_attr want;

	memset(&want, 0, sizeof(want));
	now(&want.mtime);
	return cte_ns_setattr(&fs->cte, id, &want, CTE_SET_SIZE | CTE_SET_MTIME,
	                      a);
}

/*
 * O_TRUNC handled by open/create (the kernel sends it there only with
 * FUSE_ATOMIC_O_TRUNC, which op_init declines; kept for completeness):
 * truncate a non-empty file, clear suid/sgid when the request says so
 * (FUSE_OPEN_KILL_SUIDGID, noted under `nodeid`) and drop capabilities.
 */
static int open_truncate(fuse_req_t req, struct ctefs *fs, uint32_t opcode,
                         fuse_ino_t nodeid, cte_id id, cte_attr *a)
{
	bool kill = kill_flag(opcode, nodeid, false);
	int ret = 0;

	if (kill)
		ret = kill_suidgid(req, fs, id);
	if (ret == 0)
		ret = drop_caps(fs, id);
	if (ret == 0 && a->size > 0)
		ret = truncate_to_zero(fs, id, a);
	else if (ret == 0 && kill)
		ret = cte_ns_getattr(&fs->cte, id, a);
	return ret;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                      mode_t mode, struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	struct fuse_entry_param e;
	bool fresh = true;
	cte_attr a;
	int ret;

	ret = make_node(req, fs, parent, name, S_IFREG | (mode & 07777), 0,
	                NULL, &a);
	if (ret == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Lost a race with another creator: open the existing file. */
		fresh = false;
		ret = cte_ns_lookup(&fs->cte, parent, name, &a);
		if (ret == 0 && S_ISDIR(a.mode))
			ret = -EISDIR;
		if (ret == 0 && (fi->flags & O_TRUNC))
			ret = open_truncate(req, fs, CTEFS_OP_CREATE, parent,
			                    a.id, &a);
		if (ret == 0)
			ret = ctefs__inode_ref(&fs->itab, a.id, 0);
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fresh)
		note_new(fs, &a);
	ctefs__inode_ref(&fs->itab, a.id, 1);
	ctefs__inode_note_attr(&fs->itab, &a);
	ctefs__inode_note_open(&fs->itab, a.id, a.size);
	set_open_flags(fs, fi, &a, fresh);
	fill_entry(fs, &a, &e);
	ctefs__inode_opens(&fs->itab, a.id, 1);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* interrupted: the kernel has neither entry nor handle */
		ctefs__inode_opens(&fs->itab, a.id, -1);
		forget_one(fs, a.id, 1);
	}
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode, dev_t rdev)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = make_node(req, fs, parent, name, mode, rdev, NULL, &a);
	if (ret == -EINVAL && !S_ISREG(mode))
		ret = -EPERM; /* special files: only if CTE can hold them */
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	note_new(fs, &a);
	reply_entry(req, fs, &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                     mode_t mode)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	ret = make_node(req, fs, parent, name, S_IFDIR | (mode & 07777), 0,
	                NULL, &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	note_new(fs, &a);
	reply_entry(req, fs, &a);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                       const char *name)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	if (strnlen(link, PATH_MAX) >= PATH_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	ret = make_node(req, fs, parent, name, S_IFLNK | 0777, 0, link, &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	note_new(fs, &a);
	reply_entry(req, fs, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ctefs *fs = fs_of(req);
	char buf[PATH_MAX + 1];
	int ret;

	ret = cte_ns_readlink(&fs->cte, ino, buf, sizeof(buf));
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, buf);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                    const char *newname)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	if (name_too_long(newname)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	ret = cte_ns_link(&fs->cte, ino, newparent, newname, &a);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	ret = sticky_check(req, fs, parent, name);
	if (ret == 0)
		ret = cte_ns_unlink(&fs->cte, parent, name, false, &a);
	if (ret == 0 && a.nlink == 0)
		note_maybe_orphan(fs, a.id);
	fuse_reply_err(req, -ret);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = fs_of(req);
	int ret;

	if (name_too_long(name)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	ret = sticky_check(req, fs, parent, name);
	if (ret == 0)
		ret = cte_ns_unlink(&fs->cte, parent, name, true, NULL);
	fuse_reply_err(req, -ret);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                      fuse_ino_t newparent, const char *newname,
                      unsigned int flags)
{
	struct ctefs *fs = fs_of(req);
	cte_id replaced = CTE_ID_NONE, moved[2] = {CTE_ID_NONE, CTE_ID_NONE};
	uint32_t cflags = 0;
	cte_attr a;
	int ret;

	if (name_too_long(name) || name_too_long(newname)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		ret = -EINVAL; /* RENAME_WHITEOUT */
		goto out;
	}
	if (flags & RENAME_NOREPLACE)
		cflags |= CTE_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		cflags |= CTE_RENAME_EXCHANGE;
	ret = sticky_check(req, fs, parent, name);
	if (ret == 0)
		ret = sticky_check(req, fs, newparent, newname);
	/* directories changing parent: their ".." changes (below) */
	if (ret == 0 && parent != newparent) {
		if (cte_ns_lookup(&fs->cte, parent, name, &a) == 0 &&
		    S_ISDIR(a.mode))
			moved[0] = a.id;
		if ((flags & RENAME_EXCHANGE) &&
		    cte_ns_lookup(&fs->cte, newparent, newname, &a) == 0 &&
		    S_ISDIR(a.mode))
			moved[1] = a.id;
	}
	if (ret == 0)
		ret = cte_ns_rename(&fs->cte, parent, name, newparent, newname,
		                    cflags, &replaced);
	if (ret == 0 && !(flags & RENAME_EXCHANGE))
		note_maybe_orphan(fs, replaced);
out:
	fuse_reply_err(req, -ret);
	/*
	 * The kernel keeps a directory's listing cached (cache_readdir) and
	 * does not drop it when the directory moves, so ".." would keep
	 * naming the old parent: drop it.  After the reply, so that the
	 * rename is not waiting on it.
	 */
	for (int i = 0; i < 2 && ret == 0; i++)
		if (moved[i] != CTE_ID_NONE)
			fuse_lowlevel_notify_inval_inode(fs->se, moved[i], 0, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret == 0 && S_ISDIR(a.mode))
		ret = -EISDIR;
	if (ret == 0 && (fi->flags & O_TRUNC) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY)
		ret = open_truncate(req, fs, CTEFS_OP_OPEN, ino, ino, &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ctefs__inode_note_attr(&fs->itab, &a);
	ctefs__inode_note_open(&fs->itab, ino, a.size);
	set_open_flags(fs, fi, &a, false);
	ctefs__inode_opens(&fs->itab, ino, 1);
	if (fuse_reply_open(req, fi) == -ENOENT)
		ctefs__inode_opens(&fs->itab, ino, -1);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	uint64_t n = 0;
	char *buf;
	int ret;

	(void)fi;
	buf = thread_buf(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = cte_blob_read(&fs->cte, ino, (uint64_t)off, buf, size, &n);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, n);
}

/*
 * Failed write-back.  With the write-back cache the kernel reports a failed
 * write (ENOSPC) to the next fsync or close, but keeps the pages and the
 * file size it had, which CTE does not have.  Write-backs also run in
 * parallel and in any order, so one past the failure may succeed and leave
 * a hole.  So on the first failure of an episode (until the next open or
 * truncate): later write-backs ending past the failed offset are refused;
 * a file that grew past the failure since it was opened is cut back to
 * it (so it holds exactly the bytes before the failure); the name's dentry
 * is dropped at once, so that after the last close a lookup makes a fresh
 * inode with CTE's size; and a separate thread drops the cached pages
 * (that waits for write-backs in flight, which this thread may be serving)
 * and cuts back again after any write-back that was already in flight.
 */
static void wb_cut_back(struct ctefs *fs, cte_id id)
{
	uint64_t fail_off, open_size;
	cte_attr a, want;

	if (ctefs__inode_wb_failure(&fs->itab, id, &fail_off, &open_size) &&
	    open_size <= fail_off && cte_ns_getattr(&fs->cte, id, &a) == 0 &&
	    a.size > fail_off) {
		memset(&want, 0, sizeof(want));
		want.size = fail_off;
		cte_ns_setattr(&fs->cte, id, &want, CTE_SET_SIZE, NULL);
	}
}

struct resync_job {
	struct ctefs *fs;
	cte_id id;
};

static void *resync_thread(void *arg)
{
	struct resync_job *job = arg;

	fuse_lowlevel_notify_inval_inode(job->fs->se, job->id, 0, 0);
	wb_cut_back(job->fs, job->id);
	ctefs__inode_resync_done(&job->fs->itab, job->id);
	free(job);
	return NULL;
}

static void after_failed_writeback(struct ctefs *fs, cte_id id, uint64_t off)
{
	cte_blob_info *info = NULL;
	struct resync_job *job;
	pthread_attr_t attr;
	pthread_t thread;

	if (!ctefs__inode_note_wb_failure(&fs->itab, id, off))
		return; /* this episode is handled already */
	if (cte_blob_info_get(&fs->cte, id, &info) == 0 &&
	    info->tag != CTE_ID_NONE && info->name[0])
		fuse_lowlevel_notify_inval_entry(fs->se, info->tag, info->name,
		                                 strlen(info->name));
	cte_blob_info_free(info);
	if (!ctefs__inode_resync_start(&fs->itab, id))
		return; /* one thread at a time per inode */
	job = malloc(sizeof(*job));
	if (!job)
		goto fail;
	job->fs = fs;
	job->id = id;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, resync_thread, job)) {
		pthread_attr_destroy(&attr);
		free(job);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	ctefs__inode_resync_done(&fs->itab, id);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	uint64_t limit = 0;
	int ret = 0;

	if (!fi->writepage) {
		/* privileges go before the data (see kill_suidgid above) */
		if (kill_flag(CTEFS_OP_WRITE, ino, fuse_req_ctx(req)->uid != 0))
			ret = kill_suidgid(req, fs, ino);
		if (ret == 0)
			ret = drop_caps(fs, ino);
		if (ret == 0)
			ret = cte_blob_write(&fs->cte, ino, (uint64_t)off, buf,
			                     size);
	} else if (ctefs__inode_wb_begin(&fs->itab, ino, (uint64_t)off + size,
	                                 &limit)) {
		/* keep the file a prefix of what was written: store only the
		 * part before the failed offset */
		if ((uint64_t)off < limit)
			cte_blob_write_ex(&fs->cte, ino, (uint64_t)off, buf,
			                  limit - (uint64_t)off,
			                  CTE_WRITE_KEEP_TIMES);
		ret = -ENOSPC;
	} else {
		/* Write-back: the kernel stamped mtime/ctime when the page was
		 * dirtied and sends them with SETATTR; the page may reach us
		 * later, so it must not stamp them again. */
		ret = cte_blob_write_ex(&fs->cte, ino, (uint64_t)off, buf, size,
		                        CTE_WRITE_KEEP_TIMES);
	}
	if (fi->writepage) {
		if (ret)
			after_failed_writeback(fs, ino, (uint64_t)off);
		/* the last write-back admitted before a failure cuts the
		 * file back if it (or another) wrote past the failure */
		if (ctefs__inode_wb_end(&fs->itab, ino))
			wb_cut_back(fs, ino);
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	if (fi->direct_io)
		ctefs__inode_stamp_clear(&fs->itab, ino);
	else
		ctefs__inode_mark_written(&fs->itab, ino);
	fuse_reply_write(req, size);
}

/*
 * No flush handler, on purpose: data reaches CTE in write, and the kernel
 * writes back dirty pages and reports failed write-backs (ENOSPC) itself
 * before it would send FLUSH.  libfuse answers the first FLUSH with ENOSYS,
 * the kernel then never sends another, and every close(2) saves a round
 * trip.
 */

static void op_release(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;

	(void)fi;
	/* The page cache now holds what was written: stamp it. */
	if (ctefs__inode_take_written(&fs->itab, ino) &&
	    cte_ns_getattr(&fs->cte, ino, &a) == 0)
		ctefs__inode_stamp_set(&fs->itab, ino, &a.mtime, a.size);
	fuse_reply_err(req, 0);
	/* after the reply: the kernel has dropped its reference by now */
	ctefs__inode_opens(&fs->itab, ino, -1);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	int ret;

	(void)datasync;
	(void)fi;
	ret = cte_blob_sync(&fs->cte, ino);
	fuse_reply_err(req, -ret);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                        struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -cte_sync_all(&fs_of(req)->cte));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	(void)ino;
	/* The kernel keeps listings, dropping them on changes it makes. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static size_t add_dot(fuse_req_t req, char *buf, size_t room, const char *name,
                      cte_id id, off_t next, bool plus)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = id;
	e.attr.st_mode = S_IFDIR;
	if (plus)
		return fuse_add_direntry_plus(req, buf, room, name, &e, next);
	return fuse_add_direntry(req, buf, room, name, &e.attr, next);
}

/*
 * Whether a READDIRPLUS entry goes out without attributes (node id 0: the
 * kernel then shows the name and type and looks the entry up when asked).
 *
 * The kernel lowers a cached st_nlink by itself when an unlink or a rename
 * over a name returns (fuse_entry_unlinked).  A listing reply that already
 * shows the new count can be applied just before that, since its
 * attr_version guard only refuses replies older than a local change; the
 * count then ends one too low, and at 0 link(2) fails with ENOENT
 * (measured: the exerciser's stress test, 8 of 40 runs, traced in the
 * daemon).  Only an inode that still has a name after losing one can be
 * listed in that window, i.e. a non-directory that has had several names.
 * So such an entry's attributes are left out of listings while the kernel
 * may have seen it with several (ctefs__inode_multilinked), and whenever
 * it has several now.  Lookup and getattr replies keep a narrower form of
 * the same window (a lookup of the other name exactly then); the kernel
 * gives a daemon no way to close it.
 */
static bool listed_bare(struct ctefs *fs, const cte_attr *a)
{
	if (S_ISDIR(a->mode))
		return false;
	return a->nlink > 1 || ctefs__inode_multilinked(&fs->itab, a->id);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       bool plus)
{
	struct ctefs *fs = fs_of(req);
	cte_dirent *batch = NULL;
	uint64_t cookie =
	    off > DOT_COOKIES - 1 ? (uint64_t)off - DOT_COOKIES : 0;
	size_t used = 0, need, n, i;
	char *buf;
	int ret = 0;

	buf = malloc(size);
	batch = calloc(READDIR_BATCH, sizeof(*batch));
	if (!buf || !batch) {
		ret = -ENOMEM;
		goto out;
	}
	if (off < 1) {
		need = add_dot(req, buf, size, ".", ino, 1, plus);
		if (need > size)
			goto out;
		used += need;
	}
	if (off < 2) {
		/* asked of CTE each time: a directory may have moved since
		 * the kernel looked it up */
		cte_attr up;

		if (lookup_parent(fs, ino, &up))
			up.id = CTE_ROOT_ID;
		need = add_dot(req, buf + used, size - used, "..", up.id, 2,
		               plus);
		if (need > size - used)
			goto out;
		used += need;
	}
	for (;;) {
		ret = cte_ns_readdir(&fs->cte, ino, cookie, batch,
		                     READDIR_BATCH, &n);
		if (ret || n == 0)
			break;
		for (i = 0; i < n; i++) {
			const cte_dirent *d = &batch[i];
			off_t next = (off_t)(d->next_cookie + DOT_COOKIES);
			struct fuse_entry_param e;

			bool bare = plus && listed_bare(fs, &d->attr);

			fill_entry(fs, &d->attr, &e);
			if (bare)
				e.ino = 0; /* name and type only */
			if (plus)
				need = fuse_add_direntry_plus(
				    req, buf + used, size - used, d->name, &e,
				    next);
			else
				need = fuse_add_direntry(req, buf + used,
				                         size - used, d->name,
				                         &e.attr, next);
			if (need > size - used)
				goto out; /* full: the next call resumes */
			if (plus && !bare) {
				ctefs__inode_ref(&fs->itab, d->id, 1);
				ctefs__inode_note_attr(&fs->itab, &d->attr);
			}
			used += need;
			cookie = d->next_cookie;
		}
	}
out:
	if (ret && used == 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, used);
	free(batch);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ctefs *fs = fs_of(req);
	cte_fs_stats s;
	struct statvfs st;
	int ret;

	(void)ino;
	ret = cte_statfs(&fs->cte, &s);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = s.capacity / 4096;
	st.f_bfree = s.free_bytes / 4096;
	st.f_bavail = st.f_bfree;
	/* No inode table to run out of: report plenty free. */
	st.f_ffree = UINT32_MAX;
	st.f_favail = st.f_ffree;
	st.f_files = s.n_tags + s.n_blobs + st.f_ffree;
	st.f_namemax = CTE_NAME_MAX;
	fuse_reply_statfs(req, &st);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct ctefs *fs = fs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t bits;
	cte_attr a;
	int ret;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret || mask == F_OK)
		goto out;
	if (ctx->uid == 0) {
		/* root may execute only what someone may execute */
		if ((mask & X_OK) && !S_ISDIR(a.mode) && !(a.mode & 0111))
			ret = -EACCES;
		goto out;
	}
	if (ctx->uid == a.uid)
		bits = (a.mode >> 6) & 7;
	else if (caller_in_group(req, a.gid))
		bits = (a.mode >> 3) & 7;
	else
		bits = a.mode & 7;
	if ((mask & R_OK && !(bits & 4)) || (mask & W_OK && !(bits & 2)) ||
	    (mask & X_OK && !(bits & 1)))
		ret = -EACCES;
out:
	fuse_reply_err(req, -ret);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                         off_t length, struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	int ret;

	(void)fi;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE |
	             FALLOC_FL_ZERO_RANGE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* the kernel writes back and drops its cached pages of the range
	 * around PUNCH_HOLE and ZERO_RANGE itself */
	if (mode & FALLOC_FL_PUNCH_HOLE) {
		/* Linux requires KEEP_SIZE with PUNCH_HOLE, and not both */
		if (!(mode & FALLOC_FL_KEEP_SIZE) ||
		    (mode & FALLOC_FL_ZERO_RANGE))
			ret = -EINVAL;
		else
			ret = cte_blob_punch(&fs->cte, ino, (uint64_t)offset,
			                     (uint64_t)length);
	} else {
		/* ZERO_RANGE: drop what is there, then allocate zeros (a
		 * hole reads as zeros already, so ENOSPC in the second
		 * step still leaves the range zeroed) */
		ret = 0;
		if (mode & FALLOC_FL_ZERO_RANGE)
			ret = cte_blob_punch(&fs->cte, ino, (uint64_t)offset,
			                     (uint64_t)length);
		if (!ret)
			ret = cte_blob_fallocate(&fs->cte, ino,
			                         (uint64_t)offset,
			                         (uint64_t)length,
			                         mode & FALLOC_FL_KEEP_SIZE);
	}
	fuse_reply_err(req, -ret);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out,
                               off_t off_out, struct fuse_file_info *fi_out,
                               size_t len, int flags)
{
	struct ctefs *fs = fs_of(req);
	uint64_t done = 0, n;
	char *buf;
	int ret = 0;

	(void)fi_in;
	(void)fi_out;
	(void)flags;
	if (len > COPY_RANGE_MAX)
		len = COPY_RANGE_MAX;
	buf = thread_buf(READ_CHUNK);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (done < len) {
		uint64_t chunk =
		    len - done < READ_CHUNK ? len - done : READ_CHUNK;
		ret = cte_blob_read(&fs->cte, ino_in, (uint64_t)off_in + done,
		                    buf, chunk, &n);
		if (ret || n == 0)
			break;
		/* with write-back the kernel keeps the destination's times */
		ret = cte_blob_write_ex(&fs->cte, ino_out,
		                        (uint64_t)off_out + done, buf, n,
		                        fs->opts.writeback ? CTE_WRITE_KEEP_TIMES
		                                           : 0);
		if (ret)
			break;
		done += n;
		if (n < chunk)
			break;
	}
	ctefs__inode_stamp_clear(&fs->itab, ino_out);
	if (ret && done == 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, done);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                     struct fuse_file_info *fi)
{
	struct ctefs *fs = fs_of(req);
	cte_attr a;
	int ret;

	(void)fi;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* The whole file counts as data; the only hole is at the end. */
	if (off < 0 || (uint64_t)off >= a.size)
		fuse_reply_err(req, ENXIO);
	else
		fuse_reply_lseek(req,
		                 whence == SEEK_DATA ? off : (off_t)a.size);
}

const struct fuse_lowlevel_ops ctefs__ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .setxattr = ctefs__setxattr,
    .getxattr = ctefs__getxattr,
    .listxattr = ctefs__listxattr,
    .removexattr = ctefs__removexattr,
    .access = op_access,
    .create = op_create,
    .fallocate = op_fallocate,
    .copy_file_range = op_copy_file_range,
    .lseek = op_lseek,
};
