/*
 * Placement math: which targets, in which order, a blob's new blocks should
 * try.  Pure functions over a snapshot of the targets.
 *
 * Tiers: targets whose scores differ by less than CTE_TIER_EPS form one
 * tier.  For a blob score s, tiers are ordered by |tier score - s| (ties:
 * the higher tier first); inside a tier the DPE orders the targets:
 * random (a fresh shuffle), round_robin (rotating start) or max_bw
 * (measured write bandwidth, then free space, descending).  The caller
 * tries targets in that order; -ENOSPC on one spills to the next.
 */
#ifndef CTE_PLACE_I_H
#define CTE_PLACE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTE_TIER_EPS 0.01

enum cte_dpe {
	CTE_DPE_RANDOM = 0,
	CTE_DPE_ROUND_ROBIN,
	CTE_DPE_MAX_BW,
};

struct cte_place_target {
	bool usable; /* registered and not being removed */
	double score;
	double write_bw; /* MB/s, 0 = unknown */
	uint64_t free_bytes;
};

/* Parse "random" / "round_robin" / "max_bw"; -EINVAL otherwise. */
int cte__dpe_parse(const char *text, enum cte_dpe *out);
const char *cte__dpe_name(enum cte_dpe dpe);

/*
 * Write into out[] the indices of the usable targets in the order to try
 * for blob score `score`; returns how many.  *rr is the round-robin
 * counter, *rng the random state (both updated; caller serializes).
 */
size_t cte__place_order(const struct cte_place_target *t, size_t n,
                        double score, enum cte_dpe dpe, uint64_t *rr,
                        uint64_t *rng, uint32_t *out);

/* Same tier? */
bool cte__same_tier(double a, double b);

/*
 * A measured score from bandwidth: log-scaled, 1 GB/s ~ 0.6, 10 GB/s
 * ~ 0.8, 100 MB/s ~ 0.4; clamped into (0, 1].
 */
double cte__score_from_bw(double mbps);

uint64_t cte__rand_next(uint64_t *state);

#endif
