/*
 * chi_bench_tasks: task round-trip latency and throughput of the embedded
 * runtime, using the admin module's no-op method (and the runtime tests'
 * module for the inline figure).  Prints `name value unit`
 * lines:
 *   sync_roundtrip_p50_us / _p99_us  one client thread, submit + wait
 *   inline_roundtrip_p50_us / _p99_us  the same for a task the module runs
 *                                    inline on the client thread (the test
 *                                    module's INLINE method)
 *   async_tasks_per_s_1client        many tasks in flight, 1 client thread
 *   async_tasks_per_s_2clients       the same with 2 client threads
 *
 * Usage: chi_bench_tasks [-w workers] [-n sync_iterations] [-t seconds]
 *                        [-i in_flight_per_client]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chimaera/admin/admin.h"
#include "chimaera/chimaera.h"
#include "mod_test.h"

static unsigned opt_workers = 1;
static unsigned opt_iters = 20000;
static double opt_seconds = 1.0;
static unsigned opt_inflight = 256;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Round trips of one client thread: submit + wait, `iters` times. */
static int bench_sync(const char *name, chi_pool_id pool, uint32_t method,
                      size_t size)
{
	uint64_t *lat = malloc(opt_iters * sizeof(*lat));
	chi_task *t = chi_task_new(size, pool, method);
	int rc = 0;

	if (!lat || !t) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < 2000; i++) /* warm up */
		chi_run(t);
	for (unsigned i = 0; i < opt_iters; i++) {
		uint64_t t0 = now_ns();

		rc = chi_run(t);
		lat[i] = now_ns() - t0;
		if (rc)
			goto out;
	}
	qsort(lat, opt_iters, sizeof(*lat), cmp_u64);
	printf("%s_p50_us %.2f us\n", name, lat[opt_iters / 2] / 1e3);
	printf("%s_p99_us %.2f us\n", name,
	       lat[(size_t)(opt_iters * 0.99)] / 1e3);
out:
	chi_task_free(t);
	free(lat);
	return rc;
}

/* The same through the test module's INLINE method, which the module lets
 * run on the submitting thread (chi_module_ops.inline_ok). */
static int bench_inline(void)
{
	chi_pool_id pool = {300, 0};
	int rc = chi_pool_get_or_create(&pool, CHI_TEST_MODULE, "bench_inline",
	                                NULL, 0, 1);

	if (rc)
		return rc;
	rc = bench_sync("inline_roundtrip", pool, CHI_TEST_METHOD_INLINE,
	                sizeof(chi_test_task));
	chi_pool_destroy(pool);
	return rc;
}

struct client {
	pthread_t thread;
	uint64_t done;
	int rc;
	_Atomic int *go;
	uint64_t deadline;
};

static void *async_client(void *arg)
{
	struct client *c = arg;
	unsigned n = opt_inflight;
	chi_admin_noop_task **t = calloc(n, sizeof(*t));
	chi_future *f = calloc(n, sizeof(*f));

	if (!t || !f) {
		c->rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		t[i] = chi_task_new(sizeof(*t[i]), CHI_ADMIN_POOL_ID,
		                    CHI_ADMIN_METHOD_NOOP);
		if (!t[i]) {
			c->rc = -ENOMEM;
			goto out;
		}
	}
	while (!atomic_load(c->go))
		;
	while (now_ns() < c->deadline) {
		for (unsigned i = 0; i < n; i++)
			f[i] = chi_submit(&t[i]->base);
		for (unsigned i = 0; i < n; i++) {
			int rc = chi_wait(f[i]);

			if (rc)
				c->rc = rc;
		}
		c->done += n;
	}
out:
	for (unsigned i = 0; t && i < n; i++)
		chi_task_free(t[i]);
	free(t);
	free(f);
	return NULL;
}

static int bench_async(unsigned clients, const char *name)
{
	struct client c[8];
	_Atomic int go = 0;
	uint64_t start, total = 0;
	int rc = 0;

	memset(c, 0, sizeof(c));
	for (unsigned i = 0; i < clients; i++) {
		c[i].go = &go;
		c[i].deadline = UINT64_MAX;
	}
	for (unsigned i = 0; i < clients; i++)
		pthread_create(&c[i].thread, NULL, async_client, &c[i]);
	start = now_ns();
	for (unsigned i = 0; i < clients; i++)
		c[i].deadline = start + (uint64_t)(opt_seconds * 1e9);
	atomic_store(&go, 1);
	for (unsigned i = 0; i < clients; i++) {
		pthread_join(c[i].thread, NULL);
		total += c[i].done;
		if (c[i].rc)
			rc = c[i].rc;
	}
	printf("%s %.0f tasks/s\n", name,
	       (double)total / ((now_ns() - start) / 1e9));
	return rc;
}

int main(int argc, char **argv)
{
	char yaml[256];
	chi_config *cfg = NULL;
	int opt, rc;

	while ((opt = getopt(argc, argv, "w:n:t:i:")) != -1) {
		switch (opt) {
		case 'w':
			opt_workers = (unsigned)atoi(optarg);
			break;
		case 'n':
			opt_iters = (unsigned)atoi(optarg);
			break;
		case 't':
			opt_seconds = atof(optarg);
			break;
		case 'i':
			opt_inflight = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-w workers] [-n sync_iterations] "
			        "[-t seconds] [-i in_flight_per_client]\n",
			        argv[0]);
			return 2;
		}
	}
	if (!opt_workers || !opt_iters || !opt_inflight || opt_seconds <= 0) {
		fprintf(stderr, "%s: bad arguments\n", argv[0]);
		return 2;
	}
	snprintf(yaml, sizeof(yaml),
	         "runtime:\n  num_threads: %u\n  queue_depth: %u\n",
	         opt_workers,
	         opt_inflight * 2 < 1024 ? 1024 : opt_inflight * 2);
	rc = chi_config_load_string(&cfg, yaml, "<chi_bench_tasks>");
	if (!rc)
		rc = chi_init_with_loaded_config(cfg);
	if (rc) {
		fprintf(stderr, "chi_bench_tasks: start: %s\n",
		        chi_error_last());
		return 1;
	}
	printf("workers %u threads\n", opt_workers);
	rc = bench_sync("sync_roundtrip", CHI_ADMIN_POOL_ID,
	                CHI_ADMIN_METHOD_NOOP, sizeof(chi_admin_noop_task));
	if (!rc)
		rc = bench_inline();
	if (!rc)
		rc = bench_async(1, "async_tasks_per_s_1client");
	if (!rc)
		rc = bench_async(2, "async_tasks_per_s_2clients");
	chi_finalize();
	if (rc) {
		fprintf(stderr, "chi_bench_tasks: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
