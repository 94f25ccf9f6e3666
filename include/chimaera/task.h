/*
 * Tasks: the unit of work.  Every module task is a struct whose first member
 * is `chi_task`; IN and OUT fields follow as plain members.
 *
 *   struct chi_bdev_write_task {
 *           chi_task base;          // must be first
 *           uint64_t offset;        // IN
 *           ...
 *   };
 *
 * A client allocates a task with chi_task_new(), fills the IN fields, submits
 * it (chi_submit) and waits (chi_wait), then reads the OUT fields and frees
 * it with chi_task_free().  The runtime never frees a client's task.
 */
#ifndef CHIMAERA_TASK_H
#define CHIMAERA_TASK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chimaera/types.h"

/* Task flags */
#define CHI_TASK_FIRE_AND_FORGET (1u << 0) /* runtime frees it when done */

typedef struct chi_task {
	/* --- public header, set by chi_task_new / the caller --- */
	uint64_t task_id;    /* unique within this runtime */
	uint64_t group_id;   /* TaskId group: the root task's id; subtasks
	                      * submitted from a running task inherit it
	                      * (CoMutex/CoRwLock admit a whole group) */
	chi_pool_id pool_id; /* pool that runs it */
	uint32_t method;     /* method id from the module's chimaera_mod.yaml */
	uint32_t flags;      /* CHI_TASK_* */
	chi_pool_query query;  /* which container(s); default local */
	int32_t rc;            /* OUT: 0 or a negative errno */
	_Atomic uint32_t done; /* completion word: 0 pending, 1 complete;
	                        * waiters futex-wait on it */
	uint32_t size;         /* bytes of the whole task struct */

	/* --- runtime private: modules and clients do not touch these --- */
	struct {
		struct chi_task *next;        /* ready-queue / inbox link */
		void *coroutine;              /* coroutine running this task */
		_Atomic uintptr_t wait_state; /* who waits: none, a sleeping
		                               * thread, a task, or closed */
		_Atomic uint32_t run_state;   /* suspend/resume permit */
		uint32_t worker;              /* worker it runs on */
		uint32_t container_id;        /* resolved container */
		uint32_t internal;            /* runtime flags */
		void *container;              /* resolved chi_container */
		void *pool;                   /* pool it was counted in */
		_Atomic uint32_t
		    pending; /* RANGE/BROADCAST copies outstanding */
		struct chi_task *parent; /* RANGE/BROADCAST origin task */
	} rt;
} chi_task;

/*
 * Allocate a zeroed task of `size` bytes (>= sizeof(chi_task)) for `method`
 * of pool `pool_id`, with a fresh task id, the caller's group id (if called
 * from inside a running task) and a local pool query.  Returns NULL when out
 * of memory.  Free with chi_task_free().
 */
void *chi_task_new(size_t size, chi_pool_id pool_id, uint32_t method);

/* Free a task allocated by chi_task_new; NULL is a no-op. */
void chi_task_free(void *task);

/* A handle on a submitted task. */
typedef struct chi_future {
	chi_task *task;
} chi_future;

/*
 * Submit a task: it goes to lane hash(pid, tid) % workers (or the worker a
 * container is pinned to, or, from inside a task, the current worker).
 * An unknown pool or a bad query completes the task at once with rc -EINVAL
 * or -ENOENT and a message.  Never blocks except when the lane is full, in
 * which case it waits for room.  A completed task may be submitted again.
 * After chi_finalize has begun, submissions from client threads complete
 * with -ESHUTDOWN (tasks already running may still submit subtasks).
 */
chi_future chi_submit(chi_task *task);

/*
 * Wait for completion and return task->rc.  On a client thread: spin
 * briefly, then sleep on the completion futex.  Inside a task running on a
 * worker: the task's coroutine yields and the worker runs other tasks until
 * this one completes.
 */
int chi_wait(chi_future future);

/* True when the task has completed (acquire ordering). */
int chi_future_ready(chi_future future);

/*
 * Submit and wait: returns task->rc.  Because the caller waits at once, a
 * task the module lets run inline (chi_module_ops.inline_ok) runs right
 * here on a client thread, without a worker round trip; chi_submit alone
 * never does that (the caller may want many tasks in flight).
 */
int chi_run(chi_task *task);

#endif
