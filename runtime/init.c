/*
 * Runtime start and stop, the compose: list, and the client side of the
 * admin module's pool calls.
 *
 * Start: load config -> start workers -> load the admin module and create
 * the admin pool (1.0) -> create each compose: pool in order (and CTE's
 * flat form) -> RUNNING.  Any failure unwinds everything already done
 * (pools destroyed, workers joined) and returns the error: the runtime
 * never runs half-configured.
 *
 * Stop: STOPPING (client submissions now fail with -ESHUTDOWN; tasks
 * already running may still submit subtasks) -> wait for in-flight tasks
 * -> destroy pools in reverse creation order (module destroy runs in an
 * admin task on a worker) -> admin pool -> join workers -> unload modules.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chimaera/admin/admin.h"
#include "chimaera/sys/pool.h"
#include "runtime_i.h"

struct chi__runtime chi__rt;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static int admin_destroy_pool(chi_pool_id id, int bypass)
{
	chi_admin_destroy_pool_task *t;
	int rc;

	t = chi_task_new(sizeof(*t), CHI_ADMIN_POOL_ID,
	                 CHI_ADMIN_METHOD_DESTROY_POOL);
	if (!t)
		return -ENOMEM;
	t->target = id;
	if (bypass)
		t->base.rt.internal |= CHI__TI_BYPASS_STOP;
	rc = chi_run(&t->base);
	if (rc && t->error[0])
		chi_error_set(rc, "%s", t->error);
	chi_task_free(t);
	return rc;
}

/* Everything chi_init did, undone; caller holds init_lock. */
static void shutdown_locked(void)
{
	chi__pool **pools = NULL;
	size_t n = 0;
	uint64_t start = chi__now_ns(), warned = 0;

	atomic_store(&chi__rt.state, CHI__RT_STOPPING);
	/* seq_cst store above pairs with chi_submit's inflight increment
	 * followed by its state load */
	while (chi__pools_inflight() > 0) {
		uint64_t secs = (chi__now_ns() - start) / 1000000000ull;

		if (secs >= 5 && secs / 5 != warned) {
			warned = secs / 5;
			CHI_WARN("runtime",
			         "chi_finalize: waiting for %lld "
			         "task(s) in flight",
			         (long long)chi__pools_inflight());
		}
		usleep(100);
	}
	if (chi__pools_snapshot(&pools, &n) == 0) {
		for (size_t i = n; i-- > 0;) {
			chi_pool_id id = pools[i]->id;
			int rc;

			if (id.major == CHI_ADMIN_POOL_MAJOR &&
			    id.minor == CHI_ADMIN_POOL_MINOR)
				continue;
			/* a module's destroy may have destroyed pools it
			 * created (CTE its bdev pools) */
			if (!chi__pool_lookup(id))
				continue;
			if (chi__rt.n_workers &&
			    chi__pool_lookup(CHI_ADMIN_POOL_ID))
				rc = admin_destroy_pool(id, 1);
			else
				rc = chi_pool_registry_destroy(id);
			if (rc)
				CHI_WARN("runtime", "destroying pool %s: %s",
				         pools[i]->name, chi_error_last());
		}
	}
	free(pools);
	if (chi__pool_lookup(CHI_ADMIN_POOL_ID))
		chi_pool_registry_destroy(CHI_ADMIN_POOL_ID);
	chi__workers_stop();
	chi__pools_free_all();
	chi__modules_unload_all();
	chi_config_free(chi__rt.cfg);
	chi__rt.cfg = NULL;
	atomic_store(&chi__rt.state, CHI__RT_OFF);
}

/* Prefix the thread's error message with the compose entry's place. */
static int entry_error(const chi_conf_node *e, const char *pool_name, int rc)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", chi_error_last());
	return chi_error_set(rc, "%s:%d: compose entry \"%s\": %s", e->file,
	                     e->line, pool_name ? pool_name : "?", msg);
}

static int create_from_entry(const chi_conf_node *e, const char *mod_name,
                             const char *pool_name, chi_pool_id id,
                             uint32_t n_containers)
{
	chi__module *mod;
	void *params = NULL;
	size_t params_size = 0;
	chi_pool_id got = id;
	int rc;

	rc = chi__module_load(&mod, mod_name);
	if (rc)
		return entry_error(e, pool_name, rc);
	if (mod->ops->parse_params) {
		rc = mod->ops->parse_params(e, &params, &params_size);
		if (rc)
			return rc; /* the module named file, line and key */
	}
	rc = chi_pool_get_or_create(&got, mod_name, pool_name, params,
	                            params_size, n_containers);
	free(params);
	if (rc)
		return entry_error(e, pool_name, rc);
	if (!chi_pool_id_eq(got, id))
		CHI_WARN("runtime",
		         "%s:%d: pool %s already exists with id %u.%u", e->file,
		         e->line, pool_name, got.major, got.minor);
	return 0;
}

static int compose_entry(const chi_conf_node *e)
{
	static const char *const required[] = {"mod_name", "pool_name",
	                                       "pool_id"};
	const char *vals[3] = {NULL, NULL, NULL};
	const char *query = "local";
	uint32_t n_containers = 1;
	chi_pool_id id;
	int rc;

	if (e->type != CHI_CONF_MAP)
		return chi_conf_error(e, -EINVAL,
		                      "a compose entry must be a map with "
		                      "mod_name, pool_name and pool_id");
	for (int i = 0; i < 3; i++) {
		rc = chi_conf_get_str(e, required[i], &vals[i]);
		if (rc)
			return rc;
		if (!vals[i] || !*vals[i])
			return chi_conf_error(e, -EINVAL,
			                      "compose entry: %s is required",
			                      required[i]);
	}
	if (chi_pool_id_parse(&id, vals[2]) || chi_pool_id_is_null(id))
		return chi_conf_error(
		    chi_conf_get(e, "pool_id"), -EINVAL,
		    "\"%s\" is not a pool id (\"major.minor\", "
		    "not 0.0)",
		    vals[2]);
	rc = chi_conf_get_str(e, "pool_query", &query);
	if (rc)
		return rc;
	if (strcmp(query, "local") != 0 && strcmp(query, "dynamic") != 0)
		return chi_conf_error(chi_conf_get(e, "pool_query"), -EINVAL,
		                      "\"%s\": expected local or dynamic",
		                      query);
	rc = chi_conf_get_u32(e, "num_containers", &n_containers);
	if (rc)
		return rc;
	if (n_containers == 0)
		return chi_conf_error(chi_conf_get(e, "num_containers"),
		                      -EINVAL, "must be at least 1");
	return create_from_entry(e, vals[0], vals[1], id, n_containers);
}

/*
 * Spin budgets.  Spinning hides wake-up latency only while every spinner
 * has a core of its own: with more CPUs than workers, idle workers spin
 * 50 us and client waiters 50 us.  With no more CPUs than workers (the
 * default cte-fuse setup: 2 workers on 2 cores, plus FUSE threads and the
 * application), spinners take the cores that the next step of the request
 * needs: idle-worker and waiter spinning was ~3/4 of the daemon's CPU time
 * in a stat loop, and cte-fuse unlinks ran ~1.6x and 4 KiB random writes
 * ~1.25x faster without it.  There workers sleep as soon as they are idle
 * and waiters spin only 5 us.  CHI_IDLE_SPIN_NS and CHI_WAIT_SPIN_NS (ns)
 * override both choices.
 */
static uint64_t env_ns(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || n > 1000000000ull) {
		CHI_WARN("runtime", "%s=%s: not a count of ns up to 1e9, "
		                    "ignored",
		         name, v);
		return dflt;
	}
	return n;
}

static void choose_spin(uint32_t n_workers)
{
	cpu_set_t set;
	long cpus = 0;
	bool roomy;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	if (cpus <= 0)
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	roomy = cpus > (long)n_workers;
	chi__rt.idle_spin_ns =
	    env_ns("CHI_IDLE_SPIN_NS", roomy ? 50000ull : 0);
	chi__rt.wait_spin_ns =
	    env_ns("CHI_WAIT_SPIN_NS", roomy ? 50000ull : 5000ull);
}

/* CHI_INLINE=0 turns inline execution off (tests of the worker paths,
 * comparisons); anything else, or unset, leaves it on. */
static void choose_inline(void)
{
	const char *v = getenv("CHI_INLINE");

	chi__rt.no_inline = v && !strcmp(v, "0");
}

static int start_locked(chi_config *cfg)
{
	chi_pool_id admin = CHI_ADMIN_POOL_ID;
	uint32_t n_workers = cfg->num_threads ? cfg->num_threads : 1;
	uint32_t depth = cfg->queue_depth ? cfg->queue_depth : 1024;
	int rc;

	chi__rt.cfg = cfg;
	choose_spin(n_workers);
	choose_inline();
	atomic_store(&chi__rt.state, CHI__RT_STARTING);
	rc = chi__pools_init();
	if (rc)
		goto fail;
	rc = chi__workers_start(n_workers, depth);
	if (rc)
		goto fail;
	/* the admin pool is bootstrapped directly: there is no admin task
	 * to run its creation yet */
	rc = chi_pool_registry_get_or_create(&admin, CHI_ADMIN_MODULE,
	                                     CHI_ADMIN_POOL_NAME, NULL, 0, 1);
	if (rc)
		goto fail;
	for (size_t i = 0; cfg->compose && i < cfg->compose->n_children; i++) {
		rc = compose_entry(&cfg->compose->children[i]);
		if (rc)
			goto fail;
	}
	if (cfg->cte_flat) {
		rc = create_from_entry(cfg->cte_flat, "wrp_cte_core",
		                       "cte_main", (chi_pool_id){512, 0}, 1);
		if (rc)
			goto fail;
	}
	atomic_store(&chi__rt.state, CHI__RT_RUNNING);
	CHI_INFO("runtime", "started: %u workers, lane depth %u, config %s",
	         n_workers, depth, cfg->path ? cfg->path : "?");
	return 0;
fail : {
	/* keep the message across the unwinding */
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s", chi_error_last());
	shutdown_locked();
	chi_error_set(rc, "%s", msg);
}
	return rc;
}

/*
 * Start the embedded runtime from an already-loaded config (ownership
 * passes to the runtime, also on error).
 */
int chi_init_with_loaded_config(chi_config *cfg)
{
	int rc;

	if (!cfg)
		return chi_error_set(-EINVAL, "chi_init: no configuration");
	pthread_mutex_lock(&init_lock);
	if (atomic_load(&chi__rt.state) != CHI__RT_OFF) {
		chi_config_free(cfg);
		rc = chi_error_set(-EALREADY, "chi_init: the runtime is "
		                              "already started");
	} else {
		rc = start_locked(cfg);
	}
	pthread_mutex_unlock(&init_lock);
	return rc;
}

/* Start with an explicit config path (NULL: the lookup order). */
int chi_init_with_config(chi_mode mode, int with_runtime,
                         const char *config_path)
{
	chi_config *cfg = NULL;
	int rc;

	if (mode != CHI_MODE_CLIENT || !with_runtime)
		return chi_error_set(-ENOTSUP,
		                     "chi_init: only the client with an "
		                     "embedded runtime (CHI_MODE_CLIENT, "
		                     "with_runtime=1) is supported; the "
		                     "separate runtime process is not built "
		                     "yet");
	rc = chi_config_load(&cfg, config_path);
	if (rc)
		return rc;
	return chi_init_with_loaded_config(cfg);
}

/* Start with the config lookup order. */
int chi_init(chi_mode mode, int with_runtime)
{
	return chi_init_with_config(mode, with_runtime, NULL);
}

/* Stop the runtime; safe to call when not started. */
void chi_finalize(void)
{
	if (chi__worker_current()) {
		/* it would join the calling worker thread */
		CHI_ERROR("runtime", "chi_finalize called on a worker thread; "
		                     "ignored");
		return;
	}
	pthread_mutex_lock(&init_lock);
	if (atomic_load(&chi__rt.state) != CHI__RT_OFF)
		shutdown_locked();
	pthread_mutex_unlock(&init_lock);
}

const chi_config *chi_config_current(void)
{
	return atomic_load(&chi__rt.state) == CHI__RT_OFF ? NULL : chi__rt.cfg;
}

uint32_t chi_num_workers(void)
{
	return atomic_load(&chi__rt.state) == CHI__RT_OFF ? 0
	                                                  : chi__rt.n_workers;
}

/* GetOrCreatePool through the admin module; see chimaera.h. */
int chi_pool_get_or_create(chi_pool_id *inout_id, const char *module_name,
                           const char *pool_name, const void *params,
                           size_t params_size, uint32_t num_containers)
{
	chi_admin_get_or_create_pool_task *t;
	int rc;

	if (!inout_id)
		return chi_error_set(-EINVAL, "chi_pool_get_or_create: "
		                              "inout_id is NULL");
	if (!pool_name || !*pool_name)
		return chi_error_set(-EINVAL, "chi_pool_get_or_create: a pool "
		                              "name is required");
	if (chi_pool_id_is_null(*inout_id))
		return chi_error_set(-EINVAL,
		                     "chi_pool_get_or_create(%s): the null "
		                     "pool id 0.0 is not allowed; give an "
		                     "explicit id such as \"300.0\"",
		                     pool_name);
	t = chi_task_new(sizeof(*t), CHI_ADMIN_POOL_ID,
	                 CHI_ADMIN_METHOD_GET_OR_CREATE_POOL);
	if (!t)
		return -ENOMEM;
	t->pool_id = *inout_id;
	t->module_name = module_name;
	t->pool_name = pool_name;
	t->params = params;
	t->params_size = params_size;
	t->num_containers = num_containers;
	rc = chi_run(&t->base);
	if (rc == 0)
		*inout_id = t->pool_id;
	else if (t->error[0])
		chi_error_set(rc, "%s", t->error);
	chi_task_free(t);
	return rc;
}

/* DestroyPool through the admin module; see chimaera.h. */
int chi_pool_destroy(chi_pool_id id)
{
	return admin_destroy_pool(id, 0);
}

/* Find a pool by name. */
int chi_pool_find(chi_pool_id *out, const char *pool_name)
{
	return chi_pool_registry_find(out, pool_name);
}
