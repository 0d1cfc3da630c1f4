/* What a REST client sends (rest_request.h): query string decoding, and the checks of the POST
 * bodies (failover, switchover, restart, reinitialize, failsafe) and of PATCH and PUT /config, as
 * tables. The fixture is in rest_fixture.h. */
#include <jansson.h>

#include "rest_fixture.h"
#include "rest_request.h"

/* ---- the query string ---- */

static void test_query(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		size_t n;
		const char *kv[6]; /* key, value, ... */
	} cases[] = {
	    {"", 0, 0, {NULL}},
	    {"lag=10MB", 0, 1, {"lag", "10MB"}},
	    {"lag=10MB&tag_dc=east", 0, 2, {"lag", "10MB", "tag_dc", "east"}},
	    {"tag_my+tag=a%20b+c", 0, 1, {"tag_my tag", "a b c"}},
	    {"k=%41%4a%4A", 0, 1, {"k", "AJJ"}},
	    {"k=%zz%4&x=%", 0, 2, {"k", "%zz%4", "x", "%"}},
	    {"k=a=b", 0, 1, {"k", "a=b"}},
	    {"empty=&novalue&&=v&k=v", 0, 2, {"", "v", "k", "v"}},
	    {"&&&", 0, 0, {NULL}},
	    {"k=%00", -1, 0, {NULL}},
	    {"%00=v", -1, 0, {NULL}},
	    {"k=%2500", 0, 1, {"k", "%00"}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_query q;
		int rc = rest_query_parse(cases[i].in, strlen(cases[i].in), &q);
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(q.n, cases[i].n);
		for (size_t k = 0; k < q.n; k++) {
			assert_string_equal(q.kv[k].key, cases[i].kv[2 * k]);
			assert_string_equal(q.kv[k].value, cases[i].kv[2 * k + 1]);
		}
		rest_query_free(&q);
	}
	/* not NUL-terminated: only `len` bytes are read */
	char raw[] = {'l', 'a', 'g', '=', '1', 'X'};
	rest_query q;
	assert_int_equal(rest_query_parse(raw, 5, &q), 0);
	assert_int_equal(q.n, 1);
	assert_string_equal(q.kv[0].value, "1");
	rest_query_free(&q);
}

/* ---- POST bodies ---- */

/* "now" for the scheduled_at checks: 2025-01-01T00:00:00Z */
#define NOW_MS INT64_C(1735689600000)

static void test_failover(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	static const struct {
		bool switchover;
		const char *body;
		unsigned status; /* 0: passed on to the agent */
		const char *candidate;
		const char *says;
	} cases[] = {
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {true, "{\"leader\":\"pg1\"}", 0, NULL, NULL},
	    {true, "{\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {true, "{\"leader\":\"pg9\",\"candidate\":\"pg3\"}", 412, "pg3", "not the leader"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg1\"}", 412, "pg1", "already the leader"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"nobody\"}", 412, "nobody", "not a member"},
	    {true, "{\"leader\":\"pg1\",\"candidate\":\"pg2\"}", 412, "pg2", "nofailover"},
	    {true,
	     "{\"leader\":\"pg1\",\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00"
	     ":00+00:00\"}",
	     0, "pg3", NULL},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00.5Z\"}", 0, "pg3",
	     NULL},
	    {true, "{\"scheduled_at\":\"2030-01-01 00:00:00-0130\"}", 0, NULL, NULL},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00\"}", 400, "pg3",
	     "time zone"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"tomorrow\"}", 400, "pg3", "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-02-30T00:00:00Z\"}", 400, "pg3",
	     "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T25:00:00Z\"}", 400, "pg3",
	     "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00+00:00x\"}", 400,
	     "pg3", "ISO 8601"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2020-01-01T00:00:00Z\"}", 422, "pg3",
	     "past"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2025-01-01T00:59:59+01:00\"}", 422,
	     "pg3", "past"},
	    {true, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2025-01-01T00:00:01+00:00\"}", 0,
	     "pg3", NULL},
	    {false, "{\"candidate\":\"pg3\",\"scheduled_at\":\"2030-01-01T00:00:00Z\"}", 400, "pg3",
	     "cannot be scheduled"},
	    {false, "{\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {false, "{\"leader\":\"pg1\",\"candidate\":\"pg3\"}", 0, "pg3", NULL},
	    {false, "{\"leader\":\"pg1\"}", 400, NULL, "candidate"},
	    {false, "{\"candidate\":null,\"unknown\":1}", 400, NULL, "candidate"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_failover_req r;
		rest_verdict v = {0, NULL};
		assert_int_equal(rest_parse_failover(cases[i].body, strlen(cases[i].body), &r, &v),
		                 0);
		if (cases[i].candidate)
			assert_string_equal(r.candidate, cases[i].candidate);
		else
			assert_null(r.candidate);
		rest_check_failover(&f.st, cases[i].switchover, &r, NOW_MS, &v);
		if (v.status != cases[i].status)
			print_error("case %zu: %u %s\n", i, v.status, v.message ? v.message : "");
		assert_int_equal(v.status, cases[i].status);
		if (cases[i].says)
			assert_contains(v.message, cases[i].says);
		else
			assert_null(v.message);
		rest_verdict_free(&v);
		rest_failover_req_free(&r);
	}
	/* no leader: a switchover is impossible; paused: a candidate is required */
	f.st.leader = NULL;
	rest_failover_req r = {NULL, NULL, NULL};
	rest_verdict v = {0, NULL};
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 412);
	rest_verdict_free(&v);
	f.st.leader = "pg1";
	f.st.paused = true;
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 400);
	rest_verdict_free(&v);
	/* paused: no scheduled switchover, even with a candidate */
	r.candidate = (char *)"pg3";
	r.scheduled_at = (char *)"2030-01-01T00:00:00Z";
	rest_check_failover(&f.st, true, &r, NOW_MS, &v);
	assert_int_equal(v.status, 400);
	assert_contains(v.message, "maintenance");
	rest_verdict_free(&v);
	fixture_free(&f);
}

static void test_failover_bad_bodies(void **state)
{
	(void)state;
	static const char *const bodies[] = {"",
	                                     "   ",
	                                     "{",
	                                     "[]",
	                                     "\"x\"",
	                                     "{\"candidate\":1}",
	                                     "{\"leader\":[\"pg1\"]}",
	                                     "{\"scheduled_at\":true}",
	                                     "{\"candidate\":\"a\"} trailing",
	                                     "nul\0"};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		rest_failover_req r;
		rest_verdict v = {0, NULL};
		size_t len = i == sizeof bodies / sizeof bodies[0] - 1 ? 4 : strlen(bodies[i]);
		assert_int_equal(rest_parse_failover(bodies[i], len, &r, &v), -1);
		assert_int_equal(v.status, 400);
		assert_non_null(v.message);
		assert_null(r.candidate);
		rest_verdict_free(&v);
	}
	/* an absent body (NULL) too */
	rest_failover_req r;
	rest_verdict v = {0, NULL};
	assert_int_equal(rest_parse_failover(NULL, 0, &r, &v), -1);
	assert_int_equal(v.status, 400);
	rest_verdict_free(&v);
}

static char *config_ok(fixture *f, const char *body, bool replace)
{
	rest_verdict v = {0, NULL};
	char *out = NULL;
	int rc = rest_config_request(&f->st, body, strlen(body), replace, &out, &v);
	if (rc < 0)
		print_error("%s: %u %s\n", body, v.status, v.message ? v.message : "");
	assert_int_equal(rc, 0);
	assert_int_equal(v.status, 0);
	assert_non_null(out);
	return out;
}

static void config_refused(fixture *f, const char *body, bool replace, unsigned status,
                           const char *says)
{
	rest_verdict v = {0, NULL};
	char *out = NULL;
	int rc = rest_config_request(&f->st, body, strlen(body), replace, &out, &v);
	if (rc == 0)
		print_error("%s: accepted: %s\n", body, out);
	assert_int_equal(rc, -1);
	assert_null(out);
	assert_int_equal(v.status, status);
	assert_contains(v.message, says);
	rest_verdict_free(&v);
}

static void test_config_patch(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	/* merge: nested objects merge, null removes, scalars replace, new keys appear */
	char *out = config_ok(&f,
	                      "{\"ttl\":40,\"custom\":null,\"pause\":true,\"postgresql\":"
	                      "{\"parameters\":{\"work_mem\":\"8MB\",\"max_connections\":null}}}",
	                      false);
	assert_string_equal(out, "{\"loop_wait\":10,\"pause\":true,\"postgresql\":{\"parameters\":"
	                         "{\"work_mem\":\"8MB\"}},\"ttl\":40}");
	free(out);
	/* an object replacing a scalar, and a new nested section */
	out = config_ok(&f, "{\"custom\":{\"a\":{\"b\":1,\"c\":null}}}", false);
	json_t *j = parse(out);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(json_object_get(j, "custom"), "a"), "b")),
	                 1);
	assert_null(json_object_get(json_object_get(json_object_get(j, "custom"), "a"), "c"));
	json_decref(j);
	/* PUT: the body is the whole configuration */
	out = config_ok(&f, "{\"ttl\":20,\"loop_wait\":5,\"retry_timeout\":5}", true);
	assert_string_equal(out, "{\"loop_wait\":5,\"retry_timeout\":5,\"ttl\":20}");
	free(out);
	out = config_ok(&f, "{}", true);
	assert_string_equal(out, "{}");
	free(out);
	out = config_ok(&f, "{}", false);
	free(out);

	config_refused(&f, "", false, 400, "body is required");
	config_refused(&f, "[1,2]", false, 400, "JSON object");
	config_refused(&f, "\"pause\"", true, 400, "invalid JSON");
	config_refused(&f, "{\"ttl\":", false, 400, "invalid JSON");
	/* ttl 30 loop_wait 10 in the fixture: retry_timeout 10 fits, 11 does not */
	out = config_ok(&f, "{\"retry_timeout\":10}", false);
	free(out);
	config_refused(&f, "{\"retry_timeout\":11}", false, 400, "loop_wait + 2 * retry_timeout");
	config_refused(&f, "{\"ttl\":4}", false, 400, "must not exceed ttl (4)");
	config_refused(&f, "{\"ttl\":1,\"loop_wait\":1}", true, 400, "at least 2");
	config_refused(&f, "{\"ttl\":\"30\"}", false, 400, "must be whole numbers of seconds");
	config_refused(&f, "{\"loop_wait\":0}", false, 400, "\"loop_wait\"");
	config_refused(&f, "{\"loop_wait\":1.5}", false, 400, "\"loop_wait\"");
	config_refused(&f, "{\"pause\":\"yes\"}", false, 400, "\"pause\" must be true or false");
	config_refused(&f, "{\"synchronous_mode\":1}", false, 400, "synchronous_mode");
	config_refused(&f, "{\"maximum_lag_on_failover\":-1}", false, 400,
	               "maximum_lag_on_failover");
	config_refused(&f, "{\"postgresql\":5}", false, 400, "\"postgresql\" must be an object");
	config_refused(&f, "{\"postgresql\":{\"parameters\":[]}}", false, 400,
	               "postgresql.parameters\" must be an object");
	config_refused(&f, "{\"postgresql\":{\"parameters\":{\"x\":{\"y\":1}}}}", false, 400,
	               "postgresql.parameters.x");
	config_refused(&f, "{\"postgresql\":{\"parameters\":{\"port\":5433}}}", false, 400,
	               "managed by tandemd");
	config_refused(&f, "{\"failsafe_mode\":\"on\"}", false, 400, "failsafe_mode");

	/* no config key yet: PATCH merges into {} */
	dcs_view_free(&f.view);
	dcs_view_init(&f.view, NULL, "batman");
	out = config_ok(&f, "{\"pause\":false}", false);
	assert_string_equal(out, "{\"pause\":false}");
	free(out);
	fixture_free(&f);
}

static void test_restart(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f);
	static const struct {
		const char *body;
		bool pending;
		unsigned status;
		const char *says;
	} cases[] = {
	    {"", false, 0, NULL},
	    {"{}", false, 0, NULL},
	    {"{\"restart_pending\":true}", true, 0, NULL},
	    {"{\"restart_pending\":true}", false, 503, "pending"},
	    {"{\"restart_pending\":false}", false, 0, NULL},
	    {"{\"role\":\"primary\"}", false, 0, NULL},
	    {"{\"role\":\"master\"}", false, 0, NULL},
	    {"{\"role\":\"replica\"}", false, 503, "role"},
	    {"{\"role\":\"boss\"}", false, 400, "role"},
	    {"{\"postgres_version\":\"16.1\"}", false, 0, NULL},
	    {"{\"postgres_version\":\"15.4\"}", false, 503, "version"},
	    {"{\"postgres_version\":\"9.6.3\"}", false, 503, "version"},
	    {"{\"postgres_version\":\"15.x\"}", false, 400, "postgres_version"},
	    {"{\"timeout\":30}", false, 0, NULL},
	    {"{\"schedule\":\"2030-01-01T00:00+00\"}", false, 501, "not supported"},
	    {"{\"force\":true}", false, 400, "unknown"},
	    {"{\"restart_pending\":\"yes\"}", false, 400, "restart_pending"},
	    {"{nope", false, 400, "invalid JSON"},
	    {"[1]", false, 400, "object"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		f.st.pending_restart = cases[i].pending;
		rest_check_restart(&f.st, cases[i].body, strlen(cases[i].body), &v);
		if (v.status != cases[i].status)
			print_error("case %zu: %u %s\n", i, v.status, v.message ? v.message : "");
		assert_int_equal(v.status, cases[i].status);
		if (cases[i].says)
			assert_contains(v.message, cases[i].says);
		rest_verdict_free(&v);
	}
	fixture_free(&f);
}

static void test_reinitialize(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		unsigned status;
	} cases[] = {
	    {"", 0},
	    {"{\"force\":true}", 0},
	    {"{\"force\":false,\"from_leader\":true}", 0},
	    {"{\"force\":\"yes\"}", 400},
	    {"{\"wipe\":true}", 400},
	    {"{", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		rest_check_reinitialize(cases[i].body, strlen(cases[i].body), &v);
		assert_int_equal(v.status, cases[i].status);
		rest_verdict_free(&v);
	}
}

static void test_failsafe(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		const char *name; /* NULL: refused with 400 */
	} cases[] = {
	    {"{\"name\":\"m1\",\"conn_url\":\"postgres://h:5432/postgres\",\"api_url\":"
	     "\"http://h:8008/patroni\"}",
	     "m1"},
	    {"{\"name\":\"m2\",\"slots\":{\"m1\":1}}", "m2"},
	    {"", NULL},
	    {"{}", NULL},
	    {"{\"name\":\"\"}", NULL},
	    {"{\"name\":7}", NULL},
	    {"[\"m1\"]", NULL},
	    {"{\"name\":", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		char *name = rest_parse_failsafe(cases[i].body, strlen(cases[i].body), &v);
		if (cases[i].name) {
			assert_non_null(name);
			assert_string_equal(name, cases[i].name);
			assert_int_equal(v.status, 0);
		} else {
			assert_null(name);
			assert_int_equal(v.status, 400);
			assert_non_null(v.message);
		}
		free(name);
		rest_verdict_free(&v);
	}
}

/* POST /backup's body: optional; type and by only. */
static void test_backup(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		int rc;
		const char *type, *by;
	} cases[] = {
	    {"", 0, NULL, NULL},
	    {"{}", 0, NULL, NULL},
	    {"{\"type\":\"full\"}", 0, "full", NULL},
	    {"{\"type\":\"incr\",\"by\":\"tandemctl root@h\"}", 0, "incr", "tandemctl root@h"},
	    {"{\"by\":\"a\\nb\"}", 0, NULL, "a?b"},
	    {"{\"type\":\"weekly\"}", -1, NULL, NULL},
	    {"{\"type\":1}", -1, NULL, NULL},
	    {"{\"when\":\"now\"}", -1, NULL, NULL},
	    {"[\"full\"]", -1, NULL, NULL},
	    {"{", -1, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rest_verdict v = {0, NULL};
		char *type, *by;
		int rc = rest_parse_backup(cases[i].body, strlen(cases[i].body), &type, &by, &v);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0) {
			assert_int_equal(v.status, 0);
			if (cases[i].type)
				assert_string_equal(type, cases[i].type);
			else
				assert_null(type);
			if (cases[i].by)
				assert_string_equal(by, cases[i].by);
			else
				assert_null(by);
		} else {
			assert_int_equal(v.status, 400);
			assert_null(type);
			assert_null(by);
		}
		free(type);
		free(by);
		rest_verdict_free(&v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_failover),
	    cmocka_unit_test(test_failover_bad_bodies),
	    cmocka_unit_test(test_config_patch),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_reinitialize),
	    cmocka_unit_test(test_failsafe),
	    cmocka_unit_test(test_backup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
