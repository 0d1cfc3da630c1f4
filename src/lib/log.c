#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static atomic_int threshold = LOG_INFO;
static atomic_bool json_lines = false;
static _Thread_local char context[64];

/* The log file, when there is one (log_to_file); guarded by file_lock. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int fd; /* -1: standard error */
	char *path;
	long long size, max_bytes;
	int keep;
} file = {-1, NULL, 0, 0, 0};

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

void log_set_json(bool on)
{
	atomic_store(&json_lines, on);
}

void log_set_context(const char *ctx)
{
	snprintf(context, sizeof context, "%s", ctx ? ctx : "");
}

static int open_log(const char *path, long long *size, char **err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(err, "log file %s: %s", path,
		        fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*size = (long long)st.st_size;
	return fd;
}

int log_to_file(const char *path, long long max_bytes, int keep, char **err)
{
	long long size = 0;
	int fd = open_log(path, &size, err);
	if (fd < 0)
		return -1;
	pthread_mutex_lock(&file_lock);
	if (file.fd >= 0)
		close(file.fd);
	free(file.path);
	file.fd = fd;
	file.path = xstrdup(path);
	file.size = size;
	file.max_bytes = max_bytes;
	file.keep = keep;
	pthread_mutex_unlock(&file_lock);
	return 0;
}

void log_to_stderr(void)
{
	pthread_mutex_lock(&file_lock);
	if (file.fd >= 0)
		close(file.fd);
	free(file.path);
	file.fd = -1;
	file.path = NULL;
	pthread_mutex_unlock(&file_lock);
}

/* With file_lock held: path.N-1 -> path.N, ..., path -> path.1, and a new path. On failure the
 * current file is kept (and grows) rather than a line lost. */
static void rotate(void)
{
	for (int i = file.keep; i >= 1; i--) {
		char *from = i == 1 ? xstrdup(file.path) : xasprintf("%s.%d", file.path, i - 1);
		char *to = xasprintf("%s.%d", file.path, i);
		if (rename(from, to) < 0 && errno != ENOENT) {
			free(from);
			free(to);
			return;
		}
		free(from);
		free(to);
	}
	if (file.keep == 0 && unlink(file.path) < 0 && errno != ENOENT)
		return;
	long long size = 0;
	char *err = NULL;
	int fd = open_log(file.path, &size, &err);
	free(err);
	if (fd < 0)
		return;
	close(file.fd);
	file.fd = fd;
	file.size = size;
}

static void emit(const char *data, size_t len)
{
	pthread_mutex_lock(&file_lock);
	if (file.fd < 0) {
		pthread_mutex_unlock(&file_lock);
		ssize_t r = write(STDERR_FILENO, data, len);
		(void)r;
		return;
	}
	if (file.max_bytes > 0 && file.size > 0 && file.size + (long long)len > file.max_bytes)
		rotate();
	ssize_t r = write(file.fd, data, len);
	if (r > 0)
		file.size += r;
	pthread_mutex_unlock(&file_lock);
}

void log_msg(log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);

	char when[128];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (long)(tv.tv_usec / 1000));
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	strbuf line = STRBUF_INIT;
	if (atomic_load_explicit(&json_lines, memory_order_relaxed)) {
		log_format_json(&line, when, log_level_name(level), context, msg ? msg : "");
	} else {
		sb_printf(&line, "%s %s [%s] ", when, log_level_name(level),
		          context[0] ? context : "main");
		/* One event, one line: embedded newlines would let a peer forge log lines. */
		for (char *p = msg; p && *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		if (msg)
			sb_puts(&line, msg);
		sb_append(&line, "\n", 1);
	}
	free(msg);
	emit(line.data, line.len);
	sb_free(&line);
}
