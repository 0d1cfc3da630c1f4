/* The etcd client's transport, shared by etcd.c (the client, calls, authentication),
 * etcd_watch.c (watch streams) and etcd_xfer.c (libcurl on the libuv loop, the pump, failover).
 * Not for other modules.
 *
 * Every callback to the user runs from etcd_pump(), never from inside a libcurl callback, so the
 * user may call any etcd_* function from it (etcd_free included). etcd_pump() re-reads the lists
 * after each callback. A call is unlinked before its callback and freed after it; a broken watch
 * is unlinked before on_broken and freed after it (the handle is then no longer valid: calling
 * etcd_watch_stop from inside on_broken is allowed and does nothing). */
#ifndef TANDEM_ETCD_PRIV_H
#define TANDEM_ETCD_PRIV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "curl_uv.h"
#include "dlist.h"
#include "etcd.h"
#include "etcd_internal.h"
#include "strbuf.h"

enum {
	DEFAULT_CONNECT_TIMEOUT_MS = 3000,
	DEFAULT_CALL_TIMEOUT_MS = 5000, /* for a timeout_ms of 0 */
	MAX_CALL_TIMEOUT_MS = 86400000, /* longer ones are cut to a day */
	AUTH_MIN_TIMEOUT_MS = 1000,
	WATCH_CREATE_EXTRA_MS = 3000,
	SWEEP_MS = 50,
	KEEPALIVE_IDLE_S = 5,
	KEEPALIVE_INTVL_S = 2,
	KEEPALIVE_CNT = 3,
	USER_TIMEOUT_MS = 15000,
};

/* The first member of etcd_call and etcd_watch: a transfer's done callback gets a pointer to it. */
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

struct etcd {
	uv_loop_t *loop;
	curluv *curl;
	uv_timer_t sweep; /* deadlines curl does not see, and deferred work */
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
	bool closing, pumping;
	metrics_histogram *rtt; /* etcd_set_rtt_histogram; NULL: none */
};

/* ---- etcd_xfer.c ---- */

/* Sets up the libcurl adapter and the sweep timer on `e->loop`; -1 if libcurl cannot start. */
int etcd_xfer_init(etcd *e) TND_MUST_CHECK;
/* Frees the libcurl adapter and closes the sweep timer with `on_closed`. */
void etcd_xfer_close(etcd *e, uv_close_cb on_closed);
/* A POST of `body` to `path` on endpoint `ep`; NULL (with errbuf) if curl cannot make one. */
CURL *etcd_easy_new(etcd *e, size_t ep, const char *path, const char *body, bool with_token,
                    struct curl_slist **headers, curl_write_callback wcb, void *obj, char *errbuf);
/* Starts a transfer made by etcd_easy_new for `obj` (an etcd_call or etcd_watch). */
CURLMcode etcd_easy_add(etcd *e, CURL *easy, void *obj) TND_MUST_CHECK;
/* Takes the transfer off the adapter (if on it) and frees it. */
void etcd_easy_release(etcd *e, CURL **easy, struct curl_slist **headers);
/* Runs the sweep timer (deadlines curl does not see) while something needs it. */
void etcd_arm_sweep(etcd *e);
/* Runs etcd_pump() soon, from the loop (for work found outside of it). */
void etcd_kick(etcd *e);
/* Completions, then user callbacks, one at a time. */
void etcd_pump(etcd *e);
void etcd_clear_token(etcd *e);
/* Endpoint `ep` failed: move on to the next one, and break the watches that use it. */
void etcd_endpoint_failed(etcd *e, size_t ep, const char *why);

/* ---- etcd.c ---- */

void etcd_call_fail(etcd_call *c, etcd_status st, const char *msg);
/* Delivers a finished call (or sends it again after an expired token). */
void etcd_call_finish(etcd_call *c);
/* Starts authenticating unless that is under way. */
void etcd_ensure_auth(etcd *e, uint64_t timeout_ms);

/* ---- etcd_watch.c ---- */

void etcd_stream_send(etcd_watch *w);
/* The watch is over: stops its transfer; etcd_pump() calls on_broken. */
void etcd_stream_broken(etcd_watch *w, etcd_status st, const char *why, int64_t compact);
/* Does the next thing a watch needs; false if it needs nothing. */
bool etcd_stream_service(etcd_watch *w);
void etcd_stream_free(etcd_watch *w);

#endif
