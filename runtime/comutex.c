/*
 * CoMutex and CoRwLock: cooperative locks with TaskId groups.
 *
 * DESIGN
 * Each lock has a pthread mutex (`guard`) protecting its fields, held only
 * for a few instructions and never across a coroutine switch.  A caller
 * that cannot enter puts a waiter record (on its own stack) at the tail of
 * the lock's FIFO and then waits: a task suspends its coroutine
 * (chi_task_suspend) so its worker runs other tasks; a plain thread sleeps
 * on a futex in the record.  The unlocker picks the waiters to admit under
 * `guard`, takes them off the queue, and after dropping `guard` sets each
 * record's `granted` (release; the waiter reads it with acquire) and
 * resumes the task or wakes the thread.  Ownership passes directly to the
 * admitted waiter, so the lock is FIFO-fair and cannot be barged.
 *
 * Groups: a task's group is chi_task.group_id (the root task's id,
 * inherited by subtasks); a thread outside any task is its own group.
 * Members of the holding group enter without waiting (counted in depth),
 * so a task holding a lock can wait on subtasks that take it too.  For the
 * rwlock, readers of a group already reading also enter even when a writer
 * waits, and any request of the group holding the write lock enters.  A
 * group that holds a read lock and asks for the write lock waits for its
 * own readers (upgrades deadlock, as with pthread rwlocks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime_i.h"

struct waiter {
	struct waiter *next;
	chi_task *task; /* NULL: a thread */
	uint64_t group;
	int write;
	_Atomic uint32_t granted;
};

static _Atomic uint64_t next_thread_group = 1;
static __thread uint64_t tls_thread_group;

static uint64_t caller_group(chi_task **task_out)
{
	/* a task may suspend; code running inline on a client thread has the
	 * task's group but blocks like a thread */
	chi_task *t = chi__task_group_owner();

	*task_out = chi_task_self();
	if (t)
		return t->group_id;
	if (!tls_thread_group)
		tls_thread_group =
		    (1ull << 63) | atomic_fetch_add(&next_thread_group, 1);
	return tls_thread_group;
}

static void enqueue(void **head, void **tail, struct waiter *w)
{
	w->next = NULL;
	if (*tail)
		((struct waiter *)*tail)->next = w;
	else
		*head = w;
	*tail = w;
}

/* Remove every queued waiter of `group` (after the head was taken) and
 * chain them onto *grant; returns how many. */
static uint32_t take_group(void **head, void **tail, uint64_t group,
                           struct waiter **grant)
{
	struct waiter *prev = NULL, *w = *head;
	uint32_t n = 0;

	while (w) {
		struct waiter *next = w->next;

		if (w->group == group) {
			if (prev)
				prev->next = next;
			else
				*head = next;
			if (*tail == w)
				*tail = prev;
			w->next = *grant;
			*grant = w;
			n++;
		} else {
			prev = w;
		}
		w = next;
	}
	return n;
}

static void wait_granted(struct waiter *w)
{
	if (w->task) {
		do {
			chi_task_suspend();
		} while (
		    !atomic_load_explicit(&w->granted, memory_order_acquire));
		return;
	}
	while (!atomic_load_explicit(&w->granted, memory_order_acquire))
		syscall(SYS_futex, &w->granted, FUTEX_WAIT_PRIVATE, 0, NULL,
		        NULL, 0);
}

/* Admit every waiter on the list (guard no longer held). */
static void grant_all(struct waiter *list)
{
	while (list) {
		struct waiter *next = list->next;
		chi_task *task = list->task;

		/* release: pairs with the acquire in wait_granted; a thread
		 * waiter may return (and its record vanish) right after */
		atomic_store_explicit(&list->granted, 1, memory_order_release);
		if (task)
			chi_task_resume(task);
		else
			syscall(SYS_futex, &list->granted, FUTEX_WAKE_PRIVATE,
			        1, NULL, NULL, 0);
		list = next;
	}
}

/* ---------------- CoMutex ---------------- */

void chi_comutex_init(chi_comutex *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->guard, NULL);
}

void chi_comutex_destroy(chi_comutex *m)
{
	if (m->owner_group || m->waiters_head)
		CHI_WARN("runtime", "chi_comutex_destroy: lock still held");
	pthread_mutex_destroy(&m->guard);
}

/* Take the mutex; the holding group re-enters; others wait (see above). */
void chi_comutex_lock(chi_comutex *m)
{
	struct waiter w = {0};
	uint64_t g = caller_group(&w.task);

	pthread_mutex_lock(&m->guard);
	if (m->owner_group == 0 || m->owner_group == g) {
		m->owner_group = g;
		m->depth++;
		pthread_mutex_unlock(&m->guard);
		return;
	}
	w.group = g;
	enqueue(&m->waiters_head, &m->waiters_tail, &w);
	pthread_mutex_unlock(&m->guard);
	wait_granted(&w); /* the unlocker made us owner */
}

/* Take it if free or held by our group: 0, else -EBUSY. */
int chi_comutex_trylock(chi_comutex *m)
{
	chi_task *task;
	uint64_t g = caller_group(&task);
	int rc = -EBUSY;

	pthread_mutex_lock(&m->guard);
	if (m->owner_group == 0 || m->owner_group == g) {
		m->owner_group = g;
		m->depth++;
		rc = 0;
	}
	pthread_mutex_unlock(&m->guard);
	return rc;
}

/* Release one entry; the last one hands the mutex to the next group. */
void chi_comutex_unlock(chi_comutex *m)
{
	struct waiter *grant = NULL;

	pthread_mutex_lock(&m->guard);
	if (m->depth == 0) {
		pthread_mutex_unlock(&m->guard);
		CHI_ERROR("runtime", "chi_comutex_unlock: not locked");
		return;
	}
	if (--m->depth == 0) {
		struct waiter *head = m->waiters_head;

		m->owner_group = 0;
		if (head) {
			m->waiters_head = head->next;
			if (!m->waiters_head)
				m->waiters_tail = NULL;
			head->next = NULL;
			grant = head;
			m->owner_group = head->group;
			m->depth =
			    1 + take_group(&m->waiters_head, &m->waiters_tail,
			                   head->group, &grant);
		}
	}
	pthread_mutex_unlock(&m->guard);
	grant_all(grant);
}

/* ---------------- CoRwLock ---------------- */

void chi_corwlock_init(chi_corwlock *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->guard, NULL);
}

void chi_corwlock_destroy(chi_corwlock *l)
{
	if (l->readers || l->writer_group || l->waiters_head)
		CHI_WARN("runtime", "chi_corwlock_destroy: lock still held");
	pthread_mutex_destroy(&l->guard);
}

static int reader_slot(chi_corwlock *l, uint64_t g)
{
	for (int i = 0; i < 8; i++)
		if (l->reader_count[i] && l->reader_group[i] == g)
			return i;
	return -1;
}

static void reader_add(chi_corwlock *l, uint64_t g)
{
	int i = reader_slot(l, g);

	l->readers++;
	if (i < 0) {
		for (i = 0; i < 8 && l->reader_count[i]; i++)
			;
		if (i == 8)
			return; /* untracked: counted in readers only */
		l->reader_group[i] = g;
	}
	l->reader_count[i]++;
}

/* Admit waiters from the head of the FIFO as far as the state allows. */
static struct waiter *rw_dispatch(chi_corwlock *l)
{
	struct waiter *grant = NULL, *w;

	while ((w = l->waiters_head)) {
		if (w->write) {
			if (l->readers || l->writer_group)
				break;
			l->waiters_head = w->next;
			if (!l->waiters_head)
				l->waiters_tail = NULL;
			w->next = grant;
			grant = w;
			l->writer_group = w->group;
			l->writer_depth =
			    1 + take_group(&l->waiters_head, &l->waiters_tail,
			                   w->group, &grant);
			break;
		}
		if (l->writer_group)
			break;
		l->waiters_head = w->next;
		if (!l->waiters_head)
			l->waiters_tail = NULL;
		w->next = grant;
		grant = w;
		reader_add(l, w->group);
	}
	return grant;
}

/* Shared lock: waits behind queued writers unless its group already
 * holds the lock (for reading or writing). */
void chi_corwlock_rdlock(chi_corwlock *l)
{
	struct waiter w = {0};
	uint64_t g = caller_group(&w.task);

	pthread_mutex_lock(&l->guard);
	if (l->writer_group == g) {
		l->writer_depth++;
		goto entered;
	}
	if (!l->writer_group && (!l->waiters_head || reader_slot(l, g) >= 0)) {
		reader_add(l, g);
		goto entered;
	}
	w.group = g;
	enqueue(&l->waiters_head, &l->waiters_tail, &w);
	pthread_mutex_unlock(&l->guard);
	wait_granted(&w);
	return;
entered:
	pthread_mutex_unlock(&l->guard);
}

/* Exclusive lock (re-entered by the writing group). */
void chi_corwlock_wrlock(chi_corwlock *l)
{
	struct waiter w = {0};
	uint64_t g = caller_group(&w.task);

	pthread_mutex_lock(&l->guard);
	if (l->writer_group == g) {
		l->writer_depth++;
		goto entered;
	}
	if (!l->writer_group && !l->readers && !l->waiters_head) {
		l->writer_group = g;
		l->writer_depth = 1;
		goto entered;
	}
	w.group = g;
	w.write = 1;
	enqueue(&l->waiters_head, &l->waiters_tail, &w);
	pthread_mutex_unlock(&l->guard);
	wait_granted(&w);
	return;
entered:
	pthread_mutex_unlock(&l->guard);
}

/* Release one read or write entry of the caller's group. */
void chi_corwlock_unlock(chi_corwlock *l)
{
	chi_task *task;
	uint64_t g = caller_group(&task);
	struct waiter *grant = NULL;

	pthread_mutex_lock(&l->guard);
	if (l->writer_group && l->writer_group == g) {
		if (--l->writer_depth == 0) {
			l->writer_group = 0;
			grant = rw_dispatch(l);
		}
	} else if (l->readers) {
		int i = reader_slot(l, g);

		if (i >= 0)
			l->reader_count[i]--;
		if (--l->readers == 0)
			grant = rw_dispatch(l);
	} else {
		CHI_ERROR("runtime", "chi_corwlock_unlock: not locked by the "
		                     "caller's group");
	}
	pthread_mutex_unlock(&l->guard);
	grant_all(grant);
}
