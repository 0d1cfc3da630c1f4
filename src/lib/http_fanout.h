/* One HTTP POST to several URLs at once, with one deadline, answered on the loop: the leader's
 * failsafe round asks every member at the same time. The requests run on the loop through the
 * libcurl adapter (curl_uv.h); the callback runs on the loop once every request has answered,
 * failed or timed out.
 *
 * Only http and https URLs are followed (a URL comes from the DCS, which anyone with write access
 * to it controls). The caller must have run curl_global_init() before the first call. */
#ifndef TANDEM_HTTP_FANOUT_H
#define TANDEM_HTTP_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct http_fanout http_fanout;

typedef struct http_fanout_result {
	long status;       /* the HTTP status; 0 when no answer came */
	const char *error; /* no answer: why; an answer: the start of its body (may be "") */
} http_fanout_result;

/* results[i] answers urls[i]; valid only during the callback. */
typedef void (*http_fanout_cb)(const http_fanout_result *results, size_t n, void *ud);

/* `userpwd` ("user:password", basic authentication) may be NULL; it goes to urls[i] only when
 * `with_auth` is NULL or with_auth[i] is true (cred_trust.h decides). `body` is sent as JSON. A URL
 * that cannot be used (NULL included) gets an error result. The callback is called once, from the
 * loop (never before this returns), unless the call is cancelled first. */
http_fanout *http_fanout_post(uv_loop_t *loop, const char *const *urls, size_t n, const char *body,
                              const char *userpwd, const bool *with_auth, uint64_t timeout_ms,
                              http_fanout_cb cb, void *ud);
/* How https URLs are checked, and the client certificate sent: files in PEM; NULL for each is
 * the system's CAs and no client certificate. The server's certificate is always verified (its
 * chain and its name against the URL's host). */
typedef struct http_fanout_tls {
	const char *cacert;
	const char *certfile;
	const char *keyfile;
	const char *keyfile_password; /* NULL: the key is not encrypted */
} http_fanout_tls;

/* http_fanout_post with `tls` (NULL: the defaults above). */
http_fanout *http_fanout_post_tls(uv_loop_t *loop, const char *const *urls, size_t n,
                                  const char *body, const char *userpwd, const bool *with_auth,
                                  const http_fanout_tls *tls, uint64_t timeout_ms,
                                  http_fanout_cb cb, void *ud);
/* The callback will not be called; the requests are abandoned and the call is freed at the end of
 * the loop pass. From inside the callback it does nothing (the call is freed after it). */
void http_fanout_cancel(http_fanout *f);

#endif
