/* Time zones by IANA name ("Europe/Berlin"), from the system's zone database, for schedules
 * people write in their wall clock (cron.h). An empty name or NULL is the system's local zone.
 * Not thread-safe: it swaps TZ for the duration of one call (tandemd's loop is one thread). */
#ifndef TANDEM_TZONE_H
#define TANDEM_TZONE_H

#include <stdint.h>

#include "cron.h"
#include "err.h"

/* Whether `name` is a zone of the database (checked at load: a misspelt zone would otherwise
 * silently be UTC). NULL or "" is fine (the local zone). */
int tzone_check(const char *name, char **err) TND_MUST_CHECK;

/* cron_next in the zone `name` (NULL or "": the local zone). */
int tzone_cron_next(const cron_spec *spec, int64_t after_s, const char *name,
                    int64_t *next) TND_MUST_CHECK;

/* The last time `spec` fires in (after_s, until_s] in the zone `name`: 0 with *last, 1 when it
 * does not fire in that span, -1 when the zone cannot say. One swap of the zone for the whole
 * walk; a span far longer than the schedule's period is walked from its last 8 days. */
int tzone_cron_last(const cron_spec *spec, int64_t after_s, int64_t until_s, const char *name,
                    int64_t *last) TND_MUST_CHECK;

/* The UTC offset at `utc_s` in the zone `name`, in seconds east; -1 when unknown. */
int tzone_offset(const char *name, int64_t utc_s, int32_t *offset_s) TND_MUST_CHECK;

#endif
