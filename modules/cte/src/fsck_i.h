/*
 * cte-fsck's checks of a replayed core (fsck.c); its journal decoder is
 * cte__fsck_decoder (tools/cte_fsck_main.c).
 */
#ifndef CTE_FSCK_I_H
#define CTE_FSCK_I_H

#include "core_i.h"

/*
 * cte-fsck's checks of a replayed core (fsck.c): ids, orphans (listed, not
 * counted), tags joined to the root with matching paths and path index,
 * names that point to live objects and are indexed, directory counters,
 * sizes and extents within CTE_MAX_BLOB_SIZE, extents on registered
 * targets, blocks shared by two extents.  One line per problem to out (a
 * FILE *), then a summary line; *out_problems = the problems.  0 or
 * -ENOMEM.
 */
int cte__fsck_check(struct cte_core *core, void *out, uint64_t *out_problems);

#endif
