/* Failsafe mode (Patroni's `failsafe_mode`, in the DCS config): a leader that cannot reach the
 * DCS keeps its primary while every member listed in the `failsafe` key confirms it.
 *
 *  - As leader with the DCS reachable, the agent keeps the `failsafe` key equal to the members
 *    in the DCS ({"name": "api_url"}), itself included, and deletes it when the mode is off.
 *  - As a writable primary that cannot renew its lease (or whose key lapsed during an outage),
 *    it POSTs {"name", "conn_url", "api_url"} to /failsafe of every other listed member, all at
 *    once, on every beat. When every one answers 200, the confirmation holds until the round's
 *    send time + TTL (ha_clock.failsafe_expiry_ms; the fence gets that deadline too). A member
 *    that does not answer, or refuses, ends it: the primary stops when the lease and the last
 *    confirmation both run out, as without failsafe mode.
 *  - As a member asked to confirm, it answers 200 unless it runs a primary itself, and does not
 *    race for the leader key for a TTL after (ha_cluster.failsafe_leader).
 * The leader counts the TTL from before it asks, the member from when it answers: the member's
 * restraint always outlasts the leader's confirmation. See docs/tandemd.md, "Failsafe mode". */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "cidr.h"
#include "clock.h"
#include "cred_trust.h"
#include "http_fanout.h"
#include "log.h"

static void cancel_round(agent *a);

/* This part of the agent; no other file looks inside. */
struct agent_failsafe {
	struct failsafe_round *round; /* a round in flight */
	uint64_t expiry_ms;           /* as leader: every member confirmed us until then */
	char *leader;                 /* the leader that last asked us to confirm it */
	uint64_t leader_until_ms;
	bool key_writing;
};

agent_failsafe *agent_failsafe_new(void)
{
	return xcalloc(1, sizeof(agent_failsafe));
}

void agent_failsafe_free(agent *a)
{
	if (!a->failsafe)
		return;
	cancel_round(a);
	free(a->failsafe->leader);
	free(a->failsafe);
	a->failsafe = NULL;
}

uint64_t agent_failsafe_expiry(const agent *a)
{
	return a->failsafe->expiry_ms;
}

static bool mode_on(const dcs_view *v)
{
	return v->has_config && v->config.failsafe_mode;
}

bool agent_failsafe_mode(agent *a)
{
	return mode_on(dcs_get_view(a->dcs));
}

/* ---- the key, kept by the leader ---- */

static void on_key_written(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	a->failsafe->key_writing = false;
	if (r != DCS_OK)
		log_warning("writing the failsafe key: %s", error ? error : dcs_result_name(r));
}

static const char *listed_url(const dcs_view *v, const char *name)
{
	for (size_t i = 0; i < v->nfailsafe; i++)
		if (!strcmp(v->failsafe_names[i], name))
			return v->failsafe_urls[i] ? v->failsafe_urls[i] : "";
	return NULL;
}

void agent_failsafe_housekeeping(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!a->dcs_ok || a->failsafe->key_writing)
		return;
	if (!mode_on(v)) {
		if (v->failsafe) {
			a->failsafe->key_writing = true;
			dcs_delete_key(a->dcs, "failsafe", on_key_written, a);
		}
		return;
	}
	const char **names = xcalloc(v->nmembers + 1, sizeof *names);
	const char **urls = xcalloc(v->nmembers + 1, sizeof *urls);
	size_t n = 0;
	names[n] = a->s->name;
	urls[n++] = a->api_url;
	for (size_t i = 0; i < v->nmembers; i++) {
		const dcs_member *m = &v->members[i];
		if (strcmp(m->name, a->s->name) != 0 && m->api_url) {
			names[n] = m->name;
			urls[n++] = m->api_url;
		}
	}
	bool same = v->failsafe && v->nfailsafe == n;
	for (size_t i = 0; same && i < n; i++) {
		const char *u = listed_url(v, names[i]);
		same = u && !strcmp(u, urls[i]);
	}
	if (!same) {
		char *value = dcs_encode_failsafe(names, urls, n);
		log_info("failsafe key: %s", value);
		a->failsafe->key_writing = true;
		dcs_put_key(a->dcs, "failsafe", value, on_key_written, a);
		free(value);
	}
	free(names);
	free(urls);
}

/* ---- the round, run by a primary that cannot count on its lease ---- */

/* "http://h:p/patroni" -> "http://h:p/failsafe"; any other path gets "/failsafe" appended. */
static char *failsafe_url(const char *api_url)
{
	if (!api_url || !*api_url)
		return NULL;
	size_t n = strlen(api_url);
	static const char tail[] = "/patroni";
	if (n >= sizeof tail - 1 && !strcmp(api_url + n - (sizeof tail - 1), tail))
		n -= sizeof tail - 1;
	while (n && api_url[n - 1] == '/')
		n--;
	return xasprintf("%.*s/failsafe", (int)n, api_url);
}

struct failsafe_round {
	agent *a;
	http_fanout *call;
	uint64_t sent_ms;
	char **names;
	size_t n;
};
typedef struct failsafe_round round;

static void round_free(round *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->names);
	free(r);
}

static void on_round(const http_fanout_result *res, size_t n, void *ud)
{
	round *r = ud;
	agent *a = r->a;
	a->failsafe->round = NULL;
	size_t refused = 0;
	for (size_t i = 0; i < n; i++) {
		if (res[i].status == 200)
			continue;
		refused++;
		if (res[i].status)
			log_warning("failsafe: %s refused to confirm us (HTTP %ld: %.100s)",
			            r->names[i], res[i].status, res[i].error);
		else
			log_warning("failsafe: no confirmation from %s: %s", r->names[i],
			            res[i].error);
	}
	if (!refused) {
		uint64_t until = r->sent_ms + a->hc.ttl_ms;
		if (!a->failsafe->expiry_ms)
			log_warning("failsafe: the DCS cannot be reached, but all %zu other "
			            "member(s) confirmed us: staying primary",
			            n);
		if (until > a->failsafe->expiry_ms)
			a->failsafe->expiry_ms = until;
		agent_fence_update(a);
	}
	round_free(r);
	agent_kick(a);
}

/* Whether the REST credentials may go to member `name` at `url` (cred_trust.h); a warning
 * naming both when not. The trusted blocks are restapi.allowlist, read again each round so
 * that a reload applies. */
static bool may_get_credentials(agent *a, const char *name, const char *url)
{
	if (!a->s->restapi_username)
		return true;
	cidr_list trusted = {0, NULL};
	for (size_t i = 0; i < a->s->restapi_allowlist.n; i++) {
		char *err = NULL;
		if (cidr_list_add(&trusted, a->s->restapi_allowlist.v[i], &err) < 0)
			free(err); /* checked at load */
	}
	const char *why = NULL;
	/* libcurl verifies an https peer's certificate: http_fanout never turns that off. */
	bool ok = url && cred_trust_url(url, &trusted, true, &why);
	cidr_list_free(&trusted);
	if (!ok)
		log_warning("failsafe: not sending the REST credentials to member %s at %s: %s",
		            name, url ? url : "(no URL)", why ? why : "no URL");
	return ok;
}

static bool round_needed(agent *a)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!mode_on(v) || a->stopping || agent_pg_state(a) != HA_PG_PRIMARY)
		return false;
	bool we_lead = agent_holds_key(a);
	return !a->dcs_ok || !we_lead || !ha_outlives(&a->hc, a->lease_expiry_ms, clock_mono_ms());
}

void agent_failsafe_round(agent *a)
{
	if (a->failsafe->round)
		return;
	if (!round_needed(a)) {
		/* The lease covers us again, or we no longer run a primary: the confirmation must
		 * not hold the fence off (or set it on a replica). */
		if (a->failsafe->expiry_ms) {
			log_info(a->dcs_ok ? "failsafe: the DCS answers again and our lease holds"
			                   : "failsafe: no longer a primary");
			a->failsafe->expiry_ms = 0;
			agent_fence_update(a);
		}
		return;
	}
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!v->failsafe) {
		log_warning("failsafe: no failsafe key yet: no member to ask");
		return;
	}
	round *r = xcalloc(1, sizeof *r);
	r->a = a;
	r->names = xcalloc(v->nfailsafe + 1, sizeof *r->names);
	char **urls = xcalloc(v->nfailsafe + 1, sizeof *urls);
	bool *with_auth = xcalloc(v->nfailsafe + 1, sizeof *with_auth);
	for (size_t i = 0; i < v->nfailsafe; i++) {
		if (!strcmp(v->failsafe_names[i], a->s->name))
			continue;
		r->names[r->n] = xstrdup(v->failsafe_names[i]);
		urls[r->n] = failsafe_url(v->failsafe_urls[i]);
		with_auth[r->n] = may_get_credentials(a, r->names[r->n], urls[r->n]);
		r->n++;
	}
	json_t *body = json_pack("{s:s, s:s, s:s}", "name", a->s->name, "conn_url", a->conn_url,
	                         "api_url", a->api_url);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	char *userpwd = NULL;
	if (a->s->restapi_username && a->s->restapi_password)
		userpwd = xasprintf("%s:%s", a->s->restapi_username, a->s->restapi_password);
	uint64_t timeout = a->hc.retry_timeout_ms / 2;
	if (timeout > a->hc.loop_wait_ms)
		timeout = a->hc.loop_wait_ms;
	r->sent_ms = clock_mono_ms();
	a->failsafe->round = r;
	tandem_rest_client rc = tandemd_rest_client(a->s);
	http_fanout_tls tls = {rc.cacert, rc.certfile, rc.keyfile, rc.keyfile_password};
	r->call = http_fanout_post_tls(a->loop, (const char *const *)urls, r->n, text ? text : "{}",
	                               userpwd, with_auth, &tls, timeout, on_round, r);
	for (size_t i = 0; i < r->n; i++)
		free(urls[i]);
	free(urls);
	free(with_auth);
	free(text);
	free(userpwd);
}

static void cancel_round(agent *a)
{
	round *r = a->failsafe->round;
	if (r) {
		http_fanout_cancel(r->call);
		round_free(r);
		a->failsafe->round = NULL;
	}
}

/* ---- confirming another member's leadership ---- */

int agent_failsafe_confirm(agent *a, const char *name, char **why)
{
	if (!agent_failsafe_mode(a)) {
		err_set(why, "failsafe mode is off");
		return -1;
	}
	if (strcmp(name, a->s->name) != 0 && agent_pg_state(a) == HA_PG_PRIMARY) {
		err_set(why, "running as a primary");
		return -1;
	}
	if (!a->failsafe->leader || strcmp(a->failsafe->leader, name) != 0) {
		log_info("failsafe: %s says it leads and cannot reach the DCS: not racing for the "
		         "key while it asks",
		         name);
		free(a->failsafe->leader);
		a->failsafe->leader = xstrdup(name);
	}
	a->failsafe->leader_until_ms = clock_mono_ms() + a->hc.ttl_ms;
	return 0;
}

const char *agent_failsafe_leader(agent *a, uint64_t now)
{
	if (!a->failsafe->leader)
		return NULL;
	if (now >= a->failsafe->leader_until_ms) {
		log_info("failsafe: %s has not asked for a TTL", a->failsafe->leader);
		free(a->failsafe->leader);
		a->failsafe->leader = NULL;
		return NULL;
	}
	return a->failsafe->leader;
}

bool agent_failsafe_active(agent *a)
{
	return a->failsafe->expiry_ms > clock_mono_ms() && round_needed(a);
}
