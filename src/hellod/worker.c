#include "worker.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "httpd.h"
#include "listener.h"
#include "log.h"
#include "pgpool.h"
#include "rywmap.h"
#include "store.h"
#include "worker_priv.h"

enum { TICK_MS = 200 };

static void reply(worker *w, http_req *r, api_route route, unsigned status, const char *ctype,
                  const char *body, const char *const *headers)
{
	uint64_t us = clock_mono_us() - http_req_start_us(r);
	hmetrics_request(w->metrics, route, status, us);
	if (w->snap->s.access_log) {
		char peer[64];
		listener_addr_text(http_req_peer(r), peer, sizeof peer);
		log_info("access: %s %s %.200s %u %.3fms", peer, http_req_method(r),
		         http_req_path(r), status, (double)us / 1000.0);
	}
	http_respond(r, status, ctype, body, body ? strlen(body) : 0, headers);
}

static void reply_error(worker *w, http_req *r, api_route route, unsigned status,
                        const char *message, const char *const *headers)
{
	char *body = http_error_body(message);
	reply(w, r, route, status, "application/json", body, headers);
	free(body);
}

void worker_answer_get(worker *w, db_op *op, const PGresult *res)
{
	if (PQntuples(res) == 0) {
		char *m = xasprintf("no user named %s", op->username);
		reply_error(w, op->req, op->route, 404, m, NULL);
		free(m);
		return;
	}
	const char *v = PQgetvalue(res, 0, 0);
	bd_date dob;
	if (bd_parse(v, strlen(v), &dob) < 0) {
		log_error("user %s has a stored date '%s' this service cannot read", op->username,
		          v);
		metrics_inc(&w->metrics->db_errors, 1);
		reply_error(w, op->req, op->route, 500, "stored date is unreadable", NULL);
		return;
	}
	char *body = api_hello_message(op->username, dob, shared_today(w->sh));
	reply(w, op->req, op->route, 200, "application/json", body, NULL);
	free(body);
}

/* A PUT committed: its token (the position after the commit) answers it, and this instance
 * remembers it for the user's next reads. */
static void answer_put(worker *w, db_op *op)
{
	ryw_pos pos = reads_position(op->q.post_res);
	if (pos.tli == 0) {
		log_error("PUT %s: the position after the commit is unreadable; answered without "
		          "a consistency token; from now on every read goes to the primary",
		          op->username);
		rywmap_lost(w->sh->ryw);
		reply(w, op->req, op->route, 204, NULL, NULL, NULL);
		return;
	}
	rywmap_note(w->sh->ryw, op->username, pos);
	char token[RYW_TOKEN_MAX];
	ryw_token_format(pos, token);
	const char *const headers[] = {RYW_TOKEN_HEADER, token, NULL};
	reply(w, op->req, op->route, 204, NULL, NULL, headers);
}

static void on_db_done(pg_query *q, pgq_outcome outcome, const PGresult *res, const char *error)
{
	db_op *op = q->ud;
	worker *w = op->w;
	static const char *const retry_after[] = {"Retry-After", "1", NULL};
	switch (outcome) {
	case PGQ_OK:
		if (op->is_put)
			answer_put(w, op);
		else
			worker_answer_get(w, op, res);
		break;
	case PGQ_ERROR:
		log_error("database error for %s %s: %s", op->is_put ? "PUT" : "GET", op->username,
		          error);
		metrics_inc(&w->metrics->db_errors, 1);
		reply_error(w, op->req, op->route, 500, "database error", NULL);
		break;
	case PGQ_TIMEOUT:
	case PGQ_CANCELLED: {
		metrics_inc(&w->metrics->db_timeouts, 1);
		char *m = xasprintf("database unavailable: %s", error ? error : "no answer");
		reply_error(w, op->req, op->route, 503, m, retry_after);
		free(m);
		break;
	}
	}
	free(op);
}

void worker_submit_primary(worker *w, db_op *op)
{
	op->q.ud = op;
	op->q.done = on_db_done;
	op->q.deadline_us =
	    http_req_start_us(op->req) + (uint64_t)w->snap->s.request_deadline * 1000u;
	op->q.params[0] = op->username;
	op->q.pre_stmt = NULL;
	op->q.post_stmt = NULL;
	if (op->is_put) {
		op->q.stmt = STORE_PUT;
		op->q.params[1] = op->dob;
		op->q.nparams = 2;
		op->q.post_stmt = STORE_POSITION;
	} else {
		op->q.stmt = STORE_GET;
		op->q.nparams = 1;
	}
	pgpool_submit(w->pool, &op->q);
}

static void submit(worker *w, http_req *r, const api_plan *plan)
{
	db_op *op = xcalloc(1, sizeof *op);
	op->w = w;
	op->req = r;
	op->route = plan->route;
	op->is_put = plan->action == API_PUT_USER;
	op->token = plan->token;
	memcpy(op->username, plan->username, sizeof op->username);
	if (op->is_put)
		bd_format(plan->dob, op->dob);
	if (!op->is_put && w->rpool)
		reads_get(w, op);
	else
		worker_submit_primary(w, op);
}

static void on_request(http_req *r, void *ud)
{
	worker *w = ud;
	size_t body_len;
	const char *body = http_req_body(r, &body_len);
	api_request ar = {
	    .method = http_req_method(r),
	    .path = http_req_path(r),
	    .content_type = http_req_header(r, "Content-Type"),
	    .body = body,
	    .body_len = body_len,
	    .body_too_large = http_req_too_large(r),
	    .max_body = (size_t)w->snap->s.max_body,
	    .today = shared_today(w->sh),
	    .token = http_req_header(r, RYW_TOKEN_HEADER),
	};
	api_plan plan;
	api_plan_request(&ar, &plan);
	switch (plan.action) {
	case API_ANSWER: {
		const char *const allow[] = {"Allow", plan.allow, NULL};
		reply(w, r, plan.route, plan.status, "application/json", plan.body,
		      plan.allow ? allow : NULL);
		break;
	}
	case API_HEALTHZ:
		reply(w, r, plan.route, 200, "application/json", "{\"status\":\"ok\"}", NULL);
		break;
	case API_READYZ:
		if (pgpool_is_ready(w->pool) && !w->draining) {
			reply(w, r, plan.route, 200, "application/json", "{\"status\":\"ready\"}",
			      NULL);
		} else {
			const char *why =
			    w->draining ? "shutting down" : pgpool_last_error(w->pool);
			char *m =
			    xasprintf("not ready: %s", *why ? why : "connecting to the database");
			reply_error(w, r, plan.route, 503, m, NULL);
			free(m);
		}
		break;
	case API_METRICS: {
		strbuf out = STRBUF_INIT;
		hellod_metrics *all[64];
		size_t n = w->sh->nworkers < 64 ? w->sh->nworkers : 64;
		for (size_t i = 0; i < n; i++)
			all[i] = &w->sh->metrics[i];
		hmetrics_render(&out, all, n);
		reply(w, r, plan.route, 200, "text/plain; version=0.0.4", out.data, NULL);
		sb_free(&out);
		break;
	}
	case API_GET_USER:
	case API_PUT_USER:
		submit(w, r, &plan);
		break;
	}
	api_plan_free(&plan);
}

static bool allow_peer(const struct sockaddr *peer, void *ud)
{
	worker *w = ud;
	if (cidr_list_match(&w->snap->allow, peer))
		return true;
	metrics_inc(&w->metrics->refused_peers, 1);
	if (log_enabled(LOG_DEBUG)) {
		char text[64];
		listener_addr_text(peer, text, sizeof text);
		log_debug("refused connection from %s: not in the allow-list", text);
	}
	return false;
}

static void publish_pool_stats(worker *w)
{
	pgpool_stats st;
	pgpool_stats_get(w->pool, &st);
	hellod_metrics *m = w->metrics;
	metrics_set(&m->pool_connections, st.connections);
	metrics_set(&m->pool_ready, st.ready);
	metrics_set(&m->pool_connecting, st.connecting);
	metrics_set(&m->pool_waiting, st.waiting);
	metrics_set(&m->pool_inflight, st.inflight);
	metrics_set(&m->db_retries, st.retries);
	metrics_set(&m->db_connects, st.connects);
	metrics_set(&m->db_connect_failures, st.connect_failures);
	if (w->rpool) {
		pgpool_stats_get(w->rpool, &st);
		metrics_set(&m->read_pool_ready, st.ready);
	}
}

static void finish(worker *w)
{
	log_info("stopped");
	httpd_free(w->http);
	w->http = NULL;
	reads_stop(w);
	pgpool_free(w->pool);
	w->pool = NULL;
	uv_close((uv_handle_t *)&w->tick, NULL);
	uv_close((uv_handle_t *)&w->wake, NULL);
}

static void on_tick(uv_timer_t *t)
{
	worker *w = t->data;
	publish_pool_stats(w);
	if (w->rpool)
		reads_tick(w);
	if (!w->draining)
		return;
	size_t pending = httpd_pending(w->http), conns = httpd_connections(w->http);
	bool late = clock_mono_ms() >= w->drain_deadline_ms;
	/* Answered requests first, always (they are bounded by the request deadline); then wait for
	 * clients to go, up to the drain timeout. */
	if (pending == 0 && (conns == 0 || late)) {
		if (conns)
			log_warning("drain timeout: closing %zu idle connections", conns);
		finish(w);
	}
}

static void take_snapshot(worker *w)
{
	hellod_snapshot *snap = snapshot_acquire(w->sh);
	hellod_snapshot *old = w->snap;
	w->snap = snap;
	if (old && strcmp(old->s.database, snap->s.database) != 0) {
		log_info("database connection string changed; reconnecting");
		pgpool_set_conninfo(w->pool, snap->s.database);
	}
	if (old && w->rpool)
		reads_reload(w, old->s.read_database);
	snapshot_release(old);
}

static void on_wake(uv_async_t *a)
{
	worker *w = a->data;
	if (atomic_exchange(&w->want_reload, false) && !w->draining)
		take_snapshot(w);
	if (atomic_load(&w->want_stop) && !w->draining) {
		w->draining = true;
		w->drain_deadline_ms = clock_mono_ms() + (uint64_t)w->snap->s.drain_timeout;
		log_info("draining: %zu requests in flight, %zu connections",
		         httpd_pending(w->http), httpd_connections(w->http));
		httpd_drain(w->http);
		on_tick(&w->tick);
	}
}

static void thread_main(void *arg)
{
	worker *w = arg;
	char ctx[32];
	snprintf(ctx, sizeof ctx, "hellod worker=%d", w->id);
	log_set_context(ctx);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	snapshot_release(w->snap);
	w->snap = NULL;
	atomic_store(&w->exited, true);
	uv_async_send(w->sh->worker_exited);
}

worker *worker_start(int id, hellod_shared *sh, hellod_metrics *metrics, char **err)
{
	worker *w = xcalloc(1, sizeof *w);
	w->id = id;
	w->sh = sh;
	w->metrics = metrics;
	uv_loop_init(&w->loop);
	w->snap = snapshot_acquire(sh);
	const hellod_settings *s = &w->snap->s;

	httpd_config hc = {
	    .fds = sh->fds,
	    .nfds = sh->nfds,
	    .max_body = (size_t)s->max_body,
	    .max_header = (size_t)s->max_header,
	    .idle_timeout_s = (unsigned)((s->idle_timeout + 999) / 1000),
	    .max_connections = (unsigned)s->max_connections,
	    .tls_cert_pem = sh->tls_cert_pem,
	    .tls_key_pem = sh->tls_key_pem,
	    .on_request = on_request,
	    .allow_peer = allow_peer,
	    .ud = w,
	};
	w->http = httpd_new(&w->loop, &hc, err);
	if (!w->http) {
		snapshot_release(w->snap);
		uv_run(&w->loop, UV_RUN_NOWAIT);
		uv_loop_close(&w->loop);
		free(w);
		return NULL;
	}
	char ctx[32];
	snprintf(ctx, sizeof ctx, "hellod worker=%d", id);
	log_set_context(ctx); /* the pool logs its first connection attempts from here */
	pgpool_config pc = {
	    .conninfo = s->database,
	    .target_session_attrs = "read-write",
	    .application_name = "hellod",
	    .size = (size_t)s->db_pool_size,
	    .connect_timeout_ms = 3000,
	    .setup_sql = store_setup_sql,
	    .statements = store_statements,
	    .nstatements = store_nstatements,
	};
	w->pool = pgpool_new(&w->loop, &pc);
	if (hellod_reads_local(s))
		reads_start(w);
	log_set_context("hellod");

	uv_timer_init(&w->loop, &w->tick);
	w->tick.data = w;
	uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
	uv_async_init(&w->loop, &w->wake, on_wake);
	w->wake.data = w;
	if (uv_thread_create(&w->thread, thread_main, w) != 0) {
		err_set(err, "cannot start worker thread %d", id);
		/* The process exits on this error; the loop's resources go with it. */
		return NULL;
	}
	return w;
}

void worker_reload(worker *w)
{
	atomic_store(&w->want_reload, true);
	uv_async_send(&w->wake);
}

void worker_stop(worker *w)
{
	atomic_store(&w->want_stop, true);
	uv_async_send(&w->wake);
}

bool worker_exited(const worker *w)
{
	return atomic_load(&w->exited);
}

void worker_join(worker *w)
{
	uv_thread_join(&w->thread);
	uv_loop_close(&w->loop);
	free(w);
}
