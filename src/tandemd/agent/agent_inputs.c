/* The plan's inputs (plan.h), gathered into one snapshot: the DCS view, the local PostgreSQL as
 * the last gathering saw it, the files, the operator's requests, and the clocks read once. Only
 * reads; the plan decides. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "clock.h"
#include "dcs_view_ha.h"
#include "log.h"

ha_member *agent_inputs(agent *a, ha_inputs *in)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	memset(in, 0, sizeof *in);
	in->cfg = a->hc;
	in->now_ms = clock_mono_ms();
	in->wall_ms = clock_unix_ms();
	in->cl.dcs_ok = a->dcs_ok;
	in->cl.failsafe_leader = agent_failsafe_leader(a, in->now_ms);

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
	if (in->was_primary)
		a->primary_data = true; /* kept until a failback has copied its WAL aside */
	in->unfinished_data = a->unfinished_data;
	in->foreign_data = a->foreign_data && !pgctl_running(a->pc);
	in->streaming = a->walreceiver && !strcmp(a->walreceiver, "streaming");
	in->timeline = a->st.timeline;
	in->sync_settling = in->now_ms < a->sync_settle_until_ms && !agent_sync_settled(a);
	in->requests = a->requests;

	ha_member *members = xcalloc(v->nmembers + 1, sizeof *members);
	ha_inputs_from_view(v, members, in);
	/* Before the cluster has a config, a member born a standby cluster already is one. */
	in->cl.standby_cluster = agent_is_standby_cluster(a);
	/* The initialize key on our own lease is our bootstrap, not another member's: one whose
	 * answer never reached us (agent_boot.c takes it up again). */
	if (agent_boot_race_is_ours(a))
		in->cl.initialized = false;
	/* The DCS config's timings stay the effective configuration (a->hc). */
	if (in->cfg.loop_wait_ms != a->hc.loop_wait_ms ||
	    in->cfg.retry_timeout_ms != a->hc.retry_timeout_ms)
		log_info("loop_wait %" PRIu64 " ms, retry_timeout %" PRIu64
		         " ms (cluster configuration)",
		         in->cfg.loop_wait_ms, in->cfg.retry_timeout_ms);
	a->hc = in->cfg;
	return members;
}
