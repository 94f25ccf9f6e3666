/*
 * Unit tests for runtime/config.c: the node tree, the runtime keys, the flat
 * form, sizes, typed getters, error messages (file, line, key), and the file
 * lookup order through $CHI_SERVER_CONF, $WRP_RUNTIME_CONF and $HOME.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/config.h"
#include "chimaera/error.h"
#include "chimaera/log.h"

static char tmpdir[64];

/* Write `text` to tmpdir/name; returns the full path in a static slot. */
static const char *write_conf(const char *name, const char *text)
{
	static char paths[32][PATH_MAX];
	static int slot;
	char *path = paths[slot++ % 32];
	FILE *f;

	snprintf(path, PATH_MAX, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Assert that the last error contains every given fragment. */
static void expect_message(const char *first, ...)
{
	const char *msg = chi_error_last();
	const char *frag;
	va_list ap;

	va_start(ap, first);
	for (frag = first; frag; frag = va_arg(ap, const char *)) {
		if (!strstr(msg, frag))
			fail_msg("error message \"%s\" lacks \"%s\"", msg,
			         frag);
	}
	va_end(ap);
}

/* Run the loader with stderr captured into buf. */
static int load_capturing_stderr(chi_config **out, const char *path, char *buf,
                                 size_t buf_size)
{
	char cap_path[PATH_MAX];
	int saved, fd, rc;
	ssize_t n;

	snprintf(cap_path, sizeof(cap_path), "%s/stderr.txt", tmpdir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(cap_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	rc = chi_config_load(out, path);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, buf_size - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return rc;
}

static const char upstream_yaml[] =
    "# upstream shape\n"                         /* 1 */
    "runtime:\n"                                 /* 2 */
    "  num_threads: 6\n"                         /* 3 */
    "  queue_depth: 1000\n"                      /* 4 */
    "  module_path: /opt/a:/opt/b\n"             /* 5 */
    "compose:\n"                                 /* 6 */
    "  - mod_name: chimaera_bdev\n"              /* 7 */
    "    pool_name: \"ram::chi_default_bdev\"\n" /* 8 */
    "    pool_query: local\n"                    /* 9 */
    "    pool_id: \"301.0\"\n"                   /* 10 */
    "    bdev_type: ram\n"                       /* 11 */
    "    capacity: \"512MB\"\n"                  /* 12 */
    "  - mod_name: wrp_cte_core\n"               /* 13 */
    "    pool_name: cte_main\n"                  /* 14 */
    "    pool_query: local\n"                    /* 15 */
    "    pool_id: \"512.0\"\n"                   /* 16 */
    "    storage:\n"                             /* 17 */
    "      - path: \"ram::cte_ram_tier1\"\n"     /* 18 */
    "        bdev_type: ram\n"                   /* 19 */
    "        capacity_limit: \"512MB\"\n"        /* 20 */
    "        score: 1.0\n"                       /* 21 */
    "      - path: \"/mnt/nvme/cte\"\n"          /* 22 */
    "        bdev_type: file\n"                  /* 23 */
    "        capacity_limit: \"100GB\"\n"        /* 24 */
    "    dpe:\n"                                 /* 25 */
    "      dpe_type: max_bw\n"                   /* 26 */
    "    performance:\n"                         /* 27 */
    "      stat_targets_period_ms: 50\n"         /* 28 */
    "      score_difference_threshold: 0.05\n"   /* 29 */
    "      flush_metadata_period_ms: 5000\n"     /* 30 */
    "      metadata_log_path: \"\"\n";           /* 31 */

static void test_upstream_shape(void **state)
{
	const chi_conf_node *bdev, *cte, *storage, *tier, *perf;
	const char *path = write_conf("upstream.yaml", upstream_yaml);
	const char *str = "unset";
	chi_config *cfg = NULL;
	uint64_t size = 0, u64 = 0;
	double score = 0;

	(void)state;
	assert_int_equal(chi_config_load(&cfg, path), 0);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->num_threads, 6);
	assert_int_equal(cfg->queue_depth, 1024); /* 1000 rounded up */
	assert_string_equal(cfg->module_path, "/opt/a:/opt/b");
	assert_null(cfg->cte_flat);
	assert_non_null(cfg->compose);
	assert_int_equal(cfg->compose->type, CHI_CONF_SEQ);
	assert_int_equal(cfg->compose->n_children, 2);

	bdev = &cfg->compose->children[0];
	assert_int_equal(bdev->type, CHI_CONF_MAP);
	assert_int_equal(bdev->line, 7);
	assert_string_equal(bdev->file, path);
	assert_int_equal(chi_conf_get_str(bdev, "pool_name", &str), 0);
	assert_string_equal(str, "ram::chi_default_bdev");
	assert_int_equal(chi_conf_get_size(bdev, "capacity", &size), 0);
	assert_int_equal(size, 512ull << 20);
	assert_int_equal(chi_conf_get(bdev, "capacity")->line, 12);

	cte = &cfg->compose->children[1];
	storage = chi_conf_get(cte, "storage");
	assert_non_null(storage);
	assert_int_equal(storage->type, CHI_CONF_SEQ);
	assert_int_equal(storage->n_children, 2);
	tier = &storage->children[0];
	assert_int_equal(tier->line, 18);
	assert_int_equal(chi_conf_get_double(tier, "score", &score), 0);
	assert_true(score == 1.0);
	tier = &storage->children[1];
	assert_int_equal(chi_conf_get_size(tier, "capacity_limit", &size), 0);
	assert_int_equal(size, 100ull << 30);
	assert_int_equal(chi_conf_get_str(tier, "bdev_type", &str), 0);
	assert_string_equal(str, "file");

	perf = chi_conf_get(cte, "performance");
	assert_int_equal(
	    chi_conf_get_u64(perf, "flush_metadata_period_ms", &u64), 0);
	assert_int_equal(u64, 5000);
	assert_int_equal(
	    chi_conf_get_double(perf, "score_difference_threshold", &score), 0);
	assert_true(score > 0.0499 && score < 0.0501);
	assert_int_equal(chi_conf_get_str(perf, "metadata_log_path", &str), 0);
	assert_string_equal(str, "");
	chi_config_free(cfg);
}

static void test_flat_form(void **state)
{
	chi_config *cfg = NULL;
	const chi_conf_node *storage;
	const char *dpe = NULL;

	(void)state;
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "worker_count: 8\n"
	                                        "storage:\n"
	                                        "  - path: ram::t1\n"
	                                        "    bdev_type: ram\n"
	                                        "    capacity_limit: 1GB\n"
	                                        "dpe:\n"
	                                        "  dpe_type: round_robin\n"
	                                        "targets:\n"
	                                        "  neighborhood: 1\n"
	                                        "performance:\n"
	                                        "  default_score: 0.5\n",
	                                        "flat.yaml"),
	                 0);
	assert_int_equal(cfg->num_threads, 8);
	assert_int_equal(cfg->queue_depth, 1024);
	assert_null(cfg->compose);
	assert_ptr_equal(cfg->cte_flat, cfg->root);
	storage = chi_conf_get(cfg->cte_flat, "storage");
	assert_non_null(storage);
	assert_int_equal(storage->n_children, 1);
	assert_int_equal(
	    chi_conf_get_str(chi_conf_get(cfg->root, "dpe"), "dpe_type", &dpe),
	    0);
	assert_string_equal(dpe, "round_robin");
	chi_config_free(cfg);

	/* runtime.num_threads wins over worker_count */
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "worker_count: 8\n"
	                                        "runtime:\n"
	                                        "  num_threads: 3\n",
	                                        "both.yaml"),
	                 0);
	assert_int_equal(cfg->num_threads, 3);
	assert_null(cfg->cte_flat);
	chi_config_free(cfg);

	/* worker_count is range-checked like num_threads */
	assert_int_equal(
	    chi_config_load_string(&cfg, "worker_count: 0\n", "wc.yaml"),
	    -EINVAL);
	expect_message("wc.yaml:1:", "worker_count", "out of range", NULL);
}

static void test_sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
	    {"0", 0},
	    {"512", 512},
	    {"64B", 64},
	    {"64b", 64},
	    {"4KB", 4096},
	    {"4kb", 4096},
	    {"4K", 4096},
	    {"4 KB", 4096},
	    {"4KiB", 4096},
	    {"3MB", 3ull << 20},
	    {"3m", 3ull << 20},
	    {"1.5GB", 3ull << 29},
	    {"1.5 gb", 3ull << 29},
	    {"100gb", 100ull << 30},
	    {"2TB", 2ull << 40},
	    {"2t", 2ull << 40},
	    {".5K", 512},
	    {"0.25MB", 256ull << 10},
	    {"1.0009765625KB", 1025},
	    {"0KB", 0},
	    {" 7 MB ", 7ull << 20},
	    {"18446744073709551615", UINT64_MAX},
	    {"16777215TB", 16777215ull << 40},
	};
	static const char *const bad[] = {
	    "",
	    "   ",
	    "-1",
	    "-1KB",
	    "abc",
	    "1.5.5GB",
	    "1PB",
	    "KB",
	    "1 K B",
	    "1e3",
	    "1GBx",
	    "0x10",
	    ".",
	    "1,5GB",
	    "16777216TB",
	    "18446744073709551616",
	    "99999999999999999999999GB",
	    "+1",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 12345;

		if (chi_parse_size(good[i].text, &v) != 0)
			fail_msg("\"%s\" rejected: %s", good[i].text,
			         chi_error_last());
		if (v != good[i].bytes)
			fail_msg("\"%s\" = %llu, expected %llu", good[i].text,
			         (unsigned long long)v,
			         (unsigned long long)good[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 12345;

		if (chi_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("\"%s\" accepted as %llu", bad[i],
			         (unsigned long long)v);
		assert_int_equal(v, 12345); /* untouched on error */
	}
}

static void test_getters(void **state)
{
	chi_config *cfg = NULL;
	const chi_conf_node *m;
	uint64_t u64 = 77, size = 77;
	uint32_t u32 = 77;
	double d = 7.0;
	const char *s = "keep";
	int b = 7;

	(void)state;
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "performance:\n"
	                                        "  n: 42\n"           /* 2 */
	                                        "  neg: -3\n"         /* 3 */
	                                        "  big: 5000000000\n" /* 4 */
	                                        "  f: 0.75\n"         /* 5 */
	                                        "  nan: nan\n"        /* 6 */
	                                        "  yes: on\n"         /* 7 */
	                                        "  maybe: perhaps\n"  /* 8 */
	                                        "  list: [1, 2]\n"    /* 9 */
	                                        "  sz: 2 MB\n"        /* 10 */
	                                        "  badsz: 2 XB\n",    /* 11 */
	                                        "get.yaml"),
	                 0);
	m = chi_conf_get(cfg->root, "performance");
	assert_non_null(m);

	/* absent keys leave the default alone */
	assert_int_equal(chi_conf_get_u64(m, "absent", &u64), 0);
	assert_int_equal(chi_conf_get_u32(m, "absent", &u32), 0);
	assert_int_equal(chi_conf_get_double(m, "absent", &d), 0);
	assert_int_equal(chi_conf_get_str(m, "absent", &s), 0);
	assert_int_equal(chi_conf_get_bool(m, "absent", &b), 0);
	assert_int_equal(chi_conf_get_size(m, "absent", &size), 0);
	assert_int_equal(u64, 77);
	assert_int_equal(u32, 77);
	assert_true(d == 7.0);
	assert_string_equal(s, "keep");
	assert_int_equal(b, 7);
	assert_int_equal(size, 77);
	assert_null(chi_conf_get(NULL, "n"));

	assert_int_equal(chi_conf_get_u32(m, "n", &u32), 0);
	assert_int_equal(u32, 42);
	assert_int_equal(chi_conf_get_u64(m, "big", &u64), 0);
	assert_int_equal(u64, 5000000000ull);
	assert_int_equal(chi_conf_get_double(m, "f", &d), 0);
	assert_true(d == 0.75);
	assert_int_equal(chi_conf_get_double(m, "neg", &d), 0);
	assert_true(d == -3.0);
	assert_int_equal(chi_conf_get_bool(m, "yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(chi_conf_get_size(m, "sz", &size), 0);
	assert_int_equal(size, 2ull << 20);

	u32 = 77;
	assert_int_equal(chi_conf_get_u32(m, "big", &u32), -EINVAL);
	expect_message("get.yaml:4:", "big", "too large", NULL);
	assert_int_equal(u32, 77);
	assert_int_equal(chi_conf_get_u64(m, "neg", &u64), -EINVAL);
	expect_message("get.yaml:3:", "neg", "-3", NULL);
	assert_int_equal(chi_conf_get_double(m, "nan", &d), -EINVAL);
	expect_message("get.yaml:6:", "nan", "not a number", NULL);
	assert_int_equal(chi_conf_get_bool(m, "maybe", &b), -EINVAL);
	expect_message("get.yaml:8:", "maybe", "perhaps", NULL);
	assert_int_equal(chi_conf_get_str(m, "list", &s), -EINVAL);
	expect_message("get.yaml:9:", "list", "found a list", NULL);
	assert_int_equal(chi_conf_get_size(m, "badsz", &size), -EINVAL);
	expect_message("get.yaml:11:", "badsz", "2 XB", NULL);
	assert_int_equal(
	    chi_conf_error(chi_conf_get(m, "n"), -ERANGE, "custom %d", 5),
	    -ERANGE);
	expect_message("get.yaml:2: n: custom 5", NULL);
	chi_config_free(cfg);
}

static void test_unknown_keys_warn(void **state)
{
	const char *path = write_conf("unknown.yaml", "runtime:\n"
	                                              "  num_threads: 2\n"
	                                              "  turbo_mode: yes\n"
	                                              "networking:\n"
	                                              "  port: 9000\n");
	chi_config *cfg = NULL;
	char err[4096];

	(void)state;
	chi_log_set_level(CHI_LOG_WARN);
	assert_int_equal(load_capturing_stderr(&cfg, path, err, sizeof(err)),
	                 0);
	assert_int_equal(cfg->num_threads, 2);
	chi_config_free(cfg);
	if (!strstr(err, "unknown.yaml:3: turbo_mode") ||
	    !strstr(err, "unknown.yaml:4: networking") ||
	    !strstr(err, "[warn] config"))
		fail_msg("warnings missing from: %s", err);
}

/* Each malformed file fails with -EINVAL and names file, line and key. */
static void test_malformed(void **state)
{
	static const struct {
		const char *name, *yaml, *frag1, *frag2, *frag3;
	} cases[] = {
	    {"syntax.yaml", "runtime:\n  num_threads: 4\n   bad: [1, 2\n",
	     "syntax.yaml:", "YAML syntax error", NULL},
	    {"unclosed.yaml", "runtime:\n  module_path: \"abc\n",
	     "unclosed.yaml:", "YAML syntax error", NULL},
	    {"abc.yaml", "runtime:\n  num_threads: abc\n",
	     "abc.yaml:2: num_threads:", "'abc'", NULL},
	    {"zero.yaml", "\nruntime:\n  num_threads: 0\n",
	     "zero.yaml:3: num_threads:", "out of range", "1..256"},
	    {"huge.yaml", "runtime:\n  num_threads: 257\n",
	     "huge.yaml:2: num_threads:", "out of range", NULL},
	    {"mapval.yaml", "runtime:\n  num_threads:\n    a: 1\n",
	     "mapval.yaml:2: num_threads:", "found a map", NULL},
	    {"depth.yaml", "runtime:\n  queue_depth: 1\n",
	     "depth.yaml:2: queue_depth:", "out of range", NULL},
	    {"depth2.yaml", "runtime:\n  queue_depth: 2097152\n",
	     "depth2.yaml:2: queue_depth:", "out of range", NULL},
	    {"rt.yaml", "runtime: 5\n", "rt.yaml:1: runtime:", "expected a map",
	     NULL},
	    {"modpath.yaml", "runtime:\n  module_path: [a, b]\n",
	     "modpath.yaml:2: module_path:", "found a list", NULL},
	    {"compose_map.yaml",
	     "runtime:\n  num_threads: 2\ncompose:\n  mod_name: x\n",
	     "compose_map.yaml:3: compose:", "expected a list", NULL},
	    {"compose_scalar_item.yaml", "compose:\n  - chimaera_bdev\n",
	     "compose_scalar_item.yaml:2: compose:", "expected a map", NULL},
	    {"no_pool.yaml",
	     "compose:\n"
	     "  - mod_name: chimaera_bdev\n"
	     "    pool_name: a\n"
	     "  - mod_name: chimaera_bdev\n"
	     "    bdev_type: ram\n",
	     "no_pool.yaml:4: pool_name:", "missing in compose entry 2", NULL},
	    {"no_mod.yaml", "compose:\n  - pool_name: a\n",
	     "no_mod.yaml:2: mod_name:", "missing", NULL},
	    {"empty_name.yaml",
	     "compose:\n  - mod_name: chimaera_bdev\n    pool_name: \"\"\n",
	     "empty_name.yaml:3: pool_name:", "non-empty", NULL},
	    {"dupkey.yaml", "runtime:\n  num_threads: 2\n  num_threads: 3\n",
	     "dupkey.yaml:3: num_threads:", "duplicate key", "line 2"},
	    {"toplist.yaml", "- a\n- b\n", "toplist.yaml:1:", "expected a map",
	     NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_conf(cases[i].name, cases[i].yaml);
		chi_config *cfg = (chi_config *)0x1;
		int rc;

		chi_error_clear();
		rc = chi_config_load(&cfg, path);
		if (rc != -EINVAL)
			fail_msg("%s: rc %d, expected -EINVAL", cases[i].name,
			         rc);
		assert_ptr_equal(cfg, (chi_config *)0x1); /* untouched */
		expect_message(cases[i].frag1, cases[i].frag2, cases[i].frag3,
		               NULL);
		/* the message names the path as given */
		expect_message(path, NULL);
	}
}

static void test_syntax_error_line(void **state)
{
	chi_config *cfg = NULL;

	(void)state;
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "runtime:\n"
	                                        "  num_threads: 4\n"
	                                        "  queue_depth: 8\n"
	                                        "compose:\n"
	                                        "  - mod_name: [x\n"
	                                        "    pool_name: y\n",
	                                        "syn.yaml"),
	                 -EINVAL);
	/* libyaml reports the unterminated flow sequence on line 6 */
	expect_message("syn.yaml:6: YAML syntax error", NULL);
}

static void test_explicit_missing(void **state)
{
	char path[PATH_MAX];
	chi_config *cfg = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/does/not/exist.yaml", tmpdir);
	assert_int_equal(chi_config_load(&cfg, path), -ENOENT);
	assert_null(cfg);
	expect_message(path, "No such file", NULL);

	assert_int_equal(chi_config_load(&cfg, tmpdir), -EISDIR);
	expect_message(tmpdir, "directory", NULL);
}

static void test_lookup_order(void **state)
{
	char home[128], dotdir[192], missing[128];
	const char *server, *wrp, *explicit_path;
	chi_config *cfg = NULL;

	(void)state;
	server = write_conf("server.yaml", "runtime:\n  num_threads: 11\n");
	wrp = write_conf("wrp.yaml", "runtime:\n  num_threads: 12\n");
	explicit_path =
	    write_conf("explicit.yaml", "runtime:\n  num_threads: 10\n");
	snprintf(home, sizeof(home), "%s/home", tmpdir);
	snprintf(dotdir, sizeof(dotdir), "%s/.chimaera", home);
	assert_int_equal(mkdir(home, 0700), 0);
	assert_int_equal(mkdir(dotdir, 0700), 0);
	setenv("HOME", home, 1);
	unsetenv("CHI_SERVER_CONF");
	unsetenv("WRP_RUNTIME_CONF");

	/* nothing anywhere: the built-in default */
	assert_int_equal(chi_config_load(&cfg, NULL), 0);
	assert_string_equal(cfg->path, "<built-in>");
	assert_int_equal(cfg->num_threads, 4);
	assert_int_equal(cfg->queue_depth, 1024);
	assert_null(cfg->compose);
	chi_config_free(cfg);

	/* ~/.chimaera/chimaera.yaml */
	write_conf("home/.chimaera/chimaera.yaml",
	           "runtime:\n  num_threads: 13\n");
	assert_int_equal(chi_config_load(&cfg, NULL), 0);
	assert_int_equal(cfg->num_threads, 13);
	assert_non_null(strstr(cfg->path, "home/.chimaera/chimaera.yaml"));
	chi_config_free(cfg);

	/* $WRP_RUNTIME_CONF beats HOME */
	setenv("WRP_RUNTIME_CONF", wrp, 1);
	assert_int_equal(chi_config_load(&cfg, NULL), 0);
	assert_int_equal(cfg->num_threads, 12);
	chi_config_free(cfg);

	/* $CHI_SERVER_CONF beats $WRP_RUNTIME_CONF */
	setenv("CHI_SERVER_CONF", server, 1);
	assert_int_equal(chi_config_load(&cfg, NULL), 0);
	assert_int_equal(cfg->num_threads, 11);
	chi_config_free(cfg);

	/* an explicit path beats everything */
	assert_int_equal(chi_config_load(&cfg, explicit_path), 0);
	assert_int_equal(cfg->num_threads, 10);
	chi_config_free(cfg);

	/* a variable naming a missing file is an error, not a fallback */
	snprintf(missing, sizeof(missing), "%s/gone.yaml", tmpdir);
	setenv("CHI_SERVER_CONF", missing, 1);
	cfg = NULL;
	assert_int_equal(chi_config_load(&cfg, NULL), -ENOENT);
	assert_null(cfg);
	expect_message(missing, "$CHI_SERVER_CONF", NULL);
	unsetenv("CHI_SERVER_CONF");
	setenv("WRP_RUNTIME_CONF", missing, 1);
	assert_int_equal(chi_config_load(&cfg, NULL), -ENOENT);
	expect_message(missing, "$WRP_RUNTIME_CONF", NULL);

	/* an empty variable counts as unset */
	setenv("WRP_RUNTIME_CONF", "", 1);
	assert_int_equal(chi_config_load(&cfg, NULL), 0);
	assert_int_equal(cfg->num_threads, 13);
	chi_config_free(cfg);
	unsetenv("WRP_RUNTIME_CONF");

	/* a broken HOME config is reported, not skipped */
	write_conf("home/.chimaera/chimaera.yaml",
	           "runtime:\n  num_threads: -1\n");
	assert_int_equal(chi_config_load(&cfg, NULL), -EINVAL);
	expect_message("chimaera.yaml:2: num_threads", NULL);
}

static void test_default_and_edge_docs(void **state)
{
	chi_config *cfg = NULL;

	(void)state;
	/* the default text parses on its own */
	assert_int_equal(
	    chi_config_load_string(&cfg, chi_config_default_yaml(), "default"),
	    0);
	assert_int_equal(cfg->num_threads, 4);
	assert_null(cfg->compose);
	assert_null(cfg->cte_flat);
	assert_non_null(chi_conf_get(cfg->root, "runtime"));
	chi_config_free(cfg);

	/* an empty file means all defaults */
	assert_int_equal(chi_config_load_string(&cfg, "# nothing\n", "e.yaml"),
	                 0);
	assert_int_equal(cfg->root->type, CHI_CONF_MAP);
	assert_int_equal(cfg->num_threads, 4);
	chi_config_free(cfg);

	/* anchors and aliases resolve */
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "runtime:\n"
	                                        "  num_threads: &n 7\n"
	                                        "worker_count: *n\n",
	                                        "alias.yaml"),
	                 0);
	assert_int_equal(cfg->num_threads, 7);
	chi_config_free(cfg);

	/* an alias bomb (10^7 nodes once expanded) is refused, not expanded */
	assert_int_equal(chi_config_load_string(
	                     &cfg,
	                     "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	                     "bomb.yaml"),
	                 -EINVAL);
	expect_message("bomb.yaml:", "too many nodes", NULL);

	/* queue_depth is rounded up to a power of two */
	assert_int_equal(chi_config_load_string(&cfg,
	                                        "runtime:\n"
	                                        "  queue_depth: 3\n",
	                                        "qd.yaml"),
	                 0);
	assert_int_equal(cfg->queue_depth, 4);
	chi_config_free(cfg);

	chi_config_free(NULL);
}

/* The source tree's root: CHI_SOURCE_DIR (set by
 * tests/unit/runtime/CMakeLists.txt), else derived from this file's path. */
static void source_path(char *out, size_t size, const char *rel)
{
#ifdef CHI_SOURCE_DIR
	snprintf(out, size, "%s/%s", CHI_SOURCE_DIR, rel);
#else
	const char *me = __FILE__;
	const char *tail = strstr(me, "tests/unit/runtime/test_config.c");

	if (!tail)
		fail_msg("cannot find the source tree from %s", me);
	snprintf(out, size, "%.*s%s", (int)(tail - me), me, rel);
#endif
}

/* The shipped examples load, with no warnings, in the documented shape. */
static void test_example_files(void **state)
{
	const chi_conf_node *cte, *storage;
	char path[PATH_MAX], err[4096];
	const char *type = NULL;
	chi_config *cfg = NULL;
	uint64_t size = 0;

	(void)state;
	chi_log_set_level(CHI_LOG_WARN);
	source_path(path, sizeof(path), "etc/chimaera.yaml");
	if (load_capturing_stderr(&cfg, path, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, chi_error_last());
	assert_string_equal(err, "");
	assert_non_null(cfg->compose);
	assert_int_equal(cfg->compose->n_children, 1);
	cte = &cfg->compose->children[0];
	assert_string_equal(chi_conf_get(cte, "mod_name")->value,
	                    "wrp_cte_core");
	storage = chi_conf_get(cte, "storage");
	assert_non_null(storage);
	assert_int_equal(storage->n_children, 2);
	assert_int_equal(
	    chi_conf_get_str(&storage->children[0], "bdev_type", &type), 0);
	assert_string_equal(type, "ram");
	assert_int_equal(
	    chi_conf_get_str(&storage->children[1], "bdev_type", &type), 0);
	assert_string_equal(type, "file");
	assert_int_equal(
	    chi_conf_get_size(&storage->children[1], "capacity_limit", &size),
	    0);
	assert_true(size > 0);
	assert_non_null(chi_conf_get(cte, "dpe"));
	assert_non_null(chi_conf_get(cte, "performance"));
	chi_config_free(cfg);

	source_path(path, sizeof(path), "etc/chimaera-flat.yaml");
	if (load_capturing_stderr(&cfg, path, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, chi_error_last());
	assert_string_equal(err, "");
	assert_ptr_equal(cfg->cte_flat, cfg->root);
	assert_int_equal(chi_conf_get(cfg->root, "storage")->n_children, 2);
	chi_config_free(cfg);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/chi_test_config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_upstream_shape),
	    cmocka_unit_test(test_flat_form),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_getters),
	    cmocka_unit_test(test_unknown_keys_warn),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_syntax_error_line),
	    cmocka_unit_test(test_explicit_missing),
	    cmocka_unit_test(test_lookup_order),
	    cmocka_unit_test(test_default_and_edge_docs),
	    cmocka_unit_test(test_example_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
