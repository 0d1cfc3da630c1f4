/* Fuzzes hellod's request planning (api_plan_request) and its greeting (api_hello_message).
 *
 * Input: METHOD '\n' PATH '\n' CONTENT-TYPE '\n' BODY. Missing fields are empty; an empty
 * content type stands for an absent header; the body is every byte after the third newline
 * (newlines and NULs included) and is handed over unterminated, in a buffer of exactly its size.
 *
 * Invariants: an API_ANSWER has a status 400..599 and a body that is a JSON object whose "error"
 * is a printable-ASCII string (a 405 also names the allowed methods); every other action has no
 * body; API_GET_USER and API_PUT_USER carry a valid username (the path's tail) and, for a PUT, a
 * real date of birth before today; the greeting for a user is a JSON object whose "message" says
 * hello to that user and counts the days the calendar functions count. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "birthday.h"
#include "fuzz_util.h"

static const bd_date today = {2024, 2, 29};

/* The next field of the input up to '\n' (or the end), as a heap C string. */
static char *field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *s = fuzz_strndup(*p, len);
	*p = nl ? nl + 1 : end;
	return s;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void check_error_body(const api_plan *plan)
{
	FUZZ_CHECK(plan->status >= 400 && plan->status <= 599, "status %u", plan->status);
	FUZZ_CHECK(plan->body != NULL, "status %u without a body", plan->status);
	json_error_t jerr;
	json_t *doc = json_loads(plan->body, 0, &jerr);
	FUZZ_CHECK(doc != NULL, "body is not JSON (%s): %s", jerr.text, plan->body);
	FUZZ_CHECK(json_is_object(doc), "body is not an object: %s", plan->body);
	json_t *e = json_object_get(doc, "error");
	FUZZ_CHECK(json_is_string(e), "no \"error\" string: %s", plan->body);
	FUZZ_CHECK(json_object_size(doc) == 1, "extra fields: %s", plan->body);
	FUZZ_CHECK(json_string_length(e) > 0 && printable_ascii(json_string_value(e)),
	           "error message empty or not printable ASCII: %s", plan->body);
	json_decref(doc);
	if (plan->status == 405)
		FUZZ_CHECK(plan->allow && *plan->allow, "405 without an Allow value");
}

static void check_greeting(const char *username, bd_date dob)
{
	char *msg = api_hello_message(username, dob, today);
	FUZZ_CHECK(msg != NULL, "no greeting");
	json_error_t jerr;
	json_t *doc = json_loads(msg, 0, &jerr);
	FUZZ_CHECK(doc != NULL, "greeting is not JSON (%s): %s", jerr.text, msg);
	json_t *m = json_object_get(doc, "message");
	FUZZ_CHECK(json_is_object(doc) && json_object_size(doc) == 1 && json_is_string(m),
	           "greeting is not {\"message\": string}: %s", msg);

	int n = bd_days_until_birthday(dob, today);
	FUZZ_CHECK(n >= 0 && n <= 366, "days until birthday %d", n);
	char want[160];
	if (n == 0)
		snprintf(want, sizeof want, "Hello, %s! Happy birthday!", username);
	else
		snprintf(want, sizeof want, "Hello, %s! Your birthday is in %d day(s)", username,
		         n);
	FUZZ_CHECK(strcmp(json_string_value(m), want) == 0, "greeting '%s', expected '%s'",
	           json_string_value(m), want);
	json_decref(doc);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *method = field(&p, end);
	char *path = field(&p, end);
	char *ctype = field(&p, end);
	size_t body_len = (size_t)(end - p);
	char *body = fuzz_memdup(p, body_len);

	api_request req = {
	    .method = method,
	    .path = path,
	    .content_type = *ctype ? ctype : NULL,
	    .body = body,
	    .body_len = body_len,
	    .today = today,
	};
	api_plan plan;
	api_plan_request(&req, &plan);

	FUZZ_CHECK(plan.route < ROUTE_COUNT, "route %d", (int)plan.route);
	FUZZ_CHECK(api_route_name(plan.route) != NULL, "route without a name");
	bool hello = strncmp(path, "/hello/", 7) == 0;
	FUZZ_CHECK(hello == (plan.route == ROUTE_HELLO), "route %s for path '%s'",
	           api_route_name(plan.route), path);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool put = strcmp(method, "PUT") == 0;

	switch (plan.action) {
	case API_ANSWER:
		check_error_body(&plan);
		break;
	case API_GET_USER:
	case API_PUT_USER: {
		FUZZ_CHECK(plan.body == NULL, "a body without API_ANSWER");
		FUZZ_CHECK(hello, "user action for path '%s'", path);
		FUZZ_CHECK(strcmp(plan.username, path + 7) == 0, "username '%s' from path '%s'",
		           plan.username, path);
		FUZZ_CHECK(bd_valid_username(plan.username, strlen(plan.username)),
		           "invalid username '%s' accepted", plan.username);
		bd_date dob;
		if (plan.action == API_GET_USER) {
			FUZZ_CHECK(get, "API_GET_USER for method '%s'", method);
			/* The stored date a lookup would find: the body, when it is one. */
			if (bd_parse(body, body_len, &dob) < 0)
				dob = (bd_date){1990, 5, 17};
		} else {
			FUZZ_CHECK(put, "API_PUT_USER for method '%s'", method);
			dob = plan.dob;
			FUZZ_CHECK(dob.year >= 1 && dob.year <= 9999 && dob.month >= 1 &&
			               dob.month <= 12 && dob.day >= 1 &&
			               dob.day <= bd_days_in_month(dob.year, dob.month),
			           "accepted date %d-%d-%d", dob.year, dob.month, dob.day);
			FUZZ_CHECK(bd_to_days(dob) < bd_to_days(today),
			           "date of birth not before today");
		}
		check_greeting(plan.username, dob);
		break;
	}
	case API_HEALTHZ:
	case API_READYZ:
	case API_METRICS:
		FUZZ_CHECK(plan.body == NULL, "a body without API_ANSWER");
		FUZZ_CHECK(get, "probe for method '%s'", method);
		FUZZ_CHECK(!hello, "probe for path '%s'", path);
		break;
	default:
		FUZZ_CHECK(0, "unknown action %d", (int)plan.action);
	}

	api_plan_free(&plan);
	FUZZ_CHECK(plan.body == NULL, "api_plan_free left the body");
	free(method);
	free(path);
	free(ctype);
	free(body);
	return 0;
}
