/* Cron schedules (the five fields SREs know: minute hour day-of-month month day-of-week) and the
 * next time one fires after a given instant, in a time zone. Pure: the zone is a function giving
 * the UTC offset at an instant (tzone.h has the one on the system's zone database).
 *
 * Fields: `*`, N, N-M, lists with commas, steps (`*` /N, N-M/N, N/N); months jan..dec and days
 * sun..sat by name (case-insensitive); day-of-week 0 and 7 are Sunday. When both day-of-month
 * and day-of-week are restricted, a day matching either fires (as every cron does). Macros:
 * @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually); `none` (or an empty text)
 * never fires.
 *
 * Daylight saving time, by wall clock as people read it: a time that does not exist (skipped
 * when clocks go forward) fires at the first instant after the gap; a time that happens twice
 * (clocks go back) fires at its first occurrence only. */
#ifndef TANDEM_CRON_H
#define TANDEM_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

typedef struct cron_spec {
	uint64_t minute;         /* bit N: minute N */
	uint32_t hour, dom;      /* bit N: hour N, day N (1..31) */
	uint16_t month;          /* bit N: month N (1..12) */
	uint8_t dow;             /* bit N: weekday N (0 Sunday .. 6) */
	bool dom_star, dow_star; /* the field started with `*` */
	bool never;              /* `none` */
} cron_spec;

/* Parses `text`; -1 with *err naming the field and why. */
int cron_parse(const char *text, cron_spec *out, char **err) TND_MUST_CHECK;

/* The UTC offset (seconds east) in force at `utc_s`; 0 or -1 when unknown. */
typedef int (*cron_offset_fn)(int64_t utc_s, void *ud, int32_t *offset_s);

/* How far ahead cron_next looks before it says "never". */
enum { CRON_HORIZON_DAYS = 5 * 366 + 1 };

/* The first instant (UTC seconds, on a minute) strictly after `after_s` at which `spec` fires in
 * the zone `off`. 0 and *next set; 1 when it does not fire within CRON_HORIZON_DAYS (`none`, or
 * a date such as 31 February); -1 when the zone cannot say. */
int cron_next(const cron_spec *spec, int64_t after_s, cron_offset_fn off, void *ud,
              int64_t *next) TND_MUST_CHECK;

/* Whether a wall-clock time (civil date and time, no zone) matches. */
bool cron_matches(const cron_spec *spec, int year, int month, int day, int hour, int minute);

#endif
