/* tandemd's settings: Patroni's YAML configuration (the same keys and meanings, so that a
 * patroni.yml for etcd3 can be used as it is), described once in a cfg table (see cfg.h), with
 * the checks that span several options. Keys Patroni has and tandem does not support yet are
 * refused by name; Patroni's environment variables (PATRONI_SCOPE, ...) are read besides
 * tandemd's own (TANDEMD_SCOPE, ...), which win when both are set. */
#ifndef PATRONI_OPTIONS_H
#define PATRONI_OPTIONS_H

#include <stdbool.h>

#include "cfg.h"

/* etcd's port when an etcd host leaves it out. */
enum { TANDEMD_ETCD_PORT = 2379 };

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
	cfg_list initdb; /* "data-checksums", "encoding=UTF8" */

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
	cfg_map parameters;
	cfg_list pg_hba;

	char *watchdog_mode; /* "off", "automatic" or "required" */
	char *watchdog_device;
	long long watchdog_safety_margin; /* seconds; -1: half the ttl */

	cfg_map tags;
	char *log_level;
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

/* Whether tag `name` (nofailover, noloadbalance, clonefrom, nosync) is set to true. */
bool tandemd_tag(const tandemd_settings *s, const char *name);

/* Every setting as "key: value" lines, passwords shown as ********, for logs (caller frees). */
char *tandemd_settings_dump(const tandemd_settings *s);

#endif
