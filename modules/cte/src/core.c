/*
 * The CTE core: its lifecycle, the object table, directory slots, object
 * references, the namespace lock and the hooks durable.c installs.  The
 * files above it (ns.c, xattr.c, names.c, image.c, blobio.c, fsck.c) work
 * on objects through these functions.
 *
 * DESIGN
 * Locks: core->ns_lock guards every index (by_id, by_path, dentries), the
 *   objects' attributes, names and reference counts, and the id allocator
 *   (core_i.h has the whole lock order).  A section that may change
 *   metadata takes it with cte__ns_lock() and ends with cte__ns_unlock(),
 *   which first runs core->commit_hook: durable.c commits the section's
 *   journal records there as one group, so record order is mutation order.
 * Every mutation calls cte__meta_changed() under ns_lock right after the
 * in-memory change; it runs core->meta_hook (durable.c: an after-image
 * record).  No thread of its own, and nothing here waits for I/O: a dead
 * blob's blocks are freed by cte__blob_release_dead() (target.c) after
 * the ns_lock section.
 * Indexes: by_id (id -> object), by_path (tag path -> tag), dentries
 * ((parent tag id, name) -> dentry).  Each tag lists its entries in cookie
 * order (struct cte_dir_slot: an append-only array with tombstones,
 * compacted when half dead), so readdir cookies stay valid while entries
 * come and go, and a readdir never scans more than its own directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "core_i.h"

/* ------------------------------------------------------------------ */
/* lookups (ns_lock held)                                              */

struct cte_obj *cte__obj_find(struct cte_core *core, cte_id id)
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

struct cte_tag *cte__as_tag(struct cte_obj *o)
{
	return o && o->is_tag ? (struct cte_tag *)o : NULL;
}

struct cte_blob *cte__as_blob(struct cte_obj *o)
{
	return o && !o->is_tag ? (struct cte_blob *)o : NULL;
}

/* A directory by id: -ENOENT, or -ENOTDIR for a blob. */
int cte__dir_find(struct cte_core *core, cte_id id, struct cte_tag **out)
{
	struct cte_obj *o = cte__obj_find(core, id);

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

struct cte_dentry *cte__dentry_find(struct cte_core *core, struct cte_tag *dir,
                                    const char *name)
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

struct cte_tag *cte__tag_by_path(struct cte_core *core, const char *path)
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
int cte__check_name(const char *name)
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
size_t cte__dir_slot_after(const struct cte_tag *t, uint64_t cookie)
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

struct cte_dentry *cte__dir_add(struct cte_core *core, struct cte_tag *dir,
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

void cte__dir_remove(struct cte_core *core, struct cte_dentry *d)
{
	struct cte_tag *dir = d->parent;
	size_t i = cte__dir_slot_after(dir, d->cookie - 1);

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

void cte__xattrs_free(struct cte_obj *o)
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

struct cte_tag *cte__tag_new(struct cte_core *core, struct cte_tag *parent,
                             const char *name, const cte_attr *attr)
{
	struct cte_tag *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	obj_init(core, &t->obj, true, attr);
	t->obj.mode = (t->obj.mode & 07777) | S_IFDIR;
	t->next_cookie = CTE_FIRST_COOKIE;
	t->parent = parent;
	t->path = parent ? join_path(parent->path, name) : strdup("/");
	if (!t->path)
		goto fail;
	if (parent) {
		t->self = cte__dir_add(core, parent, &t->obj, name);
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
void cte__tag_delete(struct cte_core *core, struct cte_tag *t)
{
	if (t->self)
		cte__dir_remove(core, t->self);
	cte__htab_remove(&core->by_id, &t->obj.id_node);
	cte__htab_remove(&core->by_path, &t->path_node);
	core->n_tags--;
	cte__meta_changed(core, CTE_META_DESTROY, t->obj.id, CTE_ID_NONE);
	cte__xattrs_free(&t->obj);
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

int cte__blob_add_name(struct cte_blob *b, struct cte_dentry *d)
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

void cte__blob_drop_name(struct cte_blob *b, struct cte_dentry *d)
{
	size_t i;

	for (i = 0; i < b->n_names; i++) {
		if (b->names[i] == d) {
			b->names[i] = b->names[--b->n_names];
			return;
		}
	}
}

void cte__blob_replace_name(struct cte_blob *b, struct cte_dentry *old,
                            struct cte_dentry *new_d)
{
	size_t i;

	for (i = 0; i < b->n_names; i++)
		if (b->names[i] == old)
			b->names[i] = new_d;
}

struct cte_blob *cte__blob_new(struct cte_core *core, struct cte_tag *dir,
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
	d = cte__dir_add(core, dir, &b->obj, name);
	if (!d || cte__blob_add_name(b, d)) {
		if (d)
			cte__dir_remove(core, d);
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

void cte__blob_free(struct cte_blob *b)
{
	cte__xattrs_free(&b->obj);
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

		cte__dir_remove(core, d);
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

	cte__ns_lock(core);
	o = cte__obj_find(core, id);
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

	cte__ns_lock(core);
	last = --b->refs == 0 && b->dead;
	cte__ns_unlock(core);
	if (last)
		cte__blob_free(b);
}

int cte__tag_set_score(struct cte_core *core, cte_id tag_id, double score)
{
	struct cte_obj *o;
	int rc = 0;

	cte__ns_lock(core);
	o = cte__obj_find(core, tag_id);
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

/* A directory's entries changed: mtime and ctime, and its record. */
void cte__touch_dir(struct cte_core *core, struct cte_tag *t,
                    const struct timespec *now)
{
	t->obj.mtime = *now;
	t->obj.ctime = *now;
	cte__meta_changed(core, CTE_META_ATTR, t->obj.id, CTE_ID_NONE);
}

int cte__tagvec_push(struct cte_tagvec *v, struct cte_tag *t)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct cte_tag **p = realloc(v->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		v->v = p;
		v->cap = cap;
	}
	v->v[v->n++] = t;
	return 0;
}

/* Recompute the paths of tag t and every tag below it (no recursion: a
 * 4 KiB path nests 2,000 deep). */
int cte__repath_subtree(struct cte_core *core, struct cte_tag *t)
{
	struct cte_tagvec stack = {0};
	size_t i;
	int rc = cte__tagvec_push(&stack, t);

	while (!rc && stack.n) {
		struct cte_tag *cur = stack.v[--stack.n];
		char *path = join_path(cur->parent->path, cur->self->name);

		if (!path) {
			rc = -ENOMEM;
			break;
		}
		cte__htab_remove(&core->by_path, &cur->path_node);
		free(cur->path);
		cur->path = path;
		cte__htab_insert(&core->by_path, &cur->path_node,
		                 cte__hash_bytes(path, strlen(path), 0));
		for (i = 0; !rc && i < cur->n_slots; i++) {
			struct cte_dentry *d = cur->slots[i].d;

			if (d && d->obj->is_tag)
				rc = cte__tagvec_push(&stack,
				                      (struct cte_tag *)d->obj);
		}
	}
	free(stack.v);
	return rc;
}

bool cte__tag_is_below(struct cte_tag *t, struct cte_tag *ancestor)
{
	for (; t; t = t->parent)
		if (t == ancestor)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* the namespace lock and the hooks                                     */

void cte__ns_lock(struct cte_core *core)
{
	pthread_mutex_lock(&core->ns_lock);
}

void cte__ns_unlock(struct cte_core *core)
{
	if (core->commit_hook)
		core->commit_hook(core);
	pthread_mutex_unlock(&core->ns_lock);
}

void cte__meta_changed(struct cte_core *core, enum cte_meta_kind kind,
                       cte_id id, cte_id aux)
{
	if (core->meta_hook)
		core->meta_hook(core->meta_hook_arg, kind, id, aux);
}

void cte__meta_data_changed(struct cte_core *core, cte_id id, uint64_t lo,
                            uint64_t hi)
{
	core->data_lo = lo;
	core->data_hi = hi;
	cte__meta_changed(core, CTE_META_DATA, id, CTE_ID_NONE);
}

int cte__meta_sync(struct cte_core *core)
{
	return core->sync_hook ? core->sync_hook(core) : 0;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                            */

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
	core->root = cte__tag_new(core, NULL, NULL, NULL);
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
				cte__xattrs_free(o);
				free(t->slots);
				free(t->path);
				free(t);
			} else {
				cte__blob_free((struct cte_blob *)o);
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
	cte__jenc_destroy(&core->meta_buf);
	free(core->replay_dropped);
	free(core->pending_free);
	free(core);
}
