/* CoMutex and CoRwLock: exclusion, FIFO order, TaskId group re-entry,
 * suspension of waiting tasks (the worker keeps running others), and the
 * blocking fallback for plain threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/comutex.h"
#include "rt_test_util.h"

/* ---- plain threads ---- */

static chi_comutex mtx;
static long counter;

static void *bump(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		chi_comutex_lock(&mtx);
		counter++;
		chi_comutex_unlock(&mtx);
	}
	return NULL;
}

static void test_comutex_threads(void **state)
{
	pthread_t th[4];

	(void)state;
	chi_comutex_init(&mtx);
	counter = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, bump, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(counter, 80000);
	chi_comutex_destroy(&mtx);
}

static void *try_other(void *arg)
{
	return (void *)(intptr_t)chi_comutex_trylock(arg);
}

static void test_comutex_reentry_and_trylock(void **state)
{
	chi_comutex m;
	pthread_t th;
	void *ret;

	(void)state;
	chi_comutex_init(&m);
	chi_comutex_lock(&m);
	chi_comutex_lock(&m); /* the holding group (this thread) re-enters */
	assert_int_equal(chi_comutex_trylock(&m), 0);
	pthread_create(&th, NULL, try_other, &m);
	pthread_join(th, &ret);
	assert_int_equal((intptr_t)ret, -EBUSY);
	chi_comutex_unlock(&m);
	chi_comutex_unlock(&m);
	chi_comutex_unlock(&m);
	pthread_create(&th, NULL, try_other, &m);
	pthread_join(th, &ret);
	assert_int_equal((intptr_t)ret, 0); /* the other thread holds it now */
	assert_int_equal(chi_comutex_trylock(&m), -EBUSY);
	m.owner_group = 0; /* the other thread exited holding it */
	m.depth = 0;
	chi_comutex_destroy(&m);
}

struct rw_arg {
	chi_corwlock *l;
	int write;
	_Atomic int acquired;
	_Atomic int release;
	int order_slot;
};

static _Atomic int order_next;

static void *rw_thread(void *p)
{
	struct rw_arg *a = p;

	if (a->write)
		chi_corwlock_wrlock(a->l);
	else
		chi_corwlock_rdlock(a->l);
	a->order_slot = atomic_fetch_add(&order_next, 1);
	atomic_store(&a->acquired, 1);
	while (!atomic_load(&a->release))
		usleep(100);
	chi_corwlock_unlock(a->l);
	return NULL;
}

static void test_corwlock_threads_fifo(void **state)
{
	chi_corwlock l;
	struct rw_arg r1 = {.l = &l}, w = {.l = &l, .write = 1}, r2 = {.l = &l};
	pthread_t t1, tw, t2;

	(void)state;
	chi_corwlock_init(&l);
	atomic_store(&order_next, 0);
	/* two readers share it */
	chi_corwlock_rdlock(&l);
	pthread_create(&t1, NULL, rw_thread, &r1);
	while (!atomic_load(&r1.acquired))
		usleep(100);
	/* a writer waits for both readers */
	pthread_create(&tw, NULL, rw_thread, &w);
	usleep(20000);
	assert_false(atomic_load(&w.acquired));
	/* a group already reading re-enters although a writer waits */
	chi_corwlock_rdlock(&l);
	assert_int_equal(l.readers, 3);
	chi_corwlock_unlock(&l);
	/* a new reader queues behind the waiting writer (FIFO: no writer
	 * starvation) */
	pthread_create(&t2, NULL, rw_thread, &r2);
	usleep(20000);
	assert_false(atomic_load(&r2.acquired));
	chi_corwlock_unlock(&l);
	atomic_store(&r1.release, 1);
	pthread_join(t1, NULL);
	while (!atomic_load(&w.acquired))
		usleep(100);
	usleep(20000);
	assert_false(atomic_load(&r2.acquired)); /* writer is exclusive */
	atomic_store(&w.release, 1);
	pthread_join(tw, NULL);
	while (!atomic_load(&r2.acquired))
		usleep(100);
	assert_true(w.order_slot < r2.order_slot);
	atomic_store(&r2.release, 1);
	pthread_join(t2, NULL);

	/* the writing group re-enters for reading and writing */
	chi_corwlock_wrlock(&l);
	chi_corwlock_rdlock(&l);
	chi_corwlock_wrlock(&l);
	chi_corwlock_unlock(&l);
	chi_corwlock_unlock(&l);
	chi_corwlock_unlock(&l);
	assert_int_equal(l.writer_group, 0);
	assert_int_equal(l.readers, 0);
	chi_corwlock_destroy(&l);
}

/* ---- tasks ---- */

static int setup_rt(void **state)
{
	(void)state;
	if (rt_start(2, 1024, NULL))
		return -1;
	return rt_make_test_pool(TEST_POOL_ID, "lock_pool", 1) ? -1 : 0;
}

static int teardown_rt(void **state)
{
	(void)state;
	chi_finalize();
	return 0;
}

static void reset_stats(chi_test_stats *st)
{
	atomic_store(&st->in_section, 0);
	atomic_store(&st->max_in_section, 0);
	atomic_store(&st->order_pos, 0);
	atomic_store(&st->rw_violations, 0);
}

static void test_comutex_tasks_exclusive_fifo(void **state)
{
	enum { N = 200 };
	chi_test_stats *st = rt_test_stats();
	chi_test_task *t[N];
	chi_future f[N];

	(void)state;
	reset_stats(st);
	for (int i = 0; i < N; i++) {
		/* each holds the lock across 3 yields */
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_LOCK,
		                    (uint64_t)i, 3);
		f[i] = chi_submit(&t[i]->base);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(chi_wait(f[i]), 0);
		chi_task_free(t[i]);
	}
	assert_int_equal(atomic_load(&st->max_in_section), 1);
	assert_int_equal(atomic_load(&st->order_pos), N);
	/* one client, one lane: the lock admits them in arrival order */
	for (int i = 0; i < N; i++)
		assert_int_equal(st->order[i], i);
}

static void test_comutex_group_reentry(void **state)
{
	enum { N = 50 };
	chi_test_stats *st = rt_test_stats();
	chi_test_task *t[N];
	chi_future f[N];

	(void)state;
	reset_stats(st);
	/* each root takes the lock and waits on a subtask that takes it
	 * too: the subtask is in the root's group, so no deadlock */
	for (int i = 0; i < N; i++) {
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_LOCK,
		                    (uint64_t)i | CHI_TEST_LOCK_NESTED, 1);
		f[i] = chi_submit(&t[i]->base);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(chi_wait(f[i]), 0);
		chi_task_free(t[i]);
	}
	/* root + its subtask inside at once, never two groups */
	assert_int_equal(atomic_load(&st->max_in_section), 2);
	assert_int_equal(atomic_load(&st->order_pos), 2 * N);
	for (int i = 0; i < 2 * N; i += 2)
		assert_int_equal(st->order[i], st->order[i + 1]);
}

static void test_comutex_waiter_suspends(void **state)
{
	chi_test_stats *st = rt_test_stats();
	chi_test_task *lk, *noop;
	chi_future f;

	(void)state;
	reset_stats(st);
	chi_comutex_lock(&st->mutex); /* held by this client thread */
	lk = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_LOCK, 7, 0);
	f = chi_submit(&lk->base);
	usleep(20000);
	assert_false(chi_future_ready(f));
	/* the waiting task suspended: its worker still runs other tasks */
	for (int i = 0; i < 100; i++) {
		noop = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_NOOP, 0, 0);
		assert_int_equal(chi_run(&noop->base), 0);
		chi_task_free(noop);
	}
	assert_false(chi_future_ready(f));
	chi_comutex_unlock(&st->mutex);
	assert_int_equal(chi_wait(f), 0);
	assert_int_equal(st->order[0], 7);
	chi_task_free(lk);
}

static void test_corwlock_tasks(void **state)
{
	enum { N = 300 };
	chi_test_stats *st = rt_test_stats();
	chi_test_task *t[N];
	chi_future f[N];

	(void)state;
	reset_stats(st);
	for (int i = 0; i < N; i++) {
		/* every 5th a writer; all yield twice inside */
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_RWLOCK, 2,
		                    i % 5 == 0);
		t[i]->base.query = chi_query_local();
		f[i] = chi_submit(&t[i]->base);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(chi_wait(f[i]), 0);
		chi_task_free(t[i]);
	}
	assert_int_equal(atomic_load(&st->rw_violations), 0);
	assert_int_equal(atomic_load(&st->writers_in), 0);
	assert_int_equal(atomic_load(&st->readers_in), 0);
	assert_int_equal(st->rwlock.readers, 0);
	assert_int_equal(st->rwlock.writer_group, 0);
}

int main(void)
{
	const struct CMUnitTest threads[] = {
	    cmocka_unit_test(test_comutex_threads),
	    cmocka_unit_test(test_comutex_reentry_and_trylock),
	    cmocka_unit_test(test_corwlock_threads_fifo),
	};
	const struct CMUnitTest tasks[] = {
	    cmocka_unit_test(test_comutex_tasks_exclusive_fifo),
	    cmocka_unit_test(test_comutex_group_reentry),
	    cmocka_unit_test(test_comutex_waiter_suspends),
	    cmocka_unit_test(test_corwlock_tasks),
	};
	int fails = 0;

	fails +=
	    cmocka_run_group_tests_name("locks_threads", threads, NULL, NULL);
	fails += cmocka_run_group_tests_name("locks_tasks", tasks, setup_rt,
	                                     teardown_rt);
	return fails;
}
