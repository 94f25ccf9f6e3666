/* Start-up modes and shutdown: chi_finalize with tasks in flight, late
 * submissions, pool destruction with tasks in flight, restart. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_test_util.h"
#include "runtime_i.h"

static void test_modes(void **state)
{
	(void)state;
	assert_int_equal(chi_init(CHI_MODE_SERVER, 1), -ENOTSUP);
	assert_non_null(strstr(chi_error_last(), "not built yet"));
	assert_int_equal(chi_init(CHI_MODE_RUNTIME, 1), -ENOTSUP);
	assert_int_equal(chi_init(CHI_MODE_CLIENT, 0), -ENOTSUP);
	assert_int_equal(chi_num_workers(), 0);
	assert_int_equal(chi_init_with_config(CHI_MODE_CLIENT, 1,
	                                      "/nonexistent/chimaera.yaml"),
	                 -ENOENT);
	assert_int_equal(chi_num_workers(), 0);
	chi_finalize(); /* not started: no-op */
}

static void test_init_from_file_and_twice(void **state)
{
	char path[] = "/tmp/chi_test_rt_XXXXXX";
	int fd = mkstemp(path);
	const char yaml[] = "runtime:\n  num_threads: 3\n  queue_depth: 64\n";

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, sizeof(yaml) - 1), sizeof(yaml) - 1);
	close(fd);
	assert_int_equal(chi_init_with_config(CHI_MODE_CLIENT, 1, path), 0);
	assert_int_equal(chi_num_workers(), 3);
	assert_int_equal(chi_init_with_config(CHI_MODE_CLIENT, 1, path),
	                 -EALREADY);
	assert_int_equal(rt_start(1, 64, NULL), -EALREADY);
	chi_finalize();
	chi_finalize();
	unlink(path);
	assert_int_equal(chi_num_workers(), 0);
}

static void *finalize_thread(void *arg)
{
	(void)arg;
	chi_finalize();
	return NULL;
}

static void test_finalize_with_tasks_in_flight(void **state)
{
	enum { SLEEPERS = 20, SUBS = 300 };
	chi_test_task *t[SLEEPERS + SUBS], *late;
	chi_future f[SLEEPERS + SUBS];
	chi_test_stats *st;
	uint64_t destroyed;
	pthread_t fin;

	(void)state;
	assert_int_equal(rt_start(1, 1024, NULL), 0);
	assert_int_equal(rt_make_test_pool(TEST_POOL_ID, "busy", 2), 0);
	st = rt_test_stats();
	destroyed = atomic_load(&st->destroyed);
	for (int i = 0; i < SLEEPERS; i++) {
		/* 300 ms each, yielding (so they overlap) */
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SLEEP, 300000,
		                    0);
		f[i] = chi_submit(&t[i]->base);
	}
	for (int i = SLEEPERS; i < SLEEPERS + SUBS; i++) {
		t[i] =
		    rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUBTASK, 2, 0);
		f[i] = chi_submit(&t[i]->base);
	}
	pthread_create(&fin, NULL, finalize_thread, NULL);
	while (atomic_load(&chi__rt.state) != CHI__RT_STOPPING)
		usleep(100);
	/* submissions after finalize began fail, tasks in flight go on */
	late = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_NOOP, 0, 0);
	assert_int_equal(chi_run(&late->base), -ESHUTDOWN);
	assert_non_null(strstr(chi_error_last(), "shutting down"));
	assert_int_equal(atomic_load(&st->destroyed), destroyed);
	pthread_join(fin, NULL);
	for (int i = 0; i < SLEEPERS + SUBS; i++) {
		assert_true(chi_future_ready(f[i]));
		assert_int_equal(chi_wait(f[i]), 0);
		chi_task_free(t[i]);
	}
	/* both containers destroyed, after the tasks finished */
	assert_int_equal(atomic_load(&st->destroyed), destroyed + 2);
	assert_int_equal(chi_run(&late->base), -ESHUTDOWN);
	assert_non_null(strstr(chi_error_last(), "not running"));
	chi_task_free(late);
}

static void test_destroy_pool_with_tasks_in_flight(void **state)
{
	enum { N = 10 };
	chi_test_task *t[N];
	chi_future f[N];
	chi_test_stats *st;
	uint64_t destroyed;

	(void)state;
	assert_int_equal(rt_start(2, 256, NULL), 0);
	assert_int_equal(rt_make_test_pool(TEST_POOL_ID, "doomed", 1), 0);
	st = rt_test_stats();
	destroyed = atomic_load(&st->destroyed);
	for (int i = 0; i < N; i++) {
		t[i] = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SLEEP, 100000,
		                    0);
		f[i] = chi_submit(&t[i]->base);
	}
	assert_int_equal(chi_pool_destroy(TEST_POOL_ID), 0);
	assert_int_equal(atomic_load(&st->destroyed), destroyed + 1);
	for (int i = 0; i < N; i++) {
		/* destroy waited for them */
		assert_true(chi_future_ready(f[i]));
		assert_int_equal(chi_wait(f[i]), 0);
	}
	assert_int_equal(chi_run(&t[0]->base), -ENOENT);
	for (int i = 0; i < N; i++)
		chi_task_free(t[i]);
	chi_finalize();
}

static void test_restart(void **state)
{
	(void)state;
	for (int round = 0; round < 5; round++) {
		chi_test_task *t;

		assert_int_equal(rt_start(2, 64, NULL), 0);
		assert_int_equal(rt_make_test_pool(TEST_POOL_ID, "again", 1),
		                 0);
		t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_SUBTASK, 3, 0);
		assert_int_equal(chi_run(&t->base), 0);
		assert_int_equal(t->out, 4);
		chi_task_free(t);
		chi_finalize();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_modes),
	    cmocka_unit_test(test_init_from_file_and_twice),
	    cmocka_unit_test(test_finalize_with_tasks_in_flight),
	    cmocka_unit_test(test_destroy_pool_with_tasks_in_flight),
	    cmocka_unit_test(test_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
