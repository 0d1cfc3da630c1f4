/* The demo's HTTP checks, on the loop's libcurl adapter (curl_uv.h). */
#include "demo_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "curl_uv.h"
#include "err.h"
#include "strbuf.h"

typedef struct demo_req {
	struct demo_req *next;
	demo_http *h;
	CURL *easy;
	struct curl_slist *headers;
	strbuf body;
	char *json;
	demo_http_cb cb;
	void *arg;
} demo_req;

struct demo_http {
	curluv *curl;
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
	curluv_remove(h->curl, r->easy);
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

static void on_done(CURL *easy, CURLcode result, void *arg)
{
	demo_req *r = arg;
	demo_http *h = r->h;
	long status = 0;
	if (result == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	unlink_req(h, r);
	demo_http_cb cb = r->cb;
	void *cb_arg = r->arg;
	char *body = sb_steal(&r->body);
	req_free(h, r);
	cb(status, body, cb_arg);
	free(body);
}

demo_http *demo_http_new(uv_loop_t *loop)
{
	demo_http *h = xcalloc(1, sizeof *h);
	h->curl = curluv_new(loop, NULL, NULL);
	if (!h->curl)
		abort();
	return h;
}

void demo_http_request(demo_http *h, const char *method, const char *url, const char *json,
                       long timeout_ms, demo_http_cb cb, void *arg)
{
	demo_req *r = xcalloc(1, sizeof *r);
	r->h = h;
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
	if (json) {
		r->json = xstrdup(json);
		r->headers = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->json);
	}
	if (curluv_add(h->curl, r->easy, on_done, r) != CURLM_OK)
		abort();
	r->next = h->reqs;
	h->reqs = r;
	h->pending++;
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
	curluv_free(h->curl);
	h->curl = NULL;
}

void demo_http_free(demo_http *h)
{
	if (!h)
		return;
	free(h);
}
