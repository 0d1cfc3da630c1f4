/* The cluster's backup record, tandem's own DCS key `backup` (JSON, no lease): the backups asked
 * for (tandemctl backup), the last time each schedule fired, the backup running now (so that the
 * next runner reruns one a dead runner left), the last success of each type, the recent results,
 * the failure count, and where the primary's data directory is (for a backup from a standby).
 * Every member reads it; the runner, the leader and tandemctl write it, each write conditional on
 * the revision read (docs/backup.md, "The backup runner and the schedule"). Pure: no I/O.
 *
 * A value a stranger wrote never crashes: unknown keys are ignored, wrong types read as absent,
 * lists are cut to their bounds (BACKUP_MAX_REQUESTS, BACKUP_MAX_HISTORY), strings to
 * BACKUP_MAX_TEXT bytes. */
#ifndef TANDEM_BACKUP_STATE_H
#define TANDEM_BACKUP_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum backup_type { BACKUP_FULL, BACKUP_DIFF, BACKUP_INCR, BACKUP_NTYPES } backup_type;

enum { BACKUP_MAX_REQUESTS = 16, BACKUP_MAX_HISTORY = 20, BACKUP_MAX_TEXT = 1024 };

const char *backup_type_name(backup_type t);
/* "full", "diff", "incr" -> 0 and *t; -1 otherwise. */
int backup_type_parse(const char *text, backup_type *t);

typedef struct backup_request {
	char *id;
	backup_type type;
	int64_t at_ms; /* when it was asked for (UTC ms) */
	char *by;      /* who asked ("tandemctl user@host", "REST user") */
} backup_request;

/* One run: while it runs (state->running) and once it ended (history, last). */
typedef struct backup_run {
	char *id;
	backup_type type; /* what was asked for */
	char *done_type;  /* what pgBackRest made ("full" when a diff had no full); NULL: unknown */
	char *runner;     /* the member */
	char *reason;     /* "request", "schedule", "rerun" */
	char *request;    /* the request's id, NULL for a scheduled run */
	int64_t start_ms, end_ms;
	char *status; /* "running", "ok", "failed", "interrupted" */
	char *label;  /* pgBackRest's backup label; NULL: none */
	char *error;  /* why it failed; NULL: it did not */
	int verify;   /* pgbackrest verify afterwards: 1 ok, 0 failed, -1 not run */
} backup_run;

/* Where the primary's PostgreSQL is, as its leader wrote it; tls_host and tls_port: its
 * pgBackRest TLS server (backup.tls_server.host and the address's port), NULL when none. */
typedef struct backup_primary {
	char *member, *host, *data_dir, *port, *socket_dir;
	char *tls_host, *tls_port;
} backup_primary;

typedef struct backup_state {
	backup_request requests[BACKUP_MAX_REQUESTS];
	size_t nrequests;
	int64_t fired_s[BACKUP_NTYPES]; /* the last schedule slot acted on (UTC s); 0: none yet */
	bool has_running;
	backup_run running;
	bool has_last[BACKUP_NTYPES];
	backup_run last[BACKUP_NTYPES];         /* the last success by the type pgBackRest made */
	backup_run history[BACKUP_MAX_HISTORY]; /* every run that ended, oldest first */
	size_t nhistory;
	int64_t failures; /* runs that failed, ever */
	backup_primary primary;
} backup_state;

/* Parses `text` (NULL: an empty record). -1 with *err when it is not a JSON object (out is then
 * an empty record); other oddities are left out silently. */
int backup_state_parse(const char *text, size_t len, backup_state *out, char **err);
char *backup_state_encode(const backup_state *s); /* compact JSON (caller frees) */
void backup_state_free(backup_state *s);

/* Copies (deep) and setters that keep the bounds. */
void backup_run_copy(backup_run *dst, const backup_run *src);
void backup_run_free(backup_run *r);
/* Appends a request (the oldest is dropped when full). */
void backup_state_add_request(backup_state *s, const char *id, backup_type type, int64_t at_ms,
                              const char *by);
/* Removes the request with `id` (absent: nothing). */
void backup_state_drop_request(backup_state *s, const char *id);
/* Records a run that ended: history (oldest dropped), last[] on success, failures otherwise;
 * clears `running` when it is the same id. */
void backup_state_finish(backup_state *s, const backup_run *r);
/* The result of the run (or request) `id`: the running one or one in the history; NULL. */
const backup_run *backup_state_find(const backup_state *s, const char *id);
/* The last verify result of any run: 1, 0, or -1 when none ran. */
int backup_state_verify(const backup_state *s);

#endif
