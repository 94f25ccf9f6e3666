/*
 * cte-fuse: directory handles and listings: OPENDIR, READDIR, READDIRPLUS,
 * RELEASEDIR and FSYNCDIR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctefs_i.h"

#define READDIR_BATCH  64
#define DOT_COOKIES    3 /* kernel offsets 1, 2 are "." and ".." */

void ctefs__opendir(fuse_req_t req, fuse_ino_t ino,
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
 * may have seen it with several (struct ctefs_inode.multilinked), and whenever
 * it has several now.  Lookup and getattr replies keep a narrower form of
 * the same window (a lookup of the other name exactly then); the kernel
 * gives a daemon no way to close it.
 */
static bool listed_bare(struct ctefs *fs, const cte_attr *a)
{
	struct ctefs_inode *e;
	bool multilinked;

	if (S_ISDIR(a->mode))
		return false;
	if (a->nlink > 1)
		return true;
	e = ctefs__inode_lock(&fs->itab, a->id);
	multilinked = e && e->multilinked;
	ctefs__inode_unlock(&fs->itab, e);
	return multilinked;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       bool plus)
{
	struct ctefs *fs = ctefs__fs_of(req);
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

		if (ctefs__lookup_parent(fs, ino, &up))
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

			ctefs__fill_entry(fs, &d->attr, &e);
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
				struct ctefs_inode *ie =
				    ctefs__inode_ref_lock(&fs->itab, d->id, 1);

				if (ie)
					ctefs__inode_note_attr(ie, &d->attr);
				ctefs__inode_unlock(&fs->itab, ie);
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

void ctefs__readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

void ctefs__readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                        off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

void ctefs__releasedir(fuse_req_t req, fuse_ino_t ino,
                       struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

void ctefs__fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                     struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, -cte_sync_all(&ctefs__fs_of(req)->cte));
}
