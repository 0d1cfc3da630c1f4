/* The HTTP calls tandemctl makes to the members' REST APIs: one blocking request with libcurl's
 * easy interface, a deadline, and HTTP basic authentication when the configuration has
 * restapi.authentication. */
#ifndef TANDEMCTL_CTL_HTTP_H
#define TANDEMCTL_CTL_HTTP_H

#include <stdbool.h>

#include "err.h"

typedef struct ctl_http_auth {
	const char *username; /* NULL: no authentication */
	const char *password;
	const char *cacert;           /* for https REST APIs, NULL: the system's CAs */
	const char *certfile;         /* client certificate (PEM), NULL: none */
	const char *keyfile;          /* its private key */
	const char *keyfile_password; /* NULL: the key is not encrypted */
	bool insecure; /* https without verifying the server (--insecure, ctl.insecure) */
} ctl_http_auth;

typedef struct ctl_http_answer {
	long status; /* the HTTP status */
	char *body;  /* the answer's body, NUL-terminated (never NULL after success) */
} ctl_http_answer;

/* `method` ("GET", "POST", "PATCH", "PUT") on `url`; `json_body` (NULL for none) is sent as
 * application/json.
 * Returns 0 when the server answered (whatever the status), -1 with *err when it could not be
 * reached or did not answer within `timeout_ms`. */
int ctl_http_request(const char *method, const char *url, const char *json_body,
                     const ctl_http_auth *auth, long timeout_ms, ctl_http_answer *out,
                     char **err) TND_MUST_CHECK;
void ctl_http_answer_free(ctl_http_answer *a);

#endif
