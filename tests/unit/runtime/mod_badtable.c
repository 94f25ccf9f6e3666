/* A module whose method table has a function without its task size
 * (loader tests). */
#include "chimaera/sys/module.h"

static int badtable_create(chi_container *c, const void *params, size_t size)
{
	(void)c;
	(void)params;
	(void)size;
	return 0;
}

static void m_noop(chi_container *c, chi_task *task)
{
	(void)c;
	task->rc = 0;
}

static const struct chi_method badtable_methods[CHI_METHOD_FIRST_CUSTOM + 1] = {
    [CHI_METHOD_FIRST_CUSTOM] = {m_noop, 0},
};

const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = "chimaera_badtable",
    .create = badtable_create,
    .methods = badtable_methods,
    .n_methods = CHI_METHOD_FIRST_CUSTOM + 1,
};
