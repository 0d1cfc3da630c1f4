/* ISO 8601 times (scheduled switchovers), src/lib/clock.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"

static void test_iso8601(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int rc;
		int64_t ms;
	} cases[] = {
	    {"1970-01-01T00:00:00Z", 0, 0},
	    {"1970-01-01T00:00:01.5Z", 0, 1500},
	    {"2026-11-22T10:30:00+00:00", 0, 1795343400000},
	    {"2026-11-22T11:30:00+01:00", 0, 1795343400000},
	    {"2026-11-22T05:00:00-0530", 0, 1795343400000},
	    {"2026-11-22 10:30:00Z", 0, 1795343400000},
	    {"2024-02-29T00:00:00Z", 0, 1709164800000},
	    {"2023-02-29T00:00:00Z", -1, 0},
	    {"2026-11-22T10:30:00", -1, 0}, /* no zone */
	    {"2026-11-22T24:00:00Z", -1, 0},
	    {"2026-13-01T00:00:00Z", -1, 0},
	    {"2026-11-22T10:30:00+25:00", -1, 0},
	    {"2026-11-22T10:30:00Zjunk", -1, 0},
	    {"2026-11-22T10:30:00.Z", -1, 0},
	    {"1969-12-31T23:59:59Z", -1, 0},
	    {"", -1, 0},
	    {"now", -1, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;
		int rc = clock_parse_iso8601(cases[i].text, &ms);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d", cases[i].text, rc, cases[i].rc);
		if (rc == 0 && ms != cases[i].ms)
			fail_msg("%s: %lld, want %lld", cases[i].text, (long long)ms,
			         (long long)cases[i].ms);
	}
	assert_int_equal(clock_parse_iso8601(NULL, &(int64_t){0}), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_iso8601),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
