/* One restore drill, run by a member's tandemd on its loop (docs/backup.md, "Restore drills"):
 *
 *   1. remove what a crashed drill left in the scratch directory, write the drill's own
 *      pgbackrest.conf there (pg1-path is the scratch copy; locks, spool and logs its own);
 *   2. on the leader: the marker row, row counts, the restore point tandem-drill-<id>, row counts
 *      again (drill.h has the guarantee), a WAL switch, and a wait until the archiver has stored
 *      the segment that holds the restore point;
 *   3. `pgbackrest restore --type=name --target=tandem-drill-<id> --target-action=promote` of the
 *      latest backup into the scratch directory; a scratch PostgreSQL started with pg_ctl that
 *      never archives (archive_mode off), never replicates, and listens on a Unix socket in the
 *      scratch directory only; it recovers to the restore point and is promoted;
 *   4. the marker and the row counts checked on the copy; the copy stopped and removed, on
 *      failure and at the deadline too.
 *
 * The measured RTO is the time from the start of the restore to the copy's promotion. Every
 * child (rm, pgbackrest, pg_ctl) is a job with a deadline; every query has one; nothing blocks
 * the loop. An entry point for whoever schedules drills. */
#ifndef TANDEMD_DRILL_RUN_H
#define TANDEMD_DRILL_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "err.h"
#include "options.h"

typedef struct drill_run drill_run;

typedef struct drill_outcome {
	bool ok;
	const char *reason; /* why it failed, or what was checked */
	uint64_t rto_ms;    /* restore start to promotion; 0 when it never got there */
	uint64_t duration_ms;
	long long tables, busy_tables, databases;
} drill_outcome;

typedef struct drill_run_opts {
	uv_loop_t *loop;
	const tandemd_settings *s; /* must outlive the run */
	const char *id;            /* drill_id_ok */
	const char *member;        /* this member's name (written in the marker) */
	/* The leader's PostgreSQL, reached as the superuser with the member's passfile. */
	const char *leader_host, *leader_port, *user, *passfile;
	void (*done)(const drill_outcome *o, void *ud);
	void *ud;
} drill_run_opts;

/* Starts it; NULL with *err when it cannot (`done` is then never called). `done` is always called
 * from the loop, never from within drill_run_start. */
drill_run *drill_run_start(const drill_run_opts *o, char **err) TND_MUST_CHECK;
/* What it is doing now ("restoring", ...). */
const char *drill_run_step(const drill_run *d);
/* Stops it without calling `done`: the scratch PostgreSQL is stopped (immediate), its directory
 * left for the next drill to remove. */
void drill_run_free(drill_run *d);

#endif
