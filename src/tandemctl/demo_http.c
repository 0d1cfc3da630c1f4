/* The demo's HTTP checks: libcurl multi, polled from a 20 ms timer while requests are in flight
 * (the checks are few and on loopback, so polling costs nothing and keeps the glue small). */
#include "demo_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strbuf.h"

typedef struct demo_req {
	struct demo_req *next;
	CURL *easy;
	struct curl_slist *headers;
	strbuf body;
	char *json;
	demo_http_cb cb;
	void *arg;
} demo_req;

struct demo_http {
	CURLM *multi;
	uv_timer_t timer;
	demo_req *reqs;
	unsigned pending;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	demo_req *r = arg;
	sb_append(&r->body, data, size * n);
	return size * n;
}

static void req_free(demo_http *h, demo_req *r)
{
	curl_multi_remove_handle(h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	sb_free(&r->body);
	free(r->json);
	free(r);
}

static void unlink_req(demo_http *h, demo_req *r)
{
	for (demo_req **pp = &h->reqs; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			h->pending--;
			return;
		}
}

static void on_tick(uv_timer_t *t)
{
	demo_http *h = t->data;
	int running = 0;
	curl_multi_perform(h->multi, &running);
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		demo_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		long status = 0;
		if (m->data.result == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		unlink_req(h, r);
		demo_http_cb cb = r->cb;
		void *arg = r->arg;
		char *body = sb_steal(&r->body);
		req_free(h, r);
		cb(status, body, arg);
		free(body);
	}
	if (h->pending == 0)
		uv_timer_stop(&h->timer);
}

demo_http *demo_http_new(uv_loop_t *loop)
{
	demo_http *h = xcalloc(1, sizeof *h);
	h->multi = curl_multi_init();
	if (!h->multi)
		abort();
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	return h;
}

void demo_http_request(demo_http *h, const char *method, const char *url, const char *json,
                       long timeout_ms, demo_http_cb cb, void *arg)
{
	demo_req *r = xcalloc(1, sizeof *r);
	r->cb = cb;
	r->arg = arg;
	r->easy = curl_easy_init();
	if (!r->easy)
		abort();
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)r);
	if (json) {
		r->json = xstrdup(json);
		r->headers = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->json);
	}
	curl_multi_add_handle(h->multi, r->easy);
	r->next = h->reqs;
	h->reqs = r;
	h->pending++;
	if (!uv_is_active((uv_handle_t *)&h->timer))
		uv_timer_start(&h->timer, on_tick, 0, 20);
}

unsigned demo_http_pending(const demo_http *h)
{
	return h->pending;
}

void demo_http_close(demo_http *h)
{
	while (h->reqs) {
		demo_req *r = h->reqs;
		h->reqs = r->next;
		req_free(h, r);
	}
	h->pending = 0;
	uv_close((uv_handle_t *)&h->timer, NULL);
}

void demo_http_free(demo_http *h)
{
	if (!h)
		return;
	curl_multi_cleanup(h->multi);
	free(h);
}
