/* Control of the local PostgreSQL instance: the postmaster as a direct child of the agent
 * (uv_spawn, optionally as another OS user), initdb, the configuration files tandem owns, moving a
 * data directory aside, and one-shot state queries over libpq on the loop.
 *
 * Everything runs on one libuv loop; nothing blocks except reading or writing small local files.
 * Results arrive through callbacks. Errors as values (err.h).
 *
 * Stopping: smart (SIGTERM), fast (SIGINT), immediate (SIGQUIT), each with a deadline after which
 * it escalates: smart -> fast -> immediate -> SIGKILL. The postmaster is spawned detached (its own
 * session and process group), but PostgreSQL's children do not stay in that group, so the SIGKILL
 * step first lists the postmaster's direct children from /proc (ppid == postmaster pid) and kills
 * them, then kills the postmaster's process group. A postmaster that dies on its own (crash, kill
 * -9 from outside) may leave backends behind; they exit on their own when they notice the
 * postmaster is gone, and a new start may fail until they have (the caller retries). */
#ifndef TANDEM_PGCTL_H
#define TANDEM_PGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "err.h"

typedef struct pgctl pgctl;

typedef struct pgctl_opts {
	const char *bin_dir;  /* where postgres and initdb are */
	const char *data_dir; /* absolute path */
	const char *log_path; /* the postmaster's and initdb's stdout/stderr (appended) */
	/* tandemd-fence: the postmaster is started as `fence exec postgres -D DIR`, which sets its
	 * parent-death signal (SIGQUIT) before becoming postgres. NULL: started directly. */
	const char *fence_path;
} pgctl_opts;

typedef enum pgctl_stop_mode { PGCTL_SMART, PGCTL_FAST, PGCTL_IMMEDIATE } pgctl_stop_mode;

/* `ready` true: postmaster.pid says "ready" or "standby" (in `status`). A hot standby that accepts
 * read-only connections says "ready" too ("standby" is up but refusing connections, hot_standby =
 * off): ask pg_is_in_recovery() (pgctl_ask_state) to tell a replica. On a deadline the
 * postmaster is left running: the caller decides whether to stop it. false: it exited or the
 * deadline passed first (`err` says which). */
typedef void (*pgctl_start_cb)(pgctl *pc, bool ready, const char *status, const char *err,
                               void *ud);
/* `asked`: the exit followed pgctl_stop; otherwise it is a crash. */
typedef void (*pgctl_exit_cb)(pgctl *pc, bool asked, int64_t exit_status, int term_signal,
                              void *ud);
typedef void (*pgctl_initdb_cb)(pgctl *pc, bool ok, const char *output_tail, void *ud);

pgctl *pgctl_new(uv_loop_t *loop, const pgctl_opts *opts, char **err) TND_MUST_CHECK;
/* The postmaster, if running, is left running (it is detached). Handles close on the loop. */
void pgctl_free(pgctl *pc);

int pgctl_start(pgctl *pc, uint64_t timeout_ms, pgctl_start_cb start_cb, pgctl_exit_cb exit_cb,
                void *ud, char **err) TND_MUST_CHECK;
/* Each step gets `step_timeout_ms` before escalating. */
int pgctl_stop(pgctl *pc, pgctl_stop_mode mode, uint64_t step_timeout_ms,
               char **err) TND_MUST_CHECK;
int pgctl_reload(pgctl *pc, char **err) TND_MUST_CHECK;
bool pgctl_running(const pgctl *pc);
int pgctl_pid(const pgctl *pc); /* 0 when not running */

typedef struct pgctl_initdb_opts {
	const char *superuser;
	const char *password; /* NULL: none; else given to initdb through a pipe, never a file */
	const char *auth_local, *auth_host;
	const char *const
	    *extra; /* "encoding=UTF8" -> --encoding=UTF8, "data-checksums" -> --... */
	size_t nextra;
} pgctl_initdb_opts;

/* The argv initdb is run with (NULL-terminated, free with pgctl_argv_free); `pwfile` is the path
 * of the password file, or NULL. Never contains the password. */
char **pgctl_initdb_argv(const pgctl *pc, const pgctl_initdb_opts *o, const char *pwfile,
                         char **err);
void pgctl_argv_free(char **argv);
int pgctl_initdb(pgctl *pc, const pgctl_initdb_opts *o, pgctl_initdb_cb cb, void *ud,
                 char **err) TND_MUST_CHECK;

/* Configuration tandem owns (pgctl_conf.c). Files are written atomically, owned by the run user. */
typedef struct pgctl_param {
	const char *name, *value;
} pgctl_param;

/* libpq's TLS and GSS parameters of a connection (NULL: libpq's default). */
typedef struct pgctl_ssl {
	const char *sslmode, *sslcert, *sslkey, *sslrootcert, *sslcrl, *sslcrldir, *gssencmode,
	    *channel_binding;
} pgctl_ssl;

typedef struct pgctl_upstream {
	const char *host, *port, *user, *dbname, *passfile, *application_name;
	pgctl_ssl ssl;
	const char *target_session_attrs; /* "read-write" with several hosts; NULL: none */
	const char *slot_name;            /* primary_slot_name, or NULL */
} pgctl_upstream;

/* 'value' quoted for postgresql.conf. */
char *pgctl_conf_quote(const char *value);
/* A libpq conninfo from the upstream's parts (no password: passfile only). */
char *pgctl_conninfo(const pgctl_upstream *u, char **err);
/* Writes <data_dir>/tandem.conf from `params` (plus primary_conninfo/primary_slot_name when
 * `upstream` is given) and makes postgresql.conf include it (once). */
int pgctl_write_conf(pgctl *pc, const pgctl_param *params, size_t n, const pgctl_upstream *upstream,
                     char **err) TND_MUST_CHECK;
int pgctl_write_hba(pgctl *pc, const char *const *lines, size_t n, char **err) TND_MUST_CHECK;
int pgctl_set_standby(pgctl *pc, bool standby, char **err) TND_MUST_CHECK;
/* Renames data_dir to <data_dir>.moved-aside-<UTC timestamp>; *moved_to (if not NULL) gets it. */
int pgctl_move_aside(pgctl *pc, char **moved_to, char **err) TND_MUST_CHECK;

/* Internal helpers shared by the pgctl files. Files and processes belong to the agent's user
 * (tandemd refuses to run as root). */
/* Writes a file atomically (temp file, 0600, fsync, rename, directory fsync). */
int pgctl_write_file_(const char *path, const char *data, size_t len, char **err) TND_MUST_CHECK;
const char *pgctl_data_dir_(const pgctl *pc);
/* argv run through `tandemd-fence exec` when pc has a fence (the program then gets SIGQUIT from
 * the kernel when the agent dies), else argv itself; a new array to free (not its strings). */
char **pgctl_fenced_argv_(const pgctl *pc, char *const *argv);
struct pgsession;
/* pc's kept connection (see pgctl_ask_state); NULL and err while no postmaster runs, while it is
 * being stopped, or when `conninfo` is not the one the connection was first opened with. */
struct pgsession *pgctl_session_(pgctl *pc, const char *conninfo, char **err) TND_MUST_CHECK;

/* One-shot queries (pgctl_query.c), each on a new connection, for rare actions (bootstrap's
 * roles, promote, checkpoint). The first row's columns, NULL for SQL NULL; err on failure (which
 * comes through the callback, connecting included). */
typedef void (*pgctl_query_cb)(const char *const *row, int ncols, const char *err, void *ud);
void pgctl_query(uv_loop_t *loop, const char *conninfo, const char *sql, uint64_t timeout_ms,
                 pgctl_query_cb cb, void *ud);

typedef struct pgctl_state {
	bool in_recovery;
	uint64_t lsn;         /* pg_current_wal_lsn on a primary, replay LSN on a replica */
	uint64_t receive_lsn; /* replica: pg_last_wal_receive_lsn, 0 if none */
	uint64_t replay_lsn;  /* replica: pg_last_wal_replay_lsn */
	int64_t timeline;     /* pg_stat_wal_receiver.received_tli, else the checkpoint's */
} pgctl_state;
/* The periodic question to the running server: its state and, in the same round trip, the
 * columns of `extra_sql` (a SELECT that returns one row; NULL: none), asked on pc's kept
 * connection (pgsession.h) rather than a new backend each time. The connection is opened by the
 * first question and closed whenever pc starts or stops the server, the postmaster exits, or a
 * question fails: an error is always an error (st NULL), never a state. -1 (no callback) while no
 * postmaster runs or it is being stopped. */
typedef void (*pgctl_state_cb)(const pgctl_state *st, const char *const *extra, int nextra,
                               const char *err, void *ud);
/* Any other frequent question on the same kept connection, answered after those asked before
 * it; it may be sent twice (pgsession.h), so only what is safe to repeat. */
int pgctl_ask(pgctl *pc, const char *conninfo, const char *sql, uint64_t timeout_ms,
              pgctl_query_cb cb, void *ud, char **err) TND_MUST_CHECK;
int pgctl_ask_state(pgctl *pc, const char *conninfo, const char *extra_sql, uint64_t timeout_ms,
                    pgctl_state_cb cb, void *ud, char **err) TND_MUST_CHECK;
/* What pg_ctl promote does, without a connection: the "promote" file in the data directory,
 * then SIGUSR1 to the postmaster. 0, or -1 with *err (then nothing was signalled). */
int pgctl_promote_signal(pgctl *pc, char **err) TND_MUST_CHECK;
/* SELECT pg_promote(wait => false); cb gets ok. */
typedef void (*pgctl_done_cb)(bool ok, const char *err, void *ud);
void pgctl_promote(uv_loop_t *loop, const char *conninfo, uint64_t timeout_ms, pgctl_done_cb cb,
                   void *ud);
/* "16/B374D848" -> uint64; -1 if malformed. */
int pgctl_parse_lsn(const char *s, uint64_t *out) TND_MUST_CHECK;

/* Cloning a replica (pgctl_clone.c): a libpq password file, pg_basebackup and pg_rewind, run as
 * the run user. Passwords only ever go through the password file, never argv or environment. */
typedef struct pgctl_pass_entry {
	const char *host, *port, *dbname, *user; /* NULL: "*" */
	const char *password;
} pgctl_pass_entry;
/* Writes a libpq passfile (':' and '\\' escaped), mode 0600, owned by the agent's user,
 * atomically. */
int pgctl_write_passfile(const char *path, const pgctl_pass_entry *entries, size_t n,
                         char **err) TND_MUST_CHECK;

typedef void (*pgctl_progress_cb)(int percent, void *ud);
typedef void (*pgctl_clone_cb)(bool ok, const char *output_tail, const char *moved_to, void *ud);

typedef struct pgctl_clone_opts {
	const char *bin_dir;        /* where pg_basebackup and pg_rewind are */
	const pgctl_upstream *from; /* the source server; passfile required (no password) */
	uint64_t timeout_ms;        /* the tool is killed after it */
	pgctl_progress_cb progress; /* may be NULL; pg_basebackup only */
	bool restore_target_wal;    /* pg_rewind: --restore-target-wal (restore_command is set) */
	pgctl_clone_cb done;        /* moved_to: pg_basebackup's partial directory moved aside */
	void *ud;
} pgctl_clone_opts;

/* pg_basebackup into pc's data directory, which must not exist or be empty (refused otherwise,
 * nothing touched). On failure the partial directory is moved aside (pgctl_move_aside). */
int pgctl_basebackup(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o,
                     char **err) TND_MUST_CHECK;
/* pg_rewind of pc's data directory from the source server; refused while a postmaster runs on it
 * (postmaster.pid). On failure the data directory is left as it is.
 *
 * A rewind cut short leaves a data directory that no rewind can be trusted to repair (the
 * PostgreSQL documentation: take a fresh backup). So that a tandemd started after one dies
 * knows, a marker file DATA_DIR.rewinding exists from before pg_rewind starts until it exits
 * with success; pgctl_rewind_interrupted tells. Moving the data directory aside removes it. */
int pgctl_rewind(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o, char **err) TND_MUST_CHECK;
bool pgctl_rewind_interrupted(const pgctl *pc);
/* Removes the marker: pg_rewind failed before it touched the data directory. */
void pgctl_rewind_forget(pgctl *pc);
/* Whether a failed pg_rewind's output says it never connected to the source (libpq's
 * "connection to server at ... failed: ..."): then it changed nothing. A connection lost later
 * ("... was lost", "server closed the connection unexpectedly", "could not fetch remote file")
 * may have left files half copied. */
bool pgctl_rewind_never_connected(const char *output);

/* pg_controldata of pc's data directory; `done` gets its output as output_tail (ok false when it
 * failed). Parse it with pgctl_parse_controldata. */
int pgctl_controldata(uv_loop_t *loop, pgctl *pc, const pgctl_clone_opts *o,
                      char **err) TND_MUST_CHECK;
typedef struct pgctl_controldata {
	char sysid[32];
	int64_t timeline;              /* of the latest checkpoint */
	uint64_t checkpoint_lsn;       /* where the latest checkpoint record starts */
	uint64_t min_recovery_lsn;     /* a replica's minimum recovery point; 0 when none */
	int64_t min_recovery_timeline; /* its timeline; 0 when none */
	bool was_primary;              /* "in production" or "shut down" (not "... in recovery") */
	bool clean;                    /* shut down cleanly */
	uint64_t seg_size;             /* bytes per WAL segment (16 MiB when not said) */
} pgctl_control;
/* 0, or -1 when a needed field is missing or malformed. */
int pgctl_parse_controldata(const char *text, pgctl_control *out) TND_MUST_CHECK;

#endif
