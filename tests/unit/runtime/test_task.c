/* Tasks: lifecycle, ids, submit/wait, subtasks waiting inside tasks,
 * suspend/resume, fire-and-forget, routing errors. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/sys/worker.h"
#include "rt_test_util.h"

static int setup_1(void **state)
{
	(void)state;
	if (rt_start(1, 256, NULL))
		return -1;
	return rt_make_test_pool(TEST_POOL_ID, "test_pool", 1) ? -1 : 0;
}

static int setup_2(void **state)
{
	(void)state;
	if (rt_start(2, 256, NULL))
		return -1;
	return rt_make_test_pool(TEST_POOL_ID, "test_pool", 2) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	chi_finalize();
	return 0;
}

#define ID_THREADS    4
#define ID_PER_THREAD 5000
static uint64_t ids[ID_THREADS][ID_PER_THREAD];

static void *alloc_ids(void *arg)
{
	uint64_t *out = arg;

	for (int i = 0; i < ID_PER_THREAD; i++) {
		chi_task *t = chi_task_new(sizeof(chi_test_task), TEST_POOL_ID,
		                           CHI_TEST_METHOD_NOOP);

		out[i] = t ? t->task_id : 0;
		if (t && t->group_id != t->task_id)
			out[i] = 0; /* a root task is its own group */
		chi_task_free(t);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_task_ids_unique(void **state)
{
	pthread_t th[ID_THREADS];

	(void)state;
	for (int i = 0; i < ID_THREADS; i++)
		pthread_create(&th[i], NULL, alloc_ids, ids[i]);
	for (int i = 0; i < ID_THREADS; i++)
		pthread_join(th[i], NULL);
	qsort(ids, ID_THREADS * ID_PER_THREAD, sizeof(uint64_t), cmp_u64);
	assert_int_not_equal(ids[0][0], 0);
	for (size_t i = 1; i < ID_THREADS * ID_PER_THREAD; i++)
		assert_true((&ids[0][0])[i] != (&ids[0][0])[i - 1]);
}

static void test_task_new_fields(void **state)
{
	chi_test_task *t;

	(void)state;
	assert_null(chi_task_new(sizeof(chi_task) - 1, TEST_POOL_ID, 10));
	t = chi_task_new(sizeof(*t), TEST_POOL_ID, CHI_TEST_METHOD_NOOP);
	assert_non_null(t);
	assert_int_equal(t->base.size, sizeof(*t));
	assert_int_equal(t->base.method, CHI_TEST_METHOD_NOOP);
	assert_true(chi_pool_id_eq(t->base.pool_id, TEST_POOL_ID));
	assert_int_equal(t->base.query.kind, CHI_QUERY_LOCAL);
	assert_int_equal(t->base.done, 0);
	assert_int_equal(t->arg, 0);
	chi_task_free(t);
	chi_task_free(NULL);
}

static void test_submit_wait_noop(void **state)
{
	(void)state;
	for (int i = 0; i < 1000; i++) {
		chi_test_task *t =
		    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_COUNT, 0, 0);
		chi_future f;

		assert_non_null(t);
		t->worker = -7;
		f = chi_submit(&t->base);
		assert_int_equal(chi_wait(f), 0);
		assert_true(chi_future_ready(f));
		assert_int_equal(t->worker, 0);
		chi_task_free(t);
	}
	/* a task can be submitted again after it completed */
	chi_test_task *t =
	    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_NOOP, 0, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(chi_run(&t->base), 0);
	chi_task_free(t);
}

/* 1 worker, 1000 tasks each submitting a subtask and waiting on it. */
static void test_subtask_wait_one_worker(void **state)
{
	enum { N = 1000 };
	chi_test_task *t[N];
	chi_future f[N];

	(void)state;
	assert_int_equal(chi_num_workers(), 1);
	for (int i = 0; i < N; i++) {
		t[i] =
		    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUBTASK, 0, 0);
		assert_non_null(t[i]);
		f[i] = chi_submit(&t[i]->base);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(chi_wait(f[i]), 0);
		assert_int_equal(t[i]->out, 1);
		chi_task_free(t[i]);
	}
}

static void test_subtask_nested(void **state)
{
	chi_test_task *t =
	    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUBTASK, 200, 0);

	(void)state;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->out, 201);
	chi_task_free(t);
}

static void test_suspend_resume(void **state)
{
	chi_test_stats *st = rt_test_stats();
	chi_test_task *t;
	chi_future f;
	chi_task *parked;

	(void)state;
	assert_non_null(st);
	atomic_store(&st->suspended, NULL);
	t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUSPEND, 0, 0);
	f = chi_submit(&t->base);
	while (!(parked = atomic_load(&st->suspended)))
		usleep(100);
	assert_ptr_equal(parked, &t->base);
	usleep(2000);
	assert_false(chi_future_ready(f)); /* really parked */
	chi_task_resume(parked);           /* from a non-worker thread */
	assert_int_equal(chi_wait(f), 0);
	assert_int_equal(t->out, 42);

	/* resume before suspend leaves a permit */
	t->arg = 1;
	t->out = 0;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->out, 42);
	chi_task_free(t);
}

static void test_fire_and_forget(void **state)
{
	chi_test_stats *st = rt_test_stats();
	uint64_t before = atomic_load(&st->ran);

	(void)state;
	for (int i = 0; i < 500; i++) {
		chi_test_task *t =
		    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_COUNT, 0, 0);

		t->base.flags |= CHI_TASK_FIRE_AND_FORGET;
		chi_submit(&t->base); /* the runtime frees it */
	}
	for (int i = 0; i < 2000 && atomic_load(&st->ran) < before + 500; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&st->ran), before + 500);
}

static void test_routing_errors(void **state)
{
	chi_test_task *t;

	(void)state;
	t = rt_test_task((chi_pool_id){999, 1}, CHI_TEST_METHOD_NOOP, 0, 0);
	assert_int_equal(chi_run(&t->base), -ENOENT);
	assert_non_null(strstr(chi_error_last(), "999.1"));
	chi_task_free(t);

	t = rt_test_task(TEST_POOL_ID, 9999, 0, 0);
	assert_int_equal(chi_run(&t->base), -ENOSYS);
	chi_task_free(t);

	t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_NOOP, 0, 0);
	t->base.query.kind = 77;
	assert_int_equal(chi_run(&t->base), -EINVAL);
	chi_task_free(t);
}

static void test_outside_task(void **state)
{
	(void)state;
	assert_null(chi_task_self());
	assert_int_equal(chi_worker_self(), -1);
	assert_int_equal(chi_wait((chi_future){NULL}), -EINVAL);
}

/* Many client threads, many tasks in flight, two workers. */
static void *client_burst(void *arg)
{
	enum { N = 2000, W = 64 };
	chi_test_task *t[W];
	long bad = 0;

	(void)arg;
	for (int i = 0; i < W; i++)
		t[i] =
		    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUBTASK, 1, 0);
	for (int round = 0; round < N / W; round++) {
		chi_future f[W];

		for (int i = 0; i < W; i++)
			f[i] = chi_submit(&t[i]->base);
		for (int i = 0; i < W; i++)
			if (chi_wait(f[i]) != 0 || t[i]->out != 2)
				bad++;
	}
	for (int i = 0; i < W; i++)
		chi_task_free(t[i]);
	return (void *)bad;
}

static void test_many_clients(void **state)
{
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, client_burst, NULL);
	for (int i = 0; i < 4; i++) {
		void *bad;

		pthread_join(th[i], &bad);
		assert_int_equal((long)bad, 0);
	}
}

/* Tasks pinned to one worker waiting on subtasks pinned to the other, in
 * both directions at once: lanes between workers, remote resumes. */
static void *cross_client(void *arg)
{
	enum { N = 1500, W = 50 };
	const chi_pool_id *pools = arg; /* [0] runs, [1] serves */
	uint64_t target = ((uint64_t)pools[1].major << 32) | pools[1].minor;
	long bad = 0;

	for (int round = 0; round < N / W; round++) {
		chi_test_task *t[W];
		chi_future f[W];

		for (int i = 0; i < W; i++) {
			t[i] = rt_test_task(pools[0], CHI_TEST_METHOD_SUBTASK,
			                    0, target);
			f[i] = chi_submit(&t[i]->base);
		}
		for (int i = 0; i < W; i++) {
			if (chi_wait(f[i]) != 0 || t[i]->out != 1 ||
			    t[i]->worker != (int)(pools[0].major - 380))
				bad++;
			chi_task_free(t[i]);
		}
	}
	return (void *)bad;
}

static void test_cross_worker_waits(void **state)
{
	chi_test_params p0 = {.pin_worker = 0}, p1 = {.pin_worker = 1};
	chi_pool_id a = {380, 0}, b = {381, 0};
	chi_pool_id ab[2] = {{380, 0}, {381, 0}}, ba[2] = {{381, 0}, {380, 0}};
	pthread_t t1, t2;
	void *bad1, *bad2;

	(void)state;
	assert_int_equal(chi_pool_get_or_create(&a, CHI_TEST_MODULE, "on_w0",
	                                        &p0, sizeof(p0), 1),
	                 0);
	assert_int_equal(chi_pool_get_or_create(&b, CHI_TEST_MODULE, "on_w1",
	                                        &p1, sizeof(p1), 1),
	                 0);
	pthread_create(&t1, NULL, cross_client, ab);
	pthread_create(&t2, NULL, cross_client, ba);
	pthread_join(t1, &bad1);
	pthread_join(t2, &bad2);
	assert_int_equal((long)bad1, 0);
	assert_int_equal((long)bad2, 0);
	assert_int_equal(chi_pool_destroy(a), 0);
	assert_int_equal(chi_pool_destroy(b), 0);
}

int main(void)
{
	const struct CMUnitTest one_worker[] = {
	    cmocka_unit_test(test_task_ids_unique),
	    cmocka_unit_test(test_task_new_fields),
	    cmocka_unit_test(test_submit_wait_noop),
	    cmocka_unit_test(test_subtask_wait_one_worker),
	    cmocka_unit_test(test_subtask_nested),
	    cmocka_unit_test(test_suspend_resume),
	    cmocka_unit_test(test_fire_and_forget),
	    cmocka_unit_test(test_routing_errors),
	    cmocka_unit_test(test_outside_task),
	};
	const struct CMUnitTest two_workers[] = {
	    cmocka_unit_test(test_many_clients),
	    cmocka_unit_test(test_subtask_nested),
	    cmocka_unit_test(test_cross_worker_waits),
	};
	int fails = 0;

	fails += cmocka_run_group_tests_name("task_one_worker", one_worker,
	                                     setup_1, teardown);
	fails += cmocka_run_group_tests_name("task_two_workers", two_workers,
	                                     setup_2, teardown);
	return fails;
}
