#include "pgpool.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fdwatch.h"
#include "log.h"

enum {
	GROUP_MAX = 32, /* queries sent together under one Sync, committed as one transaction */
	BACKOFF_FIRST_MS = 50,
	BACKOFF_MAX_MS = 500,
	SWEEP_MS = 50,
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
	PGresult *res;
} entry;

typedef struct conn {
	pgpool *pool;
	int id;
	conn_state state;
	PGconn *pg;
	fdwatch *watch;
	uv_timer_t timer; /* connect deadline or backoff */
	entry *head, *tail;
	entry *cursor;     /* the command whose results are arriving (NULL: the head) */
	size_t open_group; /* commands sent since the last Sync */
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

static void conn_start(conn *c);
static void conn_fail(conn *c, const char *why);
static void dispatch(pgpool *p);

bool pgpool_sqlstate_retryable(const char *s)
{
	if (!s)
		return true;               /* no SQLSTATE: the connection broke */
	return strncmp(s, "08", 2) == 0    /* connection exception */
	       || strcmp(s, "57P01") == 0  /* admin_shutdown */
	       || strcmp(s, "57P02") == 0  /* crash_shutdown */
	       || strcmp(s, "57P03") == 0  /* cannot_connect_now */
	       || strcmp(s, "25006") == 0  /* read_only_sql_transaction: a demoted primary */
	       || strcmp(s, "40001") == 0  /* serialization_failure */
	       || strcmp(s, "40P01") == 0  /* deadlock_detected */
	       || strcmp(s, "53300") == 0; /* too_many_connections */
}

/* Whether an error means this connection should not carry more queries. */
static bool sqlstate_breaks_connection(const char *s)
{
	return !s || strncmp(s, "08", 2) == 0 || strncmp(s, "57P0", 4) == 0 ||
	       strcmp(s, "25006") == 0;
}

static char *trim_message(const char *m)
{
	char *s = xstrdup(m ? m : "unknown error");
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (char *x = s; *x; x++)
		if (*x == '\n')
			*x = ' ';
	return s;
}

int pgpool_check_conninfo(const char *conninfo, char **err)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		char *m = trim_message(msg ? msg : "out of memory");
		err_set(err, "invalid connection string: %s", m);
		free(m);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(opts);
	return 0;
}

static bool conninfo_sets(const char *conninfo, const char *key)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	bool found = false;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, key) == 0 && o->val && *o->val)
			found = true;
	PQconninfoFree(opts);
	return found;
}

static void set_last_error(pgpool *p, const char *msg)
{
	free(p->last_error);
	p->last_error = xstrdup(msg);
}

/* ---- waiting list ---- */

static void wait_push_back(pgpool *p, pg_query *q)
{
	q->next = NULL;
	if (p->wait_tail)
		p->wait_tail->next = q;
	else
		p->wait_head = q;
	p->wait_tail = q;
	p->nwaiting++;
}

static void wait_push_front(pgpool *p, pg_query *q)
{
	q->next = p->wait_head;
	p->wait_head = q;
	if (!p->wait_tail)
		p->wait_tail = q;
	p->nwaiting++;
}

static pg_query *wait_pop(pgpool *p)
{
	pg_query *q = p->wait_head;
	if (!q)
		return NULL;
	p->wait_head = q->next;
	if (!p->wait_head)
		p->wait_tail = NULL;
	p->nwaiting--;
	q->next = NULL;
	return q;
}

/* ---- one connection ---- */

static void entry_push(conn *c, pg_query *q, bool internal)
{
	entry *e = xcalloc(1, sizeof *e);
	e->q = q;
	e->internal = internal;
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->inflight++;
}

static entry *entry_pop(conn *c)
{
	entry *e = c->head;
	if (!e)
		return NULL;
	c->head = e->next;
	if (!c->head)
		c->tail = NULL;
	c->inflight--;
	return e;
}

static void watch_io(conn *c)
{
	int ev = UV_READABLE;
	int f = PQflush(c->pg);
	if (f < 0) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (f == 1)
		ev |= UV_WRITABLE;
	fdwatch_set(c->watch, PQsocket(c->pg), ev);
}

static void enter_pipeline(conn *c)
{
	pgpool *p = c->pool;
	if (!PQenterPipelineMode(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	for (size_t i = 0; i < p->cfg.nstatements; i++) {
		const pg_statement *s = &p->cfg.statements[i];
		if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL) ||
		    !PQpipelineSync(c->pg)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		entry_push(c, NULL, true);
		c->tail->ends_group = true;
	}
	c->state = C_READY;
	c->backoff_ms = BACKOFF_FIRST_MS;
	log_info("database connection %d ready (%s:%s)", c->id, PQhost(c->pg), PQport(c->pg));
	watch_io(c);
	if (c->state == C_READY)
		dispatch(p);
}

static void connected(conn *c)
{
	uv_timer_stop(&c->timer);
	if (c->pool->cfg.setup_sql) {
		if (!PQsendQuery(c->pg, c->pool->cfg.setup_sql)) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		c->state = C_SETUP;
		watch_io(c);
		return;
	}
	enter_pipeline(c);
}

static void connect_step(conn *c)
{
	fdwatch_stop(c->watch); /* PQconnectPoll may close the socket */
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		fdwatch_set(c->watch, PQsocket(c->pg), UV_READABLE);
		break;
	case PGRES_POLLING_WRITING:
		fdwatch_set(c->watch, PQsocket(c->pg), UV_WRITABLE);
		break;
	case PGRES_POLLING_OK:
		connected(c);
		break;
	default:
		c->pool->connect_failures++;
		conn_fail(c, PQerrorMessage(c->pg));
		break;
	}
}

static void setup_step(conn *c)
{
	while (!PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		if (!res) {
			if (c->setup_error) {
				char *m = xasprintf("setup failed: %s", c->setup_error);
				conn_fail(c, m);
				free(m);
			} else {
				enter_pipeline(c);
			}
			return;
		}
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && !c->setup_error)
			c->setup_error = trim_message(PQresultErrorMessage(res));
		PQclear(res);
	}
}

static void mark_broken(conn *c, const char *why, const char *msg)
{
	if (c->broken)
		return;
	c->broken = why;
	c->broken_msg = trim_message(msg);
}

static bool result_ok(const PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* A group's Sync arrived: hand every answer to whoever asked, or send the queries back to the
 * queue when the group failed as a whole. */
static void deliver_group(conn *c)
{
	pgpool *p = c->pool;
	bool group_ok = true;
	for (entry *e = c->head; e; e = e->next) {
		if (!result_ok(e->res))
			group_ok = false;
		if (e->ends_group)
			break;
	}
	pg_query *back_head = NULL, *back_last = NULL;
	for (;;) {
		entry *e = entry_pop(c);
		if (!e)
			break;
		bool last = e->ends_group;
		PGresult *res = e->res;
		ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = res ? PQresultErrorMessage(res) : "no result";
		pg_query *q = e->q;
		if (e->internal) {
			if (!result_ok(res))
				mark_broken(c, "preparing a statement failed", msg);
		} else if (q && group_ok) {
			q->done(q, PGQ_OK, res, NULL);
		} else if (q && st == PGRES_FATAL_ERROR && !pgpool_sqlstate_retryable(sqlstate)) {
			char *m = trim_message(msg);
			q->done(q, PGQ_ERROR, res, m);
			free(m);
		} else if (q) {
			/* Rolled back with its group, aborted, or refused in a way a retry cures.
			 */
			q->retries++;
			p->retries++;
			q->next = NULL;
			if (back_last)
				back_last->next = q;
			else
				back_head = q;
			back_last = q;
			if (st == PGRES_FATAL_ERROR && sqlstate_breaks_connection(sqlstate))
				mark_broken(c, "the server refused a query", msg);
		}
		PQclear(res);
		free(e);
		if (last)
			break;
	}
	if (back_head) {
		size_t n = 0;
		for (pg_query *q = back_head; q; q = q->next)
			n++;
		back_last->next = p->wait_head;
		if (!p->wait_head)
			p->wait_tail = back_last;
		p->wait_head = back_head;
		p->nwaiting += n;
	}
}

static void process_results(conn *c)
{
	while (!c->broken && c->head && !PQisBusy(c->pg)) {
		PGresult *res = PQgetResult(c->pg);
		entry *e = c->cursor ? c->cursor : c->head;
		if (!res) {
			/* The end of one command's results: the next command's follow, or the Sync.
			 */
			if (!e->res)
				break;
			c->cursor = e->ends_group ? e : e->next;
			if (!c->cursor)
				break;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			c->cursor = NULL;
			deliver_group(c);
			continue;
		}
		if (e->res)
			PQclear(res); /* only the first result of a command matters */
		else
			e->res = res;
	}
}

static void io_step(conn *c, int events)
{
	if (events & UV_WRITABLE) {
		int f = PQflush(c->pg);
		if (f < 0) {
			conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		if (f == 0)
			fdwatch_set(c->watch, PQsocket(c->pg), UV_READABLE);
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(c->pg)) {
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->state == C_SETUP) {
		setup_step(c);
		return;
	}
	process_results(c);
	if (c->broken) {
		char *m = xasprintf("%s: %s", c->broken, c->broken_msg);
		conn_fail(c, m);
		free(m);
		return;
	}
	if (c->recycle && c->inflight == 0) {
		log_info("database connection %d: reconnecting with the new connection string",
		         c->id);
		conn_fail(c, NULL);
		return;
	}
	dispatch(c->pool); /* queries a retry put back */
}

static void on_watch(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	conn *c = ud;
	if (status < 0 && c->state != C_CONNECTING) {
		conn_fail(c, uv_strerror(status));
		return;
	}
	if (c->state == C_CONNECTING)
		connect_step(c);
	else if (c->state == C_SETUP || c->state == C_READY)
		io_step(c, events);
}

static void on_conn_timer(uv_timer_t *t)
{
	conn *c = t->data;
	if (c->state == C_BACKOFF) {
		conn_start(c);
	} else if (c->state == C_CONNECTING || c->state == C_SETUP) {
		char *m = xasprintf("connection attempt took longer than %llu ms",
		                    (unsigned long long)c->pool->cfg.connect_timeout_ms);
		c->pool->connect_failures++;
		conn_fail(c, m);
		free(m);
	}
}

static void on_notice(void *arg, const char *message)
{
	conn *c = arg;
	char *m = trim_message(message);
	log_debug("database connection %d: %s", c->id, m);
	free(m);
}

static void conn_start(conn *c)
{
	pgpool *p = c->pool;
	const char *keys[4], *vals[4];
	int i = 0;
	keys[i] = "dbname";
	vals[i++] = p->conninfo;
	if (p->add_target_attrs) {
		keys[i] = "target_session_attrs";
		vals[i++] = p->cfg.target_session_attrs;
	}
	if (p->cfg.application_name) {
		keys[i] = "fallback_application_name";
		vals[i++] = p->cfg.application_name;
	}
	keys[i] = NULL;
	vals[i] = NULL;

	c->recycle = false;
	free(c->setup_error);
	c->setup_error = NULL;
	c->pg = PQconnectStartParams(keys, vals, 1);
	p->connects++;
	c->state = C_CONNECTING;
	c->watch = fdwatch_new(p->loop, on_watch, c);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		p->connect_failures++;
		conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	PQsetnonblocking(c->pg, 1);
	PQsetNoticeProcessor(c->pg, on_notice, c);
	uv_timer_start(&c->timer, on_conn_timer, p->cfg.connect_timeout_ms, 0);
	fdwatch_set(c->watch, PQsocket(c->pg), UV_WRITABLE);
}

/* Closes the connection, gives its queries back to the pool and schedules a reconnect.
 * `why` NULL is a planned reconnect. */
static void conn_fail(conn *c, const char *why)
{
	pgpool *p = c->pool;
	if (why) {
		char *m = trim_message(why);
		if (c->state == C_READY)
			log_warning("database connection %d lost: %s", c->id, m);
		else
			log_warning("database connection %d failed: %s", c->id, m);
		set_last_error(p, m);
		free(m);
	}
	fdwatch_free(c->watch); /* before PQfinish closes the socket */
	c->watch = NULL;
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->broken = NULL;
	free(c->broken_msg);
	c->broken_msg = NULL;
	c->cursor = NULL;
	c->open_group = 0;

	/* Queries in flight go back to the front of the line, in their order. */
	pg_query *back_head = NULL, *back_last = NULL;
	size_t nback = 0;
	for (entry *e; (e = entry_pop(c));) {
		if (e->q) {
			e->q->retries++;
			p->retries++;
			e->q->next = NULL;
			if (back_last)
				back_last->next = e->q;
			else
				back_head = e->q;
			back_last = e->q;
			nback++;
		}
		PQclear(e->res);
		free(e);
	}
	if (back_head) {
		back_last->next = p->wait_head;
		if (!p->wait_head)
			p->wait_tail = back_last;
		p->wait_head = back_head;
		p->nwaiting += nback;
	}

	if (p->closing) {
		c->state = C_CLOSED;
		return;
	}
	c->state = C_BACKOFF;
	uint64_t delay = why ? c->backoff_ms : 0;
	if (why && c->backoff_ms < BACKOFF_MAX_MS)
		c->backoff_ms =
		    c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
	uv_timer_start(&c->timer, on_conn_timer, delay, 0);
	dispatch(p);
}

/* ---- the pool ---- */

/* Ends the open group with a Sync (which also flushes). */
static void close_group(conn *c)
{
	if (c->state != C_READY || c->open_group == 0)
		return;
	c->tail->ends_group = true;
	c->open_group = 0;
	if (!PQpipelineSync(c->pg))
		conn_fail(c, PQerrorMessage(c->pg));
}

static void send_query(conn *c, pg_query *q)
{
	if (!PQsendQueryPrepared(c->pg, q->stmt, q->nparams, q->params, NULL, NULL, 0)) {
		wait_push_front(c->pool, q);
		conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	entry_push(c, q, false);
	if (++c->open_group >= GROUP_MAX)
		close_group(c);
}

static conn *least_loaded(pgpool *p)
{
	conn *best = NULL;
	for (size_t i = 0; i < p->cfg.size; i++) {
		conn *c = &p->conns[i];
		if (c->state == C_READY && !c->recycle && (!best || c->inflight < best->inflight))
			best = c;
	}
	return best;
}

static void dispatch(pgpool *p)
{
	if (p->dispatching || p->closing)
		return;
	p->dispatching = true;
	bool sent = false;
	conn *c;
	while (p->wait_head && (c = least_loaded(p))) {
		send_query(c, wait_pop(p));
		sent = true;
	}
	if (sent) {
		for (size_t i = 0; i < p->cfg.size; i++) {
			close_group(&p->conns[i]);
			if (p->conns[i].state == C_READY)
				watch_io(&p->conns[i]);
		}
	}
	p->dispatching = false;
}

static void on_batch(uv_prepare_t *h)
{
	uv_prepare_stop(h);
	dispatch(h->data);
}

static void on_sweep(uv_timer_t *t)
{
	pgpool *p = t->data;
	uint64_t now = clock_mono_us();
	/* Waiting queries past their deadline. */
	pg_query *keep_head = NULL, *keep_last = NULL, *expired = NULL;
	for (pg_query *q = p->wait_head, *next; q; q = next) {
		next = q->next;
		q->next = NULL;
		if (q->deadline_us <= now) {
			q->next = expired;
			expired = q;
			p->nwaiting--;
		} else if (keep_last) {
			keep_last->next = q;
			keep_last = q;
		} else {
			keep_head = keep_last = q;
		}
	}
	p->wait_head = keep_head;
	p->wait_tail = keep_last;

	/* Queries in flight past their deadline: the connection is stuck. */
	for (size_t i = 0; i < p->cfg.size; i++) {
		conn *c = &p->conns[i];
		bool stuck = false;
		for (entry *e = c->head; e; e = e->next) {
			if (e->q && e->q->deadline_us <= now) {
				e->q->next = expired;
				expired = e->q;
				e->q = NULL;
				stuck = true;
			}
		}
		if (stuck && c->state == C_READY)
			conn_fail(c, "a query got no answer before its deadline");
	}

	for (pg_query *q = expired, *next; q; q = next) {
		next = q->next;
		const char *why =
		    p->last_error ? p->last_error : "no database connection available";
		q->done(q, PGQ_TIMEOUT, NULL, why);
	}
}

pgpool *pgpool_new(uv_loop_t *loop, const pgpool_config *cfg)
{
	pgpool *p = xcalloc(1, sizeof *p);
	p->loop = loop;
	p->cfg = *cfg;
	p->conninfo = xstrdup(cfg->conninfo ? cfg->conninfo : "");
	p->add_target_attrs =
	    cfg->target_session_attrs && !conninfo_sets(p->conninfo, "target_session_attrs");
	if (!p->cfg.connect_timeout_ms)
		p->cfg.connect_timeout_ms = 5000;
	p->conns = xcalloc(cfg->size, sizeof *p->conns);
	uv_timer_init(loop, &p->sweep);
	p->sweep.data = p;
	uv_prepare_init(loop, &p->batch);
	p->batch.data = p;
	p->handles_open = 2;
	uv_timer_start(&p->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	for (size_t i = 0; i < cfg->size; i++) {
		conn *c = &p->conns[i];
		c->pool = p;
		c->id = (int)i + 1;
		c->backoff_ms = BACKOFF_FIRST_MS;
		uv_timer_init(loop, &c->timer);
		c->timer.data = c;
		p->handles_open++;
		conn_start(c);
	}
	return p;
}

void pgpool_submit(pgpool *p, pg_query *q)
{
	q->retries = 0;
	if (p->closing) {
		q->done(q, PGQ_CANCELLED, NULL, "shutting down");
		return;
	}
	wait_push_back(p, q);
	/* Sent just before the loop next blocks, together with whatever else came meanwhile. */
	uv_prepare_start(&p->batch, on_batch);
}

void pgpool_set_conninfo(pgpool *p, const char *conninfo)
{
	if (strcmp(p->conninfo, conninfo) == 0)
		return;
	free(p->conninfo);
	p->conninfo = xstrdup(conninfo);
	p->add_target_attrs =
	    p->cfg.target_session_attrs && !conninfo_sets(p->conninfo, "target_session_attrs");
	for (size_t i = 0; i < p->cfg.size; i++) {
		conn *c = &p->conns[i];
		if (c->state == C_READY && c->inflight > 0)
			c->recycle = true;
		else if (c->state != C_BACKOFF)
			conn_fail(c, NULL);
	}
}

void pgpool_stats_get(const pgpool *p, pgpool_stats *out)
{
	memset(out, 0, sizeof *out);
	out->connections = p->cfg.size;
	for (size_t i = 0; i < p->cfg.size; i++) {
		const conn *c = &p->conns[i];
		if (c->state == C_READY)
			out->ready++;
		else if (c->state == C_CONNECTING || c->state == C_SETUP)
			out->connecting++;
		for (const entry *e = c->head; e; e = e->next)
			if (e->q)
				out->inflight++;
	}
	out->waiting = p->nwaiting;
	out->retries = p->retries;
	out->connects = p->connects;
	out->connect_failures = p->connect_failures;
}

bool pgpool_is_ready(const pgpool *p)
{
	for (size_t i = 0; i < p->cfg.size; i++)
		if (p->conns[i].state == C_READY)
			return true;
	return false;
}

const char *pgpool_last_error(const pgpool *p)
{
	return p->last_error ? p->last_error : "";
}

static void on_closed(uv_handle_t *h)
{
	pgpool *p = h->data;
	if (--p->handles_open > 0)
		return;
	free(p->conns);
	free(p->conninfo);
	free(p->last_error);
	free(p);
}

void pgpool_free(pgpool *p)
{
	if (!p)
		return;
	p->closing = true;
	for (size_t i = 0; i < p->cfg.size; i++) {
		conn *c = &p->conns[i];
		for (entry *e = c->head; e; e = e->next)
			if (e->q) {
				pg_query *q = e->q;
				e->q = NULL;
				q->done(q, PGQ_CANCELLED, NULL, "shutting down");
			}
		conn_fail(c, NULL);
		free(c->setup_error);
		c->timer.data = p;
		uv_close((uv_handle_t *)&c->timer, on_closed);
	}
	for (pg_query *q; (q = wait_pop(p));)
		q->done(q, PGQ_CANCELLED, NULL, "shutting down");
	uv_close((uv_handle_t *)&p->sweep, on_closed);
	uv_close((uv_handle_t *)&p->batch, on_closed);
}
