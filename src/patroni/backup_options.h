/* The rows of tandemd's option table for backups through pgBackRest (the `backup:` section, and
 * the `pgbackrest` method of postgresql.create_replica_methods), and the checks that span them.
 * docs/backup.md describes every key. */
#ifndef PATRONI_BACKUP_OPTIONS_H
#define PATRONI_BACKUP_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

struct tandemd_settings;

int backup_check_passthrough(const void *v, char **err);
int backup_check_methods(const void *v, char **err);
int backup_check_cron(const void *v, char **err);
int backup_check_zone(const void *v, char **err);
int backup_check_tls_auth(const void *v, char **err);

/* Backups are on: backup.pgbackrest names a repository. */
bool tandemd_backup_on(const struct tandemd_settings *s);
/* The stanza: backup.stanza, or the scope. */
const char *tandemd_backup_stanza(const struct tandemd_settings *s);
/* Whether postgresql.create_replica_methods lists `method` (an empty list: basebackup only). */
bool tandemd_replica_method(const struct tandemd_settings *s, const char *method);

/* The schedules (backup.schedule.*): which, parsed (checked at load, so this cannot fail on
 * loaded settings: a `none` schedule never fires). */
typedef enum backup_schedule_kind {
	BACKUP_SCHEDULE_FULL,
	BACKUP_SCHEDULE_DIFF,
	BACKUP_SCHEDULE_INCR,
	BACKUP_SCHEDULE_DRILL,
} backup_schedule_kind;
struct cron_spec;
void tandemd_backup_schedule(const struct tandemd_settings *s, backup_schedule_kind kind,
                             struct cron_spec *out);
/* The next time the schedule fires strictly after `after_s` (UTC seconds) in backup.time_zone;
 * 0 with *next, 1 when it never fires (`none`), -1 when the zone cannot say. For the drill too. */
int tandemd_backup_next(const struct tandemd_settings *s, backup_schedule_kind kind,
                        int64_t after_s, int64_t *next) TND_MUST_CHECK;

/* The last time the schedule fired in (after_s, until_s]: 0 with *last, 1 when it did not. */
int tandemd_backup_last(const struct tandemd_settings *s, backup_schedule_kind kind,
                        int64_t after_s, int64_t until_s, int64_t *last) TND_MUST_CHECK;

/* backup.tls_server.* is set: this member runs pgBackRest's TLS server and reaches other
 * members' servers with backup.tls_client.* (the checks make them all-or-nothing). */
bool tandemd_backup_tls(const struct tandemd_settings *s);
/* The checks across backup.tls_* (called by backup_check_settings; backup_tls.c). */
int backup_check_tls_settings(const struct tandemd_settings *s, char **err) TND_MUST_CHECK;

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
    {"backup.schedule.full", CFG_STRING, "0 1 * * 0", 0, 0, false, BOPT(backup_schedule_full), \
     "CRON", "when a full backup runs: a cron schedule (minute hour day-of-month month " \
     "day-of-week) in backup.time_zone, or none", backup_check_cron}, \
    {"backup.schedule.diff", CFG_STRING, "0 1 * * 1-6", 0, 0, false, \
     BOPT(backup_schedule_diff), "CRON", \
     "when a differential backup runs (cron, or none); a full firing at the same minute wins", \
     backup_check_cron}, \
    {"backup.schedule.incr", CFG_STRING, "none", 0, 0, false, BOPT(backup_schedule_incr), \
     "CRON", "when an incremental backup runs (cron, or none)", backup_check_cron}, \
    {"backup.schedule.drill", CFG_STRING, "0 3 * * *", 0, 0, false, \
     BOPT(backup_schedule_drill), "CRON", "when a restore drill runs (cron, or none)", \
     backup_check_cron}, \
    {"backup.time_zone", CFG_STRING, NULL, 0, 0, false, BOPT(backup_time_zone), "ZONE", \
     "the time zone of the schedules, an IANA name such as Europe/Berlin (default: the " \
     "system's local time zone)", backup_check_zone}, \
    {"backup.from_standby", CFG_BOOL, "true", 0, 0, false, BOPT(backup_from_standby), "BOOL", \
     "run backups on a healthy replica (pgBackRest's backup-standby) when one can reach the " \
     "primary's data directory (on its host, or through the primary's TLS server: " \
     "backup.tls_server.*); otherwise on the leader", NULL}, \
    {"backup.timeout", CFG_DURATION, "86400", 60000, 604800000, false, BOPT(backup_timeout), \
     "SECONDS", "a backup still running after this long is killed (and rerun by the next " \
     "runner)", NULL}, \
    {"backup.drill_path", CFG_STRING, NULL, 0, 0, false, BOPT(backup_drill_path), "DIR", \
     "where a restore drill restores and starts its scratch copy, removed after each drill " \
     "(default: DATA_DIR.drill, beside the data directory; needs the database's size free)", \
     NULL}, \
    {"backup.drill_timeout", CFG_DURATION, "3600", 10000, 604800000, false, \
     BOPT(backup_drill_timeout), "SECONDS", \
     "a restore drill that has not finished by then fails (its scratch copy is removed)", \
     NULL}, \
    {"backup.tls_server.address", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_server_address), "HOST:PORT", \
     "run pgBackRest's TLS server (pgbackrest server) listening there, so that a replica on " \
     "another host can back up from its standby while this member is the primary (off by " \
     "default; every backup.tls_server.* and backup.tls_client.* key is then needed)", NULL}, \
    {"backup.tls_server.host", CFG_STRING, NULL, 0, 0, false, BOPT(backup_tls_server_host), \
     "NAME", "the DNS name the other members reach this member's TLS server by, published in " \
     "the backup key; the server certificate must name it (CN or DNS SAN)", NULL}, \
    {"backup.tls_server.cert_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_server_cert_file), "FILE", "the TLS server's certificate (PEM)", NULL}, \
    {"backup.tls_server.key_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_server_key_file), "FILE", "the TLS server's private key (PEM)", NULL}, \
    {"backup.tls_server.ca_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_server_ca_file), "FILE", \
     "the CA the clients' certificates must be signed by", NULL}, \
    {"backup.tls_server.auth", CFG_LIST, NULL, 0, 0, false, BOPT(backup_tls_server_auth), \
     "CN,...", "the common names of the client certificates allowed, for this cluster's stanza " \
     "(pgBackRest's tls-server-auth=CN=STANZA)", backup_check_tls_auth}, \
    {"backup.tls_client.cert_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_client_cert_file), "FILE", \
     "this member's client certificate for the primary's TLS server (its CN listed in the " \
     "server's backup.tls_server.auth)", NULL}, \
    {"backup.tls_client.key_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_client_key_file), "FILE", "the client certificate's private key", NULL}, \
    {"backup.tls_client.ca_file", CFG_STRING, NULL, 0, 0, false, \
     BOPT(backup_tls_client_ca_file), "FILE", \
     "the CA the TLS servers' certificates must be signed by", NULL}, \
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
