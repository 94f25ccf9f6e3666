/*
 * Module loading: find lib<name>_runtime.so on the search path, dlopen it
 * and validate its exported chi_module_ops.  Loaded modules stay loaded
 * until chi_finalize (their code may be running on any worker).
 *
 * Search path, in order: the config's runtime.module_path, then
 * $CHI_MODULE_PATH (both ':'-separated), then CHI_INSTALL_MODULE_DIR, then
 * CHI_BUILD_MODULE_DIR (compile-time definitions from CMake).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_i.h"

#ifndef CHI_INSTALL_MODULE_DIR
#define CHI_INSTALL_MODULE_DIR "/usr/local/lib"
#endif
#ifndef CHI_BUILD_MODULE_DIR
#define CHI_BUILD_MODULE_DIR ""
#endif

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static chi__module *modules; /* protected by modules_lock */

/* canonical name "chimaera_bdev" -> "libchimaera_bdev_runtime.so" */
static void module_file_name(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "lib%s_runtime.so", name);
}

static int valid_name(const char *name)
{
	if (!*name)
		return 0;
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

/* Append each ':'-separated entry of `list` to the dirs array. */
static void add_dirs(char ***dirs, size_t *n, size_t *cap, const char *list)
{
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len) {
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 8;
				char **nd = realloc(*dirs, nc * sizeof(char *));

				if (!nd)
					return;
				*dirs = nd;
				*cap = nc;
			}
			(*dirs)[*n] = strndup(p, len);
			if ((*dirs)[*n])
				(*n)++;
		}
		p = end ? end + 1 : NULL;
	}
}

/* The method table: present when it has entries, and every entry either
 * empty or a function with a task at least a chi_task long. */
static int validate_methods(const struct chi_module_ops *ops, const char *name,
                            const char *path)
{
	uint32_t id;

	if (ops->n_methods && !ops->methods)
		return chi_error_set(-EINVAL,
		                     "module %s (%s): n_methods is %u but the "
		                     "method table is NULL",
		                     name, path, ops->n_methods);
	for (id = 0; id < ops->n_methods; id++) {
		const struct chi_method *m = &ops->methods[id];

		if (m->fn && m->task_size < sizeof(chi_task))
			return chi_error_set(-EINVAL,
			                     "module %s (%s): method %u: "
			                     "task_size %zu is smaller than a "
			                     "chi_task (%zu)",
			                     name, path, id, m->task_size,
			                     sizeof(chi_task));
		if (!m->fn && m->task_size)
			return chi_error_set(-EINVAL,
			                     "module %s (%s): method %u: "
			                     "task_size %zu but no function",
			                     name, path, id, m->task_size);
	}
	return 0;
}

static int validate(const struct chi_module_ops *ops, const char *name,
                    const char *path)
{
	int rc;

	if (ops->abi_version != CHI_MODULE_ABI_VERSION)
		return chi_error_set(-EINVAL,
		                     "module %s (%s): abi_version %u, the "
		                     "runtime needs %u",
		                     name, path, ops->abi_version,
		                     CHI_MODULE_ABI_VERSION);
	if (!ops->create)
		return chi_error_set(-EINVAL,
		                     "module %s (%s): chi_module_ops.create "
		                     "is NULL",
		                     name, path);
	if (!ops->name)
		return chi_error_set(-EINVAL,
		                     "module %s (%s): chi_module_ops.name is "
		                     "NULL",
		                     name, path);
	rc = validate_methods(ops, name, path);
	if (rc)
		return rc;
	if (strcmp(ops->name, name) != 0)
		CHI_WARN("runtime", "module %s (%s) calls itself \"%s\"", name,
		         path, ops->name);
	return 0;
}

static int try_load(chi__module **out, const char *name, const char *path)
{
	void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct chi_module_ops *ops;
	chi__module *m;
	int rc;

	if (!handle)
		return chi_error_set(-EINVAL, "module %s: cannot load %s: %s",
		                     name, path, dlerror());
	ops = dlsym(handle, CHI_MODULE_SYMBOL);
	if (!ops) {
		rc = chi_error_set(-EINVAL,
		                   "module %s: %s does not export the symbol "
		                   "%s",
		                   name, path, CHI_MODULE_SYMBOL);
		goto err;
	}
	rc = validate(ops, name, path);
	if (rc)
		goto err;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->name = strdup(name))) {
		free(m);
		rc = -ENOMEM;
		goto err;
	}
	m->handle = handle;
	m->ops = ops;
	*out = m;
	CHI_INFO("runtime", "module %s loaded from %s", name, path);
	return 0;
err:
	dlclose(handle);
	return rc;
}

/* Load a module by name (or return it if loaded); see runtime_i.h.
 * "bdev" and "chimaera_bdev" name the same module. */
int chi__module_load(chi__module **out, const char *name_in)
{
	char file[300], path[PATH_MAX], tried[2048], name[256];
	char **dirs = NULL;
	size_t n_dirs = 0, cap = 0, used = 0;
	const chi_config *cfg = chi__rt.cfg;
	chi__module *m;
	int rc = -ENOENT;

	if (!name_in || !valid_name(name_in) || strlen(name_in) > 200)
		return chi_error_set(-EINVAL, "module name \"%s\" is not valid",
		                     name_in ? name_in : "(null)");
	if (strncmp(name_in, "chimaera_", 9) == 0 ||
	    strncmp(name_in, "wrp_", 4) == 0)
		snprintf(name, sizeof(name), "%s", name_in);
	else
		snprintf(name, sizeof(name), "chimaera_%s", name_in);
	pthread_mutex_lock(&modules_lock);
	for (m = modules; m; m = m->next) {
		if (strcmp(m->name, name) == 0) {
			*out = m;
			rc = 0;
			goto out;
		}
	}
	module_file_name(file, sizeof(file), name);
	if (cfg && cfg->module_path)
		add_dirs(&dirs, &n_dirs, &cap, cfg->module_path);
	add_dirs(&dirs, &n_dirs, &cap, getenv("CHI_MODULE_PATH"));
	add_dirs(&dirs, &n_dirs, &cap, CHI_INSTALL_MODULE_DIR);
	add_dirs(&dirs, &n_dirs, &cap, CHI_BUILD_MODULE_DIR);
	tried[0] = '\0';
	for (size_t i = 0; i < n_dirs; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], file);
		if (access(path, F_OK) != 0) {
			int k = snprintf(tried + used, sizeof(tried) - used,
			                 "%s%s", used ? ", " : "", path);

			if (k > 0 && (size_t)k < sizeof(tried) - used)
				used += (size_t)k;
			continue;
		}
		rc = try_load(&m, name, path);
		if (rc == 0) {
			m->next = modules;
			modules = m;
			*out = m;
		}
		goto out;
	}
	rc = chi_error_set(-ENOENT,
	                   "module %s not found: no %s; tried: %s (set "
	                   "runtime.module_path or CHI_MODULE_PATH)",
	                   name, file, used ? tried : "(empty search path)");
out:
	pthread_mutex_unlock(&modules_lock);
	for (size_t i = 0; i < n_dirs; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

/* At chi_finalize, after every pool is gone. */
void chi__modules_unload_all(void)
{
	pthread_mutex_lock(&modules_lock);
	while (modules) {
		chi__module *m = modules;

		modules = m->next;
#ifndef CHI_ASAN
		/* under ASan keep the code mapped so leak reports symbolize */
		dlclose(m->handle);
#endif
		free(m->name);
		free(m);
	}
	pthread_mutex_unlock(&modules_lock);
}
