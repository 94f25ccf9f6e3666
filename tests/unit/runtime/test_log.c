/*
 * Unit tests for runtime/log.c: level names from the environment (with the
 * CTE_LOG_LEVEL and HSHM_LOG_LEVEL fallbacks), filtering, the line format,
 * and whole lines under concurrent loggers.  Environment cases run in a
 * child process each, since the level is read once per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chimaera/log.h"

static char capture_path[64];

/* Level a fresh process picks from these variables (NULL = unset). */
static int level_in_child(const char *chimaera, const char *cte,
                          const char *hshm)
{
	int status, level;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, STDERR_FILENO); /* the bad-value warning */
		unsetenv("CHIMAERA_LOG_LEVEL");
		unsetenv("CTE_LOG_LEVEL");
		unsetenv("HSHM_LOG_LEVEL");
		if (chimaera)
			setenv("CHIMAERA_LOG_LEVEL", chimaera, 1);
		if (cte)
			setenv("CTE_LOG_LEVEL", cte, 1);
		if (hshm)
			setenv("HSHM_LOG_LEVEL", hshm, 1);
		for (level = CHI_LOG_DEBUG; level > CHI_LOG_ERROR; level--)
			if (chi_log_enabled((chi_log_level)level))
				break;
		_exit(level);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_level_from_env(void **state)
{
	(void)state;
	assert_int_equal(level_in_child(NULL, NULL, NULL), CHI_LOG_WARN);
	assert_int_equal(level_in_child("debug", NULL, NULL), CHI_LOG_DEBUG);
	assert_int_equal(level_in_child("INFO", NULL, NULL), CHI_LOG_INFO);
	assert_int_equal(level_in_child("error", NULL, NULL), CHI_LOG_ERROR);
	assert_int_equal(level_in_child("warn", NULL, NULL), CHI_LOG_WARN);
	assert_int_equal(level_in_child("0", NULL, NULL), CHI_LOG_ERROR);
	assert_int_equal(level_in_child("2", NULL, NULL), CHI_LOG_INFO);
	assert_int_equal(level_in_child("3", NULL, NULL), CHI_LOG_DEBUG);
	/* fallbacks, in order */
	assert_int_equal(level_in_child(NULL, "info", "error"), CHI_LOG_INFO);
	assert_int_equal(level_in_child(NULL, NULL, "debug"), CHI_LOG_DEBUG);
	assert_int_equal(level_in_child("error", "debug", "debug"),
	                 CHI_LOG_ERROR);
	/* nonsense keeps the default */
	assert_int_equal(level_in_child("loud", NULL, NULL), CHI_LOG_WARN);
	assert_int_equal(level_in_child("", "3", NULL), CHI_LOG_DEBUG);
}

/* Run fn with stderr going to capture_path; returns the captured text. */
static const char *capture(void (*fn)(void))
{
	static char buf[1 << 18];
	int saved, fd;
	ssize_t n;

	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(capture_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void log_some(void)
{
	chi_log_set_level(CHI_LOG_INFO);
	CHI_ERROR("bdev", "disk %d gone", 3);
	CHI_WARN("cte", "slow");
	CHI_INFO("runtime", "started");
	CHI_DEBUG("runtime", "hidden %s", "detail");
	errno = EBUSY;
	chi_log(CHI_LOG_WARN, "x", "keeps errno\n");
}

static void test_format_and_filter(void **state)
{
	const char *out;

	(void)state;
	out = capture(log_some);
	assert_string_equal(out, "[error] bdev: disk 3 gone\n"
	                         "[warn] cte: slow\n"
	                         "[info] runtime: started\n"
	                         "[warn] x: keeps errno\n");
	assert_int_equal(errno, EBUSY);
	chi_log_set_level(CHI_LOG_WARN);
	assert_false(chi_log_enabled(CHI_LOG_INFO));
	assert_true(chi_log_enabled(CHI_LOG_WARN));
}

#define LOG_THREADS 4
#define LOG_LINES   500

static void *log_lines(void *arg)
{
	int id = (int)(intptr_t)arg, i;

	for (i = 0; i < LOG_LINES; i++)
		chi_log(CHI_LOG_WARN, "t",
		        "thread %d line %04d "
		        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		        id, i);
	return NULL;
}

static void log_from_threads(void)
{
	pthread_t t[LOG_THREADS];
	int i;

	for (i = 0; i < LOG_THREADS; i++)
		pthread_create(&t[i], NULL, log_lines, (void *)(intptr_t)i);
	for (i = 0; i < LOG_THREADS; i++)
		pthread_join(t[i], NULL);
}

static void test_concurrent_lines_whole(void **state)
{
	const char *out, *line;
	int count = 0;

	(void)state;
	chi_log_set_level(CHI_LOG_WARN);
	out = capture(log_from_threads);
	for (line = out; *line; count++) {
		const char *nl = strchr(line, '\n');
		int id, n;

		assert_non_null(nl);
		assert_int_equal(
		    sscanf(line, "[warn] t: thread %d line %d", &id, &n), 2);
		assert_int_equal(nl - line, 69);
		line = nl + 1;
	}
	assert_int_equal(count, LOG_THREADS * LOG_LINES);
}

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(capture_path, sizeof(capture_path),
	         "/tmp/chi_test_log.XXXXXX");
	fd = mkstemp(capture_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return unlink(capture_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level_from_env),
	    cmocka_unit_test(test_format_and_filter),
	    cmocka_unit_test(test_concurrent_lines_whole),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
