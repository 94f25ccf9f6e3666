/*
 * The CTE namespace: ids, tags (directories), blob names, attributes and
 * xattrs.  Everything here runs under core->ns_lock (see core_i.h); only
 * freeing a destroyed blob's blocks happens after the lock is dropped.
 *
 * Indexes: by_id (id -> object), by_path (tag path -> tag), dentries
 * ((parent tag id, name) -> dentry).  Each tag lists its entries in cookie
 * order (struct cte_dir_slot: an append-only array with tombstones,
 * compacted when half dead), so readdir cookies stay valid while entries
 * come and go, and a readdir never scans more than its own directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "core_i.h"

#define FIRST_COOKIE 3 /* leaves 1 and 2 free for "." and ".." */

/* ------------------------------------------------------------------ */
/* lookups (ns_lock held)                                              */

/* Replay met an extent on a volatile or unknown target: remember the
 * range; cte__state_count_dropped() counts what stays a hole.  Without
 * memory, count it at once (an over-estimate in the warning only). */
static void note_dropped(struct cte_core *core, cte_id id, uint64_t lblk,
                         uint64_t nblk)
{
	if (core->n_replay_dropped == core->cap_replay_dropped) {
		size_t cap = core->cap_replay_dropped ?
		                 2 * core->cap_replay_dropped : 64;
		struct cte_dropped_range *v = realloc(
		    core->replay_dropped, cap * sizeof(*v));

		if (!v) {
			core->replay_dropped_bytes += nblk << CTE_BLOCK_SHIFT;
			return;
		}
		core->replay_dropped = v;
		core->cap_replay_dropped = cap;
	}
	core->replay_dropped[core->n_replay_dropped++] =
	    (struct cte_dropped_range){id, lblk, nblk};
}

static int by_dropped(const void *a, const void *b)
{
	const struct cte_dropped_range *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->lblk != y->lblk)
		return x->lblk < y->lblk ? -1 : 1;
	return 0;
}

static struct cte_obj *obj_find(struct cte_core *core, cte_id id)
{
	struct cte_hnode *n;

	for (n = cte__htab_first(&core->by_id, cte__hash_u64(id)); n;
	     n = cte__htab_next(n)) {
		struct cte_obj *o =
		    CTE_CONTAINER_OF(n, struct cte_obj, id_node);

		if (o->id == id)
			return o;
	}
	return NULL;
}

static struct cte_tag *as_tag(struct cte_obj *o)
{
	return o && o->is_tag ? (struct cte_tag *)o : NULL;
}

static struct cte_blob *as_blob(struct cte_obj *o)
{
	return o && !o->is_tag ? (struct cte_blob *)o : NULL;
}

/* A directory by id: -ENOENT, or -ENOTDIR for a blob. */
static int dir_find(struct cte_core *core, cte_id id, struct cte_tag **out)
{
	struct cte_obj *o = obj_find(core, id);

	if (!o)
		return -ENOENT;
	if (!o->is_tag)
		return -ENOTDIR;
	*out = (struct cte_tag *)o;
	return 0;
}

static uint64_t dentry_hash(cte_id parent, const char *name, size_t len)
{
	return cte__hash_bytes(name, len, parent);
}

static struct cte_dentry *dentry_find(struct cte_core *core,
                                      struct cte_tag *dir, const char *name)
{
	size_t len = strlen(name);
	struct cte_hnode *n;

	for (n = cte__htab_first(&core->dentries,
	                         dentry_hash(dir->obj.id, name, len));
	     n; n = cte__htab_next(n)) {
		struct cte_dentry *d =
		    CTE_CONTAINER_OF(n, struct cte_dentry, node);

		if (d->parent == dir && d->name_len == len &&
		    !memcmp(d->name, name, len))
			return d;
	}
	return NULL;
}

static struct cte_tag *tag_by_path(struct cte_core *core, const char *path)
{
	struct cte_hnode *n;
	size_t len = strlen(path);

	for (n = cte__htab_first(&core->by_path, cte__hash_bytes(path, len, 0));
	     n; n = cte__htab_next(n)) {
		struct cte_tag *t =
		    CTE_CONTAINER_OF(n, struct cte_tag, path_node);

		if (!strcmp(t->path, path))
			return t;
	}
	return NULL;
}

/* A name component: -EINVAL (empty, '/', "." or ".."), -ENAMETOOLONG. */
static int check_name(const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, CTE_NAME_MAX + 1);
	if (len > CTE_NAME_MAX)
		return chi_error_set(-ENAMETOOLONG,
		                     "cte: name longer than %d "
		                     "bytes",
		                     CTE_NAME_MAX);
	if (!len || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return chi_error_set(-EINVAL, "cte: invalid name \"%s\"", name);
	return 0;
}

/* ------------------------------------------------------------------ */
/* directories                                                          */

static void dir_compact(struct cte_tag *t)
{
	size_t i, k = 0;

	for (i = 0; i < t->n_slots; i++)
		if (t->slots[i].d)
			t->slots[k++] = t->slots[i];
	t->n_slots = k;
}

/* Index of the first slot with cookie > cookie. */
static size_t slot_after(const struct cte_tag *t, uint64_t cookie)
{
	size_t lo = 0, hi = t->n_slots;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->slots[mid].cookie <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct cte_dentry *dir_add(struct cte_core *core, struct cte_tag *dir,
                                  struct cte_obj *obj, const char *name)
{
	size_t len = strlen(name);
	struct cte_dentry *d;

	if (dir->n_slots == dir->cap_slots) {
		size_t cap = dir->cap_slots ? dir->cap_slots * 2 : 8;
		struct cte_dir_slot *s;

		if (dir->n_live * 2 < dir->n_slots) {
			dir_compact(dir);
		} else {
			s = realloc(dir->slots, cap * sizeof(*s));
			if (!s)
				return NULL;
			dir->slots = s;
			dir->cap_slots = cap;
		}
	}
	d = malloc(sizeof(*d) + len + 1);
	if (!d)
		return NULL;
	memcpy(d->name, name, len + 1);
	d->name_len = len;
	d->parent = dir;
	d->obj = obj;
	d->cookie = dir->next_cookie++;
	if (cte__htab_insert(&core->dentries, &d->node,
	                     dentry_hash(dir->obj.id, name, len))) {
		free(d);
		return NULL;
	}
	dir->slots[dir->n_slots++] = (struct cte_dir_slot){d->cookie, d};
	dir->n_live++;
	if (obj->is_tag)
		dir->n_child_tags++;
	return d;
}

static void dir_remove(struct cte_core *core, struct cte_dentry *d)
{
	struct cte_tag *dir = d->parent;
	size_t i = slot_after(dir, d->cookie - 1);

	if (i < dir->n_slots && dir->slots[i].d == d)
		dir->slots[i].d = NULL;
	dir->n_live--;
	if (d->obj->is_tag)
		dir->n_child_tags--;
	cte__htab_remove(&core->dentries, &d->node);
	free(d);
	if (dir->n_slots > 32 && dir->n_live * 4 < dir->n_slots)
		dir_compact(dir);
}

/* ------------------------------------------------------------------ */
/* objects                                                              */

void cte__now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static bool ts_zero(const struct timespec *ts)
{
	return !ts->tv_sec && !ts->tv_nsec;
}

static void obj_init(struct cte_core *core, struct cte_obj *o, bool is_tag,
                     const cte_attr *attr)
{
	struct timespec now;

	cte__now(&now);
	o->id = core->next_id++;
	o->is_tag = is_tag;
	o->mode =
	    attr ? attr->mode : (is_tag ? S_IFDIR | 0755 : S_IFREG | 0644);
	o->uid = attr ? attr->uid : getuid();
	o->gid = attr ? attr->gid : getgid();
	o->rdev = attr ? attr->rdev : 0;
	o->atime = attr && !ts_zero(&attr->atime) ? attr->atime : now;
	o->mtime = attr && !ts_zero(&attr->mtime) ? attr->mtime : now;
	o->ctime = attr && !ts_zero(&attr->ctime) ? attr->ctime : now;
	o->btime = now;
	o->score = CTE_SCORE_UNSET;
	o->xattrs = NULL;
}

static void xattrs_free(struct cte_obj *o)
{
	struct cte_xattr *x, *next;

	for (x = o->xattrs; x; x = next) {
		next = x->next;
		free(x->value);
		free(x);
	}
	o->xattrs = NULL;
}

static char *join_path(const char *parent, const char *name)
{
	size_t pl = strlen(parent), nl = strlen(name);
	char *p = malloc(pl + nl + 2);

	if (!p)
		return NULL;
	if (pl == 1 && parent[0] == '/') {
		p[0] = '/';
		memcpy(p + 1, name, nl + 1);
	} else {
		memcpy(p, parent, pl);
		p[pl] = '/';
		memcpy(p + pl + 1, name, nl + 1);
	}
	return p;
}

static struct cte_tag *tag_new(struct cte_core *core, struct cte_tag *parent,
                               const char *name, const cte_attr *attr)
{
	struct cte_tag *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	obj_init(core, &t->obj, true, attr);
	t->obj.mode = (t->obj.mode & 07777) | S_IFDIR;
	t->next_cookie = FIRST_COOKIE;
	t->parent = parent;
	t->path = parent ? join_path(parent->path, name) : strdup("/");
	if (!t->path)
		goto fail;
	if (parent) {
		t->self = dir_add(core, parent, &t->obj, name);
		if (!t->self)
			goto fail;
	}
	cte__htab_insert(&core->by_id, &t->obj.id_node,
	                 cte__hash_u64(t->obj.id));
	cte__htab_insert(&core->by_path, &t->path_node,
	                 cte__hash_bytes(t->path, strlen(t->path), 0));
	core->n_tags++;
	cte__meta_changed(core, CTE_META_CREATE, t->obj.id,
	                  parent ? parent->obj.id : CTE_ID_NONE);
	return t;
fail:
	free(t->path);
	free(t);
	return NULL;
}

/* Remove an empty tag from every index and free it. */
static void tag_delete(struct cte_core *core, struct cte_tag *t)
{
	if (t->self)
		dir_remove(core, t->self);
	cte__htab_remove(&core->by_id, &t->obj.id_node);
	cte__htab_remove(&core->by_path, &t->path_node);
	core->n_tags--;
	cte__meta_changed(core, CTE_META_DESTROY, t->obj.id, CTE_ID_NONE);
	xattrs_free(&t->obj);
	free(t->slots);
	free(t->path);
	free(t);
}

/* The score a new blob below `dir` starts with. */
static double inherited_score(struct cte_core *core, struct cte_tag *dir)
{
	for (; dir; dir = dir->parent)
		if (dir->obj.score >= 0)
			return dir->obj.score;
	return core->params.default_score;
}

static int blob_add_name(struct cte_blob *b, struct cte_dentry *d)
{
	if (b->n_names == b->cap_names) {
		size_t cap = b->cap_names ? b->cap_names * 2 : 2;
		struct cte_dentry **v = realloc(b->names, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->names = v;
		b->cap_names = cap;
	}
	b->names[b->n_names++] = d;
	return 0;
}

static void blob_drop_name(struct cte_blob *b, struct cte_dentry *d)
{
	size_t i;

	for (i = 0; i < b->n_names; i++) {
		if (b->names[i] == d) {
			b->names[i] = b->names[--b->n_names];
			return;
		}
	}
}

static void blob_replace_name(struct cte_blob *b, struct cte_dentry *old,
                              struct cte_dentry *new_d)
{
	size_t i;

	for (i = 0; i < b->n_names; i++)
		if (b->names[i] == old)
			b->names[i] = new_d;
}

static struct cte_blob *blob_new(struct cte_core *core, struct cte_tag *dir,
                                 const char *name, const cte_attr *attr,
                                 const char *symlink_target)
{
	struct cte_blob *b = calloc(1, sizeof(*b));
	struct cte_dentry *d;

	if (!b)
		return NULL;
	obj_init(core, &b->obj, false, attr);
	if (!(b->obj.mode & S_IFMT))
		b->obj.mode |= S_IFREG;
	b->obj.score = attr && attr->score >= 0 && attr->score <= 1
	                   ? attr->score
	                   : inherited_score(core, dir);
	if (symlink_target) {
		b->symlink = strdup(symlink_target);
		if (!b->symlink)
			goto fail;
		b->size = strlen(symlink_target);
	}
	cte__extmap_init(&b->map);
	chi_corwlock_init(&b->io_lock);
	d = dir_add(core, dir, &b->obj, name);
	if (!d || blob_add_name(b, d)) {
		if (d)
			dir_remove(core, d);
		chi_corwlock_destroy(&b->io_lock);
		goto fail;
	}
	cte__htab_insert(&core->by_id, &b->obj.id_node,
	                 cte__hash_u64(b->obj.id));
	core->n_blobs++;
	cte__meta_changed(core, CTE_META_CREATE, b->obj.id, dir->obj.id);
	return b;
fail:
	free(b->symlink);
	free(b);
	return NULL;
}

static void blob_free(struct cte_blob *b)
{
	xattrs_free(&b->obj);
	cte__extmap_destroy(&b->map);
	chi_corwlock_destroy(&b->io_lock);
	free(b->names);
	free(b->symlink);
	free(b);
}

void cte__blob_detach_locked(struct cte_core *core, struct cte_blob *b)
{
	while (b->n_names) {
		struct cte_dentry *d = b->names[--b->n_names];

		dir_remove(core, d);
	}
	if (!b->dead) {
		b->dead = true;
		cte__htab_remove(&core->by_id, &b->obj.id_node);
		core->n_blobs--;
		cte__meta_changed(core, CTE_META_DESTROY, b->obj.id,
		                  CTE_ID_NONE);
	}
}

int cte__blob_get(struct cte_core *core, cte_id id, struct cte_blob **out)
{
	struct cte_obj *o;
	int rc = 0;

	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
	if (!o)
		rc = -ENOENT;
	else if (o->is_tag)
		rc = -EISDIR;
	else
		((struct cte_blob *)o)->refs++;
	cte__ns_unlock(core);
	if (!rc)
		*out = (struct cte_blob *)o;
	return rc;
}

void cte__blob_put(struct cte_core *core, struct cte_blob *b)
{
	bool last;

	pthread_mutex_lock(&core->ns_lock);
	last = --b->refs == 0 && b->dead;
	cte__ns_unlock(core);
	if (last)
		blob_free(b);
}

void cte__blob_release_dead(struct cte_core *core, struct cte_blob *b)
{
	chi_corwlock_rdlock(&core->quiesce);
	chi_corwlock_wrlock(&b->io_lock);
	cte__free_extents(core, &b->map);
	b->map.n = 0;
	chi_corwlock_unlock(&b->io_lock);
	chi_corwlock_unlock(&core->quiesce);
	cte__blob_put(core, b);
}

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

/* A directory's entries changed: mtime and ctime, and its record. */
static void touch_dir(struct cte_core *core, struct cte_tag *t,
                      const struct timespec *now)
{
	t->obj.mtime = *now;
	t->obj.ctime = *now;
	cte__meta_changed(core, CTE_META_ATTR, t->obj.id, CTE_ID_NONE);
}

int cte__ns_lookup(struct cte_core *core, cte_id parent, const char *name,
                   cte_attr *out)
{
	struct cte_tag *dir;
	struct cte_dentry *d;
	int rc;

	if (name && strnlen(name, CTE_NAME_MAX + 1) > CTE_NAME_MAX)
		return chi_error_set(-ENAMETOOLONG, "cte: name too long");
	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, parent, &dir);
	if (rc)
		goto out;
	if (!name || !*name || strchr(name, '/')) {
		rc = -EINVAL;
	} else if (!strcmp(name, ".")) {
		fill_attr(&dir->obj, out);
	} else if (!strcmp(name, "..")) {
		fill_attr(dir->parent ? &dir->parent->obj : &dir->obj, out);
	} else if ((d = dentry_find(core, dir, name))) {
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

	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
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
	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
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
	int rc = check_name(name);

	if (rc)
		return rc;
	if (S_ISLNK(attr->mode) && !symlink_target)
		return chi_error_set(-EINVAL, "cte: symlink without a target");
	cte__now(&now);
	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, parent, &dir);
	if (rc)
		goto out;
	if (dentry_find(core, dir, name)) {
		rc = -EEXIST;
		goto out;
	}
	if (S_ISDIR(attr->mode)) {
		struct cte_tag *t = tag_new(core, dir, name, attr);

		o = t ? &t->obj : NULL;
		if (t && attr->score >= 0 && attr->score <= 1)
			t->obj.score = attr->score;
	} else {
		struct cte_blob *b =
		    blob_new(core, dir, name, attr,
		             S_ISLNK(attr->mode) ? symlink_target : NULL);

		o = b ? &b->obj : NULL;
	}
	if (!o) {
		rc = -ENOMEM;
		goto out;
	}
	touch_dir(core, dir, &now);
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
	int rc = check_name(new_name);

	if (rc)
		return rc;
	cte__now(&now);
	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	if (o->is_tag) {
		rc = -EPERM;
		goto out;
	}
	b = (struct cte_blob *)o;
	rc = dir_find(core, new_parent, &dir);
	if (rc)
		goto out;
	if (dentry_find(core, dir, new_name)) {
		rc = -EEXIST;
		goto out;
	}
	d = dir_add(core, dir, o, new_name);
	if (!d || blob_add_name(b, d)) {
		if (d)
			dir_remove(core, d);
		rc = -ENOMEM;
		goto out;
	}
	o->ctime = now;
	touch_dir(core, dir, &now);
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
	int rc = check_name(name);

	if (rc)
		return rc;
	cte__now(&now);
	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, parent, &dir);
	if (rc)
		goto out;
	d = dentry_find(core, dir, name);
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
		tag_delete(core, t);
	} else {
		struct cte_blob *b = (struct cte_blob *)d->obj;

		if (dir_wanted) {
			rc = -ENOTDIR;
			goto out;
		}
		blob_drop_name(b, d);
		dir_remove(core, d);
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
	touch_dir(core, dir, &now);
out:
	cte__ns_unlock(core);
	if (victim)
		cte__blob_release_dead(core, victim);
	return rc;
}

/* Recompute the paths of tag t and every tag below it (no recursion: a
 * 4 KiB path nests 2,000 deep). */
static int repath_subtree(struct cte_core *core, struct cte_tag *t)
{
	struct cte_tag **stack = NULL;
	size_t n = 0, cap = 0, i;
	int rc = 0;

#define PUSH(x)                                                                \
	do {                                                                   \
		if (n == cap) {                                                \
			size_t c2 = cap ? cap * 2 : 16;                        \
			struct cte_tag **s2 =                                  \
			    realloc(stack, c2 * sizeof(*s2));                  \
			if (!s2) {                                             \
				rc = -ENOMEM;                                  \
				goto out;                                      \
			}                                                      \
			stack = s2;                                            \
			cap = c2;                                              \
		}                                                              \
		stack[n++] = (x);                                              \
	} while (0)

	PUSH(t);
	while (n) {
		struct cte_tag *cur = stack[--n];
		char *path = join_path(cur->parent->path, cur->self->name);

		if (!path) {
			rc = -ENOMEM;
			goto out;
		}
		cte__htab_remove(&core->by_path, &cur->path_node);
		free(cur->path);
		cur->path = path;
		cte__htab_insert(&core->by_path, &cur->path_node,
		                 cte__hash_bytes(path, strlen(path), 0));
		for (i = 0; i < cur->n_slots; i++) {
			struct cte_dentry *d = cur->slots[i].d;

			if (d && d->obj->is_tag)
				PUSH((struct cte_tag *)d->obj);
		}
	}
#undef PUSH
out:
	free(stack);
	return rc;
}

static bool is_self_or_below(struct cte_tag *t, struct cte_tag *ancestor)
{
	for (; t; t = t->parent)
		if (t == ancestor)
			return true;
	return false;
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
		blob_replace_name((struct cte_blob *)o, old_d, d);
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
	     is_self_or_below(dd->parent, (struct cte_tag *)so)) ||
	    (dobj->is_tag &&
	     is_self_or_below(sd->parent, (struct cte_tag *)dobj)))
		return -EINVAL;
	if (so->is_tag != dobj->is_tag && sd->parent != dd->parent) {
		sd->parent->n_child_tags += dobj->is_tag ? 1 : -1;
		dd->parent->n_child_tags += so->is_tag ? 1 : -1;
	}
	dentry_retarget(sd, dobj, dd);
	dentry_retarget(dd, so, sd);
	if (so->is_tag)
		rc = repath_subtree(core, (struct cte_tag *)so);
	if (!rc && dobj->is_tag)
		rc = repath_subtree(core, (struct cte_tag *)dobj);
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
	if ((rc = check_name(old_name)) || (rc = check_name(new_name)))
		return rc;
	if ((flags & CTE_RENAME_NOREPLACE) && (flags & CTE_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & ~(CTE_RENAME_NOREPLACE | CTE_RENAME_EXCHANGE))
		return -EINVAL;
	cte__now(&now);
	pthread_mutex_lock(&core->ns_lock);
	if ((rc = dir_find(core, old_parent, &odir)) ||
	    (rc = dir_find(core, new_parent, &ndir)))
		goto out;
	sd = dentry_find(core, odir, old_name);
	if (!sd) {
		rc = -ENOENT;
		goto out;
	}
	dd = dentry_find(core, ndir, new_name);
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

		if (is_self_or_below(ndir, st)) {
			rc = -EINVAL;
			goto out;
		}
		if (dd) {
			struct cte_tag *dt = as_tag(dd->obj);

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
			tag_delete(core, dt);
		}
		nd = dir_add(core, ndir, so, new_name);
		if (!nd) {
			rc = -ENOMEM;
			goto out;
		}
		dir_remove(core, sd);
		st->self = nd;
		st->parent = ndir;
		rc = repath_subtree(core, st);
	} else {
		struct cte_blob *b = (struct cte_blob *)so;

		if (dd) {
			struct cte_blob *db = as_blob(dd->obj);

			if (!db) {
				rc = -EISDIR;
				goto out;
			}
			if (out_replaced)
				*out_replaced = db->obj.id;
			blob_drop_name(db, dd);
			dir_remove(core, dd);
			db->obj.ctime = now;
			cte__meta_changed(core, CTE_META_UNLINK, db->obj.id,
			                  ndir->obj.id);
			if (!db->n_names && destroy_orphan) {
				db->refs++;
				cte__blob_detach_locked(core, db);
				victim = db;
			}
		}
		nd = dir_add(core, ndir, so, new_name);
		if (!nd) {
			rc = -ENOMEM;
			goto out;
		}
		blob_replace_name(b, sd, nd);
		dir_remove(core, sd);
	}
	so->ctime = now;
	cte__meta_changed(core, CTE_META_RENAME, so->id, ndir->obj.id);
	cte__telemetry_log(&core->telemetry, CTE_OP_RENAME, ndir->obj.id,
	                   so->id, new_name, 0, 0);
touch:
	if (!rc) {
		touch_dir(core, odir, &now);
		if (ndir != odir)
			touch_dir(core, ndir, &now);
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

	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, dir_id, &dir);
	if (rc)
		goto out;
	for (i = slot_after(dir, cookie); i < dir->n_slots && n < max; i++) {
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

	pthread_mutex_lock(&core->ns_lock);
	b = as_blob(obj_find(core, id));
	if (!b) {
		rc = obj_find(core, id) ? -EINVAL : -ENOENT;
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

	pthread_mutex_lock(&core->ns_lock);
	b = as_blob(obj_find(core, id));
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

int cte__tag_get_name(struct cte_core *core, cte_id tag, char **out)
{
	struct cte_tag *t;
	int rc;

	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, tag, &t);
	if (!rc) {
		*out = strdup(t->path);
		if (!*out)
			rc = -ENOMEM;
	}
	cte__ns_unlock(core);
	return rc;
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
	pthread_mutex_lock(&core->free_lock);
	for (i = 0; i < core->n_pending; i++)
		out->free_bytes += core->pending_free[i].blk.size;
	pthread_mutex_unlock(&core->free_lock);
	if (out->free_bytes > out->capacity)
		out->free_bytes = out->capacity;
	pthread_mutex_lock(&core->ns_lock);
	out->n_tags = core->n_tags;
	out->n_blobs = core->n_blobs;
	cte__ns_unlock(core);
	return 0;
}

/* ------------------------------------------------------------------ */
/* xattrs                                                               */

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
	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
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

int cte__xattr_get(struct cte_core *core, cte_id id, const char *name,
                   void *buf, size_t size, size_t *out_size)
{
	struct cte_obj *o;
	struct cte_xattr **pp;
	int rc = check_xattr_name(name);

	*out_size = 0;
	if (rc)
		return rc == -ERANGE ? -ENODATA : rc;
	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	pp = xattr_slot(o, name);
	if (!pp) {
		rc = -ENODATA;
		goto out;
	}
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

	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
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
	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, id);
	if (!o) {
		rc = -ENOENT;
		goto out;
	}
	pp = xattr_slot(o, name);
	if (!pp) {
		rc = -ENODATA;
		goto out;
	}
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

/* ------------------------------------------------------------------ */
/* tags by name                                                         */

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
	if (name[0] == '/' && (cur = tag_by_path(core, name))) {
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
		d = dentry_find(core, cur, comp);
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
			struct cte_tag *t = tag_new(core, cur, comp, NULL);

			if (!t)
				return -ENOMEM;
			touch_dir(core, cur, &now);
			cur = t;
		}
	}
	*out = cur;
	return 0;
}

int cte__tag_set_score(struct cte_core *core, cte_id tag_id, double score)
{
	struct cte_obj *o;
	int rc = 0;

	pthread_mutex_lock(&core->ns_lock);
	o = obj_find(core, tag_id);
	if (!o) {
		rc = -ENOENT;
	} else if (!o->is_tag) {
		rc = -ENOTDIR;
	} else {
		o->score = score;
		cte__now(&o->ctime);
		cte__meta_changed(core, CTE_META_ATTR, tag_id, CTE_ID_NONE);
	}
	cte__ns_unlock(core);
	return rc;
}

int cte__tag_get_or_create(struct cte_core *core, const char *name, cte_id *out)
{
	struct cte_tag *t;
	int rc;

	pthread_mutex_lock(&core->ns_lock);
	rc = tag_walk(core, name, true, &t);
	if (!rc)
		*out = t->obj.id;
	cte__ns_unlock(core);
	return rc;
}

int cte__tag_del(struct cte_core *core, cte_id tag_id)
{
	struct cte_tag *t, **stack = NULL, **order = NULL;
	struct cte_blob **victims = NULL;
	size_t n_stack = 0, n_order = 0, n_victims = 0, cap = 0, vcap = 0, i;
	int rc;

	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, tag_id, &t);
	if (rc)
		goto out;
	if (t == core->root) {
		rc = chi_error_set(-EBUSY,
		                   "cte: the root tag cannot be deleted");
		goto out;
	}
	/* Collect the subtree in preorder (parents before children). */
	cap = 16;
	stack = malloc(cap * sizeof(*stack));
	order = malloc(cap * sizeof(*order));
	if (!stack || !order) {
		rc = -ENOMEM;
		goto out;
	}
	stack[n_stack++] = t;
	while (n_stack) {
		struct cte_tag *cur = stack[--n_stack];

		if (n_order + 1 > cap ||
		    n_stack + cur->n_child_tags + 1 > cap) {
			size_t c2 = (cap + cur->n_child_tags) * 2;
			struct cte_tag **s2 = realloc(stack, c2 * sizeof(*s2));
			struct cte_tag **o2;

			if (s2)
				stack = s2;
			o2 = realloc(order, c2 * sizeof(*o2));
			if (o2)
				order = o2;
			if (!s2 || !o2) {
				rc = -ENOMEM;
				goto out;
			}
			cap = c2;
		}
		order[n_order++] = cur;
		for (i = 0; i < cur->n_slots; i++) {
			struct cte_dentry *d = cur->slots[i].d;

			if (d && d->obj->is_tag)
				stack[n_stack++] = (struct cte_tag *)d->obj;
		}
	}
	/* Blobs first, then tags deepest first. */
	for (i = n_order; i-- > 0;) {
		struct cte_tag *cur = order[i];
		size_t k;

		for (k = 0; k < cur->n_slots; k++) {
			struct cte_dentry *d = cur->slots[k].d;
			struct cte_blob *b;

			if (!d || d->obj->is_tag)
				continue;
			b = (struct cte_blob *)d->obj;
			blob_drop_name(b, d);
			dir_remove(core, d);
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
		tag_delete(core, cur);
	}
out:
	cte__ns_unlock(core);
	for (i = 0; i < n_victims; i++)
		cte__blob_release_dead(core, victims[i]);
	free(victims);
	free(stack);
	free(order);
	return rc;
}

int cte__tag_get_size(struct cte_core *core, cte_id tag_id, uint64_t *out)
{
	struct cte_tag *t;
	uint64_t sum = 0;
	size_t i;
	int rc;

	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, tag_id, &t);
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

	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, tag_id, &t);
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

	pthread_mutex_lock(&core->ns_lock);
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
	pthread_mutex_lock(&core->ns_lock);
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
	int rc = check_name(name);

	if (rc)
		return rc;
	pthread_mutex_lock(&core->ns_lock);
	rc = dir_find(core, tag_id, &t);
	if (rc)
		goto out;
	d = dentry_find(core, t, name);
	if (d && d->obj->is_tag) {
		rc = -EISDIR;
	} else if (d) {
		*out_id = d->obj->id;
	} else if (!create) {
		rc = -ENOENT;
	} else {
		struct cte_blob *b = blob_new(core, t, name, NULL, NULL);
		struct timespec now;

		if (!b) {
			rc = -ENOMEM;
			goto out;
		}
		cte__now(&now);
		touch_dir(core, t, &now);
		*out_id = b->obj.id;
		cte__telemetry_log(&core->telemetry, CTE_OP_CREATE, t->obj.id,
		                   b->obj.id, name, 0, 0);
	}
out:
	cte__ns_unlock(core);
	return rc;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                            */

void cte__meta_changed(struct cte_core *core, enum cte_meta_kind kind,
                       cte_id id, cte_id aux)
{
	if (core->meta_hook)
		core->meta_hook(core->meta_hook_arg, kind, id, aux);
}

int cte__core_new(struct cte_core **out, const struct cte_params *params)
{
	struct cte_core *core = calloc(1, sizeof(*core));
	int rc;

	if (!core)
		return -ENOMEM;
	core->params = *params;
	pthread_mutex_init(&core->ns_lock, NULL);
	pthread_mutex_init(&core->target_lock, NULL);
	chi_corwlock_init(&core->quiesce);
	pthread_mutex_init(&core->free_lock, NULL);
	cte__journal_txn_init(&core->txn);
	for (size_t i = 0; i < CTE_MAX_TARGETS; i++)
		core->sync_fds[i] = -1;
	cte__htab_init(&core->by_id);
	cte__htab_init(&core->by_path);
	cte__htab_init(&core->dentries);
	core->next_id = CTE_ROOT_ID;
	core->rng = 0x853c49e6748fea9bULL ^ (uint64_t)(uintptr_t)core;
	rc = cte__telemetry_init(&core->telemetry, params->telemetry_capacity);
	if (rc)
		goto fail;
	core->root = tag_new(core, NULL, NULL, NULL);
	if (!core->root) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = core;
	return 0;
fail:
	cte__telemetry_destroy(&core->telemetry);
	chi_corwlock_destroy(&core->quiesce);
	free(core);
	return rc;
}

void cte__core_free(struct cte_core *core)
{
	size_t b;

	if (!core)
		return;
	/* Free every object; blocks are not returned (the bdev pools go
	 * away with the runtime). */
	for (b = 0; b < core->by_id.n_buckets; b++) {
		struct cte_hnode *n = core->by_id.buckets[b], *next;

		for (; n; n = next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(n, struct cte_obj, id_node);

			next = n->next;
			if (o->is_tag) {
				struct cte_tag *t = (struct cte_tag *)o;
				size_t i;

				for (i = 0; i < t->n_slots; i++)
					free(t->slots[i].d);
				xattrs_free(o);
				free(t->slots);
				free(t->path);
				free(t);
			} else {
				blob_free((struct cte_blob *)o);
			}
		}
	}
	cte__htab_destroy(&core->by_id);
	cte__htab_destroy(&core->by_path);
	cte__htab_destroy(&core->dentries);
	cte__telemetry_destroy(&core->telemetry);
	pthread_mutex_destroy(&core->ns_lock);
	pthread_mutex_destroy(&core->target_lock);
	pthread_mutex_destroy(&core->free_lock);
	chi_corwlock_destroy(&core->quiesce);
	cte__journal_txn_destroy(&core->txn);
	cte__buf_free(&core->meta_buf);
	free(core->replay_dropped);
	free(core->pending_free);
	free(core);
}

/* ------------------------------------------------------------------ */
/* images: serialization for checkpoints and journal records            */
/*
 * Every record is [u8 kind][u32 body length][body], native byte order.
 * Kinds: IMG_TAG / IMG_BLOB (a full image of one object: attributes,
 * xattrs, its name(s), and for blobs optionally the extent map), IMG_GONE
 * (object destroyed), IMG_TARGETS (target slot -> name, so extents can be
 * mapped onto the targets of a later run), IMG_NEXT_ID.  Applying an image
 * is an upsert, so a checkpoint followed by journal records replays into
 * the state of the moment the last record was written.
 */

enum { IMG_TAG = 1, IMG_BLOB, IMG_GONE, IMG_TARGETS, IMG_NEXT_ID };
_Static_assert(IMG_TARGETS == CTE_IMG_KIND_TARGETS, "record kinds");

void cte__buf_free(struct cte_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int buf_put(struct cte_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		unsigned char *q;

		while (cap < b->len + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

#define PUT(b, v)                                                              \
	do {                                                                   \
		__typeof__(v) tmp_ = (v);                                      \
		if ((rc = buf_put((b), &tmp_, sizeof(tmp_))))                  \
			goto out;                                              \
	} while (0)
#define PUTN(b, p, n)                                                          \
	do {                                                                   \
		if ((rc = buf_put((b), (p), (n))))                             \
			goto out;                                              \
	} while (0)

static int put_common(struct cte_buf *b, const struct cte_obj *o)
{
	const struct cte_xattr *x;
	uint32_t n = 0;
	int rc = 0;

	PUT(b, (uint64_t)o->id);
	PUT(b, (uint32_t)o->mode);
	PUT(b, (uint32_t)o->uid);
	PUT(b, (uint32_t)o->gid);
	PUT(b, (uint64_t)o->rdev);
	PUT(b, o->atime);
	PUT(b, o->mtime);
	PUT(b, o->ctime);
	PUT(b, o->btime);
	PUT(b, o->score);
	for (x = o->xattrs; x; x = x->next)
		n++;
	PUT(b, n);
	for (x = o->xattrs; x; x = x->next) {
		PUT(b, (uint32_t)strlen(x->name));
		PUTN(b, x->name, strlen(x->name));
		PUT(b, (uint32_t)x->size);
		PUTN(b, x->value, x->size);
	}
out:
	return rc;
}

/* Start a record; returns the offset of its length field. */
static int rec_begin(struct cte_buf *b, uint8_t kind, size_t *at)
{
	uint32_t zero = 0;
	int rc = buf_put(b, &kind, 1);

	*at = b->len;
	return rc ? rc : buf_put(b, &zero, sizeof(zero));
}

static void rec_end(struct cte_buf *b, size_t at)
{
	uint32_t len = (uint32_t)(b->len - at - sizeof(uint32_t));

	memcpy(b->p + at, &len, sizeof(len));
}

/* Extents section: none, the whole map, or blocks [from, to) only. */
enum { EXT_NONE = 0, EXT_ALL = 1, EXT_RANGE = 2 };

static int image_extents(struct cte_buf *b, const struct cte_extmap *m,
                         uint8_t mode, uint64_t from, uint64_t to)
{
	size_t i, first, n = 0;
	int rc = 0;

	PUT(b, mode);
	if (mode == EXT_NONE)
		goto out;
	if (mode == EXT_ALL) {
		PUT(b, (uint32_t)m->n);
		PUTN(b, m->v, m->n * sizeof(*m->v));
		goto out;
	}
	PUT(b, from);
	PUT(b, to);
	first = cte__extmap_find(m, from);
	for (i = first; i < m->n && m->v[i].lblk < to; i++)
		n++;
	PUT(b, (uint32_t)n);
	for (i = first; i < first + n; i++) {
		struct cte_extent e = m->v[i];
		uint64_t s = e.lblk > from ? e.lblk : from;
		uint64_t t = e.lblk + e.nblk < to ? e.lblk + e.nblk : to;

		e.dev_off += (s - e.lblk) << CTE_BLOCK_SHIFT;
		e.lblk = s;
		e.nblk = (uint32_t)(t - s);
		PUT(b, e);
	}
out:
	return rc;
}

static int image_obj(struct cte_buf *b, struct cte_obj *o, uint8_t ext_mode,
                     uint64_t from, uint64_t to)
{
	size_t at, i;
	int rc;

	if ((rc = rec_begin(b, o->is_tag ? IMG_TAG : IMG_BLOB, &at)) ||
	    (rc = put_common(b, o)))
		goto out;
	if (o->is_tag) {
		struct cte_tag *t = (struct cte_tag *)o;
		uint16_t len = t->self ? (uint16_t)t->self->name_len : 0;

		PUT(b, (uint64_t)(t->parent ? t->parent->obj.id : 0));
		PUT(b, len);
		if (len)
			PUTN(b, t->self->name, len);
	} else {
		struct cte_blob *bl = (struct cte_blob *)o;
		uint32_t sl =
		    bl->symlink ? (uint32_t)strlen(bl->symlink) + 1 : 0;

		PUT(b, (uint32_t)bl->n_names);
		for (i = 0; i < bl->n_names; i++) {
			PUT(b, (uint64_t)bl->names[i]->parent->obj.id);
			PUT(b, (uint16_t)bl->names[i]->name_len);
			PUTN(b, bl->names[i]->name, bl->names[i]->name_len);
		}
		PUT(b, sl);
		if (sl)
			PUTN(b, bl->symlink, sl - 1);
		PUT(b, (uint64_t)bl->size);
		if ((rc = image_extents(b, &bl->map, ext_mode, from, to)))
			goto out;
	}
	rec_end(b, at);
out:
	return rc;
}

/*
 * A blob's whole map; a map too big for one record (the journal takes 16
 * MiB) goes as several range records, each a full image of the blob.
 */
#define EXTENTS_PER_RECORD 200000

static int image_blob_all(struct cte_buf *b, struct cte_obj *o)
{
	const struct cte_extmap *m = &((struct cte_blob *)o)->map;
	uint64_t from = 0, to;
	size_t k;
	int rc;

	if (m->n <= EXTENTS_PER_RECORD)
		return image_obj(b, o, EXT_ALL, 0, 0);
	for (k = 0; k < m->n; k += EXTENTS_PER_RECORD) {
		to = k + EXTENTS_PER_RECORD < m->n
		         ? m->v[k + EXTENTS_PER_RECORD].lblk
		         : UINT64_MAX;
		rc = image_obj(b, o, EXT_RANGE, from, to);
		if (rc)
			return rc;
		from = to;
	}
	return 0;
}

int cte__obj_image_locked(struct cte_core *core, cte_id id, uint32_t flags,
                          struct cte_buf *out)
{
	struct cte_obj *o = obj_find(core, id);
	size_t at;
	int rc;

	if (o)
		return (flags & CTE_IMG_EXTENTS) && !o->is_tag
		           ? image_blob_all(out, o)
		           : image_obj(out, o, EXT_NONE, 0, 0);
	if ((rc = rec_begin(out, IMG_GONE, &at)))
		return rc;
	rc = buf_put(out, &id, sizeof(id));
	rec_end(out, at);
	return rc;
}

int cte__obj_image_range_locked(struct cte_core *core, cte_id id, uint64_t from,
                                uint64_t to, struct cte_buf *out)
{
	struct cte_obj *o = obj_find(core, id);

	if (!o || o->is_tag)
		return cte__obj_image_locked(core, id, 0, out);
	if (!from && to == UINT64_MAX)
		return image_blob_all(out, o);
	return image_obj(out, o, EXT_RANGE, from, to);
}

int cte__targets_image(struct cte_core *core, struct cte_buf *out)
{
	size_t at;
	uint32_t i, n = 0;
	int rc;

	pthread_mutex_lock(&core->target_lock);
	if ((rc = rec_begin(out, IMG_TARGETS, &at)))
		goto out;
	for (i = 0; i < core->n_target_slots; i++)
		n += core->targets[i].active;
	PUT(out, n);
	for (i = 0; i < core->n_target_slots; i++) {
		uint16_t len;

		if (!core->targets[i].active)
			continue;
		len = (uint16_t)strlen(core->targets[i].name);
		PUT(out, i);
		PUT(out, len);
		PUTN(out, core->targets[i].name, len);
	}
	rec_end(out, at);
out:
	pthread_mutex_unlock(&core->target_lock);
	return rc;
}

int cte__state_save(struct cte_core *core, struct cte_buf *out)
{
	struct cte_tag **queue = NULL;
	size_t qn = 0, qcap = 0, qi, i, at;
	int rc;

	chi_corwlock_wrlock(&core->quiesce);
	rc = cte__targets_image(core, out);
	pthread_mutex_lock(&core->ns_lock);
	if (rc || (rc = rec_begin(out, IMG_NEXT_ID, &at)))
		goto out;
	PUT(out, (uint64_t)core->next_id);
	rec_end(out, at);
	/* tags breadth first (parents before children), blobs as met */
	qcap = 64;
	queue = malloc(qcap * sizeof(*queue));
	if (!queue) {
		rc = -ENOMEM;
		goto out;
	}
	queue[qn++] = core->root;
	for (qi = 0; qi < qn; qi++) {
		struct cte_tag *t = queue[qi];

		if ((rc = image_obj(out, &t->obj, EXT_NONE, 0, 0)))
			goto out;
		for (i = 0; i < t->n_slots; i++) {
			struct cte_dentry *d = t->slots[i].d;

			if (!d || !d->obj->is_tag)
				continue;
			if (qn == qcap) {
				struct cte_tag **q2 =
				    realloc(queue, 2 * qcap * sizeof(*q2));

				if (!q2) {
					rc = -ENOMEM;
					goto out;
				}
				queue = q2;
				qcap *= 2;
			}
			queue[qn++] = (struct cte_tag *)d->obj;
		}
	}
	/* every blob (orphans included) once, with its extents */
	for (i = 0; i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[i]; h; h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);

			if (!o->is_tag && (rc = image_blob_all(out, o)))
				goto out;
		}
	}
out:
	cte__ns_unlock(core);
	chi_corwlock_unlock(&core->quiesce);
	free(queue);
	return rc;
}

/* ---- applying images ---- */

struct rd {
	const unsigned char *p, *end;
};

static int get(struct rd *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -EBADMSG;
	memcpy(out, r->p, n);
	r->p += n;
	return 0;
}

#define GET(r, v)                                                              \
	do {                                                                   \
		if ((rc = get((r), &(v), sizeof(v))))                          \
			goto out;                                              \
	} while (0)

/* Read a length-prefixed name (u16) into a NUL-terminated buffer. */
static int get_name(struct rd *r, char *name)
{
	uint16_t len;
	int rc = get(r, &len, sizeof(len));

	if (rc)
		return rc;
	if (len > CTE_NAME_MAX)
		return -EBADMSG;
	rc = get(r, name, len);
	name[len] = '\0';
	return rc;
}

static int get_common(struct rd *r, struct cte_obj *o)
{
	uint32_t n, i;
	int rc;

	xattrs_free(o);
	GET(r, o->mode);
	GET(r, o->uid);
	GET(r, o->gid);
	GET(r, o->rdev);
	GET(r, o->atime);
	GET(r, o->mtime);
	GET(r, o->ctime);
	GET(r, o->btime);
	GET(r, o->score);
	GET(r, n);
	for (i = 0; i < n; i++) {
		uint32_t nl, vl;
		struct cte_xattr *x, **pp;

		GET(r, nl);
		if (nl > 255 || (size_t)(r->end - r->p) < nl)
			return -EBADMSG;
		x = malloc(sizeof(*x) + nl + 1);
		if (!x)
			return -ENOMEM;
		memcpy(x->name, r->p, nl);
		x->name[nl] = '\0';
		r->p += nl;
		x->next = NULL;
		x->value = NULL;
		for (pp = &o->xattrs; *pp; pp = &(*pp)->next)
			;
		*pp = x;
		GET(r, vl);
		x->size = vl;
		if (vl > CTE_XATTR_SIZE_MAX || (size_t)(r->end - r->p) < vl)
			return -EBADMSG;
		if (vl) {
			x->value = malloc(vl);
			if (!x->value)
				return -ENOMEM;
			memcpy(x->value, r->p, vl);
			r->p += vl;
		}
	}
out:
	return rc;
}

/* Make room for (dir, name): an entry of another object there loses it
 * (a later image of that object says where it went). */
static void evict(struct cte_core *core, struct cte_tag *dir, const char *name,
                  struct cte_obj *keep)
{
	struct cte_dentry *d = dentry_find(core, dir, name);

	if (!d || d->obj == keep)
		return;
	if (d->obj->is_tag) {
		struct cte_tag *t = (struct cte_tag *)d->obj;

		t->self = NULL;
		t->parent = NULL; /* floating until its own image */
	} else {
		blob_drop_name((struct cte_blob *)d->obj, d);
	}
	dir_remove(core, d);
}

static int apply_tag(struct cte_core *core, struct rd *r)
{
	cte_id id, parent_id;
	struct cte_obj *o;
	struct cte_tag *t, *parent = NULL;
	char name[CTE_NAME_MAX + 1];
	int rc;

	GET(r, id);
	o = obj_find(core, id);
	if (o && !o->is_tag)
		return -EBADMSG;
	t = (struct cte_tag *)o;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->obj.id = id;
		t->obj.is_tag = true;
		t->next_cookie = FIRST_COOKIE;
		t->path = strdup("/");
		if (!t->path) {
			free(t);
			return -ENOMEM;
		}
		cte__htab_insert(&core->by_id, &t->obj.id_node,
		                 cte__hash_u64(id));
		cte__htab_insert(&core->by_path, &t->path_node,
		                 cte__hash_bytes("/", 1, 0) ^ 1);
		core->n_tags++;
	}
	if ((rc = get_common(r, &t->obj)))
		goto out;
	GET(r, parent_id);
	if ((rc = get_name(r, name)))
		goto out;
	if (id >= core->next_id)
		core->next_id = id + 1;
	if (id == CTE_ROOT_ID)
		goto out;
	if ((rc = dir_find(core, parent_id, &parent)))
		goto out;
	if (t->self && t->parent == parent && !strcmp(t->self->name, name))
		goto out;
	if (is_self_or_below(parent, t)) {
		rc = -EBADMSG;
		goto out;
	}
	evict(core, parent, name, &t->obj);
	if (t->self)
		dir_remove(core, t->self);
	t->self = dir_add(core, parent, &t->obj, name);
	if (!t->self) {
		rc = -ENOMEM;
		goto out;
	}
	t->parent = parent;
	rc = repath_subtree(core, t);
out:
	return rc;
}

static int apply_blob(struct cte_core *core, struct rd *r,
                      const uint32_t *slot_map)
{
	cte_id id;
	struct cte_obj *o;
	struct cte_blob *b;
	uint32_t n, i, sl;
	uint8_t has_ext;
	int rc;

	GET(r, id);
	o = obj_find(core, id);
	if (o && o->is_tag)
		return -EBADMSG;
	b = (struct cte_blob *)o;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->obj.id = id;
		cte__extmap_init(&b->map);
		chi_corwlock_init(&b->io_lock);
		cte__htab_insert(&core->by_id, &b->obj.id_node,
		                 cte__hash_u64(id));
		core->n_blobs++;
	}
	if (id >= core->next_id)
		core->next_id = id + 1;
	if ((rc = get_common(r, &b->obj)))
		goto out;
	while (b->n_names)
		dir_remove(core, b->names[--b->n_names]);
	GET(r, n);
	for (i = 0; i < n; i++) {
		cte_id parent_id;
		struct cte_tag *dir;
		char name[CTE_NAME_MAX + 1];
		struct cte_dentry *d;

		GET(r, parent_id);
		if ((rc = get_name(r, name)) ||
		    (rc = dir_find(core, parent_id, &dir)))
			goto out;
		evict(core, dir, name, &b->obj);
		d = dir_add(core, dir, &b->obj, name);
		if (!d || blob_add_name(b, d)) {
			rc = -ENOMEM;
			goto out;
		}
	}
	GET(r, sl);
	free(b->symlink);
	b->symlink = NULL;
	if (sl) {
		if ((size_t)(r->end - r->p) < sl - 1 ||
		    !(b->symlink = malloc(sl))) {
			rc = -EBADMSG;
			goto out;
		}
		memcpy(b->symlink, r->p, sl - 1);
		b->symlink[sl - 1] = '\0';
		r->p += sl - 1;
	}
	GET(r, b->size);
	GET(r, has_ext);
	if (has_ext == EXT_RANGE) {
		uint64_t from, to;

		GET(r, from);
		GET(r, to);
		if ((rc = cte__extmap_punch(&b->map, from, to, NULL)))
			goto out;
	} else if (has_ext == EXT_ALL) {
		b->map.n = 0;
	} else if (has_ext != EXT_NONE) {
		rc = -EBADMSG;
		goto out;
	}
	if (has_ext != EXT_NONE) {
		GET(r, n);
		for (i = 0; i < n; i++) {
			struct cte_extent e;

			GET(r, e);
			if (!e.nblk || e.target >= CTE_MAX_TARGETS) {
				rc = -EBADMSG;
				goto out;
			}
			if (slot_map[e.target] >= CTE_MAX_TARGETS) {
				/* a volatile or vanished target: a hole */
				note_dropped(core, b->obj.id, e.lblk, e.nblk);
				continue;
			}
			e.target = slot_map[e.target];
			if ((rc = cte__extmap_insert(&b->map, &e)))
				goto out;
		}
		if (!cte__extmap_valid(&b->map)) {
			rc = -EBADMSG;
			goto out;
		}
		b->alloc_blocks = cte__extmap_blocks(&b->map);
	}
out:
	return rc;
}

static int apply_gone(struct cte_core *core, struct rd *r)
{
	struct cte_obj *o;
	cte_id id;
	int rc;

	GET(r, id);
	o = obj_find(core, id);
	if (!o)
		goto out;
	if (o->is_tag) {
		struct cte_tag *t = (struct cte_tag *)o;

		if (t->n_live || t == core->root) {
			rc = -EBADMSG;
			goto out;
		}
		tag_delete(core, t);
	} else {
		struct cte_blob *b = (struct cte_blob *)o;

		cte__blob_detach_locked(core, b);
		if (!b->refs)
			blob_free(b);
	}
out:
	return rc;
}

static int apply_targets(struct cte_core *core, struct rd *r,
                         uint32_t *slot_map)
{
	uint32_t n, i, k, slot;
	char name[4096];
	uint16_t len;
	int rc;

	for (i = 0; i < CTE_MAX_TARGETS; i++)
		slot_map[i] = UINT32_MAX;
	GET(r, n);
	for (i = 0; i < n; i++) {
		GET(r, slot);
		GET(r, len);
		if (len >= sizeof(name) || slot >= CTE_MAX_TARGETS)
			return -EBADMSG;
		if ((rc = get(r, name, len)))
			goto out;
		name[len] = '\0';
		pthread_mutex_lock(&core->target_lock);
		for (k = 0; k < core->n_target_slots; k++)
			if (core->targets[k].active &&
			    !core->targets[k].is_volatile &&
			    !strcmp(core->targets[k].name, name))
				slot_map[slot] = k;
		pthread_mutex_unlock(&core->target_lock);
	}
out:
	return rc;
}

static int apply_locked(struct cte_core *core, uint8_t kind, struct rd *sub,
                        uint32_t *slot_map)
{
	uint64_t next;
	int rc;

	switch (kind) {
	case IMG_TAG:
		return apply_tag(core, sub);
	case IMG_BLOB:
		return apply_blob(core, sub, slot_map);
	case IMG_GONE:
		return apply_gone(core, sub);
	case IMG_TARGETS:
		return apply_targets(core, sub, slot_map);
	case IMG_NEXT_ID:
		rc = get(sub, &next, sizeof(next));
		if (!rc && next > core->next_id)
			core->next_id = next;
		return rc;
	}
	return -EBADMSG;
}

int cte__image_apply(struct cte_core *core, uint8_t kind, const void *body,
                     size_t len, uint32_t *slot_map)
{
	struct rd sub = {body, (const unsigned char *)body + len};
	int rc;

	pthread_mutex_lock(&core->ns_lock);
	rc = apply_locked(core, kind, &sub, slot_map);
	pthread_mutex_unlock(&core->ns_lock);
	return rc;
}

int cte__state_load(struct cte_core *core, const void *buf, size_t len,
                    uint32_t *slot_map)
{
	struct rd r = {buf, (const unsigned char *)buf + len};
	int rc = 0;

	pthread_mutex_lock(&core->ns_lock);
	while (!rc && r.p < r.end) {
		uint8_t kind;
		uint32_t body;
		struct rd sub;

		if ((rc = get(&r, &kind, 1)) || (rc = get(&r, &body, 4)))
			break;
		if ((size_t)(r.end - r.p) < body) {
			rc = -EBADMSG;
			break;
		}
		sub = (struct rd){r.p, r.p + body};
		r.p += body;
		rc = apply_locked(core, kind, &sub, slot_map);
	}
	pthread_mutex_unlock(&core->ns_lock);
	if (rc == -EBADMSG)
		chi_error_set(rc, "cte: malformed metadata image");
	return rc;
}

void cte__state_count_dropped(struct cte_core *core)
{
	struct cte_dropped_range *v = core->replay_dropped;
	size_t i, n = core->n_replay_dropped;
	uint64_t next = 0; /* first block not yet counted of v[i].id */

	pthread_mutex_lock(&core->ns_lock);
	if (n)
		qsort(v, n, sizeof(*v), by_dropped);
	for (i = 0; i < n; i++) {
		struct cte_blob *b = as_blob(obj_find(core, v[i].id));
		uint64_t end, blk;

		if (i == 0 || v[i].id != v[i - 1].id)
			next = 0;
		if (!b)
			continue;
		end = (b->size + CTE_BLOCK - 1) >> CTE_BLOCK_SHIFT;
		if (v[i].lblk + v[i].nblk < end)
			end = v[i].lblk + v[i].nblk;
		blk = v[i].lblk > next ? v[i].lblk : next;
		for (; blk < end; blk++)
			if (!cte__extmap_lookup(&b->map, blk))
				core->replay_dropped_bytes += CTE_BLOCK;
		if (end > next)
			next = end;
	}
	pthread_mutex_unlock(&core->ns_lock);
	free(v);
	core->replay_dropped = NULL;
	core->n_replay_dropped = core->cap_replay_dropped = 0;
}

/* Destroy blobs without names (open-unlinked at a crash); replay only. */
void cte__state_drop_orphans(struct cte_core *core)
{
	size_t i;

	pthread_mutex_lock(&core->ns_lock);
	for (i = 0; i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h = core->by_id.buckets[i], *next;

		for (; h; h = next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);
			struct cte_blob *b = (struct cte_blob *)o;

			next = h->next;
			if (o->is_tag || b->n_names)
				continue;
			cte__blob_detach_locked(core, b);
			if (!b->refs)
				blob_free(b);
		}
	}
	pthread_mutex_unlock(&core->ns_lock);
}

int cte__state_reserve(struct cte_core *core)
{
	size_t i, k;
	int rc = 0;

	/* recovery runs before any other task: no locks needed beyond
	 * keeping the hash walk stable */
	for (i = 0; !rc && i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[i]; !rc && h; h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);
			struct cte_blob *b = (struct cte_blob *)o;

			if (o->is_tag)
				continue;
			for (k = 0; !rc && k < b->map.n; k++) {
				const struct cte_extent *e = &b->map.v[k];
				chi_bdev_block blk = {e->dev_off,
				                      (uint64_t)e->nblk
				                          << CTE_BLOCK_SHIFT};

				rc = chi_bdev_reserve(
				    cte__target_pool(core, e->target), &blk, 1);
				if (!rc)
					atomic_fetch_add(
					    &core->targets[e->target]
					         .used_bytes,
					    blk.size);
			}
		}
	}
	return rc;
}
