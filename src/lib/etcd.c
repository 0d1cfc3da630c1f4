/* The etcd client's transport: libcurl's multi interface on the libuv loop (one fdwatch per curl
 * socket, one uv timer for curl's timeouts), plain requests with a deadline each, watches as
 * long-lived streaming requests, authentication, and endpoint failover.
 *
 * Every callback to the user runs from pump(), never from inside a libcurl callback, so the user
 * may call any etcd_* function from it (etcd_free included). pump() re-reads the lists after
 * each callback. A call is unlinked before its callback and freed after it; a broken watch is
 * unlinked before on_broken and freed after it (the handle is then no longer valid: calling
 * etcd_watch_stop from inside on_broken is allowed and does nothing).
 *
 * Dead streams: TCP keepalive (about 11 s) and TCP_USER_TIMEOUT catch a lost peer; a watch must
 * get its "created" answer within the connect timeout plus WATCH_CREATE_EXTRA_MS; and when any
 * request to the watch's endpoint fails as unavailable (for example a lease keepalive timing out
 * against a member that hangs), the watch breaks too, so that it is restarted elsewhere. */
#include "etcd.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "etcd_internal.h"
#include "fdwatch.h"
#include "log.h"
#include "strbuf.h"

enum {
	DEFAULT_CONNECT_TIMEOUT_MS = 3000,
	DEFAULT_CALL_TIMEOUT_MS = 5000, /* for a timeout_ms of 0 */
	AUTH_MIN_TIMEOUT_MS = 1000,
	WATCH_CREATE_EXTRA_MS = 3000,
	SWEEP_MS = 50,
	KEEPALIVE_IDLE_S = 5,
	KEEPALIVE_INTVL_S = 2,
	KEEPALIVE_CNT = 3,
	USER_TIMEOUT_MS = 15000,
};

/* The first member of etcd_call and etcd_watch: CURLOPT_PRIVATE points at it. */
typedef enum xfer_kind { X_CALL, X_WATCH } xfer_kind;

typedef enum call_state { CS_WAIT_AUTH, CS_IN_FLIGHT, CS_DONE } call_state;

struct etcd_call {
	xfer_kind kind;
	etcd *e;
	etcd_call *prev, *next;
	call_state state;
	bool is_auth; /* the client's own authenticate request */
	bool in_cb;   /* its callback is running */
	bool retried; /* sent again after an expired token */
	const char *path;
	char *body;
	etcd_cb cb;
	void *ud;
	uint64_t deadline_ms;
	CURL *easy;
	struct curl_slist *headers;
	size_t endpoint;
	uint64_t token_gen;
	strbuf resp;
	bool too_big;
	CURLcode code;
	long http;
	etcd_status fail_status; /* not ETCD_OK: failed without an answer, with fail_msg */
	char *fail_msg;
	char errbuf[CURL_ERROR_SIZE];
};

typedef enum watch_state { WS_WAIT_AUTH, WS_STREAMING, WS_OVER } watch_state;

struct etcd_watch {
	xfer_kind kind;
	etcd *e;
	etcd_watch *prev, *next;
	watch_state state;
	etcd_watch_handlers h;
	char *body;
	CURL *easy;
	struct curl_slist *headers;
	size_t endpoint;
	uint64_t token_gen;
	uint64_t created_deadline_ms;
	bool created; /* an answer arrived */
	/* The stream: bytes before `off` are consumed; `scan` is where the scanner stopped, inside
	 * a message that starts at `start` when depth > 0. */
	strbuf buf;
	size_t off, scan, start, depth;
	bool in_str, esc;
	bool pending; /* something to look at */
	bool done, too_big;
	CURLcode code;
	long http;
	bool in_cb, stopped;
	bool broken; /* over, on_broken not yet called */
	etcd_status broken_status;
	char *broken_why;
	int64_t broken_compact;
	char errbuf[CURL_ERROR_SIZE];
};

typedef struct sock {
	etcd *e;
	struct sock *prev, *next;
	curl_socket_t fd;
	fdwatch *w;
	bool error_pending;
} sock;

struct etcd {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t curl_timer; /* curl's timeouts */
	uv_timer_t sweep;      /* deadlines curl does not see, and deferred work */
	int handles_open;
	char **endpoints;
	size_t nendpoints, cur;
	char *username, *password, *cacert, *cert, *key;
	uint64_t connect_timeout_ms;
	char *token;
	uint64_t token_gen;
	etcd_call *auth;
	etcd_call *calls;
	etcd_watch *watches;
	sock *socks;
	bool closing, pumping;
};

#define LIST_LINK(head, x)                                                                         \
	do {                                                                                       \
		(x)->prev = NULL;                                                                  \
		(x)->next = (head);                                                                \
		if (head)                                                                          \
			(head)->prev = (x);                                                        \
		(head) = (x);                                                                      \
	} while (0)

#define LIST_UNLINK(head, x)                                                                       \
	do {                                                                                       \
		if ((x)->prev)                                                                     \
			(x)->prev->next = (x)->next;                                               \
		else if ((head) == (x))                                                            \
			(head) = (x)->next;                                                        \
		if ((x)->next)                                                                     \
			(x)->next->prev = (x)->prev;                                               \
		(x)->prev = (x)->next = NULL;                                                      \
	} while (0)

static void pump(etcd *e);
static void call_send(etcd_call *c);
static void watch_send(etcd_watch *w);

/* ---- timers and sockets ---- */

static void on_sweep(uv_timer_t *t);

static void arm_sweep(etcd *e)
{
	if (!e->closing && !uv_is_active((uv_handle_t *)&e->sweep))
		uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
}

/* Runs pump() soon, from the loop (for work found outside of it). */
static void kick(etcd *e)
{
	if (!e->closing)
		uv_timer_start(&e->sweep, on_sweep, 0, SWEEP_MS);
}

static void on_curl_timeout(uv_timer_t *t)
{
	etcd *e = t->data;
	int running;
	curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	pump(e);
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *ud)
{
	(void)m;
	etcd *e = ud;
	if (timeout_ms < 0 || e->closing)
		uv_timer_stop(&e->curl_timer);
	else
		uv_timer_start(&e->curl_timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static void on_sock_event(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	sock *k = ud;
	etcd *e = k->e;
	if (status < 0) {
		/* Possibly from inside a curl callback (fdwatch_set failing): tell curl later. */
		k->error_pending = true;
		kick(e);
		return;
	}
	int flags = 0, running;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(e->multi, k->fd, flags, &running); /* may free k */
	pump(e);
}

static void sock_free(etcd *e, sock *k)
{
	fdwatch_free(k->w);
	LIST_UNLINK(e->socks, k);
	free(k);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *sockp)
{
	(void)easy;
	etcd *e = ud;
	sock *k = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (k)
			sock_free(e, k);
		return 0;
	}
	if (!k) {
		k = xcalloc(1, sizeof *k);
		k->e = e;
		k->fd = s;
		k->w = fdwatch_new(e->loop, on_sock_event, k);
		LIST_LINK(e->socks, k);
		curl_multi_assign(e->multi, s, k);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	fdwatch_set(k->w, s, ev);
	return 0;
}

static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)ud;
	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
	int one = 1, idle = KEEPALIVE_IDLE_S, intvl = KEEPALIVE_INTVL_S, cnt = KEEPALIVE_CNT;
	unsigned user_timeout = USER_TIMEOUT_MS;
	/* Best effort: a failure leaves the kernel's defaults. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
	return CURL_SOCKOPT_OK;
}

/* ---- transfers ---- */

static struct curl_slist *header_add(struct curl_slist *l, const char *h)
{
	struct curl_slist *n = curl_slist_append(l, h);
	if (!n) {
		log_error("out of memory");
		abort();
	}
	return n;
}

/* A POST of `body` to `path` on endpoint `ep`; NULL if curl cannot make one. */
static CURL *make_easy(etcd *e, size_t ep, const char *path, const char *body, bool with_token,
                       struct curl_slist **headers, curl_write_callback wcb, void *obj,
                       char *errbuf)
{
	CURL *h = curl_easy_init();
	if (!h)
		return NULL;
	char *url = xasprintf("%s%s", e->endpoints[ep], path);
	struct curl_slist *hd = header_add(NULL, "Content-Type: application/json");
	hd = header_add(hd, "Expect:");
	if (with_token && e->token) {
		char *a = xasprintf("Authorization: %s", e->token);
		hd = header_add(hd, a);
		free(a);
	}
	*headers = hd;
	errbuf[0] = '\0';
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_HTTPHEADER, hd);
	SET(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	SET(CURLOPT_POSTFIELDS, body);
	SET(CURLOPT_WRITEFUNCTION, wcb);
	SET(CURLOPT_WRITEDATA, obj);
	SET(CURLOPT_PRIVATE, obj);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_PROXY, ""); /* never through a proxy from the environment */
	SET(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)e->connect_timeout_ms);
	if (e->cacert)
		SET(CURLOPT_CAINFO, e->cacert);
	if (e->cert)
		SET(CURLOPT_SSLCERT, e->cert);
	if (e->key)
		SET(CURLOPT_SSLKEY, e->key);
#undef SET
	free(url);
	if (rc != CURLE_OK) {
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
		curl_easy_cleanup(h);
		curl_slist_free_all(hd);
		*headers = NULL;
		return NULL;
	}
	return h;
}

static void release_easy(etcd *e, CURL **easy, struct curl_slist **headers)
{
	if (*easy) {
		curl_multi_remove_handle(e->multi, *easy);
		curl_easy_cleanup(*easy);
		*easy = NULL;
	}
	curl_slist_free_all(*headers);
	*headers = NULL;
}

static void clear_token(etcd *e)
{
	free(e->token);
	e->token = NULL;
	e->token_gen++;
}

static void watch_set_broken(etcd_watch *w, etcd_status st, const char *why, int64_t compact);

/* Endpoint `ep` failed: move on to the next one, and break the watches that use it. */
static void endpoint_failed(etcd *e, size_t ep, const char *why)
{
	if (ep != e->cur)
		return; /* already moved on */
	if (e->nendpoints > 1) {
		e->cur = (e->cur + 1) % e->nendpoints;
		log_warning("etcd endpoint %s failed (%s); switching to %s", e->endpoints[ep], why,
		            e->endpoints[e->cur]);
		clear_token(e); /* simple tokens are known to one member only */
	} else {
		log_warning("etcd endpoint %s failed: %s", e->endpoints[ep], why);
	}
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state == WS_STREAMING && w->endpoint == ep && !w->broken) {
			char *m = xasprintf("etcd endpoint %s failed: %s", e->endpoints[ep], why);
			watch_set_broken(w, ETCD_UNAVAILABLE, m, 0);
			free(m);
		}
	}
}

static void ensure_auth(etcd *e, uint64_t timeout_ms);

/* ---- calls ---- */

static size_t on_call_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	etcd_call *c = ud;
	size_t n = size * nmemb;
	if (n > ETCD_MAX_ANSWER - c->resp.len) {
		c->too_big = true;
		return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
	}
	sb_append(&c->resp, ptr, n);
	return n;
}

static void call_fail(etcd_call *c, etcd_status st, const char *msg)
{
	release_easy(c->e, &c->easy, &c->headers);
	c->state = CS_DONE;
	c->fail_status = st;
	free(c->fail_msg);
	c->fail_msg = xstrdup(msg);
	kick(c->e);
}

static void call_free(etcd_call *c)
{
	release_easy(c->e, &c->easy, &c->headers);
	free(c->body);
	free(c->fail_msg);
	sb_free(&c->resp);
	free(c);
}

static void call_send(etcd_call *c)
{
	etcd *e = c->e;
	if (e->username && !e->token && !c->is_auth) {
		c->state = CS_WAIT_AUTH;
		uint64_t now = clock_mono_ms();
		ensure_auth(e, c->deadline_ms > now ? c->deadline_ms - now : 0);
		arm_sweep(e);
		return;
	}
	uint64_t now = clock_mono_ms();
	if (now >= c->deadline_ms) {
		call_fail(c, ETCD_UNAVAILABLE, "the deadline passed before the request was sent");
		return;
	}
	uint64_t left = c->deadline_ms - now;
	c->endpoint = e->cur;
	c->token_gen = e->token_gen;
	sb_reset(&c->resp);
	c->too_big = false;
	c->http = 0;
	c->code = CURLE_OK;
	c->state = CS_IN_FLIGHT;
	c->easy = make_easy(e, c->endpoint, c->path, c->body, !c->is_auth, &c->headers,
	                    on_call_data, c, c->errbuf);
	if (!c->easy) {
		call_fail(c, ETCD_UNAVAILABLE, c->errbuf);
		return;
	}
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)left);
	if (left < e->connect_timeout_ms)
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	CURLMcode mc = curl_multi_add_handle(e->multi, c->easy);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(c->easy);
		c->easy = NULL;
		call_fail(c, ETCD_UNAVAILABLE, curl_multi_strerror(mc));
	}
}

static etcd_call *call_start(etcd *e, const char *path, char *body, uint64_t timeout_ms, etcd_cb cb,
                             void *ud)
{
	etcd_call *c = xcalloc(1, sizeof *c);
	c->kind = X_CALL;
	c->e = e;
	c->path = path;
	c->body = body;
	c->cb = cb;
	c->ud = ud;
	c->deadline_ms = clock_mono_ms() + (timeout_ms ? timeout_ms : DEFAULT_CALL_TIMEOUT_MS);
	LIST_LINK(e->calls, c);
	call_send(c);
	return c;
}

static void ensure_auth(etcd *e, uint64_t timeout_ms)
{
	if (e->auth)
		return;
	char *body = etcd_req_auth(e->username, e->password); /* checked by etcd_new */
	if (timeout_ms < AUTH_MIN_TIMEOUT_MS)
		timeout_ms = AUTH_MIN_TIMEOUT_MS;
	etcd_call *a = xcalloc(1, sizeof *a);
	a->kind = X_CALL;
	a->e = e;
	a->is_auth = true;
	a->path = "/v3/auth/authenticate";
	a->body = body ? body : xstrdup("{}");
	a->deadline_ms = clock_mono_ms() + timeout_ms;
	e->auth = a;
	LIST_LINK(e->calls, a);
	log_debug("etcd: authenticating as %s at %s", e->username, e->endpoints[e->cur]);
	call_send(a);
}

static void set_failure(etcd_result *res, etcd_status st, const char *msg)
{
	memset(res, 0, sizeof *res);
	res->status = st;
	res->error = msg;
}

/* What the answer to a finished call says; *msg holds a formatted message if one was needed. */
static void evaluate(etcd_call *c, etcd_result *res, etcd_arena **arena, char **msg)
{
	const char *ep = c->e->endpoints[c->endpoint];
	if (c->fail_status != ETCD_OK) {
		set_failure(res, c->fail_status, c->fail_msg);
	} else if (c->too_big) {
		*msg = xasprintf("%s: the answer is larger than %zu bytes", ep, ETCD_MAX_ANSWER);
		set_failure(res, ETCD_BAD_ANSWER, *msg);
	} else if (c->code != CURLE_OK) {
		*msg =
		    xasprintf("%s: %s", ep, c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->code));
		set_failure(res, ETCD_UNAVAILABLE, *msg);
	} else {
		int rc = etcd_parse_answer(c->resp.data, c->resp.len, res, arena);
		const char *said = rc == 0 && res->error ? res->error : NULL;
		if (c->http >= 500 && c->http <= 599) {
			*msg = xasprintf("%s: HTTP %ld%s%s", ep, c->http, said ? ": " : "",
			                 said ? said : "");
			set_failure(res, ETCD_UNAVAILABLE, *msg);
		} else if (c->http >= 400 && c->http <= 499) {
			if (!said) {
				*msg = xasprintf("%s: HTTP %ld", ep, c->http);
				set_failure(res, ETCD_REJECTED, *msg);
			}
		} else if (c->http != 200) {
			*msg = xasprintf("%s: unexpected HTTP status %ld", ep, c->http);
			set_failure(res, ETCD_BAD_ANSWER, *msg);
		}
	}
}

static void auth_done(etcd *e, etcd_call *a, const etcd_result *res)
{
	char *token = NULL, *why = NULL;
	etcd_status st = res->status;
	if (st == ETCD_OK) {
		token = etcd_parse_auth_token(a->resp.data, a->resp.len);
		if (!token)
			st = ETCD_BAD_ANSWER;
	}
	if (token) {
		free(e->token);
		e->token = token;
		e->token_gen++;
		log_debug("etcd: authenticated at %s", e->endpoints[a->endpoint]);
	} else {
		why = xasprintf("authentication failed: %s",
		                res->error ? res->error : "no token in the answer");
		log_warning("etcd: %s", why);
	}
	for (etcd_call *c = e->calls; c; c = c->next) {
		if (c->state != CS_WAIT_AUTH)
			continue;
		if (token)
			call_send(c);
		else
			call_fail(c, st, why);
	}
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state != WS_WAIT_AUTH || w->broken)
			continue;
		if (token)
			watch_send(w);
		else
			watch_set_broken(w, st, why, 0);
	}
	free(why);
}

/* Delivers a finished call (or sends it again after an expired token). */
static void finish_call(etcd_call *c)
{
	etcd *e = c->e;
	etcd_result res;
	etcd_arena *arena = NULL;
	char *msg = NULL;
	evaluate(c, &res, &arena, &msg);
	if (!c->is_auth && e->username && !c->retried && res.status == ETCD_REJECTED &&
	    (c->http == 401 || etcd_is_token_error(res.error))) {
		log_debug("etcd: %s; authenticating again", res.error);
		c->retried = true;
		if (c->token_gen == e->token_gen)
			clear_token(e);
		etcd_arena_free(arena);
		free(msg);
		call_send(c);
		return;
	}
	if (res.status == ETCD_UNAVAILABLE && c->fail_status == ETCD_OK)
		endpoint_failed(e, c->endpoint, res.error);
	LIST_UNLINK(e->calls, c);
	if (c->is_auth) {
		e->auth = NULL;
		auth_done(e, c, &res);
	} else if (c->cb) {
		c->in_cb = true;
		c->cb(&res, c->ud);
	}
	etcd_arena_free(arena);
	free(msg);
	call_free(c);
}

/* ---- watches ---- */

static size_t on_watch_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	etcd_watch *w = ud;
	size_t n = size * nmemb;
	if (!w->http)
		curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->http);
	if (n > ETCD_MAX_ANSWER - (w->buf.len - w->off)) {
		w->too_big = true;
		return 0;
	}
	sb_append(&w->buf, ptr, n);
	w->pending = true;
	return n;
}

static void watch_free(etcd_watch *w)
{
	release_easy(w->e, &w->easy, &w->headers);
	sb_free(&w->buf);
	free(w->body);
	free(w->broken_why);
	free(w);
}

static void watch_set_broken(etcd_watch *w, etcd_status st, const char *why, int64_t compact)
{
	if (w->broken || w->state == WS_OVER)
		return;
	release_easy(w->e, &w->easy, &w->headers);
	w->broken = true;
	w->broken_status = st;
	w->broken_why = xstrdup(why);
	w->broken_compact = compact;
	kick(w->e);
}

static void watch_send(etcd_watch *w)
{
	etcd *e = w->e;
	if (e->username && !e->token) {
		w->state = WS_WAIT_AUTH;
		ensure_auth(e, e->connect_timeout_ms + WATCH_CREATE_EXTRA_MS);
		return;
	}
	w->state = WS_STREAMING;
	w->endpoint = e->cur;
	w->token_gen = e->token_gen;
	w->created_deadline_ms = clock_mono_ms() + e->connect_timeout_ms + WATCH_CREATE_EXTRA_MS;
	w->easy = make_easy(e, w->endpoint, "/v3/watch", w->body, true, &w->headers, on_watch_data,
	                    w, w->errbuf);
	if (!w->easy) {
		watch_set_broken(w, ETCD_UNAVAILABLE, w->errbuf, 0);
		return;
	}
	CURLMcode mc = curl_multi_add_handle(e->multi, w->easy);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
		watch_set_broken(w, ETCD_UNAVAILABLE, curl_multi_strerror(mc), 0);
		return;
	}
	arm_sweep(e);
}

/* Finds the next complete JSON object of the stream: 1 (at [*start, *end)), 0 for not yet, -1
 * for something that is not a JSON object. Scans each byte once. */
static int scan_message(etcd_watch *w, size_t *start, size_t *end)
{
	const char *b = w->buf.data;
	for (; w->scan < w->buf.len; w->scan++) {
		char ch = b[w->scan];
		if (w->depth == 0) {
			if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
				w->off = w->scan + 1;
				continue;
			}
			if (ch != '{')
				return -1;
			w->start = w->scan;
			w->depth = 1;
		} else if (w->in_str) {
			if (w->esc)
				w->esc = false;
			else if (ch == '\\')
				w->esc = true;
			else if (ch == '"')
				w->in_str = false;
		} else if (ch == '"') {
			w->in_str = true;
		} else if (ch == '{' || ch == '[') {
			w->depth++;
		} else if ((ch == '}' || ch == ']') && --w->depth == 0) {
			*start = w->start;
			*end = ++w->scan;
			return 1;
		}
	}
	return 0;
}

/* Drops the consumed bytes once they are most of the buffer. */
static void compact(etcd_watch *w)
{
	if (w->off == 0 || w->off < w->buf.len / 2)
		return;
	size_t rest = w->buf.len - w->off;
	memmove(w->buf.data, w->buf.data + w->off, rest);
	w->buf.len = rest;
	w->buf.data[rest] = '\0';
	w->scan -= w->off;
	w->start = w->start >= w->off ? w->start - w->off : 0;
	w->off = 0;
}

static void handle_message(etcd_watch *w, size_t start, size_t end)
{
	etcd *e = w->e;
	etcd_watch_msg msg;
	etcd_arena *arena;
	etcd_status st;
	int rc = etcd_parse_watch_msg_status(w->buf.data + start, end - start, &msg, &arena, &st);
	w->off = end;
	w->created = true;
	if (rc < 0) {
		char *m = xasprintf("bad watch message from %s: %s", e->endpoints[w->endpoint],
		                    msg.error);
		watch_set_broken(w, ETCD_BAD_ANSWER, m, 0);
		free(m);
	} else if (msg.canceled) {
		if (etcd_is_token_error(msg.error) && w->token_gen == e->token_gen)
			clear_token(e);
		else if (st == ETCD_UNAVAILABLE)
			endpoint_failed(e, w->endpoint, msg.error);
		watch_set_broken(w, st, msg.error, msg.compact_revision);
	} else if (msg.nevents > 0 && w->h.on_events) {
		w->in_cb = true;
		w->h.on_events(msg.events, msg.nevents, msg.revision, w->h.ud);
		w->in_cb = false;
		if (w->stopped)
			watch_free(w);
	}
	etcd_arena_free(arena);
}

/* Why a finished watch transfer ended. */
static void watch_ended(etcd_watch *w)
{
	etcd *e = w->e;
	const char *ep = e->endpoints[w->endpoint];
	etcd_status st = ETCD_UNAVAILABLE;
	char *m;
	if (w->too_big) {
		st = ETCD_BAD_ANSWER;
		m = xasprintf("%s: a watch message is larger than %zu bytes", ep, ETCD_MAX_ANSWER);
	} else if (w->code != CURLE_OK) {
		m = xasprintf("%s: %s", ep, w->errbuf[0] ? w->errbuf : curl_easy_strerror(w->code));
	} else if (w->http != 200) {
		etcd_result res;
		etcd_arena *arena;
		int rc = etcd_parse_answer(w->buf.data, w->buf.len, &res, &arena);
		const char *said = rc == 0 && res.error ? res.error : "no error message";
		if (w->http < 400 || w->http > 599)
			st = ETCD_BAD_ANSWER;
		else if (w->http < 500)
			st = rc == 0 && res.error ? res.status : ETCD_REJECTED;
		m = xasprintf("%s: HTTP %ld: %s", ep, w->http, said);
		etcd_arena_free(arena);
	} else {
		m = xasprintf("%s: the watch stream ended", ep);
	}
	if (st == ETCD_UNAVAILABLE)
		endpoint_failed(e, w->endpoint, m);
	watch_set_broken(w, st, m, 0);
	free(m);
}

/* Does the next thing a watch needs; false if it needs nothing. */
static bool service_watch(etcd_watch *w)
{
	if (w->broken) {
		etcd *e = w->e;
		LIST_UNLINK(e->watches, w);
		w->state = WS_OVER;
		w->in_cb = true;
		if (w->h.on_broken)
			w->h.on_broken(w->broken_status, w->broken_why, w->broken_compact, w->h.ud);
		watch_free(w);
		return true;
	}
	if (!w->pending)
		return false;
	if (w->http == 200) {
		size_t start, end;
		int r = scan_message(w, &start, &end);
		if (r > 0) {
			handle_message(w, start, end);
			return true;
		}
		if (r < 0) {
			char *m =
			    xasprintf("%s: the watch stream is not a sequence of JSON objects",
			              w->e->endpoints[w->endpoint]);
			watch_set_broken(w, ETCD_BAD_ANSWER, m, 0);
			free(m);
			return true;
		}
		compact(w);
	}
	if (w->done) {
		watch_ended(w);
		return true;
	}
	w->pending = false;
	return false;
}

/* ---- the pump: completions and user callbacks ---- */

static void collect_done(etcd *e)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(e->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode code = m->data.result;
		char *p = NULL;
		long http = 0;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
		if (!p)
			continue;
		if (*(xfer_kind *)(void *)p == X_CALL) {
			etcd_call *c = (etcd_call *)(void *)p;
			release_easy(e, &c->easy, &c->headers);
			c->code = code;
			c->http = http;
			c->state = CS_DONE;
		} else {
			etcd_watch *w = (etcd_watch *)(void *)p;
			release_easy(e, &w->easy, &w->headers);
			w->code = code;
			w->http = http;
			w->done = true;
			w->pending = true;
		}
	}
}

static void pump(etcd *e)
{
	if (e->pumping || e->closing)
		return;
	e->pumping = true;
	collect_done(e);
	while (!e->closing) {
		etcd_call *c = e->calls;
		while (c && c->state != CS_DONE)
			c = c->next;
		if (c) {
			finish_call(c);
			continue;
		}
		bool did = false;
		for (etcd_watch *w = e->watches; w; w = w->next) {
			if ((w->broken || w->pending) && service_watch(w)) {
				did = true; /* w may be gone: look again from the start */
				break;
			}
		}
		if (!did)
			break;
	}
	e->pumping = false;
}

static bool needs_sweep(const etcd *e)
{
	for (const etcd_call *c = e->calls; c; c = c->next)
		if (c->state != CS_IN_FLIGHT)
			return true;
	for (const etcd_watch *w = e->watches; w; w = w->next)
		if (w->broken || w->pending || (w->state == WS_STREAMING && !w->created))
			return true;
	for (const sock *k = e->socks; k; k = k->next)
		if (k->error_pending)
			return true;
	return false;
}

static void on_sweep(uv_timer_t *t)
{
	etcd *e = t->data;
	uint64_t now = clock_mono_ms();
	for (sock *k = e->socks; k;) {
		if (!k->error_pending) {
			k = k->next;
			continue;
		}
		int running;
		k->error_pending = false;
		curl_multi_socket_action(e->multi, k->fd, CURL_CSELECT_ERR, &running);
		k = e->socks; /* the list may have changed */
	}
	for (etcd_call *c = e->calls; c; c = c->next)
		if (c->state == CS_WAIT_AUTH && now >= c->deadline_ms)
			call_fail(c, ETCD_UNAVAILABLE,
			          "no answer before the deadline (authenticating)");
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state == WS_STREAMING && !w->created && !w->broken &&
		    now >= w->created_deadline_ms) {
			char *m = xasprintf("%s: no answer to the watch request",
			                    e->endpoints[w->endpoint]);
			endpoint_failed(e, w->endpoint, m);
			watch_set_broken(w, ETCD_UNAVAILABLE, m, 0);
			free(m);
		}
	}
	pump(e);
	if (!e->closing && !needs_sweep(e))
		uv_timer_stop(&e->sweep);
}

/* ---- the client ---- */

static bool endpoint_ok(const char *s)
{
	return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
	       strlen(s) > 8 && !strpbrk(s, " \t\r\n");
}

static char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

etcd *etcd_new(uv_loop_t *loop, const etcd_config *cfg, char **err)
{
	if (!cfg->nendpoints || !cfg->endpoints) {
		err_set(err, "no etcd endpoint");
		return NULL;
	}
	for (size_t i = 0; i < cfg->nendpoints; i++) {
		if (!endpoint_ok(cfg->endpoints[i])) {
			err_set(err,
			        "invalid etcd endpoint \"%s\" (expected http://host:port or "
			        "https://host:port)",
			        cfg->endpoints[i] ? cfg->endpoints[i] : "");
			return NULL;
		}
	}
	if (cfg->username) {
		char *probe = etcd_req_auth(cfg->username, cfg->password ? cfg->password : "");
		if (!probe) {
			err_set(err, "the etcd user name and password must be UTF-8");
			return NULL;
		}
		free(probe);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		err_set(err, "cannot initialize libcurl");
		return NULL;
	}
	CURLM *multi = curl_multi_init();
	if (!multi) {
		curl_global_cleanup();
		err_set(err, "cannot initialize libcurl");
		return NULL;
	}
	etcd *e = xcalloc(1, sizeof *e);
	e->loop = loop;
	e->multi = multi;
	e->nendpoints = cfg->nendpoints;
	e->endpoints = xcalloc(cfg->nendpoints, sizeof *e->endpoints);
	for (size_t i = 0; i < cfg->nendpoints; i++) {
		char *s = xstrdup(cfg->endpoints[i]);
		size_t n = strlen(s);
		while (n > 0 && s[n - 1] == '/')
			s[--n] = '\0';
		e->endpoints[i] = s;
	}
	e->username = dup_opt(cfg->username);
	e->password = cfg->username ? xstrdup(cfg->password ? cfg->password : "") : NULL;
	e->cacert = dup_opt(cfg->cacert);
	e->cert = dup_opt(cfg->cert);
	e->key = dup_opt(cfg->key);
	e->connect_timeout_ms =
	    cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	uv_timer_init(loop, &e->curl_timer);
	uv_timer_init(loop, &e->sweep);
	e->curl_timer.data = e;
	e->sweep.data = e;
	e->handles_open = 2;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(multi, CURLMOPT_TIMERDATA, e);
	return e;
}

const char *etcd_endpoint(const etcd *e)
{
	return e->endpoints[e->cur];
}

static void on_closed(uv_handle_t *h)
{
	etcd *e = h->data;
	if (--e->handles_open > 0)
		return;
	for (size_t i = 0; i < e->nendpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->username);
	free(e->password);
	free(e->cacert);
	free(e->cert);
	free(e->key);
	free(e->token);
	free(e);
}

void etcd_free(etcd *e)
{
	if (!e || e->closing)
		return;
	e->closing = true;
	while (e->calls) {
		etcd_call *c = e->calls;
		LIST_UNLINK(e->calls, c);
		call_free(c);
	}
	e->auth = NULL;
	while (e->watches) {
		etcd_watch *w = e->watches;
		LIST_UNLINK(e->watches, w);
		if (w->in_cb) { /* freed when its callback returns */
			release_easy(e, &w->easy, &w->headers);
			w->stopped = true;
		} else {
			watch_free(w);
		}
	}
	curl_multi_cleanup(e->multi); /* tells us to drop its sockets */
	e->multi = NULL;
	while (e->socks)
		sock_free(e, e->socks);
	curl_global_cleanup();
	uv_close((uv_handle_t *)&e->curl_timer, on_closed);
	uv_close((uv_handle_t *)&e->sweep, on_closed);
}

etcd_call *etcd_range(etcd *e, const char *key, bool prefix_match, uint64_t timeout_ms, etcd_cb cb,
                      void *ud)
{
	return call_start(e, "/v3/kv/range", etcd_req_range(key, prefix_match), timeout_ms, cb, ud);
}

etcd_call *etcd_put(etcd *e, const char *key, const char *value, int64_t lease, uint64_t timeout_ms,
                    etcd_cb cb, void *ud)
{
	return call_start(e, "/v3/kv/put", etcd_req_put(key, value, lease), timeout_ms, cb, ud);
}

etcd_call *etcd_delete(etcd *e, const char *key, bool prefix_match, uint64_t timeout_ms, etcd_cb cb,
                       void *ud)
{
	return call_start(e, "/v3/kv/deleterange", etcd_req_delete(key, prefix_match), timeout_ms,
	                  cb, ud);
}

etcd_call *etcd_txn(etcd *e, const etcd_compare *cmp, size_t ncmp, const etcd_op *success,
                    size_t nsuccess, const etcd_op *failure, size_t nfailure, uint64_t timeout_ms,
                    etcd_cb cb, void *ud)
{
	return call_start(e, "/v3/kv/txn",
	                  etcd_req_txn(cmp, ncmp, success, nsuccess, failure, nfailure), timeout_ms,
	                  cb, ud);
}

etcd_call *etcd_lease_grant(etcd *e, int64_t ttl_s, uint64_t timeout_ms, etcd_cb cb, void *ud)
{
	return call_start(e, "/v3/lease/grant", etcd_req_lease_grant(ttl_s), timeout_ms, cb, ud);
}

etcd_call *etcd_lease_keepalive(etcd *e, int64_t lease, uint64_t timeout_ms, etcd_cb cb, void *ud)
{
	return call_start(e, "/v3/lease/keepalive", etcd_req_lease_id(lease), timeout_ms, cb, ud);
}

etcd_call *etcd_lease_revoke(etcd *e, int64_t lease, uint64_t timeout_ms, etcd_cb cb, void *ud)
{
	return call_start(e, "/v3/lease/revoke", etcd_req_lease_id(lease), timeout_ms, cb, ud);
}

void etcd_cancel(etcd *e, etcd_call *c)
{
	if (!c || c->in_cb || e->closing)
		return;
	LIST_UNLINK(e->calls, c);
	call_free(c);
}

etcd_watch *etcd_watch_start(etcd *e, const char *prefix, int64_t start_revision,
                             const etcd_watch_handlers *h)
{
	etcd_watch *w = xcalloc(1, sizeof *w);
	w->kind = X_WATCH;
	w->e = e;
	w->h = *h;
	w->body = etcd_req_watch(prefix, start_revision);
	LIST_LINK(e->watches, w);
	watch_send(w);
	return w;
}

void etcd_watch_stop(etcd *e, etcd_watch *w)
{
	if (!w || w->state == WS_OVER || w->stopped)
		return;
	LIST_UNLINK(e->watches, w);
	if (w->in_cb) {
		release_easy(e, &w->easy, &w->headers);
		w->stopped = true;
		return;
	}
	watch_free(w);
}
