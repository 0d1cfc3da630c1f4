#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sb_reserve(strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	sb->data = xrealloc(sb->data, cap);
	sb->cap = cap;
}

void sb_append(strbuf *sb, const void *data, size_t len)
{
	sb_reserve(sb, len);
	if (len)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void sb_puts(strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void sb_printf(strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_reset(strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
}

char *sb_steal(strbuf *sb)
{
	char *s = sb->data ? sb->data : xstrdup("");
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return s;
}

void sb_free(strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

int sb_read_fd(strbuf *sb, int fd, const char *name, size_t max, char **err)
{
	size_t start = sb->len;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, "%s: read error: %s", name, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (sb->len - start + (size_t)n > max) {
			err_set(err, "%s: larger than %zu bytes", name, max);
			return -1;
		}
		sb_append(sb, chunk, (size_t)n);
	}
}

int sb_read_file(strbuf *sb, const char *path, size_t max, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = sb_read_fd(sb, fd, path, max, err);
	close(fd);
	return rc;
}

static void sql_quoted(strbuf *sb, const char *s, char q)
{
	sb_append(sb, &q, 1);
	for (; *s; s++) {
		if (*s == q)
			sb_append(sb, &q, 1);
		sb_append(sb, s, 1);
	}
	sb_append(sb, &q, 1);
}

void sb_sql_literal(strbuf *sb, const char *s)
{
	sql_quoted(sb, s, '\'');
}

void sb_sql_ident(strbuf *sb, const char *s)
{
	sql_quoted(sb, s, '"');
}

void tail_keep(char *buf, size_t cap, size_t *len, const char *p, size_t n)
{
	if (n >= cap) {
		memcpy(buf, p + n - cap, cap);
		*len = cap;
	} else {
		if (*len + n > cap) {
			size_t drop = *len + n - cap;
			memmove(buf, buf + drop, *len - drop);
			*len -= drop;
		}
		memcpy(buf + *len, p, n);
		*len += n;
	}
	buf[*len] = '\0';
}
