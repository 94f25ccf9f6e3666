/* The Tag convenience wrapper of the client library (cte_client); see
 * include/cte/tag.h.  The server-side tag code is names.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cte/tag.h"

struct cte_tag_handle {
	cte_client *client;
	cte_id id;
	char *name;
};

int cte_tag_open(cte_tag_handle **out, cte_client *client, const char *name)
{
	cte_tag_handle *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->client = client;
	rc = cte_tag_get_or_create(client, name, &t->id);
	if (!rc)
		rc = cte_tag_get_name(client, t->id, &t->name);
	if (rc) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int cte_tag_open_id(cte_tag_handle **out, cte_client *client, cte_id id)
{
	cte_tag_handle *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->client = client;
	t->id = id;
	rc = cte_tag_get_name(client, id, &t->name);
	if (rc) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void cte_tag_close(cte_tag_handle *tag)
{
	if (!tag)
		return;
	free(tag->name);
	free(tag);
}

cte_id cte_tag_id(const cte_tag_handle *tag)
{
	return tag->id;
}

const char *cte_tag_name(const cte_tag_handle *tag)
{
	return tag->name;
}

int cte_tag_put(cte_tag_handle *tag, const char *name, uint64_t off,
                const void *buf, uint64_t len, double score)
{
	return cte_put_blob(tag->client, tag->id, name, off, buf, len, score,
	                    NULL);
}

int cte_tag_get(cte_tag_handle *tag, const char *name, uint64_t off, void *buf,
                uint64_t len, uint64_t *out_n)
{
	return cte_get_blob(tag->client, tag->id, name, off, buf, len, out_n);
}

int cte_tag_get_all(cte_tag_handle *tag, const char *name, void **out,
                    uint64_t *out_size)
{
	uint64_t size = 0, n = 0;
	void *buf;
	int rc = cte_get_blob_size(tag->client, tag->id, name, &size);

	if (rc)
		return rc;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	rc = cte_get_blob(tag->client, tag->id, name, 0, buf, size, &n);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_size = n;
	return 0;
}

int cte_tag_blob_size(cte_tag_handle *tag, const char *name, uint64_t *out)
{
	return cte_get_blob_size(tag->client, tag->id, name, out);
}

int cte_tag_blob_score(cte_tag_handle *tag, const char *name, double *out)
{
	return cte_get_blob_score(tag->client, tag->id, name, out);
}

int cte_tag_reorganize(cte_tag_handle *tag, const char *name, double score)
{
	return cte_reorganize_blob(tag->client, tag->id, name, score);
}

int cte_tag_del_blob(cte_tag_handle *tag, const char *name)
{
	return cte_del_blob(tag->client, tag->id, name);
}

int cte_tag_size(cte_tag_handle *tag, uint64_t *out)
{
	return cte_tag_get_size(tag->client, tag->id, out);
}

int cte_tag_blobs(cte_tag_handle *tag, char ***out, size_t *out_n)
{
	return cte_tag_get_contained_blobs(tag->client, tag->id, out, out_n);
}

int cte_tag_destroy(cte_tag_handle *tag)
{
	return cte_tag_del(tag->client, tag->id);
}
