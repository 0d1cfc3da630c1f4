/* Shared by drill_run.c (the flow and the leader's side) and drill_scratch.c (the scratch copy)
 * only. */
#ifndef TANDEMD_DRILL_RUN_PRIV_H
#define TANDEMD_DRILL_RUN_PRIV_H

#include "drill.h"
#include "drill_run.h"
#include "job.h"
#include "pgsession.h"

enum { DRILL_BEFORE, DRILL_AFTER, DRILL_COPY, DRILL_PHASES };
enum { DRILL_POLL_MS = 250, DRILL_STOP_MS = 60000, DRILL_REMOVE_MS = 600000 };
#define DRILL_PORT "5432"          /* of the scratch copy's socket, in its own directory */
#define DRILL_MARK ".tandem-drill" /* in a scratch directory a drill made */

typedef void (*drill_job_next)(drill_run *d, const job_result *r);
typedef void (*drill_then)(drill_run *d);

struct drill_run {
	uv_loop_t *loop;
	const tandemd_settings *s;
	char *id, *member, *target;
	char *dir, *data, *conf,
	    *log; /* scratch directory, its data, pgbackrest.conf, server log */
	char *host, *port, *user, *passfile;
	void (*done)(const drill_outcome *o, void *ud);
	void *ud;
	const char *step;
	uint64_t t0, deadline, restore_t0, rto_ms;
	pgsession *sess;
	job *job;
	drill_job_next job_next;
	uv_timer_t timer;
	drill_then after_timer;
	drill_then then_count, then_prepared, then_restored; /* continuations */
	bool timer_open, freed, pg_started, cleaning;
	bool owns_dir; /* the scratch directory is a drill's (made by one, or marked): removable */
	char **dbs;
	size_t ndbs, dbi;
	int phase;
	drill_counts counts[DRILL_PHASES];
	char *segment; /* the WAL segment holding the restore point */
	char *reason;
	bool ok;
	long long tables, busy;
};

/* drill_run.c */
uint64_t drill_left(drill_run *d);
/* Records the first failure, then stops and removes the copy, then reports. */
void drill_fail(drill_run *d, const char *fmt, ...) TND_PRINTF(2, 3);
/* Runs argv (freed here) as the step `step`; `next` gets its result. */
void drill_job(drill_run *d, const char *step, char **argv, uint64_t timeout_ms,
               drill_job_next next);
/* A query on a new session to database `db` of the leader (or, `copy`, of the scratch copy). */
void drill_query(drill_run *d, bool copy, const char *db, const char *sql, pgsession_cb cb);
void drill_after(drill_run *d, uint64_t ms, drill_then then);
/* Counts every database in phase `phase`, then `then`. */
void drill_count(drill_run *d, int phase, drill_then then);

/* drill_scratch.c */
/* Removes a leftover scratch directory, creates it afresh with the drill's pgbackrest.conf. */
void drill_prepare(drill_run *d, drill_then then);
/* Restores into the scratch directory, starts the copy, waits for its promotion, then `then`. */
void drill_restore(drill_run *d, drill_then then);
/* Stops the copy if it runs and removes the scratch directory, then reports. */
void drill_cleanup(drill_run *d);
/* Stops the copy at once (SIGQUIT to the postmaster in its postmaster.pid): at tandemd's exit. */
void drill_kill_copy(drill_run *d);
/* The last FATAL or PANIC line of the copy's server log, or its last line (caller frees). */
char *drill_log_reason(const drill_run *d);

#endif
