/* The backup runner inside the agent (docs/backup.md, "The backup runner and the schedule"): on
 * its own timer, beside the HA pass and never inside it, every member reads tandem's `backup` and
 * `backup/runner` keys; the member the choice names (src/backup/backup_choice.h) takes the runner
 * key on its lease, and it alone starts pgBackRest (a job with a deadline: backup, info, verify)
 * for a rerun, a request or a schedule that fired, and records the outcome in the `backup` key
 * with a compare-and-swap. A runner whose lease may lapse kills its pgBackRest before another
 * member can take the key. Only agent.c and agent_runner*.c include this header. */
#ifndef TANDEMD_AGENT_RUNNER_H
#define TANDEMD_AGENT_RUNNER_H

#include "agent_priv.h"
#include "backup_state.h"
#include "job.h"

typedef struct agent_runner {
	agent *a; /* NULL once the agent is gone while a job still ends */
	uv_timer_t timer;
	bool timer_on;
	bool closed;   /* the timer's close callback ran */
	bool dcs_busy; /* one write at a time */
	char *state_err_logged;

	/* the run in flight (agent_runner_job.c) */
	bool busy;
	bool lost; /* cancelled because the runner key or the lease went: not recorded */
	job *job;
	int phase; /* 0 backup, 1 info, 2 verify */
	backup_run run;
	bool standby;           /* backing up from our standby (backup-standby) */
	bool tls;               /* reaching the primary through its pgBackRest TLS server */
	char *leader_at_start;  /* the leader when it started (NULL: none) */
	uint64_t fail_until_ms; /* a failure waits until then for a change of leader (0: none) */
	backup_run starting;
	bool has_starting;

	/* a run that ended, to record */
	bool has_finished;
	backup_run finished;

	/* requests from the REST API, to record */
	backup_request req[BACKUP_MAX_REQUESTS];
	size_t nreq;
	unsigned seq;

	int64_t drill_mark_s; /* the drill schedule counts from here (0: not yet a runner step) */
} agent_runner;

agent_runner *agent_runner_new(agent *a);
void agent_runner_start(agent *a);
/* Stops the timer and kills a backup in flight (not recorded: the next runner reruns it). */
void agent_runner_stop(agent *a);
void agent_runner_free(agent *a);

/* agent_runner_job.c: runs `b->run` (backup, then info, then verify); ends in
 * agent_runner_ended. */
void agent_runner_job_start(agent_runner *b, const backup_state *st);
void agent_runner_ended(agent_runner *b);
/* A failed run waiting to see whether the leader changes: recorded, or run again. */
void agent_runner_failure_check(agent_runner *b);

#endif
