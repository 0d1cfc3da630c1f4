/* The HA decision: a pure function from what the DCS says, what the local PostgreSQL says, the
 * configuration and the clock, to one action with a one-line reason. It does nothing itself; the
 * agent carries the action out (atomically where the DCS is involved: taking the leader key is a
 * create-if-absent, releasing it a compare-and-delete) and asks again on the next pass.
 *
 * The safety rules of SPEC §3 live here and are tested as tables (tests/unit/test_ha.c):
 *  1. only the holder of the leader key runs a writable primary;
 *  2. a leader whose lease may expire within retry_timeout stops being writable first;
 *  3. a replica takes the key only when fit: not nofailover, as far ahead as every member it can
 *     reach, within maximum_lag_on_failover of the last leader position, listed in `sync` in
 *     synchronous mode, not while a manual failover names someone else, and only with a lease
 *     that outlives retry_timeout (the key hangs on it);
 *  4. site awareness: among replicas equally fit by rule 3 (as far ahead as each other), one
 *     in the last leader's site goes first; a replica of another site waits for it while it
 *     runs, at most a TTL of no leader (ha_site_wait_ms), then races as before;
 *  5. a former primary rejoins only as a replica of the leader, after pg_rewind (or a fresh clone
 *     when rewind failed); it never starts writable while another member leads.
 * In TILT (the loop stalled or the clock jumped) the agent only observes, except that it still
 * stops being writable when its lease is in doubt.
 *
 * Failsafe mode (Patroni's `failsafe_mode`): when the leader cannot reach the DCS, every member
 * in the `failsafe` key confirming it over the REST API (POST /failsafe) stands in for the lease.
 * A member that confirmed does not race for the key for a TTL after; the leader counts the TTL
 * from before it asked, so its confirmation ends first. Only members in the `failsafe` key may
 * race at all: one that joined during an outage never confirmed anything. */
#ifndef TANDEMD_HA_H
#define TANDEMD_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ha_pg_state {
	HA_PG_NO_DATA,  /* data directory absent or empty */
	HA_PG_STOPPED,  /* data present, postmaster not running */
	HA_PG_STARTING, /* postmaster up, not yet accepting connections */
	HA_PG_PRIMARY,  /* running, not in recovery: writable */
	HA_PG_REPLICA,  /* running in recovery */
	HA_PG_CRASHED,  /* the postmaster exited without being asked to */
} ha_pg_state;

typedef struct ha_local {
	ha_pg_state pg;
	uint64_t lsn;         /* primary: write position; replica: last received or replayed */
	const char *upstream; /* replica: the member it follows; NULL for none */
	bool diverged;        /* history forked from the leader's: needs pg_rewind */
	bool rewind_failed; /* pg_rewind failed: only a fresh clone (old data moved aside) helps */
	unsigned restarts;  /* crashes restarted in place, and failed promotions, recently */
	/* We stopped PostgreSQL to hand leadership to a member an operator named, and have not
	 * started it since: it comes back as a replica even in maintenance mode, as after any
	 * demotion. */
	bool handed_over;
} ha_local;

typedef struct ha_member {
	const char *name;
	bool nofailover;
	bool reachable; /* answered this pass; only then is lsn current */
	uint64_t lsn;
	const char *site; /* its `site` tag; NULL: none */
	bool clonefrom;   /* tagged clonefrom: new replicas may copy it */
} ha_member;

typedef struct ha_cluster {
	bool dcs_ok; /* the DCS answered within retry_timeout */
	bool initialized;
	const char *leader; /* holder of the leader key; NULL when there is none */
	/* The leader's site; with no leader, the site of the last leader seen (the plan remembers
	 * it); NULL: unknown, or no site. */
	const char *leader_site;
	uint64_t last_leader_lsn; /* last position the leader published; 0 when unknown */
	bool paused;              /* maintenance mode: no automatic action */
	bool synchronous_mode;
	const char *const *sync; /* members the leader made synchronous */
	size_t nsync;
	/* The leader that wrote `sync`: it has every acknowledged commit too, so it may take the
	 * key back (a strict leader that stepped down before any standby was synchronous). */
	const char *sync_leader;
	const char *failover_to; /* a manual failover or switchover names this member */
	bool failsafe_mode;
	bool has_failsafe; /* the `failsafe` key exists: only the members it lists may lead */
	const char *const *failsafe;
	size_t nfailsafe;
	/* A leader that asked this member to confirm it (POST /failsafe) less than a TTL ago;
	 * NULL: none. */
	const char *failsafe_leader;
	const ha_member *members; /* the other members */
	size_t nmembers;
	/* A standby cluster (the DCS config holds Patroni's `standby_cluster`): no member is
	 * writable; the leader is the standby leader, replicating from the primary site
	 * (HA_PRIMARY_SITE), and the other members follow it. */
	bool standby_cluster;
} ha_cluster;

/* The target that stands for the primary site's PostgreSQL (standby_cluster's host and port): a
 * text no member name can be (the DCS codec and the options refuse control characters). */
#define HA_PRIMARY_SITE "\001primary-site"

typedef struct ha_config {
	const char *name;
	bool nofailover;
	const char *site; /* this member's `site` tag; NULL: none */
	uint64_t ttl_ms;
	uint64_t loop_wait_ms;
	uint64_t retry_timeout_ms;
	uint64_t maximum_lag_on_failover; /* bytes */
	unsigned max_restarts; /* crash restarts in place before leadership is given up */
	/* No data and no leader: create the replica from the backup repository anyway
	 * (postgresql.pgbackrest.no_leader, with pgbackrest the first replica method). */
	bool restore_without_leader;
} ha_config;

typedef struct ha_clock {
	uint64_t now_ms;
	/* Earliest moment our lease may expire: when the last successful keep-alive was sent, plus
	 * the TTL. 0 when we hold no lease. */
	uint64_t lease_expiry_ms;
	/* Failsafe mode, as leader: when the confirmation of the last round in which every member
	 * confirmed us ends (sent + TTL); 0 when none holds. */
	uint64_t failsafe_expiry_ms;
	bool tilt;
	/* How long this agent has seen no leader (0: there is one): bounds the wait for a
	 * candidate in the last leader's site (HA_SITE_WAIT). */
	uint64_t leaderless_ms;
} ha_clock;

typedef enum ha_action {
	HA_WAIT,           /* nothing to do; observe */
	HA_BOOTSTRAP,      /* race for `initialize`; the winner runs initdb (or adopts its data) */
	HA_CLONE,          /* copy the leader (`target`) with pg_basebackup, start as its replica */
	HA_START_REPLICA,  /* start with standby.signal, following `target` (NULL: no one yet) */
	HA_FOLLOW,         /* point the running replica at `target` */
	HA_TAKE_LEADER,    /* create the leader key if absent; promote on the next pass */
	HA_PROMOTE,        /* we hold the key and run a replica: pg_promote() */
	HA_KEEP_LEADER,    /* renew the lease; all is well */
	HA_RESTART,        /* our primary crashed and we still lead: restart it in place */
	HA_DEMOTE,         /* stop being writable now: fast shutdown, restart as a replica */
	HA_RELEASE_LEADER, /* stop being writable, then delete our leader key (compare-and-delete)
	                    */
	HA_REWIND,         /* pg_rewind from `target`, then start as its replica */
	HA_REINIT,         /* move the data directory aside and clone `target` afresh */
	/* Steps of the plan (plan.h) that come before or instead of a role action: */
	HA_MOVE_ASIDE,       /* move a data directory an interrupted tool left aside */
	HA_APPLY_CONFIG,     /* rewrite PostgreSQL's configuration from the DCS config, reload */
	HA_CLEAR_FAILOVER,   /* delete a failover key that is not in force */
	HA_PUBLISH_POSITION, /* publish our WAL position before racing for the key */
	HA_RECHECK,          /* stop a replica that does not stream, to check its history */
	HA_RELOAD,           /* operator: rewrite PostgreSQL's configuration, reload */
	HA_OPERATOR_RESTART, /* operator: restart PostgreSQL in its current role */
	/* The cluster became a standby cluster and we lead: stop writing with a clean shutdown (a
	 * shutdown checkpoint the other site can replay exactly), keep the key, start as the
	 * standby leader following the primary site. */
	HA_DEMOTE_SITE,
} ha_action;

typedef struct ha_decision {
	ha_action action;
	const char *target;     /* a member name, from the inputs */
	const char *reason;     /* a static one-line explanation */
	uint64_t recheck_in_ms; /* a bounded wait: decide again this soon (0: no need) */
	/* No leader and we are fit, with a lease: taking the key, or waiting for a member of the
	 * last leader's site (rule 4). Either way our position is published first. */
	bool candidate;
} ha_decision;

/* Checks the timing rule loop_wait + 2 * retry_timeout <= ttl (and that each is positive). */
bool ha_timing_valid(const ha_config *cfg);

ha_decision ha_decide(const ha_config *cfg, const ha_cluster *cl, const ha_local *lo,
                      const ha_clock *clk);

const char *ha_action_name(ha_action a);

/* A lease (or a failsafe confirmation) that ends at expiry_ms still covers us at now_ms for more
 * than retry_timeout: long enough to stop writing in time if the next renewal fails. */
bool ha_outlives(const ha_config *cfg, uint64_t expiry_ms, uint64_t now_ms);

/* Synchronous mode, and `sync` names `name` and nobody else: under the rule that only a listed
 * member may lead, every acknowledged commit may be on `name` alone, and no other member may
 * take over. */
bool ha_sync_sole_candidate(const ha_cluster *cl, const char *name);

/* Site awareness (rule 4): how much longer a replica at `lsn`, fit by rule 3, waits before it
 * races, for a member of the last leader's site (cl->leader_site) that is eligible: running,
 * not nofailover, in `sync` in synchronous mode, within maximum_lag_on_failover of the last
 * leader position, and at least as far ahead as `lsn`. 0 when it does not wait: no site known
 * (ours or the last leader's), we are in that site, no member there is eligible, or a TTL has
 * passed without a leader (`leaderless_ms`). */
uint64_t ha_site_wait_ms(const ha_config *cfg, const ha_cluster *cl, uint64_t lsn,
                         uint64_t leaderless_ms);

/* The member a replica without data (or one rebuilt) copies: in our own site a running
 * clonefrom-tagged replica (the one furthest ahead), else the leader when it is in our site,
 * else any running replica of our site (furthest ahead); only then across the link, the
 * leader. Without a site of our own, the leader. NULL when there is no leader. */
const char *ha_clone_source(const ha_config *cfg, const ha_cluster *cl);

/* TILT detection between two heartbeats: the monotonic and wall clocks (ms) at the previous and
 * this beat. HA_TILT_STALL: the beat came more than loop_wait + retry_timeout after the last one
 * (the loop or the machine stalled); HA_TILT_CLOCK: the wall clock moved more than 2 s more or
 * less than the monotonic one (it jumped). Either way the agent observes for a pass. */
typedef enum ha_tilt { HA_TILT_NONE, HA_TILT_STALL, HA_TILT_CLOCK } ha_tilt;
ha_tilt ha_tilt_detect(const ha_config *cfg, uint64_t prev_mono, uint64_t prev_wall, uint64_t mono,
                       uint64_t wall);

#endif
