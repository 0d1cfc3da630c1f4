/* The site's PgBouncers around a planned switchover (docs/pooler.md). The leader handing over
 * sends PAUSE to every console in pgbouncer.admin before it stops PostgreSQL: PgBouncer lets the
 * running transactions finish, closes its server connections and holds new queries. Once the key
 * is released, this member watches pgbouncer.route (how the PgBouncers reach the primary) until a
 * primary on a newer timeline answers there, and sends RESUME: the held queries go to the new
 * primary and the clients saw a wait instead of errors. RESUME is sent anyway when this member
 * leads again (the handover failed) and at pgbouncer.pause_timeout after the pause.
 *
 * Every console command and every look at the route is a psql child with a deadline (job.h):
 * nothing here blocks the loop, and a PgBouncer that hangs costs its deadline, not the switchover.
 * A PAUSE not done by half of pause_timeout is undone (RESUME) and the switchover goes on. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_pooler.h"
#include "agent_priv.h"
#include "clock.h"
#include "job.h"
#include "log.h"
#include "pooler_options.h"

enum { PROBE_EVERY_MS = 100, PROBE_TIMEOUT_MS = 2000, RESUME_TIMEOUT_MS = 5000 };

/* The timeline of a primary, 0 from a replica: one row, one number. */
static const char PROBE_SQL[] =
    "SELECT CASE WHEN pg_is_in_recovery() THEN 0 ELSE ('x' || "
    "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END";

typedef struct pooler_job pooler_job;
typedef struct agent_pooler agent_pooler;

struct agent_pooler {
	agent *a;
	uv_timer_t *timer;      /* the next look at the route; freed by its close callback */
	void (*then)(agent *a); /* after the pauses: stop PostgreSQL */
	size_t pausing;         /* PAUSEs not answered yet */
	char **paused;          /* the consoles paused (copies), to resume */
	size_t npaused;
	int64_t timeline;     /* ours when we paused */
	uint64_t started_ms;  /* when the pause began */
	uint64_t deadline_ms; /* RESUME at the latest */
	bool watching;        /* looking at the route until a new primary answers there */
	pooler_job *jobs;     /* running children, so that free can cancel them */
};

struct pooler_job {
	agent_pooler *p; /* NULL once the pooler is gone */
	job *j;
	char *conninfo; /* the console (PAUSE, RESUME) or NULL (the route) */
	enum { PJ_PAUSE, PJ_RESUME, PJ_PROBE } kind;
	pooler_job *next;
};

static void job_done(const job_result *r, void *ud);
static void watch_tick(uv_timer_t *t);

static char *psql_path(const agent *a)
{
	return xasprintf("%s/psql", a->s->bin_dir ? a->s->bin_dir : "/usr/lib/postgresql/15/bin");
}

static void unlink_job(agent_pooler *p, pooler_job *pj)
{
	for (pooler_job **q = &p->jobs; *q; q = &(*q)->next)
		if (*q == pj) {
			*q = pj->next;
			return;
		}
}

/* psql -X -q -A -t -w -d CONNINFO -c SQL, with a deadline; false when it could not start. */
static bool run(agent_pooler *p, int kind, const char *conninfo, const char *sql,
                uint64_t timeout_ms)
{
	char *psql = psql_path(p->a);
	char *argv[] = {psql, "-X",        "-q", "-A", "-t", "-w", "-d", (char *)conninfo,
	                "-c", (char *)sql, NULL};
	pooler_job *pj = xcalloc(1, sizeof *pj);
	pj->p = p;
	pj->kind = kind;
	pj->conninfo = kind == PJ_PROBE ? NULL : xstrdup(conninfo);
	job_spec js = {
	    .argv = argv, .timeout_ms = timeout_ms, .out_cap = 4096, .done = job_done, .ud = pj};
	char *err = NULL;
	pj->j = job_start(p->a->loop, &js, &err);
	free(psql);
	if (!pj->j) {
		log_warning("pgbouncer: cannot run psql: %s", err);
		free(err);
		free(pj->conninfo);
		free(pj);
		return false;
	}
	pj->next = p->jobs;
	p->jobs = pj;
	return true;
}

static void resume_one(agent_pooler *p, const char *conninfo)
{
	run(p, PJ_RESUME, conninfo, "RESUME", RESUME_TIMEOUT_MS);
}

static void resume_all(agent_pooler *p, const char *why)
{
	uint64_t held = clock_mono_ms() - p->started_ms;
	log_info("pgbouncer: resuming %zu PgBouncer(s) %" PRIu64 " ms after the pause: %s",
	         p->npaused, held, why);
	p->watching = false;
	uv_timer_stop(p->timer);
	for (size_t i = 0; i < p->npaused; i++) {
		resume_one(p, p->paused[i]);
		free(p->paused[i]);
	}
	free(p->paused);
	p->paused = NULL;
	p->npaused = 0;
}

static void paused_done(agent_pooler *p, pooler_job *pj, const job_result *r)
{
	if (r->status == 0) {
		p->paused = xrealloc(p->paused, (p->npaused + 1) * sizeof *p->paused);
		p->paused[p->npaused++] = xstrdup(pj->conninfo);
	} else {
		char *why = job_describe(r);
		log_warning("pgbouncer: PAUSE failed (%s): the switchover goes on without it", why);
		free(why);
		if (r->timed_out) /* it may be pausing still: undo it */
			resume_one(p, pj->conninfo);
	}
	if (--p->pausing > 0)
		return;
	log_info("pgbouncer: %zu of %zu PgBouncer(s) paused in %" PRIu64 " ms", p->npaused,
	         p->a->s->pgbouncer_admin.n, clock_mono_ms() - p->started_ms);
	void (*then)(agent *) = p->then;
	p->then = NULL;
	then(p->a);
}

/* A primary answered through the route on a newer timeline than ours: the new one. */
static void probe_done(agent_pooler *p, const job_result *r)
{
	if (!p->watching)
		return;
	if (r->status == 0 && r->out) {
		long long tl = strtoll(r->out, NULL, 10);
		if (tl > p->timeline) {
			resume_all(p, "the new primary answers through pgbouncer.route");
			return;
		}
	}
	uv_timer_start(p->timer, watch_tick, PROBE_EVERY_MS, 0);
}

static void job_done(const job_result *r, void *ud)
{
	pooler_job *pj = ud;
	agent_pooler *p = pj->p;
	if (p) {
		unlink_job(p, pj);
		if (pj->kind == PJ_PAUSE)
			paused_done(p, pj, r);
		else if (pj->kind == PJ_PROBE)
			probe_done(p, r);
		else if (r->status != 0) {
			char *why = job_describe(r);
			log_warning("pgbouncer: RESUME failed (%s): resume it by hand", why);
			free(why);
		}
	}
	free(pj->conninfo);
	free(pj);
}

/* The next look at the route, unless the handover is over another way. */
static void watch_tick(uv_timer_t *t)
{
	agent_pooler *p = t->data;
	if (!p->watching)
		return;
	if (clock_mono_ms() >= p->deadline_ms) {
		resume_all(p, "pgbouncer.pause_timeout passed without a new primary on the route");
		return;
	}
	if (agent_holds_key(p->a) && agent_pg_state(p->a) == HA_PG_PRIMARY) {
		resume_all(p, "this member leads again (the handover did not happen)");
		return;
	}
	if (!run(p, PJ_PROBE, p->a->s->pgbouncer_route, PROBE_SQL, PROBE_TIMEOUT_MS))
		uv_timer_start(p->timer, watch_tick, PROBE_EVERY_MS, 0);
}

static agent_pooler *pooler(agent *a)
{
	if (a->pooler)
		return a->pooler;
	agent_pooler *p = xcalloc(1, sizeof *p);
	p->a = a;
	p->timer = xcalloc(1, sizeof *p->timer);
	uv_timer_init(a->loop, p->timer);
	p->timer->data = p;
	a->pooler = p;
	return p;
}

void agent_pooler_pause(agent *a, void (*then)(agent *a))
{
	if (!tandemd_pooler_on(a->s)) {
		then(a);
		return;
	}
	agent_pooler *p = pooler(a);
	if (p->npaused > 0 || p->pausing > 0) /* an earlier handover's: resume those first */
		resume_all(p, "a new handover begins");
	p->then = then;
	p->started_ms = clock_mono_ms();
	p->deadline_ms = p->started_ms + (uint64_t)a->s->pgbouncer_pause_timeout;
	p->timeline = a->query_ok ? a->st.timeline : 0;
	const cfg_list *consoles = &a->s->pgbouncer_admin;
	log_info("pgbouncer: pausing %zu PgBouncer(s) before handing over", consoles->n);
	for (size_t i = 0; i < consoles->n; i++)
		if (run(p, PJ_PAUSE, consoles->v[i], "PAUSE",
		        (uint64_t)a->s->pgbouncer_pause_timeout / 2))
			p->pausing++;
	if (p->pausing == 0) {
		p->then = NULL;
		then(a);
	}
}

void agent_pooler_handed_over(agent *a, bool released)
{
	agent_pooler *p = a->pooler;
	if (!p || p->npaused == 0)
		return;
	if (!released) {
		resume_all(p, "the handover stopped before the leader key was released");
		return;
	}
	p->watching = true;
	uv_timer_start(p->timer, watch_tick, 0, 0);
}

static void timer_closed(uv_handle_t *h)
{
	free(h);
}

void agent_pooler_free(agent *a)
{
	agent_pooler *p = a->pooler;
	if (!p)
		return;
	if (p->npaused > 0)
		log_warning("pgbouncer: stopping with %zu PgBouncer(s) paused: send them RESUME "
		            "(psql -c RESUME on their admin console)",
		            p->npaused);
	for (pooler_job *pj = p->jobs; pj; pj = pj->next) {
		pj->p = NULL;
		job_cancel(pj->j);
	}
	for (size_t i = 0; i < p->npaused; i++)
		free(p->paused[i]);
	free(p->paused);
	uv_close((uv_handle_t *)p->timer, timer_closed);
	free(p);
	a->pooler = NULL;
}
