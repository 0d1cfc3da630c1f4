/* Cron schedules and their next fire time (src/lib/cron.c), in zones with daylight saving time
 * (src/lib/tzone.c on the system's zone database, and a made-up zone). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cron.h"
#include "tzone.h"

static void test_parse(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int rc;
	} cases[] = {
	    {"* * * * *", 0},
	    {"0 1 * * 0", 0},
	    {"0 1 * * 1-6", 0},
	    {"*/15 * * * *", 0},
	    {"0 0 1,15 * *", 0},
	    {"0 0 * jan-mar MON", 0},
	    {"5-55/10 2 * * 7", 0},
	    {"@daily", 0},
	    {"@weekly", 0},
	    {"none", 0},
	    {"", 0},
	    {"  0 1 * * sun  ", 0},
	    {"0 1 * *", -1},
	    {"0 1 * * * *", -1},
	    {"60 * * * *", -1},
	    {"* 24 * * *", -1},
	    {"* * 0 * *", -1},
	    {"* * 32 * *", -1},
	    {"* * * 13 *", -1},
	    {"* * * * 8", -1},
	    {"*/0 * * * *", -1},
	    {"5-1 * * * *", -1},
	    {"a * * * *", -1},
	    {"1,,2 * * * *", -1},
	    {"@often", -1},
	    {"* * * * sunday", -1},
	    {"99999999999 * * * *", -1},
	    {"1- * * * *", -1},
	    {"*/ * * * *", -1},
	    {"*/61 * * * *", -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cron_spec s;
		char *err = NULL;
		int rc = cron_parse(cases[i].text, &s, &err);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d (%s)", cases[i].text, rc, cases[i].rc,
			         err ? err : "");
		if (rc != 0)
			assert_non_null(err);
		free(err);
	}
}

static void test_matches(void **state)
{
	(void)state;
	cron_spec s;
	char *err = NULL;
	assert_int_equal(cron_parse("0 1 * * 0", &s, &err), 0);
	assert_true(cron_matches(&s, 2026, 12, 6, 1, 0));  /* a Sunday */
	assert_false(cron_matches(&s, 2026, 12, 7, 1, 0)); /* Monday */
	assert_false(cron_matches(&s, 2026, 12, 6, 1, 1));
	assert_int_equal(cron_parse("0 1 * * 7", &s, &err), 0); /* 7 is Sunday too */
	assert_true(cron_matches(&s, 2026, 12, 6, 1, 0));
	/* Both days restricted: either matches. */
	assert_int_equal(cron_parse("0 0 13 * fri", &s, &err), 0);
	assert_true(cron_matches(&s, 2026, 12, 13, 0, 0)); /* the 13th, a Sunday */
	assert_true(cron_matches(&s, 2026, 12, 4, 0, 0));  /* a Friday */
	assert_false(cron_matches(&s, 2026, 12, 5, 0, 0));
	/* One restricted: both must. */
	assert_int_equal(cron_parse("0 0 */2 * fri", &s, &err), 0);
	assert_false(cron_matches(&s, 2026, 12, 4, 0, 0)); /* day 4 is not */
	assert_int_equal(cron_parse("0 0 * * fri", &s, &err), 0);
	assert_true(cron_matches(&s, 2026, 12, 4, 0, 0));
	assert_false(cron_matches(&s, 2026, 13, 4, 0, 0));
}

static int utc(int64_t t, void *ud, int32_t *o)
{
	(void)t;
	(void)ud;
	*o = 0;
	return 0;
}

static int64_t next_in(const char *spec, int64_t after, const char *zone)
{
	cron_spec s;
	char *err = NULL;
	if (cron_parse(spec, &s, &err) != 0)
		fail_msg("%s: %s", spec, err);
	int64_t n = -1;
	int rc = zone ? tzone_cron_next(&s, after, zone, &n) : cron_next(&s, after, utc, NULL, &n);
	return rc == 0 ? n : -100 - rc;
}

static void test_next_utc(void **state)
{
	(void)state;
	/* Sat 2026-12-05 09:40Z */
	assert_int_equal(next_in("* * * * *", 1796463600, NULL), 1796463660);
	assert_int_equal(next_in("* * * * *", 1796463601, NULL), 1796463660);
	assert_int_equal(next_in("0 1 * * 0", 1796463600, NULL), 1796518800);  /* Sun 01:00Z */
	assert_int_equal(next_in("0 0 29 2 *", 1796463600, NULL), 1835395200); /* 2028-02-29 */
	assert_int_equal(next_in("0 0 31 2 *", 1796463600, NULL), -101);       /* never */
	assert_int_equal(next_in("none", 1796463600, NULL), -101);
}

static void test_next_dst(void **state)
{
	(void)state;
	/* Berlin, clocks forward 2026-03-29 02:00 -> 03:00: 02:30 does not exist that day and
	 * fires at 03:00 CEST (01:00Z); the day after at 02:30 CEST. */
	assert_int_equal(next_in("30 2 * * *", 1774699200, "Europe/Berlin"), 1774746000);
	assert_int_equal(next_in("30 2 * * *", 1774746000, "Europe/Berlin"), 1774830600);
	/* Back 2026-10-25 03:00 -> 02:00: 02:30 happens twice and fires once, the first. */
	assert_int_equal(next_in("30 2 * * *", 1792843200, "Europe/Berlin"), 1792888200);
	assert_int_equal(next_in("30 2 * * *", 1792888200, "Europe/Berlin"), 1792978200);
	/* New York, back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 EDT only. */
	assert_int_equal(next_in("30 1 * * *", 1793511000 - 3600, "America/New_York"), 1793511000);
	assert_int_equal(next_in("30 1 * * *", 1793511000, "America/New_York"), 1793601000);
	/* Lord Howe moves by half an hour (2026-04-05 02:00 +11 -> 01:30 +10:30). */
	assert_int_equal(next_in("45 1 * * *", 1775313000, "Australia/Lord_Howe"), 1775313900);
	assert_int_equal(next_in("45 1 * * *", 1775313900, "Australia/Lord_Howe"), 1775402100);
	/* Weekly full in Berlin: Sunday 01:00 CET is Saturday 00:00Z. */
	assert_int_equal(next_in("0 1 * * 0", 1796463600, "Europe/Berlin"), 1796515200);
	assert_int_equal(next_in("0 1 * * 0", 1796463600, "UTC"), 1796518800);
}

/* A made-up zone: +1 h, and +2 h from instant 7200 on (a gap at wall 03:00-03:59 on day 0),
 * back to +1 h from 86400 + 3600 (wall 02:00-02:59 on day 1 twice). */
static int fake(int64_t t, void *ud, int32_t *o)
{
	(void)ud;
	*o = t >= 7200 && t < 86400 + 3600 ? 7200 : 3600;
	return 0;
}

static void test_next_fake_zone(void **state)
{
	(void)state;
	cron_spec s;
	char *err = NULL;
	int64_t n;
	assert_int_equal(cron_parse("15 3 * * *", &s, &err), 0);
	assert_int_equal(cron_next(&s, 0, fake, NULL, &n), 0);
	assert_int_equal(n, 7200); /* wall 03:15 skipped: at the end of the gap (04:00) */
	assert_int_equal(cron_parse("15 2 * * *", &s, &err), 0);
	assert_int_equal(cron_next(&s, 0, fake, NULL, &n), 0);
	assert_int_equal(n, 4500); /* day 0 02:15 at +1 */
	assert_int_equal(cron_next(&s, 4500, fake, NULL, &n), 0);
	assert_int_equal(n, 86400 + 15 * 60); /* day 1 02:15 at +2, first of two */
	assert_int_equal(cron_next(&s, n, fake, NULL, &n), 0);
	assert_int_equal(n, 2 * 86400 + 3600 + 15 * 60); /* not 02:15 at +1 on day 1 */
}

/* The last fire in a span: walked in one zone swap, from the span's last days when it is long. */
static void test_last(void **state)
{
	(void)state;
	cron_spec s;
	char *err = NULL;
	int64_t last = 0;
	assert_int_equal(cron_parse("* * * * *", &s, &err), 0);
	/* Sat 2026-12-05 09:40Z, a year later: the minute before the end. */
	assert_int_equal(
	    tzone_cron_last(&s, 1796463600, 1796463600 + 365 * 86400 + 30, "UTC", &last), 0);
	assert_int_equal(last, 1796463600 + 365 * 86400);
	assert_int_equal(tzone_cron_last(&s, 1796463600, 1796463659, "UTC", &last), 1);
	assert_int_equal(cron_parse("0 1 * * 0", &s, &err), 0);
	/* Weekly in Berlin over 40 days: the last Sunday 01:00 CET before the end. */
	assert_int_equal(
	    tzone_cron_last(&s, 1796463600, 1796463600 + 40 * 86400, "Europe/Berlin", &last), 0);
	assert_int_equal(last, 1796515200 + 5 * 7 * 86400);
	assert_int_equal(cron_parse("0 0 1 1 *", &s, &err), 0); /* yearly: far apart */
	assert_int_equal(tzone_cron_last(&s, 1796463600, 1796463600 + 400 * 86400, "UTC", &last),
	                 0);
	assert_int_equal(last, 1830297600); /* 2028-01-01 (2027-01-01 too) */
	assert_int_equal(cron_parse("none", &s, &err), 0);
	assert_int_equal(tzone_cron_last(&s, 0, 1796463600, NULL, &last), 1);
}

static void test_zone_names(void **state)
{
	(void)state;
	char *err = NULL;
	assert_int_equal(tzone_check("Europe/Berlin", &err), 0);
	assert_int_equal(tzone_check("UTC", &err), 0);
	assert_int_equal(tzone_check(NULL, &err), 0);
	assert_int_equal(tzone_check("", &err), 0);
	assert_int_equal(tzone_check("Europe/Berlim", &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(tzone_check("../etc/passwd", &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(tzone_check("/etc/localtime", &err), -1);
	free(err);
	int32_t o;
	assert_int_equal(tzone_offset("Asia/Kathmandu", 1796463600, &o), 0);
	assert_int_equal(o, 5 * 3600 + 45 * 60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),          cmocka_unit_test(test_matches),
	    cmocka_unit_test(test_next_utc),       cmocka_unit_test(test_next_dst),
	    cmocka_unit_test(test_next_fake_zone), cmocka_unit_test(test_zone_names),
	    cmocka_unit_test(test_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
