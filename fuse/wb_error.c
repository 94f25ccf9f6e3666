/*
 * cte-fuse: failed write-backs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctefs_i.h"

/*
 * After a failed write-back (see ctefs__wb_failed) the kernel's inode
 * has a size CTE does not have.  Its dentry is gone, and the kernel frees
 * the inode when the last RELEASE is answered; a lookup answered before
 * that would revive it.  So hold such a lookup (briefly, bounded) until the
 * handles are released, then the kernel makes a fresh inode.
 */
void ctefs__wb_wait_stale(struct ctefs *fs, cte_id id)
{
	struct timespec pause = {0, 1000000};
	int i;

	for (i = 0; i < 2000 && ctefs__inode_stale_open(&fs->itab, id); i++)
		nanosleep(&pause, NULL);
}

/*
 * Failed write-back.  With the write-back cache the kernel reports a failed
 * write (ENOSPC) to the next fsync or close, but keeps the pages and the
 * file size it had, which CTE does not have.  Write-backs also run in
 * parallel and in any order, so one past the failure may succeed and leave
 * a hole.  So on the first failure of an episode (until the next open or
 * truncate): later write-backs ending past the failed offset are refused;
 * a file that grew past the failure since it was opened is cut back to
 * it (so it holds exactly the bytes before the failure); the name's dentry
 * is dropped at once, so that after the last close a lookup makes a fresh
 * inode with CTE's size; and a separate thread drops the cached pages
 * (that waits for write-backs in flight, which this thread may be serving)
 * and cuts back again after any write-back that was already in flight.
 */
void ctefs__wb_cut_back(struct ctefs *fs, cte_id id)
{
	uint64_t fail_off, open_size;
	cte_attr a, want;

	if (ctefs__inode_wb_failure(&fs->itab, id, &fail_off, &open_size) &&
	    open_size <= fail_off && cte_ns_getattr(&fs->cte, id, &a) == 0 &&
	    a.size > fail_off) {
		memset(&want, 0, sizeof(want));
		want.size = fail_off;
		cte_ns_setattr(&fs->cte, id, &want, CTE_SET_SIZE, NULL);
	}
}

struct resync_job {
	struct ctefs *fs;
	cte_id id;
};

static void *resync_thread(void *arg)
{
	struct resync_job *job = arg;

	fuse_lowlevel_notify_inval_inode(job->fs->se, job->id, 0, 0);
	ctefs__wb_cut_back(job->fs, job->id);
	ctefs__inode_resync_done(&job->fs->itab, job->id);
	free(job);
	return NULL;
}

void ctefs__wb_failed(struct ctefs *fs, cte_id id, uint64_t off)
{
	cte_blob_info *info = NULL;
	struct resync_job *job;
	pthread_attr_t attr;
	pthread_t thread;

	if (!ctefs__inode_note_wb_failure(&fs->itab, id, off))
		return; /* this episode is handled already */
	if (cte_blob_info_get(&fs->cte, id, &info) == 0 &&
	    info->tag != CTE_ID_NONE && info->name[0])
		fuse_lowlevel_notify_inval_entry(fs->se, info->tag, info->name,
		                                 strlen(info->name));
	cte_blob_info_free(info);
	if (!ctefs__inode_resync_start(&fs->itab, id))
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
	ctefs__inode_resync_done(&fs->itab, id);
}
