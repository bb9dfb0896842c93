/* log — one logging sink for every BigFS process.
 *
 * Levels are syslog's (LOG_ERR .. LOG_DEBUG). In the foreground messages go
 * to stderr with a timestamp and the process ident; as a daemon to syslog.
 * Thread-safe: each message is written with one write(2)/syslog(3) call.
 * Library code returns errors; the caller that decides logs once. */
#ifndef BIGFS_LOG_H
#define BIGFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Set the ident, the sink and the lowest level printed. May be called again
 * (e.g. after daemonising). Before the first call: stderr, LOG_INFO. */
void log_init(const char *ident, bool to_stderr, int min_level);

/* Parse "error", "warning", "info", "debug" into a syslog level; -1 if unknown. */
int log_level_parse(const char *name);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Broken invariant: log file:line and abort. Never for bad input. */
#define bigfs_assert(cond)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			log_abort(__FILE__, __LINE__, #cond);                  \
	} while (0)
void log_abort(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
