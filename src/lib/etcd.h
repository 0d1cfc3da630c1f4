/* An etcd v3 client over etcd's JSON gateway (/v3/kv/..., /v3/lease/..., /v3/watch, /v3/auth/...),
 * driven by libcurl's multi interface on a libuv loop. Every call has a deadline. Calls go to one
 * endpoint at a time; when it fails (connection refused or reset, timeout, HTTP 5xx, "etcdserver:
 * ... not leader"-class errors), the client moves to the next endpoint and the call fails with
 * ETCD_UNAVAILABLE, so the caller decides whether to retry. Keys and values are byte strings
 * (base64 on the wire); revisions and lease IDs are int64 (strings on the wire).
 *
 * Ownership: results passed to callbacks are valid only during the callback. A call can be
 * cancelled with etcd_cancel(); its callback is then not called. etcd_free() cancels everything.
 * Callbacks never run inside libcurl; they run one at a time from the loop, so a callback may
 * start or cancel calls, stop watches, or free the client. A call is freed after its callback
 * (etcd_cancel() on it from inside the callback does nothing); a watch is freed once on_broken
 * returns, so its handle is invalid afterwards.
 *
 * Seen with etcd 3.4: a keep-alive on an unknown or revoked lease answers 200 without a TTL (read
 * as lease_ttl 0: gone); PUT events carry no "type"; a failed txn compare has no "succeeded". */
#ifndef TANDEM_ETCD_H
#define TANDEM_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "metrics.h"

typedef struct etcd etcd;
typedef struct etcd_call etcd_call; /* an outstanding request, for etcd_cancel() */

typedef struct etcd_config {
	const char *const *endpoints; /* "http://127.0.0.1:2379", "https://..." */
	size_t nendpoints;
	const char *username; /* NULL: no authentication */
	const char *password;
	const char *cacert; /* PEM files for https endpoints, NULL for none */
	const char *cert;
	const char *key;
	uint64_t connect_timeout_ms;
} etcd_config;

typedef enum etcd_status {
	ETCD_OK,
	ETCD_UNAVAILABLE, /* no answer in time, connection failed, or the member cannot serve */
	ETCD_REJECTED,    /* etcd answered with an error (bad request, lease not found, auth) */
	ETCD_BAD_ANSWER,  /* the answer could not be understood */
} etcd_status;

typedef struct etcd_kv {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
} etcd_kv;

typedef struct etcd_result {
	etcd_status status;
	const char *error; /* human-readable when status != ETCD_OK */
	int64_t revision;  /* header.revision */
	/* range: the keys; txn: the keys read by a request_range in the branch taken */
	const etcd_kv *kvs;
	size_t nkvs;
	bool succeeded;    /* txn: which branch ran */
	int64_t lease_id;  /* lease grant and keepalive */
	int64_t lease_ttl; /* lease grant and keepalive: seconds left; <= 0: the lease is gone */
} etcd_result;

typedef void (*etcd_cb)(const etcd_result *res, void *ud);

/* Transactions: compare on one key, then put or delete it. Enough for create-if-absent and
 * compare-and-swap on the leader key; more operations can be added as needed. */
typedef enum etcd_target {
	ETCD_CMP_VERSION, /* 0 = key absent */
	ETCD_CMP_CREATE,
	ETCD_CMP_MOD,
	ETCD_CMP_VALUE,
	ETCD_CMP_LEASE,
} etcd_target;

typedef struct etcd_compare {
	const char *key;
	etcd_target target;
	int64_t number;    /* for VERSION, CREATE, MOD, LEASE (EQUAL) */
	const char *value; /* for VALUE (EQUAL); NUL-terminated */
} etcd_compare;

typedef enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_GET } etcd_op_kind;

typedef struct etcd_op {
	etcd_op_kind kind;
	const char *key;
	const char *value; /* PUT */
	int64_t lease;     /* PUT: 0 for none */
} etcd_op;

etcd *etcd_new(uv_loop_t *loop, const etcd_config *cfg, char **err) TND_MUST_CHECK;
void etcd_free(etcd *e);

/* New credentials (a reload): `username` NULL turns authentication off. The token is dropped, so
 * that the next call authenticates with them; calls in flight finish with what they were sent
 * with. Unchanged credentials change nothing. -1 with *err (and nothing changed) when they are
 * not UTF-8. */
int etcd_set_credentials(etcd *e, const char *username, const char *password,
                         char **err) TND_MUST_CHECK;
/* The endpoint currently in use. */
const char *etcd_endpoint(const etcd *e);
/* From now on, the round trip of every request that gets an HTTP answer (not the watch streams)
 * is observed in `h` (NULL: none), which must outlive `e`. */
void etcd_set_rtt_histogram(etcd *e, metrics_histogram *h);

/* All keys with `prefix` (range_end = prefix + 1), or one key when prefix_match is false. */
etcd_call *etcd_range(etcd *e, const char *key, bool prefix_match, uint64_t timeout_ms, etcd_cb cb,
                      void *ud);
etcd_call *etcd_put(etcd *e, const char *key, const char *value, int64_t lease, uint64_t timeout_ms,
                    etcd_cb cb, void *ud);
etcd_call *etcd_delete(etcd *e, const char *key, bool prefix_match, uint64_t timeout_ms, etcd_cb cb,
                       void *ud);
/* If every compare holds, run `success`, else `failure`. */
etcd_call *etcd_txn(etcd *e, const etcd_compare *cmp, size_t ncmp, const etcd_op *success,
                    size_t nsuccess, const etcd_op *failure, size_t nfailure, uint64_t timeout_ms,
                    etcd_cb cb, void *ud);
etcd_call *etcd_lease_grant(etcd *e, int64_t ttl_s, uint64_t timeout_ms, etcd_cb cb, void *ud);
etcd_call *etcd_lease_keepalive(etcd *e, int64_t lease, uint64_t timeout_ms, etcd_cb cb, void *ud);
etcd_call *etcd_lease_revoke(etcd *e, int64_t lease, uint64_t timeout_ms, etcd_cb cb, void *ud);
void etcd_cancel(etcd *e, etcd_call *call);

/* A watch: one long-lived streaming request. Events arrive in revision order; when the stream
 * breaks (endpoint lost, compaction), `on_broken` says so and the watch is over: the caller starts
 * a new one (after re-reading with etcd_range if the revision was compacted). */
typedef enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE } etcd_event_type;

typedef struct etcd_event {
	etcd_event_type type;
	etcd_kv kv; /* for DELETE: key and mod_revision only */
} etcd_event;

typedef struct etcd_watch_handlers {
	void (*on_events)(const etcd_event *events, size_t n, int64_t revision, void *ud);
	void (*on_broken)(etcd_status status, const char *why, int64_t compact_revision, void *ud);
	void *ud;
} etcd_watch_handlers;

typedef struct etcd_watch etcd_watch;

/* Watches `prefix` from `start_revision` (the revision after the last one the caller has seen). */
etcd_watch *etcd_watch_start(etcd *e, const char *prefix, int64_t start_revision,
                             const etcd_watch_handlers *h);
void etcd_watch_stop(etcd *e, etcd_watch *w);

/* The JSON answers of the gateway, parsed: exposed for tests and fuzzing. `body` need not be
 * NUL-terminated. Fills `res` (kvs point into an arena owned by `*arena`, freed with
 * etcd_arena_free). */
typedef struct etcd_arena etcd_arena;
int etcd_parse_answer(const char *body, size_t len, etcd_result *res,
                      etcd_arena **arena) TND_MUST_CHECK;
/* One message of a watch stream ({"result": {...}}): events, or created/canceled/compacted. */
typedef struct etcd_watch_msg {
	bool created, canceled;
	int64_t compact_revision;
	int64_t revision;
	const etcd_event *events;
	size_t nevents;
	const char *error;
} etcd_watch_msg;
int etcd_parse_watch_msg(const char *body, size_t len, etcd_watch_msg *msg,
                         etcd_arena **arena) TND_MUST_CHECK;
void etcd_arena_free(etcd_arena *a);

#endif
