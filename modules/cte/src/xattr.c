/*
 * Extended attributes of tags and blobs: a short list per object, under
 * core->ns_lock (one section per call, see core.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core_i.h"
#include "ns_i.h"

static struct cte_xattr **xattr_slot(struct cte_obj *o, const char *name)
{
	struct cte_xattr **pp;

	for (pp = &o->xattrs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			return pp;
	return NULL;
}

static int check_xattr_name(const char *name)
{
	size_t len = name ? strnlen(name, 256) : 0;

	if (!len)
		return -EINVAL;
	if (len > 255)
		return -ERANGE;
	return 0;
}

int cte__xattr_set(struct cte_core *core, cte_id id, const char *name,
                   const void *value, size_t size, uint32_t flags)
{
	struct cte_obj *o;
	struct cte_xattr **pp, *x;
	void *copy = NULL;
	int rc = check_xattr_name(name);

	if (rc)
		return rc;
	if (size > CTE_XATTR_SIZE_MAX)
		return -E2BIG;
	if (size) {
		copy = malloc(size);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, value, size);
	}
	cte__ns_lock(core);
	o = cte__obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	pp = xattr_slot(o, name);
	if (pp && (flags & CTE_XATTR_CREATE)) {
		rc = -EEXIST;
		goto out;
	}
	if (!pp && (flags & CTE_XATTR_REPLACE)) {
		rc = -ENODATA;
		goto out;
	}
	if (pp) {
		x = *pp;
		free(x->value);
	} else {
		x = malloc(sizeof(*x) + strlen(name) + 1);
		if (!x) {
			rc = -ENOMEM;
			goto out;
		}
		strcpy(x->name, name);
		x->next = NULL;
		/* append: listxattr keeps creation order */
		for (pp = &o->xattrs; *pp; pp = &(*pp)->next)
			;
		*pp = x;
	}
	x->value = copy;
	x->size = size;
	copy = NULL;
	cte__now(&o->ctime);
	cte__meta_changed(core, CTE_META_XATTR, id, CTE_ID_NONE);
out:
	cte__ns_unlock(core);
	free(copy);
	return rc;
}

/* Object id's xattr `name` (ns_lock held): -ENOENT, -ENODATA. */
static int xattr_find(struct cte_core *core, cte_id id, const char *name,
                      struct cte_obj **out_o, struct cte_xattr ***out_pp)
{
	struct cte_obj *o = cte__obj_find(core, id);

	if (!o)
		return -ENOENT;
	*out_o = o;
	*out_pp = xattr_slot(o, name);
	return *out_pp ? 0 : -ENODATA;
}

int cte__xattr_get(struct cte_core *core, cte_id id, const char *name,
                   void *buf, size_t size, size_t *out_size)
{
	struct cte_obj *o;
	struct cte_xattr **pp;
	int rc = check_xattr_name(name);

	*out_size = 0;
	if (rc)
		return rc == -ERANGE ? -ENODATA : rc;
	cte__ns_lock(core);
	rc = xattr_find(core, id, name, &o, &pp);
	if (rc)
		goto out;
	*out_size = (*pp)->size;
	if (size && size < (*pp)->size)
		rc = -ERANGE;
	else if (size && (*pp)->size)
		memcpy(buf, (*pp)->value, (*pp)->size);
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__xattr_list(struct cte_core *core, cte_id id, char *buf, size_t size,
                    size_t *out_size)
{
	struct cte_obj *o;
	struct cte_xattr *x;
	size_t total = 0;
	int rc = 0;

	cte__ns_lock(core);
	o = cte__obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	for (x = o->xattrs; x; x = x->next)
		total += strlen(x->name) + 1;
	if (size && size < total) {
		rc = -ERANGE;
	} else if (size) {
		char *p = buf;

		for (x = o->xattrs; x; x = x->next) {
			size_t l = strlen(x->name) + 1;

			memcpy(p, x->name, l);
			p += l;
		}
	}
out:
	cte__ns_unlock(core);
	*out_size = total;
	return rc;
}

int cte__xattr_remove(struct cte_core *core, cte_id id, const char *name)
{
	struct cte_obj *o;
	struct cte_xattr **pp, *x;
	int rc = check_xattr_name(name);

	if (rc)
		return rc == -ERANGE ? -ENODATA : rc;
	cte__ns_lock(core);
	rc = xattr_find(core, id, name, &o, &pp);
	if (rc)
		goto out;
	x = *pp;
	*pp = x->next;
	free(x->value);
	free(x);
	cte__now(&o->ctime);
	cte__meta_changed(core, CTE_META_XATTR, id, CTE_ID_NONE);
out:
	cte__ns_unlock(core);
	return rc;
}
