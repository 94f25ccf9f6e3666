/*
 * An intrusive chained hash table (the name and id indexes of CTE).
 * Nodes embed struct cte_hnode; the caller computes hashes and compares
 * keys while walking a bucket with cte__htab_first/next.  Not thread-safe:
 * the owner's lock protects it (CTE: core->ns_lock).
 */
#ifndef CTE_HTAB_I_H
#define CTE_HTAB_I_H

#include <stddef.h>
#include <stdint.h>

struct cte_hnode {
	struct cte_hnode *next;
	uint64_t hash;
};

struct cte_htab {
	struct cte_hnode **buckets;
	size_t n_buckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

void cte__htab_init(struct cte_htab *t);
/* Frees the bucket array only; nodes belong to the caller. */
void cte__htab_destroy(struct cte_htab *t);
/* Insert n with hash; grows the table.  0 or -ENOMEM. */
int cte__htab_insert(struct cte_htab *t, struct cte_hnode *n, uint64_t hash);
/* Remove a node that is in the table. */
void cte__htab_remove(struct cte_htab *t, struct cte_hnode *n);
/* First / next node of the bucket of `hash` whose hash equals it. */
struct cte_hnode *cte__htab_first(const struct cte_htab *t, uint64_t hash);
struct cte_hnode *cte__htab_next(const struct cte_hnode *n);

/* Hash helpers (64-bit FNV-1a then a finalizer mix). */
uint64_t cte__hash_bytes(const void *p, size_t n, uint64_t seed);
uint64_t cte__hash_u64(uint64_t v);

#define CTE_CONTAINER_OF(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
