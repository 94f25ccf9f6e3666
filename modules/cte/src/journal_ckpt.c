/*
 * The CTE metadata journal, checkpoints: the rotation that starts a new
 * segment, the checkpoint file (written through cte__journal_ckpt_put,
 * verified and delivered at replay by cte__jnl_ckpt_load), the removal of
 * the segments it covers, and the checkpointer thread.  Formats and the
 * caller's lock protocol: ../JOURNAL.md ("Checkpoint").
 *
 * DESIGN
 * Threads: with opts.snapshot, open starts one "checkpointer" thread
 * (cte__jnl_ckpter_main) per journal; it calls cte__journal_checkpoint
 * when the current segment reaches opts.checkpoint_bytes or
 * opts.checkpoint_period_ms passed since the last one, and logs failures
 * (they are not sticky: the log simply keeps growing).  Any other thread
 * may call cte__journal_checkpoint too (CTE does at unmount).
 *
 * Locks: j->ckpt_lock serialises checkpoints (a second caller waits for
 * the first to finish); it is taken before j->lock and held across the
 * whole checkpoint, snapshot callback included.  The rotation takes
 * j->lock, waits on j->cond until no flush leader is active, and then acts
 * as the leader itself, so no other batch is written meanwhile and the old
 * segment ends with a whole group; the I/O runs with j->lock dropped.
 * The snapshot callback and file writing run with only ckpt_lock held, so
 * appends and flushes go on into the new segment.
 *
 * Ordering: when cte__journal_checkpoint returns 0, every record <= S (the
 * rotation's sequence) was fdatasync'ed in the old segment, cte.checkpoint
 * holding the snapshot as of the sequence it covers (S, or the later cut
 * the callback fixed with cte__journal_ckpt_cut, under j->lock) was
 * fsync'ed and renamed into place, and the directory was fsync'ed: a
 * crash at any point leaves either the old checkpoint with all the
 * segments after it, or the new one.  Deleting the segments older than S
 * comes last and is best effort (segment S stays: it holds the records
 * after the cut).
 *
 * Wakeups: the checkpointer sleeps on j->ckpt_cond with a timeout (the
 * period, at most 1 s); the flush leader signals it when the segment
 * outgrew opts.checkpoint_bytes (j->ckpt_wanted), close broadcasts it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_int_i.h"

/* Checkpoint file: header, records [type u8][len u32][payload], trailer
 * (the record header, CKPT_REC_HDR, is in journal_int_i.h). */
#define CKPT_MAGIC     0x4B435443u /* "CTCK" */
#define CKPT_END_MAGIC 0x444E4B43u /* "CKND" */
#define CKPT_HDR       16u         /* magic, version, covered seq */
#define CKPT_TRAILER   24u         /* magic, records u64, body u64, crc */
#define CKPT_BUF       (256u << 10)
/* Header versions: 1, the covered sequence is the rotation's S and the
 * snapshot may already hold effects of later records (the fuzzy
 * protocol, and every checkpoint before the cut existed); 2, it is a cut
 * (cte__journal_ckpt_cut): the snapshot is exactly the records up to it.
 * The layout is the same; both load. */
#define CKPT_VERSION_FUZZY 1u
#define CKPT_VERSION_CUT   2u

/* ------------------------------------------------------------------ */
/* Checkpoint files                                                     */

struct cte_journal_ckpt {
	cte_journal *j;
	uint64_t covered; /* the header's sequence: S, or the cut */
	bool cut;         /* covered is a cut (header version 2) */
	bool started;     /* header written: the cut is fixed */
	int fd;
	uint8_t *buf;
	size_t len;
	uint32_t crc;
	uint64_t records;
	uint64_t body_bytes;
	int err;
};

static void ckpt_flush_buf(cte_journal_ckpt *w)
{
	if (w->err || !w->len)
		return;
	w->crc = cte__crc32c(w->crc, w->buf, w->len);
	w->err = cte__jnl_write_all(w->fd, w->buf, w->len);
	w->len = 0;
}

static void ckpt_raw(cte_journal_ckpt *w, const void *data, size_t len)
{
	if (w->err)
		return;
	if (w->len + len > CKPT_BUF) {
		ckpt_flush_buf(w);
		if (w->err)
			return;
	}
	if (len > CKPT_BUF) {
		w->crc = cte__crc32c(w->crc, data, len);
		w->err = cte__jnl_write_all(w->fd, data, len);
		return;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
}

/* The header, once: before the first record (or the trailer). */
static void ckpt_start(cte_journal_ckpt *w)
{
	uint8_t hdr[CKPT_HDR];

	if (w->started)
		return;
	w->started = true;
	cte__le_store32(hdr, CKPT_MAGIC);
	cte__le_store32(hdr + 4,
	                w->cut ? CKPT_VERSION_CUT : CKPT_VERSION_FUZZY);
	cte__le_store64(hdr + 8, w->covered);
	ckpt_raw(w, hdr, sizeof(hdr));
}

/* Cover everything appended so far; see journal_i.h. */
int cte__journal_ckpt_cut(cte_journal_ckpt *w, uint64_t *out_seq)
{
	if (w->started)
		return chi_error_set(-EINVAL, "checkpoint cut after its "
		                              "first record");
	pthread_mutex_lock(&w->j->lock);
	w->covered = w->j->next_seq - 1;
	pthread_mutex_unlock(&w->j->lock);
	w->cut = true;
	*out_seq = w->covered;
	return 0;
}

/*
 * Add one record to a checkpoint being written.  Returns -EMSGSIZE for a
 * payload over CTE_JOURNAL_PAYLOAD_MAX, or the write error (which also
 * fails the checkpoint).
 */
int cte__journal_ckpt_put(cte_journal_ckpt *w, uint8_t type,
                          const void *payload, uint32_t len)
{
	uint8_t hdr[CKPT_REC_HDR];

	if (len > CTE_JOURNAL_PAYLOAD_MAX)
		return chi_error_set(
		    -EMSGSIZE, "checkpoint record of %u bytes too large", len);
	ckpt_start(w);
	hdr[0] = type;
	cte__le_store32(hdr + 1, len);
	ckpt_raw(w, hdr, sizeof(hdr));
	ckpt_raw(w, payload, len);
	if (!w->err) {
		w->records++;
		w->body_bytes += CKPT_REC_HDR + (uint64_t)len;
	}
	return w->err;
}

/* Write the checkpoint to tmp, sync, rename over the checkpoint, sync dir.
 * The header's sequence is `covered` (the rotation's S) unless the
 * snapshot fixed a later cut. */
static int ckpt_write(cte_journal *j, uint64_t covered,
                      cte_journal_snapshot_fn fn, void *arg)
{
	cte_journal_ckpt w = {.j = j, .covered = covered, .fd = -1};
	uint8_t trailer[CKPT_TRAILER];
	int dir_fd = j->dir_fd;
	const char *dir = j->dir;
	int rc;

	w.buf = malloc(CKPT_BUF);
	if (!w.buf)
		return -ENOMEM;
	w.fd = openat(dir_fd, CTE_JOURNAL_CHECKPOINT_TMP,
	              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		rc = chi_error_set(-errno, "%s/%s: cannot create: %s", dir,
		                   CTE_JOURNAL_CHECKPOINT_TMP, strerror(errno));
		goto out;
	}
	rc = fn(&w, covered, arg);
	if (rc)
		goto out;
	ckpt_start(&w);
	cte__le_store32(trailer, CKPT_END_MAGIC);
	cte__le_store64(trailer + 4, w.records);
	cte__le_store64(trailer + 12, w.body_bytes);
	ckpt_raw(&w, trailer, CKPT_TRAILER - 4);
	ckpt_flush_buf(&w);
	rc = w.err;
	if (rc)
		goto io_err;
	cte__le_store32(trailer + 20, w.crc);
	rc = cte__jnl_write_all(w.fd, trailer + 20, 4);
	if (!rc && fsync(w.fd))
		rc = -errno;
	if (rc)
		goto io_err;
	close(w.fd);
	w.fd = -1;
	if (renameat(dir_fd, CTE_JOURNAL_CHECKPOINT_TMP, dir_fd,
	             CTE_JOURNAL_CHECKPOINT)) {
		rc = -errno;
		goto io_err;
	}
	rc = cte__jnl_sync_dir(dir_fd);
	if (rc)
		goto io_err;
	goto out;
io_err:
	chi_error_set(rc, "%s/%s: cannot write checkpoint: %s", dir,
	              CTE_JOURNAL_CHECKPOINT_TMP, strerror(-rc));
out:
	if (w.fd >= 0)
		close(w.fd);
	if (rc)
		unlinkat(dir_fd, CTE_JOURNAL_CHECKPOINT_TMP, 0);
	free(w.buf);
	return rc;
}

/*
 * Verify and (with cb) deliver the checkpoint.  -ENOENT if there is none
 * (no message), -EUCLEAN if it is corrupt (message names the reason).
 */
int cte__jnl_ckpt_load(int dir_fd, const char *dir, cte_journal_record_fn cb,
                       void *arg, cte_journal_report *rep, uint64_t *out_seq)
{
	uint8_t *map = NULL;
	size_t size = 0;
	int rc = 0;
	const char *why = NULL;

	int fd = openat(dir_fd, CTE_JOURNAL_CHECKPOINT, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		return chi_error_set(-errno, "%s/%s: cannot open: %s", dir,
		                     CTE_JOURNAL_CHECKPOINT, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st)) {
		rc = chi_error_set(-errno, "%s/%s: cannot stat: %s", dir,
		                   CTE_JOURNAL_CHECKPOINT, strerror(errno));
		goto out;
	}
	size = (size_t)st.st_size;
	if (rep) {
		rep->checkpoint_present = true;
		rep->checkpoint_bytes = size;
	}
	if (size < CKPT_HDR + CKPT_TRAILER) {
		why = "shorter than its header and trailer";
		goto out;
	}
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		rc = chi_error_set(-errno, "%s/%s: cannot map: %s", dir,
		                   CTE_JOURNAL_CHECKPOINT, strerror(errno));
		goto out;
	}
	const uint8_t *tr = map + size - CKPT_TRAILER;
	if (cte__le_load32(map) != CKPT_MAGIC ||
	    cte__le_load32(tr) != CKPT_END_MAGIC) {
		why = "bad magic";
		goto out;
	}
	uint32_t version = cte__le_load32(map + 4);
	if (version != CKPT_VERSION_FUZZY && version != CKPT_VERSION_CUT) {
		why = "unknown format version";
		goto out;
	}
	uint64_t records = cte__le_load64(tr + 4), body = cte__le_load64(tr + 12);
	if (body != size - CKPT_HDR - CKPT_TRAILER) {
		why = "length does not match its trailer";
		goto out;
	}
	if (cte__le_load32(tr + 20) != cte__crc32c(0, map, size - 4)) {
		why = "checksum mismatch";
		goto out;
	}
	uint64_t covered = cte__le_load64(map + 8);
	if (rep)
		rep->checkpoint_cut = version == CKPT_VERSION_CUT;
	/* Parse everything before delivering anything. */
	for (int pass = 0; pass < 2; pass++) {
		size_t off = CKPT_HDR, end = size - CKPT_TRAILER;
		uint64_t n = 0;
		while (off < end) {
			if (end - off < CKPT_REC_HDR) {
				why = "truncated record";
				goto out;
			}
			uint32_t len = cte__le_load32(map + off + 1);
			if (len > end - off - CKPT_REC_HDR) {
				why = "record runs past the end";
				goto out;
			}
			if (pass == 1 && cb) {
				rc = cb(arg, map[off], covered,
				        map + off + CKPT_REC_HDR, len);
				if (rc)
					goto out;
			}
			off += CKPT_REC_HDR + (size_t)len;
			n++;
		}
		if (n != records) {
			why = "record count does not match its trailer";
			goto out;
		}
		if (!cb)
			break;
	}
	if (rep) {
		rep->checkpoint_valid = true;
		rep->checkpoint_seq = covered;
		rep->checkpoint_records = records;
	}
	*out_seq = covered;
out:
	if (!rc && why)
		rc = chi_error_set(-EUCLEAN, "%s/%s: corrupt checkpoint: %s",
		                   dir, CTE_JOURNAL_CHECKPOINT, why);
	if (map)
		munmap(map, size);
	close(fd);
	return rc;
}

/* The covered sequence from the checkpoint's header; see journal_int_i.h. */
int cte__jnl_ckpt_covered(int dir_fd, const char *dir, uint64_t *out_seq)
{
	uint8_t hdr[CKPT_HDR];

	*out_seq = 0;
	int fd = openat(dir_fd, CTE_JOURNAL_CHECKPOINT, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	close(fd);
	if (n != (ssize_t)sizeof(hdr) || cte__le_load32(hdr) != CKPT_MAGIC)
		return chi_error_set(-EUCLEAN,
		                     "%s/%s: corrupt checkpoint header", dir,
		                     CTE_JOURNAL_CHECKPOINT);
	*out_seq = cte__le_load64(hdr + 8);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checkpoint                                                           */

/*
 * Rotate as flush leader: write and sync everything buffered to the old
 * segment, start segment *out_base.  No rotation when the current segment
 * holds no records yet.
 */
static int rotate(cte_journal *j, uint64_t *out_base)
{
	pthread_mutex_lock(&j->lock);
	while (j->flushing)
		pthread_cond_wait(&j->cond, &j->lock);
	if (j->error) {
		int rc = j->error;
		pthread_mutex_unlock(&j->lock);
		return rc;
	}
	uint8_t *batch;
	size_t len, cap;
	uint64_t end = cte__jnl_leader_begin(j, &batch, &len, &cap);
	int old_fd = j->fd;
	uint64_t old_base = j->seg_base;
	pthread_mutex_unlock(&j->lock);

	int hook = 0;
	int io = cte__jnl_batch_write(j, old_fd, batch, len, true, &hook);
	int new_fd = -1, rc = io ? io : hook;
	if (!rc && end != old_base)
		rc = cte__jnl_seg_create(j->dir_fd, j->dir, end, &new_fd);

	pthread_mutex_lock(&j->lock);
	if (!io) {
		j->seg_bytes += len;
		j->stats.writes += len ? 1 : 0;
		j->stats.syncs += hook ? 0 : 1;
	}
	if (new_fd >= 0) {
		j->fd = new_fd;
		j->seg_base = end;
		j->seg_bytes = SEGHDR_BYTES;
	}
	cte__jnl_leader_end(j, batch, cap, io, end, !hook);
	pthread_mutex_unlock(&j->lock);
	if (!io && !hook && j->on_durable)
		j->on_durable(j->hook_arg, end);
	if (new_fd >= 0)
		close(old_fd);
	if (hook)
		chi_error_set(hook, "%s: checkpoint: the data sync failed: %s",
		              j->dir, strerror(-hook));
	*out_base = end;
	return rc;
}

/* Delete segments older than `keep` (all their records are covered). */
static void drop_old_segments(cte_journal *j, uint64_t keep)
{
	uint64_t *segs = NULL;
	size_t n = 0;
	if (cte__jnl_seg_list(j->dir_fd, j->dir, &segs, &n))
		return;
	for (size_t i = 0; i < n && segs[i] < keep; i++) {
		char name[SEG_NAME_LEN + 1];
		cte__jnl_seg_name(name, segs[i]);
		if (unlinkat(j->dir_fd, name, 0))
			CHI_WARN(LOG_COMP, "%s/%s: cannot remove: %s", j->dir,
			         name, strerror(errno));
	}
	free(segs);
	cte__jnl_sync_dir(j->dir_fd);
}

/* Checkpoint; see journal_i.h and JOURNAL.md. */
int cte__journal_checkpoint(cte_journal *j,
                            cte_journal_snapshot_fn write_snapshot, void *arg)
{
	uint64_t covered = 0;
	int rc;

	pthread_mutex_lock(&j->ckpt_lock);
	rc = rotate(j, &covered);
	if (!rc)
		rc = ckpt_write(j, covered, write_snapshot, arg);
	if (!rc) {
		drop_old_segments(j, covered);
		pthread_mutex_lock(&j->lock);
		j->stats.checkpoints++;
		pthread_mutex_unlock(&j->lock);
	}
	pthread_mutex_unlock(&j->ckpt_lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The checkpointer thread                                              */

/* The checkpointer thread; see DESIGN above. */
void *cte__jnl_ckpter_main(void *p)
{
	cte_journal *j = p;
	struct timespec last, at;

	clock_gettime(CLOCK_MONOTONIC, &last);
	pthread_mutex_lock(&j->lock);
	while (!j->closing) {
		/* Wake at least every second to check the period. */
		uint32_t wait_ms = j->ckpt_period_ms && j->ckpt_period_ms < 1000
		                       ? j->ckpt_period_ms
		                       : 1000;
		cte__jnl_deadline_after(&at, wait_ms);
		if (!j->ckpt_wanted)
			pthread_cond_timedwait(&j->ckpt_cond, &j->lock, &at);
		if (j->closing)
			break;
		struct timespec due = last;
		cte__jnl_time_add_ms(&due, j->ckpt_period_ms);
		bool run =
		    j->ckpt_wanted || j->seg_bytes >= j->ckpt_bytes ||
		    (j->ckpt_period_ms && cte__jnl_deadline_passed(&due));
		j->ckpt_wanted = false;
		if (!run)
			continue;
		pthread_mutex_unlock(&j->lock);
		int rc = cte__journal_checkpoint(j, j->snapshot, j->hook_arg);
		if (rc)
			CHI_WARN(LOG_COMP, "%s: checkpoint failed: %s", j->dir,
			         chi_error_last()[0] ? chi_error_last()
			                             : strerror(-rc));
		clock_gettime(CLOCK_MONOTONIC, &last);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}
