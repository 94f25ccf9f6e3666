/*
 * chi_bench_cte: PutBlob/GetBlob throughput through the CTE client API at
 * 1 MiB and 4 KiB, on a RAM and on a file target, beside the bdev figures
 * for the same device in the same run.  Prints "name value unit" lines and
 * "<name>_ratio x" lines (CTE over bdev).
 *
 * Environment: CHI_BENCH_DIR (file target directory, default /var/tmp),
 * CHI_BENCH_CTE_SECS (seconds per figure, default 1), CHI_BENCH_THREADS
 * (runtime workers, default 2).  Each figure alternates bdev and CTE in
 * short slices so that a busy machine affects both alike.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/bdev/bdev.h"
#include "chimaera/chimaera.h"
#include "cte/cte.h"

#define MiB    (1024ull * 1024)
#define KiB    4096ull
#define SPAN   (64 * MiB) /* bytes each figure cycles over */
#define ROUNDS 8          /* alternating bdev/CTE slices per figure */

static double secs_per_test = 1.0;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "chi_bench_cte: %s: %s (%s)\n", what, strerror(-rc),
	        chi_error_last());
	exit(1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

enum io_kind { CTE_PUT, CTE_GET, BDEV_WRITE, BDEV_READ };

struct dev {
	const char *label; /* "ram" / "file" */
	cte_client *cte;
	cte_id blob;
	chi_pool_id bdev;
	chi_bdev_block region[CHI_BDEV_MAX_BLOCKS];
	uint32_t n_region;
};

/* Device offset of byte `off` of the bdev region. */
static uint64_t region_addr(const struct dev *d, uint64_t off)
{
	for (uint32_t i = 0; i < d->n_region; i++) {
		if (off < d->region[i].size)
			return d->region[i].offset + off;
		off -= d->region[i].size;
	}
	return d->region[0].offset;
}

/* Run one kind of I/O of `size` bytes for `secs`; adds to *bytes, *time. */
static void run(struct dev *d, enum io_kind kind, uint64_t size, bool random,
                char *buf, double secs, double *bytes, double *time)
{
	uint64_t s = 0x9e3779b97f4a7c15ull, done = 0, off = 0, n;
	double t0 = now_s(), t;
	int rc = 0;

	do {
		for (int k = 0; k < 16; k++) {
			off = random ? (rnd(&s) % (SPAN / size)) * size
			             : (off + size) % SPAN;
			switch (kind) {
			case CTE_PUT:
				rc = cte_blob_write(d->cte, d->blob, off, buf,
				                    size);
				break;
			case CTE_GET:
				rc = cte_blob_read(d->cte, d->blob, off, buf,
				                   size, &n);
				break;
			case BDEV_WRITE:
				rc = chi_bdev_write(
				    d->bdev, region_addr(d, off), buf, size);
				break;
			case BDEV_READ:
				rc = chi_bdev_read(d->bdev, region_addr(d, off),
				                   buf, size);
				break;
			}
			if (rc)
				die("I/O", rc);
			done += size;
		}
		t = now_s() - t0;
	} while (t < secs);
	*bytes += (double)done;
	*time += t;
}

static void figure(const char *dev, const char *name, double v,
                   const char *unit)
{
	printf("%s_%s %.*f %s\n", dev, name, v < 10 ? 3 : 1, v, unit);
}

static void bench_dev(struct dev *d, char *buf)
{
	static const struct {
		const char *name;
		uint64_t size;
		bool random;
		enum io_kind cte, bdev;
	} cases[] = {
	    {"write_1m", MiB, false, CTE_PUT, BDEV_WRITE},
	    {"read_1m", MiB, false, CTE_GET, BDEV_READ},
	    {"randwrite_4k", KiB, true, CTE_PUT, BDEV_WRITE},
	    {"randread_4k", KiB, true, CTE_GET, BDEV_READ},
	};
	char name[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double bb = 0, bt = 0, cb = 0, ct = 0, b, c;
		bool big = cases[i].size >= MiB;

		/* alternate short slices so that load from other processes
		 * hits both sides alike */
		for (int r = 0; r < ROUNDS; r++) {
			run(d, cases[i].bdev, cases[i].size, cases[i].random,
			    buf, secs_per_test / ROUNDS, &bb, &bt);
			run(d, cases[i].cte, cases[i].size, cases[i].random,
			    buf, secs_per_test / ROUNDS, &cb, &ct);
		}
		b = bb / bt;
		c = cb / ct;

		snprintf(name, sizeof(name), "bdev_%s", cases[i].name);
		figure(d->label, name, big ? b / 1e6 : b / cases[i].size,
		       big ? "MB/s" : "IOPS");
		snprintf(name, sizeof(name), "cte_%s", cases[i].name);
		figure(d->label, name, big ? c / 1e6 : c / cases[i].size,
		       big ? "MB/s" : "IOPS");
		printf("%s_%s_ratio %.2f x\n", d->label, cases[i].name,
		       b > 0 ? c / b : 0.0);
	}
}

int main(void)
{
	const char *dir = getenv("CHI_BENCH_DIR"), *env;
	char path[512], journal[512], yaml[2048];
	unsigned threads = 2;
	chi_config *cfg = NULL;
	cte_client client;
	cte_target_info info;
	struct dev devs[2];
	char *buf;
	cte_id tag;
	int rc;

	if (!dir)
		dir = "/var/tmp";
	if ((env = getenv("CHI_BENCH_CTE_SECS")))
		secs_per_test = atof(env);
	if ((env = getenv("CHI_BENCH_THREADS")))
		threads = (unsigned)atoi(env);
	snprintf(path, sizeof(path), "%s/chi_bench_cte.%d.dat", dir,
	         (int)getpid());
	snprintf(journal, sizeof(journal), "%s/chi_bench_cte.%d.journal", dir,
	         (int)getpid());
	snprintf(yaml, sizeof(yaml),
	         "runtime:\n"
	         "  num_threads: %u\n"
	         "compose:\n"
	         "  - mod_name: wrp_cte_core\n"
	         "    pool_name: cte_bench\n"
	         "    pool_id: \"512.0\"\n"
	         "    pool_query: local\n"
	         "    storage:\n"
	         "      - path: \"ram::cte_bench_ram\"\n"
	         "        bdev_type: ram\n"
	         "        capacity_limit: 256MB\n"
	         "        score: 1.0\n"
	         "      - path: \"%s\"\n"
	         "        bdev_type: file\n"
	         "        capacity_limit: 256MB\n"
	         "        score: 0.0\n"
	         "    dpe:\n"
	         "      dpe_type: max_bw\n"
	         "    performance:\n"
	         "      stat_targets_period_ms: 0\n"
	         "      metadata_log_path: \"%s\"\n",
	         threads ? threads : 2, path, journal);
	if (posix_memalign((void **)&buf, 4096, MiB))
		die("buffer", -ENOMEM);
	memset(buf, 0x5a, MiB);
	rc = chi_config_load_string(&cfg, yaml, "chi_bench_cte");
	if (rc)
		die("config", rc);
	rc = chi_init_with_loaded_config(cfg);
	if (rc)
		die("chi_init", rc);
	rc = cte_client_init(&client, "cte_bench");
	if (rc)
		die("cte_client_init", rc);
	printf("runtime_workers %u threads\n", chi_num_workers());
	rc = cte_tag_get_or_create(&client, "/bench", &tag);
	if (rc)
		die("tag", rc);
	for (int i = 0; i < 2; i++) {
		struct dev *d = &devs[i];
		const char *target = i ? path : "ram::cte_bench_ram";
		double t0, secs;

		memset(d, 0, sizeof(*d));
		d->label = i ? "file" : "ram";
		d->cte = &client;
		rc = cte_target_get_info(&client, target, &info);
		if (rc)
			die("target info", rc);
		d->bdev = info.bdev_pool;
		rc = chi_bdev_allocate(d->bdev, SPAN, d->region,
		                       CHI_BDEV_MAX_BLOCKS, &d->n_region);
		if (rc)
			die("bdev allocate", rc);
		rc = cte_put_blob(&client, tag, d->label, 0, buf, 0,
		                  i ? 0.0 : 1.0, &d->blob);
		if (rc)
			die("blob", rc);
		/* first pass: every write allocates */
		t0 = now_s();
		for (uint64_t off = 0; off < SPAN; off += MiB) {
			rc = cte_blob_write(&client, d->blob, off, buf, MiB);
			if (rc)
				die("put", rc);
		}
		secs = now_s() - t0;
		figure(d->label, "cte_write_1m_new", (double)SPAN / secs / 1e6,
		       "MB/s");
		{
			cte_blob_info *bi;

			rc = cte_blob_info_get(&client, d->blob, &bi);
			if (rc)
				die("info", rc);
			if (bi->n_targets != 1 ||
			    strcmp(bi->placement[0].target, target))
				fprintf(stderr,
				        "chi_bench_cte: blob %s not "
				        "wholly on %s\n",
				        d->label, target);
			printf("%s_cte_extents %zu count\n", d->label,
			       bi->n_extents);
			cte_blob_info_free(bi);
		}
		bench_dev(d, buf);
	}
	rc = cte_target_get_info(&client, path, &info);
	chi_finalize();
	unlink(path);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", journal);
		if (system(cmd))
			fprintf(stderr, "chi_bench_cte: could not remove %s\n",
			        journal);
	}
	free(buf);
	return 0;
}
