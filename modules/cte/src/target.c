/*
 * Storage targets: one bdev pool each, registered from the config's
 * storage: list or by RegisterTarget, the allocator front end that places
 * new blocks on them, freeing blocks, and each file target's identity and
 * capacity checked against what the store remembers at start.
 *
 * DESIGN
 * Locks: core->target_lock guards the table; it is never held across a
 * bdev call (those wait).  Slots are never moved (extents name targets by
 * slot index); an unregistered slot is reused only after it held no
 * blocks.  used_bytes is atomic, changed without the lock.
 * core->free_lock guards pending_free: blocks no longer mapped whose
 * unmapping journal record is not durable yet.  They are freed (a bdev
 * call, outside the lock) by cte__target_reclaim() once durable_seq
 * passes their sequence: from a later allocation, a sync, or the
 * journal's close.  An allocation that finds no space while frees are
 * pending makes the journal durable (cte__meta_sync, the hook durable.c
 * installs), takes them back and tries once more.  No thread of its own.
 * Lock order: ns_lock, then target_lock (targets images); free_lock is
 * taken with no other CTE mutex held.
 *
 * Scores: a manual score is kept as given.  A measured score comes from the
 * best bandwidth seen on the target: a short probe at registration, then
 * the bdev's own measurements (StatTargets, and periodically every
 * stat_targets_period_ms on the allocation path).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/error.h"
#include "chimaera/log.h"
#include "codec_i.h"
#include "core_i.h"
#include "target_i.h"

#define TARGET_FILE_NAME "cte-target.bdev"
#define PROBE_BYTES      ((uint64_t)1 << 20)
#define PROBE_ROUNDS     4
#define ID_MAGIC         "CTETGTID"
#define ID_BLOCK         4096 /* the identity block, just past the capacity */
#define ID_BYTES         40   /* magic, u32 version, id, u64 capacity, crc */

void cte__target_file(const char *path, char *out, size_t size)
{
	struct stat sb;

	/* A file target named by an existing directory gets a file in it. */
	if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
		snprintf(out, size, "%s/%s", path, TARGET_FILE_NAME);
	else
		snprintf(out, size, "%s", path);
}

/* ------------------------------------------------------------------ */
/* identity                                                             */

/*
 * A file target's identity: a random id in a block of its file just past
 * the capacity, [magic 8][u32 version 1][id 16][u64 capacity][u32 crc32c of
 * the 36 bytes before], and in the store's TARGETS image.  Content, not
 * inode numbers, so a copy of the whole store directory is the same store;
 * another file (a different store's, or a new one) is not.
 */
static bool id_parse(const uint8_t *p, uint8_t *id)
{
	if (memcmp(p, ID_MAGIC, 8) || cte__le_load32(p + 8) != 1 ||
	    cte__le_load32(p + 36) != cte__crc32c(0, p, 36))
		return false;
	memcpy(id, p + 12, CTE_TARGET_ID_BYTES);
	return true;
}

/* The identity at byte `at` of the file (at < 0: its last block). */
static bool id_read(const char *file, int64_t at, uint8_t *id)
{
	uint8_t buf[ID_BYTES];
	struct stat sb;
	bool ok = false;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (at < 0 && !fstat(fd, &sb) && sb.st_size >= ID_BLOCK)
		at = sb.st_size - ID_BLOCK;
	if (at >= 0 && pread(fd, buf, sizeof(buf), at) == (ssize_t)sizeof(buf))
		ok = id_parse(buf, id);
	close(fd);
	return ok;
}

/* Write t's identity just past its capacity, durably. */
static int id_write(const struct cte_target *t)
{
	uint8_t buf[ID_BLOCK] = {0};
	char file[4200];
	int fd, rc = 0;

	cte__target_file(t->name, file, sizeof(file));
	memcpy(buf, ID_MAGIC, 8);
	cte__le_store32(buf + 8, 1);
	memcpy(buf + 12, t->id, CTE_TARGET_ID_BYTES);
	cte__le_store64(buf + 28, t->capacity);
	cte__le_store32(buf + 36, cte__crc32c(0, buf, 36));
	errno = 0;
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 ||
	    pwrite(fd, buf, sizeof(buf), (off_t)t->capacity) !=
	        (ssize_t)sizeof(buf) ||
	    fdatasync(fd))
		rc = chi_error_set(errno ? -errno : -EIO,
		                   "cte: target %s: cannot write its identity "
		                   "at byte %llu of %s: %s",
		                   t->name, (unsigned long long)t->capacity,
		                   file, strerror(errno ? errno : EIO));
	if (fd >= 0)
		close(fd);
	return rc;
}

static void id_hex(const uint8_t *id, char out[2 * CTE_TARGET_ID_BYTES + 1])
{
	for (int i = 0; i < CTE_TARGET_ID_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* A new identity, or the one the file already has (id_found). */
static int id_init(struct cte_target *t, const char *file)
{
	t->id_found = t->type == CHI_BDEV_FILE && id_read(file, -1, t->id);
	if (t->id_found)
		return 0;
	if (getrandom(t->id, sizeof(t->id), 0) != (ssize_t)sizeof(t->id))
		return chi_error_set(-errno, "cte: target %s: getrandom: %s",
		                     t->name, strerror(errno));
	return 0;
}

/* Recovery: t against what the store remembers of it. */
static int check_replayed(struct cte_target *t, const struct cte_held *held)
{
	char file[4200], want[33], got[33], had[64] = "";
	uint8_t id[CTE_TARGET_ID_BYTES];

	if (held->end > t->capacity) {
		if (t->rec_capacity)
			snprintf(had, sizeof(had), " (the store has %llu)",
			         (unsigned long long)t->rec_capacity);
		return chi_error_set(
		    -ENOSPC,
		    "cte: target %s holds %llu bytes (up to "
		    "byte %llu) but its capacity_limit is %llu "
		    "bytes%s: a tier cannot shrink below the "
		    "data it holds",
		    t->name, (unsigned long long)held->bytes,
		    (unsigned long long)held->end,
		    (unsigned long long)t->capacity, had);
	}
	if (!t->rec_capacity)
		return 0; /* a store from before identities: it gets one now */
	cte__target_file(t->name, file, sizeof(file));
	if (!(t->id_found && !memcmp(t->id, t->rec_id, sizeof(id))) &&
	    !(id_read(file, (int64_t)t->rec_capacity, id) &&
	      !memcmp(id, t->rec_id, sizeof(id)))) {
		id_hex(t->rec_id, want);
		id_hex(t->id, got);
		return chi_error_set(-EUCLEAN,
		                     "cte: target file %s is not the one this "
		                     "store wrote: its identity is %s, the "
		                     "store's %s (was it replaced? put the "
		                     "store's file back)",
		                     file, t->id_found ? got : "missing", want);
	}
	memcpy(t->id, t->rec_id, sizeof(id));
	return 0;
}

int cte__target_check_replayed(struct cte_core *core,
                               const struct cte_held *held)
{
	uint32_t i;
	int rc = 0;

	for (i = 0; !rc && i < core->n_target_slots; i++) {
		struct cte_target *t = &core->targets[i];

		if (!t->active || t->is_volatile)
			continue;
		rc = check_replayed(t, &held[i]);
		if (!rc)
			rc = id_write(t);
	}
	return rc;
}

chi_pool_id cte__target_pool(struct cte_core *core, uint32_t target)
{
	chi_pool_id id;

	pthread_mutex_lock(&core->target_lock);
	id = core->targets[target].pool;
	pthread_mutex_unlock(&core->target_lock);
	return id;
}

bool cte__target_volatile(struct cte_core *core, uint32_t target)
{
	bool v;

	pthread_mutex_lock(&core->target_lock);
	v = core->targets[target].is_volatile;
	pthread_mutex_unlock(&core->target_lock);
	return v;
}

static double elapsed_s(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* Write then read 1 MiB a few times: MB/s (best of write and read). */
static double probe_bw(chi_pool_id pool)
{
	chi_bdev_block blk;
	uint32_t n = 0;
	void *buf = NULL;
	struct timespec t0;
	double secs, best = 0;
	int i, rc;

	if (chi_bdev_allocate(pool, PROBE_BYTES, &blk, 1, &n) || n != 1)
		return 0;
	if (posix_memalign(&buf, 4096, PROBE_BYTES))
		goto out;
	memset(buf, 0xa5, PROBE_BYTES);
	for (int pass = 0; pass < 2; pass++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0, rc = 0; i < PROBE_ROUNDS && !rc; i++)
			rc = pass ? chi_bdev_read(pool, blk.offset, buf,
			                          PROBE_BYTES)
			          : chi_bdev_write(pool, blk.offset, buf,
			                           PROBE_BYTES);
		secs = elapsed_s(&t0);
		if (!rc && secs > 0) {
			double mbps =
			    (double)(PROBE_BYTES * PROBE_ROUNDS) / secs / 1e6;

			if (mbps > best)
				best = mbps;
		}
	}
out:
	free(buf);
	chi_bdev_free(pool, &blk, 1);
	return best;
}

static struct cte_target *find_active(struct cte_core *core, const char *name)
{
	uint32_t i;

	for (i = 0; i < core->n_target_slots; i++)
		if (core->targets[i].active &&
		    !strcmp(core->targets[i].name, name))
			return &core->targets[i];
	return NULL;
}

int cte__target_register(struct cte_core *core, const char *path,
                         chi_bdev_type type, uint64_t capacity, double score)
{
	chi_bdev_params bp;
	chi_bdev_stats st;
	struct cte_target *t = NULL;
	chi_pool_id pool;
	double bw = 0;
	uint32_t i, tries;
	int rc;

	if (!path || !*path)
		return chi_error_set(-EINVAL, "cte: target path is empty");
	if (strlen(path) >= sizeof(bp.path) - sizeof(TARGET_FILE_NAME) - 1)
		return chi_error_set(-ENAMETOOLONG,
		                     "cte: target path too long");
	if (!capacity)
		return chi_error_set(-EINVAL, "cte: target %s: capacity is 0",
		                     path);
	if (score > 1.0 || isnan(score))
		return chi_error_set(-EINVAL,
		                     "cte: target %s: score %g is not "
		                     "in [0, 1]",
		                     path, score);
	if (type != CHI_BDEV_RAM && type != CHI_BDEV_FILE)
		return chi_error_set(-EINVAL, "cte: target %s: bad type", path);

	pthread_mutex_lock(&core->target_lock);
	if (find_active(core, path)) {
		pthread_mutex_unlock(&core->target_lock);
		return chi_error_set(-EEXIST,
		                     "cte: target %s is already "
		                     "registered",
		                     path);
	}
	for (i = 0; i < CTE_MAX_TARGETS; i++) {
		if (!core->targets[i].used) {
			t = &core->targets[i];
			break;
		}
	}
	if (t) {
		memset(t, 0, sizeof(*t));
		t->used = true; /* reserved while the bdev is created */
		snprintf(t->name, sizeof(t->name), "%s", path);
	}
	pthread_mutex_unlock(&core->target_lock);
	if (!t)
		return chi_error_set(-ENOSPC, "cte: more than %d targets",
		                     CTE_MAX_TARGETS);

	memset(&bp, 0, sizeof(bp));
	bp.type = type;
	bp.capacity = capacity;
	bp.alignment = (uint32_t)CTE_BLOCK;
	if (type == CHI_BDEV_FILE)
		cte__target_file(path, bp.path, sizeof(bp.path));
	else
		snprintf(bp.path, sizeof(bp.path), "%s", path);
	t->type = type;
	rc = id_init(t, bp.path); /* before the probe writes to the file */
	if (rc)
		goto fail;
	for (tries = 0; tries < 256; tries++) {
		pthread_mutex_lock(&core->target_lock);
		pool = (chi_pool_id){core->params.bdev_pool_major,
		                     core->next_bdev_minor++};
		pthread_mutex_unlock(&core->target_lock);
		rc = chi_bdev_create(&pool, bp.path, &bp);
		if (rc != -EEXIST)
			break;
	}
	if (rc)
		goto fail;
	rc = chi_bdev_get_stats(pool, &st);
	if (rc)
		goto fail;
	if (score < 0)
		bw = probe_bw(pool);

	pthread_mutex_lock(&core->target_lock);
	t->type = type;
	t->pool = pool;
	t->capacity = st.capacity;
	t->free_bytes = st.free_bytes;
	t->is_volatile = type == CHI_BDEV_RAM;
	t->manual_score = score >= 0;
	t->write_bw = bw;
	t->read_bw = bw;
	t->score = t->manual_score ? score : cte__score_from_bw(bw);
	atomic_store(&t->used_bytes, 0);
	t->active = true;
	if ((uint32_t)(t - core->targets) + 1 > core->n_target_slots)
		core->n_target_slots = (uint32_t)(t - core->targets) + 1;
	pthread_mutex_unlock(&core->target_lock);
	CHI_INFO("cte", "target %s (%s, %llu bytes) score %.3f%s", path,
	         type == CHI_BDEV_RAM ? "ram" : "file",
	         (unsigned long long)st.capacity, t->score,
	         t->manual_score ? " (manual)" : " (measured)");
	if (core->journal && !t->is_volatile) { /* a store open already */
		rc = id_write(t);
		if (rc)
			CHI_WARN("cte", "%s", chi_error_last());
	}
	cte__ns_lock(core);
	cte__meta_changed(core, CTE_META_TARGET, CTE_ID_NONE, CTE_ID_NONE);
	cte__ns_unlock(core);
	return 0;
fail:
	pthread_mutex_lock(&core->target_lock);
	t->used = false;
	pthread_mutex_unlock(&core->target_lock);
	return rc;
}

int cte__target_unregister(struct cte_core *core, const char *path)
{
	struct cte_target *t;
	chi_pool_id pool;
	int rc = 0;

	pthread_mutex_lock(&core->target_lock);
	t = path ? find_active(core, path) : NULL;
	if (!t)
		rc = -ENOENT;
	else if (atomic_load(&t->used_bytes))
		rc = chi_error_set(-EBUSY,
		                   "cte: target %s still holds blob "
		                   "data",
		                   path);
	else
		t->active = false;
	pool = t ? t->pool : CHI_POOL_ID_NULL;
	pthread_mutex_unlock(&core->target_lock);
	if (rc)
		return rc;
	chi_bdev_destroy(pool);
	pthread_mutex_lock(&core->target_lock);
	t->used = false;
	pthread_mutex_unlock(&core->target_lock);
	cte__ns_lock(core);
	cte__meta_changed(core, CTE_META_TARGET, CTE_ID_NONE, CTE_ID_NONE);
	cte__ns_unlock(core);
	return 0;
}

/* Refresh stats (and measured scores) of every active target. */
int cte__target_stat(struct cte_core *core)
{
	chi_pool_id pools[CTE_MAX_TARGETS];
	bool want[CTE_MAX_TARGETS] = {false};
	uint32_t i, n;
	int rc = 0;

	pthread_mutex_lock(&core->target_lock);
	n = core->n_target_slots;
	for (i = 0; i < n; i++) {
		want[i] = core->targets[i].active;
		pools[i] = core->targets[i].pool;
	}
	clock_gettime(CLOCK_MONOTONIC, &core->last_stat);
	pthread_mutex_unlock(&core->target_lock);
	for (i = 0; i < n; i++) {
		chi_bdev_stats st;
		struct cte_target *t = &core->targets[i];
		int r;

		if (!want[i])
			continue;
		r = chi_bdev_get_stats(pools[i], &st);
		if (r) {
			if (!rc)
				rc = r;
			continue;
		}
		pthread_mutex_lock(&core->target_lock);
		if (t->active && chi_pool_id_eq(t->pool, pools[i])) {
			t->free_bytes = st.free_bytes;
			if (st.write_bw_mbps > t->write_bw)
				t->write_bw = st.write_bw_mbps;
			if (st.read_bw_mbps > t->read_bw)
				t->read_bw = st.read_bw_mbps;
			if (!t->manual_score)
				t->score = cte__score_from_bw(
				    t->write_bw > t->read_bw ? t->write_bw
				                             : t->read_bw);
		}
		pthread_mutex_unlock(&core->target_lock);
	}
	return rc;
}

void cte__target_maybe_stat(struct cte_core *core)
{
	uint32_t period = core->params.stat_targets_period_ms;
	bool due;

	if (!period)
		return;
	pthread_mutex_lock(&core->target_lock);
	due = elapsed_s(&core->last_stat) * 1000.0 >= period;
	if (due) /* claim this round so only one caller refreshes */
		clock_gettime(CLOCK_MONOTONIC, &core->last_stat);
	pthread_mutex_unlock(&core->target_lock);
	if (due)
		cte__target_stat(core);
}

static void fill_info(const struct cte_target *t, const chi_bdev_stats *st,
                      cte_target_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", t->name);
	out->type = t->type;
	out->bdev_pool = t->pool;
	out->capacity = t->capacity;
	out->free_bytes = st ? st->free_bytes : t->free_bytes;
	out->score = t->score;
	out->manual_score = t->manual_score;
	out->is_volatile = t->is_volatile;
	out->read_bw_mbps = t->read_bw;
	out->write_bw_mbps = t->write_bw;
	if (st) {
		out->bytes_read = st->bytes_read;
		out->bytes_written = st->bytes_written;
	}
}

int cte__target_list(struct cte_core *core, cte_target_info **out,
                     size_t *out_n)
{
	cte_target_info *list = calloc(CTE_MAX_TARGETS, sizeof(*list));
	chi_pool_id pools[CTE_MAX_TARGETS];
	uint32_t idx[CTE_MAX_TARGETS];
	size_t n = 0, i;

	if (!list)
		return -ENOMEM;
	pthread_mutex_lock(&core->target_lock);
	for (i = 0; i < core->n_target_slots; i++) {
		if (!core->targets[i].active)
			continue;
		fill_info(&core->targets[i], NULL, &list[n]);
		pools[n] = core->targets[i].pool;
		idx[n++] = (uint32_t)i;
	}
	pthread_mutex_unlock(&core->target_lock);
	for (i = 0; i < n; i++) {
		chi_bdev_stats st;

		if (!chi_bdev_get_stats(pools[i], &st)) {
			list[i].free_bytes = st.free_bytes;
			list[i].bytes_read = st.bytes_read;
			list[i].bytes_written = st.bytes_written;
		}
	}
	(void)idx;
	*out = list;
	*out_n = n;
	return 0;
}

int cte__target_info(struct cte_core *core, const char *path,
                     cte_target_info *out)
{
	cte_target_info *list;
	size_t n, i;
	int rc = cte__target_list(core, &list, &n);

	if (rc)
		return rc;
	rc = -ENOENT;
	for (i = 0; i < n; i++) {
		if (path && !strcmp(list[i].name, path)) {
			*out = list[i];
			rc = 0;
			break;
		}
	}
	free(list);
	return rc;
}

/*
 * Allocate nblk blocks on one target for logical blocks lblk..; a request
 * the device can only satisfy in more than CHI_BDEV_MAX_BLOCKS pieces
 * (fragmented free space) is split in halves.  All or nothing.
 */
static int alloc_on(struct cte_core *core, uint32_t t, chi_pool_id pool,
                    uint64_t lblk, uint32_t nblk, struct cte_extmap *out)
{
	chi_bdev_block blocks[CHI_BDEV_MAX_BLOCKS];
	size_t mark = out->n;
	uint32_t nb = 0, j;
	int rc;

	rc = chi_bdev_allocate(pool, (uint64_t)nblk << CTE_BLOCK_SHIFT, blocks,
	                       CHI_BDEV_MAX_BLOCKS, &nb);
	if (rc == -E2BIG && nblk > 1) {
		uint32_t half = nblk / 2;

		rc = alloc_on(core, t, pool, lblk, half, out);
		if (rc)
			return rc;
		rc = alloc_on(core, t, pool, lblk + half, nblk - half, out);
		if (rc) { /* undo the first half */
			struct cte_extmap undo = {out->v + mark, out->n - mark,
			                          0};

			cte__free_extents(core, &undo);
			out->n = mark;
		}
		return rc;
	}
	if (rc)
		return rc;
	for (j = 0; j < nb; j++) {
		struct cte_extent e = {
		    .lblk = lblk,
		    .nblk = (uint32_t)(blocks[j].size >> CTE_BLOCK_SHIFT),
		    .target = t,
		    .dev_off = blocks[j].offset,
		};

		if (cte__extmap_push(out, &e)) {
			chi_bdev_free(pool, blocks + j, nb - j);
			return -ENOMEM;
		}
		atomic_fetch_add(&core->targets[t].used_bytes, blocks[j].size);
		lblk += e.nblk;
	}
	return 0;
}

int cte__alloc(struct cte_core *core, double score, uint64_t lblk,
               uint32_t nblk, bool only_nonvolatile, double stop_tier,
               struct cte_extmap *out)
{
	struct cte_place_target snap[CTE_MAX_TARGETS];
	uint32_t order[CTE_MAX_TARGETS];
	chi_pool_id pools[CTE_MAX_TARGETS];
	bool vol[CTE_MAX_TARGETS];
	size_t n, i, k;
	int rc;

	cte__target_maybe_stat(core);
	if (core->n_pending &&
	    atomic_load(&core->durable_seq) >= core->min_pending_seq)
		cte__target_reclaim(core); /* frees whose record is durable */
	if (score < 0 || score > 1)
		score = core->params.default_score;
	pthread_mutex_lock(&core->target_lock);
	for (i = 0; i < core->n_target_slots; i++) {
		const struct cte_target *t = &core->targets[i];

		snap[i] = (struct cte_place_target){
		    .usable = t->active,
		    .score = t->score,
		    .write_bw = t->write_bw,
		    .free_bytes = t->free_bytes,
		};
		pools[i] = t->pool;
		vol[i] = t->is_volatile;
	}
	n = cte__place_order(snap, core->n_target_slots, score,
	                     (enum cte_dpe)core->params.dpe, &core->rr_counter,
	                     &core->rng, order);
	pthread_mutex_unlock(&core->target_lock);

	for (int round = 0; round < 2; round++) {
		for (k = 0; k < n; k++) {
			uint32_t t = order[k];

			if (only_nonvolatile && vol[t])
				continue;
			if (stop_tier >= 0 &&
			    cte__same_tier(snap[t].score, stop_tier))
				break; /* the rest are no better */
			rc = alloc_on(core, t, pools[t], lblk, nblk, out);
			if (rc == -ENOSPC || rc == -E2BIG)
				continue;
			return rc;
		}
		/* Space freed by deletes may wait for its journal record to be
		 * durable: make it so, take the space back, try once more. */
		if (round || !core->journal || !core->n_pending ||
		    cte__meta_sync(core))
			break;
	}
	return -ENOSPC;
}

/* ------------------------------------------------------------------ */
/* freeing blocks                                                       */

static void free_now(struct cte_core *core, uint32_t target,
                     const chi_bdev_block *blk)
{
	int rc = chi_bdev_free(cte__target_pool(core, target), blk, 1);

	if (rc)
		CHI_WARN("cte", "freeing %llu bytes at %llu on target %u: %d",
		         (unsigned long long)blk->size,
		         (unsigned long long)blk->offset, target, rc);
	atomic_fetch_sub(&core->targets[target].used_bytes, blk->size);
}

/* Free blocks, or keep them until their unmapping record is durable. */
static void defer_free(struct cte_core *core, uint32_t target,
                       const chi_bdev_block *blk)
{
	struct cte_pending_free *p;

	if (!core->journal || cte__target_volatile(core, target)) {
		free_now(core, target, blk);
		return;
	}
	pthread_mutex_lock(&core->free_lock);
	if (core->n_pending == core->cap_pending) {
		size_t cap = core->cap_pending ? core->cap_pending * 2 : 64;

		p = realloc(core->pending_free, cap * sizeof(*p));
		if (!p) { /* cannot defer: leak the space rather than risk it */
			pthread_mutex_unlock(&core->free_lock);
			CHI_WARN("cte",
			         "out of memory: %llu bytes not reused "
			         "until restart",
			         (unsigned long long)blk->size);
			return;
		}
		core->pending_free = p;
		core->cap_pending = cap;
	}
	/* the unmapping record was committed before this call */
	core->pending_free[core->n_pending++] = (struct cte_pending_free){
	    .seq = atomic_load(&core->last_seq), .target = target, .blk = *blk};
	if (core->n_pending == 1 ||
	    core->pending_free[core->n_pending - 1].seq < core->min_pending_seq)
		core->min_pending_seq =
		    core->pending_free[core->n_pending - 1].seq;
	pthread_mutex_unlock(&core->free_lock);
}

/* Take the entries with seq <= upto out of the list into *out. */
static size_t take_pending(struct cte_core *core, uint64_t upto,
                           struct cte_pending_free **out)
{
	struct cte_pending_free *ready = NULL;
	size_t n = 0, k = 0, i;

	pthread_mutex_lock(&core->free_lock);
	for (i = 0; i < core->n_pending; i++)
		n += core->pending_free[i].seq <= upto;
	if (n)
		ready = malloc(n * sizeof(*ready));
	if (ready) {
		size_t keep = 0;

		for (i = 0; i < core->n_pending; i++) {
			if (core->pending_free[i].seq <= upto)
				ready[k++] = core->pending_free[i];
			else
				core->pending_free[keep++] =
				    core->pending_free[i];
		}
		core->n_pending = keep;
		core->min_pending_seq = UINT64_MAX;
		for (i = 0; i < keep; i++)
			if (core->pending_free[i].seq < core->min_pending_seq)
				core->min_pending_seq =
				    core->pending_free[i].seq;
	}
	pthread_mutex_unlock(&core->free_lock);
	*out = ready;
	return k;
}

bool cte__target_reclaim(struct cte_core *core)
{
	struct cte_pending_free *ready;
	size_t n = take_pending(core, atomic_load(&core->durable_seq), &ready);

	for (size_t i = 0; i < n; i++)
		free_now(core, ready[i].target, &ready[i].blk);
	free(ready);
	return n > 0;
}

void cte__free_extents(struct cte_core *core, const struct cte_extmap *ext)
{
	size_t i;

	for (i = 0; i < ext->n; i++) {
		const struct cte_extent *e = &ext->v[i];
		chi_bdev_block blk = {.offset = e->dev_off,
		                      .size = (uint64_t)e->nblk
		                              << CTE_BLOCK_SHIFT};

		defer_free(core, e->target, &blk);
	}
}

void cte__blob_release_dead(struct cte_core *core, struct cte_blob *b)
{
	chi_corwlock_rdlock(&core->quiesce);
	chi_corwlock_wrlock(&b->io_lock);
	cte__free_extents(core, &b->map);
	b->map.n = 0;
	chi_corwlock_unlock(&b->io_lock);
	chi_corwlock_unlock(&core->quiesce);
	cte__blob_put(core, b);
}

uint64_t cte__target_pending_bytes(struct cte_core *core)
{
	uint64_t sum = 0;
	size_t i;

	pthread_mutex_lock(&core->free_lock);
	for (i = 0; i < core->n_pending; i++)
		sum += core->pending_free[i].blk.size;
	pthread_mutex_unlock(&core->free_lock);
	return sum;
}
