/* The HA decision as a table: every safety rule of SPEC §3, each case both ways (the rule holds
 * and the action is taken; a condition is missing and it is not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ha.h"

enum { NOW = 1000000, TTL = 30000, LOOP = 10000, RETRY = 10000 };

/* A lease renewed `ago` ms ago. */
#define LEASE(ago) ((uint64_t)NOW - (ago) + TTL)

typedef struct ha_case {
	const char *name;
	/* self */
	bool nofailover;
	unsigned restarts;
	bool restore_no_leader;
	/* local PostgreSQL */
	ha_pg_state pg;
	uint64_t lsn;
	const char *upstream;
	bool diverged, rewind_failed;
	bool handed_over;
	/* DCS */
	bool dcs_down;
	bool uninitialized;
	const char *leader;
	uint64_t last_leader_lsn;
	bool paused;
	bool sync_mode;
	const char *sync0;
	const char *sync_leader;
	const char *failover_to;
	bool failsafe_mode;
	bool standby;          /* a standby cluster */
	const char *failsafe0; /* the failsafe key's one member; "" for an empty key */
	const char *failsafe_leader;
	/* one other member, when other_name is set */
	const char *other_name;
	bool other_reachable, other_nofailover, other_clonefrom;
	uint64_t other_lsn;
	/* clock */
	uint64_t lease_expiry; /* 0: no lease */
	uint64_t failsafe_expiry;
	bool tilt;
	/* sites: ours, the (last) leader's, the other member's; how long without a leader */
	const char *site, *leader_site, *other_site;
	uint64_t leaderless_ms;
	/* expected */
	ha_action want;
	const char *want_target;
	uint64_t want_recheck; /* checked when not 0 */
} ha_case;

static const ha_case cases[] = {
    /* Bootstrap and joining. */
    {.name = "empty cluster, no data: bootstrap",
     .pg = HA_PG_NO_DATA,
     .uninitialized = true,
     .want = HA_BOOTSTRAP},
    {.name = "empty cluster, data present: adopt it",
     .pg = HA_PG_STOPPED,
     .uninitialized = true,
     .want = HA_BOOTSTRAP},
    {.name = "initialized, no data, a leader: clone it",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "initialized, no data, no leader: wait", .pg = HA_PG_NO_DATA, .want = HA_WAIT},
    {.name = "initialized, no data, no leader, pgbackrest no_leader: restore",
     .pg = HA_PG_NO_DATA,
     .restore_no_leader = true,
     .want = HA_CLONE},
    {.name = "initialized, no data, a leader, pgbackrest no_leader: clone the leader",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .restore_no_leader = true,
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "stopped replica with a leader: start following it",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .want = HA_START_REPLICA,
     .want_target = "m1"},
    {.name = "replica following the leader: nothing to do",
     .pg = HA_PG_REPLICA,
     .upstream = "m1",
     .leader = "m1",
     .want = HA_WAIT},
    {.name = "replica following an old leader: re-point",
     .pg = HA_PG_REPLICA,
     .upstream = "m0",
     .leader = "m1",
     .want = HA_FOLLOW,
     .want_target = "m1"},
    {.name = "starting from an old leader (not yet consistent): re-point",
     .pg = HA_PG_STARTING,
     .upstream = "m0",
     .leader = "m1",
     .want = HA_FOLLOW,
     .want_target = "m1"},
    {.name = "starting from the leader: wait",
     .pg = HA_PG_STARTING,
     .upstream = "m1",
     .leader = "m1",
     .want = HA_WAIT},
    {.name = "replica following no one: follow the leader",
     .pg = HA_PG_REPLICA,
     .leader = "m1",
     .want = HA_FOLLOW,
     .want_target = "m1"},

    /* Rule 1: only the key holder is writable. */
    {.name = "rule 1: primary while another holds the key: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE,
     .want_target = "m1"},
    {.name = "rule 1: primary while nobody holds the key: demote",
     .pg = HA_PG_PRIMARY,
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE},
    {.name = "rule 1: primary holding the key: keep",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},
    {.name = "rule 1: even in maintenance mode, a primary without the key demotes",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .paused = true,
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE,
     .want_target = "m1"},
    {.name = "rule 1: even in TILT, a primary without the key demotes",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .tilt = true,
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE,
     .want_target = "m1"},

    /* Rule 2: stop writing before the lease can expire. */
    {.name = "rule 2: DCS down, lease fresh: keep leading and retry",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .lease_expiry = LEASE(LOOP),
     .want = HA_KEEP_LEADER},
    {.name = "rule 2: DCS down, lease within retry_timeout of expiry: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .want = HA_DEMOTE},
    {.name = "rule 2: DCS down, lease expired: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .lease_expiry = LEASE(TTL + 1),
     .want = HA_DEMOTE},
    {.name = "rule 2: DCS up but lease not renewed in time: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .lease_expiry = LEASE(TTL - RETRY + 1),
     .want = HA_DEMOTE},
    {.name = "rule 2: lease just inside the margin: keep",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .lease_expiry = LEASE(TTL - RETRY - 1),
     .want = HA_KEEP_LEADER},
    {.name = "rule 2: in TILT with a doubtful lease: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .tilt = true,
     .lease_expiry = LEASE(TTL),
     .want = HA_DEMOTE},
    {.name = "rule 2: in TILT with a fresh lease: keep, take no other action",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .tilt = true,
     .lease_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},

    /* Rule 3: who may take the key. */
    {.name = "rule 3: healthiest replica, no leader: take the key",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .last_leader_lsn = 100,
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 90,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: equal positions: try (the atomic create decides)",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: another reachable member is ahead: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 90,
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 100,
     .want = HA_WAIT},
    {.name = "rule 3: an unreachable member does not count",
     .pg = HA_PG_REPLICA,
     .lsn = 90,
     .other_name = "m2",
     .other_reachable = false,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: a nofailover member ahead does not block",
     .pg = HA_PG_REPLICA,
     .lsn = 90,
     .other_name = "m2",
     .other_reachable = true,
     .other_nofailover = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: tagged nofailover: never take the key",
     .nofailover = true,
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .want = HA_WAIT},
    {.name = "rule 3: beyond maximum_lag_on_failover: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .last_leader_lsn = 100 + 1048577,
     .want = HA_WAIT},
    {.name = "rule 3: just within maximum_lag_on_failover: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .last_leader_lsn = 100 + 1048576,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: synchronous mode, not in sync: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .sync_mode = true,
     .sync0 = "m2",
     .want = HA_WAIT},
    {.name = "rule 3: synchronous mode, in sync: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .sync_mode = true,
     .sync0 = "me",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: fit, but no lease yet (or a stale one): wait for a fresh lease",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .want = HA_WAIT},
    {.name = "rule 3: fit, but the lease ends within retry_timeout: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .lease_expiry = LEASE(TTL - RETRY + 1),
     .want = HA_WAIT},
    {.name = "rule 3: synchronous mode: an asynchronous replica ahead does not block",
     .pg = HA_PG_REPLICA,
     .lsn = 90,
     .sync_mode = true,
     .sync0 = "me",
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: synchronous mode, the leader that wrote `sync` may take the key back",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .sync_mode = true,
     .sync_leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "rule 3: a manual failover names someone else: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .failover_to = "m2",
     .want = HA_WAIT},
    {.name = "rule 3: a manual failover names us: take even if behind",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},

    /* Site awareness: copies come from our own site before crossing the link. */
    {.name = "clone: the leader in another site, a running replica in ours: copy it",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .other_reachable = true,
     .want = HA_CLONE,
     .want_target = "m2"},
    {.name = "clone: the replica in our site does not run: the leader",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "clone: the leader in our site: the leader, not a plain replica",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .site = "A",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "clone: a clonefrom replica in our site goes before the leader",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .site = "A",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_clonefrom = true,
     .want = HA_CLONE,
     .want_target = "m2"},
    {.name = "clone: a clonefrom replica in another site: the leader",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .site = "A",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .other_reachable = true,
     .other_clonefrom = true,
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "clone: no site of our own: the leader",
     .pg = HA_PG_NO_DATA,
     .leader = "m1",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .other_reachable = true,
     .want = HA_CLONE,
     .want_target = "m1"},
    {.name = "rebuild: pg_rewind failed, the leader across the link: copy our site's replica",
     .pg = HA_PG_STOPPED,
     .leader = "m1",
     .diverged = true,
     .rewind_failed = true,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .other_reachable = true,
     .want = HA_REINIT,
     .want_target = "m2"},
    /* Rule 4: site awareness. We are a fit replica (rule 3) at 100; the leader was in A. */
    {.name = "site: another site, an equally fit member in the leader's site: wait for it",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT,
     .want_recheck = TTL},
    {.name = "site: the wait is bounded: recheck when a TTL without a leader is over",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .leaderless_ms = TTL - 400,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT,
     .want_recheck = 400},
    {.name = "site: a TTL without a leader: the other site races after all",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .leaderless_ms = TTL,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: the leader's site: take, even with an equal member elsewhere",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "A",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "B",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: further ahead than the leader's site: take (data before locality)",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 99,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: the member in the leader's site does not run: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = false,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: the member in the leader's site is nofailover: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_nofailover = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: synchronous mode, the member in the leader's site is not in sync: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .sync_mode = true,
     .sync0 = "me",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: synchronous mode, the member in the leader's site is in sync: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .sync_mode = true,
     .sync0 = "me",
     .sync_leader = "m2",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "site: the last leader's site unknown: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: no site of our own, an equal member in the leader's site: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "site: the equal member is in a third site: take",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "C",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: a manual failover names us: take, whatever the site",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .site = "B",
     .leader_site = "A",
     .failover_to = "me",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "site: a leader holds the key: the site changes nothing (follow it)",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .upstream = "m2",
     .leader = "m2",
     .site = "B",
     .leader_site = "A",
     .other_name = "m2",
     .other_site = "A",
     .other_reachable = true,
     .other_lsn = 100,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT,
     .want_target = "m2"},

    {.name = "rule 3: no automatic failover in maintenance mode",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .paused = true,
     .want = HA_WAIT},
    {.name = "rule 3: no failover in TILT",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .tilt = true,
     .want = HA_WAIT},
    {.name = "rule 3: no failover without the DCS",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .dcs_down = true,
     .want = HA_WAIT},
    {.name = "rule 3: a diverged replica is no candidate",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .diverged = true,
     .want = HA_WAIT},
    {.name = "holding the key with a replica: promote",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_PROMOTE},
    {.name = "holding the key with a replica that failed to become writable 3 times: release",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .restarts = 3,
     .lease_expiry = LEASE(0),
     .want = HA_RELEASE_LEADER},
    {.name = "holding the key with a replica after 2 failures: promote again",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .restarts = 2,
     .lease_expiry = LEASE(0),
     .want = HA_PROMOTE},
    {.name = "holding the key with a replica in maintenance mode: do not promote",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .paused = true,
     .lease_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},

    /* Maintenance mode stops automatic actions, not what an operator names. */
    {.name = "paused: a switchover naming another member: the leader hands over",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .paused = true,
     .failover_to = "m2",
     .lease_expiry = LEASE(0),
     .want = HA_RELEASE_LEADER,
     .want_target = "m2"},
    {.name = "paused: named by the operator and holding the key with a replica: promote",
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .paused = true,
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_PROMOTE},
    {.name = "paused: named by the operator, no leader: take the key",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .paused = true,
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "paused: another member named, no leader: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .paused = true,
     .failover_to = "m2",
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "paused: named, another member further ahead: the operator chose, take the key",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .paused = true,
     .failover_to = "me",
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 200,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "named, but too far behind the last leader position: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .last_leader_lsn = 100 + 2 * 1048576,
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "named, synchronous mode and not a synchronous standby: wait",
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .sync_mode = true,
     .sync0 = "m2",
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "paused: stopped after handing over: back as a replica of the new leader",
     .pg = HA_PG_STOPPED,
     .leader = "m2",
     .paused = true,
     .handed_over = true,
     .want = HA_START_REPLICA,
     .want_target = "m2"},
    {.name = "paused: stopped by someone else: not started",
     .pg = HA_PG_STOPPED,
     .leader = "m2",
     .paused = true,
     .want = HA_WAIT},
    {.name = "paused: stopped and no leader: not started",
     .pg = HA_PG_STOPPED,
     .paused = true,
     .want = HA_WAIT},

    /* PostgreSQL down on the leader. */
    {.name = "leader's PostgreSQL crashed, lease fresh: restart in place",
     .pg = HA_PG_CRASHED,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_RESTART},
    {.name = "leader's PostgreSQL keeps crashing: release the key",
     .pg = HA_PG_CRASHED,
     .restarts = 3,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_RELEASE_LEADER},
    {.name = "leader's PostgreSQL down and the lease short: release",
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .lease_expiry = LEASE(TTL - RETRY),
     .want = HA_RELEASE_LEADER},
    {.name = "manual failover to another member: the leader hands over",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .failover_to = "m2",
     .lease_expiry = LEASE(0),
     .want = HA_RELEASE_LEADER,
     .want_target = "m2"},
    {.name = "manual failover to us while we lead: keep",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .failover_to = "me",
     .lease_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},

    /* Rule 5: a former primary rejoins as a replica, after rewind or a fresh clone. */
    {.name = "rule 5: diverged former primary, a leader: rewind",
     .pg = HA_PG_STOPPED,
     .diverged = true,
     .leader = "m1",
     .want = HA_REWIND,
     .want_target = "m1"},
    {.name = "rule 5: rewind failed: reinit (data moved aside)",
     .pg = HA_PG_STOPPED,
     .diverged = true,
     .rewind_failed = true,
     .leader = "m1",
     .want = HA_REINIT,
     .want_target = "m1"},
    {.name = "rule 5: stopped former primary, no leader: start as a replica, not a primary",
     .pg = HA_PG_STOPPED,
     .want = HA_START_REPLICA},
    {.name = "rule 5: crashed, another leads: start as its replica",
     .pg = HA_PG_CRASHED,
     .leader = "m1",
     .want = HA_START_REPLICA,
     .want_target = "m1"},
    {.name = "rule 5: diverged and no leader: wait",
     .pg = HA_PG_STOPPED,
     .diverged = true,
     .want = HA_WAIT},

    /* Failsafe mode: every member's confirmation stands in for the lease while the DCS cannot
     * be reached, and holds back the members that confirmed. */
    {.name = "failsafe: DCS down, lease spent, every member confirmed: keep writing",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .failsafe_mode = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .failsafe_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},
    {.name = "failsafe: DCS down, confirmation about to end: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .failsafe_mode = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .failsafe_expiry = LEASE(TTL - RETRY),
     .want = HA_DEMOTE},
    {.name = "failsafe off: a confirmation counts for nothing: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .failsafe_expiry = LEASE(0),
     .want = HA_DEMOTE},
    {.name = "failsafe: DCS down in TILT, confirmed: keep writing",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .dcs_down = true,
     .tilt = true,
     .failsafe_mode = true,
     .failsafe_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},
    {.name = "failsafe: DCS back, our key lapsed, fresh lease: take it again",
     .pg = HA_PG_PRIMARY,
     .failsafe_mode = true,
     .lease_expiry = LEASE(0),
     .failsafe_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "failsafe: DCS back, our key lapsed, no fresh lease yet: wait, writable",
     .pg = HA_PG_PRIMARY,
     .failsafe_mode = true,
     .failsafe_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "failsafe: DCS back, key lapsed, in TILT: wait rather than take it",
     .pg = HA_PG_PRIMARY,
     .failsafe_mode = true,
     .tilt = true,
     .lease_expiry = LEASE(0),
     .failsafe_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "failsafe: DCS back, key lapsed, confirmation ended: demote",
     .pg = HA_PG_PRIMARY,
     .failsafe_mode = true,
     .lease_expiry = LEASE(0),
     .failsafe_expiry = LEASE(TTL),
     .want = HA_DEMOTE},
    {.name = "failsafe: DCS back and another member leads: demote, whatever was confirmed",
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .failsafe_mode = true,
     .lease_expiry = LEASE(0),
     .failsafe_expiry = LEASE(0),
     .want = HA_DEMOTE,
     .want_target = "m1"},
    {.name = "failsafe: DCS back with our key, lease not yet renewed, confirmed: keep",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .failsafe_mode = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .failsafe_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},
    {.name = "failsafe: DCS back with our key, lease not renewed, not confirmed: demote",
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .failsafe_mode = true,
     .lease_expiry = LEASE(TTL - RETRY),
     .failsafe_expiry = LEASE(TTL - RETRY),
     .want = HA_DEMOTE},
    {.name = "failsafe: replica, no leader key, the leader confirmed itself: do not race",
     .pg = HA_PG_REPLICA,
     .failsafe_mode = true,
     .failsafe_leader = "m1",
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "failsafe off: a confirmation held over does not hold a replica back",
     .pg = HA_PG_REPLICA,
     .failsafe_leader = "m1",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "failsafe: replica not in the failsafe key: do not race",
     .pg = HA_PG_REPLICA,
     .failsafe_mode = true,
     .failsafe0 = "m1",
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "failsafe: replica in the failsafe key, nobody confirmed: race",
     .pg = HA_PG_REPLICA,
     .failsafe_mode = true,
     .failsafe0 = "me",
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "failsafe: no failsafe key yet: every member may race",
     .pg = HA_PG_REPLICA,
     .failsafe_mode = true,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},

    /* A standby cluster (standby_cluster in the DCS config): the leader is the standby leader,
     * a replica of the primary site; nobody is writable; nobody promotes. */
    {.name = "standby: the leader's replica follows the primary site, not promoted",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_FOLLOW,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby: the standby leader replicating from the primary site: keep",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .upstream = HA_PRIMARY_SITE,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_KEEP_LEADER},
    {.name = "standby off (promote-cluster): the standby leader promotes",
     .pg = HA_PG_REPLICA,
     .upstream = HA_PRIMARY_SITE,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_PROMOTE},
    {.name = "standby: the standby leader stopped: start it following the primary site",
     .standby = true,
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_START_REPLICA,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby (failback): the standby leader's unchecked data: pg_rewind from the site",
     .standby = true,
     .pg = HA_PG_STOPPED,
     .diverged = true,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_REWIND,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby (failback): that rewind failed: move aside, copy the primary site",
     .standby = true,
     .pg = HA_PG_CRASHED,
     .diverged = true,
     .rewind_failed = true,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_REINIT,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby (failback, restored): behind the site's last position: still a candidate",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .last_leader_lsn = 100 + 1048577,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "standby: another member further ahead still wins the standby leader key",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .lsn = 100,
     .other_name = "m2",
     .other_reachable = true,
     .other_lsn = 200,
     .lease_expiry = LEASE(0),
     .want = HA_WAIT},
    {.name = "standby: stopped standby leader with a short lease: release",
     .standby = true,
     .pg = HA_PG_STOPPED,
     .leader = "me",
     .lease_expiry = LEASE(TTL),
     .want = HA_RELEASE_LEADER},
    {.name = "standby (demote-cluster): the leader's primary stops cleanly for the other site",
     .standby = true,
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE_SITE,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby: even in TILT, the leader's primary stops",
     .standby = true,
     .tilt = true,
     .pg = HA_PG_PRIMARY,
     .leader = "me",
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE_SITE},
    {.name = "standby: a primary without the key demotes as anywhere",
     .standby = true,
     .pg = HA_PG_PRIMARY,
     .leader = "m1",
     .lease_expiry = LEASE(0),
     .want = HA_DEMOTE,
     .want_target = "m1"},
    {.name = "standby: other members follow the standby leader",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .upstream = HA_PRIMARY_SITE,
     .leader = "m1",
     .want = HA_FOLLOW,
     .want_target = "m1"},
    {.name = "standby: no leader, fit replica: take the key (to follow the primary site)",
     .standby = true,
     .pg = HA_PG_REPLICA,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "standby: no leader, stopped: take the key before starting (checked first)",
     .standby = true,
     .pg = HA_PG_STOPPED,
     .lease_expiry = LEASE(0),
     .want = HA_TAKE_LEADER},
    {.name = "standby: no leader, stopped, nofailover: start as a replica",
     .standby = true,
     .nofailover = true,
     .pg = HA_PG_STOPPED,
     .lease_expiry = LEASE(0),
     .want = HA_START_REPLICA},
    {.name = "standby: a follower whose history forked: pg_rewind from the primary site",
     .standby = true,
     .pg = HA_PG_STOPPED,
     .diverged = true,
     .leader = "m1",
     .want = HA_REWIND,
     .want_target = HA_PRIMARY_SITE},
    {.name = "standby: not initialized: bootstrap (from the primary site)",
     .standby = true,
     .uninitialized = true,
     .pg = HA_PG_NO_DATA,
     .want = HA_BOOTSTRAP},
};

static void run_case(const ha_case *c)
{
	ha_config cfg = {
	    .name = "me",
	    .nofailover = c->nofailover,
	    .ttl_ms = TTL,
	    .loop_wait_ms = LOOP,
	    .retry_timeout_ms = RETRY,
	    .maximum_lag_on_failover = 1048576,
	    .max_restarts = 3,
	    .restore_without_leader = c->restore_no_leader,
	    .site = c->site,
	};
	ha_member other = {c->other_name, c->other_nofailover, c->other_reachable,
	                   c->other_lsn,  c->other_site,       c->other_clonefrom};
	const char *sync[1] = {c->sync0};
	const char *failsafe[1] = {c->failsafe0};
	ha_cluster cl = {
	    .dcs_ok = !c->dcs_down,
	    .initialized = !c->uninitialized,
	    .leader = c->leader,
	    .last_leader_lsn = c->last_leader_lsn,
	    .paused = c->paused,
	    .synchronous_mode = c->sync_mode,
	    .sync = sync,
	    .nsync = c->sync0 ? 1 : 0,
	    .sync_leader = c->sync_leader,
	    .failover_to = c->failover_to,
	    .failsafe_mode = c->failsafe_mode,
	    .has_failsafe = c->failsafe0 != NULL,
	    .failsafe = failsafe,
	    .nfailsafe = c->failsafe0 && *c->failsafe0 ? 1 : 0,
	    .failsafe_leader = c->failsafe_leader,
	    .members = &other,
	    .nmembers = c->other_name ? 1 : 0,
	    .standby_cluster = c->standby,
	    .leader_site = c->leader_site,
	};
	ha_local lo = {
	    .pg = c->pg,
	    .lsn = c->lsn,
	    .upstream = c->upstream,
	    .diverged = c->diverged,
	    .rewind_failed = c->rewind_failed,
	    .restarts = c->restarts,
	    .handed_over = c->handed_over,
	};
	ha_clock clk = {.now_ms = NOW,
	                .lease_expiry_ms = c->lease_expiry,
	                .failsafe_expiry_ms = c->failsafe_expiry,
	                .tilt = c->tilt,
	                .leaderless_ms = c->leaderless_ms};
	ha_decision d = ha_decide(&cfg, &cl, &lo, &clk);
	if (d.action != c->want || (c->want_recheck && d.recheck_in_ms != c->want_recheck) ||
	    (c->want_target && (!d.target || strcmp(d.target, c->want_target))) || !d.reason ||
	    !*d.reason) {
		print_error("case '%s': got %s (target %s, reason '%s'), want %s (target %s)\n",
		            c->name, ha_action_name(d.action), d.target ? d.target : "-",
		            d.reason ? d.reason : "", ha_action_name(c->want),
		            c->want_target ? c->want_target : "-");
		fail();
	}
}

static void test_decision_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		run_case(&cases[i]);
}

/* Rule 1, exhaustively: over every combination of inputs, a decision never leaves a primary
 * writable (keep, wait) unless we hold the key with a safe lease, or, in failsafe mode, every
 * member confirmed us recently and no other member holds the key. */
static void test_no_writable_primary_without_key(void **state)
{
	(void)state;
	const char *leaders[] = {NULL, "me", "m1"};
	const uint64_t leases[] = {0, LEASE(0), LEASE(TTL - RETRY), LEASE(TTL + 5)};
	for (int l = 0; l < 3; l++)
		for (int e = 0; e < 4; e++)
			for (int f = 0; f < 4; f++)
				for (int bits = 0; bits < 64; bits++) {
					ha_config cfg = {.name = "me",
					                 .ttl_ms = TTL,
					                 .loop_wait_ms = LOOP,
					                 .retry_timeout_ms = RETRY,
					                 .maximum_lag_on_failover = 1,
					                 .max_restarts = 3};
					ha_cluster cl = {.dcs_ok = bits & 1,
					                 .initialized = bits & 2,
					                 .leader = leaders[l],
					                 .paused = bits & 4,
					                 .failover_to = (bits & 16) ? "m1" : NULL,
					                 .failsafe_mode = bits & 32};
					ha_local lo = {.pg = HA_PG_PRIMARY};
					ha_clock clk = {.now_ms = NOW,
					                .lease_expiry_ms = leases[e],
					                .failsafe_expiry_ms = leases[f],
					                .tilt = bits & 8};
					ha_decision d = ha_decide(&cfg, &cl, &lo, &clk);
					bool stays_writable =
					    d.action == HA_KEEP_LEADER || d.action == HA_WAIT ||
					    d.action == HA_PROMOTE || d.action == HA_TAKE_LEADER;
					bool safe = (e == 1) && (l == 1 || !cl.dcs_ok);
					bool confirmed =
					    cl.failsafe_mode && f == 1 && (l != 2 || !cl.dcs_ok);
					safe = safe || confirmed;
					if (stays_writable && !safe) {
						print_error("leader=%s lease=%d bits=%d: %s (%s)\n",
						            leaders[l] ? leaders[l] : "-", e, bits,
						            ha_action_name(d.action), d.reason);
						fail();
					}
				}
}

/* Rule 3, exhaustively: the key is only ever taken by a replica. */
static void test_only_replicas_take_the_key(void **state)
{
	(void)state;
	for (int pg = HA_PG_NO_DATA; pg <= HA_PG_CRASHED; pg++)
		for (int bits = 0; bits < 16; bits++) {
			ha_config cfg = {.name = "me",
			                 .ttl_ms = TTL,
			                 .loop_wait_ms = LOOP,
			                 .retry_timeout_ms = RETRY,
			                 .maximum_lag_on_failover = 1,
			                 .max_restarts = 3,
			                 .nofailover = bits & 8};
			ha_cluster cl = {
			    .dcs_ok = bits & 1, .initialized = true, .paused = bits & 2};
			ha_local lo = {.pg = (ha_pg_state)pg, .diverged = bits & 4};
			ha_clock clk = {.now_ms = NOW, .lease_expiry_ms = 0};
			ha_decision d = ha_decide(&cfg, &cl, &lo, &clk);
			if (d.action == HA_TAKE_LEADER &&
			    (pg != HA_PG_REPLICA || !cl.dcs_ok || cl.paused || lo.diverged ||
			     cfg.nofailover)) {
				print_error("pg=%d bits=%d took the key (%s)\n", pg, bits,
				            d.reason);
				fail();
			}
		}
}

/* A standby cluster, exhaustively: over every combination of inputs, no decision promotes or
 * keeps a writable primary. */
static void test_standby_cluster_never_writable(void **state)
{
	(void)state;
	const char *leaders[] = {NULL, "me", "m1"};
	const uint64_t leases[] = {0, LEASE(0), LEASE(TTL - RETRY), LEASE(TTL + 5)};
	const char *upstreams[] = {NULL, HA_PRIMARY_SITE, "m1"};
	for (int pg = HA_PG_NO_DATA; pg <= HA_PG_CRASHED; pg++)
		for (int l = 0; l < 3; l++)
			for (int e = 0; e < 4; e++)
				for (int u = 0; u < 3; u++)
					for (int bits = 0; bits < 64; bits++) {
						ha_config cfg = {.name = "me",
						                 .ttl_ms = TTL,
						                 .loop_wait_ms = LOOP,
						                 .retry_timeout_ms = RETRY,
						                 .maximum_lag_on_failover = 1,
						                 .max_restarts = 3};
						ha_cluster cl = {.dcs_ok = true,
						                 .initialized = bits & 2,
						                 .leader = leaders[l],
						                 .paused = bits & 4,
						                 .failover_to =
						                     (bits & 16) ? "me" : NULL,
						                 .failsafe_mode = bits & 32,
						                 .standby_cluster = true};
						ha_local lo = {.pg = (ha_pg_state)pg,
						               .upstream = upstreams[u],
						               .diverged = bits & 1};
						ha_clock clk = {.now_ms = NOW,
						                .lease_expiry_ms = leases[e],
						                .failsafe_expiry_ms = leases[e],
						                .tilt = bits & 8};
						ha_decision d = ha_decide(&cfg, &cl, &lo, &clk);
						bool writable = d.action == HA_PROMOTE ||
						                (pg == HA_PG_PRIMARY &&
						                 (d.action == HA_KEEP_LEADER ||
						                  d.action == HA_WAIT ||
						                  d.action == HA_TAKE_LEADER));
						if (writable) {
							print_error(
							    "pg=%d leader=%s bits=%d: %s (%s)\n",
							    pg, leaders[l] ? leaders[l] : "-", bits,
							    ha_action_name(d.action), d.reason);
							fail();
						}
					}
}

static void test_timing_rule(void **state)
{
	(void)state;
	ha_config ok = {.ttl_ms = 30000, .loop_wait_ms = 10000, .retry_timeout_ms = 10000};
	assert_true(ha_timing_valid(&ok));
	ha_config tight = {.ttl_ms = 20000, .loop_wait_ms = 1000, .retry_timeout_ms = 10000};
	assert_false(ha_timing_valid(&tight));
	ha_config zero = {.ttl_ms = 20000, .loop_wait_ms = 0, .retry_timeout_ms = 1000};
	assert_false(ha_timing_valid(&zero));
}

/* A lease covers us only while more than retry_timeout of it is left; the subtraction must not
 * wrap when the lease already ended. */
static void test_outlives(void **state)
{
	(void)state;
	ha_config cfg = {.ttl_ms = 4000, .loop_wait_ms = 1000, .retry_timeout_ms = 1000};
	static const struct {
		uint64_t expiry, now;
		bool outlives;
	} rows[] = {
	    {5000, 1000, true},  {2001, 1000, true}, {2000, 1000, false}, {1500, 1000, false},
	    {1000, 1000, false}, {0, 1000, false},   {999, 1000, false},  {0, 0, false},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		assert_int_equal(ha_outlives(&cfg, rows[i].expiry, rows[i].now), rows[i].outlives);
}

/* Only the member `sync` names, alone, may lead: the rule a former strict primary uses to start
 * when others run. */
static void test_sync_sole_candidate(void **state)
{
	(void)state;
	const char *just_a[] = {"a"}, *just_b[] = {"b"}, *a_b[] = {"a", "b"};
	ha_cluster cl = {.synchronous_mode = true, .sync_leader = "a"};
	assert_true(ha_sync_sole_candidate(&cl, "a"));
	assert_false(ha_sync_sole_candidate(&cl, "b"));
	cl.sync = just_b;
	cl.nsync = 1;
	assert_false(ha_sync_sole_candidate(&cl, "a"));
	assert_false(ha_sync_sole_candidate(&cl, "b"));
	cl.sync = just_a;
	assert_true(ha_sync_sole_candidate(&cl, "a"));
	cl.sync = a_b;
	cl.nsync = 2;
	assert_false(ha_sync_sole_candidate(&cl, "a"));
	cl.sync_leader = NULL;
	cl.sync = just_b;
	cl.nsync = 1;
	assert_true(ha_sync_sole_candidate(&cl, "b"));
	cl.synchronous_mode = false;
	assert_false(ha_sync_sole_candidate(&cl, "b"));
}

/* TILT: a late heartbeat or a wall clock that moved apart from the monotonic one. */
static void test_tilt_detection(void **state)
{
	(void)state;
	ha_config cfg = {.ttl_ms = 4000, .loop_wait_ms = 1000, .retry_timeout_ms = 1000};
	static const struct {
		uint64_t prev_mono, prev_wall, mono, wall;
		ha_tilt want;
	} tilts[] = {
	    {0, 0, 5000, 5000, HA_TILT_NONE},            /* the first beat */
	    {1000, 50000, 2000, 51000, HA_TILT_NONE},    /* on time */
	    {1000, 50000, 3000, 52000, HA_TILT_NONE},    /* late, within the limit */
	    {1000, 50000, 3001, 52001, HA_TILT_STALL},   /* stalled */
	    {1000, 50000, 60000, 109000, HA_TILT_STALL}, /* SIGSTOPped for a minute */
	    {1000, 50000, 2000, 54000, HA_TILT_CLOCK},   /* wall jumped 3 s ahead */
	    {1000, 50000, 2000, 47000, HA_TILT_CLOCK},   /* wall jumped back */
	    {1000, 50000, 2000, 52900, HA_TILT_NONE},    /* 1.9 s of skew: tolerated */
	    {5000, 50000, 4000, 50000, HA_TILT_NONE},    /* nonsense order: ignored */
	};
	for (size_t i = 0; i < sizeof tilts / sizeof tilts[0]; i++) {
		ha_tilt got = ha_tilt_detect(&cfg, tilts[i].prev_mono, tilts[i].prev_wall,
		                             tilts[i].mono, tilts[i].wall);
		if (got != tilts[i].want)
			fail_msg("case %zu: tilt %d, want %d", i, got, tilts[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decision_table),
	    cmocka_unit_test(test_no_writable_primary_without_key),
	    cmocka_unit_test(test_only_replicas_take_the_key),
	    cmocka_unit_test(test_standby_cluster_never_writable),
	    cmocka_unit_test(test_timing_rule),
	    cmocka_unit_test(test_outlives),
	    cmocka_unit_test(test_sync_sole_candidate),
	    cmocka_unit_test(test_tilt_detection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
