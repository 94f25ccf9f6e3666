/*
 * Per-thread last-error message (libgit2's git_error_last model).
 *
 * DESIGN: each thread owns one fixed buffer in thread-local storage, so
 * setting or reading a message takes no lock and never allocates; a message
 * longer than the buffer is cut (with "..." at the end) rather than failing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chimaera/error.h"

#define ERROR_MSG_MAX 1024

static _Thread_local char last_message[ERROR_MSG_MAX];

/*
 * The calling thread's last message, or "" when none was set since the last
 * chi_error_clear().  Borrowed: the buffer belongs to the thread.
 */
const char *chi_error_last(void)
{
	return last_message;
}

/*
 * Record a printf-style message for this thread and return err_neg, so a
 * caller can write `return chi_error_set(-EINVAL, "...")`.  The format's
 * arguments may point into the previous message (it is formatted into a
 * scratch buffer first).
 */
int chi_error_set(int err_neg, const char *fmt, ...)
{
	char scratch[ERROR_MSG_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(scratch, sizeof(scratch), fmt, ap);
	va_end(ap);
	if (n < 0) {
		snprintf(scratch, sizeof(scratch), "(unformattable message)");
	} else if ((size_t)n >= sizeof(scratch)) {
		/* Say that the message was cut instead of silently losing it.
		 */
		memcpy(scratch + sizeof(scratch) - 4, "...", 4);
	}
	memcpy(last_message, scratch, sizeof(last_message));
	return err_neg;
}

/* Forget this thread's message; chi_error_last() returns "" afterwards. */
void chi_error_clear(void)
{
	last_message[0] = '\0';
}
