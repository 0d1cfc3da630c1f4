/* The HA plan as a table: every rule of plan.h that comes before or around the role decision
 * (whose own table is test_ha.c), each both ways, with the memory it reads and writes; then the
 * safety rules checked exhaustively over the whole plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"

enum { NOW = 10000000, TTL = 30000, LOOP = 10000, RETRY = 10000 };
#define WALL INT64_C(1700000000000)

#define LEASE_OK    ((uint64_t)NOW + TTL)
#define LEASE_SHORT ((uint64_t)NOW + RETRY / 2)

typedef struct plan_case {
	const char *name;
	/* local */
	ha_pg_state pg;
	const char *upstream;
	bool streaming;
	int64_t timeline, leader_timeline;
	bool forked, was_primary;
	const char *unfinished;
	bool foreign; /* another cluster's data */
	/* DCS */
	bool dcs_down;
	const char *leader;
	bool paused;
	bool sync_mode;
	const char *sync0, *sync_leader;
	bool others_running;
	bool standby; /* a standby cluster */
	int64_t config_rev;
	bool settling;
	/* the failover key */
	bool fo;
	const char *fo_leader, *fo_candidate;
	bool fo_scheduled, fo_invalid;
	int64_t fo_in_ms; /* scheduled this far from WALL */
	bool fo_running;
	unsigned requests;
	uint64_t lease; /* 0: LEASE_OK */
	bool no_lease;
	ha_memory mem;
	/* expected */
	ha_action want;
	const char *want_target;
	uint64_t want_recheck; /* 0: none expected */
	unsigned want_done;
	int want_published;     /* -1: not checked */
	int64_t want_applied;   /* 0: not checked */
	int64_t want_rechecked; /* 0: not checked */
	int want_restarts;      /* -1: not checked */
	uint64_t want_since;    /* 0: not checked */
} plan_case;

#define UNCHECKED .want_published = -1, .want_restarts = -1

static const plan_case cases[] = {
    /* 1. Safety comes first. */
    {.name = "1: a primary without the key demotes before applying config or moving data",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .config_rev = 7,
     .mem = {.applied_config_rev = 6},
     .fo = true,
     .fo_candidate = "zz",
     .want = HA_DEMOTE,
     .want_applied = 6,
     UNCHECKED},
    {.name = "1: a leader whose PostgreSQL is down and lease short releases before moving aside",
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .unfinished = "no global/pg_control",
     .lease = LEASE_SHORT,
     .want = HA_RELEASE_LEADER,
     UNCHECKED},
    {.name = "1: demote-cluster: the leader's primary stops cleanly before applying config",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .standby = true,
     .config_rev = 7,
     .mem = {.applied_config_rev = 6},
     .want = HA_DEMOTE_SITE,
     .want_target = HA_PRIMARY_SITE,
     .want_applied = 6,
     UNCHECKED},
    {.name = "11: standby leader, data not yet checked against the primary site: pg_rewind",
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .standby = true,
     .want = HA_REWIND,
     .want_target = HA_PRIMARY_SITE,
     UNCHECKED},
    {.name = "11: standby leader, data checked: start following the primary site",
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .standby = true,
     .mem = {.site_checked = true},
     .want = HA_START_REPLICA,
     .want_target = HA_PRIMARY_SITE,
     UNCHECKED},
    {.name = "1: a primary with the key and a safe lease keeps it",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .want = HA_KEEP_LEADER,
     UNCHECKED},

    /* 2. Unfinished data. */
    {.name = "2: data a tool left, PostgreSQL stopped: move aside",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .unfinished = "a pg_rewind did not finish",
     .want = HA_MOVE_ASIDE,
     UNCHECKED},
    {.name = "2: a bootstrap killed before the cluster was initialized with it: move aside",
     .pg = HA_PG_STOPPED,
     .leader = "m2",
     .unfinished = "a bootstrap did not finish",
     .want = HA_MOVE_ASIDE,
     UNCHECKED},
    {.name = "2: another cluster's data (its system identifier) is never started",
     .pg = HA_PG_CRASHED,
     .leader = "m1",
     .foreign = true,
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "2: ... not even without a leader",
     .pg = HA_PG_STOPPED,
     .foreign = true,
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "2: ... until an operator asks to reinitialize: moved aside, the leader cloned",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .foreign = true,
     .requests = HA_REQ_REINIT,
     .want = HA_REINIT,
     .want_target = "m1",
     .want_done = HA_REQ_REINIT,
     UNCHECKED},
    {.name = "2: never while PostgreSQL runs",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .unfinished = "a pg_rewind did not finish",
     .want = HA_WAIT,
     UNCHECKED},

    /* 3. Configuration changes. */
    {.name = "3: a changed config on a running replica: apply it",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .config_rev = 7,
     .mem = {.applied_config_rev = 6},
     .want = HA_APPLY_CONFIG,
     .want_applied = 7,
     UNCHECKED},
    {.name = "3: the first config seen is only noted (written when PostgreSQL starts)",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .config_rev = 7,
     .want = HA_WAIT,
     .want_applied = 7,
     UNCHECKED},
    {.name = "3: a config change while stopped is noted, the decision goes on",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .config_rev = 7,
     .mem = {.applied_config_rev = 6},
     .want = HA_START_REPLICA,
     .want_target = "m1",
     .want_applied = 7,
     UNCHECKED},
    {.name = "3: an unchanged config: nothing to apply",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .config_rev = 7,
     .mem = {.applied_config_rev = 7},
     .want = HA_KEEP_LEADER,
     UNCHECKED},

    /* 4. The failover key. */
    {.name = "4: a key left by an earlier leader: the leader clears it",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .fo = true,
     .fo_leader = "m0",
     .fo_candidate = "m2",
     .fo_running = true,
     .want = HA_CLEAR_FAILOVER,
     UNCHECKED},
    {.name = "4: a key naming a member that does not run: the leader clears it",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .fo = true,
     .fo_leader = "me",
     .fo_candidate = "m2",
     .want = HA_CLEAR_FAILOVER,
     UNCHECKED},
    {.name = "4: a key with an unreadable schedule: the leader clears it",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .fo = true,
     .fo_candidate = "m2",
     .fo_running = true,
     .fo_scheduled = true,
     .fo_invalid = true,
     .want = HA_CLEAR_FAILOVER,
     UNCHECKED},
    {.name = "4: a replica never clears the key",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .fo = true,
     .fo_candidate = "m2",
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "4: a switchover scheduled later: keep leading, look again when it is due",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .fo = true,
     .fo_candidate = "m2",
     .fo_running = true,
     .fo_scheduled = true,
     .fo_in_ms = 5000,
     .want = HA_KEEP_LEADER,
     .want_recheck = 5000,
     UNCHECKED},
    {.name = "4: a switchover now due: hand over",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .fo = true,
     .fo_candidate = "m2",
     .fo_running = true,
     .fo_scheduled = true,
     .fo_in_ms = -1,
     .want = HA_RELEASE_LEADER,
     .want_target = "m2",
     UNCHECKED},

    /* 5. A promotion in flight. */
    {.name = "5: pg_promote() sent, recovery not yet over: wait for it",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .mem = {.promote_until_ms = NOW + 1000},
     .want = HA_KEEP_LEADER,
     .want_recheck = HA_PROMOTE_RECHECK_MS,
     UNCHECKED},
    {.name = "5: the promotion timed out: promote again",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .mem = {.promote_until_ms = NOW - 1},
     .want = HA_PROMOTE,
     UNCHECKED},

    /* 6. Publishing the position before the race. */
    {.name = "6: no leader, fit: publish our position first",
     .pg = HA_PG_REPLICA,
     .want = HA_PUBLISH_POSITION,
     .want_recheck = HA_PUBLISH_GRACE_MS,
     .want_published = 1,
     .want_restarts = -1},
    {.name = "6: position published: race for the key",
     .pg = HA_PG_REPLICA,
     .mem = {.leaderless_published = true},
     .want = HA_TAKE_LEADER,
     UNCHECKED},
    {.name = "6: named by a manual failover: race at once",
     .pg = HA_PG_REPLICA,
     .fo = true,
     .fo_candidate = "me",
     .want = HA_TAKE_LEADER,
     UNCHECKED},
    {.name = "6: a leader seen again: the next race publishes again",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .mem = {.leaderless_published = true},
     .want = HA_WAIT,
     .want_published = 0,
     .want_restarts = -1},

    /* 7. A replica that does not stream from the leader's newer timeline. */
    {.name = "7: not streaming from a newer timeline: look again when the limit is up",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .leader = "m1",
     .timeline = 2,
     .leader_timeline = 3,
     .want = HA_WAIT,
     .want_recheck = HA_NOT_STREAMING_LIMIT_MS + 10,
     .want_since = NOW,
     UNCHECKED},
    {.name = "7: not streaming past the limit: stop to check for divergence",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .leader = "m1",
     .timeline = 2,
     .leader_timeline = 3,
     .mem = {.not_streaming_since_ms = NOW - HA_NOT_STREAMING_LIMIT_MS - 1},
     .want = HA_RECHECK,
     .want_rechecked = 3,
     UNCHECKED},
    {.name = "7: already checked for this leader timeline: leave it",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .leader = "m1",
     .timeline = 2,
     .leader_timeline = 3,
     .mem = {.not_streaming_since_ms = NOW - 2 * HA_NOT_STREAMING_LIMIT_MS,
             .rechecked_for_timeline = 3},
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "7: streaming: nothing to check",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .timeline = 2,
     .leader_timeline = 3,
     .mem = {.not_streaming_since_ms = NOW - 2 * HA_NOT_STREAMING_LIMIT_MS},
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "7: maintenance mode: never stopped",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .leader = "m1",
     .paused = true,
     .timeline = 2,
     .leader_timeline = 3,
     .mem = {.not_streaming_since_ms = NOW - 2 * HA_NOT_STREAMING_LIMIT_MS},
     .want = HA_WAIT,
     UNCHECKED},

    /* 8. Operator requests. */
    {.name = "8: reinitialize a replica: clone the leader afresh",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .requests = HA_REQ_REINIT,
     .want = HA_REINIT,
     .want_target = "m1",
     .want_done = HA_REQ_REINIT,
     UNCHECKED},
    {.name = "8: reinitialize the leader: refused, and consumed",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .requests = HA_REQ_REINIT,
     .want = HA_WAIT,
     .want_done = HA_REQ_REINIT,
     .want_recheck = 1,
     UNCHECKED},
    {.name = "8: reload while running",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .requests = HA_REQ_RELOAD,
     .want = HA_RELOAD,
     .want_done = HA_REQ_RELOAD,
     UNCHECKED},
    {.name = "8: restart",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .streaming = true,
     .leader = "m1",
     .requests = HA_REQ_RESTART,
     .want = HA_OPERATOR_RESTART,
     .want_done = HA_REQ_RESTART,
     UNCHECKED},
    {.name = "8: a request waits while the decision acts",
     .pg = HA_PG_REPLICA,
     .upstream = "m0",
     .streaming = true,
     .leader = "m1",
     .requests = HA_REQ_RESTART,
     .want = HA_FOLLOW,
     .want_target = "m1",
     UNCHECKED},

    /* 9. Back-off. */
    {.name = "9: a failed start waits out its back-off",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .mem = {.backoff_until_ms = NOW + 400},
     .want = HA_WAIT,
     .want_recheck = 400,
     UNCHECKED},
    {.name = "9: back-off over: start",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .mem = {.backoff_until_ms = NOW},
     .want = HA_START_REPLICA,
     .want_target = "m1",
     UNCHECKED},
    {.name = "9: back-off never holds a demotion",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .mem = {.backoff_until_ms = NOW + 400},
     .want = HA_DEMOTE,
     UNCHECKED},

    /* 10. A former primary with no leader. */
    {.name = "10: a former primary, no leader, others run: wait for a leader",
     .pg = HA_PG_STOPPED,
     .was_primary = true,
     .others_running = true,
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "10: alone: start as a replica (and may lead again)",
     .pg = HA_PG_STOPPED,
     .was_primary = true,
     .want = HA_START_REPLICA,
     UNCHECKED},
    {.name = "10: the only member sync allows to lead: start",
     .pg = HA_PG_STOPPED,
     .was_primary = true,
     .others_running = true,
     .sync_mode = true,
     .sync_leader = "me",
     .want = HA_START_REPLICA,
     UNCHECKED},

    /* Memory the plan keeps. */
    {.name = "memory: crash restarts are forgotten after 10 TTLs",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .mem = {.restarts = 2, .last_restart_ms = NOW - 10 * TTL - 1},
     .want = HA_KEEP_LEADER,
     .want_published = -1,
     .want_restarts = 0},
    {.name = "memory: recent crash restarts count",
     .pg = HA_PG_CRASHED,
     .leader = "me",
     .mem = {.restarts = 3, .last_restart_ms = NOW - 1000},
     .want = HA_RELEASE_LEADER,
     .want_published = -1,
     .want_restarts = 3},
    {.name = "memory: TILT observes for one pass",
     .pg = HA_PG_REPLICA,
     .mem = {.tilt = true, .leaderless_published = true},
     .want = HA_WAIT,
     UNCHECKED},
    {.name = "memory: a leader still settling sync mode looks again soon",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .settling = true,
     .want = HA_KEEP_LEADER,
     .want_recheck = HA_SETTLE_RECHECK_MS,
     UNCHECKED},
    {.name = "memory: a rewind still pending rewinds",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .mem = {.rewind_pending = true},
     .want = HA_REWIND,
     .want_target = "m1",
     UNCHECKED},
    {.name = "memory: a failed rewind reinitializes",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .forked = true,
     .mem = {.rewind_failed = true},
     .want = HA_REINIT,
     .want_target = "m1",
     UNCHECKED},
    {.name = "forked history with no leader: start as a replica first (nothing to rewind from)",
     .pg = HA_PG_STOPPED,
     .forked = true,
     .want = HA_START_REPLICA,
     UNCHECKED},
};

static void inputs_of(const plan_case *c, ha_inputs *in, const char **sync)
{
	memset(in, 0, sizeof *in);
	in->cfg = (ha_config){.name = "me",
	                      .ttl_ms = TTL,
	                      .loop_wait_ms = LOOP,
	                      .retry_timeout_ms = RETRY,
	                      .maximum_lag_on_failover = 1048576,
	                      .max_restarts = 3};
	sync[0] = c->sync0;
	in->cl = (ha_cluster){.standby_cluster = c->standby,
	                      .dcs_ok = !c->dcs_down,
	                      .initialized = true,
	                      .leader = c->leader,
	                      .paused = c->paused,
	                      .synchronous_mode = c->sync_mode,
	                      .sync = sync,
	                      .nsync = c->sync0 ? 1 : 0,
	                      .sync_leader = c->sync_leader};
	in->lo = (ha_local){.pg = c->pg, .upstream = c->upstream};
	in->now_ms = NOW;
	in->wall_ms = WALL;
	in->lease_expiry_ms = c->no_lease ? 0 : c->lease ? c->lease : LEASE_OK;
	in->failover = (ha_failover_key){.present = c->fo,
	                                 .leader = c->fo_leader,
	                                 .candidate = c->fo_candidate,
	                                 .scheduled = c->fo_scheduled,
	                                 .schedule_valid = c->fo_scheduled && !c->fo_invalid,
	                                 .at_unix_ms = WALL + c->fo_in_ms,
	                                 .candidate_running = c->fo_running};
	in->forked = c->forked;
	in->was_primary = c->was_primary;
	in->others_running = c->others_running;
	in->unfinished_data = c->unfinished;
	in->foreign_data = c->foreign;
	in->config_rev = c->config_rev;
	in->streaming = c->streaming;
	in->timeline = c->timeline;
	in->leader_timeline = c->leader_timeline;
	in->sync_settling = c->settling;
	in->requests = c->requests;
}

static void run_case(const plan_case *c)
{
	ha_inputs in;
	const char *sync[1];
	inputs_of(c, &in, sync);
	ha_memory next;
	ha_step s = ha_plan(&in, &c->mem, &next);
	bool ok =
	    s.action == c->want && s.reason && *s.reason &&
	    (!c->want_target || (s.target && !strcmp(s.target, c->want_target))) &&
	    s.recheck_in_ms == c->want_recheck && s.requests_done == c->want_done &&
	    (c->want_published < 0 || next.leaderless_published == (c->want_published == 1)) &&
	    (!c->want_applied || next.applied_config_rev == c->want_applied) &&
	    (!c->want_rechecked || next.rechecked_for_timeline == c->want_rechecked) &&
	    (c->want_restarts < 0 || next.restarts == (unsigned)c->want_restarts) &&
	    (!c->want_since || next.not_streaming_since_ms == c->want_since) && !next.tilt;
	if (!ok) {
		print_error(
		    "case '%s': got %s (target %s, reason '%s', recheck %llu, done %u, "
		    "published %d, applied %lld, rechecked %lld, restarts %u), want %s\n",
		    c->name, ha_action_name(s.action), s.target ? s.target : "-",
		    s.reason ? s.reason : "", (unsigned long long)s.recheck_in_ms, s.requests_done,
		    next.leaderless_published, (long long)next.applied_config_rev,
		    (long long)next.rechecked_for_timeline, next.restarts, ha_action_name(c->want));
		fail();
	}
}

static void test_plan_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

/* Rules 1 and 2 over the whole plan: whatever else is pending (unfinished data, a config
 * change, a failover key, operator requests, a promotion in flight, a back-off, TILT), a
 * primary is only left writable by a step while it holds the key with a safe lease (or, DCS
 * down, a safe lease). */
static void test_plan_never_leaves_an_unsafe_primary_writable(void **state)
{
	(void)state;
	const char *leaders[] = {NULL, "me", "m1"};
	const uint64_t leases[] = {0, LEASE_OK, LEASE_SHORT};
	for (int l = 0; l < 3; l++)
		for (int e = 0; e < 3; e++)
			for (unsigned bits = 0; bits < 512; bits++) {
				plan_case c = {.pg = HA_PG_PRIMARY, .leader = leaders[l]};
				ha_inputs in;
				const char *sync[1];
				inputs_of(&c, &in, sync);
				in.lease_expiry_ms = leases[e];
				in.cl.dcs_ok = !(bits & 1);
				in.unfinished_data = (bits & 2) ? "x" : NULL;
				in.config_rev = (bits & 4) ? 9 : 0;
				in.failover.present = bits & 8;
				in.failover.candidate = (bits & 8) ? "m2" : NULL;
				in.requests = (bits & 16) ? HA_REQ_RELOAD | HA_REQ_RESTART : 0;
				in.cl.paused = bits & 256;
				ha_memory mem = {.tilt = bits & 32,
				                 .applied_config_rev = 8,
				                 .promote_until_ms = (bits & 64) ? NOW + 1 : 0,
				                 .backoff_until_ms = (bits & 128) ? NOW + 1 : 0};
				ha_memory next;
				ha_step s = ha_plan(&in, &mem, &next);
				bool stops = s.action == HA_DEMOTE || s.action == HA_RELEASE_LEADER;
				bool safe = e == 1 && (l == 1 || !in.cl.dcs_ok);
				if (!stops && !safe) {
					print_error("leader=%s lease=%d bits=%u: %s (%s)\n",
					            leaders[l] ? leaders[l] : "-", e, bits,
					            ha_action_name(s.action), s.reason);
					fail();
				}
			}
}

/* Rule 3 over the whole plan: the key is raced for (or our position published for the race)
 * only by a fit replica with a lease, DCS up, not paused, not in TILT. */
static void test_plan_only_fit_replicas_race(void **state)
{
	(void)state;
	for (int pg = HA_PG_NO_DATA; pg <= HA_PG_CRASHED; pg++)
		for (unsigned bits = 0; bits < 64; bits++) {
			plan_case c = {.pg = (ha_pg_state)pg};
			ha_inputs in;
			const char *sync[1];
			inputs_of(&c, &in, sync);
			in.cl.dcs_ok = !(bits & 1);
			in.cl.paused = bits & 2;
			in.cfg.nofailover = bits & 4;
			in.lease_expiry_ms = (bits & 8) ? 0 : LEASE_OK;
			ha_memory mem = {.tilt = bits & 16, .leaderless_published = bits & 32};
			ha_memory next;
			ha_step s = ha_plan(&in, &mem, &next);
			bool races = s.action == HA_TAKE_LEADER || s.action == HA_PUBLISH_POSITION;
			if (races && (pg != HA_PG_REPLICA || (bits & 31))) {
				print_error("pg=%d bits=%u: %s (%s)\n", pg, bits,
				            ha_action_name(s.action), s.reason);
				fail();
			}
			if (s.action == HA_TAKE_LEADER && !(bits & 32)) {
				print_error("pg=%d bits=%u raced before publishing\n", pg, bits);
				fail();
			}
		}
}

/* Every step the plan can name has a name. */
static void test_step_names(void **state)
{
	(void)state;
	for (int a = HA_WAIT; a <= HA_DEMOTE_SITE; a++)
		assert_string_not_equal(ha_action_name((ha_action)a), "?");
	assert_string_equal(ha_action_name((ha_action)(HA_DEMOTE_SITE + 1)), "?");
}

/* Outcomes recorded into the memory. */
static void test_memory_outcomes(void **state)
{
	(void)state;
	ha_config cfg = {.ttl_ms = TTL, .loop_wait_ms = LOOP, .retry_timeout_ms = RETRY};
	ha_memory m = {0};
	ha_memory_failed(&m, &cfg, NOW);
	assert_int_equal(m.backoff_until_ms, NOW + LOOP);
	ha_memory_restarted(&m, NOW);
	ha_memory_restarted(&m, NOW + 5);
	assert_int_equal(m.restarts, 2);
	assert_int_equal(m.last_restart_ms, NOW + 5);
	ha_memory_promoting(&m, &cfg, NOW);
	assert_int_equal(m.promote_until_ms, NOW + TTL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plan_table),
	    cmocka_unit_test(test_plan_never_leaves_an_unsafe_primary_writable),
	    cmocka_unit_test(test_plan_only_fit_replicas_race),
	    cmocka_unit_test(test_step_names),
	    cmocka_unit_test(test_memory_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
