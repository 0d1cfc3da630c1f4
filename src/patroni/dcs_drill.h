/* The `drill` key: the last restore drill's result, written by the member that ran it and read by
 * every member (metrics) and by tandemctl (list). Pure: JSON text in and out.
 *
 *   {"id": "9f3c...", "member": "pg2", "ok": true, "reason": "...",
 *    "started_unix_ms": 1767000000000, "finished_unix_ms": 1767000020000,
 *    "rto_ms": 14200, "tables": 12, "busy_tables": 0, "databases": 2,
 *    "last_success_unix_ms": 1767000020000, "failures": 1}
 *
 * `last_success_unix_ms` and `failures` carry the history through each new result (the new
 * writer reads them from the key before it). Text fields are bounded (DCS_DRILL_MAX_TEXT). */
#ifndef PATRONI_DCS_DRILL_H
#define PATRONI_DCS_DRILL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

enum { DCS_DRILL_MAX_TEXT = 1024 };

typedef struct dcs_drill {
	char *id;     /* the drill's token (its restore point is tandem-drill-<id>) */
	char *member; /* who ran it */
	bool ok;
	char *reason; /* why it failed, or what it checked */
	int64_t started_unix_ms, finished_unix_ms;
	int64_t rto_ms; /* restore start to the scratch copy promoted; 0: never got there */
	int64_t tables, busy_tables, databases;
	int64_t last_success_unix_ms; /* 0: none yet */
	int64_t failures;             /* failed drills so far */
} dcs_drill;

/* Compact JSON (caller frees). */
char *dcs_drill_encode(const dcs_drill *d);
/* 0, or -1 with *err (not an object, a field of the wrong type or out of range); `out` is left
 * zeroed on error. Unknown keys are ignored. */
int dcs_drill_decode(const char *text, dcs_drill *out, char **err) TND_MUST_CHECK;
void dcs_drill_free(dcs_drill *d);

#endif
