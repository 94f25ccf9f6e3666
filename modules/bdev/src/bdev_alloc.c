/*
 * bdev block allocator: sharded free-extent treaps with a capacity counter.
 * DESIGN: see bdev_alloc_i.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_alloc_i.h"

/* A free extent [off, off + len) in units; a treap node keyed by off. */
struct bdev__ext {
	uint64_t off;
	uint64_t len;
	uint64_t max_len; /* largest len in this subtree */
	uint32_t prio;
	struct bdev__ext *left;
	struct bdev__ext *right;
};

/* Minimum units per shard when the count is chosen automatically. */
#define MIN_SHARD_UNITS 1024

/* ---- treap ---- */

static void ext_update(struct bdev__ext *n)
{
	uint64_t m = n->len;

	if (n->left && n->left->max_len > m)
		m = n->left->max_len;
	if (n->right && n->right->max_len > m)
		m = n->right->max_len;
	n->max_len = m;
}

/* Split t into nodes with off < key (*l) and off >= key (*r). */
static void ext_split(struct bdev__ext *t, uint64_t key, struct bdev__ext **l,
                      struct bdev__ext **r)
{
	if (!t) {
		*l = *r = NULL;
		return;
	}
	if (t->off < key) {
		ext_split(t->right, key, &t->right, r);
		*l = t;
	} else {
		ext_split(t->left, key, l, &t->left);
		*r = t;
	}
	ext_update(t);
}

/* Join two treaps where every key of a is below every key of b. */
static struct bdev__ext *ext_merge(struct bdev__ext *a, struct bdev__ext *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->right = ext_merge(a->right, b);
		ext_update(a);
		return a;
	}
	b->left = ext_merge(a, b->left);
	ext_update(b);
	return b;
}

static struct bdev__ext *ext_pop_max(struct bdev__ext *t,
                                     struct bdev__ext **out)
{
	if (!t->right) {
		*out = t;
		return t->left;
	}
	t->right = ext_pop_max(t->right, out);
	ext_update(t);
	return t;
}

static struct bdev__ext *ext_pop_min(struct bdev__ext *t,
                                     struct bdev__ext **out)
{
	if (!t->left) {
		*out = t;
		return t->right;
	}
	t->left = ext_pop_min(t->left, out);
	ext_update(t);
	return t;
}

static const struct bdev__ext *ext_peek_max(const struct bdev__ext *t)
{
	while (t && t->right)
		t = t->right;
	return t;
}

static const struct bdev__ext *ext_peek_min(const struct bdev__ext *t)
{
	while (t && t->left)
		t = t->left;
	return t;
}

static void ext_free_all(struct bdev__ext *t)
{
	while (t) {
		struct bdev__ext *right = t->right;

		ext_free_all(t->left);
		free(t);
		t = right;
	}
}

static uint64_t ext_count(const struct bdev__ext *t)
{
	return t ? 1 + ext_count(t->left) + ext_count(t->right) : 0;
}

/* ---- one shard (caller holds s->lock) ---- */

static uint32_t shard_prio(struct bdev__shard *s)
{
	/* xorshift32: priorities only need to look random */
	uint32_t x = s->seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	s->seed = x;
	return x;
}

static void shard_publish(struct bdev__shard *s, int64_t delta_units)
{
	uint64_t f = atomic_load_explicit(&s->free_units, memory_order_relaxed);

	atomic_store_explicit(&s->free_units, f + (uint64_t)delta_units,
	                      memory_order_relaxed);
	atomic_store_explicit(&s->largest, s->root ? s->root->max_len : 0,
	                      memory_order_relaxed);
}

/*
 * Insert the free range [off, off+len), merging with its neighbours.
 * -EINVAL if it overlaps free space (a double free); -ENOMEM.
 */
static int shard_insert(struct bdev__shard *s, uint64_t off, uint64_t len)
{
	struct bdev__ext *l, *r, *node = NULL, *spare = NULL;
	const struct bdev__ext *p, *q;
	uint64_t end = off + len, orig_len = len;

	ext_split(s->root, off, &l, &r);
	p = ext_peek_max(l);
	q = ext_peek_min(r);
	if ((p && p->off + p->len > off) || (q && q->off < end)) {
		s->root = ext_merge(l, r);
		return -EINVAL;
	}
	if (p && p->off + p->len == off) {
		l = ext_pop_max(l, &node);
		off = node->off;
		len += node->len;
	}
	if (q && q->off == end) {
		r = ext_pop_min(r, &spare);
		len += spare->len;
		if (node)
			free(spare);
		else
			node = spare;
	}
	if (!node) {
		node = malloc(sizeof(*node));
		if (!node) {
			s->root = ext_merge(l, r);
			return -ENOMEM;
		}
		node->prio = shard_prio(s);
	}
	node->off = off;
	node->len = len;
	node->left = node->right = NULL;
	ext_update(node);
	s->root = ext_merge(ext_merge(l, node), r);
	shard_publish(s, (int64_t)orig_len);
	return 0;
}

/* Carve `need` units from the lowest-addressed extent that holds them. */
static int ext_take_first_fit(struct bdev__ext **t, uint64_t need,
                              uint64_t *out_off)
{
	struct bdev__ext *n = *t;
	int found;

	if (!n || n->max_len < need)
		return 0;
	if (n->left && n->left->max_len >= need) {
		found = ext_take_first_fit(&n->left, need, out_off);
	} else if (n->len >= need) {
		*out_off = n->off;
		n->off += need;
		n->len -= need;
		if (n->len == 0) {
			*t = ext_merge(n->left, n->right);
			free(n);
			return 1;
		}
		found = 1;
	} else {
		found = ext_take_first_fit(&n->right, need, out_off);
	}
	ext_update(n);
	return found;
}

/* Carve min(need, largest) units from the front of the largest extent. */
static uint64_t ext_take_largest(struct bdev__ext **t, uint64_t need,
                                 uint64_t *out_off)
{
	struct bdev__ext *n = *t;
	uint64_t got;

	if (n->len == n->max_len) {
		got = n->len < need ? n->len : need;
		*out_off = n->off;
		n->off += got;
		n->len -= got;
		if (n->len == 0) {
			*t = ext_merge(n->left, n->right);
			free(n);
			return got;
		}
	} else if (n->left && n->left->max_len == n->max_len) {
		got = ext_take_largest(&n->left, need, out_off);
	} else {
		got = ext_take_largest(&n->right, need, out_off);
	}
	ext_update(n);
	return got;
}

/*
 * Remove [off, off+len) from the free space; it must lie inside one free
 * extent.  -EEXIST when it does not; -ENOMEM.
 */
static int shard_carve(struct bdev__shard *s, uint64_t off, uint64_t len)
{
	struct bdev__ext *l, *r, *node, *tail = NULL;
	const struct bdev__ext *p;
	uint64_t end = off + len, ext_off, ext_end;

	ext_split(s->root, off + 1, &l, &r);
	p = ext_peek_max(l);
	if (!p || p->off + p->len < end) {
		s->root = ext_merge(l, r);
		return -EEXIST;
	}
	ext_off = p->off;
	ext_end = p->off + p->len;
	if (ext_off < off && ext_end > end) {
		/* both sides remain: a second node is needed */
		tail = malloc(sizeof(*tail));
		if (!tail) {
			s->root = ext_merge(l, r);
			return -ENOMEM;
		}
		tail->prio = shard_prio(s);
	}
	l = ext_pop_max(l, &node);
	if (ext_off < off) {
		node->len = off - ext_off;
		node->left = node->right = NULL;
		ext_update(node);
		l = ext_merge(l, node);
		node = tail;
	}
	if (ext_end > end) {
		node->off = end;
		node->len = ext_end - end;
		node->left = node->right = NULL;
		ext_update(node);
		r = ext_merge(node, r);
		node = NULL;
	}
	free(node);
	s->root = ext_merge(l, r);
	shard_publish(s, -(int64_t)len);
	return 0;
}

/* ---- batches of extents (Free, Reserve) ---- */

typedef int (*piece_fn)(struct bdev__shard *s, uint64_t off, uint64_t len);

static int check_blocks(const struct bdev__alloc *a,
                        const chi_bdev_block *blocks, uint32_t n)
{
	uint64_t dev_bytes = a->total_units * a->unit;
	uint32_t i;

	for (i = 0; i < n; i++) {
		const chi_bdev_block *b = &blocks[i];

		if (!b->size || b->offset % a->unit || b->size % a->unit ||
		    b->offset > dev_bytes || b->size > dev_bytes - b->offset)
			return -EINVAL;
	}
	return 0;
}

/* Bit i set when the batch touches shard i. */
static uint32_t shard_mask(const struct bdev__alloc *a,
                           const chi_bdev_block *blocks, uint32_t n)
{
	uint32_t mask = 0, i;
	uint64_t first, last, s;

	for (i = 0; i < n; i++) {
		first = blocks[i].offset / a->unit / a->span;
		last = (blocks[i].offset + blocks[i].size) / a->unit - 1;
		last /= a->span;
		for (s = first; s <= last; s++)
			mask |= 1u << s;
	}
	return mask;
}

static void lock_mask(struct bdev__alloc *a, uint32_t mask)
{
	uint32_t i;

	/* ascending order: the one lock order of this allocator */
	for (i = 0; i < a->nshards; i++)
		if (mask & (1u << i))
			pthread_mutex_lock(&a->shards[i].lock);
}

static void unlock_mask(struct bdev__alloc *a, uint32_t mask)
{
	uint32_t i;

	for (i = a->nshards; i-- > 0;)
		if (mask & (1u << i))
			pthread_mutex_unlock(&a->shards[i].lock);
}

/*
 * Run fn on every per-shard piece of blocks[0..n-1] (in units).  On a
 * failure run undo on the pieces already done, in order, and return the
 * error.  Caller holds the locks of every shard touched.
 */
static int apply_pieces(struct bdev__alloc *a, const chi_bdev_block *blocks,
                        uint32_t n, piece_fn fn, piece_fn undo)
{
	uint32_t i, j, stop_i = 0;
	uint64_t u, end, piece_end, stop_u = 0;
	int rc = 0;

	for (i = 0; i < n && !rc; i++) {
		u = blocks[i].offset / a->unit;
		end = u + blocks[i].size / a->unit;
		while (u < end) {
			piece_end = (u / a->span + 1) * a->span;
			if (piece_end > end)
				piece_end = end;
			rc = fn(&a->shards[u / a->span], u, piece_end - u);
			if (rc) {
				stop_i = i;
				stop_u = u;
				break;
			}
			u = piece_end;
		}
	}
	if (!rc)
		return 0;
	for (j = 0; j <= stop_i; j++) {
		u = blocks[j].offset / a->unit;
		end = j == stop_i ? stop_u : u + blocks[j].size / a->unit;
		while (u < end) {
			piece_end = (u / a->span + 1) * a->span;
			if (piece_end > end)
				piece_end = end;
			/* Undoing a piece just done only fails on ENOMEM while
			 * splitting an extent; there is nothing better to do
			 * than leak that piece. */
			(void)undo(&a->shards[u / a->span], u, piece_end - u);
			u = piece_end;
		}
	}
	return rc;
}

static uint64_t blocks_units(const struct bdev__alloc *a,
                             const chi_bdev_block *blocks, uint32_t n)
{
	uint64_t units = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		units += blocks[i].size / a->unit;
	return units;
}

int bdev__alloc_put(struct bdev__alloc *a, const chi_bdev_block *blocks,
                    uint32_t n)
{
	uint32_t mask;
	int rc;

	if (!n)
		return 0;
	rc = check_blocks(a, blocks, n);
	if (rc)
		return rc;
	mask = shard_mask(a, blocks, n);
	lock_mask(a, mask);
	rc = apply_pieces(a, blocks, n, shard_insert, shard_carve);
	unlock_mask(a, mask);
	if (rc)
		return rc == -ENOMEM ? rc : -EINVAL;
	/* Release: the extents are in the trees before the counter says so
	 * (pairs with the acquire in bdev__alloc_get). */
	atomic_fetch_add_explicit(&a->free_units, blocks_units(a, blocks, n),
	                          memory_order_release);
	return 0;
}

int bdev__alloc_reserve(struct bdev__alloc *a, const chi_bdev_block *blocks,
                        uint32_t n)
{
	uint64_t units, cur;
	uint32_t mask;
	int rc;

	if (!n)
		return 0;
	rc = check_blocks(a, blocks, n);
	if (rc)
		return rc;
	units = blocks_units(a, blocks, n);
	cur = atomic_load_explicit(&a->free_units, memory_order_acquire);
	do {
		if (cur < units)
			return -EEXIST;
	} while (!atomic_compare_exchange_weak_explicit(
	    &a->free_units, &cur, cur - units, memory_order_acq_rel,
	    memory_order_acquire));
	mask = shard_mask(a, blocks, n);
	lock_mask(a, mask);
	rc = apply_pieces(a, blocks, n, shard_carve, shard_insert);
	unlock_mask(a, mask);
	if (rc)
		atomic_fetch_add_explicit(&a->free_units, units,
		                          memory_order_release);
	return rc;
}

/* ---- allocation ---- */

/* Append extent [off, off+len) (units) to out, merging with the last one
 * when adjacent.  0, or -E2BIG when out is full. */
static int out_append(const struct bdev__alloc *a, chi_bdev_block *out,
                      uint32_t max_blocks, uint32_t *count, uint64_t off,
                      uint64_t len)
{
	chi_bdev_block *last = *count ? &out[*count - 1] : NULL;

	if (last && last->offset + last->size == off * a->unit) {
		last->size += len * a->unit;
		return 0;
	}
	if (*count == max_blocks)
		return -E2BIG;
	out[*count].offset = off * a->unit;
	out[*count].size = len * a->unit;
	(*count)++;
	return 0;
}

/* Take pieces from one shard (locked) until remaining is 0 or out is
 * full; -E2BIG in the latter case (the piece that did not fit is back). */
static int shard_gather(struct bdev__alloc *a, struct bdev__shard *s,
                        uint64_t *remaining, chi_bdev_block *out,
                        uint32_t max_blocks, uint32_t *count)
{
	uint64_t off, got;

	while (*remaining && s->root) {
		got = ext_take_largest(&s->root, *remaining, &off);
		shard_publish(s, -(int64_t)got);
		if (out_append(a, out, max_blocks, count, off, got)) {
			(void)shard_insert(s, off, got);
			return -E2BIG;
		}
		*remaining -= got;
	}
	return 0;
}

int bdev__alloc_get(struct bdev__alloc *a, uint32_t hint, uint64_t size,
                    chi_bdev_block *out, uint32_t max_blocks, uint32_t *out_n)
{
	uint64_t need, remaining, cur, off;
	uint32_t home, i, round, count = 0;
	struct bdev__shard *s;
	int rc = 0, found;

	*out_n = 0;
	if (!size || !max_blocks)
		return -EINVAL;
	need = size / a->unit + (size % a->unit != 0);
	/* Acquire pairs with the release in put: units counted here are in
	 * the trees by the time we search them. */
	cur = atomic_load_explicit(&a->free_units, memory_order_acquire);
	do {
		if (cur < need)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak_explicit(
	    &a->free_units, &cur, cur - need, memory_order_acq_rel,
	    memory_order_acquire));

	home = hint % a->nshards;
	/* One contiguous extent, home shard first. */
	for (i = 0; i < a->nshards; i++) {
		s = &a->shards[(home + i) % a->nshards];
		if (atomic_load_explicit(&s->largest, memory_order_relaxed) <
		    need)
			continue;
		pthread_mutex_lock(&s->lock);
		found = ext_take_first_fit(&s->root, need, &off);
		if (found)
			shard_publish(s, -(int64_t)need);
		pthread_mutex_unlock(&s->lock);
		if (found) {
			out[0].offset = off * a->unit;
			out[0].size = need * a->unit;
			*out_n = 1;
			return 0;
		}
	}

	/* Pieces, largest first.  The counter says they exist; two rounds
	 * of shard-by-shard locking can still miss space moving between
	 * shards behind us, so the third round holds every lock. */
	remaining = need;
	for (round = 0; remaining && !rc && round < 3; round++) {
		int all = round == 2;

		if (all)
			lock_mask(a, (uint32_t)((1ull << a->nshards) - 1));
		for (i = 0; i < a->nshards && remaining && !rc; i++) {
			s = &a->shards[(home + i) % a->nshards];
			if (!all) {
				if (!atomic_load_explicit(&s->free_units,
				                          memory_order_relaxed))
					continue;
				pthread_mutex_lock(&s->lock);
			}
			rc = shard_gather(a, s, &remaining, out, max_blocks,
			                  &count);
			if (!all)
				pthread_mutex_unlock(&s->lock);
		}
		if (all)
			unlock_mask(a, (uint32_t)((1ull << a->nshards) - 1));
	}
	if (!rc && remaining)
		rc = -ENOSPC; /* cannot happen while the invariant holds */
	if (rc) {
		(void)bdev__alloc_put(a, out, count);
		atomic_fetch_add_explicit(&a->free_units, remaining,
		                          memory_order_release);
		memset(out, 0, sizeof(*out) * count);
		return rc;
	}
	*out_n = count;
	return 0;
}

/* ---- setup ---- */

int bdev__alloc_init(struct bdev__alloc *a, uint64_t capacity, uint64_t unit,
                     uint32_t nshards)
{
	uint64_t total, start, end;
	void *mem;
	uint32_t i;
	int rc;

	memset(a, 0, sizeof(*a));
	if (!unit || (unit & (unit - 1)))
		return -EINVAL;
	total = capacity / unit;
	if (!total)
		return -EINVAL;
	if (!nshards) {
		uint64_t want = total / MIN_SHARD_UNITS;

		nshards = want > BDEV_ALLOC_MAX_SHARDS ? BDEV_ALLOC_MAX_SHARDS
		                                       : (uint32_t)want;
	}
	if (nshards > BDEV_ALLOC_MAX_SHARDS)
		nshards = BDEV_ALLOC_MAX_SHARDS;
	if (nshards > total)
		nshards = (uint32_t)total;
	if (!nshards)
		nshards = 1;
	a->unit = unit;
	a->total_units = total;
	a->span = (total + nshards - 1) / nshards;
	a->nshards = (uint32_t)((total + a->span - 1) / a->span);
	if (posix_memalign(&mem, 64, sizeof(*a->shards) * a->nshards))
		return -ENOMEM;
	a->shards = mem;
	memset(a->shards, 0, sizeof(*a->shards) * a->nshards);
	for (i = 0; i < a->nshards; i++) {
		struct bdev__shard *s = &a->shards[i];

		pthread_mutex_init(&s->lock, NULL);
		s->seed = (0x9e3779b9u ^ (i * 2654435761u)) | 1u;
		start = (uint64_t)i * a->span;
		end = start + a->span > total ? total : start + a->span;
		rc = shard_insert(s, start, end - start);
		if (rc) {
			a->nshards = i + 1;
			bdev__alloc_destroy(a);
			return rc;
		}
	}
	atomic_store_explicit(&a->free_units, total, memory_order_release);
	return 0;
}

void bdev__alloc_destroy(struct bdev__alloc *a)
{
	uint32_t i;

	if (!a->shards)
		return;
	for (i = 0; i < a->nshards; i++) {
		ext_free_all(a->shards[i].root);
		pthread_mutex_destroy(&a->shards[i].lock);
	}
	free(a->shards);
	a->shards = NULL;
}

uint64_t bdev__alloc_free_bytes(struct bdev__alloc *a)
{
	return atomic_load_explicit(&a->free_units, memory_order_relaxed) *
	       a->unit;
}

uint64_t bdev__alloc_extent_count(struct bdev__alloc *a)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < a->nshards; i++) {
		pthread_mutex_lock(&a->shards[i].lock);
		n += ext_count(a->shards[i].root);
		pthread_mutex_unlock(&a->shards[i].lock);
	}
	return n;
}
