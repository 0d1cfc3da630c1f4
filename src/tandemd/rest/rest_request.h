/* The other pure half of tandemd's REST API (besides rest_render.h): the parsing and checking of
 * what a client sends, the query string and the bodies of the POST actions and of PATCH and PUT
 * /config, against a snapshot of the agent (agent_status). No I/O and no call into the agent.
 *
 * Every string returned is a heap string the caller frees. */
#ifndef TANDEMD_REST_REQUEST_H
#define TANDEMD_REST_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "err.h"
#include "health.h"

/* ---- the request target ---- */

/* A decoded query string: `kv` points into `buf`. */
typedef struct rest_query {
	health_kv *kv;
	size_t n;
	char *buf;
} rest_query;

/* Decodes `query` (the text after '?', `len` bytes, not necessarily NUL-terminated) as
 * application/x-www-form-urlencoded: pairs split on '&', key and value on the first '=',
 * "%XX" decoded, '+' is a space, a '%' not followed by two hex digits is kept as it is. Like
 * Patroni (Python's parse_qs), a pair with an empty value or without '=' is dropped. Returns -1
 * (leaving `out` empty) when a decoded key or value would contain a NUL byte. */
int rest_query_parse(const char *query, size_t len, rest_query *out) TND_MUST_CHECK;
void rest_query_free(rest_query *q);

/* ---- the POST actions ---- */

/* The outcome of checking a request before it goes to the agent: `status` 0 means "pass it on";
 * otherwise the request is answered with `status` and `message` (heap). */
typedef struct rest_verdict {
	unsigned status;
	char *message;
} rest_verdict;

void rest_verdict_free(rest_verdict *v);

/* The body of POST /failover and /switchover: {"leader", "candidate", "scheduled_at"}. */
typedef struct rest_failover_req {
	char *leader;       /* NULL when absent or null */
	char *candidate;    /* NULL when absent or null */
	char *scheduled_at; /* NULL when absent or null */
} rest_failover_req;

/* Parses the body; on error (400) fills `v` and returns -1. Unknown keys are ignored. */
int rest_parse_failover(const char *body, size_t len, rest_failover_req *out,
                        rest_verdict *v) TND_MUST_CHECK;
void rest_failover_req_free(rest_failover_req *r);

/* Checks a parsed failover (`switchover` false) or switchover against the snapshot; `now_unix_ms`
 * is the current time, for scheduled_at:
 *   failover with scheduled_at                400
 *   scheduled_at not ISO 8601 with a zone     400 (clock_parse_iso8601: seconds required)
 *   scheduled_at while paused                 400
 *   scheduled_at not in the future            422
 *   failover without a candidate              400
 *   switchover naming neither leader nor candidate while paused  400
 *   "leader" given and not the current leader 412
 *   switchover while the cluster has no leader 412
 *   candidate unknown, tagged nofailover, or already the leader  412
 * Fills `v` (status 0 when the request may go to the agent). */
void rest_check_failover(const agent_status *st, bool switchover, const rest_failover_req *r,
                         int64_t now_unix_ms, rest_verdict *v);

/* Checks POST /restart's optional body {"restart_pending": bool, "role": "primary"|"master"|
 * "replica", "postgres_version": "15.4", "timeout": n, "schedule": "..."}: 400 for bad JSON, an
 * unknown key or a wrong type; 501 for "schedule"; 503 when a condition does not hold (a restart
 * only when one is pending, of the given role, or of a server older than the version given). */
void rest_check_restart(const agent_status *st, const char *body, size_t len, rest_verdict *v);

/* Checks POST /reinitialize's optional body {"force": bool, "from_leader": bool}: 400 for bad
 * JSON, an unknown key or a wrong type. */
void rest_check_reinitialize(const char *body, size_t len, rest_verdict *v);

/* POST /failsafe's body {"name": LEADER, "conn_url": ..., "api_url": ...}: the leader's name
 * (heap), or NULL with a 400 verdict. Other keys are Patroni's and ignored. */
char *rest_parse_failsafe(const char *body, size_t len, rest_verdict *v);

/* POST /backup's optional body {"type": "full"|"diff"|"incr", "by": WHO}: 0 with *type and *by
 * (heap strings, NULL when absent; `by` at most 200 printable bytes), or -1 with a 400 verdict
 * (bad JSON, an unknown key, a wrong type). */
int rest_parse_backup(const char *body, size_t len, char **type, char **by,
                      rest_verdict *v) TND_MUST_CHECK;

/* ---- PATCH and PUT /config ---- */

/* The body of PATCH (`replace` false: merged into the current config of the snapshot) or PUT
 * /config (`replace`: the whole new config). On success 0 and *new_config the compact JSON text
 * of the resulting configuration; otherwise -1 and a 400 verdict (not a JSON object, or a
 * resulting configuration dyn_config_check refuses, with the member's own timings as defaults) or a
 * 503 one (PATCH with no readable config in the snapshot). */
int rest_config_request(const agent_status *st, const char *body, size_t len, bool replace,
                        char **new_config, rest_verdict *v) TND_MUST_CHECK;

#endif
