/* See http_fanout.h. The worker owns every curl handle from creation to cleanup; the loop only
 * reads the results after the worker has ended (uv_queue_work's after-callback). */
#include "http_fanout.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

enum { BODY_KEEP = 200, POLL_MS = 100 };

typedef struct target {
	char *url;
	long status;
	char error[CURL_ERROR_SIZE];
	char body[BODY_KEEP + 1];
	size_t body_len;
} target;

struct http_fanout {
	uv_work_t work;
	target *targets;
	size_t n;
	char *body;
	char *userpwd;
	uint64_t timeout_ms;
	http_fanout_cb cb;
	void *ud;
	bool cancelled;
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

static CURL *easy_for(http_fanout *f, target *t, struct curl_slist *headers)
{
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	if (f->userpwd) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERPWD, f->userpwd);
	}
	return e;
}

static void run(uv_work_t *w)
{
	http_fanout *f = w->data;
	CURLM *m = curl_multi_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	CURL **easy = xcalloc(f->n ? f->n : 1, sizeof *easy);
	for (size_t i = 0; i < f->n; i++) {
		target *t = &f->targets[i];
		if (!t->url) {
			snprintf(t->error, sizeof t->error, "no REST API URL");
			continue;
		}
		easy[i] = m && headers ? easy_for(f, t, headers) : NULL;
		if (!easy[i] || curl_multi_add_handle(m, easy[i]) != CURLM_OK) {
			snprintf(t->error, sizeof t->error, "cannot start the request");
			continue;
		}
		t->error[0] = '\0';
	}
	int running = 1;
	while (m && running) {
		if (curl_multi_perform(m, &running) != CURLM_OK || !running)
			break;
		curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
	}
	CURLMsg *msg;
	int left;
	while (m && (msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		target *t;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (msg->data.result == CURLE_OK) {
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &t->status);
		} else {
			t->status = 0;
			if (!t->error[0])
				snprintf(t->error, sizeof t->error, "%s",
				         curl_easy_strerror(msg->data.result));
		}
	}
	for (size_t i = 0; i < f->n; i++) {
		if (!easy[i])
			continue;
		curl_multi_remove_handle(m, easy[i]);
		curl_easy_cleanup(easy[i]);
	}
	free(easy);
	curl_slist_free_all(headers);
	if (m)
		curl_multi_cleanup(m);
}

static void fanout_free(http_fanout *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->targets[i].url);
	free(f->targets);
	free(f->body);
	free(f->userpwd);
	free(f);
}

static void after(uv_work_t *w, int status)
{
	http_fanout *f = w->data;
	if (!f->cancelled) {
		http_fanout_result *r = xcalloc(f->n ? f->n : 1, sizeof *r);
		for (size_t i = 0; i < f->n; i++) {
			const target *t = &f->targets[i];
			r[i].status = status == 0 ? t->status : 0;
			r[i].error = status != 0 ? "cancelled" : t->status ? t->body : t->error;
		}
		f->cb(r, f->n, f->ud);
		free(r);
	}
	fanout_free(f);
}

http_fanout *http_fanout_post(uv_loop_t *loop, const char *const *urls, size_t n, const char *body,
                              const char *userpwd, uint64_t timeout_ms, http_fanout_cb cb, void *ud)
{
	http_fanout *f = xcalloc(1, sizeof *f);
	f->targets = xcalloc(n ? n : 1, sizeof *f->targets);
	f->n = n;
	for (size_t i = 0; i < n; i++) {
		f->targets[i].url = urls[i] ? xstrdup(urls[i]) : NULL;
		snprintf(f->targets[i].error, sizeof f->targets[i].error, "not sent");
	}
	f->body = xstrdup(body);
	f->userpwd = userpwd ? xstrdup(userpwd) : NULL;
	f->timeout_ms = timeout_ms ? timeout_ms : 1;
	f->cb = cb;
	f->ud = ud;
	f->work.data = f;
	int r = uv_queue_work(loop, &f->work, run, after);
	if (r != 0) {
		/* Only with a closing loop or bad arguments; answer anyway. */
		http_fanout_result *res = xcalloc(n ? n : 1, sizeof *res);
		for (size_t i = 0; i < n; i++)
			res[i].error = uv_strerror(r);
		cb(res, n, ud);
		free(res);
		fanout_free(f);
		return NULL;
	}
	return f;
}

void http_fanout_cancel(http_fanout *f)
{
	if (f)
		f->cancelled = true;
}
