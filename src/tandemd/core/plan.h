/* The HA plan: every rule the agent's pass follows, as one pure function.
 *
 *   ha_plan(inputs gathered before it runs, memory from the last pass) -> one step + new memory
 *
 * The inputs are a snapshot: what the DCS says, what the local PostgreSQL and the files on disk
 * say, the operator's pending requests, the effective configuration, and "now" read once. The
 * memory is what the agent must remember between passes (TILT, retry back-off, crash restarts,
 * "published our position before racing", "checked divergence on timeline N", ...): passed in,
 * returned, never poked from elsewhere except to record the outcome of a step that was carried out
 * (ha_memory_* below). The step is one named action with a one-line reason, and when to look
 * again.
 *
 * The rules, in the order the plan applies them (each a row of tests/unit/test_ha.c):
 *   1. safety (SPEC §3 rules 1, 2): a primary without the key or a safe lease stops writing;
 *      a leader that cannot keep PostgreSQL up releases the key. Nothing below comes first.
 *   2. a data directory an interrupted tool left is moved aside (never started, never deleted);
 *      one of another cluster (its system identifier) is never started.
 *   3. a changed cluster configuration is applied (PostgreSQL's files rewritten, reloaded).
 *   4. the leader clears a failover key that is not in force (stale, or naming a member that
 *      does not run).
 *   5. a promotion in flight is waited for, not repeated.
 *      (rule 11 includes site awareness: the last leader's site goes first among the equally
 *      fit, for at most a TTL without a leader; the memory keeps that site and since when.)
 *   6. before racing for the key (or, fit, waiting for the last leader's site), our position
 *      is published and the others get a moment.
 *   7. a replica of the leader that does not stream from its newer timeline is stopped once
 *      per leader timeline, so that its control data can be checked for divergence.
 *   8. operator requests (reinitialize, reload, restart) when the decision leaves room.
 *   9. a failed clone/rewind/start/bootstrap/promotion waits out its back-off.
 *  10. a former primary with no leader to follow waits while others run, unless it alone may
 *      lead.
 *  11. otherwise the role decision of ha.h (ha_decide): bootstrap, clone, follow, take the key,
 *      promote, restart in place, rewind, reinit, keep leading, wait.
 * See docs/design/tandemd.md for the step table and a diagram of the pass. */
#ifndef TANDEMD_PLAN_H
#define TANDEMD_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "ha.h"

/* The longest site name the plan remembers (DCS_MAX_SITE, the bound the codec and the options
 * keep). */
#define HA_SITE_MAX 63

/* Operator requests waiting for a pass (bits). */
enum {
	HA_REQ_REINIT = 1u << 0,
	HA_REQ_RELOAD = 1u << 1,
	HA_REQ_RESTART = 1u << 2,
};

/* The DCS `failover` key as read (Patroni's {"leader", "member", "scheduled_at"}). */
typedef struct ha_failover_key {
	bool present;
	const char *leader;    /* who asked; NULL: not said */
	const char *candidate; /* NULL: none */
	bool scheduled;
	bool schedule_valid;    /* scheduled_at parsed as ISO 8601 with a zone */
	int64_t at_unix_ms;     /* when scheduled and valid */
	bool candidate_running; /* the candidate's member key says running, with a position */
} ha_failover_key;

typedef struct ha_inputs {
	ha_config cfg;   /* effective: the YAML's, with the DCS config's timings applied */
	ha_cluster cl;   /* failover_to and failsafe_leader are filled by the plan and gathering */
	ha_local lo;     /* pg, lsn, upstream; the plan fills the rest from memory */
	uint64_t now_ms; /* monotonic, read once per pass */
	int64_t wall_ms; /* wall clock, for a scheduled switchover */
	uint64_t lease_expiry_ms;
	uint64_t failsafe_expiry_ms;
	ha_failover_key failover;
	/* Stopped data whose history forked from the leader's (diverge.h). */
	bool forked;
	/* Stopped data that last ran as a primary. */
	bool was_primary;
	/* Another member's key says running. */
	bool others_running;
	/* Why the data directory cannot be trusted (an interrupted pg_rewind or copy); NULL: it
	 * can. Only looked at while PostgreSQL does not run. */
	const char *unfinished_data;
	/* Stopped data whose system identifier is not the cluster's (another cluster's data).
	 * Never started; an operator's reinitialize moves it aside. */
	bool foreign_data;
	/* The DCS config's revision; 0: no config key. */
	int64_t config_rev;
	/* Replica: its WAL receiver streams; its timeline; the leader's timeline (0: unknown). */
	bool streaming;
	int64_t timeline;
	int64_t leader_timeline;
	/* Leader after a promotion or restart: synchronous mode not yet settled. */
	bool sync_settling;
	unsigned requests; /* HA_REQ_* */
} ha_inputs;

typedef struct ha_memory {
	bool tilt; /* the loop stalled or the clock jumped since the last pass */
	int64_t applied_config_rev;
	bool leaderless_published;
	uint64_t promote_until_ms;
	uint64_t backoff_until_ms;
	unsigned restarts; /* crash restarts in place and failed promotions, recently */
	uint64_t last_restart_ms;
	bool rewind_failed;  /* only a fresh clone helps */
	bool rewind_pending; /* diverged: a pg_rewind is needed and has not run */
	bool handed_over;    /* stopped for an operator's handover; not started since */
	uint64_t not_streaming_since_ms;
	int64_t rechecked_for_timeline;
	/* The standby leader's data was checked against the primary site (pg_rewind, a no-op
	 * when nothing diverged) since this agent started. */
	bool site_checked;
	/* Site awareness: the last leader's site ("" unknown), kept once its key is gone; since
	 * when this agent sees no leader (0: it sees one). */
	char last_leader_site[HA_SITE_MAX + 1];
	uint64_t leaderless_since_ms;
} ha_memory;

typedef struct ha_step {
	ha_action action;
	const char *target;     /* a member name, from the inputs */
	const char *reason;     /* static, one line */
	const char *note;       /* static; something refused on the way (logged); NULL: none */
	uint64_t recheck_in_ms; /* look again this soon (0: at the next beat or event) */
	unsigned requests_done; /* HA_REQ_* this pass consumed */
} ha_step;

/* Derived memory timings. */
enum {
	HA_NOT_STREAMING_LIMIT_MS = 3000, /* a replica not streaming from a newer timeline */
	HA_PUBLISH_GRACE_MS = 200,        /* others publish their positions before the race */
	HA_PROMOTE_RECHECK_MS = 100,
	HA_SETTLE_RECHECK_MS = 100,
};

ha_step ha_plan(const ha_inputs *in, const ha_memory *mem, ha_memory *next);

/* Outcomes of carried-out steps, recorded into the memory the next plan reads. */
void ha_memory_failed(ha_memory *m, const ha_config *cfg, uint64_t now_ms);
void ha_memory_restarted(ha_memory *m, uint64_t now_ms);
void ha_memory_promoting(ha_memory *m, const ha_config *cfg, uint64_t now_ms);

#endif
