/* Which member runs backups, and what it runs next. Pure: the agent gathers the members from the
 * DCS view and the record from the `backup` key (backup_state.h), and carries out the answer.
 *
 * The runner is a healthy replica when there is one and backup.from_standby is on: running,
 * streaming, its lag within maximum_lag_on_failover, and able to reach the primary's data
 * directory (pgBackRest's backup-standby starts and stops the backup on the primary); the one
 * with the least lag, then by name. Otherwise the leader. The member holding the runner key keeps
 * it while it stays eligible, or while its backup runs; a leader that holds it while a healthy
 * replica exists gives it up when idle. */
#ifndef TANDEM_BACKUP_CHOICE_H
#define TANDEM_BACKUP_CHOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup_state.h"

typedef struct backup_candidate {
	const char *name;
	bool leader;    /* holds the leader key and runs as the primary */
	bool running;   /* its PostgreSQL runs */
	bool replica;   /* role replica */
	bool streaming; /* replication_state streaming */
	bool lag_known;
	uint64_t lag_bytes;
	bool reaches_primary; /* the primary's data directory is on its host */
} backup_candidate;

typedef struct backup_choice_config {
	bool from_standby;
	uint64_t max_lag_bytes;
} backup_choice_config;

/* A replica fit to back up from. */
bool backup_healthy_replica(const backup_candidate *c, const backup_choice_config *cfg);
/* Member i may hold the runner key. */
bool backup_eligible(const backup_candidate *c, size_t n, size_t i,
                     const backup_choice_config *cfg);
/* The member that should take the key when nobody holds it; NULL: none can. */
const char *backup_choose(const backup_candidate *c, size_t n, const backup_choice_config *cfg);

typedef enum backup_key_step {
	BACKUP_KEY_NONE,    /* someone else's, or nobody's and not ours to take */
	BACKUP_KEY_ACQUIRE, /* nobody holds it and we are the choice */
	BACKUP_KEY_KEEP,    /* ours, and we stay */
	BACKUP_KEY_RELEASE, /* ours, idle, no longer eligible */
} backup_key_step;

/* What member `me` does with the runner key held by `holder` (NULL: nobody); `busy`: a backup of
 * ours runs. */
backup_key_step backup_key_decide(const backup_candidate *c, size_t n, const char *me,
                                  const char *holder, bool busy, const backup_choice_config *cfg);

/* What the runner starts next, with no backup of its own running. */
typedef struct backup_due {
	bool run;
	backup_type type;
	const char *reason;  /* "rerun" (a run a dead or cancelled runner left), "request",
	                        "schedule" */
	const char *request; /* the request's id (points into the state); NULL for a schedule */
	bool fired_changed;  /* fired_s below differs from the state's */
	int64_t fired_s[BACKUP_NTYPES];
} backup_due;

/* `latest_fire[t]`: the latest instant <= now at which schedule t fired after the state's
 * fired_s[t] (0: none; not looked at while fired_s[t] is 0: a schedule's first sight only marks
 * `now_s`, so that a new cluster or a changed schedule does not fire for the past). Priority: a
 * rerun, then the oldest request, then the schedules (full before diff before incr; every schedule
 * that fired is marked, so that a full covers a diff of the same minute). */
backup_due backup_due_next(const backup_state *st, const int64_t latest_fire[BACKUP_NTYPES],
                           int64_t now_s);

#endif
