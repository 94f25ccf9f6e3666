/*
 * cte-fuse: the file operations: OPEN, READ, WRITE, RELEASE, FSYNC,
 * FALLOCATE, COPY_FILE_RANGE and LSEEK.
 *
 * DESIGN: reads use a per-thread buffer (a pthread key; freed by the key's
 * destructor when the thread exits), so the data path neither allocates
 * nor shares a buffer between threads, and takes no lock of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "ctefs_i.h"

#define READ_CHUNK     (1u << 20)
#define COPY_RANGE_MAX (64ull << 20)

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

void ctefs__note_open(struct ctefs_inode *e, struct fuse_file_info *fi,
                      const cte_attr *a, bool fresh)
{
	if (e) {
		ctefs__inode_note_attr(e, a);
		ctefs__wb_reset(e, a->size);
	}
	if (fi->flags & O_DIRECT) {
		/* Uncached: reads and writes go straight to CTE. */
		fi->direct_io = 1;
		if (e)
			e->stamp_valid = false;
	} else if (!fresh) {
		fi->keep_cache =
		    e && ctefs__inode_stamp_check(e, &a->mtime, a->size);
	}
	if (e)
		e->opens++;
}

void ctefs__note_close(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);

	if (e)
		e->opens--;
	ctefs__inode_unlock(&fs->itab, e);
}

static int truncate_to_zero(struct ctefs *fs, cte_id id, cte_attr *a)
{
	cte_attr want;

	memset(&want, 0, sizeof(want));
	ctefs__now(&want.mtime);
	return cte_ns_setattr(&fs->cte, id, &want, CTE_SET_SIZE | CTE_SET_MTIME,
	                      a);
}

/*
 * O_TRUNC handled by open/create (the kernel sends it there only with
 * FUSE_ATOMIC_O_TRUNC, which ops.c declines in INIT; kept for completeness):
 * truncate a non-empty file, clear suid/sgid when the request says so
 * (FUSE_OPEN_KILL_SUIDGID, noted under `nodeid`) and drop capabilities.
 */
int ctefs__open_truncate(fuse_req_t req, struct ctefs *fs, uint32_t opcode,
                         fuse_ino_t nodeid, cte_id id, cte_attr *a)
{
	bool kill = ctefs__kill_flag(opcode, nodeid, false);
	int ret;

	ret = ctefs__kill_privs(req, fs, id, kill);
	if (ret == 0 && a->size > 0)
		ret = truncate_to_zero(fs, id, a);
	else if (ret == 0 && kill)
		ret = cte_ns_getattr(&fs->cte, id, a);
	return ret;
}

void ctefs__open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
	cte_attr a;
	int ret;

	ret = cte_ns_getattr(&fs->cte, ino, &a);
	if (ret == 0 && S_ISDIR(a.mode))
		ret = -EISDIR;
	if (ret == 0 && (fi->flags & O_TRUNC) &&
	    (fi->flags & O_ACCMODE) != O_RDONLY)
		ret = ctefs__open_truncate(req, fs, CTEFS_OP_OPEN, ino, ino,
		                           &a);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	e = ctefs__inode_lock(&fs->itab, ino);
	ctefs__note_open(e, fi, &a, false);
	ctefs__inode_unlock(&fs->itab, e);
	if (fuse_reply_open(req, fi) == -ENOENT)
		ctefs__note_close(fs, ino);
}

void ctefs__read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
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

void ctefs__write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                  size_t size, off_t off, struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
	bool kill;
	int ret;

	if (fi->writepage) {
		ret = ctefs__writeback(fs, ino, buf, size, (uint64_t)off);
	} else {
		/* privileges go before the data (attr.c, "Set-user-ID") */
		kill = ctefs__kill_flag(CTEFS_OP_WRITE, ino,
		                        fuse_req_ctx(req)->uid != 0);
		ret = ctefs__kill_privs(req, fs, ino, kill);
		if (ret == 0)
			ret = cte_blob_write(&fs->cte, ino, (uint64_t)off, buf,
			                     size);
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	e = ctefs__inode_lock(&fs->itab, ino);
	if (e && fi->direct_io)
		e->stamp_valid = false;
	else if (e)
		e->written = true;
	ctefs__inode_unlock(&fs->itab, e);
	fuse_reply_write(req, size);
}

/*
 * No flush handler, on purpose: data reaches CTE in write, and the kernel
 * writes back dirty pages and reports failed write-backs (ENOSPC) itself
 * before it would send FLUSH.  libfuse answers the first FLUSH with ENOSYS,
 * the kernel then never sends another, and every close(2) saves a round
 * trip.
 */

void ctefs__release(fuse_req_t req, fuse_ino_t ino,
                    struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
	bool written = false;
	cte_attr a;

	(void)fi;
	e = ctefs__inode_lock(&fs->itab, ino);
	if (e) {
		written = e->written;
		e->written = false;
	}
	ctefs__inode_unlock(&fs->itab, e);
	/* The page cache now holds what was written: stamp it. */
	if (written && cte_ns_getattr(&fs->cte, ino, &a) == 0) {
		e = ctefs__inode_lock(&fs->itab, ino);
		if (e)
			ctefs__inode_stamp_set(e, &a.mtime, a.size);
		ctefs__inode_unlock(&fs->itab, e);
	}
	fuse_reply_err(req, 0);
	/* after the reply: the kernel has dropped its reference by now */
	ctefs__note_close(fs, ino);
}

void ctefs__fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                  struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
	int ret;

	(void)datasync;
	(void)fi;
	ret = cte_blob_sync(&fs->cte, ino);
	fuse_reply_err(req, -ret);
}

void ctefs__fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                      off_t length, struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
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

void ctefs__copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                            struct fuse_file_info *fi_in, fuse_ino_t ino_out,
                            off_t off_out, struct fuse_file_info *fi_out,
                            size_t len, int flags)
{
	struct ctefs *fs = ctefs__fs_of(req);
	struct ctefs_inode *e;
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
	e = ctefs__inode_lock(&fs->itab, ino_out);
	if (e)
		e->stamp_valid = false;
	ctefs__inode_unlock(&fs->itab, e);
	if (ret && done == 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, done);
}

void ctefs__lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                  struct fuse_file_info *fi)
{
	struct ctefs *fs = ctefs__fs_of(req);
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
