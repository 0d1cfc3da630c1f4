/* GETs with read-from local: each is sent to the site's replicas together with a question about
 * the replica's position (pgpool's pre_stmt: same connection, asked just before the read's
 * snapshot is taken), and ryw_decide() says whether the answer may be served, whether to ask again
 * shortly (the replica is catching up; nothing is held open meanwhile), or whether the primary
 * answers instead. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "rywmap.h"
#include "store.h"
#include "worker_priv.h"

enum {
	POLL_MS = 2,          /* between two questions to a replica that is catching up */
	POSITION_TICKS = 5,   /* the primary's position is asked every 5 ticks (1 s) */
	READ_GRACE_MS = 1000, /* a replica that does not answer in read-wait + this: the primary */
};

ryw_pos reads_position(const PGresult *res)
{
	ryw_pos p = {0, 0};
	uint64_t lsn;
	uint32_t tli;
	if (!res || PQntuples(res) != 1 || PQnfields(res) < 2 || PQgetisnull(res, 0, 0) ||
	    PQgetisnull(res, 0, 1) || ryw_lsn_parse(PQgetvalue(res, 0, 0), &lsn) < 0 ||
	    ryw_walfile_tli(PQgetvalue(res, 0, 1), &tli) < 0)
		return p;
	p.tli = tli;
	p.lsn = lsn;
	return p;
}

/* The answer of STORE_REPLICA; false when it cannot be read. */
static bool replica_answer(const PGresult *res, ryw_replica *r)
{
	memset(r, 0, sizeof *r);
	if (!res || PQntuples(res) != 1 || PQnfields(res) < 2)
		return false;
	if (PQgetisnull(res, 0, 0))
		return true; /* not in recovery */
	if (ryw_lsn_parse(PQgetvalue(res, 0, 0), &r->lsn) < 0)
		return false;
	r->standby = true;
	if (!PQgetisnull(res, 0, 1)) {
		char *end;
		unsigned long long t = strtoull(PQgetvalue(res, 0, 1), &end, 10);
		if (*end == '\0' && t > 0 && t <= UINT32_MAX)
			r->tli = (uint32_t)t;
	}
	return true;
}

static ryw_input input_for(worker *w, const db_op *op, const ryw_replica *r)
{
	const hellod_settings *s = &w->snap->s;
	ryw_input in = {
	    .token = op->token,
	    .own = rywmap_need(w->sh->ryw, op->username),
	    .primary = rywmap_primary(w->sh->ryw),
	    .replica = r,
	    .wait_max_ms = (uint64_t)s->read_wait,
	    .max_lag = (uint64_t)s->read_max_lag,
	};
	if (op->first_answer_us)
		in.waited_ms = (clock_mono_us() - op->first_answer_us) / 1000u;
	return in;
}

/* The end of a GET's wait, if it waited. */
static void observe_wait(worker *w, const db_op *op)
{
	if (!op->waited)
		return;
	metrics_observe_us(&w->metrics->read_wait, clock_mono_us() - op->first_answer_us);
	metrics_set(&w->metrics->reads_waiting, --w->nwaiting);
}

static void to_primary(worker *w, db_op *op, ryw_reason why)
{
	metrics_inc(&w->metrics->reads_primary, 1);
	if (op->saw_behind)
		metrics_inc(&w->metrics->stale_reads_prevented, 1);
	observe_wait(w, op);
	log_debug("GET %s from the primary: %s", op->username, ryw_reason_text(why));
	worker_submit_primary(w, op);
}

static void on_read_done(pg_query *q, pgq_outcome outcome, const PGresult *res, const char *error);

static void ask(worker *w, db_op *op)
{
	uint64_t now = clock_mono_us();
	uint64_t deadline =
	    http_req_start_us(op->req) + (uint64_t)w->snap->s.request_deadline * 1000u;
	uint64_t mine = now + (uint64_t)(w->snap->s.read_wait + READ_GRACE_MS) * 1000u;
	op->q.ud = op;
	op->q.done = on_read_done;
	op->q.deadline_us = mine < deadline ? mine : deadline;
	op->q.stmt = STORE_GET;
	op->q.params[0] = op->username;
	op->q.nparams = 1;
	op->q.pre_stmt = STORE_REPLICA;
	op->q.post_stmt = NULL;
	pgpool_submit(w->rpool, &op->q);
}

static void on_poll(uv_timer_t *t)
{
	worker *w = t->data;
	db_op *list = w->waiting;
	w->waiting = NULL;
	while (list) {
		db_op *op = list;
		list = op->next_wait;
		op->next_wait = NULL;
		ask(w, op);
	}
}

static void wait_replay(worker *w, db_op *op)
{
	if (!op->waited)
		metrics_set(&w->metrics->reads_waiting, ++w->nwaiting);
	op->waited = true;
	op->saw_behind = true;
	op->next_wait = w->waiting;
	w->waiting = op;
	if (!uv_is_active((uv_handle_t *)&w->poll))
		uv_timer_start(&w->poll, on_poll, POLL_MS, 0);
}

static void on_read_done(pg_query *q, pgq_outcome outcome, const PGresult *res, const char *error)
{
	db_op *op = q->ud;
	worker *w = op->w;
	ryw_replica r;
	if (outcome != PGQ_OK || !replica_answer(q->pre_res, &r)) {
		log_debug(
		    "GET %s: no usable answer from the replica (%s); reading from the primary",
		    op->username, error ? error : "its position is unreadable");
		to_primary(w, op, RYW_NOT_STANDBY);
		return;
	}
	if (!op->first_answer_us)
		op->first_answer_us = clock_mono_us();
	ryw_input in = input_for(w, op, &r);
	ryw_reason why;
	switch (ryw_decide(&in, &why)) {
	case RYW_LOCAL:
		metrics_inc(&w->metrics->reads_local, 1);
		if (op->waited)
			metrics_inc(&w->metrics->reads_after_wait, 1);
		if (op->saw_behind)
			metrics_inc(&w->metrics->stale_reads_prevented, 1);
		observe_wait(w, op);
		worker_answer_get(w, op, res);
		free(op);
		break;
	case RYW_WAIT:
		wait_replay(w, op);
		break;
	case RYW_PRIMARY:
	case RYW_ASK:
		if (why == RYW_REPLICA_TIMELINE && r.tli == 0 && !w->warned_tli) {
			w->warned_tli = true;
			log_warning(
			    "the replica does not show the timeline it receives on "
			    "(pg_stat_wal_receiver.received_tli needs pg_read_all_stats, and a "
			    "WAL receiver): reads go to the primary");
		}
		if (why == RYW_BEHIND)
			op->saw_behind = true;
		to_primary(w, op, why);
		break;
	}
}

void reads_get(worker *w, db_op *op)
{
	ryw_input in = input_for(w, op, NULL);
	ryw_reason why;
	if (ryw_decide(&in, &why) == RYW_PRIMARY) {
		to_primary(w, op, why);
		return;
	}
	if (!pgpool_is_ready(w->rpool)) {
		metrics_inc(&w->metrics->reads_primary, 1);
		log_debug("GET %s from the primary: no replica connection is ready", op->username);
		worker_submit_primary(w, op);
		return;
	}
	ask(w, op);
}

static void on_position(pg_query *q, pgq_outcome outcome, const PGresult *res, const char *error)
{
	(void)error;
	worker *w = q->ud;
	w->position_busy = false;
	if (outcome == PGQ_OK)
		rywmap_observe(w->sh->ryw, reads_position(res));
}

void reads_tick(worker *w)
{
	if (w->ticks++ % POSITION_TICKS != 0 || w->position_busy || w->draining)
		return;
	w->position_busy = true;
	w->position = (pg_query){
	    .stmt = STORE_POSITION,
	    .deadline_us = clock_mono_us() + (uint64_t)POSITION_TICKS * 200u * 1000u,
	    .done = on_position,
	    .ud = w,
	};
	pgpool_submit(w->pool, &w->position);
}

void reads_start(worker *w)
{
	const hellod_settings *s = &w->snap->s;
	pgpool_config pc = {
	    .conninfo = s->read_database,
	    .target_session_attrs = "prefer-standby",
	    .application_name = "hellod",
	    .size = (size_t)s->db_pool_size,
	    .connect_timeout_ms = 3000,
	    .statements = store_read_statements,
	    .nstatements = store_read_nstatements,
	};
	w->rpool = pgpool_new(&w->loop, &pc);
	uv_timer_init(&w->loop, &w->poll);
	w->poll.data = w;
}

void reads_reload(worker *w, const char *old_conninfo)
{
	const char *now = w->snap->s.read_database;
	if (strcmp(old_conninfo, now) != 0) {
		log_info("read-database changed; reconnecting to the replicas");
		pgpool_set_conninfo(w->rpool, now);
	}
}

void reads_stop(worker *w)
{
	if (!w->rpool)
		return;
	pgpool *rp = w->rpool;
	w->rpool = NULL;
	pgpool_free(rp); /* reads in flight go to the primary's pool */
	uv_timer_stop(&w->poll);
	for (db_op *op = w->waiting, *next; op; op = next) {
		next = op->next_wait;
		to_primary(w, op, RYW_BEHIND);
	}
	w->waiting = NULL;
	uv_close((uv_handle_t *)&w->poll, NULL);
}
