/* Site awareness's pure choices: see site.h. */
#include "site.h"

#include <string.h>

#include "dcs_codec.h"
#include "dcs_view_ha.h"
#include "dyn_config.h"

int site_policy_parse(const char *text, site_policy *out)
{
	int p = dyn_config_site_policy(text);
	*out = p > 0 ? (site_policy)p : SITE_POLICY_ANY;
	return p < 0 ? -1 : 0;
}

const char *site_policy_name(site_policy p)
{
	if (p == SITE_POLICY_ANY)
		return "any";
	const char *n = dyn_config_site_policy_name((int)p);
	return n ? n : "?";
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

enum { LOCAL, REMOTE, NOSITE };

static int class_of(const char *leader_site, const char *site)
{
	if (!leader_site || !site)
		return NOSITE;
	return same(site, leader_site) ? LOCAL : REMOTE;
}

bool site_policy_allows(site_policy p, const char *leader_site, const char *site)
{
	if (p == SITE_POLICY_LOCAL_ONLY)
		return class_of(leader_site, site) == LOCAL;
	if (p == SITE_POLICY_REMOTE_ONLY)
		return class_of(leader_site, site) == REMOTE;
	return true;
}

static bool taken(const size_t *out, size_t k, size_t i)
{
	for (size_t j = 0; j < k; j++)
		if (out[j] == i)
			return true;
	return false;
}

/* The best candidate not yet taken whose class is `cls` (-1: any class); n when none. */
static size_t best_of(const char *leader_site, const site_candidate *c, size_t n, int cls,
                      const size_t *out, size_t k)
{
	size_t best = n;
	for (size_t i = 0; i < n; i++) {
		if (taken(out, k, i) || (cls >= 0 && class_of(leader_site, c[i].site) != cls))
			continue;
		if (best == n || c[i].current > c[best].current ||
		    (c[i].current == c[best].current && c[i].lsn > c[best].lsn))
			best = i;
	}
	return best;
}

size_t site_sync_pick(site_policy p, const char *leader_site, const site_candidate *c, size_t n,
                      size_t want, size_t *out)
{
	/* The classes each policy draws from, in order; balanced alternates its first two. */
	static const int order[][3] = {
	    [SITE_POLICY_ANY] = {-1, -2, -2},
	    [SITE_POLICY_LOCAL_ONLY] = {LOCAL, -2, -2},
	    [SITE_POLICY_PREFER_LOCAL] = {LOCAL, REMOTE, NOSITE},
	    [SITE_POLICY_REMOTE_ONLY] = {REMOTE, -2, -2},
	    [SITE_POLICY_PREFER_REMOTE] = {REMOTE, LOCAL, NOSITE},
	    [SITE_POLICY_BALANCED] = {REMOTE, LOCAL, NOSITE},
	};
	if ((size_t)p >= sizeof order / sizeof order[0])
		p = SITE_POLICY_ANY;
	size_t k = 0;
	if (p == SITE_POLICY_BALANCED) {
		for (int turn = 0; k < want; turn = !turn) {
			size_t i = best_of(leader_site, c, n, order[p][turn], out, k);
			if (i == n)
				i = best_of(leader_site, c, n, order[p][!turn], out, k);
			if (i == n)
				break;
			out[k++] = i;
		}
	}
	for (size_t o = 0; o < 3 && order[p][o] != -2; o++)
		while (k < want) {
			size_t i = best_of(leader_site, c, n, order[p][o], out, k);
			if (i == n)
				break;
			out[k++] = i;
		}
	return k;
}

static bool in_sync(const dcs_view *v, const char *name)
{
	for (size_t k = 0; k < v->nsync_standby; k++)
		if (!strcmp(v->sync_standby[k], name))
			return true;
	return false;
}

const dcs_member *site_switchover_candidate(const dcs_view *v, const char *self,
                                            const char *self_site, const char *only)
{
	/* In synchronous mode only a synchronous standby has every acknowledged commit. */
	bool sync_only = v->has_config && v->config.synchronous_mode;
	const dcs_member *best = NULL, *best_here = NULL;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (same(m->name, self) || !dcs_member_running(m) || m->tags.nofailover ||
		    (sync_only && !in_sync(v, m->name)) || (only && !same(m->name, only)))
			continue;
		if (!best || m->xlog_location > best->xlog_location)
			best = m;
		if (same(m->site, self_site) &&
		    (!best_here || m->xlog_location > best_here->xlog_location))
			best_here = m;
	}
	return best_here ? best_here : best;
}
