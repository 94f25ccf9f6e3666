/*
 * cte-fuse: the table of inodes the kernel references.
 *
 * DESIGN
 *
 * Threads: none of its own.  FUSE worker threads (and a write-back resync
 * thread, wb_error.c) call in concurrently.
 *
 * Locks: the table is split in CTEFS_STRIPES stripes by id; each stripe is
 * a chained hash table under its own mutex, which guards the chains and
 * every field of the entries in them.  An operation takes an inode's
 * stripe once where it can: ctefs__inode_lock() finds the entry and
 * returns it locked, the caller reads and updates what it needs, and
 * ctefs__inode_unlock() releases it.  The lock is held for a few field
 * updates only: never across a CTE call, a reply to the kernel, a sleep or
 * another stripe's lock (so there is no lock order to keep), and nothing is
 * allocated under it except the entry that ctefs__inode_ref_lock() creates.
 * No one sleeps on these locks for long, so there is nothing to wake: a
 * thread that waits for an inode's state (ctefs__wb_wait_stale) polls.
 *
 * Node ids are CTE ids, so a kernel request names its entry directly.
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

struct ctefs_inode *ctefs__inode_ref_lock(struct ctefs_itable *t, cte_id id,
                                          uint64_t n)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		e->id = id;
		if (s->n_inodes >= s->n_buckets)
			grow(s);
		*slot_of(s, id) = e;
		s->n_inodes++;
	}
	e->nlookup += n;
	return e;
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

struct ctefs_inode *ctefs__inode_lock(struct ctefs_itable *t, cte_id id)
{
	struct ctefs_stripe *s = stripe_of(t, id);
	struct ctefs_inode *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, id);
	if (!e)
		pthread_mutex_unlock(&s->lock);
	return e;
}

void ctefs__inode_unlock(struct ctefs_itable *t, struct ctefs_inode *e)
{
	if (e)
		pthread_mutex_unlock(&stripe_of(t, e->id)->lock);
}

void ctefs__inode_note_attr(struct ctefs_inode *e, const cte_attr *a)
{
	e->mode = a->mode;
	e->gid = a->gid;
	if (a->nlink > 1 && !S_ISDIR(a->mode))
		e->multilinked = true;
}

void ctefs__itable_note_attr(struct ctefs_itable *t, const cte_attr *a)
{
	struct ctefs_inode *e = ctefs__inode_lock(t, a->id);

	if (e)
		ctefs__inode_note_attr(e, a);
	ctefs__inode_unlock(t, e);
}

void ctefs__inode_stamp_set(struct ctefs_inode *e,
                            const struct timespec *mtime, uint64_t size)
{
	e->stamp_valid = true;
	e->stamp_mtime = *mtime;
	e->stamp_size = size;
}

bool ctefs__inode_stamp_check(struct ctefs_inode *e,
                              const struct timespec *mtime, uint64_t size)
{
	bool same = e->stamp_valid && e->stamp_size == size &&
	            e->stamp_mtime.tv_sec == mtime->tv_sec &&
	            e->stamp_mtime.tv_nsec == mtime->tv_nsec;

	ctefs__inode_stamp_set(e, mtime, size);
	return same;
}
