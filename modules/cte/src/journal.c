/*
 * The CTE metadata journal, live path: segment files, append, group
 * commit, the flusher thread and async waiters.  Open and close are in
 * journal_open.c, checkpoints in journal_ckpt.c, replay and repair in
 * journal_replay.c; what they share is journal_int_i.h.  Format and
 * protocols: ../JOURNAL.md.
 *
 * DESIGN
 * Threads: any number of appenders (CTE workers, client threads) call
 * cte__journal_append / _txn_commit; plain threads may call
 * _flush/_sync_to (they block); code inside runtime tasks queues a
 * cte__journal_sync_async waiter instead.  Each journal runs one
 * "flusher" thread (cte__jnl_flusher_main, here): it serves queued async
 * waiters (one durable flush for all of them, then their done() callbacks)
 * and, with opts.flush_period_ms > 0, does a durable flush every period.  With
 * opts.snapshot, a "checkpointer" thread (journal_ckpt.c) runs checkpoints;
 * open starts both threads, close stops them before its final flush
 * (journal_open.c).
 *
 * Locks: j->lock protects the fields of struct cte_journal
 * (journal_int_i.h) marked "protected by lock": the buffer and its spare,
 * the sequence counters, the leader flag, the sticky error, the current
 * segment (fd, base, bytes), the async queue, ckpt_wanted, the stats.  The
 * others are set by open and read-only until close (the *_started flags
 * are cleared by the thread that joins the threads).  j->ckpt_lock
 * (journal_ckpt.c) serialises checkpoints and is taken before j->lock,
 * never while holding it.  No hook and no I/O runs under j->lock.
 *
 * Queue: one in-memory buffer of encoded records (j->buf).  An append
 * assigns the next sequence number and encodes its records into the buffer
 * in one critical section of j->lock, so buffer order == sequence order and
 * a group's records are contiguous.
 *
 * Group commit: a flusher whose records are not yet written (or synced)
 * becomes the single "leader" (j->flushing) if no leader is active: it
 * swaps the buffer for the empty spare, drops the lock, write()s the batch
 * and fdatasync()s it if it or any waiter asked for durability, then
 * publishes written_seq/durable_seq and broadcasts j->cond.  Other
 * flushers sleep on j->cond and return as soon as written_seq/durable_seq
 * reach their own sequence; a waiter whose records arrived after the batch
 * was taken leads the next one.  Appends never wait for I/O, except that
 * an appender finding the buffer above opts.buffer_limit and no leader
 * active writes it itself (without a sync).
 *
 * Ordering: records reach the file in sequence order (one leader at a
 * time, batches taken in order); durable_seq only grows; a checkpoint's
 * rotation is done as leader, so a segment holds whole groups.  When
 * cte__journal_sync_to(j, seq, true) returns 0 (or a waiter's done() gets
 * 0), every record <= seq has been fdatasync'ed, after opts.pre_sync
 * succeeded; sync_to(.., false) only promises write(2).
 *
 * Hooks: the leader calls opts.pre_sync (CTE syncs its data targets)
 * before each fdatasync and opts.on_durable after publishing durable_seq,
 * both without j->lock, so they may take CTE's locks: an append never
 * waits for a leader or a hook (its back-pressure write only happens when
 * no leader is active, and never syncs), so a thread appending under a
 * CTE lock cannot close a lock cycle.
 *
 * Wakeups: j->cond (a flush batch finished: broadcast by the leader);
 * j->tick_cond wakes the flusher (a waiter was queued: signal; close:
 * broadcast; otherwise it sleeps until its period ends); j->ckpt_cond
 * wakes the checkpointer (the leader saw the segment outgrow
 * opts.checkpoint_bytes: signal; close: broadcast).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_int_i.h"

/* ------------------------------------------------------------------ */
/* Files and segments                                                   */

/* Encode one framed record at p (REC_OVERHEAD + len bytes). */
static void rec_encode(uint8_t *p, unsigned kind, uint8_t type, uint64_t seq,
                       const void *payload, uint32_t len)
{
	cte__le_store32(p, (REC_MAGIC << 16) | (kind << 8) | type);
	cte__le_store32(p + 4, len);
	cte__le_store64(p + 8, seq);
	if (len)
		memcpy(p + REC_HDR, payload, len);
	cte__le_store32(p + REC_HDR + len, cte__crc32c(0, p, REC_HDR + len));
}

int cte__jnl_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cte__jnl_sync_dir(int dir_fd)
{
	return fsync(dir_fd) ? -errno : 0;
}

void cte__jnl_seg_name(char *out, uint64_t base)
{
	snprintf(out, SEG_NAME_LEN + 1,
	         CTE_JOURNAL_SEGMENT_PREFIX "%016" PRIx64, base);
}

/* Parse "cte.journal.<16 hex>"; anything else (".discarded", tmp) is not a
 * segment. */
static bool seg_parse(const char *name, uint64_t *base)
{
	size_t plen = sizeof(CTE_JOURNAL_SEGMENT_PREFIX) - 1;
	if (strlen(name) != SEG_NAME_LEN ||
	    strncmp(name, CTE_JOURNAL_SEGMENT_PREFIX, plen) != 0)
		return false;
	uint64_t v = 0;
	for (const char *c = name + plen; *c; c++) {
		int d;
		if (*c >= '0' && *c <= '9')
			d = *c - '0';
		else if (*c >= 'a' && *c <= 'f')
			d = *c - 'a' + 10;
		else
			return false;
		v = (v << 4) | (uint64_t)d;
	}
	*base = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted bases of the segments in dir_fd; *out malloc'd. */
int cte__jnl_seg_list(int dir_fd, const char *dir, uint64_t **out,
                      size_t *out_n)
{
	int dfd = dup(dir_fd);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int rc = -errno;
		close(dfd);
		return rc;
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t base;
		if (!seg_parse(de->d_name, &base))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			uint64_t *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = base;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_u64);
out:
	closedir(d);
	if (rc) {
		free(v);
		return chi_error_set(rc, "%s: cannot list journal segments",
		                     dir);
	}
	*out = v;
	*out_n = n;
	return 0;
}

/* Create segment `base` (header written and synced, directory synced);
 * *out_fd open for appending. */
int cte__jnl_seg_create(int dir_fd, const char *dir, uint64_t base, int *out_fd)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t rec[SEGHDR_BYTES];
	uint8_t payload[SEGHDR_PAYLOAD];
	int rc;

	cte__jnl_seg_name(name, base);
	int fd =
	    openat(dir_fd, name,
	           O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return chi_error_set(-errno, "%s/%s: cannot create segment: %s",
		                     dir, name, strerror(errno));
	cte__le_store32(payload, CTE_JOURNAL_FORMAT_VERSION);
	cte__le_store32(payload + 4, 0);
	rec_encode(rec, KIND_SEGHDR, 0, base, payload, SEGHDR_PAYLOAD);
	rc = cte__jnl_write_all(fd, rec, sizeof(rec));
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (!rc)
		rc = cte__jnl_sync_dir(dir_fd);
	if (rc) {
		chi_error_set(rc, "%s/%s: cannot write segment header: %s", dir,
		              name, strerror(-rc));
		close(fd);
		unlinkat(dir_fd, name, 0);
		return rc;
	}
	*out_fd = fd;
	return 0;
}

/* The journal directory and its lock file (open, replay). */
int cte__jnl_open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return chi_error_set(-errno,
		                     "%s: cannot open journal directory: %s",
		                     dir, strerror(errno));
	return fd;
}

/* flock the directory's lock file: the fd, or -EBUSY / -errno. */
int cte__jnl_take_lock(int dir_fd, const char *dir)
{
	int fd = openat(dir_fd, CTE_JOURNAL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC,
	                0644);
	if (fd < 0)
		return chi_error_set(-errno, "%s/%s: cannot open: %s", dir,
		                     CTE_JOURNAL_LOCK, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return chi_error_set(rc,
		                     "%s: the journal is in use by another "
		                     "process (%s/%s is locked)",
		                     dir, dir, CTE_JOURNAL_LOCK);
	}
	return fd;
}

/* ------------------------------------------------------------------ */
/* Group commit                                                         */

/* Make room for n more bytes in j->buf; called with j->lock held. */
static int buf_room(cte_journal *j, size_t n)
{
	if (j->buf_len + n <= j->buf_cap)
		return 0;
	size_t cap = j->buf_cap;
	while (cap < j->buf_len + n)
		cap *= 2;
	uint8_t *nb = realloc(j->buf, cap);
	if (!nb)
		return -ENOMEM;
	j->buf = nb;
	j->buf_cap = cap;
	return 0;
}

/*
 * Become the flush leader (j->lock held, no leader active): take the
 * buffer, return the last sequence it holds.  The caller drops the lock,
 * does the I/O on the segment it read from j->fd and calls
 * cte__jnl_leader_end().
 */
uint64_t cte__jnl_leader_begin(cte_journal *j, uint8_t **out_buf,
                               size_t *out_len, size_t *out_cap)
{
	j->flushing = true;
	*out_buf = j->buf;
	*out_len = j->buf_len;
	*out_cap = j->buf_cap;
	j->buf = j->spare;
	j->buf_cap = j->spare_cap;
	j->buf_len = 0;
	j->spare = NULL;
	return j->next_seq - 1;
}

/* j->lock held: return the batch buffer, publish progress, wake waiters. */
void cte__jnl_leader_end(cte_journal *j, uint8_t *buf, size_t cap, int rc,
                         uint64_t end, bool synced)
{
	j->spare = buf;
	j->spare_cap = cap;
	j->flushing = false;
	if (rc) {
		if (!j->error)
			CHI_ERROR(LOG_COMP,
			          "%s: journal write failed: %s; no further "
			          "metadata changes are accepted",
			          j->dir, strerror(-rc));
		j->error = rc;
	} else {
		if (end > j->written_seq)
			j->written_seq = end;
		if (synced && end > j->durable_seq)
			j->durable_seq = end;
	}
	if (j->snapshot && !j->ckpt_wanted && j->seg_bytes >= j->ckpt_bytes) {
		j->ckpt_wanted = true;
		pthread_cond_signal(&j->ckpt_cond);
	}
	pthread_cond_broadcast(&j->cond);
}

/* The leader's I/O (no lock held); see journal_int_i.h. */
int cte__jnl_batch_write(cte_journal *j, int fd, const uint8_t *batch,
                         size_t len, bool sync, int *out_hook)
{
	int io = len ? cte__jnl_write_all(fd, batch, len) : 0;
	int hook = 0;
	if (!io && sync && j->pre_sync)
		hook = j->pre_sync(j->hook_arg);
	if (!io && sync && !hook && fdatasync(fd))
		io = -errno;
	*out_hook = hook;
	return io;
}

/*
 * Write (and with durable, sync) every record with sequence <= seq; see
 * journal_i.h.
 */
static int sync_to(cte_journal *j, uint64_t seq, bool durable, bool try_only);

int cte__journal_sync_to(cte_journal *j, uint64_t seq, bool durable)
{
	return sync_to(j, seq, durable, false);
}

/*
 * try_only (back pressure from an appender, which may hold CTE locks):
 * never wait for another leader and never sync, so an append cannot wait
 * on the hooks.
 */
static int sync_to(cte_journal *j, uint64_t seq, bool durable, bool try_only)
{
	int rc = 0;

	pthread_mutex_lock(&j->lock);
	if (durable)
		j->stats.durable_calls++;
	if (seq >= j->next_seq)
		seq = j->next_seq - 1;
	for (;;) {
		if ((durable ? j->durable_seq : j->written_seq) >= seq)
			break;
		if (j->error) {
			rc = j->error;
			break;
		}
		if (j->flushing && try_only)
			break;
		if (j->flushing) {
			if (durable)
				j->durable_waiters++;
			pthread_cond_wait(&j->cond, &j->lock);
			if (durable)
				j->durable_waiters--;
			continue;
		}
		uint8_t *batch;
		size_t len, cap;
		uint64_t end = cte__jnl_leader_begin(j, &batch, &len, &cap);
		bool do_sync = durable || (j->durable_waiters > 0 && !try_only);
		int fd = j->fd;
		if (len)
			j->stats.writes++;
		pthread_mutex_unlock(&j->lock);

		int hook = 0;
		int io =
		    cte__jnl_batch_write(j, fd, batch, len, do_sync, &hook);

		pthread_mutex_lock(&j->lock);
		if (!io)
			j->seg_bytes += len;
		if (!io && do_sync && !hook)
			j->stats.syncs++;
		cte__jnl_leader_end(j, batch, cap, io, end, do_sync && !hook);
		if (!io && do_sync && !hook && j->on_durable) {
			pthread_mutex_unlock(&j->lock);
			j->on_durable(j->hook_arg, end);
			pthread_mutex_lock(&j->lock);
		}
		if (hook && durable) {
			/* not sticky: this flusher fails, the journal goes on
			 */
			pthread_mutex_unlock(&j->lock);
			return chi_error_set(hook,
			                     "%s: journal not synced: the data "
			                     "sync before it failed: %s",
			                     j->dir, strerror(-hook));
		}
	}
	pthread_mutex_unlock(&j->lock);
	if (rc)
		chi_error_set(rc,
		              "%s: journal unusable after a write error: %s",
		              j->dir, strerror(-rc));
	return rc;
}

/* Flush every record appended so far (durable: and sync it). */
int cte__journal_flush(cte_journal *j, bool durable)
{
	return cte__journal_sync_to(j, UINT64_MAX, durable);
}

/* The periodic hook: a durable flush if anything is not yet durable. */
int cte__journal_tick(cte_journal *j)
{
	pthread_mutex_lock(&j->lock);
	bool idle = j->durable_seq + 1 >= j->next_seq;
	pthread_mutex_unlock(&j->lock);
	return idle ? 0 : cte__journal_flush(j, true);
}

/* ------------------------------------------------------------------ */
/* The flusher thread and async waiters                                 */

void cte__jnl_time_add_ms(struct timespec *t, uint32_t ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

void cte__jnl_deadline_after(struct timespec *at, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, at);
	cte__jnl_time_add_ms(at, ms);
}

bool cte__jnl_deadline_passed(const struct timespec *at)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > at->tv_sec ||
	       (now.tv_sec == at->tv_sec && now.tv_nsec >= at->tv_nsec);
}

/*
 * j->lock held (dropped and retaken around the callbacks): complete the
 * async waiters whose records are durable; with rc (the flush failed) or a
 * sticky error, fail the others.
 */
void cte__jnl_complete_waiters(cte_journal *j, int rc)
{
	cte_journal_waiter *done = NULL, **pp = &j->async_head;
	int err = rc ? rc : j->error;

	while (*pp) {
		cte_journal_waiter *w = *pp;
		if (j->durable_seq >= w->seq || err) {
			*pp = w->next;
			w->next = done;
			done = w;
		} else {
			pp = &w->next;
		}
	}
	if (!done)
		return;
	uint64_t durable = j->durable_seq;
	pthread_mutex_unlock(&j->lock);
	while (done) {
		cte_journal_waiter *w = done;
		done = w->next; /* w may be gone after done() */
		w->done(w, durable >= w->seq ? 0 : err);
	}
	pthread_mutex_lock(&j->lock);
}

/* Queue an async durability waiter; see journal_i.h. */
int cte__journal_sync_async(cte_journal *j, cte_journal_waiter *w)
{
	int rc;

	pthread_mutex_lock(&j->lock);
	if (w->seq >= j->next_seq)
		w->seq = j->next_seq - 1;
	if (j->durable_seq >= w->seq) {
		rc = 1;
	} else if (j->error) {
		rc = j->error;
	} else {
		w->next = j->async_head;
		j->async_head = w;
		j->stats.async_waits++;
		pthread_cond_signal(&j->tick_cond);
		rc = 0;
	}
	pthread_mutex_unlock(&j->lock);
	return rc;
}

void *cte__jnl_flusher_main(void *p)
{
	cte_journal *j = p;
	struct timespec next_tick;

	cte__jnl_deadline_after(&next_tick, j->flush_period_ms);
	pthread_mutex_lock(&j->lock);
	while (!j->closing) {
		if (!j->async_head) {
			if (j->flush_period_ms)
				pthread_cond_timedwait(&j->tick_cond, &j->lock,
				                       &next_tick);
			else
				pthread_cond_wait(&j->tick_cond, &j->lock);
		}
		if (j->closing)
			break;
		bool periodic =
		    j->flush_period_ms && cte__jnl_deadline_passed(&next_tick);
		if (!j->async_head && !periodic)
			continue;
		if (periodic)
			cte__jnl_deadline_after(&next_tick, j->flush_period_ms);
		pthread_mutex_unlock(&j->lock);
		int rc = cte__journal_tick(j); /* errors: sticky and logged */
		pthread_mutex_lock(&j->lock);
		cte__jnl_complete_waiters(j, rc);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Appending                                                            */

/* After an append: write the buffer ourselves when it grew too large. */
static int back_pressure(cte_journal *j, size_t buffered, uint64_t seq)
{
	if (buffered <= j->buffer_limit)
		return 0;
	return sync_to(j, seq, false, true);
}

/* Append one standalone record; see journal_i.h. */
int cte__journal_append(cte_journal *j, uint8_t type, const void *payload,
                        uint32_t len, uint64_t *out_seq)
{
	if (len > CTE_JOURNAL_PAYLOAD_MAX)
		return chi_error_set(
		    -EMSGSIZE, "journal record of %u bytes too large", len);
	pthread_mutex_lock(&j->lock);
	int rc = j->error;
	if (!rc)
		rc = buf_room(j, REC_OVERHEAD + (size_t)len);
	if (rc) {
		pthread_mutex_unlock(&j->lock);
		return rc;
	}
	uint64_t seq = j->next_seq++;
	rec_encode(j->buf + j->buf_len, KIND_RECORD, type, seq, payload, len);
	j->buf_len += REC_OVERHEAD + (size_t)len;
	j->stats.records++;
	j->stats.groups++;
	size_t buffered = j->buf_len;
	pthread_mutex_unlock(&j->lock);
	if (out_seq)
		*out_seq = seq;
	return back_pressure(j, buffered, seq);
}

void cte__journal_txn_init(cte_journal_txn *t)
{
	memset(t, 0, sizeof(*t));
}

void cte__journal_txn_destroy(cte_journal_txn *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

static void txn_clear(cte_journal_txn *t)
{
	t->len = 0;
	t->n = 0;
	t->err = 0;
}

/* Add a record to a group under construction; see journal_i.h. */
int cte__journal_txn_add(cte_journal_txn *t, uint8_t type, const void *payload,
                         uint32_t len)
{
	int rc = 0;
	if (t->err)
		return t->err;
	if (len > CTE_JOURNAL_PAYLOAD_MAX)
		rc = -EMSGSIZE;
	else if (t->n >= CTE_JOURNAL_GROUP_MAX)
		rc = -E2BIG;
	else if (t->len + CKPT_REC_HDR + (size_t)len > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->len + CKPT_REC_HDR + (size_t)len)
			cap *= 2;
		uint8_t *nb = realloc(t->buf, cap);
		if (!nb)
			rc = -ENOMEM;
		else {
			t->buf = nb;
			t->cap = cap;
		}
	}
	if (rc) {
		t->err = rc;
		return chi_error_set(rc, "journal group record rejected: %s",
		                     strerror(-rc));
	}
	t->buf[t->len] = type;
	cte__le_store32(t->buf + t->len + 1, len);
	if (len)
		memcpy(t->buf + t->len + CKPT_REC_HDR, payload, len);
	t->len += CKPT_REC_HDR + (size_t)len;
	t->n++;
	return 0;
}

/* Append a group contiguously; see journal_i.h. */
int cte__journal_txn_commit(cte_journal *j, cte_journal_txn *t,
                            uint64_t *out_seq)
{
	int rc = t->err;
	if (rc)
		goto out;
	if (t->n == 0) {
		pthread_mutex_lock(&j->lock);
		if (out_seq)
			*out_seq = j->next_seq - 1;
		pthread_mutex_unlock(&j->lock);
		goto out;
	}
	if (t->n == 1) {
		rc = cte__journal_append(j, t->buf[0], t->buf + CKPT_REC_HDR,
		                         cte__le_load32(t->buf + 1), out_seq);
		goto out;
	}
	/* Framed size: each record grows by REC_OVERHEAD - CKPT_REC_HDR. */
	size_t total = t->len + (size_t)t->n * (REC_OVERHEAD - CKPT_REC_HDR) +
	               2 * REC_OVERHEAD + BEGIN_PAYLOAD + COMMIT_PAYLOAD;
	pthread_mutex_lock(&j->lock);
	rc = j->error;
	if (!rc)
		rc = buf_room(j, total);
	if (rc) {
		pthread_mutex_unlock(&j->lock);
		goto out;
	}
	uint8_t small[COMMIT_PAYLOAD];
	uint64_t begin = j->next_seq++;
	cte__le_store32(small, t->n);
	uint8_t *p = j->buf + j->buf_len;
	rec_encode(p, KIND_BEGIN, 0, begin, small, BEGIN_PAYLOAD);
	p += REC_OVERHEAD + BEGIN_PAYLOAD;
	for (size_t off = 0; off < t->len;) {
		uint32_t len = cte__le_load32(t->buf + off + 1);
		rec_encode(p, KIND_MEMBER, t->buf[off], j->next_seq++,
		           t->buf + off + CKPT_REC_HDR, len);
		p += REC_OVERHEAD + len;
		off += CKPT_REC_HDR + len;
	}
	cte__le_store64(small + 4, begin);
	uint64_t commit = j->next_seq++;
	rec_encode(p, KIND_COMMIT, 0, commit, small, COMMIT_PAYLOAD);
	j->buf_len += total;
	j->stats.records += t->n;
	j->stats.groups++;
	size_t buffered = j->buf_len;
	pthread_mutex_unlock(&j->lock);
	if (out_seq)
		*out_seq = commit;
	rc = back_pressure(j, buffered, commit);
out:
	txn_clear(t);
	return rc;
}

void cte__journal_get_stats(cte_journal *j, cte_journal_stats *out)
{
	pthread_mutex_lock(&j->lock);
	*out = j->stats;
	out->last_seq = j->next_seq - 1;
	out->written_seq = j->written_seq;
	out->durable_seq = j->durable_seq;
	out->segment_base = j->seg_base;
	out->segment_bytes = j->seg_bytes;
	pthread_mutex_unlock(&j->lock);
}
