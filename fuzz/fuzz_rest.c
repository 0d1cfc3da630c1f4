/* Fuzzes what a stranger sends tandemd's REST API (src/tandemd/rest/rest_request.h, core/health.h):
 * the request target (path and query string) and the bodies of the POST actions.
 *
 * Input: FLAGS (2 bytes, the node's state for the health check; missing bytes are 0), then the
 * request target "PATH?QUERY" up to the first '\n' (or the end), then, after it, a BODY (every
 * remaining byte, NULs included, handed over unterminated in a buffer of exactly its size).
 *
 * Invariants: rest_query_parse returns 0 or -1, and on 0 gives keys and values that are
 * NUL-terminated, no longer than the query, and non-empty values; health_status answers 200,
 * 503, 400 or 404, 404 exactly when the path is unknown whatever the query; the body checks answer
 * 0 (passed on) or a 4xx/5xx status with a message; the failover parser gives -1 exactly with a
 * 400, the failsafe parser a non-empty name or a 400, PATCH/PUT /config a configuration or a
 * 400/503, POST /backup a known type and a printable `by` or a 400; conn_url parsing gives a
 * port in 0..65535.
 * Nothing crashes or leaks. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "health.h"
#include "rest_render.h"
#include "rest_request.h"

static const health_kv fuzz_tags[] = {{"dc", "east"}, {"rack", "7"}};

static health_state node_of(uint8_t a, uint8_t b)
{
	health_state s = {
	    .role = (health_role)(a & 3),
	    .pg = (health_pg_state)((a >> 2) & 3),
	    .holds_leader_key = a & 0x10,
	    .is_standby_leader = a & 0x20,
	    .lag_known = a & 0x40,
	    .lag_bytes = (uint64_t)b << 16,
	    .streaming = a & 0x80,
	    .sync_standby = b & 1,
	    .nofailover = b & 2,
	    .noloadbalance = b & 4,
	    .nosync = b & 8,
	    .clonefrom = b & 16,
	    .tags = (b & 32) ? fuzz_tags : NULL,
	    .ntags = (b & 32) ? 2 : 0,
	    .paused = b & 64,
	    .heartbeat_age_ms = (uint64_t)b * 1000,
	    .ttl_ms = 30000,
	    .dcs_ok = b & 128,
	    .max_lag_on_failover = 1 << 20,
	};
	return s;
}

static void check_verdict(const rest_verdict *v)
{
	FUZZ_CHECK(v->status == 0 || (v->status >= 400 && v->status <= 599), "status %u",
	           v->status);
	FUZZ_CHECK((v->status == 0) == (v->message == NULL), "status %u with message %s", v->status,
	           v->message ? v->message : "(none)");
}

static void fuzz_target(const uint8_t *data, size_t len, const health_state *node)
{
	const uint8_t *q = memchr(data, '?', len);
	size_t plen = q ? (size_t)(q - data) : len;
	char *path = fuzz_strndup(data, plen);
	size_t qlen = q ? len - plen - 1 : 0;
	char *query = fuzz_memdup(q ? q + 1 : data, qlen);

	rest_query rq;
	int rc = rest_query_parse(query, qlen, &rq);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc == 0) {
		FUZZ_CHECK(rq.n == 0 || (rq.kv && rq.buf), "pairs without storage");
		for (size_t i = 0; i < rq.n; i++) {
			FUZZ_CHECK(rq.kv[i].key && rq.kv[i].value, "pair %zu unset", i);
			FUZZ_CHECK(strlen(rq.kv[i].key) <= qlen && strlen(rq.kv[i].value) <= qlen,
			           "pair %zu longer than the query", i);
			FUZZ_CHECK(*rq.kv[i].value, "empty value kept");
		}
	} else {
		FUZZ_CHECK(rq.n == 0 && !rq.kv && !rq.buf, "a failed parse left pairs");
	}
	int st = health_status(path, rq.kv, rq.n, node);
	int bare = health_status(path, NULL, 0, node);
	FUZZ_CHECK(st == 200 || st == 503 || st == 400 || st == 404, "status %d", st);
	FUZZ_CHECK((st == 404) == (bare == 404), "404 depends on the query: %d vs %d", st, bare);
	(void)health_has_body(REST_GET, path);
	(void)health_has_body(REST_HEAD, path);
	rest_query_free(&rq);

	char *host;
	int port;
	rest_conn_url_host_port(path, &host, &port);
	FUZZ_CHECK(port >= 0 && port <= 65535, "port %d", port);
	FUZZ_CHECK(!host || strlen(host) <= plen, "host longer than the url");
	free(host);
	free(path);
	free(query);
}

static void fuzz_body(const uint8_t *data, size_t len, const health_state *node)
{
	char *body = fuzz_memdup(data, len);
	agent_status st;
	memset(&st, 0, sizeof st);
	st.scope = "batman";
	st.name = "pg1";
	st.role = node->role == HEALTH_ROLE_REPLICA ? "replica" : "primary";
	st.leader = node->holds_leader_key ? "pg1" : NULL;
	st.paused = node->paused;
	st.pending_restart = node->sync_standby;
	st.server_version = 150004;
	st.health = *node;

	rest_failover_req fr;
	rest_verdict v = {0, NULL};
	int rc = rest_parse_failover(body, len, &fr, &v);
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	FUZZ_CHECK((rc == -1) == (v.status == 400), "rc %d with status %u", rc, v.status);
	check_verdict(&v);
	rest_verdict_free(&v);
	if (rc == 0) {
		rest_check_failover(&st, true, &fr, 1795343400000, &v);
		check_verdict(&v);
		rest_verdict_free(&v);
		rest_check_failover(&st, false, &fr, 1795343400000, &v);
		check_verdict(&v);
		rest_verdict_free(&v);
		rest_failover_req_free(&fr);
	}
	rest_check_restart(&st, body, len, &v);
	check_verdict(&v);
	rest_verdict_free(&v);
	rest_check_reinitialize(body, len, &v);
	check_verdict(&v);
	rest_verdict_free(&v);
	for (int replace = 0; replace < 2; replace++) {
		char *config = NULL;
		int crc = rest_config_request(&st, body, len, replace, &config, &v);
		FUZZ_CHECK(crc == 0 || crc == -1, "config rc %d", crc);
		FUZZ_CHECK((crc == 0) == (config != NULL), "config rc %d with %s", crc,
		           config ? "a configuration" : "none");
		FUZZ_CHECK(crc == 0 || v.status == 400 || v.status == 503, "config status %u",
		           v.status);
		free(config);
		rest_verdict_free(&v);
	}
	char *leader = rest_parse_failsafe(body, len, &v);
	FUZZ_CHECK((leader == NULL) == (v.status == 400), "failsafe: name %s with status %u",
	           leader ? leader : "(none)", v.status);
	FUZZ_CHECK(!leader || *leader, "failsafe: an empty name");
	free(leader);
	rest_verdict_free(&v);
	char *type, *by;
	int brc = rest_parse_backup(body, len, &type, &by, &v);
	FUZZ_CHECK(brc == 0 ? v.status == 0 : v.status == 400 && !type && !by, "backup rc %d, %u",
	           brc, v.status);
	FUZZ_CHECK(!type || !strcmp(type, "full") || !strcmp(type, "diff") || !strcmp(type, "incr"),
	           "backup type %s", type);
	for (const char *p = by; p && *p; p++)
		FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "a control character in by");
	free(type);
	free(by);
	rest_verdict_free(&v);
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t a = size > 0 ? data[0] : 0, b = size > 1 ? data[1] : 0;
	size_t skip = size < 2 ? size : 2;
	data += skip;
	size -= skip;
	health_state node = node_of(a, b);
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl ? (size_t)(nl - data) : size;
	fuzz_target(data, tlen, &node);
	if (nl)
		fuzz_body(nl + 1, size - tlen - 1, &node);
	return 0;
}
