/* Intrusive chained hash table; see htab_i.h. */
#include <errno.h>
#include <stdlib.h>

#include "htab_i.h"

void cte__htab_init(struct cte_htab *t)
{
	t->buckets = NULL;
	t->n_buckets = 0;
	t->count = 0;
}

void cte__htab_destroy(struct cte_htab *t)
{
	free(t->buckets);
	cte__htab_init(t);
}

static int grow(struct cte_htab *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64, i;
	struct cte_hnode **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->n_buckets; i++) {
		struct cte_hnode *node = t->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			node->next = b[node->hash & (n - 1)];
			b[node->hash & (n - 1)] = node;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

int cte__htab_insert(struct cte_htab *t, struct cte_hnode *n, uint64_t hash)
{
	size_t i;

	if (t->count >= t->n_buckets) {
		int rc = grow(t);

		/* A full table still works, only slower. */
		if (rc && !t->n_buckets)
			return rc;
	}
	n->hash = hash;
	i = hash & (t->n_buckets - 1);
	n->next = t->buckets[i];
	t->buckets[i] = n;
	t->count++;
	return 0;
}

void cte__htab_remove(struct cte_htab *t, struct cte_hnode *n)
{
	struct cte_hnode **pp;

	if (!t->n_buckets)
		return;
	for (pp = &t->buckets[n->hash & (t->n_buckets - 1)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}

struct cte_hnode *cte__htab_first(const struct cte_htab *t, uint64_t hash)
{
	struct cte_hnode *n;

	if (!t->n_buckets)
		return NULL;
	for (n = t->buckets[hash & (t->n_buckets - 1)]; n; n = n->next)
		if (n->hash == hash)
			return n;
	return NULL;
}

struct cte_hnode *cte__htab_next(const struct cte_hnode *n)
{
	struct cte_hnode *m;

	for (m = n->next; m; m = m->next)
		if (m->hash == n->hash)
			return m;
	return NULL;
}

uint64_t cte__hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	v *= 0xc4ceb9fe1a85ec53ULL;
	v ^= v >> 33;
	return v;
}

uint64_t cte__hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ cte__hash_u64(seed);
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return cte__hash_u64(h);
}
