#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int sb_read_file(strbuf *sb, const char *path, size_t max, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		err_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	size_t start = sb->len;
	char chunk[8192];
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (sb->len - start + n > max) {
			err_set(err, "%s: larger than %zu bytes", path, max);
			rc = -1;
		} else {
			sb_append(sb, chunk, n);
		}
	}
	if (rc == 0 && ferror(f)) {
		err_set(err, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
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
