/* The agent's part of backups through pgBackRest (agent_backup.c: archiving, the stanza,
 * continuity, metrics; agent_restore.c: replicas from the repository). Only the agent's files
 * include it. docs/backup.md. */
#ifndef TANDEMD_AGENT_BACKUP_H
#define TANDEMD_AGENT_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive_status.h"
#include "job.h"
#include "pgbr_archive.h"
#include "pgctl.h"

typedef struct agent agent;
typedef struct bjob bjob;

typedef struct agent_backup {
	agent *a;
	char *stanza, *program, *conf, *spool, *conflict; /* program: backup.command's path */
	char *archive_cmd, *restore_cmd, *timeout;        /* PostgreSQL's parameters */
	char **env;                                       /* the jobs' environment (PGPASSFILE) */
	job *running;                                     /* one pgbackrest call at a time */
	bjob *running_job;
	void (*then)(agent *a, const job_result *r);

	int stanza_state;
	uint64_t stanza_next_ms;

	int64_t cont_timeline; /* a continuity check is due for this timeline; 0: none */
	uint64_t cont_deadline_ms, cont_next_ms;
	pgbr_continuity cont;
	bool cont_pushed; /* we pushed the parent's last full segment ourselves (once a check) */

	uint64_t last_scan_ms;
	char *logs[2]; /* archive-push's logs, scanned for dropped WAL */
	int64_t log_off[2];
	int64_t conflict_off;

	void (*restored)(agent *a, bool ok); /* agent_restore.c */
	agent_archive_status st;
} agent_backup;

enum { AGENT_BACKUP_NPARAMS = 4 };

/* When backup.pgbackrest names a repository: the spool (0700), pgbackrest.conf (0600). 0 with
 * a->backup NULL when backups are off; -1 with *err. */
int agent_backup_new(agent *a, char **err) TND_MUST_CHECK;
void agent_backup_free(agent *a);
/* Rewrites pgbackrest.conf (SIGHUP). */
int agent_backup_write_conf(agent *a, char **err) TND_MUST_CHECK;
/* archive_mode, archive_command, restore_command, archive_timeout into out[0..3]: how many
 * (0 when backups are off). The strings live as long as the agent. */
size_t agent_backup_params(const agent *a, pgctl_param *out);
/* NULL when backups are off. */
const agent_archive_status *agent_backup_status(const agent *a);
/* Every pass (at most every loop_wait): metrics, then, on the leader, the stanza and the
 * continuity check. */
void agent_backup_tick(agent *a);
/* The leader promoted into `timeline`: prove continuity within 60 s. */
void agent_backup_promoted(agent *a, int64_t timeline, bool site);
/* Runs `pgbackrest VERB args` with the member's configuration as a job; -1 while one runs. */
int agent_backup_run(agent *a, const char *verb, const char *const *args, size_t nargs,
                     bool with_stanza, uint64_t timeout_ms,
                     void (*then)(agent *a, const job_result *r), char **err) TND_MUST_CHECK;

/* agent_restore.c: replicas from the repository. */
/* postgresql.create_replica_methods lists pgbackrest first (and backups are on). */
bool agent_backup_restore_first(const agent *a);
/* Whether a data directory to rebuild stays for a delta restore (pgbackrest first, keep_data). */
bool agent_backup_keeps_data(const agent *a);
/* `pgbackrest restore --delta --type=standby` into the data directory (PostgreSQL stopped);
 * `done(a, ok)` after. A marker beside the data directory says a restore runs: one cut short is
 * never started (agent_backup_restore_interrupted). */
void agent_backup_restore(agent *a, void (*done)(agent *a, bool ok));
bool agent_backup_restore_interrupted(const agent *a);
void agent_backup_restore_forget(const agent *a);
/* A failed restore, before pg_basebackup: a data directory that is not empty is moved aside. */
int agent_backup_clear_for_fallback(agent *a, char **err) TND_MUST_CHECK;

#endif
