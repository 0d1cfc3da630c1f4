#include "drill.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

const char drill_count_sql[] =
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
    "SELECT coalesce(json_object_agg(format('%I.%I', n.nspname, c.relname), "
    "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I', "
    "n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}'::json)::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'; "
    "COMMIT";

const char drill_databases_sql[] =
    "SELECT coalesce(json_agg(datname ORDER BY datname), '[]'::json)::text FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate";

const char drill_archived_sql[] = "SELECT last_archived_wal FROM pg_stat_archiver";

bool drill_id_ok(const char *id)
{
	return id && strlen(id) == DRILL_ID_LEN && strspn(id, "0123456789abcdef") == DRILL_ID_LEN;
}

char *drill_target(const char *id)
{
	return xasprintf("tandem-drill-%s", id);
}

char *drill_marker_sql(const char *id, const char *member)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "CREATE SCHEMA IF NOT EXISTS tandem; "
	             "CREATE TABLE IF NOT EXISTS tandem.drill (id text PRIMARY KEY, "
	             "member text NOT NULL, at timestamptz NOT NULL DEFAULT now()); "
	             "DELETE FROM tandem.drill WHERE at < now() - interval '30 days'; "
	             "INSERT INTO tandem.drill (id, member) VALUES (");
	sb_sql_literal(&sb, id);
	sb_puts(&sb, ", ");
	sb_sql_literal(&sb, member);
	sb_puts(&sb, ") RETURNING id");
	return sb_steal(&sb);
}

char *drill_marker_check_sql(const char *id)
{
	return xasprintf("SELECT count(*) FROM tandem.drill WHERE id = '%s'", id);
}

char *drill_restore_point_sql(const char *id)
{
	return xasprintf("SELECT lsn::text, pg_walfile_name(lsn) "
	                 "FROM pg_create_restore_point('tandem-drill-%s') AS lsn",
	                 id);
}

static bool segment_name(const char *s)
{
	return s && strlen(s) == 24 && strspn(s, "0123456789ABCDEF") == 24;
}

bool drill_archived_past(const char *archived, const char *segment)
{
	return segment_name(archived) && segment_name(segment) && strcmp(archived, segment) >= 0;
}

int drill_counts_add(drill_counts *c, const char *db, const char *json, char **err)
{
	json_t *j = json_loads(json ? json : "", 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(err, "database %s: the row counts are not a JSON object", db);
		return -1;
	}
	size_t add = json_object_size(j);
	c->names = xrealloc(c->names, (c->n + add) * sizeof *c->names);
	c->rows = xrealloc(c->rows, (c->n + add) * sizeof *c->rows);
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		if (!json_is_integer(v)) {
			err_set(err, "database %s: the count of %s is not an integer", db, k);
			json_decref(j);
			return -1;
		}
		c->names[c->n] = xasprintf("%s: %s", db, k);
		c->rows[c->n] = (long long)json_integer_value(v);
		c->n++;
	}
	json_decref(j);
	return 0;
}

void drill_counts_free(drill_counts *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
	free(c->rows);
	memset(c, 0, sizeof *c);
}

static bool find(const drill_counts *c, const char *name, long long *rows)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], name) == 0) {
			*rows = c->rows[i];
			return true;
		}
	return false;
}

enum { DRILL_SHOWN = 5 };

void drill_compare(const drill_counts *before, const drill_counts *after, const drill_counts *copy,
                   drill_verdict *out)
{
	memset(out, 0, sizeof *out);
	strbuf why = STRBUF_INIT;
	size_t bad = 0;
	for (size_t i = 0; i < before->n; i++) {
		const char *name = before->names[i];
		long long b = before->rows[i], a, got;
		if (!find(after, name, &a))
			a = -1; /* dropped across the restore point: busy, its copy is not checked
			         */
		out->tables++;
		bool busy = a != b;
		out->busy += busy;
		if (a < 0)
			continue;
		long long lo = b < a ? b : a, hi = b < a ? a : b;
		bool have = find(copy, name, &got);
		if (have && got >= lo && got <= hi)
			continue;
		if (bad++ < DRILL_SHOWN) {
			sb_puts(&why, bad > 1 ? "; " : "");
			if (!have)
				sb_printf(&why, "%s is missing from the restored copy", name);
			else if (busy)
				sb_printf(&why,
				          "%s has %lld rows restored, the leader %lld to %lld",
				          name, got, lo, hi);
			else
				sb_printf(&why, "%s has %lld rows restored, the leader %lld", name,
				          got, b);
		}
	}
	out->ok = bad == 0;
	if (bad > DRILL_SHOWN)
		sb_printf(&why, "; and %zu more", bad - DRILL_SHOWN);
	out->why = bad ? sb_steal(&why) : (sb_free(&why), NULL);
}
