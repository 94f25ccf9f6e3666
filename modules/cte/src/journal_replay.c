/*
 * The CTE metadata journal, reading the log: replay and repair at startup
 * (cte__journal_replay with CTE_JOURNAL_REPAIR), the repair of the newest
 * segment when the journal is opened (cte__jnl_repair_tail), and the
 * read-only scan cte-fsck runs (cte__journal_replay without flags, and
 * cte__journal_report_print).  The checkpoint file is verified and read by
 * journal_ckpt.c; the segment format is in ../JOURNAL.md.
 *
 * DESIGN
 * Threads: none; everything here runs in the caller's thread, before the
 * journal is opened for appending (replay) or inside cte__journal_open.
 *
 * Locks: the directory's cte.lock (flock).  A repairing replay holds it
 * exclusively for its whole run (-EBUSY if a running process has the
 * journal open), so it never cuts a file another process is appending to;
 * open holds it already when it repairs the newest segment.  A read-only
 * replay (fsck) only probes it with a shared, non-blocking flock and
 * reports a running user in report->in_use: the files may change while it
 * reads them, and it changes nothing.
 *
 * Ordering: segments are read oldest first; records are delivered in
 * sequence order; a group's members only once its commit record was read,
 * so a callback never sees part of a group.  A repair is durable when
 * replay returns: the cut segment is fdatasync'ed and the directory
 * fsync'ed (after the later segments were renamed aside, for
 * CTE_JOURNAL_DISCARD).
 *
 * Torn or corrupt: only the last segment (the highest base) can end in a
 * torn tail, because rotation fdatasyncs a segment before it creates the
 * next one.  A bad record in an earlier segment is corruption: startup's
 * repair refuses it (-EUCLEAN, nothing changed, seg_corrupt) and only
 * CTE_JOURNAL_DISCARD (cte-fsck -d) cuts it.  A rotation interrupted by a
 * crash leaves a last segment that is empty or holds (part of) a header;
 * being last, it is repaired like any torn tail.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_int_i.h"

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

	cte__jnl_seg_name(name, s->file_base);
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
	size_t hdr_total = SEGHDR_BYTES;
	if (size < hdr_total) {
		scan_torn(s, 0, "short segment header (%zu bytes)", size);
		goto out;
	}
	uint32_t word = cte__le_load32(map);
	if (word >> 16 != REC_MAGIC || ((word >> 8) & 0xff) != KIND_SEGHDR ||
	    cte__le_load32(map + 4) != SEGHDR_PAYLOAD ||
	    cte__le_load32(map + REC_HDR + SEGHDR_PAYLOAD) !=
	        cte__crc32c(0, map, REC_HDR + SEGHDR_PAYLOAD)) {
		scan_torn(s, 0, "bad segment header");
		goto out;
	}
	uint64_t base = cte__le_load64(map + 8);
	uint32_t version = cte__le_load32(map + REC_HDR);
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
		word = cte__le_load32(p);
		uint32_t len = cte__le_load32(p + 4);
		uint64_t seq = cte__le_load64(p + 8);
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
		if (cte__le_load32(p + REC_HDR + len) !=
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
			group_count = cte__le_load32(payload);
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
			    cte__le_load32(payload) != group_count ||
			    group_n != group_count ||
			    cte__le_load64(payload + 4) != group_begin) {
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

	cte__jnl_seg_name(name, s->file_base);
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
		rc = cte__jnl_sync_dir(dir_fd);
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

/* Open's repair of the newest segment; see journal_int_i.h. */
int cte__jnl_repair_tail(int dir_fd, const char *dir, uint64_t base,
                         uint64_t *out_good_end, uint64_t *out_last_seq)
{
	char path[CTE_JOURNAL_PATH_MAX], name[SEG_NAME_LEN + 1];
	int rc;

	cte__jnl_seg_name(name, base);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	scan s = {.path = path, .file_base = base, .cover_seq = UINT64_MAX};
	rc = scan_segment(dir_fd, &s);
	if (rc)
		return rc;
	if (s.torn) {
		scan_warn(&s, true);
		rc = seg_repair(dir_fd, &s);
		if (rc)
			return rc;
	}
	*out_good_end = s.good_end;
	*out_last_seq = s.last_seq;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */

static void rename_discarded(int dir_fd, const char *dir, uint64_t base)
{
	char name[SEG_NAME_LEN + 1], to[SEG_NAME_LEN + 16];
	cte__jnl_seg_name(name, base);
	snprintf(to, sizeof(to), "%s.discarded", name);
	if (renameat(dir_fd, name, dir_fd, to))
		CHI_WARN(LOG_COMP, "%s/%s: cannot rename aside: %s", dir, name,
		         strerror(errno));
	else
		CHI_WARN(LOG_COMP,
		         "%s/%s: follows a corrupt segment; renamed to %s", dir,
		         name, to);
}

/*
 * A bad record in a segment that has a successor.  Rotation fdatasyncs a
 * segment before it creates the next one, so every byte of such a segment
 * was durable: the damage is corruption, not a crash's torn tail.  Only
 * the last segment (whatever it holds: nothing, part of its header, only
 * its header, records) can have a torn tail.  Startup refuses (-EUCLEAN,
 * nothing changed); with CTE_JOURNAL_DISCARD (cte-fsck -d) the caller cuts
 * as for a tail and renames the later segments aside.
 */
static int seg_corrupt(const scan *s, const char *dir, uint32_t later,
                       uint32_t flags)
{
	if ((flags & CTE_JOURNAL_REPAIR) && !(flags & CTE_JOURNAL_DISCARD))
		return chi_error_set(
		    -EUCLEAN,
		    "%s: offset %" PRIu64 ": %s in a journal segment that was "
		    "already synced (followed by %u segment%s): corruption, "
		    "not a torn tail; nothing was changed.  Run 'cte-fsck %s' "
		    "to see it; 'cte-fsck -d %s' cuts the journal there, "
		    "dropping the %" PRIu64 " bytes from offset %" PRIu64
		    " and the later segments",
		    s->path, s->bad_offset, s->reason, later,
		    later == 1 ? "" : "s", dir, dir, s->file_size - s->good_end,
		    s->good_end);
	CHI_WARN(LOG_COMP,
	         "%s: offset %" PRIu64 ": %s in a segment that was already "
	         "synced: corrupt; the %" PRIu64 " bytes from offset %" PRIu64
	         " and the %u later segment%s %s",
	         s->path, s->bad_offset, s->reason, s->file_size - s->good_end,
	         s->good_end, later, later == 1 ? "" : "s",
	         flags & CTE_JOURNAL_REPAIR
	             ? "are cut and renamed aside"
	             : "are not replayed (cte-fsck -d cuts them)");
	return 0;
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
	int dir_fd = cte__jnl_open_dir(dir);
	if (dir_fd < 0)
		return dir_fd;
	int lock_fd = -1;
	if (repair) {
		rc = lock_fd = cte__jnl_take_lock(dir_fd, dir);
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
	rc = cte__jnl_ckpt_load(dir_fd, dir, snapshot_cb, arg, rep, &covered);
	if (rc == -ENOENT)
		rc = 0;
	if (rc)
		goto out;
	rep->last_seq = covered;
	rc = cte__jnl_seg_list(dir_fd, dir, &segs, &n_segs);
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
		cte__jnl_seg_name(name, segs[i]);
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
		rep->torn = true;
		rep->corrupt = i + 1 < n_segs;
		snprintf(rep->torn_file, sizeof(rep->torn_file), "%s", path);
		rep->torn_offset = s.good_end;
		rep->torn_bad_offset = s.bad_offset;
		snprintf(rep->torn_reason, sizeof(rep->torn_reason), "%s",
		         s.reason);
		rep->discarded_bytes = s.file_size - s.good_end;
		rep->uncommitted_records = s.uncommitted;
		rep->segments_discarded = (uint32_t)(n_segs - i - 1);
		if (rep->corrupt)
			rc = seg_corrupt(&s, dir, rep->segments_discarded,
			                 flags);
		else
			scan_warn(&s, repair);
		if (rc)
			goto out;
		if (repair) {
			rc = seg_repair(dir_fd, &s);
			if (rc)
				goto out;
			for (size_t k = i + 1; k < n_segs; k++)
				rename_discarded(dir_fd, dir, segs[k]);
			rc = cte__jnl_sync_dir(dir_fd);
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
	if (r->corrupt)
		fprintf(o,
		        "journal: CORRUPT in %s at offset %" PRIu64
		        ": %s, in a segment that was already synced (not a "
		        "torn tail)\n",
		        r->torn_file, r->torn_bad_offset, r->torn_reason);
	else
		fprintf(o, "tail: TORN in %s at offset %" PRIu64 ": %s\n",
		        r->torn_file, r->torn_bad_offset, r->torn_reason);
	fprintf(o, "valid data ends at offset %" PRIu64 "\n", r->torn_offset);
	fprintf(o,
	        "discarded: %" PRIu64 " bytes, %" PRIu64
	        " uncommitted records, %u later segments%s\n",
	        r->discarded_bytes, r->uncommitted_records,
	        r->segments_discarded,
	        r->repaired  ? " (repaired)"
	        : r->corrupt ? " (not replayed; the daemon refuses to start; "
	                       "cte-fsck -d cuts them)"
	                     : "");
}
