/*
 * The interface a module implements (libgit2's git2/sys/ pattern).
 *
 * A module is a shared library named libchimaera_<name>_runtime.so that
 * exports one symbol, CHI_MODULE_SYMBOL ("chi_module_ops"), a const
 * struct chi_module_ops.  The runtime finds it by name on the search path:
 * the config's runtime.module_path, then $CHI_MODULE_PATH (':'-separated),
 * then the install directory, then the build directory.
 *
 * module name "chimaera_bdev" -> file libchimaera_bdev_runtime.so;
 * a name already starting with a prefix ("wrp_cte_core") maps to
 * lib<name>_runtime.so as is ("chimaera_" is not doubled).
 *
 * A module's methods are one table of struct chi_method, indexed by method
 * id (the ids come from the module's chimaera_mod.yaml through its
 * generated autogen header), each entry the function and the size of its
 * task struct:
 *
 *	static const struct chi_method methods[CHI_BDEV_METHOD_TABLE_SIZE] = {
 *		[CHI_BDEV_METHOD_WRITE] = { m_write, sizeof(chi_bdev_io_task) },
 *		...
 *	};
 *	... .methods = methods, .n_methods = CHI_BDEV_METHOD_TABLE_SIZE, ...
 *
 * kCreate (0) and kDestroy (1) are the create and destroy callbacks, not
 * table entries.  The header's <PREFIX>_METHODS(X) list of every method in
 * the YAML lets a test check the table against it (test_method_tables).
 *
 * ABI 3 (this layout) replaced ABI 2's two parallel arrays, methods[] of
 * functions and task_sizes[] of sizes.  At load the runtime rejects a
 * table that is NULL with n_methods > 0, has a function whose task_size is
 * smaller than a chi_task, or gives a size for an id that has no function.
 * Dispatch reads only fn.
 */
#ifndef CHIMAERA_SYS_MODULE_H
#define CHIMAERA_SYS_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "chimaera/config.h"
#include "chimaera/task.h"
#include "chimaera/types.h"

#define CHI_MODULE_ABI_VERSION 3
#define CHI_MODULE_SYMBOL      "chi_module_ops"

/* Method ids 0-9 are reserved for the runtime; modules start at 10. */
#define CHI_METHOD_CREATE  0
#define CHI_METHOD_DESTROY 1
#define CHI_METHOD_FIRST_CUSTOM 10

struct chi_module_ops;

/* A container: one instance of a module's state inside a pool. */
typedef struct chi_container {
	chi_pool_id pool_id;
	uint32_t container_id;  /* 0 .. num_containers-1 */
	uint32_t num_containers;
	const char *pool_name;  /* borrowed from the pool */
	const struct chi_module_ops *ops;
	int pinned_worker;      /* -1: any worker; else tasks run there */
	void *state;            /* the module's, set by create */
} chi_container;

/* A method: runs on a worker, inside the task's coroutine (or, when the
 * module's inline_ok allows it, on the submitting client thread), so it may
 * submit subtasks and chi_wait() on them.  It sets task->rc (0 or -errno);
 * the runtime completes the task when it returns. */
typedef void (*chi_method_fn)(chi_container *container, chi_task *task);

/* One entry of a module's method table; { NULL, 0 } is an unknown id. */
struct chi_method {
	chi_method_fn fn;
	size_t task_size; /* sizeof the method's task struct, which starts
	                   * with a chi_task */
};

struct chi_module_ops {
	uint32_t abi_version; /* CHI_MODULE_ABI_VERSION */
	const char *name;     /* "chimaera_bdev" */

	/*
	 * Parse a compose: entry into the module's create-parameter struct.
	 * On success *out_params is malloc'd (freed by the runtime with free())
	 * and *out_size set.  Errors name file, line and key (chi_conf_error).
	 * May be NULL if the module takes no parameters.
	 */
	int (*parse_params)(const chi_conf_node *entry, void **out_params,
			    size_t *out_size);

	/* Create a container's state from params (may be NULL = defaults).
	 * Runs on a worker inside a task, so it may submit subtasks. */
	int (*create)(chi_container *container, const void *params,
		      size_t params_size);

	/* Destroy the state; runs on a worker inside a task. */
	void (*destroy)(chi_container *container);

	/* Methods indexed by id, n_methods entries (the generated
	 * <PREFIX>_METHOD_TABLE_SIZE).  An id past the end or with a NULL fn
	 * is an unknown method (-ENOSYS reply with a message naming module
	 * and id). */
	const struct chi_method *methods;
	uint32_t n_methods;

	/*
	 * Optional (NULL = never).  Nonzero when `task` may run to completion
	 * on the thread that submits it instead of on a worker: chi_run
	 * from a client thread (never from a worker, never chi_submit alone)
	 * then calls the method directly, sparing the thread hand-offs of a
	 * worker round trip.
	 * Say yes only for methods that
	 *   - do not depend on running on a worker (no per-worker state such
	 *     as an io_uring ring; the container is not pinned), and
	 *   - are safe on many threads at once (their own locks);
	 * they may still block: chi_wait on subtasks and the Co locks fall
	 * back to blocking the thread, with the task's group (subtasks it
	 * submits inherit the group, as from a worker).  Called on the
	 * submitting thread for every candidate task: keep it cheap.
	 */
	int (*inline_ok)(const chi_container *container, const chi_task *task);
};

#endif
