/* The rows of tandemd's option table for backups through pgBackRest (the `backup:` section, and
 * the `pgbackrest` method of postgresql.create_replica_methods), and the checks that span them.
 * docs/backup.md describes every key. */
#ifndef PATRONI_BACKUP_OPTIONS_H
#define PATRONI_BACKUP_OPTIONS_H

#include <stdbool.h>

#include "cfg.h"

struct tandemd_settings;

int backup_check_passthrough(const void *v, char **err);
int backup_check_methods(const void *v, char **err);

/* Backups are on: backup.pgbackrest names a repository. */
bool tandemd_backup_on(const struct tandemd_settings *s);
/* The stanza: backup.stanza, or the scope. */
const char *tandemd_backup_stanza(const struct tandemd_settings *s);
/* Whether postgresql.create_replica_methods lists `method` (an empty list: basebackup only). */
bool tandemd_replica_method(const struct tandemd_settings *s, const char *method);

/* The checks across backup keys (called by tandemd_settings_load). */
int backup_check_settings(const struct tandemd_settings *s, char **err) TND_MUST_CHECK;

#define BOPT(field) offsetof(tandemd_settings, field)
/* clang-format off */
#define TANDEMD_BACKUP_OPTIONS \
    {"backup.pgbackrest", CFG_MAP, NULL, 0, 0, false, BOPT(backup_pgbackrest), "OPTION=VALUE,...", \
     "pgBackRest's own options under its own names (repo1-path, repo1-type, compress-type, " \
     "repo1-s3-bucket, ...), written to the [global] section of the pgbackrest.conf tandemd " \
     "keeps; naming a repository turns backups on", backup_check_passthrough}, \
    {"backup.stanza", CFG_STRING, NULL, 0, 0, false, BOPT(backup_stanza), "NAME", \
     "pgBackRest's stanza for this cluster (default: the scope)", NULL}, \
    {"backup.command", CFG_STRING, "pgbackrest", 0, 0, false, BOPT(backup_command), "PROGRAM", \
     "the pgbackrest program (looked up in PATH)", NULL}, \
    {"backup.config", CFG_STRING, NULL, 0, 0, false, BOPT(backup_config), "FILE", \
     "the pgbackrest.conf tandemd writes (default: DATA_DIR.pgbackrest.conf, beside the data " \
     "directory)", NULL}, \
    {"backup.archive_timeout", CFG_DURATION, "60", 1000, 86400000, false, \
     BOPT(backup_archive_timeout), "SECONDS", \
     "PostgreSQL's archive_timeout: a WAL segment is archived at least this often, the bound on " \
     "what the loss of a whole site loses", NULL}, \
    {"backup.archive_async", CFG_BOOL, "true", 0, 0, false, BOPT(backup_archive_async), "BOOL", \
     "archive through pgBackRest's local spool, in batches (archive-async)", NULL}, \
    {"backup.spool_path", CFG_STRING, NULL, 0, 0, false, BOPT(backup_spool_path), "DIR", \
     "pgBackRest's spool, lock and log directory for this member (default: " \
     "DATA_DIR.pgbackrest, beside the data directory)", NULL}, \
    {"backup.archive_push_queue_max", CFG_SIZE, "1GiB", 16777216, 1099511627776LL, false, \
     BOPT(backup_archive_push_queue_max), "BYTES", \
     "WAL waiting for the repository beyond this is dropped by pgBackRest (and alerted on) " \
     "rather than filling pg_wal: point-in-time recovery then needs a new backup", NULL}, \
    {"backup.process_max", CFG_INT, "2", 1, 64, false, BOPT(backup_process_max), "N", \
     "pgBackRest's parallel processes for backup, restore and async archiving", NULL}, \
    {"backup.retention_full", CFG_INT, "2", 1, 9999999, false, BOPT(backup_retention_full), "N", \
     "full backups kept in each repository (repoN-retention-full, unless given)", NULL}, \
    {"backup.drill_path", CFG_STRING, NULL, 0, 0, false, BOPT(backup_drill_path), "DIR", \
     "where a restore drill restores and starts its scratch copy, removed after each drill " \
     "(default: DATA_DIR.drill, beside the data directory; needs the database's size free)", \
     NULL}, \
    {"backup.drill_timeout", CFG_DURATION, "3600", 10000, 604800000, false, \
     BOPT(backup_drill_timeout), "SECONDS", \
     "a restore drill that has not finished by then fails (its scratch copy is removed)", \
     NULL}, \
    {"postgresql.create_replica_methods", CFG_LIST, "basebackup", 0, 0, false, \
     BOPT(create_replica_methods), "METHOD,...", \
     "how a new member gets its data, tried in order: pgbackrest (a delta restore from the " \
     "repository), basebackup (pg_basebackup from a running member)", backup_check_methods}, \
    {"postgresql.pgbackrest.keep_data", CFG_BOOL, "true", 0, 0, false, \
     BOPT(pgbackrest_keep_data), "BOOL", \
     "Patroni's key: a member rebuilt with the pgbackrest method (reinitialized, or a former " \
     "primary pg_rewind could not repair) keeps its data directory and restores over it with " \
     "--delta, copying only what differs; false: it is moved aside first", NULL}, \
    {"postgresql.pgbackrest.no_leader", CFG_BOOL, "true", 0, 0, false, \
     BOPT(pgbackrest_no_leader), "BOOL", \
     "the pgbackrest method may run while no leader is known: a member without data restores " \
     "from the repository and starts as a replica of the archive alone", NULL}, \
    {"postgresql.pgbackrest.no_params", CFG_BOOL, "true", 0, 0, false, \
     BOPT(pgbackrest_no_params), "BOOL", \
     "Patroni's key, accepted: tandem builds pgBackRest's arguments itself", NULL}, \
    {"postgresql.pgbackrest.command", CFG_STRING, NULL, 0, 0, false, \
     BOPT(pgbackrest_method_command), "COMMAND", \
     "Patroni's key, accepted for a drop-in patroni.yml but not run: tandem runs `pgbackrest " \
     "restore --delta --type=standby` with its own configuration (a warning says so)", NULL},
/* clang-format on */

#endif
