/* The etcd client's transfers on the loop's libcurl adapter (curl_uv.h): a finished transfer is
 * marked done, and after every pass of libcurl etcd_pump() runs the user callbacks. Also the sweep
 * timer (deadlines curl does not see: calls waiting for authentication, watches waiting for their
 * "created" answer) and endpoint failover.
 *
 * Dead streams: TCP keepalive and TCP_USER_TIMEOUT catch a lost peer within about 15 s; a watch
 * must get its "created" answer within the connect timeout plus WATCH_CREATE_EXTRA_MS; and when any
 * request to the watch's endpoint fails as unavailable (for example a lease keepalive timing out
 * against a member that hangs), the watch breaks too, so that it is restarted elsewhere. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "etcd_priv.h"
#include "log.h"

static void on_sweep(uv_timer_t *t);

void etcd_arm_sweep(etcd *e)
{
	if (!e->closing && !uv_is_active((uv_handle_t *)&e->sweep))
		uv_timer_start(&e->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
}

void etcd_kick(etcd *e)
{
	if (!e->closing)
		uv_timer_start(&e->sweep, on_sweep, 0, SWEEP_MS);
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

CURL *etcd_easy_new(etcd *e, size_t ep, const char *path, const char *body, bool with_token,
                    struct curl_slist **headers, curl_write_callback wcb, void *obj, char *errbuf)
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

void etcd_easy_release(etcd *e, CURL **easy, struct curl_slist **headers)
{
	if (*easy) {
		curluv_remove(e->curl, *easy);
		curl_easy_cleanup(*easy);
		*easy = NULL;
	}
	curl_slist_free_all(*headers);
	*headers = NULL;
}

void etcd_clear_token(etcd *e)
{
	free(e->token);
	e->token = NULL;
	e->token_gen++;
}

void etcd_endpoint_failed(etcd *e, size_t ep, const char *why)
{
	if (ep != e->cur)
		return; /* already moved on */
	if (e->nendpoints > 1) {
		e->cur = (e->cur + 1) % e->nendpoints;
		log_warning("etcd endpoint %s failed (%s); switching to %s", e->endpoints[ep], why,
		            e->endpoints[e->cur]);
		etcd_clear_token(e); /* simple tokens are known to one member only */
	} else {
		log_warning("etcd endpoint %s failed: %s", e->endpoints[ep], why);
	}
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state == WS_STREAMING && w->endpoint == ep && !w->broken) {
			char *m = xasprintf("etcd endpoint %s failed: %s", e->endpoints[ep], why);
			etcd_stream_broken(w, ETCD_UNAVAILABLE, m, 0);
			free(m);
		}
	}
}

/* ---- the pump: completions and user callbacks ---- */

/* A transfer is over: mark it for etcd_pump(), which runs after the pass. */
static void on_done(CURL *easy, CURLcode code, void *obj)
{
	long http = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
	if (*(xfer_kind *)obj == X_CALL) {
		etcd_call *c = obj;
		curl_off_t us = 0;
		if (c->e->rtt && code == CURLE_OK && http > 0 &&
		    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK && us >= 0)
			metrics_observe_us(c->e->rtt, (uint64_t)us);
		etcd_easy_release(c->e, &c->easy, &c->headers);
		c->code = code;
		c->http = http;
		c->state = CS_DONE;
	} else {
		etcd_watch *w = obj;
		etcd_easy_release(w->e, &w->easy, &w->headers);
		w->code = code;
		w->http = http;
		w->done = true;
		w->pending = true;
	}
}

CURLMcode etcd_easy_add(etcd *e, CURL *easy, void *obj)
{
	return curluv_add(e->curl, easy, on_done, obj);
}

static void on_pass(void *ud)
{
	etcd_pump(ud);
}

void etcd_pump(etcd *e)
{
	if (e->pumping || e->closing)
		return;
	e->pumping = true;
	while (!e->closing) {
		etcd_call *c = e->calls;
		while (c && c->state != CS_DONE)
			c = c->next;
		if (c) {
			etcd_call_finish(c);
			continue;
		}
		bool did = false;
		for (etcd_watch *w = e->watches; w; w = w->next) {
			if ((w->broken || w->pending) && etcd_stream_service(w)) {
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
	return false;
}

static void on_sweep(uv_timer_t *t)
{
	etcd *e = t->data;
	uint64_t now = clock_mono_ms();
	for (etcd_call *c = e->calls; c; c = c->next)
		if (c->state == CS_WAIT_AUTH && now >= c->deadline_ms)
			etcd_call_fail(c, ETCD_UNAVAILABLE,
			               "no answer before the deadline (authenticating)");
	for (etcd_watch *w = e->watches; w; w = w->next) {
		if (w->state == WS_STREAMING && !w->created && !w->broken &&
		    now >= w->created_deadline_ms) {
			char *m = xasprintf("%s: no answer to the watch request",
			                    e->endpoints[w->endpoint]);
			etcd_endpoint_failed(e, w->endpoint, m);
			etcd_stream_broken(w, ETCD_UNAVAILABLE, m, 0);
			free(m);
		}
	}
	etcd_pump(e);
	if (!e->closing && !needs_sweep(e))
		uv_timer_stop(&e->sweep);
}

int etcd_xfer_init(etcd *e)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	e->curl = curluv_new(e->loop, on_pass, e);
	if (!e->curl) {
		curl_global_cleanup();
		return -1;
	}
	uv_timer_init(e->loop, &e->sweep);
	e->sweep.data = e;
	return 0;
}

void etcd_xfer_close(etcd *e, uv_close_cb on_closed)
{
	curluv_free(e->curl); /* its memory lasts until its handles are closed */
	curl_global_cleanup();
	uv_close((uv_handle_t *)&e->sweep, on_closed);
}
