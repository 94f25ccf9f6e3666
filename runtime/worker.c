/*
 * Worker threads: run tasks, park and resume coroutines, watch fds.
 *
 * DESIGN
 * Threads: N workers (config runtime.num_threads).  Each owns
 *   - a lane (lane.c): bounded MPSC queue fed by client threads and by
 *     other workers (tasks for containers pinned to this worker);
 *   - an inbox: lock-free Treiber stack of suspended tasks made runnable by
 *     another thread (chi_task_resume from elsewhere);
 *   - a ready FIFO, touched only by the worker itself: subtasks submitted
 *     by tasks running here, yielded coroutines, and resumes done on this
 *     thread (fd callbacks, completions of local subtasks);
 *   - an eventfd to be woken, and the fds registered with
 *     chi_worker_watch_fd (io_uring completion eventfds, for example).
 *
 * Loop: take the inbox, run what was ready, then pop up to LANE_BATCH tasks
 * from the lane; every task starts in a pooled coroutine (coroutine.c) and
 * runs until it finishes, suspends or yields.  Watched fds are polled with
 * a zero timeout when idle and every POLL_EVERY busy rounds.
 *
 * Sleeping: an idle worker spins for idle_spin_ns (init.c: 0 when there are
 * no more CPUs than workers), then sets `sleeping`, issues a
 * seq_cst fence (A), re-checks its queues and sleeps in poll() on the
 * eventfd and the watched fds.  A producer publishes its item (lane push or
 * inbox push), issues a seq_cst fence (B) and only if it sees `sleeping`
 * set, exchanges it to 0 and writes the eventfd.  Fences A and B pair (the
 * Dekker pattern): either the worker's re-check sees the item or the
 * producer sees `sleeping`, so no wake-up is lost; and since only the
 * producer that flips `sleeping` from 1 to 0 writes, a burst of submissions
 * costs at most one eventfd write per sleep (no wake storms).
 *
 * Suspension: rt.run_state is RUNNING, SUSPENDED or PERMIT.  suspend CASes
 * RUNNING->SUSPENDED and switches out (or consumes a PERMIT and continues);
 * resume CASes SUSPENDED->RUNNING and queues the task on its worker (or
 * RUNNING->PERMIT, so a resume that comes first is not lost).  A coroutine
 * only ever runs on the worker that started it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "runtime_i.h"

#define LANE_BATCH 64
#define POLL_EVERY 16

static __thread chi__worker *tls_worker;

uint64_t chi__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

chi__worker *chi__worker_current(void)
{
	return tls_worker;
}

chi__worker *chi__worker_get(uint32_t id)
{
	if (!chi__rt.workers || id >= chi__rt.n_workers)
		return NULL;
	return &chi__rt.workers[id];
}

int chi_worker_self(void)
{
	return tls_worker ? (int)tls_worker->id : -1;
}

chi_task *chi_task_self(void)
{
	chi__worker *w = tls_worker;

	return (w && w->current) ? w->current->task : NULL;
}

/* Wake `w` if it sleeps; call after publishing work for it. */
static void worker_wake(chi__worker *w)
{
	/* fence B: pairs with fence A in worker_sleep() */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed)) {
		uint64_t one = 1;

		if (write(w->event_fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is already non-zero: awake */
		}
	}
}

void chi__worker_ready_push(chi__worker *w, chi_task *task)
{
	task->rt.next = NULL;
	if (w->ready_tail)
		w->ready_tail->rt.next = task;
	else
		w->ready_head = task;
	w->ready_tail = task;
	w->ready_count++;
}

static chi_task *ready_pop(chi__worker *w)
{
	chi_task *t = w->ready_head;

	if (!t)
		return NULL;
	w->ready_head = t->rt.next;
	if (!w->ready_head)
		w->ready_tail = NULL;
	w->ready_count--;
	t->rt.next = NULL;
	return t;
}

static void inbox_push(chi__worker *w, chi_task *task)
{
	chi_task *old = atomic_load_explicit(&w->inbox, memory_order_relaxed);

	do {
		task->rt.next = old;
		/* release: pairs with the acquire exchange in inbox_drain */
	} while (!atomic_compare_exchange_weak_explicit(
	    &w->inbox, &old, task, memory_order_release, memory_order_relaxed));
	worker_wake(w);
}

static size_t inbox_drain(chi__worker *w)
{
	chi_task *list, *rev = NULL;
	size_t n = 0;

	if (!atomic_load_explicit(&w->inbox, memory_order_relaxed))
		return 0;
	list = atomic_exchange_explicit(&w->inbox, NULL, memory_order_acquire);
	while (list) { /* the stack is LIFO: reverse to keep arrival order */
		chi_task *next = list->rt.next;

		list->rt.next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		chi_task *next = rev->rt.next;

		chi__worker_ready_push(w, rev);
		rev = next;
		n++;
	}
	return n;
}

void chi__worker_enqueue(chi__worker *w, chi_task *task)
{
	if (tls_worker == w) {
		chi__worker_ready_push(w, task);
		return;
	}
	while (chi__lane_push(&w->lane, task) != 0) {
		/* full: make sure the worker drains it, then wait for room */
		worker_wake(w);
		if (chi_task_self())
			chi_task_yield();
		else
			sched_yield();
	}
	worker_wake(w);
}

/* Start or continue one task on this worker. */
static void run_item(chi__worker *w, chi_task *t)
{
	chi__coro *co = t->rt.coroutine;

	if (!co) {
		co = chi__coro_get(w);
		if (!co) {
			chi__task_fail(t, -ENOMEM);
			return;
		}
		co->task = t;
		t->rt.coroutine = co;
		t->rt.worker = w->id;
	}
	chi__coro_enter(w, co);
	switch (co->state) {
	case CHI__CORO_FINISHED:
		chi__coro_put(w, co); /* the task may be freed already */
		break;
	case CHI__CORO_YIELDED:
		chi__worker_ready_push(w, co->task);
		break;
	default: /* SUSPENDED: chi_task_resume queues it again */
		break;
	}
	w->tasks_run++;
}

/* Poll the watched fds (and the eventfd); run callbacks of ready ones. */
static size_t poll_fds(chi__worker *w, int timeout_ms)
{
	size_t n = w->n_watches + 1, fired = 0;
	struct pollfd stack_pfds[16];
	struct pollfd *pfds = stack_pfds;

	if (n > 16) {
		pfds = malloc(n * sizeof(*pfds));
		if (!pfds) {
			pfds = stack_pfds;
			n = 16;
		}
	}
	pfds[0].fd = w->event_fd;
	pfds[0].events = POLLIN;
	pfds[0].revents = 0;
	for (size_t i = 1; i < n; i++) {
		pfds[i].fd = w->watches[i - 1].fd;
		pfds[i].events = POLLIN;
		pfds[i].revents = 0;
	}
	if (poll(pfds, n, timeout_ms) > 0) {
		if (pfds[0].revents & POLLIN) {
			uint64_t v;

			if (read(w->event_fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else drained it */
			}
		}
		for (size_t i = 1; i < n; i++) {
			if (!pfds[i].revents)
				continue;
			/* find it again: a callback may have unwatched it */
			for (size_t j = 0; j < w->n_watches; j++) {
				if (w->watches[j].fd == pfds[i].fd) {
					w->watches[j].cb(w->watches[j].arg);
					fired++;
					break;
				}
			}
		}
	}
	if (pfds != stack_pfds)
		free(pfds);
	return fired;
}

static int has_work(chi__worker *w)
{
	return w->ready_head ||
	       atomic_load_explicit(&w->inbox, memory_order_relaxed) ||
	       !chi__lane_empty(&w->lane);
}

static size_t worker_step(chi__worker *w, uint64_t *round)
{
	size_t done = 0, budget;
	chi_task *t;

	inbox_drain(w);
	budget = w->ready_count;
	while (budget-- && (t = ready_pop(w))) {
		run_item(w, t);
		done++;
	}
	for (int i = 0; i < LANE_BATCH && (t = chi__lane_pop(&w->lane)); i++) {
		run_item(w, t);
		done++;
	}
	if (w->n_watches && (!done || (++*round % POLL_EVERY) == 0))
		done += poll_fds(w, 0);
	return done;
}

static void worker_sleep(chi__worker *w)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* fence A: pairs with fence B in worker_wake() */
	atomic_thread_fence(memory_order_seq_cst);
	if (!has_work(w) &&
	    !atomic_load_explicit(&w->stop, memory_order_acquire))
		poll_fds(w, -1);
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
	chi__worker *w = arg;
	uint64_t idle_since = 0, round = 0;
	char name[16];

	tls_worker = w;
	snprintf(name, sizeof(name), "chi_worker_%u", w->id);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		if (worker_step(w, &round)) {
			idle_since = 0;
			continue;
		}
		if (atomic_load_explicit(&w->stop, memory_order_acquire) &&
		    !has_work(w))
			break;
		if (!idle_since) {
			idle_since = chi__now_ns();
			continue;
		}
		if (chi__now_ns() - idle_since < chi__rt.idle_spin_ns) {
			/* give the CPU to whatever else is runnable here (the
			 * client whose request we wait for, often): spinning
			 * on a shared CPU delays it by the whole budget */
			sched_yield();
			continue;
		}
		worker_sleep(w);
		idle_since = 0;
	}
	tls_worker = NULL;
	return NULL;
}

int chi__workers_start(uint32_t n, uint32_t queue_depth)
{
	chi__worker *ws;
	int rc = 0;

	ws = calloc(n, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	chi__rt.workers = ws;
	chi__rt.n_workers = n;
	for (uint32_t i = 0; i < n; i++) {
		ws[i].id = i;
		ws[i].event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ws[i].event_fd < 0) {
			rc = chi_error_set(-errno, "worker %u: eventfd: %s", i,
			                   strerror(errno));
			goto fail;
		}
		rc = chi__lane_init(&ws[i].lane, queue_depth);
		if (rc)
			goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		int err =
		    pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);

		if (err) {
			rc =
			    chi_error_set(-err, "worker %u: pthread_create: %s",
			                  i, strerror(err));
			goto fail;
		}
		ws[i].thread_started = 1;
	}
	return 0;
fail:
	chi__workers_stop();
	return rc;
}

void chi__workers_stop(void)
{
	chi__worker *ws = chi__rt.workers;
	uint32_t n = chi__rt.n_workers;

	if (!ws)
		return;
	for (uint32_t i = 0; i < n; i++) {
		atomic_store_explicit(&ws[i].stop, 1, memory_order_release);
		if (ws[i].event_fd >= 0) {
			uint64_t one = 1;

			if (write(ws[i].event_fd, &one, sizeof(one)) < 0) {
				/* already signalled */
			}
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (ws[i].thread_started)
			pthread_join(ws[i].thread, NULL);
		if (ws[i].n_coros != ws[i].n_free_coros)
			CHI_WARN("runtime",
			         "worker %u: %zu task(s) still suspended at "
			         "shutdown",
			         i, ws[i].n_coros - ws[i].n_free_coros);
		chi__coro_free_all(&ws[i]);
		free(ws[i].sched_uctx);
		if (ws[i].event_fd > 0)
			close(ws[i].event_fd);
		chi__lane_destroy(&ws[i].lane);
		free(ws[i].watches);
	}
	free(ws);
	chi__rt.workers = NULL;
	chi__rt.n_workers = 0;
}

/*
 * Suspend the running task until chi_task_resume(); consumes a pending
 * permit instead when the resume came first.
 */
void chi_task_suspend(void)
{
	chi__worker *w = tls_worker;
	chi__coro *co = w ? w->current : NULL;
	chi_task *t;
	uint32_t expect;

	if (!co) {
		CHI_ERROR("runtime", "chi_task_suspend called outside a task");
		return;
	}
	t = co->task;
	expect = CHI__RS_PERMIT;
	if (atomic_compare_exchange_strong(&t->rt.run_state, &expect,
	                                   CHI__RS_RUNNING))
		return;
	expect = CHI__RS_RUNNING;
	if (!atomic_compare_exchange_strong(&t->rt.run_state, &expect,
	                                    CHI__RS_SUSPENDED)) {
		/* a permit arrived between the two CASes */
		atomic_store(&t->rt.run_state, CHI__RS_RUNNING);
		return;
	}
	co->state = CHI__CORO_SUSPENDED;
	chi__coro_leave(co);
}

/* Make `task` runnable again on its worker, or leave a permit. */
void chi_task_resume(chi_task *task)
{
	uint32_t s = atomic_load(&task->rt.run_state);
	chi__worker *w;

	for (;;) {
		if (s == CHI__RS_PERMIT)
			return;
		if (s == CHI__RS_SUSPENDED) {
			if (atomic_compare_exchange_weak(&task->rt.run_state,
			                                 &s, CHI__RS_RUNNING))
				break;
			continue;
		}
		if (atomic_compare_exchange_weak(&task->rt.run_state, &s,
		                                 CHI__RS_PERMIT))
			return;
	}
	w = chi__worker_get(task->rt.worker);
	if (!w)
		return;
	if (tls_worker == w)
		chi__worker_ready_push(w, task);
	else
		inbox_push(w, task);
}

/* Let other ready tasks of this worker run, then continue. */
void chi_task_yield(void)
{
	chi__worker *w = tls_worker;
	chi__coro *co = w ? w->current : NULL;

	if (!co) {
		sched_yield();
		return;
	}
	co->state = CHI__CORO_YIELDED;
	chi__coro_leave(co);
}

/* Watch `fd` for readability on the calling worker. */
int chi_worker_watch_fd(int fd, void (*cb)(void *arg), void *arg)
{
	chi__worker *w = tls_worker;

	if (!w)
		return chi_error_set(-EINVAL,
		                     "chi_worker_watch_fd: not on a worker");
	if (fd < 0 || !cb)
		return chi_error_set(-EINVAL,
		                     "chi_worker_watch_fd: bad fd or callback");
	for (size_t i = 0; i < w->n_watches; i++)
		if (w->watches[i].fd == fd)
			return chi_error_set(
			    -EEXIST,
			    "chi_worker_watch_fd: fd %d already "
			    "watched",
			    fd);
	if (w->n_watches == w->cap_watches) {
		size_t cap = w->cap_watches ? w->cap_watches * 2 : 4;
		struct chi__watch *nw = realloc(w->watches, cap * sizeof(*nw));

		if (!nw)
			return -ENOMEM;
		w->watches = nw;
		w->cap_watches = cap;
	}
	w->watches[w->n_watches++] = (struct chi__watch){fd, cb, arg};
	return 0;
}

/* Stop watching `fd` on the calling worker. */
void chi_worker_unwatch_fd(int fd)
{
	chi__worker *w = tls_worker;

	if (!w)
		return;
	for (size_t i = 0; i < w->n_watches; i++) {
		if (w->watches[i].fd == fd) {
			w->watches[i] = w->watches[--w->n_watches];
			return;
		}
	}
}
