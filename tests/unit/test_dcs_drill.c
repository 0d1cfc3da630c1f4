/* dcs_drill: the `drill` key's value, encoded and decoded back; refused shapes and bounds. */
#include "testutil.h"

#include "dcs_drill.h"

static void test_round_trip(void **state)
{
	(void)state;
	dcs_drill d = {.id = "0123456789abcdef",
	               .member = "pg2",
	               .ok = true,
	               .reason = "restored \"x\"",
	               .started_unix_ms = 1767000000000,
	               .finished_unix_ms = 1767000020000,
	               .rto_ms = 14200,
	               .tables = 12,
	               .busy_tables = 1,
	               .databases = 2,
	               .last_success_unix_ms = 1767000020000,
	               .failures = 4};
	char *text = dcs_drill_encode(&d);
	assert_contains(text, "\"id\":\"0123456789abcdef\",\"member\":\"pg2\",\"ok\":true");
	dcs_drill back;
	char *err = NULL;
	assert_int_equal(dcs_drill_decode(text, &back, &err), 0);
	assert_string_equal(back.id, d.id);
	assert_string_equal(back.member, "pg2");
	assert_string_equal(back.reason, "restored \"x\"");
	assert_true(back.ok);
	assert_int_equal(back.started_unix_ms, 1767000000000);
	assert_int_equal(back.finished_unix_ms, 1767000020000);
	assert_int_equal(back.rto_ms, 14200);
	assert_int_equal(back.tables, 12);
	assert_int_equal(back.busy_tables, 1);
	assert_int_equal(back.databases, 2);
	assert_int_equal(back.last_success_unix_ms, 1767000020000);
	assert_int_equal(back.failures, 4);
	dcs_drill_free(&back);
	free(text);
}

static void refused(const char *text, const char *why)
{
	dcs_drill d;
	char *err = NULL;
	assert_int_equal(dcs_drill_decode(text, &d, &err), -1);
	assert_contains(err, why);
	assert_null(d.id);
	assert_null(d.reason);
	free(err);
}

static void test_refused(void **state)
{
	(void)state;
	refused("[]", "not a JSON object");
	refused("{\"ok\":1}", "ok is not a boolean");
	refused("{\"id\":\"0123456789abcdef\",\"failures\":-1}", "failures is not an integer");
	refused("{\"rto_ms\":9007199254740992}", "rto_ms is not an integer");
	refused("{\"reason\":7}", "reason is not a string");
	refused("{\"reason\":\"a\\u0000b\"}", "not a JSON object"); /* jansson refuses NUL */
	refused("{\"ok\":true,\"ok\":false}", "not a JSON object");
	char *big = xmalloc(DCS_DRILL_MAX_TEXT + 32);
	int n = snprintf(big, 32, "{\"reason\":\"");
	memset(big + n, 'x', DCS_DRILL_MAX_TEXT + 1);
	strcpy(big + n + DCS_DRILL_MAX_TEXT + 1, "\"}");
	refused(big, "at most 1024 bytes");
	free(big);
	/* Unknown keys and absent ones are fine. */
	dcs_drill d;
	char *err = NULL;
	assert_int_equal(dcs_drill_decode("{\"future\":[1]}", &d, &err), 0);
	assert_false(d.ok);
	assert_null(d.member);
	dcs_drill_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
