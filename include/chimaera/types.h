/* Basic identifiers shared by the runtime, modules and clients. */
#ifndef CHIMAERA_TYPES_H
#define CHIMAERA_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A pool id, written "major.minor" in configs ("301.0").  The null id (0.0)
 * is never valid: GetOrCreatePool rejects it with -EINVAL and a message.
 */
typedef struct chi_pool_id {
	uint32_t major;
	uint32_t minor;
} chi_pool_id;

#define CHI_POOL_ID_NULL ((chi_pool_id){0, 0})

static inline bool chi_pool_id_is_null(chi_pool_id id)
{
	return id.major == 0 && id.minor == 0;
}

static inline bool chi_pool_id_eq(chi_pool_id a, chi_pool_id b)
{
	return a.major == b.major && a.minor == b.minor;
}

/*
 * Parse "major.minor" (or "major") into *out.  Returns 0, or -EINVAL when the
 * text is not of that form or overflows 32 bits.
 */
int chi_pool_id_parse(chi_pool_id *out, const char *text);

/* Pool query kinds: which container(s) of a pool run a task. */
typedef enum chi_query_kind {
	CHI_QUERY_LOCAL = 0,   /* a container on this node (default) */
	CHI_QUERY_DIRECT_ID,   /* container id = a */
	CHI_QUERY_DIRECT_HASH, /* container = a % number of containers */
	CHI_QUERY_RANGE,       /* containers a .. a+b-1, each runs a copy */
	CHI_QUERY_BROADCAST,   /* every container runs a copy */
	CHI_QUERY_PHYSICAL,    /* node = node; only this node is supported */
	CHI_QUERY_DYNAMIC,     /* resolved by the runtime (GetOrCreatePool) */
} chi_query_kind;

typedef struct chi_pool_query {
	uint32_t kind; /* chi_query_kind */
	uint32_t node; /* PHYSICAL: node id; this node is 0 */
	uint64_t a;
	uint64_t b;
} chi_pool_query;

static inline chi_pool_query chi_query_local(void)
{
	return (chi_pool_query){.kind = CHI_QUERY_LOCAL};
}

static inline chi_pool_query chi_query_direct_id(uint64_t container_id)
{
	return (chi_pool_query){.kind = CHI_QUERY_DIRECT_ID, .a = container_id};
}

static inline chi_pool_query chi_query_direct_hash(uint64_t hash)
{
	return (chi_pool_query){.kind = CHI_QUERY_DIRECT_HASH, .a = hash};
}

static inline chi_pool_query chi_query_range(uint64_t first, uint64_t count)
{
	return (chi_pool_query){.kind = CHI_QUERY_RANGE, .a = first, .b = count};
}

static inline chi_pool_query chi_query_broadcast(void)
{
	return (chi_pool_query){.kind = CHI_QUERY_BROADCAST};
}

static inline chi_pool_query chi_query_physical(uint32_t node)
{
	return (chi_pool_query){.kind = CHI_QUERY_PHYSICAL, .node = node};
}

static inline chi_pool_query chi_query_dynamic(void)
{
	return (chi_pool_query){.kind = CHI_QUERY_DYNAMIC};
}

#endif
