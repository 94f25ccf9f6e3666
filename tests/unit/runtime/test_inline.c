/* Inline execution (chi_module_ops.inline_ok): a task the module accepts
 * runs on the submitting client thread, never from a worker or on a pinned
 * container, and keeps TaskId group semantics for locks and subtasks. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/sys/worker.h"
#include "rt_test_util.h"

#define PINNED_POOL_ID ((chi_pool_id){301, 0})

static int setup(void **state)
{
	chi_test_params pin = {.pin_worker = 1};
	chi_pool_id p = PINNED_POOL_ID;

	(void)state;
	if (rt_start(2, 256, NULL))
		return -1;
	if (rt_make_test_pool(TEST_POOL_ID, "free_pool", 1))
		return -1;
	return chi_pool_get_or_create(&p, CHI_TEST_MODULE, "pinned_pool", &pin,
	                              sizeof(pin), 1)
	           ? -1
	           : 0;
}

static int teardown(void **state)
{
	(void)state;
	chi_finalize();
	return 0;
}

static uint64_t pool_arg(chi_pool_id id)
{
	return (uint64_t)id.major << 32 | id.minor;
}

/* Accepted, through chi_run: runs on this thread. */
static void test_runs_on_caller(void **state)
{
	chi_test_task *t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_INLINE,
	                                0, 0);

	(void)state;
	assert_non_null(t);
	t->worker = 99;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->worker, -1);
	assert_int_equal(t->out, (uint64_t)gettid());
	/* a completed task may be submitted again */
	t->out = 0;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->out, (uint64_t)gettid());
	chi_task_free(t);
}

/* chi_submit alone never runs a task inline: its caller may want many in
 * flight at once. */
static void test_submit_is_async(void **state)
{
	chi_test_task *t[8];

	(void)state;
	for (int i = 0; i < 8; i++) {
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_INLINE, 0, 0);
		assert_non_null(t[i]);
		t[i]->worker = -1;
		chi_submit(&t[i]->base);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(chi_wait((chi_future){&t[i]->base}), 0);
		assert_true(t[i]->worker >= 0);
		assert_int_not_equal(t[i]->out, (uint64_t)gettid());
		chi_task_free(t[i]);
	}
}

/* Not accepted by the module: still goes to a worker. */
static void test_other_methods_use_workers(void **state)
{
	chi_test_task *t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_COUNT,
	                                0, 0);

	(void)state;
	assert_non_null(t);
	t->worker = -1;
	assert_int_equal(chi_run(&t->base), 0);
	assert_true(t->worker >= 0);
	chi_task_free(t);
}

/* Holding a CoMutex inline, a subtask of the same group (on a worker)
 * enters it instead of deadlocking. */
static void test_group_lock_reentry(void **state)
{
	chi_test_task *t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_INLINE,
	                                1, 0);

	(void)state;
	assert_non_null(t);
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->worker, -1);
	chi_task_free(t);
}

/* A pinned container runs on its worker; from a worker, an inline-able
 * subtask is queued, not run on the worker's thread. */
static void test_pinned_and_from_worker(void **state)
{
	chi_test_task *t = rt_test_task(PINNED_POOL_ID, CHI_TEST_METHOD_INLINE,
	                                2, pool_arg(TEST_POOL_ID));

	(void)state;
	assert_non_null(t);
	t->sub_worker = -2;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->worker, 1);
	assert_true(t->sub_worker >= 0);
	assert_int_not_equal(t->out, (uint64_t)gettid());
	chi_task_free(t);
}

/* Nested inline: an inline task's inline subtask runs on the same thread
 * and in the same group. */
static void test_nested_inline(void **state)
{
	chi_test_task *t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_INLINE,
	                                2, pool_arg(TEST_POOL_ID));

	(void)state;
	assert_non_null(t);
	t->sub_worker = -2;
	assert_int_equal(chi_run(&t->base), 0);
	assert_int_equal(t->worker, -1);
	assert_int_equal(t->sub_worker, -1);
	chi_task_free(t);
}

/* Many client threads at once, each running inline. */
static void *hammer(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 2000; i++) {
		chi_test_task *t = rt_test_task(
		    TEST_POOL_ID, CHI_TEST_METHOD_INLINE, i % 2, 0);

		if (!t || chi_run(&t->base) || t->worker != -1 ||
		    t->out != (uint64_t)gettid())
			bad++;
		chi_task_free(t);
	}
	return (void *)bad;
}

static void test_many_threads(void **state)
{
	pthread_t th[4];
	void *bad;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], &bad);
		assert_int_equal((long)bad, 0);
	}
}

/* CHI_INLINE=0 (read at start): chi_run sends it to a worker. */
static int setup_off(void **state)
{
	setenv("CHI_INLINE", "0", 1);
	return setup(state);
}

static int teardown_off(void **state)
{
	unsetenv("CHI_INLINE");
	return teardown(state);
}

static void test_env_off(void **state)
{
	chi_test_task *t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_INLINE,
	                                0, 0);

	(void)state;
	assert_non_null(t);
	t->worker = -1;
	assert_int_equal(chi_run(&t->base), 0);
	assert_true(t->worker >= 0);
	chi_task_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_on_caller),
	    cmocka_unit_test(test_other_methods_use_workers),
	    cmocka_unit_test(test_group_lock_reentry),
	    cmocka_unit_test(test_pinned_and_from_worker),
	    cmocka_unit_test(test_nested_inline),
	    cmocka_unit_test(test_submit_is_async),
	    cmocka_unit_test(test_many_threads),
	};

	const struct CMUnitTest off[] = {
	    cmocka_unit_test(test_env_off),
	};
	int fails = cmocka_run_group_tests_name("inline", tests, setup,
	                                        teardown);

	fails += cmocka_run_group_tests_name("inline_off", off, setup_off,
	                                     teardown_off);
	return fails;
}
