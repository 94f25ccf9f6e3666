/*
 * The CTE metadata journal: a private interface of the CTE module.
 *
 * An append-only log of opaque, typed records (CTE defines their content)
 * in a directory, with group commit, all-or-nothing record groups,
 * checkpoints that bound the log, and replay that detects and cuts torn
 * tails.  Design, file format and the CTE integration plan: ../JOURNAL.md.
 * Implemented by journal.c (the live path), journal_ckpt.c (checkpoints),
 * journal_replay.c (replay, repair, the fsck scan) and journal_open.c (open
 * and close), which share journal_int_i.h.
 *
 * Files in the journal directory:
 *   cte.journal.<16 hex digits>  log segments; the digits are the segment's
 *                                base sequence (its first record is base+1)
 *   cte.checkpoint               the last complete checkpoint
 *   cte.checkpoint.tmp           a checkpoint being written (removed at open)
 *   cte.lock                     flock()ed by the process using the journal
 *
 * All functions return 0 or a negative errno; on bad input or corrupt files
 * they also set chi_error_last() to a message naming the file and reason.
 * Corruption that cannot be repaired by cutting a tail is -EUCLEAN.
 */
#ifndef CTE_JOURNAL_I_H
#define CTE_JOURNAL_I_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CTE_JOURNAL_SEGMENT_PREFIX "cte.journal."
#define CTE_JOURNAL_CHECKPOINT     "cte.checkpoint"
#define CTE_JOURNAL_CHECKPOINT_TMP "cte.checkpoint.tmp"
#define CTE_JOURNAL_LOCK           "cte.lock" /* flock: one user at a time */
#define CTE_JOURNAL_FORMAT_VERSION 1u
/* Room for a directory path and a segment name. */
#define CTE_JOURNAL_PATH_MAX (4096 + 64)

/* Largest payload of one record (bigger appends are -EMSGSIZE). */
#define CTE_JOURNAL_PAYLOAD_MAX (16u << 20)
/* Most records in one group. */
#define CTE_JOURNAL_GROUP_MAX 65536u

typedef struct cte_journal cte_journal;

typedef struct cte_journal_ckpt cte_journal_ckpt;

/*
 * Called by cte__journal_checkpoint() after the log was rotated at
 * `covered_seq`: serialize the caller's full state as of that sequence
 * (or as of a later cut, cte__journal_ckpt_cut()) with
 * cte__journal_ckpt_put().  A nonzero return aborts the checkpoint
 * (nothing changes on disk) and is returned.
 */
typedef int (*cte_journal_snapshot_fn)(cte_journal_ckpt *w,
                                       uint64_t covered_seq, void *arg);

typedef struct cte_journal_opts {
	/* > 0: the journal's flusher thread also flushes durably every
	 * period (the config's performance.flush_metadata_period_ms); 0: it
	 * flushes only for async waiters, and the caller may call
	 * cte__journal_tick() when it wants to. */
	uint32_t flush_period_ms;
	/* Buffered bytes above which an appender writes the buffer itself
	 * (back pressure, not durable); 0 = 1 MiB. */
	size_t buffer_limit;
	/* Called by the flushing thread before every fdatasync of the log,
	 * without journal locks: CTE syncs its file targets here so that data
	 * is durable before any record pointing to it (NULL: none).  An error
	 * fails that flush (records stay written, not durable) and is
	 * returned to the flusher; the journal stays usable. */
	int (*pre_sync)(void *arg);
	/* Called after records up to `durable_seq` became durable, without
	 * journal locks, possibly from several threads at once and not
	 * necessarily in order (keep the maximum): CTE releases blocks whose
	 * freeing record is now durable (NULL: none). */
	void (*on_durable)(void *arg, uint64_t durable_seq);
	void *hook_arg;
	/* Non-NULL: a checkpoint thread calls cte__journal_checkpoint(j,
	 * snapshot, hook_arg) whenever the current segment exceeds
	 * checkpoint_bytes (0 = 64 MiB) and, with checkpoint_period_ms > 0,
	 * at least that often.  The snapshot runs while other threads append,
	 * so it must follow the cut protocol of JOURNAL.md
	 * (cte__journal_ckpt_cut) or the fuzzy one (after-image records);
	 * with the strict one, run checkpoints yourself. */
	cte_journal_snapshot_fn snapshot;
	uint64_t checkpoint_bytes;
	uint32_t checkpoint_period_ms;
} cte_journal_opts;

/* Counters (a consistent snapshot taken under the journal lock). */
typedef struct cte_journal_stats {
	uint64_t records;       /* user records appended */
	uint64_t groups;        /* groups (and single records) committed */
	uint64_t last_seq;      /* last sequence assigned */
	uint64_t written_seq;   /* every record <= this was written */
	uint64_t durable_seq;   /* every record <= this was fdatasync'ed */
	uint64_t writes;        /* write(2) batches */
	uint64_t syncs;         /* fdatasync calls */
	uint64_t durable_calls; /* durable flush requests */
	uint64_t checkpoints;
	uint64_t async_waits;   /* cte__journal_sync_async requests queued */
	uint64_t segment_base;  /* base sequence of the current segment */
	uint64_t segment_bytes; /* bytes in the current segment */
} cte_journal_stats;

/*
 * Open the journal in `dir` for appending (the directory must exist).  The
 * newest segment is scanned; a torn or uncommitted tail is cut as
 * cte__journal_replay() with CTE_JOURNAL_REPAIR would (normally replay has
 * already done it).  A fresh directory gets a first segment whose base is
 * the checkpoint's sequence (0 without one).  The directory's cte.lock is
 * flock()ed until close.  Free with cte__journal_close().  Errors:
 * -ENOENT/-EACCES (directory), -EBUSY (another process has it open),
 * -EUCLEAN (a checkpoint header that cannot be read), -ENOMEM.
 */
int cte__journal_open(cte_journal **out, const char *dir,
                      const cte_journal_opts *opts);

/*
 * Stop the flusher/checkpointer threads, flush everything durably, call
 * done() of any queued async waiter, and free the journal.  Returns the
 * flush's error (the journal is freed either way).  NULL is a no-op.
 */
int cte__journal_close(cte_journal *j);

/*
 * Append one record (a group of one).  The payload is copied.  *out_seq
 * (may be NULL) receives its sequence number, which a caller passes to
 * cte__journal_sync_to() to make it durable.  -EMSGSIZE, or the journal's
 * sticky I/O error.
 */
int cte__journal_append(cte_journal *j, uint8_t type, const void *payload,
                        uint32_t len, uint64_t *out_seq);

/* A group under construction: records added are private to the caller
 * until cte__journal_txn_commit() appends them all, contiguously. */
typedef struct cte_journal_txn {
	uint8_t *buf; /* [type u8][len u32][payload] ... */
	size_t len, cap;
	uint32_t n; /* records */
	int err;    /* first error of an add, reported by commit */
} cte_journal_txn;

void cte__journal_txn_init(cte_journal_txn *t);
/* Add a record (copied).  -EMSGSIZE, -E2BIG (too many), -ENOMEM. */
int cte__journal_txn_add(cte_journal_txn *t, uint8_t type, const void *payload,
                         uint32_t len);
/*
 * Append the group: replay delivers all of its records or none.  *out_seq
 * gets the sequence of the group's last record (sync to it).  The txn is
 * emptied (reusable) on success and failure; an empty txn is a no-op with
 * *out_seq = the last assigned sequence.  Returns an add's error, if any.
 */
int cte__journal_txn_commit(cte_journal *j, cte_journal_txn *t,
                            uint64_t *out_seq);
void cte__journal_txn_destroy(cte_journal_txn *t);

/*
 * Write every record appended so far; with `durable`, fdatasync it too.
 * Group commit: one write + fdatasync serves every caller whose records it
 * covers.  Errors: the journal's sticky I/O error (-EIO, -ENOSPC ...): after
 * a failed write the journal refuses further appends.
 */
int cte__journal_flush(cte_journal *j, bool durable);

/*
 * As cte__journal_flush(), but only until every record with sequence
 * <= seq is written (durable: and synced).  A caller never waits for
 * records appended after its own beyond the one batch in progress.
 */
int cte__journal_sync_to(cte_journal *j, uint64_t seq, bool durable);

/*
 * An asynchronous durability request, for code running inside a runtime
 * task: such code must not block its worker in cte__journal_sync_to (a
 * pthread wait), so it queues a waiter and suspends its coroutine; done()
 * resumes it (chi_task_resume).  The caller owns the memory until done()
 * ran.
 */
typedef struct cte_journal_waiter {
	uint64_t seq; /* wait until every record <= seq is durable */
	/* Called exactly once, from the journal's flusher thread (or from
	 * cte__journal_close), with 0 or the flush's error.  Must not call
	 * the journal's flush, checkpoint or close. */
	void (*done)(struct cte_journal_waiter *w, int rc);
	struct cte_journal_waiter *next; /* the journal's */
} cte_journal_waiter;

/*
 * Queue w: the journal's flusher thread makes records <= w->seq durable
 * (one flush for every waiter queued meanwhile) and calls w->done.
 * Returns 1 if they already are (done is not called), 0 if queued, or the
 * journal's sticky error (done is not called).
 */
int cte__journal_sync_async(cte_journal *j, cte_journal_waiter *w);

/* The periodic hook: a durable flush if anything is not yet durable. */
int cte__journal_tick(cte_journal *j);

void cte__journal_get_stats(cte_journal *j, cte_journal_stats *out);

/* ------------------------------------------------------------------ */
/* Checkpoints                                                          */

/* Add one typed record to the checkpoint being written. */
int cte__journal_ckpt_put(cte_journal_ckpt *w, uint8_t type,
                          const void *payload, uint32_t len);

/*
 * The consistent cut: make the checkpoint being written cover every
 * record appended so far (*out_seq = the last assigned sequence, >= the
 * S its snapshot callback was given) instead of S.  Call it from the
 * snapshot callback, before its first cte__journal_ckpt_put(), while
 * holding the exclusion every append happens under, at the moment the
 * state it writes is read: that state is then exactly the records <=
 * *out_seq.  -EINVAL after a record was put.
 */
int cte__journal_ckpt_cut(cte_journal_ckpt *w, uint64_t *out_seq);

/*
 * Checkpoint: (1) rotate: write and fdatasync the current segment, start a
 * new one at S = the last assigned sequence; (2) call write_snapshot(w, S,
 * arg) into cte.checkpoint.tmp; (3) fsync it, rename it over
 * cte.checkpoint, fsync the directory; (4) delete the segments older than
 * S.  Appends and flushes from other threads continue during (2)-(4) into
 * the new segment.  Ordering requirement on the caller: the state it
 * writes must be exactly the effect of the records <= the sequence the
 * checkpoint covers: S, or the cut the callback fixed with
 * cte__journal_ckpt_cut(); see JOURNAL.md ("Checkpoint") for the
 * protocols that guarantee it.  Only one checkpoint runs at a time
 * (others wait).
 */
int cte__journal_checkpoint(cte_journal *j,
                            cte_journal_snapshot_fn write_snapshot, void *arg);

/* ------------------------------------------------------------------ */
/* Replay and checking                                                  */

/*
 * A record delivered by replay: from the checkpoint (seq = the sequence it
 * covers) or from the log.  The payload is borrowed for the call.  A
 * nonzero return stops the replay and is returned.
 */
typedef int (*cte_journal_record_fn)(void *arg, uint8_t type, uint64_t seq,
                                     const void *payload, uint32_t len);

/* What a replay found (also the journal-level fsck report). */
typedef struct cte_journal_report {
	bool checkpoint_present;
	bool checkpoint_valid;
	/* The checkpoint covers a cut (cte__journal_ckpt_cut): no effect of
	 * a record after checkpoint_seq is in it.  False: it may hold some
	 * (fuzzy; every checkpoint written before the cut existed).  Set
	 * before any record is delivered. */
	bool checkpoint_cut;
	uint64_t checkpoint_seq;
	uint64_t checkpoint_records;
	uint64_t checkpoint_bytes;
	uint32_t segments;           /* segment files read */
	uint32_t segments_skipped;   /* wholly covered by the checkpoint */
	uint32_t segments_discarded; /* after a corrupt one (renamed aside
	                                by CTE_JOURNAL_DISCARD) */
	uint64_t records;            /* log records delivered */
	uint64_t records_covered;    /* log records <= checkpoint_seq */
	uint64_t groups;             /* committed groups delivered
	                                (a single record counts as one) */
	uint64_t multi_groups;       /* of those, with more than one record */
	uint64_t first_seq;          /* first log sequence delivered (0: none)*/
	uint64_t last_seq;           /* last good sequence */
	bool torn;                   /* a bad tail was found */
	char torn_file[CTE_JOURNAL_PATH_MAX];
	uint64_t torn_offset;     /* where valid data ends in torn_file */
	uint64_t torn_bad_offset; /* where the bad record starts */
	char torn_reason[160];
	uint64_t discarded_bytes;     /* cut from torn_file */
	uint64_t uncommitted_records; /* in a trailing group without commit */
	bool repaired;                /* the tail was cut on disk */
	bool in_use;                  /* another process holds cte.lock */
	bool corrupt; /* the bad record is in a segment that has a successor
	                 (already synced): not a torn tail */
} cte_journal_report;

/* Replay flags. */
#define CTE_JOURNAL_REPAIR (1u << 0) /* cut torn tails on disk (startup) */
/* With CTE_JOURNAL_REPAIR: cut a corrupt synced segment too (cte-fsck -d). */
#define CTE_JOURNAL_DISCARD (1u << 1)

/*
 * Replay the journal in `dir`: the checkpoint's records through
 * snapshot_cb (after its checksum is verified), then every committed
 * record after the checkpoint's sequence, in sequence order, through
 * record_cb; either callback may be NULL (count only).  A torn tail (short
 * record, bad checksum, sequence gap, garbage) of the last segment ends
 * the replay at the last good record: CHI_WARN names the file, offset and
 * reason; with CTE_JOURNAL_REPAIR the segment is truncated there (a
 * trailing uncommitted group is cut too).  A bad record in an earlier
 * segment (synced before its successor was created) is corruption
 * (report->corrupt): with CTE_JOURNAL_REPAIR alone replay fails with
 * -EUCLEAN, naming the segment, the offset and cte-fsck, and changes
 * nothing; with CTE_JOURNAL_REPAIR | CTE_JOURNAL_DISCARD it is cut like a
 * tail and the later segments are renamed to "*.discarded"; without flags
 * it is reported.  *out_report (may be NULL) says what was found.
 * With CTE_JOURNAL_REPAIR the directory's cte.lock is taken for the
 * replay (-EBUSY if a running process holds it); without, a held lock only
 * sets report->in_use (the files may change while being read).
 * Errors: -EUCLEAN (corrupt checkpoint, missing records between the
 * checkpoint and the log, a corrupt synced segment), -EBUSY, -EIO, a callback's
 * return.  An empty journal directory is not an error.
 */
int cte__journal_replay(const char *dir, uint32_t flags,
                        cte_journal_record_fn snapshot_cb,
                        cte_journal_record_fn record_cb, void *arg,
                        cte_journal_report *out_report);

/*
 * What CTE provides to cte-fsck for the metadata-level checks (see
 * JOURNAL.md, "cte-fsck"): its record decoder, fed the same records replay
 * feeds CTE, then asked for the cross-checks (blocks shared by two blobs,
 * extents past a blob's size or outside a target, names pointing nowhere,
 * ids above the allocator's high-water mark, orphans).
 */
typedef struct cte_journal_decoder {
	const char *name;
	int (*init)(void **out_state);
	cte_journal_record_fn snapshot; /* arg = the state */
	cte_journal_record_fn record;
	/* Print each problem as one line to out (a FILE *); *out_problems =
	 * how many.  Returns 0 or an error that stopped the checks. */
	int (*finish)(void *state, void *out, uint64_t *out_problems);
	void (*free)(void *state);
} cte_journal_decoder;

/* Print a report (fsck, startup debug) to `f` (a FILE *). */
void cte__journal_report_print(const cte_journal_report *r, void *f);

/* CRC32C (Castagnoli), continuing from crc (0 to start). */
uint32_t cte__crc32c(uint32_t crc, const void *data, size_t len);

#include "codec_i.h"

#endif
