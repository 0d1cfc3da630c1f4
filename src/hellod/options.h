/* hellod's settings: the one table every option comes from (see cfg.h), and the checks that span
 * several options. */
#ifndef HELLOD_OPTIONS_H
#define HELLOD_OPTIONS_H

#include <stdbool.h>

#include "cfg.h"
#include "cidr.h"

typedef struct hellod_settings {
	char *config;
	cfg_list listen;
	char *database;
	cfg_list allow;
	char *tls_cert;
	char *tls_key;
	char *timezone;
	long long request_deadline; /* ms */
	long long workers;          /* 0: one per CPU */
	long long db_pool_size;     /* per worker */
	long long max_body;
	long long max_header;
	long long idle_timeout; /* ms */
	long long max_connections;
	long long drain_timeout; /* ms */
	bool access_log;
	char *log_level;
	char *log_format; /* "plain" or "json" */
	char *read_from;  /* "primary" or "local" */
	char *read_database;
	long long read_wait;    /* ms */
	long long read_max_lag; /* bytes */
	long long read_track_users;
} hellod_settings;

/* Whether GETs go to read-database (read-from: local). */
bool hellod_reads_local(const hellod_settings *s);

extern const cfg_table hellod_options;

/* Loads and checks everything; on error *err names the source of the bad value. */
int hellod_settings_load(hellod_settings *s, int argc, char **argv, char **envp,
                         char **err) TND_MUST_CHECK;
void hellod_settings_free(hellod_settings *s);
/* The allow-list as parsed blocks (the settings were checked, so this cannot fail). */
void hellod_settings_allow(const hellod_settings *s, cidr_list *out);
/* The connection string with any password replaced by "********", for logs. */
char *hellod_redact_conninfo(const char *conninfo);

#endif
