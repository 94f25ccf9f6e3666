/*
 * cte-fuse: attributes and permissions: GETATTR, SETATTR and ACCESS, and
 * the killing of privileges (set-user-ID, set-group-ID, capabilities) that
 * write, truncate and chown do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctefs_i.h"

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
 *             (see ctefs__setattr).
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

/* Clear set-user-ID/set-group-ID of regular file id as the caller of req
 * would, asking CTE for the mode. */
static int kill_suidgid(fuse_req_t req, struct ctefs *fs, cte_id id)
{
	cte_attr a, want;
	int ret;

	ret = cte_ns_getattr(&fs->cte, id, &a);
	if (ret)
		return ret;
	ctefs__itable_note_attr(&fs->itab, &a);
	if (!S_ISREG(a.mode) || killed_mode(req, a.mode, a.gid) == a.mode)
		return 0;
	memset(&want, 0, sizeof(want));
	want.mode = killed_mode(req, a.mode, a.gid);
	ret = cte_ns_setattr(&fs->cte, id, &want, CTE_SET_MODE, &a);
	if (ret == 0)
		ctefs__itable_note_attr(&fs->itab, &a);
	return ret;
}

/*
 * Remove security.capability from id unless it is known to have none.
 * flags: the inode's xflags if read since the last CTE call, else 0 (then
 * ctefs__xattr_flags reads or learns them).
 */
static int drop_caps(struct ctefs *fs, cte_id id, uint32_t flags)
{
	struct ctefs_inode *e;
	int ret;

	if (!(flags & CTEFS_X_KNOWN))
		flags = ctefs__xattr_flags(fs, id);
	if ((flags & CTEFS_X_KNOWN) && !(flags & CTEFS_X_HAS_CAP))
		return 0;
	ret = cte_xattr_remove(&fs->cte, id, CTEFS_XATTR_CAPS);
	if (ret == -ENODATA)
		ret = 0;
	if (ret == 0) {
		e = ctefs__inode_lock(&fs->itab, id);
		if (e)
			e->xflags &= ~CTEFS_X_HAS_CAP;
		ctefs__inode_unlock(&fs->itab, e);
	}
	return ret;
}

int ctefs__kill_privs(fuse_req_t req, struct ctefs *fs, cte_id id,
                      bool suidgid)
{
	/* what is cached of both, in one section */
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);
	uint32_t mode = e ? e->mode : 0, flags = e ? e->xflags : 0;
	int ret;

	ctefs__inode_unlock(&fs->itab, e);
	if (suidgid && (mode == 0 ||
	                (S_ISREG(mode) && (mode & (S_ISUID | S_ISGID))))) {
		ret = kill_suidgid(req, fs, id);
		if (ret)
			return ret;
		flags = 0; /* CTE was asked since: read them again */
	}
	return drop_caps(fs, id, flags);
}

/* A request's kill flag as noted by rawio.c, or `fallback`. */
bool ctefs__kill_flag(uint32_t opcode, fuse_ino_t ino, bool fallback)
{
	int flag = ctefs__raw_kill_flag(opcode, ino);

	return flag < 0 ? fallback : flag > 0;
}

void ctefs__getattr(fuse_req_t req, fuse_ino_t ino,
                    struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	cte_attr a;
	int ret;

	(void)fi;
	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ctefs__itable_note_attr(&fs->itab, &a);
	ctefs__reply_attr(req, fs, &a);
}

/* A time that SETATTR sets: now (flag_now) or the one given (flag); false
 * when it sets neither. */
static bool time_to_set(int to_set, int flag_now, int flag,
                        const struct timespec *given, struct timespec *out)
{
	if (to_set & flag_now)
		ctefs__now(out);
	else if (to_set & flag)
		*out = *given;
	else
		return false;
	return true;
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

void ctefs__setattr(fuse_req_t req, fuse_ino_t ino, struct stat *in,
                    int to_set, struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
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
	             ctefs__kill_flag(CTEFS_OP_SETATTR, ino,
	                              to_set & FUSE_SET_ATTR_KILL_SUID)) ||
	            to_set == FUSE_SET_ATTR_CTIME ||
	            (to_set == 0 &&
	             (!fs->opts.writeback || fuse_req_ctx(req)->uid != 0));
	struct ctefs_inode *e;
	cte_attr want, cur, out;
	uint32_t mask = 0;
	int ret = 0;

	(void)fi;
	memset(&want, 0, sizeof(want));
	memset(&cur, 0, sizeof(cur));
	if (kill && !(to_set & FUSE_SET_ATTR_MODE)) {
		e = ctefs__inode_lock(&fs->itab, ino);
		if (e && e->mode && !(e->mode & (S_ISUID | S_ISGID)))
			kill = false; /* nothing to clear: no lookup needed */
		ctefs__inode_unlock(&fs->itab, e);
	}
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
			ctefs__now(&want.mtime);
			mask |= CTE_SET_MTIME;
		}
	}
	if (time_to_set(to_set, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_ATIME,
	                &in->st_atim, &want.atime))
		mask |= CTE_SET_ATIME;
	if (time_to_set(to_set, FUSE_SET_ATTR_MTIME_NOW, FUSE_SET_ATTR_MTIME,
	                &in->st_mtim, &want.mtime))
		mask |= CTE_SET_MTIME;
	if (to_set & FUSE_SET_ATTR_CTIME) {
		want.ctime = in->st_ctim;
		mask |= CTE_SET_CTIME;
	}
	/* chown and truncate remove file capabilities */
	if (to_set &
	    (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE)) {
		ret = drop_caps(fs, ino, 0);
		if (ret)
			goto out;
	}
	if (mask == 0)
		ret = cte_ns_getattr(&fs->cte, ino, &out);
	else
		ret = cte_ns_setattr(&fs->cte, ino, &want, mask, &out);
	if (ret)
		goto out;
	e = ctefs__inode_lock(&fs->itab, ino);
	if (e) {
		/* The kernel made this change through its own cache. */
		if (S_ISREG(out.mode))
			ctefs__inode_stamp_set(e, &out.mtime, out.size);
		if (mask & CTE_SET_SIZE)
			ctefs__wb_reset(e, out.size);
		ctefs__inode_note_attr(e, &out);
	}
	ctefs__inode_unlock(&fs->itab, e);
out:
	if (ret)
		fuse_reply_err(req, -ret);
	else
		ctefs__reply_attr(req, fs, &out);
}

void ctefs__access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct ctefs *fs = ctefs__fs_of(req);
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
