/* The libcurl adapter (curl_uv.h) and the REST fan-out built on it, against a small HTTP server
 * (httpd.h) on the same loop: completions, a refused connection, removal, freeing from a callback,
 * and the fan-out's answers (never before it returns). */
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <uv.h>

#include "testutil.h"

#include "curl_uv.h"
#include "http_fanout.h"

/* A tiny HTTP server on the loop: reads a request's head, answers "hello <path>" (with " auth"
 * when the request carried an Authorization header) and closes. */
typedef struct server {
	uv_loop_t loop;
	uv_tcp_t listen;
	bool open;
	char *base; /* "http://127.0.0.1:port" */
} server;

typedef struct conn {
	uv_tcp_t tcp;
	char buf[1024];
	size_t len;
	uv_write_t wr;
	char out[256];
} conn;

static void on_conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn *c = w->data;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)hint;
	conn *c = h->data;
	*b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	(void)b;
	conn *c = s->data;
	if (n < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (!strstr(c->buf, "\r\n\r\n"))
		return;
	uv_read_stop(s);
	char path[128] = "";
	sscanf(c->buf, "%*s %127s", path);
	char body[160];
	int k = snprintf(body, sizeof body, "hello %s%s", path,
	                 strstr(c->buf, "\r\nAuthorization:") ? " auth" : "");
	snprintf(c->out, sizeof c->out,
	         "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", k, body);
	uv_buf_t ob = uv_buf_init(c->out, (unsigned)strlen(c->out));
	c->wr.data = c;
	assert_int_equal(uv_write(&c->wr, s, &ob, 1, on_written), 0);
}

static void on_connection(uv_stream_t *l, int status)
{
	assert_int_equal(status, 0);
	conn *c = calloc(1, sizeof *c);
	uv_tcp_init(l->loop, &c->tcp);
	c->tcp.data = c;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void server_start(server *sv)
{
	assert_int_equal(uv_loop_init(&sv->loop), 0);
	struct sockaddr_in sa;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	uv_tcp_init(&sv->loop, &sv->listen);
	assert_int_equal(uv_tcp_bind(&sv->listen, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&sv->listen, 16, on_connection), 0);
	struct sockaddr_in got;
	int len = sizeof got;
	uv_tcp_getsockname(&sv->listen, (struct sockaddr *)&got, &len);
	sv->base = malloc(64);
	snprintf(sv->base, 64, "http://127.0.0.1:%d", ntohs(got.sin_port));
	sv->open = true;
}

static void server_stop(server *sv)
{
	if (sv->open)
		uv_close((uv_handle_t *)&sv->listen, NULL);
	sv->open = false;
}

/* Runs the loop until every handle is closed: the test stops the server when it is done. */
static void server_end(server *sv)
{
	assert_int_equal(uv_run(&sv->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&sv->loop), 0);
	free(sv->base);
}

typedef struct fixture fixture;

typedef struct result {
	fixture *f;
	bool called;
	CURLcode code;
	long status;
	char body[64];
	size_t len;
} result;

struct fixture {
	server sv;
	curluv *curl;
	result res[2];
	CURL *easy[2];
	char *url[2];
	int expected, done, passes;
	bool free_in_callback;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	result *r = ud;
	size_t k = size * n;
	if (k > sizeof r->body - 1 - r->len)
		k = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	return size * n;
}

static void finish(fixture *f)
{
	curluv_free(f->curl);
	f->curl = NULL;
	server_stop(&f->sv);
}

static void on_done(CURL *easy, CURLcode code, void *ud)
{
	result *r = ud;
	fixture *f = r->f;
	assert_false(r->called);
	r->called = true;
	r->code = code;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (f->free_in_callback || ++f->done == f->expected)
		finish(f);
}

static void on_pass(void *ud)
{
	fixture *f = ud;
	f->passes++;
}

static void fixture_start(fixture *f)
{
	memset(f, 0, sizeof *f);
	server_start(&f->sv);
	f->curl = curluv_new(&f->sv.loop, on_pass, f);
	assert_non_null(f->curl);
}

/* GETs `path` from the server as transfer i. */
static void get(fixture *f, int i, const char *path)
{
	result *r = &f->res[i];
	r->f = f;
	f->url[i] = malloc(strlen(f->sv.base) + strlen(path) + 1);
	sprintf(f->url[i], "%s%s", f->sv.base, path);
	CURL *e = curl_easy_init();
	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_URL, f->url[i]);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	f->easy[i] = e;
	assert_int_equal(curluv_add(f->curl, e, on_done, r), CURLM_OK);
}

static void fixture_end(fixture *f)
{
	server_end(&f->sv);
	for (int i = 0; i < 2; i++) {
		curl_easy_cleanup(f->easy[i]);
		free(f->url[i]);
	}
}

/* Starts the fixture with two GETs; the test ends after `expected` completions. */
static void start_two(fixture *f, int expected, const char *p0, const char *p1)
{
	fixture_start(f);
	f->expected = expected;
	get(f, 0, p0);
	get(f, 1, p1);
}

static void test_two_requests(void **state)
{
	(void)state;
	fixture f;
	start_two(&f, 2, "/a", "/b");
	assert_int_equal(curluv_running(f.curl), 2);
	fixture_end(&f);
	assert_int_equal(f.done, 2);
	assert_true(f.passes > 0);
	assert_int_equal(f.res[0].code, CURLE_OK);
	assert_int_equal(f.res[0].status, 200);
	assert_string_equal(f.res[0].body, "hello /a");
	assert_int_equal(f.res[1].status, 200);
	assert_string_equal(f.res[1].body, "hello /b");
}

static void test_refused(void **state)
{
	(void)state;
	fixture f;
	fixture_start(&f);
	f.expected = 1;
	/* A port nobody listens on: the server's, once closed. */
	server_stop(&f.sv);
	get(&f, 0, "/");
	fixture_end(&f);
	assert_true(f.res[0].called);
	assert_int_equal(f.res[0].code, CURLE_COULDNT_CONNECT);
	assert_int_equal(f.res[0].status, 0);
}

/* The first completion frees the adapter: the other transfer is never reported, and every handle
 * closes. */
static void test_free_from_callback(void **state)
{
	(void)state;
	fixture f;
	start_two(&f, 0, "/a", "/a");
	f.free_in_callback = true;
	fixture_end(&f);
	assert_int_equal(f.res[0].called + f.res[1].called, 1);
}

/* A removed transfer is never reported; the easy handle is the caller's again. */
static void test_remove(void **state)
{
	(void)state;
	fixture f;
	start_two(&f, 1, "/a", "/a");
	curluv_remove(f.curl, f.easy[0]);
	curluv_remove(f.curl, f.easy[0]); /* twice is harmless */
	assert_int_equal(curluv_running(f.curl), 1);
	fixture_end(&f);
	assert_false(f.res[0].called);
	assert_true(f.res[1].called);
	assert_int_equal(f.res[1].status, 200);
}

/* ---- the fan-out ---- */

typedef struct fan {
	server *sv;
	bool posted; /* http_fanout_post has returned */
	int calls;
	size_t n;
	long status[3];
	char error[3][64];
} fan;

static void on_fan(const http_fanout_result *res, size_t n, void *ud)
{
	fan *fa = ud;
	assert_true(fa->posted);
	fa->calls++;
	fa->n = n;
	for (size_t i = 0; i < n && i < 3; i++) {
		fa->status[i] = res[i].status;
		snprintf(fa->error[i], sizeof fa->error[i], "%s", res[i].error);
	}
	server_stop(fa->sv);
}

/* Starts the server; returns the URL of its "/x" (to free). */
static char *fan_start(server *sv, fan *fa)
{
	server_start(sv);
	*fa = (fan){.sv = sv};
	char *u = malloc(strlen(sv->base) + 8);
	sprintf(u, "%s/x", sv->base);
	return u;
}

static void test_fanout(void **state)
{
	(void)state;
	server sv;
	fan fa;
	char *a = fan_start(&sv, &fa);
	const char *urls[] = {a, NULL, "ftp://127.0.0.1/"};
	http_fanout_post(&sv.loop, urls, 3, "{}", "u:p", NULL, 5000, on_fan, &fa);
	fa.posted = true;
	server_end(&sv);
	assert_int_equal(fa.calls, 1);
	assert_int_equal(fa.n, 3);
	assert_int_equal(fa.status[0], 200);
	assert_string_equal(fa.error[0], "hello /x auth");
	assert_int_equal(fa.status[1], 0);
	assert_string_equal(fa.error[1], "no REST API URL");
	assert_int_equal(fa.status[2], 0);
	assert_true(fa.error[2][0] != '\0');
	free(a);
}

/* The credentials go only to the URLs with_auth marks (cred_trust.h decides which). */
static void test_fanout_with_auth(void **state)
{
	(void)state;
	server sv;
	fan fa;
	char *a = fan_start(&sv, &fa);
	const char *urls[] = {a, a, a};
	const bool with_auth[] = {true, false, true};
	http_fanout_post(&sv.loop, urls, 3, "{}", "u:p", with_auth, 5000, on_fan, &fa);
	fa.posted = true;
	server_end(&sv);
	assert_int_equal(fa.calls, 1);
	assert_string_equal(fa.error[0], "hello /x auth");
	assert_string_equal(fa.error[1], "hello /x");
	assert_string_equal(fa.error[2], "hello /x auth");
	free(a);
}

/* Nothing to ask: the callback still comes from the loop, after the post has returned. */
static void test_fanout_empty(void **state)
{
	(void)state;
	server sv;
	server_start(&sv);
	fan fa = {.sv = &sv};
	http_fanout_post(&sv.loop, NULL, 0, "{}", NULL, NULL, 1000, on_fan, &fa);
	fa.posted = true;
	server_end(&sv);
	assert_int_equal(fa.calls, 1);
	assert_int_equal(fa.n, 0);
}

static void test_fanout_cancel(void **state)
{
	(void)state;
	server sv;
	fan fa;
	char *a = fan_start(&sv, &fa);
	const char *urls[] = {a};
	http_fanout *call =
	    http_fanout_post(&sv.loop, urls, 1, "{}", NULL, NULL, 5000, on_fan, &fa);
	fa.posted = true;
	http_fanout_cancel(call);
	server_stop(&sv);
	server_end(&sv);
	assert_int_equal(fa.calls, 0);
	free(a);
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_requests),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_free_from_callback),
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_fanout),
	    cmocka_unit_test(test_fanout_with_auth),
	    cmocka_unit_test(test_fanout_empty),
	    cmocka_unit_test(test_fanout_cancel),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
