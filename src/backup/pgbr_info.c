#include "pgbr_info.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		json_t *status = json_object_get(st, "status");
		json_t *code = json_object_get(status, "code");
		if (!json_is_integer(code)) {
			err_set(err, "pgbackrest info: stanza %s has no status code", stanza);
			json_decref(root);
			pgbr_info_free(out);
			return -1;
		}
		out->found = true;
		out->status = (int)json_integer_value(code);
		out->message = dup_or_null(json_string_value(json_object_get(status, "message")));
		/* The current database is the last of "db" (stanza-upgrade appends). */
		json_t *db = json_object_get(st, "db");
		json_t *cur = json_is_array(db) && json_array_size(db)
		                  ? json_array_get(db, json_array_size(db) - 1)
		                  : NULL;
		json_t *sid = json_object_get(cur, "system-id");
		if (json_is_integer(sid))
			out->system_id =
			    xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(sid));
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
	free(i->system_id);
	memset(i, 0, sizeof *i);
}

bool pgbr_info_exists(const pgbr_info *i)
{
	return i->found && i->status != 1;
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

int pgbr_lsn_parse(const char *s, uint64_t *out)
{
	unsigned hi, lo;
	char tail;
	if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &tail) != 2)
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

char *pgbr_info_backup_before(const char *json, const char *stanza, uint64_t lsn)
{
	json_t *root = json_loads(json ? json : "", 0, NULL);
	char *label = NULL;
	uint64_t best = 0;
	for (size_t i = 0; json_is_array(root) && i < json_array_size(root); i++) {
		json_t *st = json_array_get(root, i);
		const char *name = json_string_value(json_object_get(st, "name"));
		json_t *backups = json_object_get(st, "backup");
		if (!name || strcmp(name, stanza) != 0)
			continue;
		for (size_t j = 0; json_is_array(backups) && j < json_array_size(backups); j++) {
			json_t *b = json_array_get(backups, j);
			const char *l = json_string_value(json_object_get(b, "label"));
			uint64_t stop;
			if (!l ||
			    pgbr_lsn_parse(json_string_value(
			                       json_object_get(json_object_get(b, "lsn"), "stop")),
			                   &stop) != 0 ||
			    stop >= lsn || (label && stop < best))
				continue;
			free(label);
			label = xstrdup(l);
			best = stop;
		}
	}
	json_decref(root);
	return label;
}
