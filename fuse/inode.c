/*
 * cte-fuse: the table of inodes the kernel references.
 *
 * DESIGN: FUSE worker threads call in concurrently.  The table is split in
 * CTEFS_STRIPES stripes by id; each stripe is a chained hash table under
 * its own mutex, held only for a lookup or an update of a few fields (no
 * task, no allocation except when an entry is created).  Node ids are CTE
 * ids, so a kernel request names its entry directly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctefs_i.h"

static size_t id_hash(cte_id id)
{
	uint64_t h = id * 0x9E3779B97F4A7C15ull;
	return (size_t)(h ^ (h >> 29));
}

static struct ctefs_stripe *stripe_of(struct ctefs_itable *t, cte_id id)
{
	return &t->stripes[id_hash(id) % CTEFS_STRIPES];
}

static struct ctefs_inode **slot_of(struct ctefs_stripe *s, cte_id id)
{
	struct ctefs_inode **p =
	    &s->buckets[(id_hash(id) / CTEFS_STRIPES) % s->n_buckets];
	while (*p && (*p)->id != id)
		p = &(*p)->next;
	return p;
}

/* Caller holds s->lock. */
static struct ctefs_inode *find(struct ctefs_stripe *s, cte_id id)
{
	return *slot_of(s, id);
}

/* Caller holds s->lock; doubles the bucket array, keeps it on failure. */
static void grow(struct ctefs_stripe *s)
{
	size_t n = s->n_buckets * 2, i;
	struct ctefs_inode **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < s->n_buckets; i++) {
		struct ctefs_inode *e = s->buckets[i], *next;
		for (; e; e = next) {
			size_t b = (id_hash(e->id) / CTEFS_STRIPES) % n;
			next = e->next;
			e->next = nb[b];
			nb[b] = e;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->n_buckets = n;
}

int ctefs__itable_init(struct ctefs_itable *t)
{
	size_t i;
	memset(t, 0, sizeof(*t));
	for (i = 0; i < CTEFS_STRIPES; i++) {
		struct ctefs_stripe *s = &t->stripes[i];
		pthread_mutex_init(&s->lock, NULL);
		s->n_buckets = 16;
		s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
		if (!s->buckets) {
			ctefs__itable_destroy(t);
			return -ENOMEM;
		}
	}
	return 0;
}

void ctefs__itable_destroy(struct ctefs_itable *t)
{
	size_t i, b;
	for (i = 0; i < CTEFS_STRIPES; i++) {
		struct ctefs_stripe *s = &t->stripes[i];
		if (!s->buckets)
			continue;
		for (b = 0; b < s->n_buckets; b++) {
			struct ctefs_inode *e = s->buckets[b], *next;
			for (; e; e = next) {
				next = e->next;
				free(e);
			}
		}
		free(s->buckets);
		s->buckets = NULL;
		pthread_mutex_destroy(&s->lock);
	}
}

int ctefs__inode_ref(struct ctefs_itable *t, cte_id id, uint64_t n)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			ret = -ENOMEM;
			goto out;
		}
		e->id = id;
		if (s->n_inodes >= s->n_buckets)
			grow(s);
		struct ctefs_inode **p = slot_of(s, id);
		*p = e;
		s->n_inodes++;
	}
	e->nlookup += n;
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

bool ctefs__inode_unref(struct ctefs_itable *t, cte_id id, uint64_t n,
                        bool *orphan)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode **p, *e;
	bool gone = false;

	pthread_mutex_lock(&s->lock);
	p = slot_of(s, id);
	e = *p;
	if (!e)
		goto out;
	e->nlookup = e->nlookup > n ? e->nlookup - n : 0;
	if (e->nlookup == 0) {
		*orphan = e->orphan;
		*p = e->next;
		s->n_inodes--;
		free(e);
		gone = true;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return gone;
}

void ctefs__inode_note_attr(struct ctefs_itable *t, const cte_attr *a)
{
	struct ctefs_stripe *s = stripe_of(t, a->id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, a->id);
	if (e) {
		e->mode = a->mode;
		e->gid = a->gid;
		if (a->nlink > 1 && !S_ISDIR(a->mode))
			e->multilinked = true;
	}
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_multilinked(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool yes;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	yes = e && e->multilinked;
	pthread_mutex_unlock(&s->lock);
	return yes;
}

bool ctefs__inode_cached(struct ctefs_itable *t, cte_id id, uint32_t *mode,
                         uint32_t *gid)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool found = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e && e->mode) {
		if (mode)
			*mode = e->mode;
		if (gid)
			*gid = e->gid;
		found = true;
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

uint32_t ctefs__inode_xflags(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	uint32_t flags = 0;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		flags = e->xflags;
	pthread_mutex_unlock(&s->lock);
	return flags;
}

void ctefs__inode_xflags_set(struct ctefs_itable *t, cte_id id, uint32_t set,
                             uint32_t clear)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->xflags = (e->xflags & ~clear) | set;
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_stamp_check(struct ctefs_itable *t, cte_id id,
                              const struct timespec *mtime, uint64_t size)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool same = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		same = e->stamp_valid && e->stamp_size == size &&
		       e->stamp_mtime.tv_sec == mtime->tv_sec &&
		       e->stamp_mtime.tv_nsec == mtime->tv_nsec;
		e->stamp_valid = true;
		e->stamp_mtime = *mtime;
		e->stamp_size = size;
	}
	pthread_mutex_unlock(&s->lock);
	return same;
}

void ctefs__inode_stamp_set(struct ctefs_itable *t, cte_id id,
                            const struct timespec *mtime, uint64_t size)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		e->stamp_valid = true;
		e->stamp_mtime = *mtime;
		e->stamp_size = size;
	}
	pthread_mutex_unlock(&s->lock);
}

void ctefs__inode_stamp_clear(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->stamp_valid = false;
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_resync_start(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool claimed = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e && !e->resyncing) {
		e->resyncing = true;
		claimed = true;
	}
	pthread_mutex_unlock(&s->lock);
	return claimed;
}

void ctefs__inode_resync_done(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->resyncing = false;
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_mark_orphan(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->orphan = true;
	pthread_mutex_unlock(&s->lock);
	return e != NULL;
}

void ctefs__inode_mark_written(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->written = true;
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_take_written(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool written = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		written = e->written;
		e->written = false;
	}
	pthread_mutex_unlock(&s->lock);
	return written;
}

bool ctefs__inode_dir_score(struct ctefs_itable *t, cte_id id, double *out)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool known = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e && e->dir_score_known) {
		*out = e->dir_score;
		known = true;
	}
	pthread_mutex_unlock(&s->lock);
	return known;
}

void ctefs__inode_set_dir_score(struct ctefs_itable *t, cte_id id, double score)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		e->dir_score_known = true;
		e->dir_score = score;
	}
	pthread_mutex_unlock(&s->lock);
}

void ctefs__inode_note_open(struct ctefs_itable *t, cte_id id, uint64_t size)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		e->wb_failed = false;
		e->open_size = size;
	}
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_note_wb_failure(struct ctefs_itable *t, cte_id id,
                                  uint64_t off)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool changed = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e && (!e->wb_failed || off < e->wb_fail_off)) {
		e->wb_failed = true;
		e->wb_fail_off = off;
		changed = true;
	}
	pthread_mutex_unlock(&s->lock);
	return changed;
}

bool ctefs__inode_wb_begin(struct ctefs_itable *t, cte_id id, uint64_t end,
                           uint64_t *fail_off)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool refused = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		e->wb_inflight++;
		if (e->wb_failed && end > e->wb_fail_off) {
			*fail_off = e->wb_fail_off;
			refused = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return refused;
}

bool ctefs__inode_wb_end(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool last = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e) {
		e->wb_inflight--;
		last = e->wb_failed && e->wb_inflight == 0;
	}
	pthread_mutex_unlock(&s->lock);
	return last;
}

bool ctefs__inode_wb_failure(struct ctefs_itable *t, cte_id id,
                             uint64_t *fail_off, uint64_t *open_size)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool failed = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e && e->wb_failed) {
		*fail_off = e->wb_fail_off;
		*open_size = e->open_size;
		failed = true;
	}
	pthread_mutex_unlock(&s->lock);
	return failed;
}

void ctefs__inode_opens(struct ctefs_itable *t, cte_id id, int delta)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		e->opens += delta;
	pthread_mutex_unlock(&s->lock);
}

bool ctefs__inode_stale_open(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;
	bool stale = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (e)
		stale = e->wb_failed && (e->opens > 0 || e->resyncing);
	pthread_mutex_unlock(&s->lock);
	return stale;
}
