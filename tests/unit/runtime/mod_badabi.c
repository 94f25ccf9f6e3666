/* A module with a wrong ABI version and no create (loader tests). */
#include "chimaera/sys/module.h"

const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION + 98,
    .name = "chimaera_badabi",
};
