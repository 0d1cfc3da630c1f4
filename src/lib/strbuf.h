/* A growable byte buffer, always NUL-terminated. It never truncates: it grows or the process
 * ends on out-of-memory (see err.h). */
#ifndef TANDEM_STRBUF_H
#define TANDEM_STRBUF_H

#include <stddef.h>

#include "err.h"

typedef struct strbuf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
} strbuf;

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void sb_append(strbuf *sb, const void *data, size_t len);
void sb_puts(strbuf *sb, const char *s);
void sb_printf(strbuf *sb, const char *fmt, ...) TND_PRINTF(2, 3);
/* `s` as an SQL string literal ('...', quotes doubled) or a quoted identifier ("...", double
 * quotes doubled), for statements with no parameters (DO blocks, CREATE ROLE). */
void sb_sql_literal(strbuf *sb, const char *s);
void sb_sql_ident(strbuf *sb, const char *s);
void sb_reset(strbuf *sb);
/* Appends a whole file. A file larger than `max` bytes is an error ("PATH: larger than N bytes"),
 * never cut short. */
int sb_read_file(strbuf *sb, const char *path, size_t max, char **err) TND_MUST_CHECK;
/* The same from an open file, read to its end; `name` is for messages. */
int sb_read_fd(strbuf *sb, int fd, const char *name, size_t max, char **err) TND_MUST_CHECK;
/* Hands the contents to the caller (never NULL) and leaves the buffer empty. */
char *sb_steal(strbuf *sb);
/* Keeps the last `cap` bytes of a stream in `buf` (cap + 1 bytes, NUL-terminated), `*len` of
 * them used: appends `p`, dropping the oldest bytes. For the tail of a tool's output. */
void tail_keep(char *buf, size_t cap, size_t *len, const char *p, size_t n);
void sb_free(strbuf *sb);

#endif
