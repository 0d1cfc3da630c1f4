#include "pgbr_restore.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void read_backups(json_t *backups, pgbr_info *out)
{
	out->nbackup = json_is_array(backups) ? json_array_size(backups) : 0;
	for (size_t i = 0; i < out->nbackup; i++) {
		json_t *b = json_array_get(backups, i);
		json_t *stop = json_object_get(json_object_get(b, "timestamp"), "stop");
		int64_t t = json_is_integer(stop) ? (int64_t)json_integer_value(stop) : 0;
		if (!t || (out->first_stop && t >= out->first_stop))
			continue;
		out->first_stop = t;
		free(out->first_label);
		free(out->first_lsn_stop);
		out->first_label = dup_or_null(json_string_value(json_object_get(b, "label")));
		out->first_lsn_stop = dup_or_null(
		    json_string_value(json_object_get(json_object_get(b, "lsn"), "stop")));
	}
}

static void read_archive(json_t *archive, pgbr_info *out)
{
	for (size_t i = 0; json_is_array(archive) && i < json_array_size(archive); i++) {
		json_t *a = json_array_get(archive, i);
		const char *max = json_string_value(json_object_get(a, "max"));
		if (!max && !json_string_value(json_object_get(a, "min")))
			continue;
		out->has_archive = true;
		if (max && (!out->archive_max || strcmp(max, out->archive_max) > 0)) {
			free(out->archive_max);
			out->archive_max = xstrdup(max);
		}
	}
}

int pgbr_info_parse(const char *json, const char *stanza, pgbr_info *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_error_t je;
	json_t *root = json_loads(json ? json : "", 0, &je);
	if (!json_is_array(root)) {
		err_set(err, "pgbackrest info: not the JSON expected (%s)",
		        root ? "not a list" : je.text);
		json_decref(root);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(root); i++) {
		json_t *st = json_array_get(root, i);
		const char *name = json_string_value(json_object_get(st, "name"));
		if (!name || strcmp(name, stanza) != 0)
			continue;
		out->found = true;
		json_t *status = json_object_get(st, "status");
		out->status = (int)json_integer_value(json_object_get(status, "code"));
		out->message = dup_or_null(json_string_value(json_object_get(status, "message")));
		read_backups(json_object_get(st, "backup"), out);
		read_archive(json_object_get(st, "archive"), out);
		break;
	}
	json_decref(root);
	return 0;
}

void pgbr_info_free(pgbr_info *i)
{
	free(i->message);
	free(i->first_label);
	free(i->first_lsn_stop);
	free(i->archive_max);
	memset(i, 0, sizeof *i);
}

bool pgbr_info_empty(const pgbr_info *i)
{
	return !i->found || (i->nbackup == 0 && !i->has_archive);
}

char *pgbr_info_unusable(const pgbr_info *i, const char *stanza)
{
	if (!i->found || i->status == 1)
		return xasprintf("no stanza '%s' in the repository (pgBackRest: %s)", stanza,
		                 i->message ? i->message : "missing stanza path");
	if (i->nbackup == 0)
		return xasprintf("stanza '%s' has no backup to restore (pgBackRest: %s)", stanza,
		                 i->message ? i->message : "no valid backups");
	return NULL;
}

static void iso_utc(int64_t unix_s, char *buf, size_t cap)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
}

static int parse_lsn(const char *s, uint64_t *out)
{
	unsigned hi, lo;
	char tail;
	if (!s || sscanf(s, "%x/%x%c", &hi, &lo, &tail) != 2)
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

int pgbr_lsn_cmp(const char *a, const char *b)
{
	uint64_t x = 0, y = 0;
	int ea = parse_lsn(a, &x), eb = parse_lsn(b, &y);
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
