/* The test module (libchimaera_test_runtime.so) used by the runtime unit
 * tests and the task benchmark: small methods that exercise the runtime. */
#ifndef CHI_TEST_MODULE_H
#define CHI_TEST_MODULE_H

#include <stdint.h>

#include "chimaera/comutex.h"
#include "chimaera/task.h"

#define CHI_TEST_MODULE "chimaera_test"

enum {
	CHI_TEST_METHOD_NOOP = 10,    /* rc = 0 */
	CHI_TEST_METHOD_SUBTASK = 11, /* submit a COUNT (or, when arg > 0, a
	                               * SUBTASK with arg - 1) and wait; to
	                               * the same pool, or to pool arg2 =
	                               * major << 32 | minor when non-zero */
	CHI_TEST_METHOD_COUNT = 12,   /* container's counter += 1; out = id */
	CHI_TEST_METHOD_SLEEP = 13,   /* yield until `arg` microseconds pass */
	CHI_TEST_METHOD_LOCK = 14,    /* CoMutex critical section (see .c) */
	CHI_TEST_METHOD_SUSPEND = 15, /* publish self, suspend until resumed */
	CHI_TEST_METHOD_FAIL = 16,    /* rc = -(arg) on container `arg2` */
	CHI_TEST_METHOD_RWLOCK = 17,  /* CoRwLock section; arg2 = 1 writer */
	CHI_TEST_METHOD_WATCH = 18,   /* watch an eventfd, suspend until the
	                               * fd callback resumes it */
	CHI_TEST_METHOD_INLINE = 19,  /* allowed inline (inline_ok): out =
	                               * the thread id it ran on; arg & 1:
	                               * hold the CoMutex and run a LOCK
	                               * subtask (same group: must enter);
	                               * arg & 2: run an INLINE subtask on
	                               * pool arg2 (major << 32 | minor),
	                               * its worker in sub_worker */
	CHI_TEST_METHOD_MAX = 20,
};

/* LOCK: arg flag: while holding the mutex, run a LOCK subtask */
#define CHI_TEST_LOCK_NESTED (1ull << 62)

typedef struct chi_test_task {
	chi_task base;
	uint64_t arg;       /* IN */
	uint64_t arg2;      /* IN */
	uint64_t out;       /* OUT */
	int32_t worker;     /* OUT: worker it ran on */
	uint32_t container; /* OUT: container it ran on */
	int32_t sub_worker; /* OUT: INLINE: worker its subtask ran on */
} chi_test_task;

/* create parameters (also from a compose entry: fail, pin_worker, tag) */
typedef struct chi_test_params {
	int32_t fail_create; /* create returns this (negative) when != 0 */
	int32_t pin_worker;  /* -1: not pinned */
	uint64_t tag;        /* echoed in the state */
	int32_t sub_pool;    /* create makes pool "sub_<tag>" (400.<tag>)
	                      * from inside its create task */
} chi_test_params;

/* Shared with the tests through the module's exported symbols. */
typedef struct chi_test_stats {
	_Atomic uint64_t created;   /* containers created */
	_Atomic uint64_t destroyed; /* containers destroyed */
	_Atomic uint64_t ran;       /* methods run */
	_Atomic int in_section;     /* tasks inside the LOCK section */
	_Atomic int max_in_section;
	_Atomic int writers_in;     /* RWLOCK: writers inside */
	_Atomic int readers_in;     /* RWLOCK: readers inside */
	_Atomic int rw_violations;  /* writer overlapped anything */
	_Atomic uint64_t order_pos; /* LOCK: entry order log */
	uint64_t order[4096];
	_Atomic(chi_task *) suspended; /* SUSPEND: the parked task */
	chi_comutex mutex;
	chi_corwlock rwlock;
	uint64_t last_tag;
	_Atomic int watch_fd; /* WATCH: the eventfd, -1 when none */
	_Atomic int watch_callbacks;
} chi_test_stats;

#endif
