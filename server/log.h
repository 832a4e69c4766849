/* gridd's log: one line per event on stderr, as key=value pairs, e.g.
 *
 *   ts=2026-11-26T01:02:03.456Z level=info event=conn_open conn=7 peer=127.0.0.1:51000
 *
 * The server logs at its edges (connections, requests, database links,
 * start and stop); common/ and the client library never log. Values that
 * may contain spaces or quotes go through log_quote().
 */
#pragma once

#include <stddef.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
/* Parses "debug", "info", "warn", "error". */
int log_level_parse(const char *s, enum log_level *ret_level);

/* fmt is the rest of the line after "ts=... level=...", key=value pairs. */
void log_line(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s as a log value into out (always NUL-terminated): bare when it has
 * no space, quote, '=' or control character, else double-quoted with
 * escapes; truncated to fit. Returns out. */
const char *log_quote(char *out, size_t size, const char *s);

#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_line(LOG_DEBUG, __VA_ARGS__);                                          \
	} while (0)
#define log_info(...) log_line(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_line(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_line(LOG_ERROR, __VA_ARGS__)
