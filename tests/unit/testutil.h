/* Small helpers shared by the unit tests (header-only, everything static inline). */
#ifndef TANDEM_TESTUTIL_H
#define TANDEM_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Fails the test, showing both strings, when `needle` is not inside `hay`. */
#define assert_contains(hay, needle) tu_assert_contains((hay), (needle), __FILE__, __LINE__)

static inline void tu_assert_contains(const char *hay, const char *needle, const char *file,
                                      int line)
{
	if (!hay || !strstr(hay, needle)) {
		print_error("'%s' does not contain '%s'\n", hay ? hay : "(null)", needle);
		_fail(file, line);
	}
}

#define assert_not_contains(hay, needle) tu_assert_not_contains((hay), (needle), __FILE__, __LINE__)

static inline void tu_assert_not_contains(const char *hay, const char *needle, const char *file,
                                          int line)
{
	if (hay && strstr(hay, needle)) {
		print_error("'%s' contains '%s'\n", hay, needle);
		_fail(file, line);
	}
}

/* Writes `text` to a new temporary file and returns its path (caller frees and unlinks). */
static inline char *tu_temp_file(const char *text)
{
	char tmpl[] = "/tmp/tandem-unit-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	char *path = strdup(tmpl);
	assert_non_null(path);
	return path;
}

static inline void tu_remove_file(char *path)
{
	if (path) {
		unlink(path);
		free(path);
	}
}

#endif
