/*
 * The segment engine of file I/O (bdev_seg.c), shared by the worker rings
 * (bdev_io.c) and the inline ring pool (bdev_inline.c).  It owns no ring,
 * thread or lock: a request and the bounce buffers it uses belong to the
 * one thread that drives the ring they run on.
 *
 * A driver loop, for either path:
 *
 *	bdev__req_init(&q, dev, bounce, op, buf, off, len, segs, nsegs);
 *	until bdev__req_done(&q):
 *		while a slot is free and bdev__req_next(&q, &s) gives s:
 *			bdev__seg_prep(io_uring_get_sqe(ring), s);
 *		submit; for each CQE: bdev__seg_complete(data, res);
 *	return q.err;
 */
#ifndef CHI_BDEV_SEG_I_H
#define CHI_BDEV_SEG_I_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "bdev_i.h"

#define BDEV_CHUNK      (256u << 10) /* largest segment of a request */
#define BDEV_BOUNCE_MAX 8            /* bounce buffers a ring may have */

enum bdev__op { BDEV_OP_READ, BDEV_OP_WRITE, BDEV_OP_FSYNC };

/* A ring's aligned bounce buffers (BDEV_CHUNK bytes each, made on first
 * need), for O_DIRECT segments whose caller's buffer is unaligned. */
struct bdev__bounce {
	char *buf[BDEV_BOUNCE_MAX];
	uint32_t max;   /* buffers this ring may make, <= BDEV_BOUNCE_MAX */
	uint32_t align; /* alignment of the buffers made */
	uint32_t busy;  /* bit i: buf[i] belongs to a segment */
};

struct bdev__req;

/* A piece of a request: one SQE at a time. */
struct bdev__seg {
	struct bdev__req *req;
	struct bdev__seg *next; /* free list / retry list of req */
	bool direct;            /* on the O_DIRECT descriptor */
	int bounce;             /* index of its bounce buffer, or -1 */
	char *buf;              /* what the kernel reads or writes */
	char *user;             /* caller's bytes when buf is a bounce buffer */
	uint64_t off;           /* device offset of buf[0] */
	uint64_t len;
	uint64_t done; /* bytes transferred so far */
};

/* One request: its plan and its segments' state. */
struct bdev__req {
	struct bdev__dev *dev;
	struct bdev__bounce *bounce; /* of the ring it runs on */
	enum bdev__op op;
	bool fsync_pending; /* BDEV_OP_FSYNC: its one SQE not made yet */
	char *buf;          /* caller's buffer */
	uint64_t start;     /* device offset of buf[0] */
	uint64_t next;      /* next device offset to plan */
	uint64_t end;
	struct bdev__seg *free_segs;
	struct bdev__seg *retry; /* to submit again */
	uint32_t inflight;       /* segments prepared, CQE not handled */
	int err;                 /* first error */
};

void bdev__bounce_init(struct bdev__bounce *b, uint32_t max, uint32_t align);
/* Make later buffers at least align-aligned (none may be busy). */
void bdev__bounce_align(struct bdev__bounce *b, uint32_t align);
void bdev__bounce_destroy(struct bdev__bounce *b);

/* A request of op on len bytes at device offset off (buf: the caller's;
 * none for BDEV_OP_FSYNC), using the nsegs segments of segs. */
void bdev__req_init(struct bdev__req *q, struct bdev__dev *dev,
                    struct bdev__bounce *b, enum bdev__op op, void *buf,
                    uint64_t off, uint64_t len, struct bdev__seg *segs,
                    uint32_t nsegs);

/*
 * The next segment to submit into *s: one to submit again first, else the
 * next cut of the plan.  0 with *s NULL when there is nothing to submit now
 * (all planned, no free segment, or the request failed); -EAGAIN when the
 * next cut needs a bounce buffer and all are busy.  A bounce buffer that
 * cannot be made fails the request with -ENOMEM.
 */
int bdev__req_next(struct bdev__req *q, struct bdev__seg **s);

/* Whether bdev__req_next would give a segment if bounce buffers were free. */
bool bdev__req_ready(const struct bdev__req *q);

/* Whether the request is over: nothing in flight, nothing left to submit. */
bool bdev__req_done(const struct bdev__req *q);

/* Fill sqe with the rest of s's transfer and count s in flight. */
void bdev__seg_prep(struct io_uring_sqe *sqe, struct bdev__seg *s);

/*
 * One completion (res: the CQE's) of segment s.  -EAGAIN and -EINTR queue
 * it to be submitted again; so does a short transfer, for its remainder
 * through the buffered descriptor (the remainder may be unaligned).  An
 * error (0 bytes: the file is shorter than the device, -EIO) is the
 * request's if it is the first; after one, nothing is submitted again.
 */
void bdev__seg_complete(struct bdev__seg *s, int res);

/* Plain pread/pwrite on the buffered descriptor (no io_uring at all). */
int bdev__io_plain(struct bdev__dev *dev, bool write, uint64_t offset,
                   char *buf, uint64_t len);

#endif
