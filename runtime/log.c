/*
 * Levelled logging to stderr.
 *
 * DESIGN: the level is read once from the environment (CHIMAERA_LOG_LEVEL,
 * else CTE_LOG_LEVEL, else HSHM_LOG_LEVEL; default warn) under pthread_once
 * and kept in an atomic, so chi_log_enabled() is one relaxed load and
 * chi_log_set_level() may race with loggers harmlessly.  Each message is
 * formatted into one buffer and written with a single write(2), so lines
 * from concurrent threads never interleave.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chimaera/log.h"

#define LOG_LINE_MAX 2048

static pthread_once_t level_once = PTHREAD_ONCE_INIT;
static atomic_int current_level = CHI_LOG_WARN;
/* Set by chi_log_set_level() so a later first use does not override it. */
static atomic_int level_overridden;

static const char *const level_names[] = {
    [CHI_LOG_ERROR] = "error",
    [CHI_LOG_WARN] = "warn",
    [CHI_LOG_INFO] = "info",
    [CHI_LOG_DEBUG] = "debug",
};

/* Level from a name or digit; -1 when the text means nothing. */
static int parse_level(const char *text)
{
	static const struct {
		const char *name;
		int level;
	} aliases[] = {
	    {"error", CHI_LOG_ERROR}, {"err", CHI_LOG_ERROR},
	    {"warn", CHI_LOG_WARN},   {"warning", CHI_LOG_WARN},
	    {"info", CHI_LOG_INFO},   {"debug", CHI_LOG_DEBUG},
	    {"trace", CHI_LOG_DEBUG},
	};
	size_t i;

	if (text[0] >= '0' && text[0] <= '9' && text[1] == '\0')
		return text[0] - '0' > CHI_LOG_DEBUG ? CHI_LOG_DEBUG
		                                     : text[0] - '0';
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(text, aliases[i].name) == 0)
			return aliases[i].level;
	return -1;
}

static void read_level_from_env(void)
{
	static const char *const vars[] = {"CHIMAERA_LOG_LEVEL",
	                                   "CTE_LOG_LEVEL", "HSHM_LOG_LEVEL"};
	size_t i;

	if (atomic_load_explicit(&level_overridden, memory_order_relaxed))
		return;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *text = getenv(vars[i]);
		int level;

		if (!text || !*text)
			continue;
		level = parse_level(text);
		if (level < 0) {
			fprintf(stderr,
			        "[warn] log: %s=%s is not a level (error, "
			        "warn, info, debug or 0-3); using warn\n",
			        vars[i], text);
			return;
		}
		atomic_store_explicit(&current_level, level,
		                      memory_order_relaxed);
		return;
	}
}

/* True when messages of `level` are printed (reads the env once). */
int chi_log_enabled(chi_log_level level)
{
	pthread_once(&level_once, read_level_from_env);
	return (int)level <=
	       atomic_load_explicit(&current_level, memory_order_relaxed);
}

/* Override the level from the environment (tests, a daemon's -d flag). */
void chi_log_set_level(chi_log_level level)
{
	atomic_store_explicit(&level_overridden, 1, memory_order_relaxed);
	pthread_once(&level_once, read_level_from_env);
	atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

/*
 * Print "[level] component: message\n" to stderr when `level` is enabled.
 * A message longer than the line buffer is cut.  Never changes errno.
 */
void chi_log(chi_log_level level, const char *component, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	const char *name;
	size_t len, off = 0;
	int saved_errno = errno;
	va_list ap;
	int n;

	if (!chi_log_enabled(level))
		return;
	name = (unsigned)level <= CHI_LOG_DEBUG ? level_names[level] : "?";
	n = snprintf(line, sizeof(line), "[%s] %s: ", name,
	             component ? component : "chimaera");
	len = n < 0 ? 0 : (size_t)n;
	if (len < sizeof(line)) {
		va_start(ap, fmt);
		n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
		va_end(ap);
		if (n > 0)
			len += (size_t)n;
	}
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	if (len == 0 || line[len - 1] != '\n')
		line[len++] = '\n';
	while (off < len) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	errno = saved_errno;
}
