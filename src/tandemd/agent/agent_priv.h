/* The agent's insides, shared by agent.c (lease, heartbeat, HA pass, status), agent_local.c (what
 * the local PostgreSQL is and the files tandem writes for it) and agent_act.c (the actions). */
#ifndef TANDEMD_AGENT_PRIV_H
#define TANDEMD_AGENT_PRIV_H

#include "agent.h"
#include "agent_backup.h"
#include "dcs.h"
#include "etcd.h"
#include "ha.h"
#include "pgctl.h"
#include "plan.h"

typedef void (*agent_step_fn)(agent *a, bool ok);
typedef struct patch_op patch_op;
typedef struct agent_failsafe agent_failsafe;
typedef struct agent_fence agent_fence;
typedef struct agent_cred agent_cred;
typedef struct agent_backup agent_backup;
typedef struct agent_runner agent_runner;
typedef struct agent_pgbr_server agent_pgbr_server;
typedef struct agent_drill agent_drill;
typedef struct agent_monitor agent_monitor;
typedef struct k8s_pod k8s_pod;

struct agent {
	uv_loop_t *loop;
	const tandemd_settings *s;
	etcd *etcd;
	dcs *dcs;
	pgctl *pc;
	uv_timer_t tick; /* every loop_wait: lease, member key, then a pass */
	uv_timer_t kick; /* a pass as soon as possible */
	uv_timer_t wait; /* waits inside actions (stopping a leftover postmaster, settling) */
	bool started, stopping, shutdown_done;
	uint64_t leftover_deadline_ms;
	int leftover_signal;
	void (*on_shutdown)(void *ud);
	void *shutdown_ud;

	/* derived settings */
	ha_config hc;
	int64_t ttl_s;
	char *port, *sockdir, *passfile, *local_conninfo, *conn_url, *api_url, *slot_name;
	char *su_user, *repl_user, *rewind_user;

	/* the lease and the DCS */
	bool hb_running;
	/* The first heartbeat ended: until then the lease is not known, and no pass runs (a
	 * restarted leader would find "no lease" and give its key away). */
	bool beat_done;
	bool adopt_tried; /* a renewal was run to move our leader key onto our lease (agent.c) */
	uint64_t lease_expiry_ms;
	bool dcs_ok;
	int64_t dcs_last_seen_unix_s;
	uint64_t view_signature; /* of what the last DCS change showed (agent.c) */
	uint64_t last_tick_mono, last_tick_wall;

	/* the local PostgreSQL */
	bool pg_ready;   /* the postmaster said ready */
	bool pg_crashed; /* exited without being asked */
	bool query_ok;   /* the last state query answered */
	pgctl_state st;  /* its answer */
	int st_pid;      /* the postmaster that gave it */
	bool ctl_ok;     /* the last pg_controldata of a stopped server */
	pgctl_control ctl;
	char *upstream; /* the member named in primary_conninfo */
	/* Why the data directory cannot be trusted (an interrupted tool); NULL: it can. */
	const char *unfinished_data;
	/* The stopped data's system identifier is not the cluster's (`initialize`). */
	bool foreign_data;
	int64_t rewind_from_timeline; /* our timeline when the last rewind started (0: unknown) */
	bool became_leader_pending;   /* promoted: publish history, slots, delete failover */
	bool site_promotion;          /* ...from following the primary site: a site promotion */
	uint64_t pg_started_unix_ms;
	int server_version;
	bool pending_restart;
	char *walreceiver;      /* pg_stat_wal_receiver.status */
	bool has_replay_lag;    /* a replica's replay lag (agent_local.c info_sql) was known */
	uint64_t replay_lag_ms; /* 0: replayed all its upstream had */
	agent_replica *replicas;
	size_t nreplicas;
	char *sysid;

	/* the HA pass: what the plan remembers between passes (plan.h), recorded outcomes */
	ha_memory mem;
	bool busy;         /* an action runs */
	bool pass_running; /* gathering state or deciding */
	bool pass_again;
	const char *doing; /* state text while an action runs ("creating replica", ...) */
	ha_action last_action;
	const char *last_reason;
	const char *last_logged_reason;
	uint64_t last_pass_done_ms;
	char *published_member;      /* the member key's value as last written */
	int64_t published_lease;     /* ... on this lease */
	char *target;                /* the action's target member (owned copy) */
	agent_step_fn step;          /* the continuation of a multi-step action */
	agent_step_fn on_ready_step; /* when the postmaster is ready (or failed to be) */
	agent_step_fn on_exit_step;  /* when the postmaster exited after pgctl_stop */
	bool boot_ran_initdb;
	int boot_puts;
	bool boot_fatal;      /* a failed bootstrap stops tandemd (bootstrap.method pgbackrest) */
	char *restore_conf;   /* the pgbackrest.conf of a bootstrap from a backup */
	struct job *boot_job; /* its pgbackrest command while it runs (cancelled at shutdown) */
	int restore_step;     /* its recovery settings removed so far, after the promotion */
	void (*on_fatal)(void *ud);
	void *fatal_ud;
	dcs_standby boot_standby; /* bootstrap.dcs.standby_cluster, decoded (agent_site.c) */
	char *diverged_dir;       /* failback: where the diverged WAL was kept (agent_site.c) */
	bool primary_data; /* the data was seen to have last run as a primary (agent_inputs.c) */
	uint64_t last_housekeeping_ms;
	size_t housekeeping_members;
	health_kv *tags_kv;
	size_t ntags_kv;

	patch_op *patches;             /* PATCH/PUT /config writes waiting for the DCS */
	char *ssn;                     /* synchronous_standby_names while primary; NULL: unset */
	uint64_t sync_settle_until_ms; /* after a promotion: settle synchronous mode quickly */
	bool promoting;                /* writing a replica's files that already carry ssn */

	/* The DCS config revision whose refused parameters were last warned about (each name once
	 * per revision, not at every rewrite of PostgreSQL's files). */
	int64_t refused_params_rev;

	/* operator requests (HA_REQ_*), carried out by a pass */
	unsigned requests;

	agent_failsafe *failsafe; /* failsafe mode: owned by agent_failsafe.c */

	agent_fence *fence; /* the fence watchdog: owned by agent_fence.c */

	agent_cred *cred;     /* the passfile's hosts, the passwords applied: agent_cred.c */
	agent_backup *backup; /* pgBackRest (agent_backup.c); NULL: backups are off */
	agent_runner *runner; /* the backup runner: owned by agent_runner.c */
	agent_pgbr_server *pgbr_server; /* pgBackRest's TLS server: agent_pgbr_server.c */

	agent_drill *drill; /* restore drills: owned by agent_drill.c */

	struct agent_pooler *pooler; /* PgBouncers paused by a handover: agent_pooler.c */

	agent_monitor *monitor; /* what only /metrics shows: owned by agent_monitor.c */

	k8s_pod *k8s; /* the Pod's role label (agent_k8s.c); NULL: not on Kubernetes */

	agent_status status;
	agent_counters counters;
};

/* agent.c: the only calls the parts make up into the loop: a step ended (agent_action_done),
 * a pass is wanted (agent_kick), the member key should say something new. */
void agent_kick(agent *a);
void agent_action_done(agent *a);
void agent_publish_member(agent *a);

/* agent_k8s.c: the Pod's role label (kubernetes.role_label), set at the end of every pass. */
int agent_k8s_new(agent *a, char **err) TND_MUST_CHECK;
void agent_k8s_publish(agent *a);
void agent_k8s_free(agent *a);

/* agent_view.c */
/* A member key saying "running" with a WAL position. */
bool agent_member_running(const dcs_member *m);
/* The DCS view names this member as the holder of the leader key. */
bool agent_holds_key(const agent *a);
/* Before the first member key: whether another running member holds this member's name (then
 * tandemd stops, exit 1: agent_fatal), or the view is not read yet (publish later). */
bool agent_name_taken(agent *a);

/* agent_inputs.c: the plan's inputs from the view and the last gathering; returns the members
 * array that in->cl points into (the caller frees it). Also applies the DCS config's timings to
 * a->hc (the effective configuration). */
ha_member *agent_inputs(agent *a, ha_inputs *in);

/* agent_ops.c */
/* The member to hand leadership to: running, not nofailover, a synchronous standby in
 * synchronous mode, furthest ahead; `only` restricts the choice to one name. NULL: none. */
const dcs_member *agent_best_candidate(agent *a, const char *only);
/* Answers every configuration write still waiting for the DCS with an error (at exit). */
void agent_abort_patches(agent *a);

/* agent_boot.c */
/* The initialize key is on our lease: our bootstrap race, won (agent_boot.c). */
bool agent_boot_race_is_ours(const agent *a);
/* Why a bootstrap may not take the leader key (no lease, the race key no longer ours); NULL. */
const char *agent_boot_race_lost(const agent *a);
/* The cluster's first `config` (JSON text, caller frees). */
char *agent_bootstrap_config(const tandemd_settings *s);

/* agent_leader.c (see also agent.h) */
void agent_standby_leader_housekeeping(agent *a);

/* agent_site.c: this cluster as a standby cluster of another site */
void agent_site_init(agent *a);
void agent_site_free(agent *a);
/* The standby_cluster in force (the DCS config's; before there is one, this member's
 * bootstrap.dcs.standby_cluster); NULL: not a standby cluster. */
const dcs_standby *agent_standby(const agent *a);
bool agent_is_standby_cluster(const agent *a);
/* The primary site's replication connection; NULL when standby_cluster names no usable host. */
pgctl_upstream *agent_site_upstream(agent *a, bool rewind);
/* A former primary rejoining as the standby leader of a site that was promoted without it:
 * its pg_wal is copied aside first (DATA_DIR.diverged-TIME), then `then` runs. */
void agent_site_keep_wal(agent *a, agent_step_fn then);
/* After that pg_rewind: what the kept WAL holds beyond the point where the sites diverged
 * (pg_rewind's `output` names it), logged and written to the copy's REPORT file. */
void agent_site_report_diverged(agent *a, const char *output);
/* restore_command from the primary site's archive, when the DCS names the one this member's
 * YAML gives; NULL otherwise. */
const char *agent_site_restore_command(const agent *a);
/* agent_site_fork.c: where a failback's history forked from the primary site's (DATA_DIR.fork),
 * from pg_rewind's output; restore_command in a standby cluster (caller frees; NULL: the
 * default). */
bool agent_site_fork_parse(const char *rewind_output, uint64_t *lsn, int64_t *tli);
void agent_site_fork_note(agent *a, const char *rewind_output);
bool agent_site_fork(const agent *a, uint64_t *lsn, int64_t *tli);
void agent_site_fork_forget(agent *a);
/* Forgets it once the cluster's configuration says this site is the primary site. */
void agent_site_fork_settle(agent *a);
char *agent_site_standby_restore_command(const agent *a);
const char *agent_site_apply_delay(const agent *a);
/* The primary site's hosts and ports as pairs (host, port, host, port, ...: heap strings the
 * caller frees), at most `cap` pairs; returns how many. */
enum { AGENT_SITE_MAX_HOSTS = 16 };
size_t agent_site_hosts(const agent *a, char **out, size_t cap);
/* A target for people: a member name, or "the primary site". */
const char *agent_target_text(const char *target);
void agent_act_demote_site(agent *a);
/* After a clean stop for the other site: publish the shutdown checkpoint (agent_site_ckpt.c),
 * then `then` (always ok). */
void agent_site_publish_checkpoint(agent *a, agent_step_fn then);
void agent_site_bootstrap(agent *a);

/* agent_local.c */
bool agent_has_data(const agent *a);
/* Writes tandem.conf (cluster and local parameters, plus primary_conninfo when `upstream` names
 * a member with a conn_url), pg_hba.conf and standby.signal (when `standby`). */
int agent_write_pg_files(agent *a, bool standby, const char *upstream, char **err) TND_MUST_CHECK;
/* agent_write_pg_files, then a reload of PostgreSQL. */
int agent_rewrite_pg_conf(agent *a, bool standby, const char *upstream, char **err) TND_MUST_CHECK;
/* Moves a data directory an interrupted tool left aside (logged); the next pass clones. */
void agent_move_aside_unfinished(agent *a, const char *why);
/* The replication (or rewind) connection to member `name`; NULL when it is unknown. */
pgctl_upstream *agent_upstream_of(agent *a, const char *name, bool rewind);
void agent_upstream_free(pgctl_upstream *u);
/* libpq's TLS settings of a role (postgresql.authentication.*), copied (freed with the
 * upstream). */
pgctl_ssl agent_ssl_copy(const tandemd_pg_ssl *t);
/* Gathers the local state (a query when running, pg_controldata when stopped), then calls
 * `done`. */
void agent_gather(agent *a, void (*done)(agent *a));
ha_pg_state agent_pg_state(const agent *a);
/* The replicas from the info query's JSON (NULL: none; frees the previous list). */
void agent_set_replicas(agent *a, const char *json);
/* A stopped former primary whose timeline forked before its last checkpoint (or which crashed
 * on a timeline the leader has left). */
bool agent_diverged(const agent *a);
/* The leader's timeline: its member key or, when newer, one past the last history entry; 0 when
 * unknown. */
int64_t agent_leader_timeline(const agent *a);
char *agent_slot_name(const char *member);

/* agent_fence.c: tell the watchdog the deadline (the lease's safe end while we lead, else none);
 * starts it when it does not run. */
void agent_fence_update(agent *a);
/* Finds tandemd-fence and the hardware watchdog (watchdog.mode); NULL with *err. */
agent_fence *agent_fence_new(agent *a, char **err);
/* Stops the watchdog on purpose (it exits; PostgreSQL untouched). */
void agent_fence_stop(agent *a);
void agent_fence_free(agent *a); /* agent_fence_stop, then frees the part */
const char *agent_fence_path(const agent *a);

/* agent_fence.c: the watchdog holds a deadline for PostgreSQL now. */
bool agent_fence_armed(const agent *a);

/* agent_monitor.c: what only /metrics shows (see its header comment). */
agent_monitor *agent_monitor_new(void);
void agent_monitor_free(agent *a);
void agent_monitor_pass_start(agent *a); /* gathering begins */
void agent_monitor_pass_end(agent *a);   /* the pass decided */
void agent_monitor_promoted(agent *a);   /* pg_promote() answered: a failover or switchover */
/* The info query's monitoring columns: replay timestamp (Unix ms), replay paused (t/f), the WAL
 * receiver's latest_end_lsn. */
void agent_monitor_info(agent *a, const char *const *cols, int ncols);
void agent_monitor_publish(agent *a, agent_status *st);

/* agent_failsafe.c: failsafe mode (see its header comment). */
agent_failsafe *agent_failsafe_new(void);
void agent_failsafe_free(agent *a); /* cancels a round in flight */
/* As leader: every member confirmed us until then (monotonic ms); 0: none holds. */
uint64_t agent_failsafe_expiry(const agent *a);
bool agent_failsafe_mode(agent *a);
/* Leader, DCS reachable: keep the `failsafe` key equal to the members (delete it when off). */
void agent_failsafe_housekeeping(agent *a);
/* Every beat: a writable primary without a renewable lease asks every member to confirm it. */
void agent_failsafe_round(agent *a);
/* The leader that asked us to confirm it less than a TTL ago; NULL: none. */
const char *agent_failsafe_leader(agent *a, uint64_t now);
/* Our primary runs on the members' confirmation rather than on the lease right now. */
bool agent_failsafe_active(agent *a);

/* agent_cred.c: the passfile and credential rotation (see its header comment). */
agent_cred *agent_cred_new(const tandemd_settings *s);
void agent_cred_free(agent *a);
/* Writes the passfile: the local server's lines, and those of the remotes in use. */
int agent_write_passfile(agent *a, char **err) TND_MUST_CHECK;
/* A connection to host:port (another member) is about to be made: its lines go into the
 * passfile (rewritten when they were not there). */
int agent_pass_remote(agent *a, const char *host, const char *port, char **err) TND_MUST_CHECK;
/* After a reload: new etcd credentials to the client, new role passwords into the roles (as
 * leader) and the passfile. */
void agent_credentials_changed(agent *a);
/* As leader: alter the roles whose passwords a reload changed while this member did not lead. */
void agent_cred_leader_housekeeping(agent *a);

/* agent_sync.c: synchronous mode on the leader (see its header comment). */
void agent_sync_housekeeping(agent *a);
/* Synchronous mode is off, or the `sync` key is ours and names a standby. */
bool agent_sync_settled(agent *a);
void agent_sync_before_promote(agent *a);

/* agent_act.c: carries out one step of the plan (ending in agent_action_done when it starts
 * something), and the PostgreSQL start/stop every step uses. */
enum { AGENT_STOP_STEP_MS = 10000 };
void agent_act(agent *a, ha_step s);
void agent_act_shutdown(agent *a);
/* Logs the failure, backs off for a loop (ha_memory_failed), ends the action. */
void agent_fail_action(agent *a, const char *what, const char *err);
/* Writes PostgreSQL's files and starts it (`on_ready`: when the postmaster is ready, or failed
 * to be; NULL: a pass is kicked). */
int agent_start_pg(agent *a, bool standby, const char *upstream, agent_step_fn on_ready,
                   char **err) TND_MUST_CHECK;
/* Stops PostgreSQL (escalating every step_ms), then `then(a, stopped)`. */
void agent_stop_pg(agent *a, pgctl_stop_mode mode, uint64_t step_ms, agent_step_fn then);

/* agent_boot.c: the bootstrap step. */
void agent_act_bootstrap(agent *a);
/* Stops PostgreSQL, moves data it created aside, gives `initialize` back, ends the action (and
 * with boot_fatal set, stops tandemd). */
void agent_boot_fail(agent *a, const char *what, const char *err);
/* The new primary runs: roles, the leader key, `initialize` and `config`. */
void agent_boot_ready(agent *a, bool ok);
/* The data directory is this bootstrap's from here on (initdb, a copy of the primary site, a
 * restore): a note beside it says so until the cluster is initialized with it. A member killed
 * before that finds the note, and the plan moves the data aside (rule 2) instead of starting
 * data whose system identifier no cluster holds. */
void agent_boot_mark(agent *a, const char *how);
/* The note is gone: the bootstrap finished, or its data was moved aside. */
void agent_boot_forget(agent *a);
/* A note left by a bootstrap that did not finish (read while PostgreSQL is stopped). */
bool agent_boot_interrupted(const agent *a);

/* agent_boot_backup.c: bootstrap.method pgbackrest (restore, recover, promote, then
 * agent_boot_ready). */
void agent_boot_restore(agent *a);

/* agent.c: a failure tandemd cannot recover from: the on_fatal hook (main stops, exits 1). */
void agent_fatal(agent *a);

/* agent_drill.c: stops a drill that runs (its scratch copy is removed by the next one). */
void agent_drill_free(agent *a);

/* agent_leader.c */
/* Slots, `status`, and after a promotion `history`, the failover key, a checkpoint. */
void agent_leader_housekeeping(agent *a);

#endif
