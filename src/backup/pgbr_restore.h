/* Restoring from pgBackRest into a new cluster, the pure parts shared by tandemd (bootstrap.method
 * pgbackrest) and tandemctl restore: what `pgbackrest info --output=json` says about a stanza, and
 * the arguments of `pgbackrest restore` for a recovery target. */
#ifndef TANDEM_PGBR_RESTORE_H
#define TANDEM_PGBR_RESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootstrap_options.h"
#include "err.h"

/* One stanza as `pgbackrest info --output=json` describes it. */
typedef struct pgbr_info {
	bool found;         /* the stanza is in the answer */
	int status;         /* pgBackRest's status code: 0 ok, 1 missing stanza path, 2 no valid
	                       backups, 3 missing stanza data, ... */
	char *message;      /* its status message */
	size_t nbackup;     /* backups in the repository */
	int64_t first_stop; /* the oldest backup's end (Unix seconds); 0 when none */
	char *first_label;
	char *first_lsn_stop; /* the oldest backup's stop LSN, NULL when not said */
	bool has_archive;     /* WAL of the stanza is in the repository */
	char *archive_max;    /* the newest archived segment, NULL when none */
} pgbr_info;

/* `stanza` from the JSON of `pgbackrest info` (for one stanza or all); -1 with *err when the
 * text is not such JSON. A stanza not in it is `found` false. */
int pgbr_info_parse(const char *json, const char *stanza, pgbr_info *out,
                    char **err) TND_MUST_CHECK;
void pgbr_info_free(pgbr_info *i);

/* No backup and no WAL: a cluster may make it its own. */
bool pgbr_info_empty(const pgbr_info *i);

/* Why `stanza` cannot be restored from (missing, no backup), as a heap string; NULL when it can. */
char *pgbr_info_unusable(const pgbr_info *i, const char *stanza);

/* Why the target comes before the oldest backup ("no backup before T; the first is T'"), as a
 * heap string; NULL when it does not or cannot be told (names, latest). */
char *pgbr_target_too_early(const pgbr_info *i, const bootstrap_target *t);

/* The arguments of `pgbackrest restore` for `t` (--type, --target, --target-action=promote,
 * --target-timeline, --target-exclusive), NULL-terminated, each the caller's (pgbr_argv_free);
 * *n is how many. */
char **pgbr_restore_args(const bootstrap_target *t, size_t *n);

/* Compares two LSNs ("0/3000060"): <0, 0, >0; an unparsable one sorts first. */
int pgbr_lsn_cmp(const char *a, const char *b);

#endif
