/* Helpers shared by the libFuzzer targets: the entry point's prototype, a failed-invariant abort
 * that says which invariant, and copies of the input as exactly-sized heap buffers (so that
 * AddressSanitizer catches a read one byte past what a function was given). */
#ifndef TANDEM_FUZZ_UTIL_H
#define TANDEM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__,       \
			        #cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A NUL-terminated heap copy of `len` bytes (a NUL inside ends the C string early). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		abort();
	if (len)
		memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/* A heap copy of exactly `len` bytes, not terminated (malloc(1) for none). */
static inline char *fuzz_memdup(const uint8_t *data, size_t len)
{
	char *s = malloc(len ? len : 1);
	if (!s)
		abort();
	if (len)
		memcpy(s, data, len);
	return s;
}

#endif
