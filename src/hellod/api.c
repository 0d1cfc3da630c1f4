#include "api.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "strbuf.h"

static const char *const route_names[ROUTE_COUNT] = {"hello", "healthz", "readyz", "metrics",
                                                     "other"};

const char *api_route_name(api_route r)
{
	return r < ROUTE_COUNT ? route_names[r] : "other";
}

char *api_hello_message(const char *username, bd_date dob, bd_date today)
{
	int n = bd_days_until_birthday(dob, today);
	/* The username is letters only, so it needs no JSON escaping. */
	if (n == 0)
		return xasprintf("{\"message\":\"Hello, %s! Happy birthday!\"}", username);
	return xasprintf("{\"message\":\"Hello, %s! Your birthday is in %d day(s)\"}", username, n);
}

static void answer(api_plan *plan, unsigned status, const char *message)
{
	plan->action = API_ANSWER;
	plan->status = status;
	plan->body = http_error_body(message);
}

static void answerf(api_plan *plan, unsigned status, const char *fmt, ...) TND_PRINTF(3, 4);
static void answerf(api_plan *plan, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	answer(plan, status, m);
	free(m);
}

static bool is_json_type(const char *ct)
{
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	static const char want[] = "application/json";
	if (strncasecmp(ct, want, sizeof want - 1) != 0)
		return false;
	const char *rest = ct + sizeof want - 1;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	return *rest == '\0' || *rest == ';';
}

static void plan_put(const api_request *req, api_plan *plan)
{
	if (!is_json_type(req->content_type)) {
		answer(plan, 415, "Content-Type must be application/json");
		return;
	}
	if (req->body_len == 0) {
		answer(plan, 400, "the body is empty; expected {\"dateOfBirth\": \"YYYY-MM-DD\"}");
		return;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		answerf(plan, 400, "malformed JSON at line %d, column %d: %s", jerr.line,
		        jerr.column, jerr.text);
		return;
	}
	const char *key;
	json_t *value;
	json_t *dob = NULL;
	if (!json_is_object(doc)) {
		answer(plan, 400,
		       "the body must be a JSON object {\"dateOfBirth\": \"YYYY-MM-DD\"}");
		goto out;
	}
	json_object_foreach(doc, key, value)
	{
		if (strcmp(key, "dateOfBirth") != 0) {
			/* Field names come from the client: jansson escapes them for us. */
			answerf(plan, 400, "unknown field '%.64s'; only dateOfBirth is accepted",
			        key);
			goto out;
		}
		dob = value;
	}
	if (!dob) {
		answer(plan, 400, "the field dateOfBirth is missing");
		goto out;
	}
	if (!json_is_string(dob)) {
		answer(plan, 400, "dateOfBirth must be a string YYYY-MM-DD");
		goto out;
	}
	const char *s = json_string_value(dob);
	size_t len = json_string_length(dob);
	if (bd_parse(s, len, &plan->dob) < 0) {
		answerf(plan, 400, "dateOfBirth '%.32s' is not a real date in the form YYYY-MM-DD",
		        len <= 32 ? s : "(too long)");
		goto out;
	}
	if (bd_to_days(plan->dob) >= bd_to_days(req->today)) {
		char today[11];
		bd_format(req->today, today);
		answerf(plan, 400, "dateOfBirth must be a date before today (%s)", today);
		goto out;
	}
	plan->action = API_PUT_USER;
out:
	json_decref(doc);
}

static bool method_is(const api_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

static void plan_probe(const api_request *req, api_plan *plan, api_route route, api_action act)
{
	plan->route = route;
	if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
		plan->allow = "GET, HEAD";
		answerf(plan, 405, "method %.16s is not allowed here; use GET", req->method);
		return;
	}
	plan->action = act;
}

void api_plan_request(const api_request *req, api_plan *plan)
{
	memset(plan, 0, sizeof *plan);
	static const char prefix[] = "/hello/";
	const char *path = req->path;

	if (req->body_too_large) {
		plan->route =
		    strncmp(path, prefix, sizeof prefix - 1) == 0 ? ROUTE_HELLO : ROUTE_OTHER;
		answerf(plan, 413, "request body larger than %zu bytes", req->max_body);
		return;
	}
	if (strncmp(path, prefix, sizeof prefix - 1) == 0) {
		plan->route = ROUTE_HELLO;
		const char *name = path + sizeof prefix - 1;
		bool get = method_is(req, "GET") || method_is(req, "HEAD");
		if (!get && !method_is(req, "PUT")) {
			plan->allow = "GET, HEAD, PUT";
			answerf(plan, 405, "method %.16s is not allowed here; use GET or PUT",
			        req->method);
			return;
		}
		size_t len = strlen(name);
		if (!bd_valid_username(name, len)) {
			answerf(plan, 400, "the username must be 1 to %d letters (A-Z, a-z)",
			        BD_MAX_USERNAME);
			return;
		}
		memcpy(plan->username, name, len + 1);
		if (get && req->token && ryw_token_parse(req->token, &plan->token) < 0) {
			answer(plan, 400,
			       RYW_TOKEN_HEADER " must be TIMELINE:LSN as a PUT answered it");
			return;
		}
		if (get)
			plan->action = API_GET_USER;
		else
			plan_put(req, plan);
		return;
	}
	if (strcmp(path, "/healthz") == 0)
		plan_probe(req, plan, ROUTE_HEALTHZ, API_HEALTHZ);
	else if (strcmp(path, "/readyz") == 0)
		plan_probe(req, plan, ROUTE_READYZ, API_READYZ);
	else if (strcmp(path, "/metrics") == 0)
		plan_probe(req, plan, ROUTE_METRICS, API_METRICS);
	else {
		plan->route = ROUTE_OTHER;
		answer(plan, 404, "no such resource");
	}
}

void api_plan_free(api_plan *plan)
{
	free(plan->body);
	plan->body = NULL;
}
