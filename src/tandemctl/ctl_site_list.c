/* tandemctl list, for two sites: the site's role, and how far a standby site is behind the
 * primary site; and a standby leader's replay position over SQL for site-switchover (ctl_site.c
 * has the site operations). */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "ctl_commands.h"
#include "ctl_table.h"
#include "pgbr_info.h"
#include "strbuf.h"

/* ---- tandemctl list: the site's role, and a standby site's distance ---- */

/* pg_current_wal_lsn() of the primary site (its hosts, the read-write one), as the file's
 * superuser (or libpq's password file); false with *why (caller frees) when it does not answer
 * within 3 s. */
static bool primary_site_lsn(const ctl_opts *o, const dcs_standby *sb, uint64_t *lsn, char **why)
{
	if (!sb->valid || !sb->host) {
		*why = xstrdup("standby_cluster names no host");
		return false;
	}
	char *user, *password;
	ctl_file_credentials(o, &user, &password);
	const char *keys[] = {"host",
	                      "port",
	                      "user",
	                      "password",
	                      "dbname",
	                      "connect_timeout",
	                      "target_session_attrs",
	                      "application_name",
	                      NULL};
	const char *vals[] = {sb->host,     sb->port ? sb->port : "5432",
	                      user,         password,
	                      "postgres",   "3",
	                      "read-write", "tandemctl",
	                      NULL};
	const char *k[9], *vv[9];
	size_t n = 0;
	for (size_t i = 0; keys[i]; i++)
		if (vals[i]) {
			k[n] = keys[i];
			vv[n++] = vals[i];
		}
	k[n] = vv[n] = NULL;
	PGconn *pg = PQconnectdbParams(k, vv, 0);
	free(user);
	if (password) {
		memset(password, 0, strlen(password));
		free(password);
	}
	bool ok = false;
	if (PQstatus(pg) == CONNECTION_OK) {
		PGresult *r = PQexec(pg, "SELECT pg_current_wal_lsn()::text");
		ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
		     pgbr_lsn_parse(PQgetvalue(r, 0, 0), lsn) == 0;
		PQclear(r);
	}
	if (!ok) {
		/* libpq's last line says why (no password, refused, a timeout). */
		const char *m = PQerrorMessage(pg);
		size_t len = strlen(m);
		while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
			len--;
		const char *last = m + len;
		while (last > m && last[-1] != '\n')
			last--;
		*why = len ? xstrndup(last, (size_t)(m + len - last)) : xstrdup("no answer");
	}
	PQfinish(pg);
	return ok;
}

char *ctl_site_line(const ctl_opts *o, const dcs_view *v, json_t *json)
{
	bool standby = v->has_config && v->config.standby.present;
	json_t *sj = json_object();
	json_object_set_new(sj, "role", json_string(standby ? "standby" : "primary"));
	if (!standby) {
		json_object_set_new(json, "site", sj);
		return NULL;
	}
	const dcs_standby *sb = &v->config.standby;
	json_object_set_new(sj, "source_host", sb->host ? json_string(sb->host) : json_null());
	json_object_set_new(sj, "source_port", sb->port ? json_string(sb->port) : json_null());
	const dcs_member *lm = v->leader ? dcs_view_member(v, v->leader) : NULL;
	strbuf line = STRBUF_INIT;
	sb_printf(&line, " Site: a standby site, replicating from %s (port %s)",
	          sb->host ? sb->host : "(no host)", sb->port ? sb->port : "5432");
	uint64_t a_lsn = 0;
	if (lm && lm->has_lsn) {
		char *r = ctl_lsn_text(lm->xlog_location);
		sb_printf(&line, "; its standby leader has replayed %s", r);
		free(r);
		json_object_set_new(sj, "replayed_lsn",
		                    json_integer((json_int_t)lm->xlog_location));
		char *why = NULL;
		if (primary_site_lsn(o, sb, &a_lsn, &why)) {
			uint64_t behind = a_lsn > lm->xlog_location ? a_lsn - lm->xlog_location : 0;
			sb_printf(&line, ", %llu bytes behind the primary site",
			          (unsigned long long)behind);
			json_object_set_new(sj, "behind_bytes", json_integer((json_int_t)behind));
		} else {
			sb_printf(
			    &line,
			    " (the primary site does not answer: %s; how far behind is unknown)",
			    why);
		}
		free(why);
		if (lm->has_replay_lag) {
			sb_printf(&line, ", %.1f s behind its last activity",
			          (double)lm->replay_lag_ms / 1000.0);
			json_object_set_new(sj, "behind_s",
			                    json_real((double)lm->replay_lag_ms / 1000.0));
		}
	}
	if (!sb->valid)
		sb_puts(&line, "; standby_cluster cannot be used: no source");
	sb_puts(&line, "\n");
	json_object_set_new(json, "site", sj);
	return sb_steal(&line);
}

/* ---- site-switchover: the target's replay position, polled over SQL ---- */

bool ctl_site_replay(const char *conn_url, const char *file, struct pg_conn **pg, uint64_t *lsn,
                     int64_t *timeline)
{
	if (!*pg && conn_url) {
		char *host = NULL, *port = NULL, *user, *password;
		if (addr_url_host_port(conn_url, 5432, &host, &port, NULL) != 0)
			return false;
		ctl_opts fo = {.conn = {.config = file}};
		ctl_file_credentials(&fo, &user, &password);
		const char *k[8] = {
		    "host", "port", "user", "dbname", "connect_timeout", "application_name"};
		const char *v[8] = {host,       port, user ? user : "postgres",
		                    "postgres", "2",  "tandemctl"};
		size_t n = 6;
		if (password) {
			k[n] = "password";
			v[n++] = password;
		}
		k[n] = v[n] = NULL;
		*pg = PQconnectdbParams(k, v, 0);
		free(host);
		free(port);
		free(user);
		if (password) {
			memset(password, 0, strlen(password));
			free(password);
		}
	}
	if (!*pg || PQstatus(*pg) != CONNECTION_OK) {
		ctl_site_replay_close(pg);
		return false;
	}
	PGresult *r = PQexec(*pg, "SELECT pg_last_wal_replay_lsn()::text, coalesce((SELECT "
	                          "nullif(received_tli, 0) FROM pg_stat_wal_receiver), (SELECT "
	                          "timeline_id FROM pg_control_checkpoint()))");
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	          !PQgetisnull(r, 0, 0) && !PQgetisnull(r, 0, 1) &&
	          pgbr_lsn_parse(PQgetvalue(r, 0, 0), lsn) == 0;
	if (ok)
		*timeline = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);
	return ok;
}

void ctl_site_replay_close(struct pg_conn **pg)
{
	PQfinish(*pg);
	*pg = NULL;
}

/* ---- site-switchover: member names unique across the sites ---- */

char *ctl_site_shared_names(const dcs_view *a, const dcs_view *b)
{
	strbuf names = STRBUF_INIT;
	for (size_t i = 0; i < a->nmembers; i++)
		if (dcs_view_member(b, a->members[i].name))
			sb_printf(&names, "%s%s", names.len ? ", " : "", a->members[i].name);
	return names.len ? sb_steal(&names) : NULL;
}
