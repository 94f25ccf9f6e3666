/*
 * Each module's method table against its chimaera_mod.yaml: the generated
 * <PREFIX>_METHODS(X) list names every method, so a YAML method without a
 * table entry, a table entry the YAML does not have, or an entry without
 * its task size fails here (the modules are loaded from CHI_MODULE_PATH
 * with dlopen, as the runtime does).
 */
#include <dlfcn.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chimaera/sys/module.h"
#include "chimaera/admin/autogen/admin_methods.h"
#include "chimaera/bdev/autogen/bdev_methods.h"
#include "cte/autogen/cte_methods.h"

/* One row of the arrays below, from a module's list. */
#define ID_ROW(id, name)   id,
#define NAME_ROW(id, name) #name,

struct module_list {
	const char *lib;          /* libchimaera_bdev_runtime.so */
	const uint32_t *ids;      /* every method in the YAML, id order */
	const char *const *names; /* their YAML names */
	size_t n;                 /* <PREFIX>_METHOD_COUNT */
	uint32_t table_size;      /* <PREFIX>_METHOD_TABLE_SIZE */
	const char *(*name_of)(uint32_t id); /* <prefix>_method_name */
};

static const uint32_t admin_ids[] = {CHI_ADMIN_METHODS(ID_ROW)};
static const char *const admin_names[] = {CHI_ADMIN_METHODS(NAME_ROW)};
static const uint32_t bdev_ids[] = {CHI_BDEV_METHODS(ID_ROW)};
static const char *const bdev_names[] = {CHI_BDEV_METHODS(NAME_ROW)};
static const uint32_t cte_ids[] = {CTE_METHODS(ID_ROW)};
static const char *const cte_names[] = {CTE_METHODS(NAME_ROW)};

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(N_ROWS(admin_ids) == CHI_ADMIN_METHOD_COUNT, "admin list");
_Static_assert(N_ROWS(bdev_ids) == CHI_BDEV_METHOD_COUNT, "bdev list");
_Static_assert(N_ROWS(cte_ids) == CTE_METHOD_COUNT, "cte list");

static void check_module(const struct module_list *ml)
{
	const char *dir = getenv("CHI_MODULE_PATH");
	const struct chi_module_ops *ops;
	char path[PATH_MAX];
	uint32_t id, n_fns = 0;
	void *handle;
	size_t i;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, ml->lib);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle)
		fail_msg("dlopen %s: %s", path, dlerror());
	ops = dlsym(handle, CHI_MODULE_SYMBOL);
	assert_non_null(ops);
	assert_int_equal(ops->abi_version, CHI_MODULE_ABI_VERSION);
	assert_int_equal(ops->n_methods, ml->table_size);
	assert_non_null(ops->methods);

	/* every YAML method past the runtime's ids has a function and a
	 * task that starts with a chi_task; the list agrees with the
	 * generated name lookup */
	for (i = 0; i < ml->n; i++) {
		const struct chi_method *m = &ops->methods[ml->ids[i]];

		assert_true(ml->ids[i] < ops->n_methods);
		assert_string_equal(ml->name_of(ml->ids[i]), ml->names[i]);
		if (i && ml->ids[i] <= ml->ids[i - 1])
			fail_msg("%s: list not in id order at %s", ml->lib,
			         ml->names[i]);
		if (ml->ids[i] < CHI_METHOD_FIRST_CUSTOM)
			continue;
		if (!m->fn)
			fail_msg("%s: %s (%u) has no function", ml->lib,
			         ml->names[i], ml->ids[i]);
		if (m->task_size < sizeof(chi_task))
			fail_msg("%s: %s (%u): task_size %zu", ml->lib,
			         ml->names[i], ml->ids[i], m->task_size);
	}
	/* and the table has nothing else: kCreate and kDestroy are the
	 * create and destroy callbacks, not table entries */
	for (id = 0; id < ops->n_methods; id++)
		if (ops->methods[id].fn)
			n_fns++;
	for (id = 0; id < CHI_METHOD_FIRST_CUSTOM; id++)
		assert_null(ops->methods[id].fn);
	assert_int_equal(n_fns, ml->n - 2);
	dlclose(handle);
}

/* A module_list row: the library, the arrays' prefix (admin_ids), the
 * macro PREFIX and the function prefix of the module's generated header. */
#define MODULE(lib_, arrays, PREFIX, prefix)                                   \
	{                                                                      \
		.lib = lib_, .ids = arrays##_ids, .names = arrays##_names,     \
		.n = PREFIX##_METHOD_COUNT,                                    \
		.table_size = PREFIX##_METHOD_TABLE_SIZE,                      \
		.name_of = prefix##_method_name,                               \
	}

static const struct module_list modules[] = {
    MODULE("libchimaera_admin_runtime.so", admin, CHI_ADMIN, chi_admin),
    MODULE("libchimaera_bdev_runtime.so", bdev, CHI_BDEV, chi_bdev),
    MODULE("libwrp_cte_core_runtime.so", cte, CTE, cte),
};

/* One test per module; *state is its entry in modules[]. */
static void test_table(void **state)
{
	check_module(*state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    {.name = "admin_table",
	     .test_func = test_table,
	     .initial_state = (void *)&modules[0]},
	    {.name = "bdev_table",
	     .test_func = test_table,
	     .initial_state = (void *)&modules[1]},
	    {.name = "cte_table",
	     .test_func = test_table,
	     .initial_state = (void *)&modules[2]},
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
