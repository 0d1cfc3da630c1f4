/* Shared by the files of the connection pool (pgpool.c: the pool and its waiting line,
 * pgpool_conn.c: one connection) only. */
#ifndef TANDEM_PGPOOL_PRIV_H
#define TANDEM_PGPOOL_PRIV_H

#include "pgpool.h"

#include "fdwatch.h"

enum {
	GROUP_MAX = 32, /* queries sent together under one Sync, committed as one transaction */
	BACKOFF_FIRST_MS = 50,
	BACKOFF_MAX_MS = 500,
};

typedef enum conn_state {
	C_BACKOFF,    /* waiting to (re)connect */
	C_CONNECTING, /* PQconnectPoll in progress */
	C_SETUP,      /* running the setup SQL */
	C_READY,      /* pipeline mode, carrying queries */
	C_CLOSED,
} conn_state;

/* One command in a connection's pipeline, answered in order. Commands are sent in groups closed
 * by one Sync: a group runs as one implicit transaction (one commit for all its writes), and its
 * answers count only once the Sync arrives. If any command of a group fails, the others were
 * rolled back with it and go back to the queue. */
typedef struct entry {
	struct entry *next;
	pg_query *q;     /* NULL for the pool's own commands and for abandoned queries */
	bool internal;   /* a PREPARE of the pool's */
	bool ends_group; /* the Sync follows this command */
	bool pre;        /* the pre_stmt of the next entry's query (q stays NULL) */
	bool post;       /* the post_stmt of the group before it (q stays NULL) */
	PGresult *res;
	/* A post entry: the queries of the group before it whose stmt committed, each with its
	 * result, answered once the post_stmt has. */
	pg_query **after;
	PGresult **held;
	size_t nafter, capafter;
} entry;

typedef struct conn {
	pgpool *pool;
	int id;
	conn_state state;
	PGconn *pg;
	fdwatch *watch;
	uv_timer_t timer; /* connect deadline or backoff */
	entry *head, *tail;
	entry *cursor;          /* the command whose results are arriving (NULL: the head) */
	size_t open_group;      /* commands sent since the last Sync */
	const char *group_post; /* the post_stmt the open group's queries want (NULL: none) */
	size_t inflight;
	uint64_t backoff_ms;
	bool recycle; /* reconnect once idle (the connection string changed) */
	char *setup_error;
	const char *broken; /* set while processing results: fail the connection afterwards */
	char *broken_msg;
} conn;

struct pgpool {
	uv_loop_t *loop;
	pgpool_config cfg;
	char *conninfo;
	bool add_target_attrs;
	conn *conns;
	pg_query *wait_head, *wait_tail;
	size_t nwaiting;
	uv_timer_t sweep;
	uint64_t retries, connects, connect_failures;
	char *last_error;
	int handles_open;
	bool closing;
	bool dispatching;
	uv_prepare_t batch; /* before the loop blocks: dispatch what was submitted, as groups */
};

/* ---- pgpool_conn.c ---- */

/* Connects `c` (its state becomes C_CONNECTING). */
void pgpool_conn_start(conn *c);
/* Closes the connection, gives its queries back to the pool and schedules a reconnect.
 * `why` NULL is a planned reconnect. */
void pgpool_conn_fail(conn *c, const char *why);
/* Sends `q` on the ready connection `c`, in its open group. */
void pgpool_conn_send(conn *c, pg_query *q);
/* Ends the open group with a Sync and watches the socket for what is to write and read. */
void pgpool_conn_flush(conn *c);
/* Removes the i-th query waiting in a post entry (its result is freed). */
pg_query *pgpool_entry_drop_after(entry *e, size_t i);
/* A server message on one line, without its trailing newline (heap). */
char *pgpool_trim_message(const char *m);

/* ---- pgpool.c ---- */

/* Sends the waiting queries on the least loaded ready connections. */
void pgpool_dispatch(pgpool *p);
/* Puts the chain head..last (n queries, linked by next) back at the front of the waiting line. */
void pgpool_requeue_front(pgpool *p, pg_query *head, pg_query *last, size_t n);

#endif
