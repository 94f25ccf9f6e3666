/* Smoke: create a CTE pool with a RAM and a file target; write, read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cte_test_util.h"

static void smoke(void **state)
{
	struct cte_params p;
	cte_client c;
	char path[512], buf[10000], out[10000];
	cte_attr a, got;
	uint64_t n;
	int rc;

	(void)state;
	assert_int_equal(cte_test_runtime_start(2), 0);
	cte_test_params(&p);
	cte_test_add_target(&p, "ram::smoke_ram", CHI_BDEV_RAM, 64 << 20, 1.0);
	snprintf(path, sizeof(path), "%s/smoke.bdev", cte_test_dir());
	cte_test_add_target(&p, path, CHI_BDEV_FILE, 64 << 20, 0.2);
	rc = cte_test_pool(&c, "smoke", 1, &p, NULL);
	if (rc)
		fprintf(stderr, "pool: %d %s\n", rc, chi_error_last());
	assert_int_equal(rc, 0);
	a = cte_test_attr(S_IFREG | 0644);
	assert_int_equal(cte_ns_create(&c, CTE_ROOT_ID, "f", &a, NULL, &got),
	                 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(cte_blob_write(&c, got.id, 100, buf, sizeof(buf)), 0);
	assert_int_equal(cte_blob_read(&c, got.id, 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(out));
	for (int i = 0; i < 100; i++)
		assert_int_equal(out[i], 0);
	for (int i = 100; i < 10000; i++)
		assert_int_equal(out[i], 'x');
	assert_int_equal(cte_ns_getattr(&c, got.id, &got), 0);
	assert_int_equal(got.size, 10100);
	assert_int_equal(got.alloc_bytes, 12288);
	chi_finalize();
	unlink(path);
	cte_test_rm_dir(cte_test_dir());
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(smoke)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
