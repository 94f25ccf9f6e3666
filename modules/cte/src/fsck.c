/*
 * CTE's record decoder for cte-fsck (JOURNAL.md, "What CTE must provide
 * to cte-fsck"): the journal's records are applied to a standalone core
 * (no runtime, no devices), then the result is checked (cte__fsck_check):
 * records that do not apply, blocks shared by two blobs, ids at or above
 * the allocator's high-water mark, tags not joined to the root, names
 * pointing to nothing, path/name index and directory counter mismatches,
 * sizes and extents past CTE_MAX_BLOB_SIZE, extents on targets the last
 * targets record does not name, and orphans (reported, not errors: the
 * next start deletes them).  Blocks past a blob's size are not errors
 * (fallocate FALLOC_FL_KEEP_SIZE makes them).  Target capacities are not
 * journaled: extents are checked against the size of a file target's file
 * (check_target_ends), RAM targets not at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core_i.h"
#include "fsck_i.h"
#include "image_i.h"

#define MAX_MESSAGES 64

struct fsck_state {
	struct cte_core *core;
	uint32_t slot_map[CTE_MAX_TARGETS];
	uint64_t apply_errors;
	char *messages[MAX_MESSAGES];
	size_t n_messages;
};

static int fsck_init(void **out)
{
	struct fsck_state *st = calloc(1, sizeof(*st));
	struct cte_params p;
	int rc;

	if (!st)
		return -ENOMEM;
	cte__params_default(&p);
	rc = cte__core_new(&st->core, &p);
	if (rc) {
		free(st);
		return rc;
	}
	for (size_t i = 0; i < CTE_MAX_TARGETS; i++)
		st->slot_map[i] = UINT32_MAX;
	*out = st;
	return 0;
}

static void note(struct fsck_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(struct fsck_state *st, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (st->n_messages == MAX_MESSAGES)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg)
		st->messages[st->n_messages++] = msg;
}

/* The targets record names slots; give each a placeholder target here so
 * that extents keep their slot and can be checked. */
static int define_targets(struct fsck_state *st, const uint8_t *p, uint32_t len)
{
	struct cte_core *core = st->core;
	const uint8_t *end = p + len;
	uint32_t n, slot;
	uint16_t nl;

	if (len < 4)
		return -EBADMSG;
	memcpy(&n, p, 4);
	p += 4;
	/* the record is the whole table: slots it leaves out are gone */
	for (slot = 0; slot < CTE_MAX_TARGETS; slot++) {
		core->targets[slot].active = false;
		st->slot_map[slot] = UINT32_MAX;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct cte_target *t;

		if (end - p < 6)
			return -EBADMSG;
		memcpy(&slot, p, 4);
		memcpy(&nl, p + 4, 2);
		p += 6;
		if (slot >= CTE_MAX_TARGETS || end - p < nl || nl >= 4096)
			return -EBADMSG;
		t = &core->targets[slot];
		memset(t, 0, sizeof(*t));
		t->used = t->active = true;
		memcpy(t->name, p, nl);
		t->name[nl] = '\0';
		p += nl;
		if (slot + 1 > core->n_target_slots)
			core->n_target_slots = slot + 1;
		st->slot_map[slot] = slot;
	}
	return 0;
}

static int fsck_record(void *arg, uint8_t type, uint64_t seq,
                       const void *payload, uint32_t len)
{
	struct fsck_state *st = arg;
	int rc;

	if (type == CTE_IMG_KIND_TARGETS)
		rc = define_targets(st, payload, len);
	else
		rc = cte__image_apply(st->core, type, payload, len,
		                      st->slot_map);
	if (rc == CTE_IMG_OLDER) {
		st->apply_errors++;
		note(st,
		     "record %llu (type %u) is older than the state it "
		     "follows (a parent gone, or a directory below its own "
		     "descendant; a checkpoint of an earlier version skips it "
		     "at mount)",
		     (unsigned long long)seq, type);
	} else if (rc) {
		st->apply_errors++;
		note(st, "record %llu (type %u) does not apply: %s",
		     (unsigned long long)seq, type, strerror(-rc));
	}
	return 0; /* keep going: report everything */
}

struct placed {
	uint32_t target;
	uint64_t start, end;
	cte_id blob;
};

static int by_place(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* A name of a blob for messages: its first name's path, or "(no name)". */
static const char *blob_path(const struct cte_blob *b, char *buf, size_t size)
{
	const struct cte_dentry *d;

	if (!b->n_names)
		return "(no name)";
	d = b->names[0];
	snprintf(buf, size, "%s/%s",
	         d->parent && d->parent->path && strcmp(d->parent->path, "/")
	             ? d->parent->path
	             : "",
	         d->name);
	return buf;
}

/*
 * Is tag t joined to the root by its parent chain?  0 yes, 1 the chain
 * ends at a tag with no name (*top = that tag), 2 the chain loops.
 */
static int tag_connection(const struct cte_core *core, const struct cte_tag *t,
                          const struct cte_tag **top)
{
	uint64_t steps = 0;

	while (t != core->root) {
		if (!t->parent || !t->self) {
			*top = t;
			return 1;
		}
		if (++steps > core->n_tags + 1)
			return 2;
		t = t->parent;
	}
	return 0;
}

/* Tags: name, parent chain, path and path index, entries, counters. */
static uint64_t check_tag(struct cte_core *core, struct cte_tag *t, FILE *f)
{
	const struct cte_tag *top = NULL;
	uint64_t problems = 0;
	uint32_t child_tags = 0;
	size_t live = 0, i;
	int conn = tag_connection(core, t, &top);

	if (conn == 1 && top == t) {
		fprintf(f,
		        "metadata: tag %llu (%s) has no name in any directory "
		        "(not connected to the root)\n",
		        (unsigned long long)t->obj.id, t->path);
		problems++;
	} else if (conn == 1) {
		fprintf(f,
		        "metadata: tag %llu (%s) lies under tag %llu, which is "
		        "not connected to the root\n",
		        (unsigned long long)t->obj.id, t->path,
		        (unsigned long long)top->obj.id);
		problems++;
	} else if (conn == 2) {
		fprintf(f, "metadata: tag %llu (%s): its parent chain loops\n",
		        (unsigned long long)t->obj.id, t->path);
		problems++;
	}
	if (t != core->root && t->parent &&
	    cte__obj_find(core, t->parent->obj.id) != &t->parent->obj) {
		fprintf(f,
		        "metadata: tag %llu (%s): its parent tag %llu does not "
		        "exist\n",
		        (unsigned long long)t->obj.id, t->path,
		        (unsigned long long)t->parent->obj.id);
		problems++;
	}
	if (!conn) {
		const char *pp = t == core->root ? NULL : t->parent->path;
		char *want = NULL;
		struct cte_hnode *n;
		bool indexed = false;

		if (!pp)
			want = strdup("/");
		else if (asprintf(&want, "%s/%s", strcmp(pp, "/") ? pp : "",
		                  t->self->name) < 0)
			want = NULL;
		if (!want)
			return problems + 1;
		if (strcmp(want, t->path)) {
			fprintf(f,
			        "metadata: tag %llu: its path is %s but its "
			        "names make it %s\n",
			        (unsigned long long)t->obj.id, t->path, want);
			problems++;
		}
		free(want);
		for (n = cte__htab_first(
		         &core->by_path,
		         cte__hash_bytes(t->path, strlen(t->path), 0));
		     n; n = cte__htab_next(n))
			if (n == &t->path_node)
				indexed = true;
		if (!indexed) {
			fprintf(f,
			        "metadata: tag %llu (%s) is missing from the "
			        "path index\n",
			        (unsigned long long)t->obj.id, t->path);
			problems++;
		}
	}
	for (i = 0; i < t->n_slots; i++) {
		struct cte_dentry *d = t->slots[i].d;
		bool ok = true;

		if (!d)
			continue;
		live++;
		if (cte__obj_find(core, d->obj->id) != d->obj) {
			fprintf(f,
			        "metadata: tag %llu (%s): name '%s' points to "
			        "object %llu, which does not exist\n",
			        (unsigned long long)t->obj.id, t->path, d->name,
			        (unsigned long long)d->obj->id);
			problems++;
			continue;
		}
		if (d->parent != t) {
			ok = false;
		} else if (d->obj->is_tag) {
			struct cte_tag *c = (struct cte_tag *)d->obj;

			child_tags++;
			ok = c->self == d && c->parent == t;
		} else {
			struct cte_blob *b = (struct cte_blob *)d->obj;
			size_t k;

			for (k = 0; k < b->n_names && b->names[k] != d; k++)
				;
			ok = k < b->n_names;
		}
		if (!ok) {
			fprintf(f,
			        "metadata: tag %llu (%s): name '%s' is not one "
			        "of object %llu's names\n",
			        (unsigned long long)t->obj.id, t->path, d->name,
			        (unsigned long long)d->obj->id);
			problems++;
		}
	}
	if (live != t->n_live) {
		fprintf(f,
		        "metadata: tag %llu (%s) holds %zu names but counts "
		        "%zu\n",
		        (unsigned long long)t->obj.id, t->path, live,
		        t->n_live);
		problems++;
	}
	if (child_tags != t->n_child_tags) {
		fprintf(f,
		        "metadata: tag %llu (%s) holds %u tags but counts %u "
		        "(its link count would be wrong)\n",
		        (unsigned long long)t->obj.id, t->path, child_tags,
		        t->n_child_tags);
		problems++;
	}
	return problems;
}

/* Blobs: names in live, connected directories and in the name index;
 * sizes and extents within what writes and truncates can produce; extents
 * on registered targets. */
static uint64_t check_blob(struct cte_core *core, struct cte_blob *b, FILE *f)
{
	const uint64_t max_blk = CTE_MAX_BLOB_SIZE >> CTE_BLOCK_SHIFT;
	uint64_t problems = 0;
	char path[4200];
	size_t k;

	blob_path(b, path, sizeof(path));
	for (k = 0; k < b->n_names; k++) {
		const struct cte_dentry *d = b->names[k];
		const struct cte_tag *top = NULL;
		struct cte_hnode *n;
		bool indexed = false;

		if (!d->parent ||
		    cte__obj_find(core, d->parent->obj.id) != &d->parent->obj) {
			fprintf(
			    f,
			    "metadata: blob %llu (%s): name '%s' is in a tag "
			    "that does not exist\n",
			    (unsigned long long)b->obj.id, path, d->name);
			problems++;
			continue;
		}
		if (tag_connection(core, d->parent, &top)) {
			fprintf(f,
			        "metadata: blob %llu (%s): name '%s' is in tag "
			        "%llu, which is not connected to the root\n",
			        (unsigned long long)b->obj.id, path, d->name,
			        (unsigned long long)d->parent->obj.id);
			problems++;
		}
		for (n = cte__htab_first(&core->dentries,
		                         cte__hash_bytes(d->name, d->name_len,
		                                         d->parent->obj.id));
		     n; n = cte__htab_next(n))
			if (n == &d->node)
				indexed = true;
		if (!indexed) {
			fprintf(
			    f,
			    "metadata: blob %llu (%s): name '%s' is missing "
			    "from the name index of tag %llu\n",
			    (unsigned long long)b->obj.id, path, d->name,
			    (unsigned long long)d->parent->obj.id);
			problems++;
		}
	}
	if (b->size > CTE_MAX_BLOB_SIZE) {
		fprintf(f,
		        "metadata: blob %llu (%s): size %llu is larger than "
		        "any write or truncate can make (%llu)\n",
		        (unsigned long long)b->obj.id, path,
		        (unsigned long long)b->size,
		        (unsigned long long)CTE_MAX_BLOB_SIZE);
		problems++;
	}
	for (k = 0; k < b->map.n; k++) {
		const struct cte_extent *e = &b->map.v[k];

		if (e->lblk + e->nblk > max_blk) {
			fprintf(
			    f,
			    "metadata: blob %llu (%s): extent at block %llu "
			    "lies past the largest blob size %llu\n",
			    (unsigned long long)b->obj.id, path,
			    (unsigned long long)e->lblk,
			    (unsigned long long)CTE_MAX_BLOB_SIZE);
			problems++;
		}
		if (e->target >= CTE_MAX_TARGETS ||
		    !core->targets[e->target].active) {
			fprintf(
			    f,
			    "metadata: blob %llu (%s): extent at block %llu "
			    "is on target slot %u, which is not registered\n",
			    (unsigned long long)b->obj.id, path,
			    (unsigned long long)e->lblk, e->target);
			problems++;
		}
	}
	return problems;
}

/*
 * Extents past the end of their target.  Capacities are not journaled, but
 * a file target is a file sized to its capacity: a target named by a path
 * that is a regular file is checked against its size.  Other names cannot
 * be checked: a RAM target's silently, a path that is not a file here is
 * named in a note (not counted as a problem).
 * v is sorted by target, then start.
 */
static uint64_t check_target_ends(struct cte_core *core,
                                  const struct placed *v, size_t n, FILE *f)
{
	uint64_t problems = 0;
	size_t i = 0;

	while (i < n) {
		uint32_t t = v[i].target;
		const char *name =
		    t < CTE_MAX_TARGETS ? core->targets[t].name : "";
		uint64_t end = 0;
		struct stat st;
		size_t first = i;

		for (; i < n && v[i].target == t; i++)
			if (v[i].end > end)
				end = v[i].end;
		if (t >= CTE_MAX_TARGETS || !core->targets[t].active)
			continue; /* reported per blob */
		if (name[0] != '/')
			continue; /* a RAM target's name */
		if (stat(name, &st) || !S_ISREG(st.st_mode)) {
			fprintf(f,
			        "metadata: target %s: not a file here; its "
			        "extents' ends are not checked\n",
			        name);
			continue;
		}
		if (end <= (uint64_t)st.st_size)
			continue;
		for (size_t k = first; k < i; k++) {
			if (v[k].end <= (uint64_t)st.st_size)
				continue;
			fprintf(f,
			        "metadata: blob %llu: extent 0x%llx-0x%llx on "
			        "%s lies past the end of that file (%lld "
			        "bytes)\n",
			        (unsigned long long)v[k].blob,
			        (unsigned long long)v[k].start,
			        (unsigned long long)v[k].end, name,
			        (long long)st.st_size);
			problems++;
		}
	}
	return problems;
}

int cte__fsck_check(struct cte_core *core, void *out, uint64_t *out_problems)
{
	FILE *f = out;
	struct placed *v = NULL;
	size_t n = 0, cap = 0, i, k, names = 0;
	uint64_t problems = 0, orphans = 0;

	for (i = 0; i < core->by_id.n_buckets; i++) {
		struct cte_hnode *h;

		for (h = core->by_id.buckets[i]; h; h = h->next) {
			struct cte_obj *o =
			    CTE_CONTAINER_OF(h, struct cte_obj, id_node);
			struct cte_blob *b = (struct cte_blob *)o;

			if (o->id >= core->next_id) {
				fprintf(f,
				        "metadata: id %llu is not below the "
				        "allocator's mark %llu\n",
				        (unsigned long long)o->id,
				        (unsigned long long)core->next_id);
				problems++;
			}
			if (o->is_tag) {
				names += ((struct cte_tag *)o)->n_live;
				problems +=
				    check_tag(core, (struct cte_tag *)o, f);
				continue;
			}
			if (!b->n_names) {
				fprintf(f,
				        "metadata: blob %llu has no name "
				        "(orphan; deleted at the next start)\n",
				        (unsigned long long)o->id);
				orphans++;
			}
			problems += check_blob(core, b, f);
			for (k = 0; k < b->map.n; k++) {
				const struct cte_extent *e = &b->map.v[k];

				if (n == cap) {
					size_t c2 = cap ? cap * 2 : 1024;
					struct placed *v2 =
					    realloc(v, c2 * sizeof(*v2));

					if (!v2) {
						free(v);
						return -ENOMEM;
					}
					v = v2;
					cap = c2;
				}
				v[n++] = (struct placed){
				    e->target, e->dev_off,
				    e->dev_off +
				        ((uint64_t)e->nblk << CTE_BLOCK_SHIFT),
				    o->id};
			}
		}
	}
	if (core->dentries.count != names) {
		fprintf(f,
		        "metadata: the name index holds %zu names, the "
		        "directories %zu\n",
		        core->dentries.count, names);
		problems++;
	}
	if (core->by_path.count != core->n_tags) {
		fprintf(f,
		        "metadata: the path index holds %zu tags, %llu exist\n",
		        core->by_path.count, (unsigned long long)core->n_tags);
		problems++;
	}
	if (n)
		qsort(v, n, sizeof(*v), by_place);
	problems += check_target_ends(core, v, n, f);
	for (i = 1; i < n; i++) {
		if (v[i].target == v[i - 1].target &&
		    v[i].start < v[i - 1].end) {
			fprintf(f,
			        "metadata: blocks shared by blob %llu and "
			        "blob %llu on %s at 0x%llx\n",
			        (unsigned long long)v[i - 1].blob,
			        (unsigned long long)v[i].blob,
			        v[i].target < CTE_MAX_TARGETS
			            ? core->targets[v[i].target].name
			            : "?",
			        (unsigned long long)v[i].start);
			problems++;
		}
	}
	cte__state_count_dropped(core);
	if (core->replay_dropped_bytes) {
		fprintf(f,
		        "metadata: %llu bytes of extents on targets no "
		        "record names\n",
		        (unsigned long long)core->replay_dropped_bytes);
		problems++;
	}
	fprintf(f,
	        "metadata: %llu tags, %llu blobs, %zu extents, %llu "
	        "orphans\n",
	        (unsigned long long)core->n_tags,
	        (unsigned long long)core->n_blobs, n,
	        (unsigned long long)orphans);
	free(v);
	*out_problems = problems;
	return 0;
}

static int fsck_finish(void *state, void *out, uint64_t *out_problems)
{
	struct fsck_state *st = state;
	uint64_t problems = 0;
	size_t i;
	int rc;

	for (i = 0; i < st->n_messages; i++)
		fprintf((FILE *)out, "metadata: %s\n", st->messages[i]);
	rc = cte__fsck_check(st->core, out, &problems);
	*out_problems = st->apply_errors + problems;
	return rc;
}

static void fsck_free(void *state)
{
	struct fsck_state *st = state;

	if (!st)
		return;
	for (size_t i = 0; i < st->n_messages; i++)
		free(st->messages[i]);
	cte__core_free(st->core);
	free(st);
}

const cte_journal_decoder cte__fsck_decoder = {
    .name = "wrp_cte_core",
    .init = fsck_init,
    .snapshot = fsck_record,
    .record = fsck_record,
    .finish = fsck_finish,
    .free = fsck_free,
};
