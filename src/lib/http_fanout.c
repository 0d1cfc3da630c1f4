/* See http_fanout.h. The fan-out owns its curl handles from creation to cleanup, and its libcurl
 * adapter; a timer answers from the loop when no request could be started at all. */
#include "http_fanout.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_uv.h"
#include "err.h"

enum { BODY_KEEP = 200 };

typedef struct target {
	http_fanout *f;
	char *url;
	bool auth;  /* the credentials go to this one */
	CURL *easy; /* while in flight */
	long status;
	char error[CURL_ERROR_SIZE];
	char body[BODY_KEEP + 1];
	size_t body_len;
} target;

struct http_fanout {
	curluv *curl;
	uv_timer_t idle; /* answers when nothing is in flight */
	target *targets;
	size_t n;
	struct curl_slist *headers;
	char *body;
	char *userpwd;
	char *cacert, *certfile, *keyfile, *keypasswd; /* http_fanout_tls, copied */
	uint64_t timeout_ms;
	http_fanout_cb cb;
	void *ud;
	bool answered; /* the callback ran, or the call was cancelled */
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	target *t = ud;
	size_t n = size * nmemb, room = BODY_KEEP - t->body_len;
	size_t take = n < room ? n : room;
	memcpy(t->body + t->body_len, p, take);
	t->body_len += take;
	t->body[t->body_len] = '\0';
	return n;
}

static CURL *easy_for(http_fanout *f, target *t)
{
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, f->cacert);
	if (f->certfile) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, f->certfile);
		curl_easy_setopt(e, CURLOPT_SSLKEY, f->keyfile);
		if (f->keypasswd)
			curl_easy_setopt(e, CURLOPT_KEYPASSWD, f->keypasswd);
	}
	if (f->userpwd && t->auth) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERPWD, f->userpwd);
	}
	return e;
}

static void on_idle_closed(uv_handle_t *h)
{
	http_fanout *f = h->data;
	for (size_t i = 0; i < f->n; i++) {
		if (f->targets[i].easy) {
			curluv_remove(f->curl, f->targets[i].easy);
			curl_easy_cleanup(f->targets[i].easy);
		}
		free(f->targets[i].url);
	}
	curluv_free(f->curl);
	curl_slist_free_all(f->headers);
	free(f->targets);
	free(f->body);
	free(f->userpwd);
	free(f->cacert);
	free(f->certfile);
	free(f->keyfile);
	free(f->keypasswd);
	free(f);
}

/* At the end of the loop pass: the adapter may be on the stack. */
static void fanout_free(http_fanout *f)
{
	uv_close((uv_handle_t *)&f->idle, on_idle_closed);
}

static void answer(http_fanout *f)
{
	f->answered = true;
	http_fanout_result *r = xcalloc(f->n ? f->n : 1, sizeof *r);
	for (size_t i = 0; i < f->n; i++) {
		const target *t = &f->targets[i];
		r[i].status = t->status;
		r[i].error = t->status ? t->body : t->error;
	}
	f->cb(r, f->n, f->ud);
	free(r);
	fanout_free(f);
}

static bool in_flight(const http_fanout *f)
{
	return f->curl && curluv_running(f->curl) > 0;
}

static void on_done(CURL *easy, CURLcode result, void *ud)
{
	target *t = ud;
	http_fanout *f = t->f;
	if (result == CURLE_OK) {
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->status);
	} else {
		t->status = 0;
		if (!t->error[0])
			snprintf(t->error, sizeof t->error, "%s", curl_easy_strerror(result));
	}
	curl_easy_cleanup(easy);
	t->easy = NULL;
	if (!f->answered && !in_flight(f))
		answer(f);
}

static void on_idle(uv_timer_t *tm)
{
	http_fanout *f = tm->data;
	if (!f->answered && !in_flight(f))
		answer(f);
}

static void start(http_fanout *f, target *t)
{
	if (!t->url) {
		snprintf(t->error, sizeof t->error, "no REST API URL");
		return;
	}
	t->easy = f->curl && f->headers ? easy_for(f, t) : NULL;
	if (!t->easy || curluv_add(f->curl, t->easy, on_done, t) != CURLM_OK) {
		snprintf(t->error, sizeof t->error, "cannot start the request");
		curl_easy_cleanup(t->easy); /* NULL is allowed */
		t->easy = NULL;
		return;
	}
	t->error[0] = '\0';
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

http_fanout *http_fanout_post(uv_loop_t *loop, const char *const *urls, size_t n, const char *body,
                              const char *userpwd, const bool *with_auth, uint64_t timeout_ms,
                              http_fanout_cb cb, void *ud)
{
	return http_fanout_post_tls(loop, urls, n, body, userpwd, with_auth, NULL, timeout_ms, cb,
	                            ud);
}

http_fanout *http_fanout_post_tls(uv_loop_t *loop, const char *const *urls, size_t n,
                                  const char *body, const char *userpwd, const bool *with_auth,
                                  const http_fanout_tls *tls, uint64_t timeout_ms,
                                  http_fanout_cb cb, void *ud)
{
	http_fanout *f = xcalloc(1, sizeof *f);
	if (tls) {
		f->cacert = dup_or_null(tls->cacert);
		f->certfile = dup_or_null(tls->certfile);
		f->keyfile = dup_or_null(tls->keyfile);
		f->keypasswd = dup_or_null(tls->keyfile_password);
	}
	f->targets = xcalloc(n ? n : 1, sizeof *f->targets);
	f->n = n;
	f->body = xstrdup(body);
	f->userpwd = userpwd ? xstrdup(userpwd) : NULL;
	f->timeout_ms = timeout_ms ? timeout_ms : 1;
	f->cb = cb;
	f->ud = ud;
	f->curl = curluv_new(loop, NULL, NULL);
	f->headers = curl_slist_append(NULL, "Content-Type: application/json");
	uv_timer_init(loop, &f->idle);
	f->idle.data = f;
	for (size_t i = 0; i < n; i++) {
		target *t = &f->targets[i];
		t->f = f;
		t->url = urls[i] ? xstrdup(urls[i]) : NULL;
		t->auth = !with_auth || with_auth[i];
		start(f, t);
	}
	if (!in_flight(f))
		uv_timer_start(&f->idle, on_idle, 0, 0);
	return f;
}

void http_fanout_cancel(http_fanout *f)
{
	if (f && !f->answered) {
		f->answered = true;
		fanout_free(f);
	}
}
