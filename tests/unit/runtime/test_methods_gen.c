/*
 * Unit tests for tools/chi_gen_methods, the method-id header generator.
 * Runs the built tool: its path comes from the CHI_GEN_METHODS_EXE compile
 * definition (set by tests/unit/runtime/CMakeLists.txt), else from beside
 * this test's own executable (both land in <build>/bin).
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char tmpdir[64];
static char tool[PATH_MAX];
static char err_text[8192];

static const char bdev_yaml[] = "module_name: chimaera_bdev\n" /* 1 */
                                "namespace: chimaera::bdev\n"  /* 2 */
                                "version: 1.0.0\n"             /* 3 */
                                "methods:\n"                   /* 4 */
                                "  kCreate: 0\n"               /* 5 */
                                "  kDestroy: 1\n"              /* 6 */
                                "  kAllocateBlocks: 10\n"      /* 7 */
                                "  kFreeBlocks: 11\n"          /* 8 */
                                "  kWrite: 12\n"               /* 9 */
                                "  kGetStats: 14\n"            /* 10 */
                                "  kGetBlobIO: 20\n";          /* 11 */

/* Returns tmpdir/name in a ring of static slots (enough for one test). */
static const char *tmp_path(const char *name)
{
	static char paths[32][128];
	static int slot;
	char *path = paths[slot++ % 32];

	snprintf(path, 128, "%s/%s", tmpdir, name);
	return path;
}

static const char *write_tmp(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	return path;
}

static char *slurp(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Run the tool with up to three arguments; returns its exit status and
 * leaves its stderr in err_text. */
static int run_tool(const char *a1, const char *a2, const char *a3)
{
	char err_path[128];
	int status, fd;
	pid_t pid;
	FILE *f;
	size_t n;

	snprintf(err_path, sizeof(err_path), "%s/stderr.txt", tmpdir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDERR_FILENO);
		execl(tool, tool, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	f = fopen(err_path, "r");
	assert_non_null(f);
	n = fread(err_text, 1, sizeof(err_text) - 1, f);
	err_text[n] = '\0';
	fclose(f);
	assert_int_not_equal(WEXITSTATUS(status), 127);
	return WEXITSTATUS(status);
}

static void expect_err(const char *frag)
{
	if (!strstr(err_text, frag))
		fail_msg("tool stderr \"%s\" lacks \"%s\"", err_text, frag);
}

static void test_valid_module(void **state)
{
	const char *yaml = write_tmp("chimaera_mod.yaml", bdev_yaml);
	const char *out = tmp_path("bdev_methods.h");
	char *text;

	(void)state;
	assert_int_equal(run_tool(yaml, out, NULL), 0);
	text = slurp(out);
	assert_non_null(text);
	assert_non_null(strstr(text, "#define CHI_BDEV_METHOD_CREATE 0\n"));
	assert_non_null(strstr(text, "#define CHI_BDEV_METHOD_DESTROY 1\n"));
	assert_non_null(
	    strstr(text, "#define CHI_BDEV_METHOD_ALLOCATE_BLOCKS 10\n"));
	assert_non_null(
	    strstr(text, "#define CHI_BDEV_METHOD_FREE_BLOCKS 11\n"));
	assert_non_null(strstr(text, "#define CHI_BDEV_METHOD_WRITE 12\n"));
	assert_non_null(strstr(text, "#define CHI_BDEV_METHOD_GET_STATS 14\n"));
	assert_non_null(
	    strstr(text, "#define CHI_BDEV_METHOD_GET_BLOB_IO 20\n"));
	assert_non_null(strstr(text, "#define CHI_BDEV_METHOD_COUNT 7\n"));
	assert_non_null(
	    strstr(text, "#define CHI_BDEV_METHOD_TABLE_SIZE 21\n"));
	assert_non_null(strstr(text, "chi_bdev_method_name(uint32_t id)"));
	assert_non_null(strstr(text, "return \"kAllocateBlocks\";"));
	/* the list: every method in id order, no backslash after the last */
	assert_non_null(
	    strstr(text, "#define CHI_BDEV_METHODS(X) \\\n"
	                 "\tX(CHI_BDEV_METHOD_CREATE, kCreate) \\\n"
	                 "\tX(CHI_BDEV_METHOD_DESTROY, kDestroy) \\\n"
	                 "\tX(CHI_BDEV_METHOD_ALLOCATE_BLOCKS, kAllocateBlocks)"
	                 " \\\n"
	                 "\tX(CHI_BDEV_METHOD_FREE_BLOCKS, kFreeBlocks) \\\n"
	                 "\tX(CHI_BDEV_METHOD_WRITE, kWrite) \\\n"
	                 "\tX(CHI_BDEV_METHOD_GET_STATS, kGetStats) \\\n"
	                 "\tX(CHI_BDEV_METHOD_GET_BLOB_IO, kGetBlobIO)\n\n"));
	/* the naming rule is documented in the header */
	assert_non_null(strstr(text, "<PREFIX>_METHOD_<NAME>"));
	/* no absolute paths: the same YAML gives the same bytes anywhere */
	assert_null(strstr(text, tmpdir));

	/* a fresh header passes --check and is left alone */
	assert_int_equal(run_tool("--check", yaml, out), 0);
	assert_string_equal(err_text, "");
}

static void test_prefix_rules(void **state)
{
	const char *yaml = write_tmp("cte.yaml", "module_name: wrp_cte_core\n"
	                                         "namespace: wrp_cte::core\n"
	                                         "version: 1.0.0\n"
	                                         "methods:\n"
	                                         "  kCreate: 0\n"
	                                         "  kDestroy: 1\n"
	                                         "  kPutBlob: 15\n");
	const char *yaml2 = write_tmp("cte2.yaml", "module_name: wrp_cte_core\n"
	                                           "namespace: wrp_cte::core\n"
	                                           "version: 1.0.0\n"
	                                           "macro_prefix: CTE\n"
	                                           "methods:\n"
	                                           "  kCreate: 0\n"
	                                           "  kDestroy: 1\n"
	                                           "  kPutBlob: 15\n");
	const char *out = tmp_path("cte_methods.h");

	(void)state;
	assert_int_equal(run_tool(yaml, out, NULL), 0);
	assert_non_null(
	    strstr(slurp(out), "#define WRP_CTE_CORE_METHOD_PUT_BLOB 15\n"));
	assert_int_equal(run_tool(yaml2, out, NULL), 0);
	assert_non_null(strstr(slurp(out), "#define CTE_METHOD_PUT_BLOB 15\n"));
	assert_non_null(strstr(slurp(out), "cte_method_name(uint32_t id)"));
}

static void test_stale_check(void **state)
{
	const char *yaml = write_tmp("stale.yaml", bdev_yaml);
	const char *out = tmp_path("stale_methods.h");
	char *text, saved[16384];
	FILE *f;

	(void)state;
	/* missing header */
	unlink(out);
	assert_int_equal(run_tool("--check", yaml, out), 1);
	expect_err("stale_methods.h is stale");
	expect_err("regenerate with:");

	assert_int_equal(run_tool(yaml, out, NULL), 0);
	text = slurp(out);
	snprintf(saved, sizeof(saved), "%s", text);

	/* a hand edit makes it stale */
	f = fopen(out, "a");
	assert_non_null(f);
	fputs("/* edited */\n", f);
	fclose(f);
	assert_int_equal(run_tool("--check", yaml, out), 1);
	expect_err("stale_methods.h is stale; regenerate with: ");
	expect_err("stale.yaml");
	/* --check never writes */
	assert_non_null(strstr(slurp(out), "/* edited */"));

	/* so does a YAML change */
	assert_int_equal(run_tool(yaml, out, NULL), 0);
	assert_string_equal(slurp(out), saved);
	yaml = write_tmp("stale.yaml", "module_name: chimaera_bdev\n"
	                               "namespace: chimaera::bdev\n"
	                               "version: 1.0.0\n"
	                               "methods:\n"
	                               "  kCreate: 0\n"
	                               "  kDestroy: 1\n"
	                               "  kAllocateBlocks: 10\n"
	                               "  kFreeBlocks: 11\n"
	                               "  kWrite: 12\n"
	                               "  kGetStats: 15\n"
	                               "  kGetBlobIO: 20\n");
	assert_int_equal(run_tool("--check", yaml, out), 1);
	expect_err("is stale");
	assert_int_equal(run_tool(yaml, out, NULL), 0);
	assert_int_equal(run_tool("--check", yaml, out), 0);

	/* rewriting an up-to-date header leaves it (and its mtime) alone */
	{
		struct timespec old_times[2] = {{1000000000, 0},
		                                {1000000000, 0}};
		struct stat st;

		assert_int_equal(utimensat(AT_FDCWD, out, old_times, 0), 0);
		assert_int_equal(run_tool(yaml, out, NULL), 0);
		assert_int_equal(stat(out, &st), 0);
		assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	}
}

/* Bad input: exit status 2 and a message naming file:line. */
static void test_bad_input(void **state)
{
	static const struct {
		const char *name, *yaml, *frag1, *frag2;
	} cases[] = {
	    {"dup_id.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  kA: 10\n  kB: 10\n",
	     "dup_id.yaml:8:", "id 10 already used by kA (line 7)"},
	    {"dup_name.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  kA: 10\n  kA: 11\n",
	     "dup_name.yaml:8:", "kA: duplicate name"},
	    {"reserved.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  kCustom: 9\n",
	     "reserved.yaml:7:", "reserved for runtime methods (0-9)"},
	    {"create_id.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 10\n  kDestroy: 1\n",
	     "create_id.yaml:5:", "kCreate: must be 0"},
	    {"no_destroy.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kA: 10\n",
	     "no_destroy.yaml:", "kDestroy is required"},
	    {"no_ns.yaml",
	     "module_name: m\nversion: 1\nmethods:\n  kCreate: 0\n",
	     "no_ns.yaml:1:", "missing required key namespace"},
	    {"no_methods.yaml", "module_name: m\nnamespace: n\nversion: 1\n",
	     "no_methods.yaml:1:", "missing required key methods"},
	    {"bad_id.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  kA: ten\n",
	     "bad_id.yaml:7:", "kA: id must be an integer"},
	    {"neg_id.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  kA: -1\n",
	     "neg_id.yaml:7:", "out of range"},
	    {"bad_name.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  kCreate: 0\n  kDestroy: 1\n  k-A: 10\n",
	     "bad_name.yaml:7:", "not a C identifier"},
	    {"syntax.yaml",
	     "module_name: m\nnamespace: [n\nversion: 1\nmethods:\n",
	     "syntax.yaml:", "YAML syntax error"},
	    {"methods_list.yaml",
	     "module_name: m\nnamespace: n\nversion: 1\nmethods:\n"
	     "  - kCreate\n",
	     "methods_list.yaml:5:", "expected a map of name: id"},
	};
	const char *out = tmp_path("bad_methods.h");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *yaml = write_tmp(cases[i].name, cases[i].yaml);
		int rc;

		unlink(out);
		rc = run_tool(yaml, out, NULL);
		if (rc != 2)
			fail_msg("%s: exit %d, expected 2 (stderr: %s)",
			         cases[i].name, rc, err_text);
		expect_err(cases[i].frag1);
		expect_err(cases[i].frag2);
		/* nothing written on error */
		assert_int_equal(access(out, F_OK), -1);
	}

	/* usage errors */
	assert_int_equal(run_tool("--check", NULL, NULL), 2);
	expect_err("usage");
	assert_int_equal(run_tool(tmp_path("missing.yaml"), out, NULL), 2);
	expect_err("missing.yaml: cannot open");
}

static int setup(void **state)
{
	(void)state;
#ifdef CHI_GEN_METHODS_EXE
	snprintf(tool, sizeof(tool), "%s", CHI_GEN_METHODS_EXE);
#else
	ssize_t n = readlink("/proc/self/exe", tool, sizeof(tool) - 32);
	if (n <= 0)
		return -1;
	tool[n] = '\0';
	snprintf(strrchr(tool, '/') + 1, 32, "chi_gen_methods");
#endif
	if (access(tool, X_OK) != 0) {
		fprintf(stderr, "generator not found at %s\n", tool);
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/chi_test_gen.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_module),
	    cmocka_unit_test(test_prefix_rules),
	    cmocka_unit_test(test_stale_check),
	    cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
