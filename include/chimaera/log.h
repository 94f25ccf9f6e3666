/*
 * Logging with levels.  The level comes from CHIMAERA_LOG_LEVEL (error, warn,
 * info, debug, or 0-3; default warn), read once at first use.  Messages go to
 * stderr prefixed with the level and the component.
 */
#ifndef CHIMAERA_LOG_H
#define CHIMAERA_LOG_H

typedef enum chi_log_level {
	CHI_LOG_ERROR = 0,
	CHI_LOG_WARN = 1,
	CHI_LOG_INFO = 2,
	CHI_LOG_DEBUG = 3,
} chi_log_level;

void chi_log(chi_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True when messages of this level are printed. */
int chi_log_enabled(chi_log_level level);

/* Override the level (tests, daemons' -d flag). */
void chi_log_set_level(chi_log_level level);

#define CHI_LOG(lvl, comp, ...)                                                \
	do {                                                                   \
		if (chi_log_enabled(lvl))                                      \
			chi_log(lvl, comp, __VA_ARGS__);                       \
	} while (0)
#define CHI_ERROR(comp, ...) CHI_LOG(CHI_LOG_ERROR, comp, __VA_ARGS__)
#define CHI_WARN(comp, ...)  CHI_LOG(CHI_LOG_WARN, comp, __VA_ARGS__)
#define CHI_INFO(comp, ...)  CHI_LOG(CHI_LOG_INFO, comp, __VA_ARGS__)
#define CHI_DEBUG(comp, ...) CHI_LOG(CHI_LOG_DEBUG, comp, __VA_ARGS__)

#endif
