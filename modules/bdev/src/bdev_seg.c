/*
 * bdev file requests cut into segments, for any io_uring ring (the worker
 * rings of bdev_io.c, the inline ring pool of bdev_inline.c).
 *
 * A request is cut into segments: with O_DIRECT, the unaligned head and
 * tail go through the buffered descriptor and the aligned middle, in
 * chunks of at most BDEV_CHUNK bytes, through the O_DIRECT one (straight
 * from the caller's buffer when it is aligned, else through an aligned
 * bounce buffer of the ring).  Without O_DIRECT everything is buffered
 * chunks.  Linux keeps direct and buffered I/O on one file coherent for
 * disjoint ranges (direct I/O writes back and invalidates cached pages of
 * its range).
 *
 * A segment is one SQE at a time.  -EAGAIN and -EINTR submit it again; a
 * short transfer submits its remainder through the buffered descriptor
 * (from the same bounce buffer, if it has one); the first error is the
 * request's, and after it nothing more is submitted.  A bounce buffer goes
 * back to its ring when its segment is over, after a read copied it out.
 *
 * Nothing here locks: the thread driving a ring owns the requests on it
 * and the ring's bounce buffers (bdev_seg_i.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev_seg_i.h"

/* ---- bounce buffers ---- */

void bdev__bounce_init(struct bdev__bounce *b, uint32_t max, uint32_t align)
{
	memset(b, 0, sizeof(*b));
	b->max = max < BDEV_BOUNCE_MAX ? max : BDEV_BOUNCE_MAX;
	b->align = align;
}

void bdev__bounce_align(struct bdev__bounce *b, uint32_t align)
{
	if (align <= b->align)
		return;
	for (uint32_t i = 0; i < b->max; i++) {
		free(b->buf[i]);
		b->buf[i] = NULL;
	}
	b->align = align;
}

void bdev__bounce_destroy(struct bdev__bounce *b)
{
	for (uint32_t i = 0; i < b->max; i++)
		free(b->buf[i]);
	memset(b, 0, sizeof(*b));
}

/* A free buffer's index; -EAGAIN when all are busy, -ENOMEM when one
 * cannot be made. */
static int bounce_get(struct bdev__bounce *b)
{
	for (uint32_t i = 0; i < b->max; i++) {
		void *p = NULL;

		if (b->busy & (1u << i))
			continue;
		if (!b->buf[i]) {
			if (posix_memalign(&p, b->align, BDEV_CHUNK))
				return -ENOMEM;
			b->buf[i] = p;
		}
		b->busy |= 1u << i;
		return (int)i;
	}
	return -EAGAIN;
}

/* ---- planning ---- */

/*
 * The length of the segment at device offset off with lim bytes of the
 * request left; *direct: whether it goes through the O_DIRECT descriptor.
 * With O_DIRECT, the unaligned head (up to the next alignment boundary) and
 * the unaligned tail are buffered, the aligned middle is direct; every
 * segment is at most BDEV_CHUNK bytes.
 */
static uint64_t cut(const struct bdev__dev *dev, uint64_t off, uint64_t lim,
                    bool *direct)
{
	uint64_t align = dev->params.alignment, len;

	*direct = false;
	if (dev->direct && off % align) {
		/* unaligned head */
		len = align - off % align;
		return len < lim ? len : lim;
	}
	if (dev->direct && lim >= align) {
		len = lim / align * align;
		*direct = true;
		return len < BDEV_CHUNK ? len : BDEV_CHUNK;
	}
	/* buffered chunk, or the unaligned tail */
	return lim < BDEV_CHUNK ? lim : BDEV_CHUNK;
}

/* Cut the next segment of q's plan into s; 0, or bounce_get's error
 * (nothing consumed). */
static int plan(struct bdev__req *q, struct bdev__seg *s)
{
	const struct bdev__dev *dev = q->dev;
	char *user = q->buf + (q->next - q->start);
	int b;

	s->off = q->next;
	s->done = 0;
	s->bounce = -1;
	s->user = NULL;
	s->buf = user;
	s->len = cut(dev, q->next, q->end - q->next, &s->direct);
	if (s->direct && (uintptr_t)user % dev->params.alignment) {
		b = bounce_get(q->bounce);
		if (b < 0)
			return b;
		s->bounce = b;
		s->buf = q->bounce->buf[b];
		s->user = user;
		if (q->op == BDEV_OP_WRITE)
			memcpy(s->buf, user, s->len);
	}
	q->next += s->len;
	return 0;
}

/* ---- requests ---- */

void bdev__req_init(struct bdev__req *q, struct bdev__dev *dev,
                    struct bdev__bounce *b, enum bdev__op op, void *buf,
                    uint64_t off, uint64_t len, struct bdev__seg *segs,
                    uint32_t nsegs)
{
	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->bounce = b;
	q->op = op;
	q->fsync_pending = op == BDEV_OP_FSYNC;
	q->buf = buf;
	q->start = q->next = off;
	q->end = off + len;
	for (uint32_t i = 0; i < nsegs; i++) {
		segs[i].req = q;
		segs[i].next = q->free_segs;
		q->free_segs = &segs[i];
	}
}

bool bdev__req_ready(const struct bdev__req *q)
{
	return q->retry || (!q->err && q->free_segs &&
	                    (q->next < q->end || q->fsync_pending));
}

bool bdev__req_done(const struct bdev__req *q)
{
	return !q->inflight && !q->retry &&
	       (q->err || (q->next >= q->end && !q->fsync_pending));
}

int bdev__req_next(struct bdev__req *q, struct bdev__seg **out)
{
	struct bdev__seg *s = q->retry;
	int rc;

	*out = NULL;
	if (s) {
		q->retry = s->next;
		*out = s;
		return 0;
	}
	if (!bdev__req_ready(q))
		return 0;
	s = q->free_segs;
	if (q->fsync_pending) {
		s->off = s->len = s->done = 0;
		s->direct = false;
		s->bounce = -1;
		s->buf = s->user = NULL;
		q->fsync_pending = false;
	} else {
		rc = plan(q, s);
		if (rc == -EAGAIN)
			return rc;
		if (rc) {
			q->err = rc; /* no bounce buffer can be made */
			return 0;
		}
	}
	q->free_segs = s->next;
	*out = s;
	return 0;
}

void bdev__seg_prep(struct io_uring_sqe *sqe, struct bdev__seg *s)
{
	struct bdev__req *q = s->req;
	int fd = s->direct ? q->dev->fd_direct : q->dev->fd_buffered;
	unsigned n = (unsigned)(s->len - s->done);

	if (q->op == BDEV_OP_FSYNC)
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	else if (q->op == BDEV_OP_WRITE)
		io_uring_prep_write(sqe, fd, s->buf + s->done, n,
		                    s->off + s->done);
	else
		io_uring_prep_read(sqe, fd, s->buf + s->done, n,
		                   s->off + s->done);
	io_uring_sqe_set_data(sqe, s);
	q->inflight++;
}

/* s is over (ok: all of it transferred): its bounce buffer goes back. */
static void seg_end(struct bdev__req *q, struct bdev__seg *s, bool ok)
{
	if (s->bounce >= 0) {
		if (ok && q->op == BDEV_OP_READ)
			memcpy(s->user, s->buf, s->len);
		q->bounce->busy &= ~(1u << s->bounce);
		s->bounce = -1;
	}
	s->next = q->free_segs;
	q->free_segs = s;
}

void bdev__seg_complete(struct bdev__seg *s, int res)
{
	struct bdev__req *q = s->req;
	bool again = false;
	int err = 0;

	q->inflight--;
	if (res == -EAGAIN || res == -EINTR) {
		again = true;
	} else if (res < 0) {
		err = res;
	} else if (q->op == BDEV_OP_FSYNC) {
		/* done */
	} else if (res == 0) {
		/* the file ends before the device does: someone truncated
		 * it under us */
		err = -EIO;
	} else {
		s->done += (uint64_t)res;
		if (s->done < s->len) {
			/* short: the remainder may be unaligned */
			s->direct = false;
			again = true;
		}
	}
	if (err && !q->err)
		q->err = err;
	if (again && !q->err) {
		s->next = q->retry;
		q->retry = s;
		return;
	}
	seg_end(q, s, !err && !again);
}

/* ---- without io_uring ---- */

int bdev__io_plain(struct bdev__dev *dev, bool write, uint64_t off, char *buf,
                   uint64_t len)
{
	while (len) {
		ssize_t n = write
		                ? pwrite(dev->fd_buffered, buf, len, (off_t)off)
		                : pread(dev->fd_buffered, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		off += (uint64_t)n;
		buf += n;
		len -= (uint64_t)n;
	}
	return 0;
}
