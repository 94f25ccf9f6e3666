/*
 * bdev file I/O on the caller's thread (inline tasks).
 *
 * DESIGN
 * Threads: none of its own; the client threads that submit tasks.  The
 * runtime may run a bdev Read or Write on the client thread that
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
 * Waiting: the caller submits its request's segments and sleeps in
 * io_uring_submit_and_wait for at least one completion, handles all the
 * completions there are, submits what they left to do, and so on; at most
 * RING_DEPTH segments are in flight.  The pool's waiters sleep on
 * pool_cond, signalled whenever a ring goes back to the pool or one is
 * dropped, leaving room to make another (pool_lock guards all of the
 * pool's state).  The segments themselves (planning, completions, bounce
 * buffers) are bdev_seg.c's.
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
#include "bdev_seg_i.h"

#define RING_DEPTH 16 /* segments in flight per request */
#define BOUNCES    4  /* aligned bounce buffers per ring */
#define POOL_MAX   64

struct tring {
	struct io_uring ring;
	pid_t pid;                  /* process that made it */
	struct tring *next;         /* free list */
	struct bdev__bounce bounce; /* aligned for the most demanding device
	                             * so far */
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct tring *pool_free;
static unsigned pool_count;
static int pool_error; /* io_uring_queue_init failed: 0 or -errno */

static void tring_free(struct tring *r)
{
	io_uring_queue_exit(&r->ring);
	bdev__bounce_destroy(&r->bounce);
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
		bdev__bounce_init(&r->bounce, BOUNCES, BDEV_MIN_ALIGNMENT);
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

/*
 * Run one request through r, waiting on this thread.  *broken: r must not
 * be used again (its SQ holds SQEs the kernel refused).
 */
static int run(struct bdev__dev *dev, struct tring *r, bool write, uint64_t off,
               void *buf, uint64_t len, bool *broken)
{
	struct bdev__seg segs[RING_DEPTH];
	struct bdev__req q;
	struct bdev__seg *s;
	unsigned queued = 0; /* SQEs prepared, not yet taken by the kernel */

	bdev__bounce_align(&r->bounce, dev->params.alignment);
	bdev__req_init(&q, dev, &r->bounce,
	               write ? BDEV_OP_WRITE : BDEV_OP_READ, buf, off, len,
	               segs, RING_DEPTH);
	for (;;) {
		struct io_uring_cqe *cqe;
		int rc;

		/* RING_DEPTH segments at most, so an SQE is always free; with
		 * none in flight all bounce buffers are free, so -EAGAIN
		 * leaves some in flight to wait for */
		while (!bdev__req_next(&q, &s) && s) {
			bdev__seg_prep(io_uring_get_sqe(&r->ring), s);
			queued++;
		}
		if (bdev__req_done(&q))
			break;
		rc = io_uring_submit_and_wait(&r->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			/* the new SQEs were not taken: wait for the ones in
			 * the kernel (they use the caller's buffers), then
			 * drop this ring, whose SQ still holds the rest */
			CHI_ERROR("bdev", "io_uring_submit: %s", strerror(-rc));
			for (unsigned n = q.inflight - queued; n; n--) {
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
			s = io_uring_cqe_get_data(cqe);
			rc = cqe->res;
			io_uring_cqe_seen(&r->ring, cqe);
			bdev__seg_complete(s, rc);
		}
	}
	return q.err;
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
