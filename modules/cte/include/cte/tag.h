/*
 * A convenience wrapper in the spirit of the CTE documentation's `Tag`
 * class: open a tag by name once, then put/get blobs by name.
 *
 *   cte_tag_handle *tag;
 *   cte_tag_open(&tag, &client, "/dataset/run1");
 *   cte_tag_put(tag, "chunk0", 0, buf, len, CTE_SCORE_UNSET);
 *   cte_tag_get(tag, "chunk0", 0, out, len, &n);
 *   cte_tag_close(tag);
 *
 * Every function returns 0 or a negative errno (cte.h).
 */
#ifndef CTE_TAG_H
#define CTE_TAG_H

#include "cte/cte.h"

typedef struct cte_tag_handle cte_tag_handle;

/* GetOrCreateTag: *out is the caller's to close with cte_tag_close(). */
int cte_tag_open(cte_tag_handle **out, cte_client *client, const char *name);
/* Open an existing tag by id. */
int cte_tag_open_id(cte_tag_handle **out, cte_client *client, cte_id id);
void cte_tag_close(cte_tag_handle *tag);

cte_id cte_tag_id(const cte_tag_handle *tag);
/* The tag's name when opened (borrowed). */
const char *cte_tag_name(const cte_tag_handle *tag);

/* PutBlob: write len bytes at off of blob `name` (created if missing);
 * score CTE_SCORE_UNSET keeps the blob's score. */
int cte_tag_put(cte_tag_handle *tag, const char *name, uint64_t off,
                const void *buf, uint64_t len, double score);
/* GetBlob: *out_n bytes read. */
int cte_tag_get(cte_tag_handle *tag, const char *name, uint64_t off, void *buf,
                uint64_t len, uint64_t *out_n);
/* GetBlob of the whole blob into a malloc'd buffer (free()). */
int cte_tag_get_all(cte_tag_handle *tag, const char *name, void **out,
                    uint64_t *out_size);
int cte_tag_blob_size(cte_tag_handle *tag, const char *name, uint64_t *out);
int cte_tag_blob_score(cte_tag_handle *tag, const char *name, double *out);
int cte_tag_reorganize(cte_tag_handle *tag, const char *name, double score);
int cte_tag_del_blob(cte_tag_handle *tag, const char *name);
/* Sum of the tag's blob sizes. */
int cte_tag_size(cte_tag_handle *tag, uint64_t *out);
/* Blob names; free with cte_names_free(). */
int cte_tag_blobs(cte_tag_handle *tag, char ***out, size_t *out_n);
/* Delete the tag and its blobs; the handle must still be closed. */
int cte_tag_destroy(cte_tag_handle *tag);

#endif
