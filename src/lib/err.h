/* Errors as values: a function that can fail returns an int (0 on success, -1 on failure) or a
 * pointer (NULL on failure), and describes the failure in a heap string through a `char **err`.
 * The caller owns the message, logs it once where it handles it, and frees it. */
#ifndef TANDEM_ERR_H
#define TANDEM_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define TND_MUST_CHECK   __attribute__((warn_unused_result))
#define TND_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Replaces *errp (if errp is not NULL) with a formatted message. */
void err_set(char **errp, const char *fmt, ...) TND_PRINTF(2, 3);

/* Prepends "prefix: " to an existing message. */
void err_prefix(char **errp, const char *fmt, ...) TND_PRINTF(2, 3);

/* Allocation that never returns NULL: running out of memory ends the process with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) TND_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) TND_PRINTF(1, 0);

#endif
