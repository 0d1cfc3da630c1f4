#include "pgbr_restore.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static void iso_utc(int64_t unix_s, char *buf, size_t cap)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

int pgbr_lsn_cmp(const char *a, const char *b)
{
	uint64_t x = 0, y = 0;
	int ea = pgbr_lsn_parse(a, &x), eb = pgbr_lsn_parse(b, &y);
	if (ea || eb)
		return ea - eb == 0 ? 0 : (ea ? -1 : 1);
	return x < y ? -1 : x > y;
}

char *pgbr_target_too_early(const pgbr_info *i, const bootstrap_target *t)
{
	if (!i->first_stop || !t->target)
		return NULL;
	char first[40];
	iso_utc(i->first_stop, first, sizeof first);
	if (strcmp(t->type, "time") == 0) {
		int64_t ms;
		if (clock_parse_iso8601(t->target, &ms) == 0 && ms < i->first_stop * 1000)
			return xasprintf("no backup before %s; the first is %s (backup %s ended "
			                 "then)",
			                 t->target, first, i->first_label ? i->first_label : "?");
	}
	if (strcmp(t->type, "lsn") == 0 && i->first_lsn_stop &&
	    pgbr_lsn_cmp(t->target, i->first_lsn_stop) < 0)
		return xasprintf(
		    "no backup before LSN %s; the first ends at LSN %s (backup %s, %s)", t->target,
		    i->first_lsn_stop, i->first_label ? i->first_label : "?", first);
	return NULL;
}

/* An ISO 8601 time as pgBackRest parses it to choose the backup ("2026-01-02 03:04:05.678+00",
 * UTC): with a 'T' it would fall back to the latest backup. */
static char *pgbr_time(const char *iso)
{
	int64_t ms;
	if (clock_parse_iso8601(iso, &ms) != 0)
		return xstrdup(iso);
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
	return ms % 1000 ? xasprintf("%s.%03d+00", buf, (int)(ms % 1000)) : xasprintf("%s+00", buf);
}

char **pgbr_restore_args(const bootstrap_target *t, size_t *n)
{
	char **v = xcalloc(7, sizeof *v);
	size_t k = 0;
	v[k++] = xasprintf("--type=%s", t->type);
	if (t->target && strcmp(t->type, "time") == 0) {
		char *when = pgbr_time(t->target);
		v[k++] = xasprintf("--target=%s", when);
		free(when);
	} else if (t->target)
		v[k++] = xasprintf("--target=%s", t->target);
	if (strcmp(t->type, "default") != 0)
		v[k++] = xstrdup("--target-action=promote");
	v[k++] = xasprintf("--target-timeline=%s", t->timeline ? t->timeline : "latest");
	if (t->exclusive && t->target)
		v[k++] = xstrdup("--target-exclusive");
	v[k] = NULL;
	*n = k;
	return v;
}
