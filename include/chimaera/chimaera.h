/*
 * The Chimaera runtime's client API: start/stop, pools.
 *
 *   chi_init(CHI_MODE_CLIENT, true);   // client with an embedded runtime
 *   ... submit tasks through module client APIs ...
 *   chi_finalize();
 */
#ifndef CHIMAERA_CHIMAERA_H
#define CHIMAERA_CHIMAERA_H

#include <stddef.h>
#include <stdint.h>

#include "chimaera/config.h"
#include "chimaera/error.h"
#include "chimaera/log.h"
#include "chimaera/task.h"
#include "chimaera/types.h"

/* The module guide's modes. */
typedef enum chi_mode {
	CHI_MODE_CLIENT = 0, /* an application; with_runtime = embedded */
	CHI_MODE_SERVER,     /* the separate runtime process (later issue) */
	CHI_MODE_RUNTIME,    /* alias kept for upstream compatibility */
} chi_mode;

/*
 * Start the runtime in this process.  Only (CHI_MODE_CLIENT, true), the
 * embedded runtime, works; other combinations return -ENOTSUP with a message
 * saying the separate runtime process is not built yet.  Loads the config
 * (lookup order in config.h), starts the workers, loads the admin module and
 * creates the compose: pools.  Errors: -EINVAL (config, message names file,
 * line, key), -ENOENT (a module not found), -EALREADY (already started).
 */
int chi_init(chi_mode mode, int with_runtime);

/* Same, with an explicit config path (NULL = lookup order). */
int chi_init_with_config(chi_mode mode, int with_runtime,
			 const char *config_path);

/* Same, from an already-loaded config (ownership passes to the runtime). */
int chi_init_with_loaded_config(chi_config *cfg);

/*
 * Stop: waits for tasks in flight to finish, destroys pools (module destroy
 * callbacks run) in reverse creation order, joins workers, unloads modules.
 * Client submissions made after it began complete with -ESHUTDOWN.  Safe to
 * call when not started; must not be called from a task.
 */
void chi_finalize(void);

/* The running configuration (borrowed), or NULL when not started. */
const chi_config *chi_config_current(void);

/* Number of worker threads, 0 when not started. */
uint32_t chi_num_workers(void);

/* ---- pools (admin module) ---- */

/*
 * GetOrCreatePool: create pool `pool_name` of module `module_name` with id
 * *inout_id, or return the existing pool of that name.  On return *inout_id
 * holds the pool's actual id (the client updates its id from the reply, as
 * the module guide requires).  `params` is the module's create-parameter
 * struct (module-specific, copied; may be NULL for defaults) of
 * `params_size` bytes.  `num_containers` >= 1.
 * Errors: -EINVAL (null id, empty name, bad params; message), -ENOENT (module
 * not found; message names the module and the paths searched), -EEXIST (the
 * id is taken by another pool name), or the module create callback's error.
 */
int chi_pool_get_or_create(chi_pool_id *inout_id, const char *module_name,
			   const char *pool_name, const void *params,
			   size_t params_size, uint32_t num_containers);

/* DestroyPool: destroy a pool; -ENOENT if there is none. */
int chi_pool_destroy(chi_pool_id id);

/* Find a pool by name: 0 and *out, or -ENOENT. */
int chi_pool_find(chi_pool_id *out, const char *pool_name);

#endif
