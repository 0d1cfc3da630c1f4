/* The HA decision's view of the cluster from the DCS view (see dcs_view_ha.h). */
#include "dcs_view_ha.h"

#include <stdint.h>
#include <string.h>

#include "clock.h"

/* The plan remembers a site as long as the codec and the options let one be. */
_Static_assert(HA_SITE_MAX == DCS_MAX_SITE, "HA_SITE_MAX and DCS_MAX_SITE differ");

void dcs_view_to_ha(const dcs_view *v, const char *self, ha_member *members, size_t cap,
                    ha_cluster *out)
{
	memset(out, 0, sizeof(*out));
	out->dcs_ok = true;
	out->initialized = v->initialized;
	out->leader = v->leader;
	const dcs_member *lm = v->leader ? dcs_view_member(v, v->leader) : NULL;
	out->leader_site = lm ? lm->site : NULL;
	out->last_leader_lsn = v->has_status ? v->optime : 0;
	out->paused = v->has_config && v->config.pause;
	out->synchronous_mode = v->has_config && v->config.synchronous_mode;
	out->sync = (const char *const *)v->sync_standby;
	out->nsync = v->nsync_standby;
	out->sync_leader = v->has_sync ? v->sync_leader : NULL;
	out->failover_to = v->has_failover ? v->failover_candidate : NULL;
	out->failsafe_mode = v->has_config && v->config.failsafe_mode;
	out->standby_cluster = v->has_config && v->config.standby.present;
	out->has_failsafe = v->failsafe != NULL;
	out->failsafe = (const char *const *)v->failsafe_names;
	out->nfailsafe = v->nfailsafe;
	size_t n = 0;
	for (size_t i = 0; i < v->nmembers && n < cap; i++) {
		const dcs_member *m = &v->members[i];
		if (self && !strcmp(m->name, self))
			continue;
		members[n].name = m->name;
		members[n].nofailover = m->tags.nofailover;
		members[n].reachable = false;
		members[n].lsn = m->has_lsn ? m->xlog_location : 0;
		members[n].site = m->site;
		members[n].clonefrom = m->tags.clonefrom;
		n++;
	}
	out->members = members;
	out->nmembers = n;
}

bool dcs_member_running(const dcs_member *m)
{
	return m->valid && m->state && !strcmp(m->state, "running") && m->has_lsn;
}

int64_t dcs_view_leader_timeline(const dcs_view *v)
{
	const dcs_member *lm = v->leader ? dcs_view_member(v, v->leader) : NULL;
	int64_t tl = lm && lm->timeline > 0 ? lm->timeline : 0;
	/* The codec keeps timelines to 1..DCS_MAX_TIMELINE: one past the newest cannot overflow. */
	for (size_t i = 0; i < v->nhistory; i++)
		if (v->history[i].timeline > 0 && v->history[i].timeline < INT64_MAX &&
		    v->history[i].timeline + 1 > tl)
			tl = v->history[i].timeline + 1;
	return tl;
}

/* The DCS config's timings, when they keep the timing rule against the YAML's TTL (the lease's
 * TTL is fixed when it is granted) and each is 1..DCS_MAX_SECONDS; otherwise ignored. */
static void effective_config(const dcs_view *v, ha_config *cfg)
{
	const dcs_dyn_config *c = &v->config;
	if (!v->has_config || !c->valid)
		return;
	if (c->loop_wait > 0 && c->retry_timeout > 0 && c->loop_wait <= DCS_MAX_SECONDS &&
	    c->retry_timeout <= DCS_MAX_SECONDS &&
	    (uint64_t)(c->loop_wait + 2 * c->retry_timeout) * 1000 <= cfg->ttl_ms) {
		cfg->loop_wait_ms = (uint64_t)c->loop_wait * 1000;
		cfg->retry_timeout_ms = (uint64_t)c->retry_timeout * 1000;
	}
	if (c->has_maximum_lag_on_failover)
		cfg->maximum_lag_on_failover = c->maximum_lag_on_failover;
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
	f->candidate_running = m && dcs_member_running(m);
}

static bool others_running(const dcs_view *v, const char *self)
{
	for (size_t i = 0; i < v->nmembers; i++)
		if ((!self || strcmp(v->members[i].name, self) != 0) && v->members[i].state &&
		    !strcmp(v->members[i].state, "running"))
			return true;
	return false;
}

void ha_inputs_from_view(const dcs_view *v, ha_member *members, ha_inputs *in)
{
	effective_config(v, &in->cfg);
	bool dcs_ok = in->cl.dcs_ok;
	const char *failsafe_leader = in->cl.failsafe_leader;
	dcs_view_to_ha(v, in->cfg.name, members, v->nmembers, &in->cl);
	for (size_t i = 0; i < in->cl.nmembers; i++) {
		const dcs_member *m = dcs_view_member(v, members[i].name);
		members[i].reachable = m && dcs_member_running(m);
	}
	in->cl.dcs_ok = dcs_ok;
	in->cl.failsafe_leader = failsafe_leader;
	failover_key(v, &in->failover);
	in->others_running = others_running(v, in->cfg.name);
	in->config_rev = v->has_config ? v->config.mod_revision : 0;
	in->leader_timeline = dcs_view_leader_timeline(v);
}
