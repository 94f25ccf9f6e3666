/*
 * Error reporting.  Every function returns 0 or a negative errno; a function
 * that fails on bad input also records a human-readable message for the
 * calling thread (libgit2's git_error_last model), which the caller can print
 * or test.  The message names the file, line and key for config errors, and
 * the path and reason for device errors.
 */
#ifndef CHIMAERA_ERROR_H
#define CHIMAERA_ERROR_H

#include <stddef.h>

/*
 * The calling thread's last error message, or "" if none was set.  Borrowed:
 * valid until this thread's next chi_error_set/chi_error_clear.
 */
const char *chi_error_last(void);

/* Record a message for the calling thread (printf format); returns -err_neg
 * unchanged so a caller can write `return chi_error_set(-EINVAL, ...)`. */
int chi_error_set(int err_neg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void chi_error_clear(void);

#endif
