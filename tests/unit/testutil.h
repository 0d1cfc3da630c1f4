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

/* The number of entries of a NULL-terminated argv. */
static inline int tu_argc(char *const *argv)
{
	int n = 0;
	while (argv[n])
		n++;
	return n;
}

/* After a call `what` that had to succeed: fails the test, showing the error, unless rc is 0. */
static inline void tu_expect_ok(const char *what, int rc, char *err)
{
	if (rc != 0) {
		print_error("%s failed: %s\n", what, err ? err : "(no message)");
		free(err);
		fail();
	}
	assert_null(err);
}

/* After a call `what` that had to fail: rc must be -1 and the message must hold `part1` and
 * `part2` (each when not NULL). Frees the message. */
static inline void tu_expect_error(const char *what, int rc, char *err, const char *part1,
                                   const char *part2)
{
	if (rc == 0) {
		print_error("%s succeeded, expected an error with '%s'\n", what,
		            part1 ? part1 : "");
		free(err);
		fail();
	}
	assert_int_equal(rc, -1);
	assert_non_null(err);
	if (part1)
		assert_contains(err, part1);
	if (part2)
		assert_contains(err, part2);
	free(err);
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
