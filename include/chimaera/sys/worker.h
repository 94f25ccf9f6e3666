/*
 * Services the runtime gives code running inside a task on a worker:
 * suspension until an external event (I/O completion), fd watching, and
 * identity.  Used by modules (bdev's io_uring completions), never by clients.
 */
#ifndef CHIMAERA_SYS_WORKER_H
#define CHIMAERA_SYS_WORKER_H

#include <stdint.h>

#include "chimaera/task.h"

/* Index of the calling worker thread, or -1 when not on a worker. */
int chi_worker_self(void);

/* The task whose coroutine is running on this thread, or NULL. */
chi_task *chi_task_self(void);

/*
 * Suspend the running task's coroutine until chi_task_resume(task) is
 * called; the worker runs other tasks meanwhile.  A resume that happens
 * before the suspend is not lost (a permit is kept).  Must be called inside
 * a task.  The permit is a single flag (several resumes before a suspend
 * wake it once), so wait for your condition in a loop around it.
 */
void chi_task_suspend(void);

/* Make a suspended task runnable again, on the worker it ran on.  Callable
 * from any thread, including that worker's fd callbacks. */
void chi_task_resume(chi_task *task);

/* Let the worker run other ready tasks, then continue. */
void chi_task_yield(void);

/*
 * Watch `fd` for readability on the calling worker: when readable, the
 * worker calls cb(arg) from its loop (not inside a task; cb may resume
 * tasks but must not wait).  The worker also sleeps in poll() on these fds
 * together with its wake-up eventfd, so completions wake an idle worker.
 * Must be called on a worker.  Returns 0 or -errno.
 */
int chi_worker_watch_fd(int fd, void (*cb)(void *arg), void *arg);

/* Stop watching fd on the calling worker. */
void chi_worker_unwatch_fd(int fd);

#endif
