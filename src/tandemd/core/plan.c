/* The HA plan: see plan.h for the rules and their order. Pure: no I/O, no clock, no globals. */
#include "plan.h"

#include <string.h>

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static ha_step step(ha_action action, const char *target, const char *reason)
{
	ha_step s = {.action = action, .target = target, .reason = reason};
	return s;
}

/* The member the failover key names, when the key is in force; NULL otherwise. *due_in_ms: a
 * scheduled switchover still to come. */
static const char *failover_target(const ha_inputs *in, uint64_t *due_in_ms)
{
	const ha_failover_key *f = &in->failover;
	*due_in_ms = 0;
	if (!f->present || !f->candidate)
		return NULL;
	/* Left by an earlier leader (Patroni writes who asked): stale once someone else leads,
	 * unless that is the candidate, still to promote (maintenance mode waits for the key). */
	if (f->leader && in->cl.leader && !same(f->leader, in->cl.leader) &&
	    !same(f->candidate, in->cl.leader))
		return NULL;
	if (f->scheduled) {
		if (!f->schedule_valid)
			return NULL;
		if (f->at_unix_ms > in->wall_ms) {
			*due_in_ms = (uint64_t)(f->at_unix_ms - in->wall_ms);
			return NULL;
		}
	}
	/* A candidate that does not run would leave the cluster without a leader. */
	if (!same(f->candidate, in->cfg.name) && !f->candidate_running)
		return NULL;
	return f->candidate;
}

static bool retryable(ha_action a)
{
	return a == HA_BOOTSTRAP || a == HA_CLONE || a == HA_REWIND || a == HA_REINIT ||
	       a == HA_START_REPLICA || a == HA_PROMOTE || a == HA_RESTART;
}

/* Rule 7: a replica of the leader that does not stream while the leader runs a newer timeline
 * may have forked from it (PostgreSQL then retries for ever). A healthy replica switches
 * timelines within a second (it retries every 200 ms), so after HA_NOT_STREAMING_LIMIT_MS (or
 * a TTL, if shorter); once per leader timeline, so that a replica that merely cannot reach the
 * leader is not restarted again and again; not in maintenance mode, which would leave it
 * stopped. Returns true with *s the recheck when it is due; otherwise may set when to look
 * again. */
static bool not_streaming(const ha_inputs *in, const ha_cluster *cl, ha_decision d, ha_memory *next,
                          ha_step *s)
{
	if (!(d.action == HA_WAIT && in->lo.pg == HA_PG_REPLICA && cl->leader &&
	      same(cl->leader, in->lo.upstream) && !cl->paused) ||
	    in->streaming || in->leader_timeline <= in->timeline ||
	    in->leader_timeline == next->rechecked_for_timeline) {
		next->not_streaming_since_ms = 0;
		return false;
	}
	uint64_t limit =
	    in->cfg.ttl_ms < HA_NOT_STREAMING_LIMIT_MS ? in->cfg.ttl_ms : HA_NOT_STREAMING_LIMIT_MS;
	if (!next->not_streaming_since_ms)
		next->not_streaming_since_ms = in->now_ms;
	uint64_t waited = in->now_ms - next->not_streaming_since_ms;
	if (waited > limit) {
		next->not_streaming_since_ms = 0;
		next->rechecked_for_timeline = in->leader_timeline;
		*s = step(HA_RECHECK, cl->leader,
		          "not streaming from a leader on a newer timeline: stopping to check "
		          "for divergence");
		return true;
	}
	s->recheck_in_ms = limit - waited + 10; /* look again in time */
	return false;
}

/* Rule 8: operator requests, when the decision leaves room for them. */
static bool operator_request(const ha_inputs *in, const ha_cluster *cl, ha_step *s)
{
	bool running = in->lo.pg == HA_PG_PRIMARY || in->lo.pg == HA_PG_REPLICA;
	if (in->requests & HA_REQ_REINIT) {
		if (cl->leader && !same(cl->leader, in->cfg.name)) {
			const char *src =
			    cl->standby_cluster ? cl->leader : ha_clone_source(&in->cfg, cl);
			*s = step(HA_REINIT, src,
			          same(src, cl->leader)
			              ? "an operator asked to reinitialize: moving the data aside "
			                "and cloning the leader"
			              : "an operator asked to reinitialize: moving the data aside "
			                "and copying a replica in our site");
			s->requests_done = HA_REQ_REINIT;
			return true;
		}
		*s = step(HA_WAIT, NULL, "reinitialize refused: no other leader to clone");
		s->note = s->reason;
		s->requests_done = HA_REQ_REINIT;
		s->recheck_in_ms = 1;
		return true;
	}
	if (in->requests & HA_REQ_RELOAD) {
		*s = running
		         ? step(HA_RELOAD, NULL, "an operator asked for a reload")
		         : step(HA_WAIT, NULL, "reload: PostgreSQL does not run, nothing to do");
		s->requests_done = HA_REQ_RELOAD;
		if (!running)
			s->recheck_in_ms = 1;
		return true;
	}
	if (in->requests & HA_REQ_RESTART) {
		*s = step(HA_OPERATOR_RESTART, NULL, "an operator asked for a restart");
		s->requests_done = HA_REQ_RESTART;
		return true;
	}
	return false;
}

static ha_step plan(const ha_inputs *in, const ha_memory *mem, ha_memory *next)
{
	uint64_t now = in->now_ms;
	ha_cluster cl = in->cl;
	uint64_t failover_due_ms;
	cl.failover_to = failover_target(in, &failover_due_ms);
	bool we_lead = same(cl.leader, in->cfg.name);

	ha_local lo = in->lo;
	lo.restarts = next->restarts;
	lo.rewind_failed = mem->rewind_failed;
	lo.handed_over = mem->handed_over;
	bool stopped = lo.pg == HA_PG_STOPPED || lo.pg == HA_PG_CRASHED;
	/* A follower whose history forked from the leader's; or a standby leader whose data was
	 * not checked against the primary site yet (failback: that site may have been promoted
	 * without this site's last WAL; pg_rewind changes nothing when it was not). */
	lo.diverged =
	    stopped &&
	    ((cl.leader && !we_lead && (mem->rewind_pending || in->forked)) ||
	     (cl.standby_cluster && we_lead && (mem->rewind_pending || !mem->site_checked)));
	if (!cl.leader)
		cl.leader_site = next->last_leader_site[0] ? next->last_leader_site : NULL;
	ha_clock clk = {.now_ms = now,
	                .lease_expiry_ms = in->lease_expiry_ms,
	                .failsafe_expiry_ms = in->failsafe_expiry_ms,
	                .tilt = mem->tilt,
	                .leaderless_ms = cl.leader ? 0 : now - next->leaderless_since_ms};
	ha_decision d = ha_decide(&in->cfg, &cl, &lo, &clk);
	ha_step s = step(d.action, d.target, d.reason);

	/* 1. Safety first. */
	if (d.action == HA_DEMOTE || d.action == HA_RELEASE_LEADER || d.action == HA_DEMOTE_SITE)
		return step(d.action, d.target, d.reason);
	/* 2. Data an interrupted tool left, or another cluster's. */
	bool running = lo.pg == HA_PG_PRIMARY || lo.pg == HA_PG_REPLICA || lo.pg == HA_PG_STARTING;
	if (in->unfinished_data && !running)
		return step(HA_MOVE_ASIDE, NULL, in->unfinished_data);
	if (in->foreign_data && !running) {
		if ((in->requests & HA_REQ_REINIT) && operator_request(in, &cl, &s))
			return s;
		return step(HA_WAIT, NULL,
		            "the data directory belongs to another cluster (its system identifier "
		            "is not the cluster's): not starting it; tandemctl reinit moves it "
		            "aside and clones");
	}
	/* 3. A changed cluster configuration: the first one seen is written when PostgreSQL
	 * starts. */
	if (in->config_rev && in->config_rev != mem->applied_config_rev) {
		next->applied_config_rev = in->config_rev;
		if (mem->applied_config_rev && (lo.pg == HA_PG_PRIMARY || lo.pg == HA_PG_REPLICA))
			return step(HA_APPLY_CONFIG, NULL, "the cluster configuration changed");
	}
	/* 4. A failover key not in force. */
	if (in->failover.present && !cl.failover_to && !failover_due_ms && we_lead)
		return step(HA_CLEAR_FAILOVER, in->failover.candidate,
		            "dropping the failover key: the member does not run, or the key was "
		            "left by an earlier leader");
	/* 5. A promotion in flight. */
	if (d.action == HA_PROMOTE && now < mem->promote_until_ms) {
		s = step(HA_KEEP_LEADER, NULL, "promoting: waiting for recovery to end");
		s.recheck_in_ms = HA_PROMOTE_RECHECK_MS;
		return s;
	}
	/* 6. Our position known before the race, so that the one furthest ahead wins. */
	if ((d.action == HA_TAKE_LEADER || d.candidate) && !next->leaderless_published &&
	    !same(cl.failover_to, in->cfg.name)) {
		next->leaderless_published = true;
		s = step(HA_PUBLISH_POSITION, NULL,
		         "no leader: publishing our position before racing for the key");
		s.recheck_in_ms = HA_PUBLISH_GRACE_MS;
		return s;
	}
	/* 7. A replica that does not stream from the leader's newer timeline. */
	if (not_streaming(in, &cl, d, next, &s))
		return s;
	uint64_t recheck = s.recheck_in_ms;
	/* 8. Operator requests. */
	if ((d.action == HA_WAIT || d.action == HA_KEEP_LEADER) && in->requests &&
	    operator_request(in, &cl, &s))
		return s;
	/* 9. Back-off after a failed attempt. */
	if (retryable(d.action) && now < mem->backoff_until_ms) {
		s = step(HA_WAIT, d.target, "waiting a loop after a failed attempt");
		s.recheck_in_ms = mem->backoff_until_ms - now;
		return s;
	}
	/* 10. A former primary with no leader to follow waits for one (to rewind from it if
	 * needed) while other members run; alone, or the only member that may lead, it starts as a
	 * replica and may become leader again. */
	if (d.action == HA_START_REPLICA && !d.target && in->was_primary && in->others_running &&
	    !ha_sync_sole_candidate(&cl, in->cfg.name))
		return step(HA_WAIT, NULL,
		            "a former primary: waiting for a leader to follow (or to rewind from)");
	/* 11. The role decision. */
	s = step(d.action, d.target, d.reason);
	s.recheck_in_ms = recheck;
	if (d.recheck_in_ms && (!s.recheck_in_ms || d.recheck_in_ms < s.recheck_in_ms))
		s.recheck_in_ms = d.recheck_in_ms;
	if (d.action == HA_KEEP_LEADER && lo.pg == HA_PG_PRIMARY && in->sync_settling)
		s.recheck_in_ms = HA_SETTLE_RECHECK_MS;
	else if (!s.recheck_in_ms && failover_due_ms && we_lead)
		s.recheck_in_ms = failover_due_ms;
	return s;
}

/* The last leader's site outlives its key (the key and the leader's member key end with its
 * lease): a failover prefers it (ha.h, rule 4). */
static void remember_leader_site(const ha_inputs *in, ha_memory *next)
{
	if (!in->cl.leader) {
		if (!next->leaderless_since_ms)
			next->leaderless_since_ms = in->now_ms;
		return;
	}
	next->leaderless_since_ms = 0;
	const char *site = in->cl.leader_site;
	size_t len = site ? strlen(site) : 0;
	if (len > HA_SITE_MAX)
		len = 0; /* never a valid site (the codec refuses it): unknown */
	memcpy(next->last_leader_site, site ? site : "", len);
	next->last_leader_site[len] = '\0';
}

ha_step ha_plan(const ha_inputs *in, const ha_memory *mem, ha_memory *next)
{
	*next = *mem;
	next->tilt = false;
	if (next->restarts && in->now_ms - next->last_restart_ms > 10 * in->cfg.ttl_ms)
		next->restarts = 0;
	if (in->cl.leader)
		next->leaderless_published = false;
	remember_leader_site(in, next);
	return plan(in, mem, next);
}

void ha_memory_failed(ha_memory *m, const ha_config *cfg, uint64_t now_ms)
{
	m->backoff_until_ms = now_ms + cfg->loop_wait_ms;
}

void ha_memory_restarted(ha_memory *m, uint64_t now_ms)
{
	m->restarts++;
	m->last_restart_ms = now_ms;
}

void ha_memory_promoting(ha_memory *m, const ha_config *cfg, uint64_t now_ms)
{
	m->promote_until_ms = now_ms + cfg->ttl_ms;
}
