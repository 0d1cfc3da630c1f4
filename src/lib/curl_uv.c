/* See curl_uv.h. Every way into libcurl from the loop (a socket event, curl's timeout, a socket
 * error deferred out of a curl callback) is one pass: curl_multi_socket_action, then the finished
 * transfers, then the pass callback. A pass counts as busy, so that curluv_free() from one of its
 * callbacks only marks the adapter and the pass's end releases it. */
#include "curl_uv.h"

#include <stdbool.h>
#include <stdlib.h>

#include "dlist.h"
#include "fdwatch.h"

typedef struct xfer {
	struct xfer *prev, *next;
	CURL *easy;
	curluv_done_cb done;
	void *ud;
} xfer;

typedef struct csock {
	curluv *c;
	struct csock *prev, *next;
	curl_socket_t fd;
	fdwatch *w;
	bool error_pending; /* a poll error, told to curl from the `later` timer */
} csock;

struct curluv {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timeout; /* curl's timeouts */
	uv_timer_t later;   /* socket errors found inside a curl callback */
	curluv_pass_cb pass;
	void *ud;
	xfer *xfers;
	size_t nxfers;
	csock *socks;
	int busy;      /* passes on the stack */
	bool closing;  /* curluv_free() was called */
	bool finished; /* libcurl is cleaned up; waiting for the handles to close */
	int open_handles;
};

static void finish(curluv *c);

/* ---- transfers ---- */

static xfer *xfer_of(CURL *easy)
{
	char *p = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
		return NULL;
	return (xfer *)(void *)p;
}

/* Off the multi handle and out of the list; the easy handle is the caller's again. */
static void detach(curluv *c, xfer *x)
{
	curl_multi_remove_handle(c->multi, x->easy);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)NULL);
	DLIST_UNLINK(c->xfers, x);
	c->nxfers--;
	free(x);
}

static void report_done(curluv *c)
{
	CURLMsg *m;
	int left;
	while (!c->closing && (m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode result = m->data.result;
		xfer *x = xfer_of(easy);
		if (!x)
			continue;
		curluv_done_cb done = x->done;
		void *ud = x->ud;
		detach(c, x);
		done(easy, result, ud);
	}
}

/* ---- passes ---- */

static void pass_begin(curluv *c)
{
	c->busy++;
}

static void pass_end(curluv *c)
{
	if (!c->closing)
		report_done(c);
	if (!c->closing && c->pass)
		c->pass(c->ud);
	c->busy--;
	if (c->closing && !c->busy)
		finish(c);
}

static void on_timeout(uv_timer_t *t)
{
	curluv *c = t->data;
	int running;
	pass_begin(c);
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	pass_end(c);
}

static void on_later(uv_timer_t *t)
{
	curluv *c = t->data;
	pass_begin(c);
	for (csock *k = c->socks; k;) {
		if (!k->error_pending) {
			k = k->next;
			continue;
		}
		int running;
		k->error_pending = false;
		curl_multi_socket_action(c->multi, k->fd, CURL_CSELECT_ERR, &running);
		k = c->socks; /* the list may have changed */
	}
	pass_end(c);
}

static void on_sock_event(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	csock *k = ud;
	curluv *c = k->c;
	if (status < 0) {
		/* Possibly from inside a curl callback (fdwatch_set failing): tell curl later. */
		k->error_pending = true;
		if (!c->closing)
			uv_timer_start(&c->later, on_later, 0, 0);
		return;
	}
	int flags = 0, running;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	pass_begin(c);
	curl_multi_socket_action(c->multi, k->fd, flags, &running); /* may free k */
	pass_end(c);
}

/* ---- libcurl's callbacks ---- */

static int on_curl_timer(CURLM *m, long timeout_ms, void *ud)
{
	(void)m;
	curluv *c = ud;
	if (timeout_ms < 0 || c->closing)
		uv_timer_stop(&c->timeout);
	else
		uv_timer_start(&c->timeout, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static void sock_free(curluv *c, csock *k)
{
	fdwatch_free(k->w);
	DLIST_UNLINK(c->socks, k);
	free(k);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *sockp)
{
	(void)easy;
	curluv *c = ud;
	csock *k = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (k)
			sock_free(c, k);
		return 0;
	}
	if (!k) {
		k = xcalloc(1, sizeof *k);
		k->c = c;
		k->fd = s;
		k->w = fdwatch_new(c->loop, on_sock_event, k);
		DLIST_LINK(c->socks, k);
		curl_multi_assign(c->multi, s, k);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	fdwatch_set(k->w, s, ev);
	return 0;
}

/* ---- the adapter ---- */

curluv *curluv_new(uv_loop_t *loop, curluv_pass_cb pass, void *ud)
{
	CURLM *m = curl_multi_init();
	if (!m)
		return NULL;
	curluv *c = xcalloc(1, sizeof *c);
	c->loop = loop;
	c->multi = m;
	c->pass = pass;
	c->ud = ud;
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, c);
	uv_timer_init(loop, &c->timeout);
	uv_timer_init(loop, &c->later);
	c->timeout.data = c;
	c->later.data = c;
	c->open_handles = 2;
	return c;
}

CURLMcode curluv_add(curluv *c, CURL *easy, curluv_done_cb done, void *ud)
{
	if (c->closing)
		return CURLM_BAD_HANDLE;
	xfer *x = xcalloc(1, sizeof *x);
	x->easy = easy;
	x->done = done;
	x->ud = ud;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
	CURLMcode mc = curl_multi_add_handle(c->multi, easy);
	if (mc != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
		free(x);
		return mc;
	}
	DLIST_LINK(c->xfers, x);
	c->nxfers++;
	return CURLM_OK;
}

void curluv_remove(curluv *c, CURL *easy)
{
	xfer *x = c->finished ? NULL : xfer_of(easy);
	if (x)
		detach(c, x);
}

size_t curluv_running(const curluv *c)
{
	return c->nxfers;
}

static void on_closed(uv_handle_t *h)
{
	curluv *c = h->data;
	if (--c->open_handles == 0)
		free(c);
}

static void finish(curluv *c)
{
	if (c->finished)
		return;
	c->finished = true;
	while (c->xfers)
		detach(c, c->xfers);
	curl_multi_cleanup(c->multi); /* tells us to drop its sockets */
	c->multi = NULL;
	while (c->socks)
		sock_free(c, c->socks);
	uv_close((uv_handle_t *)&c->timeout, on_closed);
	uv_close((uv_handle_t *)&c->later, on_closed);
}

void curluv_free(curluv *c)
{
	if (!c || c->closing)
		return;
	c->closing = true;
	if (!c->busy)
		finish(c);
}
