/* A blob's extent map; see extmap_i.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extmap_i.h"

void cte__extmap_init(struct cte_extmap *m)
{
	m->v = NULL;
	m->n = m->cap = 0;
}

void cte__extmap_destroy(struct cte_extmap *m)
{
	free(m->v);
	cte__extmap_init(m);
}

static int reserve(struct cte_extmap *m, size_t need)
{
	size_t cap;
	struct cte_extent *v;

	if (need <= m->cap)
		return 0;
	cap = m->cap ? m->cap * 2 : 4;
	while (cap < need)
		cap *= 2;
	v = realloc(m->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->v = v;
	m->cap = cap;
	return 0;
}

int cte__extmap_push(struct cte_extmap *m, const struct cte_extent *e)
{
	int rc = reserve(m, m->n + 1);

	if (rc)
		return rc;
	m->v[m->n++] = *e;
	return 0;
}

static uint64_t ext_end(const struct cte_extent *e)
{
	return e->lblk + e->nblk;
}

size_t cte__extmap_find(const struct cte_extmap *m, uint64_t lblk)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ext_end(&m->v[mid]) <= lblk)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct cte_extent *cte__extmap_lookup(const struct cte_extmap *m,
                                            uint64_t lblk)
{
	size_t i = cte__extmap_find(m, lblk);

	if (i < m->n && m->v[i].lblk <= lblk)
		return &m->v[i];
	return NULL;
}

/* Append [a, b) to gaps cut at chunk boundaries. */
static int push_gap(struct cte_extmap *gaps, uint64_t a, uint64_t b)
{
	while (a < b) {
		uint64_t chunk_end =
		    (a / CTE_CHUNK_BLOCKS + 1) * CTE_CHUNK_BLOCKS;
		uint64_t e = b < chunk_end ? b : chunk_end;
		struct cte_extent g = {.lblk = a, .nblk = (uint32_t)(e - a)};
		int rc = cte__extmap_push(gaps, &g);

		if (rc)
			return rc;
		a = e;
	}
	return 0;
}

int cte__extmap_gaps(const struct cte_extmap *m, uint64_t b0, uint64_t b1,
                     struct cte_extmap *gaps)
{
	size_t i = cte__extmap_find(m, b0);
	uint64_t pos = b0;
	int rc;

	for (; i < m->n && m->v[i].lblk < b1 && pos < b1; i++) {
		if (m->v[i].lblk > pos) {
			rc = push_gap(gaps, pos, m->v[i].lblk);
			if (rc)
				return rc;
		}
		pos = ext_end(&m->v[i]);
	}
	if (pos < b1)
		return push_gap(gaps, pos, b1);
	return 0;
}

static bool same_chunk(uint64_t a, uint64_t b_last)
{
	return a / CTE_CHUNK_BLOCKS == b_last / CTE_CHUNK_BLOCKS;
}

/* Can `b` directly follow `a` as one extent? */
static bool mergeable(const struct cte_extent *a, const struct cte_extent *b)
{
	return a->target == b->target && ext_end(a) == b->lblk &&
	       a->dev_off + ((uint64_t)a->nblk << CTE_BLOCK_SHIFT) ==
	           b->dev_off &&
	       same_chunk(a->lblk, ext_end(b) - 1);
}

int cte__extmap_insert(struct cte_extmap *m, const struct cte_extent *e)
{
	size_t i = cte__extmap_find(m, e->lblk);
	bool left = i > 0 && mergeable(&m->v[i - 1], e);
	bool right = i < m->n && mergeable(e, &m->v[i]);
	int rc;

	if (left && right &&
	    same_chunk(m->v[i - 1].lblk, ext_end(&m->v[i]) - 1)) {
		m->v[i - 1].nblk += e->nblk + m->v[i].nblk;
		memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
		m->n--;
		return 0;
	}
	if (left) {
		m->v[i - 1].nblk += e->nblk;
		return 0;
	}
	if (right) {
		m->v[i].lblk = e->lblk;
		m->v[i].dev_off = e->dev_off;
		m->v[i].nblk += e->nblk;
		return 0;
	}
	rc = reserve(m, m->n + 1);
	if (rc)
		return rc;
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
	m->v[i] = *e;
	m->n++;
	return 0;
}

int cte__extmap_punch(struct cte_extmap *m, uint64_t b0, uint64_t b1,
                      struct cte_extmap *removed)
{
	size_t i = cte__extmap_find(m, b0), j;
	size_t del_from = SIZE_MAX, del_to = 0;
	int rc;

	if (b0 >= b1 || i >= m->n || m->v[i].lblk >= b1)
		return 0;
	/* One extent strictly containing [b0, b1) splits in two. */
	if (m->v[i].lblk < b0 && ext_end(&m->v[i]) > b1) {
		struct cte_extent *e, tail, gone;

		rc = reserve(m, m->n + 1);
		if (rc)
			return rc;
		e = &m->v[i];
		gone = *e;
		gone.lblk = b0;
		gone.nblk = (uint32_t)(b1 - b0);
		gone.dev_off = e->dev_off + ((b0 - e->lblk) << CTE_BLOCK_SHIFT);
		if (removed && (rc = cte__extmap_push(removed, &gone)))
			return rc;
		tail = *e;
		tail.lblk = b1;
		tail.nblk = (uint32_t)(ext_end(e) - b1);
		tail.dev_off = e->dev_off + ((b1 - e->lblk) << CTE_BLOCK_SHIFT);
		e->nblk = (uint32_t)(b0 - e->lblk);
		memmove(&m->v[i + 2], &m->v[i + 1],
		        (m->n - i - 1) * sizeof(*m->v));
		m->v[i + 1] = tail;
		m->n++;
		return 0;
	}
	/* Reserve the output first so that nothing changes on -ENOMEM. */
	for (j = i; j < m->n && m->v[j].lblk < b1; j++)
		;
	if (removed && (rc = reserve(removed, removed->n + (j - i))))
		return rc;
	for (j = i; j < m->n && m->v[j].lblk < b1; j++) {
		struct cte_extent *e = &m->v[j], gone = *e;
		uint64_t s = e->lblk > b0 ? e->lblk : b0;
		uint64_t t = ext_end(e) < b1 ? ext_end(e) : b1;

		gone.lblk = s;
		gone.nblk = (uint32_t)(t - s);
		gone.dev_off = e->dev_off + ((s - e->lblk) << CTE_BLOCK_SHIFT);
		if (removed)
			removed->v[removed->n++] = gone;
		if (e->lblk < b0) { /* keep the head */
			e->nblk = (uint32_t)(b0 - e->lblk);
		} else if (ext_end(e) > b1) { /* keep the tail */
			e->dev_off += (b1 - e->lblk) << CTE_BLOCK_SHIFT;
			e->nblk = (uint32_t)(ext_end(e) - b1);
			e->lblk = b1;
		} else {
			if (del_from == SIZE_MAX)
				del_from = j;
			del_to = j + 1;
		}
	}
	if (del_from != SIZE_MAX) {
		memmove(&m->v[del_from], &m->v[del_to],
		        (m->n - del_to) * sizeof(*m->v));
		m->n -= del_to - del_from;
	}
	return 0;
}

uint64_t cte__extmap_blocks(const struct cte_extmap *m)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < m->n; i++)
		n += m->v[i].nblk;
	return n;
}

int cte__extmap_copy(struct cte_extmap *dst, const struct cte_extmap *src)
{
	cte__extmap_init(dst);
	if (!src->n)
		return 0;
	if (reserve(dst, src->n))
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*src->v));
	dst->n = src->n;
	return 0;
}

bool cte__extmap_valid(const struct cte_extmap *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct cte_extent *e = &m->v[i];

		if (!e->nblk || !same_chunk(e->lblk, ext_end(e) - 1))
			return false;
		if (i && ext_end(&m->v[i - 1]) > e->lblk)
			return false;
	}
	return true;
}
