/* The plan of a rolling restart (ctl_rolling_plan.h): pure, from a dcs_view. */
#include "ctl_rolling_plan.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

static bool in_sync(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nsync_standby; i++)
		if (v->sync_standby[i] && strcmp(v->sync_standby[i], name) == 0)
			return true;
	return false;
}

static bool is_leader(const dcs_view *v, const dcs_member *m)
{
	return v->leader && strcmp(v->leader, m->name) == 0;
}

static bool running(const dcs_member *m)
{
	return m->state && strcmp(m->state, "running") == 0;
}

static bool streaming(const dcs_member *m)
{
	return m->replication_state && strcmp(m->replication_state, "streaming") == 0;
}

/* Whether `x` is restarted before `y`: asynchronous replicas before synchronous standbys, then
 * by name. */
static bool before(const dcs_view *v, const dcs_member *x, const dcs_member *y)
{
	bool sx = in_sync(v, x->name), sy = in_sync(v, y->name);
	if (sx != sy)
		return sy;
	return strcmp(x->name, y->name) < 0;
}

/* Why the cluster is not healthy enough to start a roll (heap), or NULL. */
static char *health_problem(const dcs_view *v, const dcs_member *leader)
{
	if (!v->leader)
		return xstrdup("the cluster has no leader");
	if (!leader)
		return xasprintf("the leader %s has no member key", v->leader);
	if (!leader->api_url)
		return xasprintf("the leader %s has no api_url to ask", leader->name);
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (!running(m))
			return xasprintf("%s is %s, not running", m->name,
			                 m->state ? m->state : "in an unknown state");
		if (!m->api_url)
			return xasprintf("%s has no api_url to ask", m->name);
		if (m != leader && !streaming(m))
			return xasprintf(
			    "%s does not stream from the leader (replication state %s)", m->name,
			    m->replication_state ? m->replication_state : "unknown");
	}
	return NULL;
}

void rolling_plan_make(const dcs_view *v, bool pending_only, rolling_plan *p)
{
	memset(p, 0, sizeof *p);
	const dcs_member *leader = v->leader ? dcs_view_member(v, v->leader) : NULL;
	char *why = health_problem(v, leader);
	if (why) {
		p->problem = xasprintf("%s; a rolling restart starts only from a healthy cluster "
		                       "(see tandemctl list)",
		                       why);
		free(why);
		return;
	}
	p->replicas = xcalloc(v->nmembers + 1, sizeof *p->replicas);
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (pending_only && !m->pending_restart)
			continue;
		if (is_leader(v, m))
			p->leader = m;
		else {
			/* insertion in order (a handful of members) */
			size_t k = p->nreplicas++;
			while (k > 0 && before(v, m, p->replicas[k - 1])) {
				p->replicas[k] = p->replicas[k - 1];
				k--;
			}
			p->replicas[k] = m;
		}
	}
	if (p->leader) {
		const dcs_member *c = rolling_candidate(v, &why);
		if (!c) {
			p->problem = xasprintf(
			    "no replica may take over from the leader %s (%s); restart it alone "
			    "with tandemctl restart %s (its clients are cut off meanwhile)",
			    p->leader->name, why, p->leader->name);
			free(why);
		}
	}
}

void rolling_plan_free(rolling_plan *p)
{
	free(p->replicas);
	free(p->problem);
	memset(p, 0, sizeof *p);
}

/* Whether `a` is a better candidate than `b` (NULL). */
static bool better(const dcs_view *v, const char *site, const dcs_member *a, const dcs_member *b)
{
	if (!b)
		return true;
	bool sa = in_sync(v, a->name), sb = in_sync(v, b->name);
	if (sa != sb)
		return sa;
	bool la = site && a->site && !strcmp(a->site, site);
	bool lb = site && b->site && !strcmp(b->site, site);
	if (la != lb)
		return la;
	if (a->xlog_location != b->xlog_location)
		return a->xlog_location > b->xlog_location;
	return strcmp(a->name, b->name) < 0;
}

const dcs_member *rolling_candidate(const dcs_view *v, char **why)
{
	const dcs_member *leader = v->leader ? dcs_view_member(v, v->leader) : NULL;
	const char *site = leader ? leader->site : NULL;
	bool sync_mode = v->has_config && v->config.synchronous_mode;
	const dcs_member *best = NULL;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (is_leader(v, m) || !running(m) || !streaming(m) || !m->has_lsn ||
		    m->tags.nofailover || !m->api_url || (sync_mode && !in_sync(v, m->name)))
			continue;
		if (better(v, site, m, best))
			best = m;
	}
	if (!best)
		*why = xstrdup(sync_mode ? "none is a streaming synchronous standby without "
		                           "nofailover"
		                         : "none is streaming with a WAL position and without "
		                           "nofailover");
	return best;
}
