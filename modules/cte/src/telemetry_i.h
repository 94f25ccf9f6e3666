/*
 * The telemetry log: a bounded ring of operations with logical times.
 *
 * DESIGN: any worker appends (cte__telemetry_log) and any client polls;
 * one pthread mutex guards the ring, held only to copy entries.  Logical
 * times start at 1 and increase by one per entry, so the number of entries
 * a poller missed is a subtraction: entries older than the oldest kept one
 * were overwritten (dropped).
 */
#ifndef CTE_TELEMETRY_I_H
#define CTE_TELEMETRY_I_H

#include <pthread.h>

#include "cte/cte.h"

struct cte_telemetry {
	pthread_mutex_t lock;
	cte_telemetry_entry *ring; /* capacity entries; protected by lock */
	size_t capacity;
	uint64_t next_time; /* time of the next entry; protected by lock */
};

#define CTE_TELEMETRY_DEFAULT_CAPACITY 65536

int cte__telemetry_init(struct cte_telemetry *t, size_t capacity);
void cte__telemetry_destroy(struct cte_telemetry *t);
/* Append one entry; returns its logical time. */
uint64_t cte__telemetry_log(struct cte_telemetry *t, cte_op op, cte_id tag,
                            cte_id blob, const char *blob_name, uint64_t offset,
                            uint64_t size);
/* Entries with time > min_time, oldest first, at most max. */
void cte__telemetry_poll(struct cte_telemetry *t, uint64_t min_time,
                         cte_telemetry_entry *out, size_t max, size_t *out_n,
                         uint64_t *out_dropped);

#endif
