/* The status snapshot the REST API serves (agent.h): built from the DCS view and the last
 * gathering when asked, never by asking PostgreSQL or etcd. */
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "clock.h"
#include "diverge.h"

/* ---- status ---- */

static const char *pg_state_text(const agent *a, ha_pg_state pg)
{
	if (a->doing)
		return a->doing;
	switch (pg) {
	case HA_PG_PRIMARY:
	case HA_PG_REPLICA:
		return "running";
	case HA_PG_STARTING:
		return "starting";
	case HA_PG_CRASHED:
		return "crashed";
	case HA_PG_NO_DATA:
		return "stopped";
	case HA_PG_STOPPED:
		break;
	}
	return "stopped";
}

const agent_status *agent_status_get(agent *a)
{
	agent_status *st = &a->status;
	const dcs_view *v = dcs_get_view(a->dcs);
	ha_pg_state pg = agent_pg_state(a);
	memset(st, 0, sizeof *st);
	st->scope = a->s->scope;
	st->name = a->s->name;
	st->settings = a->s;
	st->view = v;
	st->state = pg_state_text(a, pg);
	bool running = pg == HA_PG_PRIMARY || pg == HA_PG_REPLICA;
	bool standby_leader =
	    agent_holds_key(a) && agent_is_standby_cluster(a) && pg != HA_PG_PRIMARY;
	st->role = standby_leader        ? "standby_leader"
	           : pg == HA_PG_PRIMARY ? "primary"
	           : pg == HA_PG_REPLICA ? "replica"
	           : agent_has_data(a)   ? (a->ctl_ok && a->ctl.was_primary ? "primary" : "replica")
	                                 : "uninitialized";
	st->server_version = a->server_version;
	st->lsn_known = running || a->ctl_ok;
	st->lsn = running ? a->st.lsn : a->ctl_ok ? a->ctl.checkpoint_lsn : 0;
	st->receive_lsn = running && a->st.in_recovery ? a->st.receive_lsn : 0;
	st->timeline = running ? a->st.timeline : a->ctl_ok ? diverge_timeline(&a->ctl) : 0;
	st->sysid = a->sysid ? a->sysid : v->sysid;
	st->postmaster_start_unix_ms = pgctl_running(a->pc) ? (int64_t)a->pg_started_unix_ms : 0;
	st->pending_restart = running && a->pending_restart;
	st->holds_leader_key = agent_holds_key(a);
	st->leader = v->leader;
	st->dcs_ok = a->dcs_ok;
	st->dcs_last_seen_unix_s = a->dcs_last_seen_unix_s;
	st->paused = v->has_config && v->config.pause;
	st->failsafe_mode = agent_failsafe_mode(a);
	st->failsafe_active = agent_failsafe_active(a);
	st->replicas = a->replicas;
	st->nreplicas = a->nreplicas;
	st->drill_step = agent_drill_step(a);
	st->last_action = ha_action_name(a->last_action);
	st->last_reason = a->last_reason;
	st->archive = agent_backup_status(a);

	health_state *h = &st->health;
	h->role = pg == HA_PG_PRIMARY   ? HEALTH_ROLE_PRIMARY
	          : pg == HA_PG_REPLICA ? HEALTH_ROLE_REPLICA
	                                : HEALTH_ROLE_UNINITIALIZED;
	if (!running && agent_has_data(a))
		h->role = st->holds_leader_key ? HEALTH_ROLE_PRIMARY : HEALTH_ROLE_REPLICA;
	h->pg = running                ? HEALTH_PG_RUNNING
	        : pg == HA_PG_STARTING ? HEALTH_PG_STARTING
	        : pg == HA_PG_CRASHED  ? HEALTH_PG_CRASHED
	                               : HEALTH_PG_STOPPED;
	if (standby_leader) {
		h->role = HEALTH_ROLE_STANDBY_LEADER;
		h->is_standby_leader = true;
	}
	/* A primary on the members' confirmation is the one writable member, key or not. */
	h->holds_leader_key = st->holds_leader_key || st->failsafe_active;
	const dcs_member *lm = v->leader ? dcs_view_member(v, v->leader) : NULL;
	uint64_t leader_pos = lm && lm->has_lsn ? lm->xlog_location : v->has_status ? v->optime : 0;
	if (pg == HA_PG_REPLICA && leader_pos) {
		h->lag_known = true;
		h->lag_bytes = leader_pos > a->st.lsn ? leader_pos - a->st.lsn : 0;
	} else if (pg == HA_PG_PRIMARY) {
		h->lag_known = true;
	}
	h->streaming = a->walreceiver && !strcmp(a->walreceiver, "streaming");
	for (size_t i = 0; i < v->nsync_standby; i++)
		if (!strcmp(v->sync_standby[i], a->s->name))
			h->sync_standby = true;
	h->nofailover = tandemd_tag(a->s, "nofailover");
	h->noloadbalance = tandemd_tag(a->s, "noloadbalance");
	h->nosync = tandemd_tag(a->s, "nosync");
	h->clonefrom = tandemd_tag(a->s, "clonefrom");
	h->tags = a->tags_kv;
	h->ntags = a->ntags_kv;
	h->paused = st->paused;
	uint64_t now = clock_mono_ms();
	/* No pass runs while an action does (a clone may take hours): the agent is alive as long as
	 * it answers, which this loop's REST server does only when the loop is not frozen. */
	h->heartbeat_age_ms = a->busy || !a->last_pass_done_ms ? 0 : now - a->last_pass_done_ms;
	h->ttl_ms = a->hc.ttl_ms;
	h->dcs_ok = a->dcs_ok;
	h->max_lag_on_failover = a->hc.maximum_lag_on_failover;
	agent_monitor_publish(a, st);
	return st;
}

const agent_counters *agent_counters_get(const agent *a)
{
	return &a->counters;
}
