/*
 * bdev file I/O on the caller's thread (inline tasks).
 *
 * DESIGN
 * The runtime may run a bdev Read or Write on the client thread that
 * submitted it (chi_module_ops.inline_ok; see chimaera(7)): that thread was
 * going to sleep until the task completed anyway, so it might as well
 * sleep in io_uring_enter on its own request.  A worker round trip costs
 * three sleeping hand-offs (wake the worker, the ring's completion wakes
 * the worker, the worker wakes the client); here the device's completion
 * wakes the caller directly.  Workers keep their own rings (bdev_io.c) for
 * requests made from tasks.
 *
 * Rings: a process-wide pool of small rings, not one per thread: client
 * threads come and go (libfuse starts and stops them with the load), and a
 * ring per thread would outlive its thread or need a thread-exit hook in a
 * library that can be unloaded.  A request takes a ring from the pool (or
 * makes one, up to POOL_MAX), uses it alone, and gives it back; when all
 * POOL_MAX are busy it waits for one.  The pool is freed when the module is
 * unloaded (no request can be in flight then).  A ring inherited across
 * fork() is dropped, never used: its queues are shared with the parent.
 *
 * A request is cut as in bdev_io.c: with O_DIRECT the unaligned head and
 * tail go through the buffered descriptor, the aligned middle through the
 * O_DIRECT one in chunks, straight from the caller's buffer when it is
 * aligned, else through the ring's aligned bounce buffers.  Up to
 * RING_DEPTH segments are in flight; a short transfer resubmits its
 * remainder through the buffered descriptor; -EAGAIN and -EINTR resubmit.
 * Without io_uring (-ENOSYS, -EPERM), plain pread/pwrite.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "bdev_i.h"

#define RING_DEPTH 16          /* segments in flight per request */
#define BOUNCES    4            /* aligned bounce buffers per ring */
#define POOL_MAX   64

struct tseg {
	bool direct;
	char *buf;    /* what the kernel reads or writes */
	char *user;   /* the caller's bytes when buf is a bounce buffer */
	uint64_t off; /* device offset of buf[0] */
	uint64_t len;
	uint64_t done;
	int bounce; /* index of its bounce buffer, or -1 */
};

struct tring {
	struct io_uring ring;
	pid_t pid;              /* process that made it */
	struct tring *next;     /* free list */
	char *bounce[BOUNCES];  /* BDEV_CHUNK bytes each, made on first need */
	uint32_t bounce_align;  /* their alignment */
	uint32_t bounce_busy;   /* bit i: bounce[i] in use */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct tring *pool_free;
static unsigned pool_count;
static int pool_error; /* io_uring_queue_init failed: 0 or -errno */

static void tring_free(struct tring *r)
{
	io_uring_queue_exit(&r->ring);
	for (int i = 0; i < BOUNCES; i++)
		free(r->bounce[i]);
	free(r);
}

/* A ring for this request: from the pool, new, or after a wait.  NULL with
 * *err set when rings cannot be made at all. */
static struct tring *tring_get(int *err)
{
	struct tring *r = NULL;
	bool make = false;
	int rc;

	pthread_mutex_lock(&pool_lock);
	while (!pool_error) {
		if (pool_free && pool_free->pid != getpid()) {
			/* inherited across fork(): its SQ and CQ are mapped
			 * shared with the parent, which may still use it */
			struct tring *old = pool_free;

			pool_free = old->next;
			pool_count--;
			tring_free(old);
			continue;
		}
		if (pool_free) {
			r = pool_free;
			pool_free = r->next;
			break;
		}
		if (pool_count < POOL_MAX) {
			pool_count++;
			make = true;
			break;
		}
		pthread_cond_wait(&pool_cond, &pool_lock);
	}
	*err = pool_error;
	pthread_mutex_unlock(&pool_lock);
	if (!make)
		return r;
	r = calloc(1, sizeof(*r));
	rc = r ? io_uring_queue_init(RING_DEPTH, &r->ring, 0) : -ENOMEM;
	if (rc == 0) {
		r->pid = getpid();
		return r;
	}
	free(r);
	pthread_mutex_lock(&pool_lock);
	pool_count--;
	if (rc == -ENOSYS || rc == -EPERM)
		pool_error = rc; /* never again: fall back for good */
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
	*err = rc;
	return NULL;
}

static void tring_put(struct tring *r)
{
	pthread_mutex_lock(&pool_lock);
	r->next = pool_free;
	pool_free = r;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

__attribute__((destructor)) static void tring_pool_destroy(void)
{
	while (pool_free) {
		struct tring *r = pool_free;

		pool_free = r->next;
		tring_free(r);
	}
	pool_count = 0;
}

/* A free bounce buffer index of r, aligned to align; -1 when none. */
static int bounce_get(struct tring *r, uint32_t align)
{
	for (int i = 0; i < BOUNCES; i++) {
		if (r->bounce_busy & (1u << i))
			continue;
		if (r->bounce[i] && r->bounce_align < align) {
			free(r->bounce[i]);
			r->bounce[i] = NULL;
		}
		if (!r->bounce[i]) {
			void *p = NULL;

			if (posix_memalign(&p, align, BDEV_CHUNK))
				return -1;
			r->bounce[i] = p;
		}
		r->bounce_align = align > r->bounce_align ? align
		                                          : r->bounce_align;
		r->bounce_busy |= 1u << i;
		return i;
	}
	return -1;
}

/* Cut the next segment at *pos; false when it needs a bounce buffer and
 * none is free. */
static bool plan(struct bdev__dev *dev, struct tring *r, bool write,
                 char *buf, uint64_t start, uint64_t *pos, uint64_t end,
                 struct tseg *s)
{
	uint64_t align = dev->params.alignment, off = *pos;
	char *user = buf + (off - start);

	memset(s, 0, sizeof(*s));
	s->off = off;
	s->buf = user;
	s->bounce = -1;
	s->len = bdev__cut(dev, off, end - off, &s->direct);
	if (s->direct && (uintptr_t)user % align) {
		s->bounce = bounce_get(r, (uint32_t)align);
		if (s->bounce < 0)
			return false;
		s->buf = r->bounce[s->bounce];
		s->user = user;
		if (write)
			memcpy(s->buf, user, s->len);
	}
	*pos += s->len;
	return true;
}

static void prep(struct bdev__dev *dev, struct tring *r, bool write,
                 struct tseg *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	int fd = s->direct ? dev->fd_direct : dev->fd_buffered;
	unsigned n = (unsigned)(s->len - s->done);

	/* at most RING_DEPTH segments in flight: an SQE is always free */
	if (write)
		io_uring_prep_write(sqe, fd, s->buf + s->done, n,
		                    s->off + s->done);
	else
		io_uring_prep_read(sqe, fd, s->buf + s->done, n,
		                   s->off + s->done);
	io_uring_sqe_set_data(sqe, s);
}

/* One completion of segment s; returns 1 when s is finished, 0 when it
 * was queued again, or a negative errno. */
static int complete(struct tring *r, bool write, struct tseg *s, int res)
{
	if (res == -EAGAIN || res == -EINTR)
		return 0;
	if (res < 0)
		return res;
	if (res == 0)
		return -EIO; /* the file is shorter than the device */
	s->done += (uint64_t)res;
	if (s->done < s->len) {
		/* the remainder may be unaligned */
		if (s->bounce >= 0) {
			if (!write)
				memcpy(s->user, s->buf, s->done);
			s->buf = s->user;
			r->bounce_busy &= ~(1u << s->bounce);
			s->bounce = -1;
		}
		s->direct = false;
		return 0;
	}
	if (s->bounce >= 0) {
		if (!write)
			memcpy(s->user, s->buf, s->len);
		r->bounce_busy &= ~(1u << s->bounce);
	}
	return 1;
}

static int run(struct bdev__dev *dev, struct tring *r, bool write,
               uint64_t start, char *buf, uint64_t len, bool *broken)
{
	struct tseg segs[RING_DEPTH];
	bool busy[RING_DEPTH] = {false};
	uint64_t pos = start, end = start + len;
	unsigned inflight = 0;
	unsigned queued = 0; /* SQEs prepared, not yet taken by the kernel */
	int err = 0;

	while ((pos < end && !err) || inflight) {
		struct io_uring_cqe *cqe;
		int rc;

		for (unsigned i = 0; i < RING_DEPTH && pos < end && !err; i++) {
			if (busy[i])
				continue;
			if (!plan(dev, r, write, buf, start, &pos, end,
			          &segs[i]))
				break; /* bounce buffers all busy */
			busy[i] = true;
			prep(dev, r, write, &segs[i]);
			queued++;
			inflight++;
		}
		if (!inflight) {
			/* no bounce buffer could be made */
			err = -ENOMEM;
			break;
		}
		rc = io_uring_submit_and_wait(&r->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			/* the new SQEs were not taken: wait for the ones in
			 * the kernel (they use the caller's buffers), then
			 * drop this ring, whose SQ still holds the rest */
			CHI_ERROR("bdev", "io_uring_submit: %s", strerror(-rc));
			for (inflight -= queued; inflight; inflight--) {
				if (io_uring_wait_cqe(&r->ring, &cqe))
					break;
				io_uring_cqe_seen(&r->ring, cqe);
			}
			*broken = true;
			return rc;
		}
		if (rc > 0)
			queued -= (unsigned)rc;
		while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
			struct tseg *s = io_uring_cqe_get_data(cqe);
			int res = cqe->res, done;

			io_uring_cqe_seen(&r->ring, cqe);
			inflight--;
			done = complete(r, write, s, res);
			if (done == 0 && !err) {
				prep(dev, r, write, s); /* the rest, again */
				inflight++;
				queued++;
				continue;
			}
			if (done < 0 && !err)
				err = done;
			if (s->bounce >= 0 && done <= 0)
				r->bounce_busy &= ~(1u << s->bounce);
			busy[s - segs] = false;
		}
	}
	return err;
}

int bdev__io_inline(struct bdev__dev *dev, bool write, uint64_t offset,
                    void *buf, uint64_t len)
{
	struct tring *r;
	bool broken = false;
	int rc;

	if (!len)
		return 0;
	r = tring_get(&rc);
	if (!r) {
		if (rc != -ENOSYS && rc != -EPERM)
			return chi_error_set(rc, "bdev: %s: io_uring: %s",
			                     dev->params.path, strerror(-rc));
		return bdev__io_plain(dev, write, offset, buf, len);
	}
	rc = run(dev, r, write, offset, buf, len, &broken);
	r->bounce_busy = 0;
	if (!broken) {
		tring_put(r);
		return rc;
	}
	tring_free(r);
	pthread_mutex_lock(&pool_lock);
	pool_count--;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
	return rc;
}
