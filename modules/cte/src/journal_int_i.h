/*
 * The CTE metadata journal's internals, shared by its sources and by
 * nothing else (CTE, cte-fsck and the tests include journal_i.h only).
 * From the bottom up (each file calls only those above it in this list):
 *
 *   journal.c         the live path: segment files, append, group commit,
 *                     the flusher thread and async waiters
 *   journal_ckpt.c    checkpoints: rotation, the checkpoint file (written
 *                     and loaded), the checkpointer thread
 *   journal_replay.c  reading segments: replay and repair at startup, the
 *                     repair of the newest segment at open, the fsck scan
 *   journal_open.c    open and close: the lifecycle, starting and stopping
 *                     the threads
 *
 * The formats are described in ../JOURNAL.md.
 */
#ifndef CTE_JOURNAL_INT_I_H
#define CTE_JOURNAL_INT_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "journal_i.h"

#define LOG_COMP "journal"

/* Record framing: [magic|kind|type u32][len u32][seq u64][payload][crc u32] */
#define REC_MAGIC    0xC7E5u
#define REC_HDR      16u
#define REC_TRAILER  4u
#define REC_OVERHEAD (REC_HDR + REC_TRAILER)

enum rec_kind {
	KIND_SEGHDR = 1, /* first record of a segment; seq = base */
	KIND_RECORD = 2, /* a standalone user record */
	KIND_BEGIN = 3,  /* group start; payload: u32 count */
	KIND_MEMBER = 4, /* a user record inside a group */
	KIND_COMMIT = 5, /* group end; payload: u32 count, u64 begin seq */
};

#define SEGHDR_PAYLOAD 8u /* u32 version, u32 reserved */
#define BEGIN_PAYLOAD  4u
#define COMMIT_PAYLOAD 12u

/* A framed segment header. */
#define SEGHDR_BYTES (REC_OVERHEAD + SEGHDR_PAYLOAD)

/* A checkpoint record's header [type u8][len u32]; a cte_journal_txn's
 * buffer holds its records in the same layout. */
#define CKPT_REC_HDR 5u

#define SEG_NAME_LEN (sizeof(CTE_JOURNAL_SEGMENT_PREFIX) - 1 + 16)

/* The open journal; the fields and their locks: DESIGN in journal.c. */
struct cte_journal {
	char *dir;
	int dir_fd;
	size_t buffer_limit;
	uint32_t flush_period_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;      /* a flush batch finished */
	pthread_cond_t tick_cond; /* wakes the flusher */
	pthread_cond_t ckpt_cond; /* wakes the checkpointer */
	/* protected by lock: */
	uint8_t *buf, *spare; /* pending records; the leader's swap */
	size_t buf_len, buf_cap, spare_cap;
	uint64_t next_seq; /* the next sequence to assign */
	uint64_t written_seq;
	uint64_t durable_seq;
	bool flushing;            /* a leader is doing I/O */
	uint32_t durable_waiters; /* flushers waiting for a sync */
	int error;                /* sticky I/O error (negative errno) */
	int fd;                   /* current segment; replaced by the leader */
	uint64_t seg_base;
	uint64_t seg_bytes;
	bool closing;
	cte_journal_waiter *async_head; /* queued async waiters */
	bool ckpt_wanted;               /* the segment outgrew ckpt_bytes */
	cte_journal_stats stats;
	/* end of the fields protected by lock */

	pthread_mutex_t ckpt_lock; /* one checkpoint at a time */
	pthread_t flusher;
	bool flusher_started;
	pthread_t ckpter;
	bool ckpter_started;
	cte_journal_snapshot_fn snapshot;
	uint64_t ckpt_bytes;
	uint32_t ckpt_period_ms;
	int (*pre_sync)(void *arg);
	void (*on_durable)(void *arg, uint64_t durable_seq);
	void *hook_arg;
	int lock_fd; /* flock()ed cte.lock */
};

/* ------------------------------------------------------------------ */
/* journal.c: files, segments, the flush leader                        */

/* write(2) all of data, retrying short writes and EINTR. */
int cte__jnl_write_all(int fd, const void *data, size_t len);
/* fsync the journal directory: 0 or -errno. */
int cte__jnl_sync_dir(int dir_fd);
/* The journal directory opened O_DIRECTORY: the fd, or -errno (message). */
int cte__jnl_open_dir(const char *dir);
/* flock the directory's cte.lock: the fd, or -EBUSY / -errno (message). */
int cte__jnl_take_lock(int dir_fd, const char *dir);

/* "cte.journal.<16 hex>" of segment `base` into out[SEG_NAME_LEN + 1]. */
void cte__jnl_seg_name(char *out, uint64_t base);
/* The sorted bases of the segments in dir_fd; *out malloc'd. */
int cte__jnl_seg_list(int dir_fd, const char *dir, uint64_t **out,
                      size_t *out_n);
/* Create segment `base` (header written and synced, directory synced);
 * *out_fd open for appending. */
int cte__jnl_seg_create(int dir_fd, const char *dir, uint64_t base,
                        int *out_fd);

/* j->lock held, no leader active: become the flush leader, take the
 * buffer; returns the last sequence it holds. */
uint64_t cte__jnl_leader_begin(cte_journal *j, uint8_t **out_buf,
                               size_t *out_len, size_t *out_cap);
/* The leader's I/O, without j->lock: write the batch to fd and, with
 * sync, call opts.pre_sync and fdatasync.  Returns the write/sync error;
 * *out_hook = pre_sync's error (then fd was not synced). */
int cte__jnl_batch_write(cte_journal *j, int fd, const uint8_t *batch,
                         size_t len, bool sync, int *out_hook);
/* j->lock held: end the leader's turn (return the batch buffer, publish
 * written/durable progress or the sticky error, wake the waiters). */
void cte__jnl_leader_end(cte_journal *j, uint8_t *buf, size_t cap, int rc,
                         uint64_t end, bool synced);

/* j->lock held (dropped around the callbacks): call done() of the async
 * waiters whose records are durable; with rc or a sticky error, of all. */
void cte__jnl_complete_waiters(cte_journal *j, int rc);
/* The flusher thread (started by open). */
void *cte__jnl_flusher_main(void *p);

/* *t += ms; *at = CLOCK_MONOTONIC now + ms; has *at passed? */
void cte__jnl_time_add_ms(struct timespec *t, uint32_t ms);
void cte__jnl_deadline_after(struct timespec *at, uint32_t ms);
bool cte__jnl_deadline_passed(const struct timespec *at);

/* ------------------------------------------------------------------ */
/* journal_ckpt.c                                                       */

/*
 * The sequence cte.checkpoint covers, read from its header only (replay
 * verifies the rest): 0 and *out_seq = 0 if there is none (or it cannot
 * be opened), -EUCLEAN if its header is short or has a bad magic.
 */
int cte__jnl_ckpt_covered(int dir_fd, const char *dir, uint64_t *out_seq);

/*
 * Verify and (with cb) deliver cte.checkpoint, filling rep's checkpoint
 * fields (rep may be NULL).  -ENOENT if there is none (no message),
 * -EUCLEAN if it is corrupt (the message names the reason).
 */
int cte__jnl_ckpt_load(int dir_fd, const char *dir, cte_journal_record_fn cb,
                       void *arg, cte_journal_report *rep, uint64_t *out_seq);

/* The checkpointer thread (started by open when opts.snapshot is set). */
void *cte__jnl_ckpter_main(void *p);

/* ------------------------------------------------------------------ */
/* journal_replay.c                                                     */

/*
 * Open's repair of the newest segment `base`: scan it, and if its tail is
 * torn or holds an uncommitted group, warn and cut it.  *out_good_end =
 * where its committed records end (0: no valid header; the file was
 * removed), *out_last_seq = its last committed sequence (or its base).
 */
int cte__jnl_repair_tail(int dir_fd, const char *dir, uint64_t base,
                         uint64_t *out_good_end, uint64_t *out_last_seq);

#endif
