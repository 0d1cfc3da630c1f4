#include "ha.h"

#include <string.h>

static const char *const action_names[] = {
    "wait",           "bootstrap",        "clone",       "start_replica", "follow",
    "take_leader",    "promote",          "keep_leader", "restart",       "demote",
    "release_leader", "rewind",           "reinit",      "move_aside",    "apply_config",
    "clear_failover", "publish_position", "recheck",     "reload",        "operator_restart",
    "demote_site",
};

const char *ha_action_name(ha_action a)
{
	return (size_t)a < sizeof action_names / sizeof action_names[0] ? action_names[a] : "?";
}

bool ha_timing_valid(const ha_config *cfg)
{
	return cfg->ttl_ms > 0 && cfg->loop_wait_ms > 0 && cfg->retry_timeout_ms > 0 &&
	       cfg->loop_wait_ms + 2 * cfg->retry_timeout_ms <= cfg->ttl_ms;
}

static ha_decision decide(ha_action action, const char *target, const char *reason)
{
	ha_decision d = {action, target, reason, 0, false};
	return d;
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool ha_outlives(const ha_config *cfg, uint64_t expiry_ms, uint64_t now_ms)
{
	return expiry_ms > now_ms && expiry_ms - now_ms > cfg->retry_timeout_ms;
}

static bool lease_safe(const ha_config *cfg, const ha_clock *clk)
{
	return ha_outlives(cfg, clk->lease_expiry_ms, clk->now_ms);
}

/* Failsafe mode: every member confirmed us recently enough to stand in for the lease. */
static bool failsafe_safe(const ha_config *cfg, const ha_cluster *cl, const ha_clock *clk)
{
	return cl->failsafe_mode && ha_outlives(cfg, clk->failsafe_expiry_ms, clk->now_ms);
}

static bool in_failsafe_list(const ha_cluster *cl, const char *name)
{
	for (size_t i = 0; i < cl->nfailsafe; i++)
		if (same(cl->failsafe[i], name))
			return true;
	return false;
}

static bool in_sync_list(const ha_cluster *cl, const char *name)
{
	if (same(cl->sync_leader, name))
		return true;
	for (size_t i = 0; i < cl->nsync; i++)
		if (same(cl->sync[i], name))
			return true;
	return false;
}

bool ha_sync_sole_candidate(const ha_cluster *cl, const char *name)
{
	if (!cl->synchronous_mode || !in_sync_list(cl, name))
		return false;
	if (cl->sync_leader && !same(cl->sync_leader, name))
		return false;
	for (size_t i = 0; i < cl->nsync; i++)
		if (!same(cl->sync[i], name))
			return false;
	return true;
}

static bool within_lag(const ha_config *cfg, const ha_cluster *cl, uint64_t lsn)
{
	return !(cl->last_leader_lsn > lsn &&
	         cl->last_leader_lsn - lsn > cfg->maximum_lag_on_failover);
}

/* Rule 3: may this replica take the leader key? Fills *why when not. */
static bool fit_to_lead(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                        const char **why)
{
	if (cfg->nofailover) {
		*why = "not a candidate: tagged nofailover";
		return false;
	}
	if (cl->failover_to && !same(cl->failover_to, cfg->name)) {
		*why = "a manual failover names another member";
		return false;
	}
	if (cl->failsafe_mode && cl->failsafe_leader && !same(cl->failsafe_leader, cfg->name)) {
		*why = "failsafe mode: the leader confirmed itself to us less than a TTL ago";
		return false;
	}
	if (cl->failsafe_mode && cl->has_failsafe && !in_failsafe_list(cl, cfg->name)) {
		*why = "failsafe mode: not in the failsafe key, so never asked to confirm a leader";
		return false;
	}
	if (cl->synchronous_mode && !in_sync_list(cl, cfg->name)) {
		*why = "synchronous mode and not a synchronous standby";
		return false;
	}
	/* A standby cluster promotes nobody: its leader catches up from the primary site. The last
	 * position may even be this site's own, from before a failback, on a history the primary
	 * site never had. */
	if (!cl->standby_cluster && !within_lag(cfg, cl, lo->lsn)) {
		*why = "too far behind the last leader position (maximum_lag_on_failover)";
		return false;
	}
	/* An operator who names us has chosen, as in Patroni: the synchronous and lag rules above
	 * still hold, but another replica further ahead does not stop us. */
	if (cl->failover_to && same(cl->failover_to, cfg->name)) {
		*why = "chosen by a manual failover";
		return true;
	}
	for (size_t i = 0; i < cl->nmembers; i++) {
		const ha_member *m = &cl->members[i];
		/* Only a member that could take over instead of us counts: in synchronous mode an
		 * asynchronous replica may have received more (commits nobody acknowledged), but it
		 * may not be promoted. */
		if (cl->synchronous_mode && !in_sync_list(cl, m->name))
			continue;
		if (m->reachable && !m->nofailover && m->lsn > lo->lsn) {
			*why = "another member is further ahead in WAL";
			return false;
		}
	}
	*why = "the healthiest candidate; no leader";
	return true;
}

uint64_t ha_site_wait_ms(const ha_config *cfg, const ha_cluster *cl, uint64_t lsn,
                         uint64_t leaderless_ms)
{
	if (!cl->leader_site || same(cfg->site, cl->leader_site) || leaderless_ms >= cfg->ttl_ms)
		return 0;
	for (size_t i = 0; i < cl->nmembers; i++) {
		const ha_member *m = &cl->members[i];
		if (!same(m->site, cl->leader_site) || !m->reachable || m->nofailover ||
		    m->lsn < lsn || !within_lag(cfg, cl, m->lsn))
			continue;
		if (cl->synchronous_mode && !in_sync_list(cl, m->name))
			continue;
		return cfg->ttl_ms - leaderless_ms;
	}
	return 0;
}

static const ha_member *further(const ha_member *a, const ha_member *b)
{
	return !a || b->lsn > a->lsn ? b : a;
}

const char *ha_clone_source(const ha_config *cfg, const ha_cluster *cl)
{
	if (!cl->leader)
		return NULL;
	const ha_member *tagged = NULL, *any = NULL;
	for (size_t i = 0; cfg->site && i < cl->nmembers; i++) {
		const ha_member *m = &cl->members[i];
		if (same(m->name, cl->leader) || !m->reachable || !same(m->site, cfg->site))
			continue;
		if (m->clonefrom)
			tagged = further(tagged, m);
		any = further(any, m);
	}
	if (tagged)
		return tagged->name;
	if (!cfg->site || same(cl->leader_site, cfg->site) || !any)
		return cl->leader;
	return any->name;
}

static const char *clone_reason(const ha_cluster *cl, const char *source, const char *leader_is,
                                const char *replica_is)
{
	return same(source, cl->leader) ? leader_is : replica_is;
}

/* Maintenance mode stops automatic actions, not the ones an operator asks for: a switchover or
 * failover naming a member still happens (Patroni's rule). */
static bool operator_named(const ha_cluster *cl, const char *name)
{
	return same(cl->failover_to, name);
}

/* A leader whose PostgreSQL is down may start it again: a lease long enough, and not too many
 * crashes; otherwise *d releases the key. */
static bool may_restart(const ha_config *cfg, const ha_local *lo, const ha_clock *clk,
                        ha_decision *d)
{
	if (!lease_safe(cfg, clk)) {
		*d = decide(HA_RELEASE_LEADER, NULL,
		            "PostgreSQL is down and the lease is too short to restart it");
		return false;
	}
	if (lo->restarts >= cfg->max_restarts) {
		*d = decide(HA_RELEASE_LEADER, NULL,
		            "PostgreSQL keeps crashing: leaving leadership to a replica");
		return false;
	}
	return true;
}

/* The leader of a standby cluster: a replica of the primary site, never promoted here (an
 * operator promotes the site by removing standby_cluster). A writable primary was demoted by
 * ha_decide before this. */
static ha_decision as_standby_leader(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                                     const ha_clock *clk)
{
	ha_decision d;
	switch (lo->pg) {
	case HA_PG_REPLICA:
	case HA_PG_STARTING:
		if (!same(lo->upstream, HA_PRIMARY_SITE))
			return decide(HA_FOLLOW, HA_PRIMARY_SITE,
			              "the standby leader: replicating from the primary site");
		return decide(HA_KEEP_LEADER, HA_PRIMARY_SITE,
		              "the standby leader, replicating from the primary site");
	case HA_PG_STOPPED:
	case HA_PG_CRASHED:
		if (cl->paused && !lo->handed_over)
			return decide(HA_KEEP_LEADER, NULL,
			              "maintenance mode: not starting PostgreSQL");
		if (!may_restart(cfg, lo, clk, &d))
			return d;
		/* Failback: data that was a primary may hold WAL the other site never got. */
		if (lo->diverged && lo->rewind_failed)
			return decide(
			    HA_REINIT, HA_PRIMARY_SITE,
			    "pg_rewind from the primary site failed: moving the data aside "
			    "and copying the primary site");
		if (lo->diverged)
			return decide(
			    HA_REWIND, HA_PRIMARY_SITE,
			    "the standby leader's data, not yet checked against the primary "
			    "site: pg_rewind from it (nothing changes when nothing forked)");
		return decide(HA_START_REPLICA, HA_PRIMARY_SITE,
		              "the standby leader: starting as a replica of the primary site");
	case HA_PG_PRIMARY:
	case HA_PG_NO_DATA:
		break;
	}
	return decide(HA_RELEASE_LEADER, NULL, "holding the leader key without a data directory");
}

static ha_decision as_leader(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                             const ha_clock *clk)
{
	ha_decision d;
	if (cl->failover_to && !same(cl->failover_to, cfg->name))
		return decide(HA_RELEASE_LEADER, cl->failover_to,
		              "handing leadership over: a manual failover names another member");
	if (cl->standby_cluster)
		return as_standby_leader(cfg, cl, lo, clk);
	switch (lo->pg) {
	case HA_PG_PRIMARY:
		return decide(HA_KEEP_LEADER, NULL, "the leader, with the lease");
	case HA_PG_REPLICA:
		if (cl->paused && !operator_named(cl, cfg->name))
			return decide(HA_KEEP_LEADER, NULL, "maintenance mode: not promoting");
		if (lo->restarts >= cfg->max_restarts)
			return decide(
			    HA_RELEASE_LEADER, NULL,
			    "PostgreSQL cannot be made writable again: leaving leadership "
			    "to a replica");
		return decide(HA_PROMOTE, NULL, "holding the leader key with a replica: promote");
	case HA_PG_STARTING:
		return decide(HA_KEEP_LEADER, NULL, "the leader, PostgreSQL starting");
	case HA_PG_STOPPED:
	case HA_PG_CRASHED:
		if (cl->paused)
			return decide(HA_KEEP_LEADER, NULL, "maintenance mode: not restarting");
		if (!may_restart(cfg, lo, clk, &d))
			return d;
		return decide(
		    HA_RESTART, NULL,
		    "PostgreSQL is down on the leader: restarting in place is quicker than a "
		    "failover");
	case HA_PG_NO_DATA:
		break;
	}
	return decide(HA_RELEASE_LEADER, NULL, "holding the leader key without a data directory");
}

static ha_decision rejoin(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo)
{
	if (lo->rewind_failed && !cl->standby_cluster) {
		const char *src = ha_clone_source(cfg, cl);
		return decide(HA_REINIT, src,
		              clone_reason(cl, src,
		                           "pg_rewind failed: moving the data aside and cloning "
		                           "the leader",
		                           "pg_rewind failed: moving the data aside and copying a "
		                           "replica in our site"));
	}
	if (lo->rewind_failed)
		return decide(HA_REINIT, cl->leader,
		              "pg_rewind failed: moving the data aside and cloning the leader");
	/* In a standby cluster the leader is itself a standby, whose control file names its new
	 * timeline only after a restartpoint: pg_rewind from the primary site instead. */
	if (cl->standby_cluster)
		return decide(HA_REWIND, HA_PRIMARY_SITE,
		              "history forked from the primary site's: pg_rewind from it");
	return decide(HA_REWIND, cl->leader, "a former primary whose history forked: pg_rewind");
}

static ha_decision as_follower(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo)
{
	if (lo->diverged)
		return rejoin(cfg, cl, lo);
	switch (lo->pg) {
	case HA_PG_REPLICA:
		if (!same(lo->upstream, cl->leader))
			return decide(HA_FOLLOW, cl->leader, "following the new leader");
		return decide(HA_WAIT, cl->leader, "a replica of the leader");
	case HA_PG_STOPPED:
	case HA_PG_CRASHED:
		if (cl->paused && !lo->handed_over)
			return decide(HA_WAIT, NULL, "maintenance mode: not starting PostgreSQL");
		return decide(HA_START_REPLICA, cl->leader, "starting as a replica of the leader");
	case HA_PG_STARTING:
		/* Still recovering towards consistency from someone who no longer leads: it would
		 * wait for ever. primary_conninfo is reloadable. */
		if (lo->upstream && !same(lo->upstream, cl->leader))
			return decide(HA_FOLLOW, cl->leader,
			              "starting, but from a former leader: following the new one");
		return decide(HA_WAIT, NULL, "PostgreSQL is starting");
	default:
		return decide(HA_WAIT, NULL, "waiting");
	}
}

/* A fit replica with a lease and no leader: rule 4, an operator who names us has chosen;
 * otherwise the last leader's site goes first among the equally fit, for a bounded time. */
static ha_decision candidate(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                             const ha_clock *clk, const char *why)
{
	uint64_t wait = same(cl->failover_to, cfg->name)
	                    ? 0
	                    : ha_site_wait_ms(cfg, cl, lo->lsn, clk->leaderless_ms);
	ha_decision d = wait ? decide(HA_WAIT, NULL,
	                              "fit to lead, but a member in the last leader's site is as "
	                              "far ahead: it goes first (at most a TTL)")
	                     : decide(HA_TAKE_LEADER, NULL, why);
	d.recheck_in_ms = wait;
	d.candidate = true;
	return d;
}

static ha_decision leaderless(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                              const ha_clock *clk)
{
	const char *why;
	switch (lo->pg) {
	case HA_PG_STOPPED:
	case HA_PG_CRASHED:
		if (cl->paused && !lo->handed_over)
			return decide(HA_WAIT, NULL, "maintenance mode: not starting PostgreSQL");
		if (lo->diverged)
			return decide(HA_WAIT, NULL, "no leader to rewind from");
		/* A standby cluster's leader is never writable, and its data is checked against
		 * the primary site (pg_rewind) before PostgreSQL starts: take the key first. */
		if (cl->standby_cluster && !cfg->nofailover && lease_safe(cfg, clk))
			return decide(
			    HA_TAKE_LEADER, NULL,
			    "a standby cluster without a leader: taking the key, to check "
			    "our data against the primary site before starting");
		return decide(HA_START_REPLICA, NULL, "no leader: starting as a replica first");
	case HA_PG_STARTING:
		return decide(HA_WAIT, NULL, "PostgreSQL is starting");
	case HA_PG_REPLICA:
		if (cl->paused && !operator_named(cl, cfg->name))
			return decide(HA_WAIT, NULL, "maintenance mode: no automatic failover");
		if (lo->diverged)
			return decide(HA_WAIT, NULL,
			              "diverged from the last leader: not a candidate");
		if (!fit_to_lead(cfg, cl, lo, &why))
			return decide(HA_WAIT, NULL, why);
		/* The key hangs on our lease: one about to end (or not yet renewed after an
		 * outage) would drop it again, and the fence would stop the new primary. */
		if (!lease_safe(cfg, clk))
			return decide(HA_WAIT, NULL, "fit to lead, waiting for a fresh lease");
		return candidate(cfg, cl, lo, clk, why);
	default:
		return decide(HA_WAIT, NULL, "waiting");
	}
}

ha_decision ha_decide(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                      const ha_clock *clk)
{
	bool we_lead = same(cl->leader, cfg->name);

	/* Rules 1 and 2 come before everything, TILT and maintenance mode included: a writable
	 * primary needs the key, and a lease that cannot lapse before we stop. */
	if (lo->pg == HA_PG_PRIMARY) {
		/* Two writable sites must never be: a standby cluster has no writable member. Its
		 * leader stops cleanly (the other site can then replay up to exactly its shutdown
		 * checkpoint); anyone else stops as any primary without the key. */
		if (cl->standby_cluster && we_lead)
			return decide(HA_DEMOTE_SITE, HA_PRIMARY_SITE,
			              "the cluster is now a standby cluster: stopping cleanly to "
			              "follow the primary site");
		if (cl->standby_cluster)
			return decide(HA_DEMOTE, cl->leader,
			              "a standby cluster has no writable member");
		bool fs = failsafe_safe(cfg, cl, clk);
		if (!cl->dcs_ok && !lease_safe(cfg, clk) && !fs)
			return decide(
			    HA_DEMOTE, NULL,
			    cl->failsafe_mode
			        ? "cannot reach the DCS, the lease may expire and not every "
			          "member confirmed us: stop writing"
			        : "cannot reach the DCS and the lease may expire: stop writing");
		if (cl->dcs_ok && cl->leader && !we_lead)
			return decide(HA_DEMOTE, cl->leader, "another member holds the leader key");
		/* The DCS is back but our key lapsed during the outage: the members' confirmation
		 * still holds them back, so take the key again rather than stop. */
		if (cl->dcs_ok && !cl->leader && fs) {
			if (lease_safe(cfg, clk) && !clk->tilt)
				return decide(
				    HA_TAKE_LEADER, NULL,
				    "failsafe mode: the DCS is back, taking the key again");
			return decide(HA_WAIT, NULL,
			              "failsafe mode: the DCS is back, waiting for a fresh lease");
		}
		if (cl->dcs_ok && !we_lead)
			return decide(HA_DEMOTE, NULL, "writable without the leader key");
		/* The confirmation holds the other members back whether or not the DCS answers
		 * (etcd, restarted, still keeps our key while our first renewal is under way). */
		if (!lease_safe(cfg, clk) && !fs)
			return decide(HA_DEMOTE, NULL, "the lease may expire before it is renewed");
	}
	if (clk->tilt)
		return decide(we_lead ? HA_KEEP_LEADER : HA_WAIT, NULL,
		              "TILT: the loop stalled or the clock jumped; observing");
	if (!cl->dcs_ok) {
		if (lo->pg == HA_PG_PRIMARY && !lease_safe(cfg, clk))
			return decide(
			    HA_KEEP_LEADER, NULL,
			    "failsafe mode: cannot reach the DCS, every member confirmed us");
		return decide(lo->pg == HA_PG_PRIMARY ? HA_KEEP_LEADER : HA_WAIT, NULL,
		              "cannot reach the DCS");
	}

	if (!cl->initialized) {
		if (lo->pg == HA_PG_NO_DATA)
			return decide(HA_BOOTSTRAP, NULL, "the cluster is not initialized");
		return decide(HA_BOOTSTRAP, NULL,
		              "the cluster is not initialized: adopting the existing data");
	}
	if (lo->pg == HA_PG_NO_DATA) {
		if (cl->leader && !we_lead && cl->standby_cluster)
			return decide(HA_CLONE, cl->leader, "no data: cloning the leader");
		if (cl->leader && !we_lead) {
			const char *src = ha_clone_source(cfg, cl);
			return decide(HA_CLONE, src,
			              clone_reason(cl, src, "no data: cloning the leader",
			                           "no data: copying a replica in our site before "
			                           "crossing the link"));
		}
		if (we_lead)
			return as_leader(cfg, cl, lo, clk);
		if (cfg->restore_without_leader)
			return decide(
			    HA_CLONE, NULL,
			    "no data and no leader: restoring from the backup repository");
		return decide(HA_WAIT, NULL, "no data and no leader to clone from");
	}
	if (we_lead)
		return as_leader(cfg, cl, lo, clk);
	if (cl->leader)
		return as_follower(cfg, cl, lo);
	return leaderless(cfg, cl, lo, clk);
}

ha_tilt ha_tilt_detect(const ha_config *cfg, uint64_t prev_mono, uint64_t prev_wall, uint64_t mono,
                       uint64_t wall)
{
	if (!prev_mono || mono < prev_mono)
		return HA_TILT_NONE;
	uint64_t dm = mono - prev_mono;
	if (dm > cfg->loop_wait_ms + cfg->retry_timeout_ms)
		return HA_TILT_STALL;
	int64_t skew = (int64_t)(wall - prev_wall) - (int64_t)dm;
	if (skew > 2000 || skew < -2000)
		return HA_TILT_CLOCK;
	return HA_TILT_NONE;
}
