/*
 * Tasks: allocation, submission (pool query routing), completion, waiting.
 *
 * DESIGN
 * Submission resolves the pool (lock-free table, pool.c), counts the task
 * in the pool's `inflight`, selects the container(s) from the pool query
 * and queues the task: on the worker a container is pinned to; else, from
 * a worker thread, on that worker's local ready queue; else on lane
 * hash(pid, tid) % N.  RANGE and BROADCAST queue one heap copy per
 * selected container (spread over workers by container id); the last copy
 * to finish completes the original with the first error seen.
 *
 * Completion protocol (one word decides who is woken, and the completer
 * never touches the task after publishing it, because the owner may free
 * it at once):
 *   completer: ws = exchange(rt.wait_state, CLOSED); store(done, 1);
 *              then wake: ws == SLEEPER -> futex_wake(&done);
 *                         ws == a task  -> chi_task_resume(that task).
 *   thread waiter: spin wait_spin_ns (init.c) on done; then CAS
 *              wait_state NONE->SLEEPER and futex_wait(&done, 0) until
 *              done; if the CAS finds CLOSED
 *              the completer is between its two steps: spin.
 *   task waiter: CAS wait_state NONE->self, then chi_task_suspend() until
 *              done (the completer's resume comes after done is stored).
 * The exchange and the CAS are seq_cst read-modify-writes of one word, so
 * exactly one of "waiter registered first" or "completer closed first"
 * holds.  futex_wake after the task is freed only names an address (private
 * futexes are keyed by address), which is harmless.
 *
 * Inline execution: a worker round trip costs two sleeping hand-offs (wake
 * the worker, wake the waiting client), about 10 us each on a busy 2-core
 * machine, which is more than a metadata method's own work.  When a client
 * thread calls chi_run (it will wait at once: chi_submit alone keeps the
 * caller's tasks in flight concurrently) and the module's inline_ok()
 * accepts the task for a single unpinned container, the method runs right
 * there and the task is complete when chi_run's submit returns.  The thread is not a
 * coroutine: chi_wait and the Co locks inside the method block the thread,
 * and tls_inline_task lends the task's group to the locks and to subtasks
 * (chi__task_group_owner), as a worker would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime_i.h"

#define ID_BLOCK     1024

static _Atomic uint64_t next_id_block = 1; /* id 0 is never used */
static __thread uint64_t tls_next_id, tls_id_end;
static __thread uint64_t tls_lane_hash;
static __thread int tls_lane_hash_set;
static __thread chi_task *tls_inline_task; /* running inline here */

static uint64_t new_task_id(void)
{
	if (tls_next_id == tls_id_end) {
		tls_next_id = atomic_fetch_add_explicit(
		    &next_id_block, ID_BLOCK, memory_order_relaxed);
		tls_id_end = tls_next_id + ID_BLOCK;
	}
	return tls_next_id++;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* hash(pid, tid), computed once per thread */
static uint64_t lane_hash(void)
{
	if (!tls_lane_hash_set) {
		uint64_t pid = (uint64_t)getpid();
		uint64_t tid = (uint64_t)syscall(SYS_gettid);

		tls_lane_hash = mix64((pid << 32) ^ tid);
		tls_lane_hash_set = 1;
	}
	return tls_lane_hash;
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/*
 * Allocate a zeroed task of `size` bytes; see task.h.  The group id is the
 * running task's (so a task and its subtasks form one TaskId group) or the
 * new task's own id.
 */
void *chi_task_new(size_t size, chi_pool_id pool_id, uint32_t method)
{
	chi_task *t, *self;

	if (size < sizeof(chi_task) || size > UINT32_MAX) {
		chi_error_set(-EINVAL,
		              "chi_task_new: size %zu is smaller than "
		              "chi_task or too large",
		              size);
		return NULL;
	}
	t = calloc(1, size);
	if (!t)
		return NULL;
	t->task_id = new_task_id();
	self = chi__task_group_owner();
	t->group_id = self ? self->group_id : t->task_id;
	t->pool_id = pool_id;
	t->method = method;
	t->query = chi_query_local();
	t->size = (uint32_t)size;
	return t;
}

/* Free a task from chi_task_new; NULL is a no-op. */
void chi_task_free(void *task)
{
	free(task);
}

/* Publish completion of a root task; see the protocol above. */
static void complete_public(chi_task *t)
{
	uintptr_t ws = atomic_exchange(&t->rt.wait_state, CHI__WS_CLOSED);

	/* release: pairs with the waiters' acquire loads of done */
	atomic_store_explicit(&t->done, 1, memory_order_release);
	/* t may be freed from here on */
	if (ws == CHI__WS_SLEEPER)
		futex(&t->done, FUTEX_WAKE_PRIVATE, INT_MAX);
	else if (ws > CHI__WS_CLOSED)
		chi_task_resume((chi_task *)ws);
}

static void finish_root(chi_task *t, chi__pool *pool)
{
	if (t->flags & CHI_TASK_FIRE_AND_FORGET)
		free(t);
	else
		complete_public(t);
	if (pool)
		atomic_fetch_sub_explicit(&pool->inflight, 1,
		                          memory_order_release);
}

static void finish_copy_share(chi_task *parent, int rc)
{
	if (rc) {
		int32_t zero = 0;

		/* first error wins */
		__atomic_compare_exchange_n(&parent->rc, &zero, rc, 0,
		                            __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	/* acq_rel: the last copy sees every copy's rc update */
	if (atomic_fetch_sub_explicit(&parent->rt.pending, 1,
	                              memory_order_acq_rel) == 1)
		finish_root(parent, parent->rt.pool);
}

static void task_finish(chi_task *t)
{
	chi_task *parent = t->rt.parent;

	if (parent) {
		int rc = t->rc;

		free(t);
		finish_copy_share(parent, rc);
		return;
	}
	finish_root(t, t->rt.pool);
}

void chi__task_fail(chi_task *t, int rc)
{
	t->rc = rc;
	task_finish(t);
}

void chi__task_execute(chi_task *t)
{
	chi_container *c = t->rt.container;
	const struct chi_module_ops *ops = c->ops;
	chi_method_fn fn = NULL;

	if (ops->methods && t->method < ops->n_methods)
		fn = ops->methods[t->method].fn;
	if (fn) {
		fn(c, t);
	} else {
		t->rc = -ENOSYS;
		CHI_WARN("runtime", "module %s (pool %s): no method %u",
		         ops->name ? ops->name : "?", c->pool_name, t->method);
	}
	task_finish(t);
}

chi_task *chi__task_group_owner(void)
{
	chi_task *self = chi_task_self();

	return self ? self : tls_inline_task;
}

/* May `t`, bound for container `c`, run on this (client) thread? */
static int inline_allowed(const chi_container *c, const chi_task *t)
{
	const struct chi_module_ops *ops = c->ops;

	return ops->inline_ok && !chi__rt.no_inline && c->pinned_worker < 0 &&
	       !(t->flags & CHI_TASK_FIRE_AND_FORGET) &&
	       !chi__worker_current() && ops->inline_ok(c, t);
}

/* Run `t` to completion on the calling thread (see DESIGN). */
static void run_inline(chi_task *t, chi_container *c)
{
	chi_task *outer = tls_inline_task;

	t->rt.container = c;
	t->rt.container_id = c->container_id;
	tls_inline_task = t;
	chi__task_execute(t);
	tls_inline_task = outer;
}

static chi__worker *pick_worker(chi_container *c)
{
	uint32_t n = chi__rt.n_workers;
	chi__worker *self = chi__worker_current();

	if (c->pinned_worker >= 0 && (uint32_t)c->pinned_worker < n)
		return &chi__rt.workers[c->pinned_worker];
	if (self)
		return self;
	return &chi__rt.workers[lane_hash() % n];
}

static void dispatch(chi_task *t, chi_container *c, chi__worker *w)
{
	t->rt.container = c;
	t->rt.container_id = c->container_id;
	chi__worker_enqueue(w, t);
}

/* RANGE / BROADCAST: one copy per container first..first+count-1. */
static void fan_out(chi_task *t, chi__pool *pool, uint32_t first,
                    uint32_t count)
{
	uint32_t n_workers = chi__rt.n_workers;
	uint32_t sent = 0;

	/* one extra share held while dispatching, dropped at the end */
	atomic_store_explicit(&t->rt.pending, count + 1, memory_order_relaxed);
	for (; sent < count; sent++) {
		chi_container *c = &pool->containers[first + sent];
		chi_task *copy = malloc(t->size);
		chi__worker *w;

		if (!copy) {
			t->rc = -ENOMEM;
			break;
		}
		memcpy(copy, t, t->size);
		copy->flags &= ~CHI_TASK_FIRE_AND_FORGET;
		copy->rt.parent = t;
		copy->rt.internal |= CHI__TI_COPY;
		copy->rt.pool = NULL;
		atomic_init(&copy->rt.pending, 0);
		if (c->pinned_worker >= 0 &&
		    (uint32_t)c->pinned_worker < n_workers)
			w = &chi__rt.workers[c->pinned_worker];
		else
			w = &chi__rt.workers[c->container_id % n_workers];
		dispatch(copy, c, w);
	}
	/* shares of copies never sent, plus the dispatch share */
	for (uint32_t i = sent; i < count + 1; i++)
		finish_copy_share(t, 0);
}

/* Reset the runtime part so a task can be (re)submitted. */
static void task_reset(chi_task *t)
{
	t->rc = 0;
	atomic_store_explicit(&t->done, 0, memory_order_relaxed);
	t->rt.next = NULL;
	t->rt.coroutine = NULL;
	atomic_store_explicit(&t->rt.wait_state, CHI__WS_NONE,
	                      memory_order_relaxed);
	atomic_store_explicit(&t->rt.run_state, CHI__RS_RUNNING,
	                      memory_order_relaxed);
	t->rt.container = NULL;
	t->rt.pool = NULL;
	t->rt.parent = NULL;
	atomic_store_explicit(&t->rt.pending, 0, memory_order_relaxed);
}

static chi_future submit_fail(chi_task *t, int rc)
{
	chi__task_fail(t, rc);
	return (chi_future){t};
}

/* Submit a task; with may_inline, run it here when its module allows. */
static chi_future submit(chi_task *t, bool may_inline)
{
	chi_future fut = {t};
	chi__pool *pool;
	int state, rc;
	uint32_t cid = 0, n;
	chi_pool_query q;

	if (!t)
		return fut;
	task_reset(t);
	if (t->size < sizeof(chi_task)) {
		rc = chi_error_set(-EINVAL,
		                   "chi_submit: task size %u is not "
		                   "set (use chi_task_new)",
		                   t->size);
		return submit_fail(t, rc);
	}
	state = atomic_load(&chi__rt.state);
	if (state == CHI__RT_OFF || !chi__rt.n_workers) {
		rc = chi_error_set(-ESHUTDOWN, "chi_submit: the runtime is not "
		                               "running (chi_init first)");
		return submit_fail(t, rc);
	}
	pool = chi__pool_lookup(t->pool_id);
	if (!pool) {
		rc = chi_error_set(-ENOENT, "chi_submit: no pool %u.%u",
		                   t->pool_id.major, t->pool_id.minor);
		return submit_fail(t, rc);
	}
	/* seq_cst: pairs with chi_finalize's state store / pool destroy's
	 * dead store and their later inflight reads (Dekker) */
	atomic_fetch_add(&pool->inflight, 1);
	if (atomic_load(&pool->dead)) {
		atomic_fetch_sub(&pool->inflight, 1);
		rc = chi_error_set(-ENOENT,
		                   "chi_submit: pool %u.%u is being "
		                   "destroyed",
		                   t->pool_id.major, t->pool_id.minor);
		return submit_fail(t, rc);
	}
	if (atomic_load(&chi__rt.state) == CHI__RT_STOPPING &&
	    !chi__worker_current() && !(t->rt.internal & CHI__TI_BYPASS_STOP)) {
		atomic_fetch_sub(&pool->inflight, 1);
		rc = chi_error_set(-ESHUTDOWN, "chi_submit: the runtime is "
		                               "shutting down");
		return submit_fail(t, rc);
	}
	n = pool->n_containers;
	q = t->query;
	switch (q.kind) {
	case CHI_QUERY_LOCAL:
	case CHI_QUERY_DYNAMIC:
		break;
	case CHI_QUERY_DIRECT_ID:
		if (q.a >= n) {
			rc = chi_error_set(-EINVAL,
			                   "pool %s: container %llu does not "
			                   "exist (%u containers)",
			                   pool->name, (unsigned long long)q.a,
			                   n);
			goto fail_counted;
		}
		cid = (uint32_t)q.a;
		break;
	case CHI_QUERY_DIRECT_HASH:
		cid = (uint32_t)(q.a % n);
		break;
	case CHI_QUERY_PHYSICAL:
		if (q.node != 0) {
			rc = chi_error_set(-ENOTSUP,
			                   "pool %s: physical query for node "
			                   "%u: only this node (0) exists; "
			                   "multi-node is not implemented",
			                   pool->name, q.node);
			goto fail_counted;
		}
		break;
	case CHI_QUERY_RANGE:
		if (q.b == 0 || q.a >= n || q.b > n - q.a) {
			rc =
			    chi_error_set(-EINVAL,
			                  "pool %s: range %llu+%llu is outside "
			                  "its %u containers",
			                  pool->name, (unsigned long long)q.a,
			                  (unsigned long long)q.b, n);
			goto fail_counted;
		}
		t->rt.pool = pool;
		fan_out(t, pool, (uint32_t)q.a, (uint32_t)q.b);
		return fut;
	case CHI_QUERY_BROADCAST:
		t->rt.pool = pool;
		fan_out(t, pool, 0, n);
		return fut;
	default:
		rc = chi_error_set(-EINVAL,
		                   "pool %s: unknown pool query kind %u",
		                   pool->name, q.kind);
		goto fail_counted;
	}
	t->rt.pool = pool;
	if (may_inline && inline_allowed(&pool->containers[cid], t))
		run_inline(t, &pool->containers[cid]);
	else
		dispatch(t, &pool->containers[cid],
		         pick_worker(&pool->containers[cid]));
	return fut;

fail_counted:
	t->rt.pool = pool; /* finish drops the inflight count */
	return submit_fail(t, rc);
}

/* Submit a task; see task.h. */
chi_future chi_submit(chi_task *t)
{
	return submit(t, false);
}

/* Submit and wait, inline when allowed; see task.h. */
int chi_run(chi_task *t)
{
	return chi_wait(submit(t, true));
}

static int wait_thread(chi_task *t)
{
	uint64_t start = 0;
	uintptr_t expect = CHI__WS_NONE;

	for (unsigned i = 1;; i++) {
		/* acquire: pairs with the release store in complete_public */
		if (atomic_load_explicit(&t->done, memory_order_acquire))
			return t->rc;
		if ((i & 63) == 0) {
			uint64_t now = chi__now_ns();

			if (!start)
				start = now;
			else if (now - start > chi__rt.wait_spin_ns)
				break;
			/* the worker may need this CPU to finish the task */
			sched_yield();
		}
		chi__cpu_relax();
	}
	if (!atomic_compare_exchange_strong(&t->rt.wait_state, &expect,
	                                    CHI__WS_SLEEPER)) {
		/* CLOSED: the completer is storing done right now */
		while (!atomic_load_explicit(&t->done, memory_order_acquire))
			chi__cpu_relax();
		return t->rc;
	}
	while (!atomic_load_explicit(&t->done, memory_order_acquire))
		futex(&t->done, FUTEX_WAIT_PRIVATE, 0);
	return t->rc;
}

static int wait_task(chi_task *t, chi_task *self)
{
	uintptr_t expect = CHI__WS_NONE;

	if (atomic_load_explicit(&t->done, memory_order_acquire))
		return t->rc;
	if (atomic_compare_exchange_strong(&t->rt.wait_state, &expect,
	                                   (uintptr_t)self)) {
		/* the completer resumes us after storing done; loop in case
		 * a stray permit wakes us early */
		do {
			chi_task_suspend();
		} while (!atomic_load_explicit(&t->done, memory_order_acquire));
		return t->rc;
	}
	while (!atomic_load_explicit(&t->done, memory_order_acquire))
		chi__cpu_relax();
	return t->rc;
}

/* Wait for a submitted task and return its rc; see task.h. */
int chi_wait(chi_future future)
{
	chi_task *t = future.task;
	chi_task *self;

	if (!t)
		return -EINVAL;
	self = chi_task_self();
	if (self)
		return wait_task(t, self);
	if (chi__worker_current() &&
	    !atomic_load_explicit(&t->done, memory_order_acquire))
		CHI_WARN("runtime", "chi_wait on a worker outside a task "
		                    "blocks the worker");
	return wait_thread(t);
}

/* True when the task has completed. */
int chi_future_ready(chi_future future)
{
	return future.task &&
	       atomic_load_explicit(&future.task->done, memory_order_acquire);
}
