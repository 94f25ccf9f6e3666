/*
 * Metadata images: the serialization of the core's state for checkpoints
 * and journal records, and applying them at replay.
 *
 * Every record is [u8 kind][u32 body length][body], all little-endian
 * (codec_i.h).  Kinds: IMG_TAG / IMG_BLOB (a full image of one object:
 * attributes, xattrs, its name(s), and for blobs optionally the extent
 * map), IMG_GONE (object destroyed), IMG_TARGETS (target slot -> name, so
 * extents can be mapped onto the targets of a later run, and each target's
 * capacity and identity, checked against it at start), IMG_NEXT_ID.
 * Applying an image is an upsert, so a checkpoint followed by journal
 * records replays into the state of the moment the last record was
 * written.  An image that cannot apply because the state is newer than it
 * (image_is_older) changes nothing and says CTE_IMG_OLDER; the caller
 * decides (durable.c skips it only after a version-1 checkpoint).
 *
 * Body layouts (integers little-endian; a time is i64 seconds and i64
 * nanoseconds; a score is the 8 bytes of an IEEE double):
 *   common   u64 id, u32 mode, u32 uid, u32 gid, u64 rdev, atime, mtime,
 *            ctime, btime, f64 score, u32 n_xattrs,
 *            n_xattrs x (u32 name length, name, u32 size, value)
 *   TAG      common, u64 parent id, u16 name length, name
 *   BLOB     common, u32 n_names, n_names x (u64 parent id, u16 length,
 *            name), u32 symlink length + 1 (0: none), symlink, u64 size,
 *            u8 extents mode: NONE | ALL u32 n, extents | RANGE u64 from,
 *            u64 to, u32 n, extents (of blocks [from, to) only)
 *            extent: u64 lblk, u32 nblk, u32 target slot, u64 dev_off
 *   GONE     u64 id
 *   TARGETS  u32 n, n x (u32 slot, u16 name length, name),
 *            n x (u64 capacity, 16 bytes identity) in the same order
 *            (absent in stores written before them: nothing remembered)
 *   NEXT_ID  u64 next id
 *
 * DESIGN
 * No thread of its own.  The image functions run under ns_lock (the
 * journal's meta_hook calls them there); cte__state_save takes quiesce
 * exclusively, then ns_lock (and the target table's lock inside it), so
 * a checkpoint is one consistent moment that no extent-map change
 * straddles, and fixes the checkpoint's covered sequence at that moment
 * (cte__journal_ckpt_cut): the snapshot is exactly the records up to it.
 * Replay (cte__state_load, cte__image_apply and the after-replay functions)
 * runs before any method: it takes ns_lock for the structures' sake and
 * releases it without a commit, since nothing is journaled yet.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/error.h"
#include "core_i.h"
#include "image_i.h"
#include "target_i.h"

enum { IMG_TAG = 1, IMG_BLOB, IMG_GONE, IMG_TARGETS, IMG_NEXT_ID };
_Static_assert(IMG_TARGETS == CTE_IMG_KIND_TARGETS, "record kinds");

/* Extents section: none, the whole map, or blocks [from, to) only. */
enum { EXT_NONE = 0, EXT_ALL = 1, EXT_RANGE = 2 };

/*
 * A blob's whole map; a map too big for one record (the journal takes 16
 * MiB) goes as several range records, each a full image of the blob.
 */
#define EXTENTS_PER_RECORD 200000

/* ------------------------------------------------------------------ */
/* writing                                                              */

/* The fixed-size parts, each reserved or read at once. */
#define EXTENT_BYTES 24  /* u64 lblk, u32 nblk, u32 target, u64 dev_off */
#define COMMON_BYTES 104 /* common up to and with n_xattrs */

static uint8_t *store_time(uint8_t *p, const struct timespec *ts)
{
	cte__le_store64(p, (uint64_t)(int64_t)ts->tv_sec);
	cte__le_store64(p + 8, (uint64_t)(int64_t)ts->tv_nsec);
	return p + 16;
}

/* A u16 length and the bytes. */
static void put_name(cte_jenc *e, const char *name, size_t len)
{
	cte__jenc_put_u16(e, (uint16_t)len);
	if (len)
		cte__jenc_put_bytes(e, name, len);
}

static void put_extent(cte_jenc *e, const struct cte_extent *x)
{
	uint8_t *p = cte__jenc_room(e, EXTENT_BYTES);

	if (!p)
		return;
	cte__le_store64(p, x->lblk);
	cte__le_store32(p + 8, x->nblk);
	cte__le_store32(p + 12, x->target);
	cte__le_store64(p + 16, x->dev_off);
}

static void put_common(cte_jenc *e, const struct cte_obj *o)
{
	const struct cte_xattr *x;
	uint8_t *p = cte__jenc_room(e, COMMON_BYTES);
	uint64_t score;
	uint32_t n = 0;

	if (!p)
		return;
	for (x = o->xattrs; x; x = x->next)
		n++;
	memcpy(&score, &o->score, sizeof(score));
	cte__le_store64(p, o->id);
	cte__le_store32(p + 8, o->mode);
	cte__le_store32(p + 12, o->uid);
	cte__le_store32(p + 16, o->gid);
	cte__le_store64(p + 20, o->rdev);
	p = store_time(p + 28, &o->atime);
	p = store_time(p, &o->mtime);
	p = store_time(p, &o->ctime);
	p = store_time(p, &o->btime);
	cte__le_store64(p, score);
	cte__le_store32(p + 8, n);
	for (x = o->xattrs; x; x = x->next) {
		cte__jenc_put_blob(e, x->name, strlen(x->name));
		cte__jenc_put_blob(e, x->value, x->size);
	}
}

/* Start a record; returns the offset of its length field. */
static size_t rec_begin(cte_jenc *e, uint8_t kind)
{
	size_t at;

	cte__jenc_put_u8(e, kind);
	at = e->len;
	cte__jenc_put_u32(e, 0);
	return at;
}

static void rec_end(cte_jenc *e, size_t at)
{
	cte__jenc_set_u32(e, at, (uint32_t)(e->len - at - sizeof(uint32_t)));
}

static void put_extents(cte_jenc *e, const struct cte_extmap *m, uint8_t mode,
                        uint64_t from, uint64_t to)
{
	size_t i, first, n = 0;

	cte__jenc_put_u8(e, mode);
	if (mode == EXT_NONE)
		return;
	if (mode == EXT_ALL) {
		cte__jenc_put_u32(e, (uint32_t)m->n);
		for (i = 0; i < m->n; i++)
			put_extent(e, &m->v[i]);
		return;
	}
	cte__jenc_put_u64(e, from);
	cte__jenc_put_u64(e, to);
	first = cte__extmap_find(m, from);
	for (i = first; i < m->n && m->v[i].lblk < to; i++)
		n++;
	cte__jenc_put_u32(e, (uint32_t)n);
	for (i = first; i < first + n; i++) {
		struct cte_extent x = m->v[i];
		uint64_t s = x.lblk > from ? x.lblk : from;
		uint64_t t = x.lblk + x.nblk < to ? x.lblk + x.nblk : to;

		x.dev_off += (s - x.lblk) << CTE_BLOCK_SHIFT;
		x.lblk = s;
		x.nblk = (uint32_t)(t - s);
		put_extent(e, &x);
	}
}

static int image_obj(cte_jenc *e, const struct cte_obj *o, uint8_t ext_mode,
                     uint64_t from, uint64_t to)
{
	size_t at = rec_begin(e, o->is_tag ? IMG_TAG : IMG_BLOB), i;

	put_common(e, o);
	if (o->is_tag) {
		const struct cte_tag *t = (const struct cte_tag *)o;

		cte__jenc_put_u64(e, t->parent ? t->parent->obj.id : 0);
		if (t->self)
			put_name(e, t->self->name, t->self->name_len);
		else
			put_name(e, NULL, 0);
	} else {
		const struct cte_blob *b = (const struct cte_blob *)o;

		cte__jenc_put_u32(e, (uint32_t)b->n_names);
		for (i = 0; i < b->n_names; i++) {
			cte__jenc_put_u64(e, b->names[i]->parent->obj.id);
			put_name(e, b->names[i]->name, b->names[i]->name_len);
		}
		if (b->symlink) {
			size_t sl = strlen(b->symlink);

			cte__jenc_put_u32(e, (uint32_t)sl + 1);
			cte__jenc_put_bytes(e, b->symlink, sl);
		} else {
			cte__jenc_put_u32(e, 0);
		}
		cte__jenc_put_u64(e, b->size);
		put_extents(e, &b->map, ext_mode, from, to);
	}
	rec_end(e, at);
	return e->err;
}

static int image_blob_all(cte_jenc *e, const struct cte_obj *o)
{
	const struct cte_extmap *m = &((const struct cte_blob *)o)->map;
	uint64_t from = 0, to;
	size_t k;

	if (m->n <= EXTENTS_PER_RECORD)
		return image_obj(e, o, EXT_ALL, 0, 0);
	for (k = 0; k < m->n && !e->err; k += EXTENTS_PER_RECORD) {
		to = k + EXTENTS_PER_RECORD < m->n
		         ? m->v[k + EXTENTS_PER_RECORD].lblk
		         : UINT64_MAX;
		image_obj(e, o, EXT_RANGE, from, to);
		from = to;
	}
	return e->err;
}

int cte__obj_image_locked(struct cte_core *core, cte_id id, uint32_t flags,
                          cte_jenc *out)
{
	struct cte_obj *o = cte__obj_find(core, id);
	size_t at;

	if (o)
		return (flags & CTE_IMG_EXTENTS) && !o->is_tag
		           ? image_blob_all(out, o)
		           : image_obj(out, o, EXT_NONE, 0, 0);
	at = rec_begin(out, IMG_GONE);
	cte__jenc_put_u64(out, id);
	rec_end(out, at);
	return out->err;
}

int cte__obj_image_range_locked(struct cte_core *core, cte_id id, uint64_t from,
                                uint64_t to, cte_jenc *out)
{
	struct cte_obj *o = cte__obj_find(core, id);

	if (!o || o->is_tag)
		return cte__obj_image_locked(core, id, 0, out);
	if (!from && to == UINT64_MAX)
		return image_blob_all(out, o);
	return image_obj(out, o, EXT_RANGE, from, to);
}

int cte__targets_image(struct cte_core *core, cte_jenc *out)
{
	size_t at;
	uint32_t i, n = 0;

	pthread_mutex_lock(&core->target_lock);
	at = rec_begin(out, IMG_TARGETS);
	for (i = 0; i < core->n_target_slots; i++)
		n += core->targets[i].active;
	cte__jenc_put_u32(out, n);
	for (i = 0; i < core->n_target_slots; i++) {
		const char *name = core->targets[i].name;

		if (!core->targets[i].active)
			continue;
		cte__jenc_put_u32(out, i);
		put_name(out, name, strlen(name));
	}
	for (i = 0; i < core->n_target_slots; i++) {
		if (!core->targets[i].active)
			continue;
		cte__jenc_put_u64(out, core->targets[i].capacity);
		cte__jenc_put_bytes(out, core->targets[i].id,
		                    CTE_TARGET_ID_BYTES);
	}
	rec_end(out, at);
	pthread_mutex_unlock(&core->target_lock);
	return out->err;
}

/* Every tag, breadth first (parents before children). */
static int image_tags(struct cte_core *core, cte_jenc *out)
{
	struct cte_tagvec queue = {0};
	size_t qi, i;
	int rc = cte__tagvec_push(&queue, core->root);

	for (qi = 0; !rc && qi < queue.n; qi++) {
		struct cte_tag *t = queue.v[qi];

		rc = image_obj(out, &t->obj, EXT_NONE, 0, 0);
		for (i = 0; !rc && i < t->n_slots; i++) {
			struct cte_dentry *d = t->slots[i].d;

			if (d && d->obj->is_tag)
				rc = cte__tagvec_push(&queue,
				                      (struct cte_tag *)d->obj);
		}
	}
	free(queue.v);
	return rc;
}

/* Every blob (orphans included) once, with its extents. */
static int image_blobs(struct cte_core *core, cte_jenc *out)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[i]; !rc && h; h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);

			if (!o->is_tag)
				rc = image_blob_all(out, o);
		}
	}
	return rc;
}

/* One moment: every record is appended under ns_lock (the section's
 * commit), and quiesce holds off any extent-map change in flight, so with
 * `cut` the checkpoint covers exactly the records appended so far. */
int cte__state_save(struct cte_core *core, cte_jenc *out, cte_journal_ckpt *cut)
{
	uint64_t seq;
	size_t at;
	int rc = 0;

	chi_corwlock_wrlock(&core->quiesce);
	cte__ns_lock(core);
	if (cut)
		rc = cte__journal_ckpt_cut(cut, &seq);
	if (!rc)
		rc = cte__targets_image(core, out);
	if (!rc) {
		at = rec_begin(out, IMG_NEXT_ID);
		cte__jenc_put_u64(out, core->next_id);
		rec_end(out, at);
		rc = image_tags(core, out);
	}
	if (!rc)
		rc = image_blobs(core, out);
	cte__ns_unlock(core);
	chi_corwlock_unlock(&core->quiesce);
	return rc;
}

/* ------------------------------------------------------------------ */
/* applying images                                                      */

/* Replay met an extent on a volatile or unknown target: remember the
 * range; cte__state_count_dropped() counts what stays a hole.  Without
 * memory, count it at once (an over-estimate in the warning only). */
static void note_dropped(struct cte_core *core, cte_id id, uint64_t lblk,
                         uint64_t nblk)
{
	if (core->n_replay_dropped == core->cap_replay_dropped) {
		size_t cap = core->cap_replay_dropped
		                 ? 2 * core->cap_replay_dropped
		                 : 64;
		struct cte_dropped_range *v =
		    realloc(core->replay_dropped, cap * sizeof(*v));

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

/* A malformed record: -EBADMSG, and the decoder stays failed. */
static int bad(cte_jdec *d)
{
	d->err = -EBADMSG;
	return -EBADMSG;
}

static const uint8_t *load_time(const uint8_t *p, struct timespec *ts)
{
	ts->tv_sec = (time_t)(int64_t)cte__le_load64(p);
	ts->tv_nsec = (long)(int64_t)cte__le_load64(p + 8);
	return p + 16;
}

/* Read a length-prefixed name (u16) into a NUL-terminated buffer of
 * CTE_NAME_MAX + 1 bytes. */
static int get_name(cte_jdec *d, char *name)
{
	uint16_t len;

	if (cte__jdec_get_u16(d, &len))
		return -EBADMSG;
	if (len > CTE_NAME_MAX)
		return bad(d);
	cte__jdec_get_bytes(d, name, len);
	name[len] = '\0';
	return d->err;
}

static int get_extent(cte_jdec *d, struct cte_extent *x)
{
	const uint8_t *p = cte__jdec_take(d, EXTENT_BYTES);

	if (!p)
		return -EBADMSG;
	x->lblk = cte__le_load64(p);
	x->nblk = cte__le_load32(p + 8);
	x->target = cte__le_load32(p + 12);
	x->dev_off = cte__le_load64(p + 16);
	return 0;
}

/* One xattr, appended at *tail. */
static int get_xattr(cte_jdec *d, struct cte_xattr ***tail)
{
	const void *name, *value;
	uint32_t nl, vl;
	struct cte_xattr *x;

	if (cte__jdec_get_blob(d, &name, &nl))
		return -EBADMSG;
	if (nl > 255)
		return bad(d);
	x = malloc(sizeof(*x) + nl + 1);
	if (!x)
		return -ENOMEM;
	memcpy(x->name, name, nl);
	x->name[nl] = '\0';
	x->next = NULL;
	x->value = NULL;
	x->size = 0;
	**tail = x;
	*tail = &x->next;
	if (cte__jdec_get_blob(d, &value, &vl))
		return -EBADMSG;
	if (vl > CTE_XATTR_SIZE_MAX)
		return bad(d);
	x->size = vl;
	if (vl) {
		x->value = malloc(vl);
		if (!x->value)
			return -ENOMEM;
		memcpy(x->value, value, vl);
	}
	return 0;
}

static int get_common(cte_jdec *d, struct cte_obj *o)
{
	struct cte_xattr **tail = &o->xattrs;
	/* the id (8 bytes) is read already */
	const uint8_t *p = cte__jdec_take(d, COMMON_BYTES - 8);
	uint64_t score;
	uint32_t n, i;
	int rc = 0;

	cte__xattrs_free(o);
	if (!p)
		return -EBADMSG;
	o->mode = cte__le_load32(p);
	o->uid = cte__le_load32(p + 4);
	o->gid = cte__le_load32(p + 8);
	o->rdev = cte__le_load64(p + 12);
	p = load_time(p + 20, &o->atime);
	p = load_time(p, &o->mtime);
	p = load_time(p, &o->ctime);
	p = load_time(p, &o->btime);
	score = cte__le_load64(p);
	memcpy(&o->score, &score, sizeof(score));
	n = cte__le_load32(p + 8);
	for (i = 0; !rc && !d->err && i < n; i++)
		rc = get_xattr(d, &tail);
	return rc ? rc : d->err;
}

/* Make room for (dir, name): an entry of another object there loses it
 * (a later image of that object says where it went). */
static void evict(struct cte_core *core, struct cte_tag *dir, const char *name,
                  struct cte_obj *keep)
{
	struct cte_dentry *d = cte__dentry_find(core, dir, name);

	if (!d || d->obj == keep)
		return;
	if (d->obj->is_tag) {
		struct cte_tag *t = (struct cte_tag *)d->obj;

		t->self = NULL;
		t->parent = NULL; /* floating until its own image */
	} else {
		cte__blob_drop_name((struct cte_blob *)d->obj, d);
	}
	cte__dir_remove(core, d);
}

/*
 * Whether an image, read from d (a copy, just after the id), describes a
 * moment older than the state it is applied over: it names the object
 * under a tag that no longer exists, or puts a tag under its own
 * descendant.  In a replay of records after an exact cut neither can
 * happen (each record applies over the state of the moment it was
 * written); over a fuzzy checkpoint that already holds the later removal
 * or move, both can.  A malformed image is not older: applying it says
 * what is wrong.
 */
static bool image_is_older(struct cte_core *core, cte_jdec d, cte_id id,
                           bool is_tag)
{
	struct cte_obj *self = cte__obj_find(core, id), *parent;
	const uint8_t *p = cte__jdec_take(&d, COMMON_BYTES - 8);
	char name[CTE_NAME_MAX + 1];
	const void *skip;
	uint32_t n, len;
	uint64_t i;
	cte_id parent_id;

	if (!p || (is_tag && id == CTE_ROOT_ID))
		return false;
	n = cte__le_load32(p + COMMON_BYTES - 8 - 4); /* xattrs */
	for (i = 0; i < 2 * (uint64_t)n && !d.err; i++)
		cte__jdec_get_blob(&d, &skip, &len);
	n = 1;
	if (!is_tag && cte__jdec_get_u32(&d, &n))
		return false;
	for (i = 0; i < n; i++) {
		if (cte__jdec_get_u64(&d, &parent_id) || get_name(&d, name))
			return false;
		parent = cte__obj_find(core, parent_id);
		if (!parent)
			return true;
		if (is_tag && self && self->is_tag && parent->is_tag &&
		    parent != self &&
		    cte__tag_is_below((struct cte_tag *)parent,
		                      (struct cte_tag *)self))
			return true;
	}
	return false;
}

/* The tag with id, made empty and unnamed if it does not exist yet. */
static int tag_for_image(struct cte_core *core, cte_id id, struct cte_tag **out)
{
	struct cte_obj *o = cte__obj_find(core, id);
	struct cte_tag *t;

	if (o && !o->is_tag)
		return -EBADMSG;
	if (o) {
		*out = (struct cte_tag *)o;
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->obj.id = id;
	t->obj.is_tag = true;
	t->next_cookie = CTE_FIRST_COOKIE;
	t->path = strdup("/");
	if (!t->path) {
		free(t);
		return -ENOMEM;
	}
	cte__htab_insert(&core->by_id, &t->obj.id_node, cte__hash_u64(id));
	cte__htab_insert(&core->by_path, &t->path_node,
	                 cte__hash_bytes("/", 1, 0) ^ 1);
	core->n_tags++;
	*out = t;
	return 0;
}

static int apply_tag(struct cte_core *core, cte_jdec *d)
{
	cte_id id, parent_id;
	struct cte_tag *t, *parent = NULL;
	char name[CTE_NAME_MAX + 1];
	int rc;

	if (cte__jdec_get_u64(d, &id))
		return -EBADMSG;
	if (image_is_older(core, *d, id, true))
		return CTE_IMG_OLDER;
	rc = tag_for_image(core, id, &t);
	if (!rc)
		rc = get_common(d, &t->obj);
	if (!rc)
		rc = cte__jdec_get_u64(d, &parent_id);
	if (!rc)
		rc = get_name(d, name);
	if (rc)
		return rc;
	if (id >= core->next_id)
		core->next_id = id + 1;
	if (id == CTE_ROOT_ID)
		return 0;
	rc = cte__dir_find(core, parent_id, &parent);
	if (rc)
		return rc;
	if (t->self && t->parent == parent && !strcmp(t->self->name, name))
		return 0;
	if (cte__tag_is_below(parent, t))
		return -EBADMSG;
	evict(core, parent, name, &t->obj);
	if (t->self)
		cte__dir_remove(core, t->self);
	t->self = cte__dir_add(core, parent, &t->obj, name);
	if (!t->self)
		return -ENOMEM;
	t->parent = parent;
	return cte__repath_subtree(core, t);
}

/* The blob with id, made empty and unnamed if it does not exist yet. */
static int blob_for_image(struct cte_core *core, cte_id id,
                          struct cte_blob **out)
{
	struct cte_obj *o = cte__obj_find(core, id);
	struct cte_blob *b;

	if (o && o->is_tag)
		return -EBADMSG;
	if (o) {
		*out = (struct cte_blob *)o;
		return 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->obj.id = id;
	cte__extmap_init(&b->map);
	chi_corwlock_init(&b->io_lock);
	cte__htab_insert(&core->by_id, &b->obj.id_node, cte__hash_u64(id));
	core->n_blobs++;
	*out = b;
	return 0;
}

/* A blob image's names: they replace the ones it had. */
static int get_blob_names(struct cte_core *core, cte_jdec *d,
                          struct cte_blob *b)
{
	uint32_t n, i;
	int rc = 0;

	while (b->n_names)
		cte__dir_remove(core, b->names[--b->n_names]);
	if (cte__jdec_get_u32(d, &n))
		return -EBADMSG;
	for (i = 0; !rc && i < n; i++) {
		cte_id parent_id;
		struct cte_tag *dir;
		char name[CTE_NAME_MAX + 1];
		struct cte_dentry *de;

		cte__jdec_get_u64(d, &parent_id);
		rc = get_name(d, name);
		if (!rc)
			rc = cte__dir_find(core, parent_id, &dir);
		if (rc)
			break;
		evict(core, dir, name, &b->obj);
		de = cte__dir_add(core, dir, &b->obj, name);
		if (!de || cte__blob_add_name(b, de))
			rc = -ENOMEM;
	}
	return rc;
}

static int get_symlink(cte_jdec *d, struct cte_blob *b)
{
	const uint8_t *p;
	uint32_t sl;

	if (cte__jdec_get_u32(d, &sl))
		return -EBADMSG;
	free(b->symlink);
	b->symlink = NULL;
	if (!sl)
		return 0;
	p = cte__jdec_take(d, sl - 1);
	if (!p)
		return -EBADMSG;
	b->symlink = malloc(sl);
	if (!b->symlink)
		return -ENOMEM;
	memcpy(b->symlink, p, sl - 1);
	b->symlink[sl - 1] = '\0';
	return 0;
}

/* The extents section: none, the whole map, or a range of it. */
static int get_blob_extents(struct cte_core *core, cte_jdec *d,
                            struct cte_blob *b, const uint32_t *slot_map)
{
	uint64_t from, to;
	uint32_t n, i;
	uint8_t mode;
	int rc;

	if (cte__jdec_get_u8(d, &mode))
		return -EBADMSG;
	if (mode == EXT_NONE)
		return 0;
	if (mode == EXT_RANGE) {
		cte__jdec_get_u64(d, &from);
		if (cte__jdec_get_u64(d, &to))
			return -EBADMSG;
		rc = cte__extmap_punch(&b->map, from, to, NULL);
		if (rc)
			return rc;
	} else if (mode == EXT_ALL) {
		b->map.n = 0;
	} else {
		return bad(d);
	}
	if (cte__jdec_get_u32(d, &n))
		return -EBADMSG;
	for (i = 0; i < n; i++) {
		struct cte_extent x;

		if (get_extent(d, &x))
			return -EBADMSG;
		if (!x.nblk || x.target >= CTE_MAX_TARGETS)
			return bad(d);
		if (slot_map[x.target] >= CTE_MAX_TARGETS) {
			/* a volatile or vanished target: a hole */
			note_dropped(core, b->obj.id, x.lblk, x.nblk);
			continue;
		}
		x.target = slot_map[x.target];
		rc = cte__extmap_insert(&b->map, &x);
		if (rc)
			return rc;
	}
	if (!cte__extmap_valid(&b->map))
		return bad(d);
	b->alloc_blocks = cte__extmap_blocks(&b->map);
	return 0;
}

static int apply_blob(struct cte_core *core, cte_jdec *d,
                      const uint32_t *slot_map)
{
	struct cte_blob *b;
	cte_id id;
	int rc;

	if (cte__jdec_get_u64(d, &id))
		return -EBADMSG;
	if (image_is_older(core, *d, id, false))
		return CTE_IMG_OLDER;
	rc = blob_for_image(core, id, &b);
	if (rc)
		return rc;
	if (id >= core->next_id)
		core->next_id = id + 1;
	rc = get_common(d, &b->obj);
	if (!rc)
		rc = get_blob_names(core, d, b);
	if (!rc)
		rc = get_symlink(d, b);
	if (!rc)
		rc = cte__jdec_get_u64(d, &b->size);
	if (!rc)
		rc = get_blob_extents(core, d, b, slot_map);
	return rc;
}

static int apply_gone(struct cte_core *core, cte_jdec *d)
{
	struct cte_obj *o;
	cte_id id;

	if (cte__jdec_get_u64(d, &id))
		return -EBADMSG;
	o = cte__obj_find(core, id);
	if (!o)
		return 0;
	if (o->is_tag) {
		struct cte_tag *t = (struct cte_tag *)o;

		if (t->n_live || t == core->root)
			return -EBADMSG;
		cte__tag_delete(core, t);
	} else {
		struct cte_blob *b = (struct cte_blob *)o;

		cte__blob_detach_locked(core, b);
		if (!b->refs)
			cte__blob_free(b);
	}
	return 0;
}

/* The capacities and identities after the names (stores written before
 * them end the record at the names: nothing is remembered then). */
static int apply_target_ids(struct cte_core *core, cte_jdec *d, uint32_t n,
                            const uint32_t *slots, const uint32_t *slot_map)
{
	uint8_t id[CTE_TARGET_ID_BYTES];
	uint64_t capacity;
	uint32_t i, k;

	if (!cte__jdec_left(d))
		return 0;
	for (i = 0; i < n; i++) {
		cte__jdec_get_u64(d, &capacity);
		if (cte__jdec_get_bytes(d, id, sizeof(id)))
			return -EBADMSG;
		k = slot_map[slots[i]];
		if (k >= CTE_MAX_TARGETS)
			continue;
		pthread_mutex_lock(&core->target_lock);
		core->targets[k].rec_capacity = capacity;
		memcpy(core->targets[k].rec_id, id, sizeof(id));
		pthread_mutex_unlock(&core->target_lock);
	}
	return 0;
}

static int apply_targets(struct cte_core *core, cte_jdec *d, uint32_t *slot_map)
{
	uint32_t n, i, k, slot, slots[CTE_MAX_TARGETS];
	char name[4096];
	uint16_t len;

	for (i = 0; i < CTE_MAX_TARGETS; i++)
		slot_map[i] = UINT32_MAX;
	pthread_mutex_lock(&core->target_lock);
	for (k = 0; k < core->n_target_slots; k++) /* the last image wins */
		core->targets[k].rec_capacity = 0;
	pthread_mutex_unlock(&core->target_lock);
	if (cte__jdec_get_u32(d, &n))
		return -EBADMSG;
	if (n > CTE_MAX_TARGETS)
		return bad(d);
	for (i = 0; i < n; i++) {
		cte__jdec_get_u32(d, &slot);
		if (cte__jdec_get_u16(d, &len))
			return -EBADMSG;
		if (len >= sizeof(name) || slot >= CTE_MAX_TARGETS)
			return bad(d);
		if (cte__jdec_get_bytes(d, name, len))
			return -EBADMSG;
		name[len] = '\0';
		slots[i] = slot;
		pthread_mutex_lock(&core->target_lock);
		for (k = 0; k < core->n_target_slots; k++)
			if (core->targets[k].active &&
			    !core->targets[k].is_volatile &&
			    !strcmp(core->targets[k].name, name))
				slot_map[slot] = k;
		pthread_mutex_unlock(&core->target_lock);
	}
	return apply_target_ids(core, d, n, slots, slot_map);
}

static int apply_locked(struct cte_core *core, uint8_t kind, cte_jdec *d,
                        uint32_t *slot_map)
{
	uint64_t next;

	switch (kind) {
	case IMG_TAG:
		return apply_tag(core, d);
	case IMG_BLOB:
		return apply_blob(core, d, slot_map);
	case IMG_GONE:
		return apply_gone(core, d);
	case IMG_TARGETS:
		return apply_targets(core, d, slot_map);
	case IMG_NEXT_ID:
		if (cte__jdec_get_u64(d, &next))
			return -EBADMSG;
		if (next > core->next_id)
			core->next_id = next;
		return 0;
	}
	return -EBADMSG;
}

/* Replay runs before any other task: ns_lock is taken for the structures'
 * sake, and released without a commit (nothing is journaled yet). */
int cte__image_apply(struct cte_core *core, uint8_t kind, const void *body,
                     size_t len, uint32_t *slot_map)
{
	cte_jdec d;
	int rc;

	cte__jdec_init(&d, body, len);
	pthread_mutex_lock(&core->ns_lock);
	rc = apply_locked(core, kind, &d, slot_map);
	pthread_mutex_unlock(&core->ns_lock);
	return rc;
}

int cte__state_load(struct cte_core *core, const void *buf, size_t len,
                    uint32_t *slot_map)
{
	cte_jdec d;
	int rc = 0;

	cte__jdec_init(&d, buf, len);
	pthread_mutex_lock(&core->ns_lock);
	while (!rc && cte__jdec_left(&d)) {
		const void *body;
		uint32_t n;
		uint8_t kind;
		cte_jdec sub;

		cte__jdec_get_u8(&d, &kind);
		rc = cte__jdec_get_blob(&d, &body, &n);
		if (rc)
			break;
		cte__jdec_init(&sub, body, n);
		rc = apply_locked(core, kind, &sub, slot_map);
		if (rc == CTE_IMG_OLDER) /* a checkpoint is one moment */
			rc = -EBADMSG;
	}
	pthread_mutex_unlock(&core->ns_lock);
	if (rc == -EBADMSG)
		chi_error_set(rc, "cte: malformed metadata image");
	return rc;
}

/* ------------------------------------------------------------------ */
/* after replay                                                         */

void cte__state_count_dropped(struct cte_core *core)
{
	struct cte_dropped_range *v = core->replay_dropped;
	size_t i, n = core->n_replay_dropped;
	uint64_t next = 0; /* first block not yet counted of v[i].id */

	pthread_mutex_lock(&core->ns_lock);
	if (n)
		qsort(v, n, sizeof(*v), by_dropped);
	for (i = 0; i < n; i++) {
		struct cte_blob *b = cte__as_blob(cte__obj_find(core, v[i].id));
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
				cte__blob_free(b);
		}
	}
	pthread_mutex_unlock(&core->ns_lock);
}

/* Call fn on every extent of every blob until it returns non-zero.
 * Recovery runs before any other task: no locks needed beyond keeping the
 * hash walk stable. */
static int each_extent(struct cte_core *core,
                       int (*fn)(struct cte_core *core,
                                 const struct cte_extent *e, void *arg),
                       void *arg)
{
	size_t i, k;
	int rc = 0;

	for (i = 0; !rc && i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[i]; !rc && h; h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);
			struct cte_blob *b = (struct cte_blob *)o;

			if (o->is_tag)
				continue;
			for (k = 0; !rc && k < b->map.n; k++)
				rc = fn(core, &b->map.v[k], arg);
		}
	}
	return rc;
}

static int reserve_extent(struct cte_core *core, const struct cte_extent *e,
                          void *arg)
{
	chi_bdev_block blk = {e->dev_off, (uint64_t)e->nblk << CTE_BLOCK_SHIFT};
	int rc = chi_bdev_reserve(cte__target_pool(core, e->target), &blk, 1);

	(void)arg;
	if (!rc)
		atomic_fetch_add(&core->targets[e->target].used_bytes,
		                 blk.size);
	return rc;
}

int cte__state_reserve(struct cte_core *core)
{
	return each_extent(core, reserve_extent, NULL);
}

static int count_held(struct cte_core *core, const struct cte_extent *e,
                      void *arg)
{
	struct cte_held *held = arg;
	uint64_t size = (uint64_t)e->nblk << CTE_BLOCK_SHIFT;

	(void)core;
	held[e->target].bytes += size;
	if (e->dev_off + size > held[e->target].end)
		held[e->target].end = e->dev_off + size;
	return 0;
}

void cte__state_held(struct cte_core *core,
                     struct cte_held held[CTE_MAX_TARGETS])
{
	memset(held, 0, CTE_MAX_TARGETS * sizeof(*held));
	each_extent(core, count_held, held);
}
