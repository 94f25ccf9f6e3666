/* Placement math; see place_i.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "place_i.h"

int cte__dpe_parse(const char *text, enum cte_dpe *out)
{
	if (!strcmp(text, "random"))
		*out = CTE_DPE_RANDOM;
	else if (!strcmp(text, "round_robin") || !strcmp(text, "roundrobin"))
		*out = CTE_DPE_ROUND_ROBIN;
	else if (!strcmp(text, "max_bw") || !strcmp(text, "maxbw"))
		*out = CTE_DPE_MAX_BW;
	else
		return -EINVAL;
	return 0;
}

const char *cte__dpe_name(enum cte_dpe dpe)
{
	switch (dpe) {
	case CTE_DPE_RANDOM:
		return "random";
	case CTE_DPE_ROUND_ROBIN:
		return "round_robin";
	case CTE_DPE_MAX_BW:
		return "max_bw";
	}
	return "?";
}

bool cte__same_tier(double a, double b)
{
	return fabs(a - b) < CTE_TIER_EPS;
}

uint64_t cte__rand_next(uint64_t *state)
{
	/* xorshift64*; a zero state is bumped so it never sticks at 0 */
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ULL;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

double cte__score_from_bw(double mbps)
{
	double s;

	if (!(mbps > 0))
		return 0.01;
	s = log10(mbps + 1.0) / 5.0;
	if (s < 0.01)
		s = 0.01;
	if (s > 1.0)
		s = 1.0;
	return s;
}

struct ranked {
	uint32_t idx;
	double tier_score; /* score of the tier it belongs to */
	double key;        /* DPE key inside the tier (higher first) */
};

static int by_score_desc(const void *a, const void *b, void *arg)
{
	const struct ranked *x = a, *y = b;
	const struct cte_place_target *sort_targets = arg;

	if (sort_targets[x->idx].score != sort_targets[y->idx].score)
		return sort_targets[x->idx].score > sort_targets[y->idx].score
		           ? -1
		           : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int by_distance_then_key(const void *a, const void *b, void *arg)
{
	const struct ranked *x = a, *y = b;
	double sort_score = *(const double *)arg;
	double dx = fabs(x->tier_score - sort_score);
	double dy = fabs(y->tier_score - sort_score);

	if (x->tier_score != y->tier_score) {
		if (dx != dy)
			return dx < dy ? -1 : 1;
		return x->tier_score > y->tier_score ? -1 : 1;
	}
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

size_t cte__place_order(const struct cte_place_target *t, size_t n,
                        double score, enum cte_dpe dpe, uint64_t *rr,
                        uint64_t *rng, uint32_t *out)
{
	struct ranked r[256];
	size_t m = 0, i, start;
	uint64_t turn = (*rr)++;

	for (i = 0; i < n && m < 256; i++)
		if (t[i].usable)
			r[m++] = (struct ranked){.idx = (uint32_t)i};
	if (!m)
		return 0;
	/* Group into tiers: sorted by score, a tier starts where the gap to
	 * the tier's first (highest) score reaches CTE_TIER_EPS. */
	qsort_r(r, m, sizeof(*r), by_score_desc, (void *)t);
	for (start = 0, i = 0; i < m; i++) {
		if (!cte__same_tier(t[r[start].idx].score, t[r[i].idx].score))
			start = i;
		r[i].tier_score = t[r[start].idx].score;
	}
	/* DPE keys: position inside the tier. */
	for (start = 0; start < m; start = i) {
		size_t k, len;

		for (i = start; i < m && r[i].tier_score == r[start].tier_score;
		     i++)
			;
		len = i - start;
		for (k = 0; k < len; k++) {
			struct ranked *x = &r[start + k];

			switch (dpe) {
			case CTE_DPE_RANDOM:
				x->key = (double)(cte__rand_next(rng) >> 11);
				break;
			case CTE_DPE_ROUND_ROBIN:
				/* rotation: k == turn % len comes first */
				x->key =
				    -(double)((k + len - turn % len) % len);
				break;
			case CTE_DPE_MAX_BW:
				x->key = t[x->idx].write_bw * 1e12 +
				         (double)(t[x->idx].free_bytes >> 20);
				break;
			}
		}
	}
	qsort_r(r, m, sizeof(*r), by_distance_then_key, &score);
	for (i = 0; i < m; i++)
		out[i] = r[i].idx;
	return m;
}
