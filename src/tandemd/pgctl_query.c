/* One-shot queries to the local server over libpq, non-blocking on the loop. See pgctl.h. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fdwatch.h"
#include "log.h"
#include "pgctl.h"

typedef enum q_state { Q_CONNECTING, Q_QUERYING, Q_DONE } q_state;

typedef struct query {
	PGconn *pg;
	fdwatch *watch;
	uv_timer_t *timer;
	q_state state;
	PGresult *result; /* the first row-carrying result */
	char *sql;
	pgctl_query_cb cb;
	void *ud;
} query;

static void close_free(uv_handle_t *h)
{
	free(h);
}

static void finish(query *q, const char *err)
{
	if (q->state == Q_DONE)
		return;
	q->state = Q_DONE;
	fdwatch_free(q->watch); /* before PQfinish closes the socket */
	uv_close((uv_handle_t *)q->timer, close_free);
	if (err) {
		char *m = xstrdup(err);
		size_t l = strlen(m);
		while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
			m[--l] = '\0';
		q->cb(NULL, 0, m, q->ud);
		free(m);
	} else if (!q->result || PQntuples(q->result) < 1) {
		q->cb(NULL, 0, "the query returned no row", q->ud);
	} else {
		int nc = PQnfields(q->result);
		const char **row = xcalloc((size_t)nc + 1, sizeof *row);
		for (int i = 0; i < nc; i++)
			row[i] = PQgetisnull(q->result, 0, i) ? NULL : PQgetvalue(q->result, 0, i);
		q->cb(row, nc, NULL, q->ud);
		free(row);
	}
	if (q->result)
		PQclear(q->result);
	if (q->pg)
		PQfinish(q->pg);
	free(q->sql);
	free(q);
}

static void io_step(query *q)
{
	if (!PQconsumeInput(q->pg)) {
		finish(q, PQerrorMessage(q->pg));
		return;
	}
	int f = PQflush(q->pg);
	if (f < 0) {
		finish(q, PQerrorMessage(q->pg));
		return;
	}
	while (!PQisBusy(q->pg)) {
		PGresult *r = PQgetResult(q->pg);
		if (!r) {
			finish(q, NULL);
			return;
		}
		ExecStatusType s = PQresultStatus(r);
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			char *m = xstrdup(PQresultErrorMessage(r));
			PQclear(r);
			finish(q, m);
			free(m);
			return;
		}
		if (!q->result && s == PGRES_TUPLES_OK)
			q->result = r;
		else
			PQclear(r);
	}
	fdwatch_set(q->watch, PQsocket(q->pg), UV_READABLE | (f == 1 ? UV_WRITABLE : 0));
}

static void connect_step(query *q)
{
	fdwatch_stop(q->watch); /* PQconnectPoll may close the socket */
	switch (PQconnectPoll(q->pg)) {
	case PGRES_POLLING_READING:
		fdwatch_set(q->watch, PQsocket(q->pg), UV_READABLE);
		return;
	case PGRES_POLLING_WRITING:
		fdwatch_set(q->watch, PQsocket(q->pg), UV_WRITABLE);
		return;
	case PGRES_POLLING_OK:
		if (!PQsendQuery(q->pg, q->sql)) {
			finish(q, PQerrorMessage(q->pg));
			return;
		}
		q->state = Q_QUERYING;
		io_step(q);
		return;
	default:
		finish(q, PQerrorMessage(q->pg));
		return;
	}
}

static void on_watch(fdwatch *w, int status, int events, void *ud)
{
	(void)w;
	(void)events;
	query *q = ud;
	if (status < 0 && q->state == Q_QUERYING) {
		finish(q, uv_strerror(status));
		return;
	}
	if (q->state == Q_CONNECTING)
		connect_step(q);
	else
		io_step(q);
}

static void on_timer(uv_timer_t *t)
{
	finish(t->data, "the query did not complete before the deadline");
}

int pgctl_query(uv_loop_t *loop, const char *conninfo, const char *sql, uint64_t timeout_ms,
                pgctl_query_cb cb, void *ud, char **err)
{
	query *q = xcalloc(1, sizeof *q);
	q->cb = cb;
	q->ud = ud;
	q->pg = PQconnectStart(conninfo);
	if (!q->pg || PQstatus(q->pg) == CONNECTION_BAD) {
		err_set(err, "pgctl: connect: %s", q->pg ? PQerrorMessage(q->pg) : "out of memory");
		if (q->pg)
			PQfinish(q->pg);
		free(q);
		return -1;
	}
	PQsetnonblocking(q->pg, 1);
	q->sql = xstrdup(sql);
	q->timer = xcalloc(1, sizeof *q->timer);
	uv_timer_init(loop, q->timer);
	q->timer->data = q;
	q->watch = fdwatch_new(loop, on_watch, q);
	uv_timer_start(q->timer, on_timer, timeout_ms, 0);
	fdwatch_set(q->watch, PQsocket(q->pg), UV_WRITABLE);
	return 0;
}

int pgctl_parse_lsn(const char *s, uint64_t *out)
{
	unsigned int hi, lo;
	int n = 0;
	if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

typedef struct state_req {
	pgctl_state_cb cb;
	pgctl_done_cb done;
	void *ud;
} state_req;

static uint64_t lsn_or_zero(const char *s)
{
	uint64_t v = 0;
	if (s && pgctl_parse_lsn(s, &v) != 0)
		v = 0;
	return v;
}

static void on_state(const char *const *row, int nc, const char *err, void *ud)
{
	state_req *r = ud;
	pgctl_state st;
	memset(&st, 0, sizeof st);
	if (!err && nc != 6)
		err = "unexpected answer to the state query";
	if (!err) {
		st.in_recovery = row[0] && row[0][0] == 't';
		st.receive_lsn = lsn_or_zero(row[2]);
		st.replay_lsn = lsn_or_zero(row[3]);
		st.lsn = st.in_recovery ? st.replay_lsn : lsn_or_zero(row[1]);
		const char *tli = row[5] ? row[5] : row[4];
		st.timeline = tli ? strtoll(tli, NULL, 10) : 0;
	}
	r->cb(err ? NULL : &st, err, r->ud);
	free(r);
}

/* A primary's timeline comes from its current WAL file name: pg_control_checkpoint() keeps the
 * previous timeline after a promotion until the next checkpoint completes (seconds later), which
 * left the member key on the old timeline and skipped the DCS history entry. */
#define STATE_SQL                                                                                  \
	"SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL "                     \
	"ELSE pg_current_wal_lsn() END, pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "     \
	"CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint()) "    \
	"ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "    \
	"(SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1)"

int pgctl_query_state(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ms, pgctl_state_cb cb,
                      void *ud, char **err)
{
	state_req *r = xcalloc(1, sizeof *r);
	r->cb = cb;
	r->ud = ud;
	if (pgctl_query(loop, conninfo, STATE_SQL, timeout_ms, on_state, r, err) != 0) {
		free(r);
		return -1;
	}
	return 0;
}

static void on_promote(const char *const *row, int nc, const char *err, void *ud)
{
	state_req *r = ud;
	if (!err && (nc != 1 || !row[0] || row[0][0] != 't'))
		err = "pg_promote() returned false";
	r->done(err == NULL, err, r->ud);
	free(r);
}

int pgctl_promote(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ms, pgctl_done_cb cb,
                  void *ud, char **err)
{
	state_req *r = xcalloc(1, sizeof *r);
	r->done = cb;
	r->ud = ud;
	if (pgctl_query(loop, conninfo, "SELECT pg_promote(wait => false)", timeout_ms, on_promote,
	                r, err) != 0) {
		free(r);
		return -1;
	}
	return 0;
}
