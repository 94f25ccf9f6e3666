/* Helpers shared by the runtime unit tests (header-only, static). */
#ifndef CHI_RT_TEST_UTIL_H
#define CHI_RT_TEST_UTIL_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "chimaera/chimaera.h"
#include "mod_test.h"

#define TEST_POOL_ID ((chi_pool_id){300, 0})

/* Start the embedded runtime with `threads` workers; 0 or -errno. */
static inline int rt_start(unsigned threads, unsigned depth, const char *extra)
{
	char yaml[4096];
	chi_config *cfg = NULL;
	int rc;

	snprintf(yaml, sizeof(yaml),
	         "runtime:\n  num_threads: %u\n  queue_depth: %u\n%s", threads,
	         depth, extra ? extra : "");
	rc = chi_config_load_string(&cfg, yaml, "<test>");
	if (rc)
		return rc;
	return chi_init_with_loaded_config(cfg);
}

/* The test module's stats.  The test keeps its own reference to the
 * library, so the stats survive chi_finalize (which unloads modules). */
static inline chi_test_stats *rt_test_stats(void)
{
	static void *handle;

	if (!handle)
		handle = dlopen("libchimaera_test_runtime.so", RTLD_NOW);
	return handle ? dlsym(handle, "chi_test_module_stats") : NULL;
}

/* A test-module task of `method` for `pool`. */
static inline chi_test_task *rt_test_task(chi_pool_id pool, uint32_t method,
                                          uint64_t arg, uint64_t arg2)
{
	chi_test_task *t = chi_task_new(sizeof(*t), pool, method);

	if (t) {
		t->arg = arg;
		t->arg2 = arg2;
	}
	return t;
}

static inline int rt_make_test_pool(chi_pool_id id, const char *name,
                                    uint32_t containers)
{
	chi_pool_id got = id;

	return chi_pool_get_or_create(&got, CHI_TEST_MODULE, name, NULL, 0,
	                              containers);
}

#endif
