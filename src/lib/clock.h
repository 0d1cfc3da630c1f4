/* Time. Every timeout uses the monotonic clock; wall-clock time is only for logs and dates. */
#ifndef TANDEM_CLOCK_H
#define TANDEM_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC), arbitrary origin. */
uint64_t clock_mono_ms(void);
/* Microseconds on the monotonic clock. */
uint64_t clock_mono_us(void);

#endif
