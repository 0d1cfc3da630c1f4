#include "pgpool.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "pgpool_priv.h"

enum {
	SWEEP_MS = 50,
};

int pgpool_check_conninfo(const char *conninfo, char **err)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	if (!opts) {
		char *m = pgpool_trim_message(msg ? msg : "out of memory");
		err_set(err, "invalid connection string: %s", m);
		free(m);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(opts);
	return 0;
}

char *pgpool_conninfo_value(const char *conninfo, const char *key)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	char *out = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword && !out; o++)
		if (strcmp(o->keyword, key) == 0 && o->val && *o->val)
			out = xstrdup(o->val);
	PQconninfoFree(opts);
	return out;
}

static bool conninfo_sets(const char *conninfo, const char *key)
{
	char *v = pgpool_conninfo_value(conninfo, key);
	bool found = v != NULL;
	free(v);
	return found;
}

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

void pgpool_requeue_front(pgpool *p, pg_query *head, pg_query *last, size_t n)
{
	last->next = p->wait_head;
	if (!p->wait_head)
		p->wait_tail = last;
	p->wait_head = head;
	p->nwaiting += n;
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

void pgpool_dispatch(pgpool *p)
{
	if (p->dispatching || p->closing)
		return;
	p->dispatching = true;
	bool sent = false;
	conn *c;
	while (p->wait_head && (c = least_loaded(p))) {
		pgpool_conn_send(c, wait_pop(p));
		sent = true;
	}
	if (sent) {
		for (size_t i = 0; i < p->cfg.size; i++)
			pgpool_conn_flush(&p->conns[i]);
	}
	p->dispatching = false;
}

static void on_batch(uv_prepare_t *h)
{
	uv_prepare_stop(h);
	pgpool_dispatch(h->data);
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
			for (size_t k = 0; k < e->nafter;) {
				if (e->after[k]->deadline_us > now) {
					k++;
					continue;
				}
				pg_query *q = pgpool_entry_drop_after(e, k);
				q->next = expired;
				expired = q;
				stuck = true;
			}
		}
		if (stuck && c->state == C_READY)
			pgpool_conn_fail(c, "a query got no answer before its deadline");
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
		pgpool_conn_start(c);
	}
	return p;
}

void pgpool_submit(pgpool *p, pg_query *q)
{
	q->retries = 0;
	q->pre_res = NULL;
	q->post_res = NULL;
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
			pgpool_conn_fail(c, NULL);
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
			out->inflight += (e->q ? 1 : 0) + e->nafter;
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
		for (entry *e = c->head; e; e = e->next) {
			if (e->q) {
				pg_query *q = e->q;
				e->q = NULL;
				q->done(q, PGQ_CANCELLED, NULL, "shutting down");
			}
			while (e->nafter) {
				pg_query *q = pgpool_entry_drop_after(e, 0);
				q->done(q, PGQ_CANCELLED, NULL, "shutting down");
			}
		}
		pgpool_conn_fail(c, NULL);
		free(c->setup_error);
		c->timer.data = p;
		uv_close((uv_handle_t *)&c->timer, on_closed);
	}
	for (pg_query *q; (q = wait_pop(p));)
		q->done(q, PGQ_CANCELLED, NULL, "shutting down");
	uv_close((uv_handle_t *)&p->sweep, on_closed);
	uv_close((uv_handle_t *)&p->batch, on_closed);
}
