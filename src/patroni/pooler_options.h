/* The rows of tandemd's option table for the site's PgBouncers (the `pgbouncer:` section): a
 * planned switchover pauses them before this leader stops PostgreSQL and resumes them once the
 * new primary answers through their route (docs/pooler.md). */
#ifndef PATRONI_POOLER_OPTIONS_H
#define PATRONI_POOLER_OPTIONS_H

#include <stdbool.h>

#include "err.h"

struct tandemd_settings;

/* PgBouncers to pause around a switchover: pgbouncer.admin lists at least one console. */
bool tandemd_pooler_on(const struct tandemd_settings *s);

/* The checks across pgbouncer keys (called by tandemd_settings_load). */
int pooler_check_settings(const struct tandemd_settings *s, char **err) TND_MUST_CHECK;

#define POPT(field) offsetof(tandemd_settings, field)
/* clang-format off */
#define TANDEMD_POOLER_OPTIONS \
    {"pgbouncer.admin", CFG_LIST, NULL, 0, 0, true, POPT(pgbouncer_admin), "CONNINFO,...", \
     "the admin consoles of this site's PgBouncers (libpq connection strings, dbname=pgbouncer, " \
     "a user in their admin_users): paused before a planned switchover stops this leader's " \
     "PostgreSQL, resumed once the new primary answers through pgbouncer.route", NULL}, \
    {"pgbouncer.route", CFG_STRING, NULL, 0, 0, true, POPT(pgbouncer_route), "CONNINFO", \
     "how the PgBouncers reach the primary (a libpq connection string to the same host and " \
     "port as their [databases] entry, usually HAProxy's read-write port): they are resumed " \
     "when a primary on a newer timeline answers there", NULL}, \
    {"pgbouncer.pause_timeout", CFG_DURATION, "10", 1000, 600000, true, \
     POPT(pgbouncer_pause_timeout), "SECONDS", \
     "the longest clients wait: a PAUSE not done by half of it is undone and the switchover goes " \
     "on without it; the PgBouncers are resumed at the latest this long after the pause", NULL},
/* clang-format on */

#endif
