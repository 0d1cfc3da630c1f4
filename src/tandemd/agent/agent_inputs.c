/* The plan's inputs (plan.h), gathered into one snapshot: the DCS view, the local PostgreSQL as
 * the last gathering saw it, the files, the operator's requests, and the clocks read once. Only
 * reads; the plan decides. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "agent_priv.h"
#include "clock.h"
#include "log.h"

/* The YAML's timings with the DCS config's applied: loop_wait, retry_timeout and
 * maximum_lag_on_failover at once; the lease's TTL is fixed when it is granted (a new ttl
 * applies when tandemd restarts). A DCS config that breaks the timing rule is ignored. */
static void effective_config(agent *a, const dcs_view *v)
{
	const dcs_dyn_config *c = &v->config;
	if (!v->has_config || !c->valid)
		return;
	if (c->loop_wait > 0 && c->retry_timeout > 0 &&
	    (uint64_t)(c->loop_wait + 2 * c->retry_timeout) * 1000 <= a->hc.ttl_ms) {
		uint64_t lw = (uint64_t)c->loop_wait * 1000, rt = (uint64_t)c->retry_timeout * 1000;
		if (lw != a->hc.loop_wait_ms || rt != a->hc.retry_timeout_ms)
			log_info("loop_wait %" PRIu64 " ms, retry_timeout %" PRIu64
			         " ms (cluster configuration)",
			         lw, rt);
		a->hc.loop_wait_ms = lw;
		a->hc.retry_timeout_ms = rt;
	}
	if (c->has_maximum_lag_on_failover)
		a->hc.maximum_lag_on_failover = c->maximum_lag_on_failover;
}

static void failover_key(const dcs_view *v, ha_failover_key *f)
{
	memset(f, 0, sizeof *f);
	f->present = v->has_failover;
	if (!f->present)
		return;
	f->leader = v->failover_leader;
	f->candidate = v->failover_candidate;
	f->scheduled = v->failover_scheduled_at != NULL;
	f->schedule_valid =
	    f->scheduled && clock_parse_iso8601(v->failover_scheduled_at, &f->at_unix_ms) == 0;
	const dcs_member *m = f->candidate ? dcs_view_member(v, f->candidate) : NULL;
	f->candidate_running = m && agent_member_running(m);
}

static bool others_running(const agent *a, const dcs_view *v)
{
	for (size_t i = 0; i < v->nmembers; i++)
		if (strcmp(v->members[i].name, a->s->name) != 0 && v->members[i].state &&
		    !strcmp(v->members[i].state, "running"))
			return true;
	return false;
}

static int64_t wall_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

ha_member *agent_inputs(agent *a, ha_inputs *in)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	memset(in, 0, sizeof *in);
	effective_config(a, v);
	in->cfg = a->hc;
	in->now_ms = clock_mono_ms();
	in->wall_ms = wall_ms();

	ha_member *members = xcalloc(v->nmembers + 1, sizeof *members);
	dcs_view_to_ha(v, a->s->name, members, v->nmembers, &in->cl);
	for (size_t i = 0; i < in->cl.nmembers; i++) {
		const dcs_member *m = dcs_view_member(v, members[i].name);
		members[i].reachable = m && agent_member_running(m);
	}
	in->cl.dcs_ok = a->dcs_ok;
	in->cl.failsafe_leader = agent_failsafe_leader(a, in->now_ms);
	failover_key(v, &in->failover);

	in->lo.pg = agent_pg_state(a);
	in->lo.upstream = a->upstream;
	if (in->lo.pg == HA_PG_PRIMARY || in->lo.pg == HA_PG_REPLICA)
		in->lo.lsn = a->st.in_recovery && a->st.receive_lsn > a->st.lsn ? a->st.receive_lsn
		                                                                : a->st.lsn;
	else if (a->ctl_ok)
		in->lo.lsn = a->ctl.checkpoint_lsn;

	in->lease_expiry_ms = a->lease_expiry_ms;
	in->failsafe_expiry_ms = agent_failsafe_expiry(a);
	in->forked = agent_diverged(a);
	in->was_primary = a->ctl_ok && a->ctl.was_primary;
	in->others_running = others_running(a, v);
	in->unfinished_data = a->unfinished_data;
	in->config_rev = v->has_config ? v->config.mod_revision : 0;
	in->streaming = a->walreceiver && !strcmp(a->walreceiver, "streaming");
	in->timeline = a->st.timeline;
	in->leader_timeline = agent_leader_timeline(a);
	in->sync_settling = in->now_ms < a->sync_settle_until_ms && !agent_sync_settled(a);
	in->requests = a->requests;
	return members;
}
