/* Time. Every timeout uses the monotonic clock; wall-clock time is only for logs and dates. */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC), arbitrary origin. */
uint64_t clock_mono_ms(void);
/* Microseconds on the monotonic clock. */
uint64_t clock_mono_us(void);

/* ISO 8601 date and time with a zone ("2026-11-22T10:30:00+01:00", "...Z", fractions of a
 * second allowed) -> milliseconds since the epoch. 0, or -1 when malformed. */
int clock_parse_iso8601(const char *text, int64_t *unix_ms);
/* Milliseconds since the epoch, now. */
int64_t clock_unix_ms(void);

#endif
