/* Helpers shared by the CTE unit tests: start an embedded runtime and
 * create CTE pools with explicit parameters. */
#ifndef CTE_TEST_UTIL_H
#define CTE_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chimaera/chimaera.h"
#include "blobio_i.h"
#include "core_i.h"
#include "durable_i.h"
#include "fsck_i.h"
#include "image_i.h"
#include "ns_i.h"
#include "target_i.h"
#include "cte/cte.h"

static inline int cte_test_runtime_start(unsigned threads)
{
	char yaml[128];
	chi_config *cfg = NULL;
	int rc;

	snprintf(yaml, sizeof(yaml), "runtime:\n  num_threads: %u\n", threads);
	rc = chi_config_load_string(&cfg, yaml, "cte-test.yaml");
	if (rc)
		return rc;
	return chi_init_with_loaded_config(cfg);
}

/* A scratch directory for file targets (removed by the caller). */
static inline const char *cte_test_dir(void)
{
	static char dir[256];

	if (!dir[0]) {
		const char *base = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/cte-test-XXXXXX",
		         base ? base : "/tmp");
		if (!mkdtemp(dir))
			return NULL;
	}
	return dir;
}

/* Remove a scratch directory and the files in it (one level). */
static inline void cte_test_rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[768];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static inline void cte_test_params(struct cte_params *p)
{
	cte__params_default(p);
	p->stat_targets_period_ms = 0;
	/* pools share a scratch directory: no journal unless a test asks */
	p->metadata_journal = 0;
}

static inline void cte_test_add_target(struct cte_params *p, const char *path,
                                       chi_bdev_type type, uint64_t capacity,
                                       double score)
{
	struct cte_conf_target *t = &p->targets[p->n_targets++];

	snprintf(t->path, sizeof(t->path), "%s", path);
	t->type = type;
	t->capacity = capacity;
	t->score = score;
}

/* Create CTE pool `name` with id 700.minor and connect c to it. */
static inline int cte_test_pool(cte_client *c, const char *name, uint32_t minor,
                                struct cte_params *p, chi_pool_id *out_id)
{
	chi_pool_id id = {700, minor};
	int rc;

	p->bdev_pool_major = 800 + minor;
	rc = chi_pool_get_or_create(&id, CTE_MODULE_NAME, name, p, sizeof(*p),
	                            1);
	if (rc)
		return rc;
	if (out_id)
		*out_id = id;
	return cte_client_init(c, name);
}

static inline cte_attr cte_test_attr(uint32_t mode)
{
	cte_attr a;

	memset(&a, 0, sizeof(a));
	a.mode = mode;
	a.uid = 1000;
	a.gid = 1000;
	a.score = CTE_SCORE_UNSET;
	return a;
}

#endif
