/*
 * Pool registry services behind the admin module (modules/admin), which
 * runs GetOrCreatePool and DestroyPool as tasks and calls these from them.
 * Clients do not call these: they use chi_pool_get_or_create(),
 * chi_pool_destroy() and chi_pool_find() in chimaera.h, which submit the
 * admin tasks.
 *
 * Both run module callbacks (create/destroy), which may submit subtasks and
 * wait, so they must be called inside a task.  Creation is serialised by a
 * CoMutex; a module's create may itself create pools (its subtasks belong
 * to the same TaskId group and re-enter).  Errors are recorded with
 * chi_error_set() on the calling thread.
 */
#ifndef CHIMAERA_SYS_POOL_H
#define CHIMAERA_SYS_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "chimaera/types.h"

/*
 * Create pool `pool_name` of module `module_name` with id *inout_id and
 * `num_containers` containers (module create runs for each with `params`),
 * or find the existing pool of that name and store its id in *inout_id.
 * Errors: -EINVAL (null id, empty name, zero containers), -ENOENT (module
 * not found), -EEXIST (id used by another name), or the module's error.
 */
int chi_pool_registry_get_or_create(chi_pool_id *inout_id,
                                    const char *module_name,
                                    const char *pool_name, const void *params,
                                    size_t params_size,
                                    uint32_t num_containers);

/*
 * Destroy a pool: new tasks for it fail with -ENOENT, tasks in flight
 * finish, then the module destroy runs for each container.  Errors:
 * -ENOENT (no such pool), -EPERM (the admin pool).
 */
int chi_pool_registry_destroy(chi_pool_id id);

/* Find a live pool by name: 0 and *out, or -ENOENT. */
int chi_pool_registry_find(chi_pool_id *out, const char *pool_name);

#endif
