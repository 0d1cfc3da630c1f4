/* The calendar arithmetic of the hello-birthday API: strict dates, usernames, days until the next
 * birthday. Pure functions, no clock: "today" is always an argument.
 *
 * A 29 February birthday falls on 28 February in years that are not leap years. */
#ifndef HELLOD_BIRTHDAY_H
#define HELLOD_BIRTHDAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum { BD_MAX_USERNAME = 64 };

typedef struct bd_date {
	int year, month, day;
} bd_date;

bool bd_is_leap(int year);
int bd_days_in_month(int year, int month);
/* Exactly "YYYY-MM-DD" (years 0001 to 9999), a real calendar date. */
int bd_parse(const char *s, size_t len, bd_date *out) TND_MUST_CHECK;
/* Writes "YYYY-MM-DD" and a NUL. */
void bd_format(bd_date d, char out[11]);
/* Days since 1970-01-01 (proleptic Gregorian calendar), and back. */
int64_t bd_to_days(bd_date d);
bd_date bd_from_days(int64_t days);
/* Days from `today` to the next birthday of someone born on `birth`; 0 when it is today. */
int bd_days_until_birthday(bd_date birth, bd_date today);
/* 1 to BD_MAX_USERNAME ASCII letters. */
bool bd_valid_username(const char *s, size_t len);

#endif
