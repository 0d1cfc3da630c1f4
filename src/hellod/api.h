/* The HTTP surface of hellod as a pure function: a request (method, path, content type, body,
 * today's date) becomes a plan, either a finished answer (every error, with its JSON body) or the
 * database action to take. No I/O happens here, so every input can be tested and fuzzed. */
#ifndef HELLOD_API_H
#define HELLOD_API_H

#include <stddef.h>

#include "birthday.h"
#include "ryw.h"

typedef enum api_route {
	ROUTE_HELLO,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_OTHER,
	ROUTE_COUNT
} api_route;

typedef enum api_action {
	API_ANSWER,   /* status and body are set */
	API_GET_USER, /* look the user up, then api_hello_message() */
	API_PUT_USER, /* save username and dob */
	API_HEALTHZ,
	API_READYZ,
	API_METRICS,
} api_action;

typedef struct api_request {
	const char *method;
	const char *path;         /* as sent, without the query string */
	const char *content_type; /* NULL when absent */
	const char *body;
	size_t body_len;
	bd_date today;
	bool body_too_large; /* over max_body, which is given for the message */
	size_t max_body;
	const char *token; /* the Tandem-Consistency-Token header; NULL when absent */
} api_request;

typedef struct api_plan {
	api_route route;
	api_action action;
	char username[BD_MAX_USERNAME + 1];
	bd_date dob;
	ryw_pos token;     /* API_GET_USER: the token presented (tli 0: none) */
	unsigned status;   /* API_ANSWER only */
	char *body;        /* API_ANSWER only: JSON, owned */
	const char *allow; /* the Allow header of a 405 */
} api_plan;

void api_plan_request(const api_request *req, api_plan *plan);
void api_plan_free(api_plan *plan);

const char *api_route_name(api_route r);

/* {"message": "Hello, NAME! Your birthday is in N day(s)"} or "... Happy birthday!" (owned). */
char *api_hello_message(const char *username, bd_date dob, bd_date today);

#endif
