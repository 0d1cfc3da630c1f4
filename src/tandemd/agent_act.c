/* The actions the HA decision asks for, one at a time, each ending in agent_action_done(). A
 * multi-step action keeps its continuation in a->step. See agent_priv.h. */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_priv.h"
#include "diverge.h"
#include "log.h"
#include "strbuf.h"

enum {
	START_TIMEOUT_MS = 3600 * 1000, /* readiness is observed, not awaited */
	CLONE_TIMEOUT_MS = 24 * 3600 * 1000,
	STOP_STEP_MS = 10000,
};

static void fail_action(agent *a, const char *what, const char *err)
{
	log_error("%s: %s", what, err ? err : "failed");
	a->backoff_until_ms = agent_now() + a->hc.loop_wait_ms;
	agent_action_done(a);
}

/* A promotion that failed counts as a failed restart of the leader's PostgreSQL: after
 * max_restarts of either, the leader leaves leadership to a replica (a full disk fails both). */
static void promote_failed(agent *a, const char *what, const char *err)
{
	a->restarts++;
	a->last_restart_ms = agent_now();
	fail_action(a, what, err);
}

/* ---- starting and stopping PostgreSQL ---- */

static void on_started(pgctl *pc, bool ready, const char *status, const char *err, void *ud)
{
	agent *a = ud;
	(void)pc;
	(void)status;
	a->pg_ready = ready;
	if (!ready)
		log_warning("PostgreSQL did not become ready: %s", err ? err : "?");
	else
		log_info("PostgreSQL is ready");
	agent_step_fn fn = a->on_ready_step;
	a->on_ready_step = NULL;
	if (fn)
		fn(a, ready);
	else
		agent_kick(a);
}

static void on_exited(pgctl *pc, bool asked, int64_t status, int sig, void *ud)
{
	agent *a = ud;
	(void)pc;
	a->pg_ready = false;
	a->query_ok = false;
	if (!asked) {
		a->pg_crashed = true;
		log_error("PostgreSQL exited unexpectedly (status %" PRId64 ", signal %d)", status,
		          sig);
	}
	agent_step_fn fn = a->on_exit_step;
	a->on_exit_step = NULL;
	if (fn)
		fn(a, true);
	else
		agent_kick(a);
}

static int start_pg(agent *a, bool standby, const char *upstream, agent_step_fn on_ready,
                    char **err)
{
	if (agent_write_pg_files(a, standby, upstream, err) != 0)
		return -1;
	a->pg_crashed = false;
	a->pg_ready = false;
	a->query_ok = false;
	a->ctl_ok = false;
	a->handed_over = false;
	a->rewind_pending = false; /* started after the rewind, or on fresh data */
	a->on_ready_step = on_ready;
	if (pgctl_start(a->pc, START_TIMEOUT_MS, on_started, on_exited, a, err) != 0) {
		a->on_ready_step = NULL;
		return -1;
	}
	log_info("starting PostgreSQL as %s%s%s", standby ? "a replica" : "the primary",
	         standby && upstream ? " of " : "", standby && upstream ? upstream : "");
	return 0;
}

static void stop_pg(agent *a, pgctl_stop_mode mode, uint64_t step_ms, agent_step_fn then)
{
	if (!pgctl_running(a->pc)) {
		then(a, true);
		return;
	}
	char *e = NULL;
	a->on_exit_step = then;
	if (pgctl_stop(a->pc, mode, step_ms, &e) != 0) {
		a->on_exit_step = NULL;
		log_error("%s", e);
		free(e);
		then(a, false);
	}
}

/* ---- simple actions ---- */

static void act_start_replica(agent *a, const char *target)
{
	char *e = NULL;
	if (start_pg(a, true, target, NULL, &e) != 0) {
		fail_action(a, "starting PostgreSQL", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void act_follow(agent *a, const char *target)
{
	char *e = NULL;
	if (agent_write_pg_files(a, true, target, &e) != 0 || pgctl_reload(a->pc, &e) != 0) {
		fail_action(a, "following the new leader", e);
		free(e);
		return;
	}
	log_info("now following %s (reloaded, no restart)", target);
	agent_action_done(a);
}

static void on_acquired(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r == DCS_OK) {
		log_info("took the leader key");
		agent_fence_update(a);
	} else
		log_info("did not get the leader key: %s", error ? error : dcs_result_name(r));
	agent_action_done(a);
}

static void on_promoted(bool ok, const char *err, void *ud)
{
	agent *a = ud;
	if (!ok) {
		promote_failed(a, "pg_promote()", err);
		return;
	}
	log_info("promoting PostgreSQL");
	metrics_inc(&a->counters.promotions, 1);
	a->promote_until_ms = agent_now() + a->hc.ttl_ms;
	a->became_leader_pending = true;
	agent_action_done(a);
}

static void act_promote(agent *a)
{
	char *e = NULL;
	a->doing = "promoting";
	agent_sync_before_promote(a);
	if (a->ssn) {
		/* Still a replica's files (standby.signal stays: pg_promote removes it itself),
		 * with synchronous_standby_names already set for the first commit as primary. */
		a->promoting = true;
		char *up = a->upstream ? xstrdup(a->upstream) : NULL;
		int r = agent_write_pg_files(a, true, up, &e);
		free(up);
		a->promoting = false;
		if (r != 0 || pgctl_reload(a->pc, &e) != 0) {
			promote_failed(a, "synchronous_standby_names before the promotion", e);
			free(e);
			return;
		}
	}
	if (pgctl_promote(a->loop, a->local_conninfo, a->hc.retry_timeout_ms, on_promoted, a, &e) !=
	    0) {
		promote_failed(a, "pg_promote()", e);
		free(e);
	}
}

static void act_restart_crashed(agent *a)
{
	char *e = NULL;
	a->restarts++;
	a->last_restart_ms = agent_now();
	metrics_inc(&a->counters.pg_restarts, 1);
	a->sync_settle_until_ms = a->last_restart_ms + a->hc.ttl_ms;
	/* Only data that was a primary restarts as one. A replica's data (we took the key and
	 * PostgreSQL died before or during its promotion) starts as a standby and is promoted on
	 * the next pass: started without standby.signal it would become a primary on the old
	 * timeline without a promotion, and the others could never follow it. */
	bool primary = a->ctl_ok && a->ctl.was_primary;
	if (!primary)
		log_warning("the data directory is a replica's (or unknown): starting it as a "
		            "standby, to be promoted");
	if (start_pg(a, !primary, NULL, NULL, &e) != 0) {
		fail_action(a, "restarting PostgreSQL", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void demoted(agent *a, bool ok)
{
	(void)ok;
	log_info("PostgreSQL stopped: no longer writable");
	agent_action_done(a);
}

static void act_demote(agent *a)
{
	metrics_inc(&a->counters.demotions, 1);
	a->doing = "demoting";
	uint64_t step =
	    a->hc.retry_timeout_ms / 2 < STOP_STEP_MS ? a->hc.retry_timeout_ms / 2 : STOP_STEP_MS;
	stop_pg(a, PGCTL_FAST, step, demoted);
}

static void on_released(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r == DCS_OK)
		log_info("released the leader key");
	else
		log_warning("releasing the leader key: %s", error ? error : dcs_result_name(r));
	agent_action_done(a);
}

static void release_after_stop(agent *a, bool ok)
{
	if (!ok) {
		fail_action(a, "stopping PostgreSQL before releasing the leader key", NULL);
		return;
	}
	/* A handover an operator asked for (the target is named): PostgreSQL comes back as a
	 * replica, even in maintenance mode. */
	a->handed_over = a->target != NULL;
	dcs_release_leader(a->dcs, on_released, a);
}

static void act_release(agent *a)
{
	a->doing = "stopping";
	if (agent_pg_state(a) == HA_PG_PRIMARY)
		metrics_inc(&a->counters.demotions, 1);
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, release_after_stop);
}

/* ---- clone, rewind, reinit ---- */

static void clone_progress(int pct, void *ud)
{
	(void)ud;
	log_debug("pg_basebackup %d%%", pct);
}

static void cloned(bool ok, const char *tail, const char *moved, void *ud)
{
	agent *a = ud;
	if (!ok) {
		if (moved)
			log_error("the partial copy was moved aside to %s", moved);
		fail_action(a, "pg_basebackup", tail);
		return;
	}
	a->rewind_failed = false;
	char *e = NULL;
	if (start_pg(a, true, a->target, NULL, &e) != 0) {
		fail_action(a, "starting the new replica", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void act_clone(agent *a, const char *target)
{
	pgctl_upstream *up = agent_upstream_of(a, target, false);
	if (!up) {
		fail_action(a, "cloning", "the leader's member key has no conn_url");
		return;
	}
	a->doing = "creating replica";
	log_info("cloning %s with pg_basebackup", target);
	pgctl_clone_opts o = {.bin_dir = a->s->bin_dir,
	                      .from = up,
	                      .timeout_ms = CLONE_TIMEOUT_MS,
	                      .progress = clone_progress,
	                      .done = cloned,
	                      .ud = a};
	char *e = NULL;
	int r = pgctl_basebackup(a->loop, a->pc, &o, &e);
	agent_upstream_free(up);
	if (r != 0) {
		fail_action(a, "pg_basebackup", e);
		free(e);
	}
}

static void rewound(bool ok, const char *tail, const char *moved, void *ud)
{
	agent *a = ud;
	(void)moved;
	if (!ok) {
		/* The source not answering says nothing about our data: try again later. */
		if (pgctl_rewind_never_connected(tail)) {
			pgctl_rewind_forget(a->pc); /* it connects before it touches anything */
			fail_action(a, "pg_rewind (the source did not answer; trying again)", tail);
			return;
		}
		a->rewind_failed = true;
		fail_action(a, "pg_rewind (a fresh clone comes next)", tail);
		return;
	}
	/* pg_rewind reads the leader's timeline from its control file, which still names the old
	 * timeline until the leader's first checkpoint after its promotion: it then changes nothing
	 * and this member, started as a replica, could never follow. Try again (the leader runs
	 * a CHECKPOINT right after promoting). */
	if (tail && strstr(tail, "source and target cluster are on the same timeline")) {
		if (agent_leader_timeline(a) > a->rewind_from_timeline) {
			fail_action(a, "pg_rewind",
			            "the leader has not checkpointed since its promotion (same "
			            "timeline in its control file): trying again");
			return;
		}
		/* Already on the leader's timeline: there was nothing to rewind. */
		log_info("pg_rewind: already on the leader's timeline, nothing to rewind");
	}
	char *e = NULL;
	if (start_pg(a, true, a->target, NULL, &e) != 0) {
		fail_action(a, "starting after pg_rewind", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void act_rewind(agent *a, const char *target)
{
	if (!a->s->use_pg_rewind) {
		log_warning("diverged from %s and use_pg_rewind is off: a fresh clone is needed",
		            target);
		a->rewind_failed = true;
		agent_action_done(a);
		return;
	}
	pgctl_upstream *up = agent_upstream_of(a, target, true);
	if (!up) {
		fail_action(a, "pg_rewind", "the leader's member key has no conn_url");
		return;
	}
	a->doing = "running pg_rewind";
	/* Until a rewind has really run, the divergence is known even if pg_rewind's own crash
	 * recovery changes the control data it was judged by. */
	a->rewind_pending = true;
	a->rewind_from_timeline = a->ctl_ok ? diverge_timeline(&a->ctl) : 0;
	/* pg_rewind first finishes crash recovery in single-user mode, which refuses standby
	 * mode: a former primary that crashed while it was starting as a replica has the file. */
	char *se = NULL;
	if (pgctl_set_standby(a->pc, false, &se) != 0) {
		agent_upstream_free(up);
		fail_action(a, "pg_rewind", se);
		free(se);
		return;
	}
	pgctl_clone_opts o = {.bin_dir = a->s->bin_dir,
	                      .from = up,
	                      .timeout_ms = CLONE_TIMEOUT_MS,
	                      .done = rewound,
	                      .ud = a};
	char *e = NULL;
	int r = pgctl_rewind(a->loop, a->pc, &o, &e);
	agent_upstream_free(up);
	a->ctl_ok = false;
	if (r != 0) {
		a->rewind_failed = true;
		fail_action(a, "pg_rewind", e);
		free(e);
	}
}

static void reinit_stopped(agent *a, bool ok)
{
	char *moved = NULL, *e = NULL;
	if (!ok) {
		fail_action(a, "stopping PostgreSQL for reinitialize", NULL);
		return;
	}
	if (agent_has_data(a)) {
		if (pgctl_move_aside(a->pc, &moved, &e) != 0) {
			fail_action(a, "moving the data directory aside", e);
			free(e);
			return;
		}
		log_warning("the old data directory was moved aside to %s (not deleted)", moved);
		free(moved);
	}
	a->ctl_ok = false;
	char *target = xstrdup(a->target);
	act_clone(a, target);
	free(target);
}

void agent_act_reinit(agent *a, const char *target)
{
	a->busy = true;
	free(a->target);
	a->target = xstrdup(target);
	a->doing = "reinitializing";
	log_info("reinitializing from %s", target);
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, reinit_stopped);
}

/* ---- a replica that cannot follow ---- */

static void recheck_stopped(agent *a, bool ok)
{
	(void)ok;
	agent_action_done(a);
}

void agent_act_recheck(agent *a)
{
	a->busy = true;
	a->doing = "stopping";
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, recheck_stopped);
}

/* ---- operator restart ---- */

static void restart_stopped(agent *a, bool ok)
{
	if (!ok) {
		fail_action(a, "stopping PostgreSQL for a restart", NULL);
		return;
	}
	const dcs_view *v = dcs_get_view(a->dcs);
	bool leader = agent_holds_key(a);
	char *e = NULL;
	char *up = a->upstream ? xstrdup(a->upstream) : NULL;
	if (start_pg(a, !leader, leader ? NULL : (up ? up : v->leader), NULL, &e) != 0) {
		free(up);
		fail_action(a, "restarting PostgreSQL", e);
		free(e);
		return;
	}
	free(up);
	metrics_inc(&a->counters.pg_restarts, 1);
	agent_action_done(a);
}

void agent_act_restart(agent *a)
{
	a->busy = true;
	a->doing = "restarting";
	log_info("restarting PostgreSQL (requested)");
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, restart_stopped);
}

/* ---- bootstrap ---- */

static void boot_fail(agent *a, const char *what, const char *err);

static void boot_cleanup_done(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	(void)r;
	(void)error;
	agent_action_done(a);
}

static void boot_moved(agent *a, bool ok)
{
	(void)ok;
	char *moved = NULL, *e = NULL;
	if (a->boot_ran_initdb && agent_has_data(a)) {
		if (pgctl_move_aside(a->pc, &moved, &e) != 0) {
			log_error("%s", e);
			free(e);
		} else {
			log_warning("the failed bootstrap's data directory was moved aside to %s",
			            moved);
			free(moved);
		}
	}
	dcs_delete_key(a->dcs, "initialize", boot_cleanup_done, a);
}

static void boot_fail(agent *a, const char *what, const char *err)
{
	log_error("bootstrap failed: %s: %s", what, err ? err : "failed");
	a->backoff_until_ms = agent_now() + a->hc.loop_wait_ms;
	stop_pg(a, PGCTL_IMMEDIATE, STOP_STEP_MS, boot_moved);
}

static void boot_put_done(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("bootstrap: writing a key: %s", error ? error : dcs_result_name(r));
	if (--a->boot_puts == 0) {
		log_info("bootstrap complete: the cluster is initialized, this member leads");
		agent_action_done(a);
	}
}

static char *bootstrap_config(const tandemd_settings *s)
{
	json_t *c = json_object();
	json_object_set_new(c, "ttl", json_integer((s->ttl + 999) / 1000));
	json_object_set_new(c, "loop_wait", json_integer((s->loop_wait + 999) / 1000));
	json_object_set_new(c, "retry_timeout", json_integer((s->retry_timeout + 999) / 1000));
	json_object_set_new(c, "maximum_lag_on_failover", json_integer(s->maximum_lag_on_failover));
	json_object_set_new(c, "synchronous_mode", json_boolean(s->synchronous_mode));
	json_object_set_new(c, "synchronous_mode_strict", json_boolean(s->synchronous_mode_strict));
	json_object_set_new(c, "synchronous_node_count", json_integer(s->synchronous_node_count));
	json_object_set_new(c, "failsafe_mode", json_boolean(s->failsafe_mode));
	json_t *pg = json_object();
	json_object_set_new(pg, "use_pg_rewind", json_boolean(s->use_pg_rewind));
	json_object_set_new(pg, "use_slots", json_boolean(s->use_slots));
	json_t *params = json_object();
	for (size_t i = 0; i < s->bootstrap_parameters.n; i++)
		json_object_set_new(params, s->bootstrap_parameters.keys[i],
		                    json_string(s->bootstrap_parameters.values[i]));
	json_object_set_new(pg, "parameters", params);
	json_object_set_new(c, "postgresql", pg);
	char *out = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	return out;
}

static void boot_leader(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		boot_fail(a, "taking the leader key", error ? error : dcs_result_name(r));
		return;
	}
	log_info("took the leader key");
	agent_fence_update(a);
	char *cfg = bootstrap_config(a->s);
	a->boot_puts = 2;
	dcs_put_key(a->dcs, "initialize", a->sysid ? a->sysid : "", boot_put_done, a);
	dcs_put_key(a->dcs, "config", cfg, boot_put_done, a);
	free(cfg);
}

static void boot_roles_done(const char *const *row, int ncols, const char *err, void *ud)
{
	agent *a = ud;
	if (err || ncols < 1 || !row[0]) {
		boot_fail(a, "creating the replication and rewind users", err);
		return;
	}
	free(a->sysid);
	a->sysid = xstrdup(row[0]);
	if (!dcs_lease_id(a->dcs)) {
		boot_fail(a, "taking the leader key", "no lease");
		return;
	}
	dcs_acquire_leader(a->dcs, boot_leader, a);
}

/* 'text' as an SQL literal ('' doubled); NULL when it holds a NUL-free but unusable byte. */
static void sql_literal(strbuf *sb, const char *s)
{
	sb_puts(sb, "'");
	for (; *s; s++)
		sb_append(sb, s, 1 + (*s == '\''));
	sb_puts(sb, "'");
}

static void sql_ident(strbuf *sb, const char *s)
{
	sb_puts(sb, "\"");
	for (; *s; s++)
		sb_append(sb, s, 1 + (*s == '"'));
	sb_puts(sb, "\"");
}

static void role_sql(strbuf *sb, const char *user, const char *password, const char *attrs)
{
	sb_puts(sb, "DO $tandem$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ");
	sql_literal(sb, user);
	sb_puts(sb, ") THEN CREATE ROLE ");
	sql_ident(sb, user);
	sb_puts(sb, "; END IF; END$tandem$; ALTER ROLE ");
	sql_ident(sb, user);
	sb_printf(sb, " WITH %s", attrs);
	if (password) {
		sb_puts(sb, " PASSWORD ");
		sql_literal(sb, password);
	}
	sb_puts(sb, ";");
}

static void boot_ready(agent *a, bool ok)
{
	if (!ok) {
		boot_fail(a, "starting the new primary", NULL);
		return;
	}
	const tandemd_settings *s = a->s;
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "SET log_statement = 'none'; ");
	if (strcmp(a->repl_user, a->su_user) != 0)
		role_sql(&sb, a->repl_user, s->replication_password, "LOGIN REPLICATION");
	if (strcmp(a->rewind_user, a->su_user) != 0 && strcmp(a->rewind_user, a->repl_user) != 0) {
		role_sql(&sb, a->rewind_user, s->rewind_password, "LOGIN");
		const char *fns[] = {"pg_ls_dir(text, boolean, boolean)",
		                     "pg_stat_file(text, boolean)", "pg_read_binary_file(text)",
		                     "pg_read_binary_file(text, bigint, bigint, boolean)"};
		for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
			sb_printf(&sb, " GRANT EXECUTE ON FUNCTION pg_catalog.%s TO ", fns[i]);
			sql_ident(&sb, a->rewind_user);
			sb_puts(&sb, ";");
		}
	}
	sb_puts(&sb, " SELECT system_identifier::text FROM pg_control_system()");
	char *e = NULL;
	int r = pgctl_query(a->loop, a->local_conninfo, sb.data, a->hc.retry_timeout_ms,
	                    boot_roles_done, a, &e);
	memset(sb.data, 0, sb.len); /* held passwords */
	sb_free(&sb);
	if (r != 0) {
		boot_fail(a, "creating users", e);
		free(e);
	}
}

static void boot_start(agent *a)
{
	char *e = NULL;
	if (start_pg(a, false, NULL, boot_ready, &e) != 0) {
		boot_fail(a, "starting the new primary", e);
		free(e);
	}
}

static void on_initdb(pgctl *pc, bool ok, const char *tail, void *ud)
{
	agent *a = ud;
	(void)pc;
	if (!ok) {
		boot_fail(a, "initdb", tail);
		return;
	}
	log_info("initdb done");
	boot_start(a);
}

static void boot_initialized(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		log_info("another member initializes the cluster (%s)",
		         error ? error : dcs_result_name(r));
		agent_action_done(a);
		return;
	}
	if (agent_has_data(a)) {
		log_info("won the initialize race: adopting the existing data directory");
		a->boot_ran_initdb = false;
		boot_start(a);
		return;
	}
	log_info("won the initialize race: running initdb");
	a->doing = "initializing new cluster";
	a->boot_ran_initdb = true;
	const tandemd_settings *s = a->s;
	pgctl_initdb_opts o = {.superuser = a->su_user,
	                       .password = s->superuser_password,
	                       .auth_local = "peer",
	                       .auth_host = "scram-sha-256",
	                       .extra = (const char *const *)s->initdb.v,
	                       .nextra = s->initdb.n};
	char *e = NULL;
	if (pgctl_initdb(a->pc, &o, on_initdb, a, &e) != 0) {
		boot_fail(a, "initdb", e);
		free(e);
	}
}

static void act_bootstrap(agent *a)
{
	if (!dcs_lease_id(a->dcs)) {
		/* The heartbeat grants a lease first, then asks for a new pass. */
		a->busy = false;
		return;
	}
	a->doing = "initializing new cluster";
	dcs_take_initialize(a->dcs, "", boot_initialized, a);
}

/* ---- the leader's housekeeping: slots, status, history after a promotion ---- */

static void on_put_quiet(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("writing to the DCS: %s", error ? error : dcs_result_name(r));
	}
}

static void on_slots(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)ud;
	(void)row;
	(void)ncols;
	if (err)
		log_warning("creating replication slots: %s", err);
}

static void ensure_slots(agent *a, const dcs_view *v)
{
	if (!a->s->use_slots)
		return;
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb,
	        "SELECT count(pg_create_physical_replication_slot(n, true)) FROM unnest(ARRAY[");
	size_t n = 0;
	for (size_t i = 0; i < v->nmembers; i++) {
		if (!strcmp(v->members[i].name, a->s->name))
			continue;
		char *slot = agent_slot_name(v->members[i].name);
		sb_puts(&sb, n++ ? ", " : "");
		sql_literal(&sb, slot);
		free(slot);
	}
	sb_puts(&sb, "]::text[]) n WHERE n NOT IN (SELECT slot_name FROM pg_replication_slots)");
	char *e = NULL;
	/* Every housekeeping pass: on the kept connection, not a new backend each time. */
	if (n && pgctl_ask(a->pc, a->local_conninfo, sb.data, a->hc.retry_timeout_ms, on_slots, a,
	                   &e) != 0) {
		log_warning("%s", e);
		free(e);
	}
	sb_free(&sb);
}

/* Appends the switch into our timeline to the DCS history, from pg_wal/<tl>.history. */
static void publish_history(agent *a, const dcs_view *v)
{
	int64_t tl = a->st.timeline;
	if (tl < 2)
		return;
	char *path = xasprintf("%s/pg_wal/%08" PRIX64 ".history", a->s->data_dir, (uint64_t)tl);
	strbuf f = STRBUF_INIT;
	char *e = NULL;
	if (sb_read_file(&f, path, 1 << 20, &e) != 0) {
		log_warning("reading the timeline history: %s", e);
		free(e);
		free(path);
		sb_free(&f);
		return;
	}
	free(path);
	/* The last line: "<parent tl>\t<switch lsn>\t<reason>" */
	char *last = NULL;
	for (char *save = NULL, *l = strtok_r(f.data, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		if (*l && *l != '#')
			last = l;
	long long parent = 0;
	char lsn_text[64] = "", reason[256] = "";
	uint64_t lsn = 0;
	if (!last || sscanf(last, "%lld\t%63s\t%255[^\n]", &parent, lsn_text, reason) < 2 ||
	    pgctl_parse_lsn(lsn_text, &lsn) != 0) {
		sb_free(&f);
		return;
	}
	sb_free(&f);
	for (size_t i = 0; i < v->nhistory; i++)
		if (v->history[i].timeline == parent)
			return; /* already there */
	dcs_history_entry *h = xcalloc(v->nhistory + 1, sizeof *h);
	for (size_t i = 0; i < v->nhistory; i++)
		h[i] = v->history[i];
	char ts[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	h[v->nhistory] = (dcs_history_entry){.timeline = parent,
	                                     .lsn = lsn,
	                                     .reason = reason[0] ? reason : NULL,
	                                     .timestamp = ts,
	                                     .new_leader = (char *)a->s->name};
	char *val = dcs_encode_history(h, v->nhistory + 1);
	free(h);
	dcs_put_key(a->dcs, "history", val, on_put_quiet, a);
	free(val);
}

static void on_checkpoint(const char *const *row, int ncols, const char *err, void *ud)
{
	(void)ud;
	(void)row;
	(void)ncols;
	/* CHECKPOINT returns no row: that is its success. */
	if (err && strcmp(err, "the query returned no row") != 0)
		log_warning("checkpoint after the promotion: %s", err);
}

/* Like Patroni: a checkpoint right after the promotion puts the new timeline in the control
 * file, which is what pg_rewind on a former primary compares with its own. */
static void checkpoint_after_promote(agent *a)
{
	char *e = NULL;
	if (pgctl_query(a->loop, a->local_conninfo, "CHECKPOINT", a->hc.retry_timeout_ms,
	                on_checkpoint, a, &e) != 0) {
		log_warning("checkpoint after the promotion: %s", e);
		free(e);
	}
}

void agent_leader_housekeeping(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	uint64_t now = agent_now();
	if (a->became_leader_pending) {
		a->became_leader_pending = false;
		a->promote_until_ms = 0;
		char *e = NULL;
		if (agent_write_pg_files(a, false, NULL, &e) != 0) {
			log_warning("%s", e);
			free(e);
		}
		publish_history(a, v);
		checkpoint_after_promote(a);
		if (v->has_failover)
			dcs_delete_key(a->dcs, "failover", on_put_quiet, a);
		a->last_housekeeping_ms = 0;
		agent_publish_member(a);
		a->sync_settle_until_ms = now + a->hc.ttl_ms;
	}
	/* Synchronous mode settles in steps, one a pass (the sync key, then PostgreSQL, then the
	 * key again): right after a promotion they run on every pass, not every half loop_wait. */
	bool settling = now < a->sync_settle_until_ms && !agent_sync_settled(a);
	if (settling)
		agent_sync_housekeeping(a);
	if (a->last_housekeeping_ms && now - a->last_housekeeping_ms < a->hc.loop_wait_ms / 2 &&
	    v->nmembers == a->housekeeping_members)
		return;
	a->last_housekeeping_ms = now;
	a->housekeeping_members = v->nmembers;
	ensure_slots(a, v);
	if (!settling)
		agent_sync_housekeeping(a);
	agent_failsafe_housekeeping(a);
	char *status = dcs_encode_status(a->st.lsn, NULL, 0, NULL, 0);
	dcs_put_key(a->dcs, "status", status, on_put_quiet, a);
	free(status);
}

/* ---- shutdown ---- */

static void shutdown_revoked(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("revoking the lease: %s", error ? error : dcs_result_name(r));
	else
		log_info("lease revoked: the leader and member keys are gone");
	a->shutdown_done = true;
	if (a->on_shutdown)
		a->on_shutdown(a->shutdown_ud);
}

static void shutdown_stopped(agent *a, bool ok)
{
	(void)ok;
	agent_fence_stop(a);
	if (dcs_lease_id(a->dcs)) {
		dcs_lease_revoke(a->dcs, shutdown_revoked, a);
		return;
	}
	shutdown_revoked(DCS_OK, NULL, a);
}

static void shutdown_handover_put(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("naming a successor: %s", error ? error : dcs_result_name(r));
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, shutdown_stopped);
}

/* A stopping leader names its successor in the failover key first, then stops PostgreSQL fast
 * (the replicas receive all of its WAL), then revokes its lease: the leader key goes at once
 * and the successor takes it, instead of every member waiting for the TTL. */
void agent_act_shutdown(agent *a)
{
	a->doing = "stopping";
	const dcs_view *v = dcs_get_view(a->dcs);
	bool leader = agent_holds_key(a);
	const dcs_member *best =
	    leader && !(v->has_config && v->config.pause) ? agent_best_candidate(a, NULL) : NULL;
	const char *next = best ? best->name : NULL;
	if (next && a->dcs_ok) {
		log_info(
		    "shutting down: handing leadership to %s, stopping PostgreSQL, then giving "
		    "up the lease",
		    next);
		char *val = dcs_encode_failover(a->s->name, next, NULL);
		dcs_put_key(a->dcs, "failover", val, shutdown_handover_put, a);
		free(val);
		return;
	}
	log_info("shutting down: stopping PostgreSQL, then giving up the lease");
	stop_pg(a, PGCTL_FAST, STOP_STEP_MS, shutdown_stopped);
}

/* ---- dispatch ---- */

static bool others_running(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	for (size_t i = 0; i < v->nmembers; i++)
		if (strcmp(v->members[i].name, a->s->name) != 0 && v->members[i].state &&
		    !strcmp(v->members[i].state, "running"))
			return true;
	return false;
}

/* The sync rule of ha.c, on the current view: may no member but us take over? */
static bool only_we_may_lead(agent *a)
{
	ha_member members[AGENT_MAX_MEMBERS];
	ha_cluster cl;
	dcs_view_to_ha(dcs_get_view(a->dcs), a->s->name, members, AGENT_MAX_MEMBERS, &cl);
	return ha_sync_sole_candidate(&cl, a->s->name);
}

void agent_act(agent *a, ha_decision d)
{
	uint64_t now = agent_now();
	bool retryable = d.action == HA_BOOTSTRAP || d.action == HA_CLONE ||
	                 d.action == HA_REWIND || d.action == HA_REINIT ||
	                 d.action == HA_START_REPLICA || d.action == HA_PROMOTE ||
	                 d.action == HA_RESTART;
	if (retryable && now < a->backoff_until_ms)
		return;
	/* A former primary with no leader to follow waits for one (to rewind from it if needed)
	 * while other members run; alone, or the only member that may lead, it starts as a replica
	 * and may become leader again. */
	if (d.action == HA_START_REPLICA && !d.target && a->ctl_ok && a->ctl.was_primary &&
	    others_running(a) && !only_we_may_lead(a))
		return;
	a->busy = true;
	free(a->target);
	a->target = d.target ? xstrdup(d.target) : NULL;
	switch (d.action) {
	case HA_BOOTSTRAP:
		act_bootstrap(a);
		return;
	case HA_CLONE:
		act_clone(a, d.target);
		return;
	case HA_START_REPLICA:
		act_start_replica(a, d.target);
		return;
	case HA_FOLLOW:
		act_follow(a, d.target);
		return;
	case HA_TAKE_LEADER:
		dcs_acquire_leader(a->dcs, on_acquired, a);
		return;
	case HA_PROMOTE:
		act_promote(a);
		return;
	case HA_RESTART:
		act_restart_crashed(a);
		return;
	case HA_DEMOTE:
		act_demote(a);
		return;
	case HA_RELEASE_LEADER:
		act_release(a);
		return;
	case HA_REWIND:
		act_rewind(a, d.target);
		return;
	case HA_REINIT: {
		char *t = d.target ? xstrdup(d.target) : NULL;
		a->busy = false;
		if (t)
			agent_act_reinit(a, t);
		else
			agent_action_done(a);
		free(t);
		return;
	}
	case HA_WAIT:
	case HA_KEEP_LEADER:
		break;
	}
	agent_action_done(a);
}
