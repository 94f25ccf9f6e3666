/*
 * bdev pools from the config's compose: list, across runtime restarts:
 * bad entries stop chi_init with a message naming file, line and key (or
 * the path and the reason), and a file device keeps its data from one
 * runtime to the next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/chimaera.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/chi_test_bdev_compose.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Start the runtime with one compose entry (its lines after mod_name). */
static int start(const char *entry)
{
	char yaml[2048];
	chi_config *cfg = NULL;
	int rc;

	snprintf(yaml, sizeof(yaml),
	         "runtime:\n"
	         "  num_threads: 2\n"
	         "compose:\n"
	         "  - mod_name: chimaera_bdev\n"
	         "    pool_id: \"820.0\"\n"
	         "%s",
	         entry);
	rc = chi_config_load_string(&cfg, yaml, "compose.yaml");
	if (rc)
		return rc;
	return chi_init_with_loaded_config(cfg);
}

static void test_bad_capacity(void **state)
{
	(void)state;
	assert_int_equal(start("    pool_name: \"ram::c1\"\n"
	                       "    bdev_type: ram\n"
	                       "    capacity: \"12 parsecs\"\n"),
	                 -EINVAL);
	assert_non_null(strstr(chi_error_last(), "compose.yaml:8"));
	assert_non_null(strstr(chi_error_last(), "capacity"));
	chi_finalize();
}

static void test_missing_directory(void **state)
{
	char entry[512];
	(void)state;

	snprintf(entry, sizeof(entry),
	         "    pool_name: %s/absent/dev.dat\n"
	         "    bdev_type: file\n"
	         "    capacity: 1MB\n",
	         tmpdir);
	assert_int_equal(start(entry), -ENOENT);
	assert_non_null(strstr(chi_error_last(), "absent/dev.dat"));
	assert_non_null(strstr(chi_error_last(), "does not exist"));
	chi_finalize();
}

static void test_file_survives_restart(void **state)
{
	char entry[512], path[300];
	chi_bdev_block b[CHI_BDEV_MAX_BLOCKS];
	chi_pool_id id;
	uint32_t n;
	char data[6000], back[6000];
	unsigned i;
	(void)state;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + 3);
	snprintf(path, sizeof(path), "%s/dev.dat", tmpdir);
	snprintf(entry, sizeof(entry),
	         "    pool_name: %s\n"
	         "    bdev_type: file\n"
	         "    capacity: 4MB\n"
	         "    io_depth: 8\n",
	         path);
	assert_int_equal(start(entry), 0);
	assert_int_equal(chi_pool_find(&id, path), 0);
	assert_int_equal(chi_bdev_allocate(id, sizeof(data), b, 4, &n), 0);
	assert_int_equal(
	    chi_bdev_write(id, b[0].offset + 100, data, sizeof(data)), 0);
	assert_int_equal(chi_bdev_sync(id), 0);
	chi_finalize();

	assert_int_equal(start(entry), 0);
	assert_int_equal(chi_pool_find(&id, path), 0);
	/* recovery: the journal would say which blocks are in use */
	assert_int_equal(chi_bdev_reserve(id, b, n), 0);
	memset(back, 0, sizeof(back));
	assert_int_equal(
	    chi_bdev_read(id, b[0].offset + 100, back, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	chi_finalize();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_capacity),
	    cmocka_unit_test(test_missing_directory),
	    cmocka_unit_test(test_file_survives_restart),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
