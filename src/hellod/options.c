#include "options.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "pgpool.h"
#include "strbuf.h"

static int check_listen(const void *v, char **err)
{
	const cfg_list *l = v;
	if (l->n == 0) {
		err_set(err, "at least one address:port is needed");
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		if (listener_parse(l->v[i], &ss, &len, err) < 0)
			return -1;
	}
	return 0;
}

static int check_allow(const void *v, char **err)
{
	const cfg_list *l = v;
	if (l->n == 0) {
		err_set(err, "the allow-list is empty; nobody could be served");
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		cidr c;
		if (cidr_parse(l->v[i], &c, err) < 0)
			return -1;
	}
	return 0;
}

static int check_database(const void *v, char **err)
{
	return pgpool_check_conninfo(v, err);
}

static int check_timezone(const void *v, char **err)
{
	const char *tz = v;
	if (strcmp(tz, "UTC") == 0)
		return 0;
	bool sane = *tz && *tz != '/' && !strstr(tz, "..");
	char *path = xasprintf("/usr/share/zoneinfo/%s", tz);
	bool found = false;
	/* A zone is a regular file in TZif format; directories and the tables beside the zones
	 * (zone.tab, iso3166.tab) are not, and glibc would silently fall back to UTC for them. */
	FILE *f = sane ? fopen(path, "rb") : NULL;
	if (f) {
		char magic[4];
		struct stat st;
		found = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
		        fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
		fclose(f);
	}
	free(path);
	if (!found) {
		err_set(err,
		        "'%s' is not a time zone known to this system (e.g. UTC, Europe/Paris)",
		        tz);
		return -1;
	}
	return 0;
}

static int check_log_level(const void *v, char **err)
{
	log_level l;
	if (log_level_parse(v, &l) < 0) {
		err_set(err, "'%s' is not one of debug, info, warning, error", (const char *)v);
		return -1;
	}
	return 0;
}

static int check_log_format(const void *v, char **err)
{
	if (strcmp(v, "plain") != 0 && strcmp(v, "json") != 0) {
		err_set(err, "'%s' is not one of plain, json", (const char *)v);
		return -1;
	}
	return 0;
}

static int check_read_from(const void *v, char **err)
{
	if (strcmp(v, "primary") != 0 && strcmp(v, "local") != 0) {
		err_set(err, "'%s' is not one of primary, local", (const char *)v);
		return -1;
	}
	return 0;
}

bool hellod_reads_local(const hellod_settings *s)
{
	return s->read_from && strcmp(s->read_from, "local") == 0;
}

#define OPT(field) offsetof(hellod_settings, field)

static const cfg_option options[] = {
    {"config", CFG_STRING, NULL, 0, 0, false, OPT(config), "FILE",
     "YAML file with any of these options as keys", NULL},
    {"listen", CFG_LIST, "127.0.0.1:8080", 0, 0, false, OPT(listen), "ADDR:PORT,...",
     "where to accept HTTP: IPv4 a.b.c.d:port or IPv6 [addr]:port; repeat or comma-separate",
     check_listen},
    {"database", CFG_STRING, "", 0, 0, true, OPT(database), "CONNINFO",
     "libpq connection string or URI (multi-host allowed); writes need a primary, so "
     "target_session_attrs=read-write is added unless set; empty: libpq's PG* environment",
     check_database},
    {"allow", CFG_LIST, "127.0.0.0/8,::1/128", 0, 0, true, OPT(allow), "CIDR,...",
     "client addresses that are served (IPv4 and IPv6 CIDR blocks); others are refused",
     check_allow},
    {"tls-cert", CFG_STRING, NULL, 0, 0, false, OPT(tls_cert), "FILE",
     "PEM certificate (chain); with --tls-key, serve HTTPS instead of HTTP", NULL},
    {"tls-key", CFG_STRING, NULL, 0, 0, false, OPT(tls_key), "FILE", "PEM private key", NULL},
    {"timezone", CFG_STRING, "UTC", 0, 0, false, OPT(timezone), "ZONE",
     "time zone that decides what 'today' is for birthdays", check_timezone},
    {"request-deadline", CFG_DURATION, "10s", 100, 600000, true, OPT(request_deadline), "DURATION",
     "how long a request may wait for the database (retrying across failovers) before a 503", NULL},
    {"workers", CFG_INT, "0", 0, 64, false, OPT(workers), "N",
     "worker threads, each with its own event loop and connections; 0: one per CPU", NULL},
    {"db-pool-size", CFG_INT, "4", 1, 64, false, OPT(db_pool_size), "N",
     "database connections per worker (each carries many pipelined queries)", NULL},
    {"max-body", CFG_SIZE, "4k", 64, 1048576, false, OPT(max_body), "SIZE",
     "largest request body accepted; larger ones get 413", NULL},
    {"max-header", CFG_SIZE, "16k", 2048, 1048576, false, OPT(max_header), "SIZE",
     "memory for one request's line and headers; larger requests are refused", NULL},
    {"idle-timeout", CFG_DURATION, "30s", 1000, 3600000, false, OPT(idle_timeout), "DURATION",
     "close a connection that sends nothing for this long (slow clients too)", NULL},
    {"max-connections", CFG_INT, "4096", 1, 1000000, false, OPT(max_connections), "N",
     "concurrent client connections per worker", NULL},
    {"drain-timeout", CFG_DURATION, "30s", 0, 3600000, true, OPT(drain_timeout), "DURATION",
     "on SIGTERM or upgrade, how long to wait for clients to finish before closing", NULL},
    {"access-log", CFG_BOOL, "false", 0, 0, true, OPT(access_log), "BOOL",
     "log one line per request", NULL},
    {"log-level", CFG_STRING, "info", 0, 0, true, OPT(log_level), "LEVEL",
     "debug, info, warning or error", check_log_level},
    {"log-format", CFG_STRING, "plain", 0, 0, true, OPT(log_format), "FORMAT",
     "plain: 'TIME LEVEL [CONTEXT] MESSAGE' lines; json: one JSON object per line (time, "
     "level, context, worker, message)",
     check_log_format},
    {"read-from", CFG_STRING, "primary", 0, 0, false, OPT(read_from), "WHERE",
     "where GETs are answered: primary (through database), or local (read-database, the "
     "site's replicas, with read-your-writes)",
     check_read_from},
    {"read-database", CFG_STRING, "", 0, 0, true, OPT(read_database), "CONNINFO",
     "with read-from local: libpq connection string of the site's replicas (members, or "
     "HAProxy's read-only port); target_session_attrs=prefer-standby is added unless set",
     check_database},
    {"read-wait", CFG_DURATION, "50ms", 0, 10000, true, OPT(read_wait), "DURATION",
     "how long a GET waits for the replica to replay the position it must see before it goes "
     "to the primary",
     NULL},
    {"read-max-lag", CFG_SIZE, "16M", 0, 1099511627776LL, true, OPT(read_max_lag), "SIZE",
     "a replica further behind the primary's latest known position is not read from", NULL},
    {"read-track-users", CFG_INT, "65536", 1, 16777216, false, OPT(read_track_users), "N",
     "users whose last write position this instance remembers (16 bytes each); beyond, reads "
     "wait for the latest forgotten position",
     NULL},
};

const cfg_table hellod_options = {
    .options = options,
    .n = sizeof options / sizeof options[0],
    .env_prefix = "HELLOD",
    .config_flag = "config",
};

static int check_readable(const char *what, const char *path, char **err)
{
	if (access(path, R_OK) != 0) {
		err_set(err, "%s: cannot read '%s'", what, path);
		return -1;
	}
	return 0;
}

int hellod_settings_load(hellod_settings *s, int argc, char **argv, char **envp, char **err)
{
	memset(s, 0, sizeof *s);
	if (cfg_load(&hellod_options, s, argc, argv, envp, err) < 0)
		return -1;
	if ((s->tls_cert == NULL) != (s->tls_key == NULL)) {
		err_set(err, "tls-cert and tls-key go together: give both or neither");
		return -1;
	}
	if (hellod_reads_local(s) && !*s->read_database) {
		err_set(err, "read-from local needs read-database (the site's replicas)");
		return -1;
	}
	if (s->tls_cert && (check_readable("tls-cert", s->tls_cert, err) < 0 ||
	                    check_readable("tls-key", s->tls_key, err) < 0))
		return -1;
	return 0;
}

void hellod_settings_free(hellod_settings *s)
{
	cfg_free(&hellod_options, s);
}

void hellod_settings_allow(const hellod_settings *s, cidr_list *out)
{
	out->n = 0;
	out->items = NULL;
	for (size_t i = 0; i < s->allow.n; i++)
		if (cidr_list_add(out, s->allow.v[i], NULL) < 0)
			log_error("allow: '%s' is not a CIDR block (it passed the check)",
			          s->allow.v[i]);
}

char *hellod_redact_conninfo(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	if (!opts)
		return xstrdup("(invalid)");
	strbuf sb = STRBUF_INIT;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		bool secret =
		    strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0;
		sb_printf(&sb, "%s%s=%s", sb.len ? " " : "", o->keyword,
		          secret ? "********" : o->val);
	}
	PQconninfoFree(opts);
	return sb_steal(&sb);
}
