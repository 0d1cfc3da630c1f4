#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static atomic_int threshold = LOG_INFO;
static _Thread_local char context[64];

static const char *const names[] = {"debug", "info", "warning", "error"};

int log_level_parse(const char *s, log_level *out)
{
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (log_level)i;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(log_level level)
{
	return (level >= LOG_DEBUG && level <= LOG_ERROR) ? names[level] : "?";
}

void log_set_level(log_level level)
{
	atomic_store(&threshold, (int)level);
}

bool log_enabled(log_level level)
{
	return (int)level >= atomic_load_explicit(&threshold, memory_order_relaxed);
}

void log_set_context(const char *ctx)
{
	snprintf(context, sizeof context, "%s", ctx ? ctx : "");
}

void log_msg(log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);

	strbuf line = STRBUF_INIT;
	sb_printf(&line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ", tm.tm_year + 1900,
	          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	          (long)(tv.tv_usec / 1000), log_level_name(level), context[0] ? context : "main");
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) >= 0) {
		/* One event, one line: embedded newlines would let a peer forge log lines. */
		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		sb_puts(&line, msg);
		free(msg);
	}
	va_end(ap);
	sb_append(&line, "\n", 1);
	ssize_t r = write(STDERR_FILENO, line.data, line.len);
	(void)r;
	sb_free(&line);
}
