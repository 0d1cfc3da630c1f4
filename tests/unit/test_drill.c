/* drill: the restored copy's row counts against the leader's two snapshots (exact for a table
 * not written across the restore point, within bounds for one that was), the SQL the drill sends,
 * and the archiver check. */
#include "testutil.h"

#include "drill.h"

static void counts(drill_counts *c, const char *db, const char *json)
{
	char *err = NULL;
	assert_int_equal(drill_counts_add(c, db, json, &err), 0);
}

static void test_compare_exact(void **state)
{
	(void)state;
	drill_counts b = {0}, a = {0}, copy = {0};
	counts(&b, "postgres", "{\"public.t\": 10, \"tandem.drill\": 1}");
	counts(&b, "app", "{\"public.t\": 5}");
	counts(&a, "postgres", "{\"public.t\": 10, \"tandem.drill\": 1}");
	counts(&a, "app", "{\"public.t\": 5}");
	counts(&copy, "postgres", "{\"tandem.drill\": 1, \"public.t\": 10}");
	counts(&copy, "app", "{\"public.t\": 5}");
	drill_verdict v;
	drill_compare(&b, &a, &copy, &v);
	assert_true(v.ok);
	assert_int_equal(v.tables, 3);
	assert_int_equal(v.busy, 0);
	assert_null(v.why);
	drill_counts_free(&copy);
	/* One row short in a table nobody wrote: a failure naming the table and both counts. */
	counts(&copy, "postgres", "{\"tandem.drill\": 1, \"public.t\": 9}");
	counts(&copy, "app", "{\"public.t\": 5}");
	drill_compare(&b, &a, &copy, &v);
	assert_false(v.ok);
	assert_string_equal(v.why, "postgres: public.t has 9 rows restored, the leader 10");
	free(v.why);
	drill_counts_free(&copy);
	/* A table missing from the copy (a whole database here). */
	counts(&copy, "postgres", "{\"tandem.drill\": 1, \"public.t\": 10}");
	drill_compare(&b, &a, &copy, &v);
	assert_false(v.ok);
	assert_string_equal(v.why, "app: public.t is missing from the restored copy");
	free(v.why);
	drill_counts_free(&b);
	drill_counts_free(&a);
	drill_counts_free(&copy);
}

static void test_compare_busy(void **state)
{
	(void)state;
	drill_counts b = {0}, a = {0}, copy = {0};
	counts(&b, "postgres", "{\"public.orders\": 100, \"public.gone\": 3}");
	counts(&a, "postgres", "{\"public.orders\": 104, \"public.new\": 1}");
	counts(&copy, "postgres", "{\"public.orders\": 102}");
	drill_verdict v;
	drill_compare(&b, &a, &copy, &v);
	/* Written across the restore point: anything between the two snapshots is right; a table
	 * dropped meanwhile is not checked; one created meanwhile is not in `before`. */
	assert_true(v.ok);
	assert_int_equal(v.tables, 2);
	assert_int_equal(v.busy, 2);
	drill_counts_free(&copy);
	counts(&copy, "postgres", "{\"public.orders\": 99}");
	drill_compare(&b, &a, &copy, &v);
	assert_false(v.ok);
	assert_string_equal(v.why,
	                    "postgres: public.orders has 99 rows restored, the leader 100 to 104");
	free(v.why);
	drill_counts_free(&b);
	drill_counts_free(&a);
	drill_counts_free(&copy);
}

static void test_compare_many_mismatches(void **state)
{
	(void)state;
	drill_counts b = {0}, copy = {0};
	counts(&b, "d", "{\"s.a\":1,\"s.b\":1,\"s.c\":1,\"s.d\":1,\"s.e\":1,\"s.f\":1,\"s.g\":1}");
	counts(&copy, "d", "{}");
	drill_verdict v;
	drill_compare(&b, &b, &copy, &v);
	assert_false(v.ok);
	assert_int_equal(v.tables, 7);
	assert_contains(v.why, "d: s.e is missing from the restored copy; and 2 more");
	assert_not_contains(v.why, "s.f");
	free(v.why);
	drill_counts_free(&b);
	drill_counts_free(&copy);
}

static void test_counts_refused(void **state)
{
	(void)state;
	drill_counts c = {0};
	char *err = NULL;
	assert_int_equal(drill_counts_add(&c, "app", "[1]", &err), -1);
	assert_string_equal(err, "database app: the row counts are not a JSON object");
	free(err);
	err = NULL;
	assert_int_equal(drill_counts_add(&c, "app", "{\"s.t\": \"x\"}", &err), -1);
	assert_string_equal(err, "database app: the count of s.t is not an integer");
	free(err);
	drill_counts_free(&c);
}

static void test_sql(void **state)
{
	(void)state;
	assert_true(drill_id_ok("0123456789abcdef"));
	assert_false(drill_id_ok("0123456789abcde"));
	assert_false(drill_id_ok("0123456789abcdeF"));
	assert_false(drill_id_ok("0123456789abcde'"));
	char *s = drill_marker_sql("0123456789abcdef", "pg'2");
	assert_contains(s, "CREATE TABLE IF NOT EXISTS tandem.drill");
	assert_contains(s, "VALUES ('0123456789abcdef', 'pg''2') RETURNING id");
	free(s);
	s = drill_restore_point_sql("0123456789abcdef");
	assert_contains(s, "pg_create_restore_point('tandem-drill-0123456789abcdef')");
	free(s);
	s = drill_target("0123456789abcdef");
	assert_string_equal(s, "tandem-drill-0123456789abcdef");
	free(s);
	/* Unlogged and temporary tables are not compared: recovery empties them. */
	assert_contains(drill_count_sql, "c.relpersistence = 'p'");
	assert_contains(drill_count_sql, "REPEATABLE READ");
}

static void test_archived_past(void **state)
{
	(void)state;
	const char *seg = "000000010000000000000006";
	assert_true(drill_archived_past("000000010000000000000006", seg));
	assert_true(drill_archived_past("000000010000000000000007", seg));
	assert_true(drill_archived_past("000000020000000000000006", seg));
	assert_false(drill_archived_past("000000010000000000000005", seg));
	assert_false(drill_archived_past(NULL, seg));
	assert_false(drill_archived_past("00000002.history", seg));
	assert_false(drill_archived_past("000000010000000000000007.partial", seg));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compare_exact),
	    cmocka_unit_test(test_compare_busy),
	    cmocka_unit_test(test_compare_many_mismatches),
	    cmocka_unit_test(test_counts_refused),
	    cmocka_unit_test(test_sql),
	    cmocka_unit_test(test_archived_past),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
