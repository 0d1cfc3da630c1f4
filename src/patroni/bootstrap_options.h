/* Patroni's custom bootstrap method as tandem has it: `bootstrap.method: pgbackrest` creates a new
 * cluster from another cluster's backup (point-in-time recovery into a new cluster), with the
 * section `bootstrap.pgbackrest` (Patroni's `recovery_conf` and `keep_existing_recovery_conf`,
 * and tandem's `stanza`, the cluster restored from). docs/tandemd.md describes every key. */
#ifndef PATRONI_BOOTSTRAP_OPTIONS_H
#define PATRONI_BOOTSTRAP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

struct tandemd_settings;

/* Where recovery stops: PostgreSQL's recovery_target_* from recovery_conf, as pgBackRest's
 * restore --type and --target take them. */
typedef struct bootstrap_target {
	const char
	    *type; /* "default" (the end of the archive), "time", "lsn", "name", "immediate" */
	const char *target;   /* the time, LSN or restore point; NULL for default and immediate */
	const char *timeline; /* recovery_target_timeline; "latest" unless given */
	bool exclusive;       /* recovery_target_inclusive: false */
} bootstrap_target;

/* The recovery target recovery_conf names (pointers into `rc`); -1 with *err when a key is not
 * one tandem takes, two targets are given, recovery_target_action is not promote, or a time is
 * not ISO 8601 with a zone. */
int bootstrap_recovery_target(const cfg_map *rc, bootstrap_target *out, char **err) TND_MUST_CHECK;

/* bootstrap.method is pgbackrest. */
bool tandemd_bootstrap_from_backup(const struct tandemd_settings *s);

int bootstrap_check_method(const void *v, char **err);
int bootstrap_check_recovery_conf(const void *v, char **err);
/* The checks across keys (called by tandemd_settings_load). */
int bootstrap_check_settings(const struct tandemd_settings *s, char **err) TND_MUST_CHECK;

#define BTOPT(field) offsetof(tandemd_settings, field)
/* clang-format off */
#define TANDEMD_BOOTSTRAP_METHOD_OPTIONS \
    {"bootstrap.method", CFG_STRING, "initdb", 0, 0, false, BTOPT(bootstrap_method), "METHOD", \
     "how the first member creates a new cluster: initdb (an empty database), or pgbackrest " \
     "(restored from the backup of another cluster, bootstrap.pgbackrest.stanza, recovered to " \
     "bootstrap.pgbackrest.recovery_conf's target and promoted)", bootstrap_check_method}, \
    {"bootstrap.pgbackrest.stanza", CFG_STRING, NULL, 0, 0, false, \
     BTOPT(bootstrap_pgbackrest_stanza), "NAME", \
     "bootstrap.method pgbackrest: the stanza restored from, in the repository of " \
     "backup.pgbackrest (never the new cluster's own backup.stanza)", NULL}, \
    {"bootstrap.pgbackrest.recovery_conf", CFG_MAP, NULL, 0, 0, false, \
     BTOPT(bootstrap_pgbackrest_recovery_conf), "NAME=VALUE,...", \
     "bootstrap.method pgbackrest: where recovery stops, in PostgreSQL's words: one of " \
     "recovery_target_time (ISO 8601 with a zone), recovery_target_lsn, recovery_target_name, " \
     "recovery_target: immediate, or none for the end of the archive; recovery_target_timeline " \
     "(default latest), recovery_target_inclusive, recovery_target_action (promote only)", \
     bootstrap_check_recovery_conf}, \
    {"bootstrap.pgbackrest.keep_existing_recovery_conf", CFG_BOOL, "false", 0, 0, false, \
     BTOPT(bootstrap_pgbackrest_keep_existing_recovery_conf), "BOOL", \
     "Patroni's key, accepted either way: pgBackRest always writes the recovery settings of " \
     "recovery_conf, and tandemd removes them once the new cluster is promoted", NULL}, \
    {"bootstrap.pgbackrest.command", CFG_STRING, NULL, 0, 0, false, \
     BTOPT(bootstrap_pgbackrest_command), "COMMAND", \
     "Patroni's key, accepted for a drop-in patroni.yml but not run: tandemd runs `pgbackrest " \
     "restore` itself with the target of recovery_conf (a warning says so)", NULL},
/* clang-format on */

#endif
