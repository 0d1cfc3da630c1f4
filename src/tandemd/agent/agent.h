/* The agent of one tandemd member: it keeps the lease and the member key alive, runs the HA loop
 * (gather the local state, ha_decide, carry out one action at a time) on every DCS change and
 * every loop_wait, and answers the REST API's questions and requests through the functions below.
 *
 * Everything runs on one libuv loop. agent_status() is a snapshot valid until the next return to
 * the loop; agent_request() queues an operator's request that the loop carries out on its next
 * pass, and says at once whether it was accepted. */
#ifndef TANDEMD_AGENT_H
#define TANDEMD_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive_status.h"
#include "dcs_codec.h"
#include "err.h"
#include "health.h"
#include "metrics.h"
#include "options.h"

typedef struct agent agent;

/* One replica streaming from this (primary) member, from pg_stat_replication. */
typedef struct agent_replica {
	char *application_name;
	char *client_addr; /* NULL for a Unix socket */
	char *state;       /* "streaming", ... */
	char *sync_state;  /* "async", "sync", ... */
	uint64_t replay_lsn;
} agent_replica;

/* What only /metrics shows (agent_monitor.c; docs/monitoring.md, "Metrics"). */
typedef struct agent_monitor_status {
	int64_t replay_unix_ms;    /* replica: pg_last_xact_replay_timestamp(); 0: none */
	bool replay_paused;        /* replica: pg_is_wal_replay_paused() */
	int64_t failover_priority; /* the failover_priority tag (1 without; 0 with nofailover) */
	bool failsafe_member;      /* named in the DCS `failsafe` key */
	bool standby_cluster;      /* this cluster follows another site */
	bool site_lag_known;       /* standby leader: how far behind the primary site */
	uint64_t site_lag_bytes;
	double site_lag_seconds;
	const double *replica_lag_seconds; /* primary: one per replica (agent_status.replicas) */
	bool fence_armed;                  /* the fence watchdog holds a deadline for PostgreSQL */
	bool sync_required; /* primary: synchronous_standby_names makes commits wait */
	size_t members;     /* member keys in the DCS */
	bool data_fs_known, wal_fs_known;
	uint64_t data_fs_avail, data_fs_size, wal_fs_avail, wal_fs_size; /* bytes */
} agent_monitor_status;

typedef struct agent_status {
	const char *scope;
	const char *name;
	/* Patroni's words: state "running", "stopped", "starting", "crashed", "creating replica",
	 * "initializing new cluster", "running pg_rewind", "restarting", "stopping", "promoting",
	 * "demoting"; role "primary", "replica" or "uninitialized". */
	const char *state;
	const char *role;
	int server_version; /* 150004; 0 when unknown */
	bool lsn_known;
	uint64_t lsn;         /* primary: current write position; replica: replay position */
	uint64_t receive_lsn; /* replica: last received; 0 if none */
	int64_t timeline;     /* 0: unknown */
	const char *sysid;    /* NULL: unknown */
	int64_t postmaster_start_unix_ms; /* 0 when not running */
	bool pending_restart;

	bool holds_leader_key;
	const char *leader; /* the holder of the leader key, NULL when none */
	bool dcs_ok;
	int64_t dcs_last_seen_unix_s; /* when the DCS last answered */
	bool paused;
	bool failsafe_mode;
	bool failsafe_active; /* our primary runs on the members' confirmation, not the lease */

	const agent_replica *replicas; /* when primary */
	size_t nreplicas;

	const char *drill_step; /* what a restore drill on this member is doing; NULL: none runs */

	const char *last_action; /* ha_action_name of the last decision */
	const char *last_reason;

	/* Archiving through pgBackRest (NULL: backups are off). */
	const agent_archive_status *archive;

	agent_monitor_status mon;

	health_state health;  /* for health_status() */
	const dcs_view *view; /* the whole cluster as this member sees it */
	const tandemd_settings *settings;
} agent_status;

/* Counters for /metrics (read by the REST server on the same loop). */
typedef struct agent_counters {
	metrics_counter ha_passes;
	metrics_counter actions; /* actions started, any kind */
	metrics_counter promotions;
	metrics_counter demotions;
	metrics_counter pg_restarts;
	metrics_counter dcs_errors;
	metrics_counter tilts;
	/* Monitoring (agent_monitor.c) */
	metrics_counter failovers, switchovers; /* promotions of this member, by cause */
	metrics_counter write_gap_ms; /* a gauge: the last promotion's write-gap estimate */
	metrics_counter fence_fired;  /* the fence watchdog stopped PostgreSQL */
	metrics_histogram ha_pass;    /* gather + decide, per pass */
	metrics_histogram etcd_rtt;   /* DCS round trips that got an answer */
} agent_counters;

typedef enum agent_request_kind {
	AGENT_REQ_RESTART,      /* restart PostgreSQL in place (same role) */
	AGENT_REQ_RELOAD,       /* re-read the configuration file and reload PostgreSQL */
	AGENT_REQ_REINITIALIZE, /* replica only: move the data aside and clone the leader afresh */
	AGENT_REQ_FAILOVER,     /* leader only: hand leadership to `candidate` (or the best one) */
} agent_request_kind;

agent *agent_new(uv_loop_t *loop, const tandemd_settings *s, char **err) TND_MUST_CHECK;
void agent_start(agent *a);
/* SIGTERM: stop PostgreSQL (fast) and release the leader key, then call `done`. */
void agent_shutdown(agent *a, void (*done)(void *ud), void *ud);
void agent_free(agent *a);

/* The settings changed in place (SIGHUP: parameters, pg_hba, tags, log level, REST
 * credentials): re-derive what the agent keeps from them. */
void agent_settings_changed(agent *a);

const agent_status *agent_status_get(agent *a);
const agent_counters *agent_counters_get(const agent *a);

/* A planned switchover from the current leader (this member must be it) to `candidate` (NULL: the
 * best replica), at once or at `scheduled_at` (ISO 8601 with a time zone, NULL: now). Writes the
 * DCS `failover` key as Patroni does; the leader hands over when the time comes. 0, or -1 with a
 * reason. */
int agent_switchover(agent *a, const char *candidate, const char *scheduled_at,
                     char **err) TND_MUST_CHECK;

/* A manual failover to `candidate` (NULL: the best member): with a leader, a switchover from it
 * (this member must be it); without one, the `failover` key naming the candidate, which takes
 * over if it runs and is fit. Also in maintenance mode. 0, or -1 with a reason. */
int agent_failover(agent *a, const char *candidate, char **err) TND_MUST_CHECK;

/* Patroni's PATCH /config: merges the JSON object `patch` into the DCS `config` key (a key set
 * to null is removed; objects merge recursively) with a compare-and-swap on its revision, after
 * checking the result (timings, types). `done` gets NULL on success or the reason. Every member
 * applies the new parameters (reload; pending_restart when one needs a restart). */
void agent_patch_config(agent *a, const char *patch, bool replace,
                        void (*done)(const char *error, void *ud), void *ud);

/* POST /failsafe from `leader`, which cannot reach the DCS: 0, and no race for the leader key
 * for a TTL; or -1 with the reason for refusing (failsafe mode off, or this member runs a
 * primary itself). */
int agent_failsafe_confirm(agent *a, const char *leader, char **why) TND_MUST_CHECK;

/* POST /backup: queues a request for a backup of `type` ("full", "diff", "incr"; NULL: incr),
 * recorded in the DCS `backup` key on the next step, run by the backup runner. 0 with its id (a
 * heap string: the caller frees it), or -1 with the reason (backups off, a bad type). */
int agent_runner_request(agent *a, const char *type, const char *by, char **id,
                         char **err) TND_MUST_CHECK;

/* Accepts or refuses (with a reason in *err: 409-class) an operator request. `candidate` is only
 * for AGENT_REQ_FAILOVER (NULL: the best member). */
int agent_request(agent *a, agent_request_kind kind, const char *candidate,
                  char **err) TND_MUST_CHECK;

/* `fn(ud)` is called once after a failure the agent cannot recover from (a bootstrap from a
 * backup that failed): the caller stops the agent and exits with a failure. */
void agent_on_fatal(agent *a, void (*fn)(void *ud), void *ud);

/* A restore drill on this member (agent_drill.c; docs/backup.md, "Restore drills"): 0 with *id
 * (the caller frees); or -1 with *err and *status (409: one runs already, or backups are off;
 * 503: no leader). The result goes to the DCS `drill` key. */
int agent_drill_start(agent *a, char **id, unsigned *status, char **err) TND_MUST_CHECK;
/* GET /drill: {"running", "id", "step", "started_unix_ms", "last"} (caller frees). */
char *agent_drill_json(const agent *a);
const char *agent_drill_step(const agent *a);

#endif
