/*
 * Blob data (blobio.c): reading, writing, truncating, punching,
 * preallocating, placement scores, reorganizing, syncing and destroying
 * blobs.  Stands on core.c and target.c.
 */
#ifndef CTE_BLOBIO_I_H
#define CTE_BLOBIO_I_H

#include "core_i.h"

int cte__blob_write(struct cte_core *core, cte_id id, uint64_t off,
                    const void *buf, uint64_t len);
/* keep_times: data and size change, mtime/ctime do not */
int cte__blob_write_ex(struct cte_core *core, cte_id id, uint64_t off,
                       const void *buf, uint64_t len, bool keep_times);
int cte__blob_read(struct cte_core *core, cte_id id, uint64_t off, void *buf,
                   uint64_t len, uint64_t *out_n);
int cte__blob_truncate(struct cte_core *core, cte_id id, uint64_t size);
/* Deallocate [off, off+len): it reads as zeros; the size is unchanged. */
int cte__blob_punch(struct cte_core *core, cte_id id, uint64_t off,
                    uint64_t len);
int cte__blob_fallocate(struct cte_core *core, cte_id id, uint64_t off,
                        uint64_t len, bool keep_size);
int cte__blob_set_score(struct cte_core *core, cte_id id, double score);
int cte__blob_get_score(struct cte_core *core, cte_id id, double *out);
int cte__blob_get_size(struct cte_core *core, cte_id id, uint64_t *out);
int cte__blob_info(struct cte_core *core, cte_id id, cte_blob_info **out);
int cte__blob_sync(struct cte_core *core, cte_id id);
int cte__sync_all(struct cte_core *core);
int cte__blob_destroy(struct cte_core *core, cte_id id);

#endif
