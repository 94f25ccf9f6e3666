/*
 * Durability (durable.c): CTE's metadata journal.  It installs the core's
 * hooks (meta_hook, commit_hook, sync_hook; see core_i.h), so the files
 * below it never call it.
 */
#ifndef CTE_DURABLE_I_H
#define CTE_DURABLE_I_H

#include "core_i.h"

/*
 * At pool creation, after the targets exist: with a non-volatile target
 * (and metadata_journal on) replay the journal, reserve the blocks,
 * open it and install the hook; else warn that nothing persists.
 */
int cte__durable_open(struct cte_core *core);
/* At pool destruction: copy volatile-only data down, checkpoint, close. */
void cte__durable_close(struct cte_core *core);
/* Make every committed record durable (fsync); 0 when journaling is off. */
int cte__durable_wait(struct cte_core *core);
/* Install the hooks that journal every change into core->journal (open
 * already; cte__durable_open does this itself). */
void cte__durable_attach(struct cte_core *core);
/* The journal's snapshot callback (arg = the core): the checkpoint's
 * records, cte__state_save's image. */
int cte__durable_snapshot(cte_journal_ckpt *w, uint64_t covered_seq, void *arg);

#endif
