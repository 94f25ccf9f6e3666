/* Default create parameters of the CTE module (see core_i.h). */
#include <string.h>

#include "core_i.h"

void cte__params_default(struct cte_params *p)
{
	memset(p, 0, sizeof(*p));
	p->dpe = CTE_DPE_MAX_BW;
	p->stat_targets_period_ms = 50;
	p->score_difference_threshold = 0.05;
	p->flush_metadata_period_ms = 5000;
	p->default_score = 0.5;
	p->telemetry_capacity = CTE_TELEMETRY_DEFAULT_CAPACITY;
	p->bdev_pool_major = 600;
	p->metadata_journal = 1;
	p->checkpoint_log_size = 64ull << 20;
	p->checkpoint_period_ms = 600000;
}
