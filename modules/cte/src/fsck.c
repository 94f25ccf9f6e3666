/*
 * CTE's record decoder for cte-fsck (JOURNAL.md, "What CTE must provide
 * to cte-fsck"): the journal's records are applied to a standalone core
 * (no runtime, no devices), then the result is checked: blocks shared by
 * two blobs, records that do not apply, ids at or above the allocator's
 * high-water mark, extents on targets the journal never named, and
 * orphans (reported, not errors: the next start deletes them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_i.h"

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
	if (rc) {
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

static int fsck_finish(void *state, void *out, uint64_t *out_problems)
{
	struct fsck_state *st = state;
	struct cte_core *core = st->core;
	FILE *f = out;
	struct placed *v = NULL;
	size_t n = 0, cap = 0, i, k;
	uint64_t problems = st->apply_errors, orphans = 0;

	for (i = 0; i < st->n_messages; i++)
		fprintf(f, "metadata: %s\n", st->messages[i]);
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
			if (o->is_tag)
				continue;
			if (!b->n_names) {
				fprintf(f,
				        "metadata: blob %llu has no name "
				        "(orphan; deleted at the next start)\n",
				        (unsigned long long)o->id);
				orphans++;
			}
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
	qsort(v, n, sizeof(*v), by_place);
	for (i = 1; i < n; i++) {
		if (v[i].target == v[i - 1].target &&
		    v[i].start < v[i - 1].end) {
			fprintf(f,
			        "metadata: blocks shared by blob %llu and "
			        "blob %llu on %s at 0x%llx\n",
			        (unsigned long long)v[i - 1].blob,
			        (unsigned long long)v[i].blob,
			        core->targets[v[i].target].name,
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
