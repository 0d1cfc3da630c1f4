/* Watches: one streaming POST /v3/watch each. curl's write callback only buffers the stream;
 * etcd_pump() then finds each complete JSON object with a scanner that knows about strings (the
 * gateway puts a newline after each message, but nothing here relies on it), parses it and calls
 * the handlers, one message at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "etcd_priv.h"
#include "log.h"

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

void etcd_stream_free(etcd_watch *w)
{
	etcd_easy_release(w->e, &w->easy, &w->headers);
	sb_free(&w->buf);
	free(w->body);
	free(w->broken_why);
	free(w);
}

void etcd_stream_broken(etcd_watch *w, etcd_status st, const char *why, int64_t compact)
{
	if (w->broken || w->state == WS_OVER)
		return;
	etcd_easy_release(w->e, &w->easy, &w->headers);
	w->broken = true;
	w->broken_status = st;
	w->broken_why = xstrdup(why);
	w->broken_compact = compact;
	etcd_kick(w->e);
}

void etcd_stream_send(etcd_watch *w)
{
	etcd *e = w->e;
	if (e->username && !e->token) {
		w->state = WS_WAIT_AUTH;
		etcd_ensure_auth(e, e->connect_timeout_ms + WATCH_CREATE_EXTRA_MS);
		return;
	}
	w->state = WS_STREAMING;
	w->endpoint = e->cur;
	w->token_gen = e->token_gen;
	w->created_deadline_ms = clock_mono_ms() + e->connect_timeout_ms + WATCH_CREATE_EXTRA_MS;
	w->easy = etcd_easy_new(e, w->endpoint, "/v3/watch", w->body, true, &w->headers,
	                        on_watch_data, w, w->errbuf);
	if (!w->easy) {
		etcd_stream_broken(w, ETCD_UNAVAILABLE, w->errbuf, 0);
		return;
	}
	CURLMcode mc = etcd_easy_add(e, w->easy, w);
	if (mc != CURLM_OK) {
		curl_easy_cleanup(w->easy);
		w->easy = NULL;
		etcd_stream_broken(w, ETCD_UNAVAILABLE, curl_multi_strerror(mc), 0);
		return;
	}
	etcd_arm_sweep(e);
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
		etcd_stream_broken(w, ETCD_BAD_ANSWER, m, 0);
		free(m);
	} else if (msg.canceled) {
		if (etcd_is_token_error(msg.error) && w->token_gen == e->token_gen)
			etcd_clear_token(e);
		else if (st == ETCD_UNAVAILABLE)
			etcd_endpoint_failed(e, w->endpoint, msg.error);
		etcd_stream_broken(w, st, msg.error, msg.compact_revision);
	} else if (msg.nevents > 0 && w->h.on_events) {
		w->in_cb = true;
		w->h.on_events(msg.events, msg.nevents, msg.revision, w->h.ud);
		w->in_cb = false;
		if (w->stopped)
			etcd_stream_free(w);
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
		etcd_endpoint_failed(e, w->endpoint, m);
	etcd_stream_broken(w, st, m, 0);
	free(m);
}

bool etcd_stream_service(etcd_watch *w)
{
	if (w->broken) {
		etcd *e = w->e;
		DLIST_UNLINK(e->watches, w);
		w->state = WS_OVER;
		w->in_cb = true;
		if (w->h.on_broken)
			w->h.on_broken(w->broken_status, w->broken_why, w->broken_compact, w->h.ud);
		etcd_stream_free(w);
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
			etcd_stream_broken(w, ETCD_BAD_ANSWER, m, 0);
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

etcd_watch *etcd_watch_start(etcd *e, const char *prefix, int64_t start_revision,
                             const etcd_watch_handlers *h)
{
	etcd_watch *w = xcalloc(1, sizeof *w);
	w->kind = X_WATCH;
	w->e = e;
	w->h = *h;
	w->body = etcd_req_watch(prefix, start_revision);
	DLIST_LINK(e->watches, w);
	etcd_stream_send(w);
	return w;
}

void etcd_watch_stop(etcd *e, etcd_watch *w)
{
	if (!w || w->state == WS_OVER || w->stopped)
		return;
	DLIST_UNLINK(e->watches, w);
	if (w->in_cb) {
		etcd_easy_release(e, &w->easy, &w->headers);
		w->stopped = true;
		return;
	}
	etcd_stream_free(w);
}
