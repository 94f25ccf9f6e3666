/*
 * The POSIX namespace operations: lookup, getattr/setattr, create, link,
 * unlink, rename, readdir, readlink, forget and statfs.  Each takes
 * core->ns_lock for one short section (cte__ns_lock/cte__ns_unlock, see
 * core.c) and works through core.c's object and directory functions; a
 * blob left without names is freed after the lock is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blobio_i.h"
#include "chimaera/error.h"
#include "core_i.h"
#include "ns_i.h"
#include "target_i.h"

/* ------------------------------------------------------------------ */
/* attributes                                                           */

static void fill_attr(struct cte_obj *o, cte_attr *out)
{
	memset(out, 0, sizeof(*out));
	out->id = o->id;
	out->mode = o->mode;
	out->uid = o->uid;
	out->gid = o->gid;
	out->rdev = o->rdev;
	out->atime = o->atime;
	out->mtime = o->mtime;
	out->ctime = o->ctime;
	out->btime = o->btime;
	out->score = o->score;
	if (o->is_tag) {
		struct cte_tag *t = (struct cte_tag *)o;

		out->nlink = 2 + t->n_child_tags;
		out->size = 4096;
		out->alloc_bytes = 4096;
	} else {
		struct cte_blob *b = (struct cte_blob *)o;

		out->nlink = (uint32_t)b->n_names;
		out->size = b->size;
		out->alloc_bytes = b->alloc_blocks << CTE_BLOCK_SHIFT;
	}
}

int cte__ns_lookup(struct cte_core *core, cte_id parent, const char *name,
                   cte_attr *out)
{
	struct cte_tag *dir;
	struct cte_dentry *d;
	int rc;

	if (name && strnlen(name, CTE_NAME_MAX + 1) > CTE_NAME_MAX)
		return chi_error_set(-ENAMETOOLONG, "cte: name too long");
	cte__ns_lock(core);
	rc = cte__dir_find(core, parent, &dir);
	if (rc)
		goto out;
	if (!name || !*name || strchr(name, '/')) {
		rc = -EINVAL;
	} else if (!strcmp(name, ".")) {
		fill_attr(&dir->obj, out);
	} else if (!strcmp(name, "..")) {
		fill_attr(dir->parent ? &dir->parent->obj : &dir->obj, out);
	} else if ((d = cte__dentry_find(core, dir, name))) {
		fill_attr(d->obj, out);
	} else {
		rc = -ENOENT;
	}
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_getattr(struct cte_core *core, cte_id id, cte_attr *out)
{
	struct cte_obj *o;
	int rc = 0;

	cte__ns_lock(core);
	o = cte__obj_find(core, id);
	if (!o)
		rc = -ENOENT;
	else if (out)
		fill_attr(o, out);
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_setattr(struct cte_core *core, cte_id id, const cte_attr *attr,
                    uint32_t mask, cte_attr *out)
{
	struct cte_obj *o;
	struct timespec now;
	int rc = 0;

	if (mask & CTE_SET_SIZE) {
		rc = cte__blob_truncate(core, id, attr->size);
		if (rc)
			return rc;
	}
	cte__now(&now);
	cte__ns_lock(core);
	o = cte__obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	if (mask & CTE_SET_MODE)
		o->mode = (o->mode & S_IFMT) | (attr->mode & 07777);
	if (mask & CTE_SET_UID)
		o->uid = attr->uid;
	if (mask & CTE_SET_GID)
		o->gid = attr->gid;
	if (mask & CTE_SET_ATIME)
		o->atime = attr->atime;
	if (mask & CTE_SET_MTIME)
		o->mtime = attr->mtime;
	if (mask)
		o->ctime = (mask & CTE_SET_CTIME) ? attr->ctime : now;
	if (mask & ~CTE_SET_SIZE)
		cte__meta_changed(core, CTE_META_ATTR, id, CTE_ID_NONE);
	if (out)
		fill_attr(o, out);
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_create(struct cte_core *core, cte_id parent, const char *name,
                   const cte_attr *attr, const char *symlink_target,
                   cte_attr *out)
{
	struct cte_tag *dir;
	struct cte_obj *o;
	struct timespec now;
	int rc = cte__check_name(name);

	if (rc)
		return rc;
	if (S_ISLNK(attr->mode) && !symlink_target)
		return chi_error_set(-EINVAL, "cte: symlink without a target");
	cte__now(&now);
	cte__ns_lock(core);
	rc = cte__dir_find(core, parent, &dir);
	if (rc)
		goto out;
	if (cte__dentry_find(core, dir, name)) {
		rc = -EEXIST;
		goto out;
	}
	if (S_ISDIR(attr->mode)) {
		struct cte_tag *t = cte__tag_new(core, dir, name, attr);

		o = t ? &t->obj : NULL;
		if (t && attr->score >= 0 && attr->score <= 1)
			t->obj.score = attr->score;
	} else {
		struct cte_blob *b =
		    cte__blob_new(core, dir, name, attr,
		                  S_ISLNK(attr->mode) ? symlink_target : NULL);

		o = b ? &b->obj : NULL;
	}
	if (!o) {
		rc = -ENOMEM;
		goto out;
	}
	cte__touch_dir(core, dir, &now);
	if (out)
		fill_attr(o, out);
	cte__telemetry_log(&core->telemetry, CTE_OP_CREATE, dir->obj.id, o->id,
	                   name, 0, 0);
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_link(struct cte_core *core, cte_id id, cte_id new_parent,
                 const char *new_name, cte_attr *out)
{
	struct cte_tag *dir;
	struct cte_obj *o;
	struct cte_blob *b;
	struct cte_dentry *d;
	struct timespec now;
	int rc = cte__check_name(new_name);

	if (rc)
		return rc;
	cte__now(&now);
	cte__ns_lock(core);
	o = cte__obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	if (o->is_tag) {
		rc = -EPERM;
		goto out;
	}
	b = (struct cte_blob *)o;
	rc = cte__dir_find(core, new_parent, &dir);
	if (rc)
		goto out;
	if (cte__dentry_find(core, dir, new_name)) {
		rc = -EEXIST;
		goto out;
	}
	d = cte__dir_add(core, dir, o, new_name);
	if (!d || cte__blob_add_name(b, d)) {
		if (d)
			cte__dir_remove(core, d);
		rc = -ENOMEM;
		goto out;
	}
	o->ctime = now;
	cte__touch_dir(core, dir, &now);
	cte__meta_changed(core, CTE_META_LINK, id, dir->obj.id);
	if (out)
		fill_attr(o, out);
out:
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_unlink(struct cte_core *core, cte_id parent, const char *name,
                   bool dir_wanted, bool destroy_orphan, cte_attr *out_attr)
{
	struct cte_tag *dir;
	struct cte_dentry *d;
	struct cte_blob *victim = NULL;
	struct timespec now;
	int rc = cte__check_name(name);

	if (rc)
		return rc;
	cte__now(&now);
	cte__ns_lock(core);
	rc = cte__dir_find(core, parent, &dir);
	if (rc)
		goto out;
	d = cte__dentry_find(core, dir, name);
	if (!d) {
		rc = -ENOENT;
		goto out;
	}
	if (d->obj->is_tag) {
		struct cte_tag *t = (struct cte_tag *)d->obj;

		if (!dir_wanted) {
			rc = -EISDIR;
			goto out;
		}
		if (t->n_live) {
			rc = -ENOTEMPTY;
			goto out;
		}
		if (out_attr) {
			fill_attr(&t->obj, out_attr);
			out_attr->nlink = 0;
		}
		cte__tag_delete(core, t);
	} else {
		struct cte_blob *b = (struct cte_blob *)d->obj;

		if (dir_wanted) {
			rc = -ENOTDIR;
			goto out;
		}
		cte__blob_drop_name(b, d);
		cte__dir_remove(core, d);
		b->obj.ctime = now;
		cte__meta_changed(core, CTE_META_UNLINK, b->obj.id,
		                  dir->obj.id);
		cte__telemetry_log(&core->telemetry, CTE_OP_DEL_BLOB,
		                   dir->obj.id, b->obj.id, name, 0, b->size);
		if (out_attr)
			fill_attr(&b->obj, out_attr);
		if (!b->n_names && destroy_orphan) {
			b->refs++;
			cte__blob_detach_locked(core, b);
			victim = b;
		}
	}
	cte__touch_dir(core, dir, &now);
out:
	cte__ns_unlock(core);
	if (victim)
		cte__blob_release_dead(core, victim);
	return rc;
}

/* Point dentry d at object o (EXCHANGE). */
static void dentry_retarget(struct cte_dentry *d, struct cte_obj *o,
                            struct cte_dentry *old_d)
{
	d->obj = o;
	if (o->is_tag) {
		struct cte_tag *t = (struct cte_tag *)o;

		t->self = d;
		t->parent = d->parent;
	} else {
		cte__blob_replace_name((struct cte_blob *)o, old_d, d);
	}
}

static int rename_exchange(struct cte_core *core, struct cte_dentry *sd,
                           struct cte_dentry *dd, const struct timespec *now)
{
	struct cte_obj *so = sd->obj, *dobj = dd->obj;
	int rc = 0;

	if (so == dobj)
		return 0;
	if ((so->is_tag &&
	     cte__tag_is_below(dd->parent, (struct cte_tag *)so)) ||
	    (dobj->is_tag &&
	     cte__tag_is_below(sd->parent, (struct cte_tag *)dobj)))
		return -EINVAL;
	if (so->is_tag != dobj->is_tag && sd->parent != dd->parent) {
		sd->parent->n_child_tags += dobj->is_tag ? 1 : -1;
		dd->parent->n_child_tags += so->is_tag ? 1 : -1;
	}
	dentry_retarget(sd, dobj, dd);
	dentry_retarget(dd, so, sd);
	if (so->is_tag)
		rc = cte__repath_subtree(core, (struct cte_tag *)so);
	if (!rc && dobj->is_tag)
		rc = cte__repath_subtree(core, (struct cte_tag *)dobj);
	so->ctime = *now;
	dobj->ctime = *now;
	cte__meta_changed(core, CTE_META_RENAME, so->id, dd->parent->obj.id);
	cte__meta_changed(core, CTE_META_RENAME, dobj->id, sd->parent->obj.id);
	return rc;
}

int cte__ns_rename(struct cte_core *core, cte_id old_parent,
                   const char *old_name, cte_id new_parent,
                   const char *new_name, uint32_t flags, bool destroy_orphan,
                   cte_id *out_replaced)
{
	struct cte_tag *odir, *ndir;
	struct cte_dentry *sd, *dd, *nd;
	struct cte_obj *so;
	struct cte_blob *victim = NULL;
	struct timespec now;
	int rc;

	if (out_replaced)
		*out_replaced = CTE_ID_NONE;
	if ((rc = cte__check_name(old_name)) ||
	    (rc = cte__check_name(new_name)))
		return rc;
	if ((flags & CTE_RENAME_NOREPLACE) && (flags & CTE_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & ~(CTE_RENAME_NOREPLACE | CTE_RENAME_EXCHANGE))
		return -EINVAL;
	cte__now(&now);
	cte__ns_lock(core);
	if ((rc = cte__dir_find(core, old_parent, &odir)) ||
	    (rc = cte__dir_find(core, new_parent, &ndir)))
		goto out;
	sd = cte__dentry_find(core, odir, old_name);
	if (!sd) {
		rc = -ENOENT;
		goto out;
	}
	dd = cte__dentry_find(core, ndir, new_name);
	so = sd->obj;
	if (flags & CTE_RENAME_EXCHANGE) {
		if (!dd) {
			rc = -ENOENT;
			goto out;
		}
		rc = rename_exchange(core, sd, dd, &now);
		goto touch;
	}
	if (dd == sd || (dd && dd->obj == so))
		goto out; /* same file: nothing to do (rename(2)) */
	if (dd && (flags & CTE_RENAME_NOREPLACE)) {
		rc = -EEXIST;
		goto out;
	}
	if (so->is_tag) {
		struct cte_tag *st = (struct cte_tag *)so;

		if (cte__tag_is_below(ndir, st)) {
			rc = -EINVAL;
			goto out;
		}
		if (dd) {
			struct cte_tag *dt = cte__as_tag(dd->obj);

			if (!dt) {
				rc = -ENOTDIR;
				goto out;
			}
			if (dt->n_live) {
				rc = -ENOTEMPTY;
				goto out;
			}
			if (out_replaced)
				*out_replaced = dt->obj.id;
			cte__tag_delete(core, dt);
		}
		nd = cte__dir_add(core, ndir, so, new_name);
		if (!nd) {
			rc = -ENOMEM;
			goto out;
		}
		cte__dir_remove(core, sd);
		st->self = nd;
		st->parent = ndir;
		rc = cte__repath_subtree(core, st);
	} else {
		struct cte_blob *b = (struct cte_blob *)so;

		if (dd) {
			struct cte_blob *db = cte__as_blob(dd->obj);

			if (!db) {
				rc = -EISDIR;
				goto out;
			}
			if (out_replaced)
				*out_replaced = db->obj.id;
			cte__blob_drop_name(db, dd);
			cte__dir_remove(core, dd);
			db->obj.ctime = now;
			cte__meta_changed(core, CTE_META_UNLINK, db->obj.id,
			                  ndir->obj.id);
			if (!db->n_names && destroy_orphan) {
				db->refs++;
				cte__blob_detach_locked(core, db);
				victim = db;
			}
		}
		nd = cte__dir_add(core, ndir, so, new_name);
		if (!nd) {
			rc = -ENOMEM;
			goto out;
		}
		cte__blob_replace_name(b, sd, nd);
		cte__dir_remove(core, sd);
	}
	so->ctime = now;
	cte__meta_changed(core, CTE_META_RENAME, so->id, ndir->obj.id);
	cte__telemetry_log(&core->telemetry, CTE_OP_RENAME, ndir->obj.id,
	                   so->id, new_name, 0, 0);
touch:
	if (!rc) {
		cte__touch_dir(core, odir, &now);
		if (ndir != odir)
			cte__touch_dir(core, ndir, &now);
	}
out:
	cte__ns_unlock(core);
	if (victim)
		cte__blob_release_dead(core, victim);
	return rc;
}

int cte__ns_readdir(struct cte_core *core, cte_id dir_id, uint64_t cookie,
                    cte_dirent *out, size_t max, size_t *out_n)
{
	struct cte_tag *dir;
	size_t i, n = 0;
	int rc;

	cte__ns_lock(core);
	rc = cte__dir_find(core, dir_id, &dir);
	if (rc)
		goto out;
	for (i = cte__dir_slot_after(dir, cookie); i < dir->n_slots && n < max;
	     i++) {
		struct cte_dentry *d = dir->slots[i].d;

		if (!d)
			continue;
		out[n].id = d->obj->id;
		out[n].next_cookie = d->cookie;
		memcpy(out[n].name, d->name, d->name_len + 1);
		fill_attr(d->obj, &out[n].attr);
		n++;
	}
out:
	cte__ns_unlock(core);
	*out_n = n;
	return rc;
}

int cte__ns_readlink(struct cte_core *core, cte_id id, char *buf, size_t size)
{
	struct cte_blob *b;
	int rc = 0;

	cte__ns_lock(core);
	b = cte__as_blob(cte__obj_find(core, id));
	if (!b) {
		rc = cte__obj_find(core, id) ? -EINVAL : -ENOENT;
	} else if (!b->symlink) {
		rc = -EINVAL;
	} else if (size) {
		strncpy(buf, b->symlink, size - 1);
		buf[size - 1] = '\0';
	}
	cte__ns_unlock(core);
	return rc;
}

int cte__ns_forget(struct cte_core *core, cte_id id)
{
	struct cte_blob *b;
	struct cte_blob *victim = NULL;

	cte__ns_lock(core);
	b = cte__as_blob(cte__obj_find(core, id));
	if (b && !b->n_names) {
		b->refs++;
		cte__blob_detach_locked(core, b);
		victim = b;
	}
	cte__ns_unlock(core);
	if (victim)
		cte__blob_release_dead(core, victim);
	return 0;
}

int cte__statfs(struct cte_core *core, cte_fs_stats *out)
{
	cte_target_info *list = NULL;
	size_t n = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = cte__target_list(core, &list, &n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		out->capacity += list[i].capacity;
		out->free_bytes += list[i].free_bytes;
	}
	free(list);
	/* blocks waiting for their unmapping record to be durable are as
	 * good as free: an allocation that needs them makes it so */
	out->free_bytes += cte__target_pending_bytes(core);
	if (out->free_bytes > out->capacity)
		out->free_bytes = out->capacity;
	cte__ns_lock(core);
	out->n_tags = core->n_tags;
	out->n_blobs = core->n_blobs;
	cte__ns_unlock(core);
	return 0;
}
