/*
 * The CTE client library: each function of cte.h builds its task, runs it
 * on the CTE pool (chi_run: submit and wait) and copies the results out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chimaera/chimaera.h"
#include "cte/cte_tasks.h"

#define NEW_TASK(type, var, c, method)                                         \
	type *var =                                                            \
	    chi_task_new(sizeof(type), (c)->pool_id, CTE_METHOD_##method);     \
	if (!var)                                                              \
	return -ENOMEM

int cte_client_init(cte_client *c, const char *pool_name)
{
	return chi_pool_find(&c->pool_id,
	                     pool_name ? pool_name : CTE_DEFAULT_POOL_NAME);
}

/* Run a task, free it, return its rc. */
static int run_free(void *task)
{
	int rc = chi_run(task);

	chi_task_free(task);
	return rc;
}

/* ---- targets ---- */

int cte_target_register(cte_client *c, const char *path, chi_bdev_type type,
                        uint64_t capacity, double score)
{
	NEW_TASK(cte_target_task, t, c, REGISTER_TARGET);
	t->path = path;
	t->type = type;
	t->capacity = capacity;
	t->score = score;
	return run_free(t);
}

int cte_target_unregister(cte_client *c, const char *path)
{
	NEW_TASK(cte_target_task, t, c, UNREGISTER_TARGET);
	t->path = path;
	return run_free(t);
}

int cte_target_list(cte_client *c, cte_target_info **out, size_t *out_n)
{
	int rc;

	NEW_TASK(cte_target_task, t, c, LIST_TARGETS);
	rc = chi_run(&t->base);
	if (!rc) {
		*out = t->list;
		*out_n = t->n;
	}
	chi_task_free(t);
	return rc;
}

int cte_target_stat(cte_client *c)
{
	NEW_TASK(cte_misc_task, t, c, STAT_TARGETS);
	return run_free(t);
}

int cte_target_get_info(cte_client *c, const char *path, cte_target_info *out)
{
	NEW_TASK(cte_target_task, t, c, GET_TARGET_INFO);
	t->path = path;
	t->info = out;
	return run_free(t);
}

/* ---- namespace ---- */

int cte_ns_lookup(cte_client *c, cte_id parent, const char *name, cte_attr *out)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_LOOKUP);
	t->parent = parent;
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc && out)
		*out = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_getattr(cte_client *c, cte_id id, cte_attr *out)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_GETATTR);
	t->id = id;
	rc = chi_run(&t->base);
	if (!rc && out)
		*out = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_setattr(cte_client *c, cte_id id, const cte_attr *attr,
                   uint32_t mask, cte_attr *out)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_SETATTR);
	t->id = id;
	if (attr)
		t->attr = *attr;
	t->mask = attr ? mask : 0;
	rc = chi_run(&t->base);
	if (!rc && out)
		*out = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_create(cte_client *c, cte_id parent, const char *name,
                  const cte_attr *attr, const char *symlink_target,
                  cte_attr *out)
{
	int rc;

	if (!attr)
		return -EINVAL;
	NEW_TASK(cte_ns_task, t, c, NS_CREATE);
	t->parent = parent;
	t->name = name;
	t->attr = *attr;
	t->symlink = symlink_target;
	rc = chi_run(&t->base);
	if (!rc && out)
		*out = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_link(cte_client *c, cte_id id, cte_id new_parent,
                const char *new_name, cte_attr *out)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_LINK);
	t->id = id;
	t->parent2 = new_parent;
	t->name2 = new_name;
	rc = chi_run(&t->base);
	if (!rc && out)
		*out = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_unlink(cte_client *c, cte_id parent, const char *name, bool dir,
                  cte_attr *out_attr)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_UNLINK);
	t->parent = parent;
	t->name = name;
	t->dir = dir;
	rc = chi_run(&t->base);
	if (!rc && out_attr)
		*out_attr = t->out_attr;
	chi_task_free(t);
	return rc;
}

int cte_ns_rename(cte_client *c, cte_id old_parent, const char *old_name,
                  cte_id new_parent, const char *new_name, uint32_t flags,
                  cte_id *out_replaced)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_RENAME);
	t->parent = old_parent;
	t->name = old_name;
	t->parent2 = new_parent;
	t->name2 = new_name;
	t->flags = flags;
	rc = chi_run(&t->base);
	if (out_replaced)
		*out_replaced = rc ? CTE_ID_NONE : t->out_id;
	chi_task_free(t);
	return rc;
}

int cte_ns_readdir(cte_client *c, cte_id dir, uint64_t cookie, cte_dirent *out,
                   size_t max, size_t *out_n)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, NS_READDIR);
	t->id = dir;
	t->cookie = cookie;
	t->dirents = out;
	t->max = max;
	rc = chi_run(&t->base);
	*out_n = rc ? 0 : t->out_n;
	chi_task_free(t);
	return rc;
}

int cte_ns_readlink(cte_client *c, cte_id id, char *buf, size_t size)
{
	NEW_TASK(cte_ns_task, t, c, NS_READLINK);
	t->id = id;
	t->buf = buf;
	t->size = size;
	return run_free(t);
}

int cte_ns_forget(cte_client *c, cte_id id)
{
	NEW_TASK(cte_ns_task, t, c, NS_FORGET);
	t->id = id;
	return run_free(t);
}

int cte_tag_get_name(cte_client *c, cte_id tag, char **out)
{
	int rc;

	NEW_TASK(cte_tag_task, t, c, GET_TAG_NAME);
	t->tag = tag;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->path;
	chi_task_free(t);
	return rc;
}

int cte_statfs(cte_client *c, cte_fs_stats *out)
{
	int rc;

	NEW_TASK(cte_ns_task, t, c, STATFS);
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->stats;
	chi_task_free(t);
	return rc;
}

/* ---- xattrs ---- */

int cte_xattr_set(cte_client *c, cte_id id, const char *name, const void *value,
                  size_t size, uint32_t flags)
{
	NEW_TASK(cte_xattr_task, t, c, XATTR_SET);
	t->id = id;
	t->name = name;
	t->value = value;
	t->size = size;
	t->flags = flags;
	return run_free(t);
}

int cte_xattr_get(cte_client *c, cte_id id, const char *name, void *buf,
                  size_t size, size_t *out_size)
{
	int rc;

	NEW_TASK(cte_xattr_task, t, c, XATTR_GET);
	t->id = id;
	t->name = name;
	t->buf = buf;
	t->size = size;
	rc = chi_run(&t->base);
	if (out_size)
		*out_size = t->out_size;
	chi_task_free(t);
	return rc;
}

int cte_xattr_list(cte_client *c, cte_id id, char *buf, size_t size,
                   size_t *out_size)
{
	int rc;

	NEW_TASK(cte_xattr_task, t, c, XATTR_LIST);
	t->id = id;
	t->buf = buf;
	t->size = size;
	rc = chi_run(&t->base);
	if (out_size)
		*out_size = t->out_size;
	chi_task_free(t);
	return rc;
}

int cte_xattr_remove(cte_client *c, cte_id id, const char *name)
{
	NEW_TASK(cte_xattr_task, t, c, XATTR_REMOVE);
	t->id = id;
	t->name = name;
	return run_free(t);
}

/* ---- blob data by id ---- */

int cte_blob_write(cte_client *c, cte_id blob, uint64_t off, const void *buf,
                   uint64_t len)
{
	NEW_TASK(cte_blob_task, t, c, PUT_BLOB);
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->wbuf = buf;
	t->score = CTE_SCORE_UNSET;
	return run_free(t);
}

int cte_blob_write_ex(cte_client *c, cte_id blob, uint64_t off,
                      const void *buf, uint64_t len, uint32_t flags)
{
	if (flags & ~CTE_WRITE_KEEP_TIMES)
		return chi_error_set(-EINVAL,
		                     "cte_blob_write_ex: unknown flags 0x%x",
		                     flags & ~CTE_WRITE_KEEP_TIMES);
	NEW_TASK(cte_blob_task, t, c, PUT_BLOB);
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->wbuf = buf;
	t->score = CTE_SCORE_UNSET;
	if (flags & CTE_WRITE_KEEP_TIMES)
		t->flags = CTE_BLOB_KEEP_TIMES;
	return run_free(t);
}

int cte_blob_read(cte_client *c, cte_id blob, uint64_t off, void *buf,
                  uint64_t len, uint64_t *out_n)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB);
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->rbuf = buf;
	rc = chi_run(&t->base);
	if (out_n)
		*out_n = rc ? 0 : t->out_n;
	chi_task_free(t);
	return rc;
}

int cte_blob_fallocate(cte_client *c, cte_id blob, uint64_t off, uint64_t len,
                       bool keep_size)
{
	NEW_TASK(cte_blob_task, t, c, FALLOCATE_BLOB);
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->flags = keep_size ? CTE_BLOB_KEEP_SIZE : 0;
	return run_free(t);
}

int cte_blob_punch(cte_client *c, cte_id blob, uint64_t off, uint64_t len)
{
	NEW_TASK(cte_blob_task, t, c, FALLOCATE_BLOB);
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->flags = CTE_BLOB_PUNCH_HOLE;
	return run_free(t);
}

int cte_blob_set_score(cte_client *c, cte_id blob, double score)
{
	NEW_TASK(cte_blob_task, t, c, REORGANIZE_BLOB);
	t->blob = blob;
	t->score = score;
	return run_free(t);
}

int cte_blob_info_get(cte_client *c, cte_id blob, cte_blob_info **out)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB_INFO);
	t->blob = blob;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->info;
	chi_task_free(t);
	return rc;
}

void cte_blob_info_free(cte_blob_info *info)
{
	if (!info)
		return;
	free(info->placement);
	free(info->extents);
	free(info);
}

int cte_blob_sync(cte_client *c, cte_id blob)
{
	NEW_TASK(cte_blob_task, t, c, SYNC_BLOB);
	t->blob = blob;
	return run_free(t);
}

int cte_sync_all(cte_client *c)
{
	int rc;

	{
		NEW_TASK(cte_misc_task, t, c, FLUSH_DATA);
		rc = run_free(t);
	}
	if (rc)
		return rc;
	{
		NEW_TASK(cte_misc_task, t, c, FLUSH_METADATA);
		return run_free(t);
	}
}

int cte_blob_destroy(cte_client *c, cte_id blob)
{
	NEW_TASK(cte_blob_task, t, c, DESTROY_BLOB);
	t->blob = blob;
	return run_free(t);
}

/* ---- the upstream API by name ---- */

int cte_tag_get_or_create(cte_client *c, const char *name, cte_id *out)
{
	int rc;

	NEW_TASK(cte_tag_task, t, c, GET_OR_CREATE_TAG);
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->tag;
	chi_task_free(t);
	return rc;
}

int cte_tag_del(cte_client *c, cte_id tag)
{
	NEW_TASK(cte_tag_task, t, c, DEL_TAG);
	t->tag = tag;
	return run_free(t);
}

int cte_tag_get_size(cte_client *c, cte_id tag, uint64_t *out)
{
	int rc;

	NEW_TASK(cte_tag_task, t, c, GET_TAG_SIZE);
	t->tag = tag;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->size;
	chi_task_free(t);
	return rc;
}

static int names_result(cte_tag_task *t, char ***out, size_t *out_n)
{
	int rc = chi_run(&t->base);

	if (!rc) {
		*out = t->names;
		*out_n = t->n;
	}
	chi_task_free(t);
	return rc;
}

int cte_tag_get_contained_blobs(cte_client *c, cte_id tag, char ***out,
                                size_t *out_n)
{
	NEW_TASK(cte_tag_task, t, c, GET_CONTAINED_BLOBS);
	t->tag = tag;
	return names_result(t, out, out_n);
}

int cte_tag_rename(cte_client *c, const char *old_name, const char *new_name)
{
	NEW_TASK(cte_tag_task, t, c, RENAME_TAG);
	t->name = old_name;
	t->name2 = new_name;
	return run_free(t);
}

int cte_tag_query(cte_client *c, const char *tag_regex, char ***out,
                  size_t *out_n)
{
	NEW_TASK(cte_tag_task, t, c, TAG_QUERY);
	t->name = tag_regex;
	return names_result(t, out, out_n);
}

int cte_blob_query(cte_client *c, const char *tag_regex, const char *blob_regex,
                   char ***out, size_t *out_n)
{
	NEW_TASK(cte_tag_task, t, c, BLOB_QUERY);
	t->name = tag_regex;
	t->name2 = blob_regex;
	return names_result(t, out, out_n);
}

void cte_names_free(char **names, size_t n)
{
	size_t i;

	if (!names)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int cte_put_blob(cte_client *c, cte_id tag, const char *name, uint64_t off,
                 const void *buf, uint64_t len, double score, cte_id *out_id)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, PUT_BLOB);
	t->tag = tag;
	t->name = name;
	t->off = off;
	t->len = len;
	t->wbuf = buf;
	t->score = score;
	t->flags = CTE_BLOB_CREATE;
	rc = chi_run(&t->base);
	if (out_id)
		*out_id = t->blob;
	chi_task_free(t);
	return rc;
}

int cte_get_blob(cte_client *c, cte_id tag, const char *name, uint64_t off,
                 void *buf, uint64_t len, uint64_t *out_n)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB);
	t->tag = tag;
	t->name = name;
	t->off = off;
	t->len = len;
	t->rbuf = buf;
	rc = chi_run(&t->base);
	if (out_n)
		*out_n = rc ? 0 : t->out_n;
	chi_task_free(t);
	return rc;
}

int cte_del_blob(cte_client *c, cte_id tag, const char *name)
{
	NEW_TASK(cte_blob_task, t, c, DEL_BLOB);
	t->tag = tag;
	t->name = name;
	return run_free(t);
}

int cte_get_blob_size(cte_client *c, cte_id tag, const char *name,
                      uint64_t *out)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB_SIZE);
	t->tag = tag;
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->out_n;
	chi_task_free(t);
	return rc;
}

int cte_get_blob_score(cte_client *c, cte_id tag, const char *name, double *out)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB_SCORE);
	t->tag = tag;
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->score;
	chi_task_free(t);
	return rc;
}

int cte_get_blob_info(cte_client *c, cte_id tag, const char *name,
                      cte_blob_info **out)
{
	int rc;

	NEW_TASK(cte_blob_task, t, c, GET_BLOB_INFO);
	t->tag = tag;
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->info;
	chi_task_free(t);
	return rc;
}

int cte_truncate_blob(cte_client *c, cte_id tag, const char *name,
                      uint64_t size)
{
	NEW_TASK(cte_blob_task, t, c, TRUNCATE_BLOB);
	t->tag = tag;
	t->name = name;
	t->off = size;
	return run_free(t);
}

int cte_reorganize_blob(cte_client *c, cte_id tag, const char *name,
                        double score)
{
	NEW_TASK(cte_blob_task, t, c, REORGANIZE_BLOB);
	t->tag = tag;
	t->name = name;
	t->score = score;
	return run_free(t);
}

int cte_rename_blob(cte_client *c, cte_id src_tag, const char *src_name,
                    cte_id dst_tag, const char *dst_name)
{
	NEW_TASK(cte_blob_task, t, c, RENAME_BLOB);
	t->tag = src_tag;
	t->name = src_name;
	t->dst_tag = dst_tag;
	t->dst_name = dst_name;
	return run_free(t);
}

/* ---- telemetry ---- */

int cte_poll_telemetry(cte_client *c, uint64_t min_time,
                       cte_telemetry_entry *out, size_t max, size_t *out_n,
                       uint64_t *out_dropped)
{
	int rc;

	NEW_TASK(cte_misc_task, t, c, POLL_TELEMETRY_LOG);
	t->min_time = min_time;
	t->entries = out;
	t->max = max;
	rc = chi_run(&t->base);
	*out_n = rc ? 0 : t->out_n;
	if (out_dropped)
		*out_dropped = t->dropped;
	chi_task_free(t);
	return rc;
}
