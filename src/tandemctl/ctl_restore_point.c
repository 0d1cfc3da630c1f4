/* tandemctl restore-point NAME: a named restore point on the leader (pg_create_restore_point),
 * then a WAL switch so that the segment holding it is archived at once; waits (up to --timeout)
 * until PostgreSQL's archiver reports that segment archived, and prints the point's LSN. A later
 * `tandemctl restore --to NAME` recovers to it.
 *
 * tandemctl connects to the leader's PostgreSQL itself (its conn_url in the DCS) as the superuser
 * of the configuration file (-c), or with libpq's defaults (PGUSER, PGPASSWORD, ~/.pgpass). */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl_commands.h"
#include "ctl_table.h"
#include "options.h"

void ctl_file_credentials(const ctl_opts *o, char **user, char **password)
{
	*user = *password = NULL;
	if (!o->conn.config)
		return;
	const char *argv[] = {"tandemctl", o->conn.config,          "--name",
	                      "tandemctl", "--postgresql.data_dir", "/nonexistent",
	                      NULL};
	tandemd_settings s;
	char *err = NULL;
	if (tandemd_settings_load(&s, 6, (char **)argv, NULL, &err) == 0) {
		*user = s.superuser_username ? xstrdup(s.superuser_username) : NULL;
		*password = s.superuser_password ? xstrdup(s.superuser_password) : NULL;
	}
	free(err);
	tandemd_settings_free(&s);
}

PGconn *ctl_connect_pg(const ctl_opts *o, const dcs_member *m)
{
	char *user, *password;
	ctl_file_credentials(o, &user, &password);
	char timeout[32];
	snprintf(timeout, sizeof timeout, "%ld", (o->timeout_ms + 999) / 1000);
	const char *keys[] = {"dbname",           "user", "password", "connect_timeout",
	                      "application_name", NULL};
	const char *vals[] = {m->conn_url, user, password, timeout, "tandemctl", NULL};
	/* NULL values are skipped by libpq: shift the ones given together. */
	const char *k[6], *v[6];
	size_t n = 0;
	for (size_t i = 0; keys[i]; i++)
		if (vals[i]) {
			k[n] = keys[i];
			v[n++] = vals[i];
		}
	k[n] = v[n] = NULL;
	PGconn *pg = PQconnectdbParams(k, v, 1);
	free(user);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	return pg;
}

static PGresult *exec1(PGconn *pg, const char *sql, const char *param)
{
	const char *params[] = {param};
	return PQexecParams(pg, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
}

/* Waits until the archiver has archived `segment` (or later); false on the deadline. */
static bool wait_archived(PGconn *pg, const char *segment, long timeout_ms)
{
	uint64_t until = clock_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		PGresult *r = exec1(pg,
		                    "SELECT coalesce(last_archived_wal >= $1, false) FROM "
		                    "pg_stat_archiver",
		                    segment);
		bool done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		            strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		if (done)
			return true;
		if (clock_mono_ms() >= until)
			return false;
		nanosleep(&(struct timespec){0, 200000000}, NULL);
	}
}

static int create_point(const ctl_opts *o, const dcs_member *m, const char *name)
{
	PGconn *pg = ctl_connect_pg(o, m);
	if (PQstatus(pg) != CONNECTION_OK) {
		ctl_printf(stderr, "tandemctl: cannot connect to the leader %s (%s): %s", m->name,
		           m->conn_url, PQerrorMessage(pg));
		PQfinish(pg);
		return CTL_EXIT_UNREACHABLE;
	}
	PGresult *r = exec1(pg,
	                    "SELECT lsn::text, pg_walfile_name(pg_switch_wal()) FROM "
	                    "pg_create_restore_point($1) AS lsn",
	                    name);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		ctl_printf(stderr, "tandemctl: restore point '%s' on %s: %s", name, m->name,
		           PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(pg);
		return CTL_EXIT_FAILED;
	}
	char *lsn = xstrdup(PQgetvalue(r, 0, 0)), *segment = xstrdup(PQgetvalue(r, 0, 1));
	PQclear(r);
	bool archived = wait_archived(pg, segment, o->timeout_ms);
	PQfinish(pg);
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "name", name, "lsn", lsn,
		                      "member", m->name, "segment", segment, "archived", archived);
		ctl_print_json(j);
	} else
		ctl_printf(stdout, "restore point '%s' at LSN %s on %s (WAL segment %s %s)\n", name,
		           lsn, m->name, segment, archived ? "archived" : "not archived yet");
	if (!archived)
		ctl_printf(stderr,
		           "tandemctl: segment %s was not archived within the timeout: check "
		           "archive_command and pg_stat_archiver on %s\n",
		           segment, m->name);
	free(lsn);
	free(segment);
	return archived ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

int ctl_cmd_restore_point(const ctl_opts *o)
{
	if (o->nargs != 1 || !*o->args[0] || strlen(o->args[0]) >= 64) {
		ctl_printf(stderr, "tandemctl: restore-point takes one NAME (1 to 63 characters)\n"
		                   "usage: tandemctl restore-point NAME\n");
		return CTL_EXIT_USAGE;
	}
	ctl_conn conn;
	dcs_view v;
	int rc = ctl_open(o, &conn, &v);
	if (rc != CTL_EXIT_OK)
		return rc;
	const dcs_member *m = v.leader ? dcs_view_member(&v, v.leader) : NULL;
	if (!m || !m->conn_url) {
		ctl_printf(stderr, "tandemctl: cluster '%s' has no leader (with a conn_url) now\n",
		           conn.scope);
		rc = CTL_EXIT_FAILED;
	} else
		rc = create_point(o, m, o->args[0]);
	dcs_view_free(&v);
	ctl_conn_free(&conn);
	return rc;
}
