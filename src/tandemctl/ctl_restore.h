/* tandemctl restore's parts: the configuration of the new cluster's first member, rendered from
 * the source cluster's (ctl_restore_config.c), and the command (ctl_restore.c). */
#ifndef TANDEMCTL_CTL_RESTORE_H
#define TANDEMCTL_CTL_RESTORE_H

#include "bootstrap_options.h"
#include "ctl_cluster.h"
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

/* The new member's tandemd YAML (caller frees): the source's etcd, credentials, PostgreSQL
 * settings (archive_command and restore_command left out: they name the source's stanza) and
 * repository, with scope, name, addresses and data directory of its own, backup.stanza set to
 * the new cluster's name, and bootstrap.method pgbackrest with the target. */
char *ctl_restore_config(const restore_plan *p);

/* ctl_restore_run.c: the checks (each prints why it refuses and returns the exit status, or
 * CTL_EXIT_OK) and the start. */
/* No key of cluster `name` in the DCS of `conn` (its scope replaced). */
int ctl_restore_check_dcs(ctl_conn_args conn, const char *name, long timeout_ms);
/* The repository exists, stanza `from` has a backup before the target, stanza `to` is empty. */
int ctl_restore_check_repo(const tandemd_settings *src, const char *from, const char *to,
                           const bootstrap_target *t);
/* `dir` is absent or empty; with `force` a non-empty one is moved aside. */
int ctl_restore_check_dir(const char *dir, bool force);
/* HOST:PORT with HOST of `listen` and a port free there now (caller frees). */
char *ctl_restore_free_port(const char *listen);
/* Writes DIR.tandemd.yml, starts tandemd on it (DIR.tandemd.log), waits until it leads. */
int ctl_restore_start(const restore_plan *p, const char *yml, ctl_conn_args conn, long timeout_ms);

#endif
