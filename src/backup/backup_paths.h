/* Where a member's pgBackRest files live, and its pgbackrest.conf input, from tandemd's settings:
 * one answer for tandemd and tandemctl. */
#ifndef TANDEM_BACKUP_PATHS_H
#define TANDEM_BACKUP_PATHS_H

#include "options.h"
#include "pgbr_conf.h"

/* backup.config, or DATA_DIR.pgbackrest.conf (caller frees). */
char *backup_conf_path(const tandemd_settings *s);
/* backup.spool_path, or DATA_DIR.pgbackrest (caller frees). */
char *backup_spool_path(const tandemd_settings *s);

/* backup.drill_path, or DATA_DIR.drill: a restore drill's scratch directory (caller frees). */
char *backup_drill_path(const tandemd_settings *s);

/* `out` from the settings and the stanza's servers `pg` (pg1 first); `spool` is the caller's
 * (backup_spool_path) and must outlive `out`. */
void backup_conf_in(const tandemd_settings *s, const char *spool, const pgbr_pg *pg, size_t npg,
                    pgbr_conf_in *out);

#endif
