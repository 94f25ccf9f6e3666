/*
 * cte-fuse: the low-level operation table, the operations on the connection
 * (INIT, FORGET, STATFS) and the reply helpers every operation file uses.
 *
 * How an operation runs: libfuse calls it on one of its worker threads
 * (fuse_session_loop_mt); it makes a few synchronous CTE calls (each a task
 * submitted to the embedded runtime, then waited for) and sends one reply.
 * Node ids are CTE ids (root = CTE_ROOT_ID = FUSE_ROOT_ID), so no path is
 * ever built and no operation scans the namespace.  State kept in the
 * daemon is only a cache (struct ctefs_inode, inode.c); CTE is the source
 * of truth.
 *
 * Caching: entry and attribute replies carry the configured timeouts; the
 * kernel invalidates its own caches for changes made through this mount, and
 * every change reaches CTE only through this mount (the runtime is embedded).
 * Page cache contents are kept across opens (keep_cache) when the file's
 * mtime and size match the stamp taken at the last open, setattr or release
 * after a write (file.c).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "ctefs_i.h"

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

void ctefs__fill_entry(struct ctefs *fs, const cte_attr *a,
                       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->id;
	e->generation = 0; /* ids are never reused */
	attr_to_stat(a, &e->attr);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
}

void ctefs__reply_attr(fuse_req_t req, struct ctefs *fs, const cte_attr *a)
{
	struct stat st;

	attr_to_stat(a, &st);
	fuse_reply_attr(req, &st, fs->opts.attr_timeout);
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
	/* Listings carry attributes (see readdir.c, listed_bare, for the
	 * entries that do not); -o no_readdirplus turns that off. */
	if ((conn->capable & FUSE_CAP_READDIRPLUS) && fs->opts.readdirplus)
		conn->want |= FUSE_CAP_READDIRPLUS;
	else
		conn->want &= ~FUSE_CAP_READDIRPLUS;
	/*
	 * Not FUSE_HANDLE_KILLPRIV (v1): rawio.c negotiates v2 instead, and
	 * the handlers keep its contract (attr.c, ctefs__kill_privs).
	 * Without v2 the kernel clears suid/sgid with a SETATTR before
	 * writes itself.
	 */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->max_write = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	__atomic_store_n(&fs->init_done, 1, __ATOMIC_RELEASE);
}

void ctefs__forget(struct ctefs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	bool orphan = false;

	if (ino == FUSE_ROOT_ID)
		return;
	if (ctefs__inode_unref(&fs->itab, ino, nlookup, &orphan) && orphan)
		cte_ns_forget(&fs->cte, ino);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ctefs__forget(ctefs__fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
                            struct fuse_forget_data *forgets)
{
	struct ctefs *fs = ctefs__fs_of(req);
	size_t i;

	for (i = 0; i < count; i++)
		ctefs__forget(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ctefs *fs = ctefs__fs_of(req);
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

const struct fuse_lowlevel_ops ctefs__ops = {
    .init = op_init,
    .lookup = ctefs__lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = ctefs__getattr,
    .setattr = ctefs__setattr,
    .readlink = ctefs__readlink,
    .mknod = ctefs__mknod,
    .mkdir = ctefs__mkdir,
    .unlink = ctefs__unlink,
    .rmdir = ctefs__rmdir,
    .symlink = ctefs__symlink,
    .rename = ctefs__rename,
    .link = ctefs__link,
    .open = ctefs__open,
    .read = ctefs__read,
    .write = ctefs__write,
    .release = ctefs__release,
    .fsync = ctefs__fsync,
    .opendir = ctefs__opendir,
    .readdir = ctefs__readdir,
    .readdirplus = ctefs__readdirplus,
    .releasedir = ctefs__releasedir,
    .fsyncdir = ctefs__fsyncdir,
    .statfs = op_statfs,
    .setxattr = ctefs__setxattr,
    .getxattr = ctefs__getxattr,
    .listxattr = ctefs__listxattr,
    .removexattr = ctefs__removexattr,
    .access = ctefs__access,
    .create = ctefs__create,
    .fallocate = ctefs__fallocate,
    .copy_file_range = ctefs__copy_file_range,
    .lseek = ctefs__lseek,
};
