/* A pool of non-blocking libpq connections on one loop thread, in pipeline mode: many queries may
 * be in flight on one connection, and their answers come back in order.
 *
 * The pool keeps `size` connections open, reconnecting with backoff when one fails. Every new
 * connection runs the setup SQL (for example a schema migration) and prepares the statements
 * before it carries queries. A query whose connection fails, or that meets an error a retry can
 * cure (connection lost, server shutting down or starting, read-only server after a failover,
 * serialization failure), is retried on another connection until its deadline; only then does the
 * caller hear of a timeout. So callers must only submit queries that are safe to run twice. */
#ifndef TANDEM_PGPOOL_H
#define TANDEM_PGPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"

typedef struct pgpool pgpool;

typedef struct pg_statement {
	const char *name;
	const char *sql;
	int nparams;
} pg_statement;

typedef enum pgq_outcome {
	PGQ_OK,        /* res is the statement's result */
	PGQ_ERROR,     /* an error no retry can cure; `error` says what */
	PGQ_TIMEOUT,   /* the deadline passed; `error` names the last obstacle */
	PGQ_CANCELLED, /* the pool is closing */
} pgq_outcome;

enum { PGQ_MAX_PARAMS = 4 };

typedef struct pg_query pg_query;

/* res is valid only during the call. */
typedef void (*pgq_done_cb)(pg_query *q, pgq_outcome outcome, const PGresult *res,
                            const char *error);

/* Owned by the caller, who must keep it (and the parameter strings) alive until `done` runs.
 *
 * pre_stmt (optional, a prepared statement without parameters) is sent just before stmt on the
 * same connection, in the same group: it runs on the same server, as the statement before it,
 * so stmt's snapshot is taken after pre_stmt ran. post_stmt (optional, without parameters) is
 * sent on the same connection right after the Sync that commits stmt's group, in the same
 * flush (no extra round trip): it runs after the commit, once for all the queries of the group
 * that want it (a group carries one kind of post_stmt). `done` runs once both answered, with
 * their results in pre_res / post_res (valid only during the call); a failed post_stmt sends
 * the query back to the queue, like a failed stmt. */
struct pg_query {
	const char *stmt; /* name of a prepared statement */
	int nparams;
	const char *params[PGQ_MAX_PARAMS];
	const char *pre_stmt;
	const char *post_stmt;
	const PGresult *pre_res, *post_res;
	uint64_t deadline_us; /* monotonic */
	pgq_done_cb done;
	void *ud;
	/* Set by the pool. */
	unsigned retries;
	struct pg_query *next; /* in the waiting list */
};

typedef struct pgpool_config {
	const char *conninfo;             /* libpq connection string or URI; multi-host allowed */
	const char *target_session_attrs; /* added when conninfo does not set it; NULL: leave */
	const char *application_name;     /* fallback_application_name */
	size_t size;
	uint64_t connect_timeout_ms; /* per connection attempt */
	const char *setup_sql;       /* run on every new connection; NULL for none */
	const pg_statement *statements;
	size_t nstatements;
} pgpool_config;

typedef struct pgpool_stats {
	size_t connections; /* configured */
	size_t ready;
	size_t connecting;
	size_t waiting;  /* queries waiting for a connection */
	size_t inflight; /* queries sent and not yet answered */
	uint64_t retries;
	uint64_t connects;
	uint64_t connect_failures;
} pgpool_stats;

/* Checks a connection string without connecting. */
int pgpool_check_conninfo(const char *conninfo, char **err) TND_MUST_CHECK;
/* The non-empty value of `key` in a libpq connection string (heap), or NULL when it is absent,
 * empty or the string does not parse. */
char *pgpool_conninfo_value(const char *conninfo, const char *key);

pgpool *pgpool_new(uv_loop_t *loop, const pgpool_config *cfg) TND_MUST_CHECK;
void pgpool_submit(pgpool *p, pg_query *q);
/* New connections use the new string; open ones are replaced once idle. */
void pgpool_set_conninfo(pgpool *p, const char *conninfo);
void pgpool_stats_get(const pgpool *p, pgpool_stats *out);
bool pgpool_is_ready(const pgpool *p);
/* The last connection error, for /readyz and logs ("" when none). */
const char *pgpool_last_error(const pgpool *p);
/* Cancels waiting and in-flight queries (their callbacks run with PGQ_CANCELLED), closes the
 * connections and frees the pool once its handles are closed. */
void pgpool_free(pgpool *p);

/* Whether an error with this SQLSTATE may succeed when retried on a (possibly new) connection. */
bool pgpool_sqlstate_retryable(const char *sqlstate);

#endif
