/*
 * The wrp_cte_core module: its ops table (chi_module_ops), the compose
 * entry's parameters, and the methods, each a thin shell that unpacks its
 * task and calls the core (ns.c, xattr.c, names.c, blobio.c, target.c,
 * durable.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chimaera/config.h"
#include "chimaera/error.h"
#include "chimaera/log.h"
#include "chimaera/sys/module.h"
#include "blobio_i.h"
#include "core_i.h"
#include "durable_i.h"
#include "ns_i.h"
#include "target_i.h"
#include "cte/cte_tasks.h"

#define CORE(c) ((struct cte_core *)(c)->state)

/* ------------------------------------------------------------------ */
/* parameters                                                           */

static int parse_target(const chi_conf_node *n, struct cte_conf_target *t)
{
	static const char *const known[] = {
	    "path", "bdev_type", "capacity_limit", "capacity", "score", NULL};
	const char *path = NULL, *type = NULL;
	int rc;

	if (n->type != CHI_CONF_MAP)
		return chi_conf_error(n, -EINVAL,
		                      "a storage entry must be a "
		                      "map with path, bdev_type, "
		                      "capacity_limit");
	chi_conf_warn_unknown(n, known, "storage");
	if ((rc = chi_conf_get_str(n, "path", &path)))
		return rc;
	if (!path || !*path)
		return chi_conf_error(n, -EINVAL, "path is required");
	if (strlen(path) >= sizeof(t->path) - 32)
		return chi_conf_error(chi_conf_get(n, "path"), -EINVAL,
		                      "path too long");
	snprintf(t->path, sizeof(t->path), "%s", path);
	t->type = strncmp(path, "ram::", 5) ? CHI_BDEV_FILE : CHI_BDEV_RAM;
	if ((rc = chi_conf_get_str(n, "bdev_type", &type)))
		return rc;
	if (type) {
		if (!strcmp(type, "ram"))
			t->type = CHI_BDEV_RAM;
		else if (!strcmp(type, "file"))
			t->type = CHI_BDEV_FILE;
		else
			return chi_conf_error(chi_conf_get(n, "bdev_type"),
			                      -EINVAL,
			                      "\"%s\" is not ram or "
			                      "file",
			                      type);
	}
	t->capacity = 0;
	if ((rc = chi_conf_get_size(n, "capacity", &t->capacity)) ||
	    (rc = chi_conf_get_size(n, "capacity_limit", &t->capacity)))
		return rc;
	if (!t->capacity)
		return chi_conf_error(n, -EINVAL,
		                      "capacity_limit is required "
		                      "and must be > 0");
	t->score = -1.0;
	if ((rc = chi_conf_get_double(n, "score", &t->score)))
		return rc;
	if (t->score != -1.0 && !(t->score >= 0.0 && t->score <= 1.0))
		return chi_conf_error(chi_conf_get(n, "score"), -EINVAL,
		                      "%g is not in [0, 1] (or -1: measured)",
		                      t->score);
	return 0;
}

static int parse_performance(const chi_conf_node *n, struct cte_params *p)
{
	static const char *const known[] = {"stat_targets_period_ms",
	                                    "score_difference_threshold",
	                                    "flush_metadata_period_ms",
	                                    "metadata_log_path",
	                                    "default_score",
	                                    "telemetry_log_size",
	                                    "metadata_journal",
	                                    "checkpoint_log_size",
	                                    "checkpoint_period_ms",
	                                    NULL};
	const char *log_path = NULL;
	int rc;

	if (n->type != CHI_CONF_MAP)
		return chi_conf_error(n, -EINVAL, "performance must be a map");
	chi_conf_warn_unknown(n, known, "performance");
	if ((rc = chi_conf_get_u32(n, "stat_targets_period_ms",
	                           &p->stat_targets_period_ms)) ||
	    (rc = chi_conf_get_double(n, "score_difference_threshold",
	                              &p->score_difference_threshold)) ||
	    (rc = chi_conf_get_u32(n, "flush_metadata_period_ms",
	                           &p->flush_metadata_period_ms)) ||
	    (rc = chi_conf_get_str(n, "metadata_log_path", &log_path)) ||
	    (rc = chi_conf_get_double(n, "default_score", &p->default_score)) ||
	    (rc = chi_conf_get_u32(n, "telemetry_log_size",
	                           &p->telemetry_capacity)) ||
	    (rc = chi_conf_get_size(n, "checkpoint_log_size",
	                            &p->checkpoint_log_size)) ||
	    (rc = chi_conf_get_u32(n, "checkpoint_period_ms",
	                           &p->checkpoint_period_ms)))
		return rc;
	{
		int on = (int)p->metadata_journal;

		if ((rc = chi_conf_get_bool(n, "metadata_journal", &on)))
			return rc;
		p->metadata_journal = on ? 1 : 0;
	}
	if (!(p->score_difference_threshold >= 0.0 &&
	      p->score_difference_threshold <= 1.0))
		return chi_conf_error(
		    chi_conf_get(n, "score_difference_threshold"), -EINVAL,
		    "must be in [0, 1]");
	if (!(p->default_score >= 0.0 && p->default_score <= 1.0))
		return chi_conf_error(chi_conf_get(n, "default_score"), -EINVAL,
		                      "must be in [0, 1]");
	if (log_path) {
		if (strlen(log_path) >= sizeof(p->metadata_log_path))
			return chi_conf_error(
			    chi_conf_get(n, "metadata_log_path"), -EINVAL,
			    "path too long");
		snprintf(p->metadata_log_path, sizeof(p->metadata_log_path),
		         "%s", log_path);
	}
	if (!p->telemetry_capacity)
		return chi_conf_error(chi_conf_get(n, "telemetry_log_size"),
		                      -EINVAL, "must be > 0");
	return 0;
}

/* Parse a compose entry (or the flat top-level form) into cte_params. */
static int cte_parse_params(const chi_conf_node *entry, void **out_params,
                            size_t *out_size)
{
	static const char *const known[] = {
	    "mod_name", "pool_name", "pool_query", "pool_id", "num_containers",
	    "storage", "dpe", "performance",
	    /* the flat form's other top-level keys */
	    "runtime", "compose", "worker_count", "networking", "logging",
	    NULL};
	static const char *const dpe_known[] = {"dpe_type", NULL};
	struct cte_params *p = malloc(sizeof(*p));
	const chi_conf_node *n;
	size_t i;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	cte__params_default(p);
	if (!entry)
		goto done;
	chi_conf_warn_unknown(entry, known, "wrp_cte_core");
	n = chi_conf_get(entry, "storage");
	if (n) {
		if (n->type != CHI_CONF_SEQ) {
			rc = chi_conf_error(n, -EINVAL,
			                    "storage must be a list");
			goto fail;
		}
		if (n->n_children > CTE_MAX_CONF_TARGETS) {
			rc = chi_conf_error(n, -EINVAL, "at most %d targets",
			                    CTE_MAX_CONF_TARGETS);
			goto fail;
		}
		for (i = 0; i < n->n_children; i++) {
			rc = parse_target(&n->children[i], &p->targets[i]);
			if (rc)
				goto fail;
		}
		p->n_targets = (uint32_t)n->n_children;
	}
	n = chi_conf_get(entry, "dpe");
	if (n) {
		const char *type = NULL;
		enum cte_dpe dpe;

		if (n->type != CHI_CONF_MAP) {
			rc = chi_conf_error(n, -EINVAL,
			                    "dpe must be a map "
			                    "with dpe_type");
			goto fail;
		}
		chi_conf_warn_unknown(n, dpe_known, "dpe");
		rc = chi_conf_get_str(n, "dpe_type", &type);
		if (rc)
			goto fail;
		if (type) {
			if (cte__dpe_parse(type, &dpe)) {
				rc = chi_conf_error(chi_conf_get(n, "dpe_type"),
				                    -EINVAL,
				                    "\"%s\": expected "
				                    "random, round_robin or "
				                    "max_bw",
				                    type);
				goto fail;
			}
			p->dpe = dpe;
		}
	}
	n = chi_conf_get(entry, "performance");
	if (n && (rc = parse_performance(n, p)))
		goto fail;
done:
	*out_params = p;
	*out_size = sizeof(*p);
	return 0;
fail:
	free(p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* create / destroy                                                     */

static void destroy_targets(struct cte_core *core)
{
	uint32_t i;

	for (i = 0; i < core->n_target_slots; i++)
		if (core->targets[i].active)
			chi_bdev_destroy(core->targets[i].pool);
}

static int cte_create(chi_container *container, const void *params,
                      size_t params_size)
{
	struct cte_params defaults;
	const struct cte_params *p = params;
	struct cte_core *core = NULL;
	uint32_t i;
	int rc;

	if (!p || params_size != sizeof(*p)) {
		if (p && params_size)
			return chi_error_set(-EINVAL,
			                     "wrp_cte_core: params "
			                     "of %zu bytes, expected %zu",
			                     params_size, sizeof(*p));
		cte__params_default(&defaults);
		p = &defaults;
	}
	if (container->num_containers > 1)
		return chi_error_set(-EINVAL,
		                     "wrp_cte_core: one container "
		                     "per pool is supported, not %u",
		                     container->num_containers);
	rc = cte__core_new(&core, p);
	if (rc)
		return rc;
	for (i = 0; i < p->n_targets; i++) {
		const struct cte_conf_target *t = &p->targets[i];

		rc = cte__target_register(core, t->path, t->type, t->capacity,
		                          t->score);
		if (rc) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", chi_error_last());
			destroy_targets(core);
			cte__core_free(core);
			return chi_error_set(rc,
			                     "wrp_cte_core: storage target "
			                     "%s: %s",
			                     t->path,
			                     *msg ? msg : strerror(-rc));
		}
	}
	rc = cte__durable_open(core);
	if (rc) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", chi_error_last());
		destroy_targets(core);
		cte__core_free(core);
		return chi_error_set(rc, "wrp_cte_core: %s",
		                     *msg ? msg : strerror(-rc));
	}
	if (!p->n_targets)
		CHI_WARN("cte",
		         "pool %s has no storage targets: every write "
		         "will fail with ENOSPC",
		         container->pool_name);
	container->state = core;
	return 0;
}

static void cte_destroy(chi_container *container)
{
	struct cte_core *core = CORE(container);

	if (!core)
		return;
	cte__durable_close(core);
	destroy_targets(core);
	cte__core_free(core);
	container->state = NULL;
}

/* ------------------------------------------------------------------ */
/* methods                                                              */

#define METHOD(fn, type)                                                       \
	static void fn##_impl(struct cte_core *core, type *t);                 \
	static void fn(chi_container *c, chi_task *task)                       \
	{                                                                      \
		fn##_impl(CORE(c), (type *)task);                              \
	}                                                                      \
	static void fn##_impl(struct cte_core *core, type *t)

METHOD(m_register_target, cte_target_task)
{
	t->base.rc =
	    cte__target_register(core, t->path, t->type, t->capacity, t->score);
}

METHOD(m_unregister_target, cte_target_task)
{
	t->base.rc = cte__target_unregister(core, t->path);
}

METHOD(m_list_targets, cte_target_task)
{
	t->base.rc = cte__target_list(core, &t->list, &t->n);
}

METHOD(m_stat_targets, cte_misc_task)
{
	t->base.rc = cte__target_stat(core);
}

METHOD(m_get_target_info, cte_target_task)
{
	t->base.rc = cte__target_info(core, t->path, t->info);
}

METHOD(m_get_or_create_tag, cte_tag_task)
{
	t->base.rc = cte__tag_get_or_create(core, t->name, &t->tag);
}

METHOD(m_del_tag, cte_tag_task)
{
	t->base.rc = cte__tag_del(core, t->tag);
}

METHOD(m_get_tag_size, cte_tag_task)
{
	t->base.rc = cte__tag_get_size(core, t->tag, &t->size);
}

METHOD(m_contained_blobs, cte_tag_task)
{
	t->base.rc = cte__tag_contained_blobs(core, t->tag, &t->names, &t->n);
}

METHOD(m_tag_query, cte_tag_task)
{
	t->base.rc = cte__tag_query(core, t->name, &t->names, &t->n);
}

METHOD(m_blob_query, cte_tag_task)
{
	t->base.rc = cte__blob_query(core, t->name, t->name2, &t->names, &t->n);
}

METHOD(m_rename_tag, cte_tag_task)
{
	t->base.rc = cte__tag_rename(core, t->name, t->name2);
}

METHOD(m_get_tag_name, cte_tag_task)
{
	t->base.rc = cte__tag_get_name(core, t->tag, &t->path);
}

/* Resolve a blob task's target: by id, else by (tag, name). */
static int resolve(struct cte_core *core, cte_blob_task *t, bool create)
{
	if (t->blob != CTE_ID_NONE)
		return 0;
	if (!t->name)
		return -EINVAL;
	return cte__blob_by_name(core, t->tag, t->name, create, &t->blob);
}

METHOD(m_put_blob, cte_blob_task)
{
	bool created = t->blob == CTE_ID_NONE;
	int rc = resolve(core, t, t->flags & CTE_BLOB_CREATE);

	if (!rc && t->score >= 0) {
		double cur = -1;

		cte__blob_get_score(core, t->blob, &cur);
		if (cur != t->score)
			rc = cte__blob_set_score(core, t->blob, t->score);
	}
	(void)created;
	if (!rc)
		rc = cte__blob_write_ex(core, t->blob, t->off, t->wbuf, t->len,
		                        t->flags & CTE_BLOB_KEEP_TIMES);
	t->base.rc = rc;
}

METHOD(m_get_blob, cte_blob_task)
{
	int rc = resolve(core, t, false);

	if (!rc)
		rc = cte__blob_read(core, t->blob, t->off, t->rbuf, t->len,
		                    &t->out_n);
	t->base.rc = rc;
}

METHOD(m_reorganize_blob, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_set_score(core, t->blob, t->score);
}

METHOD(m_del_blob, cte_blob_task)
{
	/* by name: remove the name; a blob left without names goes now */
	if (t->blob == CTE_ID_NONE)
		t->base.rc =
		    cte__ns_unlink(core, t->tag, t->name, false, true, NULL);
	else
		t->base.rc = cte__blob_destroy(core, t->blob);
}

METHOD(m_get_blob_score, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_get_score(core, t->blob, &t->score);
}

METHOD(m_get_blob_size, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_get_size(core, t->blob, &t->out_n);
}

METHOD(m_get_blob_info, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_info(core, t->blob, &t->info);
}

METHOD(m_truncate_blob, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_truncate(core, t->blob, t->off);
}

METHOD(m_fallocate_blob, cte_blob_task)
{
	int rc = resolve(core, t, false);

	if (rc)
		t->base.rc = rc;
	else if (t->flags & CTE_BLOB_PUNCH_HOLE)
		t->base.rc = cte__blob_punch(core, t->blob, t->off, t->len);
	else
		t->base.rc = cte__blob_fallocate(core, t->blob, t->off, t->len,
		                                 t->flags & CTE_BLOB_KEEP_SIZE);
}

METHOD(m_sync_blob, cte_blob_task)
{
	int rc = resolve(core, t, false);

	t->base.rc = rc ? rc : cte__blob_sync(core, t->blob);
}

METHOD(m_destroy_blob, cte_blob_task)
{
	t->base.rc = cte__blob_destroy(core, t->blob);
}

METHOD(m_rename_blob, cte_blob_task)
{
	t->base.rc = cte__ns_rename(core, t->tag, t->name, t->dst_tag,
	                            t->dst_name, 0, true, NULL);
}

METHOD(m_poll_telemetry, cte_misc_task)
{
	cte__telemetry_poll(&core->telemetry, t->min_time, t->entries, t->max,
	                    &t->out_n, &t->dropped);
	t->base.rc = 0;
}

METHOD(m_flush_metadata, cte_misc_task)
{
	/* every committed metadata record durable (0 without a journal) */
	t->base.rc = cte__durable_wait(core);
}

METHOD(m_flush_data, cte_misc_task)
{
	t->base.rc = cte__sync_all(core);
}

METHOD(m_ns_lookup, cte_ns_task)
{
	t->base.rc = cte__ns_lookup(core, t->parent, t->name, &t->out_attr);
}

METHOD(m_ns_getattr, cte_ns_task)
{
	t->base.rc = cte__ns_getattr(core, t->id, &t->out_attr);
}

METHOD(m_ns_setattr, cte_ns_task)
{
	t->base.rc =
	    cte__ns_setattr(core, t->id, &t->attr, t->mask, &t->out_attr);
}

METHOD(m_ns_create, cte_ns_task)
{
	t->base.rc = cte__ns_create(core, t->parent, t->name, &t->attr,
	                            t->symlink, &t->out_attr);
}

METHOD(m_ns_link, cte_ns_task)
{
	t->base.rc =
	    cte__ns_link(core, t->id, t->parent2, t->name2, &t->out_attr);
}

METHOD(m_ns_unlink, cte_ns_task)
{
	t->base.rc = cte__ns_unlink(core, t->parent, t->name, t->dir, false,
	                            &t->out_attr);
}

METHOD(m_ns_rename, cte_ns_task)
{
	t->base.rc = cte__ns_rename(core, t->parent, t->name, t->parent2,
	                            t->name2, t->flags, false, &t->out_id);
}

METHOD(m_ns_readdir, cte_ns_task)
{
	t->base.rc = cte__ns_readdir(core, t->id, t->cookie, t->dirents, t->max,
	                             &t->out_n);
}

METHOD(m_ns_readlink, cte_ns_task)
{
	t->base.rc = cte__ns_readlink(core, t->id, t->buf, t->size);
}

METHOD(m_ns_forget, cte_ns_task)
{
	t->base.rc = cte__ns_forget(core, t->id);
}

METHOD(m_statfs, cte_ns_task)
{
	t->base.rc = cte__statfs(core, &t->stats);
}

METHOD(m_xattr_set, cte_xattr_task)
{
	t->base.rc =
	    cte__xattr_set(core, t->id, t->name, t->value, t->size, t->flags);
}

METHOD(m_xattr_get, cte_xattr_task)
{
	t->base.rc =
	    cte__xattr_get(core, t->id, t->name, t->buf, t->size, &t->out_size);
}

METHOD(m_xattr_list, cte_xattr_task)
{
	t->base.rc =
	    cte__xattr_list(core, t->id, t->buf, t->size, &t->out_size);
}

METHOD(m_xattr_remove, cte_xattr_task)
{
	t->base.rc = cte__xattr_remove(core, t->id, t->name);
}

/* Indexed by method id (cte/autogen/cte_methods.h, from chimaera_mod.yaml):
 * each method's function and the size of its task. */
static const struct chi_method methods[CTE_METHOD_TABLE_SIZE] = {
    [CTE_METHOD_REGISTER_TARGET] = {m_register_target, sizeof(cte_target_task)},
    [CTE_METHOD_UNREGISTER_TARGET] = {m_unregister_target,
                                      sizeof(cte_target_task)},
    [CTE_METHOD_LIST_TARGETS] = {m_list_targets, sizeof(cte_target_task)},
    [CTE_METHOD_STAT_TARGETS] = {m_stat_targets, sizeof(cte_misc_task)},
    [CTE_METHOD_GET_OR_CREATE_TAG] = {m_get_or_create_tag,
                                      sizeof(cte_tag_task)},
    [CTE_METHOD_PUT_BLOB] = {m_put_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_GET_BLOB] = {m_get_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_REORGANIZE_BLOB] = {m_reorganize_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_DEL_BLOB] = {m_del_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_DEL_TAG] = {m_del_tag, sizeof(cte_tag_task)},
    [CTE_METHOD_GET_TAG_SIZE] = {m_get_tag_size, sizeof(cte_tag_task)},
    [CTE_METHOD_POLL_TELEMETRY_LOG] = {m_poll_telemetry, sizeof(cte_misc_task)},
    [CTE_METHOD_GET_BLOB_SCORE] = {m_get_blob_score, sizeof(cte_blob_task)},
    [CTE_METHOD_GET_BLOB_SIZE] = {m_get_blob_size, sizeof(cte_blob_task)},
    [CTE_METHOD_GET_CONTAINED_BLOBS] = {m_contained_blobs,
                                        sizeof(cte_tag_task)},
    [CTE_METHOD_GET_BLOB_INFO] = {m_get_blob_info, sizeof(cte_blob_task)},
    [CTE_METHOD_TAG_QUERY] = {m_tag_query, sizeof(cte_tag_task)},
    [CTE_METHOD_BLOB_QUERY] = {m_blob_query, sizeof(cte_tag_task)},
    [CTE_METHOD_GET_TARGET_INFO] = {m_get_target_info, sizeof(cte_target_task)},
    [CTE_METHOD_FLUSH_METADATA] = {m_flush_metadata, sizeof(cte_misc_task)},
    [CTE_METHOD_FLUSH_DATA] = {m_flush_data, sizeof(cte_misc_task)},
    [CTE_METHOD_NS_LOOKUP] = {m_ns_lookup, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_GETATTR] = {m_ns_getattr, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_SETATTR] = {m_ns_setattr, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_CREATE] = {m_ns_create, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_LINK] = {m_ns_link, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_UNLINK] = {m_ns_unlink, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_RENAME] = {m_ns_rename, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_READDIR] = {m_ns_readdir, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_READLINK] = {m_ns_readlink, sizeof(cte_ns_task)},
    [CTE_METHOD_NS_FORGET] = {m_ns_forget, sizeof(cte_ns_task)},
    [CTE_METHOD_GET_TAG_NAME] = {m_get_tag_name, sizeof(cte_tag_task)},
    [CTE_METHOD_STATFS] = {m_statfs, sizeof(cte_ns_task)},
    [CTE_METHOD_XATTR_SET] = {m_xattr_set, sizeof(cte_xattr_task)},
    [CTE_METHOD_XATTR_GET] = {m_xattr_get, sizeof(cte_xattr_task)},
    [CTE_METHOD_XATTR_LIST] = {m_xattr_list, sizeof(cte_xattr_task)},
    [CTE_METHOD_XATTR_REMOVE] = {m_xattr_remove, sizeof(cte_xattr_task)},
    [CTE_METHOD_TRUNCATE_BLOB] = {m_truncate_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_FALLOCATE_BLOB] = {m_fallocate_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_SYNC_BLOB] = {m_sync_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_DESTROY_BLOB] = {m_destroy_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_RENAME_BLOB] = {m_rename_blob, sizeof(cte_blob_task)},
    [CTE_METHOD_RENAME_TAG] = {m_rename_tag, sizeof(cte_tag_task)},
};

/*
 * Every CTE method may run inline on the submitting client thread (see
 * inline_ok in chimaera/sys/module.h): the core guards its state with its
 * own locks (ns_lock, target_lock, the per-blob and quiesce CoRwLocks),
 * keeps no per-worker state, and waits for durability and for bdev
 * subtasks in ways that also work from a plain thread.  The FUSE daemon's
 * metadata calls then cost no worker round trip.
 */
static int cte_inline_ok(const chi_container *c, const chi_task *t)
{
	(void)c;
	return t->method >= CHI_METHOD_FIRST_CUSTOM;
}

__attribute__((visibility("default")))
const struct chi_module_ops chi_module_ops = {
    .abi_version = CHI_MODULE_ABI_VERSION,
    .name = CTE_MODULE_NAME,
    .parse_params = cte_parse_params,
    .create = cte_create,
    .destroy = cte_destroy,
    .methods = methods,
    .n_methods = CTE_METHOD_TABLE_SIZE,
    .inline_ok = cte_inline_ok,
};
