/* Synchronous mode on the leader: which replicas PostgreSQL waits for (synchronous_standby_names)
 * and which ones the DCS `sync` key names as eligible for promotion, changed in the order that
 * keeps "every member named in `sync` has every acknowledged commit" true at every moment:
 *
 *   removing a standby: first from `sync` (it may no longer be promoted), then from PostgreSQL;
 *   adding a standby: first to PostgreSQL, and to `sync` only once pg_stat_replication reports
 *   it synchronous (it then has every commit acknowledged from that moment on, and it was caught
 *   up to stream).
 *
 * With no candidate, strict mode sets synchronous_standby_names to '*': commits wait until a
 * standby connects, rather than being acknowledged unprotected. Otherwise PostgreSQL runs
 * asynchronously and `sync` names no one, so no member may be promoted automatically until a
 * standby is synchronous again (ha.c: only a listed standby may take the key). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "log.h"
#include "site.h"
#include "strbuf.h"

static bool listed(char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static const agent_replica *streaming_replica(const agent *a, const char *name)
{
	for (size_t i = 0; i < a->nreplicas; i++) {
		const agent_replica *r = &a->replicas[i];
		if (r->application_name && !strcmp(r->application_name, name) && r->state &&
		    !strcmp(r->state, "streaming"))
			return r;
	}
	return NULL;
}

/* synchronous_node_count from the DCS config (default 1). */
static size_t node_count(const dcs_view *v)
{
	size_t n = 1;
	json_t *c = v->has_config && v->config.raw ? json_loads(v->config.raw, 0, NULL) : NULL;
	json_t *j = json_object_get(c, "synchronous_node_count");
	if (json_is_integer(j) && json_integer_value(j) >= 1 && json_integer_value(j) <= 16)
		n = (size_t)json_integer_value(j);
	json_decref(c);
	return n;
}

/* May `m` be a synchronous standby: another member, running, streaming from us, not nosync. */
static bool eligible(const agent *a, const dcs_member *m)
{
	return strcmp(m->name, a->s->name) != 0 && !m->tags.nosync && agent_member_running(m) &&
	       streaming_replica(a, m->name);
}

static void on_sync_put(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("writing the sync key: %s", error ? error : dcs_result_name(r));
	}
}

static void put_sync(agent *a, char **names, size_t n)
{
	char *val = dcs_encode_sync(a->s->name, (const char *const *)names, n);
	log_info("sync key: %s", val);
	dcs_put_key(a->dcs, "sync", val, on_sync_put, a);
	free(val);
}

/* FIRST n ("a", "b"): PostgreSQL's priority form, names quoted. */
static char *ssn_text(char **names, size_t n, size_t count, bool strict)
{
	if (n == 0)
		return xstrdup(strict ? "*" : "");
	strbuf sb = STRBUF_INIT;
	sb_printf(&sb, "FIRST %zu (", count < n ? count : n);
	for (size_t i = 0; i < n; i++) {
		sb_puts(&sb, i ? ", \"" : "\"");
		for (const char *p = names[i]; *p; p++)
			sb_append(&sb, p, 1 + (*p == '"'));
		sb_puts(&sb, "\"");
	}
	sb_puts(&sb, ")");
	return sb_steal(&sb);
}

static int set_ssn(agent *a, const char *ssn)
{
	free(a->ssn);
	a->ssn = xstrdup(ssn);
	char *e = NULL;
	if (agent_rewrite_pg_conf(a, false, NULL, &e) != 0) {
		log_error("setting synchronous_standby_names: %s", e);
		free(e);
		return -1;
	}
	log_info("synchronous_standby_names = '%s'", ssn);
	return 0;
}

/* The cluster's synchronous_site_policy; an unknown one (written around edit-config's check)
 * counts as absent. */
static site_policy policy_of(const dcs_view *v)
{
	site_policy p = SITE_POLICY_ANY;
	json_t *c = v->has_config && v->config.raw ? json_loads(v->config.raw, 0, NULL) : NULL;
	json_t *j = json_object_get(c, "synchronous_site_policy");
	if (json_is_string(j) && site_policy_parse(json_string_value(j), &p) != 0)
		p = SITE_POLICY_ANY;
	json_decref(c);
	return p;
}

static unsigned current_rank(const agent *a, char **cur, size_t ncur, const char *name)
{
	if (listed(cur, ncur, name))
		return 2;
	char *quoted = xasprintf("\"%s\"", name);
	bool named = a->ssn && strstr(a->ssn, quoted) != NULL;
	free(quoted);
	return named ? 1 : 0;
}

/* Up to `want` synchronous standbys into picked (names from the view). */
static size_t pick(const agent *a, const dcs_view *v, char **cur, size_t ncur, size_t want,
                   char **picked)
{
	site_candidate *c = xcalloc(v->nmembers + 1, sizeof *c);
	size_t *out = xcalloc(want + 1, sizeof *out);
	size_t n = 0;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup = dup || !strcmp(c[k].name, m->name);
		if (dup || !eligible(a, m))
			continue;
		const agent_replica *r = streaming_replica(a, m->name);
		c[n++] = (site_candidate){m->name, m->site, r ? r->replay_lsn : 0,
		                          current_rank(a, cur, ncur, m->name)};
	}
	size_t np = site_sync_pick(policy_of(v), a->hc.site, c, n, want, out);
	for (size_t k = 0; k < np; k++)
		picked[k] = (char *)c[out[k]].name;
	free(c);
	free(out);
	return np;
}

/* Strict mode with no synchronous standby: commits wait for one. With local_only or remote_only
 * only a member the policy allows may acknowledge them (so that, with remote_only, every
 * acknowledged commit is in the other site): PostgreSQL waits for those members by name, even
 * while none streams. '*' (any standby) otherwise, and when the policy allows no member at all
 * (a warning: the policy cannot be kept). */
static char *strict_wait(agent *a, const dcs_view *v, size_t want)
{
	site_policy p = policy_of(v);
	if (p != SITE_POLICY_LOCAL_ONLY && p != SITE_POLICY_REMOTE_ONLY)
		return ssn_text(NULL, 0, want, true);
	char **names = xcalloc(v->nmembers + 1, sizeof *names);
	size_t n = 0;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (strcmp(m->name, a->s->name) != 0 && !m->tags.nosync &&
		    site_policy_allows(p, a->hc.site, m->site) && !listed(names, n, m->name))
			names[n++] = m->name;
	}
	if (!n && (!a->ssn || strcmp(a->ssn, "*") != 0))
		log_warning("synchronous_site_policy %s: no member may be a synchronous standby; "
		            "strict mode waits for any standby",
		            site_policy_name(p));
	char *ssn = ssn_text(names, n, want, true);
	free(names);
	return ssn;
}

void agent_sync_housekeeping(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	bool on = v->has_config && v->config.synchronous_mode;
	bool strict = on && v->config.synchronous_mode_strict;
	/* The sync key counts only when it is ours. */
	bool ours = v->has_sync && v->sync_leader && !strcmp(v->sync_leader, a->s->name);
	char **cur = ours ? v->sync_standby : NULL;
	size_t ncur = ours ? v->nsync_standby : 0;

	if (!on) {
		if (a->ssn && *a->ssn)
			(void)set_ssn(a, "");
		if (v->has_sync && ours && ncur)
			put_sync(a, NULL, 0);
		return;
	}
	size_t want = node_count(v);
	if (want > v->nmembers)
		want = v->nmembers;
	/* The site policy's choice among the eligible (site.h): within its order the current
	 * synchronous standbys stay (no churn), then those PostgreSQL already waits for, then the
	 * others furthest ahead. Each name once: the `sync` key is read from the DCS, where
	 * anyone who can write may have listed a member many times. */
	char **picked = xcalloc(v->nmembers + 1, sizeof *picked);
	char **keep = xcalloc(ncur + v->nmembers + 1, sizeof *keep);
	size_t np = pick(a, v, cur, ncur, want, picked);
	/* 1. Removals from `sync` first (duplicates too). */
	size_t nkeep = 0;
	for (size_t i = 0; i < ncur; i++)
		if (listed(picked, np, cur[i]) && !listed(keep, nkeep, cur[i]))
			keep[nkeep++] = cur[i];
	if (nkeep != ncur || !ours) {
		put_sync(a, keep, nkeep);
		goto out; /* PostgreSQL changes on a later pass, once the key is written */
	}
	/* 2. Then PostgreSQL. */
	char *ssn = np || !strict ? ssn_text(picked, np, want, strict) : strict_wait(a, v, want);
	if (!a->ssn || strcmp(a->ssn, ssn) != 0) {
		(void)set_ssn(a, ssn);
		free(ssn);
		goto out;
	}
	free(ssn);
	/* 3. Additions to `sync` once PostgreSQL reports them synchronous (in keep's room). */
	char **confirmed = keep;
	size_t nc = 0;
	for (size_t i = 0; i < np; i++) {
		const agent_replica *r = streaming_replica(a, picked[i]);
		if (listed(cur, ncur, picked[i]) ||
		    (r && r->sync_state &&
		     (!strcmp(r->sync_state, "sync") || !strcmp(r->sync_state, "quorum"))))
			confirmed[nc++] = picked[i];
	}
	if (nc != ncur)
		put_sync(a, confirmed, nc);
out:
	free(picked);
	free(keep);
}

bool agent_sync_settled(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!(v->has_config && v->config.synchronous_mode))
		return true;
	return v->has_sync && v->sync_leader && !strcmp(v->sync_leader, a->s->name) &&
	       v->nsync_standby >= 1;
}

void agent_sync_before_promote(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!(v->has_config && v->config.synchronous_mode && v->config.synchronous_mode_strict))
		return;
	/* From its first moment as primary, a strict leader's commits wait for a standby (one the
	 * site policy allows). */
	char *ssn = strict_wait(a, v, node_count(v));
	free(a->ssn);
	a->ssn = ssn;
}
