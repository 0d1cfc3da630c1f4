/* The configuration files tandem owns, and moving a data directory aside. See pgctl.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pgconf.h"
#include "pgctl.h"
#include "strbuf.h"

#define INCLUDE_LINE "include_if_exists = 'tandem.conf'\t# added by tandem\n"

/* postgresql.conf: a quoted value takes '' (or \') for a quote and \\ for a backslash. */
char *pgctl_conf_quote(const char *value)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "'");
	for (const char *p = value; *p; p++) {
		if (*p == '\'')
			sb_puts(&sb, "''");
		else if (*p == '\\')
			sb_puts(&sb, "\\\\");
		else
			sb_append(&sb, p, 1);
	}
	sb_puts(&sb, "'");
	return sb_steal(&sb);
}

/* libpq conninfo: a quoted value takes \' and \\. */
static void conninfo_add(strbuf *sb, const char *key, const char *value)
{
	if (!value)
		return;
	if (sb->len)
		sb_puts(sb, " ");
	sb_printf(sb, "%s='", key);
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			sb_puts(sb, "\\");
		sb_append(sb, p, 1);
	}
	sb_puts(sb, "'");
}

char *pgctl_conninfo(const pgctl_upstream *u, char **err)
{
	const pgctl_ssl *t = &u->ssl;
	const char *vals[] = {u->host,
	                      u->port,
	                      u->user,
	                      u->dbname,
	                      u->passfile,
	                      u->application_name,
	                      t->sslmode,
	                      t->sslcert,
	                      t->sslkey,
	                      t->sslrootcert,
	                      t->sslcrl,
	                      t->sslcrldir,
	                      t->gssencmode,
	                      t->channel_binding,
	                      u->target_session_attrs};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		if (vals[i] && !pgconf_value_ok(vals[i])) {
			err_set(err, "pgctl: a connection parameter contains a control character");
			return NULL;
		}
	strbuf sb = STRBUF_INIT;
	conninfo_add(&sb, "host", u->host);
	conninfo_add(&sb, "port", u->port);
	conninfo_add(&sb, "user", u->user);
	conninfo_add(&sb, "dbname", u->dbname);
	conninfo_add(&sb, "passfile", u->passfile);
	conninfo_add(&sb, "application_name", u->application_name);
	conninfo_add(&sb, "sslmode", t->sslmode);
	conninfo_add(&sb, "sslcert", t->sslcert);
	conninfo_add(&sb, "sslkey", t->sslkey);
	conninfo_add(&sb, "sslrootcert", t->sslrootcert);
	conninfo_add(&sb, "sslcrl", t->sslcrl);
	conninfo_add(&sb, "sslcrldir", t->sslcrldir);
	conninfo_add(&sb, "gssencmode", t->gssencmode);
	conninfo_add(&sb, "channel_binding", t->channel_binding);
	conninfo_add(&sb, "target_session_attrs", u->target_session_attrs);
	return sb_steal(&sb);
}

static int read_small(const char *path, char **out, char **err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		err_set(err, "pgctl: open %s: %s", path, strerror(errno));
		return -1;
	}
	strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof buf, f)) > 0)
		sb_append(&sb, buf, k);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		err_set(err, "pgctl: read %s", path);
		sb_free(&sb);
		return -1;
	}
	sb_puts(&sb, "");
	*out = sb_steal(&sb);
	return 0;
}

static int ensure_include(pgctl *pc, char **err)
{
	char *path = xasprintf("%s/postgresql.conf", pgctl_data_dir_(pc));
	char *text = NULL;
	int rc = read_small(path, &text, err);
	if (rc == 0 && !strstr(text, INCLUDE_LINE)) {
		strbuf sb = STRBUF_INIT;
		sb_puts(&sb, text);
		if (sb.len && sb.data[sb.len - 1] != '\n')
			sb_puts(&sb, "\n");
		sb_puts(&sb, INCLUDE_LINE);
		rc = pgctl_write_file_(path, sb.data, sb.len, err);
		sb_free(&sb);
	}
	free(text);
	free(path);
	return rc;
}

int pgctl_write_conf(pgctl *pc, const pgctl_param *params, size_t n, const pgctl_upstream *upstream,
                     char **err)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "# Written by tandem: do not edit, changes are overwritten.\n");
	for (size_t i = 0; i < n; i++) {
		if (!pgconf_name_ok(params[i].name) || !params[i].value ||
		    !pgconf_value_ok(params[i].value)) {
			err_set(err, "pgctl: bad parameter '%s'",
			        params[i].name ? params[i].name : "");
			sb_free(&sb);
			return -1;
		}
		char *q = pgctl_conf_quote(params[i].value);
		sb_printf(&sb, "%s = %s\n", params[i].name, q);
		free(q);
	}
	if (upstream) {
		char *ci = pgctl_conninfo(upstream, err);
		if (!ci) {
			sb_free(&sb);
			return -1;
		}
		char *q = pgctl_conf_quote(ci);
		sb_printf(&sb, "primary_conninfo = %s\n", q);
		free(q);
		free(ci);
		if (upstream->slot_name) {
			if (!pgconf_name_ok(upstream->slot_name)) {
				err_set(err, "pgctl: bad slot name");
				sb_free(&sb);
				return -1;
			}
			sb_printf(&sb, "primary_slot_name = '%s'\n", upstream->slot_name);
		}
	}
	char *path = xasprintf("%s/tandem.conf", pgctl_data_dir_(pc));
	int rc = pgctl_write_file_(path, sb.data, sb.len, err);
	free(path);
	sb_free(&sb);
	if (rc == 0)
		rc = ensure_include(pc, err);
	return rc;
}

int pgctl_write_hba(pgctl *pc, const char *const *lines, size_t n, char **err)
{
	strbuf sb = STRBUF_INIT;
	sb_puts(&sb, "# Written by tandem: do not edit, changes are overwritten.\n");
	for (size_t i = 0; i < n; i++) {
		if (!lines[i] || !pgconf_value_ok(lines[i])) {
			err_set(err, "pgctl: pg_hba.conf line %zu contains a control character", i);
			sb_free(&sb);
			return -1;
		}
		sb_printf(&sb, "%s\n", lines[i]);
	}
	char *path = xasprintf("%s/pg_hba.conf", pgctl_data_dir_(pc));
	int rc = pgctl_write_file_(path, sb.data, sb.len, err);
	free(path);
	sb_free(&sb);
	return rc;
}

int pgctl_set_standby(pgctl *pc, bool standby, char **err)
{
	char *path = xasprintf("%s/standby.signal", pgctl_data_dir_(pc));
	int rc = 0;
	if (standby) {
		rc = pgctl_write_file_(path, "", 0, err);
	} else if (unlink(path) != 0 && errno != ENOENT) {
		err_set(err, "pgctl: unlink %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return rc;
}

int pgctl_move_aside(pgctl *pc, char **moved_to, char **err)
{
	if (pgctl_running(pc)) {
		err_set(err, "pgctl: cannot move the data directory aside while PostgreSQL runs");
		return -1;
	}
	time_t now = time(NULL);
	struct tm tm;
	char ts[32];
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
	char *to = xasprintf("%s.moved-aside-%s", pgctl_data_dir_(pc), ts);
	struct stat st;
	for (int i = 1; lstat(to, &st) == 0 && i < 100; i++) { /* never overwrite an earlier one */
		free(to);
		to = xasprintf("%s.moved-aside-%s-%d", pgctl_data_dir_(pc), ts, i);
	}
	if (rename(pgctl_data_dir_(pc), to) != 0) {
		err_set(err, "pgctl: rename %s to %s: %s", pgctl_data_dir_(pc), to,
		        strerror(errno));
		free(to);
		return -1;
	}
	log_info("moved %s aside to %s", pgctl_data_dir_(pc), to);
	pgctl_rewind_forget(pc); /* whatever it said was about the directory moved aside */
	if (moved_to)
		*moved_to = to;
	else
		free(to);
	return 0;
}
