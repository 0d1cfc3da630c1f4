/* Queries to the local server over libpq, non-blocking on the loop: one-shot ones on a new
 * connection each, and the periodic state question on pgctl's kept connection. See pgctl.h. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgctl.h"
#include "pgsession.h"

typedef struct oneshot {
	pgsession *s;
	pgctl_query_cb cb;
	void *ud;
} oneshot;

static void on_oneshot(const char *const *row, int nc, const char *err, void *ud)
{
	oneshot *o = ud;
	o->cb(row, nc, err, o->ud);
	pgsession_free(o->s);
	free(o);
}

void pgctl_query(uv_loop_t *loop, const char *conninfo, const char *sql, uint64_t timeout_ms,
                 pgctl_query_cb cb, void *ud)
{
	oneshot *o = xcalloc(1, sizeof *o);
	o->s = pgsession_new(loop, conninfo);
	o->cb = cb;
	o->ud = ud;
	pgsession_query(o->s, sql, timeout_ms, on_oneshot, o);
}

int pgctl_ask(pgctl *pc, const char *conninfo, const char *sql, uint64_t timeout_ms,
              pgctl_query_cb cb, void *ud, char **err)
{
	pgsession *s = pgctl_session_(pc, conninfo, err);
	if (!s)
		return -1;
	pgsession_query(s, sql, timeout_ms, cb, ud);
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

/* A primary's timeline comes from its current WAL file name: pg_control_checkpoint() keeps the
 * previous timeline after a promotion until the next checkpoint completes (seconds later), which
 * left the member key on the old timeline and skipped the DCS history entry. */
#define STATE_SQL                                                                                  \
	"SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL "                     \
	"ELSE pg_current_wal_lsn() END, pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "     \
	"CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint()) "    \
	"ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "    \
	"(SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1)"
enum { STATE_COLUMNS = 6 };

static void on_state(const char *const *row, int nc, const char *err, void *ud)
{
	state_req *r = ud;
	pgctl_state st;
	memset(&st, 0, sizeof st);
	if (!err && nc < STATE_COLUMNS)
		err = "unexpected answer to the state query";
	if (!err) {
		st.in_recovery = row[0] && row[0][0] == 't';
		st.receive_lsn = lsn_or_zero(row[2]);
		st.replay_lsn = lsn_or_zero(row[3]);
		st.lsn = st.in_recovery ? st.replay_lsn : lsn_or_zero(row[1]);
		const char *tli = row[5] ? row[5] : row[4];
		st.timeline = tli ? strtoll(tli, NULL, 10) : 0;
	}
	if (err)
		r->cb(NULL, NULL, 0, err, r->ud);
	else
		r->cb(&st, row + STATE_COLUMNS, nc - STATE_COLUMNS, NULL, r->ud);
	free(r);
}

int pgctl_ask_state(pgctl *pc, const char *conninfo, const char *extra_sql, uint64_t timeout_ms,
                    pgctl_state_cb cb, void *ud, char **err)
{
	state_req *r = xcalloc(1, sizeof *r);
	r->cb = cb;
	r->ud = ud;
	/* Two one-row SELECTs side by side: one round trip, the state's columns first. */
	char *sql = extra_sql ? xasprintf("SELECT * FROM (" STATE_SQL ") s, (%s) x", extra_sql)
	                      : xstrdup(STATE_SQL);
	int rc = pgctl_ask(pc, conninfo, sql, timeout_ms, on_state, r, err);
	free(sql);
	if (rc != 0)
		free(r);
	return rc;
}

static void on_promote(const char *const *row, int nc, const char *err, void *ud)
{
	state_req *r = ud;
	if (!err && (nc != 1 || !row[0] || row[0][0] != 't'))
		err = "pg_promote() returned false";
	r->done(err == NULL, err, r->ud);
	free(r);
}

void pgctl_promote(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ms, pgctl_done_cb cb,
                   void *ud)
{
	state_req *r = xcalloc(1, sizeof *r);
	r->done = cb;
	r->ud = ud;
	pgctl_query(loop, conninfo, "SELECT pg_promote(wait => false)", timeout_ms, on_promote, r);
}
