#include "bootstrap_options.h"

#include <stdlib.h>
#include <string.h>

#include "backup_options.h"
#include "clock.h"
#include "options.h"

/* The recovery_conf keys tandem takes; the targets are exclusive. */
static const char *const target_keys[] = {"recovery_target_time", "recovery_target_lsn",
                                          "recovery_target_name", "recovery_target"};
static const char *const target_types[] = {"time", "lsn", "name", "immediate"};
static const char *const other_keys[] = {"recovery_target_timeline", "recovery_target_inclusive",
                                         "recovery_target_action"};

static bool known_key(const char *k)
{
	for (size_t i = 0; i < sizeof target_keys / sizeof target_keys[0]; i++)
		if (strcmp(k, target_keys[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof other_keys / sizeof other_keys[0]; i++)
		if (strcmp(k, other_keys[i]) == 0)
			return true;
	return false;
}

static int check_lsn(const char *v, char **err)
{
	/* X/Y, hexadecimal */
	const char *slash = strchr(v, '/');
	const char *hex = "0123456789abcdefABCDEF";
	if (!slash || slash == v || !slash[1] || strspn(v, hex) != (size_t)(slash - v) ||
	    strspn(slash + 1, hex) != strlen(slash + 1) || slash - v > 8 || strlen(slash + 1) > 8) {
		err_set(err, "recovery_target_lsn '%s' is not an LSN (e.g. 0/3000060)", v);
		return -1;
	}
	return 0;
}

static int check_target(const char *type, const char *v, char **err)
{
	int64_t ms;
	if (strcmp(type, "time") == 0 && clock_parse_iso8601(v, &ms) != 0) {
		err_set(err,
		        "recovery_target_time '%s' is not an ISO 8601 time with a zone "
		        "(2030-01-01T10:00:00+00:00)",
		        v);
		return -1;
	}
	if (strcmp(type, "lsn") == 0)
		return check_lsn(v, err);
	if (strcmp(type, "immediate") == 0 && strcmp(v, "immediate") != 0) {
		err_set(err, "recovery_target '%s': PostgreSQL takes only 'immediate'", v);
		return -1;
	}
	if (strcmp(type, "name") == 0 && (!*v || strlen(v) >= 64)) {
		err_set(err, "recovery_target_name '%s': 1 to 63 characters", v);
		return -1;
	}
	return 0;
}

static int check_others(const cfg_map *rc, bootstrap_target *out, char **err)
{
	const char *action = cfg_map_get(rc, "recovery_target_action");
	if (action && strcmp(action, "promote") != 0) {
		err_set(err,
		        "recovery_target_action '%s': tandemd promotes the new cluster once "
		        "recovery reaches the target (promote only)",
		        action);
		return -1;
	}
	const char *tl = cfg_map_get(rc, "recovery_target_timeline");
	if (tl && strcmp(tl, "latest") != 0 && strcmp(tl, "current") != 0 &&
	    (!*tl || strspn(tl, "0123456789") != strlen(tl))) {
		err_set(err, "recovery_target_timeline '%s': latest, current or a number", tl);
		return -1;
	}
	out->timeline = tl ? tl : "latest";
	const char *incl = cfg_map_get(rc, "recovery_target_inclusive");
	bool b = true;
	if (incl && cfg_parse_bool(incl, &b) != 0) {
		err_set(err, "recovery_target_inclusive '%s' is not true or false", incl);
		return -1;
	}
	out->exclusive = !b;
	return 0;
}

int bootstrap_recovery_target(const cfg_map *rc, bootstrap_target *out, char **err)
{
	*out = (bootstrap_target){.type = "default", .timeline = "latest"};
	for (size_t i = 0; rc && i < rc->n; i++)
		if (!known_key(rc->keys[i])) {
			err_set(
			    err,
			    "'%s' is not a recovery setting tandem takes (recovery_target_time, "
			    "recovery_target_lsn, recovery_target_name, recovery_target, "
			    "recovery_target_timeline, recovery_target_inclusive, "
			    "recovery_target_action): pgBackRest writes restore_command itself",
			    rc->keys[i]);
			return -1;
		}
	for (size_t i = 0; i < sizeof target_keys / sizeof target_keys[0]; i++) {
		const char *v = rc ? cfg_map_get(rc, target_keys[i]) : NULL;
		if (!v)
			continue;
		if (out->target || strcmp(out->type, "immediate") == 0) {
			err_set(err, "recovery_conf names two targets: give one of %s",
			        "recovery_target_time, recovery_target_lsn, recovery_target_name, "
			        "recovery_target");
			return -1;
		}
		if (check_target(target_types[i], v, err) != 0)
			return -1;
		out->type = target_types[i];
		out->target = strcmp(out->type, "immediate") == 0 ? NULL : v;
	}
	if (!rc)
		return 0;
	return check_others(rc, out, err);
}

bool tandemd_bootstrap_from_backup(const tandemd_settings *s)
{
	return s->bootstrap_method && strcmp(s->bootstrap_method, "pgbackrest") == 0;
}

int bootstrap_check_method(const void *v, char **err)
{
	if (strcmp(v, "initdb") != 0 && strcmp(v, "pgbackrest") != 0) {
		err_set(err,
		        "'%s' is not a bootstrap method tandem has (initdb, pgbackrest); Patroni's "
		        "custom command methods are refused: tandem runs the tools itself",
		        (const char *)v);
		return -1;
	}
	return 0;
}

int bootstrap_check_recovery_conf(const void *v, char **err)
{
	bootstrap_target t;
	return bootstrap_recovery_target(v, &t, err);
}

int bootstrap_check_settings(const tandemd_settings *s, char **err)
{
	if (!tandemd_bootstrap_from_backup(s)) {
		if (s->bootstrap_pgbackrest_stanza || s->bootstrap_pgbackrest_recovery_conf.n) {
			err_set(err, "bootstrap.pgbackrest is set but bootstrap.method is not "
			             "pgbackrest");
			return -1;
		}
		return 0;
	}
	if (!tandemd_backup_on(s)) {
		err_set(err, "bootstrap.method pgbackrest restores from the repository of "
		             "backup.pgbackrest, which names none (give repo1-path)");
		return -1;
	}
	const char *from = s->bootstrap_pgbackrest_stanza;
	if (!from || !*from) {
		err_set(err, "bootstrap.method pgbackrest needs bootstrap.pgbackrest.stanza: the "
		             "stanza of the cluster restored from");
		return -1;
	}
	if (strcmp(from, tandemd_backup_stanza(s)) == 0) {
		err_set(err,
		        "bootstrap.pgbackrest.stanza '%s' is also this cluster's backup.stanza (or "
		        "scope): a cluster restored from a backup archives into its own new stanza "
		        "(two clusters writing the same timelines into one archive corrupt it)",
		        from);
		return -1;
	}
	return 0;
}
