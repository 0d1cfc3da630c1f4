/* An HTTP/1.1 server on a libuv loop, built on libmicrohttpd driven from outside (its epoll fd on a
 * uv_poll_t, its timeouts on a uv_timer_t). One httpd belongs to one loop thread; several threads
 * may each run an httpd on the same listening sockets.
 *
 * The handler gets a request once its headers and body are in, and answers it with http_respond(),
 * either at once or later from the same loop thread (the connection waits suspended meanwhile).
 * A request whose body is over the limit reaches the handler with http_req_too_large() true and
 * no body; the handler must answer it at once (413). */
#ifndef TANDEM_HTTPD_H
#define TANDEM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "err.h"

typedef struct httpd httpd;
typedef struct http_req http_req;

typedef struct httpd_config {
	const int *fds; /* listening sockets, shared with other httpds is fine */
	size_t nfds;
	size_t max_body;          /* bytes */
	size_t max_header;        /* bytes of request line and headers */
	unsigned idle_timeout_s;  /* an idle or stalled connection is closed after this */
	unsigned max_connections; /* per httpd */
	/* Connections one peer address may hold open at once (per httpd); 0: no limit. A peer over
	 * it has its new connections closed at once, so that it cannot crowd others out. */
	unsigned max_connections_per_peer;
	const char *tls_cert_pem; /* both NULL for plain HTTP */
	const char *tls_key_pem;
	const char *tls_key_password; /* NULL, or what tls_key_pem (PKCS#8) is encrypted with */
	/* With TLS: PEM CA certificate(s) that clients' certificates are checked against. NULL: no
	 * client certificate is asked for. Set, one is asked for, and http_req_client_verified()
	 * says whether the request's connection presented one that verifies. */
	const char *tls_trust_pem;
	/* With tls_trust_pem: the TLS handshake fails unless the client presents a certificate that
	 * verifies against it (and is not refused by its key purpose for TLS clients). */
	bool tls_require_client;
	/* Called with every complete request. */
	void (*on_request)(http_req *req, void *ud);
	/* Called with every new peer before anything is read; false closes the connection. */
	bool (*allow_peer)(const struct sockaddr *peer, void *ud);
	void *ud;
} httpd_config;

httpd *httpd_new(uv_loop_t *loop, const httpd_config *cfg, char **err) TND_MUST_CHECK;

/* Stops accepting (the sockets stay open for others), answers every later response with
 * "Connection: close" and closes idle connections after a second of silence. */
void httpd_drain(httpd *d);
size_t httpd_connections(const httpd *d);
/* Requests handed to the handler and not yet answered. */
size_t httpd_pending(const httpd *d);
/* Frees the server; there must be no pending request. Closes its connections, not the sockets. */
void httpd_free(httpd *d);

const char *http_req_method(const http_req *r);
/* The path exactly as sent (no percent-decoding), without the query string. */
const char *http_req_path(const http_req *r);
/* The query string exactly as sent (after '?', no percent-decoding), or NULL when there is none. */
const char *http_req_query(const http_req *r);
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const http_req *r, const char *name);
const char *http_req_body(const http_req *r, size_t *len);
/* The body was over max_body (and was dropped). */
bool http_req_too_large(const http_req *r);
const struct sockaddr *http_req_peer(const http_req *r);
/* Whether the request came over TLS with a client certificate that verifies against the
 * configured tls_trust_pem (false without TLS or without tls_trust_pem). */
bool http_req_client_verified(const http_req *r);
/* When the request arrived complete, in monotonic microseconds. */
uint64_t http_req_start_us(const http_req *r);

/* Answers a request (copies the body). `headers` is NULL or a NULL-terminated list of name, value
 * pairs. Exactly once per request. */
void http_respond(http_req *r, unsigned status, const char *content_type, const char *body,
                  size_t len, const char *const *headers);

/* `{"error": message}` as compact JSON (owned); bytes outside printable ASCII become '?'. */
char *http_error_body(const char *message);

/* Answers with http_error_body(message). */
void http_respond_error(http_req *r, unsigned status, const char *message,
                        const char *const *headers);

#endif
