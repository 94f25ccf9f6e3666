/*
 * cte-fuse: failed write-backs: the failure episode, the refusal of later
 * write-backs past the failure, the cut-back and the resync thread.
 *
 * DESIGN
 *
 * The problem.  With the write-back cache the kernel reports a failed
 * write-back (ENOSPC) to the next fsync or close, but keeps the pages and
 * the file size it had, which CTE does not have.  Write-backs also run in
 * parallel and in any order, so one past the failure may succeed and leave
 * a hole.  So on the first failure of an episode: later write-backs ending
 * past the failed offset are refused (only the part before it is stored);
 * a file that grew past the failure since it was opened is cut back to it
 * (so it holds exactly the bytes before the failure); the name's dentry is
 * dropped at once, so that after the last close a lookup makes a fresh
 * inode with CTE's size; and a separate thread drops the cached pages and
 * cuts back again after any write-back that was already in flight.
 *
 * What it records, per inode (struct ctefs_inode): wb_failed and
 * wb_fail_off (the episode and its lowest failed offset), open_size (the
 * size at the last open or truncate), wb_inflight (write-backs between
 * admission and end), resyncing (a resync thread runs), and it reads
 * opens (file.c counts handles).  An episode runs from the first failure
 * to the next open or truncate, which end it with ctefs__wb_reset (file.c
 * ctefs__note_open, attr.c ctefs__setattr).
 *
 * Who reads it: ctefs__writeback (admission, and the last write-back of an
 * episode to end cuts the file back), the resync thread (cut-back), and
 * ctefs__wb_wait_stale, which holds a LOOKUP (dir.c) while the kernel
 * still has the stale inode open.
 *
 * How fsync learns of an earlier failure: not from the daemon.  The failed
 * WRITE's error reply is kept by the kernel on the file's mapping, and the
 * next fsync(2) or close(2) on it returns it (the kernel checks the mapping
 * before it would send FSYNC or FLUSH); ctefs__fsync only syncs CTE.
 *
 * Threads: the FUSE workers serving write-backs, and at most one resync
 * thread per inode (detached; claimed with `resyncing`, released when it
 * ends).  The resync is a thread of its own because dropping the cached
 * pages (fuse_lowlevel_notify_inval_inode) waits for the write-backs in
 * flight, which the worker that saw the failure may be the one to serve.
 *
 * Locks: only the inode's stripe lock (inode.c), for the field updates;
 * never held across a CTE call or a notification to the kernel.  Ordering:
 * a write-back is counted in flight before its CTE write and uncounted
 * after it, so the last to end sees every write admitted before the
 * failure landed and cuts back after them.
 *
 * Sleepers: there are no condition variables.  ctefs__wb_wait_stale polls
 * every millisecond (2 s at the most); nobody waits for the resync thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctefs_i.h"

void ctefs__wb_reset(struct ctefs_inode *e, uint64_t size)
{
	e->wb_failed = false;
	e->open_size = size;
}

/* True while an episode runs and handles are open or the resync thread
 * still runs. */
static bool stale_open(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);
	bool stale = e && e->wb_failed && (e->opens > 0 || e->resyncing);

	ctefs__inode_unlock(&fs->itab, e);
	return stale;
}

/*
 * After a failed write-back the kernel's inode has a size CTE does not
 * have.  Its dentry is gone, and the kernel frees the inode when the last
 * RELEASE is answered; a lookup answered before that would revive it.  So
 * hold such a lookup (briefly, bounded) until the handles are released,
 * then the kernel makes a fresh inode.
 */
void ctefs__wb_wait_stale(struct ctefs *fs, cte_id id)
{
	struct timespec pause = {0, 1000000};
	int i;

	for (i = 0; i < 2000 && stale_open(fs, id); i++)
		nanosleep(&pause, NULL);
}

/* Cut id back to the failed offset if it grew past it since the open. */
static void cut_back(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);
	bool failed = e && e->wb_failed;
	uint64_t fail_off = failed ? e->wb_fail_off : 0;
	uint64_t open_size = failed ? e->open_size : 0;
	cte_attr a, want;

	ctefs__inode_unlock(&fs->itab, e);
	if (failed && open_size <= fail_off &&
	    cte_ns_getattr(&fs->cte, id, &a) == 0 && a.size > fail_off) {
		memset(&want, 0, sizeof(want));
		want.size = fail_off;
		cte_ns_setattr(&fs->cte, id, &want, CTE_SET_SIZE, NULL);
	}
}

static void resync_done(struct ctefs *fs, cte_id id)
{
	struct ctefs_inode *e = ctefs__inode_lock(&fs->itab, id);

	if (e)
		e->resyncing = false;
	ctefs__inode_unlock(&fs->itab, e);
}

struct resync_job {
	struct ctefs *fs;
	cte_id id;
};

static void *resync_thread(void *arg)
{
	struct resync_job *job = arg;

	fuse_lowlevel_notify_inval_inode(job->fs->se, job->id, 0, 0);
	cut_back(job->fs, job->id);
	resync_done(job->fs, job->id);
	free(job);
	return NULL;
}

/* A write-back of id failed at off: start or lower the episode, drop the
 * name's dentry and start the resync thread. */
static void failed(struct ctefs *fs, cte_id id, uint64_t off)
{
	cte_blob_info *info = NULL;
	struct resync_job *job;
	struct ctefs_inode *e;
	pthread_attr_t attr;
	pthread_t thread;
	bool changed, claimed;

	e = ctefs__inode_lock(&fs->itab, id);
	changed = e && (!e->wb_failed || off < e->wb_fail_off);
	if (changed) {
		e->wb_failed = true;
		e->wb_fail_off = off;
	}
	ctefs__inode_unlock(&fs->itab, e);
	if (!changed)
		return; /* this episode is handled already */
	if (cte_blob_info_get(&fs->cte, id, &info) == 0 &&
	    info->tag != CTE_ID_NONE && info->name[0])
		fuse_lowlevel_notify_inval_entry(fs->se, info->tag, info->name,
		                                 strlen(info->name));
	cte_blob_info_free(info);
	e = ctefs__inode_lock(&fs->itab, id);
	claimed = e && !e->resyncing;
	if (claimed)
		e->resyncing = true;
	ctefs__inode_unlock(&fs->itab, e);
	if (!claimed)
		return; /* one thread at a time per inode */
	job = malloc(sizeof(*job));
	if (!job)
		goto fail;
	job->fs = fs;
	job->id = id;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, resync_thread, job)) {
		pthread_attr_destroy(&attr);
		free(job);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	resync_done(fs, id);
}

int ctefs__writeback(struct ctefs *fs, cte_id id, const char *buf,
                     size_t size, uint64_t off)
{
	struct ctefs_inode *e;
	bool refused = false, last;
	uint64_t limit = 0;
	int ret;

	e = ctefs__inode_lock(&fs->itab, id);
	if (e) {
		e->wb_inflight++;
		if (e->wb_failed && off + size > e->wb_fail_off) {
			limit = e->wb_fail_off;
			refused = true;
		}
	}
	ctefs__inode_unlock(&fs->itab, e);
	if (refused) {
		/* keep the file a prefix of what was written: store only the
		 * part before the failed offset */
		if (off < limit)
			cte_blob_write_ex(&fs->cte, id, off, buf, limit - off,
			                  CTE_WRITE_KEEP_TIMES);
		ret = -ENOSPC;
	} else {
		/* The kernel stamped mtime/ctime when the page was dirtied and
		 * sends them with SETATTR; the page may reach us later, so it
		 * must not stamp them again. */
		ret = cte_blob_write_ex(&fs->cte, id, off, buf, size,
		                        CTE_WRITE_KEEP_TIMES);
	}
	if (ret)
		failed(fs, id, off);
	e = ctefs__inode_lock(&fs->itab, id);
	last = false;
	if (e) {
		e->wb_inflight--;
		last = e->wb_failed && e->wb_inflight == 0;
	}
	ctefs__inode_unlock(&fs->itab, e);
	/* the last write-back admitted before a failure cuts the file back if
	 * it (or another) wrote past the failure */
	if (last)
		cut_back(fs, id);
	return ret;
}
