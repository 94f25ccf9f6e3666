/*
 * The admin module: runs GetOrCreatePool and DestroyPool as tasks (so a
 * module's create/destroy callbacks run on a worker, inside a coroutine,
 * and may wait on subtasks), and a no-op method for benchmarks.  The pool
 * registry itself lives in the runtime (chimaera/sys/pool.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "chimaera/admin/admin.h"
#include "chimaera/error.h"
#include "chimaera/sys/module.h"
#include "chimaera/sys/pool.h"

static void copy_error(char *dst, int rc)
{
	const char *msg = chi_error_last();

	if (msg && *msg)
		snprintf(dst, CHI_ADMIN_ERROR_LEN, "%s", msg);
	else
		snprintf(dst, CHI_ADMIN_ERROR_LEN, "%s", strerror(-rc));
}

static void get_or_create_pool(chi_container *c, chi_task *task)
{
	chi_admin_get_or_create_pool_task *t =
	    (chi_admin_get_or_create_pool_task *)task;

	(void)c;
	chi_error_clear();
	t->error[0] = '\0';
	task->rc = chi_pool_registry_get_or_create(
	    &t->pool_id, t->module_name, t->pool_name, t->params,
	    t->params_size, t->num_containers);
	if (task->rc)
		copy_error(t->error, task->rc);
}

static void destroy_pool(chi_container *c, chi_task *task)
{
	chi_admin_destroy_pool_task *t = (chi_admin_destroy_pool_task *)task;

	(void)c;
	chi_error_clear();
	t->error[0] = '\0';
	task->rc = chi_pool_registry_destroy(t->target);
	if (task->rc)
		copy_error(t->error, task->rc);
}

static void noop(chi_container *c, chi_task *task)
{
	(void)c;
	task->rc = 0;
}

static int admin_create(chi_container *c, const void *params, size_t size)
{
	(void)params;
	(void)size;
	c->state = NULL;
	return 0;
}

static void admin_destroy(chi_container *c)
{
	c->state = NULL;
}

static const struct chi_method admin_methods[CHI_ADMIN_METHOD_TABLE_SIZE] = {
    [CHI_ADMIN_METHOD_GET_OR_CREATE_POOL] =
        {get_or_create_pool, sizeof(chi_admin_get_or_create_pool_task)},
    [CHI_ADMIN_METHOD_DESTROY_POOL] = {destroy_pool,
                                       sizeof(chi_admin_destroy_pool_task)},
    [CHI_ADMIN_METHOD_NOOP] = {noop, sizeof(chi_admin_noop_task)},
};

const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = "chimaera_admin",
    .parse_params = NULL,
    .create = admin_create,
    .destroy = admin_destroy,
    .methods = admin_methods,
    .n_methods = CHI_ADMIN_METHOD_TABLE_SIZE,
};
