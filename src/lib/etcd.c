/* The etcd client: configuration, plain requests (each with its deadline), authentication
 * (a token from /v3/auth/authenticate, renewed when etcd says it expired) and the mapping of
 * answers to etcd_status. The transport is etcd_xfer.c, watches are etcd_watch.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "etcd_priv.h"
#include "log.h"
#include "secret_file.h"

static void call_send(etcd_call *c);

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

void etcd_call_fail(etcd_call *c, etcd_status st, const char *msg)
{
	etcd_easy_release(c->e, &c->easy, &c->headers);
	c->state = CS_DONE;
	c->fail_status = st;
	free(c->fail_msg);
	c->fail_msg = xstrdup(msg);
	etcd_kick(c->e);
}

static void call_free(etcd_call *c)
{
	etcd_easy_release(c->e, &c->easy, &c->headers);
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
		etcd_ensure_auth(e, c->deadline_ms > now ? c->deadline_ms - now : 0);
		etcd_arm_sweep(e);
		return;
	}
	uint64_t now = clock_mono_ms();
	if (now >= c->deadline_ms) {
		etcd_call_fail(c, ETCD_UNAVAILABLE,
		               "the deadline passed before the request was sent");
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
	c->easy = etcd_easy_new(e, c->endpoint, c->path, c->body, !c->is_auth, &c->headers,
	                        on_call_data, c, c->errbuf);
	if (!c->easy) {
		etcd_call_fail(c, ETCD_UNAVAILABLE, c->errbuf);
		return;
	}
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)left);
	if (left < e->connect_timeout_ms)
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	CURLMcode mc = etcd_easy_add(e, c->easy, c);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(c->easy);
		c->easy = NULL;
		etcd_call_fail(c, ETCD_UNAVAILABLE, curl_multi_strerror(mc));
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
	if (!timeout_ms)
		timeout_ms = DEFAULT_CALL_TIMEOUT_MS;
	else if (timeout_ms > MAX_CALL_TIMEOUT_MS)
		timeout_ms = MAX_CALL_TIMEOUT_MS;
	c->deadline_ms = clock_mono_ms() + timeout_ms;
	DLIST_LINK(e->calls, c);
	call_send(c);
	return c;
}

void etcd_ensure_auth(etcd *e, uint64_t timeout_ms)
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
	DLIST_LINK(e->calls, a);
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
			etcd_call_fail(c, st, why);
	}
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state != WS_WAIT_AUTH || w->broken)
			continue;
		if (token)
			etcd_stream_send(w);
		else
			etcd_stream_broken(w, st, why, 0);
	}
	free(why);
}

void etcd_call_finish(etcd_call *c)
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
			etcd_clear_token(e);
		etcd_arena_free(arena);
		free(msg);
		call_send(c);
		return;
	}
	if (res.status == ETCD_UNAVAILABLE && c->fail_status == ETCD_OK)
		etcd_endpoint_failed(e, c->endpoint, res.error);
	DLIST_UNLINK(e->calls, c);
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

static void free_client(etcd *e)
{
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

static void on_closed(uv_handle_t *h)
{
	etcd *e = h->data;
	if (--e->handles_open == 0)
		free_client(e);
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
	/* libcurl reads the client key later; a key other users can read is refused now. */
	if (cfg->key && secret_file_check(cfg->key, err) < 0) {
		err_prefix(err, "etcd client key");
		return NULL;
	}
	etcd *e = xcalloc(1, sizeof *e);
	e->loop = loop;
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
	if (e->connect_timeout_ms > MAX_CALL_TIMEOUT_MS)
		e->connect_timeout_ms = MAX_CALL_TIMEOUT_MS;
	if (etcd_xfer_init(e) < 0) {
		err_set(err, "cannot initialize libcurl");
		e->handles_open = 0;
		free_client(e);
		return NULL;
	}
	e->handles_open = 1;
	return e;
}

const char *etcd_endpoint(const etcd *e)
{
	return e->endpoints[e->cur];
}

void etcd_set_rtt_histogram(etcd *e, metrics_histogram *h)
{
	e->rtt = h;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

int etcd_set_credentials(etcd *e, const char *username, const char *password, char **err)
{
	const char *pw = username ? (password ? password : "") : NULL;
	if (same(e->username, username) && same(e->password, pw))
		return 0;
	if (username) {
		char *probe = etcd_req_auth(username, pw);
		if (!probe) {
			err_set(err, "the etcd user name and password must be UTF-8");
			return -1;
		}
		free(probe);
	}
	free(e->username);
	if (e->password)
		memset(e->password, 0, strlen(e->password));
	free(e->password);
	e->username = dup_opt(username);
	e->password = pw ? xstrdup(pw) : NULL;
	etcd_clear_token(e);
	log_info("etcd: new credentials%s%s: authenticating again", username ? " for " : "",
	         username ? username : " (none)");
	return 0;
}

void etcd_free(etcd *e)
{
	if (!e || e->closing)
		return;
	e->closing = true;
	while (e->calls) {
		etcd_call *c = e->calls;
		DLIST_UNLINK(e->calls, c);
		call_free(c);
	}
	e->auth = NULL;
	while (e->watches) {
		etcd_watch *w = e->watches;
		DLIST_UNLINK(e->watches, w);
		if (w->in_cb) { /* freed when its callback returns */
			etcd_easy_release(e, &w->easy, &w->headers);
			w->stopped = true;
		} else {
			etcd_stream_free(w);
		}
	}
	etcd_xfer_close(e, on_closed);
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
	DLIST_UNLINK(e->calls, c);
	call_free(c);
}
