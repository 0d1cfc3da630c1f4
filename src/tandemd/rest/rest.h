/* tandemd's REST API server, compatible with Patroni's REST API, on the agent's libuv loop (httpd).
 *
 * Routes (bodies are rendered by rest_render.h, health codes come from health.h (core/)):
 *   GET, HEAD, OPTIONS  every health endpoint (/, /primary, /replica?lag=..., /leader, ...):
 *                       the status of health_status(); a GET body, where there is one, is
 *                       the /patroni document
 *   GET, HEAD, OPTIONS  /patroni, /cluster, /history, /config (502 when the DCS holds none),
 *                       /metrics (Prometheus text)
 *   POST                /restart (202), /reload (202), /reinitialize (200),
 *                       /failover and /switchover (202): text answers; the request is queued
 *                       with agent_request(). Refusals: 400 (bad body), 412 (a precondition
 *                       on the cluster: wrong leader, unknown candidate, ...), 501 (scheduled
 *                       actions), 409 (the agent refused it, with its reason), 503 (restart
 *                       conditions not met).
 * Other methods on these paths: 405 with Allow. Unknown paths: 404. Bodies over 64 KiB: 413.
 * Errors of the JSON endpoints are {"error": "..."}.
 *
 * Access (docs/security.md; the rules are the pure functions of rest_guard.h): a peer outside
 * restapi.allowlist is answered 403 on the changing endpoints (every POST, PATCH and PUT /config),
 * or on every endpoint with restapi.allowlist_all. With restapi.authentication set, the changing
 * endpoints need HTTP basic authentication (401 with WWW-Authenticate otherwise; compared in
 * constant time); a peer that fails it 5 times within 10 s is answered 429 for 10 s. Every
 * accepted or refused change is logged once as an "audit:" line. One peer holds at most 32
 * connections, and a connection idle for 10 s is closed.
 *
 * TLS (rest_tls.h): with restapi.certfile the server speaks https only. restapi.verify_client
 * optional answers 403 on the changing endpoints (before the throttle and authentication) to a
 * client without a certificate that verifies against restapi.cafile; required makes the TLS
 * handshake fail without one (httpd.h, tls_require_client).
 *
 * Query strings: decoded with rest_query_parse(). NOTE: httpd.h gives no access to the query
 * string yet (libmicrohttpd strips it from the path), so health checks currently see no query
 * parameters (?lag=, ?tag_...=) until httpd grows http_req_query(). */
#ifndef TANDEMD_REST_H
#define TANDEMD_REST_H

#include <uv.h>

#include "agent.h"
#include "err.h"
#include "options.h"

typedef struct rest_server rest_server;

/* Binds s->restapi_listen and serves on `loop`. `a` and `s` must outlive the server. */
rest_server *rest_new(uv_loop_t *loop, agent *a, const tandemd_settings *s,
                      char **err) TND_MUST_CHECK;
/* Stops serving and closes the listening socket. Every request is answered synchronously, so
 * none is ever pending. */
void rest_free(rest_server *r);

#endif
