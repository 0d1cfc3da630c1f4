/* The cluster-wide configuration Patroni keeps in the DCS `config` key (JSON): merging a patch
 * into it as PATCH /config does, and checking a whole configuration before anyone writes it
 * (every member applies it). Pure; shared by the REST server, the agent and tandemctl. */
#ifndef PATRONI_DYN_CONFIG_H
#define PATRONI_DYN_CONFIG_H

#include <jansson.h>
#include <stdint.h>

/* `patch` merged into `base` (neither is changed; a `base` that is not an object counts as {}):
 * an object merges recursively, null removes the key, anything else replaces. A new reference. */
json_t *dyn_config_merge(const json_t *base, const json_t *patch);

/* The timings a configuration without ttl, loop_wait or retry_timeout runs with, in seconds. */
typedef struct dyn_config_defaults {
	int64_t ttl, loop_wait, retry_timeout;
} dyn_config_defaults;

/* Patroni's defaults: 30, 10, 10. */
extern const dyn_config_defaults dyn_config_patroni_defaults;

/* Checks a whole configuration: an object; ttl, loop_wait, retry_timeout whole seconds from 1 to
 * a day (ttl at least 2) with loop_wait + 2 * retry_timeout <= ttl (absent ones from
 * `defaults`); maximum_lag_on_failover bytes (an integer >= 0); pause, synchronous_mode,
 * synchronous_mode_strict, failsafe_mode booleans; postgresql an object, postgresql.parameters
 * an object of strings, numbers and booleans, none of them refused (dyn_config_param_refused).
 * NULL when good, else the reason (heap). */
char *dyn_config_check(const json_t *config, const dyn_config_defaults *defaults);

/* dyn_config_check of `config`, the change of `before` (the configuration in the DCS; NULL or not
 * an object: none), except that a refused parameter `before` already holds with the same value
 * may stay: a configuration written by Patroni (say with archive_command) still takes other
 * changes (pause, a timing), while the refused parameter is never applied
 * (dyn_config_param_refused) and cannot be set anew or changed. */
/* The config's `synchronous_site_policy` (docs/tandemd.md): 0 for NULL (absent), 1..5 for
 * local_only, prefer_local, remote_only, prefer_remote, balanced (site.h's order); -1 for any
 * other text. */
int dyn_config_site_policy(const char *text);
/* The name of policy 1..5; NULL otherwise. */
const char *dyn_config_site_policy_name(int policy);

char *dyn_config_check_change(const json_t *before, const json_t *config,
                              const dyn_config_defaults *defaults);

/* Whether the cluster configuration (the DCS `config` key) may set the PostgreSQL parameter
 * `name`: NULL when it may, otherwise why not, a static phrase ("runs a program"). A name is
 * letters, digits, '_' and '.'. Whoever can
 * write to etcd must not gain a shell on every member: refused are the parameters tandemd owns
 * (listen_addresses, port, primary_conninfo, primary_slot_name, hot_standby, wal_level), every
 * *_command, what loads code (*_preload_libraries, archive_library, dynamic_library_path,
 * jit_provider), and what points PostgreSQL at other files (include*, data_directory,
 * config_file, hba_file, ident_file, external_pid_file, log_directory, log_filename,
 * krb_server_keyfile, ssl_*_file, ssl_crl_dir, stats_temp_directory). Names compare ignoring
 * case, as PostgreSQL's do. The one rule for every path: the REST API's PATCH and PUT /config,
 * and the agent writing PostgreSQL's configuration from the DCS. A member's own YAML
 * (postgresql.parameters) is the operator's and may set any of them. */
const char *dyn_config_param_refused(const char *name);

/* dyn_config_param_refused, and the value: a string without control characters (postgresql.conf
 * holds one line per parameter: one such value would stop every member from writing its
 * configuration), a number or a boolean. NULL when the DCS may set `name` to `value`; otherwise
 * why not, a static phrase. */
const char *dyn_config_param_check(const char *name, const json_t *value);

#endif
