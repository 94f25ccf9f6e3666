/*
 * The admin module (chimaera_admin): pool management as tasks.  The admin
 * pool (id 1.0, name "chimaera_admin") exists from chi_init on.  Clients
 * normally use chi_pool_get_or_create() / chi_pool_destroy() in
 * chimaera.h, which submit these tasks; the structs are public so that
 * tasks can also be built and submitted by hand.
 */
#ifndef CHIMAERA_ADMIN_ADMIN_H
#define CHIMAERA_ADMIN_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "chimaera/admin/autogen/admin_methods.h"
#include "chimaera/task.h"
#include "chimaera/types.h"

#define CHI_ADMIN_POOL_ID   ((chi_pool_id){1, 0})
#define CHI_ADMIN_ERROR_LEN 512

/* kGetOrCreatePool.  The strings and params are borrowed from the
 * submitter, who must keep them valid until the task completes. */
typedef struct chi_admin_get_or_create_pool_task {
	chi_task base;
	chi_pool_id pool_id;             /* IN: wanted id; OUT: the pool's id */
	const char *module_name;         /* IN */
	const char *pool_name;           /* IN */
	const void *params;              /* IN: module create parameters */
	size_t params_size;              /* IN */
	uint32_t num_containers;         /* IN, >= 1 */
	char error[CHI_ADMIN_ERROR_LEN]; /* OUT: message when rc != 0 */
} chi_admin_get_or_create_pool_task;

/* kDestroyPool */
typedef struct chi_admin_destroy_pool_task {
	chi_task base;
	chi_pool_id target;              /* IN */
	char error[CHI_ADMIN_ERROR_LEN]; /* OUT */
} chi_admin_destroy_pool_task;

/* kNoop: does nothing (round-trip benchmarks). */
typedef struct chi_admin_noop_task {
	chi_task base;
} chi_admin_noop_task;

#endif
