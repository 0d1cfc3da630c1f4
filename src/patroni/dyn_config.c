/* See dyn_config.h. */
#include "dyn_config.h"

#include "dcs_codec_priv.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "pgconf.h"

const dyn_config_defaults dyn_config_patroni_defaults = {30, 10, 10};

json_t *dyn_config_merge(const json_t *base, const json_t *patch)
{
	json_t *out = json_is_object(base) ? json_deep_copy(base) : json_object();
	const char *key;
	json_t *pv;
	json_object_foreach((json_t *)patch, key, pv)
	{
		if (json_is_null(pv))
			json_object_del(out, key);
		else if (json_is_object(pv))
			json_object_set_new(out, key,
			                    dyn_config_merge(json_object_get(out, key), pv));
		else
			json_object_set_new(out, key, json_deep_copy(pv));
	}
	return out;
}

/* A whole number of seconds from 1 to a day, or absent (`def`); -1 otherwise. */
static int seconds(const json_t *config, const char *key, int64_t def, int64_t *out)
{
	const json_t *j = json_object_get(config, key);
	*out = def;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) <= 0 || json_integer_value(j) > 24 * 3600)
		return -1;
	*out = (int64_t)json_integer_value(j);
	return 0;
}

/* PostgreSQL compares parameter names ignoring case. */
static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcasecmp(s + n - m, suffix);
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(name, list[i]))
			return true;
	return false;
}

#define LIST(a) (a), (sizeof(a) / sizeof((a)[0]))

const char *dyn_config_param_refused(const char *name)
{
	if (!pgconf_name_ok(name))
		return "is not a parameter name (letters, digits, '_' and '.')";
	/* What tandemd writes for each member itself. */
	static const char *const owned[] = {"listen_addresses",  "port",        "primary_conninfo",
	                                    "primary_slot_name", "hot_standby", "wal_level"};
	static const char *const code[] = {"archive_library", "dynamic_library_path",
	                                   "jit_provider"};
	/* Files PostgreSQL reads its rules or keys from, or writes where it is told. */
	static const char *const files[] = {
	    "data_directory", "config_file",        "hba_file",
	    "ident_file",     "external_pid_file",  "log_directory",
	    "log_filename",   "krb_server_keyfile", "ssl_cert_file",
	    "ssl_key_file",   "ssl_ca_file",        "ssl_crl_file",
	    "ssl_crl_dir",    "ssl_dh_params_file", "stats_temp_directory"};
	if (in_list(name, LIST(owned)))
		return "is managed by tandemd";
	if (ends_with(name, "_command"))
		return "runs a program";
	if (ends_with(name, "_preload_libraries") || in_list(name, LIST(code)))
		return "loads code into PostgreSQL";
	if (!strncasecmp(name, "include", 7) || in_list(name, LIST(files)))
		return "points PostgreSQL at other files";
	return NULL;
}

const char *dyn_config_param_check(const char *name, const json_t *value)
{
	if (!json_is_string(value) && !json_is_number(value) && !json_is_boolean(value))
		return "must be a string, a number or a boolean";
	if (json_is_string(value) && !pgconf_value_ok(json_string_value(value)))
		return "contains a control character";
	return dyn_config_param_refused(name);
}

/* `before`: the parameters of the configuration being changed (NULL: none); a refused one it
 * already holds with the same value may stay (it is never applied). */
static char *check_parameters(const json_t *params, const json_t *before)
{
	const char *key;
	json_t *pv;
	json_object_foreach((json_t *)params, key, pv)
	{
		if (!json_is_string(pv) && !json_is_number(pv) && !json_is_boolean(pv))
			return xasprintf("\"postgresql.parameters.%.100s\" must be a string, a "
			                 "number or a boolean",
			                 key);
		const char *why = dyn_config_param_check(key, pv);
		if (why && !json_equal(pv, json_object_get(before, key)))
			return xasprintf("\"postgresql.parameters.%.100s\" %s: the cluster "
			                 "configuration may not set it",
			                 key, why);
	}
	return NULL;
}

/* postgresql.parameters of `config`, when both are objects; NULL otherwise. */
static const json_t *parameters_of(const json_t *config)
{
	const json_t *params = json_object_get(json_object_get(config, "postgresql"), "parameters");
	return json_is_object(params) ? params : NULL;
}

static const char *const site_policies[] = {"local_only", "prefer_local", "remote_only",
                                            "prefer_remote", "balanced"};
enum { NPOLICIES = sizeof site_policies / sizeof site_policies[0] };

int dyn_config_site_policy(const char *text)
{
	if (!text)
		return 0;
	for (int i = 0; i < NPOLICIES; i++)
		if (!strcmp(text, site_policies[i]))
			return i + 1;
	return -1;
}

const char *dyn_config_site_policy_name(int policy)
{
	return policy >= 1 && policy <= NPOLICIES ? site_policies[policy - 1] : NULL;
}

char *dyn_config_check(const json_t *config, const dyn_config_defaults *defaults)
{
	return dyn_config_check_change(NULL, config, defaults);
}

char *dyn_config_check_change(const json_t *before, const json_t *config,
                              const dyn_config_defaults *defaults)
{
	if (!json_is_object(config))
		return xstrdup("the configuration must be a JSON object");
	const dyn_config_defaults *d = defaults ? defaults : &dyn_config_patroni_defaults;
	int64_t ttl, loop_wait, retry;
	if (seconds(config, "ttl", d->ttl, &ttl) < 0 ||
	    seconds(config, "loop_wait", d->loop_wait, &loop_wait) < 0 ||
	    seconds(config, "retry_timeout", d->retry_timeout, &retry) < 0)
		return xstrdup(
		    "\"ttl\", \"loop_wait\" and \"retry_timeout\" must be whole numbers of "
		    "seconds, from 1 to 86400");
	if (ttl < 2)
		return xasprintf("\"ttl\" must be at least 2 seconds (it is %lld)", (long long)ttl);
	if (loop_wait + 2 * retry > ttl)
		return xasprintf(
		    "timing rule broken: loop_wait + 2 * retry_timeout (%lld + 2 * %lld = %lld) "
		    "must not exceed ttl (%lld): the leader could lose its lease while retrying",
		    (long long)loop_wait, (long long)retry, (long long)(loop_wait + 2 * retry),
		    (long long)ttl);
	const json_t *lag = json_object_get(config, "maximum_lag_on_failover");
	if (lag && !json_is_null(lag) && (!json_is_integer(lag) || json_integer_value(lag) < 0))
		return xstrdup("\"maximum_lag_on_failover\" must be a number of bytes");
	static const char *const flags[] = {"pause", "synchronous_mode", "synchronous_mode_strict",
	                                    "failsafe_mode"};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		const json_t *b = json_object_get(config, flags[i]);
		if (b && !json_is_null(b) && !json_is_boolean(b))
			return xasprintf("\"%s\" must be true or false", flags[i]);
	}
	const json_t *policy = json_object_get(config, "synchronous_site_policy");
	if (policy && !json_is_null(policy) &&
	    (!json_is_string(policy) || dyn_config_site_policy(json_string_value(policy)) < 0))
		return xstrdup(
		    "\"synchronous_site_policy\" must be one of local_only, prefer_local, "
		    "remote_only, prefer_remote, balanced");
	dcs_standby sb;
	char *serr = NULL;
	int src = dcs_standby_decode(json_object_get(config, "standby_cluster"), &sb, &serr);
	dcs_standby_clear(&sb);
	if (src != 0)
		return serr;
	const json_t *pg = json_object_get(config, "postgresql");
	if (pg && !json_is_object(pg))
		return xstrdup("\"postgresql\" must be an object");
	const json_t *params = pg ? json_object_get(pg, "parameters") : NULL;
	if (params && !json_is_object(params))
		return xstrdup("\"postgresql.parameters\" must be an object");
	return params ? check_parameters(params, parameters_of(before)) : NULL;
}
