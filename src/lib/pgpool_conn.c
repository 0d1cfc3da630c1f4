/* One connection of the pool (see pgpool.h): connecting, the setup SQL, the prepared statements,
 * pipeline mode, the answers of each group and the failure of the connection. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgpool_priv.h"

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

char *pgpool_trim_message(const char *m)
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

static void set_last_error(pgpool *p, const char *msg)
{
	free(p->last_error);
	p->last_error = xstrdup(msg);
}

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
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
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
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	for (size_t i = 0; i < p->cfg.nstatements; i++) {
		const pg_statement *s = &p->cfg.statements[i];
		if (!PQsendPrepare(c->pg, s->name, s->sql, s->nparams, NULL) ||
		    !PQpipelineSync(c->pg)) {
			pgpool_conn_fail(c, PQerrorMessage(c->pg));
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
		pgpool_dispatch(p);
}

static void connected(conn *c)
{
	uv_timer_stop(&c->timer);
	if (c->pool->cfg.setup_sql) {
		if (!PQsendQuery(c->pg, c->pool->cfg.setup_sql)) {
			pgpool_conn_fail(c, PQerrorMessage(c->pg));
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
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
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
				pgpool_conn_fail(c, m);
				free(m);
			} else {
				enter_pipeline(c);
			}
			return;
		}
		if (PQresultStatus(res) == PGRES_FATAL_ERROR && !c->setup_error)
			c->setup_error = pgpool_trim_message(PQresultErrorMessage(res));
		PQclear(res);
	}
}

static void mark_broken(conn *c, const char *why, const char *msg)
{
	if (c->broken)
		return;
	c->broken = why;
	c->broken_msg = pgpool_trim_message(msg);
}

static bool result_ok(const PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* Queries going back to the front of the waiting line, in their order, one more retry each. */
typedef struct back_list {
	pg_query *head, *last;
	size_t n;
} back_list;

static void back_add(pgpool *p, back_list *b, pg_query *q)
{
	q->retries++;
	p->retries++;
	q->next = NULL;
	if (b->last)
		b->last->next = q;
	else
		b->head = q;
	b->last = q;
	b->n++;
}

pg_query *pgpool_entry_drop_after(entry *e, size_t i)
{
	pg_query *q = e->after[i];
	PQclear(e->held[i]);
	e->nafter--;
	memmove(&e->after[i], &e->after[i + 1], (e->nafter - i) * sizeof *e->after);
	memmove(&e->held[i], &e->held[i + 1], (e->nafter - i) * sizeof *e->held);
	return q;
}

/* The stmt of a query with a post_stmt committed: the post entry takes the query and its result
 * over, and answers once the post_stmt has. */
static void hand_to_post(entry *post, pg_query *q, PGresult *res)
{
	if (post->nafter == post->capafter) {
		post->capafter = post->capafter ? post->capafter * 2 : 4;
		post->after = xrealloc(post->after, post->capafter * sizeof *post->after);
		post->held = xrealloc(post->held, post->capafter * sizeof *post->held);
	}
	post->after[post->nafter] = q;
	post->held[post->nafter++] = res;
}

static void entry_free(entry *e)
{
	PQclear(e->res);
	for (size_t i = 0; i < e->nafter; i++)
		PQclear(e->held[i]);
	free(e->after);
	free(e->held);
	free(e);
}

static void deliver_ok(pg_query *q, PGresult *res, PGresult *pre, PGresult *post)
{
	q->pre_res = pre;
	q->post_res = post;
	q->done(q, PGQ_OK, res, NULL);
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
	back_list back = {0};
	PGresult *pre = NULL; /* the answer of a pre_stmt, for the next query */
	entry *post = NULL;   /* the post entry after this group, if any */
	for (entry *e = c->head; e; e = e->next)
		if (e->ends_group) {
			post = e->next && e->next->post ? e->next : NULL;
			break;
		}
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
		} else if (e->pre) {
			PQclear(pre);
			pre = res;
			res = NULL;
		} else if (e->post) {
			/* The queries of the group before: answered, or sent again (their
			 * writes are idempotent) when the post_stmt failed. */
			while (e->nafter) {
				PGresult *held = e->held[0];
				e->held[0] = NULL;
				pg_query *aq = pgpool_entry_drop_after(e, 0);
				if (group_ok)
					deliver_ok(aq, held, NULL, res);
				else
					back_add(p, &back, aq);
				PQclear(held);
			}
			if (!group_ok && st == PGRES_FATAL_ERROR &&
			    sqlstate_breaks_connection(sqlstate))
				mark_broken(c, "the server refused a query", msg);
		} else if (q && group_ok && q->post_stmt && post) {
			hand_to_post(post, q, res);
			res = NULL;
		} else if (q && group_ok) {
			deliver_ok(q, res, pre, NULL);
		} else if (q && st == PGRES_FATAL_ERROR && !pgpool_sqlstate_retryable(sqlstate)) {
			char *m = pgpool_trim_message(msg);
			q->done(q, PGQ_ERROR, res, m);
			free(m);
		} else if (q) {
			/* Rolled back with its group, aborted, or refused in a way a retry cures.
			 */
			back_add(p, &back, q);
			if (st == PGRES_FATAL_ERROR && sqlstate_breaks_connection(sqlstate))
				mark_broken(c, "the server refused a query", msg);
		}
		if (!e->pre) {
			PQclear(pre); /* a pre_stmt's answer is for the very next query only */
			pre = NULL;
		}
		e->res = res;
		entry_free(e);
		if (last)
			break;
	}
	PQclear(pre);
	if (back.head)
		pgpool_requeue_front(p, back.head, back.last, back.n);
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
			pgpool_conn_fail(c, PQerrorMessage(c->pg));
			return;
		}
		if (f == 0)
			fdwatch_set(c->watch, PQsocket(c->pg), UV_READABLE);
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(c->pg)) {
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (c->state == C_SETUP) {
		setup_step(c);
		return;
	}
	process_results(c);
	if (c->broken) {
		char *m = xasprintf("%s: %s", c->broken, c->broken_msg);
		pgpool_conn_fail(c, m);
		free(m);
		return;
	}
	if (c->recycle && c->inflight == 0) {
		log_info("database connection %d: reconnecting with the new connection string",
		         c->id);
		pgpool_conn_fail(c, NULL);
		return;
	}
	pgpool_dispatch(c->pool); /* queries a retry put back */
}

static void on_watch(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	conn *c = ud;
	if (status < 0 && c->state != C_CONNECTING) {
		pgpool_conn_fail(c, uv_strerror(status));
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
		pgpool_conn_start(c);
	} else if (c->state == C_CONNECTING || c->state == C_SETUP) {
		char *m = xasprintf("connection attempt took longer than %llu ms",
		                    (unsigned long long)c->pool->cfg.connect_timeout_ms);
		c->pool->connect_failures++;
		pgpool_conn_fail(c, m);
		free(m);
	}
}

static void on_notice(void *arg, const char *message)
{
	conn *c = arg;
	char *m = pgpool_trim_message(message);
	log_debug("database connection %d: %s", c->id, m);
	free(m);
}

void pgpool_conn_start(conn *c)
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
		pgpool_conn_fail(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
		return;
	}
	PQsetnonblocking(c->pg, 1);
	PQsetNoticeProcessor(c->pg, on_notice, c);
	uv_timer_start(&c->timer, on_conn_timer, p->cfg.connect_timeout_ms, 0);
	fdwatch_set(c->watch, PQsocket(c->pg), UV_WRITABLE);
}

void pgpool_conn_fail(conn *c, const char *why)
{
	pgpool *p = c->pool;
	if (why) {
		char *m = pgpool_trim_message(why);
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
	c->group_post = NULL;

	/* Queries in flight go back to the front of the line, in their order. */
	back_list back = {0};
	for (entry *e; (e = entry_pop(c));) {
		if (e->q)
			back_add(p, &back, e->q);
		for (size_t i = 0; i < e->nafter; i++)
			back_add(p, &back, e->after[i]);
		entry_free(e);
	}
	if (back.head)
		pgpool_requeue_front(p, back.head, back.last, back.n);

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
	pgpool_dispatch(p);
}

/* Sends one prepared statement without parameters, as an entry of its own. */
static bool send_bare(conn *c, const char *stmt)
{
	if (!PQsendQueryPrepared(c->pg, stmt, 0, NULL, NULL, NULL, 0))
		return false;
	entry_push(c, NULL, false);
	return true;
}

/* Ends the open group with a Sync (which also flushes); then, when its queries want one, sends
 * their post_stmt in a group of its own: it runs after their commit, in the same flush. */
static void close_group(conn *c)
{
	if (c->state != C_READY || c->open_group == 0)
		return;
	c->tail->ends_group = true;
	c->open_group = 0;
	const char *post = c->group_post;
	c->group_post = NULL;
	if (!PQpipelineSync(c->pg)) {
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	if (!post)
		return;
	if (!send_bare(c, post) || !PQpipelineSync(c->pg)) {
		pgpool_conn_fail(c, PQerrorMessage(c->pg));
		return;
	}
	c->tail->post = true;
	c->tail->ends_group = true;
}

void pgpool_conn_send(conn *c, pg_query *q)
{
	if (q->post_stmt && c->group_post && strcmp(c->group_post, q->post_stmt) != 0) {
		close_group(c); /* one post_stmt per group */
		if (c->state != C_READY) {
			pgpool_requeue_front(c->pool, q, q, 1);
			return;
		}
	}
	if (q->pre_stmt) {
		if (!send_bare(c, q->pre_stmt))
			goto fail;
		c->tail->pre = true;
		c->open_group++;
	}
	if (!PQsendQueryPrepared(c->pg, q->stmt, q->nparams, q->params, NULL, NULL, 0))
		goto fail;
	entry_push(c, q, false);
	if (q->post_stmt)
		c->group_post = q->post_stmt;
	if (++c->open_group >= GROUP_MAX)
		close_group(c);
	return;
fail:
	pgpool_requeue_front(c->pool, q, q, 1);
	pgpool_conn_fail(c, PQerrorMessage(c->pg));
}

void pgpool_conn_flush(conn *c)
{
	close_group(c);
	if (c->state == C_READY)
		watch_io(c);
}
