#include "backup_options.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"
#include "options.h"
#include "tzone.h"

/* pgBackRest options tandem sets itself, from its own keys or from what it knows of the member:
 * the pass-through may not set them (the error names tandem's key). */
static const struct {
	const char *name;
	const char *instead;
} owned[] = {
    {"stanza", "backup.stanza"},
    {"config", "backup.config"},
    {"config-path", "backup.config"},
    {"config-include-path", "backup.config"},
    {"archive-async", "backup.archive_async"},
    {"spool-path", "backup.spool_path"},
    {"lock-path", "backup.spool_path"},
    {"process-max", "backup.process_max"},
    {"archive-push-queue-max", "backup.archive_push_queue_max"},
    {"backup-standby", "the backup runner (docs/backup.md)"},
    {"pg-host", "the members tandemd knows"},
    {"pg-path", "postgresql.data_dir"},
};

static bool is_pg_option(const char *k)
{
	/* pg1-path, pg2-host, ...: the PostgreSQL servers, which tandemd writes itself. */
	if (strncmp(k, "pg", 2) != 0 || !isdigit((unsigned char)k[2]))
		return false;
	const char *p = k + 2;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '-';
}

int backup_check_passthrough(const void *v, char **err)
{
	const cfg_map *m = v;
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i], *val = m->values[i];
		if (!*k || strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(k)) {
			err_set(err,
			        "'%s' is not a pgBackRest option name (lower case, digits, '-')",
			        k);
			return -1;
		}
		if (strpbrk(val, "\r\n")) {
			err_set(err, "%s: a value cannot hold a line break", k);
			return -1;
		}
		for (size_t o = 0; o < sizeof owned / sizeof owned[0]; o++)
			if (strcmp(k, owned[o].name) == 0) {
				err_set(err, "%s is set by tandemd: use %s", k, owned[o].instead);
				return -1;
			}
		if (is_pg_option(k)) {
			err_set(err,
			        "%s is set by tandemd from postgresql.* and the members it knows",
			        k);
			return -1;
		}
	}
	return 0;
}

int backup_check_methods(const void *v, char **err)
{
	const cfg_list *l = v;
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], "pgbackrest") != 0 && strcmp(l->v[i], "basebackup") != 0) {
			err_set(
			    err,
			    "'%s' is not a replica method tandem has (pgbackrest, basebackup); "
			    "Patroni's custom command methods are refused: tandem runs the tools "
			    "itself",
			    l->v[i]);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(l->v[i], l->v[k]) == 0) {
				err_set(err, "'%s' is listed twice", l->v[i]);
				return -1;
			}
	}
	return 0;
}

static int utc_offset(int64_t t, void *ud, int32_t *o)
{
	(void)t;
	(void)ud;
	*o = 0;
	return 0;
}

int backup_check_cron(const void *v, char **err)
{
	cron_spec c;
	if (cron_parse(v, &c, err) != 0)
		return -1;
	int64_t next;
	if (!c.never && cron_next(&c, 1704067200 /* 2024-01-01 */, utc_offset, NULL, &next) != 0) {
		err_set(err,
		        "'%s' never fires (a date that does not exist?); write none to turn it off",
		        (const char *)v);
		return -1;
	}
	return 0;
}

int backup_check_zone(const void *v, char **err)
{
	return tzone_check(v, err);
}

static const char *schedule_text(const tandemd_settings *s, backup_schedule_kind kind)
{
	switch (kind) {
	case BACKUP_SCHEDULE_FULL:
		return s->backup_schedule_full;
	case BACKUP_SCHEDULE_DIFF:
		return s->backup_schedule_diff;
	case BACKUP_SCHEDULE_INCR:
		return s->backup_schedule_incr;
	case BACKUP_SCHEDULE_DRILL:
		return s->backup_schedule_drill;
	}
	return NULL;
}

void tandemd_backup_schedule(const tandemd_settings *s, backup_schedule_kind kind, cron_spec *out)
{
	char *err = NULL;
	if (cron_parse(schedule_text(s, kind), out, &err) != 0) {
		free(err); /* checked at load: only settings built by hand get here */
		memset(out, 0, sizeof *out);
		out->never = true;
	}
}

int tandemd_backup_next(const tandemd_settings *s, backup_schedule_kind kind, int64_t after_s,
                        int64_t *next)
{
	cron_spec c;
	tandemd_backup_schedule(s, kind, &c);
	return tzone_cron_next(&c, after_s, s->backup_time_zone, next);
}

int tandemd_backup_last(const tandemd_settings *s, backup_schedule_kind kind, int64_t after_s,
                        int64_t until_s, int64_t *last)
{
	cron_spec c;
	tandemd_backup_schedule(s, kind, &c);
	return tzone_cron_last(&c, after_s, until_s, s->backup_time_zone, last);
}

static bool names_repo(const cfg_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const char *k = m->keys[i];
		if (strncmp(k, "repo", 4) == 0 && isdigit((unsigned char)k[4])) {
			const char *p = k + 4;
			while (isdigit((unsigned char)*p))
				p++;
			if (strcmp(p, "-path") == 0 || strcmp(p, "-type") == 0)
				return true;
		}
	}
	return false;
}

bool tandemd_backup_on(const tandemd_settings *s)
{
	return names_repo(&s->backup_pgbackrest);
}

const char *tandemd_backup_stanza(const tandemd_settings *s)
{
	return s->backup_stanza && *s->backup_stanza ? s->backup_stanza : s->scope;
}

bool tandemd_replica_method(const tandemd_settings *s, const char *method)
{
	for (size_t i = 0; i < s->create_replica_methods.n; i++)
		if (strcmp(s->create_replica_methods.v[i], method) == 0)
			return true;
	return false;
}

int backup_check_settings(const tandemd_settings *s, char **err)
{
	if (s->backup_pgbackrest.n && !tandemd_backup_on(s)) {
		err_set(err,
		        "backup.pgbackrest names no repository: give repo1-path (and repo1-type "
		        "for an object store)");
		return -1;
	}
	if (tandemd_replica_method(s, "pgbackrest") && !tandemd_backup_on(s)) {
		err_set(err,
		        "postgresql.create_replica_methods lists pgbackrest, but backup.pgbackrest "
		        "names no repository");
		return -1;
	}
	const char *st = tandemd_backup_stanza(s);
	if (st && strspn(st, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
	              strlen(st)) {
		err_set(
		    err,
		    "backup.stanza (or the scope it defaults to) '%s' is not a pgBackRest stanza "
		    "name: letters, digits, '-', '_' and '.' only",
		    st);
		return -1;
	}
	return backup_check_tls_settings(s, err);
}
