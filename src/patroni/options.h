/* tandemd's settings: Patroni's YAML configuration (the same keys and meanings, so that a
 * patroni.yml for etcd3 can be used as it is), described once in a cfg table (see cfg.h), with
 * the checks that span several options. Keys Patroni has and tandem does not support yet are
 * refused by name; Patroni's environment variables (PATRONI_SCOPE, ...) are read besides
 * tandemd's own (TANDEMD_SCOPE, ...), which win when both are set. */
#ifndef PATRONI_OPTIONS_H
#define PATRONI_OPTIONS_H

#include <stdbool.h>

#include "cfg.h"
#include "log.h"

/* etcd's port when an etcd host leaves it out. */
enum { TANDEMD_ETCD_PORT = 2379 };

/* Patroni's postgresql.authentication.<role>.ssl* and friends: libpq parameters of the
 * connections made as that role to another member (replication, pg_basebackup, pg_rewind). */
typedef struct tandemd_pg_ssl {
	char *sslmode, *sslcert, *sslkey, *sslrootcert, *sslcrl, *sslcrldir, *gssencmode,
	    *channel_binding;
} tandemd_pg_ssl;

typedef struct tandemd_settings {
	char *config;
	char *scope;
	char *dcs_namespace; /* "namespace" */
	char *name;

	char *restapi_listen;
	char *restapi_connect_address;
	char *restapi_username;
	char *restapi_password;
	/* tandem's opt-in: the changing endpoints may be open (no authentication) on a REST API
	 * that listens beyond loopback. */
	bool restapi_allow_unauthenticated_changes;
	cfg_list restapi_allowlist;             /* CIDR blocks or addresses; empty: every peer */
	bool restapi_allowlist_include_members; /* the members' api_url hosts are listed too */
	bool restapi_allowlist_all; /* the allowlist guards every endpoint, health checks too */
	/* TLS (Patroni's keys): certfile and keyfile together turn it on; cafile is the CA that
	 * client certificates (verify_client) and, without ctl.cacert, the other members'
	 * certificates are checked against. */
	char *restapi_certfile;
	char *restapi_keyfile;
	char *restapi_keyfile_password; /* the key file is encrypted (PKCS#8) with it */
	char *restapi_cafile;
	char *restapi_verify_client; /* "none", "optional" or "required" */

	/* Patroni's ctl section: how tandemctl (and tandemd, calling the other members) reach the
	 * REST APIs over https. Each falls back to its restapi counterpart (tandem_rest_client). */
	char *ctl_cacert;
	char *ctl_certfile;
	char *ctl_keyfile;
	char *ctl_keyfile_password;
	bool ctl_insecure;

	char *etcd3_host;
	cfg_list etcd3_hosts;
	char *etcd3_protocol;
	char *etcd3_username;
	char *etcd3_password;
	char *etcd3_cacert;
	char *etcd3_cert;
	char *etcd3_key;
	/* Derived when loading: etcd3.hosts, or else etcd3.host, as base URLs in etcd3.protocol
	 * ("http://[::1]:2379"), NULL-terminated, as many as were given. */
	char **etcd3_endpoints;
	size_t etcd3_nendpoints;

	/* bootstrap.dcs: written to the DCS when the cluster is initialised */
	long long ttl;                     /* ms */
	long long loop_wait;               /* ms */
	long long retry_timeout;           /* ms */
	long long maximum_lag_on_failover; /* bytes */
	bool synchronous_mode;
	bool synchronous_mode_strict;
	bool failsafe_mode;
	long long synchronous_node_count;
	bool use_pg_rewind;
	bool use_slots;
	cfg_map bootstrap_parameters;
	/* bootstrap.dcs.standby_cluster: this cluster is born a standby cluster of another site */
	char *standby_host, *standby_port, *standby_primary_slot_name, *standby_restore_command,
	    *standby_recovery_min_apply_delay;
	cfg_list initdb; /* "data-checksums", "encoding=UTF8" */
	/* bootstrap.method (bootstrap_options.h) */
	char *bootstrap_method; /* "initdb" or "pgbackrest" */
	char *bootstrap_pgbackrest_stanza;
	cfg_map bootstrap_pgbackrest_recovery_conf;
	bool bootstrap_pgbackrest_keep_existing_recovery_conf;
	char *bootstrap_pgbackrest_command; /* accepted, not run */

	char *pg_listen;
	char *pg_connect_address;
	char *data_dir;
	char *bin_dir;
	char *pgpass;
	char *superuser_username;
	char *superuser_password;
	char *replication_username;
	char *replication_password;
	char *rewind_username;
	char *rewind_password;
	tandemd_pg_ssl superuser_ssl, replication_ssl, rewind_ssl;
	/* Patroni's; accepted and mapped to tandem's move-aside (never delete), with a warning:
	 * "true", "false" or NULL (not set). */
	char *remove_data_directory_on_rewind_failure;
	char *remove_data_directory_on_diverged_timelines;
	cfg_map parameters;
	cfg_list pg_hba;

	char *watchdog_mode; /* "off", "automatic" or "required" */
	char *watchdog_device;
	long long watchdog_safety_margin; /* seconds; -1: half the ttl */

	cfg_map tags;
	char *log_level;
	char *log_dir;           /* NULL: standard error */
	long long log_file_num;  /* rotated files kept beside the current one */
	long long log_file_size; /* bytes; the file is rotated before it passes this */
	/* Patroni's log keys that have no meaning for tandem: accepted, warned about once. */
	cfg_list log_format;
	char *log_dateformat, *log_traceback_level, *log_max_queue_size, *log_type;
	cfg_map log_loggers;

	/* backup: pgBackRest (backup_options.h, docs/backup.md) */
	cfg_map backup_pgbackrest; /* pgBackRest's options, passed through */
	char *backup_stanza;
	char *backup_command;
	char *backup_config;
	long long backup_archive_timeout; /* ms */
	bool backup_archive_async;
	char *backup_spool_path;
	long long backup_archive_push_queue_max; /* bytes */
	long long backup_process_max;
	long long backup_retention_full;
	char *backup_schedule_full, *backup_schedule_diff, *backup_schedule_incr; /* cron */
	char *backup_schedule_drill;                                              /* cron */
	char *backup_time_zone; /* IANA name; NULL: the system's local zone */
	bool backup_from_standby;
	long long backup_timeout;       /* ms */
	char *backup_drill_path;        /* restore drills' scratch directory */
	long long backup_drill_timeout; /* ms */

	/* backup from a standby on another host: pgBackRest's TLS server (docs/backup.md) */
	char *backup_tls_server_address; /* HOST:PORT it listens on; NULL: no server */
	char *backup_tls_server_cert_file, *backup_tls_server_key_file, *backup_tls_server_ca_file;
	cfg_list backup_tls_server_auth; /* client certificate CNs allowed */
	char *backup_tls_server_host;    /* the DNS name others reach it by */
	char *backup_tls_client_cert_file, *backup_tls_client_key_file, *backup_tls_client_ca_file;

	cfg_list create_replica_methods; /* "pgbackrest", "basebackup" */
	bool pgbackrest_keep_data, pgbackrest_no_leader, pgbackrest_no_params;
	char *pgbackrest_method_command; /* accepted, not run */

	/* pgbouncer: the site's PgBouncers around a switchover (pooler_options.h) */
	cfg_list pgbouncer_admin;          /* libpq connection strings of their admin consoles */
	char *pgbouncer_route;             /* how they reach the primary */
	long long pgbouncer_pause_timeout; /* ms */

	/* kubernetes: the Pod's role label (options_kubernetes.h, docs/deploy-kubernetes.md) */
	char *k8s_role_label, *k8s_leader_value, *k8s_follower_value, *k8s_standby_leader_value;
	char *k8s_namespace, *k8s_pod_name, *k8s_cacert, *k8s_token_file;
} tandemd_settings;

extern const cfg_table tandemd_options;

/* How a client of the members' REST APIs presents itself and checks them: ctl.cacert, else
 * restapi.cafile (NULL: the system's CAs); ctl.certfile, ctl.keyfile and ctl.keyfile_password,
 * else restapi's own (NULL: no client certificate); ctl.insecure. Pointers into `s`. */
typedef struct tandem_rest_client {
	const char *cacert;
	const char *certfile;
	const char *keyfile;
	const char *keyfile_password; /* NULL: the key is not encrypted */
	bool insecure;
} tandem_rest_client;
tandem_rest_client tandemd_rest_client(const tandemd_settings *s);

/* restapi.verify_client, as a mode. */
typedef enum {
	TANDEMD_VERIFY_NONE,
	TANDEMD_VERIFY_OPTIONAL,
	TANDEMD_VERIFY_REQUIRED
} tandemd_verify;
tandemd_verify tandemd_verify_client(const tandemd_settings *s);

/* Loads `tandemd CONFIG.yml` (or --config FILE, flags --KEY VALUE) and checks everything; on
 * error *err names the source of the bad value (file:line, environment variable or flag). */
int tandemd_settings_load(tandemd_settings *s, int argc, char **argv, char **envp,
                          char **err) TND_MUST_CHECK;
void tandemd_settings_free(tandemd_settings *s);

/* The hardware watchdog's timeout in whole seconds (the ttl less watchdog.safety_margin, or half
 * the ttl); 0 when that leaves none. */
int tandemd_watchdog_timeout_s(const tandemd_settings *s);
/* watchdog.mode is off. */
bool tandemd_watchdog_off(const tandemd_settings *s);

/* bootstrap.dcs.standby_cluster as the DCS config's `standby_cluster` object (a new reference),
 * or NULL when this cluster is not born a standby cluster. */
struct json_t;
struct json_t *tandemd_standby_json(const tandemd_settings *s);

/* Whether tag `name` (nofailover, noloadbalance, clonefrom, nosync) is set to true. */
bool tandemd_tag(const tandemd_settings *s, const char *name);
/* The member's `site` tag (checked: dcs_site_ok); NULL when it has none. */
const char *tandemd_site(const tandemd_settings *s);

/* log.level as tandem's level: Patroni's CRITICAL is error. */
log_level tandemd_log_level(const tandemd_settings *s);
/* The log file under log.dir ("<log.dir>/tandemd.log", caller frees), or NULL without log.dir. */
char *tandemd_log_path(const tandemd_settings *s);
/* One warning line ('\n'-terminated) for each of Patroni's keys that are set and that tandem
 * accepts without doing what Patroni does (log.format, log.loggers, ...,
 * remove_data_directory_on_*), for tandemd to log once, at start; NULL when there is none (caller
 * frees). */
char *tandemd_settings_unmapped(const tandemd_settings *s);

/* Every setting as "key: value" lines, passwords shown as ********, for logs (caller frees). */
char *tandemd_settings_dump(const tandemd_settings *s);

#endif
