/* The HA decision's view of the cluster from the DCS view (see dcs_view_ha.h). */
#include "dcs_view_ha.h"

#include <string.h>

void dcs_view_to_ha(const dcs_view *v, const char *self, ha_member *members, size_t cap,
                    ha_cluster *out)
{
	memset(out, 0, sizeof(*out));
	out->dcs_ok = true;
	out->initialized = v->initialized;
	out->leader = v->leader;
	out->last_leader_lsn = v->has_status ? v->optime : 0;
	out->paused = v->has_config && v->config.pause;
	out->synchronous_mode = v->has_config && v->config.synchronous_mode;
	out->sync = (const char *const *)v->sync_standby;
	out->nsync = v->nsync_standby;
	out->sync_leader = v->has_sync ? v->sync_leader : NULL;
	out->failover_to = v->has_failover ? v->failover_candidate : NULL;
	out->failsafe_mode = v->has_config && v->config.failsafe_mode;
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
		n++;
	}
	out->members = members;
	out->nmembers = n;
}
