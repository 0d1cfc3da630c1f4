#include "httpd.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "strbuf.h"

typedef struct slot {
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	httpd *d;
} slot;

/* A live connection, kept so that draining can shorten the timeout of idle ones. */
/* A live connection. Kept so that draining can shorten the timeout of idle ones, and so that a
 * client that dribbles its request (slowloris) is cut off: MHD's own timeout only measures silence.
 * `phase_start_us` is when the connection began waiting for a request (or its body) from the
 * client; while the handler owns the request, the client is not to blame. */
typedef struct conn_link {
	struct MHD_Connection *conn;
	struct conn_link *prev, *next;
	uint64_t phase_start_us;
	bool handler_owns;
} conn_link;

struct httpd {
	uv_loop_t *loop;
	httpd_config cfg;
	slot *slots;
	size_t nslots;
	uv_timer_t timer;
	uv_timer_t reaper; /* once a second: cut off clients too slow to send a request */
	conn_link *conns;
	size_t nconns;
	size_t pending;
	bool draining;
	bool in_run; /* inside MHD_run: timer re-arming happens once at the end */
	int handles_open;
};

typedef enum { REQ_READING, REQ_RUNNING, REQ_ANSWERED, REQ_SENT } req_state;

struct http_req {
	httpd *d;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *query; /* the raw text after '?', NULL when none */
	strbuf body;
	bool too_large;
	bool suspended;
	req_state state;
	uint64_t start_us;
	unsigned status;
	struct MHD_Response *resp;
};

static void run_all(httpd *d);
static void on_timer(uv_timer_t *t);

static void arm_timer(httpd *d)
{
	uint64_t next = UINT64_MAX;
	for (size_t i = 0; i < d->nslots; i++) {
		MHD_UNSIGNED_LONG_LONG t;
		if (d->slots[i].mhd && MHD_get_timeout(d->slots[i].mhd, &t) == MHD_YES && t < next)
			next = t;
	}
	if (next == UINT64_MAX)
		uv_timer_stop(&d->timer);
	else
		uv_timer_start(&d->timer, on_timer, next, 0);
}

static void run_slot(slot *s)
{
	if (s->mhd)
		MHD_run(s->mhd);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	slot *s = p->data;
	run_slot(s);
	arm_timer(s->d);
}

static void on_timer(uv_timer_t *t)
{
	run_all(t->data);
}

static void run_all(httpd *d)
{
	for (size_t i = 0; i < d->nslots; i++)
		run_slot(&d->slots[i]);
	arm_timer(d);
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)len;
	httpd *d = cls;
	if (d->cfg.allow_peer && !d->cfg.allow_peer(addr, d->cfg.ud))
		return MHD_NO;
	return MHD_YES;
}

static conn_link *link_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result queue_answer(http_req *r)
{
	if (r->d->draining)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	r->state = REQ_SENT;
	return rc;
}

static void request_done(httpd *d, http_req *r)
{
	(void)d;
	if (r->resp)
		MHD_destroy_response(r->resp);
	sb_free(&r->body);
	free(r->query);
	free(r);
}

/* MHD's first look at a request: the raw request target, before it cuts the query string off.
 * The request starts here so that the query can be kept. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	http_req *r = xcalloc(1, sizeof *r);
	r->d = cls;
	const char *q = uri ? strchr(uri, '?') : NULL;
	if (q)
		r->query = xstrdup(q + 1);
	return r;
}

/* Bodies over max_body up to this size are read and dropped before the 413. */
#define HTTPD_MAX_DRAIN (1u << 20)

/* What MHD's strict mode rejected by closing the connection without an answer: a request
 * target with a space or a control character in it, an HTTP/1.1 request without Host. */
static bool bad_target_bytes(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return true;
	return false;
}

static bool bad_request_line(struct MHD_Connection *conn, const char *url, const char *query,
                             const char *version)
{
	if (bad_target_bytes(url) || bad_target_bytes(query))
		return true;
	return version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
	       !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **con_cls)
{
	httpd *d = cls;
	http_req *r = *con_cls;
	if (!r) {
		r = on_uri(d, NULL, conn);
		*con_cls = r;
	}
	if (!r->conn) {
		r->conn = conn;
		r->method = method;
		r->path = url;
		*con_cls = r;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (d->cfg.tls_require_client && !http_req_client_verified(r)) {
			/* The handshake refuses these; should one get through, so does this. */
			r->state = REQ_RUNNING;
			d->pending++;
			http_respond_error(r, 403, "a valid client certificate is required", NULL);
			return queue_answer(r);
		}
		if (bad_request_line(conn, url, r->query, version)) {
			/* MHD (strict mode off) passed it on; answer 400 rather than close. */
			r->state = REQ_RUNNING;
			d->pending++;
			http_respond_error(r, 400, "malformed request line or missing Host header",
			                   NULL);
			return queue_answer(r);
		}
		unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
		if (len <= d->cfg.max_body)
			return MHD_YES;
		r->too_large = true;
		/* A body up to HTTPD_MAX_DRAIN is read and dropped (below), then answered 413 on a
		 * connection that stays usable: answered before its body is read, MHD closes the
		 * socket with data unread, and the reset can reach a client still sending before
		 * it reads the 413. A larger one is answered now, and the connection closed. */
		const char *expect =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		if (len <= HTTPD_MAX_DRAIN && !(expect && strcasecmp(expect, "100-continue") == 0))
			return MHD_YES;
	} else if (*upload_size) {
		/* A body that grows past the limit (chunked) is read to its end and dropped: MHD
		 * cannot answer in the middle of an upload. The reaper bounds how long that takes.
		 */
		if (!r->too_large && r->body.len + *upload_size > d->cfg.max_body) {
			r->too_large = true;
			sb_free(&r->body);
		} else if (!r->too_large) {
			sb_append(&r->body, upload_data, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}

	if (r->state == REQ_READING) {
		r->state = REQ_RUNNING;
		r->start_us = clock_mono_us();
		conn_link *l = link_of(conn);
		if (l)
			l->handler_owns = true;
		d->pending++;
		d->cfg.on_request(r, d->cfg.ud);
		if (r->state == REQ_RUNNING && r->too_large) {
			log_error("http: the handler did not answer a request that was too large");
			http_respond_error(r, 413, "request body too large", NULL);
		}
		if (r->state == REQ_RUNNING) {
			MHD_suspend_connection(conn);
			r->suspended = true;
			return MHD_YES;
		}
	}
	if (r->state == REQ_ANSWERED)
		return queue_answer(r);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)toe;
	http_req *r = *con_cls;
	if (r)
		request_done(cls, r);
	*con_cls = NULL;
	conn_link *l = link_of(conn);
	if (l) {
		l->handler_owns = false;
		l->phase_start_us = clock_mono_us();
	}
}

static gnutls_session_t tls_session_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

/* The client's certificate must be for TLS clients (or name no purpose). Not const: GnuTLS takes
 * it as writable, and keeps it for the sessions' lifetime. */
static gnutls_typed_vdata_st client_purpose[] = {
    {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0},
};

/* tls_require_client: MHD has set the session up (and asks for a certificate) before it
 * announces the connection; from here the handshake itself fails without a certificate, or with
 * one that does not verify against tls_trust_pem. Returns false when the session is not there
 * to be set (the connection is then refused: see on_access). */
static bool require_client_cert(struct MHD_Connection *conn)
{
	gnutls_session_t sess = tls_session_of(conn);
	if (!sess)
		return false;
	gnutls_certificate_server_set_request(sess, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert2(sess, client_purpose, 1, 0);
	return true;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
	httpd *d = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if (d->cfg.tls_require_client && !require_client_cert(conn))
			log_error("http: no TLS session to require a client certificate on; the "
			          "connection's requests will be refused");
		conn_link *l = xcalloc(1, sizeof *l);
		l->conn = conn;
		l->phase_start_us = clock_mono_us();
		l->next = d->conns;
		if (d->conns)
			d->conns->prev = l;
		d->conns = l;
		d->nconns++;
		*socket_ctx = l;
		if (d->draining)
			MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
	} else {
		conn_link *l = *socket_ctx;
		if (!l)
			return;
		if (l->prev)
			l->prev->next = l->next;
		else
			d->conns = l->next;
		if (l->next)
			l->next->prev = l->prev;
		d->nconns--;
		free(l);
		*socket_ctx = NULL;
	}
}

static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) TND_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (!log_enabled(LOG_DEBUG))
		return;
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) >= 0) {
		log_debug("http: %s", msg);
		free(msg);
	}
}

static void on_reaper(uv_timer_t *t)
{
	httpd *d = t->data;
	uint64_t limit = (uint64_t)d->cfg.idle_timeout_s * 1000000u;
	uint64_t now = clock_mono_us();
	for (conn_link *l = d->conns; l; l = l->next) {
		if (l->handler_owns || now - l->phase_start_us < limit)
			continue;
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(l->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci) {
			log_debug("http: closing a connection that took over %us to send a request",
			          d->cfg.idle_timeout_s);
			/* MHD sees the end of the stream and closes the connection itself. */
			shutdown(ci->connect_fd, SHUT_RDWR);
			l->phase_start_us = now;
		}
	}
	run_all(d);
}

static void on_handle_closed(uv_handle_t *h)
{
	httpd *d = h->data;
	if (--d->handles_open == 0) {
		free(d->slots);
		free(d);
	}
}

static struct MHD_OptionItem option_item(enum MHD_OPTION option, const char *value)
{
	struct MHD_OptionItem it = {option, 0, (void *)(uintptr_t)value};
	return it;
}

/* MHD's TLS options for `cfg` (none without a certificate), ended by MHD_OPTION_END. */
static void tls_options(const httpd_config *cfg, struct MHD_OptionItem items[5])
{
	size_t n = 0;
	if (cfg->tls_cert_pem) {
		if (cfg->tls_key_password)
			items[n++] =
			    option_item(MHD_OPTION_HTTPS_KEY_PASSWORD, cfg->tls_key_password);
		items[n++] = option_item(MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert_pem);
		items[n++] = option_item(MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key_pem);
		if (cfg->tls_trust_pem)
			items[n++] = option_item(MHD_OPTION_HTTPS_MEM_TRUST, cfg->tls_trust_pem);
	}
	items[n] = option_item(MHD_OPTION_END, NULL);
}

httpd *httpd_new(uv_loop_t *loop, const httpd_config *cfg, char **err)
{
	if ((cfg->tls_cert_pem != NULL) != (cfg->tls_key_pem != NULL)) {
		err_set(err, "TLS needs both a certificate and a key");
		return NULL;
	}
	if ((cfg->tls_trust_pem || cfg->tls_require_client) && !cfg->tls_cert_pem) {
		err_set(err, "client certificates need TLS (a certificate and a key)");
		return NULL;
	}
	if (cfg->tls_require_client && !cfg->tls_trust_pem) {
		err_set(err, "requiring client certificates needs the CA they are checked against");
		return NULL;
	}
	if (cfg->tls_cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		err_set(err, "this libmicrohttpd was built without TLS support");
		return NULL;
	}
	if (cfg->tls_key_password &&
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_KEY_PASSWORD) != MHD_YES) {
		err_set(err, "this libmicrohttpd cannot read encrypted TLS keys");
		return NULL;
	}
	httpd *d = xcalloc(1, sizeof *d);
	d->loop = loop;
	d->cfg = *cfg;
	d->slots = xcalloc(cfg->nfds, sizeof *d->slots);
	d->nslots = cfg->nfds;
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	uv_timer_init(loop, &d->reaper);
	d->reaper.data = d;
	uv_timer_start(&d->reaper, on_reaper, 1000, 1000);
	d->handles_open = 2;

	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (cfg->tls_cert_pem)
		flags |= MHD_USE_TLS;
	for (size_t i = 0; i < cfg->nfds; i++) {
		slot *s = &d->slots[i];
		s->d = d;
		struct MHD_OptionItem tls[5];
		tls_options(cfg, tls);
		s->mhd = MHD_start_daemon(
		    flags, 0, accept_policy, d, on_access, d, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
		    NULL, MHD_OPTION_LISTEN_SOCKET, cfg->fds[i], MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		    cfg->max_header, MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s,
		    MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_peer,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_NOTIFY_CONNECTION,
		    on_connection, d, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, d, MHD_OPTION_STRICT_FOR_CLIENT, 0,
		    MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
		if (!s->mhd) {
			err_set(err, "cannot start the HTTP server on fd %d%s", cfg->fds[i],
			        cfg->tls_cert_pem ? " (is the TLS certificate and key valid?)"
			                          : "");
			httpd_free(d);
			return NULL;
		}
		const union MHD_DaemonInfo *info =
		    MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
		uv_poll_init(loop, &s->poll, info->epoll_fd);
		s->poll.data = s;
		d->handles_open++;
		uv_poll_start(&s->poll, UV_READABLE, on_poll);
	}
	run_all(d);
	return d;
}

void httpd_drain(httpd *d)
{
	if (d->draining)
		return;
	d->draining = true;
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].mhd)
			MHD_quiesce_daemon(d->slots[i].mhd);
	for (conn_link *l = d->conns; l; l = l->next)
		MHD_set_connection_option(l->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
	run_all(d);
}

size_t httpd_connections(const httpd *d)
{
	return d->nconns;
}

size_t httpd_pending(const httpd *d)
{
	return d->pending;
}

void httpd_free(httpd *d)
{
	if (!d)
		return;
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->reaper, on_handle_closed);
	for (size_t i = 0; i < d->nslots; i++) {
		slot *s = &d->slots[i];
		if (!s->mhd)
			continue;
		uv_poll_stop(&s->poll);
		/* Quiesce first: the listening socket is shared and must stay open. */
		MHD_quiesce_daemon(s->mhd);
		MHD_stop_daemon(s->mhd);
		s->mhd = NULL;
		s->poll.data = d;
		uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	}
	uv_close((uv_handle_t *)&d->timer, on_handle_closed);
}

const char *http_req_method(const http_req *r)
{
	return r->method;
}

const char *http_req_path(const http_req *r)
{
	return r->path;
}

const char *http_req_query(const http_req *r)
{
	return r->query;
}

const char *http_req_header(const http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_body(const http_req *r, size_t *len)
{
	*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

const struct sockaddr *http_req_peer(const http_req *r)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci ? ci->client_addr : NULL;
}

bool http_req_client_verified(const http_req *r)
{
	if (!r->d->cfg.tls_cert_pem || !r->d->cfg.tls_trust_pem)
		return false;
	gnutls_session_t sess = tls_session_of(r->conn);
	unsigned status = 0;
	if (!sess || gnutls_certificate_verify_peers(sess, client_purpose, 1, &status) < 0)
		return false;
	return status == 0;
}

bool http_req_too_large(const http_req *r)
{
	return r->too_large;
}

uint64_t http_req_start_us(const http_req *r)
{
	return r->start_us;
}

void http_respond(http_req *r, unsigned status, const char *content_type, const char *body,
                  size_t len, const char *const *headers)
{
	if (r->state != REQ_RUNNING) {
		log_error("http: a request was answered twice (status %u); ignored", status);
		return;
	}
	void *copy = xmalloc(len);
	if (len)
		memcpy(copy, body, len);
	r->resp = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
	if (content_type)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (const char *const *h = headers; h && h[0]; h += 2)
		MHD_add_response_header(r->resp, h[0], h[1]);
	r->status = status;
	r->state = REQ_ANSWERED;
	r->d->pending--;
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		/* Let MHD pick the connection up on the next loop pass. */
		uv_timer_start(&r->d->timer, on_timer, 0, 0);
	}
}

char *http_error_body(const char *message)
{
	char *clean = xstrdup(message);
	for (char *p = clean; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	json_t *o = json_pack("{s:s}", "error", clean);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(clean);
	return s ? s : xstrdup("{\"error\":\"internal error\"}");
}

void http_respond_error(http_req *r, unsigned status, const char *message,
                        const char *const *headers)
{
	char *s = http_error_body(message);
	http_respond(r, status, "application/json", s, strlen(s), headers);
	free(s);
}
