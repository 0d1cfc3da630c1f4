/* Planned changes asked for by an operator: switchover (now or scheduled) through the DCS
 * `failover` key, and the cluster-wide configuration (`config` key): patching it safely and
 * applying it on this member; and stopping tandemd (SIGTERM: the handover, then the lease given
 * up). See agent.h. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "clock.h"
#include "dyn_config.h"
#include "log.h"
#include "site.h"

/* ---- switchover ---- */

static void on_put(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK) {
		metrics_inc(&a->counters.dcs_errors, 1);
		log_warning("writing the failover key: %s", error ? error : dcs_result_name(r));
	}
}

/* The best member to hand over to (site.h): the leader's own site first. */
const dcs_member *agent_best_candidate(agent *a, const char *only)
{
	return site_switchover_candidate(dcs_get_view(a->dcs), a->s->name, a->hc.site, only);
}

int agent_switchover(agent *a, const char *candidate, const char *scheduled_at, char **err)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (!agent_holds_key(a)) {
		err_set(err, "this member is not the leader (the leader is %s)",
		        v->leader ? v->leader : "nobody");
		return -1;
	}
	/* Patroni's rule: in maintenance mode only a switchover to a named member, at once. */
	if (v->has_config && v->config.pause && (scheduled_at || !candidate)) {
		err_set(err, scheduled_at ? "a switchover cannot be scheduled in maintenance mode"
		                          : "in maintenance mode a switchover needs a candidate");
		return -1;
	}
	int64_t at = 0;
	if (scheduled_at) {
		if (clock_parse_iso8601(scheduled_at, &at) != 0) {
			err_set(err, "scheduled_at '%s' is not an ISO 8601 time with a zone",
			        scheduled_at);
			return -1;
		}
		if (at <= clock_unix_ms()) {
			err_set(err, "scheduled_at '%s' is not in the future", scheduled_at);
			return -1;
		}
	}
	const dcs_member *best = agent_best_candidate(a, candidate);
	if (!best) {
		if (candidate)
			err_set(err,
			        "member %s is not a running replica that may take over (in "
			        "synchronous mode: a synchronous standby)",
			        candidate);
		else
			err_set(err, "no running replica may take over");
		return -1;
	}
	char *val = dcs_encode_failover(a->s->name, best->name, scheduled_at);
	dcs_put_key(a->dcs, "failover", val, on_put, a);
	free(val);
	if (scheduled_at)
		log_info("switchover to %s scheduled at %s", best->name, scheduled_at);
	else
		log_info("switchover to %s requested", best->name);
	return 0;
}

int agent_failover(agent *a, const char *candidate, char **err)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	if (v->leader)
		return agent_switchover(a, candidate, NULL, err);
	/* No leader: any member writes the key; the candidate takes over if it is fit. */
	if (!candidate) {
		err_set(err, "the cluster has no leader: a failover needs a candidate");
		return -1;
	}
	const dcs_member *m = dcs_view_member(v, candidate);
	if (!m || !agent_member_running(m) || m->tags.nofailover) {
		err_set(err, "member %s is not a running member that may take over", candidate);
		return -1;
	}
	char *val = dcs_encode_failover(NULL, candidate, NULL);
	dcs_put_key(a->dcs, "failover", val, on_put, a);
	free(val);
	log_info("failover to %s requested (no leader)", candidate);
	return 0;
}

/* ---- the cluster configuration ---- */

struct patch_op {
	agent *a;
	patch_op *prev, *next; /* in a->patches, until answered */
	void (*done)(const char *error, void *ud);
	void *ud;
};

static void patch_unlink(patch_op *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->a->patches = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void on_config_put(dcs_result r, const char *error, void *ud)
{
	patch_op *p = ud;
	patch_unlink(p);
	if (r == DCS_OK)
		p->done(NULL, p->ud);
	else if (r == DCS_LOST)
		p->done("the configuration changed meanwhile: read it again and retry", p->ud);
	else
		p->done(error ? error : "the DCS did not answer", p->ud);
	free(p);
}

void agent_patch_config(agent *a, const char *patch, bool replace,
                        void (*done)(const char *error, void *ud), void *ud)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	json_error_t je;
	json_t *pj = json_loads(patch, 0, &je);
	if (!json_is_object(pj)) {
		json_decref(pj);
		done("the configuration must be a JSON object", ud);
		return;
	}
	json_t *before = v->has_config && v->config.raw ? json_loads(v->config.raw, 0, NULL) : NULL;
	json_t *cur = replace ? json_incref(pj) : dyn_config_merge(before, pj);
	json_decref(pj);
	dyn_config_defaults d = {(int64_t)(a->s->ttl + 999) / 1000,
	                         (int64_t)(a->s->loop_wait + 999) / 1000,
	                         (int64_t)(a->s->retry_timeout + 999) / 1000};
	/* A refused parameter a Patroni-written configuration holds may stay, never applied. */
	char *e = dyn_config_check_change(before, cur, &d);
	json_decref(before);
	if (e) {
		json_decref(cur);
		done(e, ud);
		free(e);
		return;
	}
	char *text = json_dumps(cur, JSON_COMPACT);
	json_decref(cur);
	patch_op *p = xcalloc(1, sizeof *p);
	p->a = a;
	p->done = done;
	p->ud = ud;
	p->next = a->patches;
	if (a->patches)
		a->patches->prev = p;
	a->patches = p;
	dcs_put_key_if(a->dcs, "config", text, v->has_config ? v->config.mod_revision : 0,
	               on_config_put, p);
	log_info("cluster configuration %s: %s", replace ? "replaced" : "patched", text);
	free(text);
}

void agent_abort_patches(agent *a)
{
	while (a->patches) {
		patch_op *p = a->patches;
		patch_unlink(p);
		p->done("tandemd is stopping", p->ud);
		free(p);
	}
}

/* ---- operator requests ---- */

int agent_request(agent *a, agent_request_kind kind, const char *candidate, char **err)
{
	const dcs_view *v = dcs_get_view(a->dcs);
	bool leader = agent_holds_key(a);
	switch (kind) {
	case AGENT_REQ_RESTART:
		if (!pgctl_running(a->pc)) {
			err_set(err, "PostgreSQL is not running");
			return -1;
		}
		a->requests |= HA_REQ_RESTART;
		break;
	case AGENT_REQ_RELOAD:
		a->requests |= HA_REQ_RELOAD;
		break;
	case AGENT_REQ_REINITIALIZE:
		if (leader || !v->leader) {
			err_set(err, leader
			                 ? "this member is the leader: it cannot be reinitialized"
			                 : "there is no leader to clone from");
			return -1;
		}
		a->requests |= HA_REQ_REINIT;
		break;
	case AGENT_REQ_FAILOVER:
		return agent_failover(a, candidate, err);
	}
	agent_kick(a);
	return 0;
}

/* ---- shutdown ---- */

static void shutdown_revoked(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("revoking the lease: %s", error ? error : dcs_result_name(r));
	else
		log_info("lease revoked: the leader and member keys are gone");
	a->shutdown_done = true;
	if (a->on_shutdown)
		a->on_shutdown(a->shutdown_ud);
}

static void shutdown_stopped(agent *a, bool ok)
{
	(void)ok;
	agent_fence_stop(a);
	if (dcs_lease_id(a->dcs)) {
		dcs_lease_revoke(a->dcs, shutdown_revoked, a);
		return;
	}
	shutdown_revoked(DCS_OK, NULL, a);
}

static void shutdown_handover_put(dcs_result r, const char *error, void *ud)
{
	agent *a = ud;
	if (r != DCS_OK)
		log_warning("naming a successor: %s", error ? error : dcs_result_name(r));
	agent_stop_pg(a, PGCTL_FAST, AGENT_STOP_STEP_MS, shutdown_stopped);
}

/* A stopping leader names its successor in the failover key first, then stops PostgreSQL fast
 * (the replicas receive all of its WAL), then revokes its lease: the leader key goes at once
 * and the successor takes it, instead of every member waiting for the TTL. */
void agent_act_shutdown(agent *a)
{
	a->doing = "stopping";
	const dcs_view *v = dcs_get_view(a->dcs);
	bool leader = agent_holds_key(a);
	const dcs_member *best =
	    leader && !(v->has_config && v->config.pause) ? agent_best_candidate(a, NULL) : NULL;
	const char *next = best ? best->name : NULL;
	if (next && a->dcs_ok) {
		log_info(
		    "shutting down: handing leadership to %s, stopping PostgreSQL, then giving "
		    "up the lease",
		    next);
		char *val = dcs_encode_failover(a->s->name, next, NULL);
		dcs_put_key(a->dcs, "failover", val, shutdown_handover_put, a);
		free(val);
		return;
	}
	log_info("shutting down: stopping PostgreSQL, then giving up the lease");
	agent_stop_pg(a, PGCTL_FAST, AGENT_STOP_STEP_MS, shutdown_stopped);
}
