/*
 * Blob data: PutBlob, GetBlob, truncate, fallocate, ReorganizeBlob, sync,
 * destroy.
 *
 * DESIGN
 * No thread of its own: every function runs on the calling task or
 * thread.  Locks, always in this order: core->quiesce (shared, by every
 * change of an extent map, so a checkpoint sees none half done), the
 * blob's io_lock (shared for reads, exclusive otherwise; held across bdev
 * I/O: a cooperative lock, so a waiting task suspends its coroutine and
 * the unlocking one resumes it), then ns_lock, taken only for short
 * sections that publish size, block counts, times and scores (see
 * core_i.h).  Blocks that a change unmaps are freed after the section
 * that publishes the change (cte__free_extents), so the journal has the
 * record before the space can be reused.
 *
 * Writes allocate first (every hole in the range, tier by tier), then
 * write, then publish: a write that cannot get space changes nothing.
 * Device I/O is always whole 4 KiB blocks: the aligned middle of a request
 * goes straight between the caller's buffer and the device, one request
 * per extent; partial edge blocks go through a one-block bounce buffer
 * (read-modify-write).  Bytes past the end of a blob inside its last block
 * are kept zero on the device (truncate zeroes them), so a later grow or
 * a read-modify-write reads zeros there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/error.h"
#include "chimaera/log.h"
#include "blobio_i.h"
#include "core_i.h"
#include "ns_i.h"
#include "target_i.h"

#define BLK CTE_BLOCK

static char zero_chunk[CTE_CHUNK_BLOCKS * CTE_BLOCK];

static uint64_t dev_addr(const struct cte_extent *e, uint64_t lblk)
{
	return e->dev_off + ((lblk - e->lblk) << CTE_BLOCK_SHIFT);
}

static uint64_t ext_end_byte(const struct cte_extent *e)
{
	return (e->lblk + e->nblk) << CTE_BLOCK_SHIFT;
}

/* Read-modify-write part of one block: n bytes from data at in-block
 * offset `at`; a fresh block starts as zeros. */
static int rmw_block(struct cte_core *core, const struct cte_extent *e,
                     uint64_t lblk, bool fresh, uint64_t at, const void *data,
                     uint64_t n, char *bounce)
{
	chi_pool_id pool = cte__target_pool(core, e->target);
	int rc;

	if (fresh) {
		memset(bounce, 0, BLK);
	} else {
		rc = chi_bdev_read(pool, dev_addr(e, lblk), bounce, BLK);
		if (rc)
			return rc;
	}
	if (data)
		memcpy(bounce + at, data, n);
	else
		memset(bounce + at, 0, n);
	return chi_bdev_write(pool, dev_addr(e, lblk), bounce, BLK);
}

static char *bounce_new(void)
{
	void *p = NULL;

	if (posix_memalign(&p, BLK, BLK))
		return NULL;
	return p;
}

/* Take a blob for I/O: reference + io_lock; -ENOENT if gone. */
static int blob_lock(struct cte_core *core, cte_id id, bool write,
                     struct cte_blob **out)
{
	struct cte_blob *b;
	bool dead;
	int rc = cte__blob_get(core, id, &b);

	if (rc)
		return rc;
	if (write) {
		/* checkpoints (cte__state_save) see no map mid-change */
		chi_corwlock_rdlock(&core->quiesce);
		chi_corwlock_wrlock(&b->io_lock);
	} else {
		chi_corwlock_rdlock(&b->io_lock);
	}
	cte__ns_lock(core);
	dead = b->dead;
	cte__ns_unlock(core);
	if (dead) {
		chi_corwlock_unlock(&b->io_lock);
		if (write)
			chi_corwlock_unlock(&core->quiesce);
		cte__blob_put(core, b);
		return -ENOENT;
	}
	*out = b;
	return 0;
}

static void blob_unlock(struct cte_core *core, struct cte_blob *b, bool write)
{
	chi_corwlock_unlock(&b->io_lock);
	if (write)
		chi_corwlock_unlock(&core->quiesce);
	cte__blob_put(core, b);
}

/* Telemetry with the blob's first name; ns_lock held by the caller. */
static void log_op_locked(struct cte_core *core, struct cte_blob *b, cte_op op,
                          uint64_t off, uint64_t size)
{
	const struct cte_dentry *d = b->n_names ? b->names[0] : NULL;

	cte__telemetry_log(&core->telemetry, op,
	                   d ? d->parent->obj.id : CTE_ID_NONE, b->obj.id,
	                   d ? d->name : NULL, off, size);
}

/* Allocate every hole of [b0, b1) for score; appended to *fresh. */
static int alloc_holes(struct cte_core *core, struct cte_blob *b, double score,
                       uint64_t b0, uint64_t b1, struct cte_extmap *fresh)
{
	struct cte_extmap gaps;
	size_t i;
	int rc = 0;

	cte__extmap_init(&gaps);
	rc = cte__extmap_gaps(&b->map, b0, b1, &gaps);
	for (i = 0; !rc && i < gaps.n; i++)
		rc = cte__alloc(core, score, gaps.v[i].lblk, gaps.v[i].nblk,
		                false, -1.0, fresh);
	cte__extmap_destroy(&gaps);
	if (rc) {
		cte__free_extents(core, fresh);
		fresh->n = 0;
	}
	return rc;
}

/* Insert fresh extents into the map; on failure unmaps what went in. */
static int map_insert_all(struct cte_blob *b, const struct cte_extmap *fresh)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < fresh->n; i++)
		rc = cte__extmap_insert(&b->map, &fresh->v[i]);
	if (rc)
		while (i-- > 0)
			cte__extmap_punch(&b->map, fresh->v[i].lblk,
			                  fresh->v[i].lblk + fresh->v[i].nblk,
			                  NULL);
	return rc;
}

static void unmap_fresh(struct cte_core *core, struct cte_blob *b,
                        const struct cte_extmap *fresh)
{
	size_t i;

	for (i = 0; i < fresh->n; i++)
		cte__extmap_punch(&b->map, fresh->v[i].lblk,
		                  fresh->v[i].lblk + fresh->v[i].nblk, NULL);
	cte__free_extents(core, fresh);
}

/*
 * Publish size/blocks/times after a data change; ns_lock taken here.  The
 * extent map changed in blocks [lo, hi) (lo == hi: it did not).
 */
static void publish(struct cte_core *core, struct cte_blob *b,
                    uint64_t new_size, bool touch, cte_op op, uint64_t off,
                    uint64_t len, uint64_t lo, uint64_t hi)
{
	cte__ns_lock(core);
	b->size = new_size;
	b->alloc_blocks = cte__extmap_blocks(&b->map);
	if (touch) {
		cte__now(&b->obj.mtime);
		b->obj.ctime = b->obj.mtime;
	}
	if (lo < hi)
		cte__meta_data_changed(core, b->obj.id, lo, hi);
	else
		cte__meta_changed(core, CTE_META_ATTR, b->obj.id, CTE_ID_NONE);
	log_op_locked(core, b, op, off, len);
	cte__ns_unlock(core);
}

static int do_write(struct cte_core *core, struct cte_blob *b, uint64_t off,
                    const char *buf, uint64_t len, bool keep_times)
{
	uint64_t end = off + len, b0 = off >> CTE_BLOCK_SHIFT;
	uint64_t b1 = (end + BLK - 1) >> CTE_BLOCK_SHIFT, pos = off;
	bool head_fresh = (off & (BLK - 1)) && !cte__extmap_lookup(&b->map, b0);
	bool tail_fresh =
	    (end & (BLK - 1)) && !cte__extmap_lookup(&b->map, b1 - 1);
	struct cte_extmap fresh;
	char *bounce = NULL;
	double score;
	size_t i;
	int rc;

	cte__ns_lock(core);
	score = b->obj.score;
	cte__ns_unlock(core);
	cte__extmap_init(&fresh);
	rc = alloc_holes(core, b, score, b0, b1, &fresh);
	if (rc)
		goto out;
	rc = map_insert_all(b, &fresh);
	if (rc) {
		cte__free_extents(core, &fresh);
		fresh.n = 0;
		goto out;
	}
	for (i = cte__extmap_find(&b->map, b0); pos < end; i++) {
		const struct cte_extent *e = &b->map.v[i];
		chi_pool_id pool = cte__target_pool(core, e->target);
		uint64_t seg_end =
		    ext_end_byte(e) < end ? ext_end_byte(e) : end;

		if (pos & (BLK - 1)) { /* partial first block */
			uint64_t lblk = pos >> CTE_BLOCK_SHIFT;
			uint64_t blk_end = (lblk + 1) << CTE_BLOCK_SHIFT;
			uint64_t n =
			    (seg_end < blk_end ? seg_end : blk_end) - pos;

			if (!bounce && !(bounce = bounce_new())) {
				rc = -ENOMEM;
				break;
			}
			rc = rmw_block(core, e, lblk, lblk == b0 && head_fresh,
			               pos & (BLK - 1), buf + (pos - off), n,
			               bounce);
			if (rc)
				break;
			pos += n;
		}
		if ((seg_end & ~(BLK - 1)) > pos) { /* whole blocks */
			uint64_t n = (seg_end & ~(BLK - 1)) - pos;

			rc = chi_bdev_write(pool,
			                    dev_addr(e, pos >> CTE_BLOCK_SHIFT),
			                    buf + (pos - off), n);
			if (rc)
				break;
			pos += n;
		}
		if (pos < seg_end) { /* partial last block */
			uint64_t lblk = pos >> CTE_BLOCK_SHIFT;

			if (!bounce && !(bounce = bounce_new())) {
				rc = -ENOMEM;
				break;
			}
			rc = rmw_block(
			    core, e, lblk, lblk == b1 - 1 && tail_fresh, 0,
			    buf + (pos - off), seg_end - pos, bounce);
			if (rc)
				break;
			pos = seg_end;
		}
	}
	if (rc) {
		unmap_fresh(core, b, &fresh);
		goto out;
	}
	publish(core, b, end > b->size ? end : b->size, !keep_times, CTE_OP_PUT,
	        off, len, b0, fresh.n ? b1 : b0);
out:
	free(bounce);
	cte__extmap_destroy(&fresh);
	return rc;
}

int cte__blob_write(struct cte_core *core, cte_id id, uint64_t off,
                    const void *buf, uint64_t len)
{
	return cte__blob_write_ex(core, id, off, buf, len, false);
}

int cte__blob_write_ex(struct cte_core *core, cte_id id, uint64_t off,
                       const void *buf, uint64_t len, bool keep_times)
{
	struct cte_blob *b;
	int rc;

	if (off > CTE_MAX_BLOB_SIZE || len > CTE_MAX_BLOB_SIZE - off)
		return -EFBIG;
	rc = blob_lock(core, id, true, &b);
	if (rc)
		return rc;
	if (b->symlink)
		rc = -EINVAL;
	else if (len)
		rc = do_write(core, b, off, buf, len, keep_times);
	blob_unlock(core, b, true);
	return rc;
}

static bool ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

/* relatime: a read updates atime when it is not newer than mtime or
 * ctime, or a day old, so reads rarely change metadata. */
static void touch_atime_locked(struct cte_core *core, struct cte_blob *b)
{
	struct timespec now;

	cte__now(&now);
	if (ts_le(&b->obj.atime, &b->obj.mtime) ||
	    ts_le(&b->obj.atime, &b->obj.ctime) ||
	    now.tv_sec - b->obj.atime.tv_sec >= 24 * 3600) {
		b->obj.atime = now;
		cte__meta_changed(core, CTE_META_ATTR, b->obj.id, CTE_ID_NONE);
	}
}

/* Read [pos, seg_end) that lies inside extent e into dst. */
static int read_extent(struct cte_core *core, const struct cte_extent *e,
                       uint64_t pos, uint64_t seg_end, char *dst, char **bounce)
{
	chi_pool_id pool = cte__target_pool(core, e->target);
	int rc;

	if (pos & (BLK - 1)) {
		uint64_t lblk = pos >> CTE_BLOCK_SHIFT;
		uint64_t blk_end = (lblk + 1) << CTE_BLOCK_SHIFT;
		uint64_t n = (seg_end < blk_end ? seg_end : blk_end) - pos;

		if (!*bounce && !(*bounce = bounce_new()))
			return -ENOMEM;
		rc = chi_bdev_read(pool, dev_addr(e, lblk), *bounce, BLK);
		if (rc)
			return rc;
		memcpy(dst, *bounce + (pos & (BLK - 1)), n);
		dst += n;
		pos += n;
	}
	if ((seg_end & ~(BLK - 1)) > pos) {
		uint64_t n = (seg_end & ~(BLK - 1)) - pos;

		rc = chi_bdev_read(pool, dev_addr(e, pos >> CTE_BLOCK_SHIFT),
		                   dst, n);
		if (rc)
			return rc;
		dst += n;
		pos += n;
	}
	if (pos < seg_end) {
		if (!*bounce && !(*bounce = bounce_new()))
			return -ENOMEM;
		rc = chi_bdev_read(pool, dev_addr(e, pos >> CTE_BLOCK_SHIFT),
		                   *bounce, BLK);
		if (rc)
			return rc;
		memcpy(dst, *bounce, seg_end - pos);
	}
	return 0;
}

int cte__blob_read(struct cte_core *core, cte_id id, uint64_t off, void *buf,
                   uint64_t len, uint64_t *out_n)
{
	struct cte_blob *b;
	char *dst = buf, *bounce = NULL;
	uint64_t size, end, pos;
	size_t i;
	int rc;

	*out_n = 0;
	rc = blob_lock(core, id, false, &b);
	if (rc)
		return rc;
	size = b->size;
	if (b->symlink || off >= size || !len)
		goto done;
	end = len < size - off ? off + len : size;
	i = cte__extmap_find(&b->map, off >> CTE_BLOCK_SHIFT);
	for (pos = off; pos < end;) {
		const struct cte_extent *e = i < b->map.n ? &b->map.v[i] : NULL;
		uint64_t estart = e ? e->lblk << CTE_BLOCK_SHIFT : end;

		if (estart > pos) { /* hole */
			uint64_t n = (estart < end ? estart : end) - pos;

			memset(dst + (pos - off), 0, n);
			pos += n;
			continue;
		}
		{
			uint64_t seg_end =
			    ext_end_byte(e) < end ? ext_end_byte(e) : end;

			rc = read_extent(core, e, pos, seg_end,
			                 dst + (pos - off), &bounce);
			if (rc)
				goto out;
			pos = seg_end;
			i++;
		}
	}
	*out_n = end - off;
done:
	cte__ns_lock(core);
	log_op_locked(core, b, CTE_OP_GET, off, *out_n);
	touch_atime_locked(core, b);
	cte__ns_unlock(core);
out:
	free(bounce);
	blob_unlock(core, b, false);
	return rc;
}

int cte__blob_truncate(struct cte_core *core, cte_id id, uint64_t size)
{
	struct cte_extmap removed;
	struct cte_blob *b;
	char *bounce = NULL;
	int rc;

	if (size > CTE_MAX_BLOB_SIZE)
		return -EFBIG;
	rc = blob_lock(core, id, true, &b);
	if (rc)
		return rc;
	cte__extmap_init(&removed);
	if (b->symlink) {
		rc = -EINVAL;
		goto out;
	}
	if (size < b->size || b->map.n) {
		uint64_t keep = (size + BLK - 1) >> CTE_BLOCK_SHIFT;
		const struct cte_extent *last =
		    b->map.n ? &b->map.v[b->map.n - 1] : NULL;
		const struct cte_extent *e;

		if (last && last->lblk + last->nblk > keep && size < b->size) {
			rc = cte__extmap_punch(
			    &b->map, keep, last->lblk + last->nblk, &removed);
			if (rc)
				goto out;
		}
		/* zero the rest of a partial last block */
		if (size < b->size && (size & (BLK - 1)) &&
		    (e = cte__extmap_lookup(&b->map,
		                            size >> CTE_BLOCK_SHIFT))) {
			bounce = bounce_new();
			if (!bounce) {
				rc = -ENOMEM;
				goto out;
			}
			rc = rmw_block(core, e, size >> CTE_BLOCK_SHIFT, false,
			               size & (BLK - 1), NULL,
			               BLK - (size & (BLK - 1)), bounce);
			if (rc)
				goto out;
		}
	}
	/* the record unmapping them first, then the blocks (durable.c
	 * defers reuse until that record is durable) */
	publish(core, b, size, true, CTE_OP_TRUNCATE, size, 0,
	        (size + BLK - 1) >> CTE_BLOCK_SHIFT,
	        removed.n ? UINT64_MAX : 0);
	cte__free_extents(core, &removed);
out:
	free(bounce);
	cte__extmap_destroy(&removed);
	blob_unlock(core, b, true);
	return rc;
}

/* Zero bytes [from, to) of logical block lblk if it is mapped (a hole
 * already reads as zeros). */
static int zero_part(struct cte_core *core, struct cte_blob *b, uint64_t lblk,
                     uint64_t from, uint64_t to, char **bounce)
{
	const struct cte_extent *e = cte__extmap_lookup(&b->map, lblk);

	if (!e || from >= to)
		return 0;
	if (!*bounce && !(*bounce = bounce_new()))
		return -ENOMEM;
	return rmw_block(core, e, lblk, false, from, NULL, to - from, *bounce);
}

/* Check a fallocate/punch range [off, off+len), then take the blob for
 * writing. */
static int range_lock(struct cte_core *core, cte_id id, uint64_t off,
                      uint64_t len, struct cte_blob **out)
{
	if (!len)
		return -EINVAL;
	if (off > CTE_MAX_BLOB_SIZE || len > CTE_MAX_BLOB_SIZE - off)
		return -EFBIG;
	return blob_lock(core, id, true, out);
}

int cte__blob_punch(struct cte_core *core, cte_id id, uint64_t off,
                    uint64_t len)
{
	uint64_t end = off + len, b0, b1;
	struct cte_extmap removed;
	struct cte_blob *b;
	char *bounce = NULL;
	int rc;

	rc = range_lock(core, id, off, len, &b);
	if (rc)
		return rc;
	cte__extmap_init(&removed);
	if (b->symlink) {
		rc = -EINVAL;
		goto out;
	}
	/* whole blocks inside [off, end) are unmapped; the partial blocks
	 * at either edge keep their blocks and get zeros */
	b0 = (off + BLK - 1) >> CTE_BLOCK_SHIFT;
	b1 = end >> CTE_BLOCK_SHIFT;
	if (b0 > b1) { /* off and end inside one block */
		rc = zero_part(core, b, off >> CTE_BLOCK_SHIFT, off & (BLK - 1),
		               end & (BLK - 1), &bounce);
		if (rc)
			goto out;
	} else {
		if (off & (BLK - 1))
			rc = zero_part(core, b, off >> CTE_BLOCK_SHIFT,
			               off & (BLK - 1), BLK, &bounce);
		if (!rc && (end & (BLK - 1)))
			rc = zero_part(core, b, b1, 0, end & (BLK - 1),
			               &bounce);
		if (!rc && b0 < b1)
			rc = cte__extmap_punch(&b->map, b0, b1, &removed);
		if (rc)
			goto out;
	}
	/* as truncate: the record unmapping them first, then the blocks */
	publish(core, b, b->size, true, CTE_OP_PUT, off, 0,
	        off >> CTE_BLOCK_SHIFT, (end + BLK - 1) >> CTE_BLOCK_SHIFT);
	cte__free_extents(core, &removed);
out:
	free(bounce);
	cte__extmap_destroy(&removed);
	blob_unlock(core, b, true);
	return rc;
}

/* Write zeros over fresh extents (fallocated space must read as zeros even
 * where a recycled device block held other data). */
static int zero_extents(struct cte_core *core, const struct cte_extmap *ext)
{
	size_t i;

	for (i = 0; i < ext->n; i++) {
		uint64_t left = (uint64_t)ext->v[i].nblk << CTE_BLOCK_SHIFT;
		uint64_t at = ext->v[i].dev_off;
		chi_pool_id pool = cte__target_pool(core, ext->v[i].target);

		while (left) {
			uint64_t n = left < sizeof(zero_chunk)
			                 ? left
			                 : sizeof(zero_chunk);
			int rc = chi_bdev_write(pool, at, zero_chunk, n);

			if (rc)
				return rc;
			at += n;
			left -= n;
		}
	}
	return 0;
}

int cte__blob_fallocate(struct cte_core *core, cte_id id, uint64_t off,
                        uint64_t len, bool keep_size)
{
	struct cte_extmap fresh;
	struct cte_blob *b;
	double score;
	uint64_t end = off + len;
	int rc;

	rc = range_lock(core, id, off, len, &b);
	if (rc)
		return rc;
	cte__extmap_init(&fresh);
	cte__ns_lock(core);
	score = b->obj.score;
	cte__ns_unlock(core);
	rc = alloc_holes(core, b, score, off >> CTE_BLOCK_SHIFT,
	                 (end + BLK - 1) >> CTE_BLOCK_SHIFT, &fresh);
	if (rc)
		goto out;
	rc = zero_extents(core, &fresh);
	if (!rc)
		rc = map_insert_all(b, &fresh);
	if (rc) {
		cte__free_extents(core, &fresh);
		goto out;
	}
	publish(core, b, !keep_size && end > b->size ? end : b->size,
	        !keep_size && end > b->size, CTE_OP_PUT, off, 0,
	        off >> CTE_BLOCK_SHIFT, (end + BLK - 1) >> CTE_BLOCK_SHIFT);
out:
	cte__extmap_destroy(&fresh);
	blob_unlock(core, b, true);
	return rc;
}

/*
 * Move the blob's extents that `want` selects to targets chosen for
 * `score` (only non-volatile ones when to_nonvolatile).  Per extent:
 * allocate, copy, switch the map, free the old blocks.  io_lock held
 * exclusively by the caller, so readers see the old or the new placement.
 * An extent with nowhere better to go stays; *out_stuck counts them.
 */
static int move_extents(struct cte_core *core, struct cte_blob *b, double score,
                        bool to_nonvolatile, size_t *out_stuck)
{
	struct cte_extmap fresh, old, old_all;
	uint64_t pos = 0;
	char *buf = NULL;
	bool moved = false;
	size_t k;
	int rc = 0;

	*out_stuck = 0;
	cte__extmap_init(&fresh);
	cte__extmap_init(&old);
	cte__extmap_init(&old_all);
	if (posix_memalign((void **)&buf, BLK, sizeof(zero_chunk)))
		return -ENOMEM;
	for (;;) {
		size_t i = cte__extmap_find(&b->map, pos);
		struct cte_extent e;
		uint64_t at;
		double cur_score;

		if (i >= b->map.n)
			break;
		e = b->map.v[i];
		pos = e.lblk + e.nblk;
		if (to_nonvolatile) {
			if (!cte__target_volatile(core, e.target))
				continue;
			cur_score = -1.0;
		} else {
			pthread_mutex_lock(&core->target_lock);
			cur_score = core->targets[e.target].score;
			pthread_mutex_unlock(&core->target_lock);
		}
		fresh.n = 0;
		rc = cte__alloc(core, score, e.lblk, e.nblk, to_nonvolatile,
		                cur_score, &fresh);
		if (rc == -ENOSPC) {
			(*out_stuck)++;
			rc = 0;
			continue;
		}
		if (rc)
			break;
		rc = chi_bdev_read(cte__target_pool(core, e.target), e.dev_off,
		                   buf, (uint64_t)e.nblk << CTE_BLOCK_SHIFT);
		for (k = 0, at = 0; !rc && k < fresh.n; k++) {
			uint64_t n = (uint64_t)fresh.v[k].nblk
			             << CTE_BLOCK_SHIFT;

			rc = chi_bdev_write(
			    cte__target_pool(core, fresh.v[k].target),
			    fresh.v[k].dev_off, buf + at, n);
			at += n;
		}
		if (rc) {
			cte__free_extents(core, &fresh);
			break;
		}
		old.n = 0;
		rc = cte__extmap_punch(&b->map, e.lblk, e.lblk + e.nblk, &old);
		if (!rc)
			rc = map_insert_all(b, &fresh);
		if (rc) { /* out of memory: put the old extent back */
			cte__extmap_insert(&b->map, &e);
			cte__free_extents(core, &fresh);
			break;
		}
		for (k = 0; k < old.n; k++) {
			if (cte__extmap_push(&old_all, &old.v[k])) {
				/* out of memory: free this one now */
				struct cte_extmap one = {&old.v[k], 1, 1};

				cte__free_extents(core, &one);
			}
		}
		moved = true;
	}
	if (moved) {
		cte__ns_lock(core);
		cte__meta_data_changed(core, b->obj.id, 0, UINT64_MAX);
		cte__ns_unlock(core);
	}
	/* after the record that unmaps them */
	cte__free_extents(core, &old_all);
	free(buf);
	cte__extmap_destroy(&fresh);
	cte__extmap_destroy(&old);
	cte__extmap_destroy(&old_all);
	return rc;
}

int cte__blob_set_score(struct cte_core *core, cte_id id, double score)
{
	struct cte_blob *b;
	double old;
	size_t stuck;
	int rc;

	if (score == CTE_SCORE_UNSET) { /* tags only: inherit again */
		rc = cte__tag_set_score(core, id, score);
		if (rc != -ENOTDIR)
			return rc;
	}
	if (!(score >= 0.0 && score <= 1.0))
		return chi_error_set(-EINVAL, "cte: score %g is not in [0, 1]",
		                     score);
	rc = blob_lock(core, id, true, &b);
	if (rc == -EISDIR) /* a tag: its default score for new blobs */
		return cte__tag_set_score(core, id, score);
	if (rc)
		return rc;
	cte__ns_lock(core);
	old = b->obj.score;
	b->obj.score = score;
	cte__now(&b->obj.ctime);
	cte__meta_changed(core, CTE_META_ATTR, id, CTE_ID_NONE);
	log_op_locked(core, b, CTE_OP_REORGANIZE, 0, b->size);
	cte__ns_unlock(core);
	if (fabs(score - old) >= core->params.score_difference_threshold ||
	    old < 0)
		rc = move_extents(core, b, score, false, &stuck);
	blob_unlock(core, b, true);
	return rc;
}

int cte__blob_get_score(struct cte_core *core, cte_id id, double *out)
{
	struct cte_blob *b;
	int rc = cte__blob_get(core, id, &b);

	if (rc)
		return rc;
	cte__ns_lock(core);
	*out = b->obj.score;
	cte__ns_unlock(core);
	cte__blob_put(core, b);
	return 0;
}

int cte__blob_get_size(struct cte_core *core, cte_id id, uint64_t *out)
{
	struct cte_blob *b;
	int rc = cte__blob_get(core, id, &b);

	if (rc)
		return rc;
	cte__ns_lock(core);
	*out = b->size;
	cte__ns_unlock(core);
	cte__blob_put(core, b);
	return 0;
}

/* As cte_blob_info_free() (client.c): the core does not link the client. */
static void blob_info_free(cte_blob_info *info)
{
	free(info->placement);
	free(info->extents);
	free(info);
}

int cte__blob_info(struct cte_core *core, cte_id id, cte_blob_info **out)
{
	struct cte_blob *b;
	cte_blob_info *info;
	uint32_t slot_of[CTE_MAX_TARGETS];
	size_t i;
	int rc;

	rc = blob_lock(core, id, false, &b);
	if (rc)
		return rc;
	info = calloc(1, sizeof(*info));
	if (!info) {
		rc = -ENOMEM;
		goto out;
	}
	info->extents = calloc(b->map.n ? b->map.n : 1, sizeof(*info->extents));
	info->placement = calloc(CTE_MAX_TARGETS, sizeof(*info->placement));
	if (!info->extents || !info->placement) {
		blob_info_free(info);
		rc = -ENOMEM;
		goto out;
	}
	cte__ns_lock(core);
	info->id = b->obj.id;
	if (b->n_names) {
		info->tag = b->names[0]->parent->obj.id;
		memcpy(info->name, b->names[0]->name,
		       b->names[0]->name_len + 1);
	}
	info->size = b->size;
	info->score = b->obj.score;
	info->atime = b->obj.atime;
	info->mtime = b->obj.mtime;
	info->ctime = b->obj.ctime;
	info->btime = b->obj.btime;
	cte__ns_unlock(core);
	for (i = 0; i < CTE_MAX_TARGETS; i++)
		slot_of[i] = UINT32_MAX;
	pthread_mutex_lock(&core->target_lock);
	for (i = 0; i < b->map.n; i++) {
		const struct cte_extent *e = &b->map.v[i];
		uint64_t bytes = (uint64_t)e->nblk << CTE_BLOCK_SHIFT;

		if (slot_of[e->target] == UINT32_MAX) {
			slot_of[e->target] = (uint32_t)info->n_targets++;
			snprintf(info->placement[slot_of[e->target]].target,
			         sizeof(info->placement[0].target), "%s",
			         core->targets[e->target].name);
		}
		info->placement[slot_of[e->target]].bytes += bytes;
		info->extents[i] = (cte_blob_extent){
		    .blob_off = e->lblk << CTE_BLOCK_SHIFT,
		    .size = bytes,
		    .target = slot_of[e->target],
		    .dev_off = e->dev_off,
		};
	}
	pthread_mutex_unlock(&core->target_lock);
	info->n_extents = b->map.n;
	*out = info;
out:
	blob_unlock(core, b, false);
	return rc;
}

/* Copy volatile-only blocks down; record non-volatile targets used. */
static int make_durable(struct cte_core *core, struct cte_blob *b,
                        bool *used_targets)
{
	size_t stuck, i;
	bool any_nv = false;
	int rc;

	for (i = 0; i < CTE_MAX_TARGETS; i++)
		if (core->targets[i].active && !core->targets[i].is_volatile)
			any_nv = true;
	if (!any_nv)
		return 0; /* nothing can persist; the daemon says so at start */
	rc = move_extents(core, b, b->obj.score, true, &stuck);
	if (!rc && stuck)
		rc = chi_error_set(-ENOSPC,
		                   "cte: no room on a non-volatile "
		                   "target for blob %llu",
		                   (unsigned long long)b->obj.id);
	for (i = 0; i < b->map.n; i++)
		used_targets[b->map.v[i].target] = true;
	return rc;
}

static int sync_targets(struct cte_core *core, const bool *used)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < CTE_MAX_TARGETS; i++) {
		int r;

		if (!used[i] || cte__target_volatile(core, (uint32_t)i))
			continue;
		r = chi_bdev_sync(cte__target_pool(core, (uint32_t)i));
		if (r && !rc)
			rc = r;
	}
	return rc;
}

int cte__blob_sync(struct cte_core *core, cte_id id)
{
	bool used[CTE_MAX_TARGETS] = {false};
	struct cte_blob *b;
	int rc, r;

	rc = blob_lock(core, id, true, &b);
	if (rc)
		return rc;
	rc = make_durable(core, b, used);
	blob_unlock(core, b, true);
	/* the journal's flush syncs the file targets before its records */
	r = core->journal ? cte__meta_sync(core) : sync_targets(core, used);
	return rc ? rc : r;
}

int cte__sync_all(struct cte_core *core)
{
	bool used[CTE_MAX_TARGETS] = {false};
	cte_id *ids = NULL;
	size_t n = 0, k = 0, bkt;
	int rc = 0, r;

	cte__ns_lock(core);
	ids = malloc((core->n_blobs + 1) * sizeof(*ids));
	for (bkt = 0; ids && bkt < core->by_id.n_buckets; bkt++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[bkt]; h && n <= core->n_blobs;
		     h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);

			if (!o->is_tag)
				ids[n++] = o->id;
		}
	}
	cte__ns_unlock(core);
	if (!ids)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		struct cte_blob *b;

		if (blob_lock(core, ids[k], true, &b))
			continue; /* deleted meanwhile */
		r = make_durable(core, b, used);
		if (r && !rc)
			rc = r;
		blob_unlock(core, b, true);
	}
	free(ids);
	for (k = 0; k < CTE_MAX_TARGETS; k++)
		used[k] = core->targets[k].active;
	r = core->journal ? cte__meta_sync(core) : sync_targets(core, used);
	return rc ? rc : r;
}

int cte__blob_destroy(struct cte_core *core, cte_id id)
{
	struct cte_blob *b = NULL;
	struct timespec now;
	size_t i;
	int rc = cte__blob_get(core, id, &b);

	if (rc)
		return rc;
	cte__now(&now);
	cte__ns_lock(core);
	for (i = 0; i < b->n_names; i++) {
		b->names[i]->parent->obj.mtime = now;
		b->names[i]->parent->obj.ctime = now;
		cte__meta_changed(core, CTE_META_ATTR,
		                  b->names[i]->parent->obj.id, CTE_ID_NONE);
	}
	log_op_locked(core, b, CTE_OP_DEL_BLOB, 0, b->size);
	cte__blob_detach_locked(core, b);
	cte__ns_unlock(core);
	cte__blob_release_dead(core, b);
	return 0;
}
