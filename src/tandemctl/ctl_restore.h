/* tandemctl restore's parts: the checks and the start (ctl_restore_run.c) of the command
 * (ctl_restore.c); the configuration it renders is ctl_restore_config.h. */
#ifndef TANDEMCTL_CTL_RESTORE_H
#define TANDEMCTL_CTL_RESTORE_H

#include "bootstrap_options.h"
#include "ctl_cluster.h"
#include "ctl_restore_config.h"
#include "options.h"

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
