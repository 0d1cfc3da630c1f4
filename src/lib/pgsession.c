/* One kept libpq connection, queries in order, on the loop. See pgsession.h. */
#include "pgsession.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fdwatch.h"
#include "log.h"

typedef struct pgq {
	char *sql;
	uint64_t deadline; /* uv_now */
	char *failure;     /* on the dead list: why it failed */
	pgsession_cb cb;
	void *ud;
	struct pgq *next;
} pgq;

struct pgsession {
	uv_loop_t *loop;
	char *conninfo;
	PGconn *pg;         /* NULL: no connection */
	bool connected;     /* PQconnectPoll said OK */
	fdwatch *watch;     /* one per connection: freed before PQfinish closes the socket */
	uv_timer_t *timer;  /* the head's deadline */
	uv_timer_t *report; /* 0 ms: the dead list's callbacks, from the loop */
	uint64_t connects;

	pgq *head, *tail; /* asked, in order; the head is in flight */
	bool on_kept;     /* the head was sent on a connection kept from an earlier query */
	bool retried;     /* ... and has been sent again on a new one */
	PGresult *result; /* the head's first result with rows */
	pgq *dead;        /* failed before they could run (a reset, a failed connect) */
};

static void close_free(uv_handle_t *h)
{
	free(h);
}

static void on_notice(void *ud, const char *message)
{
	(void)ud;
	log_debug("local session: %.*s", (int)strcspn(message, "\n"), message);
}

static void close_conn(pgsession *s)
{
	if (!s->pg)
		return;
	fdwatch_free(s->watch);
	s->watch = NULL;
	PQfinish(s->pg);
	s->pg = NULL;
	s->connected = false;
}

static void pgq_free(pgq *q)
{
	free(q->sql);
	free(q->failure);
	free(q);
}

static void on_report(uv_timer_t *t)
{
	pgsession *s = t->data;
	pgq *list = s->dead;
	s->dead = NULL;
	/* Detached from s: a callback that frees the session does not end the list. */
	while (list) {
		pgq *q = list;
		list = q->next;
		q->cb(NULL, 0, q->failure, q->ud);
		pgq_free(q);
	}
}

/* Every query asked so far fails with `why`, reported from the loop. */
static void kill_queue(pgsession *s, const char *why)
{
	uv_timer_stop(s->timer);
	if (s->result)
		PQclear(s->result);
	s->result = NULL;
	pgq **end = &s->dead;
	while (*end)
		end = &(*end)->next;
	for (pgq *q = s->head; q; q = q->next)
		q->failure = xstrdup(why);
	*end = s->head;
	s->head = s->tail = NULL;
	if (s->dead)
		uv_timer_start(s->report, on_report, 0, 0);
}

static void start_head(pgsession *s);

/* Ends the head: the next query is started first, the callback comes last (it may free the
 * session). `err` may be libpq's message of the connection this closes: copied first. */
static void finish(pgsession *s, const char *err)
{
	pgq *q = s->head;
	PGresult *res = s->result;
	s->result = NULL;
	s->head = q->next;
	if (!s->head)
		s->tail = NULL;
	uv_timer_stop(s->timer);
	if (!err && (!res || PQntuples(res) < 1))
		err = "the query returned no row";
	char *m = NULL;
	if (err) {
		m = xstrdup(err);
		size_t l = strlen(m);
		while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
			m[--l] = '\0';
		close_conn(s); /* nothing of a connection that failed is trusted again */
	} else {
		fdwatch_set(s->watch, PQsocket(s->pg),
		            UV_READABLE); /* to notice a close while idle */
	}
	if (s->head)
		start_head(s);

	if (m) {
		q->cb(NULL, 0, m, q->ud);
		free(m);
	} else {
		int nc = PQnfields(res);
		const char **row = xcalloc((size_t)nc + 1, sizeof *row);
		for (int i = 0; i < nc; i++)
			row[i] = PQgetisnull(res, 0, i) ? NULL : PQgetvalue(res, 0, i);
		q->cb(row, nc, NULL, q->ud);
		free(row);
	}
	if (res)
		PQclear(res);
	pgq_free(q);
}

static void on_watch(fdwatch *w, int status, int events, void *ud);

static void watch_connection(pgsession *s, int events)
{
	if (!s->watch)
		s->watch = fdwatch_new(s->loop, on_watch, s);
	fdwatch_set(s->watch, PQsocket(s->pg), events);
}

static int start_connect(pgsession *s, char **err)
{
	s->pg = PQconnectStart(s->conninfo);
	if (!s->pg || PQstatus(s->pg) == CONNECTION_BAD) {
		err_set(err, "connect: %s", s->pg ? PQerrorMessage(s->pg) : "out of memory");
		if (s->pg)
			PQfinish(s->pg);
		s->pg = NULL;
		return -1;
	}
	PQsetnonblocking(s->pg, 1);
	PQsetNoticeProcessor(s->pg, on_notice, s);
	s->connected = false;
	s->connects++;
	watch_connection(s, UV_WRITABLE);
	return 0;
}

/* Sends the head; the answer is read when the socket says so. false: libpq's error says why. */
static bool send_head(pgsession *s)
{
	if (!PQsendQuery(s->pg, s->head->sql))
		return false;
	int f = PQflush(s->pg);
	if (f < 0)
		return false;
	watch_connection(s, UV_READABLE | (f == 1 ? UV_WRITABLE : 0));
	return true;
}

static void on_timer(uv_timer_t *t);

/* Never calls a callback: a failure to start is reported from the loop. */
static void start_head(pgsession *s)
{
	uint64_t now = uv_now(s->loop);
	uv_timer_start(s->timer, on_timer, s->head->deadline > now ? s->head->deadline - now : 0,
	               0);
	s->retried = false;
	if (s->connected && !send_head(s)) {
		log_debug("local session: the kept connection was lost (%.*s): reconnecting",
		          (int)strcspn(PQerrorMessage(s->pg), "\n"), PQerrorMessage(s->pg));
		close_conn(s);
		s->retried = true;
	}
	s->on_kept = s->connected;
	char *e = NULL;
	if (!s->pg && start_connect(s, &e) != 0) {
		kill_queue(s, e);
		free(e);
	}
}

/* The server went away under a kept connection (it ended an idle session, or crashed): not an
 * answer about the server as it is now, so one more try on a new connection. */
static bool connection_lost(const pgsession *s, const PGresult *r)
{
	if (PQstatus(s->pg) == CONNECTION_BAD)
		return true;
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return !code || strncmp(code, "08", 2) == 0 || strncmp(code, "57P", 3) == 0;
}

static void fail(pgsession *s, const char *msg, const PGresult *r)
{
	if (s->on_kept && !s->retried && !s->result && connection_lost(s, r)) {
		log_debug("local session: the kept connection was lost (%.*s): reconnecting",
		          (int)strcspn(msg, "\n"), msg);
		close_conn(s);
		s->retried = true;
		s->on_kept = false;
		char *e = NULL;
		if (start_connect(s, &e) != 0) {
			finish(s, e);
			free(e);
		}
		return;
	}
	finish(s, msg);
}

static void io_step(pgsession *s)
{
	if (!PQconsumeInput(s->pg)) {
		fail(s, PQerrorMessage(s->pg), NULL);
		return;
	}
	int f = PQflush(s->pg);
	if (f < 0) {
		fail(s, PQerrorMessage(s->pg), NULL);
		return;
	}
	while (!PQisBusy(s->pg)) {
		PGresult *r = PQgetResult(s->pg);
		if (!r) {
			finish(s, NULL);
			return;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			char *m = xstrdup(PQresultErrorMessage(r));
			fail(s, m, r);
			PQclear(r);
			free(m);
			return;
		}
		if (!s->result && st == PGRES_TUPLES_OK)
			s->result = r;
		else
			PQclear(r);
	}
	fdwatch_set(s->watch, PQsocket(s->pg), UV_READABLE | (f == 1 ? UV_WRITABLE : 0));
}

static void connect_step(pgsession *s)
{
	fdwatch_stop(s->watch); /* PQconnectPoll may close the socket */
	switch (PQconnectPoll(s->pg)) {
	case PGRES_POLLING_READING:
		watch_connection(s, UV_READABLE);
		return;
	case PGRES_POLLING_WRITING:
		watch_connection(s, UV_WRITABLE);
		return;
	case PGRES_POLLING_OK:
		s->connected = true;
		if (!send_head(s))
			fail(s, PQerrorMessage(s->pg), NULL);
		return;
	default:
		finish(s, PQerrorMessage(s->pg));
		return;
	}
}

/* Between queries: the server may end the session (shutdown, crash, pg_terminate_backend). */
static void idle_step(pgsession *s)
{
	if (!PQconsumeInput(s->pg) || PQstatus(s->pg) == CONNECTION_BAD) {
		log_debug("local session: closed by the server: %.*s",
		          (int)strcspn(PQerrorMessage(s->pg), "\n"), PQerrorMessage(s->pg));
		close_conn(s);
		return;
	}
	PGresult *r;
	while (!PQisBusy(s->pg) && (r = PQgetResult(s->pg)))
		PQclear(r);
}

static void on_watch(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	(void)events;
	pgsession *s = ud;
	if (!s->head) {
		if (status < 0)
			close_conn(s);
		else
			idle_step(s);
	} else if (status < 0) {
		fail(s, uv_strerror(status), NULL);
	} else if (!s->connected) {
		connect_step(s);
	} else {
		io_step(s);
	}
}

static void on_timer(uv_timer_t *t)
{
	pgsession *s = t->data;
	if (s->head)
		finish(s, "the query did not complete before the deadline");
}

pgsession *pgsession_new(uv_loop_t *loop, const char *conninfo)
{
	pgsession *s = xcalloc(1, sizeof *s);
	s->loop = loop;
	s->conninfo = xstrdup(conninfo);
	s->timer = xcalloc(1, sizeof *s->timer);
	uv_timer_init(loop, s->timer);
	s->timer->data = s;
	s->report = xcalloc(1, sizeof *s->report);
	uv_timer_init(loop, s->report);
	s->report->data = s;
	return s;
}

void pgsession_free(pgsession *s)
{
	if (!s)
		return;
	close_conn(s);
	uv_close((uv_handle_t *)s->timer, close_free);
	uv_close((uv_handle_t *)s->report, close_free);
	while (s->head) {
		pgq *q = s->head;
		s->head = q->next;
		pgq_free(q);
	}
	while (s->dead) {
		pgq *q = s->dead;
		s->dead = q->next;
		pgq_free(q);
	}
	if (s->result)
		PQclear(s->result);
	free(s->conninfo);
	free(s);
}

void pgsession_query(pgsession *s, const char *sql, uint64_t timeout_ms, pgsession_cb cb, void *ud)
{
	pgq *q = xcalloc(1, sizeof *q);
	q->sql = xstrdup(sql);
	q->deadline = uv_now(s->loop) + timeout_ms;
	q->cb = cb;
	q->ud = ud;
	if (s->tail)
		s->tail->next = q;
	else
		s->head = q;
	s->tail = q;
	if (s->head == q)
		start_head(s);
}

void pgsession_reset(pgsession *s, const char *reason)
{
	close_conn(s);
	kill_queue(s, reason);
}

int pgsession_backend_pid(const pgsession *s)
{
	return s->pg && s->connected ? PQbackendPID(s->pg) : 0;
}

uint64_t pgsession_connects(const pgsession *s)
{
	return s->connects;
}
