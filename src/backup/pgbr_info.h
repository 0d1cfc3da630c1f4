/* What `pgbackrest info --output=json` says about one stanza: shared by the archive's stanza
 * check (tandemd), bootstrap from a backup and tandemctl restore. Pure. */
#ifndef TANDEM_PGBR_INFO_H
#define TANDEM_PGBR_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	char *system_id;      /* the current database's system identifier, NULL when none */
} pgbr_info;

/* `stanza` from the JSON of `pgbackrest info` (for one stanza or all); -1 with *err when the
 * text is not such JSON. A stanza not in it is `found` false. */
int pgbr_info_parse(const char *json, const char *stanza, pgbr_info *out,
                    char **err) TND_MUST_CHECK;
void pgbr_info_free(pgbr_info *i);

/* The stanza is in the repository (found, and not "missing stanza path"). */
bool pgbr_info_exists(const pgbr_info *i);

/* No backup and no WAL: a cluster may make it its own. */
bool pgbr_info_empty(const pgbr_info *i);

/* Why `stanza` cannot be restored from (missing, no backup), as a heap string; NULL when it can. */
char *pgbr_info_unusable(const pgbr_info *i, const char *stanza);

/* The label of `stanza`'s newest backup that ended before WAL position `lsn` (from the JSON of
 * `pgbackrest info`; caller frees), NULL when none did or the text is not that JSON. */
char *pgbr_info_backup_before(const char *json, const char *stanza, uint64_t lsn);

/* "0/3000060" -> the position; -1 when it is not an LSN. */
int pgbr_lsn_parse(const char *s, uint64_t *out);

#endif
