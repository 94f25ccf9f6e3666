/*
 * The telemetry ring.
 *
 * DESIGN (telemetry_i.h has it in full): no thread of its own; one
 * pthread mutex guards the ring, taken by every log and poll only to copy
 * entries; nobody sleeps on it, so nobody is woken.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry_i.h"

int cte__telemetry_init(struct cte_telemetry *t, size_t capacity)
{
	if (!capacity)
		capacity = CTE_TELEMETRY_DEFAULT_CAPACITY;
	t->ring = calloc(capacity, sizeof(*t->ring));
	if (!t->ring)
		return -ENOMEM;
	t->capacity = capacity;
	t->next_time = 1;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void cte__telemetry_destroy(struct cte_telemetry *t)
{
	if (!t->ring)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->ring);
	t->ring = NULL;
}

uint64_t cte__telemetry_log(struct cte_telemetry *t, cte_op op, cte_id tag,
                            cte_id blob, const char *blob_name, uint64_t offset,
                            uint64_t size)
{
	cte_telemetry_entry *e;
	uint64_t time;

	pthread_mutex_lock(&t->lock);
	time = t->next_time++;
	e = &t->ring[time % t->capacity];
	e->logical_time = time;
	e->op = op;
	e->tag = tag;
	e->blob = blob;
	if (blob_name) {
		strncpy(e->blob_name, blob_name, CTE_NAME_MAX);
		e->blob_name[CTE_NAME_MAX] = '\0';
	} else {
		e->blob_name[0] = '\0';
	}
	e->offset = offset;
	e->size = size;
	pthread_mutex_unlock(&t->lock);
	return time;
}

void cte__telemetry_poll(struct cte_telemetry *t, uint64_t min_time,
                         cte_telemetry_entry *out, size_t max, size_t *out_n,
                         uint64_t *out_dropped)
{
	uint64_t oldest, first, time;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	oldest = t->next_time > t->capacity ? t->next_time - t->capacity : 1;
	first = min_time + 1;
	*out_dropped = 0;
	if (first < oldest) {
		*out_dropped = oldest - first;
		first = oldest;
	}
	for (time = first; time < t->next_time && n < max; time++)
		out[n++] = t->ring[time % t->capacity];
	pthread_mutex_unlock(&t->lock);
	*out_n = n;
}
