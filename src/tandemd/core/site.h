/* Site awareness beside the HA decision (ha.h rule 4): which replicas become synchronous
 * standbys under the cluster's `synchronous_site_policy`, and whom a switchover without a
 * candidate hands over to. Pure: no I/O, no allocation. */
#ifndef TANDEMD_SITE_H
#define TANDEMD_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The DCS config's `synchronous_site_policy`: where synchronous standbys come from, seen from
 * the leader's site. "Local": a member of the leader's site; "remote": a member whose site is
 * known and another one (a member without a site is neither; it is used only by the prefer_
 * policies and balanced, after both). */
typedef enum site_policy {
	SITE_POLICY_ANY,           /* absent: the sites do not matter (furthest ahead first) */
	SITE_POLICY_LOCAL_ONLY,    /* only local members */
	SITE_POLICY_PREFER_LOCAL,  /* local members first, then remote ones */
	SITE_POLICY_REMOTE_ONLY,   /* only remote members: an acknowledged commit is in two sites */
	SITE_POLICY_PREFER_REMOTE, /* remote members first, then local ones */
	SITE_POLICY_BALANCED,      /* alternately a remote and a local member, a remote one first */
} site_policy;

/* NULL (absent) is SITE_POLICY_ANY; -1 for a text that is none of the names. */
int site_policy_parse(const char *text, site_policy *out);
const char *site_policy_name(site_policy p);

/* A replica that may be a synchronous standby (running, streaming from the leader, not
 * nosync). */
typedef struct site_candidate {
	const char *name;
	const char *site; /* NULL: none */
	uint64_t lsn;     /* replayed position */
	/* Already synchronous: 2 in the `sync` key, 1 named by synchronous_standby_names, 0 not;
	 * within the policy's order a current standby stays (no churn). */
	unsigned current;
} site_candidate;

/* Up to `want` of the n candidates for the leader in `leader_site` (NULL: none), in the
 * policy's order; their indexes into out (room for want). Returns how many. Within one class
 * (local, remote, no site): current first, then furthest ahead, then the order given. */
size_t site_sync_pick(site_policy p, const char *leader_site, const site_candidate *c, size_t n,
                      size_t want, size_t *out);

/* May a member in `site` be a synchronous standby of a leader in `leader_site` under `p`: the
 * *_only policies allow their class only; the others allow everyone. */
bool site_policy_allows(site_policy p, const char *leader_site, const char *site);

/* A switchover's candidate, chosen by the leader `self` in `self_site` (NULL: none): a member
 * of the view other than itself, running (dcs_member_running), not nofailover, in synchronous
 * mode listed in `sync`, named `only` when given; the one furthest ahead in our own site when
 * there is one, else the one furthest ahead anywhere. NULL when none may take over. */
struct dcs_view;
struct dcs_member;
const struct dcs_member *site_switchover_candidate(const struct dcs_view *v, const char *self,
                                                   const char *self_site, const char *only);

#endif
