/*
 * cte-fuse: the directory operations: LOOKUP, CREATE, MKNOD, MKDIR,
 * SYMLINK, READLINK, LINK, UNLINK, RMDIR and RENAME.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "ctefs_i.h"

static bool name_too_long(const char *name)
{
	return strnlen(name, CTE_NAME_MAX + 1) > CTE_NAME_MAX;
}

/* False, with ENAMETOOLONG answered, when name is too long for CTE. */
static bool name_fits(fuse_req_t req, const char *name)
{
	if (!name_too_long(name))
		return true;
	fuse_reply_err(req, ENAMETOOLONG);
	return false;
}

/* The forget path of an inode that may have lost its last name. */
static void note_maybe_orphan(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e;

	if (id == CTE_ID_NONE)
		return;
	e = ctefs__inode_lock(&fs->itab, id);
	if (e)
		e->orphan = true;
	ctefs__inode_unlock(&fs->itab, e);
	if (!e) /* the kernel holds no reference: forget it now */
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
	struct ctefs_inode *e;
	cte_attr dir, victim;
	uint32_t mode;
	int ret;

	if (ctx->uid == 0)
		return 0;
	e = ctefs__inode_lock(&fs->itab, parent);
	mode = e ? e->mode : 0;
	ctefs__inode_unlock(&fs->itab, e);
	if (mode && !(mode & S_ISVTX))
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

/*
 * What a node just made here is known to have (e locked): no stored
 * xattrs, a directory's default score `score`, a file's page cache stamp.
 */
static void note_new(struct ctefs_inode *e, const cte_attr *a, double score)
{
	e->xflags = CTEFS_X_KNOWN;
	if (S_ISDIR(a->mode)) {
		e->dir_score_known = true;
		e->dir_score = score;
	}
	if (S_ISREG(a->mode))
		ctefs__inode_stamp_set(e, &a->mtime, a->size);
}

/*
 * Hand the kernel an entry: count the lookup first, so a FORGET cannot
 * overtake it.  fresh: the node was just made (see note_new).
 */
static void reply_entry(fuse_req_t req, struct ctefs *fs, const cte_attr *a,
                        bool fresh, double score)
{
	struct ctefs_inode *e = ctefs__inode_ref_lock(&fs->itab, a->id, 1);
	struct fuse_entry_param ep;

	if (!e) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fresh)
		note_new(e, a, score);
	ctefs__inode_note_attr(e, a);
	ctefs__inode_unlock(&fs->itab, e);
	ctefs__fill_entry(fs, a, &ep);
	fuse_reply_entry(req, &ep);
}

/* The parent directory of directory `dir` (the root is its own). */
int ctefs__lookup_parent(struct ctefs *fs, cte_id dir, cte_attr *out)
{
	return cte_ns_lookup(&fs->cte, dir, "..", out);
}

void ctefs__lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = ctefs__fs_of(req);
	cte_attr a;
	int ret;

	if (!name_fits(req, name))
		return;
	if (strcmp(name, ".") == 0)
		ret = cte_ns_getattr(&fs->cte, parent, &a);
	else if (strcmp(name, "..") == 0)
		ret = ctefs__lookup_parent(fs, parent, &a);
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
		ctefs__wb_wait_stale(fs, a.id);
	reply_entry(req, fs, &a, false, 0);
}

/* Create a node of any type in `parent` for the calling user; *score
 * gets the default score it was given. */
static int make_node(fuse_req_t req, struct ctefs *fs, cte_id parent,
                     const char *name, uint32_t mode, uint64_t rdev,
                     const char *link, cte_attr *out, double *score)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint32_t parent_mode = 0, parent_gid = 0;
	struct ctefs_inode *e;
	cte_attr a;
	int ret;

	if (name_too_long(name))
		return -ENAMETOOLONG;
	e = ctefs__inode_lock(&fs->itab, parent);
	if (e && e->mode) {
		parent_mode = e->mode;
		parent_gid = e->gid;
	}
	ctefs__inode_unlock(&fs->itab, e);
	if (parent_mode == 0) {
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
	ctefs__now(&a.atime);
	a.mtime = a.ctime = a.btime = a.atime;
	if (parent_mode & S_ISGID) {
		/* BSD group semantics below a set-group-ID directory */
		a.gid = parent_gid;
		if (S_ISDIR(mode))
			a.mode |= S_ISGID;
	}
	*score = a.score;
	return cte_ns_create(&fs->cte, parent, name, &a, link, out);
}

void ctefs__create(fuse_req_t req, fuse_ino_t parent, const char *name,
                   mode_t mode, struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct fuse_entry_param ep;
	struct ctefs_inode *e;
	bool fresh = true;
	double score;
	cte_attr a;
	int ret;

	ret = make_node(req, fs, parent, name, S_IFREG | (mode & 07777), 0,
	                NULL, &a, &score);
	if (ret == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Lost a race with another creator: open the existing file. */
		fresh = false;
		ret = cte_ns_lookup(&fs->cte, parent, name, &a);
		if (ret == 0 && S_ISDIR(a.mode))
			ret = -EISDIR;
		if (ret == 0 && (fi->flags & O_TRUNC))
			ret = ctefs__open_truncate(req, fs, CTEFS_OP_CREATE,
			                           parent, a.id, &a);
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	/* the entry, what a new file is known to have, the handle: one
	 * section, before the reply (see reply_entry) */
	e = ctefs__inode_ref_lock(&fs->itab, a.id, 1);
	if (!e && !fresh) {
		/* (a new file is answered even so: the kernel then holds an
		 * inode the table does not) */
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (e && fresh)
		note_new(e, &a, score);
	ctefs__note_open(e, fi, &a, fresh);
	ctefs__inode_unlock(&fs->itab, e);
	ctefs__fill_entry(fs, &a, &ep);
	if (fuse_reply_create(req, &ep, fi) == -ENOENT) {
		/* interrupted: the kernel has neither entry nor handle */
		ctefs__note_close(fs, a.id);
		ctefs__forget(fs, a.id, 1);
	}
}

/* MKNOD, MKDIR, SYMLINK: make the node and hand it to the kernel. */
static void make_and_reply(fuse_req_t req, fuse_ino_t parent,
                           const char *name, uint32_t mode, uint64_t rdev,
                           const char *link)
{
	struct ctefs *fs = ctefs__fs_of(req);
	double score;
	cte_attr a;
	int ret;

	ret = make_node(req, fs, parent, name, mode, rdev, link, &a, &score);
	if (ret == -EINVAL && !S_ISREG(mode) && !S_ISDIR(mode) &&
	    !S_ISLNK(mode))
		ret = -EPERM; /* special files: only if CTE can hold them */
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, &a, true, score);
}

void ctefs__mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	make_and_reply(req, parent, name, mode, rdev, NULL);
}

void ctefs__mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode)
{
	make_and_reply(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

void ctefs__symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                    const char *name)
{
	if (strnlen(link, PATH_MAX) >= PATH_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	make_and_reply(req, parent, name, S_IFLNK | 0777, 0, link);
}

void ctefs__readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ctefs *fs = ctefs__fs_of(req);
	char buf[PATH_MAX + 1];
	int ret;

	ret = cte_ns_readlink(&fs->cte, ino, buf, sizeof(buf));
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, buf);
}

void ctefs__link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                 const char *newname)
{
	struct ctefs *fs = ctefs__fs_of(req);
	cte_attr a;
	int ret;

	if (!name_fits(req, newname))
		return;
	ret = cte_ns_link(&fs->cte, ino, newparent, newname, &a);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, fs, &a, false, 0);
}

void ctefs__unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = ctefs__fs_of(req);
	cte_attr a;
	int ret;

	if (!name_fits(req, name))
		return;
	ret = sticky_check(req, fs, parent, name);
	if (ret == 0)
		ret = cte_ns_unlink(&fs->cte, parent, name, false, &a);
	if (ret == 0 && a.nlink == 0)
		note_maybe_orphan(fs, a.id);
	fuse_reply_err(req, -ret);
}

void ctefs__rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ctefs *fs = ctefs__fs_of(req);
	int ret;

	if (!name_fits(req, name))
		return;
	ret = sticky_check(req, fs, parent, name);
	if (ret == 0)
		ret = cte_ns_unlink(&fs->cte, parent, name, true, NULL);
	fuse_reply_err(req, -ret);
}

void ctefs__rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                   fuse_ino_t newparent, const char *newname,
                   unsigned int flags)
{
	struct ctefs *fs = ctefs__fs_of(req);
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
