/*
 * Shared setup of the journal unit tests (test_journal*.c): temporary
 * directories, verifiable payloads, replay collectors and the counter model
 * the checkpoint tests replay into.
 *
 * Randomized tests print their seed; set JOURNAL_SEED to repeat one.
 */
#ifndef JOURNAL_TEST_UTIL_H
#define JOURNAL_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/error.h"
#include "chimaera/log.h"
#include "journal_i.h"

#define SEGHDR_BYTES 28u /* framed segment header */
#define REC_OVERHEAD 20u

#define MODEL_KEYS 256
enum { OP_SET = 1, OP_ADD = 2, SNAP_VALUE = 3 };

/* Records collected by replay. */
typedef struct got_rec {
	uint8_t type;
	uint64_t seq;
	uint64_t id;
} got_rec;

typedef struct collector {
	got_rec *v;
	size_t n, cap;
	uint64_t bad;      /* payloads that failed verification */
	uint64_t disorder; /* sequence not increasing */
	uint64_t snapshot; /* snapshot records seen */
} collector;

/* Expected records in append order. */
typedef struct expect {
	uint8_t *type;
	uint64_t *id;
	size_t n, cap;
} expect;

typedef struct model {
	uint64_t v[MODEL_KEYS];
} model;

typedef struct ckpt_env {
	cte_journal *ja, *jb; /* with / without checkpoints */
	pthread_rwlock_t rw;  /* mutators: read; checkpoint: write */
	model truth;          /* keys are split between the threads */
	uint64_t seed;
	int ops;
	int failures;
	int max_segments;
	char *dir_a;
} ckpt_env;

typedef struct replay_model {
	model m;
	int bad;
	uint64_t snap_records;
} replay_model;

/* splitmix64 state, seeded by seed_init() (which prints the seed). */
extern uint64_t rng_state;
uint64_t rnd(void);
uint64_t seed_init(const char *test);

/* A fresh directory under $TMPDIR; remove_dir() deletes it and frees. */
char *make_dir(void);
void remove_dir(char *dir);
/* Number of segment files and the path of the newest. */
int segments(const char *dir, char *newest, size_t size);
off_t file_size(const char *path);
void flip_byte(const char *path, off_t off);

/* A record payload derived from its id, so content can be verified. */
void payload_make(cte_jenc *e, uint64_t id);
/* Bytes of the framed record holding payload `id`. */
uint64_t framed_len(uint64_t id);

/* A replay callback collecting into a collector (arg). */
int collect(void *arg, uint8_t type, uint64_t seq, const void *payload,
            uint32_t len);
void collector_free(collector *c);
void expect_add(expect *x, uint8_t type, uint64_t id);
void expect_free(expect *x);
/* The first `upto` expected records are what c collected. */
void expect_match(const expect *x, size_t upto, const collector *c);
/* Append n_ops operations (records and groups of 2..8); returns the count
 * of groups (a record counts as one). */
uint64_t append_random(cte_journal *j, expect *x, uint64_t *next_id, int n_ops);
/* Append n standalone records of ids first..first+n-1, type = id % 256. */
void append_plain(cte_journal *j, expect *x, uint64_t first, int n);

/* Replay callbacks into a replay_model (arg), and a checkpoint snapshot
 * writing a ckpt_env's truth. */
int model_snapshot_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                      uint32_t len);
int model_record_cb(void *arg, uint8_t type, uint64_t seq, const void *p,
                    uint32_t len);
int write_model(cte_journal_ckpt *w, uint64_t covered, void *arg);

#endif
