/*
 * Cooperative locks for code running in tasks (the module guide's CoMutex
 * and CoRwLock).  A task that cannot take the lock suspends its coroutine;
 * the worker runs other tasks; the unlocker resumes it.  Ownership is by
 * TaskId group (chi_task.group_id): tasks of the group holding the lock
 * enter without blocking (a task and the subtasks it waits on never
 * deadlock on a lock the root holds).
 *
 * Outside a task (a plain client thread) the calls fall back to blocking
 * the thread, so the same data structure can be used from both.
 */
#ifndef CHIMAERA_COMUTEX_H
#define CHIMAERA_COMUTEX_H

#include <pthread.h>
#include <stdint.h>

typedef struct chi_comutex {
	pthread_mutex_t guard; /* protects the fields below; held briefly */
	uint64_t owner_group;  /* 0 = free */
	uint32_t depth;        /* entries by the owner group */
	void *waiters_head;    /* FIFO of waiting tasks/threads */
	void *waiters_tail;
} chi_comutex;

/* Initialise / destroy (destroying a held lock logs a warning). */
void chi_comutex_init(chi_comutex *m);
void chi_comutex_destroy(chi_comutex *m);
/* Take the mutex.  Re-entrant for the holding group (each lock needs an
 * unlock); others wait in FIFO order (a task suspends, a thread blocks). */
void chi_comutex_lock(chi_comutex *m);
int chi_comutex_trylock(chi_comutex *m); /* 0 or -EBUSY */
/* Release one entry; the last hands the mutex to the next waiting group
 * (and every queued waiter of that group). */
void chi_comutex_unlock(chi_comutex *m);

typedef struct chi_corwlock {
	pthread_mutex_t guard;
	uint32_t readers;      /* readers holding it */
	uint64_t writer_group; /* group holding it for writing, 0 = none */
	uint32_t writer_depth;
	void *waiters_head; /* FIFO: writers are not starved */
	void *waiters_tail;
	/* groups holding read locks (so a group re-enters even when a
	 * writer waits); holds beyond the table are counted only in
	 * `readers` */
	uint64_t reader_group[8];
	uint32_t reader_count[8];
} chi_corwlock;

void chi_corwlock_init(chi_corwlock *l);
void chi_corwlock_destroy(chi_corwlock *l);
/* Shared: waits behind earlier queued writers (FIFO), unless the caller's
 * group already holds the lock for reading or writing. */
void chi_corwlock_rdlock(chi_corwlock *l);
/* Exclusive: re-entered by the writing group.  A group holding only a read
 * lock that asks for the write lock waits for itself (no upgrades). */
void chi_corwlock_wrlock(chi_corwlock *l);
/* Release one read or write entry taken by the caller's group. */
void chi_corwlock_unlock(chi_corwlock *l);

#endif
