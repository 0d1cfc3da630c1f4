/* The configuration of the first member of a cluster restored from another cluster's backups
 * (tandemctl restore, and its --print-config), rendered from the source member's configuration.
 * Pure: no I/O. docs/backup.md ("What the new member's configuration carries") lists the keys
 * this leaves out and why. */
#ifndef TANDEMCTL_CTL_RESTORE_CONFIG_H
#define TANDEMCTL_CTL_RESTORE_CONFIG_H

#include "options.h"

typedef struct restore_plan {
	const tandemd_settings *src; /* the source cluster's member configuration (-c) */
	const char *cluster;         /* the new scope */
	const char *member;          /* the new member's name */
	const char *data_dir;
	const char *listen;      /* PostgreSQL's HOST:PORT */
	const char *rest_listen; /* the REST API's HOST:PORT */
	const char *from_stanza;
	const char *target_key; /* recovery_target_time, _lsn, _name; NULL: the end of the WAL */
	const char *target_value;
} restore_plan;

/* The new member's tandemd YAML (caller frees): every key of the option table whose value in
 * the source differs from its default, as the source has it; the new member's own scope, name,
 * addresses, data directory and backup.stanza (the new cluster's name), and bootstrap.method
 * pgbackrest with the target; the keys ctl_restore_not_carried() names are left out, and those
 * the source set are listed in a comment at the end with the reason. */
char *ctl_restore_config(const restore_plan *p);

/* Why the source's option `name` (a key of the option table, or `postgresql.parameters.X` /
 * `bootstrap.dcs.postgresql.parameters.X` for a PostgreSQL parameter) is not carried into the
 * new member's configuration; NULL when it is carried. The keys the plan sets itself (scope,
 * name, ...) are carried in the sense that they are always written, with the plan's value. */
const char *ctl_restore_not_carried(const char *name);

#endif
