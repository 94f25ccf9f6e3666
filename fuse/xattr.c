/*
 * cte-fuse: extended attributes.
 *
 * Stored names (user.*, trusted.*, security.*, ...) live in CTE with the
 * tag or blob (cte_xattr_*).  Two user.cte.* names are the tiering
 * interface and are answered by the daemon:
 *
 *   user.cte.score      files: the blob's score; setting it runs
 *                       ReorganizeBlob (blocks move before the call returns).
 *                       directories: the default score for new files below.
 *                       Listed by listxattr only where it was set explicitly
 *                       (the value set is also stored under the same name,
 *                       so copies made with cp -a / rsync -X keep it).
 *   user.cte.placement  read-only: "target=bytes" lines; never listed.
 *
 * The kernel asks for security.capability before every write(2) (FUSE-NOTES,
 * "the security.capability trap").  Each inode's entry remembers whether it
 * has any stored name and any security.* name (CTEFS_X_*), learned once
 * (from creation or one listxattr) and kept current by our own set/remove,
 * so absent names are answered ENODATA from memory without a task.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "ctefs_i.h"

static bool is_security(const char *name)
{
	return strncmp(name, "security.", 9) == 0;
}

/*
 * The namespaces stored; others are EOPNOTSUPP as on ext4.  system.* (POSIX
 * ACLs) is not supported: a stored ACL would not set the mode the way the
 * kernel's ACL support does (cp -a relies on acl_set_fd for the mode), and
 * EOPNOTSUPP makes tools fall back to chmod.
 */
static bool known_namespace(const char *name)
{
	return strncmp(name, "user.", 5) == 0 ||
	       strncmp(name, "trusted.", 8) == 0 || is_security(name);
}

static bool is_caps(const char *name)
{
	return strcmp(name, CTEFS_XATTR_CAPS) == 0;
}

/* What the inode table knows of id's stored names (CTEFS_X_*). */
static uint32_t xflags_of(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);
	uint32_t flags = e ? e->xflags : 0;

	ctefs__inode_unlock(&fs->itab, e);
	return flags;
}

static void set_dir_score(struct ctefs *fs, cte_id dir, double score)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, dir);

	if (e) {
		e->dir_score_known = true;
		e->dir_score = score;
	}
	ctefs__inode_unlock(&fs->itab, e);
}

/*
 * Learn (once) whether an inode has stored names; returns the flags with
 * CTEFS_X_KNOWN set, or 0 on error (then ask CTE directly).
 */
uint32_t ctefs__xattr_flags(struct ctefs *fs, cte_id id)
{
	uint32_t flags = xflags_of(fs, id);
	struct ctefs_inode *e;
	char *names = NULL;
	size_t size = 0, i;

	if (flags & CTEFS_X_KNOWN)
		return flags;
	if (cte_xattr_list(&fs->cte, id, NULL, 0, &size))
		return 0;
	flags = CTEFS_X_KNOWN;
	if (size > 0) {
		flags |= CTEFS_X_HAS_ANY;
		names = malloc(size);
		if (!names ||
		    cte_xattr_list(&fs->cte, id, names, size, &size)) {
			/* unsure: ask CTE */
			flags |= CTEFS_X_HAS_SEC | CTEFS_X_HAS_CAP;
			size = 0;
		}
		for (i = 0; i < size; i += strlen(names + i) + 1) {
			if (is_security(names + i))
				flags |= CTEFS_X_HAS_SEC;
			if (is_caps(names + i))
				flags |= CTEFS_X_HAS_CAP;
		}
		free(names);
	}
	e = ctefs__inode_lock(&fs->itab, id);
	if (e)
		e->xflags = flags;
	ctefs__inode_unlock(&fs->itab, e);
	return flags;
}

/* A buffer for a value or list of up to size bytes (NULL for size 0);
 * false, with ENOMEM answered, when there is none. */
static bool value_buf(fuse_req_t req, size_t size, char **buf)
{
	*buf = NULL;
	if (size == 0)
		return true;
	*buf = malloc(size);
	if (*buf)
		return true;
	fuse_reply_err(req, ENOMEM);
	return false;
}

/* Reply to a getxattr/listxattr that CTE answered (ret) into buf. */
static void reply_got(fuse_req_t req, int ret, const char *buf, size_t len,
                      size_t size)
{
	if (ret)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

/* Reply to a getxattr/listxattr with value (len bytes) under size rules. */
static void reply_value(fuse_req_t req, const char *value, size_t len,
                        size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

/*
 * A directory's default score: what user.cte.score last stored on it, else
 * unset (CTE then inherits from the nearest ancestor tag with a score).
 * Cached per inode; one xattr lookup per directory at most.
 */
double ctefs__dir_default_score(struct ctefs *fs, cte_id dir)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, dir);
	uint32_t flags = e ? e->xflags : 0;
	bool known = e && e->dir_score_known;
	double score = known ? e->dir_score : CTE_SCORE_UNSET;
	char text[64];
	size_t n = 0;

	ctefs__inode_unlock(&fs->itab, e);
	if (known)
		return score;
	if ((!(flags & CTEFS_X_KNOWN) || (flags & CTEFS_X_HAS_ANY)) &&
	    (cte_xattr_get(&fs->cte, dir, CTEFS_XATTR_SCORE, text,
	                   sizeof(text) - 1, &n) != 0 ||
	     ctefs__parse_score(text, n, &score) != 0))
		score = CTE_SCORE_UNSET;
	set_dir_score(fs, dir, score);
	return score;
}

static int set_score(struct ctefs *fs, fuse_ino_t ino, double score)
{
	cte_attr a;
	int ret;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret)
		return ret;
	if (S_ISREG(a.mode))
		return cte_blob_set_score(&fs->cte, ino, score);
	if (!S_ISDIR(a.mode))
		return -EPERM;
#ifdef CTE_SET_SCORE
	a.score = score;
	ret = cte_ns_setattr(&fs->cte, ino, &a, CTE_SET_SCORE, NULL);
	if (ret)
		return ret;
#endif
	/*
	 * cte.h has no call that changes an existing tag's default score, so
	 * the daemon keeps it as the stored user.cte.score and passes it as
	 * the score of every object created in the directory (new
	 * subdirectories carry it on as their own default).
	 */
	set_dir_score(fs, ino, score);
	return 0;
}

void ctefs__setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                     const char *value, size_t size, int flags)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
	uint32_t cflags = 0;
	double score;
	int ret;

	if (!known_namespace(name)) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	if (strcmp(name, CTEFS_XATTR_PLACEMENT) == 0) {
		ret = -EPERM; /* read-only */
		goto out;
	}
	if (size > CTE_XATTR_SIZE_MAX) {
		ret = -E2BIG;
		goto out;
	}
	if (flags & XATTR_CREATE)
		cflags |= CTE_XATTR_CREATE;
	if (flags & XATTR_REPLACE)
		cflags |= CTE_XATTR_REPLACE;
	if (strcmp(name, CTEFS_XATTR_SCORE) == 0) {
		ret = ctefs__parse_score(value, size, &score);
		if (ret == 0)
			ret = set_score(fs, ino, score);
		if (ret)
			goto out;
		/* Remember that it was set, so listxattr shows it.  The
		 * create/replace flags apply to the score itself not. */
		cflags = 0;
	}
	ret = cte_xattr_set(&fs->cte, ino, name, value, size, cflags);
	if (ret == 0) {
		uint32_t set = CTEFS_X_HAS_ANY;
		if (is_security(name))
			set |= CTEFS_X_HAS_SEC;
		if (is_caps(name))
			set |= CTEFS_X_HAS_CAP;
		e = ctefs__inode_lock(&fs->itab, ino);
		if (e)
			e->xflags |= set;
		ctefs__inode_unlock(&fs->itab, e);
	}
out:
	fuse_reply_err(req, -ret);
}

static void get_score(fuse_req_t req, struct ctefs *fs, fuse_ino_t ino,
                      size_t size)
{
	double score;
	char text[64];
	cte_attr a;
	int ret, len;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret == 0 && !S_ISREG(a.mode) && !S_ISDIR(a.mode))
		ret = -ENODATA;
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	score = a.score;
	if (S_ISDIR(a.mode)) {
		double dir_score = ctefs__dir_default_score(fs, ino);
		if (dir_score >= 0)
			score = dir_score;
	}
	if (score < 0) {
		fuse_reply_err(req, ENODATA); /* a directory without one */
		return;
	}
	len = snprintf(text, sizeof(text), "%.6g", score);
	reply_value(req, text, (size_t)len, size);
}

static void get_placement(fuse_req_t req, struct ctefs *fs, fuse_ino_t ino,
                          size_t size)
{
	cte_blob_info *info = NULL;
	char *text = NULL;
	size_t len = 0, cap = 0, i;
	cte_attr a;
	int ret;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret == 0 && !S_ISREG(a.mode))
		ret = -ENODATA;
	if (ret == 0)
		ret = cte_blob_info_get(&fs->cte, ino, &info);
	if (ret)
		goto out;
	for (i = 0; i < info->n_targets; i++)
		cap += strlen(info->placement[i].target) + 24;
	text = malloc(cap + 1);
	if (!text) {
		ret = -ENOMEM;
		goto out;
	}
	text[0] = '\0';
	for (i = 0; i < info->n_targets; i++) {
		const cte_placement *p = &info->placement[i];
		if (p->bytes == 0)
			continue;
		/* one "target=bytes" line per target, '\n' between lines */
		len += (size_t)snprintf(text + len, cap + 1 - len, "%s%s=%llu",
		                        len ? "\n" : "", p->target,
		                        (unsigned long long)p->bytes);
	}
out:
	if (ret)
		fuse_reply_err(req, -ret);
	else
		reply_value(req, text, len, size);
	free(text);
	cte_blob_info_free(info);
}

void ctefs__getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                     size_t size)
{
	struct ctefs *fs = ctefs__fs_of(req);
	uint32_t flags;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	if (!known_namespace(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/* The fast path first: no task for names an inode cannot have. */
	flags = xflags_of(fs, ino);
	if ((flags & CTEFS_X_KNOWN) &&
	    (!(flags & CTEFS_X_HAS_ANY) ||
	     (!(flags & CTEFS_X_HAS_SEC) && is_security(name)) ||
	     (!(flags & CTEFS_X_HAS_CAP) && is_caps(name))) &&
	    strncmp(name, "user.cte.", 9) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (strcmp(name, CTEFS_XATTR_SCORE) == 0) {
		get_score(req, fs, ino, size);
		return;
	}
	if (strcmp(name, CTEFS_XATTR_PLACEMENT) == 0) {
		get_placement(req, fs, ino, size);
		return;
	}
	flags = ctefs__xattr_flags(fs, ino);
	if ((flags & CTEFS_X_KNOWN) &&
	    (!(flags & CTEFS_X_HAS_ANY) ||
	     (!(flags & CTEFS_X_HAS_SEC) && is_security(name)))) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (!value_buf(req, size, &buf))
		return;
	ret = cte_xattr_get(&fs->cte, ino, name, buf, size, &len);
	reply_got(req, ret, buf, len, size);
	free(buf);
}

void ctefs__listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct ctefs *fs = ctefs__fs_of(req);
	uint32_t flags;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	flags = ctefs__xattr_flags(fs, ino);
	if ((flags & CTEFS_X_KNOWN) && !(flags & CTEFS_X_HAS_ANY)) {
		reply_value(req, "", 0, size);
		return;
	}
	if (!value_buf(req, size, &buf))
		return;
	ret = cte_xattr_list(&fs->cte, ino, buf, size, &len);
	reply_got(req, ret, buf, len, size);
	free(buf);
}

void ctefs__removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
	int ret;

	if (!known_namespace(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (strcmp(name, CTEFS_XATTR_PLACEMENT) == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = cte_xattr_remove(&fs->cte, ino, name);
	e = ctefs__inode_lock(&fs->itab, ino);
	if (e) {
		if (ret == 0 && strcmp(name, CTEFS_XATTR_SCORE) == 0) {
			e->dir_score_known = true;
			e->dir_score = CTE_SCORE_UNSET;
		}
		/* Re-learn on the next query: other names may remain. */
		e->xflags &= ~CTEFS_X_KNOWN;
	}
	ctefs__inode_unlock(&fs->itab, e);
	fuse_reply_err(req, -ret);
}
