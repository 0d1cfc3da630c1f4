/* The actions the HA decision asks for, one at a time, each ending in agent_action_done(). A
 * multi-step action keeps its continuation in a->step. See agent_priv.h. */
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_pooler.h"
#include "agent_priv.h"
#include "backup_options.h"
#include "clock.h"
#include "diverge.h"
#include "log.h"
#include "strbuf.h"

enum {
	START_TIMEOUT_MS = 3600 * 1000, /* readiness is observed, not awaited */
	CLONE_TIMEOUT_MS = 24 * 3600 * 1000,
	STOP_STEP_MS = AGENT_STOP_STEP_MS,
};

void agent_fail_action(agent *a, const char *what, const char *err)
{
	log_error("%s: %s", what, err ? err : "failed");
	ha_memory_failed(&a->mem, &a->hc, clock_mono_ms());
	agent_action_done(a);
}

/* A promotion that failed counts as a failed restart of the leader's PostgreSQL: after
 * max_restarts of either, the leader leaves leadership to a replica (a full disk fails both). */
static void promote_failed(agent *a, const char *what, const char *err)
{
	ha_memory_restarted(&a->mem, clock_mono_ms());
	agent_fail_action(a, what, err);
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
	bool was_ready = a->pg_ready;
	a->pg_ready = false;
	a->query_ok = false;
	if (!asked) {
		a->pg_crashed = true;
		log_error("PostgreSQL exited unexpectedly (status %" PRId64 ", signal %d)", status,
		          sig);
		/* It never became ready: starting it again at once would fail the same way (its
		 * log says why), a few times a second. A crash of a running server is restarted
		 * at once. */
		if (!was_ready)
			ha_memory_failed(&a->mem, &a->hc, clock_mono_ms());
	}
	agent_step_fn fn = a->on_exit_step;
	a->on_exit_step = NULL;
	if (fn)
		fn(a, true);
	else
		agent_kick(a);
}

int agent_start_pg(agent *a, bool standby, const char *upstream, agent_step_fn on_ready, char **err)
{
	if (agent_write_pg_files(a, standby, upstream, err) != 0)
		return -1;
	a->pg_crashed = false;
	a->pg_ready = false;
	a->query_ok = false;
	a->ctl_ok = false;
	a->mem.handed_over = false;
	a->mem.rewind_pending = false; /* started after the rewind, or on fresh data */
	a->on_ready_step = on_ready;
	if (pgctl_start(a->pc, START_TIMEOUT_MS, on_started, on_exited, a, err) != 0) {
		a->on_ready_step = NULL;
		return -1;
	}
	log_info("starting PostgreSQL as %s%s%s", standby ? "a replica" : "the primary",
	         standby && upstream ? " of " : "",
	         standby && upstream ? agent_target_text(upstream) : "");
	return 0;
}

void agent_stop_pg(agent *a, pgctl_stop_mode mode, uint64_t step_ms, agent_step_fn then)
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
	if (agent_start_pg(a, true, target, NULL, &e) != 0) {
		agent_fail_action(a, "starting PostgreSQL", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void act_follow(agent *a, const char *target)
{
	char *e = NULL;
	if (agent_rewrite_pg_conf(a, true, target, &e) != 0) {
		agent_fail_action(a, "following the new leader", e);
		free(e);
		return;
	}
	log_info("now following %s (reloaded, no restart)", agent_target_text(target));
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
	agent_monitor_promoted(a);
	ha_memory_promoting(&a->mem, &a->hc, clock_mono_ms());
	a->became_leader_pending = true;
	agent_action_done(a);
}

static void act_promote(agent *a)
{
	char *e = NULL;
	a->doing = "promoting";
	/* The standby leader of a standby cluster becomes the primary site's primary. */
	a->site_promotion = a->upstream && !strcmp(a->upstream, HA_PRIMARY_SITE);
	agent_sync_before_promote(a);
	if (a->ssn) {
		/* Still a replica's files (standby.signal stays: pg_promote removes it itself),
		 * with synchronous_standby_names already set for the first commit as primary. */
		a->promoting = true;
		char *up = a->upstream ? xstrdup(a->upstream) : NULL;
		int r = agent_rewrite_pg_conf(a, true, up, &e);
		free(up);
		a->promoting = false;
		if (r != 0) {
			promote_failed(a, "synchronous_standby_names before the promotion", e);
			free(e);
			return;
		}
	}
	/* The promote file and a signal: no connection to open first (100-200 ms on a loaded
	 * machine, all of it write gap); pg_promote() over SQL when that cannot be done. */
	if (pgctl_promote_signal(a->pc, &e) == 0) {
		on_promoted(true, NULL, a);
		return;
	}
	log_warning("promoting by signal: %s; asking pg_promote()", e);
	free(e);
	pgctl_promote(a->loop, a->local_conninfo, a->hc.retry_timeout_ms, on_promoted, a);
}

static void act_restart_crashed(agent *a)
{
	char *e = NULL;
	ha_memory_restarted(&a->mem, clock_mono_ms());
	metrics_inc(&a->counters.pg_restarts, 1);
	a->sync_settle_until_ms = a->mem.last_restart_ms + a->hc.ttl_ms;
	/* Only data that was a primary restarts as one. A replica's data (we took the key and
	 * PostgreSQL died before or during its promotion) starts as a standby and is promoted on
	 * the next pass: started without standby.signal it would become a primary on the old
	 * timeline without a promotion, and the others could never follow it. */
	bool primary = a->ctl_ok && a->ctl.was_primary;
	if (!primary)
		log_warning("the data directory is a replica's (or unknown): starting it as a "
		            "standby, to be promoted");
	if (agent_start_pg(a, !primary, NULL, NULL, &e) != 0) {
		agent_fail_action(a, "restarting PostgreSQL", e);
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
	agent_stop_pg(a, PGCTL_FAST, step, demoted);
}

static void on_released(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r == DCS_OK)
		log_info("released the leader key");
	else
		log_warning("releasing the leader key: %s", error ? error : dcs_result_name(r));
	agent_pooler_handed_over(a, r == DCS_OK);
	agent_action_done(a);
}

static void release_after_stop(agent *a, bool ok)
{
	if (!ok) {
		agent_pooler_handed_over(a, false);
		agent_fail_action(a, "stopping PostgreSQL before releasing the leader key", NULL);
		return;
	}
	/* A handover an operator asked for (the target is named): PostgreSQL comes back as a
	 * replica, even in maintenance mode. */
	a->mem.handed_over = a->target != NULL;
	dcs_release_leader(a->dcs, on_released, a);
}

static void release_stop(agent *a)
{
	a->doing = "stopping";
	agent_stop_pg(a, PGCTL_FAST, STOP_STEP_MS, release_after_stop);
}

static void act_release(agent *a)
{
	bool primary = agent_pg_state(a) == HA_PG_PRIMARY;
	if (primary)
		metrics_inc(&a->counters.demotions, 1);
	if (primary && a->target) { /* a handover: the site's PgBouncers hold their clients */
		a->doing = "pausing PgBouncer";
		agent_pooler_pause(a, release_stop);
		return;
	}
	release_stop(a);
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
		agent_fail_action(a, "pg_basebackup", tail);
		return;
	}
	a->mem.rewind_failed = false;
	char *e = NULL;
	if (agent_start_pg(a, true, a->target, NULL, &e) != 0) {
		agent_fail_action(a, "starting the new replica", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

static void clone_basebackup(agent *a, const char *target)
{
	pgctl_upstream *up = agent_upstream_of(a, target, false);
	if (!up) {
		agent_fail_action(a, "cloning", "the leader's member key has no conn_url");
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
		agent_fail_action(a, "pg_basebackup", e);
		free(e);
	}
}

static void start_after_rewind(agent *a)
{
	char *e = NULL;
	if (agent_start_pg(a, true, a->target, NULL, &e) != 0) {
		agent_fail_action(a, "starting after pg_rewind", e);
		free(e);
		return;
	}
	agent_action_done(a);
}

/* The pgbackrest method ended: start the replica, or fall back to pg_basebackup (listed after
 * it), which wants an empty directory: what the restore left is moved aside. */
static void restored(agent *a, bool ok)
{
	if (ok) {
		cloned(true, NULL, NULL, a);
		return;
	}
	if (!tandemd_replica_method(a->s, "basebackup") || !a->target) {
		agent_fail_action(a, "creating a replica from the repository",
		                  a->target ? "pgbackrest restore failed, and basebackup is not in "
		                              "postgresql.create_replica_methods"
		                            : "pgbackrest restore failed, and there is no leader "
		                              "to clone");
		return;
	}
	char *e = NULL;
	if (agent_backup_clear_for_fallback(a, &e) != 0) {
		agent_fail_action(a, "moving the data directory aside for pg_basebackup", e);
		free(e);
		return;
	}
	log_warning("pgbackrest restore failed: falling back to pg_basebackup");
	char *target = xstrdup(a->target);
	clone_basebackup(a, target);
	free(target);
}

/* postgresql.create_replica_methods in order: pgbackrest (a delta restore from the repository),
 * then basebackup. */
static void act_clone(agent *a, const char *target)
{
	if (!target && !agent_backup_restore_first(a)) {
		agent_fail_action(a, "cloning", "no leader to clone");
		return;
	}
	if (!agent_backup_restore_first(a)) {
		clone_basebackup(a, target);
		return;
	}
	a->doing = "creating replica";
	agent_backup_restore(a, restored);
}

static void rewound(bool ok, const char *tail, const char *moved, void *ud)
{
	agent *a = ud;
	(void)moved;
	bool site = a->target && !strcmp(a->target, HA_PRIMARY_SITE);
	if (!ok) {
		/* The other site not answering (the link is down): start as its standby anyway, to
		 * serve reads; the check runs again at the next start. */
		if (site && pgctl_rewind_never_connected(tail)) {
			pgctl_rewind_forget(a->pc);
			log_warning("pg_rewind: the primary site does not answer; starting as its "
			            "standby without the check");
			a->mem.rewind_pending = false;
			start_after_rewind(a);
			return;
		}
		/* The source not answering says nothing about our data: try again later. */
		if (pgctl_rewind_never_connected(tail)) {
			pgctl_rewind_forget(a->pc); /* it connects before it touches anything */
			agent_fail_action(a, "pg_rewind (the source did not answer; trying again)",
			                  tail);
			return;
		}
		/* Failback: where the histories forked, for a delta restore (agent_site_fork.c). */
		if (site)
			agent_site_fork_note(a, tail);
		/* A delta restore comes next (pgbackrest first, keep_data): it checksums every
		 * file, so whatever the failed rewind changed is found and replaced, and the
		 * directory stays for it instead of being moved aside as an unfinished rewind's. */
		if (agent_backup_keeps_data(a))
			pgctl_rewind_forget(a->pc);
		a->mem.rewind_failed = true;
		agent_fail_action(a, "pg_rewind (a fresh clone comes next)", tail);
		return;
	}
	if (site) {
		agent_site_fork_note(a, tail);
		a->mem.site_checked = true;
		agent_site_report_diverged(a, tail);
	}
	/* pg_rewind reads the leader's timeline from its control file, which still names the old
	 * timeline until the leader's first checkpoint after its promotion: it then changes nothing
	 * and this member, started as a replica, could never follow. Try again (the leader runs
	 * a CHECKPOINT right after promoting). */
	if (!site && tail && strstr(tail, "source and target cluster are on the same timeline")) {
		if (agent_leader_timeline(a) > a->rewind_from_timeline) {
			agent_fail_action(
			    a, "pg_rewind",
			    "the leader has not checkpointed since its promotion (same "
			    "timeline in its control file): trying again");
			return;
		}
		/* Already on the leader's timeline: there was nothing to rewind. */
		log_info("pg_rewind: already on the leader's timeline, nothing to rewind");
	}
	start_after_rewind(a);
}

static void start_rewind(agent *a, bool ok);

static void act_rewind(agent *a, const char *target)
{
	if (!a->s->use_pg_rewind) {
		log_warning("diverged from %s and use_pg_rewind is off: a fresh clone is needed",
		            agent_target_text(target));
		a->mem.rewind_failed = true;
		agent_action_done(a);
		return;
	}
	/* Failback: what this site wrote that the other never got is kept before the rewind. */
	if (!strcmp(target, HA_PRIMARY_SITE)) {
		a->doing = "keeping the diverged WAL";
		agent_site_keep_wal(a, start_rewind);
		return;
	}
	start_rewind(a, true);
}

static void start_rewind(agent *a, bool ok)
{
	if (!ok) {
		agent_fail_action(a, "pg_rewind", "the WAL could not be kept aside first");
		return;
	}
	const char *target = a->target;
	pgctl_upstream *up = agent_upstream_of(a, target, true);
	if (!up) {
		agent_fail_action(a, "pg_rewind", "the leader's member key has no conn_url");
		return;
	}
	a->doing = "running pg_rewind";
	/* Until a rewind has really run, the divergence is known even if pg_rewind's own crash
	 * recovery changes the control data it was judged by. */
	a->mem.rewind_pending = true;
	a->rewind_from_timeline = a->ctl_ok ? diverge_timeline(&a->ctl) : 0;
	/* pg_rewind first finishes crash recovery in single-user mode, which refuses standby
	 * mode: a former primary that crashed while it was starting as a replica has the file. */
	char *se = NULL;
	if (pgctl_set_standby(a->pc, false, &se) != 0) {
		agent_upstream_free(up);
		agent_fail_action(a, "pg_rewind", se);
		free(se);
		return;
	}
	/* Backups on: restore_command reads this site's own archive (failback: the WAL the member
	 * wrote before the disaster is there, not in the other site's). */
	pgctl_clone_opts o = {.bin_dir = a->s->bin_dir,
	                      .from = up,
	                      .timeout_ms = CLONE_TIMEOUT_MS,
	                      .restore_target_wal = tandemd_backup_on(a->s),
	                      .done = rewound,
	                      .ud = a};
	char *e = NULL;
	int r = pgctl_rewind(a->loop, a->pc, &o, &e);
	agent_upstream_free(up);
	a->ctl_ok = false;
	if (r != 0) {
		a->mem.rewind_failed = true;
		agent_fail_action(a, "pg_rewind", e);
		free(e);
	}
}

static void reinit_stopped(agent *a, bool ok)
{
	char *moved = NULL, *e = NULL;
	if (!ok) {
		agent_fail_action(a, "stopping PostgreSQL for reinitialize", NULL);
		return;
	}
	if (agent_has_data(a) && agent_backup_keeps_data(a)) {
		log_info("keeping the data directory for a delta restore from the repository");
	} else if (agent_has_data(a)) {
		if (pgctl_move_aside(a->pc, &moved, &e) != 0) {
			agent_fail_action(a, "moving the data directory aside", e);
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

static void act_reinit(agent *a, const char *target)
{
	a->doing = "reinitializing";
	log_info("reinitializing from %s", target);
	agent_stop_pg(a, PGCTL_FAST, STOP_STEP_MS, reinit_stopped);
}

/* ---- a replica that cannot follow ---- */

static void recheck_stopped(agent *a, bool ok)
{
	(void)ok;
	agent_action_done(a);
}

static void act_recheck(agent *a)
{
	a->doing = "stopping";
	agent_stop_pg(a, PGCTL_FAST, STOP_STEP_MS, recheck_stopped);
}

/* ---- operator restart ---- */

static void restart_stopped(agent *a, bool ok)
{
	if (!ok) {
		agent_fail_action(a, "stopping PostgreSQL for a restart", NULL);
		return;
	}
	const dcs_view *v = dcs_get_view(a->dcs);
	bool leader = agent_holds_key(a);
	char *e = NULL;
	char *up = a->upstream ? xstrdup(a->upstream) : NULL;
	if (agent_start_pg(a, !leader, leader ? NULL : (up ? up : v->leader), NULL, &e) != 0) {
		free(up);
		agent_fail_action(a, "restarting PostgreSQL", e);
		free(e);
		return;
	}
	free(up);
	metrics_inc(&a->counters.pg_restarts, 1);
	agent_action_done(a);
}

static void act_restart(agent *a)
{
	a->doing = "restarting";
	log_info("restarting PostgreSQL (requested)");
	agent_stop_pg(a, PGCTL_FAST, STOP_STEP_MS, restart_stopped);
}

/* ---- dispatch ---- */

static void on_failover_cleared(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("deleting the failover key: %s", error ? error : dcs_result_name(r));
	agent_action_done(a);
}

static void act_apply_config(agent *a, const char *what)
{
	ha_pg_state pg = agent_pg_state(a);
	char *e = NULL;
	if (pg == HA_PG_PRIMARY || pg == HA_PG_REPLICA) {
		bool standby = pg == HA_PG_REPLICA;
		if (agent_rewrite_pg_conf(a, standby, standby ? a->upstream : NULL, &e) != 0) {
			log_error("%s: %s", what, e);
			free(e);
		} else {
			log_info("%s: PostgreSQL configuration rewritten and reloaded", what);
		}
	}
	agent_action_done(a);
}

/* Carries out one step of the plan; every step ends in agent_action_done() (which asks for the
 * next pass), except waiting and keeping the lead, which end with the pass. */
void agent_act(agent *a, ha_step s)
{
	if (s.action == HA_WAIT)
		return;
	if (s.action == HA_KEEP_LEADER) {
		if (agent_pg_state(a) == HA_PG_PRIMARY)
			agent_leader_housekeeping(a);
		else if (agent_pg_state(a) == HA_PG_REPLICA && agent_is_standby_cluster(a))
			agent_standby_leader_housekeeping(a);
		return;
	}
	a->busy = true;
	free(a->target);
	a->target = s.target ? xstrdup(s.target) : NULL;
	switch (s.action) {
	case HA_BOOTSTRAP:
		agent_act_bootstrap(a);
		return;
	case HA_CLONE:
		act_clone(a, s.target);
		return;
	case HA_START_REPLICA:
		act_start_replica(a, s.target);
		return;
	case HA_FOLLOW:
		act_follow(a, s.target);
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
		act_rewind(a, s.target);
		return;
	case HA_REINIT:
		if (!s.target)
			break;
		act_reinit(a, s.target);
		return;
	case HA_MOVE_ASIDE:
		agent_move_aside_unfinished(a, s.reason);
		agent_action_done(a);
		return;
	case HA_APPLY_CONFIG:
		act_apply_config(a, "cluster configuration applied");
		return;
	case HA_RELOAD:
		act_apply_config(a, "reload");
		return;
	case HA_CLEAR_FAILOVER:
		log_warning(
		    "dropping the failover key (to %s): the member does not run, or the key "
		    "was left by an earlier leader",
		    s.target ? s.target : "nobody");
		dcs_delete_key(a->dcs, "failover", on_failover_cleared, a);
		return;
	case HA_PUBLISH_POSITION:
		a->busy = false; /* published at the end of this pass; the plan looks again after
		                    HA_PUBLISH_GRACE_MS */
		return;
	case HA_RECHECK:
		act_recheck(a);
		return;
	case HA_OPERATOR_RESTART:
		act_restart(a);
		return;
	case HA_DEMOTE_SITE:
		agent_act_demote_site(a);
		return;
	case HA_WAIT:
	case HA_KEEP_LEADER:
		break;
	}
	agent_action_done(a);
}
