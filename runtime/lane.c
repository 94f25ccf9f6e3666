/*
 * Lanes: one bounded multi-producer, single-consumer queue per worker.
 *
 * DESIGN
 * A ring of `depth` cells (rounded up to a power of two), each holding a
 * sequence number and a task pointer (Dmitry Vyukov's bounded queue,
 * specialised to one consumer).  Cell i is free for the producer that
 * claims position p (p & mask == i) when seq == p; that producer fills it
 * and publishes it with seq = p + 1; the consumer takes it when
 * seq == head + 1 and hands it back to the next lap with seq = head + depth.
 *
 * Producers claim positions with a CAS on `tail`, so any number of client
 * threads (and workers) may push at once; only the owning worker pops.
 * A full lane returns -EAGAIN; the caller decides how to wait (task.c).
 *
 * Ordering: the producer's release store of seq pairs with the consumer's
 * acquire load of seq, so the consumer sees the task pointer and everything
 * the producer wrote to the task before pushing.  The consumer's release
 * store of seq (freeing the cell) pairs with the producer's acquire load,
 * so a producer never overwrites a cell the consumer is still reading.
 */
#include <errno.h>
#include <stdlib.h>

#include "runtime_i.h"

int chi__lane_init(chi__lane *lane, size_t depth)
{
	size_t cap = 2;

	if (depth < 2)
		depth = 2;
	while (cap < depth)
		cap <<= 1;
	lane->cells = calloc(cap, sizeof(*lane->cells));
	if (!lane->cells)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		atomic_init(&lane->cells[i].seq, i);
	lane->mask = cap - 1;
	lane->head = 0;
	atomic_init(&lane->tail, 0);
	return 0;
}

void chi__lane_destroy(chi__lane *lane)
{
	free(lane->cells);
	lane->cells = NULL;
}

int chi__lane_push(chi__lane *lane, chi_task *task)
{
	size_t pos = atomic_load_explicit(&lane->tail, memory_order_relaxed);
	struct chi__lane_cell *cell;

	for (;;) {
		cell = &lane->cells[pos & lane->mask];
		/* acquire: pairs with the consumer's release in _pop */
		size_t seq =
		    atomic_load_explicit(&cell->seq, memory_order_acquire);
		intptr_t diff = (intptr_t)seq - (intptr_t)pos;

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(
			        &lane->tail, &pos, pos + 1,
			        memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return -EAGAIN; /* a full lap behind: full */
		} else {
			pos = atomic_load_explicit(&lane->tail,
			                           memory_order_relaxed);
		}
	}
	cell->task = task;
	/* release: pairs with the consumer's acquire in _pop */
	atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
	return 0;
}

chi_task *chi__lane_pop(chi__lane *lane)
{
	size_t pos = lane->head;
	struct chi__lane_cell *cell = &lane->cells[pos & lane->mask];
	/* acquire: pairs with the producer's release in _push */
	size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
	chi_task *task;

	if (seq != pos + 1)
		return NULL;
	task = cell->task;
	lane->head = pos + 1;
	/* release: pairs with the producer's acquire in _push */
	atomic_store_explicit(&cell->seq, pos + lane->mask + 1,
	                      memory_order_release);
	return task;
}

int chi__lane_empty(chi__lane *lane)
{
	size_t pos = lane->head;
	struct chi__lane_cell *cell = &lane->cells[pos & lane->mask];

	return atomic_load_explicit(&cell->seq, memory_order_acquire) !=
	       pos + 1;
}
