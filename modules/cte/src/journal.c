/*
 * The CTE metadata journal: append, group commit, checkpoint, replay.
 * Format and protocols: ../JOURNAL.md.
 *
 * DESIGN
 * Threads: any number of appenders (CTE workers, client threads) call
 * cte__journal_append / _txn_commit; plain threads may call
 * _flush/_sync_to (they block); code inside runtime tasks queues a
 * cte__journal_sync_async waiter instead.  Each journal runs one "flusher"
 * thread: it serves queued async waiters (one durable flush for all of
 * them, then their done() callbacks) and, with opts.flush_period_ms > 0,
 * does a durable flush every period.  With opts.snapshot, a "checkpointer"
 * thread runs checkpoints when the segment outgrows opts.checkpoint_bytes
 * (signalled by the flush leader) or every opts.checkpoint_period_ms.
 * Checkpoints run one at a time (ckpt_lock), in that thread or the
 * caller's.
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
 * rotation is done as leader, so a segment holds whole groups.
 *
 * Hooks: the leader calls opts.pre_sync (CTE syncs its data targets)
 * before each fdatasync and opts.on_durable after publishing durable_seq,
 * both without j->lock, so they may take CTE's locks: an append never
 * waits for a leader or a hook (its back-pressure write only happens when
 * no leader is active, and never syncs), so a thread appending under a
 * CTE lock cannot close a lock cycle.
 *
 * Wakeups: j->cond (flush finished, broadcast); j->tick_cond wakes the
 * flusher (a waiter was queued, close); j->ckpt_cond wakes the
 * checkpointer (segment too big, close).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
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

/* Checkpoint file: header, records [type u8][len u32][payload], trailer. */
#define CKPT_MAGIC     0x4B435443u /* "CTCK" */
#define CKPT_END_MAGIC 0x444E4B43u /* "CKND" */
#define CKPT_HDR       16u         /* magic, version, covered seq */
#define CKPT_TRAILER   24u         /* magic, records u64, body u64, crc */
#define CKPT_REC_HDR   5u
#define CKPT_BUF       (256u << 10)

#define SEG_NAME_LEN (sizeof(CTE_JOURNAL_SEGMENT_PREFIX) - 1 + 16)

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
/* Little-endian helpers for the framing                                */

static void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32_get(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Encode one framed record at p (REC_OVERHEAD + len bytes). */
static void rec_encode(uint8_t *p, unsigned kind, uint8_t type, uint64_t seq,
                       const void *payload, uint32_t len)
{
	le32_put(p, (REC_MAGIC << 16) | (kind << 8) | type);
	le32_put(p + 4, len);
	le64_put(p + 8, seq);
	if (len)
		memcpy(p + REC_HDR, payload, len);
	le32_put(p + REC_HDR + len, cte__crc32c(0, p, REC_HDR + len));
}

static int write_all(int fd, const void *data, size_t len)
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

static int sync_dir(int dir_fd)
{
	return fsync(dir_fd) ? -errno : 0;
}

static void seg_name(char *out, uint64_t base)
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
static int seg_list(int dir_fd, const char *dir, uint64_t **out, size_t *out_n)
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
static int seg_create(int dir_fd, const char *dir, uint64_t base, int *out_fd)
{
	char name[SEG_NAME_LEN + 1];
	uint8_t rec[REC_OVERHEAD + SEGHDR_PAYLOAD];
	uint8_t payload[SEGHDR_PAYLOAD];
	int rc;

	seg_name(name, base);
	int fd =
	    openat(dir_fd, name,
	           O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return chi_error_set(-errno, "%s/%s: cannot create segment: %s",
		                     dir, name, strerror(errno));
	le32_put(payload, CTE_JOURNAL_FORMAT_VERSION);
	le32_put(payload + 4, 0);
	rec_encode(rec, KIND_SEGHDR, 0, base, payload, SEGHDR_PAYLOAD);
	rc = write_all(fd, rec, sizeof(rec));
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (!rc)
		rc = sync_dir(dir_fd);
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

/* ------------------------------------------------------------------ */
/* Segment scanning (replay, open, fsck)                                */

typedef struct member_ref {
	const uint8_t *payload;
	uint32_t len;
	uint8_t type;
	uint64_t seq;
} member_ref;

typedef struct scan {
	/* in */
	const char *path;
	uint64_t file_base; /* from the file name */
	bool check_base;
	uint64_t expect_base; /* when check_base */
	uint64_t cover_seq;   /* deliver only records with seq > this */
	cte_journal_record_fn cb;
	void *arg;
	cte_journal_report *rep;
	/* out */
	uint64_t last_seq;   /* last committed sequence (or the base) */
	uint64_t good_end;   /* end of the last committed record */
	uint64_t bad_offset; /* where the first bad byte was found */
	uint64_t file_size;
	bool torn;
	uint64_t uncommitted;
	char reason[160];
} scan;

static void scan_torn(scan *s, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void scan_torn(scan *s, uint64_t off, const char *fmt, ...)
{
	va_list ap;
	s->torn = true;
	s->bad_offset = off;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

static int deliver(scan *s, uint8_t type, uint64_t seq, const void *payload,
                   uint32_t len)
{
	if (seq <= s->cover_seq) {
		if (s->rep)
			s->rep->records_covered++;
		return 0;
	}
	if (s->rep) {
		if (!s->rep->first_seq)
			s->rep->first_seq = seq;
		s->rep->records++;
	}
	return s->cb ? s->cb(s->arg, type, seq, payload, len) : 0;
}

/*
 * Read one segment, delivering committed records.  Returns 0 (see s->torn)
 * or an I/O error / a callback's return.
 */
static int scan_segment(int dir_fd, scan *s)
{
	int rc = 0;
	uint8_t *map = NULL;
	size_t size = 0;
	member_ref *members = NULL;
	size_t members_cap = 0;
	char name[SEG_NAME_LEN + 1];

	seg_name(name, s->file_base);
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return chi_error_set(-errno, "%s: cannot open: %s", s->path,
		                     strerror(errno));
	struct stat st;
	if (fstat(fd, &st)) {
		rc = chi_error_set(-errno, "%s: cannot stat: %s", s->path,
		                   strerror(errno));
		goto out;
	}
	size = (size_t)st.st_size;
	s->file_size = size;
	s->good_end = 0;
	s->last_seq = s->file_base;
	if (size) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			rc = chi_error_set(-errno, "%s: cannot map: %s",
			                   s->path, strerror(errno));
			goto out;
		}
	}

	/* The segment header. */
	size_t hdr_total = REC_OVERHEAD + SEGHDR_PAYLOAD;
	if (size < hdr_total) {
		scan_torn(s, 0, "short segment header (%zu bytes)", size);
		goto out;
	}
	uint32_t word = le32_get(map);
	if (word >> 16 != REC_MAGIC || ((word >> 8) & 0xff) != KIND_SEGHDR ||
	    le32_get(map + 4) != SEGHDR_PAYLOAD ||
	    le32_get(map + REC_HDR + SEGHDR_PAYLOAD) !=
	        cte__crc32c(0, map, REC_HDR + SEGHDR_PAYLOAD)) {
		scan_torn(s, 0, "bad segment header");
		goto out;
	}
	uint64_t base = le64_get(map + 8);
	uint32_t version = le32_get(map + REC_HDR);
	if (version != CTE_JOURNAL_FORMAT_VERSION) {
		rc = chi_error_set(
		    -EUCLEAN, "%s: journal format version %u, expected %u",
		    s->path, version, CTE_JOURNAL_FORMAT_VERSION);
		goto out;
	}
	if (base != s->file_base) {
		scan_torn(s, 0, "header base %" PRIu64 " differs from the name",
		          base);
		goto out;
	}
	if (s->check_base && base != s->expect_base) {
		scan_torn(s, 0,
		          "segment starts after sequence %" PRIu64
		          " but the previous one ends at %" PRIu64,
		          base, s->expect_base);
		goto out;
	}
	s->good_end = hdr_total;

	uint64_t prev = base;
	size_t off = hdr_total;
	bool in_group = false;
	uint32_t group_count = 0, group_n = 0;
	uint64_t group_begin = 0;
	while (off < size) {
		size_t avail = size - off;
		const uint8_t *p = map + off;
		if (avail < REC_HDR) {
			scan_torn(s, off, "short record header (%zu bytes)",
			          avail);
			break;
		}
		word = le32_get(p);
		uint32_t len = le32_get(p + 4);
		uint64_t seq = le64_get(p + 8);
		unsigned kind = (word >> 8) & 0xff;
		uint8_t type = (uint8_t)(word & 0xff);
		if (word >> 16 != REC_MAGIC) {
			scan_torn(s, off, "bad magic 0x%08x", word);
			break;
		}
		if (kind < KIND_RECORD || kind > KIND_COMMIT) {
			scan_torn(s, off, "bad record kind %u", kind);
			break;
		}
		if (len > CTE_JOURNAL_PAYLOAD_MAX) {
			scan_torn(s, off, "record length %u too large", len);
			break;
		}
		size_t rec_len = REC_OVERHEAD + (size_t)len;
		if (avail < rec_len) {
			scan_torn(s, off, "short record (%zu of %zu bytes)",
			          avail, rec_len);
			break;
		}
		if (le32_get(p + REC_HDR + len) !=
		    cte__crc32c(0, p, REC_HDR + len)) {
			scan_torn(s, off, "checksum mismatch");
			break;
		}
		if (seq != prev + 1) {
			scan_torn(s, off,
			          "sequence %" PRIu64 " follows %" PRIu64, seq,
			          prev);
			break;
		}
		const uint8_t *payload = p + REC_HDR;
		bool bad = false;
		switch (kind) {
		case KIND_RECORD:
			if (in_group) {
				scan_torn(s, off, "record inside a group");
				bad = true;
				break;
			}
			rc = deliver(s, type, seq, payload, len);
			if (rc)
				goto out;
			if (s->rep)
				s->rep->groups++;
			s->good_end = off + rec_len;
			s->last_seq = seq;
			break;
		case KIND_BEGIN:
			if (in_group || len != BEGIN_PAYLOAD) {
				scan_torn(s, off, "misplaced group begin");
				bad = true;
				break;
			}
			group_count = le32_get(payload);
			if (group_count < 2 ||
			    group_count > CTE_JOURNAL_GROUP_MAX) {
				scan_torn(s, off, "bad group size %u",
				          group_count);
				bad = true;
				break;
			}
			in_group = true;
			group_n = 0;
			group_begin = seq;
			break;
		case KIND_MEMBER:
			if (!in_group || group_n == group_count) {
				scan_torn(s, off,
				          "group member outside a group");
				bad = true;
				break;
			}
			if (group_n == members_cap) {
				size_t nc = members_cap ? members_cap * 2 : 16;
				member_ref *nm =
				    realloc(members, nc * sizeof(*nm));
				if (!nm) {
					rc = -ENOMEM;
					goto out;
				}
				members = nm;
				members_cap = nc;
			}
			members[group_n++] =
			    (member_ref){payload, len, type, seq};
			break;
		case KIND_COMMIT:
			if (!in_group || len != COMMIT_PAYLOAD ||
			    le32_get(payload) != group_count ||
			    group_n != group_count ||
			    le64_get(payload + 4) != group_begin) {
				scan_torn(s, off,
				          "commit does not match its group");
				bad = true;
				break;
			}
			for (uint32_t i = 0; i < group_n; i++) {
				rc =
				    deliver(s, members[i].type, members[i].seq,
				            members[i].payload, members[i].len);
				if (rc)
					goto out;
			}
			if (s->rep) {
				s->rep->groups++;
				s->rep->multi_groups++;
			}
			in_group = false;
			s->good_end = off + rec_len;
			s->last_seq = seq;
			break;
		}
		if (bad)
			break;
		prev = seq;
		off += rec_len;
	}
	if (in_group) {
		s->uncommitted = group_n;
		if (!s->torn)
			scan_torn(s, off, "group of %u records without commit",
			          group_count);
	}
out:
	free(members);
	if (map)
		munmap(map, size);
	close(fd);
	return rc;
}

/* Cut a torn segment to its good end (a segment without a valid header is
 * removed) and sync. */
static int seg_repair(int dir_fd, const scan *s)
{
	char name[SEG_NAME_LEN + 1];
	int rc = 0;

	seg_name(name, s->file_base);
	if (s->good_end == 0) {
		if (unlinkat(dir_fd, name, 0))
			rc = -errno;
	} else {
		int fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return chi_error_set(-errno, "%s: cannot open: %s",
			                     s->path, strerror(errno));
		if (ftruncate(fd, (off_t)s->good_end) || fdatasync(fd))
			rc = -errno;
		close(fd);
	}
	if (!rc)
		rc = sync_dir(dir_fd);
	if (rc)
		chi_error_set(rc, "%s: cannot cut torn tail: %s", s->path,
		              strerror(-rc));
	return rc;
}

static void scan_warn(const scan *s, bool repair)
{
	if (s->uncommitted && !strncmp(s->reason, "group of", 8))
		CHI_WARN(LOG_COMP,
		         "%s: offset %" PRIu64 ": %s; %" PRIu64
		         " uncommitted records (%" PRIu64
		         " bytes from offset %" PRIu64 ") not replayed%s",
		         s->path, s->bad_offset, s->reason, s->uncommitted,
		         s->file_size - s->good_end, s->good_end,
		         repair ? ", cut" : "");
	else
		CHI_WARN(LOG_COMP,
		         "%s: torn tail at offset %" PRIu64
		         " (%s): the %" PRIu64 " bytes from offset %" PRIu64
		         " are discarded%s",
		         s->path, s->bad_offset, s->reason,
		         s->file_size - s->good_end, s->good_end,
		         repair ? " and cut" : "");
}

/* ------------------------------------------------------------------ */
/* Checkpoint files                                                     */

struct cte_journal_ckpt {
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
	w->err = write_all(w->fd, w->buf, w->len);
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
		w->err = write_all(w->fd, data, len);
		return;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
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
	hdr[0] = type;
	le32_put(hdr + 1, len);
	ckpt_raw(w, hdr, sizeof(hdr));
	ckpt_raw(w, payload, len);
	if (!w->err) {
		w->records++;
		w->body_bytes += CKPT_REC_HDR + (uint64_t)len;
	}
	return w->err;
}

/* Write the checkpoint to tmp, sync, rename over the checkpoint, sync dir. */
static int ckpt_write(int dir_fd, const char *dir, uint64_t covered,
                      cte_journal_snapshot_fn fn, void *arg)
{
	cte_journal_ckpt w = {.fd = -1};
	uint8_t hdr[CKPT_HDR], trailer[CKPT_TRAILER];
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
	le32_put(hdr, CKPT_MAGIC);
	le32_put(hdr + 4, CTE_JOURNAL_FORMAT_VERSION);
	le64_put(hdr + 8, covered);
	ckpt_raw(&w, hdr, sizeof(hdr));
	rc = fn(&w, covered, arg);
	if (rc)
		goto out;
	le32_put(trailer, CKPT_END_MAGIC);
	le64_put(trailer + 4, w.records);
	le64_put(trailer + 12, w.body_bytes);
	ckpt_raw(&w, trailer, CKPT_TRAILER - 4);
	ckpt_flush_buf(&w);
	rc = w.err;
	if (rc)
		goto io_err;
	le32_put(trailer + 20, w.crc);
	rc = write_all(w.fd, trailer + 20, 4);
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
	rc = sync_dir(dir_fd);
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
static int ckpt_load(int dir_fd, const char *dir, cte_journal_record_fn cb,
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
	if (le32_get(map) != CKPT_MAGIC || le32_get(tr) != CKPT_END_MAGIC) {
		why = "bad magic";
		goto out;
	}
	if (le32_get(map + 4) != CTE_JOURNAL_FORMAT_VERSION) {
		why = "unknown format version";
		goto out;
	}
	uint64_t records = le64_get(tr + 4), body = le64_get(tr + 12);
	if (body != size - CKPT_HDR - CKPT_TRAILER) {
		why = "length does not match its trailer";
		goto out;
	}
	if (le32_get(tr + 20) != cte__crc32c(0, map, size - 4)) {
		why = "checksum mismatch";
		goto out;
	}
	uint64_t covered = le64_get(map + 8);
	/* Parse everything before delivering anything. */
	for (int pass = 0; pass < 2; pass++) {
		size_t off = CKPT_HDR, end = size - CKPT_TRAILER;
		uint64_t n = 0;
		while (off < end) {
			if (end - off < CKPT_REC_HDR) {
				why = "truncated record";
				goto out;
			}
			uint32_t len = le32_get(map + off + 1);
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

/* ------------------------------------------------------------------ */
/* Replay                                                               */

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return chi_error_set(-errno,
		                     "%s: cannot open journal directory: %s",
		                     dir, strerror(errno));
	return fd;
}

/* flock the directory's lock file: the fd, or -EBUSY / -errno. */
static int take_lock(int dir_fd, const char *dir)
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

static void rename_discarded(int dir_fd, const char *dir, uint64_t base)
{
	char name[SEG_NAME_LEN + 1], to[SEG_NAME_LEN + 16];
	seg_name(name, base);
	snprintf(to, sizeof(to), "%s.discarded", name);
	if (renameat(dir_fd, name, dir_fd, to))
		CHI_WARN(LOG_COMP, "%s/%s: cannot rename aside: %s", dir, name,
		         strerror(errno));
	else
		CHI_WARN(LOG_COMP,
		         "%s/%s: follows a torn segment; renamed to %s", dir,
		         name, to);
}

/*
 * Replay a journal directory: the checkpoint, then every committed record
 * after it.  See journal_i.h for the contract.
 */
int cte__journal_replay(const char *dir, uint32_t flags,
                        cte_journal_record_fn snapshot_cb,
                        cte_journal_record_fn record_cb, void *arg,
                        cte_journal_report *out_report)
{
	cte_journal_report local;
	cte_journal_report *rep = out_report ? out_report : &local;
	uint64_t *segs = NULL;
	size_t n_segs = 0;
	uint64_t covered = 0;
	bool repair = flags & CTE_JOURNAL_REPAIR;
	int rc;

	memset(rep, 0, sizeof(*rep));
	int dir_fd = open_dir(dir);
	if (dir_fd < 0)
		return dir_fd;
	int lock_fd = -1;
	if (repair) {
		rc = lock_fd = take_lock(dir_fd, dir);
		if (rc < 0)
			goto out;
		rc = 0;
	} else {
		/* Probe only: fsck may read a store that is running. */
		int fd = openat(dir_fd, CTE_JOURNAL_LOCK, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (flock(fd, LOCK_SH | LOCK_NB) &&
			    errno == EWOULDBLOCK)
				rep->in_use = true;
			close(fd);
		}
	}
	rc = ckpt_load(dir_fd, dir, snapshot_cb, arg, rep, &covered);
	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		goto out;
	rep->last_seq = covered;
	rc = seg_list(dir_fd, dir, &segs, &n_segs);
	if (rc)
		goto out;

	/* Segments whose successor starts at or before the checkpoint hold
	 * only covered records. */
	size_t first = 0;
	while (first + 1 < n_segs && segs[first + 1] <= covered)
		first++;
	rep->segments_skipped = (uint32_t)first;
	if (n_segs && segs[first] > covered) {
		rc = chi_error_set(-EUCLEAN,
		                   "%s: records %" PRIu64 "..%" PRIu64
		                   " are missing: the checkpoint covers up to "
		                   "%" PRIu64 " and the oldest segment starts "
		                   "after %" PRIu64,
		                   dir, covered + 1, segs[first], covered,
		                   segs[first]);
		goto out;
	}
	uint64_t prev_last = 0;
	for (size_t i = first; i < n_segs; i++) {
		char path[CTE_JOURNAL_PATH_MAX], name[SEG_NAME_LEN + 1];
		seg_name(name, segs[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		scan s = {
		    .path = path,
		    .file_base = segs[i],
		    .check_base = i > first,
		    .expect_base = prev_last,
		    .cover_seq = covered,
		    .cb = record_cb,
		    .arg = arg,
		    .rep = rep,
		};
		rc = scan_segment(dir_fd, &s);
		rep->segments++;
		if (rc)
			goto out;
		if (s.last_seq > rep->last_seq)
			rep->last_seq = s.last_seq;
		prev_last = s.last_seq;
		if (!s.torn)
			continue;
		scan_warn(&s, repair);
		rep->torn = true;
		snprintf(rep->torn_file, sizeof(rep->torn_file), "%s", path);
		rep->torn_offset = s.good_end;
		rep->torn_bad_offset = s.bad_offset;
		snprintf(rep->torn_reason, sizeof(rep->torn_reason), "%s",
		         s.reason);
		rep->discarded_bytes = s.file_size - s.good_end;
		rep->uncommitted_records = s.uncommitted;
		rep->segments_discarded = (uint32_t)(n_segs - i - 1);
		if (repair) {
			rc = seg_repair(dir_fd, &s);
			if (rc)
				goto out;
			for (size_t k = i + 1; k < n_segs; k++)
				rename_discarded(dir_fd, dir, segs[k]);
			rc = sync_dir(dir_fd);
			if (rc)
				goto out;
			rep->repaired = true;
		}
		break;
	}
	if (repair)
		unlinkat(dir_fd, CTE_JOURNAL_CHECKPOINT_TMP, 0);
out:
	free(segs);
	if (lock_fd >= 0)
		close(lock_fd);
	close(dir_fd);
	return rc;
}

/*
 * Print a replay/fsck report to f (a FILE *), one "key: value" per line.
 */
void cte__journal_report_print(const cte_journal_report *r, void *f)
{
	FILE *o = f;
	if (r->in_use)
		fprintf(o, "warning: the journal is in use by a running "
		           "process; the files may change while read\n");
	if (!r->checkpoint_present)
		fprintf(o, "checkpoint: none\n");
	else if (!r->checkpoint_valid)
		fprintf(o, "checkpoint: CORRUPT (%" PRIu64 " bytes)\n",
		        r->checkpoint_bytes);
	else
		fprintf(o,
		        "checkpoint: valid, covers sequence %" PRIu64
		        ", %" PRIu64 " records, %" PRIu64 " bytes\n",
		        r->checkpoint_seq, r->checkpoint_records,
		        r->checkpoint_bytes);
	fprintf(o, "segments: %u read, %u covered by the checkpoint\n",
	        r->segments, r->segments_skipped);
	fprintf(o,
	        "records: %" PRIu64 " after the checkpoint, %" PRIu64
	        " covered\n",
	        r->records, r->records_covered);
	fprintf(o,
	        "groups: %" PRIu64 " committed (%" PRIu64
	        " with several records)\n",
	        r->groups, r->multi_groups);
	fprintf(o, "sequence: first %" PRIu64 ", last %" PRIu64 "\n",
	        r->first_seq, r->last_seq);
	if (!r->torn) {
		fprintf(o, "tail: clean\n");
		return;
	}
	fprintf(o, "tail: TORN in %s at offset %" PRIu64 ": %s\n", r->torn_file,
	        r->torn_bad_offset, r->torn_reason);
	fprintf(o, "valid data ends at offset %" PRIu64 "\n", r->torn_offset);
	fprintf(o,
	        "discarded: %" PRIu64 " bytes, %" PRIu64
	        " uncommitted records, %u later segments%s\n",
	        r->discarded_bytes, r->uncommitted_records,
	        r->segments_discarded, r->repaired ? " (repaired)" : "");
}

/* ------------------------------------------------------------------ */
/* Appending and group commit                                           */

static void *flusher_main(void *p);
static void *ckpter_main(void *p);
static void stop_threads(cte_journal *j);

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
	rc = j->dir_fd = open_dir(dir);
	if (rc < 0)
		goto fail;
	rc = j->lock_fd = take_lock(j->dir_fd, dir);
	if (rc < 0)
		goto fail;
	unlinkat(j->dir_fd, CTE_JOURNAL_CHECKPOINT_TMP, 0);

	/* The checkpoint's sequence (verified by replay, not here). */
	int cfd =
	    openat(j->dir_fd, CTE_JOURNAL_CHECKPOINT, O_RDONLY | O_CLOEXEC);
	if (cfd >= 0) {
		uint8_t hdr[CKPT_HDR];
		ssize_t n = pread(cfd, hdr, sizeof(hdr), 0);
		close(cfd);
		if (n != (ssize_t)sizeof(hdr) || le32_get(hdr) != CKPT_MAGIC) {
			rc = chi_error_set(-EUCLEAN,
			                   "%s/%s: corrupt checkpoint header",
			                   dir, CTE_JOURNAL_CHECKPOINT);
			goto fail;
		}
		covered = le64_get(hdr + 8);
	}

	rc = seg_list(j->dir_fd, dir, &segs, &n_segs);
	if (rc)
		goto fail;
	uint64_t last_seq = covered;
	bool need_new = true;
	if (n_segs) {
		char path[CTE_JOURNAL_PATH_MAX], name[SEG_NAME_LEN + 1];
		uint64_t base = segs[n_segs - 1];
		seg_name(name, base);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		scan s = {
		    .path = path, .file_base = base, .cover_seq = UINT64_MAX};
		rc = scan_segment(j->dir_fd, &s);
		if (rc)
			goto fail;
		if (s.torn) {
			scan_warn(&s, true);
			rc = seg_repair(j->dir_fd, &s);
			if (rc)
				goto fail;
		}
		if (s.good_end && s.last_seq >= covered) {
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
			j->seg_bytes = s.good_end;
			last_seq = s.last_seq;
			need_new = false;
		} else if (!s.good_end) {
			/* The header itself was torn: start the same base. */
			last_seq = base > covered ? base : covered;
		}
	}
	if (need_new) {
		rc = seg_create(j->dir_fd, dir, last_seq, &j->fd);
		if (rc)
			goto fail;
		j->seg_base = last_seq;
		j->seg_bytes = REC_OVERHEAD + SEGHDR_PAYLOAD;
	}
	j->next_seq = last_seq + 1;
	j->written_seq = j->durable_seq = last_seq;
	j->stats.last_seq = last_seq;
	rc = -pthread_create(&j->flusher, NULL, flusher_main, j);
	if (rc)
		goto fail;
	j->flusher_started = true;
	if (j->snapshot) {
		rc = -pthread_create(&j->ckpter, NULL, ckpter_main, j);
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
	return rc;
}

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
 * does the I/O on *out_fd and calls leader_end().
 */
static uint64_t leader_begin(cte_journal *j, uint8_t **out_buf, size_t *out_len,
                             size_t *out_cap)
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
static void leader_end(cte_journal *j, uint8_t *buf, size_t cap, int rc,
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
		uint64_t end = leader_begin(j, &batch, &len, &cap);
		bool do_sync = durable || (j->durable_waiters > 0 && !try_only);
		int fd = j->fd;
		if (len)
			j->stats.writes++;
		pthread_mutex_unlock(&j->lock);

		int io = len ? write_all(fd, batch, len) : 0;
		int hook = 0;
		if (!io && do_sync && j->pre_sync)
			hook = j->pre_sync(j->hook_arg);
		if (!io && do_sync && !hook && fdatasync(fd))
			io = -errno;

		pthread_mutex_lock(&j->lock);
		if (!io)
			j->seg_bytes += len;
		if (!io && do_sync && !hook)
			j->stats.syncs++;
		leader_end(j, batch, cap, io, end, do_sync && !hook);
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

static void deadline_after(struct timespec *at, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, at);
	at->tv_sec += ms / 1000;
	at->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (at->tv_nsec >= 1000000000L) {
		at->tv_sec++;
		at->tv_nsec -= 1000000000L;
	}
}

static bool deadline_passed(const struct timespec *at)
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
static void complete_waiters(cte_journal *j, int rc)
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

static void *flusher_main(void *p)
{
	cte_journal *j = p;
	struct timespec next_tick;

	deadline_after(&next_tick, j->flush_period_ms);
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
		    j->flush_period_ms && deadline_passed(&next_tick);
		if (!j->async_head && !periodic)
			continue;
		if (periodic)
			deadline_after(&next_tick, j->flush_period_ms);
		pthread_mutex_unlock(&j->lock);
		int rc = cte__journal_tick(j); /* errors: sticky and logged */
		pthread_mutex_lock(&j->lock);
		complete_waiters(j, rc);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static void *ckpter_main(void *p)
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
		deadline_after(&at, wait_ms);
		if (!j->ckpt_wanted)
			pthread_cond_timedwait(&j->ckpt_cond, &j->lock, &at);
		if (j->closing)
			break;
		struct timespec due = last;
		due.tv_sec += j->ckpt_period_ms / 1000;
		due.tv_nsec += (long)(j->ckpt_period_ms % 1000) * 1000000L;
		if (due.tv_nsec >= 1000000000L) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000L;
		}
		bool run = j->ckpt_wanted || j->seg_bytes >= j->ckpt_bytes ||
		           (j->ckpt_period_ms && deadline_passed(&due));
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

/* Flush durably, stop the threads, complete waiters, free; see
 * journal_i.h. */
int cte__journal_close(cte_journal *j)
{
	if (!j)
		return 0;
	stop_threads(j);
	int rc = cte__journal_flush(j, true);
	pthread_mutex_lock(&j->lock);
	complete_waiters(j, rc ? rc : -ESHUTDOWN);
	pthread_mutex_unlock(&j->lock);
	close(j->fd);
	close(j->lock_fd);
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
	return rc;
}

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
	le32_put(t->buf + t->len + 1, len);
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
		                         le32_get(t->buf + 1), out_seq);
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
	le32_put(small, t->n);
	uint8_t *p = j->buf + j->buf_len;
	rec_encode(p, KIND_BEGIN, 0, begin, small, BEGIN_PAYLOAD);
	p += REC_OVERHEAD + BEGIN_PAYLOAD;
	for (size_t off = 0; off < t->len;) {
		uint32_t len = le32_get(t->buf + off + 1);
		rec_encode(p, KIND_MEMBER, t->buf[off], j->next_seq++,
		           t->buf + off + CKPT_REC_HDR, len);
		p += REC_OVERHEAD + len;
		off += CKPT_REC_HDR + len;
	}
	le64_put(small + 4, begin);
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
	uint64_t end = leader_begin(j, &batch, &len, &cap);
	int old_fd = j->fd;
	uint64_t old_base = j->seg_base;
	pthread_mutex_unlock(&j->lock);

	int io = len ? write_all(old_fd, batch, len) : 0;
	int hook = 0;
	if (!io && j->pre_sync)
		hook = j->pre_sync(j->hook_arg);
	if (!io && !hook && fdatasync(old_fd))
		io = -errno;
	int new_fd = -1, rc = io ? io : hook;
	if (!rc && end != old_base)
		rc = seg_create(j->dir_fd, j->dir, end, &new_fd);

	pthread_mutex_lock(&j->lock);
	if (!io) {
		j->seg_bytes += len;
		j->stats.writes += len ? 1 : 0;
		j->stats.syncs += hook ? 0 : 1;
	}
	if (new_fd >= 0) {
		j->fd = new_fd;
		j->seg_base = end;
		j->seg_bytes = REC_OVERHEAD + SEGHDR_PAYLOAD;
	}
	leader_end(j, batch, cap, io, end, !hook);
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
	if (seg_list(j->dir_fd, j->dir, &segs, &n))
		return;
	for (size_t i = 0; i < n && segs[i] < keep; i++) {
		char name[SEG_NAME_LEN + 1];
		seg_name(name, segs[i]);
		if (unlinkat(j->dir_fd, name, 0))
			CHI_WARN(LOG_COMP, "%s/%s: cannot remove: %s", j->dir,
			         name, strerror(errno));
	}
	free(segs);
	sync_dir(j->dir_fd);
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
		rc =
		    ckpt_write(j->dir_fd, j->dir, covered, write_snapshot, arg);
	if (!rc) {
		drop_old_segments(j, covered);
		pthread_mutex_lock(&j->lock);
		j->stats.checkpoints++;
		pthread_mutex_unlock(&j->lock);
	}
	pthread_mutex_unlock(&j->ckpt_lock);
	return rc;
}
