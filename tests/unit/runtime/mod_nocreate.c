/* A module with the right ABI version but no create (loader tests). */
#include "chimaera/sys/module.h"

const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = "chimaera_nocreate",
};
