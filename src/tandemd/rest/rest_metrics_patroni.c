/* The patroni_* families of /metrics: the 26 names Patroni 4 exposes, with its types, labels
 * ({scope,name}) and meanings, so that rules and dashboards written for Patroni read tandemd
 * unchanged (docs/monitoring.md, "Metrics"). Rendered from the published status only. */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rest_render.h"

/* One family with its one sample. */
static void fam(strbuf *out, const char *labels, const char *name, const char *type,
                const char *help, double v)
{
	metrics_single(out, name, type, help, labels, v);
}

/* "1.2.3" -> 10203, as Patroni pads its version (each part on two digits). */
static double padded_semver(const char *v)
{
	double out = 0;
	int parts = 0;
	while (v && *v && parts < 3) {
		char *end;
		long n = strtol(v, &end, 10);
		if (end == v)
			break;
		out = out * 100 + (double)(n % 100);
		parts++;
		v = *end == '.' ? end + 1 : end + strlen(end);
	}
	for (; parts < 3; parts++)
		out *= 100;
	return out;
}

/* Patroni's PostgresqlState indexes (they never change, for monitoring's sake); -1 for a state
 * Patroni has no number for (tandem's "running pg_rewind"). Promoting and demoting happen while
 * PostgreSQL runs, which is how Patroni reports them. */
static double state_index(const char *state)
{
	static const struct {
		const char *name;
		int index;
	} map[] = {
	    {"initializing new cluster", 0},
	    {"initdb failed", 1},
	    {"running custom bootstrap script", 2},
	    {"custom bootstrap failed", 3},
	    {"creating replica", 4},
	    {"running", 5},
	    {"promoting", 5},
	    {"demoting", 5},
	    {"starting", 6},
	    {"starting after custom bootstrap", 7},
	    {"start failed", 8},
	    {"restarting", 9},
	    {"restart failed", 10},
	    {"stopping", 11},
	    {"stopped", 12},
	    {"stop failed", 13},
	    {"crashed", 14},
	};
	for (size_t i = 0; state && i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(state, map[i].name))
			return map[i].index;
	return -1;
}

static bool role_is(const agent_status *st, const char *role)
{
	return st->role && !strcmp(st->role, role);
}

/* The positions, as Patroni shows them: the primary's write position, a replica's (or standby
 * leader's) received and replayed ones; 0 where they do not apply. */
static void xlog(strbuf *out, const char *l, const agent_status *st)
{
	bool primary = role_is(st, "primary");
	bool replica = role_is(st, "replica") || role_is(st, "standby_leader");
	bool known = st->lsn_known && st->health.pg == HEALTH_PG_RUNNING;
	fam(out, l, "patroni_xlog_location", "counter",
	    "Current location of the Postgres transaction log, 0 if this node is not the leader.",
	    known && primary ? (double)st->lsn : 0);
	fam(out, l, "patroni_xlog_received_location", "counter",
	    "Current location of the received Postgres transaction log, 0 if this node is not a "
	    "replica.",
	    known && replica ? (double)st->receive_lsn : 0);
	fam(out, l, "patroni_xlog_replayed_location", "counter",
	    "Current location of the replayed Postgres transaction log, 0 if this node is not a "
	    "replica.",
	    known && replica ? (double)st->lsn : 0);
	fam(out, l, "patroni_xlog_replayed_timestamp", "gauge",
	    "Current timestamp of the replayed Postgres transaction log, 0 if null.",
	    replica ? (double)st->mon.replay_unix_ms / 1000.0 : 0);
	fam(out, l, "patroni_xlog_paused", "gauge",
	    "Value is 1 if the Postgres xlog is paused, 0 otherwise.",
	    replica && st->mon.replay_paused ? 1 : 0);
	if (st->server_version >= 90600) {
		bool rec = replica && st->health.pg == HEALTH_PG_RUNNING;
		fam(out, l, "patroni_postgres_streaming", "gauge",
		    "Value is 1 if Postgres is streaming, 0 otherwise.",
		    rec && st->health.streaming ? 1 : 0);
		fam(out, l, "patroni_postgres_in_archive_recovery", "gauge",
		    "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
		    rec && !st->health.streaming ? 1 : 0);
	}
}

void rest_render_metrics_patroni(strbuf *out, const char *l, const agent_status *st)
{
	bool running = st->health.pg == HEALTH_PG_RUNNING;
	fam(out, l, "patroni_version", "gauge", "Patroni semver without periods.",
	    padded_semver(TANDEM_VERSION));
	fam(out, l, "patroni_postgres_running", "gauge",
	    "Value is 1 if Postgres is running, 0 otherwise.",
	    st->state && !strcmp(st->state, "running") ? 1 : 0);
	fam(out, l, "patroni_postmaster_start_time", "gauge",
	    "Epoch seconds since Postgres started.", (double)st->postmaster_start_unix_ms / 1000.0);
	fam(out, l, "patroni_primary", "gauge",
	    "Value is 1 if this node is the leader, 0 otherwise.", role_is(st, "primary") ? 1 : 0);
	fam(out, l, "patroni_standby_leader", "gauge",
	    "Value is 1 if this node is the standby_leader, 0 otherwise.",
	    role_is(st, "standby_leader") ? 1 : 0);
	fam(out, l, "patroni_replica", "gauge",
	    "Value is 1 if this node is a replica, 0 otherwise.", role_is(st, "replica") ? 1 : 0);
	fam(out, l, "patroni_sync_standby", "gauge",
	    "Value is 1 if this node is a sync standby, 0 otherwise.",
	    st->health.sync_standby ? 1 : 0);
	/* tandem has no quorum commit mode: no member is ever a quorum standby. */
	fam(out, l, "patroni_quorum_standby", "gauge",
	    "Value is 1 if this node is a quorum standby, 0 otherwise.", 0);
	xlog(out, l, st);
	fam(out, l, "patroni_postgres_server_version", "gauge",
	    "Version of Postgres (if running), 0 otherwise.",
	    running ? (double)st->server_version : 0);
	fam(out, l, "patroni_cluster_unlocked", "gauge",
	    "Value is 1 if the cluster is unlocked, 0 if locked.", st->leader ? 0 : 1);
	fam(out, l, "patroni_failsafe_mode_is_active", "gauge",
	    "Value is 1 if failsafe mode is active, 0 if inactive.", st->failsafe_active ? 1 : 0);
	fam(out, l, "patroni_failsafe_mode_enabled", "gauge",
	    "Value is 1 if failsafe mode is enabled, 0 otherwise.", st->failsafe_mode ? 1 : 0);
	fam(out, l, "patroni_failsafe_member", "gauge",
	    "Value is 1 if this node is a member of the failsafe topology, 0 otherwise.",
	    st->mon.failsafe_member ? 1 : 0);
	fam(out, l, "patroni_postgres_timeline", "counter",
	    "Postgres timeline of this node (if running), 0 otherwise.",
	    running && st->timeline > 0 ? (double)st->timeline : 0);
	fam(out, l, "patroni_dcs_last_seen", "gauge",
	    "Epoch timestamp when DCS was last contacted successfully by Patroni.",
	    (double)st->dcs_last_seen_unix_s);
	fam(out, l, "patroni_pending_restart", "gauge",
	    "Value is 1 if the node needs a restart, 0 otherwise.", st->pending_restart ? 1 : 0);
	fam(out, l, "patroni_is_paused", "gauge",
	    "Value is 1 if auto failover is disabled, 0 otherwise.", st->paused ? 1 : 0);
	sb_puts(out, "# HELP patroni_postgres_state Numeric representation of Postgres state.\n"
	             "# Values: 0=initdb, 1=initdb_failed, 2=custom_bootstrap, "
	             "3=custom_bootstrap_failed, 4=creating_replica, 5=running, 6=starting, "
	             "7=bootstrap_starting, 8=start_failed, 9=restarting, 10=restart_failed, "
	             "11=stopping, 12=stopped, 13=stop_failed, 14=crashed\n"
	             "# TYPE patroni_postgres_state gauge\n");
	metrics_sample(out, "patroni_postgres_state", l, state_index(st->state));
	fam(out, l, "patroni_failover_priority", "gauge",
	    "Value of the failover_priority tag (0 with nofailover).",
	    (double)st->mon.failover_priority);
}
