/* Unit tests for src/hellod/api.h: routing, validation and the JSON answers of the hello API. */
#include "testutil.h"

#include <jansson.h>

#include "api.h"

static const bd_date TODAY = {2024, 6, 15};

#define JSON      "application/json"
#define LETTERS64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
#define LETTERS65 LETTERS64 "m"

typedef struct api_case {
	const char *what;
	const char *method;
	const char *path;
	const char *content_type;
	const char *body; /* NUL-terminated; body_len is strlen */
	api_route route;
	api_action action;
	unsigned status;   /* API_ANSWER only */
	const char *allow; /* 405 only */
	const char *username;
	bd_date dob;              /* API_PUT_USER only */
	const char *message_part; /* something the error message must say, or NULL */
} api_case;

/* Checks that an answer body is {"error": "<non-empty text>"} and nothing else, in ASCII. */
static void check_error_body(const char *what, const char *body, const char *message_part)
{
	if (!body) {
		print_error("%s: no body\n", what);
		fail();
		return;
	}
	for (const char *p = body; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
			print_error("%s: body has a byte 0x%02x outside printable ASCII: %s\n",
			            what, (unsigned char)*p, body);
			fail();
		}
	}
	json_error_t jerr;
	json_t *doc = json_loads(body, 0, &jerr);
	if (!doc) {
		print_error("%s: body is not JSON (%s): %s\n", what, jerr.text, body);
		fail();
		return;
	}
	json_t *e = json_object_get(doc, "error");
	if (!json_is_object(doc) || json_object_size(doc) != 1 || !json_is_string(e) ||
	    json_string_length(e) == 0) {
		print_error("%s: body is not {\"error\": \"...\"}: %s\n", what, body);
		json_decref(doc);
		fail();
	}
	if (message_part && !strstr(json_string_value(e), message_part)) {
		print_error("%s: error '%s' does not mention '%s'\n", what, json_string_value(e),
		            message_part);
		json_decref(doc);
		fail();
	}
	json_decref(doc);
}

static void run_case(const api_case *c)
{
	api_request req = {
	    .method = c->method,
	    .path = c->path,
	    .content_type = c->content_type,
	    .body = c->body ? c->body : "",
	    .body_len = c->body ? strlen(c->body) : 0,
	    .today = TODAY,
	};
	api_plan plan;
	memset(&plan, 0xa5, sizeof plan); /* the planner must not rely on a zeroed plan */
	api_plan_request(&req, &plan);

	if (plan.route != c->route || plan.action != c->action) {
		print_error("%s: %s %s: route %d action %d (status %u, body %s), expected route %d "
		            "action %d\n",
		            c->what, c->method, c->path, plan.route, plan.action,
		            plan.action == API_ANSWER ? plan.status : 0,
		            plan.action == API_ANSWER && plan.body ? plan.body : "-", c->route,
		            c->action);
		api_plan_free(&plan);
		fail();
	}
	if (c->action == API_ANSWER) {
		if (plan.status != c->status) {
			print_error("%s: status %u, expected %u (body %s)\n", c->what, plan.status,
			            c->status, plan.body ? plan.body : "-");
			api_plan_free(&plan);
			fail();
		}
		check_error_body(c->what, plan.body, c->message_part);
		if (c->status == 405) {
			assert_non_null(plan.allow);
			assert_string_equal(plan.allow, c->allow);
		} else {
			assert_null(plan.allow);
		}
	} else {
		assert_null(plan.body);
		assert_null(plan.allow);
	}
	if (c->action == API_GET_USER || c->action == API_PUT_USER)
		assert_string_equal(plan.username, c->username);
	if (c->action == API_PUT_USER) {
		if (plan.dob.year != c->dob.year || plan.dob.month != c->dob.month ||
		    plan.dob.day != c->dob.day) {
			print_error("%s: dob %04d-%02d-%02d, expected %04d-%02d-%02d\n", c->what,
			            plan.dob.year, plan.dob.month, plan.dob.day, c->dob.year,
			            c->dob.month, c->dob.day);
			fail();
		}
	}
	api_plan_free(&plan);
	assert_null(plan.body);
}

static void run_cases(const api_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

#define NO_DOB                                                                                     \
	{                                                                                          \
		0, 0, 0                                                                            \
	}
#define CASE_OK(what, m, p, route, act, user)                                                      \
	{                                                                                          \
		what, m, p, NULL, NULL, route, act, 0, NULL, user, NO_DOB, NULL                    \
	}
#define CASE_ERR(what, m, p, route, status, allow, part)                                           \
	{                                                                                          \
		what, m, p, NULL, NULL, route, API_ANSWER, status, allow, NULL, NO_DOB, part       \
	}

static void test_routing(void **state)
{
	(void)state;
	static const api_case cases[] = {
	    CASE_OK("get", "GET", "/hello/bob", ROUTE_HELLO, API_GET_USER, "bob"),
	    CASE_OK("head", "HEAD", "/hello/Bob", ROUTE_HELLO, API_GET_USER, "Bob"),
	    CASE_OK("64 letters", "GET", "/hello/" LETTERS64, ROUTE_HELLO, API_GET_USER, LETTERS64),
	    CASE_OK("healthz", "GET", "/healthz", ROUTE_HEALTHZ, API_HEALTHZ, NULL),
	    CASE_OK("healthz head", "HEAD", "/healthz", ROUTE_HEALTHZ, API_HEALTHZ, NULL),
	    CASE_OK("readyz", "GET", "/readyz", ROUTE_READYZ, API_READYZ, NULL),
	    CASE_OK("readyz head", "HEAD", "/readyz", ROUTE_READYZ, API_READYZ, NULL),
	    CASE_OK("metrics", "GET", "/metrics", ROUTE_METRICS, API_METRICS, NULL),
	    CASE_OK("metrics head", "HEAD", "/metrics", ROUTE_METRICS, API_METRICS, NULL),

	    CASE_ERR("digits", "GET", "/hello/bob1", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("space", "GET", "/hello/bo b", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("encoded space", "GET", "/hello/bo%20b", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("percent", "GET", "/hello/%41", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("empty", "GET", "/hello/", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("65 letters", "GET", "/hello/" LETTERS65, ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("trailing slash", "GET", "/hello/bob/", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("sub path", "GET", "/hello/bob/x", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("dot dot", "GET", "/hello/..", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("utf-8", "GET", "/hello/b\xc3\xa9", ROUTE_HELLO, 400, NULL, "username"),
	    CASE_ERR("put bad name", "PUT", "/hello/bob1", ROUTE_HELLO, 400, NULL, "username"),

	    CASE_ERR("root", "GET", "/", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("hello alone", "GET", "/hello", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("hellox", "GET", "/hellox/bob", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("upper case", "GET", "/HELLO/bob", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("healthz slash", "GET", "/healthz/", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("healthzx", "GET", "/healthzx", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("metrics prefix", "GET", "/metric", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("empty path", "GET", "", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("double slash", "GET", "//hello/bob", ROUTE_OTHER, 404, NULL, NULL),
	    CASE_ERR("unknown with delete", "DELETE", "/nothing", ROUTE_OTHER, 404, NULL, NULL),

	    CASE_ERR("delete", "DELETE", "/hello/bob", ROUTE_HELLO, 405, "GET, HEAD, PUT",
	             "DELETE"),
	    CASE_ERR("post", "POST", "/hello/bob", ROUTE_HELLO, 405, "GET, HEAD, PUT", "POST"),
	    CASE_ERR("patch", "PATCH", "/hello/bob", ROUTE_HELLO, 405, "GET, HEAD, PUT", NULL),
	    CASE_ERR("lower-case get", "get", "/hello/bob", ROUTE_HELLO, 405, "GET, HEAD, PUT",
	             NULL),
	    /* The method is judged before the username. */
	    CASE_ERR("delete bad name", "DELETE", "/hello/bob1", ROUTE_HELLO, 405, "GET, HEAD, PUT",
	             NULL),
	    CASE_ERR("post healthz", "POST", "/healthz", ROUTE_HEALTHZ, 405, "GET, HEAD", "POST"),
	    CASE_ERR("put readyz", "PUT", "/readyz", ROUTE_READYZ, 405, "GET, HEAD", NULL),
	    CASE_ERR("delete metrics", "DELETE", "/metrics", ROUTE_METRICS, 405, "GET, HEAD", NULL),
	    CASE_ERR("options metrics", "OPTIONS", "/metrics", ROUTE_METRICS, 405, "GET, HEAD",
	             NULL),
	};
	run_cases(cases, sizeof cases / sizeof cases[0]);
}

#define PUT_OK(what, ct, body, y, m, d)                                                            \
	{                                                                                          \
		what, "PUT", "/hello/bob", ct, body, ROUTE_HELLO, API_PUT_USER, 0, NULL, "bob",    \
		    {y, m, d}, NULL                                                                \
	}
#define PUT_ERR(what, ct, body, status, part)                                                      \
	{                                                                                          \
		what, "PUT", "/hello/bob", ct, body, ROUTE_HELLO, API_ANSWER, status, NULL, NULL,  \
		    NO_DOB, part                                                                   \
	}

static void test_put_bodies(void **state)
{
	(void)state;
	static const api_case cases[] = {
	    PUT_OK("valid", JSON, "{\"dateOfBirth\":\"1990-05-10\"}", 1990, 5, 10),
	    PUT_OK("spaces", JSON, " { \"dateOfBirth\" : \"1990-05-10\" }\n", 1990, 5, 10),
	    PUT_OK("charset", "application/json; charset=utf-8", "{\"dateOfBirth\":\"2000-02-29\"}",
	           2000, 2, 29),
	    PUT_OK("upper-case type", "APPLICATION/JSON", "{\"dateOfBirth\":\"1990-05-10\"}", 1990,
	           5, 10),
	    PUT_OK("mixed-case type", "Application/Json;charset=UTF-8",
	           "{\"dateOfBirth\":\"1990-05-10\"}", 1990, 5, 10),
	    PUT_OK("yesterday", JSON, "{\"dateOfBirth\":\"2024-06-14\"}", 2024, 6, 14),
	    PUT_OK("year 1", JSON, "{\"dateOfBirth\":\"0001-01-01\"}", 1, 1, 1),
	    PUT_OK("escaped digits", JSON, "{\"dateOfBirth\":\"1990-05-1\\u0030\"}", 1990, 5, 10),

	    PUT_ERR("no type", NULL, "{\"dateOfBirth\":\"1990-05-10\"}", 415, "Content-Type"),
	    PUT_ERR("empty type", "", "{\"dateOfBirth\":\"1990-05-10\"}", 415, NULL),
	    PUT_ERR("text/plain", "text/plain", "{\"dateOfBirth\":\"1990-05-10\"}", 415, NULL),
	    PUT_ERR("jsonx", "application/jsonx", "{\"dateOfBirth\":\"1990-05-10\"}", 415, NULL),
	    PUT_ERR("x-json", "application/x-json", "{\"dateOfBirth\":\"1990-05-10\"}", 415, NULL),
	    PUT_ERR("json prefix only", "application/js", "{\"dateOfBirth\":\"1990-05-10\"}", 415,
	            NULL),
	    PUT_ERR("form", "application/x-www-form-urlencoded", "dateOfBirth=1990-05-10", 415,
	            NULL),
	    /* The content type is judged before the body. */
	    PUT_ERR("no type, empty body", NULL, "", 415, NULL),

	    PUT_ERR("empty body", JSON, "", 400, "empty"),
	    PUT_ERR("open brace", JSON, "{", 400, "malformed JSON"),
	    PUT_ERR("truncated", JSON, "{\"dateOfBirth\":\"1990-05-10\"", 400, "malformed JSON"),
	    PUT_ERR("truncated string", JSON, "{\"dateOfBirth\":\"1990-05", 400, "malformed JSON"),
	    PUT_ERR("trailing garbage", JSON, "{\"dateOfBirth\":\"1990-05-10\"} x", 400,
	            "malformed JSON"),
	    PUT_ERR("two objects", JSON, "{\"dateOfBirth\":\"1990-05-10\"}{}", 400,
	            "malformed JSON"),
	    PUT_ERR("single quotes", JSON, "{'dateOfBirth':'1990-05-10'}", 400, "malformed JSON"),
	    PUT_ERR("not json", JSON, "dateOfBirth=1990-05-10", 400, "malformed JSON"),
	    PUT_ERR("bare string", JSON, "\"1990-05-10\"", 400, NULL),
	    PUT_ERR("null", JSON, "null", 400, NULL),
	    PUT_ERR("array", JSON, "[\"1990-05-10\"]", 400, "object"),
	    PUT_ERR("array of object", JSON, "[{\"dateOfBirth\":\"1990-05-10\"}]", 400, "object"),
	    PUT_ERR("extra field", JSON, "{\"dateOfBirth\":\"1990-05-10\",\"name\":\"x\"}", 400,
	            "name"),
	    PUT_ERR("extra field first", JSON, "{\"x\":1,\"dateOfBirth\":\"1990-05-10\"}", 400,
	            "unknown field"),
	    PUT_ERR("missing field", JSON, "{}", 400, "missing"),
	    PUT_ERR("wrong case field", JSON, "{\"dateofbirth\":\"1990-05-10\"}", 400, NULL),
	    PUT_ERR("number", JSON, "{\"dateOfBirth\":19900510}", 400, "string"),
	    PUT_ERR("null value", JSON, "{\"dateOfBirth\":null}", 400, "string"),
	    PUT_ERR("object value", JSON, "{\"dateOfBirth\":{\"y\":1990}}", 400, "string"),
	    PUT_ERR("array value", JSON, "{\"dateOfBirth\":[\"1990-05-10\"]}", 400, "string"),
	    PUT_ERR("true value", JSON, "{\"dateOfBirth\":true}", 400, "string"),
	    PUT_ERR("duplicate keys", JSON,
	            "{\"dateOfBirth\":\"1990-05-10\",\"dateOfBirth\":\"1991-01-01\"}", 400, NULL),
	    PUT_ERR("30 February", JSON, "{\"dateOfBirth\":\"1990-02-30\"}", 400, "1990-02-30"),
	    PUT_ERR("29 February 2023", JSON, "{\"dateOfBirth\":\"2023-02-29\"}", 400, NULL),
	    PUT_ERR("month 13", JSON, "{\"dateOfBirth\":\"1990-13-01\"}", 400, NULL),
	    PUT_ERR("short month", JSON, "{\"dateOfBirth\":\"1990-5-10\"}", 400, NULL),
	    PUT_ERR("day first", JSON, "{\"dateOfBirth\":\"10-05-1990\"}", 400, NULL),
	    PUT_ERR("timestamp", JSON, "{\"dateOfBirth\":\"1990-05-10T00:00:00Z\"}", 400, NULL),
	    PUT_ERR("empty date", JSON, "{\"dateOfBirth\":\"\"}", 400, NULL),
	    PUT_ERR("year 0", JSON, "{\"dateOfBirth\":\"0000-01-01\"}", 400, NULL),
	    PUT_ERR("embedded NUL", JSON, "{\"dateOfBirth\":\"1990-05-1\\u0000\"}", 400, NULL),
	    PUT_ERR(
	        "long date", JSON,
	        "{\"dateOfBirth\":\"1990-05-10aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	        400, "too long"),
	    PUT_ERR("today", JSON, "{\"dateOfBirth\":\"2024-06-15\"}", 400, "2024-06-15"),
	    PUT_ERR("tomorrow", JSON, "{\"dateOfBirth\":\"2024-06-16\"}", 400, "before today"),
	    PUT_ERR("far future", JSON, "{\"dateOfBirth\":\"9999-12-31\"}", 400, "before today"),
	    PUT_ERR("unicode field", JSON, "{\"d\xc3\xa4te\":\"1990-05-10\"}", 400,
	            "unknown field"),
	    PUT_ERR("escaped unicode field", JSON, "{\"d\\u00e4te\\u2028\":\"1990-05-10\"}", 400,
	            "unknown field"),
	    PUT_ERR("control chars field", JSON, "{\"a\\n\\t\\\"b\":1}", 400, "unknown field"),
	    PUT_ERR("invalid utf-8", JSON, "{\"dateOfBirth\":\"\xff\"}", 400, "malformed JSON"),
	};
	run_cases(cases, sizeof cases / sizeof cases[0]);
}

static void test_consistency_token(void **state)
{
	(void)state;
	api_request req = {"GET", "/hello/bob", NULL, "", 0, TODAY, false, 4096, "3:1/A0"};
	api_plan plan;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_GET_USER);
	assert_int_equal(plan.token.tli, 3);
	assert_true(plan.token.lsn == 0x1000000A0ull);
	api_plan_free(&plan);

	req.token = NULL;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_GET_USER);
	assert_int_equal(plan.token.tli, 0);
	api_plan_free(&plan);

	req.token = "3:1/A0; drop";
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_ANSWER);
	assert_int_equal(plan.status, 400);
	assert_contains(plan.body, "Tandem-Consistency-Token");
	api_plan_free(&plan);

	/* A PUT ignores it. */
	static const char body[] = "{\"dateOfBirth\":\"1990-05-10\"}";
	api_request put = {"PUT", "/hello/bob", JSON, body,  sizeof body - 1,
	                   TODAY, false,        4096, "junk"};
	api_plan_request(&put, &plan);
	assert_int_equal(plan.action, API_PUT_USER);
	api_plan_free(&plan);
}

static void test_body_too_large_is_413(void **state)
{
	(void)state;
	const char *paths[] = {"/hello/bob", "/healthz", "/nowhere"};
	for (size_t i = 0; i < 3; i++) {
		api_request req = {"PUT", paths[i], JSON, "", 0, TODAY, true, 4096, NULL};
		api_plan plan;
		api_plan_request(&req, &plan);
		assert_int_equal(plan.action, API_ANSWER);
		assert_int_equal(plan.status, 413);
		assert_non_null(strstr(plan.body, "4096"));
		assert_int_equal(plan.route, i == 0 ? ROUTE_HELLO : ROUTE_OTHER);
		api_plan_free(&plan);
	}
}

static void test_put_respects_body_len(void **state)
{
	(void)state;
	/* The body is not NUL-terminated where body_len ends: only body_len bytes count. */
	static const char body[] = "{\"dateOfBirth\":\"1990-05-10\"}GARBAGE";
	api_request req = {"PUT", "/hello/bob", JSON, body, sizeof body - 1 - 7,
	                   TODAY, false,        4096, NULL};
	api_plan plan;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_PUT_USER);
	api_plan_free(&plan);

	req.body_len = sizeof body - 1;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_ANSWER);
	assert_int_equal(plan.status, 400);
	api_plan_free(&plan);

	/* Cut in the middle of the object. */
	req.body_len = 10;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_ANSWER);
	assert_int_equal(plan.status, 400);
	api_plan_free(&plan);
}

static void test_put_long_unknown_field(void **state)
{
	(void)state;
	/* A huge field name must still give a short, valid JSON error. */
	size_t n = 100000;
	char *body = malloc(n + 64);
	assert_non_null(body);
	strcpy(body, "{\"");
	memset(body + 2, 'k', n);
	strcpy(body + 2 + n, "\":1}");
	api_request req = {"PUT", "/hello/bob", JSON, body, strlen(body), TODAY, false, 4096, NULL};
	api_plan plan;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_ANSWER);
	assert_int_equal(plan.status, 400);
	check_error_body("long field", plan.body, "unknown field");
	assert_true(strlen(plan.body) < 1000);
	api_plan_free(&plan);
	free(body);
}

static void test_put_today_moves(void **state)
{
	(void)state;
	/* "Before today" follows req.today, not a clock. */
	static const char body[] = "{\"dateOfBirth\":\"2000-01-01\"}";
	api_request req = {"PUT",        "/hello/bob", JSON, body, sizeof body - 1,
	                   {2000, 1, 1}, false,        4096, NULL};
	api_plan plan;
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_ANSWER);
	assert_int_equal(plan.status, 400);
	check_error_body("today 2000-01-01", plan.body, "2000-01-01");
	api_plan_free(&plan);

	req.today = (bd_date){2000, 1, 2};
	api_plan_request(&req, &plan);
	assert_int_equal(plan.action, API_PUT_USER);
	assert_int_equal(plan.dob.year, 2000);
	assert_int_equal(plan.dob.month, 1);
	assert_int_equal(plan.dob.day, 1);
	api_plan_free(&plan);
}

static void test_plan_free_twice(void **state)
{
	(void)state;
	api_request req = {"GET", "/nowhere", NULL, "", 0, TODAY, false, 4096, NULL};
	api_plan plan;
	api_plan_request(&req, &plan);
	assert_non_null(plan.body);
	api_plan_free(&plan);
	assert_null(plan.body);
	api_plan_free(&plan);
	assert_null(plan.body);
}

static void test_route_names(void **state)
{
	(void)state;
	assert_string_equal(api_route_name(ROUTE_HELLO), "hello");
	assert_string_equal(api_route_name(ROUTE_HEALTHZ), "healthz");
	assert_string_equal(api_route_name(ROUTE_READYZ), "readyz");
	assert_string_equal(api_route_name(ROUTE_METRICS), "metrics");
	assert_string_equal(api_route_name(ROUTE_OTHER), "other");
	assert_string_equal(api_route_name(ROUTE_COUNT), "other");
	assert_string_equal(api_route_name((api_route)1000), "other");
}

/* ---- api_hello_message ---- */

static void check_message(const char *user, bd_date dob, bd_date today, const char *want)
{
	char *got = api_hello_message(user, dob, today);
	assert_non_null(got);
	assert_string_equal(got, want);
	json_error_t jerr;
	json_t *doc = json_loads(got, 0, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_object_size(doc), 1);
	assert_true(json_is_string(json_object_get(doc, "message")));
	json_decref(doc);
	free(got);
}

static void test_hello_message(void **state)
{
	(void)state;
	bd_date dob = {1990, 5, 10};
	check_message("bob", dob, (bd_date){2024, 5, 10},
	              "{\"message\":\"Hello, bob! Happy birthday!\"}");
	check_message("bob", dob, (bd_date){2024, 5, 9},
	              "{\"message\":\"Hello, bob! Your birthday is in 1 day(s)\"}");
	check_message("Alice", dob, (bd_date){2024, 5, 5},
	              "{\"message\":\"Hello, Alice! Your birthday is in 5 day(s)\"}");
	check_message("bob", dob, (bd_date){2023, 5, 11},
	              "{\"message\":\"Hello, bob! Your birthday is in 365 day(s)\"}");
	check_message("bob", dob, (bd_date){2022, 5, 11},
	              "{\"message\":\"Hello, bob! Your birthday is in 364 day(s)\"}");
	/* 29 February birthdays fall on 28 February in other years. */
	check_message("leap", (bd_date){2000, 2, 29}, (bd_date){2023, 2, 28},
	              "{\"message\":\"Hello, leap! Happy birthday!\"}");
	check_message("leap", (bd_date){2000, 2, 29}, (bd_date){2023, 3, 1},
	              "{\"message\":\"Hello, leap! Your birthday is in 365 day(s)\"}");
	check_message(LETTERS64, dob, (bd_date){2024, 5, 10},
	              "{\"message\":\"Hello, " LETTERS64 "! Happy birthday!\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routing),
	    cmocka_unit_test(test_put_bodies),
	    cmocka_unit_test(test_put_respects_body_len),
	    cmocka_unit_test(test_body_too_large_is_413),
	    cmocka_unit_test(test_consistency_token),
	    cmocka_unit_test(test_put_long_unknown_field),
	    cmocka_unit_test(test_put_today_moves),
	    cmocka_unit_test(test_plan_free_twice),
	    cmocka_unit_test(test_route_names),
	    cmocka_unit_test(test_hello_message),
	};
	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
