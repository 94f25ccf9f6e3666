/*
 * Tags and blobs by name (the CTE API upstream programs use, beside the
 * POSIX namespace): walking and creating tag paths, deleting and renaming
 * tags, tag sizes and contents, regular-expression queries over tags and
 * blobs, and a tag's path.  Each call is one core->ns_lock section (see
 * core.c), except cte__tag_rename, which finds its names in one and
 * renames through cte__ns_rename.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chimaera/error.h"
#include "core_i.h"
#include "ns_i.h"
#include "target_i.h"

/* Walk (and with create, make) the tag for `name`; ns_lock held.
 * Names: "/a/b", "a/b" (taken from the root), repeated '/' collapse. */
static int tag_walk(struct cte_core *core, const char *name, bool create,
                    struct cte_tag **out)
{
	struct cte_tag *cur = core->root;
	const char *p = name;
	char comp[CTE_NAME_MAX + 1];
	struct timespec now;

	if (!name)
		return -EINVAL;
	if (name[0] == '/' && (cur = cte__tag_by_path(core, name))) {
		*out = cur; /* the common case: an exact path */
		return 0;
	}
	cur = core->root;
	while (*p) {
		const char *s;
		size_t len;
		struct cte_dentry *d;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = strchr(p, '/');
		len = s ? (size_t)(s - p) : strlen(p);
		if (len > CTE_NAME_MAX)
			return chi_error_set(-ENAMETOOLONG,
			                     "cte: tag \"%s\": component too "
			                     "long",
			                     name);
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		if (!strcmp(comp, ".") || !strcmp(comp, ".."))
			return chi_error_set(-EINVAL,
			                     "cte: tag \"%s\": \".\" and "
			                     "\"..\" are not allowed",
			                     name);
		d = cte__dentry_find(core, cur, comp);
		if (d && !d->obj->is_tag)
			return -ENOTDIR;
		if (d) {
			cur = (struct cte_tag *)d->obj;
			continue;
		}
		if (!create)
			return -ENOENT;
		cte__now(&now);
		d = NULL;
		{
			struct cte_tag *t = cte__tag_new(core, cur, comp, NULL);

			if (!t)
				return -ENOMEM;
			cte__touch_dir(core, cur, &now);
			cur = t;
		}
	}
	*out = cur;
	return 0;
}

int cte__tag_get_or_create(struct cte_core *core, const char *name, cte_id *out)
{
	struct cte_tag *t;
	int rc;

	cte__ns_lock(core);
	rc = tag_walk(core, name, true, &t);
	if (!rc)
		*out = t->obj.id;
	cte__ns_unlock(core);
	return rc;
}

int cte__tag_del(struct cte_core *core, cte_id tag_id)
{
	struct cte_tag *t;
	struct cte_tagvec stack = {0}, order = {0};
	struct cte_blob **victims = NULL;
	size_t n_victims = 0, vcap = 0, i;
	int rc;

	cte__ns_lock(core);
	rc = cte__dir_find(core, tag_id, &t);
	if (rc)
		goto out;
	if (t == core->root) {
		rc = chi_error_set(-EBUSY,
		                   "cte: the root tag cannot be deleted");
		goto out;
	}
	/* Collect the subtree in preorder (parents before children). */
	rc = cte__tagvec_push(&stack, t);
	while (!rc && stack.n) {
		struct cte_tag *cur = stack.v[--stack.n];

		rc = cte__tagvec_push(&order, cur);
		for (i = 0; !rc && i < cur->n_slots; i++) {
			struct cte_dentry *d = cur->slots[i].d;

			if (d && d->obj->is_tag)
				rc = cte__tagvec_push(&stack,
				                      (struct cte_tag *)d->obj);
		}
	}
	if (rc)
		goto out;
	/* Blobs first, then tags deepest first. */
	for (i = order.n; i-- > 0;) {
		struct cte_tag *cur = order.v[i];
		size_t k;

		for (k = 0; k < cur->n_slots; k++) {
			struct cte_dentry *d = cur->slots[k].d;
			struct cte_blob *b;

			if (!d || d->obj->is_tag)
				continue;
			b = (struct cte_blob *)d->obj;
			cte__blob_drop_name(b, d);
			cte__dir_remove(core, d);
			cte__meta_changed(core, CTE_META_UNLINK, b->obj.id,
			                  cur->obj.id);
			if (b->n_names)
				continue;
			if (n_victims == vcap) {
				size_t c2 = vcap ? vcap * 2 : 16;
				struct cte_blob **v2 =
				    realloc(victims, c2 * sizeof(*v2));

				if (!v2) {
					rc = -ENOMEM;
					goto out;
				}
				victims = v2;
				vcap = c2;
			}
			b->refs++;
			cte__blob_detach_locked(core, b);
			victims[n_victims++] = b;
		}
		cte__telemetry_log(&core->telemetry, CTE_OP_DEL_TAG,
		                   cur->obj.id, CTE_ID_NONE, NULL, 0, 0);
		cte__tag_delete(core, cur);
	}
out:
	cte__ns_unlock(core);
	for (i = 0; i < n_victims; i++)
		cte__blob_release_dead(core, victims[i]);
	free(victims);
	free(stack.v);
	free(order.v);
	return rc;
}

int cte__tag_get_size(struct cte_core *core, cte_id tag_id, uint64_t *out)
{
	struct cte_tag *t;
	uint64_t sum = 0;
	size_t i;
	int rc;

	cte__ns_lock(core);
	rc = cte__dir_find(core, tag_id, &t);
	if (!rc) {
		for (i = 0; i < t->n_slots; i++) {
			struct cte_dentry *d = t->slots[i].d;

			if (d && !d->obj->is_tag)
				sum += ((struct cte_blob *)d->obj)->size;
		}
		*out = sum;
	}
	cte__ns_unlock(core);
	return rc;
}

/* A growable array of malloc'd strings. */
struct strvec {
	char **v;
	size_t n, cap;
};

static int strvec_push(struct strvec *s, char *str)
{
	if (!str)
		return -ENOMEM;
	if (s->n == s->cap) {
		size_t c2 = s->cap ? s->cap * 2 : 16;
		char **v2 = realloc(s->v, c2 * sizeof(*v2));

		if (!v2) {
			free(str);
			return -ENOMEM;
		}
		s->v = v2;
		s->cap = c2;
	}
	s->v[s->n++] = str;
	return 0;
}

static void strvec_free(struct strvec *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int cte__tag_contained_blobs(struct cte_core *core, cte_id tag_id, char ***out,
                             size_t *out_n)
{
	struct cte_tag *t;
	struct strvec names = {0};
	size_t i;
	int rc;

	cte__ns_lock(core);
	rc = cte__dir_find(core, tag_id, &t);
	for (i = 0; !rc && i < t->n_slots; i++) {
		struct cte_dentry *d = t->slots[i].d;

		if (d && !d->obj->is_tag)
			rc = strvec_push(&names, strdup(d->name));
	}
	cte__ns_unlock(core);
	if (rc) {
		strvec_free(&names);
		return rc;
	}
	*out = names.v;
	*out_n = names.n;
	return 0;
}

int cte__tag_rename(struct cte_core *core, const char *old_name,
                    const char *new_name)
{
	struct cte_tag *src, *dst_parent;
	char *parent_path = NULL, *slash;
	const char *base;
	cte_id src_parent, dst_parent_id;
	char src_base[CTE_NAME_MAX + 1];
	int rc;

	cte__ns_lock(core);
	rc = tag_walk(core, old_name, false, &src);
	if (!rc && src == core->root)
		rc = -EBUSY;
	if (rc)
		goto unlock;
	src_parent = src->parent->obj.id;
	strcpy(src_base, src->self->name);
	/* the destination's parent: everything before the last component */
	parent_path = strdup(new_name && *new_name ? new_name : "/");
	if (!parent_path) {
		rc = -ENOMEM;
		goto unlock;
	}
	while (strlen(parent_path) > 1 &&
	       parent_path[strlen(parent_path) - 1] == '/')
		parent_path[strlen(parent_path) - 1] = '\0';
	slash = strrchr(parent_path, '/');
	if (slash) {
		*slash = '\0';
		base = new_name + (slash - parent_path) + 1;
	} else {
		parent_path[0] = '\0';
		base = new_name;
	}
	rc = tag_walk(core, parent_path, true, &dst_parent);
	if (rc)
		goto unlock;
	dst_parent_id = dst_parent->obj.id;
	cte__ns_unlock(core);
	{
		char base_copy[CTE_NAME_MAX + 2];

		snprintf(base_copy, sizeof(base_copy), "%s", base);
		base_copy[strcspn(base_copy, "/")] = '\0';
		rc = cte__ns_rename(core, src_parent, src_base, dst_parent_id,
		                    base_copy, 0, true, NULL);
	}
	free(parent_path);
	return rc;
unlock:
	cte__ns_unlock(core);
	free(parent_path);
	return rc;
}

static int compile(regex_t *re, const char *text)
{
	int err = regcomp(re, text ? text : "", REG_EXTENDED | REG_NOSUB);

	if (err) {
		char msg[256];

		regerror(err, re, msg, sizeof(msg));
		return chi_error_set(-EINVAL,
		                     "cte: regular expression \"%s\": "
		                     "%s",
		                     text ? text : "", msg);
	}
	return 0;
}

/* A tag path matches with or without its leading '/' (upstream tag names
 * have none). */
static bool tag_matches(const regex_t *re, const char *path)
{
	if (!regexec(re, path, 0, NULL, 0))
		return true;
	return path[1] && !regexec(re, path + 1, 0, NULL, 0);
}

static int query(struct cte_core *core, const char *tag_re, const char *blob_re,
                 bool blobs, char ***out, size_t *out_n)
{
	regex_t tre, bre;
	struct strvec res = {0};
	size_t b, i;
	int rc;

	rc = compile(&tre, tag_re);
	if (rc)
		return rc;
	if (blobs && (rc = compile(&bre, blob_re))) {
		regfree(&tre);
		return rc;
	}
	cte__ns_lock(core);
	for (b = 0; !rc && b < core->by_path.n_buckets; b++) {
		struct cte_hnode *n;

		for (n = core->by_path.buckets[b]; !rc && n; n = n->next) {
			struct cte_tag *t =
			    CTE_CONTAINER_OF(n, struct cte_tag, path_node);

			if (!tag_matches(&tre, t->path))
				continue;
			if (!blobs) {
				rc = strvec_push(&res, strdup(t->path));
				continue;
			}
			for (i = 0; !rc && i < t->n_slots; i++) {
				struct cte_dentry *d = t->slots[i].d;
				char *s;

				if (!d || d->obj->is_tag ||
				    regexec(&bre, d->name, 0, NULL, 0))
					continue;
				if (asprintf(&s, "%s\t%s", t->path, d->name) <
				    0)
					s = NULL;
				rc = strvec_push(&res, s);
			}
		}
	}
	cte__ns_unlock(core);
	regfree(&tre);
	if (blobs)
		regfree(&bre);
	if (rc) {
		strvec_free(&res);
		return rc;
	}
	*out = res.v;
	*out_n = res.n;
	return 0;
}

int cte__tag_query(struct cte_core *core, const char *re, char ***out,
                   size_t *out_n)
{
	return query(core, re, NULL, false, out, out_n);
}

int cte__blob_query(struct cte_core *core, const char *tag_re,
                    const char *blob_re, char ***out, size_t *out_n)
{
	return query(core, tag_re, blob_re, true, out, out_n);
}

int cte__blob_by_name(struct cte_core *core, cte_id tag_id, const char *name,
                      bool create, cte_id *out_id)
{
	struct cte_tag *t;
	struct cte_dentry *d;
	int rc = cte__check_name(name);

	if (rc)
		return rc;
	cte__ns_lock(core);
	rc = cte__dir_find(core, tag_id, &t);
	if (rc)
		goto out;
	d = cte__dentry_find(core, t, name);
	if (d && d->obj->is_tag) {
		rc = -EISDIR;
	} else if (d) {
		*out_id = d->obj->id;
	} else if (!create) {
		rc = -ENOENT;
	} else {
		struct cte_blob *b = cte__blob_new(core, t, name, NULL, NULL);
		struct timespec now;

		if (!b) {
			rc = -ENOMEM;
			goto out;
		}
		cte__now(&now);
		cte__touch_dir(core, t, &now);
		*out_id = b->obj.id;
		cte__telemetry_log(&core->telemetry, CTE_OP_CREATE, t->obj.id,
		                   b->obj.id, name, 0, 0);
	}
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__tag_get_name(struct cte_core *core, cte_id tag, char **out)
{
	struct cte_tag *t;
	int rc;

	cte__ns_lock(core);
	rc = cte__dir_find(core, tag, &t);
	if (!rc) {
		*out = strdup(t->path);
		if (!*out)
			rc = -ENOMEM;
	}
	cte__ns_unlock(core);
	return rc;
}
