/* Logging: one line per event on standard error (or a file, log_to_file), each with its
 * timestamp, level and the context of the thread that wrote it (for example "hellod worker=1").
 * A line is written with a single write(2), so lines from several threads never interleave. */
#ifndef TANDEM_LOG_H
#define TANDEM_LOG_H

#include <stdbool.h>

#include "err.h"
#include "strbuf.h"

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR } log_level;

/* Parses "debug", "info", "warning", "error"; returns -1 for anything else. */
int log_level_parse(const char *s, log_level *out) TND_MUST_CHECK;
const char *log_level_name(log_level level);

/* The process-wide threshold; lines below it are dropped. Safe to call from any thread. */
void log_set_level(log_level level);
bool log_enabled(log_level level);

/* JSON lines instead of plain ones (process-wide, any thread): one object per event,
 * {"time": ISO 8601 UTC, "level", "context": the context's first bare word, each key=value word
 * of the context as its own key, "message"}. Any bytes become valid JSON (control characters
 * escaped, invalid UTF-8 as U+FFFD). */
void log_set_json(bool on);
/* The JSON line of one event (with its newline), appended to `out`; pure, for tests and fuzzing. */
void log_format_json(strbuf *out, const char *time, const char *level, const char *context,
                     const char *msg);

/* Context for the calling thread, shown in brackets on every line it writes (copied). */
void log_set_context(const char *context);

/* From now on, lines go to the file `path` instead of standard error, appended. When a line would
 * take the file past `max_bytes` (0: no limit), the file is rotated first: path.1 becomes
 * path.2, ... up to path.<keep> (the oldest is dropped), path becomes path.1, and a new path is
 * started (with keep 0, the full file is simply started afresh). The file is opened without
 * following a symbolic link, mode 0640. -1 with *err when it cannot be opened. */
int log_to_file(const char *path, long long max_bytes, int keep, char **err) TND_MUST_CHECK;
/* Back to standard error (closes the file). */
void log_to_stderr(void);

void log_msg(log_level level, const char *fmt, ...) TND_PRINTF(2, 3);

#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_msg(LOG_ERROR, __VA_ARGS__)

#endif
