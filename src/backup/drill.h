/* A restore drill's pure parts (docs/backup.md, "Restore drills"): the SQL it sends to the leader
 * and to the scratch copy, the row counts it reads back, and their comparison.
 *
 * The guarantee. The drill inserts a marker row on the leader and commits it; then, per database,
 * counts the rows of every permanent table in one REPEATABLE READ snapshot (`before`); creates the
 * restore point tandem-drill-<id>; counts again (`after`). A transaction visible in `before`
 * committed before the restore point was written, so the copy recovered to that point has it; one
 * that commits after the `after` snapshot was taken does not reach the copy. A table whose counts
 * agree in both snapshots was therefore not written across the restore point and must have exactly
 * that count in the copy; a table whose counts differ was being written at that instant (it is
 * "busy"): its count in the copy must lie between the two (inserts only or deletes only), which is
 * all that can be claimed without stopping writes. Unlogged tables are left out: recovery empties
 * them by design. */
#ifndef TANDEM_DRILL_H
#define TANDEM_DRILL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum { DRILL_ID_LEN = 16 };

/* One row: every permanent user table of the database and its row count, as a JSON object
 * {"schema.table": n} (identifiers quoted as needed), in one REPEATABLE READ snapshot. */
extern const char drill_count_sql[];
/* One row: the databases to count, a JSON array of names. */
extern const char drill_databases_sql[];
/* One row: the newest WAL segment the archiver has stored, or NULL. */
extern const char drill_archived_sql[];

/* 16 lower-case hex digits. */
bool drill_id_ok(const char *id);
/* "tandem-drill-<id>". */
char *drill_target(const char *id);
/* Creates the marker table tandem.drill when needed, drops markers older than 30 days, inserts
 * the marker (id, member); one row: the id. `member` is quoted as a literal. */
char *drill_marker_sql(const char *id, const char *member);
/* One row: the marker's count (1 when it is there). */
char *drill_marker_check_sql(const char *id);
/* One row: the restore point's LSN and the WAL segment that holds it. */
char *drill_restore_point_sql(const char *id);

/* Whether the archiver's last segment `archived` (a 24-hex-digit name; a history or partial
 * file never counts) is at or past `segment`. */
bool drill_archived_past(const char *archived, const char *segment);

/* Row counts of tables, "db: schema.table" -> n. */
typedef struct drill_counts {
	char **names;
	long long *rows;
	size_t n;
} drill_counts;

/* Adds database `db`'s answer to drill_count_sql; -1 with *err when it is not that JSON. */
int drill_counts_add(drill_counts *c, const char *db, const char *json, char **err) TND_MUST_CHECK;
void drill_counts_free(drill_counts *c);

typedef struct drill_verdict {
	bool ok;
	long long tables; /* compared */
	long long busy;   /* of those, written across the restore point */
	char *why;        /* when not ok: the first mismatches, one line (caller frees) */
} drill_verdict;

/* The copy's counts against the leader's two snapshots (see the guarantee above). */
void drill_compare(const drill_counts *before, const drill_counts *after, const drill_counts *copy,
                   drill_verdict *out);

#endif
