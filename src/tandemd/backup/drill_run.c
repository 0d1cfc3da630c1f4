/* A restore drill's flow and the leader's side of it (drill_run.h). */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backup_paths.h"
#include "drill_run_priv.h"
#include "log.h"
#include "pgctl.h"

uint64_t drill_left(drill_run *d)
{
	uint64_t now = uv_now(d->loop);
	return d->deadline > now ? d->deadline - now : 1;
}

static bool past_deadline(drill_run *d)
{
	return uv_now(d->loop) >= d->deadline;
}

void drill_fail(drill_run *d, const char *fmt, ...)
{
	if (!d->reason) {
		va_list ap;
		va_start(ap, fmt);
		d->reason = xvasprintf(fmt, ap);
		va_end(ap);
	}
	d->ok = false;
	drill_cleanup(d);
}

static void release(drill_run *d)
{
	if (d->job || d->timer_open)
		return;
	for (int i = 0; i < DRILL_PHASES; i++)
		drill_counts_free(&d->counts[i]);
	for (size_t i = 0; i < d->ndbs; i++)
		free(d->dbs[i]);
	free(d->dbs);
	char *strs[] = {d->id,   d->member, d->target, d->dir,      d->data,    d->conf,  d->log,
	                d->host, d->port,   d->user,   d->passfile, d->segment, d->reason};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		free(strs[i]);
	free(d);
}

/* ---- jobs, queries, waits ---- */

static void on_job(const job_result *r, void *ud)
{
	drill_run *d = ud;
	d->job = NULL;
	if (d->freed) {
		release(d);
		return;
	}
	d->job_next(d, r);
}

void drill_job(drill_run *d, const char *step, char **argv, uint64_t timeout_ms,
               drill_job_next next)
{
	d->step = step;
	d->job_next = next;
	job_spec js = {.argv = argv, .timeout_ms = timeout_ms, .done = on_job, .ud = d};
	char *err = NULL;
	d->job = job_start(d->loop, &js, &err);
	pgctl_argv_free(argv);
	if (!d->job) {
		/* As if it had failed at once: `next` says why. */
		job_result r = {.status = 127, .out = "", .err_tail = err ? err : "cannot start"};
		next(d, &r);
		free(err);
	}
}

void drill_query(drill_run *d, bool copy, const char *db, const char *sql, pgsession_cb cb)
{
	pgsession_free(d->sess);
	pgctl_upstream u = {.host = copy ? d->dir : d->host,
	                    .port = copy ? DRILL_PORT : d->port,
	                    .user = d->user,
	                    .dbname = db,
	                    .passfile = d->passfile,
	                    .application_name = "tandemd-drill"};
	char *err = NULL;
	char *ci = pgctl_conninfo(&u, &err);
	if (!ci) {
		d->sess = NULL;
		drill_fail(d, "%s: %s", d->step, err);
		free(err);
		return;
	}
	d->sess = pgsession_new(d->loop, ci);
	free(ci);
	pgsession_query(d->sess, sql, drill_left(d), cb, d);
}

static void on_timer(uv_timer_t *t)
{
	drill_run *d = t->data;
	drill_then then = d->after_timer;
	if (past_deadline(d)) {
		drill_fail(d, "the drill's deadline (%lld s) passed while %s",
		           d->s->backup_drill_timeout / 1000, d->step);
		return;
	}
	then(d);
}

void drill_after(drill_run *d, uint64_t ms, drill_then then)
{
	d->after_timer = then;
	uv_timer_start(&d->timer, on_timer, ms, 0);
}

/* ---- row counts ---- */

static void count_next(drill_run *d);

static void on_count(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	const char *db = d->dbs[d->dbi];
	const char *who = d->phase == DRILL_COPY ? "the restored copy" : "the leader";
	if (err || nc < 1) {
		drill_fail(d, "counting rows in database %s on %s: %s", db, who,
		           err ? err : "no answer");
		return;
	}
	char *e = NULL;
	if (drill_counts_add(&d->counts[d->phase], db, row[0], &e) != 0) {
		drill_fail(d, "%s on %s", e, who);
		free(e);
		return;
	}
	d->dbi++;
	count_next(d);
}

static void count_next(drill_run *d)
{
	if (d->dbi == d->ndbs) {
		d->then_count(d);
		return;
	}
	drill_query(d, d->phase == DRILL_COPY, d->dbs[d->dbi], drill_count_sql, on_count);
}

void drill_count(drill_run *d, int phase, drill_then then)
{
	static const char *const steps[] = {"counting rows on the leader",
	                                    "counting rows on the leader again",
	                                    "counting rows on the restored copy"};
	d->step = steps[phase];
	d->phase = phase;
	d->dbi = 0;
	d->then_count = then;
	count_next(d);
}

/* ---- the leader ---- */

static void report_copy(drill_run *d);

static void on_copy_counted(drill_run *d)
{
	drill_verdict v;
	drill_compare(&d->counts[DRILL_BEFORE], &d->counts[DRILL_AFTER], &d->counts[DRILL_COPY],
	              &v);
	d->tables = v.tables;
	d->busy = v.busy;
	if (!v.ok) {
		drill_fail(d, "row counts differ: %s", v.why);
		free(v.why);
		return;
	}
	report_copy(d);
}

static void on_marker_copy(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	if (err || nc < 1 || !row[0]) {
		drill_fail(d, "reading the marker on the restored copy: %s",
		           err ? err : "no answer");
		return;
	}
	if (strcmp(row[0], "1") != 0) {
		drill_fail(d, "the marker row %s is not in the restored copy", d->id);
		return;
	}
	drill_count(d, DRILL_COPY, on_copy_counted);
}

static void check_copy(drill_run *d)
{
	d->step = "checking the marker on the restored copy";
	char *sql = drill_marker_check_sql(d->id);
	drill_query(d, true, "postgres", sql, on_marker_copy);
	free(sql);
}

static void report_copy(drill_run *d)
{
	d->ok = true;
	d->reason = xasprintf("restored to %s: the marker is there, %lld tables in %zu databases "
	                      "match the leader (%lld of them written meanwhile, within bounds)",
	                      d->target, d->tables, d->ndbs, d->busy);
	drill_cleanup(d);
}

static void on_archived(const char *const *row, int nc, const char *err, void *ud);

static void ask_archived(drill_run *d)
{
	drill_query(d, false, "postgres", drill_archived_sql, on_archived);
}

static void on_archived(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	if (err) {
		drill_fail(d, "asking the leader's archiver: %s", err);
		return;
	}
	if (nc >= 1 && drill_archived_past(row[0], d->segment)) {
		drill_restore(d, check_copy);
		return;
	}
	d->step = "waiting for the restore point's WAL segment to be archived";
	drill_after(d, DRILL_POLL_MS, ask_archived);
}

static void on_switched(const char *const *row, int nc, const char *err, void *ud)
{
	(void)row;
	(void)nc;
	drill_run *d = ud;
	if (err) {
		drill_fail(d, "switching WAL on the leader: %s", err);
		return;
	}
	d->step = "waiting for the restore point's WAL segment to be archived";
	ask_archived(d);
}

static void on_counted_after(drill_run *d)
{
	d->step = "switching WAL on the leader";
	drill_query(d, false, "postgres", "SELECT pg_switch_wal()::text", on_switched);
}

static void on_restore_point(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	if (err || nc < 2 || !row[1]) {
		drill_fail(d, "creating the restore point on the leader: %s",
		           err ? err : "no answer");
		return;
	}
	d->segment = xstrdup(row[1]);
	log_info("drill %s: restore point %s at %s (WAL segment %s)", d->id, d->target,
	         row[0] ? row[0] : "?", d->segment);
	drill_count(d, DRILL_AFTER, on_counted_after);
}

static void on_counted_before(drill_run *d)
{
	d->step = "creating the restore point on the leader";
	char *sql = drill_restore_point_sql(d->id);
	drill_query(d, false, "postgres", sql, on_restore_point);
	free(sql);
}

static void on_databases(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	json_t *j = !err && nc >= 1 && row[0] ? json_loads(row[0], 0, NULL) : NULL;
	if (!json_is_array(j)) {
		json_decref(j);
		drill_fail(d, "listing the leader's databases: %s", err ? err : "not a JSON array");
		return;
	}
	d->dbs = xcalloc(json_array_size(j) + 1, sizeof *d->dbs);
	size_t i;
	json_t *v;
	json_array_foreach(j, i, v)
	{
		if (json_is_string(v))
			d->dbs[d->ndbs++] = xstrdup(json_string_value(v));
	}
	json_decref(j);
	drill_count(d, DRILL_BEFORE, on_counted_before);
}

static void on_marker(const char *const *row, int nc, const char *err, void *ud)
{
	drill_run *d = ud;
	if (err || nc < 1 || !row[0] || strcmp(row[0], d->id) != 0) {
		drill_fail(d, "writing the marker on the leader: %s", err ? err : "no answer");
		return;
	}
	d->step = "listing the leader's databases";
	drill_query(d, false, "postgres", drill_databases_sql, on_databases);
}

static void write_marker(drill_run *d)
{
	d->step = "writing the marker on the leader";
	char *sql = drill_marker_sql(d->id, d->member);
	drill_query(d, false, "postgres", sql, on_marker);
	free(sql);
}

/* ---- life ---- */

static void begin(drill_run *d)
{
	drill_prepare(d, write_marker);
}

const char *drill_run_step(const drill_run *d)
{
	return d->step;
}

/* `path` is `dir` or below it. */
static bool inside_or_same(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

drill_run *drill_run_start(const drill_run_opts *o, char **err)
{
	if (!drill_id_ok(o->id)) {
		err_set(err, "drill: a bad id");
		return NULL;
	}
	char *dir = backup_drill_path(o->s);
	if (dir[0] != '/' || strcmp(dir, "/") == 0 || inside_or_same(dir, o->s->data_dir) ||
	    inside_or_same(o->s->data_dir, dir)) {
		err_set(err,
		        "backup.drill_path %s: must be an absolute directory of its own, neither "
		        "the data directory, inside it nor above it",
		        dir);
		free(dir);
		return NULL;
	}
	drill_run *d = xcalloc(1, sizeof *d);
	d->loop = o->loop;
	d->s = o->s;
	d->id = xstrdup(o->id);
	d->member = xstrdup(o->member);
	d->target = drill_target(o->id);
	d->dir = dir;
	d->data = xasprintf("%s/data", dir);
	d->conf = xasprintf("%s/pgbackrest.conf", dir);
	d->log = xasprintf("%s/postgresql.log", dir);
	d->host = xstrdup(o->leader_host);
	d->port = xstrdup(o->leader_port);
	d->user = xstrdup(o->user);
	d->passfile = xstrdup(o->passfile);
	d->done = o->done;
	d->ud = o->ud;
	uv_update_time(d->loop);
	d->t0 = uv_now(d->loop);
	d->deadline = d->t0 + (uint64_t)o->s->backup_drill_timeout;
	uv_timer_init(d->loop, &d->timer);
	d->timer.data = d;
	d->timer_open = true;
	log_info("drill %s: started (scratch directory %s, leader %s:%s)", d->id, d->dir, d->host,
	         d->port);
	/* From the loop, never from here: `done` must not run before the caller has the run. */
	drill_after(d, 0, begin);
	return d;
}

static void on_timer_closed(uv_handle_t *h)
{
	drill_run *d = h->data;
	d->timer_open = false;
	release(d);
}

void drill_run_free(drill_run *d)
{
	if (!d)
		return;
	d->freed = true;
	pgsession_free(d->sess);
	d->sess = NULL;
	if (d->job)
		job_cancel(d->job);
	if (d->pg_started)
		drill_kill_copy(d);
	uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}
