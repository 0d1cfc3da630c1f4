/* libcurl's multi interface on a libuv loop: the one adapter for every libcurl user (the etcd
 * client, the REST fan-out, the demo's checks). Curl's sockets are watched through fdwatch (one per
 * socket, dropped when curl says CURL_POLL_REMOVE), curl's timeouts run on one uv timer; nothing
 * polls.
 *
 * Each transfer added has its completion callback, run from the loop (never from inside a libcurl
 * callback), after the transfer has been taken off the multi handle: the easy handle is the
 * caller's again and may be cleaned up or added again from the callback. The adapter owns the easy
 * handles' CURLOPT_PRIVATE while they are on it. After every pass in which libcurl ran, the
 * optional pass callback runs (data may have arrived through write callbacks meanwhile).
 *
 * curluv_free() may be called from any callback of the adapter: the rest of that pass is skipped,
 * and the memory is released once the loop has closed the adapter's handles. */
#ifndef TANDEM_CURL_UV_H
#define TANDEM_CURL_UV_H

#include <curl/curl.h>
#include <uv.h>

#include "err.h"

typedef struct curluv curluv;

/* A transfer is over: `result` is libcurl's verdict (CURLE_OK: an answer came). */
typedef void (*curluv_done_cb)(CURL *easy, CURLcode result, void *ud);
/* libcurl has run (sockets, timeouts) and its finished transfers have been reported. */
typedef void (*curluv_pass_cb)(void *ud);

/* NULL if libcurl cannot make a multi handle. `pass` may be NULL. The caller must have run
 * curl_global_init(). */
curluv *curluv_new(uv_loop_t *loop, curluv_pass_cb pass, void *ud);

/* Starts `easy`; `done` runs once when it is over, unless it is removed first. */
CURLMcode curluv_add(curluv *c, CURL *easy, curluv_done_cb done, void *ud) TND_MUST_CHECK;

/* Takes `easy` off the adapter without calling its callback; nothing if it is not on it (never
 * added, or already reported). */
void curluv_remove(curluv *c, CURL *easy);

/* Transfers on the adapter (added, not yet reported or removed). */
size_t curluv_running(const curluv *c);

/* Takes every transfer off (no callback runs; the easy handles stay the callers'), cleans up the
 * multi handle and closes the timers. NULL is allowed. */
void curluv_free(curluv *c);

#endif
