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
 * an object of strings, numbers and booleans, none of those tandemd owns (listen_addresses,
 * port, primary_conninfo, primary_slot_name, hot_standby, wal_level). NULL when good, else the
 * reason (heap). */
char *dyn_config_check(const json_t *config, const dyn_config_defaults *defaults);

#endif
