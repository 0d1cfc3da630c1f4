#include "tzone.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "strbuf.h"

static const char *zoneinfo_dir(void)
{
	const char *d = getenv("TZDIR");
	return d && *d ? d : "/usr/share/zoneinfo";
}

int tzone_check(const char *name, char **err)
{
	if (!name || !*name)
		return 0;
	if (name[0] == '/' || strstr(name, "..") ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-") !=
	        strlen(name)) {
		err_set(err, "'%s' is not a time zone name (e.g. Europe/Berlin, UTC)", name);
		return -1;
	}
	char *path = xasprintf("%s/%s", zoneinfo_dir(), name);
	int ok = access(path, R_OK);
	free(path);
	if (ok != 0) {
		err_set(err, "'%s' is not a time zone of %s (e.g. Europe/Berlin, UTC)", name,
		        zoneinfo_dir());
		return -1;
	}
	return 0;
}

/* TZ set to the zone for the duration of a call; restored by zone_leave. */
typedef struct zone_swap {
	char *old;
	bool had;
	bool swapped;
} zone_swap;

static void zone_enter(const char *name, zone_swap *z)
{
	z->swapped = name && *name;
	if (!z->swapped)
		return;
	const char *old = getenv("TZ");
	z->had = old != NULL;
	z->old = old ? xstrdup(old) : NULL;
	char *tz = xasprintf(":%s", name);
	setenv("TZ", tz, 1);
	free(tz);
	tzset();
}

static void zone_leave(zone_swap *z)
{
	if (!z->swapped)
		return;
	if (z->had)
		setenv("TZ", z->old, 1);
	else
		unsetenv("TZ");
	free(z->old);
	tzset();
}

static int local_offset(int64_t utc_s, void *ud, int32_t *offset_s)
{
	(void)ud;
	time_t t = (time_t)utc_s;
	struct tm tm;
	if (!localtime_r(&t, &tm))
		return -1;
	*offset_s = (int32_t)tm.tm_gmtoff;
	return 0;
}

int tzone_cron_next(const cron_spec *spec, int64_t after_s, const char *name, int64_t *next)
{
	zone_swap z = {0};
	zone_enter(name, &z);
	int rc = cron_next(spec, after_s, local_offset, NULL, next);
	zone_leave(&z);
	return rc;
}

static int last_fire(const cron_spec *spec, int64_t after_s, int64_t until_s, int64_t *last)
{
	enum { NEAR = 8 * 86400 };
	int64_t t = after_s, n, near;
	int rc = cron_next(spec, t, local_offset, NULL, &n);
	if (rc != 0 || n > until_s)
		return rc < 0 ? -1 : 1;
	if (until_s - n > NEAR && cron_next(spec, until_s - NEAR, local_offset, NULL, &near) == 0 &&
	    near <= until_s)
		t = near - 1; /* far behind: only the latest fires matter */
	bool any = false;
	while ((rc = cron_next(spec, t, local_offset, NULL, &n)) == 0 && n <= until_s) {
		*last = t = n;
		any = true;
	}
	if (rc < 0)
		return -1;
	return any ? 0 : 1;
}

int tzone_cron_last(const cron_spec *spec, int64_t after_s, int64_t until_s, const char *name,
                    int64_t *last)
{
	zone_swap z = {0};
	zone_enter(name, &z);
	int rc = last_fire(spec, after_s, until_s, last);
	zone_leave(&z);
	return rc;
}

int tzone_offset(const char *name, int64_t utc_s, int32_t *offset_s)
{
	zone_swap z = {0};
	zone_enter(name, &z);
	int rc = local_offset(utc_s, NULL, offset_s);
	zone_leave(&z);
	return rc;
}
