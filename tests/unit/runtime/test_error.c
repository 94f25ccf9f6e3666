/*
 * Unit tests for runtime/error.c: the per-thread last-error message.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chimaera/error.h"

static void test_set_and_clear(void **state)
{
	(void)state;
	chi_error_clear();
	assert_string_equal(chi_error_last(), "");
	assert_int_equal(chi_error_set(-ENOENT, "%s: %d", "x.yaml", 7),
	                 -ENOENT);
	assert_string_equal(chi_error_last(), "x.yaml: 7");
	assert_int_equal(chi_error_set(0, "second"), 0);
	assert_string_equal(chi_error_last(), "second");
	chi_error_clear();
	assert_string_equal(chi_error_last(), "");
}

static void test_message_from_previous_message(void **state)
{
	char copy[64];

	(void)state;
	chi_error_set(-EINVAL, "inner");
	/* wrapping the last message in a new one must not corrupt it */
	chi_error_set(-EINVAL, "outer: %s", chi_error_last());
	assert_string_equal(chi_error_last(), "outer: inner");
	snprintf(copy, sizeof(copy), "%s", chi_error_last());
	assert_string_equal(copy, "outer: inner");
}

static void test_long_message_is_cut(void **state)
{
	char big[5000];
	size_t len;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	chi_error_set(-EINVAL, "%s", big);
	len = strlen(chi_error_last());
	assert_true(len > 500 && len < sizeof(big));
	assert_string_equal(chi_error_last() + len - 3, "...");
}

static void *other_thread(void *arg)
{
	int *ok = arg;

	/* a new thread starts with no message and does not see main's */
	*ok = strcmp(chi_error_last(), "") == 0;
	chi_error_set(-EIO, "thread message");
	*ok = *ok && strcmp(chi_error_last(), "thread message") == 0;
	return NULL;
}

static void test_thread_local(void **state)
{
	pthread_t t;
	int ok = 0;

	(void)state;
	chi_error_set(-EINVAL, "main message");
	assert_int_equal(pthread_create(&t, NULL, other_thread, &ok), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(ok, 1);
	assert_string_equal(chi_error_last(), "main message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_set_and_clear),
	    cmocka_unit_test(test_message_from_previous_message),
	    cmocka_unit_test(test_long_message_is_cut),
	    cmocka_unit_test(test_thread_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
