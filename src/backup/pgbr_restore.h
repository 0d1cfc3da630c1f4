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
#include "pgbr_info.h"

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
