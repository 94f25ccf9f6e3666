/*
 * Durability: CTE's metadata journal (the journal library is journal*.c;
 * the plan this follows is ../JOURNAL.md).
 *
 * DESIGN
 * Hooks: durable.c stands above the core and reaches it only through the
 * hooks it installs at open (core_i.h): meta_hook, commit_hook (run by
 * cte__ns_unlock) and sync_hook (cte__meta_sync, used by blob sync and by
 * the allocator when space waits in deferred frees).
 * Records: after-images of objects (image.c): the journal record's type
 * byte is the image kind, its payload the image body.  Every
 * cte__meta_changed() call (under ns_lock) adds the changed object's image
 * to core->txn; commit_hook commits the section's records as one group
 * before ns_lock is dropped, so sequence order is mutation order and a
 * rename or a write replays entirely or not at all.  Appends never wait
 * for I/O.
 * Threads: the journal's flusher thread (group commit; pre_sync fdatasyncs
 * the file targets through our own descriptors, so no runtime task is
 * involved; on_durable only advances durable_seq) and its checkpointer
 * thread (snapshot = cte__durable_snapshot: cte__state_save, a consistent
 * moment under quiesce and ns_lock that also fixes the sequence the
 * checkpoint covers, so replay starts exactly after the snapshot).
 * Data before metadata: data is written before the record that maps it is
 * appended, and pre_sync makes it stable before the record is.  Blocks
 * that stop being mapped are freed only once the record unmapping them is
 * durable (target.c keeps them in pending_free, under free_lock, and
 * frees them at the next reclaim from a task or client thread).
 * Waiting: a task never blocks its worker on the journal: it queues an
 * async waiter and suspends its coroutine; the flusher wakes it with
 * chi_task_resume().  A plain thread waits in cte__journal_sync_to().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/error.h"
#include "chimaera/log.h"
#include "chimaera/sys/worker.h"
#include "blobio_i.h"
#include "core_i.h"
#include "durable_i.h"
#include "image_i.h"
#include "target_i.h"

#define LOCK_WAIT_TRIES 150 /* x 100 ms */

/* ------------------------------------------------------------------ */
/* records                                                              */

/* The records of the image buffer ([kind u8][len u32][body] each) into
 * the section's transaction. */
static void add_image(struct cte_core *core)
{
	cte_jdec d;
	const void *body;
	uint32_t len;
	uint8_t kind;

	cte__jdec_init(&d, core->meta_buf.data, core->meta_buf.len);
	while (cte__jdec_left(&d) >= 5) {
		cte__jdec_get_u8(&d, &kind);
		if (cte__jdec_get_blob(&d, &body, &len))
			break;
		cte__journal_txn_add(&core->txn, kind, body, len);
	}
	cte__jenc_reset(&core->meta_buf);
}

static void hook(void *arg, enum cte_meta_kind kind, cte_id id, cte_id aux)
{
	struct cte_core *core = arg;
	int rc;

	(void)aux;
	cte__jenc_reset(&core->meta_buf);
	switch (kind) {
	case CTE_META_TARGET:
		rc = cte__targets_image(core, &core->meta_buf);
		break;
	case CTE_META_DATA:
		rc = cte__obj_image_range_locked(
		    core, id, core->data_lo, core->data_hi, &core->meta_buf);
		break;
	default: /* images are whole objects: one record says it all */
		rc = cte__obj_image_locked(core, id, 0, &core->meta_buf);
		break;
	}
	if (rc) {
		core->txn.err = rc; /* commit reports it */
		return;
	}
	add_image(core);
}

/* commit_hook: the section's records go as one group before ns_lock is
 * dropped, so sequence order is mutation order. */
static void commit(struct cte_core *core)
{
	if (core->journal && (core->txn.n || core->txn.err)) {
		uint64_t seq = 0;
		int rc =
		    cte__journal_txn_commit(core->journal, &core->txn, &seq);

		if (rc)
			CHI_ERROR("cte",
			          "metadata journal: %s (changes are not "
			          "being recorded)",
			          strerror(-rc));
		else
			atomic_store(&core->last_seq, seq);
	}
}

/* ------------------------------------------------------------------ */
/* durability of records                                                */

/* on_durable: runs on the flusher thread, which must not wait on the
 * runtime; the frees (bdev tasks) happen on the next reclaim from a task
 * or client thread instead. */
static void on_durable(void *arg, uint64_t seq)
{
	struct cte_core *core = arg;
	uint64_t cur = atomic_load(&core->durable_seq);

	while (seq > cur &&
	       !atomic_compare_exchange_weak(&core->durable_seq, &cur, seq))
		;
}

/* pre_sync: data the records point to is stable before they are. */
static int pre_sync(void *arg)
{
	struct cte_core *core = arg;
	int rc = 0;

	for (size_t i = 0; i < CTE_MAX_TARGETS; i++)
		if (core->sync_fds[i] >= 0 && fdatasync(core->sync_fds[i]) &&
		    !rc)
			rc = -errno;
	return rc;
}

/* ------------------------------------------------------------------ */
/* waiting for durability                                               */

struct task_waiter {
	cte_journal_waiter w;
	chi_task *task;
	_Atomic int done;
	int rc;
};

static void waiter_done(cte_journal_waiter *w, int rc)
{
	struct task_waiter *tw = (struct task_waiter *)w;

	tw->rc = rc;
	atomic_store(&tw->done, 1);
	chi_task_resume(tw->task);
}

int cte__durable_wait(struct cte_core *core)
{
	uint64_t seq = atomic_load(&core->last_seq);
	chi_task *self = chi_task_self();
	int rc;

	if (!core->journal)
		return 0;
	if (!self) {
		rc = cte__journal_sync_to(core->journal, seq, true);
	} else {
		struct task_waiter tw = {.w = {.seq = seq, .done = waiter_done},
		                         .task = self};

		rc = cte__journal_sync_async(core->journal, &tw.w);
		if (rc == 1) {
			rc = 0;
		} else if (!rc) {
			while (!atomic_load(&tw.done))
				chi_task_suspend();
			rc = tw.rc;
		}
	}
	if (!rc) {
		on_durable(core, seq);
		cte__target_reclaim(core);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* checkpoints and replay                                               */

int cte__durable_snapshot(cte_journal_ckpt *w, uint64_t covered_seq, void *arg)
{
	struct cte_core *core = arg;
	cte_jenc buf;
	cte_jdec d;
	const void *body;
	uint32_t len;
	uint8_t kind;
	int rc;

	cte__jenc_init(&buf);
	rc = cte__state_save(core, &buf, w);
	cte__jdec_init(&d, buf.data, buf.len);
	while (!rc && cte__jdec_left(&d) >= 5) {
		cte__jdec_get_u8(&d, &kind);
		if (cte__jdec_get_blob(&d, &body, &len))
			break;
		rc = cte__journal_ckpt_put(w, kind, body, len);
	}
	CHI_DEBUG("cte",
	          "checkpoint (log rotated at record %llu): %zu "
	          "bytes (%d)",
	          (unsigned long long)covered_seq, buf.len, rc);
	cte__jenc_destroy(&buf);
	return rc;
}

struct replay_ctx {
	struct cte_core *core;
	const cte_journal_report *report; /* its checkpoint fields */
	uint64_t older;                   /* log records skipped as older */
	uint32_t slot_map[CTE_MAX_TARGETS];
};

/*
 * Replay over a later state.  A checkpoint written before the cut
 * (report->checkpoint_cut false) fixed its sequence at the rotation and
 * read the state afterwards, so it may already hold the effect of log
 * records after its sequence, and those are replayed over it.  An image
 * that then names its object under a tag that is gone, or puts a tag
 * below its own descendant (CTE_IMG_OLDER), is older than the state:
 * the tag was removed, or the tags rearranged, by a later record whose
 * effect the checkpoint holds, and the object had left that place before
 * (a tag is removed empty; a rename never closes a cycle), by a later
 * record too.  Skipping it keeps the object's newer state; the records
 * after it in the log bring the state up to date as usual.  Over an exact
 * cut, over another record of the checkpoint, such an image is a bug or
 * damage and the start fails, as any record that does not apply.
 */
static int replay_record(void *arg, uint8_t type, uint64_t seq,
                         const void *payload, uint32_t len)
{
	struct replay_ctx *ctx = arg;
	const cte_journal_report *rep = ctx->report;
	int rc = cte__image_apply(ctx->core, type, payload, len, ctx->slot_map);

	if (rc == CTE_IMG_OLDER && rep->checkpoint_valid &&
	    !rep->checkpoint_cut && seq > rep->checkpoint_seq) {
		ctx->older++;
		return 0;
	}
	if (rc == CTE_IMG_OLDER)
		rc = -EBADMSG;
	if (rc)
		chi_error_set(rc,
		              "cte: metadata journal record %llu: cannot "
		              "apply it (%s)",
		              (unsigned long long)seq, strerror(-rc));
	return rc;
}

void cte__durable_attach(struct cte_core *core)
{
	core->meta_hook = hook;
	core->meta_hook_arg = core;
	core->commit_hook = commit;
	core->sync_hook = cte__durable_wait;
}

/* The journal directory: metadata_log_path, else beside the first file
 * target.  Empty when every target is volatile (even with
 * metadata_log_path: a journal of blocks that cannot survive would bring
 * back names and sizes over zeros). */
static void journal_dir(struct cte_core *core, char *out, size_t size)
{
	struct stat sb;

	out[0] = '\0';
	for (uint32_t i = 0; i < core->n_target_slots; i++) {
		const struct cte_target *t = &core->targets[i];
		char tmp[4096];

		if (!t->active || t->is_volatile)
			continue;
		if (core->params.metadata_log_path[0]) {
			snprintf(out, size, "%s",
			         core->params.metadata_log_path);
		} else if (!stat(t->name, &sb) && S_ISDIR(sb.st_mode)) {
			snprintf(out, size, "%s", t->name);
		} else {
			snprintf(tmp, sizeof(tmp), "%s", t->name);
			snprintf(out, size, "%s", dirname(tmp));
		}
		return;
	}
}

static void open_sync_fds(struct cte_core *core)
{
	for (uint32_t i = 0; i < CTE_MAX_TARGETS; i++) {
		const struct cte_target *t = &core->targets[i];
		char path[4200];

		core->sync_fds[i] = -1;
		if (i >= core->n_target_slots || !t->active || t->is_volatile)
			continue;
		cte__target_file(t->name, path, sizeof(path));
		core->sync_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (core->sync_fds[i] < 0)
			CHI_WARN("cte", "%s: %s: fsync cannot flush it", path,
			         strerror(errno));
	}
}

static void close_sync_fds(struct cte_core *core)
{
	for (size_t i = 0; i < CTE_MAX_TARGETS; i++) {
		if (core->sync_fds[i] >= 0)
			close(core->sync_fds[i]);
		core->sync_fds[i] = -1;
	}
}

int cte__durable_open(struct cte_core *core)
{
	struct cte_held held[CTE_MAX_TARGETS];
	struct replay_ctx *ctx = NULL;
	cte_journal_report report;
	cte_journal_opts opts;
	char *dir = core->journal_dir;
	int rc;

	journal_dir(core, dir, sizeof(core->journal_dir));
	if (!dir[0]) {
		CHI_WARN("cte",
		         "only volatile (RAM) targets are configured: "
		         "tags, blobs and their data live in memory only and "
		         "nothing persists after unmount or a crash; add a "
		         "bdev_type: file target to keep them");
		return 0;
	}
	if (!core->params.metadata_journal) {
		CHI_WARN("cte", "metadata_journal is off: nothing persists "
		                "after unmount or a crash");
		dir[0] = '\0';
		return 0;
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return chi_error_set(-errno,
		                     "cte: metadata journal directory "
		                     "%s: %s",
		                     dir, strerror(errno));
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->core = core;
	ctx->report = &report;
	for (size_t i = 0; i < CTE_MAX_TARGETS; i++)
		ctx->slot_map[i] = UINT32_MAX;
	/* A previous process may still be finishing its shutdown (umount
	 * returns before the daemon exits): wait for its lock a while. */
	for (int tries = 0;; tries++) {
		rc = cte__journal_replay(dir, CTE_JOURNAL_REPAIR, replay_record,
		                         replay_record, ctx, &report);
		if (rc != -EBUSY || tries == LOCK_WAIT_TRIES)
			break;
		if (tries == 10)
			CHI_WARN("cte",
			         "%s: waiting for the process using the "
			         "journal to exit",
			         dir);
		usleep(100 * 1000);
	}
	if (rc)
		goto out;
	if (ctx->older)
		CHI_WARN("cte",
		         "%s: %llu journal records older than the state of "
		         "the checkpoint before them were skipped (a "
		         "checkpoint of an earlier version already holds "
		         "their later changes)",
		         dir, (unsigned long long)ctx->older);
	cte__state_drop_orphans(core);
	cte__state_count_dropped(core);
	cte__state_held(core, held);
	rc = cte__target_check_replayed(core, held);
	if (rc)
		goto out;
	rc = cte__state_reserve(core);
	if (rc == -EEXIST)
		rc = chi_error_set(-EUCLEAN,
		                   "cte: two blobs share blocks in "
		                   "%s; run cte-fsck on it",
		                   dir);
	if (rc)
		goto out;
	if (core->replay_dropped_bytes)
		CHI_WARN("cte",
		         "%llu bytes held on volatile or missing targets "
		         "were lost; they read as zeros",
		         (unsigned long long)core->replay_dropped_bytes);
	if (report.records || report.checkpoint_present)
		CHI_INFO("cte",
		         "metadata journal %s: checkpoint %s, %llu "
		         "records replayed%s",
		         dir, report.checkpoint_present ? "loaded" : "absent",
		         (unsigned long long)report.records,
		         report.torn ? ", torn tail discarded" : "");
	CHI_INFO("cte", "metadata journal in %s", dir);
	open_sync_fds(core);
	memset(&opts, 0, sizeof(opts));
	opts.flush_period_ms = core->params.flush_metadata_period_ms;
	opts.pre_sync = pre_sync;
	opts.on_durable = on_durable;
	opts.hook_arg = core;
	opts.snapshot = cte__durable_snapshot;
	opts.checkpoint_bytes = core->params.checkpoint_log_size;
	opts.checkpoint_period_ms = core->params.checkpoint_period_ms;
	rc = cte__journal_open(&core->journal, dir, &opts);
	if (rc)
		goto out;
	atomic_store(&core->last_seq, report.last_seq > report.checkpoint_seq
	                                  ? report.last_seq
	                                  : report.checkpoint_seq);
	cte__durable_attach(core);
	/* the replayed state becomes the new base; the log restarts small */
	rc =
	    cte__journal_checkpoint(core->journal, cte__durable_snapshot, core);
out:
	if (rc) {
		if (core->journal)
			cte__journal_close(core->journal);
		core->journal = NULL;
		core->meta_hook = NULL;
		core->commit_hook = NULL;
		core->sync_hook = NULL;
		close_sync_fds(core);
	}
	free(ctx);
	return rc;
}

void cte__durable_close(struct cte_core *core)
{
	int rc;

	if (!core->journal)
		return;
	rc = cte__sync_all(core);
	if (rc)
		CHI_WARN("cte", "at shutdown: %s", chi_error_last());
	rc =
	    cte__journal_checkpoint(core->journal, cte__durable_snapshot, core);
	if (rc)
		CHI_WARN("cte", "final checkpoint: %s", strerror(-rc));
	pthread_mutex_lock(&core->ns_lock);
	core->meta_hook = NULL;
	core->commit_hook = NULL;
	pthread_mutex_unlock(&core->ns_lock);
	rc = cte__journal_close(core->journal);
	if (rc)
		CHI_ERROR("cte", "closing the metadata journal: %s",
		          strerror(-rc));
	core->journal = NULL;
	atomic_store(&core->durable_seq, UINT64_MAX);
	core->sync_hook = NULL;
	cte__target_reclaim(core);
	close_sync_fds(core);
}
