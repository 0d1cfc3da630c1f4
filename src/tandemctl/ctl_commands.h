/* tandemctl's commands. Each takes the parsed command line and returns the process's exit
 * status (CTL_EXIT_*); messages for people go to stderr, results to stdout. */
#ifndef TANDEMCTL_CTL_COMMANDS_H
#define TANDEMCTL_CTL_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

#include "ctl_cluster.h"
#include "ctl_http.h"

enum {
	CTL_EXIT_OK = 0,          /* done */
	CTL_EXIT_FAILED = 1,      /* the operation failed or was refused (or not confirmed) */
	CTL_EXIT_USAGE = 2,       /* bad command line or configuration */
	CTL_EXIT_UNREACHABLE = 3, /* etcd, or a member's REST API, could not be reached */
};

typedef struct ctl_opts {
	ctl_conn_args conn;
	bool json;
	bool force;
	bool all;
	const char *candidate;
	long timeout_ms;
	/* switchover */
	const char *leader;
	const char *scheduled; /* ISO 8601 or "now" */
	/* pause, resume */
	bool wait;
	/* restart */
	bool pending;
	/* restart --rolling [--dry-run] [--member-timeout SECONDS] (ctl_rolling.c) */
	bool rolling, dry_run;
	long member_timeout_ms;
	/* backup: --type */
	const char *backup_type;
	/* edit-config: --set KEY=VALUE and --pg NAME=VALUE (in order), --apply FILE|- */
	const char **sets;
	int nsets;
	const char **pgs;
	int npgs;
	const char *apply;
	/* haproxy-config */
	const char *rw_listen, *ro_listen, *stats_listen;
	unsigned maxconn;
	bool no_fallback;
	const char **sites; /* --site FILE, repeated: the other sites' clusters */
	int nsites;
	/* the command's own arguments */
	char **args;
	int nargs;
} ctl_opts;

/* Loads the connection settings and reads the cluster; returns CTL_EXIT_OK or the exit status
 * to leave with (the error is printed). */
int ctl_open(const ctl_opts *o, ctl_conn *conn, dcs_view *v);

/* Prints a JSON value (stolen) on stdout, indented. */
void ctl_print_json(json_t *j);

/* ctl_actions.c: without --force, stdin must be a terminal (CTL_EXIT_OK or CTL_EXIT_USAGE,
 * printed); asks `question` on stderr and reads the answer (always yes with --force). */
int ctl_need_terminal(const ctl_opts *o, const char *command);
bool ctl_confirm(const ctl_opts *o, const char *question);
/* ctl_confirm of `question` (heap, freed here); says "not confirmed; nothing done" when not. */
bool ctl_confirmed(const ctl_opts *o, char *question);
/* ctl_need_terminal when `ask`, then ctl_open: CTL_EXIT_OK with `c` and `v` to free, or the exit
 * status to leave with (printed). */
int ctl_start(const ctl_opts *o, const char *command, bool ask, ctl_conn *c, dcs_view *v);

/* One request (POST, PATCH, PUT) to a member's REST API at `path`; prints the outcome (and with
 * `results` appends it there as JSON); returns the exit status it implies. */
/* The REST credentials to send to member `m` at `url`: none, with a warning naming the member
 * and the URL, when the URL may not receive them (cred_trust.h: restapi.allowlist, 127.0.0.1,
 * ::1, or https). */
ctl_http_auth ctl_member_auth(const ctl_conn *c, const dcs_member *m, const char *url);

int ctl_member_request(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                       const char *method, const char *path, const char *body, json_t *results);

/* ctl_read.c: what the cluster looks like */
int ctl_cmd_list(const ctl_opts *o);
int ctl_cmd_history(const ctl_opts *o);
int ctl_cmd_show_config(const ctl_opts *o);
int ctl_cmd_haproxy_config(const ctl_opts *o);
int ctl_cmd_version(const ctl_opts *o);

/* ctl_actions.c: asking members to act, through their REST APIs */
int ctl_cmd_failover(const ctl_opts *o);
int ctl_cmd_restart(const ctl_opts *o);
int ctl_cmd_reload(const ctl_opts *o);
int ctl_cmd_reinit(const ctl_opts *o);

/* ctl_rolling.c: restart --rolling, member by member, the leader last through a switchover */
int ctl_rolling_restart(const ctl_opts *o);
/* GET `path` of member `m` (deadline the smaller of --timeout and `timeout_ms`): the JSON object
 * it answers, or NULL when it does not answer with one. */
json_t *ctl_member_get_json(const ctl_opts *o, const ctl_conn *c, const dcs_member *m,
                            const char *path, long timeout_ms);

/* ctl_remove.c: a stopped member taken out of the cluster (its keys, its slot) */
int ctl_cmd_remove(const ctl_opts *o);

/* ctl_restore_point.c: a connection to member `m`'s PostgreSQL (its conn_url, the superuser and
 * password of the -c file when there is one, else libpq's own sources); check PQstatus. */
struct pg_conn *ctl_connect_pg(const ctl_opts *o, const dcs_member *m);

/* ctl_ops.c: planned operations: switchover, maintenance mode */
int ctl_cmd_switchover(const ctl_opts *o);
int ctl_cmd_pause(const ctl_opts *o);
int ctl_cmd_resume(const ctl_opts *o);

/* ctl_backup.c: a backup now (POST /backup), and list's lines about backups (heap; NULL when
 * the cluster has no backup key) */
int ctl_cmd_backup(const ctl_opts *o);
char *ctl_backup_line(const dcs_view *v);
/* list --json's "backup": {"last": {TYPE: run}, "running": run or null, "runner", "failures"};
 * NULL without a backup key. */
json_t *ctl_backup_json(const dcs_view *v);
/* list's line about the leader's archive (WAL waiting, continuity, exit 45), from its /metrics;
 * NULL when backups are off or the leader does not answer; `json` gets "archive". */
char *ctl_archive_line(const ctl_opts *o, const ctl_conn *c, const dcs_view *v, json_t *json);
/* ctl_drill.c: a restore drill, and the last one as list shows it */
int ctl_cmd_drill(const ctl_opts *o);
/* " Last drill: WHEN on MEMBER: passed, RTO ... | FAILED: reason\n" from the DCS key. */
char *ctl_drill_line(const char *raw);
/* The DCS key as JSON (null when unreadable). */
json_t *ctl_drill_json(const char *raw);

/* ctl_edit_config.c: the cluster configuration */
int ctl_cmd_edit_config(const ctl_opts *o);

/* The superuser and password of the configuration file (-c), when there is one (heap strings,
 * or NULL). */
void ctl_file_credentials(const ctl_opts *o, char **user, char **password);
/* ctl_site.c, for list: a standby site's line (its source, and how far behind it is when the
 * primary site answers), or NULL for a primary site; `json` gets "site" either way. */
char *ctl_site_line(const ctl_opts *o, const dcs_view *v, json_t *json);
/* A standby leader's replay position and timeline, asked over SQL at its conn_url as the
 * superuser of `file`; *pg is kept open between calls (ctl_site_replay_close). False when it
 * cannot be asked. */
struct pg_conn;
bool ctl_site_replay(const char *conn_url, const char *file, struct pg_conn **pg, uint64_t *lsn,
                     int64_t *timeline);
void ctl_site_replay_close(struct pg_conn **pg);
/* Member names must be unique across the two sites: a standby whose application_name is a
 * member of the primary site could count as one of its synchronous standbys (Patroni 4.1's
 * warning). Each site has its own etcd, so no agent sees the other site's names: the command
 * that holds both sites' views checks them. The names in both, "a, b", or NULL. */
char *ctl_site_shared_names(const dcs_view *a, const dcs_view *b);

/* ctl_restore_point.c: a named restore point on the leader, its WAL archived */
int ctl_cmd_restore_point(const ctl_opts *o);
/* ctl_restore.c: `tandemctl restore` parses its own command line (all of argv) */
int ctl_restore_main(int argc, char **argv);
/* ctl_init.c: `tandemctl init` (its own command line, from the word "init" on) */
int ctl_init_main(int argc, char **argv);
/* ctl_site.c: promote-cluster, demote-cluster, site-switchover (their own command line) */
int ctl_site_main(int argc, char **argv);
/* ctl_pgbouncer.c: tandemctl pgbouncer-config (its own options). */
int ctl_pgbouncer_main(int argc, char **argv);

/* ctl_ops.c, for the planned operations: */
/* true when the command got no arguments; otherwise false, printed. */
bool ctl_no_args(const ctl_opts *o, const char *command);
/* The member to send a cluster-wide request to: the leader, or (`any_member`, for the
 * configuration, which every member can write) the first member with an api_url. */
const dcs_member *ctl_target_member(const dcs_view *v, bool any_member);
/* A request whose answer the caller handles itself. CTL_EXIT_OK with *answer (2xx), else the
 * exit status after printing why ("tandemctl: WHAT refused by pg1 (HTTP 400): reason"). */
int ctl_member_call(const ctl_opts *o, const ctl_conn *c, const dcs_member *m, const char *method,
                    const char *path, const char *body, const char *what, char **answer,
                    long *status);

#endif
