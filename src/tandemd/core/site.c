/* Site awareness's pure choices: see site.h. */
#include "site.h"

#include <string.h>

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
