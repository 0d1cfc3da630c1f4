/* Small HTTP checks for the demo (etcd's /health, tandemd's /patroni, hellod), on the loop's
 * libcurl adapter: nothing blocks the loop. */
#ifndef TANDEMCTL_DEMO_HTTP_H
#define TANDEMCTL_DEMO_HTTP_H

#include <uv.h>

typedef struct demo_http demo_http;

/* The answer: `status` is the HTTP status, 0 when there was none (refused, timed out); `body`
 * is NUL-terminated (empty without an answer) and only valid during the call. */
typedef void (*demo_http_cb)(long status, const char *body, void *arg);

demo_http *demo_http_new(uv_loop_t *loop);

/* Sends `method` to `url`, with `json` as an application/json body when not NULL; gives up after
 * `timeout_ms`. The callback runs on the loop, once. */
void demo_http_request(demo_http *h, const char *method, const char *url, const char *json,
                       long timeout_ms, demo_http_cb cb, void *arg);

/* Requests still in flight. */
unsigned demo_http_pending(const demo_http *h);

/* Abandons the requests in flight (their callbacks do not run) and frees the libcurl adapter;
 * free after the loop has run its closes. */
void demo_http_close(demo_http *h);
void demo_http_free(demo_http *h);

#endif
