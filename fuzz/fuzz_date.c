/* Fuzzes the calendar functions of birthday.h.
 *
 * bd_parse() on the raw bytes (in a buffer of exactly their size). When it accepts them they are
 * exactly "YYYY-MM-DD" of a real date: bd_format() gives the same ten bytes back, bd_to_days() and
 * bd_from_days() round-trip, and against several todays bd_days_until_birthday() is in 0..366,
 * lands on the birthday (28 February for a 29 February birthday in other years) and skips none.
 * Whatever the input, its first bytes also pick a day number in the years 0001..9999, which must
 * survive bd_from_days, bd_format, bd_parse and bd_to_days unchanged. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "birthday.h"
#include "fuzz_util.h"

static bool same_date(bd_date a, bd_date b)
{
	return a.year == b.year && a.month == b.month && a.day == b.day;
}

static bool valid_date(bd_date d)
{
	return d.year >= 1 && d.year <= 9999 && d.month >= 1 && d.month <= 12 && d.day >= 1 &&
	       d.day <= bd_days_in_month(d.year, d.month);
}

/* Whether `d` is the birthday, in d's year, of someone born on `birth`. */
static bool is_birthday(bd_date birth, bd_date d)
{
	if (birth.month == 2 && birth.day == 29 && !bd_is_leap(d.year))
		return d.month == 2 && d.day == 28;
	return d.month == birth.month && d.day == birth.day;
}

static void check_until(bd_date birth, bd_date today)
{
	int n = bd_days_until_birthday(birth, today);
	FUZZ_CHECK(n >= 0 && n <= 366, "%d days from %04d-%02d-%02d to the birthday %04d-%02d-%02d",
	           n, today.year, today.month, today.day, birth.year, birth.month, birth.day);
	int64_t t = bd_to_days(today);
	FUZZ_CHECK(is_birthday(birth, bd_from_days(t + n)),
	           "today %04d-%02d-%02d + %d days is not the birthday of %04d-%02d-%02d",
	           today.year, today.month, today.day, n, birth.year, birth.month, birth.day);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(!is_birthday(birth, bd_from_days(t + i)),
		           "a birthday %d days after %04d-%02d-%02d comes before the %d counted", i,
		           today.year, today.month, today.day, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_memdup(data, size);
	bd_date d;
	if (bd_parse(s, size, &d) == 0) {
		FUZZ_CHECK(size == 10, "accepted %zu bytes", size);
		FUZZ_CHECK(valid_date(d), "accepted %04d-%02d-%02d", d.year, d.month, d.day);
		char out[11];
		bd_format(d, out);
		FUZZ_CHECK(memcmp(out, s, 10) == 0 && out[10] == '\0',
		           "'%.10s' formats back as '%s'", s, out);
		FUZZ_CHECK(same_date(bd_from_days(bd_to_days(d)), d), "'%s' does not round-trip",
		           out);

		static const bd_date todays[] = {
		    {2024, 2, 29}, {2023, 2, 28}, {2023, 3, 1},   {2024, 12, 31},
		    {2025, 1, 1},  {1, 1, 1},     {9999, 12, 31},
		};
		for (size_t i = 0; i < sizeof todays / sizeof todays[0]; i++)
			check_until(d, todays[i]);
		FUZZ_CHECK(bd_days_until_birthday(d, d) == 0, "a birthday is not 0 days away");
		check_until(d, d);
	}

	/* A day number in 0001-01-01 .. 9999-12-31 from the first bytes, whatever they are. */
	const int64_t lo = bd_to_days((bd_date){1, 1, 1}), hi = bd_to_days((bd_date){9999, 12, 31});
	uint64_t r = 0;
	for (size_t i = 0; i < size && i < 8; i++)
		r = r << 8 | data[i];
	int64_t z = lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
	bd_date e = bd_from_days(z);
	FUZZ_CHECK(valid_date(e), "day %lld is %d-%d-%d", (long long)z, e.year, e.month, e.day);
	char text[11];
	bd_format(e, text);
	bd_date back;
	FUZZ_CHECK(bd_parse(text, 10, &back) == 0 && same_date(back, e),
	           "day %lld: '%s' does not parse back", (long long)z, text);
	FUZZ_CHECK(bd_to_days(back) == z, "day %lld: '%s' is day %lld", (long long)z, text,
	           (long long)bd_to_days(back));

	free(s);
	return 0;
}
