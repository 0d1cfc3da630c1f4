/* The backup runner's loop: the runner key, the record, what to run next (agent_runner.h). Not
 * part of the HA pass: the plan decides roles, and nothing here changes one; this reads the view
 * the pass reads and writes only tandem's backup keys. */
#include "agent_runner.h"
#include "agent_pgbr_server.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backup_choice.h"
#include "backup_options.h"
#include "clock.h"
#include "log.h"
#include "strbuf.h"

enum { STEP_MS = 1000 };

static void step(agent_runner *b);

static void on_timer(uv_timer_t *t)
{
	step(t->data);
}

agent_runner *agent_runner_new(agent *a)
{
	agent_runner *b = xcalloc(1, sizeof *b);
	b->a = a;
	uv_timer_init(a->loop, &b->timer);
	b->timer.data = b;
	b->finished.verify = b->run.verify = b->starting.verify = -1;
	return b;
}

void agent_runner_start(agent *a)
{
	agent_runner *b = a->runner;
	if (!b || !tandemd_backup_on(a->s))
		return;
	b->timer_on = true;
	uv_timer_start(&b->timer, on_timer, STEP_MS, STEP_MS);
}

void agent_runner_stop(agent *a)
{
	agent_runner *b = a->runner;
	if (!b)
		return;
	uv_timer_stop(&b->timer);
	b->timer_on = false;
	if (b->job) {
		log_info("backup %s: stopping with tandemd; the next runner reruns it", b->run.id);
		b->lost = true;
		job_cancel(b->job);
	}
}

static void free_requests(agent_runner *b)
{
	for (size_t i = 0; i < b->nreq; i++) {
		free(b->req[i].id);
		free(b->req[i].by);
	}
	b->nreq = 0;
}

static void on_closed(uv_handle_t *h)
{
	agent_runner *b = h->data;
	b->closed = true;
	if (!b->job) /* else the job's end frees it */
		free(b);
}

void agent_runner_free(agent *a)
{
	agent_runner *b = a->runner;
	if (!b)
		return;
	a->runner = NULL;
	agent_runner_stop(a);
	b->a = NULL;
	backup_run_free(&b->finished);
	backup_run_free(&b->starting);
	free_requests(b);
	free(b->state_err_logged);
	if (!b->job) {
		backup_run_free(&b->run);
		free(b->leader_at_start);
		b->leader_at_start = NULL;
	}
	uv_close((uv_handle_t *)&b->timer, on_closed);
}

/* ---- the REST API's request ---- */

int agent_runner_request(agent *a, const char *type, const char *by, char **id, char **err)
{
	agent_runner *b = a->runner;
	backup_type t;
	if (!b || !tandemd_backup_on(a->s)) {
		err_set(err, "backups are off on %s: backup.pgbackrest names no repository",
		        a->s->name);
		return -1;
	}
	if (backup_type_parse(type ? type : "incr", &t) != 0) {
		err_set(err, "type '%s': full, diff or incr", type);
		return -1;
	}
	if (agent_is_standby_cluster(a)) {
		err_set(err,
		        "%s is in a standby cluster, which takes no backups (it has no primary): "
		        "its repository begins when the site is promoted",
		        a->s->name);
		return -1;
	}
	if (b->nreq == BACKUP_MAX_REQUESTS) {
		err_set(err, "%d requests wait to be recorded already", BACKUP_MAX_REQUESTS);
		return -1;
	}
	int64_t now = clock_unix_ms();
	*id = xasprintf("%" PRId64 "-%s-%u", now, a->s->name, ++b->seq);
	b->req[b->nreq++] = (backup_request){xstrdup(*id), t, now, by ? xstrdup(by) : NULL};
	uv_timer_start(&b->timer, on_timer, 1, STEP_MS); /* record it now */
	return 0;
}

/* ---- writing the record ---- */

typedef enum write_kind { W_PLAIN, W_REQUESTS, W_FINISHED, W_START } write_kind;

typedef struct write_ctx {
	agent_runner *b;
	write_kind kind;
	size_t nreq;
} write_ctx;

static void on_written(dcs_result r, const char *error, void *ud)
{
	write_ctx *w = ud;
	agent_runner *b = w->b;
	b->dcs_busy = false;
	if (r != DCS_OK) {
		if (r == DCS_FAILED)
			log_warning("backup: writing the backup key: %s", error ? error : "failed");
		if (w->kind == W_START) {
			backup_run_free(&b->starting);
			b->has_starting = false;
		}
		free(w);
		return; /* LOST: someone wrote first; the next step reads theirs */
	}
	switch (w->kind) {
	case W_REQUESTS:
		for (size_t i = 0; i < w->nreq; i++) {
			log_info("backup: %s backup %s requested by %s recorded",
			         backup_type_name(b->req[i].type), b->req[i].id,
			         b->req[i].by ? b->req[i].by : "-");
			free(b->req[i].id);
			free(b->req[i].by);
		}
		memmove(b->req, b->req + w->nreq, (b->nreq - w->nreq) * sizeof *b->req);
		b->nreq -= w->nreq;
		break;
	case W_FINISHED:
		backup_run_free(&b->finished);
		b->has_finished = false;
		break;
	case W_START: {
		backup_run_free(&b->run);
		b->run = b->starting;
		b->has_starting = false;
		memset(&b->starting, 0, sizeof b->starting);
		if (b->a->stopping) { /* recorded as running: the next runner runs it */
			backup_run_free(&b->run);
			break;
		}
		backup_state st;
		const dcs_view *v = dcs_get_view(b->a->dcs);
		if (backup_state_parse(v->backup, v->backup ? strlen(v->backup) : 0, &st, NULL) !=
		    0)
			memset(&st, 0, sizeof st);
		agent_runner_job_start(b, &st);
		backup_state_free(&st);
		break;
	}
	case W_PLAIN:
		break;
	}
	free(w);
}

static void write_state(agent_runner *b, const backup_state *st, int64_t mod_revision,
                        write_kind kind, size_t nreq)
{
	char *text = backup_state_encode(st);
	write_ctx *w = xcalloc(1, sizeof *w);
	*w = (write_ctx){b, kind, nreq};
	b->dcs_busy = true;
	dcs_put_key_if(b->a->dcs, "backup", text, mod_revision, on_written, w);
	free(text);
}

/* ---- the runner key ---- */

static void on_key(dcs_result r, const char *error, void *ud)
{
	agent_runner *b = ud;
	b->dcs_busy = false;
	if (r == DCS_FAILED)
		log_warning("backup: the runner key: %s", error ? error : "failed");
}

/* "postgres://HOST:PORT/..." -> HOST (caller frees); NULL when unreadable. */
static char *url_host(const char *url)
{
	const char *p = url ? strstr(url, "://") : NULL;
	if (!p)
		return NULL;
	p += 3;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		return e ? xstrndup(p + 1, (size_t)(e - p - 1)) : NULL;
	}
	size_t n = strcspn(p, ":/");
	return n ? xstrndup(p, n) : NULL;
}

static bool same_text(const char *x, const char *y)
{
	return x && y && strcmp(x, y) == 0;
}

/* The members as the choice sees them. `reaches_primary`: the leader described its data
 * directory in the record, and the member's address is the leader's (one host) or the leader
 * publishes pgBackRest's TLS server (backup.tls_server.*: set on every member or none, so that
 * every member's choice agrees). */
static backup_candidate *candidates(agent *a, const backup_state *st, size_t *n)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	const dcs_member *lead = v->leader ? dcs_view_member(v, v->leader) : NULL;
	char *lead_host = lead ? url_host(lead->conn_url) : NULL;
	bool described = lead && same_text(st->primary.member, lead->name);
	bool tls = described && st->primary.tls_host && st->primary.tls_port;
	backup_candidate *c = xcalloc(v->nmembers + 1, sizeof *c);
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		char *host = url_host(m->conn_url);
		c[i] = (backup_candidate){
		    .name = m->name,
		    .leader = lead == m &&
		              (same_text(m->role, "primary") || same_text(m->role, "master")),
		    .running = same_text(m->state, "running"),
		    .replica = same_text(m->role, "replica"),
		    .streaming = same_text(m->replication_state, "streaming"),
		    .lag_known = lead && lead->has_lsn && m->has_lsn,
		    .reaches_primary = tls || (described && same_text(host, lead_host))};
		if (c[i].lag_known)
			c[i].lag_bytes = lead->xlog_location > m->xlog_location
			                     ? lead->xlog_location - m->xlog_location
			                     : 0;
		free(host);
	}
	free(lead_host);
	*n = v->nmembers;
	return c;
}

/* ---- the leader's description of its PostgreSQL ---- */

/* Both absent, or the same text. */
static bool eq(const char *x, const char *y)
{
	return (!x && !y) || same_text(x, y);
}

static void set_text(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

static bool describe_primary(agent *a, backup_state *st)
{
	const agent_status *s = agent_status_get(a);
	if (!s->holds_leader_key || strcmp(s->role, "primary") != 0)
		return false;
	char *host = url_host(a->conn_url), *tls_port = agent_pgbr_server_port(a);
	const char *tls_host = tls_port ? a->s->backup_tls_server_host : NULL;
	backup_primary want = {(char *)a->s->name, host,    a->s->data_dir, a->port, a->sockdir,
	                       (char *)tls_host,   tls_port};
	backup_primary *p = &st->primary;
	bool same = same_text(p->member, want.member) && eq(p->host, want.host) &&
	            same_text(p->data_dir, want.data_dir) && eq(p->port, want.port) &&
	            eq(p->socket_dir, want.socket_dir) && eq(p->tls_host, want.tls_host) &&
	            eq(p->tls_port, want.tls_port);
	if (!same) {
		set_text(&p->member, want.member);
		set_text(&p->host, want.host);
		set_text(&p->data_dir, want.data_dir);
		set_text(&p->port, want.port);
		set_text(&p->socket_dir, want.socket_dir);
		set_text(&p->tls_host, want.tls_host);
		set_text(&p->tls_port, want.tls_port);
	}
	free(host);
	free(tls_port);
	return !same;
}

/* The leader takes the key while replicas run: say why (once per taking). */
static void say_why_leader(agent *a, const backup_candidate *c, size_t n,
                           const backup_choice_config *cfg)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].name, a->s->name) == 0 && !c[i].leader)
			return; /* a replica takes it: nothing to explain */
	for (size_t i = 0; i < n; i++) {
		backup_candidate r = c[i];
		if (strcmp(r.name, a->s->name) == 0 || !r.replica || !r.running ||
		    r.reaches_primary)
			continue;
		if (!cfg->from_standby) {
			log_info("backup: backups run on the leader (backup.from_standby is off)");
			return;
		}
		r.reaches_primary = true;
		if (backup_healthy_replica(&r, cfg)) {
			log_warning(
			    "backup: replica %s cannot reach the primary's data directory (another "
			    "host, and the leader publishes no pgBackRest TLS server: set "
			    "backup.tls_server.* and backup.tls_client.* on every member): backups "
			    "run on the leader",
			    r.name);
			return;
		}
	}
}

/* ---- what to run ---- */

static const backup_schedule_kind kinds[BACKUP_NTYPES] = {
    BACKUP_SCHEDULE_FULL, BACKUP_SCHEDULE_DIFF, BACKUP_SCHEDULE_INCR};

/* The latest instant <= now at which each schedule fired after the record's mark (0: none). */
static void latest_fires(agent *a, const backup_state *st, int64_t now_s,
                         int64_t out[BACKUP_NTYPES])
{
	for (int t = 0; t < BACKUP_NTYPES; t++) {
		out[t] = 0;
		if (st->fired_s[t] &&
		    tandemd_backup_last(a->s, kinds[t], st->fired_s[t], now_s, &out[t]) != 0)
			out[t] = 0;
	}
}

static void start_run(agent_runner *b, backup_state *st, const backup_due *d, int64_t now_ms)
{
	agent *a = b->a;
	/* d->request may point into st->running, which the interrupted run's record frees. */
	char *request = d->request ? xstrdup(d->request) : NULL;
	if (st->has_running) { /* left by a runner that died or lost its lease */
		backup_run old;
		backup_run_copy(&old, &st->running);
		free(old.status);
		old.status = xstrdup("interrupted");
		old.end_ms = now_ms;
		log_warning("backup: %s backup %s by %s was interrupted: running it again",
		            backup_type_name(old.type), old.id ? old.id : "?",
		            old.runner ? old.runner : "?");
		backup_state_finish(st, &old);
		backup_run_free(&old);
		st->has_running = false; /* finish cleared it when its id matched */
		backup_run_free(&st->running);
	}
	backup_run r = {.id = xasprintf("%" PRId64 "-%s-%u", now_ms, a->s->name, ++b->seq),
	                .type = d->type,
	                .runner = xstrdup(a->s->name),
	                .reason = xstrdup(d->reason),
	                .request = request,
	                .start_ms = now_ms,
	                .status = xstrdup("running"),
	                .verify = -1};
	if (request)
		backup_state_drop_request(st, request);
	backup_run_copy(&st->running, &r);
	st->has_running = true;
	backup_run_free(&b->starting);
	b->starting = r;
	b->has_starting = true;
}

/* backup.schedule.drill: the runner starts a restore drill on its own host (a healthy replica,
 * when there is one) each time the schedule fires after it became the runner. The mark is in
 * memory: a drill due while the runner changes hands may be skipped (the next one runs). */
static void scheduled_drill(agent_runner *b, int64_t now_s)
{
	agent *a = b->a;
	if (!b->drill_mark_s) {
		b->drill_mark_s = now_s;
		return;
	}
	int64_t last;
	if (tandemd_backup_last(a->s, BACKUP_SCHEDULE_DRILL, b->drill_mark_s, now_s, &last) != 0)
		return;
	b->drill_mark_s = last;
	char *id = NULL, *err = NULL;
	unsigned status = 0;
	if (agent_drill_start(a, &id, &status, &err) == 0)
		log_info("drill %s: started on the schedule (backup.schedule.drill)", id);
	else
		log_warning("drill: the scheduled drill did not start: %s", err ? err : "?");
	free(id);
	free(err);
}

/* ---- one step ---- */

static bool lease_ok(agent *a)
{
	return a->lease_expiry_ms > clock_mono_ms() + a->hc.retry_timeout_ms;
}

static bool runner_is_us(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	return same_text(v->backup_runner, a->s->name) &&
	       v->backup_runner_lease == dcs_lease_id(a->dcs) && dcs_lease_id(a->dcs);
}

static void read_state(agent_runner *b, backup_state *st)
{
	const dcs_view *v = dcs_get_view(b->a->dcs);
	char *err = NULL;
	if (backup_state_parse(v->backup, v->backup ? strlen(v->backup) : 0, st, &err) != 0) {
		if (!same_text(b->state_err_logged, err))
			log_warning("backup: %s; it is rewritten from scratch", err);
		free(b->state_err_logged);
		b->state_err_logged = err;
	} else {
		free(err);
	}
}

/* Runs the next thing the runner has to do, if any: one DCS write at a time. */
static void act(agent_runner *b, backup_state *st, int64_t rev)
{
	agent *a = b->a;
	if (b->nreq) {
		for (size_t i = 0; i < b->nreq; i++)
			backup_state_add_request(st, b->req[i].id, b->req[i].type, b->req[i].at_ms,
			                         b->req[i].by);
		write_state(b, st, rev, W_REQUESTS, b->nreq);
		return;
	}
	if (b->has_finished) {
		backup_state_finish(st, &b->finished);
		write_state(b, st, rev, W_FINISHED, 0);
		return;
	}
	if (describe_primary(a, st)) {
		write_state(b, st, rev, W_PLAIN, 0);
		return;
	}
	/* A standby cluster has no primary for pgBackRest: no runner until the site is promoted. */
	if (agent_is_standby_cluster(a)) {
		if (same_text(dcs_get_view(a->dcs)->backup_runner, a->s->name)) {
			log_info(
			    "backup: giving up the runner key: the cluster is a standby cluster");
			b->dcs_busy = true;
			dcs_release_key(a->dcs, "backup/runner", on_key, b);
		}
		return;
	}
	size_t n;
	backup_candidate *c = candidates(a, st, &n);
	backup_choice_config cfg = {.from_standby = a->s->backup_from_standby,
	                            .max_lag_bytes = a->hc.maximum_lag_on_failover};
	const dcs_view *v = dcs_get_view(a->dcs);
	backup_key_step k = backup_key_decide(c, n, a->s->name, v->backup_runner, false, &cfg);
	if (k == BACKUP_KEY_ACQUIRE && same_text(st->primary.member, v->leader))
		say_why_leader(a, c, n, &cfg);
	free(c);
	if (k == BACKUP_KEY_ACQUIRE || k == BACKUP_KEY_RELEASE) {
		log_info("backup: %s the runner key",
		         k == BACKUP_KEY_ACQUIRE ? "taking" : "giving up");
		b->dcs_busy = true;
		if (k == BACKUP_KEY_ACQUIRE)
			dcs_acquire_key(a->dcs, "backup/runner", on_key, b);
		else
			dcs_release_key(a->dcs, "backup/runner", on_key, b);
		return;
	}
	if (k != BACKUP_KEY_KEEP || !runner_is_us(a) || !lease_ok(a))
		return;
	int64_t now_ms = clock_unix_ms(), fires[BACKUP_NTYPES];
	scheduled_drill(b, now_ms / 1000);
	latest_fires(a, st, now_ms / 1000, fires);
	backup_due d = backup_due_next(st, fires, now_ms / 1000);
	if (!d.run && !d.fired_changed)
		return;
	memcpy(st->fired_s, d.fired_s, sizeof st->fired_s);
	if (d.run)
		start_run(b, st, &d, now_ms);
	write_state(b, st, rev, d.run ? W_START : W_PLAIN, 0);
}

static void step(agent_runner *b)
{
	agent *a = b->a;
	if (!a || a->stopping || !tandemd_backup_on(a->s) || !dcs_view_ready(a->dcs))
		return;
	if (b->busy) {
		/* The exclusion: stop before another member can take the key. */
		bool gone = !lease_ok(a) || (a->dcs_ok && !runner_is_us(a));
		if (b->job && gone && !b->lost) {
			log_warning("backup %s: the runner key or our lease may be gone: killing "
			            "pgBackRest (the next runner reruns it)",
			            b->run.id);
			b->lost = true;
			job_cancel(b->job);
		} else if (!b->job && b->fail_until_ms) {
			b->lost = b->lost || gone;
			agent_runner_failure_check(b);
		}
		return;
	}
	if (b->dcs_busy || !a->dcs_ok)
		return;
	backup_state st;
	read_state(b, &st);
	act(b, &st, dcs_get_view(a->dcs)->backup_mod_revision);
	backup_state_free(&st);
}

void agent_runner_ended(agent_runner *b)
{
	b->busy = false;
	b->job = NULL;
	if (!b->a) { /* the agent is gone */
		backup_run_free(&b->run);
		if (b->closed)
			free(b);
		return; /* else on_closed frees it, b->job being NULL now */
	}
	if (b->lost) {
		b->lost = false;
		backup_run_free(&b->run);
		return;
	}
	backup_run_free(&b->finished);
	b->finished = b->run;
	memset(&b->run, 0, sizeof b->run);
	b->run.verify = -1;
	b->has_finished = true;
	if (b->timer_on)
		uv_timer_start(&b->timer, on_timer, 1, STEP_MS);
}
