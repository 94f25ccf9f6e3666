/*
 * Pools and containers: the registry behind the admin module.
 *
 * DESIGN
 * Lookups (every chi_submit) are lock-free: the live pools are an immutable
 * array published through an atomic pointer (`live`); create and destroy
 * build a new array under `table_lock` and publish it with a release store
 * (paired with the acquire load in chi__pool_lookup).  Old arrays and pool
 * structs are kept until chi_finalize, so a lookup racing with a destroy
 * never touches freed memory; a destroyed pool is marked `dead` and its
 * in-flight count drained before its containers are destroyed (see
 * chi_submit for the Dekker pairing of `dead` and `inflight`).
 *
 * Creation runs module callbacks that may wait on subtasks, so it is
 * serialised by a CoMutex (`create_lock`) rather than a thread mutex; the
 * TaskId grouping lets a module's create create further pools (CTE making
 * its bdev pools).  `table_lock` is only ever held for a few instructions.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chimaera/sys/pool.h"
#include "runtime_i.h"

struct pool_table {
	size_t n;
	struct pool_table *retired_next;
	chi__pool *pools[];
};

static _Atomic(struct pool_table *) live;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_table *retired; /* protected by table_lock */
static chi__pool *all_pools;       /* protected by table_lock */
static uint64_t pool_seq;          /* protected by table_lock */
static chi_comutex create_lock;
static int create_lock_ready;

/*
 * Parse "major.minor" or "major" into *out; -EINVAL when malformed or out
 * of 32-bit range.
 */
int chi_pool_id_parse(chi_pool_id *out, const char *text)
{
	unsigned long long part[2] = {0, 0};
	int n = 0;
	const char *p = text;

	if (!out || !text || !*text)
		return -EINVAL;
	for (;;) {
		unsigned long long v = 0;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			v = v * 10 + (unsigned long long)(*p - '0');
			if (v > UINT32_MAX)
				return -EINVAL;
			p++;
		}
		part[n++] = v;
		if (*p == '\0')
			break;
		if (*p != '.' || n == 2)
			return -EINVAL;
		p++;
	}
	out->major = (uint32_t)part[0];
	out->minor = (uint32_t)part[1];
	return 0;
}

int chi__pools_init(void)
{
	struct pool_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	if (!create_lock_ready) {
		chi_comutex_init(&create_lock);
		create_lock_ready = 1;
	}
	atomic_store_explicit(&live, t, memory_order_release);
	return 0;
}

chi__pool *chi__pool_lookup(chi_pool_id id)
{
	/* acquire: pairs with the release store in publish() */
	struct pool_table *t =
	    atomic_load_explicit(&live, memory_order_acquire);

	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		if (chi_pool_id_eq(t->pools[i]->id, id))
			return t->pools[i];
	return NULL;
}

static chi__pool *find_by_name(struct pool_table *t, const char *name)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->pools[i]->name, name) == 0)
			return t->pools[i];
	return NULL;
}

static chi__pool *find_by_id(struct pool_table *t, chi_pool_id id)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (chi_pool_id_eq(t->pools[i]->id, id))
			return t->pools[i];
	return NULL;
}

/* Replace the live table: with `add` appended and/or `drop` removed.
 * Caller holds table_lock. */
static int publish(chi__pool *add, chi__pool *drop)
{
	struct pool_table *old = atomic_load(&live);
	size_t n = old ? old->n : 0, k = 0;
	struct pool_table *t =
	    calloc(1, sizeof(*t) + (n + 1) * sizeof(chi__pool *));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (old->pools[i] != drop)
			t->pools[k++] = old->pools[i];
	if (add)
		t->pools[k++] = add;
	t->n = k;
	/* release: pairs with the acquire load in chi__pool_lookup */
	atomic_store_explicit(&live, t, memory_order_release);
	if (old) {
		old->retired_next = retired;
		retired = old;
	}
	return 0;
}

int chi__pools_snapshot(chi__pool ***out, size_t *out_n)
{
	struct pool_table *t;
	int rc = 0;

	pthread_mutex_lock(&table_lock);
	t = atomic_load(&live);
	*out_n = t ? t->n : 0;
	*out = calloc(*out_n + 1, sizeof(chi__pool *));
	if (!*out)
		rc = -ENOMEM;
	else if (t)
		memcpy(*out, t->pools, t->n * sizeof(chi__pool *));
	pthread_mutex_unlock(&table_lock);
	return rc;
}

int64_t chi__pools_inflight(void)
{
	struct pool_table *t =
	    atomic_load_explicit(&live, memory_order_acquire);
	int64_t sum = 0;

	for (size_t i = 0; t && i < t->n; i++)
		sum += atomic_load(&t->pools[i]->inflight);
	return sum;
}

static void destroy_containers(chi__pool *p, uint32_t n_created)
{
	for (uint32_t i = n_created; i-- > 0;) {
		chi_container *c = &p->containers[i];

		if (p->module->ops->destroy)
			p->module->ops->destroy(c);
		c->state = NULL;
	}
}

/*
 * Build pool `name` with `n` containers; the module's create runs for each.
 * On failure nothing is left behind.
 */
static int build_pool(chi__pool **out, chi__module *mod, chi_pool_id id,
                      const char *name, const void *params, size_t params_size,
                      uint32_t n)
{
	chi__pool *p = calloc(1, sizeof(*p));
	uint32_t made = 0;
	int rc = -ENOMEM;

	if (!p)
		goto out;
	p->id = id;
	p->module = mod;
	p->n_containers = n;
	p->name = strdup(name);
	p->containers = calloc(n, sizeof(chi_container));
	if (!p->name || !p->containers)
		goto err;
	for (; made < n; made++) {
		chi_container *c = &p->containers[made];

		c->pool_id = id;
		c->container_id = made;
		c->num_containers = n;
		c->pool_name = p->name;
		c->ops = mod->ops;
		c->pinned_worker = -1;
		rc = mod->ops->create(c, params, params_size);
		if (rc) {
			if (!chi_error_last()[0])
				chi_error_set(rc,
				              "pool %s: module %s create "
				              "failed for container %u: %s",
				              name, mod->name, made,
				              strerror(-rc));
			goto err;
		}
	}
	*out = p;
	return 0;
err:
	destroy_containers(p, made);
	free(p->containers);
	free(p->name);
	free(p);
out:
	return rc;
}

/* Create or find a pool; see chimaera/sys/pool.h. */
int chi_pool_registry_get_or_create(chi_pool_id *inout_id,
                                    const char *module_name,
                                    const char *pool_name, const void *params,
                                    size_t params_size, uint32_t num_containers)
{
	chi__module *mod = NULL;
	chi__pool *p = NULL, *existing;
	struct pool_table *t;
	chi_pool_id id;
	int rc = 0;

	if (!inout_id || !pool_name || !*pool_name)
		return chi_error_set(-EINVAL, "GetOrCreatePool: a pool name is "
		                              "required");
	if (!module_name || !*module_name)
		return chi_error_set(-EINVAL,
		                     "GetOrCreatePool(%s): a module "
		                     "name is required",
		                     pool_name);
	id = *inout_id;
	if (chi_pool_id_is_null(id))
		return chi_error_set(-EINVAL,
		                     "GetOrCreatePool(%s): the null pool id "
		                     "0.0 is not allowed; give an explicit id "
		                     "such as \"300.0\"",
		                     pool_name);
	if (num_containers == 0)
		return chi_error_set(-EINVAL,
		                     "GetOrCreatePool(%s): at least "
		                     "one container is required",
		                     pool_name);

	chi_comutex_lock(&create_lock);
	t = atomic_load(&live);
	existing = find_by_name(t, pool_name);
	if (existing) {
		*inout_id = existing->id;
		goto out_unlock;
	}
	existing = find_by_id(t, id);
	if (existing) {
		rc = chi_error_set(-EEXIST,
		                   "GetOrCreatePool(%s): pool id %u.%u is "
		                   "already used by pool \"%s\"",
		                   pool_name, id.major, id.minor,
		                   existing->name);
		goto out_unlock;
	}
	rc = chi__module_load(&mod, module_name);
	if (rc)
		goto out_unlock;
	chi_error_clear();
	rc = build_pool(&p, mod, id, pool_name, params, params_size,
	                num_containers);
	if (rc)
		goto out_unlock;

	pthread_mutex_lock(&table_lock);
	/* same-group creators may have raced us past create_lock */
	t = atomic_load(&live);
	existing = find_by_name(t, pool_name);
	if (!existing && find_by_id(t, id)) {
		rc = chi_error_set(-EEXIST,
		                   "GetOrCreatePool(%s): pool id "
		                   "%u.%u was taken meanwhile",
		                   pool_name, id.major, id.minor);
	} else if (!existing) {
		p->seq = ++pool_seq;
		rc = publish(p, NULL);
		if (!rc) {
			p->next_all = all_pools;
			all_pools = p;
			p = NULL;
		}
	} else {
		*inout_id = existing->id;
	}
	pthread_mutex_unlock(&table_lock);
	if (p) { /* not published: undo */
		destroy_containers(p, p->n_containers);
		free(p->containers);
		free(p->name);
		free(p);
	}
	if (!rc)
		CHI_INFO("runtime", "pool %s (%u.%u) of module %s created",
		         pool_name, id.major, id.minor, module_name);
out_unlock:
	chi_comutex_unlock(&create_lock);
	return rc;
}

/* Destroy a pool; see chimaera/sys/pool.h. */
int chi_pool_registry_destroy(chi_pool_id id)
{
	chi__pool *p;
	int rc = 0;

	if (id.major == CHI_ADMIN_POOL_MAJOR &&
	    id.minor == CHI_ADMIN_POOL_MINOR &&
	    atomic_load(&chi__rt.state) != CHI__RT_STOPPING)
		return chi_error_set(-EPERM, "DestroyPool: the admin pool "
		                             "1.0 cannot be destroyed");
	chi_comutex_lock(&create_lock);
	pthread_mutex_lock(&table_lock);
	p = find_by_id(atomic_load(&live), id);
	if (!p) {
		rc = chi_error_set(-ENOENT, "DestroyPool: no pool %u.%u",
		                   id.major, id.minor);
	} else {
		/* seq_cst: pairs with chi_submit's inflight increment and
		 * dead load */
		atomic_store(&p->dead, 1);
		rc = publish(NULL, p);
		if (rc)
			atomic_store(&p->dead, 0);
	}
	pthread_mutex_unlock(&table_lock);
	chi_comutex_unlock(&create_lock);
	if (rc)
		return rc;

	/* let tasks in flight finish (this task is not counted in p) */
	while (atomic_load(&p->inflight) > 0) {
		if (chi_task_self())
			chi_task_yield();
		else
			usleep(50);
	}
	destroy_containers(p, p->n_containers);
	CHI_INFO("runtime", "pool %s (%u.%u) destroyed", p->name, id.major,
	         id.minor);
	return 0;
}

/* Find a live pool by name. */
int chi_pool_registry_find(chi_pool_id *out, const char *pool_name)
{
	struct pool_table *t =
	    atomic_load_explicit(&live, memory_order_acquire);
	chi__pool *p;

	if (!out || !pool_name)
		return -EINVAL;
	p = find_by_name(t, pool_name);
	if (!p)
		return -ENOENT;
	*out = p->id;
	return 0;
}

/* At chi_finalize, after workers stopped: free every table and pool. */
void chi__pools_free_all(void)
{
	struct pool_table *t = atomic_exchange(&live, NULL);

	pthread_mutex_lock(&table_lock);
	free(t);
	while (retired) {
		t = retired;
		retired = t->retired_next;
		free(t);
	}
	while (all_pools) {
		chi__pool *p = all_pools;

		all_pools = p->next_all;
		free(p->containers);
		free(p->name);
		free(p);
	}
	pool_seq = 0;
	pthread_mutex_unlock(&table_lock);
}
