/* Pools, containers, modules, pool queries and the compose: list. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/sys/worker.h"

#include "chimaera/admin/admin.h"
#include "rt_test_util.h"

static int setup_2(void **state)
{
	(void)state;
	return rt_start(2, 256, NULL) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	chi_finalize();
	return 0;
}

static void test_pool_id_parse(void **state)
{
	chi_pool_id id;

	(void)state;
	assert_int_equal(chi_pool_id_parse(&id, "301.0"), 0);
	assert_int_equal(id.major, 301);
	assert_int_equal(id.minor, 0);
	assert_int_equal(chi_pool_id_parse(&id, "7"), 0);
	assert_int_equal(id.major, 7);
	assert_int_equal(id.minor, 0);
	assert_int_equal(chi_pool_id_parse(&id, "4294967295.12"), 0);
	assert_int_equal(id.major, 4294967295u);
	assert_int_equal(id.minor, 12);
	assert_int_equal(chi_pool_id_parse(&id, ""), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, "1.2.3"), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, "a.b"), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, "4294967296.0"), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, "-1.0"), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, "1."), -EINVAL);
	assert_int_equal(chi_pool_id_parse(&id, " 1.0"), -EINVAL);
}

static void test_null_id_and_name_rejected(void **state)
{
	chi_pool_id id = CHI_POOL_ID_NULL;
	chi_admin_get_or_create_pool_task *t;

	(void)state;
	assert_int_equal(
	    chi_pool_get_or_create(&id, CHI_TEST_MODULE, "p", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "null pool id"));
	id = (chi_pool_id){310, 0};
	assert_int_equal(
	    chi_pool_get_or_create(&id, CHI_TEST_MODULE, "", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "name is required"));
	assert_int_equal(
	    chi_pool_get_or_create(&id, CHI_TEST_MODULE, NULL, NULL, 0, 1),
	    -EINVAL);

	/* the admin module itself rejects it too (task built by hand) */
	t = chi_task_new(sizeof(*t), CHI_ADMIN_POOL_ID,
	                 CHI_ADMIN_METHOD_GET_OR_CREATE_POOL);
	t->pool_id = CHI_POOL_ID_NULL;
	t->module_name = CHI_TEST_MODULE;
	t->pool_name = "p";
	t->num_containers = 1;
	assert_int_equal(chi_run(&t->base), -EINVAL);
	assert_non_null(strstr(t->error, "null pool id"));
	t->pool_id = (chi_pool_id){310, 0};
	t->num_containers = 0;
	assert_int_equal(chi_run(&t->base), -EINVAL);
	assert_non_null(strstr(t->error, "container"));
	chi_task_free(t);
	assert_int_equal(chi_pool_find(&id, "p"), -ENOENT);
}

static void test_pool_create_get_destroy(void **state)
{
	chi_test_stats *st;
	chi_pool_id id = {320, 1}, again = {321, 0}, found;
	uint64_t created, destroyed;
	chi_test_task *t;

	(void)state;
	assert_int_equal(
	    chi_pool_get_or_create(&id, CHI_TEST_MODULE, "alpha", NULL, 0, 3),
	    0);
	assert_true(chi_pool_id_eq(id, (chi_pool_id){320, 1}));
	st = rt_test_stats();
	assert_non_null(st);
	created = atomic_load(&st->created);
	destroyed = atomic_load(&st->destroyed);

	/* existing name: returns the existing pool, client id updated */
	assert_int_equal(chi_pool_get_or_create(&again, CHI_TEST_MODULE,
	                                        "alpha", NULL, 0, 3),
	                 0);
	assert_true(chi_pool_id_eq(again, id));
	assert_int_equal(atomic_load(&st->created), created);
	assert_int_equal(chi_pool_find(&found, "alpha"), 0);
	assert_true(chi_pool_id_eq(found, id));

	/* id taken by another name */
	again = id;
	assert_int_equal(
	    chi_pool_get_or_create(&again, CHI_TEST_MODULE, "beta", NULL, 0, 1),
	    -EEXIST);
	assert_non_null(strstr(chi_error_last(), "alpha"));

	t = rt_test_task(id, CHI_TEST_METHOD_COUNT, 0, 0);
	assert_int_equal(chi_run(&t->base), 0);

	assert_int_equal(chi_pool_destroy(id), 0);
	assert_int_equal(atomic_load(&st->destroyed), destroyed + 3);
	assert_int_equal(chi_pool_find(&found, "alpha"), -ENOENT);
	assert_int_equal(chi_pool_destroy(id), -ENOENT);
	assert_non_null(strstr(chi_error_last(), "320.1"));
	assert_int_equal(chi_run(&t->base), -ENOENT);
	chi_task_free(t);
	/* the admin pool cannot be destroyed by a client */
	assert_int_equal(chi_pool_destroy(CHI_ADMIN_POOL_ID), -EPERM);

	/* the name and id can be used again */
	assert_int_equal(
	    chi_pool_get_or_create(&id, CHI_TEST_MODULE, "alpha", NULL, 0, 1),
	    0);
	assert_int_equal(chi_pool_destroy(id), 0);
}

static void test_module_load_errors(void **state)
{
	chi_pool_id id = {330, 0};

	(void)state;
	assert_int_equal(
	    chi_pool_get_or_create(&id, "chimaera_nope", "n", NULL, 0, 1),
	    -ENOENT);
	assert_non_null(strstr(chi_error_last(), "chimaera_nope"));
	assert_non_null(
	    strstr(chi_error_last(), "libchimaera_nope_runtime.so"));
	assert_non_null(strstr(chi_error_last(), "tried"));

	assert_int_equal(
	    chi_pool_get_or_create(&id, "chimaera_malformed", "m", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "chi_module_ops"));
	assert_non_null(strstr(chi_error_last(), "chimaera_malformed"));

	assert_int_equal(
	    chi_pool_get_or_create(&id, "chimaera_badabi", "b", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "abi_version"));

	assert_int_equal(
	    chi_pool_get_or_create(&id, "chimaera_nocreate", "c", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "create"));

	/* a method table entry with a function but no task size */
	assert_int_equal(
	    chi_pool_get_or_create(&id, "chimaera_badtable", "t", NULL, 0, 1),
	    -EINVAL);
	assert_non_null(strstr(chi_error_last(), "chimaera_badtable"));
	assert_non_null(strstr(chi_error_last(), "method 10"));
	assert_non_null(strstr(chi_error_last(), "task_size 0"));

	assert_int_equal(
	    chi_pool_get_or_create(&id, "../etc/x", "d", NULL, 0, 1), -EINVAL);
	/* "test" maps to libchimaera_test_runtime.so like "chimaera_test" */
	assert_int_equal(
	    chi_pool_get_or_create(&id, "test", "short_name", NULL, 0, 1), 0);
	assert_int_equal(chi_pool_destroy(id), 0);
	assert_int_equal(chi_pool_find(&id, "m"), -ENOENT);
}

static void test_create_failure_leaves_nothing(void **state)
{
	chi_test_params p = {.fail_create = -EIO, .pin_worker = -1};
	chi_pool_id id = {340, 0};

	(void)state;
	assert_int_equal(chi_pool_get_or_create(&id, CHI_TEST_MODULE, "failing",
	                                        &p, sizeof(p), 2),
	                 -EIO);
	assert_int_equal(chi_pool_find(&id, "failing"), -ENOENT);
	p.fail_create = 0;
	assert_int_equal(chi_pool_get_or_create(&id, CHI_TEST_MODULE, "failing",
	                                        &p, sizeof(p), 2),
	                 0);
	assert_int_equal(chi_pool_destroy(id), 0);
}

static void test_create_from_create(void **state)
{
	chi_test_params p = {.pin_worker = -1, .tag = 9, .sub_pool = 1};
	chi_pool_id id = {350, 0}, sub;

	(void)state;
	assert_int_equal(chi_pool_get_or_create(&id, CHI_TEST_MODULE, "outer",
	                                        &p, sizeof(p), 1),
	                 0);
	assert_int_equal(chi_pool_find(&sub, "sub_9"), 0);
	assert_true(chi_pool_id_eq(sub, (chi_pool_id){400, 9}));
	assert_int_equal(chi_pool_destroy(id), 0);
	assert_int_equal(chi_pool_destroy(sub), 0);
}

static void test_pinned_container(void **state)
{
	chi_test_params p = {.pin_worker = 1};
	chi_pool_id id = {360, 0};

	(void)state;
	assert_int_equal(chi_pool_get_or_create(&id, CHI_TEST_MODULE, "pinned",
	                                        &p, sizeof(p), 1),
	                 0);
	for (int i = 0; i < 50; i++) {
		chi_test_task *t =
		    rt_test_task(id, CHI_TEST_METHOD_COUNT, 0, 0);

		assert_int_equal(chi_run(&t->base), 0);
		assert_int_equal(t->worker, 1);
		chi_task_free(t);
	}
	assert_int_equal(chi_pool_destroy(id), 0);
}

static int run_query(chi_pool_id id, uint32_t method, chi_pool_query q,
                     uint64_t arg, uint64_t arg2, uint32_t *container)
{
	chi_test_task *t = rt_test_task(id, method, arg, arg2);
	int rc;

	t->base.query = q;
	t->container = 999;
	rc = chi_run(&t->base);
	if (container)
		*container = t->container;
	chi_task_free(t);
	return rc;
}

static void test_pool_queries(void **state)
{
	chi_pool_id id = {370, 0};
	chi_test_stats *st;
	uint32_t c;
	uint64_t ran;

	(void)state;
	assert_int_equal(rt_make_test_pool(id, "multi", 4), 0);
	st = rt_test_stats();

	assert_int_equal(
	    run_query(id, CHI_TEST_METHOD_COUNT, chi_query_local(), 0, 0, &c),
	    0);
	assert_int_equal(c, 0);
	for (uint32_t k = 0; k < 4; k++) {
		assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
		                           chi_query_direct_id(k), 0, 0, &c),
		                 0);
		assert_int_equal(c, k);
	}
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_direct_id(4), 0, 0, NULL),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "container 4"));
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_direct_hash(7), 0, 0, &c),
	                 0);
	assert_int_equal(c, 3);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_dynamic(), 0, 0, NULL),
	                 0);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_physical(0), 0, 0, NULL),
	                 0);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_physical(3), 0, 0, NULL),
	                 -ENOTSUP);
	assert_non_null(strstr(chi_error_last(), "node 3"));

	/* range: one copy per container */
	ran = atomic_load(&st->ran);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_range(1, 2), 0, 0, NULL),
	                 0);
	assert_int_equal(atomic_load(&st->ran), ran + 2);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_range(3, 2), 0, 0, NULL),
	                 -EINVAL);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_range(0, 0), 0, 0, NULL),
	                 -EINVAL);

	/* broadcast: every container; rc is the first error */
	ran = atomic_load(&st->ran);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_COUNT,
	                           chi_query_broadcast(), 0, 0, NULL),
	                 0);
	assert_int_equal(atomic_load(&st->ran), ran + 4);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_FAIL,
	                           chi_query_broadcast(), 5, 2, NULL),
	                 -5);
	assert_int_equal(run_query(id, CHI_TEST_METHOD_FAIL,
	                           chi_query_range(0, 2), 5, 2, NULL),
	                 0);
	/* broadcast copies that wait on subtasks */
	assert_int_equal(run_query(id, CHI_TEST_METHOD_SUBTASK,
	                           chi_query_broadcast(), 3, 0, NULL),
	                 0);
	/* fire-and-forget broadcast */
	{
		chi_test_task *t =
		    rt_test_task(id, CHI_TEST_METHOD_COUNT, 0, 0);

		ran = atomic_load(&st->ran);
		t->base.query = chi_query_broadcast();
		t->base.flags |= CHI_TASK_FIRE_AND_FORGET;
		chi_submit(&t->base);
		for (int i = 0; i < 5000 && atomic_load(&st->ran) < ran + 4;
		     i++)
			usleep(1000);
		assert_int_equal(atomic_load(&st->ran), ran + 4);
	}
	assert_int_equal(chi_pool_destroy(id), 0);
}

static void test_worker_watch_fd(void **state)
{
	chi_test_task *t;
	chi_test_stats *st = rt_test_stats();
	chi_future f;
	int fd, cbs;
	uint64_t one = 1;

	(void)state;
	assert_int_equal(rt_make_test_pool(TEST_POOL_ID, "watch", 1), 0);
	assert_int_equal(chi_worker_watch_fd(0, NULL, NULL), -EINVAL);
	atomic_store(&st->watch_fd, -1);
	cbs = atomic_load(&st->watch_callbacks);
	t = rt_test_task(TEST_POOL_ID, CHI_TEST_METHOD_WATCH, 0, 0);
	f = chi_submit(&t->base);
	while ((fd = atomic_load(&st->watch_fd)) < 0)
		usleep(100);
	usleep(100000); /* the worker goes to sleep in poll() */
	assert_false(chi_future_ready(f));
	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
	assert_int_equal(chi_wait(f), 0);
	assert_int_equal(atomic_load(&st->watch_callbacks), cbs + 1);
	chi_task_free(t);
	assert_int_equal(chi_pool_destroy(TEST_POOL_ID), 0);
}

/* ---- compose: (each test starts its own runtime) ---- */

static void test_compose_ok(void **state)
{
	chi_test_stats *st;
	chi_pool_id id;

	(void)state;
	assert_int_equal(rt_start(2, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: one\n"
	                          "    pool_id: \"501.0\"\n"
	                          "    pool_query: local\n"
	                          "    tag: 11\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: two\n"
	                          "    pool_id: \"502.3\"\n"
	                          "    pool_query: dynamic\n"
	                          "    num_containers: 3\n"
	                          "    tag: 12\n"),
	                 0);
	assert_int_equal(chi_pool_find(&id, "one"), 0);
	assert_true(chi_pool_id_eq(id, (chi_pool_id){501, 0}));
	assert_int_equal(chi_pool_find(&id, "two"), 0);
	assert_true(chi_pool_id_eq(id, (chi_pool_id){502, 3}));
	st = rt_test_stats();
	assert_int_equal(st->last_tag, 12); /* parse_params read the entry */
	assert_int_equal(chi_num_workers(), 2);
	assert_non_null(chi_config_current());
	chi_finalize();
	assert_int_equal(chi_num_workers(), 0);
	assert_null(chi_config_current());
}

static void test_compose_failure_unwinds(void **state)
{
	chi_test_stats *st = rt_test_stats();
	uint64_t created = atomic_load(&st->created);
	uint64_t destroyed = atomic_load(&st->destroyed);
	chi_pool_id id;

	(void)state;
	/* second entry's module create fails: the first pool is destroyed */
	assert_int_equal(rt_start(2, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: good\n"
	                          "    pool_id: \"601.0\"\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: bad\n"
	                          "    pool_id: \"602.0\"\n"
	                          "    fail: true\n"),
	                 -EIO);
	assert_non_null(strstr(chi_error_last(), "<test>:8"));
	assert_non_null(strstr(chi_error_last(), "bad"));
	assert_int_equal(chi_num_workers(), 0);
	assert_int_equal(chi_pool_find(&id, "good"), -ENOENT);
	assert_int_equal(atomic_load(&st->created), created + 1);
	assert_int_equal(atomic_load(&st->destroyed), destroyed + 1);

	/* malformed entries name file, line and key */
	assert_int_equal(rt_start(1, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: x\n"
	                          "    pool_id: \"0.0\"\n"),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "<test>:7"));
	assert_non_null(strstr(chi_error_last(), "pool_id"));
	assert_int_equal(rt_start(1, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_id: \"5.0\"\n"),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "pool_name"));
	assert_int_equal(rt_start(1, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_test\n"
	                          "    pool_name: x\n"
	                          "    pool_id: \"5.0\"\n"
	                          "    pool_query: everywhere\n"),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "everywhere"));
	assert_int_equal(rt_start(1, 128,
	                          "compose:\n"
	                          "  - mod_name: chimaera_missing\n"
	                          "    pool_name: x\n"
	                          "    pool_id: \"5.0\"\n"),
	                 -ENOENT);
	assert_non_null(strstr(chi_error_last(), "chimaera_missing"));
	assert_int_equal(chi_num_workers(), 0);
}

static void test_module_path_config(void **state)
{
	(void)state;
	assert_int_equal(
	    rt_start(1, 128,
	             "  module_path: /nonexistent/one:/nonexistent/two\n"
	             "compose:\n"
	             "  - mod_name: chimaera_absent\n"
	             "    pool_name: x\n"
	             "    pool_id: \"5.0\"\n"),
	    -ENOENT);
	assert_non_null(
	    strstr(chi_error_last(),
	           "/nonexistent/one/libchimaera_absent_runtime.so"));
	assert_non_null(strstr(chi_error_last(), "/nonexistent/two"));
}

int main(void)
{
	const struct CMUnitTest running[] = {
	    cmocka_unit_test(test_pool_id_parse),
	    cmocka_unit_test(test_null_id_and_name_rejected),
	    cmocka_unit_test(test_pool_create_get_destroy),
	    cmocka_unit_test(test_module_load_errors),
	    cmocka_unit_test(test_create_failure_leaves_nothing),
	    cmocka_unit_test(test_create_from_create),
	    cmocka_unit_test(test_pinned_container),
	    cmocka_unit_test(test_pool_queries),
	    cmocka_unit_test(test_worker_watch_fd),
	};
	const struct CMUnitTest compose[] = {
	    cmocka_unit_test(test_compose_ok),
	    cmocka_unit_test(test_compose_failure_unwinds),
	    cmocka_unit_test(test_module_path_config),
	};
	int fails = 0;

	fails +=
	    cmocka_run_group_tests_name("pools", running, setup_2, teardown);
	fails += cmocka_run_group_tests_name("compose", compose, NULL, NULL);
	return fails;
}
