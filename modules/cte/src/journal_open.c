/*
 * The CTE metadata journal, opening and closing: the journal's lifecycle.
 * Open takes the directory, repairs the newest segment (journal_replay.c),
 * reopens or creates the segment to append to, and starts the threads;
 * close stops them and makes everything durable.  The live path the
 * threads run is journal.c, the checkpointer journal_ckpt.c.
 *
 * DESIGN
 * Threads: open starts the flusher (cte__jnl_flusher_main, journal.c) and,
 * with opts.snapshot, the checkpointer (cte__jnl_ckpter_main,
 * journal_ckpt.c); stop_threads sets j->closing under j->lock, broadcasts
 * j->tick_cond and j->ckpt_cond, and joins both.  A checkpoint in
 * progress finishes first (the checkpointer checks j->closing between
 * checkpoints).
 *
 * Locks: the directory's cte.lock is flock()ed from open to close, so one
 * process at a time appends (a second open is -EBUSY).  Open initialises
 * j->lock and j->ckpt_lock, close destroys them.
 *
 * Ordering at close: the threads stop first, then one durable flush writes
 * and syncs every record appended before close; waiters still queued get
 * done(0) if their records are durable, else the flush's error (or
 * -ESHUTDOWN).  When close returns 0, every appended record is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_int_i.h"

/* ------------------------------------------------------------------ */
/* The threads                                                          */

/* Stop the flusher and checkpointer threads (open's failure path, close). */
static void stop_threads(cte_journal *j)
{
	pthread_mutex_lock(&j->lock);
	j->closing = true;
	pthread_cond_broadcast(&j->tick_cond);
	pthread_cond_broadcast(&j->ckpt_cond);
	pthread_mutex_unlock(&j->lock);
	if (j->ckpter_started)
		pthread_join(j->ckpter, NULL);
	if (j->flusher_started)
		pthread_join(j->flusher, NULL);
	j->ckpter_started = j->flusher_started = false;
}

/* Close the files, destroy the locks, free j (threads stopped). */
static void journal_free(cte_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	if (j->dir_fd >= 0)
		close(j->dir_fd);
	pthread_cond_destroy(&j->cond);
	pthread_cond_destroy(&j->tick_cond);
	pthread_cond_destroy(&j->ckpt_cond);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->ckpt_lock);
	free(j->buf);
	free(j->spare);
	free(j->dir);
	free(j);
}

/* ------------------------------------------------------------------ */
/* Open                                                                 */

/*
 * Open the journal in dir for appending; see journal_i.h.
 */
int cte__journal_open(cte_journal **out, const char *dir,
                      const cte_journal_opts *opts)
{
	cte_journal *j;
	uint64_t *segs = NULL;
	size_t n_segs = 0;
	uint64_t covered = 0;
	int rc;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->fd = -1;
	j->dir_fd = -1;
	j->lock_fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->ckpt_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, NULL);
	pthread_cond_init(&j->tick_cond, &ca);
	pthread_cond_init(&j->ckpt_cond, &ca);
	pthread_condattr_destroy(&ca);
	j->buffer_limit =
	    opts && opts->buffer_limit ? opts->buffer_limit : (size_t)1 << 20;
	j->flush_period_ms = opts ? opts->flush_period_ms : 0;
	if (opts) {
		j->pre_sync = opts->pre_sync;
		j->on_durable = opts->on_durable;
		j->hook_arg = opts->hook_arg;
		j->snapshot = opts->snapshot;
		j->ckpt_bytes = opts->checkpoint_bytes;
		j->ckpt_period_ms = opts->checkpoint_period_ms;
	}
	if (!j->ckpt_bytes)
		j->ckpt_bytes = (uint64_t)64 << 20;
	j->dir = strdup(dir);
	j->buf_cap = j->spare_cap = 64 << 10;
	j->buf = malloc(j->buf_cap);
	j->spare = malloc(j->spare_cap);
	if (!j->dir || !j->buf || !j->spare) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = j->dir_fd = cte__jnl_open_dir(dir);
	if (rc < 0)
		goto fail;
	rc = j->lock_fd = cte__jnl_take_lock(j->dir_fd, dir);
	if (rc < 0)
		goto fail;
	unlinkat(j->dir_fd, CTE_JOURNAL_CHECKPOINT_TMP, 0);

	/* The checkpoint's sequence (verified by replay, not here). */
	rc = cte__jnl_ckpt_covered(j->dir_fd, dir, &covered);
	if (rc)
		goto fail;

	rc = cte__jnl_seg_list(j->dir_fd, dir, &segs, &n_segs);
	if (rc)
		goto fail;
	uint64_t last_seq = covered;
	bool need_new = true;
	if (n_segs) {
		char path[CTE_JOURNAL_PATH_MAX], name[SEG_NAME_LEN + 1];
		uint64_t base = segs[n_segs - 1];
		cte__jnl_seg_name(name, base);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		uint64_t good_end, seg_last;
		rc = cte__jnl_repair_tail(j->dir_fd, dir, base, &good_end,
		                          &seg_last);
		if (rc)
			goto fail;
		if (good_end && seg_last >= covered) {
			int fd = openat(j->dir_fd, name,
			                O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd < 0) {
				rc =
				    chi_error_set(-errno, "%s: cannot open: %s",
				                  path, strerror(errno));
				goto fail;
			}
			j->fd = fd;
			j->seg_base = base;
			j->seg_bytes = good_end;
			last_seq = seg_last;
			need_new = false;
		} else if (!good_end) {
			/* The header itself was torn: start the same base. */
			last_seq = base > covered ? base : covered;
		}
	}
	if (need_new) {
		rc = cte__jnl_seg_create(j->dir_fd, dir, last_seq, &j->fd);
		if (rc)
			goto fail;
		j->seg_base = last_seq;
		j->seg_bytes = SEGHDR_BYTES;
	}
	j->next_seq = last_seq + 1;
	j->written_seq = j->durable_seq = last_seq;
	j->stats.last_seq = last_seq;
	rc = -pthread_create(&j->flusher, NULL, cte__jnl_flusher_main, j);
	if (rc)
		goto fail;
	j->flusher_started = true;
	if (j->snapshot) {
		rc = -pthread_create(&j->ckpter, NULL, cte__jnl_ckpter_main, j);
		if (rc)
			goto fail;
		j->ckpter_started = true;
	}
	free(segs);
	*out = j;
	return 0;
fail:
	stop_threads(j);
	free(segs);
	journal_free(j);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Close                                                                */

/* Flush durably, stop the threads, complete waiters, free; see
 * journal_i.h. */
int cte__journal_close(cte_journal *j)
{
	if (!j)
		return 0;
	stop_threads(j);
	int rc = cte__journal_flush(j, true);
	pthread_mutex_lock(&j->lock);
	cte__jnl_complete_waiters(j, rc ? rc : -ESHUTDOWN);
	pthread_mutex_unlock(&j->lock);
	journal_free(j);
	return rc;
}
