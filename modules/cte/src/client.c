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

/* A new task of `size` bytes for method on c's pool; NULL without memory. */
static void *task_new(const cte_client *c, size_t size, uint32_t method)
{
	return chi_task_new(size, c->pool_id, method);
}

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
	cte_target_task *t =
	    task_new(c, sizeof(*t), CTE_METHOD_REGISTER_TARGET);

	if (!t)
		return -ENOMEM;
	t->path = path;
	t->type = type;
	t->capacity = capacity;
	t->score = score;
	return run_free(t);
}

int cte_target_unregister(cte_client *c, const char *path)
{
	cte_target_task *t =
	    task_new(c, sizeof(*t), CTE_METHOD_UNREGISTER_TARGET);

	if (!t)
		return -ENOMEM;
	t->path = path;
	return run_free(t);
}

int cte_target_list(cte_client *c, cte_target_info **out, size_t *out_n)
{
	int rc;
	cte_target_task *t = task_new(c, sizeof(*t), CTE_METHOD_LIST_TARGETS);

	if (!t)
		return -ENOMEM;
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
	cte_misc_task *t = task_new(c, sizeof(*t), CTE_METHOD_STAT_TARGETS);

	if (!t)
		return -ENOMEM;
	return run_free(t);
}

int cte_target_get_info(cte_client *c, const char *path, cte_target_info *out)
{
	cte_target_task *t =
	    task_new(c, sizeof(*t), CTE_METHOD_GET_TARGET_INFO);

	if (!t)
		return -ENOMEM;
	t->path = path;
	t->info = out;
	return run_free(t);
}

/* ---- namespace ---- */

int cte_ns_lookup(cte_client *c, cte_id parent, const char *name, cte_attr *out)
{
	int rc;
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_LOOKUP);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_GETATTR);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_SETATTR);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_CREATE);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_LINK);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_UNLINK);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_RENAME);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_READDIR);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_READLINK);

	if (!t)
		return -ENOMEM;
	t->id = id;
	t->buf = buf;
	t->size = size;
	return run_free(t);
}

int cte_ns_forget(cte_client *c, cte_id id)
{
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_NS_FORGET);

	if (!t)
		return -ENOMEM;
	t->id = id;
	return run_free(t);
}

int cte_tag_get_name(cte_client *c, cte_id tag, char **out)
{
	int rc;
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_TAG_NAME);

	if (!t)
		return -ENOMEM;
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
	cte_ns_task *t = task_new(c, sizeof(*t), CTE_METHOD_STATFS);

	if (!t)
		return -ENOMEM;
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
	cte_xattr_task *t = task_new(c, sizeof(*t), CTE_METHOD_XATTR_SET);

	if (!t)
		return -ENOMEM;
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
	cte_xattr_task *t = task_new(c, sizeof(*t), CTE_METHOD_XATTR_GET);

	if (!t)
		return -ENOMEM;
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
	cte_xattr_task *t = task_new(c, sizeof(*t), CTE_METHOD_XATTR_LIST);

	if (!t)
		return -ENOMEM;
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
	cte_xattr_task *t = task_new(c, sizeof(*t), CTE_METHOD_XATTR_REMOVE);

	if (!t)
		return -ENOMEM;
	t->id = id;
	t->name = name;
	return run_free(t);
}

/* ---- blob data by id ---- */

int cte_blob_write(cte_client *c, cte_id blob, uint64_t off, const void *buf,
                   uint64_t len)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_PUT_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->wbuf = buf;
	t->score = CTE_SCORE_UNSET;
	return run_free(t);
}

int cte_blob_write_ex(cte_client *c, cte_id blob, uint64_t off, const void *buf,
                      uint64_t len, uint32_t flags)
{
	if (flags & ~CTE_WRITE_KEEP_TIMES)
		return chi_error_set(-EINVAL,
		                     "cte_blob_write_ex: unknown flags 0x%x",
		                     flags & ~CTE_WRITE_KEEP_TIMES);
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_PUT_BLOB);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_FALLOCATE_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->flags = keep_size ? CTE_BLOB_KEEP_SIZE : 0;
	return run_free(t);
}

int cte_blob_punch(cte_client *c, cte_id blob, uint64_t off, uint64_t len)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_FALLOCATE_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	t->off = off;
	t->len = len;
	t->flags = CTE_BLOB_PUNCH_HOLE;
	return run_free(t);
}

int cte_blob_set_score(cte_client *c, cte_id blob, double score)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_REORGANIZE_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	t->score = score;
	return run_free(t);
}

int cte_blob_info_get(cte_client *c, cte_id blob, cte_blob_info **out)
{
	int rc;
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB_INFO);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_SYNC_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	return run_free(t);
}

int cte_sync_all(cte_client *c)
{
	int rc;

	{
		cte_misc_task *t =
		    task_new(c, sizeof(*t), CTE_METHOD_FLUSH_DATA);

		if (!t)
			return -ENOMEM;
		rc = run_free(t);
	}
	if (rc)
		return rc;
	{
		cte_misc_task *t =
		    task_new(c, sizeof(*t), CTE_METHOD_FLUSH_METADATA);

		if (!t)
			return -ENOMEM;
		return run_free(t);
	}
}

int cte_blob_destroy(cte_client *c, cte_id blob)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_DESTROY_BLOB);

	if (!t)
		return -ENOMEM;
	t->blob = blob;
	return run_free(t);
}

/* ---- the upstream API by name ---- */

int cte_tag_get_or_create(cte_client *c, const char *name, cte_id *out)
{
	int rc;
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_OR_CREATE_TAG);

	if (!t)
		return -ENOMEM;
	t->name = name;
	rc = chi_run(&t->base);
	if (!rc)
		*out = t->tag;
	chi_task_free(t);
	return rc;
}

int cte_tag_del(cte_client *c, cte_id tag)
{
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_DEL_TAG);

	if (!t)
		return -ENOMEM;
	t->tag = tag;
	return run_free(t);
}

int cte_tag_get_size(cte_client *c, cte_id tag, uint64_t *out)
{
	int rc;
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_TAG_SIZE);

	if (!t)
		return -ENOMEM;
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
	cte_tag_task *t =
	    task_new(c, sizeof(*t), CTE_METHOD_GET_CONTAINED_BLOBS);

	if (!t)
		return -ENOMEM;
	t->tag = tag;
	return names_result(t, out, out_n);
}

int cte_tag_rename(cte_client *c, const char *old_name, const char *new_name)
{
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_RENAME_TAG);

	if (!t)
		return -ENOMEM;
	t->name = old_name;
	t->name2 = new_name;
	return run_free(t);
}

int cte_tag_query(cte_client *c, const char *tag_regex, char ***out,
                  size_t *out_n)
{
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_TAG_QUERY);

	if (!t)
		return -ENOMEM;
	t->name = tag_regex;
	return names_result(t, out, out_n);
}

int cte_blob_query(cte_client *c, const char *tag_regex, const char *blob_regex,
                   char ***out, size_t *out_n)
{
	cte_tag_task *t = task_new(c, sizeof(*t), CTE_METHOD_BLOB_QUERY);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_PUT_BLOB);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_DEL_BLOB);

	if (!t)
		return -ENOMEM;
	t->tag = tag;
	t->name = name;
	return run_free(t);
}

int cte_get_blob_size(cte_client *c, cte_id tag, const char *name,
                      uint64_t *out)
{
	int rc;
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB_SIZE);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB_SCORE);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_GET_BLOB_INFO);

	if (!t)
		return -ENOMEM;
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
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_TRUNCATE_BLOB);

	if (!t)
		return -ENOMEM;
	t->tag = tag;
	t->name = name;
	t->off = size;
	return run_free(t);
}

int cte_reorganize_blob(cte_client *c, cte_id tag, const char *name,
                        double score)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_REORGANIZE_BLOB);

	if (!t)
		return -ENOMEM;
	t->tag = tag;
	t->name = name;
	t->score = score;
	return run_free(t);
}

int cte_rename_blob(cte_client *c, cte_id src_tag, const char *src_name,
                    cte_id dst_tag, const char *dst_name)
{
	cte_blob_task *t = task_new(c, sizeof(*t), CTE_METHOD_RENAME_BLOB);

	if (!t)
		return -ENOMEM;
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
	cte_misc_task *t =
	    task_new(c, sizeof(*t), CTE_METHOD_POLL_TELEMETRY_LOG);

	if (!t)
		return -ENOMEM;
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
