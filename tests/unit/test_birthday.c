/* Unit tests for src/hellod/birthday.h: strict dates, the day count, days until a birthday and
 * usernames. The calendar oracles here step day by day with a plain "next date" function, so they
 * do not share any arithmetic with the code under test. */
#include "testutil.h"

#include "birthday.h"

static bd_date D(int y, int m, int d)
{
	bd_date x = {y, m, d};
	return x;
}

static int parse_str(const char *s, bd_date *out)
{
	return bd_parse(s, strlen(s), out);
}

static void assert_date(bd_date got, int y, int m, int d)
{
	if (got.year != y || got.month != m || got.day != d) {
		print_error("got %04d-%02d-%02d, expected %04d-%02d-%02d\n", got.year, got.month,
		            got.day, y, m, d);
		fail();
	}
}

/* The calendar the slow way: a month table and the leap rule written out again. */
static int oracle_month_len(int y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : len[m - 1];
}

static bd_date oracle_next_day(bd_date d)
{
	if (d.day < oracle_month_len(d.year, d.month)) {
		d.day++;
	} else if (d.month < 12) {
		d.month++;
		d.day = 1;
	} else {
		d.year++;
		d.month = 1;
		d.day = 1;
	}
	return d;
}

static bool oracle_is_birthday(bd_date birth, bd_date day)
{
	if (birth.month == 2 && birth.day == 29 && oracle_month_len(day.year, 2) == 28)
		return day.month == 2 && day.day == 28;
	return day.month == birth.month && day.day == birth.day;
}

static int oracle_days_until(bd_date birth, bd_date today)
{
	int n = 0;
	while (!oracle_is_birthday(birth, today)) {
		today = oracle_next_day(today);
		n++;
	}
	return n;
}

/* ---- bd_is_leap, bd_days_in_month ---- */

static void test_leap_years(void **state)
{
	(void)state;
	assert_true(bd_is_leap(2024));
	assert_true(bd_is_leap(2000));
	assert_true(bd_is_leap(1600));
	assert_true(bd_is_leap(4));
	assert_false(bd_is_leap(2023));
	assert_false(bd_is_leap(1900));
	assert_false(bd_is_leap(2100));
	assert_false(bd_is_leap(1));
}

static void test_days_in_month(void **state)
{
	(void)state;
	static const int normal[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	for (int m = 1; m <= 12; m++) {
		assert_int_equal(bd_days_in_month(2023, m), normal[m - 1]);
		assert_int_equal(bd_days_in_month(2024, m), m == 2 ? 29 : normal[m - 1]);
	}
	assert_int_equal(bd_days_in_month(1900, 2), 28);
	assert_int_equal(bd_days_in_month(2000, 2), 29);
	assert_int_equal(bd_days_in_month(2023, 0), 0);
	assert_int_equal(bd_days_in_month(2023, 13), 0);
	assert_int_equal(bd_days_in_month(2023, -1), 0);
}

/* ---- bd_parse ---- */

static void test_parse_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int y, m, d;
	} ok[] = {
	    {"1990-05-10", 1990, 5, 10}, {"2024-02-29", 2024, 2, 29},  {"2000-02-29", 2000, 2, 29},
	    {"0001-01-01", 1, 1, 1},     {"9999-12-31", 9999, 12, 31}, {"2023-01-31", 2023, 1, 31},
	    {"2023-04-30", 2023, 4, 30}, {"2023-12-01", 2023, 12, 1},  {"1600-02-29", 1600, 2, 29},
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		bd_date d = D(-1, -1, -1);
		if (parse_str(ok[i].s, &d) != 0) {
			print_error("'%s' was rejected\n", ok[i].s);
			fail();
		}
		assert_date(d, ok[i].y, ok[i].m, ok[i].d);
	}
}

static void test_parse_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "2023-02-30",  /* no such day */
	    "2023-02-29",  /* not a leap year */
	    "1900-02-29",  /* century, not a leap year */
	    "2023-13-01",  /* month 13 */
	    "2023-00-10",  /* month 0 */
	    "2023-01-00",  /* day 0 */
	    "2023-01-32",  /* day 32 */
	    "2023-04-31",  /* April has 30 days */
	    "0000-01-01",  /* no year 0 */
	    "20-01-01",    /* short year */
	    "",            /* empty */
	    "2023-1-01",   /* one-digit month */
	    "2023-01-1",   /* one-digit day */
	    "12023-01-01", /* five-digit year */
	    "2023/01/01",  /* wrong separators */
	    "2023-01-01x", /* trailing garbage */
	    "2023-01-01 ", /* trailing space */
	    " 2023-01-01", /* leading space */
	    "2023- 1-01",  /* space inside */
	    "2023-01- 1",  /* space inside */
	    "+023-01-01",  /* sign in the year */
	    "-023-01-01",  /* sign in the year */
	    "2023-+1-01",  /* sign in the month */
	    "2023-01--1",  /* sign in the day */
	    "2023-01-0a",  /* letter */
	    "abcd-ef-gh",  /* letters */
	    "2023_01_01",  /* wrong separators */
	    "20230101",    /* no separators */
	    "2023-0101-",  /* separators misplaced */
	    "10-05-1990",  /* day first */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bd_date d;
		if (parse_str(bad[i], &d) == 0) {
			print_error("'%s' was accepted as %04d-%02d-%02d\n", bad[i], d.year,
			            d.month, d.day);
			fail();
		}
	}
}

static void test_parse_uses_length_not_nul(void **state)
{
	(void)state;
	bd_date d;
	/* Only the first `len` bytes count. */
	assert_int_equal(bd_parse("2023-01-01xyz", 10, &d), 0);
	assert_date(d, 2023, 1, 1);
	assert_int_not_equal(bd_parse("2023-01-01", 9, &d), 0);
	assert_int_not_equal(bd_parse("2023-01-01", 0, &d), 0);
	/* An embedded NUL is not a digit. */
	static const char nul[10] = {'2', '0', '2', '3', '-', '0', '1', '-', '0', '\0'};
	assert_int_not_equal(bd_parse(nul, sizeof nul, &d), 0);
}

/* ---- bd_format ---- */

static void test_format(void **state)
{
	(void)state;
	char buf[11];
	memset(buf, 'x', sizeof buf);
	bd_format(D(2024, 2, 9), buf);
	assert_string_equal(buf, "2024-02-09");
	bd_format(D(1, 1, 1), buf);
	assert_string_equal(buf, "0001-01-01");
	bd_format(D(9999, 12, 31), buf);
	assert_string_equal(buf, "9999-12-31");
	bd_format(D(1990, 10, 5), buf);
	assert_string_equal(buf, "1990-10-05");
}

static void test_format_parse_round_trip(void **state)
{
	(void)state;
	bd_date d = D(1890, 1, 1);
	for (int i = 0; i < 200 * 366; i++) {
		char buf[11];
		bd_format(d, buf);
		assert_int_equal(strlen(buf), 10);
		bd_date back;
		assert_int_equal(parse_str(buf, &back), 0);
		assert_date(back, d.year, d.month, d.day);
		d = oracle_next_day(d);
	}
}

/* ---- bd_to_days, bd_from_days ---- */

static void test_days_known_values(void **state)
{
	(void)state;
	assert_int_equal(bd_to_days(D(1970, 1, 1)), 0);
	assert_int_equal(bd_to_days(D(1970, 1, 2)), 1);
	assert_true(bd_to_days(D(1969, 12, 31)) == -1);
	assert_int_equal(bd_to_days(D(2000, 1, 1)), 10957);
	assert_int_equal(bd_to_days(D(2000, 3, 1)), 11017);
	assert_int_equal(bd_to_days(D(2024, 2, 29)), 19782);
	assert_true(bd_to_days(D(1900, 3, 1)) == -25508);
	assert_true(bd_to_days(D(1600, 1, 1)) == -135140);
	assert_true(bd_to_days(D(1, 1, 1)) == -719162);
	assert_int_equal(bd_to_days(D(9999, 12, 31)), 2932896);

	assert_date(bd_from_days(0), 1970, 1, 1);
	assert_date(bd_from_days(-1), 1969, 12, 31);
	assert_date(bd_from_days(11017), 2000, 3, 1);
	assert_date(bd_from_days(11016), 2000, 2, 29);
	assert_date(bd_from_days(-719162), 1, 1, 1);
	assert_date(bd_from_days(2932896), 9999, 12, 31);
}

static void test_days_round_trip_1600_2400(void **state)
{
	(void)state;
	bd_date d = D(1600, 1, 1);
	int64_t n = bd_to_days(d);
	assert_true(n == -135140);
	int64_t count = 0;
	while (d.year <= 2400) {
		int64_t got = bd_to_days(d);
		if (got != n) {
			print_error("bd_to_days(%04d-%02d-%02d) = %lld, expected %lld\n", d.year,
			            d.month, d.day, (long long)got, (long long)n);
			fail();
		}
		bd_date back = bd_from_days(n);
		assert_date(back, d.year, d.month, d.day);
		d = oracle_next_day(d);
		n++;
		count++;
	}
	/* 801 years with 195 leap years (1600..2400, both ends leap). */
	assert_int_equal(count, 801 * 365 + 195);
	assert_int_equal(n, 157420);
}

/* ---- bd_days_until_birthday ---- */

static void test_until_simple(void **state)
{
	(void)state;
	bd_date birth = D(1990, 5, 10);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 5, 10)), 0);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 5, 9)), 1);
	/* Yesterday: 364 days when the next 12 months have no 29 February, 365 when they do. */
	assert_int_equal(bd_days_until_birthday(birth, D(2022, 5, 11)), 364);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 5, 11)), 365);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 1, 1)), 129);
	/* Born on the day itself. */
	assert_int_equal(bd_days_until_birthday(D(2023, 5, 10), D(2023, 5, 10)), 0);
}

static void test_until_year_end(void **state)
{
	(void)state;
	/* Born 1 January, today 31 December: tomorrow, in the next year. */
	assert_int_equal(bd_days_until_birthday(D(2000, 1, 1), D(2023, 12, 31)), 1);
	assert_int_equal(bd_days_until_birthday(D(2000, 1, 1), D(2024, 1, 1)), 0);
	assert_int_equal(bd_days_until_birthday(D(2000, 1, 1), D(2024, 1, 2)), 365);
	assert_int_equal(bd_days_until_birthday(D(2000, 1, 1), D(2023, 1, 2)), 364);
	/* Born 31 December. */
	assert_int_equal(bd_days_until_birthday(D(1999, 12, 31), D(2024, 1, 1)), 365);
	assert_int_equal(bd_days_until_birthday(D(1999, 12, 31), D(2023, 1, 1)), 364);
	assert_int_equal(bd_days_until_birthday(D(1999, 12, 31), D(2023, 12, 31)), 0);
	assert_int_equal(bd_days_until_birthday(D(1999, 12, 31), D(2023, 12, 30)), 1);
}

static void test_until_leap_day_birthday(void **state)
{
	(void)state;
	bd_date birth = D(2000, 2, 29);
	/* Not a leap year: celebrated on 28 February. */
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 2, 28)), 0);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 2, 27)), 1);
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 1, 15)), 44);
	/* Just missed it: the next one is 29 February 2024. */
	assert_int_equal(bd_days_until_birthday(birth, D(2023, 3, 1)), 365);
	/* Leap year: 29 February itself, not the 28th. */
	assert_int_equal(bd_days_until_birthday(birth, D(2024, 2, 28)), 1);
	assert_int_equal(bd_days_until_birthday(birth, D(2024, 2, 29)), 0);
	/* After it in a leap year: 28 February 2025. */
	assert_int_equal(bd_days_until_birthday(birth, D(2024, 3, 1)), 364);
	/* 2100 is not a leap year. */
	assert_int_equal(bd_days_until_birthday(birth, D(2100, 2, 28)), 0);
	assert_int_equal(bd_days_until_birthday(birth, D(2099, 3, 1)), 364);
	assert_int_equal(bd_days_until_birthday(birth, D(2000, 2, 29)), 0);
	/* Someone born on 28 February is not moved. */
	assert_int_equal(bd_days_until_birthday(D(2001, 2, 28), D(2024, 2, 28)), 0);
	assert_int_equal(bd_days_until_birthday(D(2001, 2, 28), D(2024, 2, 29)), 365);
	/* Nor someone born on 1 March. */
	assert_int_equal(bd_days_until_birthday(D(2001, 3, 1), D(2024, 2, 29)), 1);
	assert_int_equal(bd_days_until_birthday(D(2001, 3, 1), D(2023, 2, 28)), 1);
}

static void test_until_against_oracle(void **state)
{
	(void)state;
	static const bd_date births[] = {
	    {2000, 2, 29}, {1990, 1, 1},  {1990, 12, 31}, {1985, 2, 28},
	    {1985, 3, 1},  {1970, 6, 30}, {2004, 7, 31},  {1999, 11, 15},
	};
	for (size_t b = 0; b < sizeof births / sizeof births[0]; b++) {
		/* Every day from 2095 to 2105 (crosses the non-leap 2100) and 2022 to 2026. */
		static const int starts[] = {2022, 2095};
		for (size_t s = 0; s < 2; s++) {
			bd_date today = D(starts[s], 1, 1);
			while (today.year < starts[s] + 5) {
				int want = oracle_days_until(births[b], today);
				int got = bd_days_until_birthday(births[b], today);
				if (got != want) {
					print_error(
					    "birth %04d-%02d-%02d today %04d-%02d-%02d: got "
					    "%d expected %d\n",
					    births[b].year, births[b].month, births[b].day,
					    today.year, today.month, today.day, got, want);
					fail();
				}
				today = oracle_next_day(today);
			}
		}
	}
}

/* ---- bd_valid_username ---- */

static bool valid(const char *s)
{
	return bd_valid_username(s, strlen(s));
}

static void test_username(void **state)
{
	(void)state;
	assert_true(valid("bob"));
	assert_true(valid("A"));
	assert_true(valid("z"));
	assert_true(valid("AbCdEfGhIjKlMnOpQrStUvWxYz"));

	char letters[BD_MAX_USERNAME + 2];
	memset(letters, 'a', sizeof letters - 1);
	letters[sizeof letters - 1] = '\0';
	assert_int_equal(strlen(letters), 65);
	assert_false(valid(letters)); /* 65 letters */
	letters[64] = '\0';
	assert_true(valid(letters)); /* 64 letters */

	static const char *const bad[] = {
	    "",      "bob1",        "1bob", "bo b", " bob", "bob ",  "bo-b",
	    "bo_b",  "bob.",        "b%41", "%41",  "bob/", "b\tob", "\xc3\xa9t\xc3\xa9",
	    "bob\n", "caf\xc3\xa9", "@",    "[",    "`",    "{",     "bob!",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (valid(bad[i])) {
			print_error("username '%s' was accepted\n", bad[i]);
			fail();
		}
	}
	/* A high byte on its own (signed char on this platform) and an embedded NUL. */
	assert_false(bd_valid_username("b\x80", 2));
	assert_false(bd_valid_username("b\xff", 2));
	assert_false(bd_valid_username("bo\0b", 4));
	/* The length is what counts, not the NUL. */
	assert_true(bd_valid_username("bob1", 3));
	assert_false(bd_valid_username("bob", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leap_years),
	    cmocka_unit_test(test_days_in_month),
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_invalid),
	    cmocka_unit_test(test_parse_uses_length_not_nul),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_format_parse_round_trip),
	    cmocka_unit_test(test_days_known_values),
	    cmocka_unit_test(test_days_round_trip_1600_2400),
	    cmocka_unit_test(test_until_simple),
	    cmocka_unit_test(test_until_year_end),
	    cmocka_unit_test(test_until_leap_day_birthday),
	    cmocka_unit_test(test_until_against_oracle),
	    cmocka_unit_test(test_username),
	};
	return cmocka_run_group_tests_name("birthday", tests, NULL, NULL);
}
