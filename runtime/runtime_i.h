/*
 * Private declarations shared by the runtime's source files.  Never
 * installed; modules and clients use include/chimaera/ only.
 */
#ifndef CHIMAERA_RUNTIME_I_H
#define CHIMAERA_RUNTIME_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "chimaera/chimaera.h"
#include "chimaera/comutex.h"
#include "chimaera/sys/module.h"
#include "chimaera/sys/worker.h"

#if defined(CHI_SANITIZE) || defined(__SANITIZE_ADDRESS__)
#define CHI_ASAN 1
#endif

/* Spin a little more politely on the sibling hyperthread. */
static inline void chi__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

uint64_t chi__now_ns(void);

/* ---------------- lanes (lane.c) ---------------- */

struct chi__lane_cell {
	_Atomic size_t seq;
	chi_task *task;
};

/* Bounded MPSC queue of task pointers (Vyukov's sequenced ring). */
typedef struct chi__lane {
	_Alignas(64) _Atomic size_t tail; /* producers claim here */
	_Alignas(64) size_t head;         /* consumer only */
	size_t mask;
	struct chi__lane_cell *cells;
} chi__lane;

int chi__lane_init(chi__lane *lane, size_t depth);
void chi__lane_destroy(chi__lane *lane);
/* 0, or -EAGAIN when full. */
int chi__lane_push(chi__lane *lane, chi_task *task);
/* The oldest published task, or NULL.  Single consumer. */
chi_task *chi__lane_pop(chi__lane *lane);
/* True when a pop would find nothing (single consumer). */
int chi__lane_empty(chi__lane *lane);

/* ---------------- coroutines (coroutine.c) ---------------- */

struct chi__worker;

enum chi__coro_state {
	CHI__CORO_RUNNING = 0,
	CHI__CORO_FINISHED,  /* task completed; coroutine back to the pool */
	CHI__CORO_SUSPENDED, /* parked until chi_task_resume */
	CHI__CORO_YIELDED,   /* put back on the ready queue */
};

typedef struct chi__coro {
	void *sp;   /* saved stack pointer (asm switch) */
	void *uctx; /* ucontext_t * (fallback switch) */
	void *map;  /* mmap'd region: guard page + stack */
	size_t map_size;
	void *stack_lo;    /* lowest usable stack byte */
	size_t stack_size; /* usable bytes */
	struct chi__worker *worker;
	chi_task *task;         /* task it runs, NULL when pooled */
	int state;              /* enum chi__coro_state */
	struct chi__coro *next; /* worker's free list */
#ifdef CHI_ASAN
	void *asan_fake;
#endif
} chi__coro;

/* Usable stack bytes of every coroutine (plus one guard page below). */
#ifdef CHI_ASAN
#define CHI_CORO_STACK_SIZE (512u * 1024u)
#else
#define CHI_CORO_STACK_SIZE (128u * 1024u)
#endif

chi__coro *chi__coro_get(struct chi__worker *w);
void chi__coro_put(struct chi__worker *w, chi__coro *co);
void chi__coro_free_all(struct chi__worker *w);
/* Scheduler -> coroutine; returns when the coroutine switches back. */
void chi__coro_enter(struct chi__worker *w, chi__coro *co);
/* Coroutine -> scheduler (co->state says why). */
void chi__coro_leave(chi__coro *co);

/* ---------------- workers (worker.c) ---------------- */

struct chi__watch {
	int fd;
	void (*cb)(void *arg);
	void *arg;
};

typedef struct chi__worker {
	uint32_t id;
	pthread_t thread;
	int thread_started;
	int event_fd;                           /* wake-up eventfd */
	chi__lane lane;                         /* client tasks (MPSC) */
	_Alignas(64) _Atomic(chi_task *) inbox; /* remote resumes (Treiber) */
	_Alignas(64) _Atomic int sleeping; /* 1 while about to / in poll() */
	_Atomic int stop;
	/* --- worker thread only --- */
	_Alignas(64) chi_task *ready_head; /* local FIFO: new subtasks and */
	chi_task *ready_tail;              /* resumed/yielded coroutines */
	size_t ready_count;
	void *sched_sp;     /* scheduler context (asm switch) */
	void *sched_uctx;   /* scheduler context (ucontext) */
	chi__coro *current; /* coroutine running, or NULL */
	chi__coro *free_coros;
	size_t n_free_coros;
	size_t n_coros; /* all coroutines of this worker */
	struct chi__watch *watches;
	size_t n_watches, cap_watches;
	uint64_t tasks_run;
#ifdef CHI_ASAN
	const void *sched_stack_lo; /* for switching back to the scheduler */
	size_t sched_stack_size;
#endif
} chi__worker;

int chi__workers_start(uint32_t n, uint32_t queue_depth);
/* Ask workers to exit once idle, join them and free them. */
void chi__workers_stop(void);
chi__worker *chi__worker_get(uint32_t id);
/* Calling thread's worker or NULL. */
chi__worker *chi__worker_current(void);
/* Queue a new task on worker `w`: its local ready queue when called on
 * `w`, else its lane (waiting for room when full). */
void chi__worker_enqueue(chi__worker *w, chi_task *task);
/* Run `task` on its worker's local queue (caller is that worker). */
void chi__worker_ready_push(chi__worker *w, chi_task *task);

/* ---------------- tasks (task.c) ---------------- */

/* rt.wait_state values besides a waiting task's pointer. */
#define CHI__WS_NONE    ((uintptr_t)0)
#define CHI__WS_SLEEPER ((uintptr_t)1) /* a thread sleeps on the futex */
#define CHI__WS_CLOSED  ((uintptr_t)2) /* completion is being published */

/* rt.run_state: suspend/resume permit. */
#define CHI__RS_RUNNING   0u
#define CHI__RS_SUSPENDED 1u
#define CHI__RS_PERMIT    2u

/* rt.internal bits */
#define CHI__TI_BYPASS_STOP (1u << 0) /* finalize's own tasks */
#define CHI__TI_COPY        (1u << 1) /* RANGE/BROADCAST copy */

/* Run a task's method inside its coroutine, then complete it. */
void chi__task_execute(chi_task *task);
/* Complete with rc without running (routing errors, shutdown). */
void chi__task_fail(chi_task *task, int rc);
/* The task whose TaskId group the calling code acts for: the task running
 * in the current coroutine, else a task running inline on this client
 * thread (chi_submit's inline path), else NULL. */
chi_task *chi__task_group_owner(void);

/* ---------------- pools and modules (pool.c, module.c) ---------------- */

typedef struct chi__module {
	char *name;
	void *handle;
	const struct chi_module_ops *ops;
	struct chi__module *next;
} chi__module;

typedef struct chi__pool {
	chi_pool_id id;
	char *name;
	chi__module *module;
	uint32_t n_containers;
	chi_container *containers;
	uint64_t seq;             /* creation order */
	_Atomic int64_t inflight; /* tasks submitted and not completed */
	_Atomic int dead;         /* being destroyed: submits fail */
	struct chi__pool
	    *next_all; /* every pool ever made (freed at the end) */
} chi__pool;

/* Load (or find loaded) module by name: 0 and *out, or -ENOENT/-EINVAL
 * with a message naming the module and the paths tried. */
int chi__module_load(chi__module **out, const char *name);
void chi__modules_unload_all(void);

/* The live pool with this id, or NULL (lock-free; borrowed: pool structs
 * live until chi_finalize). */
chi__pool *chi__pool_lookup(chi_pool_id id);
/* Live pools in creation order: count and a malloc'd array. */
int chi__pools_snapshot(chi__pool ***out, size_t *out_n);
/* Sum of in-flight tasks across live pools. */
int64_t chi__pools_inflight(void);
int chi__pools_init(void);
void chi__pools_free_all(void);

/* ---------------- global state (init.c) ---------------- */

enum chi__rt_state {
	CHI__RT_OFF = 0,
	CHI__RT_STARTING,
	CHI__RT_RUNNING,
	CHI__RT_STOPPING,
};

struct chi__runtime {
	_Atomic int state;
	chi_config *cfg;
	uint32_t n_workers;
	chi__worker *workers;
	chi_pool_id admin_pool;
	uint64_t idle_spin_ns; /* worker: spin this long idle before sleeping */
	uint64_t wait_spin_ns; /* client chi_wait: spin before futex sleep */
	bool no_inline;        /* CHI_INLINE=0: every task goes to a worker */
};

extern struct chi__runtime chi__rt;

#define CHI_ADMIN_POOL_MAJOR 1
#define CHI_ADMIN_POOL_MINOR 0
#define CHI_ADMIN_POOL_NAME  "chimaera_admin"
#define CHI_ADMIN_MODULE     "chimaera_admin"

#endif
